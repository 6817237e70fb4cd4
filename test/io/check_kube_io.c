/* check_kube_io.c -- the API client and the writers against a real kubesim:
 * TLS with the cluster CA (and a wrong CA refused), token file re-read,
 * response cap, Events aggregation, Evictions with PDBs. The library runs
 * in-process on its own loop; kubesim is a child process. */
#include <check.h>
#include <event2/event.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "membudget/alloc.h"
#include "membudget/certgen.h"
#include "membudget/kapi.h"
#include "membudget/loop.h"
#include "membudget/recorder.h"
#include "suites.h"
#include "testutil.h"

static char dir[256], server[128];
static pid_t sim = -1;
static struct certgen_pair ca, leaf;
static struct loop *lp;

static void write_file(const char *name, const char *text)
{
    tu_write_file(dir, name, text);
}

static void start_sim(bool tls)
{
    char addrf[512], cert[512], key[512], script[512], logp[512];
    const char *src = getenv("MB_SRCDIR") ? getenv("MB_SRCDIR") : ".";
    snprintf(addrf, sizeof addrf, "%s/addr", dir);
    snprintf(cert, sizeof cert, "%s/tls.crt", dir);
    snprintf(key, sizeof key, "%s/tls.key", dir);
    snprintf(script, sizeof script, "%s/test/kubesim/kubesim", src);
    snprintf(logp, sizeof logp, "%s/sim.log", dir);
    unlink(addrf);
    sim = fork();
    ck_assert_int_ge(sim, 0);
    if (sim == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_WRONLY);
        dup2(fd, 2);
        dup2(null, 1);
        if (tls)
            execl(script, script, "--listen", "127.0.0.1:0", "--address-file", addrf,
                  "--tls-cert-file", cert, "--tls-private-key-file", key, "--kubelet-delay",
                  "0.01", (char *)NULL);
        else
            execl(script, script, "--listen", "127.0.0.1:0", "--address-file", addrf,
                  "--kubelet-delay", "0.01", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        FILE *f = fopen(addrf, "r");
        if (f) {
            char a[100] = "";
            if (fgets(a, sizeof a, f)) {
                a[strcspn(a, "\n")] = '\0';
                snprintf(server, sizeof server, "%s://%s", tls ? "https" : "http", a);
            }
            fclose(f);
            if (server[0])
                return;
        }
        usleep(25000);
    }
    ck_abort_msg("kubesim did not start (see %s)", logp);
}

static void setup_common(bool tls)
{
    const char *dns[] = {"localhost"}, *ips[] = {"127.0.0.1"};
    struct mb_diag d = {0};
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/mb-kio-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(certgen_ca("kubesim-ca", 1, &ca, &d), MB_OK);
    ck_assert_int_eq(certgen_serving(&ca, "localhost", dns, 1, ips, 1, 1, &leaf, &d), MB_OK);
    write_file("tls.crt", leaf.cert_pem);
    write_file("tls.key", leaf.key_pem);
    server[0] = '\0';
    start_sim(tls);
    ck_assert_int_eq(loop_new(&lp, LOOP_CLIENT, &d), MB_OK);
}

static void setup_http(void)
{
    setup_common(false);
}

static void setup_tls(void)
{
    setup_common(true);
}

static void teardown(void)
{
    char cmd[400];
    if (sim > 0) {
        kill(sim, SIGKILL);
        waitpid(sim, NULL, 0);
        sim = -1;
    }
    loop_free(lp);
    lp = NULL;
    certgen_pair_cleanup(&ca);
    certgen_pair_cleanup(&leaf);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
}

/* --- synchronous helpers over the async client --------------------------------- */

struct result {
    bool done;
    mb_err err;
    long status;
    char *body;
};

static void on_done(void *ctx, const struct kapi_resp *r)
{
    struct result *res = ctx;
    res->done = true;
    res->err = r->err;
    res->status = r->status;
    res->body = mb_xstrdup(r->body);
    loop_stop(lp);
}

/* Run the loop until *flag or 15 s. */
static void run_until(bool *flag)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (!*flag) {
        event_base_loop(loop_base(lp), EVLOOP_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &t);
        ck_assert_msg(t.tv_sec - t0.tv_sec < 15, "timed out waiting for the API");
    }
}

