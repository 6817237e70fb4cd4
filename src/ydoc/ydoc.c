/*
 * ydoc.c -- YAML stream -> node trees -> JSON (pure; libyaml on a string).
 *
 * The tree is built from libyaml events with an explicit stack, so depth
 * is bounded by a counter rather than the C stack. ydoc_to_json() recurses,
 * bounded by the same depth limit (aliases can nest trees inside trees, so
 * the check is repeated there).
 *
 * Scalars are typed as kubectl's YAML (go-yaml v2, YAML 1.1) types them:
 * "yes" is true, 0o17 and 017 are octal, "<<" merges; a manifest must mean
 * to `membudget lint` and to the config parser what it means to kubectl,
 * or lint would pass what the API server refuses. Node counts and depth
 * are capped so that a billion-laughs document costs a bounded parse.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "membudget/alloc.h"
#include "membudget/ydoc.h"

/* The limits when the caller gives none: deep enough for any real
 * manifest, small enough that the stack array and the node table stay
 * modest (lint uses them; the config and kubeconfig pass smaller ones). */
#define DEF_DEPTH 256
#define DEF_NODES 2000000

/* &name: the node it names. Kept in document order: a later anchor of
 * the same name shadows an earlier one (the YAML spec), so lookups go
 * from the end. */
struct anchor {
    char *name;
    struct ydoc_node *node;
};

/* One parse: the stream being built, the open collections (an explicit
 * stack), the anchors of the current document, and the current root. */
struct builder {
    struct ydoc_stream *s;
    struct ydoc_node **stack;
    size_t depth, max_depth, max_nodes;
    struct anchor *anchors;
    size_t nanchors, capanchors;
    struct ydoc_node *root;
};

static size_t lim_depth(const struct ydoc_limits *l)
{
    return l && l->max_depth ? l->max_depth : DEF_DEPTH;
}
static size_t lim_nodes(const struct ydoc_limits *l)
{
    return l && l->max_nodes ? l->max_nodes : DEF_NODES;
}

static mb_err at(struct mb_diag *d, mb_err e, int line, int col, const char *fmt, const char *what)
{
    if (d) {
        d->line = line;
        d->column = col;
    }
    return mb_diag_set(d, e, fmt, what);
}

static struct ydoc_node *node_new(struct builder *b, enum ydoc_type t, const yaml_mark_t *m)
{
    struct ydoc_stream *s = b->s;
    struct ydoc_node *n;

    if (s->nall >= b->max_nodes)
        return NULL;
    if (s->nall == s->capall) {
        s->capall = s->capall ? s->capall * 2 : 64;
        s->all = mb_xrealloc(s->all, s->capall * sizeof *s->all);
    }
    n = mb_xcalloc(1, sizeof *n);
    n->type = t;
    n->line = (int)m->line + 1;
    n->column = (int)m->column + 1;
    s->all[s->nall++] = n;
    return n;
}

static void push_item(struct ydoc_node *parent, struct ydoc_node *child)
{
    /* grow by doubling; capacity is implied by n being a power of two or 0 */
    if ((parent->n & (parent->n - 1)) == 0)
        parent->items =
            mb_xrealloc(parent->items, (parent->n ? parent->n * 2 : 1) * sizeof(void *));
    parent->items[parent->n++] = child;
}

static void attach(struct builder *b, struct ydoc_node *n)
{
    if (b->depth == 0)
        b->root = n;
    else
        push_item(b->stack[b->depth - 1], n);
}

static void add_anchor(struct builder *b, const yaml_char_t *name, struct ydoc_node *n)
{
    if (!name)
        return;
    /* a later anchor of the same name shadows the earlier one (YAML spec) */
    if (b->nanchors == b->capanchors) {
        b->capanchors = b->capanchors ? b->capanchors * 2 : 8;
        b->anchors = mb_xrealloc(b->anchors, b->capanchors * sizeof *b->anchors);
    }
    b->anchors[b->nanchors].name = mb_xstrdup((const char *)name);
    b->anchors[b->nanchors].node = n;
    b->nanchors++;
}

static void clear_anchors(struct builder *b)
{
    for (size_t i = 0; i < b->nanchors; i++)
        mb_free(b->anchors[i].name);
    b->nanchors = 0;
}

