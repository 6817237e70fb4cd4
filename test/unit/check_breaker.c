/* check_breaker.c -- every transition of the tiered breaker, as tables.
 *
 * A row is a sequence of samples, one per interval (15 s): a percentage of
 * the budget, STALE for a failed sample, or OLD for a sample taken three
 * intervals ago. The trace is one token per sample: the tier letter after it
 * (N T G E) followed by the actions taken (t throttle on, o throttle off,
 * g GC, e evict, r recovered, s stale). */
#include <stdio.h>
#include <string.h>

#include "membudget/breaker.h"
#include "membudget/evlimit.h"
#include "membudget/leak.h"
#include "suites.h"

#define STALE -1
#define OLD -2
#define END -999

enum variant { DEFAULT, NO_GC_ENDPOINT, NO_THROTTLE, SUSTAIN1, FAST_GC, SLOW_GC };

static struct brk_conf conf_of(enum variant v)
{
    struct brk_conf c = {
        .threshold = {0, 80, 90, 95},
        .sustain = 2,
        .recover = 3,
        .hysteresis = 5,
        .interval_ms = 15000,
        .gc_min_interval_ms = 60000,
        .gc_available = true,
    };
    if (v == NO_GC_ENDPOINT)
        c.gc_available = false;
    if (v == NO_THROTTLE)
        c.threshold[BRK_THROTTLE] = 0;
    if (v == SUSTAIN1)
        c.sustain = 1;
    if (v == FAST_GC)
        c.gc_min_interval_ms = 15000;
    if (v == SLOW_GC)
        c.gc_min_interval_ms = 120000;
    return c;
}

static const struct {
    const char *what;
    enum variant v;
    int samples[24];
    const char *trace;
} ROWS[] = {
    {"below every threshold: nothing", DEFAULT, {50, 60, 79, END}, "N N N"},
    {"one sample over is not enough (sustain 2)", DEFAULT, {85, 50, 85, 50, END}, "N N N N"},
    {"throttle after two samples, recovery after three below 75",
     DEFAULT,
     {85, 85, 80, 74, 74, 74, END},
     "N Tt T T T No/r"},
    {"jump straight to evict (tiers skipped)", DEFAULT, {97, 97, END}, "N Ete"},
    {"jump to gc skips throttle but throttles", DEFAULT, {92, 92, END}, "N Gtg"},
    {"flapping around the throttle threshold: never enters",
     DEFAULT,
     {81, 79, 81, 79, 81, 79, END},
     "N N N N N N"},
    {"flapping inside the hysteresis band: no flapping actions",
     DEFAULT,
     {85, 85, 77, 81, 77, 79, 76, 78, END},
     "N Tt T T T T T T"},
    {"stale data during escalation holds and breaks the run",
     DEFAULT,
     {92, STALE, 92, STALE, 92, 92, END},
     "N Ns N Ns N Gtg"},
    {"stale data never recovers either",
     DEFAULT,
     {85, 85, 50, STALE, 50, 50, STALE, STALE, 50, 50, 50, END},
     "N Tt T Ts T T Ts Ts T T No/r"},
    {"a sample older than two intervals is stale", DEFAULT, {85, OLD, 85, END}, "N Ns N"},
    {"gc that works: de-escalate to throttle, then recover",
     DEFAULT,
     {92, 92, 80, 80, 80, 70, 70, 70, END},
     "N Gtg G G T T T No/r"},
    {"gc that does not work: gc again after gcMinInterval, then evict",
     DEFAULT,
     {92, 92, 93, 93, 93, 93, 96, 96, END},
     "N Gtg G G G Gg G Ee"},
    {"gc every interval when gcMinInterval allows", FAST_GC, {92, 92, 92, 92, END}, "N Gtg Gg Gg"},
    {"gc at most once per gcMinInterval (120 s), even across a dip to throttle",
     SLOW_GC,
     {92, 92, 80, 80, 80, 92, 92, 92, 92, 92, END},
     "N Gtg G G T T G G G Gg"},
    {"evict, then usage falls (the pod restarted?): leave evict",
     DEFAULT,
     {97, 97, 50, 50, 50, END},
     "N Ete E E No/r"},
    {"no GC endpoint: the gc tier is skipped",
     NO_GC_ENDPOINT,
     {92, 92, 93, 96, 96, END},
     "N Tt T T Ee"},
    {"throttle tier off: no throttling, gc still", NO_THROTTLE, {85, 85, 92, 92, END}, "N N N Gg"},
    {"sustain 1: the first sample over acts", SUSTAIN1, {85, 92, 97, END}, "Tt Gg Ee"},
};

