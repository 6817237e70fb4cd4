/* check_review.c -- AdmissionReview decode/encode and the whole decision. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "membudget/admrev.h"
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/buf.h"
#include "membudget/jpatch.h"
#include "membudget/jsonx.h"
#include "membudget/review.h"
#include "suites.h"
#include "testutil.h"

static struct review_conf CONF;

static void setup(void)
{
    memset(&CONF, 0, sizeof CONF);
    policy_conf_defaults(&CONF.policy);
    CONF.own_ns = "membudget";
}

/* Run a fixture through review_handle; returns the parsed response body. */
static json_t *run(const char *fixture, enum review_endpoint ep, enum review_mode mode,
                   struct review_out *o)
{
    size_t len;
    char *body = tu_read_file(fixture, &len);
    json_t *resp;

    struct mb_arena arena;

    /* the fixture tests go through an arena, as the webhook does */
    mb_arena_init(&arena, 4096);
    review_handle(&CONF, ep, mode, body, len, &arena, o);
    mb_arena_cleanup(&arena);
    mb_free(body);
    ck_assert_int_eq(o->http_status, 200);
    resp = tu_json(o->body);
    ck_assert_str_eq(json_string_value(json_object_get(resp, "apiVersion")), "admission.k8s.io/v1");
    ck_assert_str_eq(json_string_value(json_object_get(resp, "kind")), "AdmissionReview");
    return resp;
}

/* Namespaces that are never governed: the webhook answers allowed and
 * untouched ("excluded") whatever the namespaceSelector let through, with
 * the very decision the controller reads (cfg_excluded). Each row: the
 * review's namespace, and whether it is excluded (config: excludedNamespaces
 * [monitoring], membudget's own namespace "platform"). */
static const struct {
    const char *ns;
    bool excluded;
} EXCLUDED[] = {
    {"kube-system", true}, {"kube-public", true}, {"kube-node-lease", true}, {"platform", true},
    {"monitoring", true},  {"shop", false},       {"membudget", false}, /* not ours here: our own is
                                                                           "platform" */
};

START_TEST(test_review_excluded_namespaces)
{
    static const char *const FIX[] = {"test/fixtures/admission/pod-create-bad.json",
                                      "test/fixtures/admission/pod-create-mutate.json"};
    static const char Y[] = "excludedNamespaces: [monitoring]\n";
    struct cfg cfg;
    struct review_conf rc = {0};
    struct mb_diag d = {0};

    ck_assert_int_eq(cfg_parse(Y, strlen(Y), "t.yaml", &cfg, &d), MB_OK);
    rc.policy = cfg.admission;
    rc.cfg = &cfg;
    rc.own_ns = "platform";
    ck_assert(cfg_excluded(&cfg, EXCLUDED[_i].ns, "platform") == EXCLUDED[_i].excluded);
    for (int f = 0; f < 2; f++) {
        size_t len;
        char *body = tu_read_file(FIX[f], &len), *at, *in;
        struct review_out o;
        enum review_endpoint ep = f ? REVIEW_MUTATE : REVIEW_VALIDATE;
        json_t *r;

        /* the request's namespace, and the object's */
        struct mb_buf b;
        mb_buf_init(&b, 1 << 20);
        for (in = body; (at = strstr(in, "\"namespace\": \"shop\"")); in = at + 19) {
            mb_buf_add(&b, in, (size_t)(at - in));
            mb_buf_printf(&b, "\"namespace\": \"%s\"", EXCLUDED[_i].ns);
        }
        mb_buf_adds(&b, in);
        review_handle(&rc, ep, REVIEW_ENFORCE, mb_buf_str(&b), b.len, NULL, &o);
        r = tu_json(o.body);
        ck_assert_str_eq(o.s.ns, EXCLUDED[_i].ns);
        if (EXCLUDED[_i].excluded) {
            ck_assert_str_eq(o.s.result, "excluded");
            ck_assert(json_is_true(jpatch_get(r, "/response/allowed")));
            ck_assert_ptr_null(jpatch_get(r, "/response/patch"));
            ck_assert_ptr_null(jpatch_get(r, "/response/warnings"));
        } else {
            ck_assert_str_eq(o.s.result, f ? "mutated" : "denied");
        }
        json_decref(r);
        review_out_cleanup(&o);
        mb_buf_cleanup(&b);
        mb_free(body);
    }
    cfg_cleanup(&cfg);
}
END_TEST

