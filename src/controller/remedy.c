/*
 * remedy.c -- samples in, breaker decisions, actions out (throttle, GC,
 * profile + evict), each one an Event on the pod, a JSON log line and a
 * metric. Only the leader samples and acts; dry-run (global or per pod)
 * computes, logs, counts and events everything ("would ...") and touches
 * nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/breaker.h"
#include "membudget/leak.h"
#include "membudget/log.h"
#include "membudget/quantity.h"
#include "membudget/target.h"
#include "controller_int.h"

#define LEAK_MAX 64

struct remedy_state {
    struct podstate *s;
    struct brk brk;
    struct brk_conf bc;     /* the thresholds in force for this pod (config + its tiers annotation) */
    bool sampled;
    bool last_ok;
    double percent;         /* last fresh percentage */
    int64_t usage, budget;  /* last fresh figure and the budget it was compared with */
    char last_err[200];
    double lx[LEAK_MAX], ly[LEAK_MAX]; /* post-GC usage window: time, percent */
    size_t ln;
    double gx[LEAK_MAX], gy[LEAK_MAX]; /* goroutines window: time, count */
    size_t gn;
    bool gor_reported;
    bool leak_reported;
    bool post_gc;           /* a GC call succeeded: the next fresh sample is post-GC usage */
    bool gc_report;         /* report the GC's effect with the next fresh sample */
    int64_t gc_before;      /* usage when the GC was asked for */
    uint64_t gc_call, thr_call, prof_call, evict_call;
    bool evicting, evicted;
    mb_mono_ms evict_next;
    struct backoff ebo;
    char owner[160];
};

static void act(struct controller *c, const char *action, const char *result)
{
    const char *v[] = {action, result};
    mx_add(c->m_actions, v, 1);
}

static struct recorder_ref ref_of(const struct pc_pod *p)
{
    return (struct recorder_ref){p->ns, p->name, p->uid};
}

static bool pod_dry(const struct controller *c, const struct pc_pod *p)
{
    const char *m = pc_ann(p, "mode");
    return c->dry_run || c->cfg->dry_run || (m && !strcmp(m, "dry-run"));
}

static void fmt_bytes(int64_t b, char *out, size_t len)
{
    if (b >= (int64_t)1 << 30)
        snprintf(out, len, "%.2fGi", (double)b / (1 << 30));
    else
        snprintf(out, len, "%.0fMi", (double)b / (1 << 20));
}

/* --- pod endpoint calls (GC, throttle endpoint) ------------------------------- */

static void on_gc(void *arg, const struct kapi_resp *r)
{
    struct remedy_state *rs = arg;
    struct controller *c = rs->s->c;
    rs->gc_call = 0;
    bool ok = r->err == MB_OK && r->status >= 200 && r->status < 300;
    act(c, "gc", ok ? "ok" : "error");
    rs->post_gc = ok;
    rs->gc_report = ok;
    log_info(ok ? "gc forced" : "gc call failed", "{s:s,s:s,s:i,s:s}", "namespace", rs->s->pod->ns,
             "pod", rs->s->pod->name, "status", (int)r->status, "error", r->err ? r->errmsg : "");
}

static void on_throttle_ep(void *arg, const struct kapi_resp *r)
{
    struct remedy_state *rs = arg;
    rs->thr_call = 0;
    bool ok = r->err == MB_OK && r->status >= 200 && r->status < 300;
    act(rs->s->c, "throttle", ok ? "ok" : "error");
    if (!ok)
        log_warn("throttle endpoint call failed", "{s:s,s:s,s:i,s:s}", "namespace",
                 rs->s->pod->ns, "pod", rs->s->pod->name, "status", (int)r->status, "error",
                 r->err ? r->errmsg : "");
}

static uint64_t post(struct controller *c, struct remedy_state *rs, const char *url,
                     const char *body, kapi_done_fn *done)
{
    struct kapi_req req = {.method = "POST",
                           .path = url,
                           .body = body,
                           .body_len = strlen(body),
                           .timeout_ms = (unsigned)c->cfg->usage.scrape_timeout_ms};
    return kapi_submit(c->scrape, &req, done, rs);
}

/* --- throttling --------------------------------------------------------------- */

