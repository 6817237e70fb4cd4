/*
 * recommend.c -- budget recommendations per owner (pure; see recommend.h):
 * a decaying histogram of each owner's usage peaks, and the budget and
 * limit it suggests. insight.c feeds it and checkpoints it; nothing is
 * changed automatically.
 */
#include <math.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/recommend.h"

#define BASE_WEIGHT 64.0 /* a peak's weight at ref_s */
#define MAX_FACTOR 256.0 /* rescale before new weights grow past this */

/* --- the histogram ------------------------------------------------------------ */

static double width(const struct rc_hist *h) { return ldexp(1.0, h->scale) / RC_BUCKETS; }

static bool empty(const struct rc_hist *h)
{
    for (int i = 0; i < RC_BUCKETS; i++)
        if (h->w[i])
            return false;
    return true;
}

/* Halve every weight k times and move the reference k half-lives on: the
 * relative weights stay, the small old ones fall to zero (the decay). */
static void shift(struct rc_hist *h, unsigned k, uint32_t half_life_s)
{
    for (int i = 0; i < RC_BUCKETS; i++)
        h->w[i] = k >= 16 ? 0 : (uint16_t)(h->w[i] >> k);
    uint64_t ref = (uint64_t)h->ref_s + (uint64_t)k * half_life_s;
    h->ref_s = ref > UINT32_MAX ? UINT32_MAX : (uint32_t)ref;
}

/* The range doubles: pairs of buckets merge, the upper half empties. A
 * peak bigger than the range never saturates the last bucket. */
static void grow(struct rc_hist *h)
{
    for (int i = 0; i < RC_BUCKETS / 2; i++) {
        uint32_t s = (uint32_t)h->w[2 * i] + h->w[2 * i + 1];
        h->w[i] = s > UINT16_MAX ? UINT16_MAX : (uint16_t)s;
    }
    memset(h->w + RC_BUCKETS / 2, 0, sizeof h->w / 2);
    h->scale++;
}

/* The range halves (only when its upper half is empty): each bucket
 * splits its weight over two, so small pods keep a fine resolution. */
static void shrink(struct rc_hist *h)
{
    for (int i = RC_BUCKETS / 2 - 1; i >= 0; i--) {
        uint16_t w = h->w[i];
        h->w[2 * i + 1] = (uint16_t)(w / 2);
        h->w[2 * i] = (uint16_t)(w - w / 2);
    }
    h->scale--;
}

static unsigned scale_for(int64_t bytes)
{
    unsigned s = RC_MIN_SCALE;
    while (s < RC_MAX_SCALE && ldexp(1.0, (int)s) <= (double)bytes)
        s++;
    return s;
}

/* Newer peaks weigh more (exponentially, by their age in half-lives)
 * instead of older ones being decayed on every add: one multiplication
 * per peak, and a rescale only when the weights would overflow 16 bits. */
void rc_hist_add(struct rc_hist *h, int64_t bytes, uint32_t now_s, uint32_t half_life_s)
{
    if (bytes < 0)
        return;
    if (!half_life_s)
        half_life_s = 1;
    /* The decay first: what has faded must not hold the range up. */
    if (h->scale && now_s > h->ref_s &&
        exp2((double)(now_s - h->ref_s) / half_life_s) >= MAX_FACTOR)
        shift(h, (unsigned)((now_s - h->ref_s) / half_life_s), half_life_s);
    if (!h->scale || empty(h)) {
        memset(h->w, 0, sizeof h->w);
        h->scale = (uint8_t)scale_for(bytes);
        h->ref_s = now_s;
    }
    while (h->scale < RC_MAX_SCALE && (double)bytes >= ldexp(1.0, h->scale))
        grow(h);
    /* The range halves when its upper half is empty and the value fits the
     * lower: the resolution follows the data down as old peaks decay. */
    while (h->scale > RC_MIN_SCALE && (double)bytes < ldexp(1.0, h->scale - 1)) {
        bool upper = false;
        for (int i = RC_BUCKETS / 2; i < RC_BUCKETS; i++)
            upper = upper || h->w[i];
        if (upper)
            break;
        shrink(h);
    }
    if (now_s < h->ref_s)
        now_s = h->ref_s;
    double f = exp2((double)(now_s - h->ref_s) / half_life_s);
    uint32_t add = (uint32_t)lround(BASE_WEIGHT * f);
    size_t b = (size_t)((double)bytes / width(h));
    if (b >= RC_BUCKETS)
        b = RC_BUCKETS - 1;
    while ((uint32_t)h->w[b] + add > UINT16_MAX) {
        /* Full: everything, this peak included, to half its weight. */
        shift(h, 1, half_life_s);
        add = (add + 1) / 2;
    }
    h->w[b] = (uint16_t)(h->w[b] + add);
    if (h->peaks < UINT16_MAX)
        h->peaks++;
}

