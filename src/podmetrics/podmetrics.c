/*
 * podmetrics.c -- the metrics API's PodMetricsList (pure; see
 * podmetrics.h): a dedicated scanner rather than a JSON tree, keeping only
 * each container's memory, because a 10k-pod list is megabytes and is read
 * every sample interval.
 */
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/podmetrics.h"

struct sc {
    const char *s, *p, *e;
    struct pm_list *l;
    struct mb_diag *d;
    size_t cap_items, cap_containers, cap_decoded;
};

/* A JSON string's raw content (between the quotes) and whether it has
 * escapes. */
struct raw {
    const char *p;
    size_t len;
    int esc;
};

static mb_err fail(struct sc *c, const char *what)
{
    return mb_diag_set(c->d, MB_EPARSE, "metrics API list: %s at byte %zu", what,
                       (size_t)(c->p - c->s));
}

static void ws(struct sc *c)
{
    while (c->p < c->e && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int hex(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Four hex digits at p (at least 4 bytes left is checked by the caller). */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* c->p at '"': check the string and leave c->p after the closing quote. */
static mb_err scan_string(struct sc *c, struct raw *out)
{
    const unsigned char *p = (const unsigned char *)c->p + 1, *e = (const unsigned char *)c->e;
    int esc = 0;
    for (;;) {
        if (p >= e) {
            c->p = (const char *)p;
            return fail(c, "unterminated string");
        }
        unsigned ch = *p;
        if (ch == '"')
            break;
        if (ch < 0x20) {
            c->p = (const char *)p;
            return fail(c, "control character in a string");
        }
        if (ch == '\\') {
            esc = 1;
            if (p + 1 >= e) {
                c->p = (const char *)p;
                return fail(c, "unterminated string");
            }
            ch = p[1];
            if (ch != 'u') {
                if (!strchr("\"\\/bfnrt", (int)ch) || !ch) {
                    c->p = (const char *)p;
                    return fail(c, "invalid escape in a string");
                }
                p += 2;
                continue;
            }
            long u = e - p >= 6 ? hex4((const char *)p + 2) : -1;
            if (u <= 0 || (u >= 0xDC00 && u <= 0xDFFF)) {
                c->p = (const char *)p;
                return fail(c, u == 0 ? "\\u0000 in a string" : "invalid \\u escape in a string");
            }
            p += 6;
            if (u >= 0xD800 && u <= 0xDBFF) { /* a high surrogate: a low one must follow */
                long lo =
                    e - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4((const char *)p + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF) {
                    c->p = (const char *)p;
                    return fail(c, "unpaired surrogate in a string");
                }
                p += 6;
            }
            continue;
        }
        if (ch >= 0x80) {
            size_t n = mb_utf8_len(p, e);
            if (!n) {
                c->p = (const char *)p;
                return fail(c, "invalid UTF-8 in a string");
            }
            p += n;
            continue;
        }
        p++;
    }
    if (out)
        *out = (struct raw){c->p + 1, (size_t)((const char *)p - c->p - 1), esc};
    c->p = (const char *)p + 1;
    return MB_OK;
}

static char *put_utf8(char *o, long u)
{
    if (u < 0x80) {
        *o++ = (char)u;
    } else if (u < 0x800) {
        *o++ = (char)(0xC0 | (u >> 6));
        *o++ = (char)(0x80 | (u & 0x3F));
    } else if (u < 0x10000) {
        *o++ = (char)(0xE0 | (u >> 12));
        *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
        *o++ = (char)(0x80 | (u & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (u >> 18));
        *o++ = (char)(0x80 | ((u >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((u >> 6) & 0x3F));
        *o++ = (char)(0x80 | (u & 0x3F));
    }
    return o;
}

/* Decode a checked string with escapes into a new buffer (never longer than
 * the raw form); returns its length. */
static size_t decode(const struct raw *r, char **out)
{
    char *o = mb_xmalloc(r->len + 1), *start = o;
    const char *p = r->p, *e = r->p + r->len;
    while (p < e) {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        char ch = p[1];
        p += 2;
        switch (ch) {
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            long u = hex4(p);
            p += 4;
            if (u >= 0xD800 && u <= 0xDBFF) {
                u = 0x10000 + ((u - 0xD800) << 10) + (hex4(p + 2) - 0xDC00);
                p += 6;
            }
            o = put_utf8(o, u);
            break;
        }
        default:
            *o++ = ch;
            break; /* " \ / */
        }
    }
    *o = '\0';
    *out = start;
    return (size_t)(o - start);
}

/* A kept string: into the body, or decoded and owned by the list. */
static struct pm_str keep(struct sc *c, const struct raw *r)
{
    if (!r->esc)
        return (struct pm_str){r->p, r->len};
    if (c->l->ndecoded == c->cap_decoded) {
        c->cap_decoded = c->cap_decoded ? 2 * c->cap_decoded : 8;
        c->l->decoded = mb_xrealloc(c->l->decoded, c->cap_decoded * sizeof *c->l->decoded);
    }
    char *d;
    size_t n = decode(r, &d);
    c->l->decoded[c->l->ndecoded++] = d;
    return (struct pm_str){d, n};
}

static int key_is(const struct raw *k, const char *want)
{
    size_t n = strlen(want);
    if (!k->esc)
        return k->len == n && !memcmp(k->p, want, n);
    char *d;
    size_t dn = decode(k, &d);
    int eq = dn == n && !memcmp(d, want, n);
    mb_free(d);
    return eq;
}

static mb_err scan_number(struct sc *c)
{
    const char *p = c->p, *e = c->e;
    if (p < e && *p == '-')
        p++;
    if (p < e && *p == '0') {
        p++;
    } else if (p < e && *p >= '1' && *p <= '9') {
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    } else {
        return fail(c, "invalid value");
    }
    if (p < e && *p == '.') {
        p++;
        if (!(p < e && *p >= '0' && *p <= '9')) {
            c->p = p;
            return fail(c, "invalid number");
        }
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (!(p < e && *p >= '0' && *p <= '9')) {
            c->p = p;
            return fail(c, "invalid number");
        }
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    c->p = p;
    return MB_OK;
}

/* Object and array walking: the callback reads one value (c->p at it, after
 * whitespace) and must consume it; `key` is the member's name in an object,
 * NULL in an array. */
typedef mb_err value_fn(struct sc *c, const struct raw *key, void *arg, int depth);

static mb_err skip_value(struct sc *c, int depth);

static mb_err skip_any(struct sc *c, const struct raw *key, void *arg, int depth)
{
    (void)key;
    (void)arg;
    return skip_value(c, depth);
}

/* c->p at '{' or '[' (checked by the caller). */
static mb_err walk(struct sc *c, value_fn *fn, void *arg, int depth)
{
    mb_err err;
    const char close = *c->p == '{' ? '}' : ']';
    if (depth >= PM_MAX_DEPTH)
        return fail(c, "nested too deep");
    c->p++;
    ws(c);
    if (c->p < c->e && *c->p == close) {
        c->p++;
        return MB_OK;
    }
    for (;;) {
        struct raw k, *key = NULL;
        if (close == '}') {
            if (c->p >= c->e || *c->p != '"')
                return fail(c, "expected a member name");
            if ((err = scan_string(c, &k)))
                return err;
            ws(c);
            if (c->p >= c->e || *c->p != ':')
                return fail(c, "expected ':'");
            c->p++;
            ws(c);
            key = &k;
        }
        if ((err = fn(c, key, arg, depth + 1)))
            return err;
        ws(c);
        if (c->p < c->e && *c->p == ',') {
            c->p++;
            ws(c);
            continue;
        }
        if (c->p < c->e && *c->p == close) {
            c->p++;
            return MB_OK;
        }
        return fail(c, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static mb_err literal(struct sc *c, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(c->e - c->p) < n || memcmp(c->p, word, n))
        return fail(c, "invalid value");
    c->p += n;
    return MB_OK;
}

static mb_err skip_value(struct sc *c, int depth)
{
    if (c->p >= c->e)
        return fail(c, "unexpected end of input");
    switch (*c->p) {
    case '{':
    case '[':
        return walk(c, skip_any, NULL, depth);
    case '"':
        return scan_string(c, NULL);
    case 't':
        return literal(c, "true");
    case 'f':
        return literal(c, "false");
    case 'n':
        return literal(c, "null");
    default:
        return scan_number(c);
    }
}

/* A string value kept in *out, or absent (any other type, skipped). */
static mb_err string_value(struct sc *c, struct pm_str *out, int depth)
{
    struct raw r;
    mb_err err;
    if (c->p < c->e && *c->p == '"') {
        if ((err = scan_string(c, &r)))
            return err;
        *out = keep(c, &r);
        return MB_OK;
    }
    *out = (struct pm_str){NULL, 0};
    return skip_value(c, depth);
}

/* An object value walked with fn, or (any other type) skipped. */
static mb_err object_value(struct sc *c, value_fn *fn, void *arg, int depth)
{
    if (c->p < c->e && *c->p == '{')
        return walk(c, fn, arg, depth);
    return skip_value(c, depth);
}

/* --- the list's shape ----------------------------------------------------------- */

static mb_err usage_member(struct sc *c, const struct raw *k, void *arg, int depth)
{
    struct pm_container *ct = arg;
    return key_is(k, "memory") ? string_value(c, &ct->memory, depth) : skip_value(c, depth);
}

static mb_err container_member(struct sc *c, const struct raw *k, void *arg, int depth)
{
    struct pm_container *ct = arg;
    if (key_is(k, "name"))
        return string_value(c, &ct->name, depth);
    if (key_is(k, "usage")) {
        ct->memory = (struct pm_str){NULL, 0}; /* the last "usage" wins */
        return object_value(c, usage_member, ct, depth);
    }
    return skip_value(c, depth);
}

static mb_err container_element(struct sc *c, const struct raw *key, void *arg, int depth)
{
    struct pm_container ct = {{NULL, 0}, {NULL, 0}};
    mb_err err;
    (void)key;
    (void)arg;
    if (c->p >= c->e || *c->p != '{')
        return skip_value(c, depth); /* not an object: no container */
    if ((err = walk(c, container_member, &ct, depth)))
        return err;
    if (c->l->ncontainers == c->cap_containers) {
        c->cap_containers = c->cap_containers ? 2 * c->cap_containers : 64;
        c->l->containers =
            mb_xrealloc(c->l->containers, c->cap_containers * sizeof *c->l->containers);
    }
    c->l->containers[c->l->ncontainers++] = ct;
    return MB_OK;
}

static mb_err metadata_member(struct sc *c, const struct raw *k, void *arg, int depth)
{
    struct pm_item *it = arg;
    if (key_is(k, "namespace"))
        return string_value(c, &it->ns, depth);
    if (key_is(k, "name"))
        return string_value(c, &it->name, depth);
    return skip_value(c, depth);
}

static mb_err item_member(struct sc *c, const struct raw *k, void *arg, int depth)
{
    struct pm_item *it = arg;
    if (key_is(k, "metadata")) {
        it->ns = it->name = (struct pm_str){NULL, 0}; /* the last "metadata" wins */
        return object_value(c, metadata_member, it, depth);
    }
    if (key_is(k, "containers")) {
        it->first = c->l->ncontainers; /* the last "containers" wins */
        it->n = 0;
        if (c->p < c->e && *c->p == '[') {
            mb_err err = walk(c, container_element, NULL, depth);
            it->n = c->l->ncontainers - it->first;
            return err;
        }
    }
    return skip_value(c, depth);
}

static mb_err item_element(struct sc *c, const struct raw *key, void *arg, int depth)
{
    struct pm_item it = {{NULL, 0}, {NULL, 0}, 0, 0};
    mb_err err;
    (void)key;
    (void)arg;
    if (c->p >= c->e || *c->p != '{')
        return skip_value(c, depth); /* not an object: nothing to read */
    if ((err = walk(c, item_member, &it, depth)))
        return err;
    if (c->l->nitems == c->cap_items) {
        c->cap_items = c->cap_items ? 2 * c->cap_items : 256;
        c->l->items = mb_xrealloc(c->l->items, c->cap_items * sizeof *c->l->items);
    }
    c->l->items[c->l->nitems++] = it;
    return MB_OK;
}

static mb_err top_member(struct sc *c, const struct raw *k, void *arg, int depth)
{
    int *has_items = arg;
    if (!key_is(k, "items"))
        return skip_value(c, depth);
    /* the last "items" wins: what an earlier one gave is dropped */
    c->l->nitems = c->l->ncontainers = 0;
    *has_items = c->p < c->e && *c->p == '[';
    return *has_items ? walk(c, item_element, NULL, depth) : skip_value(c, depth);
}

mb_err pm_parse(const char *buf, size_t len, struct pm_list *out, struct mb_diag *diag)
{
    struct pm_list l = {0};
    struct sc c = {.s = buf, .p = buf, .e = buf + len, .l = &l, .d = diag};
    int has_items = 0;
    mb_err err;

    *out = (struct pm_list){0};
    ws(&c);
    if (c.p >= c.e || *c.p != '{')
        err = fail(&c, c.p >= c.e ? "empty body" : "not a JSON object");
    else if (!(err = walk(&c, top_member, &has_items, 0))) {
        ws(&c);
        if (c.p != c.e)
            err = fail(&c, "trailing data after the object");
        else if (!has_items)
            err = mb_diag_set(diag, MB_EPARSE, "metrics API list: no \"items\" array");
    }
    if (err) {
        pm_list_free(&l);
        return err;
    }
    *out = l;
    return MB_OK;
}

void pm_list_free(struct pm_list *l)
{
    for (size_t i = 0; i < l->ndecoded; i++)
        mb_free(l->decoded[i]);
    mb_free(l->decoded);
    mb_free(l->items);
    mb_free(l->containers);
    *l = (struct pm_list){0};
}

int pm_str_eq(struct pm_str s, const char *z)
{
    size_t n = strlen(z);
    return s.p && s.len == n && !memcmp(s.p, z, n);
}
