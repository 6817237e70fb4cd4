/*
 * remedy.c -- the executor: samples in, the planner (planner.h) decides,
 * this file carries the plan out (condition, pod calls, Events, metrics,
 * logs) and feeds each result back to the planner. The capture, the
 * eviction and the resize tier are carried out in their own files
 * (capture.c, eviction.c, resize.c; remedy_int.h says who calls whom).
 * Nothing here decides a threshold, a tier or a retry time. Only the
 * leader samples and acts.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/controller.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/podcall.h"
#include "membudget/profname.h"
#include "membudget/profstore.h"
#include "membudget/quantity.h"
#include "remedy_int.h"

/* --- pod calls ---------------------------------------------------------------- */

/* A forced GC (runtime.GC and debug.FreeOSMemory) of a heap of hundreds of
 * MiB takes longer than a scrape: cut at the scrape's timeout (800 ms at a
 * 1 s sampleInterval) the call "failed" while the pod went on collecting,
 * and the last-chance GC's pod was evicted on a figure read during it. */
#define GC_CALL_MIN_MS 10000

static uint64_t pod_post(struct controller *c, struct podstate *s, const char *key,
                         const char *body, kapi_done_fn *done)
{
    char why[256];
    if (rm_fenced(c)) {
        log_debug("pod call not started: shutting down", "{s:s,s:s,s:s}", "namespace",
                  s->gq.pod->sh->ns, "pod", s->gq.pod->name, "endpoint", key);
        return 0;
    }
    struct podcall_req req = {.key = key,
                              .method = "POST",
                              .body = body,
                              .timeout_ms = (unsigned)c->cfg->usage.scrape_timeout_ms};
    if (!strcmp(key, "gc") && req.timeout_ms < GC_CALL_MIN_MS)
        req.timeout_ms = GC_CALL_MIN_MS;
    uint64_t id = podcall_submit(c->calls, s->gq.pod, &req, done, s, why, sizeof why);
    if (!id)
        log_limited(LOG_WARN, "pod endpoint refused", "{s:s,s:s,s:s,s:s}", "namespace",
                    s->gq.pod->sh->ns, "pod", s->gq.pod->name, "endpoint", key, "why", why);
    return id;
}

static bool resp_ok(const struct kapi_resp *r)
{
    return r->err == MB_OK && r->status >= 200 && r->status < 300;
}

static void on_gc(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    struct pl_plan plan;
    struct rm_now now = rm_now(c);
    RUN(s)->gc_call = 0;
    bool ok = resp_ok(r);
    log_info(ok ? "gc forced" : "gc call failed", "{s:s,s:s,s:i,s:s}", "namespace",
             s->gq.pod->sh->ns, "pod", s->gq.pod->name, "status", (int)r->status, "error",
             r->err ? r->errmsg : "");
    pl_gc_done(s->pl, ok, now.mono, now.wall, &plan);
    remedy_carry(c, s, &plan, now);
}

static void on_throttle_ep(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct pl_plan plan;
    RUN(s)->thr_call = 0;
    bool ok = resp_ok(r);
    if (!ok)
        log_limited(LOG_WARN, "throttle endpoint call failed", "{s:s,s:s,s:i,s:s}", "namespace",
                    s->gq.pod->sh->ns, "pod", s->gq.pod->name, "status", (int)r->status, "error",
                    r->err ? r->errmsg : "");
    pl_throttle_done(s->pl, ok, &plan);
    remedy_carry(RUN(s)->c, s, &plan, rm_now(RUN(s)->c));
}