/* Weights of h as of a later reference `ref` (their decay since h->ref_s). */
static void rebase(struct rc_hist *h, uint32_t ref, uint32_t half_life_s)
{
    if (ref <= h->ref_s)
        return;
    double f = exp2(-(double)(ref - h->ref_s) / half_life_s);
    for (int i = 0; i < RC_BUCKETS; i++)
        h->w[i] = (uint16_t)lround(h->w[i] * f);
    h->ref_s = ref;
}

void rc_hist_merge(struct rc_hist *into, const struct rc_hist *from, uint32_t half_life_s)
{
    struct rc_hist b = *from;
    if (!half_life_s)
        half_life_s = 1;
    if (!b.scale || empty(&b))
        return;
    if (!into->scale || empty(into)) {
        *into = b;
        return;
    }
    uint32_t ref = into->ref_s > b.ref_s ? into->ref_s : b.ref_s;
    rebase(into, ref, half_life_s);
    rebase(&b, ref, half_life_s);
    while (into->scale < b.scale)
        grow(into);
    while (b.scale < into->scale)
        grow(&b);
    for (;;) {
        bool over = false;
        for (int i = 0; i < RC_BUCKETS && !over; i++)
            over = (uint32_t)into->w[i] + b.w[i] > UINT16_MAX;
        if (!over)
            break;
        shift(into, 1, half_life_s); /* both halved, the same reference */
        shift(&b, 1, half_life_s);
    }
    for (int i = 0; i < RC_BUCKETS; i++)
        into->w[i] = (uint16_t)(into->w[i] + b.w[i]);
    uint32_t peaks = (uint32_t)into->peaks + b.peaks;
    into->peaks = peaks > UINT16_MAX ? UINT16_MAX : (uint16_t)peaks;
}

/* Linear within the bucket, rounded up: a recommendation errs towards
 * a budget a little too big, never one the peaks already exceeded. */
bool rc_hist_quantile(const struct rc_hist *h, double q, int64_t *out)
{
    double total = 0;
    for (int i = 0; i < RC_BUCKETS; i++)
        total += h->w[i];
    if (total <= 0 || !h->scale)
        return false;
    double want = q * total, cum = 0, wd = width(h);
    for (int i = 0; i < RC_BUCKETS; i++) {
        if (!h->w[i])
            continue;
        if (cum + h->w[i] >= want) {
            double frac = (want - cum) / h->w[i];
            *out = (int64_t)ceil(((double)i + frac) * wd);
            return true;
        }
        cum += h->w[i];
    }
    *out = (int64_t)ceil(RC_BUCKETS * wd);
    return true;
}

/* --- windows ------------------------------------------------------------------ */

/* One pod's peak per window: a pod sampled every second would otherwise
 * weigh sixty times a pod sampled every minute. Returns true (and the
 * peaks) when a window closed. */
bool rc_window_feed(struct rc_window *w, int64_t usage, int64_t rss, uint64_t taken_ms,
                    uint64_t window_ms, int64_t *peak, int64_t *rss_peak)
{
    bool closed = false;
    if (w->open && taken_ms >= w->start_ms + window_ms) {
        *peak = w->peak;
        *rss_peak = w->rss_peak;
        closed = true;
        w->open = false;
    }
    if (!w->open) {
        w->open = true;
        w->start_ms = taken_ms;
        w->peak = usage;
        w->rss_peak = rss > 0 ? rss : 0;
    } else {
        if (usage > w->peak)
            w->peak = usage;
        if (rss > w->rss_peak)
            w->rss_peak = rss;
    }
    return closed;
}

