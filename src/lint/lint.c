/*
 * lint.c -- the admission policy over manifest files (pure; see lint.h):
 * YAML or JSON streams split into objects with their source positions,
 * each checked with policy_eval() as the webhook would, findings written
 * as FILE:LINE:COL, JSON lines or GitHub annotations.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/kobj.h"
#include "membudget/lint.h"
#include "membudget/ydoc.h"

const char *const LINT_DEFAULT_KINDS[] = {
    "argoproj.io/Rollout: spec.template",
    "apps.kruise.io/CloneSet: spec.template",
};
const size_t LINT_NDEFAULT_KINDS = MB_ARRAY_LEN(LINT_DEFAULT_KINDS);

static size_t trim(const char **s, size_t n)
{
    while (n && isspace((unsigned char)**s)) {
        (*s)++;
        n--;
    }
    while (n && isspace((unsigned char)(*s)[n - 1]))
        n--;
    return n;
}

bool lint_kind_parse(const char *spec, struct lint_kind *out, char *why, size_t whylen)
{
    const char *colon = strchr(spec, ':'), *gk = spec, *path, *slash;
    size_t gkn, pathn;

    memset(out, 0, sizeof *out);
    if (!colon) {
        snprintf(
            why, whylen,
            "\"%.100s\": expected GROUP/KIND: PATH, e.g. \"argoproj.io/Rollout: spec.template\"",
            spec);
        return false;
    }
    gkn = trim(&gk, (size_t)(colon - spec));
    path = colon + 1;
    pathn = trim(&path, strlen(path));
    slash = memrchr(gk, '/', gkn);
    if (!slash || slash == gk || slash == gk + gkn - 1 ||
        (size_t)(slash - gk) >= sizeof out->group ||
        (size_t)(gk + gkn - slash - 1) >= sizeof out->kind) {
        snprintf(why, whylen,
                 "\"%.100s\": expected GROUP/KIND before the colon (the group of apiVersion, e.g. "
                 "argoproj.io/Rollout)",
                 spec);
        return false;
    }
    if (pathn == 0 || pathn + 2 >= sizeof out->pointer || path[0] == '.' ||
        path[pathn - 1] == '.') {
        snprintf(why, whylen,
                 "\"%.100s\": expected a field path after the colon, e.g. spec.template", spec);
        return false;
    }
    for (size_t i = 0; i < pathn; i++) {
        if (!(isalnum((unsigned char)path[i]) || path[i] == '_' ||
              (path[i] == '.' && path[i + 1] != '.'))) {
            snprintf(why, whylen,
                     "\"%.100s\": the path may hold only letters, digits and single dots", spec);
            return false;
        }
    }
    snprintf(out->group, sizeof out->group, "%.*s", (int)(slash - gk), gk);
    snprintf(out->kind, sizeof out->kind, "%.*s", (int)(gk + gkn - slash - 1), slash + 1);
    out->pointer[0] = '/';
    for (size_t i = 0; i < pathn; i++)
        out->pointer[i + 1] = path[i] == '.' ? '/' : path[i];
    snprintf(out->prefix, sizeof out->prefix, "%.*s.", (int)pathn, path);
    return true;
}

/* --- output ------------------------------------------------------------------- */

struct pos {
    int line, col;
};

/* GitHub workflow commands: data escapes %, CR, LF; properties also : and , */
static void gh_escape(struct mb_buf *out, const char *s, bool property)
{
    for (; *s; s++) {
        switch (*s) {
        case '%':
            (void)mb_buf_adds(out, "%25");
            break;
        case '\r':
            (void)mb_buf_adds(out, "%0D");
            break;
        case '\n':
            (void)mb_buf_adds(out, "%0A");
            break;
        case ':':
            (void)mb_buf_adds(out, property ? "%3A" : ":");
            break;
        case ',':
            (void)mb_buf_adds(out, property ? "%2C" : ",");
            break;
        default:
            (void)mb_buf_add(out, s, 1);
        }
    }
}

/* One finding. type: "violation", "warning" or "unreadable"; obj and label
 * NULL for unreadable input; field may be NULL. */
