/* check_seams.c -- the shell modules through their I/O seam (kapi_new_ops,
 * test/fakes): the reflector's backoff against a misbehaving API server,
 * the sampler's per-pod schedule with a hung pod, the gate queue, and the
 * executor carrying out plans (owner slots, one profile, PDB retries).
 * No network; timers are a few milliseconds of the real loop at most, and
 * nothing asserts on elapsed time. */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "fakes.h"
#include "membudget/alloc.h"
#include "membudget/config.h"
#include "membudget/controller.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/podcall.h"
#include "membudget/reflector.h"
#include "suites.h"

/* Run the loop until `cond` holds, at most `turns` times. */
#define RUN_UNTIL(lp, cond, turns)                                                  \
    do {                                                                            \
        for (int t_ = 0; t_ < (turns) && !(cond); t_++)                             \
            event_base_loop(loop_base(lp), EVLOOP_ONCE | EVLOOP_NONBLOCK);          \
        for (int t_ = 0; t_ < (turns) && !(cond); t_++)                             \
            event_base_loop(loop_base(lp), EVLOOP_ONCE);                            \
    } while (0)

/* --- the reflector against a misbehaving server ------------------------------- */

static void sk_nop(void *ctx)
{
    (void)ctx;
}

static void sk_item(void *ctx, const json_t *o)
{
    (void)o;
    (*(int *)ctx)++;
}

static void sk_event(void *ctx, enum kobj_ev t, const json_t *o)
{
    (void)t;
    (void)o;
    (*(int *)ctx)++;
}

static const struct reflector_sink SINK = {sk_nop, sk_item, sk_nop, sk_event, sk_nop};

static const char EMPTY_LIST[] = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"5\"},"
                                 "\"items\":[]}";

/* Answer the list in flight, then the watch the reflector starts. */
static struct fk_req *list_then_watch(struct fake_kapi *f, struct loop *lp)
{
    struct fk_req *l = NULL;
    RUN_UNTIL(lp, (l = fake_kapi_find(f, "limit=")), 200);
    ck_assert_msg(l, "no list request");
    fake_kapi_answer(l, 200, EMPTY_LIST);
    struct fk_req *w = fake_kapi_find(f, "watch=1");
    ck_assert_msg(w, "no watch after the list");
    return w;
}

START_TEST(test_reflector_paces_410_and_short_watches)
{
    struct loop *lp;
    struct fake_kapi f;
    struct fake_clock fc;
    int seen = 0;
    ck_assert_int_eq(loop_new(&lp, NULL), MB_OK);
    fake_kapi_init(&f);
    fake_clock_init(&fc, 1000000, 1795000000000LL);
    struct reflector_conf rc = {.name = "pods", .path = "/api/v1/pods", .backoff_base_ms = 4,
                                .backoff_max_ms = 64};
    struct reflector *r = reflector_new(lp, &fc.clk, f.k, NULL, &rc, &SINK, &seen);
    reflector_start(r);

    /* A server that answers every watch with 410: the first relists at
     * once (as client-go), every one after it waits, longer and longer up
     * to the cap. */
    struct fk_req *w = list_then_watch(&f, lp);
    fake_kapi_answer(w, 410, "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}");
    ck_assert_uint_eq(reflector_waiting_ms(r), 0);
    ck_assert_ptr_nonnull(fake_kapi_find(&f, "limit=")); /* relisted at once */
    uint64_t prev = 0, most = 0;
    for (int i = 0; i < 8; i++) {
        w = list_then_watch(&f, lp);
        fake_kapi_answer(w, 410, "");
        uint64_t d = reflector_waiting_ms(r);
        ck_assert_msg(d >= 2, "410 #%d relisted without waiting", i + 2);
        ck_assert_msg(d <= 64, "410 #%d waits %llu ms, over the cap", i + 2, (unsigned long long)d);
        ck_assert_ptr_null(fake_kapi_find(&f, "limit=")); /* nothing before the timer */
        most = d > most ? d : most;
        prev = d;
    }
    ck_assert_uint_ge(most, 32); /* it grew (equal jitter: at least half of 64) */
    (void)prev;

    /* A watch that the server ends at once with 200 and nothing in it:
     * paced too, not resumed in a tight loop. */
    w = list_then_watch(&f, lp);
    fake_kapi_answer(w, 200, "");
    ck_assert_uint_gt(reflector_waiting_ms(r), 0);
    struct fk_req *again = NULL;
    RUN_UNTIL(lp, (again = fake_kapi_find(&f, "watch=1")), 200);
    ck_assert_ptr_nonnull(again);

    /* A healthy watch (events, and it lasted): ended by the server, it is
     * resumed at once, and the backoff starts over. */
    fake_kapi_stream(again, "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
                            "{\"name\":\"a\",\"namespace\":\"x\",\"resourceVersion\":\"9\"}}}\n");
    fake_clock_advance(&fc, 300000);
    fake_kapi_answer(again, 200, "");
    ck_assert_uint_eq(reflector_waiting_ms(r), 0);
    w = fake_kapi_find(&f, "watch=1");
    ck_assert_ptr_nonnull(w);
    ck_assert_msg(strstr(w->path, "resourceVersion=9"), "%s", w->path);
    /* and a 410 now (after a healthy watch) relists at once again */
    fake_kapi_answer(w, 410, "");
    ck_assert_uint_eq(reflector_waiting_ms(r), 0);
    ck_assert_ptr_nonnull(fake_kapi_find(&f, "limit="));
    ck_assert_int_eq(seen, 1);

    reflector_free(r);
    fake_kapi_cleanup(&f);
    loop_free(lp);
}
END_TEST

/* A failed list answer of any size is read for its Status; a list page
 * larger than the page limit is refused (kapi's cap) and retried paced. */
START_TEST(test_reflector_list_errors_paced)
{
    struct loop *lp;
    struct fake_kapi f;
    struct fake_clock fc;
    int seen = 0;
    ck_assert_int_eq(loop_new(&lp, NULL), MB_OK);
    fake_kapi_init(&f);
    fake_clock_init(&fc, 1000000, 1795000000000LL);
    struct reflector_conf rc = {.name = "pods", .path = "/api/v1/pods", .backoff_base_ms = 4,
                                .backoff_max_ms = 64, .max_page_bytes = 1 << 20};
    struct reflector *r = reflector_new(lp, &fc.clk, f.k, NULL, &rc, &SINK, &seen);
    reflector_start(r);
    struct fk_req *l = NULL;
    RUN_UNTIL(lp, (l = fake_kapi_find(&f, "limit=")), 200);
    fake_kapi_fail(l, MB_ETOOBIG, "response larger than the configured maximum");
    ck_assert_uint_gt(reflector_waiting_ms(r), 0);
    ck_assert_ptr_null(fake_kapi_find(&f, "limit="));
    RUN_UNTIL(lp, (l = fake_kapi_find(&f, "limit=")), 200);
    ck_assert_ptr_nonnull(l);
    fake_kapi_answer(l, 500, "{\"kind\":\"Status\",\"code\":500,\"message\":\"etcd down\"}");
    ck_assert_uint_gt(reflector_waiting_ms(r), 0);
    ck_assert(!reflector_synced(r));
    reflector_free(r);
    fake_kapi_cleanup(&f);
    loop_free(lp);
}
END_TEST

Suite *seams_suite(void)
{
    Suite *s = suite_create("seams");
    TCase *tc = tcase_create("reflector");
    tcase_add_test(tc, test_reflector_paces_410_and_short_watches);
    tcase_add_test(tc, test_reflector_list_errors_paced);
    suite_add_tcase(s, tc);
    return s;
}
