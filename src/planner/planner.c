/*
 * planner.c -- one pod's remediation, decided (pure; see planner.h): the
 * inputs (a pod's spec from its annotations, the config), the record
 * membudget keeps in the cluster, the breaker's tiers, the throttle, the
 * GC (intent first, then the call), the eviction with its backoff, the
 * leak, goroutine and GC-thrash signals, and pl_step, which runs them on
 * each sample. It returns a plan; src/controller/remedy.c carries it out.
 * The OOM ledger and GOMEMLIMIT are ledger.c's, the resize tier
 * resize.c's, the helpers plan.c's (planner_int.h).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/config.h"
#include "membudget/kobj.h"
#include "membudget/leak.h"
#include "membudget/planner.h"
#include "membudget/podcache.h"
#include "planner_int.h"

/* --- inputs ------------------------------------------------------------------- */

void pl_conf_from_cfg(const struct cfg *c, bool dry_run_flag, struct pl_conf *out)
{
    memset(out, 0, sizeof *out);
    out->tiers = c->tiers;
    out->sustain = c->sustain_samples;
    out->recover = c->recover_samples;
    out->hysteresis = c->hysteresis;
    out->interval_ms = c->sample_interval_ms;
    out->gc_min_interval_ms = c->gc_min_interval_ms;
    out->leak_window = c->leak.window < PL_LEAK_MAX ? c->leak.window : PL_LEAK_MAX;
    out->leak_min_slope = c->leak.min_slope_pct_per_min;
    out->gc_first = c->eviction.gc_first;
    out->dry_run = dry_run_flag || c->dry_run;
    out->thrash_pct = c->gc_thrash.percent;
    out->thrash_evict = c->gc_thrash.evict;
    out->baseline_min_ms = c->profiles.min_interval_ms;
}

static void ignore_error(void *ctx, const struct ann_error *e)
{
    (void)ctx;
    (void)e;
}

void pl_spec_of(const struct pc_pod *p, const struct pl_conf *c, struct pl_spec *out)
{
    /* annot's own parser: what admission checked is what is read here. A
     * value it refuses keeps its default (errors were admission's to give). */
    struct ann a;
    struct ann_errors errs = {.sink = ignore_error}; /* (none kept: a pod may carry thousands) */
    json_t *anns = pc_ann_json(p);
    ann_parse(anns, &a, &errs);
    ann_errors_cleanup(&errs);
    json_decref(anns);
    memset(out, 0, sizeof *out);
    out->budget = a.has_budget ? a.budget : 0;
    out->tiers = a.has_tiers ? a.tiers : c->tiers;
    out->usage = ann_effective_usage(&a);
    out->throttle = a.throttle;
    out->mode = a.mode;
    out->has_metrics = a.metrics.set;
    out->has_gc = a.gc.set;
    out->has_profile = a.profile.set;
    out->has_goroutines = a.goroutines.set || a.profile.set; /* the profile's port by default */
    out->has_memlimit = a.memlimit.set;
    out->baseline_every_ms = a.has_baseline_every ? a.baseline_every_ms : 0;
    out->limit = p->sh->limit;
    out->request = p->sh->request;
    out->max_limit = a.has_max_limit ? a.max_limit : 0;
    out->resize_restarts = p->sh->rz_restart;
}

/* --- the record --------------------------------------------------------------- */

static const char *const TIERS[] = {"normal", "throttle", "gc", "evict"};

void pl_record_format(const struct pl_record *r, char *out, size_t len)
{
    char g[40] = "", p[40] = "", o[80] = "", m[48] = "";
    if (r->has_gc)
        kobj_format_time_ms(r->last_gc, g, sizeof g);
    if (r->has_profile)
        kobj_format_time_ms(r->profile_at, p, sizeof p);
    if (r->ooms) {
        char at[40] = "";
        if (r->last_oom)
            kobj_format_time(r->last_oom, at, sizeof at);
        snprintf(o, sizeof o, " ooms=%u@%u%s%s", r->ooms, r->oom_restarts, *at ? " lastOOM=" : "",
                 at);
    }
    if (r->memlimit > 0)
        snprintf(m, sizeof m, " memlimit=%lld@%u", (long long)r->memlimit, r->memlimit_restarts);
    snprintf(out, len, "tier=%s%s%s%s%s%s%s", brk_tier_name(r->tier), *g ? " lastGC=" : "", g,
             *p ? " profile=" : "", p, o, m);
}

