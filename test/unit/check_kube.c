/* check_kube.c -- the pure parts of the controller core: the watch framer,
 * backoff, watch-event decoding, kubeconfig/in-cluster, base64. */
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "membudget/alloc.h"
#include "membudget/b64.h"
#include "membudget/certgen.h"
#include "membudget/backoff.h"
#include "membudget/evagg.h"
#include "membudget/kobj.h"
#include "membudget/kapi.h"
#include "membudget/kubeconfig.h"
#include "membudget/wframe.h"
#include "suites.h"

/* --- wframe ------------------------------------------------------------------- */

struct lines {
    char all[4096];
    int n;
    int stop_after; /* 0: never */
};

static bool collect(void *ctx, const char *line, size_t len)
{
    struct lines *l = ctx;
    size_t at = strlen(l->all);
    snprintf(l->all + at, sizeof l->all - at, "[%.*s]", (int)len, line);
    l->n++;
    return !(l->stop_after && l->n >= l->stop_after);
}

static const char STREAM[] = "{\"type\":\"ADDED\"}\n{\"type\":\"MODIFIED\",\"x\":1}\r\n\n"
                             "{\"type\":\"BOOKMARK\"}\n{\"partial";

/* The same lines whatever the chunking: 1 byte, 2, 3, ... 64, and all at once. */
START_TEST(test_wframe_any_split)
{
    size_t total = strlen(STREAM);
    size_t step = _i == 64 ? total : (size_t)_i + 1; /* 1..64 bytes, then all at once */
    struct wframe f;
    struct lines l = {{0}, 0, 0};

    wframe_init(&f, 1024);
    for (size_t off = 0; off < total; off += step) {
        size_t n = total - off < step ? total - off : step;
        ck_assert_int_eq(wframe_feed(&f, STREAM + off, n, collect, &l), MB_OK);
    }
    ck_assert_str_eq(l.all, "[{\"type\":\"ADDED\"}][{\"type\":\"MODIFIED\",\"x\":1}]"
                            "[{\"type\":\"BOOKMARK\"}]");
    ck_assert_uint_eq(wframe_pending(&f), strlen("{\"partial"));
    wframe_cleanup(&f);
}
END_TEST

START_TEST(test_wframe_too_long)
{
    struct wframe f;
    struct lines l = {{0}, 0, 0};
    char big[100];

    memset(big, 'x', sizeof big);
    wframe_init(&f, 64);
    ck_assert_int_eq(wframe_feed(&f, "ok\n", 3, collect, &l), MB_OK);
    /* Over the cap across several pieces, with no newline: refused, and
     * every later feed too (the watch must be restarted). */
    ck_assert_int_eq(wframe_feed(&f, big, 40, collect, &l), MB_OK);
    ck_assert_int_eq(wframe_feed(&f, big, 40, collect, &l), MB_ETOOBIG);
    ck_assert_int_eq(wframe_feed(&f, "a\n", 2, collect, &l), MB_ETOOBIG);
    ck_assert_str_eq(l.all, "[ok]");
    wframe_cleanup(&f);

    wframe_init(&f, 64);
    ck_assert_int_eq(wframe_feed(&f, big, sizeof big, collect, &l), MB_ETOOBIG);
    wframe_cleanup(&f);
}
END_TEST

START_TEST(test_wframe_stop)
{
    struct wframe f;
    struct lines l = {{0}, 0, 1};
    wframe_init(&f, 64);
    ck_assert_int_eq(wframe_feed(&f, "a\nb\nc\n", 6, collect, &l), MB_OK);
    ck_assert_str_eq(l.all, "[a]");
    wframe_cleanup(&f);
}
END_TEST

/* --- backoff ------------------------------------------------------------------ */

