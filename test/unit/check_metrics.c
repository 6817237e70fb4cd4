/* check_metrics.c -- Prometheus text rendering, the series cap, the arena. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/metrics.h"
#include "suites.h"

static char *render(struct mx *m)
{
    struct mb_buf b;
    mb_buf_init(&b, 64 << 20);
    ck_assert_int_eq(mx_render(m, &b), MB_OK);
    return mb_buf_take(&b);
}

START_TEST(test_mx_counter_gauge_text)
{
    struct mx *m = mx_new();
    static const char *const L[] = {"endpoint", "result"};
    struct mx_family *c = mx_counter(m, "t_requests_total", "Requests.", 2, L);
    struct mx_family *g = mx_gauge(m, "t_open", "Open.", 0, NULL);
    const char *v1[] = {"validate", "denied"}, *v2[] = {"mutate", "a\"b\\c\nd"};
    char *t;

    mx_add(c, v1, 1);
    mx_add(c, v1, 2);
    mx_add(c, v2, 1);
    mx_set(g, NULL, 1.5);
    ck_assert(mx_value(c, v1) == 3);
    t = render(m);
    ck_assert_msg(strstr(t, "# HELP t_requests_total Requests.\n# TYPE t_requests_total counter\n"),
                  "%s", t);
    ck_assert(strstr(t, "t_requests_total{endpoint=\"validate\",result=\"denied\"} 3\n"));
    ck_assert_msg(strstr(t, "t_requests_total{endpoint=\"mutate\",result=\"a\\\"b\\\\c\\nd\"} 1\n"),
                  "%s", t);
    ck_assert(strstr(t, "# TYPE t_open gauge\nt_open 1.5\n"));
    mb_free(t);
    mx_delete(c, v1);
    t = render(m);
    ck_assert_ptr_null(strstr(t, "result=\"denied\""));
    mb_free(t);
    mx_free(m);
}
END_TEST

START_TEST(test_mx_histogram_text)
{
    struct mx *m = mx_new();
    static const double B[] = {0.001, 0.01, 0.1};
    static const char *const L[] = {"endpoint"};
    struct mx_family *h = mx_histogram(m, "t_seconds", "Latency.", 1, L, B, 3);
    const char *v[] = {"validate"};
    char *t;

    mx_observe(h, v, 0.0005);
    mx_observe(h, v, 0.005);
    mx_observe(h, v, 0.005);
    mx_observe(h, v, 5);
    t = render(m);
    ck_assert_msg(strstr(t, "t_seconds_bucket{endpoint=\"validate\",le=\"0.001\"} 1\n"
                            "t_seconds_bucket{endpoint=\"validate\",le=\"0.01\"} 3\n"
                            "t_seconds_bucket{endpoint=\"validate\",le=\"0.1\"} 3\n"
                            "t_seconds_bucket{endpoint=\"validate\",le=\"+Inf\"} 4\n"
                            "t_seconds_sum{endpoint=\"validate\"} 5.0105\n"
                            "t_seconds_count{endpoint=\"validate\"} 4\n"),
                  "%s", t);
    mb_free(t);
    mx_free(m);
}
END_TEST

static void count_overflow(void *ctx, const char *family, size_t limit)
{
    int *calls = ctx;
    ck_assert_str_eq(family, "t_usage");
    ck_assert_uint_eq(limit, 1000);
    (*calls)++;
}

START_TEST(test_mx_series_cap)
{
    struct mx *m = mx_new();
    static const char *const L[] = {"pod"};
    struct mx_family *g;
    char name[32];
    const char *v[] = {name};
    int calls = 0;

    mx_set_series_limit(m, 1000);
    mx_on_overflow(m, count_overflow, &calls);
    g = mx_gauge(m, "t_usage", "Usage.", 1, L);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 1000 + 5; i++) {
            snprintf(name, sizeof name, "pod-%d", i);
            mx_set(g, v, i);
        }
    }
    ck_assert_uint_eq(mx_series_count(g), 1000);
    ck_assert_int_eq(calls, 1); /* one log line, not one per sample */
    char *t = render(m);
    ck_assert(strstr(t, "membudget_metrics_series_dropped_total{metric=\"t_usage\"} 10\n"));
    ck_assert(strstr(t, "t_usage{pod=\"pod-999\"} 999\n"));
    ck_assert_ptr_null(strstr(t, "pod-1000\""));
    mb_free(t);
    mx_free(m);
    /* with a limit of 1, three families overflow: the dropped counter
     * keeps a series for each (it is bounded by the families) */
    m = mx_new();
    mx_set_series_limit(m, 1);
    static const char *const FAM[] = {"t_a", "t_b", "t_c"};
    for (size_t i = 0; i < 3; i++) {
        g = mx_gauge(m, FAM[i], "F.", 1, L);
        for (int k = 0; k < 2; k++) {
            snprintf(name, sizeof name, "pod-%d", k);
            mx_set(g, v, k);
        }
    }
    t = render(m);
    for (size_t i = 0; i < 3; i++) {
        char want[96];
        snprintf(want, sizeof want, "membudget_metrics_series_dropped_total{metric=\"%s\"} 1\n",
                 FAM[i]);
        ck_assert_msg(strstr(t, want), "%s", t);
    }
    mb_free(t);
    mx_free(m);
}
END_TEST