START_TEST(test_review_good_pod)
{
    struct review_out o;
    json_t *r =
        run("test/fixtures/admission/pod-create-good.json", REVIEW_VALIDATE, REVIEW_ENFORCE, &o);

    ck_assert_str_eq(json_string_value(jpatch_get(r, "/response/uid")),
                     "705ab4f5-6393-11e8-b7cc-42010a800002");
    ck_assert(json_is_true(jpatch_get(r, "/response/allowed")));
    ck_assert_ptr_null(jpatch_get(r, "/response/status"));
    ck_assert_ptr_null(jpatch_get(r, "/response/warnings"));
    ck_assert_str_eq(o.s.result, "allowed");
    ck_assert_str_eq(o.s.kind, "Pod");
    ck_assert_str_eq(o.s.operation, "CREATE");
    json_decref(r);
    review_out_cleanup(&o);
}
END_TEST

START_TEST(test_review_denied_lists_everything)
{
    struct review_out o;
    json_t *r =
        run("test/fixtures/admission/pod-create-bad.json", REVIEW_VALIDATE, REVIEW_ENFORCE, &o);
    const char *msg = json_string_value(jpatch_get(r, "/response/status/message"));

    ck_assert(json_is_false(jpatch_get(r, "/response/allowed")));
    ck_assert_int_eq(json_integer_value(jpatch_get(r, "/response/status/code")), 403);
    ck_assert_str_eq(json_string_value(jpatch_get(r, "/response/status/reason")), "Forbidden");
    ck_assert_str_eq(json_string_value(jpatch_get(r, "/response/uid")), "bad-0001");
    ck_assert_msg(
        strstr(msg,
               "metadata.annotations[membudget.io/tiers]: \"gc=90,throttle=95\": thresholds must "
               "increase throttle < gc < evict"),
        "%s", msg);
    ck_assert_msg(
        strstr(msg,
               "metadata.annotations[membudget.io/budget]: \"2Gi\": exceeds the memory limit 1Gi"),
        "%s", msg);
    ck_assert_msg(
        strstr(msg, "metadata.annotations[membudget.io/metrics]: port 9090 is not declared"), "%s",
        msg);
    ck_assert_uint_eq(o.s.violations, 3);
    ck_assert_str_eq(o.s.result, "denied");
    json_decref(r);
    review_out_cleanup(&o);
}
END_TEST

START_TEST(test_review_audit_warns)
{
    struct review_out o;
    json_t *r =
        run("test/fixtures/admission/pod-create-bad.json", REVIEW_VALIDATE, REVIEW_AUDIT, &o);

    ck_assert(json_is_true(jpatch_get(r, "/response/allowed")));
    ck_assert_uint_eq(json_array_size(jpatch_get(r, "/response/warnings")), 3);
    ck_assert_msg(!strncmp(json_string_value(jpatch_get(r, "/response/warnings/0")),
                           "membudget (audit, would deny): Pod ", 35),
                  "%s", json_string_value(jpatch_get(r, "/response/warnings/0")));
    ck_assert_str_eq(o.s.result, "warned");
    json_decref(r);
    review_out_cleanup(&o);
}
END_TEST

START_TEST(test_review_workload_template)
{
    struct review_out o;
    json_t *r = run("test/fixtures/admission/deployment-create-bad.json", REVIEW_VALIDATE,
                    REVIEW_ENFORCE, &o);
    const char *msg = json_string_value(jpatch_get(r, "/response/status/message"));

    ck_assert(json_is_false(jpatch_get(r, "/response/allowed")));
    /* the denial names its object first: `kubectl apply -f all.yaml` shows which */
    ck_assert_msg(
        !strcmp(msg,
                "Deployment shop/checkout-api: "
                "spec.template.metadata.annotations[membudget.io/budget]: required: every pod in a "
                "namespace governed by membudget must declare a memory budget, e.g. "
                "membudget.io/budget: \"768Mi\""),
        "%s", msg);
    ck_assert_str_eq(o.s.kind, "Deployment");
    json_decref(r);
    review_out_cleanup(&o);
}
END_TEST

START_TEST(test_review_mutate_patch_applies)
{
    struct review_out o;
    size_t len;
    char *body = tu_read_file("test/fixtures/admission/pod-create-mutate.json", &len);
    json_t *review = tu_json(body);
    json_t *r =
        run("test/fixtures/admission/pod-create-mutate.json", REVIEW_MUTATE, REVIEW_ENFORCE, &o);
    const char *b64 = json_string_value(jpatch_get(r, "/response/patch"));
    json_t *patch, *pod = NULL;
    char *raw;
    struct mb_diag d = {0};

    ck_assert(json_is_true(jpatch_get(r, "/response/allowed")));
    ck_assert_str_eq(json_string_value(jpatch_get(r, "/response/patchType")), "JSONPatch");
    raw = tu_base64_decode(b64, NULL); /* independently of the encoder */
    patch = tu_json(raw);
    mb_free(raw);
    ck_assert_int_eq(jpatch_apply(jpatch_get(review, "/request/object"), patch, &pod, &d), MB_OK);
    ck_assert_str_eq(json_string_value(jpatch_get(pod, "/spec/containers/0/env/0/name")),
                     "GOMEMLIMIT");
    ck_assert_str_eq(json_string_value(jpatch_get(pod, "/spec/containers/0/env/0/value")),
                     "536870912");
    ck_assert_str_eq(json_string_value(jpatch_get(pod, "/spec/readinessGates/0/conditionType")),
                     "membudget.io/within-budget");
    ck_assert_str_eq(o.s.result, "mutated");
    json_decref(pod);
    json_decref(patch);
    json_decref(review);
    json_decref(r);
    mb_free(body);
    review_out_cleanup(&o);
}
END_TEST