START_TEST(test_backoff_grows_caps_resets)
{
    struct backoff b;
    uint64_t lo[] = {50, 100, 200, 400, 500, 500}, hi[] = {100, 200, 400, 800, 1000, 1000};

    backoff_init(&b, 100, 1000);
    for (size_t i = 0; i < MB_ARRAY_LEN(lo); i++) {
        /* rnd = 0 gives the lower bound, rnd = hi - lo the upper one. */
        struct backoff c = b, e = b, f = b;
        ck_assert_uint_eq(backoff_next(&c, 0, 0), lo[i]);
        ck_assert_uint_eq(backoff_next(&e, hi[i] - lo[i], 0), hi[i]);
        uint64_t any = backoff_next(&f, 0x9e3779b97f4a7c15ull, 0);
        ck_assert(any >= lo[i] && any <= hi[i]);
        backoff_next(&b, 0, 0);
    }
    backoff_reset(&b);
    ck_assert_uint_eq(backoff_next(&b, 0, 0), 50);
    /* Retry-After raises the floor. */
    ck_assert_uint_eq(backoff_next(&b, 0, 5000), 5000);
    /* Many failures do not overflow. */
    for (int i = 0; i < 200; i++)
        ck_assert_uint_le(backoff_next(&b, 12345, 0), 1000);
}
END_TEST

/* --- kobj --------------------------------------------------------------------- */

/* managedFields dropped from the text before decoding: in = what the API
 * server sends, want = the same without the members that go (NULL: the
 * text unchanged). Compared decoded, and byte for byte when unchanged. */
