/* check_policy.c -- admission rules: violations, paths, mutations. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/jpatch.h"
#include "membudget/jsonx.h"
#include "membudget/limitrange.h"
#include "membudget/policy.h"
#include "membudget/quantity.h"
#include "suites.h"
#include "testutil.h"

#define C_API                                                                                      \
    "{\"name\":\"api\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}},\"ports\":[{\"name\":"      \
    "\"dbg\",\"containerPort\":6060}]}"
#define C_NOLIMIT "{\"name\":\"api\"}"

/* Each row: a pod (annotations, containers) -> expected violations as
 * "path=>msg-substring" joined by '|'. */
static const struct {
    const char *ann, *containers, *want;
} POD_ROWS[] = {
    {"{\"membudget.io/budget\":\"768Mi\"}", "[" C_API "]", ""},
    {NULL, "[" C_API "]",
     "metadata.annotations[membudget.io/budget]=>required: every pod in a namespace governed"},
    {"{\"membudget.io/budget\":\"768Mi\"}", "[" C_NOLIMIT "]",
     "spec.containers[0].resources.limits.memory=>required when membudget.io/budget is set"},
    {"{\"membudget.io/budget\":\"2Gi\"}", "[" C_API "]",
     "metadata.annotations[membudget.io/budget]=>\"2Gi\": exceeds the memory limit 1Gi of "
     "container \"api\""},
    {"{\"membudget.io/budget\":\"1Gi\"}", "[" C_API "]", ""}, /* equal to the limit is fine */
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/container\":\"side\"}", "[" C_API "]",
     "metadata.annotations[membudget.io/container]=>\"side\": no such container"},
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/container\":\"side\"}",
     "[{\"name\":\"x\"},"
     "{\"name\":\"side\",\"resources\":{\"limits\":{\"memory\":\"512Mi\"}}}]",
     "metadata.annotations[membudget.io/budget]=>exceeds the memory limit 512Mi of container "
     "\"side\" (spec.containers[1]"},
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/metrics\":\"dbg/metrics\",\"membudget.io/"
     "gc\":\"6060/debug/gc\"}",
     "[" C_API "]", ""},
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/metrics\":\"9090/metrics\",\"membudget.io/"
     "profile\":\"pprof/x\","
     "\"membudget.io/throttle\":\"7000/t\"}",
     "[" C_API "]",
     "metadata.annotations[membudget.io/metrics]=>port 9090 is not declared by container \"api\" "
     "(add it to spec.containers[0].ports|"
     "metadata.annotations[membudget.io/profile]=>has no port named \"pprof\"|"
     "metadata.annotations[membudget.io/throttle]=>port 7000 is not declared"},
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/memlimit\":\"7000/debug/memlimit\","
     "\"membudget.io/goroutines\":\"dbg/debug/pprof/goroutine?debug=2\"}",
     "[" C_API "]",
     "metadata.annotations[membudget.io/memlimit]=>port 7000 is not declared by container \"api\""},
    /* every problem at once */
    {"{\"membudget.io/budget\":\"2Gi\",\"membudget.io/tiers\":\"gc=90,throttle=95\",\"membudget.io/"
     "mode\":\"off\"}",
     "[" C_API "]",
     "metadata.annotations[membudget.io/tiers]=>\"gc=90,throttle=95\": thresholds must increase "
     "throttle < gc < evict|"
     "metadata.annotations[membudget.io/mode]=>must be enforce or dry-run|"
     "metadata.annotations[membudget.io/budget]=>exceeds the memory limit"},
    {"{\"membudget.io/budget\":\"768Mi\"}",
     "[{\"name\":\"api\",\"resources\":{\"limits\":{\"memory\":\"lots\"}}}]",
     "spec.containers[0].resources.limits.memory=>\"lots\": expected a number"},
    {"{\"membudget.io/budget\":\"768Mi\"}",
     "[{\"name\":\"api\",\"resources\":{\"limits\":{\"memory\":2147483648}}}]", ""},
    /* the resize tier's ceiling: at least the limit, a quantity above 0 */
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/max-limit\":\"2Gi\"}", "[" C_API "]", ""},
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/max-limit\":\"1Gi\"}", "[" C_API "]", ""},
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/max-limit\":\"512Mi\"}", "[" C_API "]",
     "metadata.annotations[membudget.io/max-limit]=>\"512Mi\": below the memory limit 1Gi of "
     "container \"api\" "
     "(spec.containers[0].resources.limits.memory); membudget raises a limit only up to it"},
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/max-limit\":\"0\"}", "[" C_API "]",
     "metadata.annotations[membudget.io/max-limit]=>\"0\": must be greater than 0"},
    {"{\"membudget.io/budget\":\"768Mi\",\"membudget.io/max-limit\":\"lots\"}", "[" C_API "]",
     "metadata.annotations[membudget.io/max-limit]=>\"lots\": expected a number"},
    {"[\"not\",\"a\",\"map\"]", "[" C_API "]",
     "metadata.annotations=>must be a map of "
     "strings|metadata.annotations[membudget.io/budget]=>required"},
};

static void expect(const struct policy_result *r, const char *want_list, int row)
{
    char *want = mb_xstrdup(want_list), *save = NULL;
    size_t nwant = 0;

    for (char *w = strtok_r(want, "|", &save); w; w = strtok_r(NULL, "|", &save)) {
        char *arrow = strstr(w, "=>");
        bool found = false;
        *arrow = '\0';
        for (size_t k = 0; k < r->nv; k++)
            if (!strcmp(r->v[k].path, w) && strstr(r->v[k].msg, arrow + 2))
                found = true;
        char *all = policy_message(r);
        ck_assert_msg(found, "row %d: missing %s: %s; got: %s", row, w, arrow + 2, all);
        mb_free(all);
        nwant++;
    }
    char *all = policy_message(r);
    ck_assert_msg(r->nv == nwant, "row %d: %zu violations, want %zu: %s", row, r->nv, nwant, all);
    mb_free(all);
    mb_free(want);
}

START_TEST(test_policy_pod_rows)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *pod = tu_pod(POD_ROWS[_i].ann, POD_ROWS[_i].containers);
    struct policy_input in = {.kind = POLICY_KIND_POD, .op = POLICY_CREATE, .object = pod};

    policy_conf_defaults(&conf);
    policy_eval(&conf, &in, &r);
    expect(&r, POD_ROWS[_i].want, _i);
    policy_result_cleanup(&r);
    json_decref(pod);
}
END_TEST