/* Hostile or malformed bodies: 400 with a one-line reason, never a crash. */
static const struct {
    const char *body;
    const char *why;
} BAD[] = {
    {"", "not JSON"},
    {"{", "not JSON"},
    {"[]", "not a JSON object"},
    {"{\"kind\":\"AdmissionReview\"}", "apiVersion must be admission.k8s.io/v1"},
    {"{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{}}",
     "apiVersion must be"},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"Pod\"}", "kind must be AdmissionReview"},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", "request is missing"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"\"}}",
     "uid"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":5}}",
     "uid"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}",
     "request.kind.kind"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"PATCH\"}}",
     "request.operation"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\"}}",
     "request.object must be an object"},
    {"{\"apiVersion\":\"admission.k8s.io/v1\",\"apiVersion\":\"x\"}",
     "not JSON"}, /* duplicate keys */
    {"\xff\xfe{}", "not JSON"},
    /* one rule for every string read: a NUL or a wrong type names the field */
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":{\"spec\":{\"containers\":[{\"name\":5}]}}}}",
     "request.object.spec.containers[0].name must be a string, got an integer"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":"
     "{\"limits\":{\"memory\":true}}}]}}}}",
     "request.object.spec.containers[0].resources.limits.memory must be a quantity (a string or an "
     "integer), got a boolean"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{"
     "\"name\":\"GOMEMLIMIT\",\"value\":5}]}]}}}}",
     "request.object.spec.containers[0].env[0].value must be a string, got an integer"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"annotations\":{\"membudget.io/"
     "budget\":512}}}}}",
     "request.object.metadata.annotations[membudget.io/budget] must be a string, got an integer"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"group\":\"apps\","
     "\"kind\":\"Deployment\"},\"operation\":\"CREATE\",\"object\":{\"spec\":{\"template\":{"
     "\"spec\":{\"containers\":{}}}}}}}",
     "request.object.spec.template.spec.containers must be an array, got an object"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"UPDATE\",\"object\":{},\"oldObject\":{\"spec\":{\"readinessGates\":[{"
     "\"conditionType\":[]}]}}}}",
     "request.oldObject.spec.readinessGates[0].conditionType must be a string, got an array"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"705ab4f5\\u0000evil\"}}",
     "request.uid contains a NUL byte"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":"
     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}}",
     "request.uid must be 1 to 128 bytes, got 129"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":[\"u\"]}}",
     "request.uid must be a string, got an array"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":{},\"dryRun\":1}}",
     "request.dryRun must be a boolean, got a number"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":{},\"namespace\":7}}",
     "request.namespace must be a string, got a number"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\\u0000\"}}",
     "request.operation contains a NUL byte"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":{\"spec\":{\"containers\":[{\"name\":\"a\",\"resources\":"
     "{\"limits\":{\"memory\":\"1Gi\\u0000x\"}}}]}}}}",
     "request.object.spec.containers[0].resources.limits.memory contains a NUL byte"},
    {"{\"apiVersion\":\"admission.k8s.io/"
     "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},"
     "\"operation\":\"CREATE\",\"object\":{\"metadata\":{\"annotations\":{\"membudget.io/"
     "budget\":\"1Gi\\u0000\"}}}}}",
     "request.object.metadata.annotations.membudget.io/budget contains a NUL byte"},
};

START_TEST(test_review_malformed)
{
    struct review_out o;

    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, BAD[_i].body, strlen(BAD[_i].body), NULL,
                  &o);
    ck_assert_int_eq(o.http_status, 400);
    ck_assert_msg(strstr(o.body, BAD[_i].why), "row %d: %s", _i, o.body);
    ck_assert(strchr(o.body, '\n') == o.body + o.body_len - 1); /* exactly one line */
    ck_assert_str_eq(o.s.result, "invalid");
    review_out_cleanup(&o);
}
END_TEST

/* pods/resize: the limit may not go below the budget; up is fine; and the
 * pinned target is the one checked, not the proxy in front of it. */
