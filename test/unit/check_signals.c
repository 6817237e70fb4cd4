/* check_signals.c -- the GC-thrash share (gcshare.h) and the budget
 * recommender's decaying histograms (recommend.h), as tables. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/err.h"
#include "membudget/jsonx.h"
#include "membudget/gcshare.h"
#include "membudget/recommend.h"
#include "suites.h"

/* --- GC share ------------------------------------------------------------------ */

#define MISS -1.0 /* the scrape had no counters: not fed */
#define END -2.0

/* Each row: pairs of (gc seconds, total seconds) scraped in turn, and the
 * trace: per pair, the result's first letter (s f r i n) and for a share
 * its percent, e.g. "f s25 s50". A missing pair is "-". */
static const struct {
    const char *name;
    double pairs[12][2];
    const char *want;
} GCS_ROWS[] = {
    {"steady quarter", {{1, 10}, {3.5, 20}, {6, 30}, {END, 0}}, "f s25 s25"},
    {"spiral", {{0, 100}, {2, 104}, {5.2, 108}, {8.8, 112}, {END, 0}}, "f s50 s80 s90"},
    /* a missed scrape: the next pair covers both intervals */
    {"gap", {{0, 0}, {1, 4}, {MISS, 0}, {9, 12}, {END, 0}}, "f s25 - s100"},
    /* the process restarted: counters start over, the first pair after is a baseline */
    {"reset", {{50, 200}, {60, 220}, {0.1, 2}, {1.1, 6}, {END, 0}}, "f s50 r s25"},
    {"gc reset only", {{5, 20}, {4, 30}, {6, 34}, {END, 0}}, "f r s50"},
    /* no CPU time passed: the baseline stays for the next pair */
    {"idle", {{1, 10}, {1, 10}, {2, 14}, {END, 0}}, "f i s25"},
    {"invalid", {{1, 10}, {NAN, 12}, {-0.5, 12}, {INFINITY, 1}, {3, 18}, {END, 0}}, "f n n n s25"},
    /* GC time beyond the total (rounding in the runtime): never above all of it */
    {"clamped", {{0, 0}, {5, 4}, {END, 0}}, "f s100"},
    {"zero gc", {{0, 0}, {0, 8}, {END, 0}}, "f s0"},
};

START_TEST(test_gcs_rows)
{
    struct gcs g = {0};
    char trace[200] = "";
    for (size_t i = 0; GCS_ROWS[_i].pairs[i][0] != END; i++) {
        char tok[16];
        double gc = GCS_ROWS[_i].pairs[i][0], total = GCS_ROWS[_i].pairs[i][1], share = -1;
        if (gc == MISS) {
            snprintf(tok, sizeof tok, "-");
        } else {
            enum gcs_result r = gcs_feed(&g, gc, total, &share);
            if (r == GCS_SHARE)
                snprintf(tok, sizeof tok, "s%.0f", share * 100);
            else
                snprintf(tok, sizeof tok, "%c", r == GCS_INVALID ? 'n' : gcs_result_name(r)[0]);
        }
        snprintf(trace + strlen(trace), sizeof trace - strlen(trace), "%s%s", *trace ? " " : "",
                 tok);
    }
    ck_assert_msg(!strcmp(trace, GCS_ROWS[_i].want), "%s: got \"%s\", want \"%s\"",
                  GCS_ROWS[_i].name, trace, GCS_ROWS[_i].want);
}
END_TEST

/* --- the recommender ------------------------------------------------------------ */

#define MIB (1024LL * 1024)

START_TEST(test_rc_quantile_of_uniform_peaks)
{
    /* 100 peaks of 401..500 MiB at one time: p95 is 495 MiB, within a bucket */
    struct rc_hist h = {0};
    for (int i = 1; i <= 100; i++)
        rc_hist_add(&h, (400 + i) * MIB, 1000, 3600);
    int64_t q;
    ck_assert(rc_hist_quantile(&h, 0.95, &q));
    ck_assert_msg(llabs(q - 495 * MIB) <= 12 * MIB, "p95 %lld MiB", (long long)(q / MIB));
    ck_assert(rc_hist_quantile(&h, 1.0, &q));
    ck_assert_msg(q >= 500 * MIB && q <= 512 * MIB, "max %lld MiB", (long long)(q / MIB));
    ck_assert_uint_eq(h.peaks, 100);
    struct rc_hist none = {0};
    ck_assert(!rc_hist_quantile(&none, 0.95, &q));
}
END_TEST

