/*
 * breaker.h -- the per-pod tiered memory circuit breaker (docs/design.md "Breaker
 * rules").
 *
 * Pure: no clock, no I/O. Each sample goes in with the time it was taken and
 * the time now; the decision (tier change and actions) comes out as a value
 * that the remedy executor carries out.
 *
 *   NORMAL --(sustain samples >= throttle%)--> THROTTLE
 *          --(sustain samples >= gc%)--------> GC        (tiers may be skipped
 *          --(sustain samples >= evict%)-----> EVICT      on a jump)
 *   any tier --(recover samples < its threshold - hysteresis)--> the highest
 *          lower tier the usage still holds (threshold - hysteresis), or NORMAL
 *
 * Stale or missing data (a failed sample, or one older than 2 x the
 * interval) holds the tier: it neither escalates nor recovers, and it breaks
 * the runs of consecutive samples. In GC the GC is called on entry and again
 * while the usage stays there, never more than once per gc_min_interval. A tier whose
 * threshold is 0 is off (the gc tier is also off when the pod has no GC
 * endpoint). Throttling is on in every tier from THROTTLE up, when the
 * throttle tier is on.
 *
 * Value type: embed it. Fields are private to breaker.c.
 */
#ifndef MB_BREAKER_H
#define MB_BREAKER_H

#include <stdbool.h>
#include <stdint.h>
#include "membudget/clock.h"

enum brk_tier { BRK_NORMAL, BRK_THROTTLE, BRK_GC, BRK_EVICT };
#define BRK_NTIERS 4

struct brk_conf {
    unsigned threshold[BRK_NTIERS]; /* percent of budget per tier; [0] unused; 0 = off */
    unsigned sustain;               /* consecutive samples to enter (>= 1) */
    unsigned recover;               /* consecutive samples to leave (>= 1) */
    unsigned hysteresis;            /* percentage points */
    uint64_t interval_ms;           /* sample interval: data older than 2x is stale */
    uint64_t gc_min_interval_ms;
    bool gc_available; /* the pod names a GC endpoint */
};

struct brk_sample {
    bool ok;          /* false: the source failed or the figure was missing */
    double percent;   /* usage / budget x 100 */
    mb_mono_ms taken; /* when the figure was read */
};

struct brk_decision {
    enum brk_tier from, to;
    bool changed;      /* to != from */
    bool stale;        /* the sample was not used */
    bool throttle_on;  /* start throttling (condition False / endpoint true) */
    bool throttle_off; /* stop throttling */
    bool gc;           /* call the GC endpoint now */
    bool evict;        /* evict (entering EVICT); the executor applies rate limits */
    bool recovered;    /* back to NORMAL from a higher tier */
};

struct brk {
    enum brk_tier tier;
    unsigned above[BRK_NTIERS]; /* consecutive fresh samples at/above each threshold */
    unsigned below;             /* consecutive fresh samples below the current tier's exit */
    bool throttling;
    bool ever_gc;       /* last_gc is valid */
    mb_mono_ms last_gc; /* when the last GC was asked for */
};

void brk_init(struct brk *b);

/* Feed one sample; fills *out. Cannot fail. */
void brk_step(struct brk *b, const struct brk_conf *c, const struct brk_sample *s, mb_mono_ms now,
              struct brk_decision *out);

/* Is tier t on under c? */
bool brk_tier_on(const struct brk_conf *c, enum brk_tier t);

const char *brk_tier_name(enum brk_tier t); /* Returns: static "normal", "throttle"... */

/* Returns: the tier the pod is in. */
enum brk_tier brk_tier_of(const struct brk *b);

/* May a GC be asked for at `now` (none within gc_min_interval)? */
bool brk_gc_allowed(const struct brk *b, const struct brk_conf *c, mb_mono_ms now);

/* A GC was asked for outside the breaker (the planner's last-chance GC):
 * gc_min_interval counts from it too. */
void brk_gc_noted(struct brk *b, mb_mono_ms now);

/* Continue where another replica stopped (its record in the cluster): the
 * tier, throttling as that tier implies, and the last GC when there was one
 * (`last_gc` on this replica's clock). Runs start afresh. */
void brk_resume(struct brk *b, const struct brk_conf *c, enum brk_tier tier, bool ever_gc,
                mb_mono_ms last_gc);

#endif /* MB_BREAKER_H */