START_TEST(test_review_resize)
{
    struct review_out o;
    json_t *r = run("test/fixtures/admission/pod-resize-below-budget.json", REVIEW_VALIDATE,
                    REVIEW_ENFORCE, &o);
    const char *msg = json_string_value(jpatch_get(r, "/response/status/message"));

    ck_assert(json_is_false(jpatch_get(r, "/response/allowed")));
    ck_assert_str_eq(o.s.result, "denied");
    ck_assert_str_eq(o.s.operation, "UPDATE");
    ck_assert_msg(
        msg && strstr(msg, "Pod shop/api: metadata.annotations[membudget.io/budget]: \"768Mi\": "
                           "exceeds the memory limit 256Mi of container \"app\" "
                           "(spec.containers[1].resources.limits.memory)"),
        "%s", msg);
    json_decref(r);
    review_out_cleanup(&o);

    /* the same resize upwards is allowed */
    size_t len;
    char *body = tu_read_file("test/fixtures/admission/pod-resize-below-budget.json", &len);
    json_t *rev = tu_json(body);
    json_object_set_new(
        json_object_get(jpatch_get(rev, "/request/object/spec/containers/1/resources"), "limits"),
        "memory", json_string("2Gi"));
    char *up = mb_json_dumps(rev, JSON_COMPACT, &len);
    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, up, len, NULL, &o);
    r = tu_json(o.body);
    ck_assert(json_is_true(jpatch_get(r, "/response/allowed")));
    ck_assert_str_eq(o.s.result, "allowed");
    json_decref(r);
    review_out_cleanup(&o);
    mb_free(up);
    mb_free(body);
    json_decref(rev);
}
END_TEST

START_TEST(test_review_skips)
{
    /* DELETE, subresources and foreign kinds are allowed untouched */
    static const char *const BODIES[] = {
        "{\"apiVersion\":\"admission.k8s.io/"
        "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u1\","
        "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"operation\":\"DELETE\","
        "\"oldObject\":{}}}",
        "{\"apiVersion\":\"admission.k8s.io/"
        "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u2\","
        "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},\"subResource\":\"status\","
        "\"operation\":\"UPDATE\","
        "\"object\":{\"metadata\":{}}}}",
        "{\"apiVersion\":\"admission.k8s.io/"
        "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u3\","
        "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"ConfigMap\"},\"operation\":"
        "\"CREATE\",\"object\":{},\"dryRun\":true}}",
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(BODIES); i++) {
        struct review_out o;
        review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, BODIES[i], strlen(BODIES[i]), NULL,
                      &o);
        ck_assert_int_eq(o.http_status, 200);
        json_t *r = tu_json(o.body);
        ck_assert(json_is_true(jpatch_get(r, "/response/allowed")));
        ck_assert_str_eq(o.s.result, "skipped");
        json_decref(r);
        review_out_cleanup(&o);
    }
}
END_TEST

START_TEST(test_review_dry_run_and_bad_utf8_message)
{
    /* a budget whose value is cut mid-character by quoting still yields a
     * valid JSON response with the message */
    const char *body = "{\"apiVersion\":\"admission.k8s.io/"
                       "v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\","
                       "\"kind\":{\"group\":\"\",\"version\":\"v1\",\"kind\":\"Pod\"},"
                       "\"operation\":\"CREATE\",\"dryRun\":true,"
                       "\"object\":{\"metadata\":{\"annotations\":{\"membudget.io/mode\":"
                       "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u"
                       "00e9\\u00e9\\u00e9\\u00e9"
                       "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00"
                       "e9\\u00e9\\u00e9\\u00e9"
                       "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00"
                       "e9\\u00e9\\u00e9\\u00e9"
                       "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00"
                       "e9\\u00e9\\u00e9\\u00e9"
                       "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00"
                       "e9\\u00e9\\u00e9\\u00e9\"}},"
                       "\"spec\":{\"containers\":[{\"name\":\"a\"}]}}}}";
    struct review_out o;

    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, body, strlen(body), NULL, &o);
    ck_assert_int_eq(o.http_status, 200);
    json_t *r = tu_json(o.body);
    const char *msg = json_string_value(jpatch_get(r, "/response/status/message"));
    ck_assert_ptr_nonnull(msg);
    ck_assert(strstr(msg, "membudget.io/mode"));
    ck_assert(o.s.dry_run);
    json_decref(r);
    review_out_cleanup(&o);
}
END_TEST

/* A review of a Pod with `n` invalid membudget.io annotations (each one a
 * violation): built from the good fixture. Returns: new body. */
static char *many_violations(int n, size_t *len)
{
    size_t flen;
    char *body = tu_read_file("test/fixtures/admission/pod-create-good.json", &flen);
    json_t *r = tu_json(body), *ann = jpatch_get(r, "/request/object/metadata/annotations");
    char key[64];
    char *out;

    mb_free(body);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "membudget.io/unknown-%d", i);
        json_object_set_new(ann, key, json_string("x"));
    }
    out = mb_json_dumps(r, JSON_COMPACT, len);
    json_decref(r);
    return out;
}

