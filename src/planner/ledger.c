/*
 * ledger.c -- the OOM ledger and GOMEMLIMIT following the budget (pure;
 * see planner.h). Both look at a pod's container rather than its samples:
 * the ledger at a kill membudget did not prevent, GOMEMLIMIT at a budget
 * the process does not know about.
 */
#include <stdio.h>
#include <string.h>

#include "membudget/kobj.h"
#include "planner_int.h"

/* --- the OOM ledger -------------------------------------------------------------- */

const char *pl_oom_reason_name(enum pl_oom_reason r)
{
    static const char *const N[] = {"no-fresh-sample",  "below-evict-tier",
                                    "eviction-blocked", "eviction-rate-limited",
                                    "not-budgeted",     "faster-than-sampling"};
    return (unsigned)r < PL_OOM_NREASONS ? N[r] : "?";
}

bool pl_oom_new(const struct pl_record *r, uint32_t restarts, bool last_oom)
{
    return last_oom && restarts > 0 && (!r->ooms || restarts > r->oom_restarts);
}

enum pl_oom_reason pl_oom_reason_of(const struct pl_pod *pp, const struct pl_conf *c,
                                    const struct pl_spec *sp, mb_mono_ms oom_at)
{
    if (sp->budget <= 0)
        return PL_OOM_NOT_BUDGETED;
    if (!pp->sampled || !pp->last_fresh || oom_at > pp->last_fresh + 2 * c->interval_ms)
        return PL_OOM_NO_FRESH_SAMPLE;
    if (pp->blocked)
        return PL_OOM_EVICTION_BLOCKED;
    if (pp->deferred)
        return PL_OOM_EVICTION_RATE_LIMITED;
    /* membudget had not acted yet (the breaker still normal: the last look
     * below the first tier that acts before eviction, throttle else gc, or
     * above it for fewer than sustainSamples looks): the growth to the
     * limit fell between two samples. Seen on a real node: 1% of the
     * budget, then the kernel's kill within the same second; and 84% (one
     * look above throttle at 80%), then the kill within the second. With
     * neither tier on, only the evict tier speaks: below it is
     * below-evict-tier. */
    unsigned first = sp->tiers.throttle ? sp->tiers.throttle : sp->tiers.gc;
    if (first && brk_tier_of(&pp->brk) == BRK_NORMAL)
        return PL_OOM_FASTER_THAN_SAMPLING;
    return PL_OOM_BELOW_EVICT_TIER;
}

/* What was under way, in words ("" when nothing). */
static const char *pending(const struct pl_pod *pp, bool dry)
{
    if (dry)
        return "; dry run: nothing was done";
    if (pp->evicted)
        return "; it was evicted and going: the kill came first";
    if (pp->inflight)
        return "; an eviction was under way";
    if (pp->blocked)
        return "; its eviction was refused (PodDisruptionBudget) and waiting to retry";
    if (pp->deferred)
        return "; its eviction waited for the rate limit or for another pod of its owner";
    if (pp->last_chance_wait || pp->gc_inflight)
        return "; a forced GC was pending";
    return "";
}

void pl_oom(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
            const struct pl_oom *o, mb_mono_ms now, mb_wall_ms wall, struct pl_plan *out)
{
    pl_plan_init(out, pp);
    bool dry = out->dry = pl_dry_of(c, sp);
    /* The kill's time on this replica's clock: as long ago as the wall
     * clocks say (now when unknown or in the future). */
    uint64_t ago = o->at && wall > o->at ? (uint64_t)(wall - o->at) : 0;
    mb_mono_ms at = now > ago ? now - ago : 0;
    enum pl_oom_reason r = pl_oom_reason_of(pp, c, sp, at);
    char when[40] = "unknown time", saw[320];
    if (o->at)
        kobj_format_time(o->at, when, sizeof when);
    if (r == PL_OOM_NOT_BUDGETED) {
        snprintf(saw, sizeof saw,
                 "it has no valid membudget.io/budget, so membudget does not "
                 "sample it");
    } else if (!pp->sampled || !pp->last_fresh) {
        snprintf(saw, sizeof saw,
                 "membudget had no sample of it (membudget was down or not "
                 "leading, or the pod was not scraped yet)");
    } else {
        char u[32], b[32];
        pl_fmt_bytes(pp->usage, u, sizeof u);
        pl_fmt_bytes(pp->budget, b, sizeof b);
        long long age = at >= pp->last_fresh ? (long long)(at - pp->last_fresh) / 1000
                                             : -(long long)(pp->last_fresh - at) / 1000;
        snprintf(saw, sizeof saw,
                 "membudget last saw %s, %.0f%% of budget %s, %llds %s the kill, "
                 "tier %s (evict at %u%%)%s%s",
                 u, pp->percent, b, age < 0 ? -age : age, age < 0 ? "after" : "before",
                 brk_tier_name(brk_tier_of(&pp->brk)), sp->tiers.evict, pending(pp, dry),
                 r == PL_OOM_FASTER_THAN_SAMPLING ? "; it grew from there to its limit between "
                                                    "two samples"
                                                  : "");
    }
    pl_say(out, true, "MemoryBudgetOOMKilled",
           "container %.63s was OOM-killed (exit %d at %s, restart %u): %s. Not prevented: %s",
           o->container ? o->container : "?", o->exit_code, when, o->restarts, saw,
           pl_oom_reason_name(r));
    pp->ooms++;
    pp->oom_restarts = o->restarts;
    pp->last_oom = o->at ? o->at : wall;
    pp->last_oom_reason = pl_oom_reason_name(r);
    out->oom = true;
    out->oom_reason = pl_oom_reason_name(r);
    out->record_changed = true;
}