static void push_doc(struct ydoc_stream *s, struct ydoc_node *root)
{
    if ((s->ndocs & (s->ndocs - 1)) == 0)
        s->docs = mb_xrealloc(s->docs, (s->ndocs ? s->ndocs * 2 : 1) * sizeof(void *));
    s->docs[s->ndocs++] = root;
}

/* An error at the event's place. */
static mb_err at_event(struct mb_diag *diag, mb_err e, const yaml_event_t *ev, const char *what,
                       const char *name)
{
    return at(diag, e, (int)ev->start_mark.line + 1, (int)ev->start_mark.column + 1, what, name);
}

static mb_err too_many(struct mb_diag *diag, const yaml_event_t *ev)
{
    return at_event(diag, MB_ETOOBIG, ev, "%s", "too many YAML nodes");
}

/* A document ends: an empty one is an empty plain scalar. */
static mb_err doc_end(struct builder *b, const yaml_event_t *ev, struct mb_diag *diag)
{
    if (!b->root) {
        b->root = node_new(b, YDOC_SCALAR, &ev->start_mark);
        if (!b->root)
            return too_many(diag, ev);
        b->root->value = mb_xstrdup("");
        b->root->plain = true;
    }
    push_doc(b->s, b->root);
    b->root = NULL;
    return MB_OK;
}

/* *name: the newest anchor of that name, never one still open (a node
 * that contains itself would make a cycle). */
static mb_err alias(struct builder *b, const yaml_event_t *ev, struct mb_diag *diag)
{
    const char *name = (const char *)ev->data.alias.anchor;
    size_t k = b->nanchors;
    while (k > 0 && strcmp(b->anchors[k - 1].name, name) != 0)
        k--;
    if (k == 0)
        return at_event(diag, MB_EPARSE, ev, "unknown alias \"*%s\"", name);
    if (b->anchors[k - 1].node->open)
        return at_event(diag, MB_EPARSE, ev, "alias \"*%s\" refers to itself", name);
    attach(b, b->anchors[k - 1].node);
    return MB_OK;
}

static mb_err scalar(struct builder *b, const yaml_event_t *ev, struct mb_diag *diag)
{
    struct ydoc_node *n = node_new(b, YDOC_SCALAR, &ev->start_mark);
    if (!n)
        return too_many(diag, ev);
    n->len = ev->data.scalar.length;
    n->value = mb_xmalloc(n->len + 1);
    memcpy(n->value, ev->data.scalar.value, n->len);
    n->value[n->len] = '\0';
    n->tag = ev->data.scalar.tag ? mb_xstrdup((const char *)ev->data.scalar.tag) : NULL;
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !n->tag;
    add_anchor(b, ev->data.scalar.anchor, n);
    attach(b, n);
    return MB_OK;
}

/* A sequence or mapping opens: at most max_depth deep. */
static mb_err open_node(struct builder *b, const yaml_event_t *ev, struct mb_diag *diag)
{
    bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
    const yaml_char_t *anchor =
        seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
    const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
    if (b->depth >= b->max_depth)
        return at_event(diag, MB_ETOOBIG, ev, "%s", "nesting is too deep");
    struct ydoc_node *n = node_new(b, seq ? YDOC_SEQ : YDOC_MAP, &ev->start_mark);
    if (!n)
        return too_many(diag, ev);
    n->tag = tag ? mb_xstrdup((const char *)tag) : NULL;
    n->open = true;
    add_anchor(b, anchor, n);
    attach(b, n);
    b->stack[b->depth++] = n;
    return MB_OK;
}

/* One parser event into the tree; *done at the stream's end. */
static mb_err on_event(struct builder *b, const yaml_event_t *ev, struct mb_diag *diag, bool *done)
{
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        *done = true;
        return MB_OK;
    case YAML_DOCUMENT_START_EVENT:
        b->root = NULL;
        clear_anchors(b);
        return MB_OK;
    case YAML_DOCUMENT_END_EVENT:
        return doc_end(b, ev, diag);
    case YAML_ALIAS_EVENT:
        return alias(b, ev, diag);
    case YAML_SCALAR_EVENT:
        return scalar(b, ev, diag);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return open_node(b, ev, diag);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        MB_ASSERT(b->depth > 0);
        b->stack[--b->depth]->open = false;
        return MB_OK;
    default:
        return MB_OK;
    }
}