/* "N@R": two unsigned decimals (v at most `max`). */
static bool count_at(const char *v, size_t vl, uint64_t max, uint64_t *n, uint32_t *at)
{
    uint64_t a = 0, b = 0;
    size_t i = 0;
    for (; i < vl && v[i] >= '0' && v[i] <= '9' && a <= max; i++)
        a = a * 10 + (uint64_t)(v[i] - '0');
    if (!i || i >= vl || v[i] != '@' || a > max)
        return false;
    size_t j = ++i;
    for (; i < vl && v[i] >= '0' && v[i] <= '9' && b <= UINT32_MAX; i++)
        b = b * 10 + (uint64_t)(v[i] - '0');
    if (i == j || i != vl || b > UINT32_MAX)
        return false;
    *n = a;
    *at = (uint32_t)b;
    return true;
}

bool pl_record_parse(const char *msg, struct pl_record *out)
{
    struct pl_record r = {0};
    bool tier = false;
    const char *s = msg;
    while (s && *s) {
        const char *end = strchr(s, ' '), *eq = strchr(s, '=');
        size_t n = end ? (size_t)(end - s) : strlen(s);
        if (!eq || eq >= s + n)
            return false;
        size_t kl = (size_t)(eq - s), vl = n - kl - 1;
        const char *v = eq + 1;
        if (kl == 4 && !memcmp(s, "tier", 4)) {
            for (int t = 0; t < BRK_NTIERS; t++)
                if (strlen(TIERS[t]) == vl && !memcmp(v, TIERS[t], vl)) {
                    r.tier = (enum brk_tier)t;
                    tier = true;
                }
            if (!tier)
                return false;
        } else if (kl == 6 && !memcmp(s, "lastGC", 6)) {
            if (!kobj_parse_time(v, vl, &r.last_gc))
                return false;
            r.has_gc = true;
        } else if (kl == 7 && !memcmp(s, "profile", 7)) {
            if (!kobj_parse_time(v, vl, &r.profile_at))
                return false;
            r.has_profile = true;
        } else if (kl == 4 && !memcmp(s, "ooms", 4)) {
            uint64_t cnt;
            if (!count_at(v, vl, UINT32_MAX, &cnt, &r.oom_restarts) || !cnt)
                return false;
            r.ooms = (unsigned)cnt;
        } else if (kl == 7 && !memcmp(s, "lastOOM", 7)) {
            if (!kobj_parse_time(v, vl, &r.last_oom))
                return false;
        } else if (kl == 8 && !memcmp(s, "memlimit", 8)) {
            uint64_t bytes;
            if (!count_at(v, vl, INT64_MAX / 10, &bytes, &r.memlimit_restarts) || !bytes)
                return false;
            r.memlimit = (int64_t)bytes;
        } else if (!kl) {
            return false;
        } /* another key=value: a later version's; ignored, so an older
           * replica still resumes from what it knows during an upgrade */
        s = end ? end + 1 : NULL;
    }
    if (!tier)
        return false;
    *out = r;
    return true;
}

static void brk_conf_of(const struct pl_conf *c, const struct pl_spec *sp, struct brk_conf *bc)
{
    memset(bc, 0, sizeof *bc);
    bc->threshold[BRK_THROTTLE] = sp->tiers.throttle;
    bc->threshold[BRK_GC] = sp->tiers.gc;
    bc->threshold[BRK_EVICT] = sp->tiers.evict;
    bc->sustain = c->sustain;
    bc->recover = c->recover;
    bc->hysteresis = c->hysteresis;
    bc->interval_ms = c->interval_ms;
    bc->gc_min_interval_ms = c->gc_min_interval_ms;
    bc->gc_available = sp->has_gc;
}

/* --- throttle and GC ---------------------------------------------------------- */

static void throttle(struct pl_pod *pp, const struct pl_spec *sp, bool on, bool dry,
                     struct pl_plan *out)
{
    char u[32], b[32];
    pl_fmt_bytes(pp->usage, u, sizeof u);
    pl_fmt_bytes(pp->budget, b, sizeof b);
    snprintf(out->cond_msg, sizeof out->cond_msg,
             "usage %s is %.0f%% of budget %s (throttle at %u%%)", u, pp->percent, b,
             sp->tiers.throttle);
    if (on)
        pl_say(out, true, "MemoryBudgetThrottled", "%s%s%s", dry ? "dry run: would throttle: " : "",
               out->cond_msg,
               sp->throttle == ANN_THROTTLE_NONE ? " (throttle: none, no action)" : "");
    else
        pl_say(out, false, "MemoryBudgetRecovered", "%susage %s is %.0f%% of budget %s",
               dry ? "dry run: would recover: " : "", u, pp->percent, b);
    if (dry || sp->throttle == ANN_THROTTLE_NONE) {
        pl_act(out, "throttle", dry ? "dry-run" : "skipped");
        return;
    }
    if (sp->throttle == ANN_THROTTLE_READINESS) {
        pp->throttled = on;
        out->throttled = on;
        out->throttle_changed = true;
        pl_act(out, "throttle", "ok");
        return;
    }
    out->call_throttle = true; /* the result is pl_throttle_done's */
    out->throttle_on = on;
}