static void emit(const struct lint_opts *o, struct mb_buf *out, const char *file, struct pos p,
                 const char *type, const json_t *obj, const char *label, const char *field,
                 const char *msg)
{
    bool warning = !strcmp(type, "warning");

    switch (o->format) {
    case LINT_TEXT:
        (void)mb_buf_printf(out, "%s:%d:%d: ", file, p.line, p.col);
        if (!label)
            (void)mb_buf_adds(out, "error: ");
        else
            (void)mb_buf_printf(out, "%s: %s", label, warning ? "warning: " : "");
        if (field)
            (void)mb_buf_printf(out, "%s: ", field);
        (void)mb_buf_printf(out, "%s\n", msg);
        break;
    case LINT_JSON: {
        const json_t *md = json_object_get(obj, "metadata");
        json_t *j = json_pack("{s:s,s:i,s:i,s:s,s:s?,s:s?,s:s?,s:s?,s:s?,s:s}", "file", file,
                              "line", p.line, "column", p.col, "type", type, "object", label,
                              "kind", json_string_value(json_object_get(obj, "kind")), "namespace",
                              json_string_value(json_object_get(md, "namespace")), "name",
                              json_string_value(json_object_get(md, "name")), "field", field,
                              "message", msg);
        size_t n;
        char *s = mb_json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII, &n);
        (void)mb_buf_add(out, s, n);
        (void)mb_buf_adds(out, "\n");
        mb_free(s);
        json_decref(j);
        break;
    }
    case LINT_GITHUB:
        (void)mb_buf_printf(out, "::%s file=", warning ? "warning" : "error");
        gh_escape(out, file, true);
        (void)mb_buf_printf(out, ",line=%d,col=%d,title=", p.line, p.col);
        gh_escape(out, "membudget", true);
        if (label) {
            gh_escape(out, ": ", true);
            gh_escape(out, label, true);
        }
        (void)mb_buf_adds(out, "::");
        if (field) {
            gh_escape(out, field, false);
            (void)mb_buf_adds(out, ": ");
        }
        gh_escape(out, msg, false);
        (void)mb_buf_adds(out, "\n");
        break;
    }
}

/* --- positions ----------------------------------------------------------------- */

/* Where a field path (policy.h's "spec.containers[0].env[GOMEMLIMIT]")
 * is in the document: the key of the deepest field that exists. */
static struct pos locate(const struct ydoc_node *root, const char *path, int line0)
{
    const struct ydoc_node *n = root;
    struct pos at = {root->line + line0, root->column};
    char seg[256];

    while (path && *path && n) {
        const struct ydoc_node *next = NULL, *keynode = NULL;
        size_t len;
        bool bracket;

        if (*path == '.')
            path++;
        bracket = *path == '[';
        if (bracket) {
            const char *end = strchr(path, ']');
            if (!end)
                break;
            len = (size_t)(end - path - 1);
            snprintf(seg, sizeof seg, "%.*s", (int)len, path + 1);
            path = end + 1;
        } else {
            len = strcspn(path, ".[");
            snprintf(seg, sizeof seg, "%.*s", (int)len, path);
            path += len;
        }
        if (n->type == YDOC_MAP) {
            for (size_t i = 0; i + 1 < n->n; i += 2) {
                const struct ydoc_node *k = n->items[i];
                if (k->type == YDOC_SCALAR && k->len == strlen(seg) &&
                    !memcmp(k->value, seg, k->len)) {
                    keynode = k;
                    next = n->items[i + 1];
                    break;
                }
            }
        } else if (n->type == YDOC_SEQ && bracket) {
            char *endp;
            unsigned long idx = strtoul(seg, &endp, 10);
            if (seg[0] && !*endp) {
                if (idx < n->n)
                    next = n->items[idx];
            } else { /* env[GOMEMLIMIT]: the item with that name */
                for (size_t i = 0; i < n->n && !next; i++) {
                    const struct ydoc_node *nm = ydoc_map_get(n->items[i], "name");
                    if (nm && nm->type == YDOC_SCALAR && !strcmp(nm->value, seg))
                        next = n->items[i];
                }
            }
        }
        if (!next)
            break;
        at = keynode ? (struct pos){keynode->line + line0, keynode->column}
                     : (struct pos){next->line + line0, next->column};
        n = next;
    }
    return at;
}

/* --- objects ------------------------------------------------------------------- */