/* Old peaks lose weight by half per half-life: 20 peaks at 900 MiB long ago
 * and 20 at 300 MiB now. Rows: the age of the old peaks in half-lives, and
 * whether p95 still sees them. */
static const struct {
    unsigned halflives;
    bool old_counts;
} DECAY_ROWS[] = {
    {0, true},  /* same age: half the peaks are 900 MiB */
    {2, true},  /* weight 1/4: 5 of 25 equivalent peaks, still above 5% */
    {5, false}, /* weight 1/32: under 5% of the weight */
    {20, false},
};

START_TEST(test_rc_decay)
{
    const uint32_t hl = 3600;
    struct rc_hist h = {0};
    for (int i = 0; i < 20; i++)
        rc_hist_add(&h, 900 * MIB, 100, hl);
    uint32_t now = 100 + DECAY_ROWS[_i].halflives * hl;
    for (int i = 0; i < 20; i++)
        rc_hist_add(&h, 300 * MIB, now, hl);
    int64_t q;
    ck_assert(rc_hist_quantile(&h, 0.95, &q));
    if (DECAY_ROWS[_i].old_counts)
        ck_assert_msg(q > 800 * MIB, "%u half-lives: p95 %lld MiB", DECAY_ROWS[_i].halflives,
                      (long long)(q / MIB));
    else
        ck_assert_msg(q < 350 * MIB, "%u half-lives: p95 %lld MiB", DECAY_ROWS[_i].halflives,
                      (long long)(q / MIB));
}
END_TEST

START_TEST(test_rc_range_follows_the_data)
{
    struct rc_hist h = {0};
    rc_hist_add(&h, 10 * MIB, 0, 60);
    unsigned s0 = h.scale;
    rc_hist_add(&h, 5000 * MIB, 0, 60); /* the range doubles up to it, merging buckets */
    ck_assert_uint_gt(h.scale, s0);
    int64_t q;
    ck_assert(rc_hist_quantile(&h, 1.0, &q));
    ck_assert_int_ge(q, 5000 * MIB);
    /* a long time later, both are gone; small peaks bring the range back down */
    for (int i = 0; i < 5; i++)
        rc_hist_add(&h, 20 * MIB, 60 * 40 + (uint32_t)i, 60);
    ck_assert_uint_le(h.scale, s0 + 1);
    ck_assert(rc_hist_quantile(&h, 0.95, &q));
    ck_assert_msg(q >= 20 * MIB && q <= 22 * MIB, "p95 %lld", (long long)q);
    /* many peaks in one bucket never overflow its 16 bits */
    struct rc_hist full = {0};
    for (int i = 0; i < 100000; i++)
        rc_hist_add(&full, 64 * MIB, (uint32_t)(i / 10), 86400);
    ck_assert(rc_hist_quantile(&full, 0.5, &q));
    ck_assert(q >= 63 * MIB && q <= 67 * MIB);
    ck_assert_uint_eq(full.peaks, UINT16_MAX);
}
END_TEST

START_TEST(test_rc_window)
{
    struct rc_window w = {0};
    int64_t peak = 0, rss = 0;
    const uint64_t win = 60000;
    ck_assert(!rc_window_feed(&w, 100, 900, 0, win, &peak, &rss));
    ck_assert(!rc_window_feed(&w, 300, 0, 15000, win, &peak, &rss)); /* RSS unknown here */
    ck_assert(!rc_window_feed(&w, 200, 1200, 59999, win, &peak, &rss));
    ck_assert(
        rc_window_feed(&w, 50, 0, 60000, win, &peak, &rss)); /* closes: the peaks were 300, 1200 */
    ck_assert_int_eq(peak, 300);
    ck_assert_int_eq(rss, 1200);
    ck_assert(!rc_window_feed(&w, 70, 0, 90000, win, &peak, &rss));
    ck_assert(
        rc_window_feed(&w, 10, 0, 400000, win, &peak, &rss)); /* a long gap: one window's peak */
    ck_assert_int_eq(peak, 70);
    ck_assert_int_eq(rss, 0); /* no RSS in that window */
}
END_TEST