/* contrib/go answers {"applied":N,"previous":M}: the pod's own word. */
static void on_memlimit(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    struct pl_plan plan;
    char err[200] = "";
    int64_t applied = 0, previous = 0;
    struct rm_now now = rm_now(c);
    RUN(s)->ml_call = 0;
    bool ok = resp_ok(r);
    if (!ok) {
        snprintf(err, sizeof err, "%s", r->err ? r->errmsg : "");
        if (!r->err)
            snprintf(err, sizeof err, "HTTP %ld", r->status);
    } else {
        json_t *j = json_loadb(r->body, r->len, 0, NULL);
        json_t *a = json_object_get(j, "applied"), *pv = json_object_get(j, "previous");
        applied = json_is_integer(a) && json_integer_value(a) > 0 ? json_integer_value(a) : 0;
        previous = json_is_integer(pv) && json_integer_value(pv) > 0 ? json_integer_value(pv) : 0;
        json_decref(j);
    }
    log_info(ok ? "GOMEMLIMIT updated" : "GOMEMLIMIT update failed", "{s:s,s:s,s:I,s:I,s:s}",
             "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name, "applied", (json_int_t)applied,
             "previous", (json_int_t)previous, "error", err);
    pl_memlimit_done(s->pl, &c->rm.pcf, ok, applied, previous, s->gq.pod->restarts, err, now.mono,
                     &plan);
    remedy_carry(c, s, &plan, now);
}

/* --- carrying out a plan ------------------------------------------------------ */

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct podstate *s = arg;
    struct pl_plan plan;
    (void)fd;
    (void)what;
    if (!s->pl || !RUN(s)->c->leader)
        return;
    struct controller *c = RUN(s)->c;
    struct rm_now now = rm_now(c);
    pl_retry(s->pl, &c->rm.pcf, SPEC(s), now.mono, &plan);
    remedy_carry(c, s, &plan, now);
}

/* What a plan says without acting: metrics and log lines. */
static void carry_signals(struct controller *c, struct podstate *s, const struct pl_plan *plan)
{
    const struct pc_pod *p = s->gq.pod;
    const char *lv[] = {p->sh->ns, p->name};
    if (plan->changed) {
        const char *v[] = {brk_tier_name(plan->to)};
        mx_add(c->rm.m_transitions, v, 1);
        log_info("tier", "{s:s,s:s,s:s,s:s,s:f,s:b}", "namespace", p->sh->ns, "pod", p->name,
                 "from", brk_tier_name(plan->from), "to", brk_tier_name(plan->to), "percent",
                 s->pl->percent, "dryRun", plan->dry);
    }
    if (plan->ratio_set)
        mx_set(c->rm.m_ratio, lv, plan->ratio);
    if (plan->leak >= 0)
        mx_set(c->rm.m_leak, lv, plan->leak);
    if (plan->gc_freed_set) {
        mx_observe(c->rm.m_gc_freed, NULL, plan->gc_freed);
        log_info("gc result", "{s:s,s:s,s:I,s:I,s:f}", "namespace", p->sh->ns, "pod", p->name,
                 "before_bytes", (json_int_t)s->pl->gc_before, "after_bytes",
                 (json_int_t)s->pl->usage, "percent_after", s->pl->percent);
    }
    if (plan->leak_reported)
        log_warn("leak suspected", "{s:s,s:s,s:f}", "namespace", p->sh->ns, "pod", p->name,
                 "slope_per_min", plan->leak_slope);
    if (plan->gc_share_set)
        mx_set(c->rm.m_gc_share, lv, plan->gc_share);
    if (plan->thrashing >= 0) {
        mx_set(c->rm.m_thrashing, lv, plan->thrashing);
        log_info(plan->thrashing ? "gc thrashing" : "gc thrashing ended", "{s:s,s:s,s:f}",
                 "namespace", p->sh->ns, "pod", p->name, "gc_share", s->pl->gc_share);
    }
    if (plan->baseline_skip)
        mx_add(c->rm.m_captures, (const char *[]){plan->baseline_skip, "skipped-rate"}, 1);
}

