/* check_celpolicy.c -- `membudget policy render`'s objects (their rules are
 * proven on the real API server: test/e2e/cluster_policy_diff.py). */
#include <check.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/celpolicy.h"
#include "membudget/config.h"
#include "membudget/jsonx.h"
#include "membudget/ydoc.h"
#include "suites.h"

/* The documents of a rendering, as JSON (the header comment is none). */
static json_t *docs_of(const char *yaml)
{
    struct ydoc_stream *s = NULL;
    struct mb_diag d = {0};
    json_t *all = json_array();

    ck_assert_msg(ydoc_parse(yaml, strlen(yaml), NULL, &s, &d) == MB_OK, "%s", d.msg);
    for (size_t i = 0; i < s->ndocs; i++) {
        json_t *j = NULL;
        if (ydoc_is_null(s->docs[i]))
            continue;
        ck_assert(ydoc_to_json(s->docs[i], NULL, &j, &d) == MB_OK);
        json_array_append_new(all, j);
    }
    ydoc_free(s);
    return all;
}

static const json_t *find(const json_t *docs, const char *kind, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(docs, i, o)
    {
        if (!strcmp(json_string_value(json_object_get(o, "kind")), kind) &&
            !strcmp(json_string_value(json_object_get(json_object_get(o, "metadata"), "name")),
                    name))
            return o;
    }
    ck_abort_msg("no %s %s", kind, name);
    return NULL;
}

static const char *var_expr(const json_t *policy, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(policy, "spec"), "variables"), i, v)
    {
        if (!strcmp(json_string_value(json_object_get(v, "name")), name))
            return json_string_value(json_object_get(v, "expression"));
    }
    ck_abort_msg("no variable %s", name);
    return NULL;
}

START_TEST(test_render_objects)
{
    struct cfg cfg;
    struct celpolicy_params p;
    char *yaml;
    json_t *docs;

    cfg_defaults(&cfg);
    cfg.admission.default_budget_pct = 75;
    cfg.admission.inject_readiness_gate = false;
    for (size_t i = 0; i < cfg.excluded.n; i++)
        mb_free(cfg.excluded.v[i]);
    mb_free(cfg.excluded.v);
    cfg.excluded.v = mb_xcalloc(2, sizeof *cfg.excluded.v);
    cfg.excluded.v[0] = mb_xstrdup("kube-system"); /* fixed anyway: not twice */
    cfg.excluded.v[1] = mb_xstrdup("batch");
    cfg.excluded.n = 2;
    ck_assert_int_eq(celpolicy_params_from_config(&p, &cfg, "mb", "mbx", "Ignore", NULL), MB_OK);
    ck_assert_str_eq(p.never_json,
                     "[\"kube-system\", \"kube-public\", \"kube-node-lease\", \"batch\", \"mb\"]");
    ck_assert_int_eq(celpolicy_render(&p, &yaml, NULL), MB_OK);
    docs = docs_of(yaml);

    /* 2 validating and 2 mutating policies, each with its binding */
    ck_assert_uint_eq(json_array_size(docs), 8);
    const json_t *val = find(docs, "ValidatingAdmissionPolicy", "mbx-validate");
    const json_t *warn = find(docs, "ValidatingAdmissionPolicy", "mbx-warn");
    const json_t *mut = find(docs, "MutatingAdmissionPolicy", "mbx-mutate");
    const json_t *muta = find(docs, "MutatingAdmissionPolicy", "mbx-mutate-audit");
    const json_t *vb = find(docs, "ValidatingAdmissionPolicyBinding", "mbx-validate");
    const json_t *wb = find(docs, "ValidatingAdmissionPolicyBinding", "mbx-warn");
    const json_t *mab = find(docs, "MutatingAdmissionPolicyBinding", "mbx-mutate-audit");

    /* failure policies: the enforce namespaces' as given, audit and warnings Ignore */
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(val, "spec"), "failurePolicy")),
        "Ignore");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(warn, "spec"), "failurePolicy")),
        "Ignore");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(muta, "spec"), "failurePolicy")),
        "Ignore");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(mut, "spec"), "reinvocationPolicy")),
        "IfNeeded");
    /* Deny for enforce namespaces only, Warn everywhere governed */
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(vb, "spec"), "validationActions"), 0)),
                     "Deny");
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(wb, "spec"), "validationActions"), 0)),
                     "Warn");
    char *sel = mb_json_dumps(json_object_get(json_object_get(vb, "spec"), "matchResources"),
                              JSON_SORT_KEYS | JSON_COMPACT, NULL);
    ck_assert_msg(
        strstr(
            sel,
            "{\"key\":\"membudget.io/admission\",\"operator\":\"NotIn\",\"values\":[\"audit\"]}"),
        "%s", sel);
    ck_assert_msg(
        strstr(sel, "[\"kube-system\",\"kube-public\",\"kube-node-lease\",\"batch\",\"mb\"]"), "%s",
        sel);
    mb_free(sel);
    sel = mb_json_dumps(json_object_get(json_object_get(mab, "spec"), "matchResources"),
                        JSON_SORT_KEYS | JSON_COMPACT, NULL);
    ck_assert_msg(strstr(sel, "\"operator\":\"In\",\"values\":[\"audit\"]"), "%s", sel);
    mb_free(sel);
    /* pods/resize is validated, never mutated */
    sel = mb_json_dumps(json_object_get(json_object_get(val, "spec"), "matchConstraints"),
                        JSON_COMPACT, NULL);
    ck_assert_msg(strstr(sel, "pods/resize"), "%s", sel);
    mb_free(sel);
    sel = mb_json_dumps(json_object_get(json_object_get(mut, "spec"), "matchConstraints"),
                        JSON_COMPACT, NULL);
    ck_assert_msg(!strstr(sel, "pods/resize"), "%s", sel);
    mb_free(sel);

    /* the config's values, as CEL literals */
    ck_assert_msg(strstr(var_expr(mut, "n_candef"), "75 > 0"), "%s", var_expr(mut, "n_candef"));
    ck_assert_msg(strstr(var_expr(mut, "gateops"), "&& false\n"), "%s", var_expr(mut, "gateops"));
    ck_assert_msg(strstr(var_expr(mut, "gmlops"), "&& true\n"), "%s", var_expr(mut, "gmlops"));
    ck_assert_msg(strstr(var_expr(val, "n_wants"), "(true && "), "%s", var_expr(val, "n_wants"));
    /* the old object is evaluated too, but only the new one can remove a budget */
    ck_assert(strstr(var_expr(val, "n_v"), "may not be removed by an update"));
    ck_assert(!strstr(var_expr(val, "o_v"), "may not be removed by an update"));
    /* the header says what CEL cannot do */
    ck_assert(strstr(yaml, "LimitRanges: CEL cannot read them"));

    json_decref(docs);
    mb_free(yaml);
    celpolicy_params_cleanup(&p);
    cfg_cleanup(&cfg);
}
END_TEST

