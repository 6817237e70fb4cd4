/* metrics.c -- Prometheus registry and text rendering (pure). */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/metrics.h"

enum mx_type { MX_COUNTER, MX_GAUGE, MX_HISTOGRAM };

struct series {
    char *values[MX_MAX_LABELS];
    double value;      /* counter/gauge; histogram: sum */
    double *buckets;   /* histogram: cumulative at render time, per-bucket here */
    double count;      /* histogram observations */
};

struct mx_family {
    struct mx *owner;
    enum mx_type type;
    char *name, *help;
    size_t nlabels;
    char *labels[MX_MAX_LABELS];
    double *bounds;
    size_t nbounds;
    struct series *s;
    size_t n, cap;
};

struct mx {
    struct mx_family **f;
    size_t n;
    struct mx_family *dropped; /* membudget_metrics_series_dropped_total */
};

static struct mx_family *declare(struct mx *m, enum mx_type t, const char *name, const char *help,
                                 size_t nlabels, const char *const *labels)
{
    struct mx_family *f;

    MB_ASSERT(nlabels <= MX_MAX_LABELS);
    for (size_t i = 0; i < m->n; i++)
        MB_ASSERT(strcmp(m->f[i]->name, name) != 0);
    f = mb_xcalloc(1, sizeof *f);
    f->owner = m;
    f->type = t;
    f->name = mb_xstrdup(name);
    f->help = mb_xstrdup(help);
    f->nlabels = nlabels;
    for (size_t i = 0; i < nlabels; i++)
        f->labels[i] = mb_xstrdup(labels[i]);
    m->f = mb_xrealloc(m->f, (m->n + 1) * sizeof *m->f);
    m->f[m->n++] = f;
    return f;
}

struct mx *mx_new(void)
{
    struct mx *m = mb_xcalloc(1, sizeof *m);
    static const char *const L[] = {"metric"};

    m->dropped = declare(m, MX_COUNTER, "membudget_metrics_series_dropped_total",
                         "Observations dropped because a metric reached its series limit.", 1, L);
    return m;
}

void mx_free(struct mx *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        struct mx_family *f = m->f[i];
        for (size_t k = 0; k < f->n; k++) {
            for (size_t l = 0; l < f->nlabels; l++)
                mb_free(f->s[k].values[l]);
            mb_free(f->s[k].buckets);
        }
        for (size_t l = 0; l < f->nlabels; l++)
            mb_free(f->labels[l]);
        mb_free(f->s);
        mb_free(f->bounds);
        mb_free(f->name);
        mb_free(f->help);
        mb_free(f);
    }
    mb_free(m->f);
    mb_free(m);
}

struct mx_family *mx_lookup(struct mx *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->f[i]->name, name) == 0)
            return m->f[i];
    return NULL;
}

struct mx_family *mx_counter(struct mx *m, const char *name, const char *help, size_t nlabels,
                             const char *const *labels)
{
    return declare(m, MX_COUNTER, name, help, nlabels, labels);
}

struct mx_family *mx_gauge(struct mx *m, const char *name, const char *help, size_t nlabels,
                           const char *const *labels)
{
    return declare(m, MX_GAUGE, name, help, nlabels, labels);
}

struct mx_family *mx_histogram(struct mx *m, const char *name, const char *help, size_t nlabels,
                               const char *const *labels, const double *bounds, size_t nbounds)
{
    struct mx_family *f = declare(m, MX_HISTOGRAM, name, help, nlabels, labels);

    for (size_t i = 1; i < nbounds; i++)
        MB_ASSERT(bounds[i] > bounds[i - 1]);
    f->bounds = mb_xcalloc(nbounds, sizeof *f->bounds);
    memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
    f->nbounds = nbounds;
    return f;
}

static struct series *find(struct mx_family *f, const char *const *values, bool create)
{
    for (size_t i = 0; i < f->n; i++) {
        size_t l;
        for (l = 0; l < f->nlabels; l++)
            if (strcmp(f->s[i].values[l], values[l]) != 0)
                break;
        if (l == f->nlabels)
            return &f->s[i];
    }
    if (!create)
        return NULL;
    if (f->n >= MX_MAX_SERIES) {
        const char *v[] = {f->name};
        if (f != f->owner->dropped)
            mx_add(f->owner->dropped, v, 1);
        return NULL;
    }
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->s = mb_xrealloc(f->s, f->cap * sizeof *f->s);
    }
    struct series *s = &f->s[f->n++];
    memset(s, 0, sizeof *s);
    for (size_t l = 0; l < f->nlabels; l++)
        s->values[l] = mb_xstrdup(values[l] ? values[l] : "");
    if (f->type == MX_HISTOGRAM)
        s->buckets = mb_xcalloc(f->nbounds, sizeof *s->buckets);
    return s;
}