/* Workload kinds: the same checks at their template's path. */
static const struct {
    const char *json;
    enum policy_kind kind;
    const char *want;
    const char *pin; /* the container the webhook pins in the template, or NULL */
} WL_ROWS[] = {
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":{\"template\":{\"metadata\":{},"
     "\"spec\":{\"containers\":[" C_NOLIMIT "]}}}}",
     POLICY_KIND_DEPLOYMENT, "spec.template.metadata.annotations[membudget.io/budget]=>required",
     NULL},
    /* a template may leave the limit to a LimitRange: a warning (below), not a denial */
    {"{\"apiVersion\":\"apps/"
     "v1\",\"kind\":\"StatefulSet\",\"spec\":{\"template\":{\"metadata\":{\"annotations\":"
     "{\"membudget.io/budget\":\"1Gi\"}},\"spec\":{\"containers\":[" C_NOLIMIT "]}}}}",
     POLICY_KIND_STATEFULSET, "", "api"},
    {"{\"apiVersion\":\"batch/"
     "v1\",\"kind\":\"CronJob\",\"spec\":{\"jobTemplate\":{\"spec\":{\"template\":"
     "{\"metadata\":{\"annotations\":{\"membudget.io/"
     "budget\":\"3Gi\"}},\"spec\":{\"containers\":[" C_API "]}}}}}}",
     POLICY_KIND_CRONJOB,
     "spec.jobTemplate.spec.template.metadata.annotations[membudget.io/budget]=>exceeds the memory "
     "limit 1Gi "
     "of container \"api\" (spec.jobTemplate.spec.template.spec.containers[0]",
     NULL},
    {"{\"apiVersion\":\"batch/"
     "v1\",\"kind\":\"Job\",\"spec\":{\"template\":{\"metadata\":{\"annotations\":"
     "{\"membudget.io/budget\":\"1Gi\"}},\"spec\":{\"containers\":[" C_API "]}}}}",
     POLICY_KIND_JOB, "", "api"},
    {"{\"apiVersion\":\"apps/v1\",\"kind\":\"DaemonSet\",\"spec\":{}}", POLICY_KIND_DAEMONSET, "",
     NULL},
    {"{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"data\":{}}", POLICY_KIND_OTHER, "", NULL},
};

START_TEST(test_policy_workloads)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *obj = tu_json(WL_ROWS[_i].json);
    struct policy_input in = {
        .kind = policy_kind_of_object(obj), .op = POLICY_CREATE, .object = obj};

    ck_assert_int_eq(in.kind, WL_ROWS[_i].kind);
    policy_conf_defaults(&conf);
    policy_eval(&conf, &in, &r);
    expect(&r, WL_ROWS[_i].want, _i);
    if (!WL_ROWS[_i].pin) {
        ck_assert_ptr_null(r.patch);
    } else { /* a template only ever gets its target pinned */
        json_t *want = json_pack("[{s:s,s:s,s:s}]", "op", "add", "path",
                                 "/spec/template/metadata/annotations/membudget.io~1container",
                                 "value", WL_ROWS[_i].pin);
        size_t glen;
        char *got = mb_json_dumps(r.patch, JSON_COMPACT, &glen);
        ck_assert_msg(json_equal(r.patch, want), "row %d: patch %s", _i, got);
        mb_free(got);
        json_decref(want);
    }
    policy_result_cleanup(&r);
    json_decref(obj);
}
END_TEST

START_TEST(test_policy_kinds)
{
    ck_assert_int_eq(policy_kind_of("", "Pod"), POLICY_KIND_POD);
    ck_assert_int_eq(policy_kind_of("apps", "ReplicaSet"), POLICY_KIND_REPLICASET);
    ck_assert_int_eq(policy_kind_of("", "ReplicationController"),
                     POLICY_KIND_REPLICATIONCONTROLLER);
    ck_assert_int_eq(policy_kind_of("extensions", "Deployment"), POLICY_KIND_OTHER);
    ck_assert_int_eq(policy_kind_of(NULL, NULL), POLICY_KIND_OTHER);
    ck_assert_str_eq(policy_kind_name(POLICY_KIND_CRONJOB), "CronJob");
}
END_TEST

static json_t *apply(const json_t *doc, const json_t *patch)
{
    json_t *out = NULL;
    struct mb_diag d = {0};
    ck_assert_msg(jpatch_apply(doc, patch, &out, &d) == MB_OK, "%s", d.msg);
    return out;
}