/* --- recommendations ---------------------------------------------------------- */

static int64_t round_mib(double bytes)
{
    const double mib = 1024.0 * 1024.0;
    return (int64_t)(ceil(bytes / mib) * mib);
}

static double floor_now(const struct rc_owner *o, const struct rc_conf *c, uint32_t now_s)
{
    if (!o->floor_kib)
        return 0;
    double age = now_s > o->floor_s ? (double)(now_s - o->floor_s) : 0;
    return (double)o->floor_kib * 1024.0 * exp2(-age / (c->half_life_s ? c->half_life_s : 1));
}

const char *rc_basis_name(enum rc_basis b)
{
    static const char *const NAMES[] = {"p95", "post-gc", "rss", "minimum"};
    return (unsigned)b < sizeof NAMES / sizeof NAMES[0] ? NAMES[b] : "?";
}

/* The budget is the largest of: the peaks' p95, the usage after forced
 * GCs (what the heap cannot go under), and (for heap-measured pods) the
 * RSS p95; plus the margin, in whole MiB. The limit puts that budget at
 * the evict tier. No answer before enough peaks over enough time: a
 * recommendation from a quiet hour would be dangerous. */
enum rc_status rc_recommend(const struct rc_owner *o, const struct rc_conf *c, uint32_t now_s,
                            struct rc_rec *out)
{
    memset(out, 0, sizeof *out);
    out->peaks = o->h.peaks;
    uint64_t need = (uint64_t)RC_MIN_WINDOWS * c->window_s;
    out->need_s = need > UINT32_MAX ? UINT32_MAX : (uint32_t)need;
    if (o->h.peaks)
        out->history_s = now_s > o->first_s ? now_s - o->first_s : 0;
    double fl = floor_now(o, c, now_s);
    out->floor = (int64_t)fl;
    if (o->cur.counts_heap)
        rc_hist_quantile(&o->rss, RC_QUANTILE, &out->rss_p95);
    if (!rc_hist_quantile(&o->h, RC_QUANTILE, &out->p95) || o->h.peaks < RC_MIN_PEAKS)
        return RC_FEW_PEAKS;
    if (out->history_s < out->need_s)
        return RC_SHORT_HISTORY;

    double b = (double)out->p95;
    out->basis = RC_BASIS_PEAKS;
    if (fl > b) {
        b = fl;
        out->basis = RC_BASIS_GC_FLOOR;
    }
    if ((double)out->rss_p95 > b) {
        b = (double)out->rss_p95;
        out->basis = RC_BASIS_RSS;
    }
    out->budget = round_mib(b * (1.0 + c->margin_pct / 100.0));
    if (out->budget < RC_MIN_BUDGET) {
        out->budget = RC_MIN_BUDGET;
        out->basis = RC_BASIS_MINIMUM;
    }
    unsigned ev = o->cur.evict_pct ? o->cur.evict_pct : 100;
    out->limit = round_mib((double)out->budget * 100.0 / ev);
    return RC_OK;
}

void rc_peak(struct rc_owner *o, const struct rc_conf *c, int64_t peak, int64_t rss, uint32_t now_s)
{
    o->changes++;
    if (!o->h.peaks) /* the history starts with the first peak's window */
        o->first_s = now_s > c->window_s ? now_s - c->window_s : 0;
    rc_hist_add(&o->h, peak, now_s, c->half_life_s);
    if (rss > 0)
        rc_hist_add(&o->rss, rss, now_s, c->half_life_s);
    o->last_s = now_s;
}

/* The usage right after a forced GC: the floor decays like the peaks,
 * and a higher one replaces it at once. */
void rc_floor(struct rc_owner *o, const struct rc_conf *c, int64_t bytes, uint32_t now_s)
{
    if (bytes <= 0)
        return;
    double kib = (double)bytes / 1024.0;
    if (kib > UINT32_MAX)
        kib = UINT32_MAX;
    if (kib * 1024.0 >= floor_now(o, c, now_s)) {
        o->floor_kib = (uint32_t)kib;
        o->floor_s = now_s;
        o->changes++;
    }
}

