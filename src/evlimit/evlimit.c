/*
 * evlimit.c -- the eviction limits (pure; see evlimit.h for the rules): a
 * ring of the times evictions were accepted in the last minute, and a list
 * of per-owner slots. eviction.c asks evl_check() before each attempt,
 * tells evl_started() and evl_finished() around the Eviction call, and the
 * pod watch tells evl_pod_gone() and evl_owner_ready() when the evicted
 * pod leaves and a replica is Ready again, which is what frees a slot.
 * Only the leader holds this state; a new leader starts empty and relies
 * on owner_terminating() (a replica still going down) instead.
 */
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/evlimit.h"

void evl_init(struct evlimit *l, unsigned max_per_minute, unsigned per_owner, uint64_t settle_ms)
{
    memset(l, 0, sizeof *l);
    l->max_per_minute = max_per_minute > EVL_MAX_PER_MINUTE ? EVL_MAX_PER_MINUTE : max_per_minute;
    l->per_owner = per_owner ? per_owner : 1;
    l->settle_ms = settle_ms;
}

void evl_cleanup(struct evlimit *l)
{
    mb_free(l->slots);
    memset(l, 0, sizeof *l);
}

const char *evl_verdict_name(enum evl_verdict v)
{
    return v == EVL_OK ? "ok" : v == EVL_RATE ? "rate-limited" : "owner-busy";
}

/* (slots are unordered: the last one fills the hole) */
static void drop(struct evlimit *l, size_t i) { l->slots[i] = l->slots[--l->nslots]; }

/* Acceptances older than a minute leave the window; a slot whose pod was
 * evicted settle_ms ago is freed even if the owner never became Ready
 * again (a broken rollout must not stop remediation of its owner for
 * ever). Slots still waiting for their answer (pod[0] == 0) never expire. */
static void expire(struct evlimit *l, mb_mono_ms now)
{
    while (l->n && now >= l->accepted[l->head] + 60000) {
        l->head = (l->head + 1) % EVL_MAX_PER_MINUTE;
        l->n--;
    }
    for (size_t i = 0; i < l->nslots;) {
        const struct evl_slot *s = &l->slots[i];
        if (s->pod[0] && now >= s->accepted + l->settle_ms)
            drop(l, i);
        else
            i++;
    }
}

static size_t owner_slots(const struct evlimit *l, const char *owner)
{
    size_t n = 0;
    for (size_t i = 0; i < l->nslots; i++)
        n += !strncmp(l->slots[i].owner, owner, sizeof l->slots[i].owner - 1);
    return n;
}

/* Requests in flight count against the rate as if accepted: two leaders'
 * worth of attempts cannot slip past the limit while they are answered. */
enum evl_verdict evl_check(struct evlimit *l, const char *owner, mb_mono_ms now)
{
    expire(l, now);
    if (l->n + l->pending >= l->max_per_minute)
        return EVL_RATE;
    if (owner_slots(l, owner) >= l->per_owner)
        return EVL_OWNER;
    return EVL_OK;
}

void evl_started(struct evlimit *l, const char *owner, mb_mono_ms now)
{
    expire(l, now);
    l->pending++;
    if (l->nslots == l->capslots) {
        l->capslots = l->capslots ? l->capslots * 2 : 8;
        l->slots = mb_xrealloc(l->slots, l->capslots * sizeof *l->slots);
    }
    struct evl_slot *s = &l->slots[l->nslots++];
    memset(s, 0, sizeof *s);
    snprintf(s->owner, sizeof s->owner, "%s", owner);
}

/* The answer: a refused eviction (a PDB's 429, an error) gives its place
 * and slot back at once; an accepted one is counted in the window and its
 * slot now waits for the pod to go and the owner to be Ready. */
void evl_finished(struct evlimit *l, const char *owner, bool accepted, const char *pod_uid,
                  mb_mono_ms now)
{
    size_t i;
    for (i = 0; i < l->nslots; i++)
        if (!l->slots[i].pod[0] && !strncmp(l->slots[i].owner, owner, sizeof l->slots[i].owner - 1))
            break;
    if (i == l->nslots)
        return; /* not started: harmless */
    if (l->pending)
        l->pending--;
    if (!accepted) {
        drop(l, i);
        return;
    }
    expire(l, now);
    if (l->n < EVL_MAX_PER_MINUTE) {
        l->accepted[(l->head + l->n) % EVL_MAX_PER_MINUTE] = now;
        l->n++;
    }
    struct evl_slot *s = &l->slots[i];
    snprintf(s->pod, sizeof s->pod, "%s", pod_uid && *pod_uid ? pod_uid : "?");
    s->accepted = now;
}

/* The evicted pod left the API. Its slot goes if a replica was already
 * Ready (or the pod had no owner); returns whether one went. */
bool evl_pod_gone(struct evlimit *l, const char *pod_uid)
{
    for (size_t i = 0; i < l->nslots; i++) {
        struct evl_slot *s = &l->slots[i];
        if (s->pod[0] && !strcmp(s->pod, pod_uid)) {
            s->gone = true;
            if (s->ready || !strcmp(s->owner, s->pod)) { /* no owner: nothing to wait for */
                drop(l, i);
                return true;
            }
        }
    }
    return false;
}

/* Another pod of the owner became Ready: the owner has its capacity back
 * once the evicted pod is also gone. */
bool evl_owner_ready(struct evlimit *l, const char *owner, const char *pod_uid)
{
    bool released = false;
    for (size_t i = 0; i < l->nslots;) {
        struct evl_slot *s = &l->slots[i];
        if (s->pod[0] && strcmp(s->pod, pod_uid) != 0 &&
            !strncmp(s->owner, owner, sizeof s->owner - 1)) {
            s->ready = true;
            if (s->gone) {
                drop(l, i);
                released = true;
                continue;
            }
        }
        i++;
    }
    return released;
}

size_t evl_held(const struct evlimit *l) { return l->nslots; }