/* Audit warnings stay within what the API server keeps (4096 characters),
 * ending with how many were left out; the enforce message within 64 KiB,
 * ending likewise. Whatever the number of violations. */
START_TEST(test_review_warnings_and_message_capped)
{
    size_t len, total = 0, nw;
    char *body = many_violations(5000, &len);
    struct review_out o;
    json_t *r, *w;
    const char *last, *msg;

    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_AUDIT, body, len, NULL, &o);
    r = tu_json(o.body);
    ck_assert(json_is_true(jpatch_get(r, "/response/allowed")));
    w = jpatch_get(r, "/response/warnings");
    nw = json_array_size(w);
    ck_assert_uint_gt(nw, 5);
    for (size_t i = 0; i < nw; i++)
        total += strlen(json_string_value(json_array_get(w, i)));
    ck_assert_uint_le(total, 4096);
    last = json_string_value(json_array_get(w, nw - 1));
    ck_assert_msg(strstr(last, "membudget: and ") && strstr(last, " more"), "%s", last);
    ck_assert_uint_le(o.body_len, 8192);
    json_decref(r);
    review_out_cleanup(&o);

    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, body, len, NULL, &o);
    r = tu_json(o.body);
    msg = json_string_value(jpatch_get(r, "/response/status/message"));
    ck_assert_uint_le(strlen(msg), 64 * 1024);
    ck_assert_msg(strstr(msg, " more") && !strcmp(strstr(msg, "; and "), strrchr(msg, ';')), "%s",
                  msg + strlen(msg) - 80);
    json_decref(r);
    review_out_cleanup(&o);
    mb_free(body);
}
END_TEST

/* A review whose JSON would take more than the arena's cap is refused with
 * 413 and says why; an ordinary one under the same cap is answered. */
START_TEST(test_review_parse_memory_capped)
{
    struct mb_arena arena;
    struct mb_buf b;
    struct review_out o;
    size_t len;
    char *good = tu_read_file("test/fixtures/admission/pod-create-good.json", &len);

    mb_arena_init(&arena, 4096);
    mb_arena_set_limit(&arena, 1 << 20);
    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, good, len, &arena, &o);
    ck_assert_int_eq(o.http_status, 200);
    review_out_cleanup(&o);
    mb_buf_init(&b, 1 << 20);
    mb_buf_adds(&b, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"x\":[");
    for (int i = 0; i < 100000; i++)
        mb_buf_adds(&b, i ? ",{}" : "{}");
    mb_buf_adds(&b, "]}");
    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, mb_buf_str(&b), b.len, &arena, &o);
    ck_assert_int_eq(o.http_status, 413); /* no request.uid to answer under */
    ck_assert_msg(strstr(o.body, "too large") && strstr(o.body, "1 MiB"), "%s", o.body);
    ck_assert_str_eq(o.s.result, "too_large");
    review_out_cleanup(&o);
    ck_assert(!mb_arena_exhausted(&arena)); /* reset for the next request */
    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, good, len, &arena, &o);
    ck_assert_int_eq(o.http_status, 200);
    review_out_cleanup(&o);
    mb_buf_cleanup(&b);
    mb_arena_cleanup(&arena);
    mb_free(good);
}
END_TEST

/* Workers share one parse budget: while another review holds it, a review
 * is answered 503 (busy, not "too complex"), and the budget comes back
 * whole when the holder's arena is reset. */
/* The parse-cost floor against what jansson really takes, for each shape an
 * attacker would send (about 1 MiB of each) and a real review. The floor
 * must never be above the real cost (a review that fits would be refused),
 * and for the attacker shapes at least 80% of it (before: [] was counted
 * at 120 bytes against 152 measured, so two clients looping 3 MiB of []
 * passed the floor and starved the pool: 18 of 175 normal reviews got
 * 503). Rows: the element, repeated inside [ ] with commas; NULL: the
 * fixture. */
static const struct {
    const char *elem, *fixture;
    bool shape; /* an attacker shape: the floor within 80% of the cost */
} FLOOR_ROWS[] = {
    {"[]", NULL, true},
    {"{}", NULL, true},
    {"\"\"", NULL, true},
    {"\"abcdefghijklmnopqrstuvwxyz\"", NULL, true},
    {"0", NULL, true},
    {"-12345678901", NULL, false}, /* (few per byte of text: no threat to the cap) */
    {"1.5e300", NULL, false},
    {"{\"k\":0}", NULL, true},
    {"[[[[]]]]", NULL, true},
    {"{\"a\":{\"b\":{\"c\":{}}}}", NULL, true},
    {"[{\"a\":[{\"b\":\"\"}]}]", NULL, true},
    {"true", NULL, false}, /* (jansson's true, false and null are shared: no cost but the slot) */
    {NULL, "test/fixtures/admission/pod-create-good.json", false},
    {NULL, "test/fixtures/admission/deployment-create-bad.json", false},
};

