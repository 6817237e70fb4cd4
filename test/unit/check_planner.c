/* check_planner.c -- the remediation planner as trace tables, like
 * check_breaker: no clock, no network, a whole escalation in microseconds.
 *
 * A row is a script of inputs, one token each:
 *   NN       a fresh sample at NN% of the budget, 1 s after the last one
 *   s        a failed (stale) sample, 1 s after the last one
 *   g+ g-    the GC call answered ok / failed
 *   t+       the throttle endpoint answered ok
 *   p+ p-    the profile capture answered: saved / failed
 *   e201 e429 e500 e404   the eviction answered: accepted / PDB / error / gone
 *   d        the executor's limits deferred the eviction (retry in 1 s)
 *   +N       N seconds pass; then pl_retry when pl_wake says it is time
 *   R        a new leader takes over: pl_resume from the record and the
 *            throttle state the cluster holds
 * The trace is one token per input: after a sample its tier letter (N T G E),
 * then what the plan asks, in this order:
 *   t/o  throttle on / off (the readiness condition)   T  throttle endpoint call
 *   g    GC call      L  the last-chance GC call         p  profile capture
 *   e    eviction attempt
 *   and what it says: W would-evict  B blocked  X evicted  C profile captured
 *   F "after the forced GC" report   r record changed
 * A result token with nothing to show is "-". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membudget/planner.h"
#include "suites.h"

enum variant {
    DEF,
    DRY,
    POD_DRY,
    NO_GC,
    NO_PROFILE,
    NO_GC_FIRST,
    ENDPOINT,
    NONE,
    NO_THROTTLE,
    THRASH_EVICT,
    THRASH_EVICT_DRY,
    NO_BUDGET,
    EVICT_ONLY,
    RESIZE,
    RESIZE_DRY,
    RESIZE_AT_MAX,
    RESIZE_RESTARTS,
    RESIZE_LEAK_WINDOW
};

static void setup(enum variant v, struct pl_conf *c, struct pl_spec *sp)
{
    memset(c, 0, sizeof *c);
    c->tiers = (struct ann_tiers){80, 90, 95};
    c->sustain = 2;
    c->recover = 2;
    c->hysteresis = 5;
    c->interval_ms = 1000;
    c->gc_min_interval_ms = 20000;
    c->gc_first = v != NO_GC_FIRST;
    c->dry_run = v == DRY || v == THRASH_EVICT_DRY;
    c->thrash_pct = 50;
    c->thrash_evict = v == THRASH_EVICT || v == THRASH_EVICT_DRY;
    memset(sp, 0, sizeof *sp);
    sp->budget = 100 << 20;
    sp->tiers = c->tiers;
    sp->has_gc = v != NO_GC;
    sp->has_profile = v != NO_PROFILE;
    sp->throttle = v == ENDPOINT ? ANN_THROTTLE_ENDPOINT
                   : v == NONE   ? ANN_THROTTLE_NONE
                                 : ANN_THROTTLE_READINESS;
    sp->mode = v == POD_DRY ? ANN_MODE_DRY_RUN : ANN_MODE_ENFORCE;
    if (v == NO_THROTTLE || v == EVICT_ONLY)
        sp->tiers.throttle = 0;
    if (v == EVICT_ONLY)
        sp->tiers.gc = 0;
    if (v == NO_BUDGET)
        sp->budget = 0;
    /* the resize tier: limit 128Mi, max-limit 256Mi (a step: 160Mi, budget 125Mi) */
    sp->limit = 128 << 20;
    if (v == RESIZE || v == RESIZE_DRY || v == RESIZE_RESTARTS || v == RESIZE_LEAK_WINDOW)
        sp->max_limit = 256 << 20;
    if (v == RESIZE_LEAK_WINDOW) {
        c->leak_window = 3;
        c->leak_min_slope = 3;
    }
    sp->resize_restarts = v == RESIZE_RESTARTS;
    c->dry_run |= v == RESIZE_DRY;
    if (v == RESIZE_AT_MAX)
        sp->max_limit = 128 << 20;
}

static bool said(const struct pl_plan *p, const char *reason, const char *prefix)
{
    for (size_t i = 0; i < p->nev; i++)
        if (!strcmp(p->ev[i].reason, reason) &&
            (!prefix || !strncmp(p->ev[i].msg, prefix, strlen(prefix))))
            return true;
    return false;
}

static void show(const struct pl_plan *p, bool sample, char *out, size_t len)
{
    static const char T[] = "NTGE";
    char tok[32];
    size_t n = 0;
    if (sample)
        tok[n++] = T[p->to];
    if (p->throttle_changed)
        tok[n++] = p->throttled ? 't' : 'o';
    if (p->call_throttle)
        tok[n++] = 'T';
    if (p->call_gc)
        tok[n++] = p->last_chance ? 'L' : 'g';
    if (p->capture_profile)
        tok[n++] = 'p';
    if (p->evict)
        tok[n++] = 'e';
    if (p->resize)
        tok[n++] = 'z';
    if (said(p, "MemoryBudgetResized", "dry run: would force a GC, then"))
        tok[n++] = 'Z';
    if (said(p, "MemoryBudgetResized", "the memory limit is"))
        tok[n++] = 'Y';
    if (said(p, "MemoryBudgetResized", "resize refused"))
        tok[n++] = 'V';
    if (said(p, "MemoryBudgetResized", "not raising"))
        tok[n++] = 'S';
    if (said(p, "MemoryBudgetEvicted", "dry run: would evict"))
        tok[n++] = 'W';
    if (said(p, "MemoryBudgetEvictionBlocked", NULL))
        tok[n++] = 'B';
    if (said(p, "MemoryBudgetEvicted", "evicted:"))
        tok[n++] = 'X';
    if (said(p, "MemoryBudgetProfileCaptured", NULL))
        tok[n++] = 'C';
    if (said(p, "MemoryBudgetGCForced", "after the forced GC"))
        tok[n++] = 'F';
    if (said(p, "MemoryBudgetGCThrashing", NULL))
        tok[n++] = 'H';
    if (p->oom)
        n += (size_t)snprintf(tok + n, sizeof tok - n, "O(%s)", p->oom_reason);
    if (p->record_changed && n < sizeof tok - 1)
        tok[n++] = 'r';
    if (!n)
        tok[n++] = '-';
    tok[n] = '\0';
    size_t at = strlen(out);
    snprintf(out + at, len - at, "%s%s", at ? " " : "", tok);
}

