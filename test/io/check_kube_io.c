/* check_kube_io.c -- the API client and the writers over real sockets.
 *
 * suite kube_io (make check): a small HTTP server in this process, on the
 * client's own loop: the response cap, bad paths, the token file re-read
 * (the Authorization header the server saw), and the pod-endpoint mode
 * (whole URLs, a cap on concurrency, never a proxy).
 *
 * suite kube_io_cluster (the real cluster, test/e2e/cluster_run.sh; only
 * when MB_KUBE_IO_KUBECONFIG names its admin kubeconfig): TLS with the
 * cluster's CA and a wrong CA refused, a ServiceAccount token file rotated
 * (the API server's SelfSubjectReview says who each request was), the API
 * server's NotFound, Events aggregated by the real Events API, Evictions
 * against a real PodDisruptionBudget kept by the disruption controller. */
#include <arpa/inet.h>
#include <check.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "membudget/alloc.h"
#include "membudget/certgen.h"
#include "membudget/kapi.h"
#include "membudget/kubeconfig.h"
#include "membudget/loop.h"
#include "membudget/recorder.h"
#include "suites.h"
#include "testutil.h"

static char dir[256], server[128];
static struct loop *lp;
static struct kcfg kc;  /* kube_io_cluster: the admin kubeconfig */
static char ns[64];     /* kube_io_cluster: the namespace the tests write in */
static char suffix[32]; /* kube_io_cluster: this run's names (a kept cluster sees many runs) */

static void write_file(const char *name, const char *text) { tu_write_file(dir, name, text); }

/* --- the in-process HTTP server (kube_io) ---------------------------------------- */

static struct evhttp *http;
static char last_auth[512]; /* the Authorization header of the last request */

static void serve(struct evhttp_request *req, void *arg)
{
    (void)arg;
    const char *uri = evhttp_request_get_uri(req);
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    snprintf(last_auth, sizeof last_auth, "%s", auth ? auth : "");
    struct evbuffer *b = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (!strcmp(uri, "/version") || !strcmp(uri, "/api")) {
        evbuffer_add_printf(b, "{\"gitVersion\":\"v0.0.0-fake\"}");
        evhttp_send_reply(req, 200, "OK", b);
    } else if (!strcmp(uri, "/apis")) {
        evbuffer_add_printf(b, "{\"kind\":\"APIGroupList\",\"groups\":[");
        for (int i = 0; i < 20; i++)
            evbuffer_add_printf(b, "%s{\"name\":\"group%d.example.com\"}", i ? "," : "", i);
        evbuffer_add_printf(b, "]}");
        evhttp_send_reply(req, 200, "OK", b);
    } else {
        evbuffer_add_printf(b,
                            "{\"kind\":\"Status\",\"status\":\"Failure\",\"reason\":\"NotFound\"}");
        evhttp_send_reply(req, 404, "Not Found", b);
    }
    evbuffer_free(b);
}

static void setup_http(void)
{
    struct mb_diag d = {0};
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "/tmp/mb-kio-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(loop_new(&lp, LOOP_CLIENT, &d), MB_OK);
    http = evhttp_new(loop_base(lp));
    ck_assert_ptr_nonnull(http);
    evhttp_set_gencb(http, serve, NULL);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    ck_assert_ptr_nonnull(bs);
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    ck_assert_int_eq(getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &len), 0);
    snprintf(server, sizeof server, "http://127.0.0.1:%u", ntohs(sa.sin_port));
    last_auth[0] = '\0';
}