START_TEST(test_review_parse_floor_rows)
{
    struct mb_buf b;
    struct mb_arena arena;
    char *text;
    size_t len;

    if (FLOOR_ROWS[_i].elem) {
        mb_buf_init(&b, 2u << 20);
        mb_buf_adds(&b, "[");
        for (size_t n = 0; b.len < (1u << 20); n++) {
            mb_buf_adds(&b, n ? "," : "");
            mb_buf_adds(&b, FLOOR_ROWS[_i].elem);
        }
        mb_buf_adds(&b, "]");
        len = b.len;
        text = mb_buf_take(&b);
    } else {
        text = tu_read_file(FLOOR_ROWS[_i].fixture, &len);
    }
    mb_arena_init(&arena, 64 * 1024);
    mb_arena_set_limit(&arena, (size_t)1 << 30);
    mb_json_arena_begin(&arena);
    json_error_t e;
    json_t *j = json_loadb(text, len, 0, &e);
    mb_json_arena_end();
    ck_assert_msg(j != NULL, "row %d: %s", _i, e.text);
    size_t cost = arena.used, floor = review_parse_cost_floor(text, len);
    printf("parse cost of %-36s %8zu bytes of text: %10zu bytes parsed, floor %10zu (%.0f%%)\n",
           FLOOR_ROWS[_i].elem ? FLOOR_ROWS[_i].elem : FLOOR_ROWS[_i].fixture, len, cost, floor,
           100.0 * (double)floor / (double)cost);
    ck_assert_msg(floor <= cost,
                  "row %d: the floor %zu is above the cost %zu: a review that fits "
                  "would be refused",
                  _i, floor, cost);
    if (FLOOR_ROWS[_i].shape)
        ck_assert_msg(floor * 100 >= cost * 80,
                      "row %d: the floor %zu is under 80%% of the cost %zu", _i, floor, cost);
    json_decref(j);
    mb_arena_cleanup(&arena);
    mb_free(text);
}
END_TEST

/* The F5 shape at the webhook's defaults (a 192 MiB limit per review, a
 * 128 MiB pool): a review of a million [] (3 MB of text, 160 MB to parse)
 * is answered "too large" from its bytes, without parsing. Before (120
 * bytes an array) its floor was 123 MB, under the cap: it was parsed
 * until the pool ran dry, and normal reviews beside it got 503. */
START_TEST(test_review_million_arrays_refused_unparsed)
{
    atomic_llong pool = 128 << 20;
    struct mb_arena arena;
    struct mb_buf b;
    struct review_out o;

    mb_buf_init(&b, 4u << 20);
    mb_buf_adds(&b, "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                    "\"request\":{\"uid\":\"f5\",\"x\":[");
    for (int i = 0; i < 1000000; i++)
        mb_buf_adds(&b, i ? ",[]" : "[]");
    mb_buf_adds(&b, "]}}");
    mb_arena_init(&arena, 256 * 1024);
    mb_arena_set_limit(&arena, (size_t)192 << 20);
    mb_arena_set_pool(&arena, &pool, (size_t)128 << 20);
    tu_heap_begin();
    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, mb_buf_str(&b), b.len, &arena, &o);
    long long peak = tu_heap_end();
    ck_assert_str_eq(o.s.result, "too_large");
    ck_assert_int_eq(o.http_status, 200); /* answered under its uid: denied */
    ck_assert_msg(peak < (8 << 20), "%lld bytes of heap: it was parsed", peak);
    printf("a million [] (%zu bytes): floor %zu > cap %d: refused unparsed, %lld bytes of heap\n",
           b.len, review_parse_cost_floor(mb_buf_str(&b), b.len), 128 << 20, peak);
    ck_assert_int_eq(atomic_load(&pool), 128 << 20);
    review_out_cleanup(&o);
    mb_arena_cleanup(&arena);
    mb_buf_cleanup(&b);
}
END_TEST