/* Which kind, and where its template is, for an object of a kind lint knows. */
static bool classify(const struct lint_opts *o, const json_t *obj, struct policy_input *in)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *slash;

    *in = (struct policy_input){
        .kind = policy_kind_of_object(obj), .op = POLICY_CREATE, .object = obj};
    if (in->kind != POLICY_KIND_OTHER)
        return true;
    if (!av || !kind || !(slash = strchr(av, '/')))
        return false;
    for (size_t i = 0; i < o->nkinds; i++) {
        const struct lint_kind *k = &o->kinds[i];
        if (strlen(k->group) == (size_t)(slash - av) &&
            !memcmp(k->group, av, (size_t)(slash - av)) && !strcmp(k->kind, kind)) {
            in->kind = POLICY_KIND_CUSTOM;
            in->template_pointer = k->pointer;
            in->template_prefix = k->prefix;
            return true;
        }
    }
    return false;
}

/* `node` is the object's YAML node (NULL for JSON input: every finding is
 * then at `at`); line0 is added to its lines. */
static void check_object(const struct lint_opts *o, const char *name, const json_t *obj,
                         const struct ydoc_node *node, int line0, struct pos at, struct mb_buf *out,
                         struct lint_stats *st)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    struct policy_result r = {0};
    struct policy_input in;
    char label[400];
    size_t len;

    if (node)
        at = (struct pos){node->line + line0, node->column};
    if (!json_is_object(obj)) {
        emit(o, out, name, at, "unreadable", NULL, NULL, NULL, "not a Kubernetes object");
        st->bad_inputs++;
        return;
    }
    if (!kind) {
        emit(o, out, name, at, "unreadable", NULL, NULL, NULL, "object has no kind");
        st->bad_inputs++;
        return;
    }
    len = strlen(kind);
    if (len >= 4 && !strcmp(kind + len - 4, "List") &&
        json_is_array(json_object_get(obj, "items"))) {
        const struct ydoc_node *items = node ? ydoc_map_get(node, "items") : NULL;
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(obj, "items"), i, item)
        {
            const struct ydoc_node *in_node =
                items && items->type == YDOC_SEQ && i < items->n ? items->items[i] : NULL;
            check_object(o, name, item, in_node, line0, at, out, st);
        }
        return;
    }
    if (o->collect) {
        if (!strcmp(kind, "LimitRange"))
            lr_set_put(o->collect, obj, NULL);
        return;
    }
    if (!classify(o, obj, &in)) {
        st->skipped++;
        return;
    }
    st->objects++;
    policy_object_label(obj, NULL, NULL, NULL, label, sizeof label);
    /* The namespace's LimitRanges, when the input has any for it. */
    struct policy_lr lr;
    const char *ns = kobj_str(obj, "metadata.namespace");
    if (o->limitranges && lr_set_lookup(o->limitranges, ns ? ns : "", &lr))
        in.limit_range = &lr;
    policy_eval(o->conf, &in, &r);
    st->assumed += r.limit_assumed;
    for (size_t i = 0; i < r.nv; i++)
        emit(o, out, name, node ? locate(node, r.v[i].path, line0) : at, "violation", obj, label,
             r.v[i].path, r.v[i].msg);
    for (size_t i = 0; i < r.nw; i++) {
        /* a warning is "path: message" */
        const char *w = r.warnings[i], *sep = strstr(w, ": ");
        char *field = sep ? mb_xasprintf("%.*s", (int)(sep - w), w) : NULL;
        emit(o, out, name, node && field ? locate(node, field, line0) : at, "warning", obj, label,
             field, sep ? sep + 2 : w);
        mb_free(field);
    }
    st->violations += r.nv;
    st->warnings += r.nw;
    policy_result_cleanup(&r);
}

/* --- JSON ---------------------------------------------------------------------- */

static bool looks_like_json(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')
            continue;
        return buf[i] == '{' || buf[i] == '[';
    }
    return false;
}

/* Advance *p (line/column of buf[*from]) to buf[to]. */
static void advance(const char *buf, size_t *from, size_t to, struct pos *p)
{
    for (; *from < to; (*from)++) {
        if (buf[*from] == '\n') {
            p->line++;
            p->col = 1;
        } else if (((unsigned char)buf[*from] & 0xC0) != 0x80) {
            p->col++;
        }
    }
}

static void lint_json(const struct lint_opts *o, const char *name, const char *buf, size_t len,
                      struct mb_buf *out, struct lint_stats *st)
{
    size_t off = 0, counted = 0;
    struct pos p = {1, 1};