static void gc(struct pl_pod *pp, const struct pl_spec *sp, bool dry, bool last_chance,
               struct pl_plan *out)
{
    char u[32], b[32];
    pl_fmt_bytes(pp->usage, u, sizeof u);
    pl_fmt_bytes(pp->budget, b, sizeof b);
    if (last_chance)
        pl_say(out, true, "MemoryBudgetGCForced",
               "%susage %s is %.0f%% of budget %s (evict at %u%%): one last GC before evicting",
               dry ? "dry run: would force a GC: " : "", u, pp->percent, b, sp->tiers.evict);
    else
        pl_say(out, true, "MemoryBudgetGCForced", "%susage %s is %.0f%% of budget %s (gc at %u%%)",
               dry ? "dry run: would force a GC: " : "", u, pp->percent, b, sp->tiers.gc);
    if (dry) {
        pl_act(out, "gc", "dry-run");
        return;
    }
    if (pp->gc_inflight)
        return; /* the one under way answers for both */
    pp->gc_inflight = true;
    pp->gc_before = pp->usage;
    out->call_gc = true;
    out->last_chance = last_chance;
    out->gc_before = pp->usage;
}

void pl_gc_intent(struct pl_pod *pp, mb_wall_ms wall, struct pl_plan *out)
{
    pl_plan_init(out, pp);
    pp->has_gc_wall = true;
    pp->last_gc_wall = wall;
    out->record_changed = true;
}

void pl_profile_intent(struct pl_pod *pp, mb_wall_ms wall, struct pl_plan *out)
{
    pl_plan_init(out, pp);
    /* this escalation's one capture, from now on (also if it never happens) */
    pp->profile_done = true;
    pp->profile_at = wall;
    out->record_changed = true;
}

void pl_gc_forcing(struct pl_pod *pp, mb_mono_ms now) { brk_gc_noted(&pp->brk, now); }

bool pl_record_holds(const char *msg, bool profile, mb_wall_ms at)
{
    struct pl_record r;
    if (!msg || !pl_record_parse(msg, &r))
        return false;
    return profile ? r.has_profile && r.profile_at >= at : r.has_gc && r.last_gc >= at;
}

void pl_gc_done(struct pl_pod *pp, bool ok, mb_mono_ms now, mb_wall_ms wall, struct pl_plan *out)
{
    pl_plan_init(out, pp);
    pp->gc_inflight = false;
    pp->gc_done_at = now;
    pl_act(out, "gc", ok ? "ok" : "error");
    pp->post_gc = ok;
    pp->gc_report = ok;
    if (ok) {
        pp->has_gc_wall = true;
        pp->last_gc_wall = wall;
        out->record_changed = true;
    }
    /* A failed last-chance GC decides nothing: the next fresh sample does. */
}

void pl_throttle_done(struct pl_pod *pp, bool ok, struct pl_plan *out)
{
    pl_plan_init(out, pp);
    pl_act(out, "throttle", ok ? "ok" : "error");
}

/* --- leak windows ------------------------------------------------------------- */

/* The window *w of `win` points (x then y), made or remade at that size. */
static float *window(float **w, uint8_t *cap, uint8_t *n, size_t win)
{
    if (!*w || *cap != win) {
        mb_free(*w);
        *w = mb_xcalloc(2 * win, sizeof **w);
        *cap = (uint8_t)win;
        *n = 0;
    }
    return *w;
}

static void push(float *x, float *y, uint8_t *n, size_t win, float xv, float yv)
{
    if (*n >= win) {
        memmove(x, x + 1, (win - 1) * sizeof *x);
        memmove(y, y + 1, (win - 1) * sizeof *y);
        *n = (uint8_t)(win - 1);
    }
    x[*n] = xv;
    y[*n] = yv;
    (*n)++;
}

static bool fit(const float *x, const float *y, size_t n, struct leak_fit *f)
{
    double dx[PL_LEAK_MAX], dy[PL_LEAK_MAX];
    for (size_t i = 0; i < n; i++) {
        dx[i] = (double)x[i] * 1000.0;
        dy[i] = y[i];
    }
    return leak_fit(dx, dy, n, f);
}

/* Goroutines that only ever grow: a slope relative to their mean of at least
 * the configured percent per minute, on a good fit. */