/* --- the table ---------------------------------------------------------------- */

struct rc_table {
    struct rc_owner **slot; /* open addressing, linear probing; cap a power of 2 */
    size_t cap, n, bytes;
};

struct rc_table *rc_new(void)
{
    struct rc_table *t = mb_xcalloc(1, sizeof *t);
    t->cap = 64;
    t->slot = mb_xcalloc(t->cap, sizeof *t->slot);
    return t;
}

void rc_free(struct rc_table *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->cap; i++)
        mb_free(t->slot[i]);
    mb_free(t->slot);
    mb_free(t);
}

static uint64_t hash3(const char *a, const char *b, const char *c)
{
    uint64_t h = 1469598103934665603ULL;
    const char *v[] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        for (const unsigned char *p = (const unsigned char *)v[i]; *p; p++)
            h = (h ^ *p) * 1099511628211ULL;
        h = (h ^ 0xff) * 1099511628211ULL;
    }
    return h;
}

static bool same(const struct rc_owner *o, const char *ns, const char *kind, const char *name)
{
    return !strcmp(o->ns, ns) && !strcmp(o->kind, kind) && !strcmp(o->name, name);
}

static size_t probe(const struct rc_table *t, const char *ns, const char *kind, const char *name)
{
    size_t i = (size_t)hash3(ns, kind, name) & (t->cap - 1);
    while (t->slot[i] && !same(t->slot[i], ns, kind, name))
        i = (i + 1) & (t->cap - 1);
    return i;
}

static void place(struct rc_table *t, struct rc_owner *o)
{
    t->slot[probe(t, o->ns, o->kind, o->name)] = o;
}

static void rehash(struct rc_table *t, size_t cap)
{
    struct rc_owner **old = t->slot;
    size_t oc = t->cap;
    t->slot = mb_xcalloc(cap, sizeof *t->slot);
    t->cap = cap;
    for (size_t i = 0; i < oc; i++)
        if (old[i])
            place(t, old[i]);
    mb_free(old);
}

struct rc_owner *rc_find(const struct rc_table *t, const char *ns, const char *kind,
                         const char *name)
{
    return t->slot[probe(t, ns, kind, name)];
}

/* An owner's allocation: the record and its three strings. */
static size_t owner_size(const char *ns, const char *kind, const char *name)
{
    return sizeof(struct rc_owner) + strlen(ns) + strlen(kind) + strlen(name) + 3;
}

struct rc_owner *rc_owner(struct rc_table *t, const char *ns, const char *kind, const char *name)
{
    size_t i = probe(t, ns, kind, name);
    if (t->slot[i])
        return t->slot[i];
    size_t ln = strlen(ns) + 1, lk = strlen(kind) + 1, lm = strlen(name) + 1;
    size_t sz = owner_size(ns, kind, name);
    struct rc_owner *o = mb_xcalloc(1, sz);
    char *p = (char *)(o + 1);
    memcpy(p, ns, ln);
    memcpy(p + ln, kind, lk);
    memcpy(p + ln + lk, name, lm);
    o->ns = p;
    o->kind = p + ln;
    o->name = p + ln + lk;
    t->slot[i] = o;
    t->n++;
    t->bytes += sz;
    if (t->n * 4 > t->cap * 3)
        rehash(t, t->cap * 2);
    return o;
}

struct rc_owner *rc_next(const struct rc_table *t, size_t *pos)
{
    while (*pos < t->cap) {
        struct rc_owner *o = t->slot[(*pos)++];
        if (o)
            return o;
    }
    return NULL;
}

size_t rc_expire(struct rc_table *t, uint32_t now_s, uint32_t max_age_s, rc_gone_fn *gone,
                 void *ctx)
{
    size_t n = 0;
    for (size_t i = 0; i < t->cap; i++) {
        struct rc_owner *o = t->slot[i];
        if (!o || now_s - o->last_s <= max_age_s || now_s < o->last_s)
            continue;
        if (gone)
            gone(ctx, o);
        t->bytes -= owner_size(o->ns, o->kind, o->name);
        mb_free(o);
        t->slot[i] = NULL;
        t->n--;
        n++;
    }
    if (n)
        rehash(t, t->cap); /* linear probing: re-place what follows the holes */
    return n;
}