    while (off < len) {
        json_error_t e;
        json_t *j;

        while (off < len && strchr(" \t\r\n", buf[off]))
            off++;
        if (off == len)
            break;
        advance(buf, &counted, off, &p);
        j = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &e);
        if (!j) {
            struct pos ep = {p.line + e.line - 1, e.line > 1 ? e.column : p.col + e.column - 1};
            emit(o, out, name, ep, "unreadable", NULL, NULL, NULL, e.text);
            st->bad_inputs++;
            return; /* cannot resynchronise inside broken JSON */
        }
        check_object(o, name, j, NULL, 0, p, out, st);
        off += e.position;
        json_decref(j);
    }
}

/* --- YAML ---------------------------------------------------------------------- */

/* The first byte that is not UTF-8, or len. */
static size_t utf8_invalid(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        size_t n = s[i] < 0x80 ? 1 : mb_utf8_len(s + i, s + len);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

/* One document of the stream (the text between two "---" lines), which
 * starts at line `first` of the file. */
static void lint_document(const struct lint_opts *o, const char *name, const char *doc, size_t len,
                          int first, struct mb_buf *out, struct lint_stats *st)
{
    struct ydoc_stream *s = NULL;
    struct mb_diag d = {0};
    size_t bad = utf8_invalid((const unsigned char *)doc, len);

    if (bad < len) {
        size_t from = 0;
        struct pos p = {first, 1};
        char msg[96];
        advance(doc, &from, bad, &p);
        snprintf(msg, sizeof msg, "invalid UTF-8 (byte 0x%02X): YAML must be UTF-8",
                 (unsigned char)doc[bad]);
        emit(o, out, name, p, "unreadable", NULL, NULL, NULL, msg);
        st->bad_inputs++;
        return;
    }
    if (ydoc_parse(doc, len, NULL, &s, &d)) {
        emit(o, out, name, (struct pos){d.line + first - 1, d.column}, "unreadable", NULL, NULL,
             NULL, d.msg);
        st->bad_inputs++;
        return;
    }
    for (size_t i = 0; i < s->ndocs; i++) {
        json_t *j = NULL;
        if (ydoc_is_null(s->docs[i]))
            continue; /* empty document, e.g. a trailing "---" */
        if (ydoc_to_json(s->docs[i], NULL, &j, &d)) {
            emit(o, out, name, (struct pos){d.line + first - 1, d.column}, "unreadable", NULL, NULL,
                 NULL, d.msg);
            st->bad_inputs++;
            continue;
        }
        check_object(o, name, j, s->docs[i], first - 1, (struct pos){first, 1}, out, st);
        json_decref(j);
    }
    ydoc_free(s);
}

/* kubectl's document separator: a line that starts with "---", followed
 * by nothing but spaces or a comment. */
static bool is_separator(const char *line, size_t n)
{
    const char *rest = line + 3;
    if (n < 3 || memcmp(line, "---", 3) != 0)
        return false;
    n = trim(&rest, n - 3);
    return n == 0 || rest[0] == '#';
}

static void lint_yaml(const struct lint_opts *o, const char *name, const char *buf, size_t len,
                      struct mb_buf *out, struct lint_stats *st)
{
    size_t off = 0, start = 0;
    int line = 1, start_line = 1;

    for (;;) {
        const char *nl = memchr(buf + off, '\n', len - off);
        size_t end = nl ? (size_t)(nl - buf) : len;
        if (is_separator(buf + off, end - off)) {
            lint_document(o, name, buf + start, off - start, start_line, out, st);
            start = nl ? end + 1 : len;
            start_line = line + 1;
        }
        if (!nl)
            break;
        off = end + 1;
        line++;
    }
    if (start < len)
        lint_document(o, name, buf + start, len - start, start_line, out, st);
}

void lint_collect_limitranges(const struct lint_opts *o, const char *buf, size_t len,
                              struct lr_set *set)
{
    struct lint_opts c = *o;
    struct lint_stats st = {0};
    struct mb_buf out;

    if (!memmem(buf, len, "LimitRange", 10))
        return;
    c.collect = set;
    mb_buf_init(&out, 1 << 20);
    lint_buffer(&c, "", buf, len, &out, &st);
    mb_buf_cleanup(&out);
}

void lint_buffer(const struct lint_opts *o, const char *name, const char *buf, size_t len,
                 struct mb_buf *out, struct lint_stats *st)
{
    if (looks_like_json(buf, len))
        lint_json(o, name, buf, len, out, st);
    else
        lint_yaml(o, name, buf, len, out, st);
}