/* Helm's actions only where values go: no other "{{" in the CEL. */
START_TEST(test_render_helm_placeholders)
{
    const struct celpolicy_params p = {
        .name = "N",
        .require_budget = "RB",
        .default_pct = "PCT",
        .inject_gomemlimit = "IG",
        .inject_readiness_gate = "IR",
        .never_json = "NEVER",
        .failure_policy = "FP",
        .helm = true,
    };
    char *yaml;
    ck_assert_int_eq(celpolicy_render(&p, &yaml, NULL), MB_OK);
    ck_assert_ptr_null(strstr(yaml, "{{"));
    ck_assert(strstr(yaml, "failurePolicy: FP"));
    ck_assert(strstr(yaml, "values: NEVER"));
    ck_assert(strstr(yaml, "PCT > 0"));
    ck_assert(strstr(yaml, "(RB && "));
    mb_free(yaml);
}
END_TEST

/* F7: a config whose excluded namespaces do not fit the policies (99,990
 * of them, a 1 MB config). Before: exit 0 and broken YAML, the list cut at
 * 1 MiB and membudget's own namespace missing. Now: an error naming the
 * count and the limit, and nothing rendered. Just under the limit, the
 * whole list renders, and parses back with membudget's namespace last. */
START_TEST(test_render_never_list_too_long)
{
    struct cfg cfg;
    struct celpolicy_params p;
    struct mb_diag d = {0};
    char *yaml = NULL;

    cfg_defaults(&cfg);
    for (size_t i = 0; i < cfg.excluded.n; i++)
        mb_free(cfg.excluded.v[i]);
    mb_free(cfg.excluded.v);
    cfg.excluded.n = 99990;
    cfg.excluded.v = mb_xcalloc(cfg.excluded.n, sizeof *cfg.excluded.v);
    for (size_t i = 0; i < cfg.excluded.n; i++)
        cfg.excluded.v[i] = mb_xasprintf("team-%05zu", i);
    ck_assert_int_eq(celpolicy_params_from_config(&p, &cfg, "membudget", "membudget", "Fail", &d),
                     MB_ETOOBIG);
    ck_assert_msg(strstr(d.msg, "excludedNamespaces: 99990 namespaces") && strstr(d.msg, "256 KiB"),
                  "%s", d.msg);
    celpolicy_params_cleanup(&p);

    /* 15k fit (15 bytes each: 225 KB): the whole list, and the own namespace */
    cfg.excluded.n = 15000;
    ck_assert_int_eq(celpolicy_params_from_config(&p, &cfg, "membudget", "membudget", "Fail", &d),
                     MB_OK);
    ck_assert_int_eq(celpolicy_render(&p, &yaml, &d), MB_OK);
    json_t *docs = docs_of(yaml);
    ck_assert_uint_eq(json_array_size(docs), 8);
    const json_t *vb = find(docs, "ValidatingAdmissionPolicyBinding", "membudget-validate");
    const json_t *exprs = json_object_get(
        json_object_get(json_object_get(vb, "spec"), "matchResources"), "namespaceSelector");
    const json_t *never = NULL, *e;
    size_t i;
    json_array_foreach(json_object_get(exprs, "matchExpressions"), i,
                       e) if (!strcmp(json_string_value(json_object_get(e, "key")) ?: "",
                                      "kubernetes.io/metadata.name")) never =
        json_object_get(e, "values");
    ck_assert_uint_eq(json_array_size(never), 3 + 15000 + 1);
    ck_assert_str_eq(json_string_value(json_array_get(never, 3 + 15000)), "membudget");
    json_decref(docs);
    mb_free(yaml);
    celpolicy_params_cleanup(&p);
    cfg.excluded.n = 99990;
    cfg_cleanup(&cfg);
}
END_TEST

Suite *celpolicy_suite(void)
{
    Suite *s = suite_create("celpolicy");
    TCase *tc = tcase_create("render");

    tcase_add_test(tc, test_render_objects);
    tcase_add_test(tc, test_render_helm_placeholders);
    tcase_add_test(tc, test_render_never_list_too_long);
    suite_add_tcase(s, tc);
    return s;
}