size_t rc_count(const struct rc_table *t) { return t->n; }

size_t rc_bytes(const struct rc_table *t)
{
    return t->bytes + t->cap * sizeof *t->slot + sizeof *t;
}

/* --- checkpoints ---------------------------------------------------------------- */

uint64_t rc_owner_hash(const struct rc_owner *o) { return hash3(o->ns, o->kind, o->name); }

static int64_t to_wall(uint32_t t, uint32_t mono_now_s, int64_t wall_now_s)
{
    return wall_now_s - ((int64_t)mono_now_s - (int64_t)t);
}

static uint32_t to_mono(int64_t w, uint32_t mono_now_s, int64_t wall_now_s)
{
    int64_t t = (int64_t)mono_now_s - (wall_now_s - w);
    return t < 0 ? 0 : t > (int64_t)mono_now_s ? mono_now_s : (uint32_t)t;
}

static json_t *hist_json(const struct rc_hist *h, uint32_t mono_now_s, int64_t wall_now_s)
{
    json_t *w = json_array();
    for (int i = 0; i < RC_BUCKETS; i++)
        json_array_append_new(w, json_integer(h->w[i]));
    return json_pack("{s:i,s:I,s:i,s:o}", "scale", (int)h->scale, "ref",
                     (json_int_t)to_wall(h->ref_s, mono_now_s, wall_now_s), "n", (int)h->peaks, "w",
                     w);
}

json_t *rc_checkpoint(const struct rc_owner *o, uint32_t mono_now_s, int64_t wall_now_s)
{
    return json_pack("{s:i,s:s,s:s,s:s,s:I,s:I,s:{s:I,s:I},s:o,s:o,s:{s:I,s:I,s:i,s:b}}", "v",
                     RC_CHECKPOINT_VERSION, "namespace", o->ns, "kind", o->kind, "name", o->name,
                     "first", (json_int_t)to_wall(o->first_s, mono_now_s, wall_now_s), "last",
                     (json_int_t)to_wall(o->last_s, mono_now_s, wall_now_s), "floor", "kib",
                     (json_int_t)o->floor_kib, "at",
                     (json_int_t)to_wall(o->floor_s, mono_now_s, wall_now_s), "peaks",
                     hist_json(&o->h, mono_now_s, wall_now_s), "rss",
                     hist_json(&o->rss, mono_now_s, wall_now_s), "current", "budget",
                     (json_int_t)o->cur.budget, "limit", (json_int_t)o->cur.limit, "evictPercent",
                     (int)o->cur.evict_pct, "countsHeap", o->cur.counts_heap);
}

/* An integer member in [lo, hi]. */
static bool int_in(const json_t *obj, const char *key, json_int_t lo, json_int_t hi,
                   json_int_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
        return false;
    *out = json_integer_value(v);
    return true;
}

static bool hist_of(const json_t *j, struct rc_hist *h, uint32_t mono_now_s, int64_t wall_now_s,
                    const char *what, char *err, size_t errlen)
{
    json_int_t scale, ref, n, w;
    const json_t *ws = json_object_get(j, "w");
    if (!json_is_object(j) || !int_in(j, "scale", 0, RC_MAX_SCALE, &scale) ||
        (scale && scale < RC_MIN_SCALE) || !int_in(j, "ref", 0, INT64_MAX, &ref) ||
        !int_in(j, "n", 0, UINT16_MAX, &n) || json_array_size(ws) != RC_BUCKETS) {
        snprintf(err, errlen, "%s: not a histogram (scale 0 or %d..%d, ref, n, w: %d weights)",
                 what, RC_MIN_SCALE, RC_MAX_SCALE, RC_BUCKETS);
        return false;
    }
    memset(h, 0, sizeof *h);
    for (int i = 0; i < RC_BUCKETS; i++) {
        const json_t *v = json_array_get(ws, (size_t)i);
        w = json_integer_value(v);
        if (!json_is_integer(v) || w < 0 || w > UINT16_MAX) {
            snprintf(err, errlen, "%s: weight %d is not 0..65535", what, i);
            return false;
        }
        h->w[i] = (uint16_t)w;
    }
    h->scale = (uint8_t)scale;
    h->peaks = (uint16_t)n;
    h->ref_s = to_mono(ref, mono_now_s, wall_now_s);
    return true;
}

