/* check_scrape.c -- the Prometheus text, expvar and metrics API list
 * readers, with real output and hostile input. */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/expvar.h"
#include "membudget/podmetrics.h"
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
    {"m 1", true, true, 1, NULL},               /* no final newline */
    {"m -2.5e3 -1\n", true, true, -2500, NULL}, /* negative timestamp is an integer */
    {"m NaN\n", true, true, NAN, NULL},
    {"m +Inf\n", true, true, INFINITY, NULL},
    {"m -Inf\n", true, true, -INFINITY, NULL},
    {"m{} 3\n", true, true, 3, NULL},             /* empty label set is no labels */
    {"m{a=\"1\"} 3\nm 4\n", true, true, 4, NULL}, /* labelled samples are not "m" */
    {"m 1\nm 2\n", true, true, 1, NULL},          /* the first wins */
    {"mm 1\nm_total 2\n", true, false, 0, NULL},  /* prefixes do not match */
    {"# TYPE m histogram\nm_bucket{le=\"+Inf\"} 1\nm_sum 5\nm_count 1\nm 9\n", true, false, 0,
     NULL}, /* a histogram family is never "m" */
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
    {"m 1\ngarbage here\n", false, false, 0, "line 2"}, /* error after a found value */
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

    static const char *const BAD[] = {
        "", "[]", "{\"memstats\":[]}", "{\"x\":1}", "{\"memstats\":", "<html>"};
    for (size_t i = 0; i < MB_ARRAY_LEN(BAD); i++) {
        struct expvar_mem keep = {.heap_inuse = 7};
        ck_assert_int_eq(expvar_parse(BAD[i], strlen(BAD[i]), &keep, &d), MB_EPARSE);
        ck_assert_uint_eq(keep.heap_inuse, 7); /* untouched */
        ck_assert(strstr(d.msg, "expvar"));
    }
}
END_TEST

/* --- the metrics API's PodMetricsList ------------------------------------------ */

/* As metrics-server answers (two pods; the second with a sidecar). */
static const char PM_REAL[] =
    "{\"kind\":\"PodMetricsList\",\"apiVersion\":\"metrics.k8s.io/v1beta1\",\"metadata\":{},"
    "\"items\":[{\"metadata\":{\"name\":\"api-7d9f\",\"namespace\":\"shop\","
    "\"creationTimestamp\":\"2026-11-23T10:00:00Z\",\"labels\":{\"app\":\"api\"}},"
    "\"timestamp\":\"2026-11-23T09:59:51Z\",\"window\":\"10.5s\",\"containers\":[{\"name\":\"app\","
    "\"usage\":{\"cpu\":\"2041961n\",\"memory\":\"104868Ki\"}}]},\n"
    " {\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\"},\"timestamp\":\"2026-11-23T09:59:"
    "52Z\","
    "\"window\":\"15.005s\",\"containers\":[{\"name\":\"istio-proxy\",\"usage\":{\"cpu\":\"3m\","
    "\"memory\":\"40Mi\"}},{\"name\":\"web\",\"usage\":{\"cpu\":\"0\",\"memory\":\"1.5Gi\"}}]}]}";

static void pm_want_str(struct pm_str s, const char *want)
{
    if (!want) {
        ck_assert_msg(s.p == NULL, "want absent, got \"%.*s\"", (int)s.len, s.p);
        return;
    }
    ck_assert_msg(s.p && s.len == strlen(want) && !memcmp(s.p, want, s.len),
                  "want \"%s\", got \"%.*s\"", want, s.p ? (int)s.len : 6, s.p ? s.p : "absent");
}

START_TEST(test_pm_real)
{
    struct pm_list l;
    struct mb_diag d = {0};
    ck_assert_int_eq(pm_parse(PM_REAL, strlen(PM_REAL), &l, &d), MB_OK);
    ck_assert_uint_eq(l.nitems, 2);
    pm_want_str(l.items[0].ns, "shop");
    pm_want_str(l.items[0].name, "api-7d9f");
    ck_assert_uint_eq(l.items[0].n, 1);
    pm_want_str(l.containers[l.items[0].first].name, "app");
    pm_want_str(l.containers[l.items[0].first].memory, "104868Ki");
    pm_want_str(l.items[1].name, "web-1");
    ck_assert_uint_eq(l.items[1].n, 2);
    pm_want_str(l.containers[l.items[1].first + 1].name, "web");
    pm_want_str(l.containers[l.items[1].first + 1].memory, "1.5Gi");
    ck_assert(pm_str_eq(l.items[1].ns, "shop") && !pm_str_eq(l.items[1].ns, "sho"));
    pm_list_free(&l);
}
END_TEST

/* Valid lists with oddities: one item, read as namespace/name and its
 * containers as name=memory (absent: "-"). */
