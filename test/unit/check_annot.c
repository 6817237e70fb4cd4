/* check_annot.c -- every membudget.io annotation, good and hostile. */
#include <string.h>
#include "membudget/annot.h"
#include "suites.h"
#include "testutil.h"

/* Each row: annotations JSON -> the errors expected, as "key: msg-substring"
 * lines joined with '|', or "" for none. */
static const struct {
    const char *ann;
    const char *want;
} ROWS[] = {
    {"{}", ""},
    {"{\"other.io/x\":\"y\",\"membudget.io/budget\":\"768Mi\"}", ""},
    {"{\"membudget.io/budget\":\"12MiB\"}", "membudget.io/budget: \"12MiB\": unknown suffix"},
    {"{\"membudget.io/budget\":\"-1Gi\"}", "membudget.io/budget: must not be negative"},
    {"{\"membudget.io/budget\":\"0\"}", "membudget.io/budget: \"0\": must be greater than 0"},
    {"{\"membudget.io/budget\":512}", "membudget.io/budget: value must be a string"},
    {"{\"membudget.io/tiers\":\"gc=90,throttle=95\"}",
     "membudget.io/tiers: \"gc=90,throttle=95\": thresholds must increase throttle < gc < evict"},
    {"{\"membudget.io/tiers\":\"throttle=80, gc=90 ,evict=95\"}", ""},
    {"{\"membudget.io/tiers\":\"evict=95\"}", ""},
    {"{\"membudget.io/tiers\":\"gc=0\"}",
     "membudget.io/tiers: gc must be an integer percentage in (0, 100]"},
    {"{\"membudget.io/tiers\":\"gc=101\"}", "membudget.io/tiers: gc must be an integer percentage"},
    {"{\"membudget.io/tiers\":\"gc=9.5\"}", "membudget.io/tiers: gc must be an integer percentage"},
    {"{\"membudget.io/tiers\":\"gc=90,gc=91\"}", "membudget.io/tiers: tier gc is given twice"},
    {"{\"membudget.io/tiers\":\"oom=90\"}", "membudget.io/tiers: unknown tier \"oom\""},
    {"{\"membudget.io/tiers\":\"\"}", "membudget.io/tiers: expected NAME=PERCENT"},
    {"{\"membudget.io/tiers\":\"gc=90,\"}", "membudget.io/tiers: expected NAME=PERCENT"},
    {"{\"membudget.io/tiers\":\"throttle=90,evict=90\"}",
     "membudget.io/tiers: thresholds must increase"},
    {"{\"membudget.io/usage\":\"heap\"}",
     "membudget.io/usage: \"heap\": needs membudget.io/metrics"},
    {"{\"membudget.io/usage\":\"heap\",\"membudget.io/metrics\":\"6060/metrics\"}", ""},
    {"{\"membudget.io/usage\":\"rss\",\"membudget.io/metrics\":\"6060/debug/vars\"}",
     "membudget.io/usage: expvar (/debug/vars) has no resident set size"},
    {"{\"membudget.io/usage\":\"heap\",\"membudget.io/metrics\":\"6060/debug/vars\"}", ""},
    {"{\"membudget.io/usage\":\"working_set\"}",
     "membudget.io/usage: must be working-set, rss or heap"},
    {"{\"membudget.io/usage\":\"heap\",\"membudget.io/metrics\":\"x\"}",
     "membudget.io/metrics: expected PORT/PATH"},
    {"{\"membudget.io/metrics\":\"0/metrics\"}",
     "membudget.io/metrics: port must be a number 1-65535"},
    {"{\"membudget.io/metrics\":\"65536/metrics\"}",
     "membudget.io/metrics: port must be a number 1-65535"},
    {"{\"membudget.io/metrics\":\"99999999999999999999/m\"}",
     "membudget.io/metrics: port must be a number"},
    {"{\"membudget.io/metrics\":\"Debug/metrics\"}",
     "membudget.io/metrics: port must be a number 1-65535 or a port name"},
    {"{\"membudget.io/metrics\":\"http-debug/metrics\"}", ""},
    {"{\"membudget.io/metrics\":\"a--b/metrics\"}", "membudget.io/metrics: port must be"},
    {"{\"membudget.io/metrics\":\"6060/met rics\"}",
     "membudget.io/metrics: path has a character not allowed"},
    {"{\"membudget.io/metrics\":\"6060/m#x\"}",
     "membudget.io/metrics: path has a character not allowed"},
    {"{\"membudget.io/gc\":\"@evil.example.com:80/x\"}", "membudget.io/gc: port must be"},
    {"{\"membudget.io/gc\":\"/debug/gc\"}", "membudget.io/gc: expected PORT/PATH"},
    {"{\"membudget.io/profile\":\"6060/debug/pprof/heap?gc=1\"}", ""},
    {"{\"membudget.io/goroutines\":\"6060/debug/pprof/goroutine?debug=2\"}", ""},
    {"{\"membudget.io/memlimit\":\"6060/debug/memlimit\"}", ""},
    {"{\"membudget.io/memlimit\":\"/debug/memlimit\"}",
     "membudget.io/memlimit: expected PORT/PATH"},
    {"{\"membudget.io/goroutines\":\"x y/z\"}", "membudget.io/goroutines: port must be"},
    {"{\"membudget.io/throttle\":\"none\"}", ""},
    {"{\"membudget.io/throttle\":\"8080/throttle\"}", ""},
    {"{\"membudget.io/throttle\":\"sometimes\"}",
     "membudget.io/throttle: must be readiness, none or PORT/PATH"},
    {"{\"membudget.io/mode\":\"audit\"}",
     "membudget.io/mode: \"audit\": must be enforce or dry-run"},
    {"{\"membudget.io/baseline-every\":\"30m\"}", ""},
    {"{\"membudget.io/baseline-every\":\"1h30m15s\"}", ""},
    {"{\"membudget.io/baseline-every\":\"24h\"}", ""},
    {"{\"membudget.io/baseline-every\":\"59s\"}",
     "membudget.io/baseline-every: \"59s\": must be a duration from 1m to 24h"},
    {"{\"membudget.io/baseline-every\":\"24h1s\"}",
     "membudget.io/baseline-every: \"24h1s\": must be a duration from 1m to 24h"},
    {"{\"membudget.io/baseline-every\":\"30m1h\"}",
     "membudget.io/baseline-every: \"30m1h\": must be a duration"},
    {"{\"membudget.io/baseline-every\":\"1.5h\"}",
     "membudget.io/baseline-every: \"1.5h\": must be a duration"},
    {"{\"membudget.io/baseline-every\":\"000001h\"}",
     "membudget.io/baseline-every: \"000001h\": must be a duration"},
    {"{\"membudget.io/baseline-every\":\"\"}",
     "membudget.io/baseline-every: \"\": must be a duration"},
    {"{\"membudget.io/container\":\"API\"}", "membudget.io/container: not a container name"},
    {"{\"membudget.io/budgt\":\"1Gi\"}", "membudget.io/budgt: unknown annotation"},
    {"{\"membudget.io/budget\":\"1Gi\\u0000x\"}", "membudget.io/budget: value contains a NUL byte"},
    /* several problems at once: all of them are reported */
    {"{\"membudget.io/budget\":\"lots\",\"membudget.io/mode\":\"x\",\"membudget.io/gc\":\"1\"}",
     "membudget.io/budget: expected a number|membudget.io/mode: must be|membudget.io/gc: expected "
     "PORT/PATH"},
};