void remedy_carry(struct controller *c, struct podstate *s, struct pl_plan *plan, struct rm_now now)
{
    const struct pc_pod *p = s->gq.pod;
    carry_signals(c, s, plan);
    if (plan->oom)
        insight_oom(c, p, plan->oom_reason);
    for (size_t i = 0; i < plan->nact; i++) {
        const char *v[] = {plan->act[i].action, plan->act[i].result};
        mx_add(c->rm.m_actions, v, 1);
    }
    /* a baseline holds the Events that wait for what it finds */
    size_t held = plan->baseline ? capture_baseline(c, s, plan, now) : 0;
    for (size_t i = 0; i < plan->nev; i++)
        if (!held || !capture_holds(&plan->ev[i]))
            capture_event(c, s, &plan->ev[i]);
    if (plan->throttle_changed) {
        s->gq.throttled = plan->throttled;
        gq_set(&s->gq.cond_msg, plan->cond_msg);
    }
    if (plan->record_changed) {
        struct pl_record r;
        char rec[GQ_RECORD_MAX];
        pl_record_of(s->pl, &r);
        pl_record_format(&r, rec, sizeof rec);
        gq_set(&s->gq.record, rec);
    }
    if (plan->throttle_changed || plan->record_changed)
        gq_check(c->gq, &s->gq);
    if (plan->call_throttle) {
        if (RUN(s)->thr_call)
            podcall_cancel(c->calls, RUN(s)->thr_call);
        RUN(s)->thr_call = pod_post(
            c, s, "throttle", plan->throttle_on ? "{\"throttle\":true}" : "{\"throttle\":false}",
            on_throttle_ep);
        if (!RUN(s)->thr_call) {
            struct pl_plan r;
            pl_throttle_done(s->pl, false, &r);
            remedy_carry(c, s, &r, now);
        }
    }
    if (plan->call_gc && !RUN(s)->gc_call && !RUN(s)->gc_wait) {
        /* The record says it first; the GC is forced once the cluster
         * holds that record (remedy_intents, from the watch). */
        struct pl_plan r;
        RUN(s)->gc_wait = true;
        pl_gc_intent(s->pl, now.wall, &r);
        remedy_carry(c, s, &r, now);
        remedy_intents_at(c, s, now);
    }
    if (plan->call_memlimit && !RUN(s)->ml_call) {
        char body[32];
        snprintf(body, sizeof body, "%lld", (long long)plan->memlimit);
        RUN(s)->ml_call = pod_post(c, s, "memlimit", body, on_memlimit);
        if (!RUN(s)->ml_call) {
            struct pl_plan r;
            pl_memlimit_done(s->pl, &c->rm.pcf, false, 0, 0, p->restarts, "no call: see the log",
                             now.mono, &r);
            remedy_carry(c, s, &r, now);
        }
    }
    if (plan->evict)
        evict_attempt(c, s, plan->capture_profile, now);
    if (plan->resize && !RUN(s)->rz)
        resize_start(c, s, plan, now);
    mb_mono_ms w = pl_wake(s->pl);
    if (w) {
        if (!RUN(s)->wake)
            RUN(s)->wake = event_new(loop_base(c->lp), -1, 0, on_wake, s);
        uint64_t ms = w > now.mono ? w - now.mono : 0;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        event_add(RUN(s)->wake, &tv);
    }
}

/* --- samples ------------------------------------------------------------------ */

/* This replica's planner state for s: created on the first sample after it
 * became leader, continuing from what the cluster holds (the record, and
 * the within-budget condition). */
