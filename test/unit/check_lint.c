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
    /* positions: the field's key, or the deepest part of its path that exists */
    {"kind: Pod\napiVersion: v1\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n",
     "f.yaml:4:21: Pod a: spec.containers[0].resources.limits.memory: required: a governed pod "
     "needs a "
     "memory limit, and a membudget.io/budget under it\n"
     "f.yaml:3:1: Pod a: metadata.annotations[membudget.io/budget]: required: every pod in a "
     "namespace governed by "
     "membudget must declare a memory budget, e.g. membudget.io/budget: \"768Mi\"\n",
     1, 0, 2, 0},
    {"---\n---\nkind: ConfigMap\napiVersion: v1\n---\n", "", 0, 1, 0, 0},
    {"apiVersion: v1\nkind: PodList\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: "
     "{generateName: web-, namespace: shop}\n"
     "  spec: {containers: [{name: c}]}\n",
     "f.yaml:7:23: Pod shop/web-*: spec.containers[0].resources.limits.memory: required: a "
     "governed pod needs a "
     "memory limit, and a membudget.io/budget under it\n"
     "f.yaml:6:3: Pod shop/web-*: metadata.annotations[membudget.io/budget]: required: every pod "
     "in a namespace governed by "
     "membudget must declare a memory budget, e.g. membudget.io/budget: \"768Mi\"\n",
     1, 0, 2, 0},
    {"a: [1\n",
     "f.yaml:2:1: error: while parsing a flow sequence did not find expected ',' or ']'\n", 0, 0, 0,
     1},
    {"- 1\n---\nmetadata: {}\n",
     "f.yaml:1:1: error: not a Kubernetes object\nf.yaml:3:1: error: object has no kind\n", 0, 0, 0,
     2},
    /* a broken document in the middle: reported at its own line; the others are checked */
    {"kind: ConfigMap\napiVersion: v1\n---\nkind: Pod\nmetadata: {name: [x\n--- # last\n"
     "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\nspec:\n  template:\n    "
     "metadata:\n"
     "      annotations: {membudget.io/budget: 2Gi}\n    spec: {containers: [{name: c, resources: "
     "{limits: {memory: 1Gi}}}]}\n",
     "f.yaml:6:1: error: while parsing a flow sequence did not find expected ',' or ']'\n"
     "f.yaml:13:21: ReplicationController rc: "
     "spec.template.metadata.annotations[membudget.io/budget]: \"2Gi\": "
     "exceeds the memory limit 1Gi of container \"c\" "
     "(spec.template.spec.containers[0].resources.limits.memory)\n",
     1, 1, 1, 1},
    /* invalid UTF-8 is reported where it is */
    {"kind: ConfigMap\napiVersion: v1\n---\napiVersion: v1\nkind: ConfigMap\ndata: {a: "
     "\"\xc3\x28\"}\n",
     "f.yaml:6:12: error: invalid UTF-8 (byte 0xC3): YAML must be UTF-8\n", 0, 1, 0, 1},
    {"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"j\",\"annotations\":{"
     "\"membudget.io/budget\":\"1Gi\"}},"
     "\"spec\":{\"containers\":[{\"name\":\"c\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}]}}"
     "\n"
     "  "
     "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"k\"},\"spec\":{"
     "\"containers\":[{\"name\":\"c\"}]}}",
     "f.yaml:2:3: Pod k: spec.containers[0].resources.limits.memory: required: a governed pod "
     "needs a "
     "memory limit, and a membudget.io/budget under it\n"
     "f.yaml:2:3: Pod k: metadata.annotations[membudget.io/budget]: required: every pod in a "
     "namespace governed by "
     "membudget must declare a memory budget, e.g. membudget.io/budget: \"768Mi\"\n",
     2, 0, 2, 0},
    {"{\"kind\": \"Pod\", oops}", "f.yaml:1:20: error: string or '}' expected near 'oops'\n", 0, 0,
     0, 1},
    /* kinds with a pod template by configuration: the built-in Rollout, and one given */
    {"apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: r}\nspec:\n  template:\n   "
     " metadata: {}\n"
     "    spec: {containers: [{name: c, resources: {limits: {memory: 1Gi}}}]}\n---\n"
     "apiVersion: example.com/v1\nkind: Worker\nmetadata: {name: w}\nspec:\n  pod:\n"
     "    spec: {containers: [{name: c, env: [{name: GOMEMLIMIT, value: 2GiB}], resources: "
     "{limits: {memory: 1Gi}}}]}\n"
     "    metadata: {annotations: {membudget.io/budget: 512Mi}}\n",
     "f.yaml:6:5: Rollout r: spec.template.metadata.annotations[membudget.io/budget]: required: "
     "every pod in a "
     "namespace governed by membudget must declare a memory budget, e.g. membudget.io/budget: "
     "\"768Mi\"\n"
     "f.yaml:14:41: Worker w: warning: spec.pod.spec.containers[0].env[GOMEMLIMIT]: 2GiB is above "
     "the budget 512Mi; "
     "the Go runtime will not work to stay inside the budget\n",
     2, 0, 1, 0},
};