START_TEST(test_ann_rows)
{
    json_t *j = tu_json(ROWS[_i].ann);
    struct ann a;
    struct ann_errors e = {0};
    char want[512], *save = NULL;
    size_t nwant = 0;

    ann_parse(j, &a, &e);
    snprintf(want, sizeof want, "%s", ROWS[_i].want);
    for (char *w = strtok_r(want, "|", &save); w; w = strtok_r(NULL, "|", &save)) {
        char *colon = strstr(w, ": ");
        bool found = false;
        *colon = '\0';
        for (size_t k = 0; k < e.n; k++)
            if (!strcmp(e.v[k].key, w) && strstr(e.v[k].msg, colon + 2))
                found = true;
        ck_assert_msg(found, "row %d: no error %s: %s (got %zu, first: %s: %s)", _i, w, colon + 2,
                      e.n, e.n ? e.v[0].key : "", e.n ? e.v[0].msg : "");
        nwant++;
    }
    ck_assert_msg(e.n == nwant, "row %d: %zu errors, want %zu (first: %s)", _i, e.n, nwant,
                  e.n ? e.v[0].msg : "");
    ann_errors_cleanup(&e);
    json_decref(j);
}
END_TEST

START_TEST(test_ann_values)
{
    json_t *j = tu_json(
        "{\"membudget.io/budget\":\"1.5Gi\",\"membudget.io/container\":\"api\","
        "\"membudget.io/tiers\":\"evict=97,throttle=70\",\"membudget.io/usage\":\"heap\","
        "\"membudget.io/metrics\":\"metrics/metrics\",\"membudget.io/gc\":\"6060/debug/gc\","
        "\"membudget.io/throttle\":\"none\",\"membudget.io/mode\":\"dry-run\"}");
    struct ann a;
    struct ann_errors e = {0};

    ck_assert_uint_eq(ann_parse(j, &a, &e), 0);
    ck_assert(a.has_budget);
    ck_assert_int_eq(a.budget, 1610612736);
    ck_assert_str_eq(a.container, "api");
    ck_assert_uint_eq(a.tiers.throttle, 70);
    ck_assert_uint_eq(a.tiers.gc, 0);
    ck_assert_uint_eq(a.tiers.evict, 97);
    ck_assert_int_eq(a.usage, ANN_USAGE_HEAP);
    ck_assert_str_eq(a.metrics.port_name, "metrics");
    ck_assert_uint_eq(a.metrics.port, 0);
    ck_assert_str_eq(a.metrics.path, "/metrics");
    ck_assert_uint_eq(a.gc.port, 6060);
    ck_assert_str_eq(a.gc.path, "/debug/gc");
    ck_assert_int_eq(a.throttle, ANN_THROTTLE_NONE);
    ck_assert_int_eq(a.mode, ANN_MODE_DRY_RUN);
    ck_assert(!a.profile.set);
    json_decref(j);
}
END_TEST