static void goroutine_check(struct pl_pod *pp, const struct pl_conf *c, const struct pl_sample *s,
                            float t, struct pl_plan *out)
{
    struct leak_fit f;
    size_t win = c->leak_window;
    if (!s->has_goroutines)
        return;
    float *gx = window(&pp->gw, &pp->gcap, &pp->gn, win), *gy = gx + win;
    push(gx, gy, &pp->gn, win, t, (float)s->goroutines);
    if (pp->gn < win || !fit(gx, gy, pp->gn, &f))
        return;
    double mean = 0;
    for (size_t i = 0; i < pp->gn; i++)
        mean += gy[i] / (double)pp->gn;
    double rel = mean > 0 ? f.slope_per_min * 100.0 / mean : 0;
    bool leak = f.slope_per_min > 0 && f.r2 >= 0.8 && rel >= c->leak_min_slope;
    if (leak && !pp->gor_reported) {
        pl_say(out, true, "MemoryBudgetLeakSuspected",
               "goroutines rising %.0f per minute over %u samples (now %.0f, r2 %.2f): "
               "a goroutine leak holds memory no GC can free",
               f.slope_per_min, (unsigned)pp->gn, s->goroutines, f.r2);
        pl_forensic(out, PL_FX_GOROUTINES);
        out->gor_leak = true;
        out->leak_reported = true;
        out->leak_slope = f.slope_per_min;
    }
    pp->gor_reported = leak;
}

static void leak_check(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
                       const struct pl_sample *s, mb_mono_ms now, struct pl_plan *out)
{
    size_t win = c->leak_window;
    if (win < 3)
        return;
    if (!pp->ln && !pp->gn)
        pp->epoch = now;
    float t = (float)((double)(now - pp->epoch) / 1000.0);
    goroutine_check(pp, c, s, t, out);
    /* What a leak is: usage that a GC does not bring down. With a GC
     * endpoint only post-GC samples count (garbage growth is not a leak);
     * without one, every sample (the best there is). */
    if (sp->has_gc) {
        if (!pp->post_gc)
            return;
        pp->post_gc = false;
    }
    float *lx = window(&pp->lw, &pp->lcap, &pp->ln, win), *ly = lx + win;
    push(lx, ly, &pp->ln, win, t, (float)pp->percent);
    if (pp->ln < win)
        return;
    struct leak_fit f;
    double mins = -1;
    bool leak = fit(lx, ly, pp->ln, &f) &&
                leak_suspected(&f, c->leak_min_slope, (double)sp->tiers.evict, &mins);
    out->leak = leak;
    if (leak && !pp->leak_reported) {
        pp->leak_reported = true;
        out->leak_reported = true;
        out->leak_slope = f.slope_per_min;
        if (mins >= 0)
            pl_say(out, true, "MemoryBudgetLeakSuspected",
                   "usage rising %.1f points/min over %u samples (r2 %.2f); at this rate "
                   "it reaches the evict threshold %u%% in about %.1f min",
                   f.slope_per_min, (unsigned)pp->ln, f.r2, sp->tiers.evict, mins);
        else
            pl_say(out, true, "MemoryBudgetLeakSuspected",
                   "usage rising %.1f points/min over %u samples (r2 %.2f), already at "
                   "or past the evict threshold %u%%",
                   f.slope_per_min, (unsigned)pp->ln, f.r2, sp->tiers.evict);
        pl_forensic(out, PL_FX_HEAP);
    } else if (!leak) {
        pp->leak_reported = false;
    }
}

/* --- eviction ----------------------------------------------------------------- */

/* Is the pod in the evict tier: by usage, or by GC thrash with
 * gcThrash.evict? */
static bool thrash_evicts(const struct pl_pod *pp) { return pp->thrashing && pp->thrash_evict_on; }

static bool in_evict(const struct pl_pod *pp)
{
    return brk_tier_of(&pp->brk) == BRK_EVICT || thrash_evicts(pp);
}

/* An eviction for the thrash alone: usage is not past the evict tier. */
static bool thrash_only(const struct pl_pod *pp, const struct pl_spec *sp)
{
    return thrash_evicts(pp) &&
           !(brk_tier_of(&pp->brk) == BRK_EVICT && pp->percent >= (double)sp->tiers.evict);
}

/* In the evict tier, on a fresh figure: the last-chance GC, then the
 * attempt (with the escalation's profile first), unless one is under way,
 * done, or backing off. After any GC (the last chance's, or the gc tier's
 * still answering when the usage jumped on) only a figure read after it
 * decides. */