void mx_add(struct mx_family *f, const char *const *values, double v)
{
    struct series *s;

    MB_ASSERT(f->type == MX_COUNTER && v >= 0);
    s = find(f, values, true);
    if (s)
        s->value += v;
}

void mx_set(struct mx_family *f, const char *const *values, double v)
{
    struct series *s;

    MB_ASSERT(f->type == MX_GAUGE);
    s = find(f, values, true);
    if (s)
        s->value = v;
}

void mx_observe(struct mx_family *f, const char *const *values, double v)
{
    struct series *s;

    MB_ASSERT(f->type == MX_HISTOGRAM);
    s = find(f, values, true);
    if (!s)
        return;
    for (size_t i = 0; i < f->nbounds; i++) {
        if (v <= f->bounds[i]) {
            s->buckets[i] += 1;
            break;
        }
    }
    s->value += v;
    s->count += 1;
}

void mx_delete(struct mx_family *f, const char *const *values)
{
    struct series *s = find(f, values, false);

    if (!s)
        return;
    for (size_t l = 0; l < f->nlabels; l++)
        mb_free(s->values[l]);
    mb_free(s->buckets);
    *s = f->s[--f->n]; /* order is not significant */
}

double mx_value(struct mx_family *f, const char *const *values)
{
    struct series *s = find(f, values, false);
    return s ? s->value : 0;
}

/* Label values: backslash, double quote and newline are escaped. */
static mb_err put_labels(struct mb_buf *b, const struct mx_family *f, const struct series *s,
                         const char *extra_name, const char *extra_value)
{
    mb_err err = MB_OK;
    bool any = false;

    if (!f->nlabels && !extra_name)
        return MB_OK;
    err = mb_buf_adds(b, "{");
    for (size_t l = 0; l <= f->nlabels && !err; l++) {
        const char *name = l < f->nlabels ? f->labels[l] : extra_name;
        const char *v = l < f->nlabels ? s->values[l] : extra_value;
        if (!name)
            continue;
        err = mb_buf_printf(b, "%s%s=\"", any ? "," : "", name);
        any = true;
        for (const char *c = v; *c && !err; c++) {
            if (*c == '\\')
                err = mb_buf_adds(b, "\\\\");
            else if (*c == '"')
                err = mb_buf_adds(b, "\\\"");
            else if (*c == '\n')
                err = mb_buf_adds(b, "\\n");
            else
                err = mb_buf_add(b, c, 1);
        }
        if (!err)
            err = mb_buf_adds(b, "\"");
    }
    return err ? err : mb_buf_adds(b, "}");
}

static mb_err put_num(struct mb_buf *b, double v)
{
    if (isinf(v))
        return mb_buf_adds(b, v > 0 ? " +Inf\n" : " -Inf\n");
    if (isnan(v))
        return mb_buf_adds(b, " NaN\n");
    if (v == (double)(long long)v && fabs(v) < 1e15)
        return mb_buf_printf(b, " %lld\n", (long long)v);
    return mb_buf_printf(b, " %.15g\n", v);
}

mb_err mx_render(const struct mx *m, struct mb_buf *out)
{
    static const char *const TYPES[] = {"counter", "gauge", "histogram"};
    mb_err err = MB_OK;

    for (size_t i = 0; i < m->n && !err; i++) {
        const struct mx_family *f = m->f[i];
        err = mb_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                            TYPES[f->type]);
        for (size_t k = 0; k < f->n && !err; k++) {
            const struct series *s = &f->s[k];
            if (f->type != MX_HISTOGRAM) {
                err = mb_buf_adds(out, f->name);
                if (!err)
                    err = put_labels(out, f, s, NULL, NULL);
                if (!err)
                    err = put_num(out, s->value);
                continue;
            }
            double cum = 0;
            char le[32];
            for (size_t bk = 0; bk <= f->nbounds && !err; bk++) {
                cum += bk < f->nbounds ? s->buckets[bk] : 0;
                if (bk < f->nbounds)
                    snprintf(le, sizeof le, "%g", f->bounds[bk]);
                else
                    snprintf(le, sizeof le, "+Inf");
                err = mb_buf_printf(out, "%s_bucket", f->name);
                if (!err)
                    err = put_labels(out, f, s, "le", le);
                if (!err)
                    err = put_num(out, bk < f->nbounds ? cum : s->count);
            }
            if (!err)
                err = mb_buf_printf(out, "%s_sum", f->name);
            if (!err)
                err = put_labels(out, f, s, NULL, NULL);
            if (!err)
                err = put_num(out, s->value);
            if (!err)
                err = mb_buf_printf(out, "%s_count", f->name);
            if (!err)
                err = put_labels(out, f, s, NULL, NULL);
            if (!err)
                err = put_num(out, s->count);
        }
    }
    return err;
}