/* Run a script; returns the trace in out. */
static void run(enum variant v, const char *script, char *out, size_t len)
{
    struct pl_conf c;
    struct pl_spec sp;
    struct pl_pod pp;
    struct pl_plan plan;
    mb_mono_ms now = 1000000;
    mb_wall_ms wall = 1795000000000ULL;
    char buf[512], *save = NULL;
    double gc_cpu = 0, total_cpu = 0;
    uint32_t restarts = 0;
    setup(v, &c, &sp);
    pl_init(&pp);
    out[0] = '\0';
    snprintf(buf, sizeof buf, "%s", script);
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        bool sample = false;
        memset(&plan, 0, sizeof plan);
        if (t[0] >= '0' && t[0] <= '9') {
            now += 1000;
            wall += 1000;
            struct pl_sample s = {.ok = true, .usage = (int64_t)atoi(t) * (1 << 20), .taken = now};
            pl_step(&pp, &c, &sp, &s, now, &plan);
            sample = true;
        } else if (t[0] == 'h') {
            /* a sample at 50% whose GC took NN% of the CPU since the last h */
            now += 1000;
            wall += 1000;
            total_cpu += 1.0;
            gc_cpu += atoi(t + 1) / 100.0;
            struct pl_sample s = {.ok = true,
                                  .usage = 50 << 20,
                                  .taken = now,
                                  .has_gc_cpu = true,
                                  .gc_cpu_s = gc_cpu,
                                  .total_cpu_s = total_cpu,
                                  .heap_alloc = 48 << 20,
                                  .next_gc = 50 << 20,
                                  .gomemlimit = 50 << 20};
            pl_step(&pp, &c, &sp, &s, now, &plan);
            sample = true;
        } else if (!strcmp(t, "x")) {
            gc_cpu = total_cpu = 0; /* the process restarted: its counters too */
        } else if (t[0] == 'o' || t[0] == 'O') {
            /* o: the container was OOM-killed now (restartCount + 1); O: the
             * pod is seen again with the same status */
            if (t[0] == 'o')
                restarts++;
            struct pl_record counted;
            pl_record_of(&pp, &counted);
            if (pl_oom_new(&counted, restarts, true)) {
                struct pl_oom o = {restarts, wall, 137, "app"};
                pl_oom(&pp, &c, &sp, &o, now, wall, &plan);
            }
        } else if (!strcmp(t, "s")) {
            now += 1000;
            wall += 1000;
            struct pl_sample s = {.ok = false, .taken = now, .err = "scrape failed"};
            pl_step(&pp, &c, &sp, &s, now, &plan);
            sample = true;
        } else if (t[0] == 'g') {
            pl_gc_done(&pp, t[1] == '+', now, wall, &plan);
        } else if (t[0] == 't') {
            pl_throttle_done(&pp, t[1] == '+', &plan);
        } else if (t[0] == 'p') {
            struct pl_capture cap = {.heap = t[1] == '+' ? "shop_web-1_x.pb.gz" : "",
                                     .heap_err = "HTTP 500",
                                     .heap_bytes = 1234};
            pl_profile_done(&pp, &cap, wall, &plan);
        } else if (t[0] == 'e') {
            int code = atoi(t + 1);
            enum evict_result r = code == 201   ? EVICT_OK
                                  : code == 429 ? EVICT_BLOCKED
                                  : code == 404 ? EVICT_GONE
                                                : EVICT_ERROR;
            /* rnd 0: the shortest delay the jitter allows (half) */
            pl_evict_done(&pp, &sp, r,
                          "Cannot evict pod as it would violate the pod's disruption budget.",
                          !pl_throttled(&pp), now, 0, &plan);
        } else if (t[0] == 'z') {
            /* the resize answered: z+ the kubelet runs the new limit, z- refused */
            struct pl_resize_result rr = {.ok = t[1] == '+',
                                          .limit = 160 << 20,
                                          .budget = 125 << 20,
                                          .why = "PodResizePending: Deferred"};
            pl_resize_done(&pp, &rr, &plan);
        } else if (!strcmp(t, "d")) {
            pl_evict_deferred(&pp, now + 1000);
        } else if (t[0] == '+') {
            now += (mb_mono_ms)atoi(t + 1) * 1000;
            wall += (mb_wall_ms)atoi(t + 1) * 1000;
            mb_mono_ms w = pl_wake(&pp);
            if (w && w <= now)
                pl_retry(&pp, &c, &sp, now, &plan);
        } else if (!strcmp(t, "R")) {
            /* What the cluster holds: the record as last written, and the
             * condition False when throttled. A new replica's clock. */
            struct pl_record rec;
            char msg[200];
            pl_record_of(&pp, &rec);
            pl_record_format(&rec, msg, sizeof msg);
            ck_assert_msg(pl_record_parse(msg, &rec), "record %s", msg);
            now += 5000000;  /* another process: another monotonic origin */
            wall += 6000;    /* six seconds of failover */
            pl_cleanup(&pp); /* a new replica starts from nothing */
            pl_init(&pp);
            pl_resume(&pp, &c, &sp, &rec, now, wall);
        } else {
            ck_abort_msg("bad token %s", t);
        }
        show(&plan, sample, out, len);
    }
    pl_cleanup(&pp);
}