static const struct {
    const char *in, *want;
} STRIP[] = {
    /* a watch event: the middle member of the object's metadata */
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"managedFields\":[{\"manager\":"
     "\"kubelet\",\"fieldsV1\":{\"f:status\":{\"f:conditions\":{}}}}],\"uid\":\"u\"},\"spec\":{}}}",
     "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"uid\":\"u\"},\"spec\":{}}}"},
    /* first member, with spaces; last member; the only member */
    {"{\"object\":{\"metadata\": { \"managedFields\" : [ {} , {\"a\":\"]\\\"}\"} ] , "
     "\"name\":\"a\"}}}",
     "{\"object\":{\"metadata\":{\"name\":\"a\"}}}"},
    {"{\"metadata\":{\"name\":\"a\",\"managedFields\":[]}}", "{\"metadata\":{\"name\":\"a\"}}"},
    {"{\"metadata\":{\"managedFields\":[{\"x\":1}]}}", "{\"metadata\":{}}"},
    /* a list: every item's */
    {"{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[{\"metadata\":{\"name\":\"a\","
     "\"managedFields\":[{}]}},{\"metadata\":{\"managedFields\":[{}],\"name\":\"b\"}}]}",
     "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":[{\"metadata\":{\"name\":\"a\"}},"
     "{\"metadata\":{\"name\":\"b\"}}]}"},
    /* not under a metadata key, or not a key: kept */
    {"{\"spec\":{\"managedFields\":[1]},\"metadata\":{\"annotations\":{\"x\":"
     "\"\\\"managedFields\\\":[]\"}}}",
     NULL},
    {"{\"metadata\":{\"labels\":{\"managedFields\":\"v\"}}}", NULL},
    {"{\"metadata\":[{\"managedFields\":[]}]}", NULL},
    {"{\"metadata\":\"managedFields\",\"x\":{\"managedFields\":1}}", NULL},
    /* malformed or cut short: copied, never read past the end */
    {"{\"metadata\":{\"managedFields\":[{\"a\":\"unterminated", NULL},
    {"{\"metadata\":{\"managedFields\"", NULL},
    {"", NULL},
    {"]]]}}}\"", NULL},
};

START_TEST(test_kobj_strip_managed_fields)
{
    const char *in = STRIP[_i].in, *want = STRIP[_i].want;
    size_t len = strlen(in);
    char *out = mb_xmalloc(len + 1);
    size_t n = kobj_strip_managed_fields(in, len, out);
    ck_assert_uint_le(n, len);
    if (!want) {
        if (n != len || memcmp(in, out, len) != 0) {
            /* malformed text may lose a member, but only what was asked */
            json_t *a = json_loadb(in, len, 0, NULL);
            ck_assert_msg(!a, "row %d: changed: %.*s", _i, (int)n, out);
        }
    } else {
        json_t *got = json_loadb(out, n, 0, NULL), *exp = json_loads(want, 0, NULL);
        ck_assert_msg(got, "row %d: not JSON: %.*s", _i, (int)n, out);
        ck_assert_msg(json_equal(got, exp), "row %d: %.*s", _i, (int)n, out);
        json_decref(got);
        json_decref(exp);
    }
    mb_free(out);
}
END_TEST

static const struct {
    const char *line;
    mb_err want;
    enum kobj_ev type;
    const char *rv;
} EVENTS[] = {
    {"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"7\"}}}", MB_OK,
     KOBJ_ADDED, "7"},
    {"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"9\"}}"
     "}",
     MB_OK, KOBJ_BOOKMARK, "9"},
    {"{\"type\":\"DELETED\",\"object\":{\"metadata\":{}}}", MB_OK, KOBJ_DELETED, NULL},
    {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}", MB_OK, KOBJ_ERROR, NULL},
    {"{\"type\":\"SOMETHING\",\"object\":{}}", MB_EPARSE, 0, NULL},
    {"{\"type\":\"ADDED\"}", MB_EPARSE, 0, NULL},
    {"{\"type\":\"ADDED\",\"object\":[]}", MB_EPARSE, 0, NULL},
    {"{\"type\":1,\"object\":{}}", MB_EPARSE, 0, NULL},
    {"not json", MB_EPARSE, 0, NULL},
    {"{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}", MB_EPARSE, 0, NULL},
};

START_TEST(test_kobj_events)
{
    enum kobj_ev t = KOBJ_ADDED;
    json_t *o = NULL;
    struct mb_diag d = {0};
    mb_err e = kobj_event_decode(EVENTS[_i].line, strlen(EVENTS[_i].line), &t, &o, &d);

    ck_assert_msg(e == EVENTS[_i].want, "row %d: %s", _i, d.msg);
    if (e == MB_OK) {
        ck_assert_int_eq(t, EVENTS[_i].type);
        if (EVENTS[_i].rv)
            ck_assert_str_eq(kobj_rv(o), EVENTS[_i].rv);
        else
            ck_assert_ptr_null(kobj_rv(o));
        json_decref(o);
    } else {
        ck_assert_ptr_null(o);
        ck_assert(d.msg[0]);
    }
}
END_TEST

START_TEST(test_kobj_status)
{
    struct kobj_status st;
    const char *gone = "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
                       "\"message\":\"too old resource version: 5 (10)\",\"reason\":\"Expired\","
                       "\"code\":410}";
    kobj_status_from_body(200, gone, strlen(gone), &st);
    ck_assert_int_eq(st.code, 410);
    ck_assert_str_eq(st.reason, "Expired");
    ck_assert_str_eq(st.message, "too old resource version: 5 (10)");
    kobj_status_from_body(502, "Bad gateway\n<html>", 18, &st);
    ck_assert_int_eq(st.code, 502);
    ck_assert_str_eq(st.message, "Bad gateway");
    kobj_status_from_body(503, "", 0, &st);
    ck_assert_int_eq(st.code, 503);
    json_t *notstatus = json_pack("{s:s}", "kind", "Pod");
    ck_assert(!kobj_status_decode(notstatus, &st));
    json_decref(notstatus);
}
END_TEST

/* --- base64 ------------------------------------------------------------------- */

START_TEST(test_b64_round_trip_and_errors)
{
    static const char *const IN[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *const OUT[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
                                      "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
    for (size_t i = 0; i < MB_ARRAY_LEN(IN); i++) {
        char *e = mb_b64_encode(IN[i], strlen(IN[i])), *d = NULL;
        size_t n = 0;
        ck_assert_str_eq(e, OUT[i]);
        ck_assert_int_eq(mb_b64_decode(e, strlen(e), &d, &n), MB_OK);
        ck_assert_uint_eq(n, strlen(IN[i]));
        ck_assert_str_eq(d, IN[i]);
        mb_free(e);
        mb_free(d);
    }
    char *d = (char *)"untouched";
    size_t n = 99;
    ck_assert_int_eq(mb_b64_decode("Zm9v\nYmFy", 9, &d, &n), MB_OK); /* line breaks allowed */
    ck_assert_str_eq(d, "foobar");
    mb_free(d);
    d = (char *)"untouched";
    ck_assert_int_eq(mb_b64_decode("Zm9v!", 5, &d, &n), MB_EPARSE);
    ck_assert_int_eq(mb_b64_decode("Z", 1, &d, &n), MB_EPARSE);
    ck_assert_int_eq(mb_b64_decode("Zg==Zg", 6, &d, &n), MB_EPARSE);
    ck_assert_str_eq(d, "untouched");
}
END_TEST

/* --- kubeconfig ---------------------------------------------------------------- */

static const char KC[] = "apiVersion: v1\n"
                         "kind: Config\n"
                         "current-context: dev\n"
                         "clusters:\n"
                         "- name: dev\n"
                         "  cluster:\n"
                         "    server: https://10.0.0.1:6443\n"
                         "    certificate-authority-data: Q0EtUEVN\n" /* "CA-PEM" */
                         "- name: prod\n"
                         "  cluster:\n"
                         "    server: https://prod:443\n"
                         "    certificate-authority: certs/ca.crt\n"
                         "    insecure-skip-tls-verify: true\n"
                         "    proxy-url: http://proxy.corp:3128\n"
                         "users:\n"
                         "- name: alice\n"
                         "  user:\n"
                         "    client-certificate-data: Q0VSVA==\n" /* "CERT" */
                         "    client-key-data: S0VZ\n"             /* "KEY" */
                         "- name: bot\n"
                         "  user:\n"
                         "    tokenFile: tok\n"
                         "- name: sso\n"
                         "  user:\n"
                         "    exec: {command: kubelogin}\n"
                         "contexts:\n"
                         "- name: dev\n"
                         "  context: {cluster: dev, user: alice, namespace: team-a}\n"
                         "- name: prod\n"
                         "  context: {cluster: prod, user: bot}\n"
                         "- name: sso\n"
                         "  context: {cluster: dev, user: sso}\n"
                         "- name: broken\n"
                         "  context: {cluster: nowhere, user: alice}\n";

START_TEST(test_kcfg_current_context)
{
    struct kcfg c = {0};
    struct mb_diag d = {0};
    ck_assert_int_eq(kcfg_parse(KC, strlen(KC), "/home/u/.kube/config", NULL, &c, &d), MB_OK);
    ck_assert_str_eq(c.context, "dev");
    ck_assert_str_eq(c.server, "https://10.0.0.1:6443");
    ck_assert_str_eq(c.ca_pem, "CA-PEM");
    ck_assert_ptr_null(c.ca_file);
    ck_assert_str_eq(c.cert_pem, "CERT");
    ck_assert_str_eq(c.key_pem, "KEY");
    ck_assert_str_eq(c.namespace_, "team-a");
    ck_assert(!c.insecure);
    kcfg_cleanup(&c);
}
END_TEST

START_TEST(test_kcfg_explicit_context_relative_paths)
{
    struct kcfg c = {0};
    struct mb_diag d = {0};
    ck_assert_int_eq(kcfg_parse(KC, strlen(KC), "/home/u/.kube/config", "prod", &c, &d), MB_OK);
    ck_assert_str_eq(c.server, "https://prod:443");
    ck_assert_str_eq(c.ca_file, "/home/u/.kube/certs/ca.crt");
    ck_assert_str_eq(c.token_file, "/home/u/.kube/tok");
    ck_assert(c.insecure);
    ck_assert_ptr_null(c.namespace_);
    ck_assert_str_eq(c.proxy_url, "http://proxy.corp:3128");
    kcfg_cleanup(&c);
}
END_TEST

static const struct {
    const char *text; /* NULL: use KC */
    const char *context;
    const char *want; /* substring of the message */
} KC_BAD[] = {
    {NULL, "sso", "user \"sso\" uses exec or auth-provider credentials"},
    {NULL, "nope", "context \"nope\" not found"},
    {NULL, "broken", "cluster \"nowhere\" not found"},
    {"clusters: []\n", NULL, "current-context is not set"},
    {"- a\n- b\n", NULL, "not a kubeconfig"},
    {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
     "clusters: [{name: c, cluster: {server: ftp://x}}]\n",
     NULL, "server must be an http(s):// URL"},
    {"current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
     "clusters: [{name: c, cluster: {server: https://x}}]\n"
     "users: [{name: u, user: {client-certificate-data: '!!!'}}]\n",
     NULL, "client-certificate-data is not valid base64"},
    {"current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
     "clusters: [{name: c, cluster: {server: https://x}}]\n"
     "users: [{name: u, user: {client-certificate: a.crt}}]\n",
     NULL, "a client certificate needs its key"},
    {"{unterminated: [", NULL, "kc"},
    {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
     "clusters: [{name: c, cluster: {server: https://10.0.0.1, tls-server-name: api.corp}}]\n",
     NULL, "tls-server-name is not supported"},
    {"current-context: x\ncontexts: [{name: x, context: {cluster: c}}]\n"
     "clusters: [{name: c, cluster: {server: https://x, proxy-url: ftp://p}}]\n",
     NULL, "proxy-url must be an http://, https:// or socks5:// URL"},
};

START_TEST(test_kapi_redact_url)
{
    char out[128];
    kapi_redact_url("https://admin:hunter2@10.0.0.1:6443/api", out, sizeof out);
    ck_assert_str_eq(out, "https://REDACTED@10.0.0.1:6443/api");
    kapi_redact_url("https://10.0.0.1:6443/x?u=a@b", out, sizeof out);
    ck_assert_str_eq(out,
                     "https://10.0.0.1:6443/x?u=a@b"); /* an @ after the host is not a credential */
    kapi_redact_url("http://tok@h", out, sizeof out);
    ck_assert_str_eq(out, "http://REDACTED@h");
}
END_TEST

START_TEST(test_kcfg_errors)
{
    struct kcfg c = {0};
    struct mb_diag d = {0};
    const char *t = KC_BAD[_i].text ? KC_BAD[_i].text : KC;
    ck_assert_int_ne(kcfg_parse(t, strlen(t), "kc", KC_BAD[_i].context, &c, &d), MB_OK);
    ck_assert_msg(strstr(d.msg, KC_BAD[_i].want), "row %d: %s", _i, d.msg);
    ck_assert_msg(strncmp(d.msg, "kc", 2) == 0, "row %d names the file: %s", _i, d.msg);
    ck_assert_ptr_null(c.server); /* untouched on error */
}
END_TEST

START_TEST(test_kcfg_in_cluster)
{
    struct kcfg c = {0};
    struct mb_diag d = {0};
    ck_assert_int_eq(kcfg_in_cluster("10.96.0.1", "443", "/sa", "kube-ops\n", &c, &d), MB_OK);
    ck_assert_str_eq(c.server, "https://10.96.0.1:443");
    ck_assert_str_eq(c.token_file, "/sa/token");
    ck_assert_str_eq(c.ca_file, "/sa/ca.crt");
    ck_assert_str_eq(c.namespace_, "kube-ops");
    kcfg_cleanup(&c);
    ck_assert_int_eq(kcfg_in_cluster("fd00::1", "443", "/sa", NULL, &c, &d), MB_OK);
    ck_assert_str_eq(c.server, "https://[fd00::1]:443");
    kcfg_cleanup(&c);
    ck_assert_int_eq(kcfg_in_cluster("", "443", "/sa", NULL, &c, &d), MB_EINVAL);
    ck_assert(strstr(d.msg, "KUBERNETES_SERVICE_HOST"));
    ck_assert_int_eq(kcfg_in_cluster("h", "44x", "/sa", NULL, &c, &d), MB_EINVAL);
}
END_TEST

/* --- evagg -------------------------------------------------------------------- */

START_TEST(test_evagg)
{
    struct evagg *a = evagg_new(2);
    struct evagg_decision d1, d2, d3, d4;
    evagg_decide(a, "web-1", "u1", "Warning", "Throttled", "83%", 1000, &d1);
    ck_assert(d1.create);
    ck_assert_uint_eq(d1.count, 1);
    ck_assert(strncmp(d1.name, "web-1.", 6) == 0);
    evagg_decide(a, "web-1", "u1", "Warning", "Throttled", "83%", 2000, &d2);
    ck_assert(!d2.create);
    ck_assert_str_eq(d2.name, d1.name);
    ck_assert_uint_eq(d2.count, 2);
    ck_assert_int_eq(d2.first, 1000);
    /* A different message, or another pod, is another Event. */
    evagg_decide(a, "web-1", "u1", "Warning", "Throttled", "84%", 3000, &d3);
    ck_assert(d3.create);
    ck_assert_str_ne(d3.name, d1.name);
    /* Bounded: a third key pushes out the least recent ("83%"). */
    evagg_decide(a, "web-2", "u2", "Warning", "Throttled", "83%", 4000, &d4);
    ck_assert_uint_eq(evagg_size(a), 2);
    evagg_decide(a, "web-1", "u1", "Warning", "Throttled", "83%", 5000, &d4);
    ck_assert(d4.create);
    /* Forgotten (its Event expired): created afresh. */
    evagg_forget(a, d4.name);
    evagg_decide(a, "web-1", "u1", "Warning", "Throttled", "83%", 6000, &d4);
    ck_assert(d4.create);
    ck_assert_uint_eq(d4.count, 1);
    evagg_free(a);
}
END_TEST

/* --- certgen_check (the idempotence of membudget certs) --------------------------- */

START_TEST(test_certgen_check)
{
    struct certgen_pair ca, leaf, other;
    struct mb_diag d = {0};
    const char *dns[] = {"svc", "svc.ns", "svc.ns.svc"};
    const char *more[] = {"svc.ns.svc", "elsewhere.ns.svc"};
    char why[256];
    ck_assert_int_eq(certgen_ca("ca", 10, &ca, &d), MB_OK);
    ck_assert_int_eq(certgen_serving(&ca, "svc.ns.svc", dns, 3, NULL, 0, 10, &leaf, &d), MB_OK);
    ck_assert_int_eq(certgen_ca("other", 10, &other, &d), MB_OK);
    /* Issued now: its validity starts at the real clock, so check with it. */
    int64_t now = (int64_t)time(NULL);
    ck_assert_msg(certgen_check(ca.cert_pem, leaf.cert_pem, leaf.key_pem, dns, 3, now, 86400, why,
                                sizeof why),
                  "%s", why);
    ck_assert(!certgen_check(ca.cert_pem, leaf.cert_pem, leaf.key_pem, dns, 3, now, 30 * 86400, why,
                             sizeof why));
    ck_assert(strstr(why, "expires within 30 days"));
    ck_assert(
        !certgen_check(ca.cert_pem, leaf.cert_pem, leaf.key_pem, more, 2, now, 0, why, sizeof why));
    ck_assert(strstr(why, "does not cover elsewhere.ns.svc"));
    ck_assert(!certgen_check(other.cert_pem, leaf.cert_pem, leaf.key_pem, dns, 3, now, 0, why,
                             sizeof why));
    ck_assert(strstr(why, "not signed by the CA"));
    ck_assert(
        !certgen_check(ca.cert_pem, leaf.cert_pem, other.key_pem, dns, 3, now, 0, why, sizeof why));
    ck_assert(strstr(why, "key does not match"));
    ck_assert(!certgen_check("junk", leaf.cert_pem, leaf.key_pem, dns, 3, now, 0, why, sizeof why));
    ck_assert(strstr(why, "cannot parse"));
    certgen_pair_cleanup(&ca);
    certgen_pair_cleanup(&leaf);
    certgen_pair_cleanup(&other);
}
END_TEST

Suite *kube_suite(void)
{
    Suite *s = suite_create("kube");
    TCase *tc = tcase_create("wframe");
    tcase_add_loop_test(tc, test_wframe_any_split, 0, 65);
    tcase_add_test(tc, test_wframe_too_long);
    tcase_add_test(tc, test_wframe_stop);
    suite_add_tcase(s, tc);
    tc = tcase_create("backoff");
    tcase_add_test(tc, test_backoff_grows_caps_resets);
    suite_add_tcase(s, tc);
    tc = tcase_create("kobj");
    tcase_add_loop_test(tc, test_kobj_events, 0, (int)MB_ARRAY_LEN(EVENTS));
    tcase_add_test(tc, test_kobj_status);
    tcase_add_loop_test(tc, test_kobj_strip_managed_fields, 0, (int)MB_ARRAY_LEN(STRIP));
    suite_add_tcase(s, tc);
    tc = tcase_create("evagg");
    tcase_add_test(tc, test_evagg);
    suite_add_tcase(s, tc);
    tc = tcase_create("certgen");
    tcase_add_test(tc, test_certgen_check);
    suite_add_tcase(s, tc);
    tc = tcase_create("b64");
    tcase_add_test(tc, test_b64_round_trip_and_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("kubeconfig");
    tcase_add_test(tc, test_kcfg_current_context);
    tcase_add_test(tc, test_kcfg_explicit_context_relative_paths);
    tcase_add_loop_test(tc, test_kcfg_errors, 0, (int)MB_ARRAY_LEN(KC_BAD));
    tcase_add_test(tc, test_kcfg_in_cluster);
    tcase_add_test(tc, test_kapi_redact_url);
    suite_add_tcase(s, tc);
    return s;
}