static struct pl_pod *planner_of(struct controller *c, struct podstate *s, struct rm_now now)
{
    if (s->pl)
        return s->pl;
    struct podrun *run = mb_xcalloc(1, sizeof *run);
    run->c = c;
    s->pl = &run->pl;
    pl_init(s->pl);
    struct pl_record r;
    bool have = pl_record_parse(pc_record(s->gq.pod), &r);
    if (!have && s->gq.throttled) {
        /* Throttled by a leader that left no record: continue throttled,
         * and let the breaker recover it. */
        r = (struct pl_record){.tier = BRK_THROTTLE};
        have = true;
    }
    if (have) {
        pl_resume(s->pl, &c->rm.pcf, SPEC(s), &r, now.mono, now.wall);
        log_info("resuming from the cluster's record", "{s:s,s:s,s:s,s:b}", "namespace",
                 s->gq.pod->sh->ns, "pod", s->gq.pod->name, "record", pc_record(s->gq.pod),
                 "throttled", s->gq.throttled);
    }
    s->gq.throttled = pl_throttled(s->pl);
    gq_set(&s->gq.record, pc_record(s->gq.pod));
    s->gq.record_own = true;
    return s->pl;
}

/* --- intent before action ------------------------------------------------------ */

/* How long an intent may wait for the cluster's record to hold it: past
 * it, the action is not taken (its record could not be written: the next
 * leader must not find an action it does not know of). On the wall clock,
 * as the record's times are. */
#define INTENT_MAX_MS 30000

static void force_gc(struct controller *c, struct podstate *s, struct rm_now now)
{
    pl_gc_forcing(s->pl, now.mono);
    RUN(s)->gc_call = pod_post(c, s, "gc", "", on_gc);
    if (!RUN(s)->gc_call) {
        struct pl_plan r;
        pl_gc_done(s->pl, false, now.mono, now.wall, &r);
        remedy_carry(c, s, &r, now);
    }
}

void remedy_intents(struct controller *c, struct podstate *s)
{
    remedy_intents_at(c, s, rm_now(c));
}

void remedy_intents_at(struct controller *c, struct podstate *s, struct rm_now now)
{
    if (!s->pl || !c->leader)
        return;
    struct podrun *run = RUN(s);
    const char *rec = pc_record(s->gq.pod);
    if (run->gc_wait && pl_record_holds(rec, false, s->pl->last_gc_wall)) {
        run->gc_wait = false;
        force_gc(c, s, now);
    } else if (run->gc_wait && now.wall > s->pl->last_gc_wall + INTENT_MAX_MS) {
        struct pl_plan r;
        run->gc_wait = false;
        log_limited(LOG_WARN, "gc not forced: its record could not be written", "{s:s,s:s,s:i}",
                    "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name, "waited_ms",
                    INTENT_MAX_MS);
        pl_gc_done(s->pl, false, now.mono, now.wall, &r);
        remedy_carry(c, s, &r, now);
    }
    if (!s->pl)
        return;
    if (run->prof_wait && pl_record_holds(rec, true, s->pl->profile_at)) {
        run->prof_wait = false;
        capture_start(c, s, now);
    } else if (run->prof_wait && now.wall > s->pl->profile_at + INTENT_MAX_MS) {
        /* Not captured; the eviction goes on (it asks the API server too). */
        struct pl_plan r;
        struct pl_capture cap = {.heap_err = "not captured: its record could not be written"};
        run->prof_wait = false;
        log_limited(LOG_WARN, "profile not captured: its record could not be written",
                    "{s:s,s:s,s:i}", "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name,
                    "waited_ms", INTENT_MAX_MS);
        pl_profile_done(s->pl, &cap, now.wall, &r);
        remedy_carry(c, s, &r, now);
    }
}

static void check_container(struct controller *c, struct podstate *s, int64_t old_budget,
                            struct rm_now now);

