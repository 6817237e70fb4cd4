/*
 * evlimit.h -- eviction rate limits (DESIGN.md): at most max_per_minute
 * evictions started in any sliding 60 s window, cluster-wide, and at most
 * per_owner_in_flight evictions in flight per owner (two replicas of one
 * ReplicaSet are never evicted together). A pod without an owner is its own
 * owner.
 *
 * Pure: time comes in as arguments. Fields are private to evlimit.c.
 */
#ifndef MB_EVLIMIT_H
#define MB_EVLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"

#define EVL_MAX_PER_MINUTE 1000

struct evl_owner {
    char key[128]; /* owner uid (or the pod's "ns/name") */
    unsigned inflight;
};

struct evlimit {
    unsigned max_per_minute, per_owner;
    mb_mono_ms starts[EVL_MAX_PER_MINUTE]; /* ring of start times */
    size_t head, n;
    struct evl_owner *owners;
    size_t nowners, capowners;
};

enum evl_verdict { EVL_OK, EVL_RATE, EVL_OWNER };

void evl_init(struct evlimit *l, unsigned max_per_minute, unsigned per_owner_in_flight);
void evl_cleanup(struct evlimit *l);

/* May an eviction for `owner` start at `now`? Does not record anything. */
enum evl_verdict evl_check(struct evlimit *l, const char *owner, mb_mono_ms now);

/* An eviction started (after EVL_OK) / finished (evicted, blocked or failed). */
void evl_started(struct evlimit *l, const char *owner, mb_mono_ms now);
void evl_finished(struct evlimit *l, const char *owner);

const char *evl_verdict_name(enum evl_verdict v); /* Returns: static */

#endif
