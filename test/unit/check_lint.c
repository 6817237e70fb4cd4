/* check_lint.c -- manifests in, compiler-style lines out. */
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/lint.h"
#include "suites.h"

static const struct {
    const char *in;
    const char *want; /* exact output */
    size_t objects, skipped, violations, bad;
} ROWS[] = {
    {"kind: Pod\napiVersion: v1\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n",
     "f.yaml:1: Pod/a: spec.containers[0].resources.limits.memory: required: a governed pod needs a "
     "memory limit, and a membudget.io/budget under it\n"
     "f.yaml:1: Pod/a: metadata.annotations[membudget.io/budget]: required: every pod in a namespace governed by "
     "membudget must declare a memory budget, e.g. membudget.io/budget: \"768Mi\"\n", 1, 0, 2, 0},
    {"---\n---\nkind: ConfigMap\napiVersion: v1\n---\n", "", 0, 1, 0, 0},
    {"apiVersion: v1\nkind: PodList\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {generateName: web-}\n"
     "  spec: {containers: [{name: c}]}\n",
     "f.yaml:1: Pod/web-*: spec.containers[0].resources.limits.memory: required: a governed pod needs a "
     "memory limit, and a membudget.io/budget under it\n"
     "f.yaml:1: Pod/web-*: metadata.annotations[membudget.io/budget]: required: every pod in a namespace governed by "
     "membudget must declare a memory budget, e.g. membudget.io/budget: \"768Mi\"\n", 1, 0, 2, 0},
    {"a: [1\n", "f.yaml: error: line 2 column 1: while parsing a flow sequence did not find expected ',' or ']'\n", 0, 0, 0, 1},
    {"- 1\n---\nmetadata: {}\n", "f.yaml:1: error: not a Kubernetes object\nf.yaml:2: error: object has no kind\n", 0, 0, 0, 2},
    {"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"j\",\"annotations\":{\"membudget.io/budget\":\"1Gi\"}},"
     "\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}]}}\n"
     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"k\"},\"spec\":{\"containers\":[{\"name\":\"c\"}]}}",
     "f.yaml:2: Pod/k: spec.containers[0].resources.limits.memory: required: a governed pod needs a "
     "memory limit, and a membudget.io/budget under it\n"
     "f.yaml:2: Pod/k: metadata.annotations[membudget.io/budget]: required: every pod in a namespace governed by "
     "membudget must declare a memory budget, e.g. membudget.io/budget: \"768Mi\"\n", 2, 0, 2, 0},
    {"{\"kind\": \"Pod\", oops}", "f.yaml:1: error: line 1: string or '}' expected near 'oops'\n", 0, 0, 0, 1},
};

START_TEST(test_lint_rows)
{
    struct policy_conf conf;
    struct lint_stats st = {0};
    struct mb_buf out;

    policy_conf_defaults(&conf);
    mb_buf_init(&out, 1 << 20);
    lint_buffer(&conf, "f.yaml", ROWS[_i].in, strlen(ROWS[_i].in), &out, &st);
    ck_assert_msg(!strcmp(mb_buf_str(&out), ROWS[_i].want), "row %d:\n got: %s\nwant: %s", _i, mb_buf_str(&out),
                  ROWS[_i].want);
    ck_assert_uint_eq(st.objects, ROWS[_i].objects);
    ck_assert_uint_eq(st.skipped, ROWS[_i].skipped);
    ck_assert_uint_eq(st.violations, ROWS[_i].violations);
    ck_assert_uint_eq(st.bad_inputs, ROWS[_i].bad);
    mb_buf_cleanup(&out);
}
END_TEST

Suite *lint_suite(void)
{
    Suite *s = suite_create("lint");
    TCase *tc = tcase_create("lint");

    tcase_add_loop_test(tc, test_lint_rows, 0, (int)MB_ARRAY_LEN(ROWS));
    suite_add_tcase(s, tc);
    return s;
}