START_TEST(test_policy_mutations_from_nothing)
{
    /* no env, no readinessGates, no annotations map: parents get created */
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *pod = tu_json("{\"metadata\":{\"name\":\"p\"},\"spec\":{\"containers\":[" C_API "]}}");
    struct policy_input in = {.kind = POLICY_KIND_POD, .op = POLICY_CREATE, .object = pod};

    policy_conf_defaults(&conf);
    conf.default_budget_pct = 75;
    policy_eval(&conf, &in, &r);
    ck_assert_uint_eq(r.nv, 0);
    ck_assert_ptr_nonnull(r.patch);
    json_t *out = apply(pod, r.patch);
    ck_assert_str_eq(
        json_string_value(jpatch_get(out, "/metadata/annotations/membudget.io~1budget")), "768Mi");
    ck_assert_str_eq(
        json_string_value(jpatch_get(out, "/metadata/annotations/membudget.io~1container")), "api");
    ck_assert_str_eq(json_string_value(jpatch_get(out, "/spec/containers/0/env/0/name")),
                     "GOMEMLIMIT");
    ck_assert_str_eq(json_string_value(jpatch_get(out, "/spec/containers/0/env/0/value")),
                     "805306368");
    ck_assert_str_eq(json_string_value(jpatch_get(out, "/spec/readinessGates/0/conditionType")),
                     "membudget.io/within-budget");
    json_decref(out);
    policy_result_cleanup(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_policy_mutations_append)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *pod = tu_json("{\"metadata\":{\"annotations\":{\"membudget.io/"
                          "budget\":\"512Mi\",\"membudget.io/container\":\"b\"}},"
                          "\"spec\":{\"readinessGates\":[{\"conditionType\":\"other\"}],"
                          "\"containers\":[{\"name\":\"a\"},"
                          "{\"name\":\"b\",\"env\":[{\"name\":\"X\",\"value\":\"1\"}],"
                          "\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}]}}");
    struct policy_input in = {.kind = POLICY_KIND_POD, .op = POLICY_CREATE, .object = pod};

    policy_conf_defaults(&conf);
    policy_eval(&conf, &in, &r);
    ck_assert_uint_eq(r.nv, 0);
    json_t *out = apply(pod, r.patch);
    ck_assert_str_eq(json_string_value(jpatch_get(out, "/spec/containers/1/env/1/value")),
                     "536870912");
    ck_assert_ptr_null(jpatch_get(out, "/spec/containers/0/env"));
    ck_assert_str_eq(json_string_value(jpatch_get(out, "/spec/readinessGates/1/conditionType")),
                     "membudget.io/within-budget");
    /* idempotent: evaluating the mutated pod asks for nothing more */
    struct policy_result r2 = {0};
    in.object = out;
    policy_eval(&conf, &in, &r2);
    ck_assert_ptr_null(r2.patch);
    policy_result_cleanup(&r2);
    json_decref(out);
    policy_result_cleanup(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_policy_no_mutation_cases)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    /* GOMEMLIMIT already set (and above the budget: a warning), throttle none: no gate */
    json_t *pod = tu_json("{\"metadata\":{\"annotations\":{\"membudget.io/"
                          "budget\":\"512Mi\",\"membudget.io/throttle\":\"none\","
                          "\"membudget.io/container\":\"a\"}},"
                          "\"spec\":{\"containers\":[{\"name\":\"a\",\"env\":[{\"name\":"
                          "\"GOMEMLIMIT\",\"value\":\"900MiB\"}],"
                          "\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}]}}");
    struct policy_input in = {.kind = POLICY_KIND_POD, .op = POLICY_CREATE, .object = pod};

    policy_conf_defaults(&conf);
    policy_eval(&conf, &in, &r);
    ck_assert_uint_eq(r.nv, 0);
    ck_assert_ptr_null(r.patch);
    ck_assert_uint_eq(r.nw, 1);
    ck_assert_msg(strstr(r.warnings[0],
                         "spec.containers[0].env[GOMEMLIMIT]: 900MiB is above the budget 512Mi"),
                  "%s", r.warnings[0]);
    policy_result_cleanup(&r);

    /* UPDATE never mutates */
    json_decref(pod);
    pod = tu_pod("{\"membudget.io/budget\":\"512Mi\"}", "[" C_API "]");
    in.object = pod;
    in.op = POLICY_UPDATE;
    policy_eval(&conf, &in, &r);
    ck_assert_ptr_null(r.patch);
    policy_result_cleanup(&r);

    /* injections switched off: only the pin (what the controller reads) */
    in.op = POLICY_CREATE;
    conf.inject_gomemlimit = false;
    conf.inject_readiness_gate = false;
    policy_eval(&conf, &in, &r);
    ck_assert_uint_eq(json_array_size(r.patch), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(r.patch, 0), "path")),
                     "/metadata/annotations/membudget.io~1container");
    policy_result_cleanup(&r);
    json_decref(pod);
}
END_TEST

START_TEST(test_policy_update_rules)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *old = tu_pod("{\"membudget.io/budget\":\"512Mi\"}", "[" C_API "]");
    json_t *now = tu_pod("{}", "[" C_API "]");
    struct policy_input in = {
        .kind = POLICY_KIND_POD, .op = POLICY_UPDATE, .object = now, .old_object = old};

    policy_conf_defaults(&conf);
    conf.require_budget = false; /* removal is refused even when budgets are optional */
    policy_eval(&conf, &in, &r);
    expect(&r, "metadata.annotations[membudget.io/budget]=>may not be removed by an update", 0);
    policy_result_cleanup(&r);

    /* raising above the limit on update */
    json_decref(now);
    now = tu_pod("{\"membudget.io/budget\":\"4Gi\"}", "[" C_API "]");
    in.object = now;
    policy_eval(&conf, &in, &r);
    expect(&r, "metadata.annotations[membudget.io/budget]=>exceeds the memory limit 1Gi", 1);
    policy_result_cleanup(&r);
    json_decref(now);
    json_decref(old);
}
END_TEST

START_TEST(test_policy_update_only_new_violations)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    /* a legacy pod without a budget gets its finalizer removed */
    json_t *old =
        tu_json("{\"metadata\":{\"finalizers\":[\"x\"]},\"spec\":{\"containers\":[" C_API "]}}");
    json_t *now = tu_json("{\"metadata\":{},\"spec\":{\"containers\":[" C_API "]}}");
    struct policy_input in = {
        .kind = POLICY_KIND_POD, .op = POLICY_UPDATE, .object = now, .old_object = old};

    policy_conf_defaults(&conf);
    policy_eval(&conf, &in, &r);
    ck_assert_uint_eq(r.nv, 0);
    ck_assert_uint_eq(r.nw, 1);
    ck_assert_msg(strstr(r.warnings[0], "metadata.annotations[membudget.io/budget]: required") &&
                      strstr(r.warnings[0], "not new in this update"),
                  "%s", r.warnings[0]);
    policy_result_cleanup(&r);

    /* the same legacy object, but the update adds a broken tiers value:
     * that part is new, so it is refused; the missing budget is not */
    json_decref(now);
    now = tu_json("{\"metadata\":{\"annotations\":{\"membudget.io/tiers\":\"gc=1,throttle=2\"}},"
                  "\"spec\":{\"containers\":[" C_API "]}}");
    in.object = now;
    policy_eval(&conf, &in, &r);
    expect(&r, "metadata.annotations[membudget.io/tiers]=>thresholds must increase", 0);
    policy_result_cleanup(&r);
    json_decref(now);
    json_decref(old);
}
END_TEST

/* --- hostile shapes: an UPDATE with N unknown annotations on both sides --- */

/* A pod with a valid budget and `n` unknown annotations membudget.io/u<i>
 * (i from `from`), as the F1/F2 attack sends them. */
static json_t *pod_with_unknown(size_t n, size_t from)
{
    json_t *pod = tu_pod("{\"membudget.io/budget\":\"512Mi\"}", "[" C_API "]");
    json_t *anns = json_object_get(json_object_get(pod, "metadata"), "annotations");
    char key[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof key, "membudget.io/u%zu", from + i);
        json_object_set_new(anns, key, json_string(""));
    }
    return pod;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Evaluate an UPDATE of old -> now as the webhook does: POLICY_KEEP, and
 * jansson's allocations in a parse arena (the old violations' set goes
 * there, counted against the parse budget). Returns the peak heap the
 * evaluation took outside the arena, in bytes; *arena_used what it took
 * from the arena. */