static const struct {
    const char *what;
    enum variant v;
    const char *script, *trace;
} ROWS[] = {
    {"within budget: nothing", DEF, "50 60 79", "N N N"},
    {"throttle on two samples over, recover on two under the band", DEF, "85 85 70 70",
     "N Ttr T Nor"},
    {"gc tier: GC call, its effect reported with the next fresh sample", DEF, "92 92 g+ 85",
     "N Gtgr r GF"},
    /* Behaviour 5: a jump to 99% tries the GC endpoint first. */
    {"jump to evict: last-chance GC, the next fresh sample decides: evict, profile once", DEF,
     "99 99 g+ 99 p+ e201 99", "N EtLr r EpeF eCr X E"},
    {"last-chance GC works: below the evict threshold, no eviction; the tier then recovers", DEF,
     "99 99 g+ 80 80 80", "N EtLr r EF Tr T"},
    {"a sample read before the GC answered does not decide", DEF, "99 99 99 g+ 99",
     "N EtLr E r EpeF"},
    {"a failed last-chance GC: the next fresh sample decides", DEF, "99 99 g- 99", "N EtLr - Epe"},
    {"gcFirst off: straight to the profile and the eviction", NO_GC_FIRST, "99 99 p+ e201",
     "N Etper eCr X"},
    {"no GC endpoint: no last chance", NO_GC, "99 99 p+ e201", "N Etper eCr X"},
    {"no profile endpoint: evict without one", NO_PROFILE, "99 99 g+ 99 e201", "N EtLr r EeF X"},
    {"a GC within gcMinInterval counts as the last chance", DEF, "92 92 g+ 99 99 p+",
     "N Gtgr r GF Eper eCr"},
    {"the gc tier's GC still under way when the evict tier is entered: a figure read after it "
     "decides",
     DEF, "92 92 99 99 g+ 99 p+", "N Gtgr G Er r EpeF eCr"},
    {"... and when that figure is below the evict threshold, no eviction", DEF,
     "92 92 99 99 g+ 80 80", "N Gtgr G Er r EF Tr"},
    /* Behaviours 3 and 4: one profile per escalation, blocked retries back off. */
    {"PDB blocks: retries reuse the profile and back off (1 s, 2 s, 4 s with this jitter)",
     NO_GC_FIRST, "99 99 p+ e429 99 e429 99 99 e429 99 99 99 99 e429 99 e201",
     "N Etper eCr B Ee B E Ee B E E E Ee B E X"},
    {"a retry comes from a timer too, but only on a figure that is still fresh", NO_GC_FIRST,
     "99 99 p+ e429 +1 e429 +2", "N Etper eCr B e B -"},
    {"blocked: no attempt on samples inside the backoff, nor on stale data", NO_GC_FIRST,
     "99 99 p+ e429 s s s 99", "N Etper eCr B E E E Ee"},
    {"a failed profile is not asked for again in this escalation", NO_GC_FIRST,
     "99 99 p- e500 +2 e201", "N Etper er - e X"},
    {"recovery ends the escalation: the next one captures a new profile", NO_GC_FIRST,
     "99 99 p+ e429 70 70 99 99 p+", "N Etper eCr B E Nor N Etper eCr"},
    {"limits deferred the attempt: the next fresh sample tries again", NO_GC_FIRST, "99 99 d 99 p+",
     "N Etper - Epe eCr"},
    {"after an accepted eviction, nothing more is asked while the pod goes", NO_GC_FIRST,
     "99 99 p+ e201 99 99 +30", "N Etper eCr X E E -"},
    {"evicting a pod already gone is not an error", NO_GC_FIRST, "99 99 p+ e404 99",
     "N Etper eCr - E"},
    /* The resize tier (issue 25): after a GC that did not help, no leak. */
    {"resize: the GC did not bring it back: the limit is raised one step, no eviction", RESIZE,
     "92 92 g+ 92", "N Gtgr r GzF"},
    {"resize: the GC worked: no resize", RESIZE, "92 92 g+ 70", "N Gtgr r GF"},
    {"resize: no max-limit: as before", DEF, "92 92 g+ 92", "N Gtgr r GF"},
    {"resize: at max-limit already: no step", RESIZE_AT_MAX, "92 92 g+ 92", "N Gtgr r GF"},
    {"resize: the kubelet runs it: said; nothing else asked", RESIZE, "92 92 g+ 92 z+ 92",
     "N Gtgr r GzF Y G"},
    {"resize: in flight, the usage jumps to evict: no eviction until it answers", RESIZE,
     "92 92 g+ 92 99 99 99", "N Gtgr r GzF G Er E"},
    {"resize refused: the evict tier goes on as without it, no second request", RESIZE,
     "92 92 g+ 92 z- 99 99 g+ 99 p+", "N Gtgr r GzF V G Eper r EF eCr"},
    {"resize: straight to the evict tier: after the last-chance GC, a resize rather than the "
     "eviction",
     RESIZE, "99 99 g+ 99 99", "N EtLr r EzF E"},
    {"resize: straight to the evict tier, refused: the eviction follows", RESIZE,
     "99 99 g+ 99 z- 99 p+", "N EtLr r EzF V Epe eCr"},
    {"resize: with the leak signal on, only once a full window of post-GC figures says no leak",
     RESIZE_LEAK_WINDOW, "92 92 g+ 92 +20 92 g+ 92 +20 92 g+ 92",
     "N Gtgr r GF - Gg r GF - Gg r GzF"},
    {"resize: the post-GC figures rise: a leak, never a resize", RESIZE_LEAK_WINDOW,
     "91 91 g+ 91 +20 93 g+ 93 +20 94 g+ 94", "N Gtgr r GF - Gg r GF - Gg r GF"},
    {"resize: the container's resizePolicy restarts it: said once, the evict tier as before",
     RESIZE_RESTARTS, "92 92 g+ 92 99 99 g+ 99 p+", "N Gtgr r GSF G Eper r EF eCr"},
    {"resize in dry run: would, once per escalation; nothing asked", RESIZE_DRY,
     "92 92 92 92 70 70 +30 92 92", "N GZ G G G N - N GZ"},
    /* Behaviour 1: dry run never throttles, calls nothing, says "would". */
    {"global dry run: would-events only, never the condition, no record", DRY,
     "85 85 92 92 99 99 99 70 70 70", "N T T G G EW E E N N"},
    {"per-pod dry run: the same", POD_DRY, "99 99 99", "N E EW"},
    {"throttle endpoint: a call instead of the condition", ENDPOINT, "85 85 t+ 70 70",
     "N TTr - T NTr"},
    {"throttle: none: said, not done", NONE, "85 85 70 70", "N Tr T Nr"},
    {"throttle tier off: gc still, no throttling", NO_THROTTLE, "85 85 92 92", "N N N Ggr"},
    /* Behaviour 7: a new leader resumes from the record. */
    {"failover while throttled: stays throttled (no True flip), recovers normally", DEF,
     "85 85 R 85 70 70", "N Ttr - T T Nor"},
    {"failover in gc: gcMinInterval holds across leaders", DEF, "92 92 g+ R 92 92 92 +12 92",
     "N Gtgr r - G G G - Gg"},
    {"failover in evict: the profile is not captured again", NO_GC_FIRST, "99 99 p+ e429 R 99 99",
     "N Etper eCr B - Ee E"},
    {"stale data never acts", DEF, "s s s s", "N N N N"},
    /* GC thrash: shares from the CPU counters, sustain 2 */
    {"GC thrash: two shares above 50% raise it once; it ends at or below", DEF,
     "h10 h60 h70 h80 h50 h70 h70", "N N NH N N N NH"},
    {"GC thrash: stale data breaks the run", DEF, "h0 h60 s h60 h60", "N N N N NH"},
    {"GC thrash: a restarted process's counters are a new baseline", DEF, "h0 h90 x h90 h90",
     "N N - N N"},
    {"GC thrash: without gcThrash.evict it is a signal only", DEF, "h0 h90 h90 h90 h90",
     "N N NH N N"},
    {"GC thrash with gcThrash.evict: the evict tier without a last GC", THRASH_EVICT,
     "h0 h90 h90 p+ e201 h90", "N N NpeH eCr X N"},
    {"GC thrash evict blocked, then the thrash ends: no more retries", THRASH_EVICT,
     "h0 h90 h90 p+ e429 h10 +5 h10", "N N NpeH eCr B N - N"},
    {"GC thrash evict in dry run: would evict", THRASH_EVICT_DRY, "h0 h90 h90 h90", "N N NWH N"},
    /* the OOM ledger: why a kill was not prevented */
    {"OOM before any sample", DEF, "o", "O(no-fresh-sample)r"},
    {"OOM with fresh data below every tier: faster than sampling", DEF, "50 50 o",
     "N N O(faster-than-sampling)r"},
    {"OOM with fresh data in the throttle tier, below evict", DEF, "85 85 o",
     "N Ttr O(below-evict-tier)r"},
    {"OOM with one fresh sample above throttle (not yet entered: nothing acted): faster than "
     "sampling",
     DEF, "50 85 o", "N N O(faster-than-sampling)r"},
    {"OOM after the throttle tier was left again (recovered): faster than sampling", DEF,
     "85 85 50 50 o", "N Ttr T Nor O(faster-than-sampling)r"},
    {"OOM at 90% with only the evict tier on: below evict, not faster than sampling", EVICT_ONLY,
     "90 90 o", "N N O(below-evict-tier)r"},
    {"OOM at 85% without a throttle tier: under gc (90), faster than sampling", NO_THROTTLE,
     "85 85 o", "N N O(faster-than-sampling)r"},
    {"OOM long after the last fresh sample", DEF, "50 +10 o", "N - O(no-fresh-sample)r"},
    {"OOM while the eviction is blocked by a PDB", NO_GC_FIRST, "99 99 p+ e429 o",
     "N Etper eCr B O(eviction-blocked)r"},
    {"OOM while the eviction waits for the limits", NO_GC_FIRST, "99 99 d o",
     "N Etper - O(eviction-rate-limited)r"},
    {"OOM of a pod without a budget", NO_BUDGET, "o", "O(not-budgeted)r"},
    {"the same kill is counted once, the next one too", DEF, "50 50 o O O o",
     "N N O(faster-than-sampling)r - - O(faster-than-sampling)r"},
    {"a new leader does not count a kill twice (the record), and counts a new one", DEF,
     "50 50 o R O o", "N N O(faster-than-sampling)r - - O(no-fresh-sample)r"},
    {"the ledger is kept in dry run too", DRY, "50 50 o", "N N O(faster-than-sampling)r"},
};