static const struct {
    const char *in, *ns, *name, *containers;
} PM_ODD[] = {
    {"{\"items\":[{\"metadata\":{\"namespace\":\"a\",\"name\":\"p\\u002d1\"},\"containers\":[]}]}",
     "a", "p-1", ""},
    {"{\"items\":[{\"metadata\":{\"namespace\":\"a\",\"name\":\"caf\\u00e9 "
     "\\ud83d\\ude00\\n\\\"\\\\\\/\"}}]}",
     "a", "caf\xc3\xa9 \xf0\x9f\x98\x80\n\"\\/", ""},
    /* escaped member names are names too */
    {"{\"it\\u0065ms\":[{\"m\\u0065tadata\":{\"namespace\":\"a\",\"name\":\"b\"}}]}", "a", "b", ""},
    /* duplicate keys: the last wins, at every level */
    {"{\"items\":[{\"metadata\":{\"name\":\"x\",\"name\":\"y\",\"namespace\":\"n\"},"
     "\"containers\":[{\"name\":\"c\",\"usage\":{\"memory\":\"1\"}}],"
     "\"containers\":[{\"name\":\"d\",\"usage\":{\"memory\":\"1\",\"memory\":\"2\"}}]}]}",
     "n", "y", "d=2"},
    {"{\"items\":[{\"metadata\":{\"namespace\":\"n\",\"name\":\"old\"}}],"
     "\"items\":[{\"metadata\":{\"namespace\":\"n\",\"name\":\"new\"}}]}",
     "n", "new", ""},
    {"{\"items\":[{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"metadata\":{\"name\":\"q\"}}"
     "]}",
     NULL, "q", ""},
    /* fields of another type count as absent; unknown members of any shape are skipped */
    {"{\"items\":[{\"metadata\":{\"namespace\":7,\"name\":[\"p\"]},\"containers\":[{\"name\":null,"
     "\"usage\":{\"memory\":1024}},{\"name\":\"c\",\"usage\":\"1Gi\"},\"junk\",{\"name\":\"e\","
     "\"usage\":{\"memory\":\"5Mi\"}}],\"x\":{\"y\":[1,-2.5e+3,0.0,true,false,null,{}]}}]}",
     NULL, NULL, "-=-,c=-,e=5Mi"},
    {" \r\n\t{ \"items\" : [ { \"metadata\" : { \"namespace\" : \"n\" , \"name\" : \"p\" } , "
     "\"containers\" : [ { \"name\" : \"c\" , \"usage\" : { \"memory\" : \"1\" } } ] } ] } \n",
     "n", "p", "c=1"},
};

static void pm_render(const struct pm_list *l, const struct pm_item *it, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t k = it->first; k < it->first + it->n; k++) {
        const struct pm_container *c = &l->containers[k];
        o +=
            (size_t)snprintf(out + o, cap - o, "%s%.*s=%.*s", o ? "," : "",
                             c->name.p ? (int)c->name.len : 1, c->name.p ? c->name.p : "-",
                             c->memory.p ? (int)c->memory.len : 1, c->memory.p ? c->memory.p : "-");
    }
}

START_TEST(test_pm_odd)
{
    struct pm_list l;
    struct mb_diag d = {0};
    char got[256];
    const char *in = PM_ODD[_i].in;
    ck_assert_msg(pm_parse(in, strlen(in), &l, &d) == MB_OK, "%s: %s", in, d.msg);
    ck_assert_uint_eq(l.nitems, 1);
    pm_want_str(l.items[0].ns, PM_ODD[_i].ns);
    pm_want_str(l.items[0].name, PM_ODD[_i].name);
    pm_render(&l, &l.items[0], got, sizeof got);
    ck_assert_str_eq(got, PM_ODD[_i].containers);
    pm_list_free(&l);
}
END_TEST

/* Malformed lists: refused whole, with what is wrong and where; jansson
 * refuses each of them too (or finds no items array). */