static struct result call(struct kapi *k, const char *method, const char *path, const char *ctype,
                          const char *body)
{
    struct result r = {0};
    struct kapi_req req = {.method = method,
                           .path = path,
                           .content_type = ctype,
                           .body = body,
                           .body_len = body ? strlen(body) : 0};
    kapi_submit(k, &req, on_done, &r);
    run_until(&r.done);
    return r;
}

static json_t *call_json(struct kapi *k, const char *method, const char *path, const char *body,
                         long want)
{
    struct result r = call(k, method, path, NULL, body);
    ck_assert_msg(r.err == MB_OK && r.status == want, "%s %s: %d %ld %s", method, path, r.err,
                  r.status, r.body);
    json_t *j = tu_json(r.body);
    mb_free(r.body);
    return j;
}

static struct kapi *client(const struct kapi_conf *extra)
{
    struct kapi_conf c = extra ? *extra : (struct kapi_conf){0};
    struct kapi *k = NULL;
    struct mb_diag d = {0};
    c.server = server;
    if (!c.user_agent)
        c.user_agent = "membudget-test";
    ck_assert_msg(kapi_new(lp, clock_system(), &c, &k, &d) == MB_OK, "%s", d.msg);
    return k;
}

/* --- kapi ------------------------------------------------------------------------- */

START_TEST(test_kapi_tls_ca)
{
    struct kapi_conf good = {.ca_pem = ca.cert_pem};
    struct kapi *k = client(&good);
    json_t *v = call_json(k, "GET", "/version", NULL, 200);
    ck_assert_str_eq(json_string_value(json_object_get(v, "gitVersion")), "v1.33.0-kubesim");
    json_decref(v);
    kapi_free(k);

    /* Another CA: the server is not trusted. */
    struct certgen_pair other;
    struct mb_diag d = {0};
    ck_assert_int_eq(certgen_ca("someone-else", 1, &other, &d), MB_OK);
    struct kapi_conf bad = {.ca_pem = other.cert_pem};
    k = client(&bad);
    struct result r = call(k, "GET", "/version", NULL, NULL);
    ck_assert_int_eq(r.err, MB_EIO);
    ck_assert_int_eq(r.status, 0);
    mb_free(r.body);
    kapi_free(k);
    certgen_pair_cleanup(&other);
}
END_TEST

static char *last_token(struct kapi *k)
{
    json_t *j = call_json(k, "GET", "/_sim/requests", NULL, 200);
    json_t *items = json_object_get(j, "items");
    /* The last logged request before this one. */
    json_t *it = json_array_get(items, json_array_size(items) - 1);
    char *t = mb_xstrdup(json_string_value(json_object_get(it, "token")));
    json_decref(j);
    return t;
}

START_TEST(test_kapi_token_file_reread)
{
    char tok[512];
    snprintf(tok, sizeof tok, "%s/token", dir);
    write_file("token", "first-token\n");
    struct kapi_conf c = {.token_file = tok};
    struct kapi *k = client(&c);
    json_decref(call_json(k, "GET", "/api", NULL, 200));
    char *t = last_token(k);
    ck_assert_str_eq(t, "first-token");
    mb_free(t);
    sleep(1); /* mtime granularity and the 1 s re-check */
    usleep(200000);
    write_file("token", "rotated-token");
    json_decref(call_json(k, "GET", "/api", NULL, 200));
    t = last_token(k);
    ck_assert_str_eq(t, "rotated-token");
    mb_free(t);
    kapi_free(k);
}
END_TEST

START_TEST(test_kapi_response_cap_and_errors)
{
    struct kapi_conf c = {.max_response = 100};
    struct kapi *k = client(&c);
    struct result r = call(k, "GET", "/apis", NULL, NULL);
    ck_assert_int_eq(r.err, MB_ETOOBIG);
    mb_free(r.body);
    kapi_free(k);
    k = client(NULL);
    r = call(k, "GET", "/api/v1/namespaces/nope/pods/x", NULL, NULL);
    ck_assert_int_eq(r.err, MB_OK);
    ck_assert_int_eq(r.status, 404);
    ck_assert(strstr(r.body, "\"NotFound\""));
    mb_free(r.body);
    /* A path that is not a path: refused, delivered from the loop. */
    r = call(k, "GET", "no-slash", NULL, NULL);
    ck_assert_int_eq(r.err, MB_EINVAL);
    mb_free(r.body);
    kapi_free(k);
}
END_TEST

struct counter {
    int done, ok;
    bool all;
};

static void on_count(void *ctx, const struct kapi_resp *r)
{
    struct counter *c = ctx;
    c->done++;
    if (r->err == MB_OK && r->status == 200)
        c->ok++;
    if (c->done == 6)
        c->all = true;
}