START_TEST(test_planner_rows)
{
    char got[1024];
    run(ROWS[_i].v, ROWS[_i].script, got, sizeof got);
    ck_assert_msg(!strcmp(got, ROWS[_i].trace),
                  "row %d (%s):\n  script %s\n  want   %s\n  got    %s", _i, ROWS[_i].what,
                  ROWS[_i].script, ROWS[_i].trace, got);
}
END_TEST

/* The texts an SRE reads in `kubectl describe pod`. */
START_TEST(test_planner_event_text)
{
    struct pl_conf c;
    struct pl_spec sp;
    struct pl_pod pp;
    struct pl_plan p;
    setup(DEF, &c, &sp);
    pl_init(&pp);
    struct pl_sample s = {.ok = true, .usage = 99 << 20, .taken = 1000};
    pl_step(&pp, &c, &sp, &s, 1000, &p);
    s.taken = 2000;
    pl_step(&pp, &c, &sp, &s, 2000, &p);
    ck_assert_uint_eq(p.nev, 2);
    ck_assert_str_eq(p.ev[0].reason, "MemoryBudgetThrottled");
    ck_assert_str_eq(p.ev[0].msg, "usage 99Mi is 99% of budget 100Mi (throttle at 80%)");
    ck_assert_str_eq(p.cond_msg, "usage 99Mi is 99% of budget 100Mi (throttle at 80%)");
    ck_assert_str_eq(p.ev[1].reason, "MemoryBudgetGCForced");
    ck_assert_str_eq(p.ev[1].msg, "usage 99Mi is 99% of budget 100Mi (evict at 95%): one last GC "
                                  "before evicting");
    ck_assert(p.ratio_set && p.ratio > 0.98 && p.ratio < 0.995);
    ck_assert_int_eq(p.gc_before, 99 << 20);
    pl_gc_done(&pp, true, 2500, 6500, &p);
    ck_assert_str_eq(p.act[0].action, "gc");
    ck_assert_str_eq(p.act[0].result, "ok");
    s.taken = 3000;
    s.usage = 97 << 20;
    pl_step(&pp, &c, &sp, &s, 3000, &p);
    ck_assert(p.evict && p.capture_profile && p.gc_freed_set && p.gc_freed == 2 << 20);
    struct pl_capture cap = {.heap = "shop_web-1_20261123T100000Z.pb.gz",
                             .heap_bytes = 4096,
                             .gor = "shop_web-1_20261123T100000Z.goroutines.txt",
                             .gor_bytes = 812};
    pl_profile_done(&pp, &cap, 7500, &p);
    ck_assert_str_eq(p.ev[0].msg, "saved before eviction: heap profile "
                                  "shop_web-1_20261123T100000Z.pb.gz (4096 bytes); goroutine "
                                  "dump shop_web-1_20261123T100000Z.goroutines.txt (812 bytes)");
    ck_assert_uint_eq(p.nact, 2);
    ck_assert_str_eq(p.act[1].action, "goroutines");
    /* one of the two failed: said, the other still listed */
    struct pl_pod other;
    pl_init(&other);
    cap = (struct pl_capture){.heap = "",
                              .heap_err = "scrape answered HTTP 404",
                              .gor = "shop_web-1_20261123T100000Z.goroutines.txt",
                              .gor_bytes = 9};
    struct pl_plan q;
    pl_profile_done(&other, &cap, 7500, &q);
    ck_assert_str_eq(q.ev[0].msg, "saved before eviction: no heap profile (scrape answered HTTP "
                                  "404); goroutine dump "
                                  "shop_web-1_20261123T100000Z.goroutines.txt (9 bytes)");
    ck_assert_str_eq(q.act[0].result, "error");
    ck_assert(q.evict);
    pl_evict_done(&pp, &sp, EVICT_BLOCKED, "would violate the PDB", true, 4000, 1000, &p);
    ck_assert_str_eq(p.ev[0].reason, "MemoryBudgetEvictionBlocked");
    ck_assert_str_eq(p.ev[0].msg, "eviction blocked, retrying in 2s: would violate the PDB");
    {
        /* the same answer for a NotReady pod (on a copy): its PDB counts it
         * unhealthy, and AlwaysAllow is named */
        struct pl_pod notready = pp;
        struct pl_plan p2;
        notready.inflight = true;
        pl_evict_done(&notready, &sp, EVICT_BLOCKED, "would violate the PDB", false, 4000, 1000,
                      &p2);
        ck_assert_msg(strstr(p2.ev[0].msg, "eviction blocked, retrying in ") &&
                          strstr(p2.ev[0].msg, "the pod is NotReady (") &&
                          strstr(p2.ev[0].msg, "so its PodDisruptionBudget counts it unhealthy") &&
                          strstr(p2.ev[0].msg, "unhealthyPodEvictionPolicy: AlwaysAllow"),
                      "%s", p2.ev[0].msg);
    }
    ck_assert_uint_eq(pl_wake(&pp), 6000);
    /* The backoff doubles and stops at 30 s, whatever the jitter draws. */
    static const uint64_t LONGEST[] = {4000, 8000, 16000, 30000, 30000, 30000};
    mb_mono_ms now = 6000;
    for (size_t i = 0; i < sizeof LONGEST / sizeof *LONGEST; i++) {
        pl_evict_done(&pp, &sp, EVICT_BLOCKED, "pdb", true, now, LONGEST[i] / 2, &p);
        ck_assert_uint_eq(pl_wake(&pp) - now, LONGEST[i]);
        now = pl_wake(&pp);
    }
    json_t *j = pl_pod_json(&pp);
    ck_assert_str_eq(json_string_value(json_object_get(j, "tier")), "evict");
    ck_assert(json_is_true(json_object_get(j, "profileCaptured")));
    json_decref(j);
    pl_cleanup(&pp);
    pl_cleanup(&other);
}
END_TEST

