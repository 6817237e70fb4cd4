/* check_opsauth.c -- who may read the ops endpoints: a bearer token, a
 * TokenReview, a SubjectAccessReview, through the fake API client (no
 * network, the clock the test sets). */
#include <string.h>
#include "fakes.h"
#include "membudget/alloc.h"
#include "membudget/metrics.h"
#include "membudget/opsauth.h"
#include "suites.h"
#include "testutil.h"

struct got {
    int n, status;
    char why[400];
};

static void on_done(void *ctx, int status, const char *why)
{
    struct got *g = ctx;
    g->n++;
    g->status = status;
    snprintf(g->why, sizeof g->why, "%s", why);
}

struct rig {
    struct fake_kapi f;
    struct fake_clock fc;
    struct mx *mx;
    struct opsauth *a;
};

static void rig_start(struct rig *r)
{
    fake_kapi_init(&r->f);
    fake_clock_init(&r->fc, 1000000, 1795000000000LL);
    r->mx = mx_new();
    r->a = opsauth_new(r->f.k, &r->fc.clk, r->mx);
}

static void rig_stop(struct rig *r)
{
    opsauth_free(r->a);
    fake_kapi_cleanup(&r->f);
    mx_free(r->mx);
}

static const char TR_OK[] = "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":true,\"user\":"
                            "{\"username\":\"system:serviceaccount:monitoring:prometheus\","
                            "\"uid\":\"u1\",\"groups\":[\"system:serviceaccounts\"]}}}";
static const char TR_NO[] = "{\"kind\":\"TokenReview\",\"status\":{\"authenticated\":false,"
                            "\"error\":\"token expired\"}}";

static double checks(struct rig *r, const char *result)
{
    const char *l[] = {result};
    return mx_value(mx_lookup(r->mx, "membudget_ops_auth_checks_total"), l);
}

/* No token: 401 at once, nothing asked. */
START_TEST(test_opsauth_no_token)
{
    struct rig r;
    struct got g = {0};
    rig_start(&r);
    opsauth_check(r.a, "", "/metrics", on_done, &g);
    ck_assert_int_eq(g.n, 1);
    ck_assert_int_eq(g.status, 401);
    ck_assert_msg(strstr(g.why, "no bearer token"), "%s", g.why);
    opsauth_check(r.a, NULL, "/metrics", on_done, &g);
    ck_assert_int_eq(g.status, 401);
    ck_assert_uint_eq(fake_kapi_count(&r.f, "POST", NULL), 0);
    ck_assert(checks(&r, "unauthenticated") == 2);
    rig_stop(&r);
}
END_TEST

/* A token the API server accepts, a user RBAC allows: the two reviews, as
 * the API server wants them; then the cached answer, until it expires. */
START_TEST(test_opsauth_allowed_then_cached)
{
    struct rig r;
    struct got g = {0};
    rig_start(&r);
    opsauth_check(r.a, "tok-1", "/metrics", on_done, &g);
    ck_assert_int_eq(g.n, 0);
    struct fk_req *q = fake_kapi_find(&r.f, "/apis/authentication.k8s.io/v1/tokenreviews");
    ck_assert_ptr_nonnull(q);
    json_t *b = tu_json(q->body);
    ck_assert_str_eq(json_string_value(json_object_get(b, "kind")), "TokenReview");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(b, "spec"), "token")),
                     "tok-1");
    json_decref(b);
    fake_kapi_answer(q, 201, TR_OK);
    q = fake_kapi_find(&r.f, "/apis/authorization.k8s.io/v1/subjectaccessreviews");
    ck_assert_ptr_nonnull(q);
    b = tu_json(q->body);
    json_t *spec = json_object_get(b, "spec");
    ck_assert_str_eq(json_string_value(json_object_get(spec, "user")),
                     "system:serviceaccount:monitoring:prometheus");
    ck_assert_str_eq(json_string_value(json_object_get(spec, "uid")), "u1");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(spec, "groups"), 0)),
                     "system:serviceaccounts");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(spec, "nonResourceAttributes"), "path")),
        "/metrics");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(spec, "nonResourceAttributes"), "verb")),
        "get");
    json_decref(b);
    fake_kapi_answer(q, 201, "{\"status\":{\"allowed\":true}}");
    ck_assert_int_eq(g.n, 1);
    ck_assert_int_eq(g.status, 200);
    /* cached: no review for a minute */
    opsauth_check(r.a, "tok-1", "/metrics", on_done, &g);
    ck_assert_int_eq(g.n, 2);
    ck_assert_int_eq(g.status, 200);
    ck_assert_uint_eq(fake_kapi_count(&r.f, "POST", NULL), 2);
    /* another path is another question */
    opsauth_check(r.a, "tok-1", "/debug/pods", on_done, &g);
    ck_assert_int_eq(g.n, 2);
    fake_kapi_answer(fake_kapi_find(&r.f, "tokenreviews"), 201, TR_OK);
    fake_kapi_answer(fake_kapi_find(&r.f, "subjectaccessreviews"), 201,
                     "{\"status\":{\"allowed\":true}}");
    ck_assert_int_eq(g.n, 3);
    fake_clock_advance(&r.fc, OPSAUTH_ALLOW_TTL_MS);
    opsauth_check(r.a, "tok-1", "/metrics", on_done, &g);
    ck_assert_int_eq(g.n, 3); /* expired: asked again */
    ck_assert_ptr_nonnull(fake_kapi_find(&r.f, "tokenreviews"));
    rig_stop(&r); /* the one waiting is answered: 503 */
    ck_assert_int_eq(g.n, 4);
    ck_assert_int_eq(g.status, 503);
}
END_TEST