static long long eval_update(json_t *old, json_t *now, struct policy_result *r, double *secs,
                             size_t *arena_used)
{
    struct policy_conf conf;
    struct policy_input in = {.kind = POLICY_KIND_POD,
                              .op = POLICY_UPDATE,
                              .object = now,
                              .old_object = old,
                              .max_kept = POLICY_KEEP};
    struct mb_arena arena;
    double t0;
    long long outside;

    policy_conf_defaults(&conf);
    mb_arena_init(&arena, 64 * 1024);
    mb_arena_set_limit(&arena,
                       (size_t)1 << 30); /* (a limit makes the arena count what it hands out) */
    tu_heap_begin();
    mb_json_arena_begin(&arena);
    t0 = mono_s();
    policy_eval(&conf, &in, r);
    *secs = mono_s() - t0;
    mb_json_arena_end();
    /* (chunks are freed only at reset: the arena's share of the peak is its footprint now) */
    size_t footprint = mb_arena_footprint(&arena);
    *arena_used = arena.used;
    outside = tu_heap_end() - (long long)footprint;
    mb_arena_cleanup(&arena);
    return outside;
}

/* F1 (a quadratic compare: 60k annotations on both sides took 49 s) and F2
 * (every violation on the heap, 832 bytes each and more: 357 MB for one 6
 * MiB review). Now: the old violations are a hashed set, the new ones are
 * kept up to POLICY_KEEP and counted past it. Held: the verdict and the
 * counts (exact), the heap the evaluation takes (a bound 20x under what the
 * old error list alone took), and the time per annotation at 6k and 60k
 * printed side by side (a ratio near 1 is linear; never asserted). */
START_TEST(test_policy_hostile_update_linear)
{
    const size_t N = 60000;
    struct policy_result r = {0};
    double t_small, t_big;
    long long peak;
    size_t in_arena, in_arena_small;

    /* the same 60k unknown annotations before and after: nothing new */
    json_t *old = pod_with_unknown(N, 0), *now = pod_with_unknown(N, 0);
    peak = eval_update(old, now, &r, &t_big, &in_arena);
    ck_assert_uint_eq(r.nv + r.more, 0);
    ck_assert_uint_eq(r.nw, POLICY_KEEP);
    ck_assert_uint_eq(r.nw + r.wmore, N);
    ck_assert_msg(strstr(r.warnings[0], "not new in this update"), "%s", r.warnings[0]);
    ck_assert_msg(peak < 1000000LL,
                  "evaluation took %lld bytes of heap outside the arena at its peak "
                  "(the error list alone took 60k x 832 = 50 MB before)",
                  peak);
    /* unknown keys are told old or new by key: none of them is kept in the set */
    ck_assert_msg(in_arena < 64u << 10, "%zu bytes in the arena", in_arena);
    policy_result_cleanup(&r);
    json_decref(now);

    /* one more unknown annotation: that one is new, and refused */
    now = pod_with_unknown(N + 1, 0);
    (void)eval_update(old, now, &r, &t_big, &in_arena);
    ck_assert_uint_eq(r.nv, 1);
    ck_assert_uint_eq(r.more, 0);
    ck_assert_msg(strstr(r.v[0].path, "membudget.io/u60000"), "%s", r.v[0].path);
    policy_result_cleanup(&r);
    json_decref(now);

    /* all new: POLICY_KEEP kept, the rest counted, "and N more" */
    now = pod_with_unknown(N, N);
    long long peak_new = eval_update(old, now, &r, &t_big, &in_arena);
    ck_assert_msg(peak_new < 1000000LL, "%lld bytes of heap outside the arena", peak_new);
    ck_assert_uint_eq(r.nv, POLICY_KEEP);
    ck_assert_uint_eq(r.more, N - POLICY_KEEP);
    char *msg = policy_message(&r);
    char tail[64];
    snprintf(tail, sizeof tail, "; and %zu more", N - POLICY_KEEP);
    ck_assert_msg(strstr(msg, tail), "%s", msg + strlen(msg) - 40);
    ck_assert_msg(strlen(msg) < 64 * 1024, "%zu", strlen(msg));
    mb_free(msg);
    policy_result_cleanup(&r);
    json_decref(now);
    json_decref(old);

    /* linear: the time per annotation at 6k against 60k */
    old = pod_with_unknown(N / 10, 0);
    now = pod_with_unknown(N / 10, 0);
    (void)eval_update(old, now, &r, &t_small, &in_arena_small);
    policy_result_cleanup(&r);
    json_decref(now);
    json_decref(old);
    printf("policy hostile UPDATE: 60k unknown annotations each side: %.3f s (%.2f us each), "
           "6k: %.3f s (%.2f us each), ratio per annotation %.2f; heap outside the arena at its "
           "peak %lld bytes, the old violations' set %zu bytes in the arena (%zu at 6k)\n",
           t_big, t_big / (double)N * 1e6, t_small, t_small / (double)(N / 10) * 1e6,
           (t_big / (double)N) / (t_small / (double)(N / 10)), peak, in_arena, in_arena_small);
}
END_TEST

START_TEST(test_policy_optional_budget)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *pod = tu_pod(NULL, "[" C_NOLIMIT "]");
    struct policy_input in = {.kind = POLICY_KIND_POD, .op = POLICY_CREATE, .object = pod};

    policy_conf_defaults(&conf);
    conf.require_budget = false;
    policy_eval(&conf, &in, &r);
    ck_assert_uint_eq(r.nv, 0);
    ck_assert_ptr_null(r.patch); /* no budget: not tracked, so no gate, no GOMEMLIMIT */
    policy_result_cleanup(&r);

    /* a default percentage with no limit to take it from still needs a budget */
    conf.require_budget = true;
    conf.default_budget_pct = 90;
    policy_eval(&conf, &in, &r);
    expect(&r,
           "spec.containers[0].resources.limits.memory=>required: a governed pod needs a memory "
           "limit|metadata.annotations[membudget.io/budget]=>no default: the container has no "
           "memory limit",
           0);
    /* the limit comes first: it is the first thing to fix */
    ck_assert_str_eq(r.v[0].path, "spec.containers[0].resources.limits.memory");
    policy_result_cleanup(&r);
    json_decref(pod);
}
END_TEST

/* LimitRange users: a template with a budget and no limit is admitted with
 * a warning naming the limit; the pod it makes, if still without one, is not. */
