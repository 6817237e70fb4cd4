/*
 * resize.c -- the resize tier (pure; see planner.h and
 * docs/design/resize-tier.md). A pod whose forced GC leaves it at or above
 * the gc tier, with no leak suspected over a full window and no GC thrash,
 * has a budget too small rather than a leak: its memory limit is raised one
 * step (at most its max-limit) in place, instead of evicting it.
 * pl_resize_step is the step's arithmetic; the tier's decision runs on the
 * sample after a forced GC (pl_step calls pl_resize_tier), and
 * pl_resize_done turns the API server's answer into Events. The shell's
 * half (the PATCH of pods/NAME/resize, then the budget annotation) is in
 * src/controller/resize.c.
 */
#include <stdio.h>
#include <string.h>

#include "planner_int.h"

bool pl_resize_step(int64_t limit, int64_t budget, int64_t max, int64_t *new_limit,
                    int64_t *new_budget)
{
    const int64_t MIB = 1 << 20;
    __int128 l;

    if (limit <= 0 || budget <= 0 || max <= 0 || limit >= max)
        return false;
    l = (__int128)limit * 5 / 4;
    if ((__int128)limit * 5 % 4)
        l++;
    l = (l + MIB - 1) / MIB * MIB;
    if (l > max)
        l = max;
    *new_limit = (int64_t)l;
    __int128 b = (__int128)budget * l / limit;
    *new_budget =
        (int64_t)(b >= MIB ? b / MIB * MIB : b); /* an annotation people read: whole MiB */
    return true;
}

/* The resize tier, on the fresh sample after a forced GC: still at or
 * above the gc threshold, no leak suspected over a full window, no GC
 * thrash: the budget is too
 * small, not the service leaking, so the limit is raised one step (at most
 * max-limit) instead of evicting; once per step, never after a refusal in
 * this escalation. */
void pl_resize_tier(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp, bool dry,
                    struct pl_plan *out)
{
    int64_t l, b;
    char from[32], to[32], fb[32], tb[32], mx[32];
    /* "no leak" takes evidence: a full window of post-GC figures (when the
     * leak signal is on); until then the gc tier's GCs go on filling it */
    bool unknown = c->leak_window >= 3 && pp->ln < c->leak_window;
    if (!sp->max_limit || !sp->tiers.gc || pp->percent < (double)sp->tiers.gc || unknown ||
        pp->leak_reported || pp->gor_reported || pp->thrashing || pp->rz_inflight ||
        pp->rz_refused || pp->inflight || pp->evicted ||
        !pl_resize_step(sp->limit, sp->budget, sp->max_limit, &l, &b))
        return;
    pl_fmt_bytes(sp->limit, from, sizeof from);
    pl_fmt_bytes(l, to, sizeof to);
    pl_fmt_bytes(sp->budget, fb, sizeof fb);
    pl_fmt_bytes(b, tb, sizeof tb);
    pl_fmt_bytes(sp->max_limit, mx, sizeof mx);
    if (sp->resize_restarts) {
        /* A resize would restart the container: an eviction that bypasses
         * the PodDisruptionBudget. Said once per escalation. */
        pp->rz_refused = true;
        pl_act(out, "resize", "skipped");
        pl_say(out, true, "MemoryBudgetResized",
               "not raising the memory limit %s -> %s: the container's resizePolicy for memory is "
               "RestartContainer (a resize would restart it, past its PodDisruptionBudget); the "
               "evict tier goes on as without max-limit",
               from, to);
        return;
    }
    if (dry) {
        if (!pp->rz_dry_said) {
            pp->rz_dry_said = true;
            pl_act(out, "resize", "dry-run");
            pl_say(
                out, false, "MemoryBudgetResized",
                "dry run: would force a GC, then, were it still at %.0f%% of budget with no leak "
                "suspected, raise the memory limit %s -> %s (max-limit %s), the budget %s -> %s",
                pp->percent, from, to, mx, fb, tb);
        }
        return;
    }
    pp->rz_inflight = true;
    out->resize = true;
    out->resize_limit = l;
    out->resize_budget = b;
    out->resize_request = sp->request && sp->request == sp->limit ? l : 0;
    pl_say(
        out, false, "MemoryBudgetResized",
        "raising the memory limit %s -> %s (max-limit %s), the budget %s -> %s: %.0f%% of budget "
        "after a forced GC, no leak suspected",
        from, to, mx, fb, tb, pp->percent);
}

void pl_resize_done(struct pl_pod *pp, const struct pl_resize_result *r, struct pl_plan *out)
{
    char l[32], b[32], rs[64] = "without a restart", bs[300];
    pl_plan_init(out, pp);
    pp->rz_inflight = false;
    if (r->ok) {
        pl_fmt_bytes(r->limit, l, sizeof l);
        pl_fmt_bytes(r->budget, b, sizeof b);
        if (r->restarts_after != r->restarts_before)
            snprintf(rs, sizeof rs, "the container restarted (restartCount %u -> %u)",
                     r->restarts_before, r->restarts_after);
        if (r->budget_err)
            snprintf(bs, sizeof bs,
                     "; the budget annotation did not follow (%.200s): budget and "
                     "GOMEMLIMIT stay as they were",
                     r->budget_err);
        else
            snprintf(bs, sizeof bs, ", the budget %s (GOMEMLIMIT follows)", b);
        pl_act(out, "resize", "ok");
        pl_say(out, r->budget_err != NULL, "MemoryBudgetResized",
               "the memory limit is %s now, %s%s", l, rs, bs);
        return;
    }
    pp->rz_refused = true;
    pl_act(out, "resize", "refused");
    pl_say(out, true, "MemoryBudgetResized",
           "resize refused (%.300s): evicting as without the resize tier",
           r->why && *r->why ? r->why : "no reason given");
}