/* Refusals: a token the API server does not know (401, cached for less),
 * a user RBAC does not allow (403, naming the user, the path and the fix). */
START_TEST(test_opsauth_refused)
{
    struct rig r;
    struct got g = {0};
    rig_start(&r);
    opsauth_check(r.a, "stale", "/metrics", on_done, &g);
    fake_kapi_answer(fake_kapi_find(&r.f, "tokenreviews"), 201, TR_NO);
    ck_assert_int_eq(g.status, 401);
    ck_assert_msg(strstr(g.why, "does not accept this token: token expired"), "%s", g.why);
    opsauth_check(r.a, "stale", "/metrics", on_done, &g);
    ck_assert_int_eq(g.n, 2);
    ck_assert_int_eq(g.status, 401);
    fake_clock_advance(&r.fc, OPSAUTH_DENY_TTL_MS);
    opsauth_check(r.a, "stale", "/metrics", on_done, &g);
    ck_assert_int_eq(g.n, 2); /* a refusal is remembered only 10 s */
    fake_kapi_answer(fake_kapi_find(&r.f, "tokenreviews"), 201, TR_NO);

    opsauth_check(r.a, "nobody", "/debug/pods", on_done, &g);
    fake_kapi_answer(fake_kapi_find(&r.f, "tokenreviews"), 201, TR_OK);
    fake_kapi_answer(fake_kapi_find(&r.f, "subjectaccessreviews"), 201,
                     "{\"status\":{\"allowed\":false,\"reason\":\"no RBAC policy matched\"}}");
    ck_assert_int_eq(g.status, 403);
    ck_assert_msg(
        strstr(g.why,
               "user \"system:serviceaccount:monitoring:prometheus\" may not get /debug/pods") &&
            strstr(g.why, "nonResourceURLs") && strstr(g.why, "no RBAC policy matched"),
        "%s", g.why);
    ck_assert(checks(&r, "forbidden") == 1);
    ck_assert(checks(&r, "unauthenticated") == 3);
    rig_stop(&r);
}
END_TEST

/* The API server cannot be asked: 503, never an allow, never cached. Too
 * many checks at once: the rest are 503 at once, asking nothing. */
START_TEST(test_opsauth_unverified_and_bounded)
{
    struct rig r;
    struct got g = {0}, many[OPSAUTH_MAX_INFLIGHT + 2];
    rig_start(&r);
    opsauth_check(r.a, "tok", "/metrics", on_done, &g);
    fake_kapi_answer(fake_kapi_find(&r.f, "tokenreviews"), 500,
                     "{\"kind\":\"Status\",\"message\":\"etcd down\"}");
    ck_assert_int_eq(g.status, 503);
    ck_assert_msg(strstr(g.why, "cannot verify the token: the TokenReview got HTTP 500: etcd down"),
                  "%s", g.why);
    opsauth_check(r.a, "tok", "/metrics", on_done, &g);
    ck_assert_int_eq(g.n, 1); /* not cached: asked again */
    fake_kapi_fail(fake_kapi_find(&r.f, "tokenreviews"), MB_EIO, "connection refused");
    ck_assert_int_eq(g.status, 503);
    memset(many, 0, sizeof many);
    for (size_t i = 0; i < MB_ARRAY_LEN(many); i++) {
        char tok[32];
        snprintf(tok, sizeof tok, "t%zu", i);
        opsauth_check(r.a, tok, "/metrics", on_done, &many[i]);
    }
    ck_assert_uint_eq(fake_kapi_count(&r.f, "POST", "tokenreviews"), 2 + OPSAUTH_MAX_INFLIGHT);
    for (size_t i = 0; i < MB_ARRAY_LEN(many); i++)
        ck_assert_int_eq(many[i].n, i < OPSAUTH_MAX_INFLIGHT ? 0 : 1);
    ck_assert_int_eq(many[OPSAUTH_MAX_INFLIGHT].status, 503);
    rig_stop(&r);
    for (size_t i = 0; i < OPSAUTH_MAX_INFLIGHT; i++)
        ck_assert_int_eq(many[i].status, 503); /* shutting down */
}
END_TEST

Suite *opsauth_suite(void)
{
    Suite *s = suite_create("opsauth");
    TCase *tc = tcase_create("reviews");
    tcase_add_test(tc, test_opsauth_no_token);
    tcase_add_test(tc, test_opsauth_allowed_then_cached);
    tcase_add_test(tc, test_opsauth_refused);
    tcase_add_test(tc, test_opsauth_unverified_and_bounded);
    suite_add_tcase(s, tc);
    return s;
}