static void throttle(struct controller *c, struct remedy_state *rs, bool on, bool dry)
{
    const struct pc_pod *p = rs->s->pod;
    const char *mode = pc_ann(p, "throttle");
    char u[32], b[32], url[600], why[256];
    struct recorder_ref ref = ref_of(p);
    fmt_bytes(rs->usage, u, sizeof u);
    fmt_bytes(rs->budget, b, sizeof b);
    snprintf(rs->s->cond_msg, sizeof rs->s->cond_msg,
             "usage %s is %.0f%% of budget %s (throttle at %u%%)", u, rs->percent, b,
             rs->bc.threshold[BRK_THROTTLE]);
    if (on)
        recorder_event(c->rec, &ref, "Warning", "MemoryBudgetThrottled", "%s%s%s",
                       dry ? "dry run: would throttle: " : "", rs->s->cond_msg,
                       mode && !strcmp(mode, "none") ? " (throttle: none, no action)" : "");
    else
        recorder_event(c->rec, &ref, "Normal", "MemoryBudgetRecovered",
                       "%susage %s is %.0f%% of budget %s", dry ? "dry run: would recover: " : "",
                       u, rs->percent, b);
    if (dry || (mode && !strcmp(mode, "none"))) {
        act(c, "throttle", dry ? "dry-run" : "skipped");
        return;
    }
    if (!mode || !strcmp(mode, "readiness")) {
        rs->s->throttled = on;
        act(c, "throttle", "ok");
        ctl_cond_changed(c, rs->s);
        return;
    }
    if (!tgt_url(p, "throttle", url, sizeof url, why, sizeof why)) {
        act(c, "throttle", "refused");
        log_warn("throttle endpoint refused", "{s:s,s:s,s:s}", "namespace", p->ns, "pod", p->name,
                 "why", why);
        return;
    }
    if (rs->thr_call)
        kapi_cancel(c->scrape, rs->thr_call);
    rs->thr_call = post(c, rs, url, on ? "{\"throttle\":true}" : "{\"throttle\":false}",
                        on_throttle_ep);
}

/* --- eviction ----------------------------------------------------------------- */

static void evict_now(struct controller *c, struct remedy_state *rs);

static void on_evicted(void *arg, enum recorder_evict res, const char *msg)
{
    struct remedy_state *rs = arg;
    struct controller *c = rs->s->c;
    const struct pc_pod *p = rs->s->pod;
    struct recorder_ref ref = ref_of(p);
    mb_mono_ms now = c->clk->mono_ms(c->clk->ctx);
    rs->evict_call = 0;
    rs->evicting = false;
    evl_finished(&c->evl, rs->owner, false, "", 0);
    act(c, "evict", recorder_evict_name(res));
    switch (res) {
    case RECORDER_EVICTED:
        rs->evicted = true;
        recorder_event(c->rec, &ref, "Warning", "MemoryBudgetEvicted",
                       "evicted: usage %.0f%% of budget (evict at %u%%)", rs->percent,
                       rs->bc.threshold[BRK_EVICT]);
        log_info("pod evicted", "{s:s,s:s,s:f}", "namespace", p->ns, "pod", p->name, "percent",
                 rs->percent);
        break;
    case RECORDER_EVICT_BLOCKED: {
        uint64_t ms = backoff_next(&rs->ebo, backoff_rand(&c->rnd), 0);
        rs->evict_next = now + ms;
        recorder_event(c->rec, &ref, "Warning", "MemoryBudgetEvictionBlocked",
                       "eviction blocked, retrying in %llus: %s",
                       (unsigned long long)(ms + 999) / 1000, msg);
        log_warn("eviction blocked", "{s:s,s:s,s:s,s:I}", "namespace", p->ns, "pod", p->name,
                 "reason", msg, "retry_ms", (json_int_t)ms);
        break;
    }
    case RECORDER_EVICT_GONE:
        rs->evicted = true;
        break;
    default: {
        uint64_t ms = backoff_next(&rs->ebo, backoff_rand(&c->rnd), 0);
        rs->evict_next = now + ms;
        log_warn("eviction failed", "{s:s,s:s,s:s,s:I}", "namespace", p->ns, "pod", p->name,
                 "error", msg, "retry_ms", (json_int_t)ms);
    }
    }
}

