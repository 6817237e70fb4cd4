/*
 * planner_int.h -- private to src/planner: what its files share.
 *
 *   plan.c     the plan helpers below (every file writes its plan with them)
 *   planner.c  inputs, the record, the breaker, GC, eviction, leak and
 *              thrash signals, and pl_step, which drives them
 *   ledger.c   the OOM ledger and GOMEMLIMIT following the budget
 *   resize.c   the resize tier (pl_step calls pl_resize_tier)
 *
 * Nothing here is visible outside the planner: the shell sees planner.h.
 */
#ifndef MB_PLANNER_INT_H
#define MB_PLANNER_INT_H

#include "membudget/planner.h"

/* Start an empty plan for the pod: no Events, no actions, its tier and
 * throttle as they are. */
void pl_plan_init(struct pl_plan *out, const struct pl_pod *pp);
/* Add an Event to the plan (at most PL_MAX_EVENTS; more are dropped). */
void pl_say(struct pl_plan *out, bool warning, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Count an action (membudget_actions_total{action,result}). */
/* The event just said may carry the pod's forensics (enum pl_forensic). */
void pl_forensic(struct pl_plan *out, enum pl_forensic fx);
void pl_act(struct pl_plan *out, const char *action, const char *result);
void pl_fmt_bytes(int64_t b, char *out, size_t len); /* "768Mi", "1.50Gi", "off" */
/* Dry run: the whole controller's flag, or the pod's mode annotation. */
bool pl_dry_of(const struct pl_conf *c, const struct pl_spec *sp);

/* The resize tier's decision on the sample after a forced GC (resize.c):
 * may set out->resize and say why; does nothing when the tier is off for
 * the pod or the evidence is not there yet. */
void pl_resize_tier(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp, bool dry,
                    struct pl_plan *out);

#endif