/* Recommendation rows: n peaks (MiB) `spacing` seconds apart, with the
 * process's RSS at each (MiB, 0 unknown), the post-GC floor (MiB, 0 none),
 * margin and evict threshold, asked at the last peak -> the status, budget
 * and limit (MiB) and what decided the budget. Window 300 s: 12 windows are
 * an hour of history. */
static const struct {
    const char *what;
    int n, peak, rss;
    bool heap;
    unsigned spacing;
    int floor;
    unsigned margin, evict;
    enum rc_status st;
    long long budget, limit;
    enum rc_basis basis;
} REC_ROWS[] = {
    {"p95 + 15%, limit = budget / 95%", 6, 500, 0, false, 1000, 0, 15, 95, RC_OK, 575, 606,
     RC_BASIS_PEAKS},
    {"five peaks: too few", 5, 500, 0, false, 1000, 0, 15, 95, RC_FEW_PEAKS, 0, 0, 0},
    {"six replicas' peaks in one window: too little history", 6, 500, 0, false, 0, 0, 15, 95,
     RC_SHORT_HISTORY, 0, 0, 0},
    {"six peaks over 55 minutes: too little history", 6, 500, 0, false, 600, 0, 15, 95,
     RC_SHORT_HISTORY, 0, 0, 0},
    {"the post-GC floor is above the peaks", 6, 400, 0, false, 1000, 600, 15, 95, RC_OK, 690, 727,
     RC_BASIS_GC_FLOOR},
    {"no margin, evict off: limit = budget", 6, 1000, 0, false, 1000, 0, 0, 0, RC_OK, 1000, 1000,
     RC_BASIS_PEAKS},
    {"margin 50%, evict 80%", 6, 256, 0, false, 1000, 0, 50, 80, RC_OK, 384, 480, RC_BASIS_PEAKS},
    {"the demo's Go service: heap 1Mi, RSS 9Mi: the minimum, never 2Mi", 6, 1, 9, true, 1000, 0, 15,
     95, RC_OK, 16, 17, RC_BASIS_MINIMUM},
    {"a heap budget: the RSS at the peaks is the floor (GOMEMLIMIT counts all of it)", 6, 100, 140,
     true, 1000, 0, 15, 95, RC_OK, 161, 170, RC_BASIS_RSS},
    {"a heap budget, RSS unknown: the heap's p95", 6, 100, 0, true, 1000, 0, 15, 95, RC_OK, 115,
     122, RC_BASIS_PEAKS},
    {"an RSS or working-set budget: its own peaks (an RSS beside them is not a floor)", 6, 100, 140,
     false, 1000, 0, 15, 95, RC_OK, 115, 122, RC_BASIS_PEAKS},
};

START_TEST(test_rc_recommend)
{
    struct rc_conf c = {.margin_pct = REC_ROWS[_i].margin, .half_life_s = 86400, .window_s = 300};
    struct rc_table *t = rc_new();
    struct rc_owner *o = rc_owner(t, "shop", "Deployment", "web");
    struct rc_current cur = {.budget = 512 * MIB,
                             .limit = 1024 * MIB,
                             .evict_pct = REC_ROWS[_i].evict,
                             .counts_heap = REC_ROWS[_i].heap};
    uint32_t now = 10000;
    o->cur = cur;
    for (int i = 0; i < REC_ROWS[_i].n; i++) {
        now = 10000 + (uint32_t)i * REC_ROWS[_i].spacing;
        rc_peak(o, &c, REC_ROWS[_i].peak * MIB, REC_ROWS[_i].rss * MIB, now);
    }
    if (REC_ROWS[_i].floor)
        rc_floor(o, &c, REC_ROWS[_i].floor * MIB, now);
    struct rc_rec r;
    enum rc_status st = rc_recommend(o, &c, now, &r);
    ck_assert_msg(st == REC_ROWS[_i].st, "%s: status %d", REC_ROWS[_i].what, (int)st);
    ck_assert_uint_eq(r.peaks, (unsigned)REC_ROWS[_i].n);
    ck_assert_uint_eq(r.history_s, (REC_ROWS[_i].n - 1) * REC_ROWS[_i].spacing + 300);
    ck_assert_uint_eq(r.need_s, 3600);
    if (st == RC_OK) {
        /* p95 is read within its bucket (1/24 of a range twice the
         * values at most: never below, at most 1/12 above), then the margin */
        long long b = r.budget / MIB, w = REC_ROWS[_i].budget;
        long long slack =
            REC_ROWS[_i].basis == RC_BASIS_MINIMUM || REC_ROWS[_i].basis == RC_BASIS_GC_FLOOR
                ? 0
                : w / 12 + 1;
        ck_assert_msg(b >= w && b <= w + slack, "%s: budget %lld MiB, want %lld..%lld",
                      REC_ROWS[_i].what, b, w, w + slack);
        long long want_limit = REC_ROWS[_i].evict
                                   ? (r.budget * 100 / REC_ROWS[_i].evict + MIB - 1) / MIB
                                   : r.budget / MIB;
        ck_assert_int_eq(r.limit / MIB, want_limit);
        ck_assert_int_eq(r.budget % MIB, 0);
        ck_assert_msg(r.basis == REC_ROWS[_i].basis, "%s: basis %s", REC_ROWS[_i].what,
                      rc_basis_name(r.basis));
        ck_assert(r.budget >= RC_MIN_BUDGET);
    }
    rc_free(t);
}
END_TEST