static void trace(const struct brk_decision *d, char *out, size_t len)
{
    static const char T[] = "NTGE";
    size_t at = strlen(out);
    snprintf(out + at, len - at, "%s%c%s%s%s%s%s%s", at ? " " : "", T[d->to], d->stale ? "s" : "",
             d->throttle_on ? "t" : "", d->throttle_off ? "o" : "", d->gc ? "g" : "",
             d->evict ? "e" : "", d->recovered ? "/r" : "");
}

START_TEST(test_brk_rows)
{
    struct brk_conf c = conf_of(ROWS[_i].v);
    struct brk b;
    char got[512] = "";
    mb_mono_ms now = 1000000; /* time is just a number here */

    brk_init(&b);
    for (const int *s = ROWS[_i].samples; *s != END; s++, now += 15000) {
        struct brk_sample smp = {.ok = *s != STALE, .percent = *s, .taken = now};
        if (*s == OLD) {
            smp.percent = 85;
            smp.taken = now - 3 * 15000;
        }
        struct brk_decision d;
        brk_step(&b, &c, &smp, now, &d);
        trace(&d, got, sizeof got);
        ck_assert(d.changed == (d.from != d.to));
    }
    ck_assert_msg(strcmp(got, ROWS[_i].trace) == 0, "row %d (%s):\n  want %s\n  got  %s", _i,
                  ROWS[_i].what, ROWS[_i].trace, got);
}
END_TEST

START_TEST(test_brk_names_and_tiers)
{
    struct brk_conf c = conf_of(NO_GC_ENDPOINT);
    ck_assert_str_eq(brk_tier_name(BRK_NORMAL), "normal");
    ck_assert_str_eq(brk_tier_name(BRK_EVICT), "evict");
    ck_assert(brk_tier_on(&c, BRK_THROTTLE));
    ck_assert(!brk_tier_on(&c, BRK_GC));
    ck_assert(brk_tier_on(&c, BRK_EVICT));
    /* A sample from the future (clock confusion) is not trusted. */
    struct brk b;
    struct brk_decision d;
    struct brk_sample s = {.ok = true, .percent = 99, .taken = 5000};
    brk_init(&b);
    brk_step(&b, &c, &s, 4000, &d);
    ck_assert(d.stale);
}
END_TEST

/* --- eviction rate limits ----------------------------------------------------- */

START_TEST(test_evl_rate_and_owner)
{
    struct evlimit l;
    evl_init(&l, 5, 1, 300000);
    mb_mono_ms t = 100000;
    char owner[32], uid[32];
    /* 20 pods of 20 owners over budget at once: 5 accepted per minute. */
    int started = 0;
    for (int i = 0; i < 20; i++) {
        snprintf(owner, sizeof owner, "rs-%d", i);
        snprintf(uid, sizeof uid, "pod-%d", i);
        if (evl_check(&l, owner, t) == EVL_OK) {
            evl_started(&l, owner, t);
            evl_finished(&l, owner, true, uid, t);
            started++;
        }
    }
    ck_assert_int_eq(started, 5);
    ck_assert_int_eq(evl_check(&l, "rs-x", t + 59999), EVL_RATE);
    ck_assert_int_eq(evl_check(&l, "rs-x", t + 60000), EVL_OK); /* the window slid */
    /* Blocked attempts spend nothing: 50 refused (PDB) in a row, then 5 go. */
    evl_cleanup(&l);
    evl_init(&l, 5, 1, 300000);
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(evl_check(&l, "rs-pdb", t + i), EVL_OK);
        evl_started(&l, "rs-pdb", t + i);
        /* while under way it holds a place and its owner's slot */
        ck_assert_int_eq(evl_check(&l, "rs-pdb", t + i), EVL_OWNER);
        evl_finished(&l, "rs-pdb", false, "pdb-pod", t + i);
    }
    for (int i = 0; i < 5; i++) {
        snprintf(owner, sizeof owner, "rs-%d", i);
        ck_assert_int_eq(evl_check(&l, owner, t + 100), EVL_OK);
        evl_started(&l, owner, t + 100);
    }
    /* five under way fill the window before any is answered */
    ck_assert_int_eq(evl_check(&l, "rs-z", t + 100), EVL_RATE);
    evl_finished(&l, "rs-0", false, "p0", t + 101);
    ck_assert_int_eq(evl_check(&l, "rs-z", t + 101), EVL_OK);
    evl_finished(&l, "never-started", true, "x", t + 101); /* harmless */
    ck_assert_str_eq(evl_verdict_name(EVL_RATE), "rate-limited");
    evl_cleanup(&l);
}
END_TEST

/* The owner's slot: from the request until the pod is gone and a pod of the
 * owner is Ready again (either order), or the settle timeout. */
