/*
 * jpatch.c -- RFC 6902 JSON Patch and RFC 6901 JSON Pointer (pure; see
 * jpatch.h). The webhook's mutations are built as patches here; the tests
 * apply them to see the object the API server would store.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/jpatch.h"

/* One key as a pointer token: "~" as "~0" and "/" as "~1" (in that order
 * of meaning: a key "a~1b" must not read back as "a/b"). Annotation keys
 * carry a "/", so every patch of an annotation needs this. */
char *jpatch_token(const char *key)
{
    size_t n = 0;
    char *out, *o;

    for (const char *c = key; *c; c++)
        n += (*c == '~' || *c == '/') ? 2 : 1;
    out = o = mb_xmalloc(n + 1);
    for (const char *c = key; *c; c++) {
        if (*c == '~')
            *o++ = '~', *o++ = '0';
        else if (*c == '/')
            *o++ = '~', *o++ = '1';
        else
            *o++ = *c;
    }
    *o = '\0';
    return out;
}

/* (value_take is owned from here, even for an op without a value) */
void jpatch_add_op(json_t *patch, const char *op, const char *path, json_t *value_take)
{
    json_t *o = json_object();

    json_object_set_new(o, "op", json_string(op));
    json_object_set_new(o, "path", json_string(path));
    if (value_take)
        json_object_set_new(o, "value", value_take);
    json_array_append_new(patch, o);
}

/* Split a pointer into unescaped tokens. Returns the count, or -1 when
 * malformed. tokens[] must be freed by the caller (each, then the array). */
static long split(const char *ptr, char ***tokens)
{
    long n = 0;
    char **t = NULL;

    *tokens = NULL;
    if (*ptr == '\0')
        return 0;
    if (*ptr != '/')
        return -1;
    while (*ptr == '/') {
        const char *s = ptr + 1, *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char *tok = mb_xmalloc(len + 1), *o = tok;

        for (size_t i = 0; i < len; i++) {
            if (s[i] == '~') {
                if (i + 1 < len && (s[i + 1] == '0' || s[i + 1] == '1')) {
                    *o++ = s[i + 1] == '0' ? '~' : '/';
                    i++;
                } else {
                    mb_free(tok);
                    for (long k = 0; k < n; k++)
                        mb_free(t[k]);
                    mb_free(t);
                    return -1;
                }
            } else {
                *o++ = s[i];
            }
        }
        *o = '\0';
        t = mb_xrealloc(t, (size_t)(n + 1) * sizeof *t);
        t[n++] = tok;
        ptr = s + len;
    }
    *tokens = t;
    return n;
}

static void free_tokens(char **t, long n)
{
    for (long i = 0; i < n; i++)
        mb_free(t[i]);
    mb_free(t);
}

/* Array index per RFC 6901: "0" or digits without a leading zero. */
static bool parse_index(const char *tok, size_t *out)
{
    size_t v = 0;

    if (!*tok || (tok[0] == '0' && tok[1]))
        return false;
    for (const char *c = tok; *c; c++) {
        if (*c < '0' || *c > '9' || v > 100000000)
            return false;
        v = v * 10 + (size_t)(*c - '0');
    }
    *out = v;
    return true;
}

/* The node the first n tokens name, or NULL: a token that is not an index
 * of an array, or names nothing, ends the walk. */
static json_t *walk(json_t *doc, char **t, long n)
{
    json_t *cur = doc;

    for (long i = 0; i < n && cur; i++) {
        size_t idx;
        if (json_is_object(cur))
            cur = json_object_get(cur, t[i]);
        else if (json_is_array(cur) && parse_index(t[i], &idx))
            cur = json_array_get(cur, idx);
        else
            cur = NULL;
    }
    return cur;
}

json_t *jpatch_get(const json_t *doc, const char *pointer)
{
    char **t;
    long n = split(pointer, &t);
    json_t *r;

    if (n < 0)
        return NULL;
    r = walk((json_t *)doc, t, n);
    free_tokens(t, n);
    return r;
}

/* Remove the node at pointer; *removed gets a new reference to it. */
static bool do_remove(json_t *doc, const char *path, json_t **removed, const char **why)
{
    char **t;
    long n = split(path, &t);
    json_t *parent;
    bool ok = false;
    size_t idx;

    if (n <= 0) {
        *why = n < 0 ? "malformed path" : "cannot remove the whole document";
        goto out;
    }
    parent = walk(doc, t, n - 1);
    if (json_is_object(parent) && json_object_get(parent, t[n - 1])) {
        if (removed)
            *removed = json_incref(json_object_get(parent, t[n - 1]));
        json_object_del(parent, t[n - 1]);
        ok = true;
    } else if (json_is_array(parent) && parse_index(t[n - 1], &idx) &&
               idx < json_array_size(parent)) {
        if (removed)
            *removed = json_incref(json_array_get(parent, idx));
        json_array_remove(parent, idx);
        ok = true;
    } else {
        *why = "path does not exist";
    }
out:
    free_tokens(t, n);
    return ok;
}