/* The pod-endpoint mode: whole URLs, plain http only, a cap on concurrency
 * with the rest waiting in order. */
START_TEST(test_kapi_absolute_capped)
{
    struct kapi_conf c = {.absolute = true, .max_inflight = 2};
    struct kapi *k = NULL;
    struct mb_diag d = {0};
    char url[256];
    ck_assert_int_eq(kapi_new(lp, clock_system(), &c, &k, &d), MB_OK);
    snprintf(url, sizeof url, "%s/version", server);
    struct counter cnt = {0, 0, false};
    struct kapi_req req = {.method = "GET", .path = url};
    for (int i = 0; i < 6; i++)
        kapi_submit(k, &req, on_count, &cnt);
    ck_assert_uint_eq(kapi_inflight(k), 6);
    run_until(&cnt.all);
    ck_assert_int_eq(cnt.ok, 6);
    /* https is not allowed in this mode; a relative path neither. */
    struct result r = {0};
    struct kapi_req bad = {.method = "GET", .path = "https://127.0.0.1:1/x"};
    kapi_submit(k, &bad, on_done, &r);
    run_until(&r.done);
    ck_assert_int_eq(r.err, MB_EINVAL);
    mb_free(r.body);
    r = call(k, "GET", "/version", NULL, NULL);
    ck_assert_int_eq(r.err, MB_EINVAL);
    mb_free(r.body);
    kapi_free(k);
}
END_TEST

/* Pod calls go to the pod, never through a proxy, whatever the environment
 * says; the API client does use a configured proxy-url. */
START_TEST(test_kapi_pod_calls_ignore_proxy)
{
    struct kapi_conf c = {.absolute = true};
    struct kapi *k = NULL;
    struct mb_diag d = {0};
    char url[256];
    setenv("http_proxy", "http://127.0.0.1:9", 1); /* discard port: nothing listens */
    setenv("HTTP_PROXY", "http://127.0.0.1:9", 1);
    setenv("ALL_PROXY", "http://127.0.0.1:9", 1);
    ck_assert_int_eq(kapi_new(lp, clock_system(), &c, &k, &d), MB_OK);
    snprintf(url, sizeof url, "%s/version", server);
    struct result r = call(k, "GET", url, NULL, NULL);
    ck_assert_msg(r.err == MB_OK && r.status == 200, "%d %ld %s", r.err, r.status, r.body);
    mb_free(r.body);
    kapi_free(k);
    /* the API client with a proxy-url that goes nowhere: the call fails */
    struct kapi_conf pc = {.proxy = "http://127.0.0.1:9"};
    k = client(&pc);
    r = call(k, "GET", "/version", NULL, NULL);
    ck_assert_int_ne(r.err, MB_OK);
    mb_free(r.body);
    kapi_free(k);
    unsetenv("http_proxy");
    unsetenv("HTTP_PROXY");
    unsetenv("ALL_PROXY");
}
END_TEST

/* --- events --------------------------------------------------------------------- */

static json_t *events_of(struct kapi *k, const char *pod)
{
    char path[256];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%%3D%s",
             pod);
    return call_json(k, "GET", path, NULL, 200);
}

static void settle(struct kapi *k)
{
    /* Let the recorder's requests finish. */
    for (int i = 0; i < 200 && kapi_inflight(k) > 0; i++)
        event_base_loop(loop_base(lp), EVLOOP_ONCE);
}

START_TEST(test_events_aggregate)
{
    struct kapi *k = client(NULL);
    struct recorder *rec = recorder_new(clock_system(), k, NULL, "membudget", "test-host", 0);
    struct recorder_ref ref = {"default", "web-1", "uid-1"};
    for (int i = 0; i < 3; i++) {
        recorder_event(rec, &ref, "Warning", "MemoryBudgetThrottled",
                       "usage 850Mi is 83%% of budget 1Gi");
        settle(k);
    }
    recorder_event(rec, &ref, "Normal", "MemoryBudgetRecovered", "usage 600Mi is 58%% of budget 1Gi");
    settle(k);
    json_t *l = events_of(k, "web-1"), *items = json_object_get(l, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    json_t *thr = json_array_get(items, 0);
    if (strcmp(json_string_value(json_object_get(thr, "reason")), "MemoryBudgetThrottled"))
        thr = json_array_get(items, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(thr, "count")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(thr, "type")), "Warning");
    ck_assert_str_eq(json_string_value(json_object_get(thr, "message")),
                     "usage 850Mi is 83% of budget 1Gi");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(thr, "involvedObject"), "uid")),
                     "uid-1");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(thr, "source"), "component")),
                     "membudget");
    /* The Event expires (deleted): the next occurrence creates a new one. */
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/default/events/%s",
             json_string_value(json_object_get(json_object_get(thr, "metadata"), "name")));
    json_decref(call_json(k, "DELETE", path, NULL, 200));
    json_decref(l);
    recorder_event(rec, &ref, "Warning", "MemoryBudgetThrottled", "usage 850Mi is 83%% of budget 1Gi");
    settle(k);
    l = events_of(k, "web-1");
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 2);
    json_decref(l);
    recorder_free(rec);
    kapi_free(k);
}
END_TEST