static void on_sample(void *ctx, struct pc_pod *p, const struct smp_result *r)
{
    struct controller *c = ctx;
    struct podstate *s = p->user;
    struct pl_plan plan;
    if (!s || !c->leader || SPEC(s)->budget <= 0)
        return;
    struct pl_sample smp = {.ok = r->ok,
                            .usage = r->usage,
                            .taken = r->taken,
                            .has_goroutines = r->has_goroutines,
                            .goroutines = r->goroutines,
                            .has_gc_cpu = r->has_gc_cpu,
                            .gc_cpu_s = r->gc_cpu_s,
                            .total_cpu_s = r->total_cpu_s,
                            .heap_alloc = r->heap_alloc,
                            .next_gc = r->next_gc,
                            .gomemlimit = r->gomemlimit,
                            .err = r->err};
    struct rm_now now = rm_now(c);
    struct pl_pod *pp = planner_of(c, s, now);
    remedy_intents_at(c, s, now); /* (an intent the record never held: given up) */
    if (!s->pl)
        return;
    pl_step(pp, &c->rm.pcf, SPEC(s), &smp, now.mono, &plan);
    remedy_carry(c, s, &plan, now);
    if (r->ok)
        insight_sample(c, s, r, plan.gc_freed_set, now.mono);
    if (s->pl && (s->pl->ml_val || s->pl->ml_want))
        check_container(c, s, 0, now); /* the pod answers: a pending GOMEMLIMIT can go */
}

/* The pod's container changed, or this replica began to lead: an OOM kill
 * the record has not counted, and a GOMEMLIMIT the budget left behind. */
static void check_container(struct controller *c, struct podstate *s, int64_t old_budget,
                            struct rm_now now)
{
    const struct pc_pod *p = s->gq.pod;
    struct pl_plan plan;
    if (!c->leader || !gov_has(c, p->sh->ns))
        return;
    if (s->pl && RUN(s)->rz)
        resize_watch(c, s, now);
    /* What was counted and applied: this replica's planner state, or else
     * the record in the cluster (no planner state is made to read it). */
    struct pl_record rec = {0};
    if (s->pl)
        pl_record_of(s->pl, &rec);
    else
        pl_record_parse(pc_record(p), &rec); /* none (or not ours): rec stays empty */
    if (pl_oom_new(&rec, p->restarts, p->last_oom)) {
        struct pl_oom o = {p->restarts, p->last_term_at, p->last_exit, p->sh->container};
        pl_oom(planner_of(c, s, now), &c->rm.pcf, SPEC(s), &o, now.mono, now.wall, &plan);
        remedy_carry(c, s, &plan, now);
    }
    /* GOMEMLIMIT: only when something could be stale (a budget change, or
     * a value membudget applied or is applying). */
    if (SPEC(s)->budget > 0 && (old_budget > 0 || rec.memlimit > 0 || (s->pl && s->pl->ml_want))) {
        struct pl_ml_in in = {old_budget, p->sh->gomemlimit, p->restarts,
                              !strcmp(p->phase, "Running") && *pc_ip(p) && !p->deleting};
        pl_memlimit(planner_of(c, s, now), &c->rm.pcf, SPEC(s), &in, now.mono, &plan);
        remedy_carry(c, s, &plan, now);
    }
}

void remedy_check_container(struct controller *c, struct podstate *s, int64_t old_budget)
{
    check_container(c, s, old_budget, rm_now(c));
}

static bool want_sample(void *ctx, const struct pc_pod *p, enum ann_usage *usage)
{
    struct controller *c = ctx;
    const struct podstate *s = p->user;
    if (!c->leader || !s || SPEC(s)->budget <= 0 || p->deleting ||
        strcmp(p->phase, "Running") != 0 || !*pc_ip(p) || !gov_has(c, p->sh->ns))
        return false;
    *usage = SPEC(s)->usage;
    return true;
}

static void on_cycle(void *ctx, unsigned pods, unsigned stale, uint64_t ms)
{
    (void)ctx;
    log_debug("sample cycle", "{s:i,s:i,s:I}", "pods", (int)pods, "stale", (int)stale,
              "duration_ms", (json_int_t)ms);
}

/* --- lifecycle ---------------------------------------------------------------- */