static void teardown_http(void)
{
    char cmd[400];
    evhttp_free(http);
    http = NULL;
    loop_free(lp);
    lp = NULL;
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

/* --- kapi against the in-process server ------------------------------------------- */

START_TEST(test_kapi_token_file_reread)
{
    char tok[512];
    snprintf(tok, sizeof tok, "%s/token", dir);
    write_file("token", "first-token\n");
    struct kapi_conf c = {.token_file = tok};
    struct kapi *k = client(&c);
    json_decref(call_json(k, "GET", "/api", NULL, 200));
    ck_assert_str_eq(last_auth, "Bearer first-token");
    sleep(1); /* mtime granularity and the 1 s re-check */
    usleep(200000);
    write_file("token", "rotated-token");
    json_decref(call_json(k, "GET", "/api", NULL, 200));
    ck_assert_str_eq(last_auth, "Bearer rotated-token");
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

/* --- the real cluster (kube_io_cluster) ------------------------------------------- */

/* The admin kubeconfig's credentials; extra's fields where it sets them. */
static struct kapi_conf admin(void)
{
    return (struct kapi_conf){.ca_pem = kc.ca_pem,
                              .ca_file = kc.ca_file,
                              .cert_pem = kc.cert_pem,
                              .cert_file = kc.cert_file,
                              .key_pem = kc.key_pem,
                              .key_file = kc.key_file,
                              .token = kc.token,
                              .token_file = kc.token_file,
                              .insecure = kc.insecure};
}

/* Create what `body` describes at `path`: 201, or 409 when a kept cluster has it. */
static void ensure(struct kapi *k, const char *path, const char *body)
{
    struct result r = call(k, "POST", path, NULL, body);
    ck_assert_msg(r.err == MB_OK && (r.status == 201 || r.status == 409), "POST %s: %d %ld %s",
                  path, r.err, r.status, r.body);
    mb_free(r.body);
}

static void setup_cluster(void)
{
    struct mb_diag d = {0};
    const char *path = getenv("MB_KUBE_IO_KUBECONFIG");
    size_t len = 0;
    signal(SIGPIPE, SIG_IGN);
    ck_assert_msg(path && *path, "MB_KUBE_IO_KUBECONFIG is not set");
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "cannot read %s", path);
    char *text = mb_xcalloc(1, 1 << 16);
    len = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    memset(&kc, 0, sizeof kc);
    ck_assert_msg(kcfg_parse(text, len, path, NULL, &kc, &d) == MB_OK, "%s", d.msg);
    mb_free(text);
    snprintf(server, sizeof server, "%s", kc.server);
    snprintf(dir, sizeof dir, "/tmp/mb-kio-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(ns, sizeof ns, "e2e-kube-io");
    snprintf(suffix, sizeof suffix, "%lx-%x", (long)time(NULL), (unsigned)getpid());
    ck_assert_int_eq(loop_new(&lp, LOOP_CLIENT, &d), MB_OK);
    struct kapi_conf c = admin();
    struct kapi *k = client(&c);
    char body[200];
    snprintf(body, sizeof body, "{\"metadata\":{\"name\":\"%s\"}}", ns);
    ensure(k, "/api/v1/namespaces", body);
    kapi_free(k);
}

static void teardown_cluster(void)
{
    char cmd[400];
    loop_free(lp);
    lp = NULL;
    kcfg_cleanup(&kc);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    (void)!system(cmd);
}

/* GET path until pred(object) or `secs` pass (a wait, not a timed assertion:
 * the answer is what is checked). Returns: the last object (new reference). */
static json_t *poll_until(struct kapi *k, const char *path, bool (*pred)(json_t *), int secs)
{
    for (int i = 0;; i++) {
        json_t *o = call_json(k, "GET", path, NULL, 200);
        if (pred(o) || i >= secs * 5)
            return o;
        json_decref(o);
        usleep(200000);
    }
}

START_TEST(test_cluster_tls_ca)
{
    struct kapi_conf good = admin();
    struct kapi *k = client(&good);
    json_t *v = call_json(k, "GET", "/version", NULL, 200);
    const char *gv = json_string_value(json_object_get(v, "gitVersion"));
    ck_assert_msg(gv && !strncmp(gv, "v1.", 3), "gitVersion %s", gv ? gv : "(none)");
    json_decref(v);
    kapi_free(k);

    /* Another CA: the server is not trusted. */
    struct certgen_pair other;
    struct mb_diag d = {0};
    ck_assert_int_eq(certgen_ca("someone-else", 1, &other, &d), MB_OK);
    struct kapi_conf bad = admin();
    bad.ca_pem = other.cert_pem;
    bad.ca_file = NULL;
    k = client(&bad);
    struct result r = call(k, "GET", "/version", NULL, NULL);
    ck_assert_int_eq(r.err, MB_EIO);
    ck_assert_int_eq(r.status, 0);
    mb_free(r.body);
    kapi_free(k);
    certgen_pair_cleanup(&other);
}
END_TEST

/* A token for ServiceAccount `sa` (made here), from the TokenRequest API. */
static char *sa_token(struct kapi *k, const char *sa)
{
    char path[300], body[200];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/serviceaccounts", ns);
    snprintf(body, sizeof body, "{\"metadata\":{\"name\":\"%s\"}}", sa);
    ensure(k, path, body);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/serviceaccounts/%s/token", ns, sa);
    json_t *tr = call_json(k, "POST", path,
                           "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenRequest\","
                           "\"spec\":{\"expirationSeconds\":600}}",
                           201);
    char *t =
        mb_xstrdup(json_string_value(json_object_get(json_object_get(tr, "status"), "token")));
    json_decref(tr);
    return t;
}

/* Who the API server says the client is (SelfSubjectReview). */
static char *whoami(struct kapi *k)
{
    json_t *r = call_json(
        k, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
        "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"SelfSubjectReview\"}", 201);
    const char *u = json_string_value(
        json_object_get(json_object_get(json_object_get(r, "status"), "userInfo"), "username"));
    char *out = mb_xstrdup(u ? u : "(none)");
    json_decref(r);
    return out;
}

START_TEST(test_cluster_token_file_rotated)
{
    char sa1[64], sa2[64], want[200], tok[512];
    struct kapi_conf ac = admin();
    struct kapi *k = client(&ac);
    snprintf(sa1, sizeof sa1, "first-%s", suffix);
    snprintf(sa2, sizeof sa2, "rotated-%s", suffix);
    char *t1 = sa_token(k, sa1), *t2 = sa_token(k, sa2);
    kapi_free(k);

    snprintf(tok, sizeof tok, "%s/token", dir);
    write_file("token", t1);
    struct kapi_conf c = {.ca_pem = kc.ca_pem, .ca_file = kc.ca_file, .token_file = tok};
    k = client(&c);
    char *who = whoami(k);
    snprintf(want, sizeof want, "system:serviceaccount:%s:%s", ns, sa1);
    ck_assert_str_eq(who, want);
    mb_free(who);
    sleep(1); /* mtime granularity and the 1 s re-check */
    usleep(200000);
    write_file("token", t2);
    who = whoami(k);
    snprintf(want, sizeof want, "system:serviceaccount:%s:%s", ns, sa2);
    ck_assert_str_eq(who, want);
    mb_free(who);
    kapi_free(k);
    mb_free(t1);
    mb_free(t2);
}
END_TEST

START_TEST(test_cluster_not_found)
{
    char path[300];
    struct kapi_conf ac = admin();
    struct kapi *k = client(&ac);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/nope-%s", ns, suffix);
    struct result r = call(k, "GET", path, NULL, NULL);
    ck_assert_int_eq(r.err, MB_OK);
    ck_assert_int_eq(r.status, 404);
    ck_assert_msg(strstr(r.body, "\"kind\":\"Status\"") && strstr(r.body, "\"NotFound\""), "%s",
                  r.body);
    mb_free(r.body);
    kapi_free(k);
}
END_TEST

static json_t *events_of(struct kapi *k, const char *pod)
{
    char path[300];
    snprintf(path, sizeof path,
             "/api/v1/namespaces/%s/events?fieldSelector=involvedObject.name%%3D%s", ns, pod);
    return call_json(k, "GET", path, NULL, 200);
}

static void settle(struct kapi *k)
{
    /* Let the recorder's requests finish. */
    for (int i = 0; i < 2000 && kapi_inflight(k) > 0; i++)
        event_base_loop(loop_base(lp), EVLOOP_ONCE);
}

START_TEST(test_cluster_events_aggregate)
{
    char pod[80];
    struct kapi_conf ac = admin();
    struct kapi *k = client(&ac);
    struct recorder *rec = recorder_new(clock_system(), k, NULL, "membudget", "test-host", 0);
    snprintf(pod, sizeof pod, "web-%s", suffix);
    struct recorder_ref ref = {ns, pod, "uid-1"};
    for (int i = 0; i < 3; i++) {
        recorder_event(rec, &ref, "Warning", "MemoryBudgetThrottled",
                       "usage 850Mi is 83%% of budget 1Gi");
        settle(k);
    }
    recorder_event(rec, &ref, "Normal", "MemoryBudgetRecovered",
                   "usage 600Mi is 58%% of budget 1Gi");
    settle(k);
    json_t *l = events_of(k, pod), *items = json_object_get(l, "items");
    ck_assert_uint_eq(json_array_size(items), 2);
    json_t *thr = json_array_get(items, 0);
    if (strcmp(json_string_value(json_object_get(thr, "reason")), "MemoryBudgetThrottled"))
        thr = json_array_get(items, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(thr, "count")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(thr, "type")), "Warning");
    ck_assert_str_eq(json_string_value(json_object_get(thr, "message")),
                     "usage 850Mi is 83% of budget 1Gi");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(thr, "involvedObject"), "uid")), "uid-1");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(thr, "source"), "component")),
        "membudget");
    /* The Event expires (deleted): the next occurrence creates a new one. */
    char path[512];
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/events/%s", ns,
             json_string_value(json_object_get(json_object_get(thr, "metadata"), "name")));
    json_decref(call_json(k, "DELETE", path, NULL, 200));
    json_decref(l);
    recorder_event(rec, &ref, "Warning", "MemoryBudgetThrottled",
                   "usage 850Mi is 83%% of budget 1Gi");
    settle(k);
    l = events_of(k, pod);
    ck_assert_uint_eq(json_array_size(json_object_get(l, "items")), 2);
    json_decref(l);
    recorder_free(rec);
    kapi_free(k);
}
END_TEST