/* libyaml's own error, where it found it. */
static mb_err parser_error(const yaml_parser_t *p, struct mb_diag *diag)
{
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (diag) {
        diag->line = (int)p->problem_mark.line + 1;
        diag->column = (int)p->problem_mark.column + 1;
        if (p->context)
            snprintf(diag->msg, sizeof diag->msg, "%s %s", p->context, problem);
        else
            snprintf(diag->msg, sizeof diag->msg, "%s", problem);
    }
    return MB_EPARSE;
}

mb_err ydoc_parse(const char *buf, size_t len, const struct ydoc_limits *limits,
                  struct ydoc_stream **out, struct mb_diag *diag)
{
    yaml_parser_t p;
    yaml_event_t ev;
    struct builder b = {0};
    mb_err err = MB_OK;
    bool done = false;

    b.s = mb_xcalloc(1, sizeof *b.s);
    b.max_depth = lim_depth(limits);
    b.max_nodes = lim_nodes(limits);
    b.stack = mb_xcalloc(b.max_depth, sizeof *b.stack);
    if (!yaml_parser_initialize(&p)) {
        err = MB_ENOMEM;
    } else {
        yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
        while (!done && !err) {
            if (!yaml_parser_parse(&p, &ev)) {
                err = parser_error(&p, diag);
                break;
            }
            err = on_event(&b, &ev, diag, &done);
            yaml_event_delete(&ev);
        }
        yaml_parser_delete(&p);
    }
    clear_anchors(&b);
    mb_free(b.anchors);
    mb_free(b.stack);
    if (err) {
        ydoc_free(b.s);
        return err;
    }
    *out = b.s;
    return MB_OK;
}

void ydoc_free(struct ydoc_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nall; i++) {
        mb_free(s->all[i]->value);
        mb_free(s->all[i]->tag);
        mb_free(s->all[i]->items);
        mb_free(s->all[i]);
    }
    mb_free(s->all);
    mb_free(s->docs);
    mb_free(s);
}

const struct ydoc_node *ydoc_map_get(const struct ydoc_node *map, const char *key)
{
    size_t klen = strlen(key);

    if (!map || map->type != YDOC_MAP)
        return NULL;
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct ydoc_node *k = map->items[i];
        if (k->type == YDOC_SCALAR && k->len == klen && memcmp(k->value, key, klen) == 0)
            return map->items[i + 1];
    }
    return NULL;
}

static bool in_list(const char *v, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(v, *list))
            return true;
    return false;
}

/* YAML 1.1's plain scalars that are not strings (go-yaml v2's resolve
 * table): a quoted "yes" stays a string, a plain yes is true. */
static const char *const NULLS[] = {"", "~", "null", "Null", "NULL", NULL};
static const char *const TRUES[] = {"y",    "Y",    "yes", "Yes", "YES", "true",
                                    "True", "TRUE", "on",  "On",  "ON",  NULL};
static const char *const FALSES[] = {"n",     "N",     "no",  "No",  "NO",  "false",
                                     "False", "FALSE", "off", "Off", "OFF", NULL};
static const char *const SPECIAL_FLOATS[] = {".nan",  ".NaN",  ".NAN",  ".inf",  ".Inf",
                                             ".INF",  "+.inf", "+.Inf", "+.INF", "-.inf",
                                             "-.Inf", "-.INF", NULL};

bool ydoc_is_null(const struct ydoc_node *n)
{
    return n && n->type == YDOC_SCALAR && n->plain && in_list(n->value, NULLS);
}

const char *ydoc_kind(const struct ydoc_node *n)
{
    if (!n)
        return "nothing";
    switch (n->type) {
    case YDOC_MAP:
        return "a mapping";
    case YDOC_SEQ:
        return "a sequence";
    default:
        return ydoc_is_null(n) ? "null" : "a scalar";
    }
}

/* YAML 1.1 float syntax as go-yaml v2 accepts it:
 * [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool yaml_float_syntax(const char *s)
{
    size_t i = 0, d = 0;

    if (s[i] == '+' || s[i] == '-')
        i++;
    if (s[i] == '.') {
        i++;
        while (s[i] >= '0' && s[i] <= '9')
            i++, d++;
        if (!d)
            return false;
    } else {
        while (s[i] >= '0' && s[i] <= '9')
            i++, d++;
        if (!d)
            return false;
        if (s[i] == '.') {
            i++;
            while (s[i] >= '0' && s[i] <= '9')
                i++;
        }
    }
    if (s[i] == 'e' || s[i] == 'E') {
        size_t e = 0;
        i++;
        if (s[i] == '+' || s[i] == '-')
            i++;
        while (s[i] >= '0' && s[i] <= '9')
            i++, e++;
        if (!e)
            return false;
    }
    return s[i] == '\0';
}

/* Integer forms of go-yaml v2 (ParseInt base 0 after removing '_'): decimal,
 * 0x hex, 0o / leading-0 octal, 0b binary, optional sign. */