void remedy_init(struct controller *c, struct loop *lp)
{
    static const char *const L1[] = {"tier"}, *const L2[] = {"action", "result"},
                             *const LP[] = {"namespace", "pod"};
    struct smp_conf sc = {
        .interval_ms = c->cfg->sample_interval_ms,
        .force_scrape = c->cfg->usage.source == CFG_SOURCE_SCRAPE,
        .force_metrics_api = c->cfg->usage.source == CFG_SOURCE_METRICS_API,
    };
    const char *nsv[256];
    if (c->explicit_ns) {
        for (size_t i = 0; i < c->ngoverned && i < 256; i++)
            nsv[i] = c->governed[i];
        sc.namespaces = nsv;
        sc.nnamespaces = c->ngoverned < 256 ? c->ngoverned : 256;
    }
    pl_conf_from_cfg(c->cfg, c->dry_run, &c->rm.pcf);
    c->rm.sampler = smp_new(lp, c->clk, c->api, c->calls, c->cache, c->mx, &sc, want_sample,
                            on_sample, on_cycle, c);
    evl_init(&c->rm.evl, c->cfg->eviction.max_per_minute, c->cfg->eviction.per_owner_in_flight,
             c->cfg->eviction.owner_settle_timeout_ms);
    c->rm.m_transitions = mx_counter(c->mx, "membudget_tier_transitions_total",
                                     "Pods entering a tier, by the tier entered.", 1, L1);
    c->rm.m_actions = mx_counter(c->mx, "membudget_actions_total",
                                 "Remediation actions, by action and result.", 2, L2);
    c->rm.m_ratio =
        mx_gauge(c->mx, "membudget_pod_usage_ratio", "Last fresh usage / budget per pod.", 2, LP);
    c->rm.m_in_tier = mx_gauge(c->mx, "membudget_pods_in_tier",
                               "Pods in each tier now (on the leader; 0 elsewhere).", 1, L1);
    c->rm.m_rate_limited = mx_counter(c->mx, "membudget_evictions_rate_limited_total",
                                      "Eviction attempts deferred by the rate limit or the owner's "
                                      "slot.",
                                      0, NULL);
    c->rm.m_owner_slots = mx_gauge(c->mx, "membudget_eviction_owner_slots",
                                   "Owners holding an eviction slot (under way, or waiting for the "
                                   "pod to go and a replica to be Ready).",
                                   0, NULL);
    static const double FREED[] = {0, 1 << 20, 8 << 20, 64 << 20, 256 << 20, 1 << 30};
    c->rm.m_gc_freed = mx_histogram(c->mx, "membudget_gc_freed_bytes",
                                    "Usage before a forced GC minus usage at the next sample.", 0,
                                    NULL, FREED, MB_ARRAY_LEN(FREED));
    c->rm.m_gc_share = mx_gauge(c->mx, "membudget_pod_gc_cpu_share",
                                "Share of a Go target's CPU spent in GC between its last two "
                                "scrapes (runtime/metrics counters), 0..1.",
                                2, LP);
    c->rm.m_thrashing = mx_gauge(c->mx, "membudget_gc_thrashing",
                                 "1 while a pod's GC share stays above gcThrash.percent.", 2, LP);
    c->rm.m_leak =
        mx_gauge(c->mx, "membudget_leak_suspected",
                 "1 while a pod's usage rises steadily (least squares over the window).", 2, LP);
    c->rm.m_captures =
        mx_counter(c->mx, "membudget_captures_total",
                   "Captures (heap profile and goroutine dump), by reason (throttle, "
                   "leak, goroutines, gc-thrash, periodic, evict) and result (ok, "
                   "failed, skipped-rate, skipped-cap, skipped-busy).",
                   2, (const char *[]){"reason", "result"});
}

