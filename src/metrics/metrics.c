/*
 * metrics.c -- the Prometheus registry and its text exposition (pure; see
 * metrics.h). Written by every thread (a mutex held for nanoseconds,
 * never while formatting), rendered by the ops server; each family caps
 * its series, so a pod churn cannot grow /metrics without bound.
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/metrics.h"

enum mx_type { MX_COUNTER, MX_GAUGE, MX_HISTOGRAM };

struct series {
    struct series *next; /* hash chain */
    uint64_t hash;
    size_t pos; /* index in the family's dense array */
    char *key;  /* label values, each followed by '\0' */
    size_t klen;
    char *labels;     /* escaped `a="x",b="y"` ("" without labels), for rendering */
    double value;     /* counter/gauge; histogram: sum */
    double count;     /* histogram observations */
    double buckets[]; /* histogram: per bucket (cumulated when rendered) */
};

struct mx_family {
    struct mx *owner;
    pthread_mutex_t mu; /* guards everything below that changes */
    enum mx_type type;
    char *name, *help;
    size_t nlabels;
    char *labels[MX_MAX_LABELS];
    double *bounds;
    size_t nbounds;
    struct series **v; /* dense array, in creation order (modulo deletes) */
    size_t n, cap;
    struct series **tab; /* hash buckets, tabsize a power of two */
    size_t tabsize;
    bool overflowed; /* the overflow callback has run for this family */
};

struct mx {
    pthread_mutex_t mu; /* guards the family list */
    struct mx_family **f;
    size_t n;
    size_t limit; /* series per family */
    mx_overflow_fn *on_overflow;
    void *overflow_ctx;
    struct mx_family *dropped; /* membudget_metrics_series_dropped_total */
};

static struct mx_family *find_family(struct mx *m, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->f[i]->name, name) == 0)
            return m->f[i];
    return NULL;
}

static struct mx_family *declare(struct mx *m, enum mx_type t, const char *name, const char *help,
                                 size_t nlabels, const char *const *labels, const double *bounds,
                                 size_t nbounds)
{
    struct mx_family *f;

    MB_ASSERT(nlabels <= MX_MAX_LABELS);
    for (size_t i = 1; i < nbounds; i++)
        MB_ASSERT(bounds[i] > bounds[i - 1]);
    f = mb_xcalloc(1, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->owner = m;
    f->type = t;
    f->name = mb_xstrdup(name);
    f->help = mb_xstrdup(help);
    f->nlabels = nlabels;
    for (size_t i = 0; i < nlabels; i++)
        f->labels[i] = mb_xstrdup(labels[i]);
    if (nbounds) {
        f->bounds = mb_xcalloc(nbounds, sizeof *f->bounds);
        memcpy(f->bounds, bounds, nbounds * sizeof *bounds);
        f->nbounds = nbounds;
    }
    pthread_mutex_lock(&m->mu);
    MB_ASSERT(!find_family(m, name));
    m->f = mb_xrealloc(m->f, (m->n + 1) * sizeof *m->f);
    m->f[m->n++] = f;
    pthread_mutex_unlock(&m->mu);
    return f;
}

struct mx *mx_new(void)
{
    struct mx *m = mb_xcalloc(1, sizeof *m);
    static const char *const L[] = {"metric"};

    pthread_mutex_init(&m->mu, NULL);
    m->limit = MX_DEFAULT_MAX_SERIES;
    m->dropped =
        declare(m, MX_COUNTER, "membudget_metrics_series_dropped_total",
                "Observations dropped because a metric reached its series limit.", 1, L, NULL, 0);
    return m;
}

static void free_series(struct series *s)
{
    mb_free(s->key);
    mb_free(s->labels);
    mb_free(s);
}

void mx_free(struct mx *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        struct mx_family *f = m->f[i];
        for (size_t k = 0; k < f->n; k++)
            free_series(f->v[k]);
        for (size_t l = 0; l < f->nlabels; l++)
            mb_free(f->labels[l]);
        pthread_mutex_destroy(&f->mu);
        mb_free(f->v);
        mb_free(f->tab);
        mb_free(f->bounds);
        mb_free(f->name);
        mb_free(f->help);
        mb_free(f);
    }
    pthread_mutex_destroy(&m->mu);
    mb_free(m->f);
    mb_free(m);
}

