/* lint.c -- manifests through the admission policy (pure). */
#include <string.h>
#include "membudget/lint.h"
#include "membudget/ydoc.h"

static void object_label(const json_t *obj, char *out, size_t n)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const json_t *meta = json_object_get(obj, "metadata");
    const char *name = json_string_value(json_object_get(meta, "name"));
    const char *gen = json_string_value(json_object_get(meta, "generateName"));

    if (name)
        snprintf(out, n, "%s/%s", kind ? kind : "?", name);
    else if (gen)
        snprintf(out, n, "%s/%s*", kind ? kind : "?", gen);
    else
        snprintf(out, n, "%s/(unnamed)", kind ? kind : "?");
}

static void check_object(const struct policy_conf *conf, const char *name, size_t doc,
                         const json_t *obj, struct mb_buf *out, struct lint_stats *st)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    struct policy_result r = {0};
    struct policy_input in;
    char label[300];
    size_t len;

    if (!json_is_object(obj)) {
        (void)mb_buf_printf(out, "%s:%zu: error: not a Kubernetes object\n", name, doc);
        st->bad_inputs++;
        return;
    }
    if (!kind) {
        (void)mb_buf_printf(out, "%s:%zu: error: object has no kind\n", name, doc);
        st->bad_inputs++;
        return;
    }
    len = strlen(kind);
    if (len >= 4 && !strcmp(kind + len - 4, "List") && json_is_array(json_object_get(obj, "items"))) {
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(obj, "items"), i, item)
            check_object(conf, name, doc, item, out, st);
        return;
    }
    in = (struct policy_input){.kind = policy_kind_of_object(obj), .op = POLICY_CREATE, .object = obj};
    if (in.kind == POLICY_KIND_OTHER) {
        st->skipped++;
        return;
    }
    st->objects++;
    object_label(obj, label, sizeof label);
    policy_eval(conf, &in, &r);
    for (size_t i = 0; i < r.nv; i++)
        (void)mb_buf_printf(out, "%s:%zu: %s: %s: %s\n", name, doc, label, r.v[i].path, r.v[i].msg);
    for (size_t i = 0; i < r.nw; i++)
        (void)mb_buf_printf(out, "%s:%zu: %s: warning: %s\n", name, doc, label, r.warnings[i]);
    st->violations += r.nv;
    policy_result_cleanup(&r);
}

static bool looks_like_json(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')
            continue;
        return buf[i] == '{' || buf[i] == '[';
    }
    return false;
}

static void lint_json(const struct policy_conf *conf, const char *name, const char *buf,
                      size_t len, struct mb_buf *out, struct lint_stats *st)
{
    size_t off = 0, doc = 0;

    while (off < len) {
        json_error_t e;
        json_t *j;
        size_t skip = off;

        while (skip < len && strchr(" \t\r\n", buf[skip]))
            skip++;
        if (skip == len)
            break;
        off = skip;
        doc++;
        j = json_loadb(buf + off, len - off, JSON_DISABLE_EOF_CHECK | JSON_REJECT_DUPLICATES, &e);
        if (!j) {
            (void)mb_buf_printf(out, "%s:%zu: error: line %d: %s\n", name, doc, e.line, e.text);
            st->bad_inputs++;
            return; /* cannot resynchronise inside broken JSON */
        }
        off += e.position;
        check_object(conf, name, doc, j, out, st);
        json_decref(j);
    }
}

void lint_buffer(const struct policy_conf *conf, const char *name, const char *buf, size_t len,
                 struct mb_buf *out, struct lint_stats *st)
{
    struct ydoc_stream *s = NULL;
    struct mb_diag d = {0};

    if (looks_like_json(buf, len)) {
        lint_json(conf, name, buf, len, out, st);
        return;
    }
    if (ydoc_parse(buf, len, NULL, &s, &d)) {
        (void)mb_buf_printf(out, "%s: error: line %d column %d: %s\n", name, d.line, d.column, d.msg);
        st->bad_inputs++;
        return;
    }
    for (size_t i = 0; i < s->ndocs; i++) {
        json_t *j = NULL;
        if (ydoc_is_null(s->docs[i]))
            continue; /* empty document, e.g. a trailing "---" */
        if (ydoc_to_json(s->docs[i], NULL, &j, &d)) {
            (void)mb_buf_printf(out, "%s:%zu: error: line %d column %d: %s\n", name, i + 1, d.line,
                                d.column, d.msg);
            st->bad_inputs++;
            continue;
        }
        check_object(conf, name, i + 1, j, out, st);
        json_decref(j);
    }
    ydoc_free(s);
}
