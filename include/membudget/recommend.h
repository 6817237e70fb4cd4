/*
 * recommend.h -- budget recommendations per owner (advice only: nothing is
 * changed automatically).
 *
 * Pure. Per owner (a Deployment, StatefulSet, DaemonSet, Job, ...; a
 * ReplicaSet's pods count for its Deployment) a decaying histogram of usage
 * peaks, VPA's half-life idea kept small: RC_BUCKETS 16-bit weights over a
 * range that doubles or halves with the data, 56 bytes in all. One peak per
 * pod per peak window (rc_window); a new peak weighs 2^(age / halfLife) times
 * an old one, so a peak a half-life old counts half.
 *
 *   recommended budget = p95 of the peaks x (1 + margin), at least the
 *                        post-GC floor x (1 + margin), rounded up to 1 MiB;
 *   recommended limit  = budget / the evict threshold (so the evict tier sits
 *                        where the budget's p95 headroom ends), up to 1 MiB.
 *
 * Nothing is recommended before RC_MIN_PEAKS peaks. The p95 is interpolated
 * within its bucket (1/24 of a range at most twice the values): make bench
 * (test/bench/recommend_bench.c) measures 1% off the exact p95 on average.
 * With the owner's key and its slot, an owner costs about 180 bytes.
 *
 * Times are seconds on any monotonic clock (the caller's).
 */
#ifndef MB_RECOMMEND_H
#define MB_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_BUCKETS 24
#define RC_MIN_SCALE 20 /* the smallest range: [0, 1 MiB) */
#define RC_MAX_SCALE 52
#define RC_MIN_PEAKS 3
#define RC_QUANTILE 0.95

/* The decaying histogram: buckets of width 2^scale / RC_BUCKETS bytes. */
struct rc_hist {
    uint16_t w[RC_BUCKETS];
    uint32_t ref_s;  /* weights are relative to this time */
    uint16_t peaks;  /* peaks added (saturates) */
    uint8_t scale;   /* 0: empty */
};

void rc_hist_add(struct rc_hist *h, int64_t bytes, uint32_t now_s, uint32_t half_life_s);

/* The q-quantile (0 < q <= 1) in bytes, interpolated within its bucket.
 * Returns false when the histogram holds no weight. */
bool rc_hist_quantile(const struct rc_hist *h, double q, int64_t *out);

/* One pod's current peak window. Value type, zeroed to start. */
struct rc_window {
    bool open;
    uint64_t start_ms;
    int64_t peak;
};

/* A fresh sample at `taken_ms`. Returns true when it closed a window that
 * had at least one sample: *peak is that window's peak (the sample then
 * opens the next window). */
bool rc_window_feed(struct rc_window *w, int64_t usage, uint64_t taken_ms, uint64_t window_ms,
                    int64_t *peak);

struct rc_conf {
    unsigned margin_pct;
    uint32_t half_life_s;
};

/* The owner's current values, as its pods declare them. */
struct rc_current {
    int64_t budget, limit; /* bytes; 0 unknown */
    unsigned evict_pct;    /* the evict threshold (0: off, 100 is used) */
};

struct rc_owner {
    struct rc_hist h;
    uint32_t floor_kib;    /* the post-GC floor, decaying like the peaks */
    uint32_t floor_s;      /* when it was last raised */
    uint32_t last_s;       /* the last peak (the caller may also set it when it sees the owner) */
    struct rc_current cur;
    const char *ns, *kind, *name; /* in the same allocation */
};

struct rc_rec {
    int64_t p95;           /* p95 of the peaks */
    int64_t floor;         /* post-GC floor, 0 unknown */
    int64_t budget, limit; /* recommended */
    unsigned peaks;
};

/* The recommendation for o. Returns false before RC_MIN_PEAKS peaks. */
bool rc_recommend(const struct rc_owner *o, const struct rc_conf *c, uint32_t now_s,
                  struct rc_rec *out);

/* The owners: a hash table keyed by namespace, kind and name. */
struct rc_table;

struct rc_table *rc_new(void);
void rc_free(struct rc_table *t); /* NULL-safe */

/* Returns: the owner's record, created when absent (never NULL). */
struct rc_owner *rc_owner(struct rc_table *t, const char *ns, const char *kind, const char *name);

/* Returns: the owner's record, or NULL. */
struct rc_owner *rc_find(const struct rc_table *t, const char *ns, const char *kind,
                         const char *name);

/* A peak: into the histogram, and last_s. (The owner's current values,
 * o->cur, are the caller's to keep.) */
void rc_peak(struct rc_owner *o, const struct rc_conf *c, int64_t peak, uint32_t now_s);

/* A post-GC usage figure (the floor the live heap keeps). */
void rc_floor(struct rc_owner *o, const struct rc_conf *c, int64_t bytes, uint32_t now_s);

/* Iterate: *pos = 0 first; NULL at the end. No changes during iteration. */
struct rc_owner *rc_next(const struct rc_table *t, size_t *pos);

/* Remove owners whose last_s is older than `max_age_s`; `gone` (may be
 * NULL) is told of each before it is freed. Returns how many went. */
typedef void rc_gone_fn(void *ctx, const struct rc_owner *o);
size_t rc_expire(struct rc_table *t, uint32_t now_s, uint32_t max_age_s, rc_gone_fn *gone,
                 void *ctx);

size_t rc_count(const struct rc_table *t);
size_t rc_bytes(const struct rc_table *t); /* heap bytes held (records and table) */

#endif