void mx_set_series_limit(struct mx *m, size_t limit) { m->limit = limit ? limit : 1; }

void mx_on_overflow(struct mx *m, mx_overflow_fn *fn, void *ctx)
{
    m->on_overflow = fn;
    m->overflow_ctx = ctx;
}

struct mx_family *mx_lookup(struct mx *m, const char *name)
{
    struct mx_family *f;

    pthread_mutex_lock(&m->mu);
    f = find_family(m, name);
    pthread_mutex_unlock(&m->mu);
    return f;
}

struct mx_family *mx_counter(struct mx *m, const char *name, const char *help, size_t nlabels,
                             const char *const *labels)
{
    return declare(m, MX_COUNTER, name, help, nlabels, labels, NULL, 0);
}

struct mx_family *mx_gauge(struct mx *m, const char *name, const char *help, size_t nlabels,
                           const char *const *labels)
{
    return declare(m, MX_GAUGE, name, help, nlabels, labels, NULL, 0);
}

struct mx_family *mx_histogram(struct mx *m, const char *name, const char *help, size_t nlabels,
                               const char *const *labels, const double *bounds, size_t nbounds)
{
    return declare(m, MX_HISTOGRAM, name, help, nlabels, labels, bounds, nbounds);
}

/* The lookup key: each label value followed by '\0' (NULL reads as ""). */
static size_t make_key(const struct mx_family *f, const char *const *values, char *buf,
                       size_t buflen, uint64_t *hash)
{
    size_t len = 0;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    for (size_t l = 0; l < f->nlabels; l++) {
        const char *v = values && values[l] ? values[l] : "";
        size_t vl = strlen(v) + 1;
        if (buf && len + vl <= buflen)
            memcpy(buf + len, v, vl);
        for (size_t i = 0; i < vl; i++)
            h = (h ^ (unsigned char)v[i]) * 1099511628211ull;
        len += vl;
    }
    *hash = h;
    return len;
}

static mb_err escape_into(struct mb_buf *b, const char *v)
{
    mb_err err = MB_OK;

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
    return err;
}

/* `a="x",b="y"`: label values escaped as the text format wants them
 * (backslash, double quote and newline). */
static char *render_labels(const struct mx_family *f, const char *const *values)
{
    struct mb_buf b;

    mb_buf_init(&b, SIZE_MAX / 2);
    for (size_t l = 0; l < f->nlabels; l++) {
        mb_buf_printf(&b, "%s%s=\"", l ? "," : "", f->labels[l]);
        escape_into(&b, values && values[l] ? values[l] : "");
        mb_buf_adds(&b, "\"");
    }
    return mb_buf_take(&b);
}

static void grow_table(struct mx_family *f)
{
    size_t size = f->tabsize ? f->tabsize * 2 : 64;
    struct series **tab = mb_xcalloc(size, sizeof *tab);

    for (size_t i = 0; i < f->n; i++) {
        struct series *s = f->v[i];
        size_t b = (size_t)s->hash & (size - 1);
        s->next = tab[b];
        tab[b] = s;
    }
    mb_free(f->tab);
    f->tab = tab;
    f->tabsize = size;
}

/* Caller holds f->mu. With `create`, a missing series is added unless the
 * family is at its limit; then *dropped is set (and *first_drop the first
 * time). Returns the series or NULL. */