static const struct {
    const char *in;
    size_t len; /* 0: strlen */
    const char *msg;
} PM_BAD[] = {
    {"", 0, "empty body at byte 0"},
    {"[]", 0, "not a JSON object at byte 0"},
    {"{}", 0, "no \"items\" array"},
    {"{\"items\":{}}", 0, "no \"items\" array"},
    {"{\"items\":[]} x", 0, "trailing data after the object at byte 13"},
    {"{\"items\":[{\"metadata\":{\"name\":\"p\"}}", 0, "expected ',' or ']' at byte 35"},
    {"{\"items\":[{\"metadata\":{\"name\":\"p}}]}", 0, "unterminated string"},
    {"{\"items\":[{\"metadata\":{\"name\":\"p\xff\"}}]}", 0,
     "invalid UTF-8 in a string at byte 32"},
    {"{\"items\":[{\"x\":\"\xc0\xaf\"}]}", 0, "invalid UTF-8"},         /* overlong '/' */
    {"{\"items\":[{\"x\":\"\xed\xa0\x80\"}]}", 0, "invalid UTF-8"},     /* a surrogate */
    {"{\"items\":[{\"x\":\"\xf4\x90\x80\x80\"}]}", 0, "invalid UTF-8"}, /* past U+10FFFF */
    {"{\"items\":[{\"x\":\"a\\u0000b\"}]}", 0, "\\u0000 in a string"},
    {"{\"items\":[{\"x\":\"\\ud800x\"}]}", 0, "unpaired surrogate"},
    {"{\"items\":[{\"x\":\"\\udc00\"}]}", 0, "invalid \\u escape"},
    {"{\"items\":[{\"x\":\"\\u12\"}]}", 0, "invalid \\u escape"},
    {"{\"items\":[{\"x\":\"\\q\"}]}", 0, "invalid escape"},
    {"{\"items\":[{\"x\":\"a\tb\"}]}", 0, "control character in a string"},
    {"{\"items\":[{\"x\":\"a\0b\"}]}", 24, "control character in a string"},
    {"{\"items\":[{\"x\":01}]}", 0, "expected ',' or '}'"},
    {"{\"items\":[{\"x\":1.}]}", 0, "invalid number"},
    {"{\"items\":[{\"x\":-}]}", 0, "invalid value"},
    {"{\"items\":[{\"x\":1e}]}", 0, "invalid number"},
    {"{\"items\":[{\"x\":+1}]}", 0, "invalid value"},
    {"{\"items\":[{\"x\":tru}]}", 0, "invalid value"},
    {"{\"items\":[{\"x\":nul}]}", 0, "invalid value"},
    {"{\"items\":[{\"x\":1,}]}", 0, "expected a member name"},
    {"{\"items\":[1,]}", 0, "invalid value"},
    {"{\"items\" [1]}", 0, "expected ':'"},
    {"{'items':[]}", 0, "expected a member name at byte 1"},
    {"<html>502 Bad Gateway</html>", 0, "not a JSON object"},
};

START_TEST(test_pm_bad)
{
    struct pm_list l = {.nitems = 99};
    struct mb_diag d = {0};
    const char *in = PM_BAD[_i].in;
    size_t len = PM_BAD[_i].len ? PM_BAD[_i].len : strlen(in);
    ck_assert_int_eq(pm_parse(in, len, &l, &d), MB_EPARSE);
    ck_assert_uint_eq(l.nitems, 0);
    ck_assert_ptr_null(l.items);
    ck_assert_msg(strstr(d.msg, PM_BAD[_i].msg), "row %d: \"%s\" lacks \"%s\"", _i, d.msg,
                  PM_BAD[_i].msg);
    ck_assert(strstr(d.msg, "metrics API list: "));
    json_t *j = json_loadb(in, len, 0, NULL);
    ck_assert_msg(!json_is_array(json_object_get(j, "items")), "row %d: jansson accepts it", _i);
    json_decref(j);
}
END_TEST

/* A NUL byte between tokens is refused (jansson passes over it). */
START_TEST(test_pm_nul_between_tokens)
{
    static const char IN[] = "{\"items\":[null\0]}";
    struct pm_list l;
    struct mb_diag d = {0};
    ck_assert_int_eq(pm_parse(IN, sizeof IN - 1, &l, &d), MB_EPARSE);
    ck_assert_msg(strstr(d.msg, "expected ',' or ']' at byte 14"), "%s", d.msg);
}
END_TEST

/* Nesting is bounded (no stack exhaustion), at PM_MAX_DEPTH. */
START_TEST(test_pm_deep)
{
    size_t n = 100000, len = 0;
    char *b = mb_xmalloc(2 * n + 32);
    struct pm_list l;
    struct mb_diag d = {0};
    len += (size_t)sprintf(b, "{\"items\":[{\"x\":");
    for (size_t i = 0; i < n; i++)
        b[len++] = '[';
    for (size_t i = 0; i < n; i++)
        b[len++] = ']';
    len += (size_t)sprintf(b + len, "}]}");
    ck_assert_int_eq(pm_parse(b, len, &l, &d), MB_EPARSE);
    ck_assert_msg(strstr(d.msg, "nested too deep"), "%s", d.msg);
    /* just under the bound is fine */
    len = (size_t)sprintf(b, "{\"items\":[{\"x\":");
    for (size_t i = 0; i < PM_MAX_DEPTH - 3; i++)
        b[len++] = '[';
    for (size_t i = 0; i < PM_MAX_DEPTH - 3; i++)
        b[len++] = ']';
    len += (size_t)sprintf(b + len, "}]}");
    ck_assert_msg(pm_parse(b, len, &l, &d) == MB_OK, "%s", d.msg);
    ck_assert_uint_eq(l.nitems, 1);
    pm_list_free(&l);
    mb_free(b);
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
    tc = tcase_create("podmetrics");
    tcase_add_test(tc, test_pm_real);
    tcase_add_loop_test(tc, test_pm_odd, 0, (int)MB_ARRAY_LEN(PM_ODD));
    tcase_add_loop_test(tc, test_pm_bad, 0, (int)MB_ARRAY_LEN(PM_BAD));
    tcase_add_test(tc, test_pm_deep);
    tcase_add_test(tc, test_pm_nul_between_tokens);
    suite_add_tcase(s, tc);
    return s;
}
