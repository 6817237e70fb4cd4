/*
 * evlimit.h -- eviction limits (docs/design.md "Breaker rules"):
 *   - at most max_per_minute *accepted* evictions in any sliding 60 s
 *     window, cluster-wide; a request under way holds a place until it is
 *     answered, and a refused one (PDB, error) gives it back;
 *   - per owner, at most per_owner slots; a slot is held from the eviction
 *     request until that pod is gone from the API *and* a pod of the same
 *     owner is Ready again, or settle_ms after the eviction was accepted,
 *     whichever comes first. Two replicas of one owner are never down
 *     together because of membudget. A pod without an owner is its own
 *     owner.
 *
 * Pure: time comes in as arguments. Fields are private to evlimit.c.
 */
#ifndef MB_EVLIMIT_H
#define MB_EVLIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"

#define EVL_MAX_PER_MINUTE 1000

struct evl_slot {
    char owner[128]; /* owner uid (or the pod's uid) */
    char pod[64];    /* the evicted pod's uid; "" while the request is under way */
    mb_mono_ms accepted;
    bool gone, ready;
};

struct evlimit {
    unsigned max_per_minute, per_owner;
    uint64_t settle_ms;
    mb_mono_ms accepted[EVL_MAX_PER_MINUTE]; /* ring of acceptance times */
    size_t head, n;
    unsigned pending; /* requests under way */
    struct evl_slot *slots;
    size_t nslots, capslots;
};

enum evl_verdict { EVL_OK, EVL_RATE, EVL_OWNER };

void evl_init(struct evlimit *l, unsigned max_per_minute, unsigned per_owner, uint64_t settle_ms);
void evl_cleanup(struct evlimit *l);

/* May an eviction for `owner` start at `now`? Records nothing (but lets
 * settled slots go). */
enum evl_verdict evl_check(struct evlimit *l, const char *owner, mb_mono_ms now);

/* A request started (after EVL_OK): it holds a rate place and an owner slot. */
void evl_started(struct evlimit *l, const char *owner, mb_mono_ms now);

/* Its answer. accepted: the eviction counts in the window and the slot
 * waits for `pod_uid` to go and the owner to be Ready; otherwise (blocked,
 * failed, cancelled) both are given back. */
void evl_finished(struct evlimit *l, const char *owner, bool accepted, const char *pod_uid,
                  mb_mono_ms now);

/* The pod `pod_uid` left the API. Returns true when that released a slot. */
bool evl_pod_gone(struct evlimit *l, const char *pod_uid);

/* A pod of `owner` (uid `pod_uid`) became Ready. Returns true when that
 * released a slot. */
bool evl_owner_ready(struct evlimit *l, const char *owner, const char *pod_uid);

/* Slots held (requests under way and evictions settling), for metrics. */
size_t evl_held(const struct evlimit *l);

const char *evl_verdict_name(enum evl_verdict v); /* Returns: static */

#endif
