/* check_scrape.c -- the Prometheus text and expvar readers, with real Go
 * output and hostile input. */
#include <math.h>
#include <string.h>

#include "membudget/expvar.h"
#include "membudget/promtext.h"
#include "suites.h"

/* Trimmed from a real Go program's /metrics (client_golang). */
static const char GO_METRICS[] =
    "# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.\n"
    "# TYPE go_gc_duration_seconds summary\n"
    "go_gc_duration_seconds{quantile=\"0\"} 2.1e-05\n"
    "go_gc_duration_seconds{quantile=\"1\"} 0.000312\n"
    "go_gc_duration_seconds_sum 0.001\n"
    "go_gc_duration_seconds_count 12\n"
    "# HELP go_goroutines Number of goroutines that currently exist.\n"
    "# TYPE go_goroutines gauge\n"
    "go_goroutines 42\n"
    "# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.\n"
    "# TYPE go_memstats_heap_inuse_bytes gauge\n"
    "go_memstats_heap_inuse_bytes 1.2345678e+08\n"
    "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
    "# TYPE process_resident_memory_bytes gauge\n"
    "process_resident_memory_bytes 2.01326592e+08 1700000000000\r\n"
    "\n"
    "http_requests_total{code=\"200\",path=\"/a \\\"b\\\" \\\\ \\n\"} 1027\n";

START_TEST(test_prom_go_output)
{
    struct prom_want w[] = {{"go_memstats_heap_inuse_bytes", 0, false},
                            {"process_resident_memory_bytes", 0, false},
                            {"go_goroutines", 0, false},
                            {"absent_metric", 0, false}};
    struct mb_diag d = {0};
    ck_assert_msg(prom_scan(GO_METRICS, strlen(GO_METRICS), w, 4, &d) == MB_OK, "%s", d.msg);
    ck_assert(w[0].found && w[0].value == 123456780.0);
    ck_assert(w[1].found && w[1].value == 201326592.0);
    ck_assert(w[2].found && w[2].value == 42.0);
    ck_assert(!w[3].found);
}
END_TEST

/* Rows: an exposition and what the wanted metric "m" reads (or an error). */
static const struct {
    const char *text;
    bool ok;
    bool found;
    double value; /* NAN compared with isnan */
    const char *err;
} PROM[] = {
    {"m 1\n", true, true, 1, NULL},
    {"m 1", true, true, 1, NULL},                       /* no final newline */
    {"m -2.5e3 -1\n", true, true, -2500, NULL},         /* negative timestamp is an integer */
    {"m NaN\n", true, true, NAN, NULL},
    {"m +Inf\n", true, true, INFINITY, NULL},
    {"m -Inf\n", true, true, -INFINITY, NULL},
    {"m{} 3\n", true, true, 3, NULL},                   /* empty label set is no labels */
    {"m{a=\"1\"} 3\nm 4\n", true, true, 4, NULL},       /* labelled samples are not "m" */
    {"m 1\nm 2\n", true, true, 1, NULL},                /* the first wins */
    {"mm 1\nm_total 2\n", true, false, 0, NULL},        /* prefixes do not match */
    {"# TYPE m histogram\nm_bucket{le=\"+Inf\"} 1\nm_sum 5\nm_count 1\nm 9\n", true, false, 0,
     NULL},                                             /* a histogram family is never "m" */
    {"# TYPE m summary\nm 7\n", true, false, 0, NULL},
    {"  # indented comment\n\t\nm 5\n", true, true, 5, NULL},
    {"# random comment with { and \"\nm 6\n", true, true, 6, NULL},
    {"m 0x10\n", false, false, 0, "not a number"},
    {"m 1e\n", false, false, 0, "not a number"},
    {"m inf\n", false, false, 0, "not a number"},
    {"m\n", false, false, 0, "space before the value"},
    {"m 1 2 3\n", false, false, 0, "after the timestamp"},
    {"m 1 1.5\n", false, false, 0, "timestamp"},
    {"m{a=1} 1\n", false, false, 0, "quoted"},
    {"m{a=\"1\" 1\n", false, false, 0, "',' or '}'"},
    {"m{a=\"1} 1\n", false, false, 0, "unterminated"},
    {"m{a=\"\\x\"} 1\n", false, false, 0, "escape"},
    {"m{1a=\"x\"} 1\n", false, false, 0, "label name"},
    {"1m 1\n", false, false, 0, "metric name"},
    {"# TYPE m gauges\nm 1\n", false, false, 0, "unknown metric type"},
    {"m 1\ngarbage here\n", false, false, 0, "line 2"},  /* error after a found value */
};

