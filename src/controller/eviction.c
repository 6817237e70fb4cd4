/*
 * eviction.c -- an eviction attempt, carried out (shell; see remedy_int.h).
 * The planner says when (plan.evict); this file holds the cluster-wide
 * limits (evlimit.h: so many a minute, one owner at a time, and not while
 * another replica of the owner is terminating), asks for the capture first
 * when the plan wants profiles (capture.c, after the record holds the
 * intent), then POSTs the Eviction through the recorder, and gives the
 * API server's answer back to the planner (pl_evict_done). A 429 is a
 * PodDisruptionBudget saying "not now": the planner retries with backoff.
 */
#include <string.h>

#include "membudget/controller.h"
#include "membudget/log.h"
#include "remedy_int.h"

const char *evict_owner_of(const struct pc_pod *p, char ub[PC_UID_BUF])
{
    return *p->sh->owner_uid ? p->sh->owner_uid : pc_uid(p, ub);
}

/* Another pod of p's owner is terminating: a replica is already going down
 * (maybe evicted by a leader before this one, whose slot died with it). */
static bool owner_terminating(const struct controller *c, const struct pc_pod *p)
{
    if (!*p->sh->owner_uid)
        return false;
    size_t pos = 0;
    const struct pc_pod *q;
    while ((q = pc_next(c->cache, &pos)))
        if (q != p && q->deleting && !strcmp(q->sh->owner_uid, p->sh->owner_uid))
            return true;
    return false;
}

static void on_evicted(void *arg, enum evict_result res, const char *msg)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    const struct pc_pod *p = s->gq.pod;
    struct pl_plan plan;
    struct rm_now now = rm_now(c);
    RUN(s)->evict_call = 0;
    RUN(s)->evl_held = false;
    char ob[PC_UID_BUF], ub[PC_UID_BUF];
    evl_finished(&c->rm.evl, evict_owner_of(p, ob), res == EVICT_OK, pc_uid(p, ub), now.mono);
    if (res == EVICT_OK)
        log_info("pod evicted", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name, "owner",
                 *p->sh->owner_name ? p->sh->owner_name : "(none)");
    else if (res == EVICT_BLOCKED)
        log_warn("eviction blocked", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name,
                 "reason", msg);
    else if (res == EVICT_ERROR)
        log_warn("eviction failed", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name,
                 "error", msg);
    pl_evict_done(s->pl, SPEC(s), res, msg, p->ready, now.mono, backoff_rand(&c->rnd), &plan);
    remedy_carry(c, s, &plan, now);
}

/* The plan asks for an attempt: the limits first (a slot is held from here
 * until the answer), then the profile when asked, then the Eviction. */
void evict_attempt(struct controller *c, struct podstate *s, bool profile, struct rm_now now)
{
    const struct pc_pod *p = s->gq.pod;
    char ub[PC_UID_BUF];
    if (rm_fenced(c)) {
        log_info("eviction not started: shutting down; the next leader decides again", "{s:s,s:s}",
                 "namespace", p->sh->ns, "pod", p->name);
        return;
    }
    if (!controller_synced(c)) {
        /* One eviction per owner needs the owner's other pods known: not
         * before the initial list is whole (a streamed list of 300k pods
         * delivers them for minutes before its end). */
        log_limited(LOG_INFO, "eviction deferred", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod",
                    p->name, "why", "the initial pod list is not complete");
        pl_evict_deferred(s->pl, now.mono + 1000);
        return;
    }
    if (!RUN(s)->evl_held) {
        enum evl_verdict v = evl_check(&c->rm.evl, evict_owner_of(p, ub), now.mono);
        if (v == EVL_OK && owner_terminating(c, p))
            v = EVL_OWNER;
        if (v != EVL_OK) {
            mx_add(c->rm.m_rate_limited, NULL, 1);
            log_info("eviction deferred", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name,
                     "why", evl_verdict_name(v));
            pl_evict_deferred(s->pl, now.mono + 1000);
            return;
        }
        evl_started(&c->rm.evl, evict_owner_of(p, ub), now.mono);
        RUN(s)->evl_held = true;
    }
    if (profile) {
        /* The capture is recorded first, as a GC is (remedy_intents). */
        if (!RUN(s)->prof_wait) {
            struct pl_plan r;
            RUN(s)->prof_wait = true;
            pl_profile_intent(s->pl, now.wall, &r);
            remedy_carry(c, s, &r, now);
        }
        remedy_intents_at(c, s, now);
        return;
    }
    struct recorder_ref ref = rm_ref_of(p, ub);
    RUN(s)->evict_call = recorder_evict(c->rec, &ref, on_evicted, s);
}
