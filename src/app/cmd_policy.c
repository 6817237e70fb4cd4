/*
 * cmd_policy.c -- `membudget policy render` (shell): the admission rules as
 * ValidatingAdmissionPolicies and MutatingAdmissionPolicies, for clusters
 * that admit without the webhook (celpolicy.c writes them; this file
 * checks the flags and prints them, or the chart's template with --helm).
 */
#include <stdio.h>
#include <string.h>
#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/celpolicy.h"

/* The chart's values, as Helm template actions (charts/membudget/templates/
 * admission-policies.yaml is this output; test/chart/check.sh compares). */
static const struct celpolicy_params HELM = {
    .name = "{{ include \"membudget.fullname\" . }}",
    .require_budget = "{{ .Values.config.admission.requireBudget }}",
    .default_pct = "{{ int .Values.config.admission.defaultBudgetPercentOfLimit }}",
    .inject_gomemlimit = "{{ .Values.config.admission.injectGOMEMLIMIT }}",
    .inject_readiness_gate = "{{ .Values.config.admission.injectReadinessGate }}",
    .never_json = "{{ $never | toJson }}", /* (set by the wrapper below) */
    .failure_policy = "{{ .Values.webhook.failurePolicy }}",
    .labels = "  labels:\n    {{- include \"membudget.labels\" . | nindent 4 }}",
    .helm = true,
};

/* The chart's template: the policies with values as Helm actions, for
 * admission.mode policy or both; the namespaces never governed are the
 * config's, the fixed ones and the release's. */
static int render_helm(char **out)
{
    char *body;
    struct mb_diag d = {0};
    if (celpolicy_render(&HELM, &body, &d)) {
        fprintf(stderr, "membudget policy render: %s\n", d.msg);
        return 2;
    }
    *out = mb_xasprintf(
        "{{- if has .Values.admission.mode (list \"policy\" \"both\") }}\n"
        "{{- $never := append (concat (list \"kube-system\" \"kube-public\" \"kube-node-lease\") "
        "(.Values.config.excludedNamespaces | default list)) .Release.Namespace | uniq }}\n"
        "%s{{- end }}\n",
        body);
    mb_free(body);
    return 0;
}

/* The policies for one config file (or the defaults). */
static int render_config(const char *config, const char *ns, const char *name, const char *failure,
                         char **out)
{
    struct cfg cfg;
    struct celpolicy_params p;
    struct mb_diag d = {0};
    if (!app_load_config(config, &cfg))
        return 2;
    mb_err err = celpolicy_params_from_config(&p, &cfg, ns, name, failure, &d);
    if (!err)
        err = celpolicy_render(&p, out, &d);
    celpolicy_params_cleanup(&p);
    cfg_cleanup(&cfg);
    if (err) {
        fprintf(stderr, "membudget policy render: %s%s%s\n", config[0] ? config : "",
                config[0] ? ": " : "", d.msg);
        return 2;
    }
    return 0;
}

/* The flags' values: both names go into YAML and CEL as they are. */
static bool render_flags_ok(const char *ns, const char *name, const char *failure)
{
    if (!ann_is_dns_label(ns)) {
        fprintf(stderr, "membudget policy render: --namespace: \"%s\" is not a namespace name\n",
                ns);
        return false;
    }
    if (!ann_is_dns_label(name) || strlen(name) > 50) {
        fprintf(
            stderr,
            "membudget policy render: --name: \"%s\" must be a DNS label of at most 50 characters "
            "(the objects are PREFIX-mutate-audit, ...)\n",
            name);
        return false;
    }
    if (strcmp(failure, "Fail") != 0 && strcmp(failure, "Ignore") != 0) {
        fprintf(stderr, "membudget policy render: --failure-policy: \"%s\" is not Fail or Ignore\n",
                failure);
        return false;
    }
    return true;
}

int cmd_policy(int argc, char **argv)
{
    const char *config, *ns, *name, *failure;
    bool helm;
    const struct flag FLAGS[] = {
        {"config", "FILE", "",
         "config file whose admission section and excludedNamespaces apply (as in the webhook)",
         &config, NULL, false},
        {"namespace", "NS", "membudget", "membudget's own namespace (never governed)", &ns, NULL,
         false},
        {"name", "PREFIX", "membudget", "prefix of the objects' names", &name, NULL, false},
        {"failure-policy", "POLICY", "Fail",
         "Fail or Ignore: what the API server does in enforce namespaces when a policy cannot be "
         "evaluated",
         &failure, NULL, false},
        {"helm", NULL, "false", "print the chart's template (values as Helm actions) instead", NULL,
         &helm, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char **pos, *out = NULL;
    size_t npos;
    int r;

    if (argc < 1 || strcmp(argv[0], "render") != 0) {
        if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
            flags_help("policy render", "[flags]", FLAGS);
            return 0;
        }
        fprintf(
            stderr,
            "membudget policy: expected \"render\" (membudget policy render [flags]; --help)\n");
        return 2;
    }
    pos = mb_xcalloc((size_t)argc + 1, sizeof *pos);
    r = flags_parse("policy render",
                    "[flags]\n\nPrints ValidatingAdmissionPolicies and "
                    "MutatingAdmissionPolicies (with their bindings) that apply "
                    "membudget's admission rules in the API server, without the webhook.",
                    FLAGS, argc - 1, argv + 1, pos, &npos);
    if (!r && npos) {
        fprintf(stderr, "membudget policy render: takes no arguments, got \"%s\"\n", pos[0]);
        r = 2;
    }
    mb_free(pos);
    if (r)
        return r == 1 ? 0 : 2;
    if (!render_flags_ok(ns, name, failure))
        return 2;
    if (helm && config[0]) {
        fprintf(stderr, "membudget policy render: --helm takes the chart's values, not --config\n");
        return 2;
    }
    if ((r = helm ? render_helm(&out) : render_config(config, ns, name, failure, &out)))
        return r;
    fputs(out, stdout);
    mb_free(out);
    return fflush(stdout) == 0 ? 0 : 1;
}