/* 100k series (one per pod): every update finds its own series, deletes
 * keep the others reachable, and the text lists each exactly once. */
START_TEST(test_mx_many_series)
{
    struct mx *m = mx_new();
    static const char *const L[] = {"namespace", "pod"};
    struct mx_family *g = mx_gauge(m, "t_ratio", "Ratio.", 2, L);
    char name[32];
    const char *v[] = {"shop", name};
    enum { N = 100000 };

    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i++) {
            snprintf(name, sizeof name, "p-%d", i);
            mx_set(g, v, i + round);
        }
    }
    ck_assert_uint_eq(mx_series_count(g), N);
    for (int i = 0; i < N; i += 2) {
        snprintf(name, sizeof name, "p-%d", i);
        mx_delete(g, v);
    }
    ck_assert_uint_eq(mx_series_count(g), N / 2);
    for (int i = 0; i < N; i++) {
        snprintf(name, sizeof name, "p-%d", i);
        ck_assert(mx_value(g, v) == (i % 2 ? i + 1 : 0));
    }
    char *t = render(m);
    ck_assert(strstr(t, "t_ratio{namespace=\"shop\",pod=\"p-99999\"} 100000\n"));
    ck_assert_ptr_null(strstr(t, "pod=\"p-99998\""));
    size_t lines = 0;
    for (const char *c = t; (c = strstr(c, "t_ratio{")); c++)
        lines++;
    ck_assert_uint_eq(lines, N / 2);
    mb_free(t);
    mx_free(m);
}
END_TEST

/* Label values are escaped as the text format wants, in every series kind. */
START_TEST(test_mx_label_escaping)
{
    struct mx *m = mx_new();
    static const char *const L[] = {"v"};
    static const double B[] = {1};
    const char *v[] = {"a\"b\\c\nd"};
    char *t;

    mx_add(mx_counter(m, "t_c", "C.", 1, L), v, 1);
    mx_observe(mx_histogram(m, "t_h", "H.", 1, L, B, 1), v, 0.5);
    t = render(m);
    ck_assert_msg(strstr(t, "t_c{v=\"a\\\"b\\\\c\\nd\"} 1\n"), "%s", t);
    ck_assert_msg(strstr(t, "t_h_bucket{v=\"a\\\"b\\\\c\\nd\",le=\"1\"} 1\n"), "%s", t);
    mb_free(t);
    mx_free(m);
}
END_TEST

START_TEST(test_mx_render_cap)
{
    struct mx *m = mx_new();
    struct mb_buf b;

    mx_set(mx_gauge(m, "t_x", "X.", 0, NULL), NULL, 1);
    mb_buf_init(&b, 16);
    ck_assert_int_eq(mx_render(m, &b), MB_ETOOBIG);
    mb_buf_cleanup(&b);
    mx_free(m);
}
END_TEST

START_TEST(test_arena)
{
    struct mb_arena a;
    void *p, *q, *big;

    mb_arena_init(&a, 1024);
    p = mb_arena_alloc(&a, 10);
    q = mb_arena_alloc(&a, 10);
    ck_assert_uint_eq((uintptr_t)p % 16, 0);
    ck_assert_uint_eq((uintptr_t)q % 16, 0);
    ck_assert(mb_arena_owns(&a, p) && mb_arena_owns(&a, q));
    big = mb_arena_alloc(&a, 5000); /* larger than a chunk: a chunk of its own */
    memset(big, 1, 5000);
    ck_assert(mb_arena_owns(&a, big));
    int local;
    ck_assert(!mb_arena_owns(&a, &local));
    mb_arena_reset(&a);
    ck_assert(!mb_arena_owns(&a, big)); /* the extra chunk is gone */
    p = mb_arena_alloc(&a, 100);
    ck_assert(mb_arena_owns(&a, p));
    mb_arena_cleanup(&a);
    mb_arena_cleanup(&a);

    /* jansson values made in a scope live in the arena */
    mb_arena_init(&a, 4096);
    mb_json_arena_begin(&a);
    json_t *j = json_pack("{s:[i,i]}", "x", 1, 2);
    ck_assert(mb_arena_owns(&a, j));
    json_decref(j);
    mb_json_arena_end();
    mb_arena_reset(&a);
    j = json_object(); /* outside the scope: the heap */
    ck_assert(!mb_arena_owns(&a, j));
    json_decref(j);
    mb_arena_cleanup(&a);
}
END_TEST