static struct series *find(struct mx_family *f, const char *const *values, bool create,
                           bool *dropped, bool *first_drop)
{
    char small[512];
    uint64_t h;
    size_t klen = make_key(f, values, small, sizeof small, &h);
    char *key = klen <= sizeof small ? small : mb_xmalloc(klen);
    struct series *s = NULL;

    if (key != small)
        make_key(f, values, key, klen, &h);
    if (f->tabsize) {
        for (s = f->tab[(size_t)h & (f->tabsize - 1)]; s; s = s->next)
            if (s->hash == h && s->klen == klen && !memcmp(s->key, key, klen))
                break;
    }
    if (s || !create)
        goto out;
    /* The dropped counter itself is exempt: one series per declared
     * family at most, a number fixed at start-up. */
    if (f->n >= f->owner->limit && f != f->owner->dropped) {
        *dropped = true;
        *first_drop = !f->overflowed;
        f->overflowed = true;
        goto out;
    }
    if (f->n >= f->tabsize) /* load factor at most 1 */
        grow_table(f);
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->v = mb_xrealloc(f->v, f->cap * sizeof *f->v);
    }
    s = mb_xcalloc(1, sizeof *s + f->nbounds * sizeof(double));
    s->hash = h;
    s->klen = klen;
    s->key = mb_xmalloc(klen ? klen : 1);
    memcpy(s->key, key, klen);
    s->labels = render_labels(f, values);
    s->pos = f->n;
    f->v[f->n++] = s;
    s->next = f->tab[(size_t)h & (f->tabsize - 1)];
    f->tab[(size_t)h & (f->tabsize - 1)] = s;
out:
    if (key != small)
        mb_free(key);
    return s;
}

enum op { OP_ADD, OP_SET, OP_OBSERVE };

static void update(struct mx_family *f, const char *const *values, enum op op, double v)
{
    bool dropped = false, first_drop = false;
    struct mx *m = f->owner;
    struct series *s;

    pthread_mutex_lock(&f->mu);
    s = find(f, values, true, &dropped, &first_drop);
    if (s && op == OP_ADD) {
        s->value += v;
    } else if (s && op == OP_SET) {
        s->value = v;
    } else if (s) {
        for (size_t i = 0; i < f->nbounds; i++) {
            if (v <= f->bounds[i]) {
                s->buckets[i] += 1;
                break;
            }
        }
        s->value += v;
        s->count += 1;
    }
    pthread_mutex_unlock(&f->mu);
    if (dropped && f != m->dropped) {
        const char *l[] = {f->name};
        mx_add(m->dropped, l, 1);
        if (first_drop && m->on_overflow)
            m->on_overflow(m->overflow_ctx, f->name, m->limit);
    }
}

void mx_add(struct mx_family *f, const char *const *values, double v)
{
    MB_ASSERT(f->type == MX_COUNTER && v >= 0);
    update(f, values, OP_ADD, v);
}

void mx_set(struct mx_family *f, const char *const *values, double v)
{
    MB_ASSERT(f->type == MX_GAUGE);
    update(f, values, OP_SET, v);
}

void mx_observe(struct mx_family *f, const char *const *values, double v)
{
    MB_ASSERT(f->type == MX_HISTOGRAM);
    update(f, values, OP_OBSERVE, v);
}

void mx_delete(struct mx_family *f, const char *const *values)
{
    struct series *s, **pp;
    bool dropped, first;

    pthread_mutex_lock(&f->mu);
    s = find(f, values, false, &dropped, &first);
    if (s) {
        for (pp = &f->tab[(size_t)s->hash & (f->tabsize - 1)]; *pp != s; pp = &(*pp)->next)
            ;
        *pp = s->next;
        f->v[s->pos] = f->v[--f->n]; /* order is not significant */
        f->v[s->pos]->pos = s->pos;
        free_series(s);
    }
    pthread_mutex_unlock(&f->mu);
}

double mx_value(struct mx_family *f, const char *const *values)
{
    bool dropped, first;
    struct series *s;
    double v;

    pthread_mutex_lock(&f->mu);
    s = find(f, values, false, &dropped, &first);
    v = s ? s->value : 0;
    pthread_mutex_unlock(&f->mu);
    return v;
}