START_TEST(test_planner_record)
{
    struct pl_record r = {.tier = BRK_GC, .has_gc = true, .last_gc = 1795000001250ULL};
    char msg[200];
    pl_record_format(&r, msg, sizeof msg);
    ck_assert_str_eq(msg, "tier=gc lastGC=2026-11-18T11:06:41.250Z");
    struct pl_record back;
    ck_assert(pl_record_parse(msg, &back));
    ck_assert(back.tier == BRK_GC && back.has_gc && back.last_gc == r.last_gc && !back.has_profile);
    /* a later version's keys are skipped: this one still resumes */
    ck_assert(pl_record_parse("tier=gc future=1 lastGC=2026-11-18T11:06:41.250Z", &back));
    ck_assert(back.tier == BRK_GC && back.has_gc);
    ck_assert(pl_record_parse("tier=evict profile=2026-11-18T11:06:41Z", &back));
    ck_assert(back.has_profile && back.profile_at == 1795000001000ULL);
    /* the ledger's count and the GOMEMLIMIT applied */
    r = (struct pl_record){.tier = BRK_NORMAL,
                           .ooms = 2,
                           .oom_restarts = 5,
                           .last_oom = 1795000001000LL,
                           .memlimit = 805306368,
                           .memlimit_restarts = 1};
    pl_record_format(&r, msg, sizeof msg);
    ck_assert_str_eq(msg, "tier=normal ooms=2@5 lastOOM=2026-11-18T11:06:41Z memlimit=805306368@1");
    ck_assert(pl_record_parse(msg, &back));
    ck_assert(back.ooms == 2 && back.oom_restarts == 5 && back.last_oom == r.last_oom &&
              back.memlimit == 805306368 && back.memlimit_restarts == 1);
    /* the longest record fits the condition's buffer */
    r = (struct pl_record){BRK_EVICT,       true,        1795000001250LL, true,
                           1795000001250LL, 4000000000u, 4000000000u,     1795000001000LL,
                           INT64_MAX / 10,  4000000000u};
    char big[256];
    pl_record_format(&r, big, sizeof big);
    ck_assert(pl_record_parse(big, &back));
    ck_assert(back.memlimit == INT64_MAX / 10 && back.ooms == 4000000000u);
    static const char *const BAD[] = {"",
                                      "tier=",
                                      "tier=hot",
                                      "lastGC=2026-11-19T07:06:41Z",
                                      "tier=gc ooms=0@1",
                                      "tier=gc ooms=1",
                                      "tier=gc ooms=1@",
                                      "tier=gc ooms=@1",
                                      "tier=gc ooms=1@2x",
                                      "tier=gc memlimit=-5@1",
                                      "tier=gc memlimit=99999999999999999999@1",
                                      "tier=gc lastGC=yesterday",
                                      "tier=gc =1",
                                      "extra=1",
                                      "tier=gc  lastGC=2026-11-19T07:06:41Z",
                                      "membudget: usage within budget"};
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++) {
        back = (struct pl_record){.tier = BRK_THROTTLE, .ooms = 7};
        ck_assert_msg(!pl_record_parse(BAD[i], &back), "accepted %s", BAD[i]);
        ck_assert(back.tier == BRK_THROTTLE && back.ooms == 7); /* untouched */
    }
}
END_TEST

/* The ledger's and the thrash signal's texts, as `kubectl describe pod`
 * shows them. */
START_TEST(test_planner_oom_and_thrash_text)
{
    struct pl_conf c;
    struct pl_spec sp;
    struct pl_pod pp;
    struct pl_plan plan;
    setup(NO_GC_FIRST, &c, &sp);
    pl_init(&pp);
    mb_mono_ms now = 1000000;
    mb_wall_ms wall = 1795428000000LL; /* 2026-11-23T10:00:00Z */
    struct pl_sample s = {.ok = true, .usage = 97 << 20, .taken = now};
    pl_step(&pp, &c, &sp, &s, now, &plan);
    s.taken = now += 1000;
    pl_step(&pp, &c, &sp, &s, now, &plan);
    ck_assert(plan.evict);
    pl_evict_done(&pp, &sp, EVICT_BLOCKED, "PDB", true, now, 0, &plan);
    /* the kill happened 2 s after the last sample, noticed 1 s later */
    now += 3000;
    struct pl_oom o = {3, wall + 2000, 137, "app"};
    pl_oom(&pp, &c, &sp, &o, now, wall + 3000, &plan);
    ck_assert_uint_eq(plan.nev, 1);
    ck_assert_str_eq(plan.ev[0].reason, "MemoryBudgetOOMKilled");
    ck_assert(plan.ev[0].warning);
    ck_assert_str_eq(plan.ev[0].msg,
                     "container app was OOM-killed (exit 137 at 2026-11-23T10:00:02Z, restart 3): "
                     "membudget last saw 97Mi, 97% of budget 100Mi, 2s before the kill, tier "
                     "evict (evict at 95%); its eviction was refused (PodDisruptionBudget) and "
                     "waiting to retry. Not prevented: eviction-blocked");
    ck_assert_str_eq(plan.oom_reason, "eviction-blocked");
    struct pl_record r;
    pl_record_of(&pp, &r);
    ck_assert(r.ooms == 1 && r.oom_restarts == 3 && r.last_oom == wall + 2000);

    /* the thrash Event carries the share and the heap figures */
    setup(DEF, &c, &sp);
    pl_init(&pp);
    for (int i = 0; i < 3; i++) {
        struct pl_sample t = {.ok = true,
                              .usage = 50 << 20,
                              .taken = now += 1000,
                              .has_gc_cpu = true,
                              .gc_cpu_s = i * 0.8,
                              .total_cpu_s = i,
                              .heap_alloc = 47 << 20,
                              .next_gc = 50 << 20,
                              .gomemlimit = 50 << 20};
        pl_step(&pp, &c, &sp, &t, now, &plan);
    }
    ck_assert_uint_eq(plan.nev, 1);
    ck_assert_str_eq(plan.ev[0].reason, "MemoryBudgetGCThrashing");
    ck_assert_str_eq(plan.ev[0].msg,
                     "GC took 80% of its CPU over the last interval (2 samples above 50%); live "
                     "heap 47Mi, next GC at 50Mi, GOMEMLIMIT 50Mi; usage 50% of budget: the live "
                     "heap sits near the limit, so the runtime collects without pause");
    ck_assert(plan.gc_share_set && plan.gc_share > 0.79 && plan.gc_share < 0.81);
    ck_assert_int_eq(plan.thrashing, 1);
    pl_cleanup(&pp);
}
END_TEST