struct ev_result {
    bool done;
    enum evict_result res;
    char msg[600];
};

static void on_evict(void *ctx, enum evict_result res, const char *msg)
{
    struct ev_result *r = ctx;
    r->done = true;
    r->res = res;
    snprintf(r->msg, sizeof r->msg, "%s", msg);
}

static struct ev_result evict(struct recorder *rec, const char *name, const char *uid)
{
    struct ev_result r = {0};
    struct recorder_ref ref = {ns, name, uid};
    recorder_evict(rec, &ref, on_evict, &r);
    run_until(&r.done);
    return r;
}

static bool pod_ready(json_t *p)
{
    json_t *c;
    size_t i;
    json_array_foreach(
        json_object_get(json_object_get(p, "status"), "conditions"), i,
        c) if (!strcmp(json_string_value(json_object_get(c, "type")) ?: "",
                       "Ready")) return !strcmp(json_string_value(json_object_get(c, "status"))
                                                    ?: "",
                                                "True");
    return false;
}

/* The disruption controller has seen the PDB's current spec. */
static bool pdb_observed(json_t *b)
{
    return json_integer_value(
               json_object_get(json_object_get(b, "status"), "observedGeneration")) ==
           json_integer_value(json_object_get(json_object_get(b, "metadata"), "generation"));
}