START_TEST(test_lint_rows)
{
    struct policy_conf conf;
    struct lint_stats st = {0};
    struct lint_kind kinds[2];
    struct lint_opts o = {.conf = &conf, .format = LINT_TEXT, .kinds = kinds, .nkinds = 2};
    char why[128];
    struct mb_buf out;

    ck_assert(lint_kind_parse(LINT_DEFAULT_KINDS[0], &kinds[0], why, sizeof why));
    ck_assert_msg(lint_kind_parse(" example.com/Worker :spec.pod ", &kinds[1], why, sizeof why),
                  "%s", why);
    policy_conf_defaults(&conf);
    mb_buf_init(&out, 1 << 20);
    lint_buffer(&o, "f.yaml", ROWS[_i].in, strlen(ROWS[_i].in), &out, &st);
    ck_assert_msg(!strcmp(mb_buf_str(&out), ROWS[_i].want), "row %d:\n got: %s\nwant: %s", _i,
                  mb_buf_str(&out), ROWS[_i].want);
    ck_assert_uint_eq(st.objects, ROWS[_i].objects);
    ck_assert_uint_eq(st.skipped, ROWS[_i].skipped);
    ck_assert_uint_eq(st.violations, ROWS[_i].violations);
    ck_assert_uint_eq(st.bad_inputs, ROWS[_i].bad);
    mb_buf_cleanup(&out);
}
END_TEST