START_TEST(test_rc_table)
{
    struct rc_conf c = {.margin_pct = 15, .half_life_s = 100};
    struct rc_table *t = rc_new();
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "app-%d", i);
        rc_peak(rc_owner(t, "ns", "Deployment", name), &c, (i + 1) * MIB, 0,
                (uint32_t)(i < 500 ? 0 : 1000));
    }
    ck_assert_uint_eq(rc_count(t), 1000);
    ck_assert_ptr_eq(rc_owner(t, "ns", "Deployment", "app-7"),
                     rc_find(t, "ns", "Deployment", "app-7"));
    ck_assert_ptr_null(rc_find(t, "ns", "StatefulSet", "app-7"));
    size_t before = rc_bytes(t);
    /* the first 500 had their last peak at 0: older than 500 s at 1000 */
    ck_assert_uint_eq(rc_expire(t, 1000, 500, NULL, NULL), 500);
    ck_assert_uint_eq(rc_count(t), 500);
    ck_assert_uint_lt(rc_bytes(t), before);
    ck_assert_ptr_null(rc_find(t, "ns", "Deployment", "app-7"));
    ck_assert_ptr_nonnull(rc_find(t, "ns", "Deployment", "app-700"));
    size_t pos = 0, n = 0;
    while (rc_next(t, &pos))
        n++;
    ck_assert_uint_eq(n, 500);
    rc_free(t);
}
END_TEST

/* A checkpoint read back on another replica, whose monotonic clock is
 * another (here 9000 s behind, an hour later on the wall): the same
 * recommendation, the times where they were on the wall. Then what a bad
 * checkpoint is told. */