START_TEST(test_policy_template_limit_from_limitrange)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    policy_conf_defaults(&conf);
    json_t *d =
        tu_json("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":{\"template\":"
                "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"768Mi\"}},"
                "\"spec\":{\"containers\":[" C_NOLIMIT "]}}}}");
    struct policy_input in = {.kind = POLICY_KIND_DEPLOYMENT, .op = POLICY_CREATE, .object = d};
    policy_eval(&conf, &in, &r);
    ck_assert_uint_eq(r.nv, 0);
    ck_assert_uint_eq(r.nw, 1);
    ck_assert_msg(!strncmp(r.warnings[0],
                           "spec.template.spec.containers[0].resources.limits.memory: not set "
                           "in the template: its pods need one, from a LimitRange default",
                           95),
                  "%s", r.warnings[0]);
    policy_result_cleanup(&r);
    json_t *pod = tu_pod("{\"membudget.io/budget\":\"768Mi\"}", "[" C_NOLIMIT "]");
    struct policy_input pin = {.kind = POLICY_KIND_POD, .op = POLICY_CREATE, .object = pod};
    policy_eval(&conf, &pin, &r);
    expect(&r,
           "spec.containers[0].resources.limits.memory=>required when membudget.io/budget is set",
           0);
    policy_result_cleanup(&r);
    json_decref(pod);
    json_decref(d);
}
END_TEST

/* A target without a memory limit, by what the namespace's LimitRanges give
 * (state, default) and the object (template or pod) and its budget:
 * want: violations as in POD_ROWS; warn: the start of the one warning
 * after the field path, or NULL for none. */
static const struct {
    bool tmpl;
    const char *budget;
    enum policy_lr_state state;
    const char *dflt;
    unsigned count;
    const char *want, *warn;
} LR_ROWS[] = {
    {true, "768Mi", POLICY_LR_UNKNOWN, NULL, 0, "",
     "not set in the template: its pods need one, from a LimitRange default"},
    {true, "768Mi", POLICY_LR_NONE, NULL, 0,
     "spec.template.spec.containers[0].resources.limits.memory=>required when membudget.io/budget "
     "is set: no "
     "LimitRange of namespace \"shop\" gives a default memory limit (type: Container, "
     "default.memory), so every pod",
     NULL},
    {true, NULL, POLICY_LR_NONE, NULL, 0,
     "spec.template.spec.containers[0].resources.limits.memory=>required: a governed pod needs a "
     "memory limit, and no "
     "LimitRange of namespace "
     "\"shop\"|spec.template.metadata.annotations[membudget.io/budget]=>required",
     NULL},
    {true, "768Mi", POLICY_LR_DEFAULT, "1Gi", 1, "",
     "not set in the template: its pods get 1Gi from LimitRange shop/mem (default.memory)"},
    {true, "768Mi", POLICY_LR_DEFAULT, "1Gi", 3, "",
     "not set in the template: its pods get 1Gi from LimitRange shop/mem (default.memory) (the "
     "smallest default of the 3"},
    {true, "2Gi", POLICY_LR_DEFAULT, "1Gi", 1,
     "spec.template.metadata.annotations[membudget.io/budget]=>\"2Gi\": exceeds the memory limit "
     "1Gi that LimitRange "
     "shop/mem gives container \"api\" (spec.template.spec.containers[0].resources.limits.memory "
     "is not set)",
     "not set in the template: its pods get 1Gi"},
    {true, "1Gi", POLICY_LR_DEFAULT, "1Gi", 1, "", "not set in the template: its pods get 1Gi"},
    /* a pod (lint): the default is what it will get too */
    {false, "768Mi", POLICY_LR_DEFAULT, "1Gi", 1, "",
     "not set in the pod: it gets 1Gi from LimitRange shop/mem"},
    {false, "768Mi", POLICY_LR_NONE, NULL, 0,
     "spec.containers[0].resources.limits.memory=>required when membudget.io/budget is set", NULL},
    {false, "768Mi", POLICY_LR_UNKNOWN, NULL, 0,
     "spec.containers[0].resources.limits.memory=>required when membudget.io/budget is set", NULL},
};

START_TEST(test_policy_limitrange_rows)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    struct policy_lr lr = {
        .state = LR_ROWS[_i].state, .count = LR_ROWS[_i].count, .ns = "shop", .name = "mem"};
    char ann[128] = "{}";
    json_t *obj;

    policy_conf_defaults(&conf);
    if (LR_ROWS[_i].dflt)
        ck_assert_int_eq(qty_parse_str(LR_ROWS[_i].dflt, &lr.default_memory, NULL), MB_OK);
    if (LR_ROWS[_i].budget)
        snprintf(ann, sizeof ann, "{\"membudget.io/budget\":\"%s\"}", LR_ROWS[_i].budget);
    if (LR_ROWS[_i].tmpl) {
        char *doc = mb_xasprintf(
            "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"spec\":{\"template\":"
            "{\"metadata\":{\"annotations\":%s},\"spec\":{\"containers\":[" C_NOLIMIT "]}}}}",
            ann);
        obj = tu_json(doc);
        mb_free(doc);
    } else {
        obj = tu_pod(ann, "[" C_NOLIMIT "]");
    }
    struct policy_input in = {.kind = LR_ROWS[_i].tmpl ? POLICY_KIND_DEPLOYMENT : POLICY_KIND_POD,
                              .op = POLICY_CREATE,
                              .object = obj,
                              .limit_range = &lr};
    policy_eval(&conf, &in, &r);
    expect(&r, LR_ROWS[_i].want, _i);
    if (LR_ROWS[_i].warn) {
        const char *w = r.nw ? strstr(r.warnings[0], ": ") : NULL;
        ck_assert_msg(w && !strncmp(w + 2, LR_ROWS[_i].warn, strlen(LR_ROWS[_i].warn)),
                      "row %d: %s", _i, r.nw ? r.warnings[0] : "(no warning)");
    } else {
        ck_assert_msg(r.nw == 0, "row %d: %s", _i, r.warnings[0]);
    }
    policy_result_cleanup(&r);
    json_decref(obj);
}
END_TEST

/* The LimitRange set: the LimitRanger rule (type Container, default.memory,
 * the first such item), replace and delete by name, the smallest default of
 * a namespace and how many give one. */