/* --- GOMEMLIMIT ----------------------------------------------------------------- */

void pl_memlimit(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
                 const struct pl_ml_in *in, mb_mono_ms now, struct pl_plan *out)
{
    pl_plan_init(out, pp);
    bool dry = out->dry = pl_dry_of(c, sp);
    int64_t want = sp->budget;
    if (want <= 0 || pp->ml_inflight)
        return;
    /* What the process runs with. */
    bool from_record = pp->ml_val > 0 && pp->ml_restarts == in->restarts;
    int64_t cur = from_record ? pp->ml_val : in->env > 0 ? in->env : 0;
    if (cur == want) {
        pp->ml_want = 0;
        return;
    }
    bool managed = pp->ml_val > 0 || pp->ml_want > 0 ||
                   (in->old_budget > 0 && cur > 0 && cur == in->old_budget);
    if (!managed || !cur)
        return;
    char cv[32], wv[32];
    pl_fmt_bytes(cur, cv, sizeof cv);
    pl_fmt_bytes(want, wv, sizeof wv);
    if (!sp->has_memlimit || dry) {
        if (pp->ml_said == want)
            return;
        pp->ml_said = want;
        pp->ml_want = 0;
        if (dry)
            pl_say(out, false, "MemoryBudgetLimitUpdated",
                   "dry run: would set GOMEMLIMIT %s -> %s (the budget)", cv, wv);
        else
            pl_say(out, true, "MemoryBudgetLimitUpdated",
                   "GOMEMLIMIT is now stale: the process runs with %s, the budget is %s; without a "
                   "membudget.io/memlimit endpoint it stays so until the pod is recreated "
                   "(a restart goes back to the env's value)",
                   cv, wv);
        pl_act(out, "memlimit", dry ? "dry-run" : "skipped");
        return;
    }
    if (!in->running || (pp->ml_want == want && now < pp->ml_retry_at))
        return;
    pp->ml_want = want;
    pp->ml_from = cur;
    pp->ml_inflight = true;
    out->call_memlimit = true;
    out->memlimit = want;
}

void pl_memlimit_done(struct pl_pod *pp, const struct pl_conf *c, bool ok, int64_t applied,
                      int64_t previous, uint32_t restarts, const char *err, mb_mono_ms now,
                      struct pl_plan *out)
{
    pl_plan_init(out, pp);
    pp->ml_inflight = false;
    int64_t want = pp->ml_want;
    char wv[32], pv[32], av[32], why[240];
    pl_fmt_bytes(want, wv, sizeof wv);
    pl_fmt_bytes(previous > 0 ? previous : pp->ml_from, pv, sizeof pv);
    snprintf(why, sizeof why, "%.200s", err && *err ? err : "no answer");
    /* The pod's word is the truth: a value other than asked is a failure. */
    if (ok && applied > 0 && applied != want) {
        ok = false;
        pl_fmt_bytes(applied, av, sizeof av);
        snprintf(why, sizeof why, "the pod applied %s", av);
    }
    pl_act(out, "memlimit", ok ? "ok" : "error");
    if (!ok) {
        pp->ml_retry_at = now + (c->gc_min_interval_ms ? c->gc_min_interval_ms : 60000);
        pl_say(out, true, "MemoryBudgetLimitUpdated",
               "could not set GOMEMLIMIT %s -> %s: %s; retrying in %llus", pv, wv, why,
               (unsigned long long)(pp->ml_retry_at - now) / 1000);
        return;
    }
    pl_say(out, false, "MemoryBudgetLimitUpdated",
           "GOMEMLIMIT %s -> %s (the budget), applied by the pod", pv, wv);
    pp->ml_val = want;
    pp->ml_restarts = restarts;
    pp->ml_want = 0;
    pp->ml_said = 0;
    out->record_changed = true;
}