static void evict_step(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
                       const struct brk_conf *bc, mb_mono_ms now, bool dry, struct pl_plan *out)
{
    /* Thrashing: the runtime is already collecting all the time, so no
     * last-chance GC, and the usage threshold does not apply. */
    bool thrash = thrash_only(pp, sp);
    if (pp->evicted || pp->inflight || pp->rz_inflight)
        return;
    if (thrash) {
        if (now < pp->evict_next)
            return;
    } else if (pp->gc_inflight || pp->last_fresh < pp->gc_done_at) {
        return; /* a GC (the last chance's or the gc tier's): a figure read after it decides */
    } else if (pp->last_chance_wait) {
        pp->last_chance_wait = false; /* this fresh sample decides */
    } else if (c->gc_first && sp->has_gc && !pp->last_chance_done &&
               brk_gc_allowed(&pp->brk, bc, now)) {
        pp->last_chance_done = true;
        pp->last_chance_wait = !dry;
        brk_gc_noted(&pp->brk, now);
        gc(pp, sp, dry, true, out);
        return;
    }
    if (!thrash && (pp->percent < (double)sp->tiers.evict || now < pp->evict_next))
        return;
    if (dry) {
        if (!pp->dry_said) {
            pp->dry_said = true;
            pl_act(out, "evict", "dry-run");
            if (thrash)
                pl_say(out, true, "MemoryBudgetEvicted",
                       "dry run: would evict: GC takes %.0f%% of its CPU (gcThrash.evict, at %u%%)",
                       pp->gc_share * 100, c->thrash_pct);
            else
                pl_say(out, true, "MemoryBudgetEvicted",
                       "dry run: would evict: usage %.0f%% of budget (evict at %u%%)", pp->percent,
                       sp->tiers.evict);
        }
        return;
    }
    pp->inflight = true;
    out->evict = true;
    out->capture_profile = (sp->has_profile || sp->has_goroutines) && !pp->profile_done;
}

void pl_evict_deferred(struct pl_pod *pp, mb_mono_ms retry_at)
{
    pp->inflight = false;
    pp->deferred = true;
    pp->evict_next = retry_at;
}

/* One capture's part of the ProfileCaptured text: "heap profile F (N
 * bytes)" or "no heap profile (why)". */
static int capture_text(char *out, size_t len, const char *what, const char *file, size_t bytes,
                        const char *err)
{
    if (file && *file)
        return snprintf(out, len, "%s %s (%zu bytes)", what, file, bytes);
    return snprintf(out, len, "no %s (%.120s)", what, err && *err ? err : "failed");
}

void pl_profile_done(struct pl_pod *pp, const struct pl_capture *cap, mb_wall_ms wall,
                     struct pl_plan *out)
{
    pl_plan_init(out, pp);
    bool heap = cap->heap && *cap->heap, gor = cap->gor && *cap->gor;
    if (cap->heap || cap->heap_err)
        pl_act(out, "profile", heap ? "ok" : "error");
    if (cap->gor || cap->gor_err)
        pl_act(out, "goroutines", gor ? "ok" : "error");
    /* Captured or not, this escalation does not ask again: a pod near its
     * limit is not made to serialise its heap once per retry. */
    pp->profile_done = true;
    pp->profile_at = wall;
    out->record_changed = true;
    if (heap || gor) {
        char h[200] = "", g[200] = "";
        if (cap->heap || cap->heap_err)
            capture_text(h, sizeof h, "heap profile", cap->heap, cap->heap_bytes, cap->heap_err);
        if (cap->gor || cap->gor_err)
            capture_text(g, sizeof g, "goroutine dump", cap->gor, cap->gor_bytes, cap->gor_err);
        pl_say(out, false, "MemoryBudgetProfileCaptured", "saved before eviction: %s%s%s", h,
               *h && *g ? "; " : "", g);
    }
    out->evict = true; /* the attempt goes on (pp->inflight is still set) */
}

void pl_evict_done(struct pl_pod *pp, const struct pl_spec *sp, enum evict_result res,
                   const char *msg, bool ready, mb_mono_ms now, uint64_t rnd, struct pl_plan *out)
{
    pl_plan_init(out, pp);
    pp->inflight = false;
    pp->deferred = false;
    pp->blocked = res == EVICT_BLOCKED;
    pl_act(out, "evict", evict_result_name(res));
    switch (res) {
    case EVICT_OK:
        pp->evicted = true;
        if (thrash_only(pp, sp))
            pl_say(out, true, "MemoryBudgetEvicted",
                   "evicted: GC took %.0f%% of its CPU (gcThrash.evict); usage %.0f%% of budget",
                   pp->gc_share * 100, pp->percent);
        else
            pl_say(out, true, "MemoryBudgetEvicted",
                   "evicted: usage %.0f%% of budget (evict at %u%%)", pp->percent, sp->tiers.evict);
        pl_forensic(out, PL_FX_HEAP);
        break;
    case EVICT_GONE:
        pp->evicted = true;
        break;
    case EVICT_BLOCKED:
    case EVICT_ERROR: {
        uint64_t ms = backoff_next(&pp->ebo, rnd, 0);
        pp->attempts++;
        pp->evict_next = now + ms;
        if (res == EVICT_BLOCKED && !ready)
            /* The disruption controller never counts a NotReady pod healthy;
             * the Eviction API lets an unhealthy pod go only while the
             * budget is whole, unless the PDB says AlwaysAllow. */
            pl_say(
                out, true, "MemoryBudgetEvictionBlocked",
                "eviction blocked, retrying in %llus: %s; the pod is NotReady (%s), so its "
                "PodDisruptionBudget counts it unhealthy: with unhealthyPodEvictionPolicy "
                "IfHealthyBudget (the default) it stays blocked while the budget lacks healthy "
                "pods; unhealthyPodEvictionPolicy: AlwaysAllow on the PDB lets membudget evict it",
                (unsigned long long)(ms + 999) / 1000, msg,
                pp->throttled ? "membudget throttled it" : "its own readiness");
        else if (res == EVICT_BLOCKED)
            pl_say(out, true, "MemoryBudgetEvictionBlocked",
                   "eviction blocked, retrying in %llus: %s", (unsigned long long)(ms + 999) / 1000,
                   msg);
        break;
    }
    }
}