START_TEST(test_limitrange_set)
{
    struct lr_set s;
    struct policy_lr out;
    struct mb_diag d = {0};
    json_t *a =
        tu_json("{\"metadata\":{\"namespace\":\"shop\",\"name\":\"b-mem\"},\"spec\":{\"limits\":["
                "{\"type\":\"Pod\",\"max\":{\"memory\":\"8Gi\"}},"
                "{\"type\":\"Container\",\"default\":{\"cpu\":\"1\"}},"
                "{\"type\":\"Container\",\"default\":{\"memory\":\"2Gi\"}},"
                "{\"type\":\"Container\",\"default\":{\"memory\":\"1Gi\"}}]}}");
    json_t *b =
        tu_json("{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a-mem\"},\"spec\":{\"limits\":["
                "{\"type\":\"Container\",\"default\":{\"memory\":\"512Mi\"}}]}}");
    json_t *b2 =
        tu_json("{\"metadata\":{\"namespace\":\"shop\",\"name\":\"a-mem\"},\"spec\":{\"limits\":["
                "{\"type\":\"Container\",\"default\":{\"memory\":\"lots\"}}]}}");
    json_t *c =
        tu_json("{\"metadata\":{\"namespace\":\"cpu-only\",\"name\":\"cpu\"},\"spec\":{\"limits\":["
                "{\"type\":\"Container\",\"default\":{\"cpu\":\"500m\"}}]}}");
    json_t *noname = tu_json("{\"metadata\":{\"namespace\":\"shop\"}}");

    lr_set_init(&s);
    lr_set_lookup(&s, "shop", &out);
    ck_assert_int_eq(out.state, POLICY_LR_NONE);
    ck_assert_int_eq(lr_set_put(&s, a, &d), MB_OK);
    ck_assert_int_eq(lr_set_put(&s, c, &d), MB_OK);
    ck_assert_int_eq(lr_set_put(&s, noname, &d), MB_EINVAL);
    lr_set_lookup(&s, "shop", &out);
    ck_assert_int_eq(out.state, POLICY_LR_DEFAULT);
    ck_assert_int_eq(out.default_memory,
                     2LL << 30); /* the first Container item with a memory default */
    ck_assert_str_eq(out.name, "b-mem");
    ck_assert_str_eq(out.ns, "shop");
    ck_assert_uint_eq(out.count, 1);
    ck_assert_int_eq(lr_set_put(&s, b, &d), MB_OK);
    lr_set_lookup(&s, "shop", &out);
    ck_assert_int_eq(out.default_memory, 512LL << 20); /* the smallest */
    ck_assert_str_eq(out.name, "a-mem");
    ck_assert_uint_eq(out.count, 2);
    ck_assert_int_eq(lr_set_put(&s, b2, &d), MB_OK); /* replaced: no valid default now */
    ck_assert_uint_eq(lr_set_count(&s), 3);
    lr_set_lookup(&s, "shop", &out);
    ck_assert_str_eq(out.name, "b-mem");
    ck_assert_uint_eq(out.count, 1);
    lr_set_lookup(&s, "cpu-only", &out); /* a LimitRange, but no memory default */
    ck_assert_int_eq(out.state, POLICY_LR_NONE);
    ck_assert(lr_set_lookup(&s, "cpu-only", &out));
    ck_assert(!lr_set_lookup(&s, "shopping", &out));
    ck_assert(!lr_set_lookup(&s, "sho", &out));
    lr_set_delete(&s, a);
    lr_set_delete(&s, a); /* absent: fine */
    lr_set_lookup(&s, "shop", &out);
    ck_assert_int_eq(out.state, POLICY_LR_NONE);
    ck_assert_uint_eq(lr_set_count(&s), 2);
    struct lr_set t;
    lr_set_init(&t);
    lr_set_move(&t, &s);
    ck_assert_uint_eq(lr_set_count(&s), 0);
    ck_assert_uint_eq(lr_set_count(&t), 2);
    lr_set_cleanup(&t);
    lr_set_cleanup(&s);
    json_decref(a);
    json_decref(b);
    json_decref(b2);
    json_decref(c);
    json_decref(noname);
}
END_TEST

START_TEST(test_policy_message)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *pod =
        tu_pod("{\"membudget.io/budget\":\"768Mi\",\"membudget.io/gc\":\"x\"}", "[" C_NOLIMIT "]");
    struct policy_input in = {.kind = POLICY_KIND_POD, .op = POLICY_CREATE, .object = pod};
    char *m;

    policy_conf_defaults(&conf);
    policy_eval(&conf, &in, &r);
    m = policy_message(&r);
    ck_assert_str_eq(
        m, "metadata.annotations[membudget.io/gc]: \"x\": expected PORT/PATH, e.g. 6060/metrics; "
           "spec.containers[0].resources.limits.memory: required when membudget.io/budget is set "
           "(the budget must fit under a memory limit)");
    mb_free(m);
    policy_result_cleanup(&r);
    json_decref(pod);
}
END_TEST

/* The target container and its pin: which container gets the budget and
 * GOMEMLIMIT, and when the webhook writes membudget.io/container. */
#define P_PROXY "{\"name\":\"istio-proxy\",\"resources\":{\"limits\":{\"memory\":\"2Gi\"}}}"
#define P_APP "{\"name\":\"app\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}"
#define TMPL(ann, spec) "\"template\":{\"metadata\":{\"annotations\":" ann "},\"spec\":" spec "}"
#define DEPLOY(meta, ann, spec)                                                                    \
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":" meta                       \
    ",\"spec\":{" TMPL(ann, spec) "}}"