/* membudget_pods_in_tier{tier}: how many pods sit in each tier now. */
void remedy_collect(struct controller *c)
{
    double n[BRK_NTIERS] = {0};
    size_t pos = 0;
    struct pc_pod *p;
    while ((p = pc_next(c->cache, &pos))) {
        const struct podstate *s = p->user;
        if (s && s->pl && s->pl->sampled)
            n[pl_tier(s->pl)]++;
    }
    for (int t = 0; t < BRK_NTIERS; t++) {
        const char *v[] = {brk_tier_name((enum brk_tier)t)};
        mx_set(c->rm.m_in_tier, v, c->leader ? n[t] : 0);
    }
    mx_set(c->rm.m_owner_slots, NULL, c->leader ? (double)evl_held(&c->rm.evl) : 0);
    insight_collect(c);
}

void remedy_start(struct controller *c) { smp_start(c->rm.sampler); }

void remedy_stop(struct controller *c) { smp_stop(c->rm.sampler); }

/* Let go of s's planner state and what is under way for it. `gone`: the
 * pod left the API (its metrics series go too). */
void remedy_pod_gone(struct controller *c, struct podstate *s, bool gone)
{
    struct podrun *run = RUN(s);
    char ob[PC_UID_BUF], ub[PC_UID_BUF];
    if (run) {
        if (run->gc_call)
            podcall_cancel(c->calls, run->gc_call);
        if (run->thr_call)
            podcall_cancel(c->calls, run->thr_call);
        if (run->prof_call)
            podcall_cancel(c->calls, run->prof_call);
        capture_free(c, run);
        if (run->evict_call)
            recorder_cancel(c->rec, run->evict_call);
        if (run->ml_call)
            podcall_cancel(c->calls, run->ml_call);
        resize_free(c, run);
        if (run->evl_held && s->gq.pod)
            evl_finished(&c->rm.evl, evict_owner_of(s->gq.pod, ob), false, pc_uid(s->gq.pod, ub),
                         rm_now(c).mono);
        if (run->wake)
            event_free(run->wake);
    }
    if (gone && s->gq.pod) {
        const char *v[] = {s->gq.pod->sh->ns, s->gq.pod->name};
        mx_delete(c->rm.m_ratio, v);
        mx_delete(c->rm.m_leak, v);
        mx_delete(c->rm.m_gc_share, v);
        mx_delete(c->rm.m_thrashing, v);
        if (evl_pod_gone(&c->rm.evl, pc_uid(s->gq.pod, ub)))
            log_info("eviction slot released: the pod is gone and its owner is Ready", "{s:s,s:s}",
                     "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name);
    }
    pl_cleanup(s->pl);
    mb_free(run); /* with the planner's state, its first member */
    s->pl = NULL;
    s->gq.record_own = false;
    gq_set(&s->gq.record, NULL);
}

/* A pod of p's owner became Ready (the owner's slot may settle). */
void remedy_pod_ready(struct controller *c, const struct pc_pod *p)
{
    char ub[PC_UID_BUF];
    if (*p->sh->owner_uid && evl_owner_ready(&c->rm.evl, p->sh->owner_uid, pc_uid(p, ub)))
        log_info("eviction slot released: the pod is gone and its owner is Ready", "{s:s,s:s,s:s}",
                 "namespace", p->sh->ns, "owner", p->sh->owner_name, "ready", p->name);
}

/* Leadership lost: what this replica planned is the new leader's now. */
void remedy_reset(struct controller *c)
{
    size_t pos = 0;
    struct pc_pod *p;
    while ((p = pc_next(c->cache, &pos)))
        if (p->user)
            remedy_pod_gone(c, p->user, false);
    evl_cleanup(&c->rm.evl);
    evl_init(&c->rm.evl, c->cfg->eviction.max_per_minute, c->cfg->eviction.per_owner_in_flight,
             c->cfg->eviction.owner_settle_timeout_ms);
    insight_reset(c);
}

void remedy_cleanup(struct controller *c)
{
    smp_free(c->rm.sampler);
    c->rm.sampler = NULL;
    evl_cleanup(&c->rm.evl);
}

json_t *remedy_pod_json(const struct podstate *s) { return s->pl ? pl_pod_json(s->pl) : NULL; }