mb_mono_ms pl_wake(const struct pl_pod *pp)
{
    if (!in_evict(pp) || pp->evicted || pp->inflight || !pp->attempts)
        return 0;
    return pp->evict_next;
}

void pl_retry(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp, mb_mono_ms now,
              struct pl_plan *out)
{
    struct brk_conf bc;
    pl_plan_init(out, pp);
    out->dry = pl_dry_of(c, sp);
    /* Only on a figure that is still fresh: no action on stale data. */
    if (!in_evict(pp) || !pp->last_ok || now - pp->last_fresh > 2 * c->interval_ms)
        return;
    brk_conf_of(c, sp, &bc);
    evict_step(pp, c, sp, &bc, now, out->dry, out);
}

/* --- GC thrash --------------------------------------------------------------- */

static void heap_figures(const struct pl_sample *s, char *out, size_t len)
{
    char a[32], n[32], l[32];
    size_t at = 0;
    out[0] = '\0';
    if (s->heap_alloc >= 0) {
        pl_fmt_bytes(s->heap_alloc, a, sizeof a);
        at += (size_t)snprintf(out + at, len - at, "; live heap %s", a);
    }
    if (s->next_gc >= 0 && at < len) {
        pl_fmt_bytes(s->next_gc, n, sizeof n);
        at += (size_t)snprintf(out + at, len - at, ", next GC at %s", n);
    }
    if (s->gomemlimit > 0 && s->gomemlimit < INT64_MAX && at < len) {
        pl_fmt_bytes(s->gomemlimit, l, sizeof l);
        snprintf(out + at, len - at, ", GOMEMLIMIT %s", l);
    }
}

/* The share of CPU in GC since the previous scrape; `sustain` shares above
 * gcThrash.percent in a row raise the signal (once), a share at or below
 * it ends it. Stale data never escalates: it breaks the run. */
static void thrash_check(struct pl_pod *pp, const struct pl_conf *c, const struct pl_sample *s,
                         bool dry, struct pl_plan *out)
{
    double share;
    if (!s->ok || !s->has_gc_cpu) {
        pp->thrash_run = 0;
        return;
    }
    if (gcs_feed(&pp->gcs, s->gc_cpu_s, s->total_cpu_s, &share) != GCS_SHARE) {
        pp->thrash_run = 0;
        return;
    }
    pp->has_share = true;
    pp->gc_share = share;
    out->gc_share_set = true;
    out->gc_share = share;
    if (share * 100.0 <= (double)c->thrash_pct || !c->thrash_pct) {
        pp->thrash_run = 0;
        if (pp->thrashing) {
            pp->thrashing = false;
            out->thrashing = 0;
        }
        return;
    }
    if (pp->thrash_run < UINT8_MAX)
        pp->thrash_run++;
    if (pp->thrashing || pp->thrash_run < c->sustain)
        return;
    pp->thrashing = true;
    pp->thrash_evict_on = c->thrash_evict;
    out->thrashing = 1;
    char heap[160];
    heap_figures(s, heap, sizeof heap);
    pl_say(out, true, "MemoryBudgetGCThrashing",
           "%sGC took %.0f%% of its CPU over the last interval (%u samples above %u%%)%s; usage "
           "%.0f%% of budget: the live heap sits near the limit, so the runtime collects "
           "without pause%s",
           dry ? "dry run: " : "", share * 100, (unsigned)pp->thrash_run, c->thrash_pct, heap,
           pp->percent, c->thrash_evict ? " (gcThrash.evict: treated as the evict tier)" : "");
}

/* --- a sample ----------------------------------------------------------------- */