static const struct {
    const char *what;
    enum policy_op op;
    const char *obj, *old;
    const char *patch; /* the exact JSON Patch, or NULL for none */
    const char *viol;  /* violations as in POD_ROWS */
    const char *warn;  /* a warning's substring, or NULL for none */
} TARGET_ROWS[] = {
    {"kubectl's default-container picks the target; the pod is pinned to it", POLICY_CREATE,
     "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"768Mi\",\"kubectl.kubernetes.io/"
     "default-container\":\"app\"}},\"spec\":{\"readinessGates\":[{\"conditionType\":\"membudget."
     "io/"
     "within-budget\"}],\"containers\":[" P_PROXY "," P_APP "]}}",
     NULL,
     "[{\"op\":\"add\",\"path\":\"/spec/containers/1/env\",\"value\":[{\"name\":\"GOMEMLIMIT\","
     "\"value\":\"805306368\"}]},{\"op\":\"add\",\"path\":\"/metadata/annotations/"
     "membudget.io~1container\","
     "\"value\":\"app\"}]",
     "", NULL},
    {"an injector prepended a proxy to a pinned pod: the pin still finds app", POLICY_CREATE,
     "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"768Mi\",\"membudget.io/"
     "container\":\"app\","
     "\"membudget.io/throttle\":\"none\"}},\"spec\":{\"containers\":[" P_PROXY "," P_APP "]}}",
     NULL,
     "[{\"op\":\"add\",\"path\":\"/spec/containers/1/env\",\"value\":[{\"name\":\"GOMEMLIMIT\","
     "\"value\":\"805306368\"}]}]",
     "", NULL},
    {"a native sidecar may be the target", POLICY_CREATE,
     "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"768Mi\",\"membudget.io/"
     "container\":\"mesh\","
     "\"membudget.io/"
     "throttle\":\"none\"}},\"spec\":{\"initContainers\":[{\"name\":\"setup\"},{\"name\":"
     "\"mesh\",\"restartPolicy\":\"Always\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}],"
     "\"containers\":[{\"name\":\"app\"}]}}",
     NULL,
     "[{\"op\":\"add\",\"path\":\"/spec/initContainers/1/env\",\"value\":[{\"name\":\"GOMEMLIMIT\","
     "\"value\":\"805306368\"}]}]",
     "", NULL},
    {"a native sidecar's limit is checked at its own path", POLICY_CREATE,
     "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"2Gi\",\"membudget.io/"
     "container\":\"mesh\"}},"
     "\"spec\":{\"initContainers\":[{\"name\":\"mesh\",\"restartPolicy\":\"Always\",\"resources\":{"
     "\"limits\":{\"memory\":\"1Gi\"}}}],\"containers\":[{\"name\":\"app\"}]}}",
     NULL, NULL,
     "metadata.annotations[membudget.io/budget]=>exceeds the memory limit 1Gi of container "
     "\"mesh\" "
     "(spec.initContainers[0].resources.limits.memory)",
     NULL},
    {"an init container that runs to completion may not be the target", POLICY_CREATE,
     "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"768Mi\",\"membudget.io/"
     "container\":\"setup\"}},"
     "\"spec\":{\"initContainers\":[{\"name\":\"setup\"}],\"containers\":[" P_APP "]}}",
     NULL, NULL,
     "metadata.annotations[membudget.io/container]=>\"setup\": an init container that runs to "
     "completion",
     NULL},
    {"a default-container naming nothing: a warning, and the first container", POLICY_CREATE,
     "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"768Mi\",\"membudget.io/"
     "throttle\":\"none\","
     "\"kubectl.kubernetes.io/"
     "default-container\":\"gone\"}},\"spec\":{\"containers\":[{\"name\":\"app\","
     "\"env\":[{\"name\":\"GOMEMLIMIT\",\"value\":\"700MiB\"}],\"resources\":{\"limits\":{"
     "\"memory\":\"1Gi\"}}}]}}",
     NULL,
     "[{\"op\":\"add\",\"path\":\"/metadata/annotations/"
     "membudget.io~1container\",\"value\":\"app\"}]",
     "",
     "metadata.annotations[kubectl.kubernetes.io/default-container]: \"gone\": no such container; "
     "membudget "
     "budgets the first container, \"app\""},
    {"an injector ran first (no pin, no default-container): the proxy gets it, and a warning says "
     "why",
     POLICY_CREATE,
     "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"768Mi\",\"membudget.io/"
     "throttle\":\"none\"}},"
     "\"spec\":{\"containers\":[" P_PROXY "," P_APP "]}}",
     NULL,
     "[{\"op\":\"add\",\"path\":\"/spec/containers/0/env\",\"value\":[{\"name\":\"GOMEMLIMIT\","
     "\"value\":\"805306368\"}]},{\"op\":\"add\",\"path\":\"/metadata/annotations/"
     "membudget.io~1container\","
     "\"value\":\"istio-proxy\"}]",
     "",
     "metadata.annotations[membudget.io/container]: not set: the budget is for the first of 2 "
     "containers, "
     "\"istio-proxy\"; a sidecar injector whose webhook runs before membudget's puts its proxy "
     "first"},
    {"one container and no pin: no warning (nothing to choose from)", POLICY_CREATE,
     "{\"metadata\":{\"annotations\":{\"membudget.io/budget\":\"768Mi\",\"membudget.io/"
     "throttle\":\"none\"}},"
     "\"spec\":{\"containers\":[" P_APP "]}}",
     NULL,
     "[{\"op\":\"add\",\"path\":\"/spec/containers/0/env\",\"value\":[{\"name\":\"GOMEMLIMIT\","
     "\"value\":\"805306368\"}]},{\"op\":\"add\",\"path\":\"/metadata/annotations/"
     "membudget.io~1container\","
     "\"value\":\"app\"}]",
     "", NULL},
    {"a template's first of two containers: pinned, no warning (its author ordered them)",
     POLICY_CREATE,
     DEPLOY("{\"name\":\"web\"}", "{\"membudget.io/budget\":\"768Mi\"}",
            "{\"containers\":[" P_APP "," P_PROXY "]}"),
     NULL,
     "[{\"op\":\"add\",\"path\":\"/spec/template/metadata/annotations/"
     "membudget.io~1container\",\"value\":\"app\"}]",
     "", NULL},
    {"a Deployment is pinned on CREATE, to kubectl's default container", POLICY_CREATE,
     DEPLOY(
         "{\"name\":\"web\"}",
         "{\"membudget.io/budget\":\"768Mi\",\"kubectl.kubernetes.io/default-container\":\"app\"}",
         "{\"containers\":[" P_PROXY "," P_APP "]}"),
     NULL,
     "[{\"op\":\"add\",\"path\":\"/spec/template/metadata/annotations/"
     "membudget.io~1container\",\"value\":\"app\"}]",
     "", NULL},
    {"a Deployment UPDATE that leaves the template alone is not pinned (no rollout)", POLICY_UPDATE,
     DEPLOY("{\"name\":\"web\",\"labels\":{\"x\":\"1\"}}", "{\"membudget.io/budget\":\"768Mi\"}",
            "{\"containers\":[" P_APP "]}"),
     DEPLOY("{\"name\":\"web\"}", "{\"membudget.io/budget\":\"768Mi\"}",
            "{\"containers\":[" P_APP "]}"),
     NULL, "", NULL},
    {"a Deployment UPDATE that changes the template is pinned", POLICY_UPDATE,
     DEPLOY("{\"name\":\"web\"}", "{\"membudget.io/budget\":\"512Mi\"}",
            "{\"containers\":[" P_APP "]}"),
     DEPLOY("{\"name\":\"web\"}", "{\"membudget.io/budget\":\"768Mi\"}",
            "{\"containers\":[" P_APP "]}"),
     "[{\"op\":\"add\",\"path\":\"/spec/template/metadata/annotations/"
     "membudget.io~1container\",\"value\":\"app\"}]",
     "", NULL},
    {"server-side apply dropped the webhook's pin: it comes back as it was", POLICY_UPDATE,
     DEPLOY("{\"name\":\"web\"}", "{\"membudget.io/budget\":\"768Mi\"}",
            "{\"containers\":[" P_APP "]}"),
     DEPLOY("{\"name\":\"web\"}",
            "{\"membudget.io/budget\":\"768Mi\",\"membudget.io/container\":\"app\"}",
            "{\"containers\":[" P_APP "]}"),
     "[{\"op\":\"add\",\"path\":\"/spec/template/metadata/annotations/"
     "membudget.io~1container\",\"value\":\"app\"}]",
     "", NULL},
    {"a ReplicaSet its Deployment controls is never pinned", POLICY_CREATE,
     "{\"apiVersion\":\"apps/"
     "v1\",\"kind\":\"ReplicaSet\",\"metadata\":{\"name\":\"web-1\",\"ownerReferences\":"
     "[{\"kind\":\"Deployment\",\"name\":\"web\",\"controller\":true}]},\"spec\":{" TMPL(
         "{\"membudget.io/budget\":\"768Mi\"}", "{\"containers\":[" P_APP "]}") "}}",
     NULL, NULL, "", NULL},
    {"no budget, nothing written", POLICY_CREATE,
     DEPLOY("{\"name\":\"web\"}", "{}", "{\"containers\":[" P_APP "]}"), NULL, NULL,
     "spec.template.metadata.annotations[membudget.io/budget]=>required", NULL},
};