START_TEST(test_review_parse_pool_shared)
{
    atomic_llong pool = 3 << 20;
    struct mb_arena holder, arena;
    struct review_out o;
    size_t len;
    char *good = tu_read_file("test/fixtures/admission/pod-create-good.json", &len);

    mb_arena_init(&holder, 4096);
    mb_arena_init(&arena, 4096);
    mb_arena_set_pool(&holder, &pool, 3 << 20);
    mb_arena_set_pool(&arena, &pool, 3 << 20);
    /* 2.5 MiB held; the 0.5 MiB left is less than the 1 MiB block a review takes */
    ck_assert_ptr_nonnull(mb_arena_try_alloc(&holder, (5u << 19)));
    ck_assert_int_eq(atomic_load(&pool), 1 << 19);
    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, good, len, &arena, &o);
    ck_assert_int_eq(o.http_status, 503);
    ck_assert_str_eq(o.s.result, "busy");
    ck_assert_msg(strstr(o.body, "--webhook-max-parse-bytes"), "%s", o.body);
    review_out_cleanup(&o);
    ck_assert_int_eq(atomic_load(&pool), 1 << 19); /* the refused one took nothing */
    mb_arena_reset(&holder);
    ck_assert_int_eq(atomic_load(&pool), 3 << 20);
    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, good, len, &arena, &o);
    ck_assert_int_eq(o.http_status, 200);
    review_out_cleanup(&o);
    ck_assert_int_eq(atomic_load(&pool), 3 << 20); /* ... and gave back what it took */
    mb_arena_cleanup(&holder);
    mb_arena_cleanup(&arena);
    mb_free(good);
}
END_TEST

/* A review that can never fit gets a definite answer under its uid, never
 * "busy, retry" (issue 26): refused from its bytes before any parse
 * memory is taken (a floor of what its objects cost), or by the parse when
 * it needs more than the whole shared pool, even with the pool idle. */
static char *with_request(const char *uid, const char *filler, int n)
{
    struct mb_buf b;
    mb_buf_init(&b, 64 << 20);
    mb_buf_printf(&b,
                  "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
                  "\"request\":{\"uid\":\"%s\",\"kind\":{\"group\":\"\",\"version\":\"v1\","
                  "\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"namespace\":\"shop\","
                  "\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}},"
                  "\"oldObject\":{\"x\":[",
                  uid);
    for (int i = 0; i < n; i++)
        mb_buf_printf(&b, "%s%s", i ? "," : "", filler);
    mb_buf_adds(&b, "]}}}");
    char *r = mb_xstrdup(mb_buf_str(&b));
    mb_buf_cleanup(&b);
    return r;
}

START_TEST(test_review_too_large_is_definite)
{
    static const struct {
        enum review_endpoint ep;
        enum review_mode mode;
        bool allowed;
    } EPS[] = {{REVIEW_VALIDATE, REVIEW_ENFORCE, false},
               {REVIEW_VALIDATE, REVIEW_AUDIT, true},
               {REVIEW_MUTATE, REVIEW_ENFORCE, true}};
    atomic_llong pool = 4 << 20;
    struct mb_arena arena;
    struct review_out o;
    mb_arena_init(&arena, 4096);
    mb_arena_set_limit(&arena, 64 << 20);
    mb_arena_set_pool(&arena, &pool, 4 << 20);
    ck_assert_uint_eq(mb_arena_cap(&arena), 4 << 20);
    /* 100k {}: 20 MB by the floor; 100k numbers: under the floor, 5.6 MB parsed */
    char *objs = with_request("7f0c-uid", "{}", 100000),
         *nums = with_request("7f0c-uid", "1", 100000);
    for (size_t i = 0; i < MB_ARRAY_LEN(EPS); i++) {
        for (int k = 0; k < 2; k++) {
            const char *body = k ? nums : objs;
            review_handle(&CONF, EPS[i].ep, EPS[i].mode, body, strlen(body), &arena, &o);
            ck_assert_msg(o.http_status == 200, "ep %zu body %d: %d %s", i, k, o.http_status,
                          o.body);
            ck_assert_str_eq(o.s.result, "too_large");
            json_t *r = tu_json(o.body), *resp = json_object_get(r, "response");
            ck_assert_str_eq(json_string_value(json_object_get(resp, "uid")), "7f0c-uid");
            ck_assert(json_is_true(json_object_get(resp, "allowed")) == EPS[i].allowed);
            const char *msg =
                EPS[i].allowed
                    ? json_string_value(json_array_get(json_object_get(resp, "warnings"), 0))
                    : json_string_value(
                          json_object_get(json_object_get(resp, "status"), "message"));
            ck_assert_msg(msg && strstr(msg, "too large") && strstr(msg, "4 MiB") &&
                              !strstr(msg, "retry"),
                          "%s", o.body);
            if (!EPS[i].allowed)
                ck_assert_int_eq(
                    json_integer_value(json_object_get(json_object_get(resp, "status"), "code")),
                    413);
            ck_assert_ptr_null(json_object_get(resp, "patch"));
            json_decref(r);
            review_out_cleanup(&o);
            ck_assert_int_eq(atomic_load(&pool), 4 << 20); /* all given back */
        }
    }
    mb_free(objs);
    mb_free(nums);
    mb_arena_cleanup(&arena);
}
END_TEST