void pl_init(struct pl_pod *pp)
{
    memset(pp, 0, sizeof *pp);
    brk_init(&pp->brk);
    backoff_init(&pp->ebo, PL_EVICT_BACKOFF_BASE_MS, PL_EVICT_BACKOFF_MAX_MS);
}

void pl_cleanup(struct pl_pod *pp)
{
    if (!pp)
        return;
    MB_FREE(pp->lw);
    MB_FREE(pp->gw);
    MB_FREE(pp->last_err);
}

/* Leaving the evict tier ends this stay's attempts; recovery ends the
 * escalation (the next one captures a new profile). */
static void left_tier(struct pl_pod *pp, enum brk_tier to)
{
    if (to < BRK_EVICT && !thrash_evicts(pp)) {
        pp->blocked = false;
        pp->deferred = false;
        pp->evicted = false;
        pp->evict_next = 0;
        pp->attempts = 0;
        pp->last_chance_done = false;
        pp->last_chance_wait = false;
        pp->dry_said = false;
        backoff_reset(&pp->ebo);
    }
    if (to == BRK_NORMAL) {
        pp->profile_done = false;
        pp->rz_refused = false;
        pp->rz_dry_said = false;
    }
}

/* --- baselines ------------------------------------------------------------------ */

/* A baseline capture on the first signal: an escalation beginning (the
 * first throttle), a leak of memory or of goroutines, GC thrash; or the
 * pod's own period (membudget.io/baseline-every). At most one per
 * profiles.minInterval per pod; none in dry run, none for a pod that
 * names no profile or dump, none while the eviction's own capture is
 * asked for. */
static uint64_t since_ms(const struct pl_pod *pp, mb_mono_ms now)
{
    uint64_t at = (uint64_t)pp->baseline_s * 1000;
    return (uint64_t)now > at ? (uint64_t)now - at : 0;
}

static void baseline_step(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
                          const struct brk_decision *d, bool dry, mb_mono_ms now,
                          struct pl_plan *out)
{
    const char *why = NULL;
    if (d->changed && d->from == BRK_NORMAL && d->to >= BRK_THROTTLE)
        why = "throttle";
    else if (out->gor_leak)
        why = "goroutines";
    else if (out->leak_reported)
        why = "leak";
    else if (out->thrashing == 1)
        why = "gc-thrash";
    else if (sp->baseline_every_ms &&
             (!pp->baseline_done || since_ms(pp, now) >= sp->baseline_every_ms))
        why = "periodic";
    if (!why || dry || !(sp->has_profile || sp->has_goroutines) || out->capture_profile)
        return;
    if (pp->baseline_done && since_ms(pp, now) < c->baseline_min_ms) {
        out->baseline_skip = why;
        return;
    }
    pp->baseline_done = true;
    pp->baseline_s = (uint32_t)(now / 1000);
    out->baseline = why;
}

void pl_step(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
             const struct pl_sample *s, mb_mono_ms now, struct pl_plan *out)
{
    struct brk_conf bc;
    struct brk_decision d;
    pl_plan_init(out, pp);
    bool dry = out->dry = pl_dry_of(c, sp);
    if (sp->budget <= 0)
        return; /* nothing to compare with (admission makes this rare) */
    pp->sampled = true;
    pp->last_ok = s->ok;
    /* (kept as it is while the reason does not change: a pod stale for
     * hours costs one string, not one per sample) */
    const char *why = s->ok || !s->err ? "" : s->err;
    if (!*why)
        MB_FREE(pp->last_err);
    else if (!pp->last_err || strcmp(pp->last_err, why) != 0) {
        mb_free(pp->last_err);
        pp->last_err = mb_xstrndup(why, strnlen(why, 159));
    }
    struct brk_sample bs = {.ok = s->ok, .taken = s->taken};
    if (s->ok) {
        pp->usage = s->usage;
        pp->budget = sp->budget;
        pp->percent = bs.percent = (double)s->usage * 100.0 / (double)sp->budget;
        pp->last_fresh = s->taken;
        out->ratio_set = true;
        out->ratio = (double)s->usage / (double)sp->budget;
    }
    brk_conf_of(c, sp, &bc);
    brk_step(&pp->brk, &bc, &bs, now, &d);
    out->stale = d.stale;
    out->from = d.from;
    out->to = d.to;
    if (d.changed) {
        out->changed = true;
        left_tier(pp, d.to);
        if (!dry)
            out->record_changed = true;
    }
    if (d.throttle_on)
        throttle(pp, sp, true, dry, out);
    if (d.throttle_off)
        throttle(pp, sp, false, dry, out);
    if (d.gc)
        gc(pp, sp, dry, false, out);
    bool was_thrash_evict = thrash_evicts(pp);
    thrash_check(pp, c, s, dry, out);
    if (was_thrash_evict && !thrash_evicts(pp) && d.to < BRK_EVICT)
        left_tier(pp, d.to); /* the thrash ended: so did its escalation */
    if (s->ok && pp->gc_report) {
        /* What the GC did, as the next fresh sample shows it. */
        char b4[32], af[32];
        pp->gc_report = false;
        pl_fmt_bytes(pp->gc_before, b4, sizeof b4);
        pl_fmt_bytes(pp->usage, af, sizeof af);
        out->gc_freed_set = true;
        out->gc_freed = (double)(pp->gc_before - pp->usage);
        pl_say(out, false, "MemoryBudgetGCForced",
               "after the forced GC: %s -> %s (%.0f%% of budget)", b4, af, pp->percent);
    }
    if (s->ok)
        leak_check(pp, c, sp, s, now, out);
    /* after a forced GC (in dry run no GC is called, so where one would
     * be), before the evict step: a resize asked for holds the eviction
     * until it is answered */
    if (s->ok && (out->gc_freed_set || (dry && d.gc)))
        pl_resize_tier(pp, c, sp, dry, out);
    if (!d.stale && in_evict(pp))
        evict_step(pp, c, sp, &bc, now, dry, out);
    baseline_step(pp, c, sp, &d, dry, now, out);
}

