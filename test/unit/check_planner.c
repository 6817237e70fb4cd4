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

enum variant { DEF, DRY, POD_DRY, NO_GC, NO_PROFILE, NO_GC_FIRST, ENDPOINT, NONE, NO_THROTTLE };

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
    c->dry_run = v == DRY;
    memset(sp, 0, sizeof *sp);
    sp->budget = 100 << 20;
    sp->tiers = c->tiers;
    sp->has_gc = v != NO_GC;
    sp->has_profile = v != NO_PROFILE;
    sp->throttle = v == ENDPOINT ? ANN_THROTTLE_ENDPOINT
                   : v == NONE   ? ANN_THROTTLE_NONE
                                 : ANN_THROTTLE_READINESS;
    sp->mode = v == POD_DRY ? ANN_MODE_DRY_RUN : ANN_MODE_ENFORCE;
    if (v == NO_THROTTLE)
        sp->tiers.throttle = 0;
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
    if (p->record_changed)
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
            pl_profile_done(&pp, t[1] == '+', t[1] == '+' ? "shop_web-1_x.pb.gz" : "", 1234, wall,
                            &plan);
        } else if (t[0] == 'e') {
            int code = atoi(t + 1);
            enum recorder_evict r = code == 201   ? RECORDER_EVICTED
                                    : code == 429 ? RECORDER_EVICT_BLOCKED
                                    : code == 404 ? RECORDER_EVICT_GONE
                                                  : RECORDER_EVICT_ERROR;
            /* rnd 0: the shortest delay the jitter allows (half) */
            pl_evict_done(&pp, &sp, r, "Cannot evict pod as it would violate the pod's disruption budget.",
                          now, 0, &plan);
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
            now += 5000000; /* another process: another monotonic origin */
            wall += 6000;   /* six seconds of failover */
            pl_init(&pp);
            pl_resume(&pp, &c, &sp, &rec, now, wall);
        } else {
            ck_abort_msg("bad token %s", t);
        }
        show(&plan, sample, out, len);
    }
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
    {"a failed last-chance GC: the next fresh sample decides", DEF, "99 99 g- 99",
     "N EtLr - Epe"},
    {"gcFirst off: straight to the profile and the eviction", NO_GC_FIRST, "99 99 p+ e201",
     "N Etper eCr X"},
    {"no GC endpoint: no last chance", NO_GC, "99 99 p+ e201", "N Etper eCr X"},
    {"no profile endpoint: evict without one", NO_PROFILE, "99 99 g+ 99 e201",
     "N EtLr r EeF X"},
    {"a GC within gcMinInterval counts as the last chance", DEF, "92 92 g+ 99 99 p+",
     "N Gtgr r GF Eper eCr"},
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
    {"limits deferred the attempt: the next fresh sample tries again", NO_GC_FIRST,
     "99 99 d 99 p+", "N Etper - Epe eCr"},
    {"after an accepted eviction, nothing more is asked while the pod goes", NO_GC_FIRST,
     "99 99 p+ e201 99 99 +30", "N Etper eCr X E E -"},
    {"evicting a pod already gone is not an error", NO_GC_FIRST, "99 99 p+ e404 99",
     "N Etper eCr - E"},
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
    {"failover in evict: the profile is not captured again", NO_GC_FIRST,
     "99 99 p+ e429 R 99 99", "N Etper eCr B - Ee E"},
    {"stale data never acts", DEF, "s s s s", "N N N N"},
};

START_TEST(test_planner_rows)
{
    char got[1024];
    run(ROWS[_i].v, ROWS[_i].script, got, sizeof got);
    ck_assert_msg(!strcmp(got, ROWS[_i].trace), "row %d (%s):\n  script %s\n  want   %s\n  got    %s",
                  _i, ROWS[_i].what, ROWS[_i].script, ROWS[_i].trace, got);
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
    pl_profile_done(&pp, true, "shop_web-1_20261123T100000Z.pb.gz", 4096, 7500, &p);
    ck_assert_str_eq(p.ev[0].msg, "heap profile saved before eviction: "
                                  "shop_web-1_20261123T100000Z.pb.gz (4096 bytes)");
    pl_evict_done(&pp, &sp, RECORDER_EVICT_BLOCKED, "would violate the PDB", 4000, 1000, &p);
    ck_assert_str_eq(p.ev[0].reason, "MemoryBudgetEvictionBlocked");
    ck_assert_str_eq(p.ev[0].msg, "eviction blocked, retrying in 2s: would violate the PDB");
    ck_assert_uint_eq(pl_wake(&pp), 6000);
    /* The backoff doubles and stops at 30 s, whatever the jitter draws. */
    static const uint64_t LONGEST[] = {4000, 8000, 16000, 30000, 30000, 30000};
    mb_mono_ms now = 6000;
    for (size_t i = 0; i < sizeof LONGEST / sizeof *LONGEST; i++) {
        pl_evict_done(&pp, &sp, RECORDER_EVICT_BLOCKED, "pdb", now, LONGEST[i] / 2, &p);
        ck_assert_uint_eq(pl_wake(&pp) - now, LONGEST[i]);
        now = pl_wake(&pp);
    }
    json_t *j = pl_pod_json(&pp);
    ck_assert_str_eq(json_string_value(json_object_get(j, "tier")), "evict");
    ck_assert(json_is_true(json_object_get(j, "profileCaptured")));
    json_decref(j);
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
    ck_assert(pl_record_parse("tier=evict profile=2026-11-18T11:06:41Z", &back));
    ck_assert(back.has_profile && back.profile_at == 1795000001000ULL);
    static const char *const BAD[] = {"", "tier=", "tier=hot", "lastGC=2026-11-19T07:06:41Z",
                                      "tier=gc lastGC=yesterday", "tier=gc extra=1",
                                      "tier=gc  lastGC=2026-11-19T07:06:41Z",
                                      "membudget: usage within budget"};
    for (size_t i = 0; i < sizeof BAD / sizeof *BAD; i++)
        ck_assert_msg(!pl_record_parse(BAD[i], &back), "accepted %s", BAD[i]);
}
END_TEST

Suite *planner_suite(void)
{
    Suite *s = suite_create("planner");
    TCase *tc = tcase_create("plans");
    tcase_add_loop_test(tc, test_planner_rows, 0, (int)(sizeof ROWS / sizeof ROWS[0]));
    tcase_add_test(tc, test_planner_event_text);
    tcase_add_test(tc, test_planner_record);
    suite_add_tcase(s, tc);
    return s;
}