static void on_profile(void *arg, const struct kapi_resp *r)
{
    struct remedy_state *rs = arg;
    struct controller *c = rs->s->c;
    const struct pc_pod *p = rs->s->pod;
    rs->prof_call = 0;
    if (r->err == MB_OK && r->status == 200 && r->len > 0) {
        char stamp[32], path[1024];
        time_t t = (time_t)(c->clk->wall_ms(c->clk->ctx) / 1000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
        snprintf(path, sizeof path, "%s/%s_%s_%s.pb.gz", c->cfg->eviction.profile_dir, p->ns,
                 p->name, stamp);
        (void)mkdir(c->cfg->eviction.profile_dir, 0750);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        bool ok = fd >= 0 && write(fd, r->body, r->len) == (ssize_t)r->len;
        if (fd >= 0)
            close(fd);
        act(c, "profile", ok ? "ok" : "error");
        if (ok) {
            struct recorder_ref ref = ref_of(p);
            const char *base = strrchr(path, '/');
            recorder_event(c->rec, &ref, "Normal", "MemoryBudgetProfileCaptured",
                           "heap profile saved before eviction: %s (%zu bytes)",
                           base ? base + 1 : path, r->len);
            log_info("profile captured", "{s:s,s:s,s:s,s:I}", "namespace", p->ns, "pod", p->name,
                     "file", path, "bytes", (json_int_t)r->len);
        } else {
            log_warn("profile not written", "{s:s,s:s}", "file", path, "error", strerror(errno));
        }
    } else {
        act(c, "profile", "error");
        log_warn("profile capture failed; evicting anyway", "{s:s,s:s,s:i,s:s}", "namespace",
                 p->ns, "pod", p->name, "status", (int)r->status, "error",
                 r->err ? r->errmsg : "");
    }
    evict_now(c, rs);
}

static void evict_now(struct controller *c, struct remedy_state *rs)
{
    struct recorder_ref ref = ref_of(rs->s->pod);
    rs->evict_call = recorder_evict(c->rec, &ref, on_evicted, rs);
}

/* In the evict tier, until the pod is gone: respect the limits, capture the
 * profile (once), evict; blocked or failed attempts back off. */
static void try_evict(struct controller *c, struct remedy_state *rs, mb_mono_ms now, bool dry)
{
    const struct pc_pod *p = rs->s->pod;
    struct recorder_ref ref = ref_of(p);
    char url[600], why[256];
    if (rs->evicting || rs->evicted || now < rs->evict_next)
        return;
    if (dry) {
        rs->evicted = true; /* said once */
        act(c, "evict", "dry-run");
        recorder_event(c->rec, &ref, "Warning", "MemoryBudgetEvicted",
                       "dry run: would evict: usage %.0f%% of budget (evict at %u%%)",
                       rs->percent, rs->bc.threshold[BRK_EVICT]);
        return;
    }
    snprintf(rs->owner, sizeof rs->owner, "%s", *p->owner_uid ? p->owner_uid : p->uid);
    enum evl_verdict v = evl_check(&c->evl, rs->owner, now);
    if (v != EVL_OK) {
        mx_add(c->m_rate_limited, NULL, 1);
        log_info("eviction deferred", "{s:s,s:s,s:s}", "namespace", p->ns, "pod", p->name, "why",
                 evl_verdict_name(v));
        return;
    }
    evl_started(&c->evl, rs->owner, now);
    rs->evicting = true;
    if (tgt_url(p, "profile", url, sizeof url, why, sizeof why)) {
        struct kapi_req req = {.method = "GET",
                               .path = url,
                               .timeout_ms = 30000,
                               .max_response = (size_t)c->cfg->eviction.profile_max_bytes};
        rs->prof_call = kapi_submit(c->scrape, &req, on_profile, rs);
    } else {
        evict_now(c, rs);
    }
}

/* --- a sample ----------------------------------------------------------------- */

static void conf_for(const struct controller *c, const struct pc_pod *p, struct brk_conf *bc)
{
    struct ann_tiers t = c->cfg->tiers;
    const char *v = pc_ann(p, "tiers");
    char why[200];
    if (v)
        (void)ann_parse_tiers(v, &t, why, sizeof why); /* admission checked it; keep config on error */
    memset(bc, 0, sizeof *bc);
    bc->threshold[BRK_THROTTLE] = t.throttle;
    bc->threshold[BRK_GC] = t.gc;
    bc->threshold[BRK_EVICT] = t.evict;
    bc->sustain = c->cfg->sustain_samples;
    bc->recover = c->cfg->recover_samples;
    bc->hysteresis = c->cfg->hysteresis;
    bc->interval_ms = c->cfg->sample_interval_ms;
    bc->gc_min_interval_ms = c->cfg->gc_min_interval_ms;
    bc->gc_available = pc_ann(p, "gc") != NULL;
}

static void push(double *x, double *y, size_t *n, size_t win, double xv, double yv)
{
    if (*n == win) {
        memmove(x, x + 1, (win - 1) * sizeof *x);
        memmove(y, y + 1, (win - 1) * sizeof *y);
        (*n)--;
    }
    x[*n] = xv;
    y[*n] = yv;
    (*n)++;
}

/* Goroutines that only ever grow: a slope relative to their mean of at least
 * minSlopePercentPerMinute, on a good fit. */
static void goroutine_check(struct controller *c, struct remedy_state *rs, const struct pc_pod *p,
                            const struct smp_result *r, mb_mono_ms now, size_t win)
{
    struct leak_fit f;
    if (!r->has_goroutines)
        return;
    push(rs->gx, rs->gy, &rs->gn, win, (double)now, r->goroutines);
    if (rs->gn < win || !leak_fit(rs->gx, rs->gy, rs->gn, &f))
        return;
    double mean = 0;
    for (size_t i = 0; i < rs->gn; i++)
        mean += rs->gy[i] / (double)rs->gn;
    double rel = mean > 0 ? f.slope_per_min * 100.0 / mean : 0;
    bool leak = f.slope_per_min > 0 && f.r2 >= 0.8 && rel >= c->cfg->leak.min_slope_pct_per_min;
    if (leak && !rs->gor_reported) {
        struct recorder_ref ref = ref_of(p);
        recorder_event(c->rec, &ref, "Warning", "MemoryBudgetLeakSuspected",
                       "goroutines rising %.0f per minute over %zu samples (now %.0f, r2 %.2f): "
                       "a goroutine leak holds memory no GC can free",
                       f.slope_per_min, rs->gn, r->goroutines, f.r2);
        log_warn("goroutine leak suspected", "{s:s,s:s,s:f}", "namespace", p->ns, "pod", p->name,
                 "per_min", f.slope_per_min);
    }
    rs->gor_reported = leak;
}

static void leak_check(struct controller *c, struct remedy_state *rs, const struct pc_pod *p,
                       const struct smp_result *r, mb_mono_ms now)
{
    size_t win = c->cfg->leak.window < LEAK_MAX ? c->cfg->leak.window : LEAK_MAX;
    if (win < 3)
        return;
    goroutine_check(c, rs, p, r, now, win);
    /* What a leak is: usage that a GC does not bring down. With a GC
     * endpoint only post-GC samples count (garbage growth is not a leak);
     * without one, every sample (the best there is). */
    if (pc_ann(p, "gc")) {
        if (!rs->post_gc)
            return;
        rs->post_gc = false;
    }
    push(rs->lx, rs->ly, &rs->ln, win, (double)now, rs->percent);
    if (rs->ln < win)
        return;
    struct leak_fit f;
    double mins = -1;
    bool leak = leak_fit(rs->lx, rs->ly, rs->ln, &f) &&
                leak_suspected(&f, c->cfg->leak.min_slope_pct_per_min,
                               (double)rs->bc.threshold[BRK_EVICT], &mins);
    const char *v[] = {p->ns, p->name};
    mx_set(c->m_leak, v, leak ? 1 : 0);
    if (leak && !rs->leak_reported) {
        struct recorder_ref ref = ref_of(p);
        rs->leak_reported = true;
        if (mins >= 0)
            recorder_event(c->rec, &ref, "Warning", "MemoryBudgetLeakSuspected",
                           "usage rising %.1f points/min over %zu samples (r2 %.2f); at this rate "
                           "it reaches the evict threshold %u%% in about %.1f min",
                           f.slope_per_min, rs->ln, f.r2, rs->bc.threshold[BRK_EVICT], mins);
        else
            recorder_event(c->rec, &ref, "Warning", "MemoryBudgetLeakSuspected",
                           "usage rising %.1f points/min over %zu samples (r2 %.2f), already at "
                           "or past the evict threshold %u%%",
                           f.slope_per_min, rs->ln, f.r2, rs->bc.threshold[BRK_EVICT]);
        log_warn("leak suspected", "{s:s,s:s,s:f,s:f}", "namespace", p->ns, "pod", p->name,
                 "slope_per_min", f.slope_per_min, "minutes_to_evict", mins);
    } else if (!leak) {
        rs->leak_reported = false;
    }
}

static void on_sample(void *ctx, struct pc_pod *p, const struct smp_result *r)
{
    struct controller *c = ctx;
    struct podstate *s = p->user;
    if (!s || !c->leader)
        return;
    struct remedy_state *rs = s->rs;
    if (!rs) {
        rs = s->rs = mb_xcalloc(1, sizeof *rs);
        rs->s = s;
        brk_init(&rs->brk);
        backoff_init(&rs->ebo, 5000, 120000);
    }
    mb_mono_ms now = c->clk->mono_ms(c->clk->ctx);
    int64_t budget = 0;
    const char *bv = pc_ann(p, "budget");
    if (!bv || qty_parse_str(bv, &budget, NULL) != MB_OK || budget <= 0)
        return; /* admission makes this rare: nothing to compare with */
    rs->sampled = true;
    rs->last_ok = r->ok;
    snprintf(rs->last_err, sizeof rs->last_err, "%s", r->ok ? "" : r->err);
    struct brk_sample smp = {.ok = r->ok, .taken = r->taken};
    if (r->ok) {
        rs->usage = r->usage;
        rs->budget = budget;
        rs->percent = smp.percent = (double)r->usage * 100.0 / (double)budget;
        const char *v[] = {p->ns, p->name};
        mx_set(c->m_ratio, v, (double)r->usage / (double)budget);
    }
    struct brk_decision d;
    conf_for(c, p, &rs->bc);
    brk_step(&rs->brk, &rs->bc, &smp, now, &d);
    bool dry = pod_dry(c, p);
    if (d.changed) {
        const char *v[] = {brk_tier_name(d.to)};
        mx_add(c->m_transitions, v, 1);
        log_info("tier", "{s:s,s:s,s:s,s:s,s:f,s:b}", "namespace", p->ns, "pod", p->name, "from",
                 brk_tier_name(d.from), "to", brk_tier_name(d.to), "percent", rs->percent,
                 "dryRun", dry);
        if (d.to < BRK_EVICT) {
            rs->evicted = false;
            rs->evict_next = 0;
            backoff_reset(&rs->ebo);
        }
    }
    if (d.throttle_on)
        throttle(c, rs, true, dry);
    if (d.throttle_off)
        throttle(c, rs, false, dry);
    if (d.gc) {
        char url[600], why[256], u[32], b[32];
        struct recorder_ref ref = ref_of(p);
        fmt_bytes(rs->usage, u, sizeof u);
        fmt_bytes(rs->budget, b, sizeof b);
        recorder_event(c->rec, &ref, "Warning", "MemoryBudgetGCForced",
                       "%susage %s is %.0f%% of budget %s (gc at %u%%)",
                       dry ? "dry run: would force a GC: " : "", u, rs->percent, b,
                       rs->bc.threshold[BRK_GC]);
        if (dry) {
            act(c, "gc", "dry-run");
        } else if (!tgt_url(p, "gc", url, sizeof url, why, sizeof why)) {
            act(c, "gc", "refused");
            log_warn("gc endpoint refused", "{s:s,s:s,s:s}", "namespace", p->ns, "pod", p->name,
                     "why", why);
        } else if (!rs->gc_call) {
            rs->gc_before = rs->usage;
            rs->gc_call = post(c, rs, url, "", on_gc);
        }
    }
    if (rs->brk.tier == BRK_EVICT)
        try_evict(c, rs, now, dry);
    if (r->ok && rs->gc_report) {
        /* What the GC did, as the next fresh sample shows it. */
        char b4[32], af[32];
        struct recorder_ref ref = ref_of(p);
        rs->gc_report = false;
        fmt_bytes(rs->gc_before, b4, sizeof b4);
        fmt_bytes(rs->usage, af, sizeof af);
        mx_observe(c->m_gc_freed, NULL, (double)(rs->gc_before - rs->usage));
        log_info("gc result", "{s:s,s:s,s:I,s:I,s:f}", "namespace", p->ns, "pod", p->name,
                 "before_bytes", (json_int_t)rs->gc_before, "after_bytes", (json_int_t)rs->usage,
                 "percent_after", rs->percent);
        recorder_event(c->rec, &ref, "Normal", "MemoryBudgetGCForced",
                       "after the forced GC: %s -> %s (%.0f%% of budget)", b4, af, rs->percent);
    }
    if (r->ok)
        leak_check(c, rs, p, r, now);
}

static bool want_sample(void *ctx, const struct pc_pod *p)
{
    struct controller *c = ctx;
    return c->leader && !p->deleting && !strcmp(p->phase, "Running") && *p->ip &&
           pc_ann(p, "budget") && ctl_governed(c, p->ns);
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
    c->sampler = smp_new(lp, c->clk, c->api, c->scrape, c->cache, c->mx, &sc, want_sample,
                         on_sample, on_cycle, c);
    evl_init(&c->evl, c->cfg->eviction.max_per_minute, c->cfg->eviction.per_owner_in_flight, c->cfg->eviction.owner_settle_timeout_ms);
    c->m_transitions = mx_counter(c->mx, "membudget_tier_transitions_total",
                                  "Pods entering a tier, by the tier entered.", 1, L1);
    c->m_actions = mx_counter(c->mx, "membudget_actions_total",
                              "Remediation actions, by action and result.", 2, L2);
    c->m_ratio = mx_gauge(c->mx, "membudget_pod_usage_ratio",
                          "Last fresh usage / budget per pod.", 2, LP);
    c->m_in_tier = mx_gauge(c->mx, "membudget_pods_in_tier",
                            "Pods in each tier now (on the leader; 0 elsewhere).", 1, L1);
    c->m_rate_limited = mx_counter(c->mx, "membudget_evictions_rate_limited_total",
                                   "Evictions deferred by the rate limits.", 0, NULL);
    static const double FREED[] = {0, 1 << 20, 8 << 20, 64 << 20, 256 << 20, 1 << 30};
    c->m_gc_freed = mx_histogram(c->mx, "membudget_gc_freed_bytes",
                                 "Usage before a forced GC minus usage at the next sample.", 0,
                                 NULL, FREED, MB_ARRAY_LEN(FREED));
    c->m_leak = mx_gauge(c->mx, "membudget_leak_suspected",
                         "1 while a pod's usage rises steadily (least squares over the window).",
                         2, LP);
}

/* membudget_pods_in_tier{tier}: how many pods sit in each tier now. */
void remedy_collect(struct controller *c)
{
    double n[BRK_NTIERS] = {0};
    size_t pos = 0;
    struct pc_pod *p;
    while ((p = pc_next(c->cache, &pos))) {
        const struct podstate *s = p->user;
        if (s && s->rs && s->rs->sampled)
            n[s->rs->brk.tier]++;
    }
    for (int t = 0; t < BRK_NTIERS; t++) {
        const char *v[] = {brk_tier_name((enum brk_tier)t)};
        mx_set(c->m_in_tier, v, c->leader ? n[t] : 0);
    }
}

void remedy_start(struct controller *c)
{
    smp_start(c->sampler);
}

void remedy_stop(struct controller *c)
{
    smp_stop(c->sampler);
}

void remedy_pod_gone(struct controller *c, struct podstate *s)
{
    struct remedy_state *rs = s->rs;
    if (!rs)
        return;
    if (rs->gc_call)
        kapi_cancel(c->scrape, rs->gc_call);
    if (rs->thr_call)
        kapi_cancel(c->scrape, rs->thr_call);
    if (rs->prof_call)
        kapi_cancel(c->scrape, rs->prof_call);
    if (rs->evict_call)
        recorder_cancel(c->rec, rs->evict_call);
    if (rs->evicting)
        evl_finished(&c->evl, rs->owner, false, "", 0);
    if (s->pod) {
        const char *v[] = {s->pod->ns, s->pod->name};
        mx_delete(c->m_ratio, v);
        mx_delete(c->m_leak, v);
    }
    mb_free(rs);
    s->rs = NULL;
}

void remedy_cleanup(struct controller *c)
{
    smp_free(c->sampler);
    c->sampler = NULL;
    evl_cleanup(&c->evl);
}

json_t *remedy_pod_json(const struct podstate *s)
{
    const struct remedy_state *rs = s->rs;
    if (!rs || !rs->sampled)
        return NULL;
    json_t *j = json_pack("{s:s,s:b,s:I,s:I}", "tier", brk_tier_name(rs->brk.tier), "fresh",
                          rs->last_ok, "usageBytes", (json_int_t)rs->usage, "budgetBytes",
                          (json_int_t)rs->budget);
    json_object_set_new(j, "percent", json_real(round(rs->percent * 10) / 10));
    if (!rs->last_ok)
        json_object_set_new(j, "staleReason", json_string(rs->last_err));
    json_object_set_new(j, "leakSuspected", json_boolean(rs->leak_reported));
    json_object_set_new(j, "evicting", json_boolean(rs->evicting));
    return j;
}