/* GOMEMLIMIT follows the budget. Each row: the pod (budget now and before
 * this update, env GOMEMLIMIT, restartCount), what membudget applied before
 * (value@restarts), the endpoint -> the plan: "POST n" (MiB), "stale" (the
 * warning Event), "would" (dry run) or "-". */
#define M(x) ((int64_t)(x) << 20)
static const struct {
    const char *what;
    int64_t budget, old_budget, env;
    uint32_t restarts;
    int64_t rec;
    uint32_t rec_restarts;
    bool endpoint, running, dry;
    const char *want;
} ML_ROWS[] = {
    {"in step: nothing", M(768), 0, M(768), 0, 0, 0, true, true, false, "-"},
    {"the budget changed, the env followed the old one: POST", M(1024), M(768), M(768), 0, 0, 0,
     true, true, false, "POST 1024"},
    {"the same without an endpoint: stale until recreated", M(1024), M(768), M(768), 0, 0, 0, false,
     true, false, "stale"},
    {"dry run: would", M(1024), M(768), M(768), 0, 0, 0, true, true, true, "would"},
    {"the service set its own GOMEMLIMIT: left alone", M(1024), M(768), M(600), 0, 0, 0, true, true,
     false, "-"},
    {"no GOMEMLIMIT in the env: left alone", M(1024), M(768), 0, 0, 0, 0, true, true, false, "-"},
    {"GOMEMLIMIT=off: left alone", M(1024), M(768), -1, 0, 0, 0, true, true, false, "-"},
    {"applied before, same process: in step", M(1024), 0, M(768), 0, M(1024), 0, true, true, false,
     "-"},
    {"applied before, then the container restarted: the env is back, POST again", M(1024), 0,
     M(768), 1, M(1024), 0, true, true, false, "POST 1024"},
    {"not running yet: later", M(1024), M(768), M(768), 0, 0, 0, true, false, false, "-"},
    {"no budget: nothing", 0, M(768), M(768), 0, 0, 0, true, true, false, "-"},
    {"budget changed back to what runs: nothing", M(768), M(1024), M(1024), 0, M(768), 0, true,
     true, false, "-"},
};

START_TEST(test_planner_memlimit_rows)
{
    struct pl_conf c;
    struct pl_spec sp;
    struct pl_pod pp;
    struct pl_plan plan;
    setup(ML_ROWS[_i].dry ? DRY : DEF, &c, &sp);
    sp.budget = ML_ROWS[_i].budget;
    sp.has_memlimit = ML_ROWS[_i].endpoint;
    pl_init(&pp);
    pp.ml_val = ML_ROWS[_i].rec;
    pp.ml_restarts = ML_ROWS[_i].rec_restarts;
    struct pl_ml_in in = {ML_ROWS[_i].old_budget, ML_ROWS[_i].env, ML_ROWS[_i].restarts,
                          ML_ROWS[_i].running};
    pl_memlimit(&pp, &c, &sp, &in, 1000, &plan);
    char got[64] = "-";
    if (plan.call_memlimit)
        snprintf(got, sizeof got, "POST %lld", (long long)(plan.memlimit >> 20));
    else if (said(&plan, "MemoryBudgetLimitUpdated", "dry run: would"))
        snprintf(got, sizeof got, "would");
    else if (said(&plan, "MemoryBudgetLimitUpdated", "GOMEMLIMIT is now stale"))
        snprintf(got, sizeof got, "stale");
    ck_assert_msg(!strcmp(got, ML_ROWS[_i].want), "%s: got %s, want %s", ML_ROWS[_i].what, got,
                  ML_ROWS[_i].want);
    /* said once: the same state again says nothing */
    pl_memlimit(&pp, &c, &sp, &in, 2000, &plan);
    ck_assert(!plan.nev && !plan.call_memlimit);
    pl_cleanup(&pp);
}
END_TEST

START_TEST(test_planner_memlimit_answers)
{
    struct pl_conf c;
    struct pl_spec sp;
    struct pl_pod pp;
    struct pl_plan plan;
    setup(DEF, &c, &sp);
    sp.budget = M(1024);
    sp.has_memlimit = true;
    pl_init(&pp);
    struct pl_ml_in in = {M(768), M(768), 2, true};
    pl_memlimit(&pp, &c, &sp, &in, 1000, &plan);
    ck_assert(plan.call_memlimit);
    /* the pod applied something else: a failure, retried after gcMinInterval */
    pl_memlimit_done(&pp, &c, true, M(900), M(768), 2, NULL, 2000, &plan);
    ck_assert(
        said(&plan, "MemoryBudgetLimitUpdated",
             "could not set GOMEMLIMIT 768Mi -> 1Gi: the pod applied 900Mi; retrying in 20s"));
    ck_assert(!plan.record_changed);
    pl_memlimit(&pp, &c, &sp, &in, 10000, &plan);
    ck_assert(!plan.call_memlimit); /* not before the retry time */
    in.old_budget = 0;              /* a later sample: managed because it was asked */
    pl_memlimit(&pp, &c, &sp, &in, 22000, &plan);
    ck_assert(plan.call_memlimit);
    pl_memlimit_done(&pp, &c, true, M(1024), M(768), 2, NULL, 22100, &plan);
    ck_assert(said(&plan, "MemoryBudgetLimitUpdated",
                   "GOMEMLIMIT 768Mi -> 1Gi (the budget), applied by the pod"));
    ck_assert(plan.record_changed);
    struct pl_record r;
    pl_record_of(&pp, &r);
    ck_assert(r.memlimit == M(1024) && r.memlimit_restarts == 2);
    /* in step now */
    pl_memlimit(&pp, &c, &sp, &in, 23000, &plan);
    ck_assert(!plan.call_memlimit && !plan.nev);
    /* a call that failed outright */
    sp.budget = M(2048);
    pl_memlimit(&pp, &c, &sp, &in, 24000, &plan);
    ck_assert(plan.call_memlimit);
    pl_memlimit_done(&pp, &c, false, 0, 0, 2, "HTTP 404", 24100, &plan);
    ck_assert(said(&plan, "MemoryBudgetLimitUpdated",
                   "could not set GOMEMLIMIT 1Gi -> 2Gi: HTTP 404; retrying in 20s"));
    pl_cleanup(&pp);
}
END_TEST

