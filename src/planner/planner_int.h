/*
 * planner_int.h -- private to src/planner: the plan helpers that
 * planner.c (the breaker, GC, eviction, leak and thrash signals) and
 * ledger.c (the OOM ledger, GOMEMLIMIT) share.
 */
#ifndef MB_PLANNER_INT_H
#define MB_PLANNER_INT_H

#include "membudget/planner.h"

void plan_init(struct pl_plan *out, const struct pl_pod *pp);
/* Add an Event to the plan (at most PL_MAX_EVENTS; more are dropped). */
void say(struct pl_plan *out, bool warning, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void act(struct pl_plan *out, const char *action, const char *result);
void fmt_bytes(int64_t b, char *out, size_t len); /* "768Mi", "1.50Gi" */
bool dry_of(const struct pl_conf *c, const struct pl_spec *sp);

#endif