static bool pdb_allows(json_t *b)
{
    return pdb_observed(b) && json_integer_value(json_object_get(json_object_get(b, "status"),
                                                                 "disruptionsAllowed")) >= 1;
}

START_TEST(test_cluster_evictions)
{
    char name[80], path[300], pdbp[300], body[1024];
    struct kapi_conf ac = admin();
    struct kapi *k = client(&ac);
    struct recorder *rec = recorder_new(clock_system(), k, NULL, "membudget", "test-host", 0);
    snprintf(name, sizeof name, "w-%s", suffix);
    /* a pod on one of kwok's nodes: Running and Ready without a container */
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods", ns);
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"%s\",\"labels\":{\"app\":\"%s\"}},\"spec\":{"
             "\"nodeSelector\":{\"type\":\"kwok\"},\"tolerations\":[{\"key\":"
             "\"kwok.x-k8s.io/node\",\"operator\":\"Exists\",\"effect\":\"NoSchedule\"}],"
             "\"containers\":[{\"name\":\"a\",\"image\":\"fake\"}]}}",
             name, name);
    json_t *pod = call_json(k, "POST", path, body, 201);
    char uid[64];
    snprintf(uid, sizeof uid, "%s",
             json_string_value(json_object_get(json_object_get(pod, "metadata"), "uid")));
    json_decref(pod);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns, name);
    pod = poll_until(k, path, pod_ready, 60);
    ck_assert_msg(pod_ready(pod), "the pod on a kwok node is not Ready");
    json_decref(pod);
    snprintf(pdbp, sizeof pdbp, "/apis/policy/v1/namespaces/%s/poddisruptionbudgets", ns);
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"minAvailable\":1,"
             "\"selector\":{\"matchLabels\":{\"app\":\"%s\"}}}}",
             name, name);
    json_decref(call_json(k, "POST", pdbp, body, 201));
    snprintf(pdbp, sizeof pdbp, "/apis/policy/v1/namespaces/%s/poddisruptionbudgets/%s", ns, name);
    json_t *b = poll_until(k, pdbp, pdb_observed, 60);
    ck_assert_msg(pdb_observed(b), "the disruption controller never saw the PDB");
    json_decref(b);

    struct ev_result r = evict(rec, name, uid);
    ck_assert_msg(r.res == EVICT_BLOCKED, "%d %s", r.res, r.msg);
    ck_assert_msg(strstr(r.msg, "disruption budget") && strstr(r.msg, "needs 1 healthy"), "%s",
                  r.msg);
    /* The API server checks the PDB before the uid precondition (the
     * simulator had it the other way round): blocked, whatever the uid. */
    r = evict(rec, name, "00000000-0000-0000-0000-000000000000");
    ck_assert_msg(r.res == EVICT_BLOCKED, "%d %s", r.res, r.msg);
    struct result pr =
        call(k, "PATCH", pdbp, "application/merge-patch+json", "{\"spec\":{\"minAvailable\":0}}");
    ck_assert_msg(pr.status == 200, "%ld %s", pr.status, pr.body);
    mb_free(pr.body);
    b = poll_until(k, pdbp, pdb_allows, 60);
    ck_assert_msg(pdb_allows(b), "the PDB never allowed a disruption");
    json_decref(b);
    r = evict(rec, name, uid);
    ck_assert_msg(r.res == EVICT_OK, "%d %s", r.res, r.msg);
    /* kwok completes the deletion; until then an eviction of the terminating
     * pod is accepted again, then it is gone */
    for (int i = 0; i < 300 && r.res == EVICT_OK; i++) {
        usleep(200000);
        r = evict(rec, name, uid);
    }
    ck_assert_msg(r.res == EVICT_GONE, "%d %s", r.res, r.msg);
    json_decref(call_json(k, "DELETE", pdbp, NULL, 200));

    /* Another pod's uid (the pod was replaced under the same name), no PDB:
     * the precondition fails (409), which is "gone", and the pod stays. */
    snprintf(name, sizeof name, "x-%s", suffix);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods", ns);
    snprintf(body, sizeof body,
             "{\"metadata\":{\"name\":\"%s\"},\"spec\":{\"nodeSelector\":{\"type\":\"kwok\"},"
             "\"tolerations\":[{\"key\":\"kwok.x-k8s.io/node\",\"operator\":\"Exists\","
             "\"effect\":\"NoSchedule\"}],\"containers\":[{\"name\":\"a\",\"image\":\"fake\"}]}}",
             name);
    json_decref(call_json(k, "POST", path, body, 201));
    r = evict(rec, name, "00000000-0000-0000-0000-000000000000");
    ck_assert_msg(r.res == EVICT_GONE, "%d %s", r.res, r.msg);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ns, name);
    pod = call_json(k, "GET", path, NULL, 200);
    ck_assert_ptr_null(json_object_get(json_object_get(pod, "metadata"), "deletionTimestamp"));
    json_decref(pod);
    json_decref(call_json(k, "DELETE", path, NULL, 200));
    recorder_free(rec);
    kapi_free(k);
}
END_TEST

Suite *kube_io_suite(void)
{
    Suite *s = suite_create("kube_io");
    TCase *tc = tcase_create("http");
    tcase_add_checked_fixture(tc, setup_http, teardown_http);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_kapi_token_file_reread);
    tcase_add_test(tc, test_kapi_response_cap_and_errors);
    tcase_add_test(tc, test_kapi_absolute_capped);
    tcase_add_test(tc, test_kapi_pod_calls_ignore_proxy);
    suite_add_tcase(s, tc);
    return s;
}

Suite *kube_io_cluster_suite(void)
{
    Suite *s = suite_create("kube_io_cluster");
    TCase *tc = tcase_create("cluster");
    tcase_add_checked_fixture(tc, setup_cluster, teardown_cluster);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, test_cluster_tls_ca);
    tcase_add_test(tc, test_cluster_token_file_rotated);
    tcase_add_test(tc, test_cluster_not_found);
    tcase_add_test(tc, test_cluster_events_aggregate);
    tcase_add_test(tc, test_cluster_evictions);
    suite_add_tcase(s, tc);
    return s;
}