/* --- evictions ------------------------------------------------------------------- */

struct ev_result {
    bool done;
    enum recorder_evict res;
    char msg[600];
};

static void on_evict(void *ctx, enum recorder_evict res, const char *msg)
{
    struct ev_result *r = ctx;
    r->done = true;
    r->res = res;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
}

static struct ev_result evict(struct recorder *rec, const char *name, const char *uid)
{
    struct ev_result r = {0};
    struct recorder_ref ref = {"default", name, uid};
    recorder_evict(rec, &ref, on_evict, &r);
    run_until(&r.done);
    return r;
}

START_TEST(test_evictions)
{
    struct kapi *k = client(NULL);
    struct recorder *rec = recorder_new(clock_system(), k, NULL, "membudget", "test-host", 0);
    json_decref(call_json(k, "POST", "/api/v1/nodes", "{\"metadata\":{\"name\":\"n1\"}}", 201));
    json_t *pod = call_json(k, "POST", "/api/v1/namespaces/default/pods",
                            "{\"metadata\":{\"name\":\"w1\",\"labels\":{\"app\":\"w\"}},"
                            "\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":\"a\","
                            "\"image\":\"x\"}]}}",
                            201);
    char uid[64];
    snprintf(uid, sizeof uid, "%s", json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid")));
    json_decref(pod);
    json_decref(call_json(k, "POST", "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
                          "{\"metadata\":{\"name\":\"w\"},\"spec\":{\"minAvailable\":1,"
                          "\"selector\":{\"matchLabels\":{\"app\":\"w\"}}}}",
                          201));
    usleep(300000); /* the kubelet emulation makes the pod Ready */
    struct ev_result r = evict(rec, "w1", "not-the-uid");
    ck_assert_msg(r.res == RECORDER_EVICT_GONE || r.res == RECORDER_EVICT_BLOCKED, "%d %s", r.res, r.msg);
    r = evict(rec, "w1", uid);
    ck_assert_int_eq(r.res, RECORDER_EVICT_BLOCKED);
    ck_assert_msg(strstr(r.msg, "disruption budget") && strstr(r.msg, "needs 1 healthy"), "%s", r.msg);
    struct result pr = call(k, "PATCH", "/apis/policy/v1/namespaces/default/poddisruptionbudgets/w",
                            "application/merge-patch+json", "{\"spec\":{\"minAvailable\":0}}");
    ck_assert_msg(pr.status == 200, "%ld %s", pr.status, pr.body);
    mb_free(pr.body);
    r = evict(rec, "w1", uid);
    ck_assert_msg(r.res == RECORDER_EVICTED, "%d %s", r.res, r.msg);
    usleep(600000); /* graceful deletion completes */
    r = evict(rec, "w1", uid);
    ck_assert_int_eq(r.res, RECORDER_EVICT_GONE);
    recorder_free(rec);
    kapi_free(k);
}
END_TEST

Suite *kube_io_suite(void)
{
    Suite *s = suite_create("kube_io");
    TCase *tc = tcase_create("tls");
    tcase_add_checked_fixture(tc, setup_tls, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kapi_tls_ca);
    suite_add_tcase(s, tc);
    tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup_http, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kapi_token_file_reread);
    tcase_add_test(tc, test_kapi_response_cap_and_errors);
    tcase_add_test(tc, test_kapi_absolute_capped);
    tcase_add_test(tc, test_kapi_pod_calls_ignore_proxy);
    tcase_add_test(tc, test_events_aggregate);
    tcase_add_test(tc, test_evictions);
    suite_add_tcase(s, tc);
    return s;
}
