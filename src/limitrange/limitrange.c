/*
 * limitrange.c -- what a namespace's LimitRanges give a container without a
 * memory limit (pure; see limitrange.h). lrwatch keeps the cluster's for
 * the webhook; `lint` collects the ones in its input.
 */
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/kobj.h"
#include "membudget/limitrange.h"
#include "membudget/quantity.h"

void lr_set_init(struct lr_set *s) { memset(s, 0, sizeof *s); }

static void entry_free(struct lr_entry *e)
{
    MB_FREE(e->ns);
    MB_FREE(e->name);
}

void lr_set_cleanup(struct lr_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        entry_free(&s->v[i]);
    MB_FREE(s->v);
    s->n = s->cap = 0;
}

static int cmp_key(const char *ns, const char *name, const struct lr_entry *e)
{
    int r = strcmp(ns, e->ns);
    return r ? r : (name ? strcmp(name, e->name) : -1);
}

/* The first entry not below (ns, name); name NULL: the first of ns. */
static size_t lower_bound(const struct lr_set *s, const char *ns, const char *name, bool *found)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_key(ns, name, &s->v[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = name && lo < s->n && cmp_key(ns, name, &s->v[lo]) == 0;
    return lo;
}

/* The first default.memory of a `type: Container` item, as LimitRanger
 * applies the items in order; -1 when none. */
static int64_t container_default(const json_t *obj)
{
    const json_t *limits = json_object_get(json_object_get(obj, "spec"), "limits");
    size_t i;
    const json_t *item;

    json_array_foreach(limits, i, item)
    {
        const char *type = json_string_value(json_object_get(item, "type"));
        const char *mem =
            json_string_value(json_object_get(json_object_get(item, "default"), "memory"));
        int64_t b;
        if (!type || strcmp(type, "Container") || !mem)
            continue;
        if (qty_parse_str(mem, &b, NULL) == MB_OK && b > 0)
            return b;
    }
    return -1;
}

mb_err lr_set_put(struct lr_set *s, const json_t *obj, struct mb_diag *diag)
{
    const char *ns = kobj_str(obj, "metadata.namespace"), *name = kobj_str(obj, "metadata.name");
    bool found;
    size_t i;

    if (!name || !*name)
        return mb_diag_set(diag, MB_EINVAL, "LimitRange without metadata.name");
    if (!ns)
        ns = "";
    i = lower_bound(s, ns, name, &found);
    if (!found) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 8;
            s->v = mb_xrealloc(s->v, s->cap * sizeof *s->v);
        }
        memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof *s->v);
        s->v[i] = (struct lr_entry){mb_xstrdup(ns), mb_xstrdup(name), -1};
        s->n++;
    }
    s->v[i].default_memory = container_default(obj);
    return MB_OK;
}

void lr_set_delete(struct lr_set *s, const json_t *obj)
{
    const char *ns = kobj_str(obj, "metadata.namespace"), *name = kobj_str(obj, "metadata.name");
    bool found;
    size_t i;

    if (!name)
        return;
    i = lower_bound(s, ns ? ns : "", name, &found);
    if (!found)
        return;
    entry_free(&s->v[i]);
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof *s->v);
    s->n--;
}

void lr_set_move(struct lr_set *dst, struct lr_set *src)
{
    lr_set_cleanup(dst);
    *dst = *src;
    lr_set_init(src);
}

size_t lr_set_count(const struct lr_set *s) { return s->n; }

bool lr_set_lookup(const struct lr_set *s, const char *ns, struct policy_lr *out)
{
    bool found;
    size_t i = lower_bound(s, ns, NULL, &found), first = i;

    memset(out, 0, sizeof *out);
    out->state = POLICY_LR_NONE;
    snprintf(out->ns, sizeof out->ns, "%s", ns);
    for (; i < s->n && !strcmp(s->v[i].ns, ns); i++) {
        const struct lr_entry *e = &s->v[i];
        if (e->default_memory < 0)
            continue;
        out->count++;
        if (out->state == POLICY_LR_NONE || e->default_memory < out->default_memory) {
            out->state = POLICY_LR_DEFAULT;
            out->default_memory = e->default_memory;
            snprintf(out->name, sizeof out->name, "%s", e->name);
        }
    }
    return i > first;
}