/* The resize tier's step: 5/4 of the limit in whole MiB, at most max-limit,
 * the budget keeping its share. */
static const struct {
    int64_t limit, budget, max;
    bool step;
    int64_t new_limit, new_budget;
} RZ_ROWS[] = {
    {1LL << 30, 768LL << 20, 2LL << 30, true, 1280LL << 20, 960LL << 20},
    {1900LL << 20, 1500LL << 20, 2LL << 30, true, 2LL << 30,
     1616LL << 20},                                  /* 1616.8Mi, down to a MiB */
    {2LL << 30, 1LL << 30, 2LL << 30, false, 0, 0},  /* at max-limit already */
    {2LL << 30, 1LL << 30, 1LL << 30, false, 0, 0},  /* max-limit below the limit */
    {1000, 750, 1LL << 30, true, 1LL << 20, 786432}, /* rounded up to a MiB */
    {(100LL << 20) + 1, 100LL << 20, 1LL << 30, true, 126LL << 20, 125LL << 20}, /* 125.99...Mi */
    {0, 1, 1, false, 0, 0},
    {INT64_MAX - 1, 1LL << 30, INT64_MAX, true, INT64_MAX, 1LL << 30},
};

START_TEST(test_planner_resize_step)
{
    int64_t l = -1, b = -1;
    bool step = pl_resize_step(RZ_ROWS[_i].limit, RZ_ROWS[_i].budget, RZ_ROWS[_i].max, &l, &b);
    ck_assert_msg(step == RZ_ROWS[_i].step, "row %d: step %d", _i, step);
    if (!step) {
        ck_assert_int_eq(l, -1);
        return;
    }
    ck_assert_msg(l == RZ_ROWS[_i].new_limit && b == RZ_ROWS[_i].new_budget, "row %d: %lld %lld",
                  _i, (long long)l, (long long)b);
    ck_assert(l <= RZ_ROWS[_i].max && l > RZ_ROWS[_i].limit && b <= l);
}
END_TEST

/* The resize tier's words and the patch it asks for, with the design
 * table's pod: budget 768Mi, limit 1Gi, max-limit 2Gi. A Guaranteed pod
 * (request = limit) keeps its QoS class: its request follows the limit; a
 * Burstable one's request is left alone. */
START_TEST(test_planner_resize_text)
{
    struct pl_conf c;
    struct pl_spec sp;
    struct pl_pod pp;
    struct pl_plan p;
    for (int guaranteed = 0; guaranteed < 2; guaranteed++) {
        setup(RESIZE, &c, &sp);
        sp.budget = 768LL << 20;
        sp.limit = 1LL << 30;
        sp.max_limit = 2LL << 30;
        sp.request = guaranteed ? sp.limit : 512LL << 20;
        pl_init(&pp);
        mb_mono_ms t = 1000;
        struct pl_sample s = {.ok = true, .usage = (int64_t)(0.92 * (double)(768LL << 20))};
        for (int i = 0; i < 2; i++, t += 1000) {
            s.taken = t;
            pl_step(&pp, &c, &sp, &s, t, &p);
        }
        ck_assert(p.call_gc);
        pl_gc_done(&pp, true, t, 1795000000000ULL, &p);
        s.taken = t;
        pl_step(&pp, &c, &sp, &s, t, &p);
        ck_assert(p.resize);
        ck_assert_int_eq(p.resize_limit, 1280LL << 20);
        ck_assert_int_eq(p.resize_budget, 960LL << 20);
        ck_assert_int_eq(p.resize_request, guaranteed ? 1280LL << 20 : 0);
        ck_assert(
            said(&p, "MemoryBudgetResized",
                 "raising the memory limit 1Gi -> 1.25Gi (max-limit 2Gi), the budget 768Mi -> "
                 "960Mi: 92% of budget after a forced GC, no leak suspected"));
        ck_assert(!p.evict);
        struct pl_resize_result rr = {
            .why = "PodResizePending Deferred: Node didn't have enough resource: "
                   "memory"};
        pl_resize_done(&pp, &rr, &p);
        ck_assert_uint_eq(p.nev, 1);
        ck_assert(p.ev[0].warning);
        ck_assert_str_eq(p.ev[0].msg,
                         "resize refused (PodResizePending Deferred: Node didn't have enough "
                         "resource: memory): evicting as without the resize tier");
        ck_assert_str_eq(p.act[0].result, "refused");
        pl_cleanup(&pp);
    }
    pl_init(&pp);
    struct pl_resize_result ok = {.ok = true,
                                  .limit = 1280LL << 20,
                                  .budget = 960LL << 20,
                                  .restarts_before = 3,
                                  .restarts_after = 3};
    pl_resize_done(&pp, &ok, &p);
    ck_assert(!p.ev[0].warning);
    ck_assert_str_eq(p.ev[0].msg,
                     "the memory limit is 1.25Gi now, without a restart, the budget 960Mi "
                     "(GOMEMLIMIT follows)");
    ok.restarts_after = 4;
    ok.budget_err = "HTTP 403: denied by the webhook";
    pl_resize_done(&pp, &ok, &p);
    ck_assert(p.ev[0].warning);
    ck_assert_str_eq(p.ev[0].msg,
                     "the memory limit is 1.25Gi now, the container restarted (restartCount 3 "
                     "-> 4); the budget annotation did not follow (HTTP 403: denied by the "
                     "webhook): budget and GOMEMLIMIT stay as they were");
    pl_cleanup(&pp);
}
END_TEST

/* Intent before action: the intent puts the time into the record; the
 * record as the cluster holds it says whether the action may go out. */
START_TEST(test_planner_intent_record)
{
    struct pl_pod pp;
    struct pl_plan plan;
    struct pl_record r;
    char text[256];
    const mb_wall_ms at = 1795000123456LL;
    pl_init(&pp);
    ck_assert(!pl_record_holds("", false, at));
    ck_assert(!pl_record_holds("not ours", false, at));
    pl_gc_intent(&pp, at, &plan);
    ck_assert(plan.record_changed);
    pl_record_of(&pp, &r);
    pl_record_format(&r, text, sizeof text);
    ck_assert_msg(pl_record_holds(text, false, at), "%s", text);
    ck_assert(!pl_record_holds(text, false, at + 1)); /* an older GC is not this one */
    ck_assert(!pl_record_holds(text, true, at));      /* no capture in it */
    pl_profile_intent(&pp, at + 5, &plan);
    ck_assert(plan.record_changed);
    pl_record_of(&pp, &r);
    pl_record_format(&r, text, sizeof text);
    ck_assert_msg(pl_record_holds(text, true, at + 5) && pl_record_holds(text, false, at), "%s",
                  text);
    pl_cleanup(&pp);
}
END_TEST