static bool yaml_int(const char *in, json_t **out)
{
    char buf[80], *end;
    size_t n = 0;
    int base = 10;
    const char *s;
    bool neg = false;

    for (const char *c = in; *c; c++) {
        if (*c == '_')
            continue;
        if (n + 1 >= sizeof buf)
            return false;
        buf[n++] = *c;
    }
    buf[n] = '\0';
    s = buf;
    if (*s == '+' || *s == '-')
        neg = *s++ == '-';
    if (!*s)
        return false;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2;
    else if (s[0] == '0' && (s[1] == 'b' || s[1] == 'B'))
        base = 2, s += 2;
    else if (s[0] == '0' && (s[1] == 'o' || s[1] == 'O'))
        base = 8, s += 2;
    else if (s[0] == '0' && s[1])
        base = 8, s += 1;
    if (!*s || *s == '+' || *s == '-' || *s == ' ')
        return false;
    errno = 0;
    unsigned long long u = strtoull(s, &end, base);
    if (*end != '\0')
        return false;
    if (errno == ERANGE ||
        (neg ? u > (unsigned long long)INT64_MAX + 1 : u > (unsigned long long)INT64_MAX)) {
        /* too big for an int: go-yaml falls back to a float */
        double d = strtod(in, &end);
        if (*end != '\0' || !isfinite(d))
            return false;
        *out = json_real(d);
        return true;
    }
    *out = json_integer(neg ? (json_int_t)(0 - u) : (json_int_t)u);
    return true;
}

struct conv {
    size_t max_depth, max_nodes, count;
};

/* One scalar as JSON: an explicit tag (!!str, !!int, ...) decides when
 * there is one, else a plain scalar is resolved as go-yaml v2 does and a
 * quoted one is a string. Strings must be UTF-8: jansson (and the API
 * server) refuse anything else. */
static mb_err scalar_to_json(const struct ydoc_node *n, json_t **out, struct mb_diag *diag)
{
    const char *v = n->value;
    const char *tag = n->tag;
    static const char P[] = "tag:yaml.org,2002:";

    if (tag && !strncmp(tag, P, sizeof P - 1)) {
        const char *t = tag + sizeof P - 1;
        if (!strcmp(t, "null"))
            return *out = json_null(), MB_OK;
        if (!strcmp(t, "bool") || !strcmp(t, "int") || !strcmp(t, "float")) {
            struct ydoc_node plain = *n;
            plain.tag = NULL;
            plain.plain = true;
            mb_err e = scalar_to_json(&plain, out, diag);
            if (e)
                return e;
            if ((!strcmp(t, "bool") && !json_is_boolean(*out)) ||
                (!strcmp(t, "int") && !json_is_integer(*out)) ||
                (!strcmp(t, "float") && !json_is_number(*out))) {
                json_decref(*out);
                *out = NULL;
                return at(diag, MB_EPARSE, n->line, n->column, "value does not match its tag !!%s",
                          t);
            }
            return MB_OK;
        }
    }
    if (!n->plain) {
        *out = json_stringn(v, n->len);
        if (!*out) /* not valid UTF-8 */
            return at(diag, MB_EPARSE, n->line, n->column, "%s", "string is not valid UTF-8");
        return MB_OK;
    }
    if (in_list(v, NULLS))
        return *out = json_null(), MB_OK;
    if (in_list(v, TRUES))
        return *out = json_true(), MB_OK;
    if (in_list(v, FALSES))
        return *out = json_false(), MB_OK;
    if (in_list(v, SPECIAL_FLOATS))
        return at(diag, MB_EPARSE, n->line, n->column, "\"%s\" cannot be represented in JSON", v);
    if (strchr("+-0123456789.", v[0])) {
        if (yaml_int(v, out))
            return MB_OK;
        if (yaml_float_syntax(v)) {
            char *end;
            double d = strtod(v, &end);
            if (isfinite(d))
                return *out = json_real(d), MB_OK;
            return at(diag, MB_EPARSE, n->line, n->column, "number \"%s\" is out of range", v);
        }
    }
    *out = json_stringn(v, n->len);
    if (!*out)
        return at(diag, MB_EPARSE, n->line, n->column, "%s", "string is not valid UTF-8");
    return MB_OK;
}