/* The same finding in each output format. */
START_TEST(test_lint_formats)
{
    static const char IN[] =
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n"
        "spec:\n  template:\n    metadata:\n      annotations:\n        membudget.io/budget: "
        "\"2Gi\"\n"
        "    spec: {containers: [{name: c, resources: {limits: {memory: 1Gi}}}]}\n";
    static const struct {
        enum lint_format f;
        const char *want;
    } F[] = {
        {LINT_TEXT, "m,1.yaml:8:9: Deployment shop/web: "
                    "spec.template.metadata.annotations[membudget.io/budget]: "
                    "\"2Gi\": exceeds the memory limit 1Gi of container \"c\" "
                    "(spec.template.spec.containers[0].resources.limits.memory)\n"},
        {LINT_JSON,
         "{\"file\":\"m,1.yaml\",\"line\":8,\"column\":9,\"type\":\"violation\",\"object\":"
         "\"Deployment shop/web\",\"kind\":\"Deployment\",\"namespace\":\"shop\",\"name\":\"web\","
         "\"field\":\"spec.template.metadata.annotations[membudget.io/budget]\",\"message\":"
         "\"\\\"2Gi\\\": exceeds the memory limit 1Gi of container \\\"c\\\" "
         "(spec.template.spec.containers[0].resources.limits.memory)\"}\n"},
        {LINT_GITHUB,
         "::error file=m%2C1.yaml,line=8,col=9,title=membudget%3A Deployment shop/web::"
         "spec.template.metadata.annotations[membudget.io/budget]: \"2Gi\": exceeds the memory "
         "limit 1Gi of container \"c\" "
         "(spec.template.spec.containers[0].resources.limits.memory)\n"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(F); i++) {
        struct policy_conf conf;
        struct lint_stats st = {0};
        struct lint_opts o = {.conf = &conf, .format = F[i].f};
        struct mb_buf out;
        policy_conf_defaults(&conf);
        mb_buf_init(&out, 1 << 20);
        lint_buffer(&o, "m,1.yaml", IN, sizeof IN - 1, &out, &st);
        ck_assert_msg(!strcmp(mb_buf_str(&out), F[i].want), "format %zu:\n got: %s\nwant: %s", i,
                      mb_buf_str(&out), F[i].want);
        mb_buf_cleanup(&out);
    }
}
END_TEST

/* LimitRanges from anywhere in the input (another file, a List): the
 * webhook's rule where the input has them for the namespace, an assumption
 * (counted) where it has none. */
START_TEST(test_lint_limitranges)
{
    static const char LR[] =
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: LimitRange, metadata: {name: mem, namespace: capped},\n"
        "   spec: {limits: [{type: Container, default: {memory: 1Gi}}]}}\n"
        "- {apiVersion: v1, kind: LimitRange, metadata: {name: cpu, namespace: bare},\n"
        "   spec: {limits: [{type: Container, default: {cpu: '1'}}]}}\n";
    static const char DEP[] = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: w, "
                              "namespace: %s}\nspec:\n  template:\n"
                              "    metadata: {annotations: {membudget.io/budget: %s}}\n    spec: "
                              "{containers: [{name: app, image: x}]}\n";
    static const struct {
        const char *ns, *budget, *want;
        size_t violations, warnings, assumed;
    } R[] = {
        {"capped", "768Mi",
         "warning: spec.template.spec.containers[0].resources.limits.memory: not set in the "
         "template: its pods get 1Gi from LimitRange capped/mem (default.memory)",
         0, 1, 0},
        {"capped", "2Gi",
         "\"2Gi\": exceeds the memory limit 1Gi that LimitRange capped/mem gives container", 1, 1,
         0},
        {"bare", "768Mi", "no LimitRange of namespace \"bare\" gives a default memory limit", 1, 0,
         0},
        {"other", "768Mi", "the namespace's LimitRanges are not known here, so one is assumed", 0,
         1, 1},
    };
    struct policy_conf conf;
    struct lint_opts o = {.conf = &conf, .format = LINT_TEXT};
    struct lr_set set;

    policy_conf_defaults(&conf);
    lr_set_init(&set);
    lint_collect_limitranges(&o, DEP, strlen(DEP), &set); /* says no "LimitRange": nothing */
    lint_collect_limitranges(&o, LR, strlen(LR), &set);
    ck_assert_uint_eq(lr_set_count(&set), 2);
    o.limitranges = &set;
    for (size_t i = 0; i < MB_ARRAY_LEN(R); i++) {
        char *doc = mb_xasprintf(DEP, R[i].ns, R[i].budget);
        struct lint_stats st = {0};
        struct mb_buf out;
        mb_buf_init(&out, 1 << 20);
        lint_buffer(&o, "d.yaml", doc, strlen(doc), &out, &st);
        ck_assert_msg(strstr(mb_buf_str(&out), R[i].want), "row %zu: %s", i, mb_buf_str(&out));
        ck_assert_uint_eq(st.violations, R[i].violations);
        ck_assert_uint_eq(st.warnings, R[i].warnings);
        ck_assert_uint_eq(st.assumed, R[i].assumed);
        mb_buf_cleanup(&out);
        mb_free(doc);
    }
    lr_set_cleanup(&set);
}
END_TEST

START_TEST(test_lint_kind_parse)
{
    static const struct {
        const char *in, *group, *kind, *pointer, *prefix, *err;
    } K[] = {
        {"argoproj.io/Rollout: spec.template", "argoproj.io", "Rollout", "/spec/template",
         "spec.template.", NULL},
        {"example.com/Worker:spec.a.b", "example.com", "Worker", "/spec/a/b", "spec.a.b.", NULL},
        {"Rollout: spec.template", NULL, NULL, NULL, NULL, "expected GROUP/KIND"},
        {"argoproj.io/Rollout spec.template", NULL, NULL, NULL, NULL, "expected GROUP/KIND: PATH"},
        {"argoproj.io/Rollout: ", NULL, NULL, NULL, NULL, "expected a field path"},
        {"argoproj.io/Rollout: spec..template", NULL, NULL, NULL, NULL, "single dots"},
        {"argoproj.io/Rollout: spec/template", NULL, NULL, NULL, NULL, "single dots"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(K); i++) {
        struct lint_kind k;
        char why[256] = "";
        bool ok = lint_kind_parse(K[i].in, &k, why, sizeof why);
        ck_assert_msg(ok == !K[i].err, "%s: %s", K[i].in, why);
        if (ok) {
            ck_assert_str_eq(k.group, K[i].group);
            ck_assert_str_eq(k.kind, K[i].kind);
            ck_assert_str_eq(k.pointer, K[i].pointer);
            ck_assert_str_eq(k.prefix, K[i].prefix);
        } else {
            ck_assert_msg(strstr(why, K[i].err), "%s: %s", K[i].in, why);
        }
    }
}
END_TEST

Suite *lint_suite(void)
{
    Suite *s = suite_create("lint");
    TCase *tc = tcase_create("lint");

    tcase_add_loop_test(tc, test_lint_rows, 0, (int)MB_ARRAY_LEN(ROWS));
    tcase_add_test(tc, test_lint_formats);
    tcase_add_test(tc, test_lint_kind_parse);
    tcase_add_test(tc, test_lint_limitranges);
    suite_add_tcase(s, tc);
    return s;
}