START_TEST(test_policy_target_rows)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *obj = tu_json(TARGET_ROWS[_i].obj);
    json_t *old = TARGET_ROWS[_i].old ? tu_json(TARGET_ROWS[_i].old) : NULL;
    struct policy_input in = {.kind = policy_kind_of_object(obj),
                              .op = TARGET_ROWS[_i].op,
                              .object = obj,
                              .old_object = old};
    char *got;
    size_t glen;

    if (in.kind == POLICY_KIND_OTHER)
        in.kind = POLICY_KIND_POD;
    policy_conf_defaults(&conf);
    policy_eval(&conf, &in, &r);
    if (TARGET_ROWS[_i].viol)
        expect(&r, TARGET_ROWS[_i].viol, _i);
    got = r.patch ? mb_json_dumps(r.patch, JSON_COMPACT, &glen) : NULL;
    if (TARGET_ROWS[_i].patch) {
        json_t *want = tu_json(TARGET_ROWS[_i].patch);
        ck_assert_msg(r.patch && json_equal(r.patch, want), "%s: patch %s", TARGET_ROWS[_i].what,
                      got ? got : "(none)");
        json_decref(want);
    } else {
        ck_assert_msg(!r.patch, "%s: unexpected patch %s", TARGET_ROWS[_i].what, got);
    }
    mb_free(got);
    if (TARGET_ROWS[_i].warn) {
        ck_assert_uint_eq(r.nw, 1);
        ck_assert_msg(strstr(r.warnings[0], TARGET_ROWS[_i].warn), "%s: %s", TARGET_ROWS[_i].what,
                      r.warnings[0]);
    } else {
        ck_assert_msg(r.nw == 0, "%s: %s", TARGET_ROWS[_i].what, r.nw ? r.warnings[0] : "");
    }
    policy_result_cleanup(&r);
    json_decref(obj);
    json_decref(old);
}
END_TEST

/* reinvocationPolicy: IfNeeded. membudget mutates a pod first, then an
 * injector prepends its proxy: the second call finds the pin, the moved
 * target and its GOMEMLIMIT, and asks for nothing. */
START_TEST(test_policy_reinvocation_after_injector)
{
    struct policy_conf conf;
    struct policy_result r = {0};
    json_t *pod = tu_pod("{\"membudget.io/budget\":\"768Mi\"}", "[" P_APP "]");
    struct policy_input in = {.kind = POLICY_KIND_POD, .op = POLICY_CREATE, .object = pod};
    json_t *out;

    policy_conf_defaults(&conf);
    policy_eval(&conf, &in, &r);
    ck_assert_ptr_nonnull(r.patch);
    out = apply(pod, r.patch);
    policy_result_cleanup(&r);
    json_array_insert_new(jpatch_get(out, "/spec/containers"), 0, tu_json(P_PROXY));
    in.object = out;
    policy_eval(&conf, &in, &r);
    ck_assert_uint_eq(r.nv, 0);
    ck_assert_ptr_null(r.patch);
    ck_assert_str_eq(json_string_value(jpatch_get(out, "/spec/containers/1/env/0/name")),
                     "GOMEMLIMIT");
    policy_result_cleanup(&r);
    json_decref(out);
    json_decref(pod);
}
END_TEST

START_TEST(test_policy_object_label)
{
    char out[200];
    json_t *o =
        tu_json("{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"}}");
    policy_object_label(o, NULL, NULL, NULL, out, sizeof out);
    ck_assert_str_eq(out, "Deployment shop/web");
    json_decref(o);
    o = tu_json("{\"kind\":\"Pod\",\"metadata\":{\"generateName\":\"web-7d9f-\"}}");
    policy_object_label(o, "Pod", "shop", "", out, sizeof out); /* a CREATE before naming */
    ck_assert_str_eq(out, "Pod shop/web-7d9f-*");
    policy_object_label(NULL, "Job", "", "", out, sizeof out);
    ck_assert_str_eq(out, "Job (unnamed)");
    json_decref(o);
}
END_TEST

Suite *policy_suite(void)
{
    Suite *s = suite_create("policy");
    TCase *tc = tcase_create("rules");

    tcase_add_loop_test(tc, test_policy_pod_rows, 0, (int)MB_ARRAY_LEN(POD_ROWS));
    tcase_add_loop_test(tc, test_policy_workloads, 0, (int)MB_ARRAY_LEN(WL_ROWS));
    tcase_add_test(tc, test_policy_kinds);
    tcase_add_test(tc, test_policy_mutations_from_nothing);
    tcase_add_test(tc, test_policy_mutations_append);
    tcase_add_test(tc, test_policy_no_mutation_cases);
    tcase_add_test(tc, test_policy_update_rules);
    tcase_add_test(tc, test_policy_update_only_new_violations);
    tcase_add_test(tc, test_policy_optional_budget);
    tcase_add_test(tc, test_policy_hostile_update_linear);
    tcase_add_test(tc, test_policy_message);
    tcase_add_test(tc, test_policy_template_limit_from_limitrange);
    tcase_add_loop_test(tc, test_policy_limitrange_rows, 0, (int)MB_ARRAY_LEN(LR_ROWS));
    tcase_add_test(tc, test_limitrange_set);
    tcase_add_test(tc, test_policy_object_label);
    tcase_add_loop_test(tc, test_policy_target_rows, 0, (int)MB_ARRAY_LEN(TARGET_ROWS));
    tcase_add_test(tc, test_policy_reinvocation_after_injector);
    suite_add_tcase(s, tc);
    return s;
}