/* Baselines: a trace of what each sample's plan asks for. Tokens: NN a
 * sample at NN% (1 s later), gNN a sample at 50% with NN goroutines, +N
 * seconds pass. Trace: the reason of a baseline asked for, "~REASON" one
 * that was due but skipped (profiles.minInterval), "-" none. */
static const struct {
    const char *what;
    enum variant v;
    uint64_t every_ms; /* membudget.io/baseline-every */
    const char *script, *trace;
} BASELINES[] = {
    {"the first throttle: a baseline", DEF, 0, "50 85 85 85", "- - throttle -"},
    {"throttled again within minInterval: skipped; after it, taken", DEF, 0,
     "85 85 60 60 85 85 60 60 +30 85 85", "- throttle - - - ~throttle - - - throttle"},
    {"a jump to the evict tier starts an escalation too", DEF, 0, "99 99", "- throttle"},
    {"dry run: none", DRY, 0, "85 85", "- -"},
    {"no profile or dump declared: none", NO_PROFILE, 0, "85 85", "- -"},
    {"goroutines rising: a baseline for the goroutine leak", DEF, 0, "g100 g200 g300 g400",
     "- - goroutines -"},
    {"the pod's own period, at least minInterval apart", DEF, 30000, "50 50 +10 50 +20 50 50",
     "periodic - - periodic -"},
    {"a period below minInterval waits for minInterval", DEF, 5000, "50 +6 50 +15 50",
     "periodic ~periodic periodic"},
};

START_TEST(test_planner_baselines)
{
    struct pl_conf c;
    struct pl_spec sp;
    struct pl_pod pp;
    struct pl_plan plan;
    mb_mono_ms now = 1000000;
    char buf[256], out[256] = "", *save = NULL;
    setup(BASELINES[_i].v, &c, &sp);
    c.baseline_min_ms = 20000;
    c.leak_window = 3;
    c.leak_min_slope = 1;
    sp.baseline_every_ms = BASELINES[_i].every_ms;
    pl_init(&pp);
    snprintf(buf, sizeof buf, "%s", BASELINES[_i].script);
    for (char *t = strtok_r(buf, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        if (t[0] == '+') {
            now += (mb_mono_ms)atoi(t + 1) * 1000;
            continue;
        }
        now += 1000;
        struct pl_sample s = {.ok = true, .usage = (int64_t)atoi(t) << 20, .taken = now};
        if (t[0] == 'g')
            s = (struct pl_sample){.ok = true,
                                   .usage = 50 << 20,
                                   .taken = now,
                                   .has_goroutines = true,
                                   .goroutines = atoi(t + 1)};
        pl_step(&pp, &c, &sp, &s, now, &plan);
        size_t at = strlen(out);
        snprintf(out + at, sizeof out - at, "%s%s%s", at ? " " : "", plan.baseline_skip ? "~" : "",
                 plan.baseline        ? plan.baseline
                 : plan.baseline_skip ? plan.baseline_skip
                                      : "-");
    }
    ck_assert_msg(!strcmp(out, BASELINES[_i].trace), "%s:\n got: %s\nwant: %s", BASELINES[_i].what,
                  out, BASELINES[_i].trace);
    pl_cleanup(&pp);
}
END_TEST

/* The Events that carry a pod's forensics are marked for the executor. */
START_TEST(test_planner_forensic_marks)
{
    struct pl_conf c;
    struct pl_spec sp;
    struct pl_pod pp;
    struct pl_plan plan;
    mb_mono_ms now = 1000000;
    setup(NO_GC, &c, &sp);
    c.leak_window = 3;
    c.leak_min_slope = 1;
    pl_init(&pp);
    bool leak = false, gor = false;
    for (int i = 0; i < 6; i++) {
        now += 1000;
        struct pl_sample s = {.ok = true,
                              .usage = (int64_t)(40 + 5 * i) << 20,
                              .taken = now,
                              .has_goroutines = true,
                              .goroutines = 100 + 100 * i};
        pl_step(&pp, &c, &sp, &s, now, &plan);
        for (size_t e = 0; e < plan.nev; e++) {
            if (!strcmp(plan.ev[e].reason, "MemoryBudgetLeakSuspected") &&
                strstr(plan.ev[e].msg, "goroutines")) {
                gor = true;
                ck_assert_int_eq(plan.ev[e].forensic, PL_FX_GOROUTINES);
            } else if (!strcmp(plan.ev[e].reason, "MemoryBudgetLeakSuspected")) {
                leak = true;
                ck_assert_int_eq(plan.ev[e].forensic, PL_FX_HEAP);
            } else {
                ck_assert_int_eq(plan.ev[e].forensic, PL_FX_NONE);
            }
        }
    }
    ck_assert(leak && gor);
    /* the eviction Event carries the growth line too */
    pp.inflight = true;
    pl_evict_done(&pp, &sp, EVICT_OK, "", true, now, 0, &plan);
    ck_assert_int_eq(plan.nev, 1);
    ck_assert_str_eq(plan.ev[0].reason, "MemoryBudgetEvicted");
    ck_assert_int_eq(plan.ev[0].forensic, PL_FX_HEAP);
    pl_cleanup(&pp);
}
END_TEST

Suite *planner_suite(void)
{
    Suite *s = suite_create("planner");
    TCase *tc = tcase_create("plans");
    tcase_add_loop_test(tc, test_planner_rows, 0, (int)(sizeof ROWS / sizeof ROWS[0]));
    tcase_add_test(tc, test_planner_event_text);
    tcase_add_test(tc, test_planner_intent_record);
    tcase_add_test(tc, test_planner_record);
    tcase_add_test(tc, test_planner_oom_and_thrash_text);
    tcase_add_loop_test(tc, test_planner_memlimit_rows, 0,
                        (int)(sizeof ML_ROWS / sizeof ML_ROWS[0]));
    tcase_add_test(tc, test_planner_memlimit_answers);
    tcase_add_loop_test(tc, test_planner_resize_step, 0, (int)(sizeof RZ_ROWS / sizeof RZ_ROWS[0]));
    tcase_add_test(tc, test_planner_resize_text);
    tcase_add_loop_test(tc, test_planner_baselines, 0, (int)MB_ARRAY_LEN(BASELINES));
    tcase_add_test(tc, test_planner_forensic_marks);
    suite_add_tcase(s, tc);
    return s;
}