size_t mx_series_count(struct mx_family *f)
{
    size_t n;

    pthread_mutex_lock(&f->mu);
    n = f->n;
    pthread_mutex_unlock(&f->mu);
    return n;
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

/* `name{labels}` or `name{labels,le="x"}`, or `name` alone. */
static mb_err put_head(struct mb_buf *b, const char *name, const char *suffix, const char *labels,
                       const char *le)
{
    bool any = labels[0] != '\0';

    if (!any && !le)
        return mb_buf_printf(b, "%s%s", name, suffix);
    if (!le)
        return mb_buf_printf(b, "%s%s{%s}", name, suffix, labels);
    return mb_buf_printf(b, "%s%s{%s%sle=\"%s\"}", name, suffix, labels, any ? "," : "", le);
}

/* A family's series as they were at one instant: copied under the family's
 * lock, formatted after it is released. */
struct snap {
    size_t n, nb; /* series, doubles per series */
    size_t *lab;  /* offset of each series' labels in `text` */
    double *num;  /* per series: value, count, buckets... */
    struct mb_buf text;
};

static void snap_take(struct mx_family *f, struct snap *sn)
{
    pthread_mutex_lock(&f->mu);
    sn->n = f->n;
    sn->nb = 2 + f->nbounds;
    sn->lab = mb_xcalloc(sn->n ? sn->n : 1, sizeof *sn->lab);
    sn->num = mb_xcalloc(sn->n ? sn->n * sn->nb : 1, sizeof *sn->num);
    mb_buf_init(&sn->text, SIZE_MAX / 2);
    for (size_t k = 0; k < f->n; k++) {
        const struct series *s = f->v[k];
        double *d = &sn->num[k * sn->nb];
        sn->lab[k] = sn->text.len;
        mb_buf_add(&sn->text, s->labels, strlen(s->labels) + 1);
        d[0] = s->value;
        d[1] = s->count;
        memcpy(d + 2, s->buckets, f->nbounds * sizeof(double));
    }
    pthread_mutex_unlock(&f->mu);
}

static void snap_cleanup(struct snap *sn)
{
    mb_free(sn->lab);
    mb_free(sn->num);
    mb_buf_cleanup(&sn->text);
}

static mb_err render_family(const struct mx_family *f, const struct snap *sn, struct mb_buf *out)
{
    static const char *const TYPES[] = {"counter", "gauge", "histogram"};
    mb_err err = mb_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name,
                               TYPES[f->type]);

    for (size_t k = 0; k < sn->n && !err; k++) {
        const char *labels = sn->text.p + sn->lab[k];
        const double *d = &sn->num[k * sn->nb];
        if (f->type != MX_HISTOGRAM) {
            err = put_head(out, f->name, "", labels, NULL);
            if (!err)
                err = put_num(out, d[0]);
            continue;
        }
        double cum = 0;
        char le[32];
        for (size_t bk = 0; bk <= f->nbounds && !err; bk++) {
            cum += bk < f->nbounds ? d[2 + bk] : 0;
            if (bk < f->nbounds)
                snprintf(le, sizeof le, "%g", f->bounds[bk]);
            else
                snprintf(le, sizeof le, "+Inf");
            err = put_head(out, f->name, "_bucket", labels, le);
            if (!err)
                err = put_num(out, bk < f->nbounds ? cum : d[1]);
        }
        if (!err)
            err = put_head(out, f->name, "_sum", labels, NULL);
        if (!err)
            err = put_num(out, d[0]);
        if (!err)
            err = put_head(out, f->name, "_count", labels, NULL);
        if (!err)
            err = put_num(out, d[1]);
    }
    return err;
}

mb_err mx_render(struct mx *m, struct mb_buf *out)
{
    mb_err err = MB_OK;
    size_t nf;

    pthread_mutex_lock(&m->mu);
    nf = m->n; /* families are only ever added, and never moved once declared */
    pthread_mutex_unlock(&m->mu);
    for (size_t i = 0; i < nf && !err; i++) {
        struct mx_family *f;
        struct snap sn;
        pthread_mutex_lock(&m->mu);
        f = m->f[i];
        pthread_mutex_unlock(&m->mu);
        snap_take(f, &sn);
        err = render_family(f, &sn, out);
        snap_cleanup(&sn);
    }
    return err;
}