/* Add `value_take` at path (RFC 6902 4.1); *root may be replaced. */
static bool do_add(json_t **root, const char *path, json_t *value_take, bool replace,
                   const char **why)
{
    char **t;
    long n = split(path, &t);
    json_t *parent;
    bool ok = false;
    size_t idx;

    if (n < 0) {
        *why = "malformed path";
        json_decref(value_take);
        return false;
    }
    if (n == 0) {
        json_decref(*root);
        *root = value_take;
        free_tokens(t, n);
        return true;
    }
    /* add creates or replaces a member, inserts into an array ("-" at its
     * end); replace needs the member or element to be there already */
    parent = walk(*root, t, n - 1);
    if (json_is_object(parent)) {
        if (replace && !json_object_get(parent, t[n - 1]))
            *why = "path does not exist";
        else
            ok = json_object_set_new(parent, t[n - 1], value_take) == 0, value_take = NULL;
    } else if (json_is_array(parent)) {
        size_t size = json_array_size(parent);
        if (!replace && !strcmp(t[n - 1], "-"))
            ok = json_array_append_new(parent, value_take) == 0, value_take = NULL;
        else if (!parse_index(t[n - 1], &idx) || idx > size || (replace && idx == size))
            *why = "array index out of range";
        else if (replace)
            ok = json_array_set_new(parent, idx, value_take) == 0, value_take = NULL;
        else
            ok = json_array_insert_new(parent, idx, value_take) == 0, value_take = NULL;
    } else {
        *why = "parent of path does not exist";
    }
    json_decref(value_take);
    free_tokens(t, n);
    return ok;
}

/* All or nothing: the ops run on a deep copy, and the first that fails
 * discards it, naming the op's index, its op and path and why. A move into
 * its own subtree is refused before anything is removed. */
mb_err jpatch_apply(const json_t *doc, const json_t *patch, json_t **out, struct mb_diag *diag)
{
    json_t *root, *op;
    size_t i;

    if (!json_is_array(patch))
        return mb_diag_set(diag, MB_EINVAL, "patch is not a JSON array");
    root = json_deep_copy(doc);
    json_array_foreach(patch, i, op)
    {
        const char *name = json_string_value(json_object_get(op, "op"));
        const char *path = json_string_value(json_object_get(op, "path"));
        const char *from = json_string_value(json_object_get(op, "from"));
        json_t *value = json_object_get(op, "value");
        const char *why = NULL;
        bool ok = false;

        if (!name || !path) {
            why = "op and path are required";
        } else if (!strcmp(name, "add") || !strcmp(name, "replace")) {
            if (!value)
                why = "value is required";
            else
                ok = do_add(&root, path, json_deep_copy(value), name[0] == 'r', &why);
        } else if (!strcmp(name, "remove")) {
            ok = do_remove(root, path, NULL, &why);
        } else if (!strcmp(name, "move") || !strcmp(name, "copy")) {
            json_t *v = NULL;
            if (!from) {
                why = "from is required";
            } else if (name[0] == 'm') {
                size_t fl = strlen(from);
                if (!strncmp(path, from, fl) && path[fl] == '/')
                    why = "cannot move a value into itself";
                else if (do_remove(root, from, &v, &why))
                    ok = do_add(&root, path, v, false, &why);
            } else {
                json_t *src = jpatch_get(root, from);
                if (!src)
                    why = "from does not exist";
                else
                    ok = do_add(&root, path, json_deep_copy(src), false, &why);
            }
        } else if (!strcmp(name, "test")) {
            json_t *cur = jpatch_get(root, path);
            if (!value)
                why = "value is required";
            else if (!cur || !json_equal(cur, value))
                why = "test failed";
            else
                ok = true;
        } else {
            why = "unknown op";
        }
        if (!ok) {
            json_decref(root);
            return mb_diag_set(diag, MB_EINVAL, "patch op %zu (%s %s): %s", i, name ? name : "?",
                               path ? path : "?", why ? why : "failed");
        }
    }
    *out = root;
    return MB_OK;
}