struct rc_owner *rc_restore(struct rc_table *t, const struct rc_conf *c, const json_t *j,
                            uint32_t session, uint32_t mono_now_s, int64_t wall_now_s, char *err,
                            size_t errlen)
{
    json_int_t v, first, last, kib, at, budget, limit, evict;
    const char *ns = json_string_value(json_object_get(j, "namespace"));
    const char *kind = json_string_value(json_object_get(j, "kind"));
    const char *name = json_string_value(json_object_get(j, "name"));
    const json_t *fl = json_object_get(j, "floor"), *cur = json_object_get(j, "current");
    struct rc_hist h, rss;
    if (!json_is_object(j) || !int_in(j, "v", RC_CHECKPOINT_VERSION, RC_CHECKPOINT_VERSION, &v)) {
        snprintf(err, errlen, "not a version %d checkpoint", RC_CHECKPOINT_VERSION);
        return NULL;
    }
    if (!ns || !*ns || !kind || !*kind || !name || !*name || strlen(ns) > 63 || strlen(kind) > 63 ||
        strlen(name) > 253) {
        snprintf(err, errlen,
                 "namespace, kind and name: non-empty strings (63, 63, 253 bytes at most)");
        return NULL;
    }
    if (!int_in(j, "first", 0, INT64_MAX, &first) || !int_in(j, "last", 0, INT64_MAX, &last) ||
        !int_in(fl, "kib", 0, UINT32_MAX, &kib) || !int_in(fl, "at", 0, INT64_MAX, &at) ||
        !int_in(cur, "budget", 0, INT64_MAX, &budget) ||
        !int_in(cur, "limit", 0, INT64_MAX, &limit) ||
        !int_in(cur, "evictPercent", 0, 100, &evict) ||
        !json_is_boolean(json_object_get(cur, "countsHeap"))) {
        snprintf(err, errlen,
                 "first, last, floor {kib, at} and current {budget, limit, evictPercent "
                 "0..100, countsHeap}: missing or out of range");
        return NULL;
    }
    if (!hist_of(json_object_get(j, "peaks"), &h, mono_now_s, wall_now_s, "peaks", err, errlen) ||
        !hist_of(json_object_get(j, "rss"), &rss, mono_now_s, wall_now_s, "rss", err, errlen))
        return NULL;
    struct rc_owner *o = rc_owner(t, ns, kind, name);
    if (session && o->restored == session)
        return o; /* read already in this session (a page read again) */
    uint32_t first_m = to_mono(first, mono_now_s, wall_now_s),
             last_m = to_mono(last, mono_now_s, wall_now_s);
    uint32_t floor_m = to_mono(at, mono_now_s, wall_now_s);
    bool sampled = o->h.peaks || o->rss.peaks || o->floor_kib || o->cur.budget || o->cur.limit;
    o->restored = session;
    if (!sampled) {
        o->h = h;
        o->rss = rss;
        o->first_s = first_m;
        o->last_s = last_m;
        o->floor_kib = (uint32_t)kib;
        o->floor_s = floor_m;
        o->cur = (struct rc_current){budget, limit, (unsigned)evict,
                                     json_is_true(json_object_get(cur, "countsHeap"))};
        o->saved = o->changes; /* what was read is what is saved */
        o->saved_s = mono_now_s;
        return o;
    }
    /* Sampled meanwhile: both count. */
    bool had_peaks = o->h.peaks > 0;
    rc_hist_merge(&o->h, &h, c->half_life_s);
    rc_hist_merge(&o->rss, &rss, c->half_life_s);
    if (h.peaks && (!had_peaks || first_m < o->first_s))
        o->first_s = first_m;
    if (last_m > o->last_s)
        o->last_s = last_m;
    if (floor_m > o->floor_s || !o->floor_kib) {
        o->floor_kib = (uint32_t)kib;
        o->floor_s = floor_m;
    }
    o->changes++; /* the merged state is not saved anywhere yet */
    return o;
}