START_TEST(test_rc_checkpoint)
{
    struct rc_conf c = {.margin_pct = 15, .half_life_s = 86400, .window_s = 300};
    struct rc_table *t = rc_new(), *u = rc_new();
    struct rc_owner *o = rc_owner(t, "shop", "Deployment", "web");
    o->cur = (struct rc_current){512 * MIB, 1024 * MIB, 95, true};
    uint32_t now = 20000;
    for (int i = 0; i < 20; i++, now += 300)
        rc_peak(o, &c, (300 + 7 * (i % 5)) * MIB, (340 + i) * MIB, now);
    rc_floor(o, &c, 280 * MIB, now);
    struct rc_rec a, b;
    ck_assert_int_eq(rc_recommend(o, &c, now, &a), RC_OK);
    int64_t wall = 1795000000;
    json_t *j = rc_checkpoint(o, now, wall);
    char *text = mb_json_dumps(j, JSON_COMPACT, NULL);
    ck_assert_uint_lt(strlen(text), 1024);
    json_t *back = json_loads(text, 0, NULL);
    char err[200] = "";
    uint32_t later = now - 9000 + 3600; /* the other replica, an hour on */
    struct rc_owner *r = rc_restore(u, &c, back, 1, later, wall + 3600, err, sizeof err);
    ck_assert_msg(r, "%s", err);
    ck_assert_int_eq(rc_recommend(r, &c, later, &b), RC_OK);
    ck_assert_int_eq(b.budget, a.budget);
    ck_assert_int_eq(b.limit, a.limit);
    ck_assert_int_eq(b.basis, a.basis);
    ck_assert_uint_eq(b.peaks, a.peaks);
    ck_assert_uint_eq(b.history_s, a.history_s + 3600);
    ck_assert_uint_eq(r->last_s, o->last_s - 9000);
    ck_assert_int_eq(r->cur.evict_pct, 95);
    ck_assert(r->cur.counts_heap);
    ck_assert_uint_eq(r->saved, r->changes); /* read back: nothing new to write */
    /* a time before the other replica's zero is its zero */
    struct rc_table *v = rc_new();
    r = rc_restore(v, &c, back, 1, 100, wall, err, sizeof err);
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(r->first_s, 0);
    rc_free(v);
    static const struct {
        const char *key, *value, *says;
    } BAD[] = {
        {"v", "2", "not a version 1 checkpoint"},
        {"name", "\"\"", "namespace, kind and name"},
        {"first", "-1", "first, last, floor"},
        {"current", "{\"budget\":1,\"limit\":2,\"evictPercent\":101,\"countsHeap\":true}",
         "evictPercent 0..100"},
        {"peaks", "{\"scale\":3,\"ref\":1,\"n\":1,\"w\":[]}", "peaks: not a histogram"},
        {"rss",
         "{\"scale\":20,\"ref\":1,\"n\":1,\"w\":[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,"
         "70000]}",
         "rss: weight 23 is not 0..65535"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(BAD); i++) {
        json_t *bad = json_deep_copy(back);
        json_object_set_new(bad, BAD[i].key, json_loads(BAD[i].value, JSON_DECODE_ANY, NULL));
        ck_assert_ptr_null(rc_restore(u, &c, bad, 2, later, wall, err, sizeof err));
        ck_assert_msg(strstr(err, BAD[i].says), "%s: %s", BAD[i].key, err);
        json_decref(bad);
    }
    ck_assert_uint_eq(rc_count(u), 1);
    mb_free(text);
    json_decref(j);
    json_decref(back);
    rc_free(t);
    rc_free(u);
}
END_TEST

/* A checkpoint read while the owner's pods were already being sampled (a
 * new leader whose list of checkpoints is retried): the peaks of both
 * count, the current values stay the live ones, a checkpoint is due again,
 * and a page read twice in one session counts once. */
START_TEST(test_rc_restore_merges_live_samples)
{
    struct rc_conf c = {.margin_pct = 10, .half_life_s = 86400, .window_s = 300};
    struct rc_table *t = rc_new(), *u = rc_new();
    struct rc_owner *o = rc_owner(t, "shop", "Deployment", "web");
    uint32_t now = 20000;
    int64_t wall = 1795000000;
    char err[200] = "";

    o->cur = (struct rc_current){512 * MIB, 1024 * MIB, 95, false};
    for (int i = 0; i < 10; i++, now += 300)
        rc_peak(o, &c, 300 * MIB, 0, now);
    json_t *cp = rc_checkpoint(o, now, wall);

    /* the new leader: ten peaks of 600 MiB sampled before the checkpoint is read */
    struct rc_owner *live = rc_owner(u, "shop", "Deployment", "web");
    live->cur = (struct rc_current){768 * MIB, 1024 * MIB, 95, false};
    uint32_t t2 = 50000;
    for (int i = 0; i < 10; i++, t2 += 300)
        rc_peak(live, &c, 600 * MIB, 0, t2);
    uint32_t changes = live->changes;
    struct rc_owner *r = rc_restore(u, &c, cp, 7, t2, wall + 30, err, sizeof err);
    ck_assert_msg(r == live, "%s", err);
    ck_assert_uint_eq(r->h.peaks, 20);
    ck_assert_int_eq(r->cur.budget, 768 * MIB); /* the live value */
    ck_assert_uint_ne(r->changes, changes);     /* merged: to be checkpointed again */
    ck_assert_uint_ne(r->saved, r->changes);
    int64_t p50;
    ck_assert(rc_hist_quantile(&r->h, 0.5, &p50));
    ck_assert_msg(p50 > 250 * MIB && p50 < 650 * MIB, "p50 %lld MiB", (long long)(p50 / MIB));
    int64_t p95;
    ck_assert(rc_hist_quantile(&r->h, 0.95, &p95));
    ck_assert_msg(p95 >= 580 * MIB, "p95 %lld MiB: the live 600 MiB peaks count",
                  (long long)(p95 / MIB));
    /* the same page again in session 7: nothing added */
    r = rc_restore(u, &c, cp, 7, t2, wall + 30, err, sizeof err);
    ck_assert_uint_eq(r->h.peaks, 20);
    /* into an owner with nothing sampled: the checkpoint as it is */
    struct rc_table *v = rc_new();
    r = rc_restore(v, &c, cp, 8, t2, wall + 30, err, sizeof err);
    ck_assert_uint_eq(r->h.peaks, 10);
    ck_assert_uint_eq(r->saved, r->changes);
    rc_free(v);
    json_decref(cp);
    rc_free(t);
    rc_free(u);
}
END_TEST

/* rc_hist_merge: the older histogram decays to the newer's reference, the
 * narrower grows to the wider range; weights add up. */
START_TEST(test_rc_hist_merge)
{
    struct rc_hist a = {0}, b = {0}, both = {0};
    const uint32_t hl = 1000;

    for (int i = 0; i < 8; i++) {
        rc_hist_add(&a, 10 * MIB, 100, hl);
        rc_hist_add(&both, 10 * MIB, 100, hl);
    }
    for (int i = 0; i < 8; i++) {
        rc_hist_add(&b, 900 * MIB, 100, hl);
        rc_hist_add(&both, 900 * MIB, 100, hl);
    }
    rc_hist_merge(&a, &b, hl);
    ck_assert_uint_eq(a.peaks, 16);
    int64_t qa, qb;
    ck_assert(rc_hist_quantile(&a, 0.95, &qa));
    ck_assert(rc_hist_quantile(&both, 0.95, &qb));
    ck_assert_msg(qa == qb, "merged p95 %lld, added together %lld", (long long)qa, (long long)qb);
    /* an empty one changes nothing; into an empty one copies */
    struct rc_hist e = {0}, copy = a;
    rc_hist_merge(&a, &e, hl);
    ck_assert_mem_eq(&a, &copy, sizeof a);
    rc_hist_merge(&e, &a, hl);
    ck_assert_mem_eq(&e, &a, sizeof a);
    /* a half-life older: its peaks weigh half */
    struct rc_hist old = {0}, young = {0};
    rc_hist_add(&old, 10 * MIB, 0, hl);
    rc_hist_add(&young, 900 * MIB, hl, hl);
    rc_hist_merge(&young, &old, hl);
    int64_t q;
    ck_assert(rc_hist_quantile(&young, 0.34, &q));
    ck_assert_msg(q > 100 * MIB, "q34 %lld MiB: the old peak weighs a third of the whole",
                  (long long)(q / MIB));
}
END_TEST

Suite *signals_suite(void)
{
    Suite *s = suite_create("signals");
    TCase *tc = tcase_create("gcshare");
    tcase_add_loop_test(tc, test_gcs_rows, 0, (int)(sizeof GCS_ROWS / sizeof GCS_ROWS[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("recommend");
    tcase_add_test(tc, test_rc_quantile_of_uniform_peaks);
    tcase_add_loop_test(tc, test_rc_decay, 0, (int)(sizeof DECAY_ROWS / sizeof DECAY_ROWS[0]));
    tcase_add_test(tc, test_rc_range_follows_the_data);
    tcase_add_test(tc, test_rc_window);
    tcase_add_loop_test(tc, test_rc_recommend, 0, (int)(sizeof REC_ROWS / sizeof REC_ROWS[0]));
    tcase_add_test(tc, test_rc_table);
    tcase_add_test(tc, test_rc_checkpoint);
    tcase_add_test(tc, test_rc_restore_merges_live_samples);
    tcase_add_test(tc, test_rc_hist_merge);
    suite_add_tcase(s, tc);
    return s;
}