/* A heap value freed inside a scope goes back to the heap (ASan and
 * valgrind see a leak otherwise); many small values use few chunks. */
START_TEST(test_arena_scope_mixed_and_many)
{
    struct mb_arena a;
    json_t *heap = json_pack("{s:s}", "k", "a string on the heap");
    json_t *many;
    json_error_t e;
    struct mb_buf b;

    mb_arena_init(&a, 1024);
    mb_json_arena_begin(&a);
    json_decref(heap);
    mb_buf_init(&b, 1u << 20);
    mb_buf_adds(&b, "[");
    for (int i = 0; i < 100000; i++)
        mb_buf_adds(&b, i ? ",{}" : "{}");
    mb_buf_adds(&b, "]");
    many = json_loadb(mb_buf_str(&b), b.len, 0, &e);
    ck_assert_ptr_nonnull(many);
    ck_assert_uint_eq(json_array_size(many), 100000);
    ck_assert(mb_arena_owns(&a, many));
    json_decref(many);
    mb_json_arena_end();
    /* doubling chunks: a few MiB in about a dozen chunks, not thousands */
    ck_assert_uint_le(mb_arena_nchunks(&a), 16);
    mb_arena_reset(&a);
    ck_assert_uint_eq(mb_arena_nchunks(&a), 1);
    mb_buf_cleanup(&b);
    mb_arena_cleanup(&a);
    ck_assert_uint_eq(mb_arena_nchunks(&a), 0);
}
END_TEST

/* Writers on several threads and a scrape at the same time (ThreadSanitizer
 * checks this in make tsan): every update is counted, none is lost. */
struct hammer {
    struct mx_family *c, *g;
    int id;
};

static void *hammer_run(void *arg)
{
    struct hammer *h = arg;
    char pod[32];
    const char *v[] = {pod};
    for (int i = 0; i < 20000; i++) {
        snprintf(pod, sizeof pod, "p-%d-%d", h->id, i % 500);
        mx_add(h->c, v, 1);
        mx_set(h->g, v, i);
        if (i % 1000 == 999)
            mx_delete(h->g, v);
    }
    return NULL;
}

START_TEST(test_mx_threads)
{
    struct mx *m = mx_new();
    static const char *const L[] = {"pod"};
    struct hammer h[4];
    pthread_t t[4];
    double total = 0;
    char pod[32];
    const char *v[] = {pod};

    struct mx_family *c = mx_counter(m, "t_c", "C.", 1, L), *g = mx_gauge(m, "t_g", "G.", 1, L);
    for (int i = 0; i < 4; i++) { /* all four write the same families */
        h[i] = (struct hammer){c, g, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, hammer_run, &h[i]), 0);
    }
    for (int k = 0; k < 5; k++)
        mb_free(render(m)); /* scrapes while they write */
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 500; k++) {
            snprintf(pod, sizeof pod, "p-%d-%d", i, k);
            total += mx_value(h[0].c, v);
        }
    ck_assert(total == 4 * 20000);
    mx_free(m);
}
END_TEST

Suite *mx_suite(void)
{
    Suite *s = suite_create("mx");
    TCase *tc = tcase_create("metrics");

    tcase_add_test(tc, test_mx_counter_gauge_text);
    tcase_add_test(tc, test_mx_histogram_text);
    tcase_add_test(tc, test_mx_series_cap);
    tcase_add_test(tc, test_mx_many_series);
    tcase_add_test(tc, test_mx_threads);
    tcase_set_timeout(tc, 120); /* 100k series under valgrind or ThreadSanitizer */
    tcase_add_test(tc, test_mx_label_escaping);
    tcase_add_test(tc, test_mx_render_cap);
    tcase_add_test(tc, test_arena);
    tcase_add_test(tc, test_arena_scope_mixed_and_many);
    suite_add_tcase(s, tc);
    return s;
}