START_TEST(test_ann_defaults)
{
    struct ann a;
    struct ann_errors e = {0};

    ck_assert_uint_eq(ann_parse(NULL, &a, &e), 0);
    ck_assert(!a.has_budget);
    ck_assert_int_eq(a.throttle, ANN_THROTTLE_READINESS);
    ck_assert_int_eq(a.mode, ANN_MODE_ENFORCE);
    ck_assert_int_eq(ann_effective_usage(&a), ANN_USAGE_WORKING_SET);
    a.metrics.set = true;
    ck_assert_int_eq(ann_effective_usage(&a), ANN_USAGE_RSS);
    json_t *notobj = tu_json("[1]");
    ck_assert_uint_eq(ann_parse(notobj, &a, &e), 1);
    ann_errors_cleanup(&e);
    json_decref(notobj);
}
END_TEST

START_TEST(test_ann_resolve)
{
    json_t *c = tu_json("{\"name\":\"api\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080},"
                        "{\"name\":\"dbg\",\"containerPort\":6060,\"protocol\":\"TCP\"},"
                        "{\"name\":\"dns\",\"containerPort\":53,\"protocol\":\"UDP\"}]}");
    struct ann_endpoint ep;
    char why[256];

    ck_assert(ann_parse_endpoint("dbg/metrics", &ep, why, sizeof why));
    ck_assert(ann_resolve_endpoint(&ep, c, "spec.containers[0].ports", why, sizeof why));
    ck_assert_uint_eq(ep.port, 6060);
    ck_assert(ann_parse_endpoint("8080/x", &ep, why, sizeof why));
    ck_assert(ann_resolve_endpoint(&ep, c, "spec.containers[0].ports", why, sizeof why));
    ck_assert(ann_parse_endpoint("9090/x", &ep, why, sizeof why));
    ck_assert(!ann_resolve_endpoint(&ep, c, "spec.containers[0].ports", why, sizeof why));
    ck_assert_msg(strstr(why, "port 9090 is not declared by container \"api\""), "%s", why);
    ck_assert(ann_parse_endpoint("nope/x", &ep, why, sizeof why));
    ck_assert(!ann_resolve_endpoint(&ep, c, "p", why, sizeof why));
    ck_assert_msg(strstr(why, "has no port named \"nope\""), "%s", why);
    ck_assert(ann_parse_endpoint("dns/x", &ep, why, sizeof why));
    ck_assert(!ann_resolve_endpoint(&ep, c, "p", why, sizeof why));
    ck_assert_str_eq(why, "port \"dns\" of container \"api\" is UDP, not TCP");
    ck_assert(ann_parse_endpoint("53/x", &ep, why, sizeof why));
    ck_assert(!ann_resolve_endpoint(&ep, c, "p", why, sizeof why));
    ck_assert_str_eq(why, "port 53 of container \"api\" is UDP, not TCP");
    json_decref(c);
}
END_TEST

START_TEST(test_ann_quote)
{
    char q[ANN_QUOTE_LEN], want[ANN_QUOTE_LEN];
    ck_assert_str_eq(ann_quote("a\"b\n", q), "\"a\\\"b\\u000a\"");
    /* 64 characters, then "...", whatever their escapes or UTF-8 take */
    ann_quote(
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        q);
    ck_assert_str_eq(q, "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...\"");
    char in[200] = "", *w = want;
    for (int i = 0; i < 70; i++)
        strcat(in, "\x01");
    *w++ = '"';
    for (int i = 0; i < 64; i++)
        w += sprintf(w, "\\u0001");
    strcpy(w, "...\"");
    ck_assert_str_eq(ann_quote(in, q), want);
    ck_assert_str_eq(ann_quote("\xc3\xa9\xc3\xa9", q), "\"\xc3\xa9\xc3\xa9\"");
    ck_assert(ann_is_dns_label("api-1"));
    ck_assert(!ann_is_dns_label("-api"));
    ck_assert(!ann_is_dns_label(""));
}
END_TEST

Suite *ann_suite(void)
{
    Suite *s = suite_create("ann");
    TCase *tc = tcase_create("annotations");

    tcase_add_loop_test(tc, test_ann_rows, 0, (int)MB_ARRAY_LEN(ROWS));
    tcase_add_test(tc, test_ann_values);
    tcase_add_test(tc, test_ann_defaults);
    tcase_add_test(tc, test_ann_resolve);
    tcase_add_test(tc, test_ann_quote);
    suite_add_tcase(s, tc);
    return s;
}
