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
 *   recommended budget = the largest of
 *                          - the p95 of the usage peaks,
 *                          - the post-GC floor (what a forced GC left),
 *                          - the p95 of the process's RSS at those peaks,
 *                            when the budget counts the heap: GOMEMLIMIT is
 *                            the budget, and it limits all the memory the Go
 *                            runtime holds, not the heap alone;
 *                        x (1 + margin), rounded up to 1 MiB, and never below
 *                        RC_MIN_BUDGET;
 *   recommended limit  = budget / the evict threshold (so the evict tier sits
 *                        where the budget's p95 headroom ends), up to 1 MiB.
 *
 * RC_MIN_BUDGET, 16 MiB: an idle Go service (the runtime, an HTTP server
 * and its metrics endpoint: test/targets/leaky, Go 1.26) holds a 0.9 MiB
 * heap but 9 MiB of RSS and 12 MiB from the OS; a GOMEMLIMIT below that
 * makes it collect without end. A budget that small is never advised.
 *
 * Nothing is recommended from too little history: fewer than RC_MIN_PEAKS
 * peaks, or peaks that span fewer than RC_MIN_WINDOWS peak windows (an hour
 * by default: ten replicas give ten peaks in one window, and one window is
 * not a day's load). The p95 is interpolated within its bucket (1/24 of a
 * range at most twice the values): make bench (test/bench/recommend_bench.c)
 * measures 1% off the exact p95 on average. With the owner's key and its
 * slot, an owner costs about 230 bytes (two histograms).
 *
 * Times are seconds on any monotonic clock (the caller's).
 */
#ifndef MB_RECOMMEND_H
#define MB_RECOMMEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#define RC_BUCKETS 24
#define RC_MIN_SCALE 20 /* the smallest range: [0, 1 MiB) */
#define RC_MAX_SCALE 52
#define RC_MIN_PEAKS 6
#define RC_MIN_WINDOWS 12
#define RC_MIN_BUDGET (16LL << 20)
#define RC_QUANTILE 0.95

/* The decaying histogram: buckets of width 2^scale / RC_BUCKETS bytes. */
struct rc_hist {
    uint16_t w[RC_BUCKETS];
    uint32_t ref_s; /* weights are relative to this time */
    uint16_t peaks; /* peaks added (saturates) */
    uint8_t scale;  /* 0: empty */
};

void rc_hist_add(struct rc_hist *h, int64_t bytes, uint32_t now_s, uint32_t half_life_s);

/* Add `from`'s peaks to `into`: both brought to the later reference time
 * (the older decayed by the half-lives between) and the wider range, then
 * the weights summed (halved together where a bucket would overflow). */
void rc_hist_merge(struct rc_hist *into, const struct rc_hist *from, uint32_t half_life_s);

/* The q-quantile (0 < q <= 1) in bytes, interpolated within its bucket.
 * Returns false when the histogram holds no weight. */
bool rc_hist_quantile(const struct rc_hist *h, double q, int64_t *out);

/* One pod's current peak window. Value type, zeroed to start. */
struct rc_window {
    bool open;
    uint64_t start_ms;
    int64_t peak;
    int64_t rss_peak; /* 0: no RSS figure in this window */
};

/* A fresh sample at `taken_ms`: the figure that counts, and the process's
 * RSS (0 unknown). Returns true when it closed a window that had at least
 * one sample: *peak and *rss_peak (0 unknown) are that window's (the
 * sample then opens the next window). */
bool rc_window_feed(struct rc_window *w, int64_t usage, int64_t rss, uint64_t taken_ms,
                    uint64_t window_ms, int64_t *peak, int64_t *rss_peak);

struct rc_conf {
    unsigned margin_pct;
    uint32_t half_life_s;
    uint32_t window_s; /* the peak window */
};

/* The owner's current values, as its pods declare them. */
struct rc_current {
    int64_t budget, limit; /* bytes; 0 unknown */
    unsigned evict_pct;    /* the evict threshold (0: off, 100 is used) */
    bool counts_heap;      /* membudget.io/usage: heap (the RSS is a floor) */
};

struct rc_owner {
    struct rc_hist h;   /* the peaks of the figure that counts */
    struct rc_hist rss; /* the process's RSS at those peaks, where known */
    uint32_t floor_kib; /* the post-GC floor, decaying like the peaks */
    uint32_t floor_s;   /* when it was last raised */
    uint32_t first_s;   /* when the first peak's window began */
    uint32_t last_s;    /* the last peak (the caller may also set it when it sees the owner) */
    uint32_t changes;   /* peaks and floors taken (wraps): a checkpoint is due when it moved */
    uint32_t saved;     /* the caller's: `changes` as last checkpointed */
    uint32_t saved_s;   /* the caller's: when */
    struct rc_current cur;
    uint32_t restored;            /* the rc_restore session that read its checkpoint (0: none) */
    const char *ns, *kind, *name; /* in the same allocation */
};

/* What decided the recommended budget. */
enum rc_basis {
    RC_BASIS_PEAKS,    /* the p95 of the usage peaks */
    RC_BASIS_GC_FLOOR, /* the post-GC floor */
    RC_BASIS_RSS,      /* the p95 of the RSS (a heap budget) */
    RC_BASIS_MINIMUM,  /* RC_MIN_BUDGET */
};
const char *rc_basis_name(enum rc_basis b); /* "p95", "post-gc", "rss", "minimum" */

enum rc_status {
    RC_OK = 0,
    RC_FEW_PEAKS,     /* fewer than RC_MIN_PEAKS peaks */
    RC_SHORT_HISTORY, /* peaks over fewer than RC_MIN_WINDOWS peak windows */
};

struct rc_rec {
    int64_t p95;           /* p95 of the peaks, 0 none */
    int64_t floor;         /* post-GC floor, 0 unknown */
    int64_t rss_p95;       /* p95 of the RSS at the peaks, 0 unknown */
    int64_t budget, limit; /* recommended (RC_OK only) */
    enum rc_basis basis;
    unsigned peaks;
    uint32_t history_s; /* from the first peak window's start to now, 0 none */
    uint32_t need_s;    /* the history RC_MIN_WINDOWS windows make */
};

/* The recommendation for o; out->peaks and out->history_s are set whatever
 * the answer, the figures where known. */
enum rc_status rc_recommend(const struct rc_owner *o, const struct rc_conf *c, uint32_t now_s,
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

/* A peak, and the RSS at it (0 unknown): into the histograms, and last_s.
 * (The owner's current values, o->cur, are the caller's to keep.) */
void rc_peak(struct rc_owner *o, const struct rc_conf *c, int64_t peak, int64_t rss,
             uint32_t now_s);

/* A post-GC usage figure (the floor the live heap keeps). */
void rc_floor(struct rc_owner *o, const struct rc_conf *c, int64_t bytes, uint32_t now_s);

/* Iterate: *pos = 0 first; NULL at the end. No changes during iteration. */
struct rc_owner *rc_next(const struct rc_table *t, size_t *pos);

/* Remove owners whose last_s is older than `max_age_s`; `gone` (may be
 * NULL) is told of each before it is freed. Returns how many went. */
typedef void rc_gone_fn(void *ctx, const struct rc_owner *o);
size_t rc_expire(struct rc_table *t, uint32_t now_s, uint32_t max_age_s, rc_gone_fn *gone,
                 void *ctx);

/* --- checkpoints: the state a new leader reads back --------------------------
 *
 * An owner as JSON, its times as wall-clock seconds (a new leader's
 * monotonic clock is another): `mono_now_s` and `wall_now_s` are one
 * instant on this replica's two clocks. About 600 bytes:
 *   {"v":1,"namespace":"shop","kind":"Deployment","name":"web",
 *    "first":WALL,"last":WALL,"floor":{"kib":N,"at":WALL},
 *    "peaks":{"scale":S,"ref":WALL,"n":N,"w":[24 weights]},"rss":{...},
 *    "current":{"budget":B,"limit":L,"evictPercent":P,"countsHeap":false}}
 */
#define RC_CHECKPOINT_VERSION 1
json_t *rc_checkpoint(const struct rc_owner *o, uint32_t mono_now_s, int64_t wall_now_s);

/* A checkpoint into t, times mapped onto this replica's monotonic clock (a
 * time before its zero becomes 0). A new owner takes the checkpoint's
 * state. An owner t already has (its pods were sampled while the
 * checkpoints were being read: samples count from the first moment of a
 * leadership, even while a failing list is retried) keeps what it has and
 * gains the checkpoint's: the histograms merged (rc_hist_merge), the
 * earlier first, the later last and floor; its current values stay, and a
 * checkpoint is due again. `session` names one reading of the checkpoints
 * (the caller's, not 0): an owner already read in it is returned
 * unchanged, so a page read twice (a list retried from the start) counts
 * once. Returns the owner, or NULL with what is wrong in err (nothing
 * changed). */
struct rc_owner *rc_restore(struct rc_table *t, const struct rc_conf *c, const json_t *j,
                            uint32_t session, uint32_t mono_now_s, int64_t wall_now_s, char *err,
                            size_t errlen);

/* A stable key for the owner's checkpoint object (FNV-1a of its names). */
uint64_t rc_owner_hash(const struct rc_owner *o);

size_t rc_count(const struct rc_table *t);
size_t rc_bytes(const struct rc_table *t); /* heap bytes held (records and table) */

#endif