static mb_err to_json(const struct ydoc_node *n, struct conv *c, size_t depth, json_t **out,
                      struct mb_diag *diag);

/* "<<: *base" (YAML 1.1 merge keys) is common in hand-written manifests
 * and Helm output; kubectl merges them, so do we. */
static bool is_merge_key(const struct ydoc_node *k)
{
    return k->type == YDOC_SCALAR && k->plain && !strcmp(k->value, "<<");
}

/* Merge the mapping `src` (a node) into `obj`, keeping keys already there. */
static mb_err merge_into(json_t *obj, const struct ydoc_node *src, struct conv *c, size_t depth,
                         struct mb_diag *diag)
{
    json_t *m = NULL;
    const char *key;
    json_t *val;
    mb_err err;

    if (src->type != YDOC_MAP)
        return at(diag, MB_EPARSE, src->line, src->column, "%s",
                  "merge key \"<<\" needs a mapping or a sequence of mappings");
    err = to_json(src, c, depth + 1, &m, diag);
    if (err)
        return err;
    json_object_foreach(m, key, val)
    {
        if (!json_object_get(obj, key))
            json_object_set(obj, key, val);
    }
    json_decref(m);
    return MB_OK;
}

static mb_err to_json(const struct ydoc_node *n, struct conv *c, size_t depth, json_t **out,
                      struct mb_diag *diag)
{
    json_t *j = NULL;
    mb_err err = MB_OK;

    if (++c->count > c->max_nodes)
        return at(diag, MB_ETOOBIG, n->line, n->column, "%s",
                  "document expands to too many nodes (aliases?)");
    if (depth > c->max_depth)
        return at(diag, MB_ETOOBIG, n->line, n->column, "%s", "nesting is too deep");

    switch (n->type) {
    case YDOC_SCALAR:
        return scalar_to_json(n, out, diag);
    case YDOC_SEQ:
        j = json_array();
        for (size_t i = 0; i < n->n && !err; i++) {
            json_t *item = NULL;
            err = to_json(n->items[i], c, depth + 1, &item, diag);
            if (!err)
                json_array_append_new(j, item);
        }
        break;
    case YDOC_MAP:
        j = json_object();
        /* explicit keys first; then merges, which never override them */
        for (size_t i = 0; i + 1 < n->n && !err; i += 2) {
            const struct ydoc_node *k = n->items[i];
            json_t *v = NULL;

            if (is_merge_key(k))
                continue;
            if (k->type != YDOC_SCALAR) {
                err = at(diag, MB_EPARSE, k->line, k->column, "%s", "mapping keys must be scalars");
                break;
            }
            if (memchr(k->value, '\0', k->len)) {
                err = at(diag, MB_EPARSE, k->line, k->column, "%s", "key contains a NUL byte");
                break;
            }
            if (json_object_get(j, k->value)) {
                err = at(diag, MB_EPARSE, k->line, k->column, "duplicate key \"%s\"", k->value);
                break;
            }
            err = to_json(n->items[i + 1], c, depth + 1, &v, diag);
            if (!err && json_object_set_new(j, k->value, v) != 0)
                err = at(diag, MB_EPARSE, k->line, k->column, "%s", "key is not valid UTF-8");
        }
        for (size_t i = 0; i + 1 < n->n && !err; i += 2) {
            const struct ydoc_node *v = n->items[i + 1];
            if (!is_merge_key(n->items[i]))
                continue;
            if (v->type == YDOC_SEQ) {
                for (size_t k = 0; k < v->n && !err; k++)
                    err = merge_into(j, v->items[k], c, depth, diag);
            } else {
                err = merge_into(j, v, c, depth, diag);
            }
        }
        break;
    }
    if (err) {
        json_decref(j);
        return err;
    }
    *out = j;
    return MB_OK;
}

mb_err ydoc_to_json(const struct ydoc_node *n, const struct ydoc_limits *limits, json_t **out,
                    struct mb_diag *diag)
{
    struct conv c = {.max_depth = lim_depth(limits), .max_nodes = lim_nodes(limits)};
    return to_json(n, &c, 0, out, diag);
}