/* --- the record, and resuming from it ----------------------------------------- */

void pl_record_of(const struct pl_pod *pp, struct pl_record *out)
{
    memset(out, 0, sizeof *out);
    out->tier = brk_tier_of(&pp->brk);
    out->has_gc = pp->has_gc_wall;
    out->last_gc = pp->last_gc_wall;
    out->has_profile = pp->profile_done;
    out->profile_at = pp->profile_at;
    out->ooms = pp->ooms;
    out->oom_restarts = pp->oom_restarts;
    out->last_oom = pp->last_oom;
    out->memlimit = pp->ml_val;
    out->memlimit_restarts = pp->ml_restarts;
}

void pl_resume(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
               const struct pl_record *r, mb_mono_ms now, mb_wall_ms wall)
{
    struct brk_conf bc;
    brk_conf_of(c, sp, &bc);
    /* The record's wall time on this replica's monotonic clock: as long
     * ago as the wall clocks say (never in the future). */
    mb_mono_ms last_gc = 0;
    if (r->has_gc) {
        uint64_t ago = wall > r->last_gc ? wall - r->last_gc : 0;
        last_gc = now > ago ? now - ago : 0;
        pp->has_gc_wall = true;
        pp->last_gc_wall = r->last_gc;
    }
    brk_resume(&pp->brk, &bc, r->tier, r->has_gc, last_gc);
    pp->throttled = !pl_dry_of(c, sp) && sp->throttle == ANN_THROTTLE_READINESS &&
                    r->tier >= BRK_THROTTLE && sp->tiers.throttle;
    pp->profile_done = r->has_profile && r->tier != BRK_NORMAL;
    pp->profile_at = r->profile_at;
    pp->ooms = r->ooms;
    pp->oom_restarts = r->oom_restarts;
    pp->last_oom = r->last_oom;
    pp->ml_val = r->memlimit;
    pp->ml_restarts = r->memlimit_restarts;
    /* A GC the old leader asked for in this stay counts as the last chance. */
    pp->last_chance_done = r->tier == BRK_EVICT && r->has_gc && !brk_gc_allowed(&pp->brk, &bc, now);
}

enum brk_tier pl_tier(const struct pl_pod *pp) { return brk_tier_of(&pp->brk); }

bool pl_throttled(const struct pl_pod *pp) { return pp->throttled; }

json_t *pl_pod_json(const struct pl_pod *pp)
{
    if (!pp->sampled)
        return NULL;
    json_t *j = json_pack("{s:s,s:b,s:I,s:I}", "tier", brk_tier_name(brk_tier_of(&pp->brk)),
                          "fresh", pp->last_ok, "usageBytes", (json_int_t)pp->usage, "budgetBytes",
                          (json_int_t)pp->budget);
    json_object_set_new(j, "percent", json_real(round(pp->percent * 10) / 10));
    if (!pp->last_ok)
        json_object_set_new(j, "staleReason", json_string(pp->last_err ? pp->last_err : ""));
    json_object_set_new(j, "leakSuspected", json_boolean(pp->leak_reported));
    json_object_set_new(j, "evicting", json_boolean(pp->inflight));
    json_object_set_new(j, "evicted", json_boolean(pp->evicted));
    json_object_set_new(j, "profileCaptured", json_boolean(pp->profile_done));
    if (pp->has_share)
        json_object_set_new(j, "gcShare", json_real(round(pp->gc_share * 1000) / 1000));
    json_object_set_new(j, "gcThrashing", json_boolean(pp->thrashing));
    return j;
}