/* The uid of a review too large to parse, found by a scanner that skips
 * values: only an unambiguous, plain request.uid. */
START_TEST(test_admrev_peek_uid)
{
    static const struct {
        const char *body, *want; /* NULL: none */
    } ROWS[] = {
        {"{\"request\":{\"uid\":\"abc\"}}", "abc"},
        {" { \"a\" : [1,{\"uid\":\"no\"},\"}\"], \"request\" : { \"x\":{\"uid\":\"no\"}, \"uid\" : "
         "\"u-1\" } } ",
         "u-1"},
        {"{\"request\":{\"uid\":\"a\\u0000b\"}}", NULL},
        {"{\"request\":{\"uid\":\"a\\\"b\"}}", NULL},
        {"{\"request\":{\"uid\":1}}", NULL},
        {"{\"request\":{\"uid\":\"\"}}", NULL},
        {"{\"request\":{\"uid\":\"a\",\"uid\":\"b\"}}", NULL},
        {"{\"request\":{\"uid\":\"a\"},\"request\":{\"uid\":\"b\"}}", NULL},
        {"{\"request\":{\"uid\":\"a\"}", NULL},
        {"[{\"request\":{\"uid\":\"a\"}}]", NULL},
        {"{\"request\":[{\"uid\":\"a\"}]}", NULL},
        {"{\"req\\u0075est\":{\"uid\":\"a\"}}", NULL},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(ROWS); i++) {
        char uid[129] = "";
        bool ok = admrev_peek_uid(ROWS[i].body, strlen(ROWS[i].body), uid, sizeof uid);
        ck_assert_msg(ok == (ROWS[i].want != NULL), "row %zu: %s", i, ROWS[i].body);
        if (ok)
            ck_assert_str_eq(uid, ROWS[i].want);
    }
    char big[200];
    snprintf(big, sizeof big, "{\"request\":{\"uid\":\"%0129d\"}}", 0);
    char uid[129];
    ck_assert(!admrev_peek_uid(big, strlen(big), uid, sizeof uid));
}
END_TEST

/* NUL bytes where membudget reads nothing (another tool's annotation, a
 * label, managedFields) do not matter: the pod is reviewed as usual. */
START_TEST(test_review_nul_where_unread)
{
    struct review_out o;
    size_t len;
    char *good = tu_read_file("test/fixtures/admission/pod-create-good.json", &len);
    json_t *r = tu_json(good), *md = jpatch_get(r, "/request/object/metadata");
    json_object_set_new(json_object_get(md, "annotations"), "other.io/x", json_stringn("a\0b", 3));
    json_object_set_new(md, "labels", json_pack("{s:o}", "l", json_stringn("a\0b", 3)));
    char *body = mb_json_dumps(r, JSON_COMPACT, &len);
    review_handle(&CONF, REVIEW_VALIDATE, REVIEW_ENFORCE, body, len, NULL, &o);
    ck_assert_msg(o.http_status == 200 && strstr(o.body, "\"allowed\":true"), "%s", o.body);
    review_out_cleanup(&o);
    mb_free(body);
    json_decref(r);
    mb_free(good);
}
END_TEST

Suite *review_suite(void)
{
    Suite *s = suite_create("review");
    TCase *tc = tcase_create("review");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_review_warnings_and_message_capped);
    tcase_add_test(tc, test_review_parse_memory_capped);
    tcase_add_test(tc, test_review_good_pod);
    tcase_add_loop_test(tc, test_review_excluded_namespaces, 0, (int)MB_ARRAY_LEN(EXCLUDED));
    tcase_add_test(tc, test_review_denied_lists_everything);
    tcase_add_test(tc, test_review_audit_warns);
    tcase_add_test(tc, test_review_workload_template);
    tcase_add_test(tc, test_review_mutate_patch_applies);
    tcase_add_loop_test(tc, test_review_malformed, 0, (int)MB_ARRAY_LEN(BAD));
    tcase_add_test(tc, test_review_skips);
    tcase_add_test(tc, test_review_resize);
    tcase_add_test(tc, test_review_parse_pool_shared);
    tcase_add_test(tc, test_review_million_arrays_refused_unparsed);
    tcase_add_loop_test(tc, test_review_parse_floor_rows, 0, (int)MB_ARRAY_LEN(FLOOR_ROWS));
    tcase_add_test(tc, test_review_too_large_is_definite);
    tcase_add_test(tc, test_admrev_peek_uid);
    tcase_add_test(tc, test_review_nul_where_unread);
    tcase_add_test(tc, test_review_dry_run_and_bad_utf8_message);
    suite_add_tcase(s, tc);
    return s;
}