START_TEST(test_evl_owner_settles)
{
    struct evlimit l;
    mb_mono_ms t = 100000;
    evl_init(&l, 100, 1, 300000);
    evl_started(&l, "rs-a", t);
    evl_finished(&l, "rs-a", true, "o1", t + 50);
    /* o1 evicted (201) but still terminating: o2 of the same owner waits */
    ck_assert_int_eq(evl_check(&l, "rs-a", t + 1000), EVL_OWNER);
    ck_assert(!evl_owner_ready(&l, "rs-a", "o1")); /* the evicted pod itself does not count */
    ck_assert(!evl_pod_gone(&l, "o1"));            /* gone, but no replacement Ready yet */
    ck_assert_int_eq(evl_check(&l, "rs-a", t + 4000), EVL_OWNER);
    ck_assert_int_eq(evl_check(&l, "rs-b", t + 4000), EVL_OK); /* other owners are free */
    ck_assert(evl_owner_ready(&l, "rs-a", "o3"));              /* the replacement is Ready */
    ck_assert_int_eq(evl_check(&l, "rs-a", t + 6000), EVL_OK);
    ck_assert_uint_eq(evl_held(&l), 0);
    /* Ready first (a Deployment's surge), then gone. */
    evl_started(&l, "rs-a", t + 7000);
    evl_finished(&l, "rs-a", true, "o2", t + 7000);
    ck_assert(!evl_owner_ready(&l, "rs-a", "o4"));
    ck_assert(evl_pod_gone(&l, "o2"));
    /* Neither ever comes (the owner is stuck): the settle timeout frees it. */
    evl_started(&l, "rs-a", t + 8000);
    evl_finished(&l, "rs-a", true, "o3", t + 8000);
    ck_assert_int_eq(evl_check(&l, "rs-a", t + 8000 + 299999), EVL_OWNER);
    ck_assert_int_eq(evl_check(&l, "rs-a", t + 8000 + 300000), EVL_OK);
    /* A pod without an owner is its own: gone is enough. */
    evl_started(&l, "solo-uid", t + 9000);
    evl_finished(&l, "solo-uid", true, "solo-uid", t + 9000);
    ck_assert_int_eq(evl_check(&l, "solo-uid", t + 9001), EVL_OWNER);
    ck_assert(evl_pod_gone(&l, "solo-uid"));
    ck_assert_uint_eq(evl_held(&l), 0);
    evl_cleanup(&l);
}
END_TEST

/* --- leak slope ------------------------------------------------------------------ */

START_TEST(test_leak_fit)
{
    double x[10], up[10], flat[10], noisy[10];
    for (int i = 0; i < 10; i++) {
        x[i] = 1e9 + i * 15000.0;        /* every 15 s */
        up[i] = 50 + i * 0.5;            /* +2 points per minute */
        flat[i] = 60 + (i % 2 ? 3 : -3); /* sawtooth, no trend */
        noisy[i] = 50 + i * 0.5 + (i % 3 == 0 ? 4 : -2);
    }
    struct leak_fit f;
    double mins;
    ck_assert(leak_fit(x, up, 10, &f));
    ck_assert_double_eq_tol(f.slope_per_min, 2.0, 1e-9);
    ck_assert_double_eq_tol(f.r2, 1.0, 1e-9);
    ck_assert_double_eq_tol(f.last, 54.5, 1e-9);
    ck_assert(leak_suspected(&f, 1.0, 95, &mins));
    ck_assert_double_eq_tol(mins, (95 - 54.5) / 2.0, 1e-9);
    ck_assert(!leak_suspected(&f, 3.0, 95, &mins)); /* below the minimum slope */
    ck_assert(leak_fit(x, flat, 10, &f));
    ck_assert(!leak_suspected(&f, 0.1, 95, &mins));
    ck_assert(leak_fit(x, noisy, 10, &f));
    ck_assert(f.r2 < 0.8 && !leak_suspected(&f, 0.1, 95, NULL));
    ck_assert(!leak_fit(x, up, 2, &f));
    double same[3] = {5, 5, 5};
    ck_assert(!leak_fit(same, up, 3, &f));
}
END_TEST

Suite *brk_suite(void)
{
    Suite *s = suite_create("breaker");
    TCase *tc = tcase_create("transitions");
    tcase_add_loop_test(tc, test_brk_rows, 0, (int)(sizeof ROWS / sizeof ROWS[0]));
    tcase_add_test(tc, test_brk_names_and_tiers);
    suite_add_tcase(s, tc);
    tc = tcase_create("limits");
    tcase_add_test(tc, test_evl_rate_and_owner);
    tcase_add_test(tc, test_evl_owner_settles);
    tcase_add_test(tc, test_leak_fit);
    suite_add_tcase(s, tc);
    return s;
}
