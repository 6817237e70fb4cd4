/*
 * plan.c -- the helpers every part of the planner writes its plan with
 * (pure; see planner_int.h): planner.c's breaker, GC, eviction, leak and
 * thrash signals, ledger.c's OOM ledger and GOMEMLIMIT, and resize.c's
 * resize tier. A plan is plain data: Events to write, actions to count,
 * and the one call (if any) the shell is to make.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "planner_int.h"

void pl_plan_init(struct pl_plan *out, const struct pl_pod *pp)
{
    memset(out, 0, sizeof *out);
    out->leak = -1;
    out->thrashing = -1;
    out->from = out->to = brk_tier_of(&pp->brk);
    out->throttled = pp->throttled;
}

void pl_say(struct pl_plan *out, bool warning, const char *reason, const char *fmt, ...)
{
    if (out->nev == PL_MAX_EVENTS)
        return; /* cannot happen: a plan says at most five things */
    struct pl_event *e = &out->ev[out->nev++];
    va_list ap;
    e->warning = warning;
    e->reason = reason;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

void pl_forensic(struct pl_plan *out, enum pl_forensic fx)
{
    if (out->nev)
        out->ev[out->nev - 1].forensic = (uint8_t)fx;
}

void pl_act(struct pl_plan *out, const char *action, const char *result)
{
    if (out->nact < PL_MAX_ACTIONS)
        out->act[out->nact++] = (struct pl_action){action, result};
}

void pl_fmt_bytes(int64_t b, char *out, size_t len)
{
    if (b >= INT64_MAX / 2) /* math.MaxInt64: Go's "no GOMEMLIMIT" */
        snprintf(out, len, "off");
    else if (b >= (int64_t)1 << 30 && b % ((int64_t)1 << 30) == 0)
        snprintf(out, len, "%lldGi", (long long)(b >> 30));
    else if (b >= (int64_t)1 << 30)
        snprintf(out, len, "%.2fGi", (double)b / (1 << 30));
    else
        snprintf(out, len, "%.0fMi", (double)b / (1 << 20));
}

bool pl_dry_of(const struct pl_conf *c, const struct pl_spec *sp)
{
    return c->dry_run || sp->mode == ANN_MODE_DRY_RUN;
}
