/*
 * remedy_int.h -- private to the executor, whose files share it:
 *
 *   remedy.c    samples in, the planner's plan out: carrying a plan out
 *               (remedy_carry), pod calls (GC, throttle, GOMEMLIMIT),
 *               intent before action, the sampler, lifecycle
 *   capture.c   captures (heap profile, goroutine dump): baselines on the
 *               first signal, and before an eviction; stored, analysed
 *   eviction.c  an eviction attempt, under the rate limit and the owner's
 *               slot, and its answer
 *   resize.c    the resize tier's PATCH of pods/NAME/resize, the kubelet's
 *               answer, the budget annotation after it
 *
 * Every callback (an answer, a timer, a sample) reads the clock once, into
 * a struct rm_now, and passes it down: one callback, one `now`.
 */
#ifndef MB_REMEDY_INT_H
#define MB_REMEDY_INT_H

#include "controller_int.h"

struct rm_now {
    mb_mono_ms mono; /* deadlines, retries */
    mb_wall_ms wall; /* what the record and Events say */
};

static inline struct rm_now rm_now(const struct controller *c)
{
    return (struct rm_now){c->clk->mono_ms(c->clk->ctx), c->clk->wall_ms(c->clk->ctx)};
}

/* The pod for the recorder; its uid may be written into ub. */
static inline struct recorder_ref rm_ref_of(const struct pc_pod *p, char ub[PC_UID_BUF])
{
    return (struct recorder_ref){p->sh->ns, p->name, pc_uid(p, ub)};
}

/* Shutdown began: what is in flight finishes, nothing new starts (the next
 * leader will do it). */
static inline bool rm_fenced(struct controller *c) { return atomic_load(&c->fenced); }

/* remedy.c: carry the plan out (Events, metrics, condition, calls) and arm
 * the planner's retry timer; intents the record holds go on. */
void remedy_carry(struct controller *c, struct podstate *s, struct pl_plan *plan,
                  struct rm_now now);
void remedy_intents_at(struct controller *c, struct podstate *s, struct rm_now now);

/* capture.c: fetch the profiles the pod's spec names, then tell the
 * planner (pl_profile_done) and carry its plan. */
void capture_start(struct controller *c, struct podstate *s, struct rm_now now);
/* plan.baseline: a capture with no eviction after it. It holds the plan's
 * Events that wait for what it finds (capture_holds); returns how many it
 * holds (0: none, and no capture started). */
size_t capture_baseline(struct controller *c, struct podstate *s, const struct pl_plan *plan,
                        struct rm_now now);
bool capture_holds(const struct pl_event *ev);
/* An Event, with what the pod's captures found when it asks for it. */
void capture_event(struct controller *c, struct podstate *s, const struct pl_event *ev);
void capture_free(struct controller *c, struct podrun *run);

/* eviction.c */
/* The uid of p's owner, or (its own owner) of p, which may be written into ub. */
const char *evict_owner_of(const struct pc_pod *p, char ub[PC_UID_BUF]);
/* plan.evict: the limits, then the capture when `profile`, then the Eviction. */
void evict_attempt(struct controller *c, struct podstate *s, bool profile, struct rm_now now);

/* resize.c */
void resize_start(struct controller *c, struct podstate *s, const struct pl_plan *plan,
                  struct rm_now now);
/* The watch changed the pod: has the kubelet answered? */
void resize_watch(struct controller *c, struct podstate *s, struct rm_now now);
void resize_free(struct controller *c, struct podrun *run); /* cancels what is in flight */

#endif