START_TEST(test_prom_rows)
{
    struct prom_want w = {"m", -99, false};
    struct mb_diag d = {0};
    const char *t = PROM[_i].text;
    size_t len = strlen(t);
    mb_err e = prom_scan(t, len, &w, 1, &d);
    ck_assert_msg((e == MB_OK) == PROM[_i].ok, "row %d: %s", _i, d.msg);
    ck_assert_msg(w.found == PROM[_i].found, "row %d found", _i);
    if (PROM[_i].found) {
        if (isnan(PROM[_i].value))
            ck_assert(isnan(w.value));
        else
            ck_assert_msg(w.value == PROM[_i].value, "row %d: %g", _i, w.value);
    }
    if (PROM[_i].err)
        ck_assert_msg(strstr(d.msg, PROM[_i].err), "row %d: %s", _i, d.msg);
}
END_TEST

START_TEST(test_prom_nul)
{
    static const char T[] = "m 1\0\n";
    struct prom_want w = {"m", 0, false};
    struct mb_diag d = {0};
    ck_assert_int_eq(prom_scan(T, sizeof T - 1, &w, 1, &d), MB_EPARSE);
    ck_assert(strstr(d.msg, "NUL"));
    ck_assert(!w.found);
}
END_TEST

START_TEST(test_expvar)
{
    static const char GOOD[] =
        "{\"cmdline\":[\"/app\"],\"memstats\":{\"Alloc\":1,\"HeapAlloc\":104857600,"
        "\"HeapInuse\":115343360,\"Sys\":209715200,\"NumGC\":17,\"PauseNs\":[0,1]}}";
    struct expvar_mem m;
    struct mb_diag d = {0};
    ck_assert_int_eq(expvar_parse(GOOD, strlen(GOOD), &m, &d), MB_OK);
    ck_assert(m.has_heap_inuse && m.heap_inuse == 115343360);
    ck_assert(m.has_heap_alloc && m.heap_alloc == 104857600);
    ck_assert(m.has_sys && m.sys == 209715200);
    ck_assert(m.has_num_gc && m.num_gc == 17);

    static const char PARTIAL[] = "{\"memstats\":{\"HeapInuse\":-1,\"Sys\":\"big\",\"NumGC\":2.0}}";
    ck_assert_int_eq(expvar_parse(PARTIAL, strlen(PARTIAL), &m, &d), MB_OK);
    ck_assert(!m.has_heap_inuse && !m.has_sys && !m.has_heap_alloc);
    ck_assert(m.has_num_gc && m.num_gc == 2);

    static const char *const BAD[] = {"", "[]", "{\"memstats\":[]}", "{\"x\":1}", "{\"memstats\":",
                                      "<html>"};
    for (size_t i = 0; i < MB_ARRAY_LEN(BAD); i++) {
        struct expvar_mem keep = {.heap_inuse = 7};
        ck_assert_int_eq(expvar_parse(BAD[i], strlen(BAD[i]), &keep, &d), MB_EPARSE);
        ck_assert_uint_eq(keep.heap_inuse, 7); /* untouched */
        ck_assert(strstr(d.msg, "expvar"));
    }
}
END_TEST

Suite *scrape_suite(void)
{
    Suite *s = suite_create("scrape");
    TCase *tc = tcase_create("promtext");
    tcase_add_test(tc, test_prom_go_output);
    tcase_add_loop_test(tc, test_prom_rows, 0, (int)MB_ARRAY_LEN(PROM));
    tcase_add_test(tc, test_prom_nul);
    suite_add_tcase(s, tc);
    tc = tcase_create("expvar");
    tcase_add_test(tc, test_expvar);
    suite_add_tcase(s, tc);
    return s;
}
