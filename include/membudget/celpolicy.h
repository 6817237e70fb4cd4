/*
 * celpolicy.h -- the admission rules as Kubernetes admission policies (pure).
 *
 * `membudget policy render` and the chart's admission.mode=policy emit, as
 * YAML, the objects that let the API server itself apply DESIGN.md's
 * admission rules in CEL, with no webhook in the path:
 *
 *   ValidatingAdmissionPolicy NAME-validate   one validation: every
 *       violation the update makes new, joined as the webhook's denial is
 *       ("Pod shop/web: PATH: MSG; PATH: MSG"); bound with Deny to the
 *       enforce namespaces (failurePolicy: the webhook's).
 *   ValidatingAdmissionPolicy NAME-warn       the webhook's warnings, one
 *       validation each (the API server turns each failed one into one
 *       warning): in audit namespaces the violations first ("membudget
 *       (audit, would deny): ..."), then the advice; bound with Warn to
 *       every governed namespace (failurePolicy: Ignore).
 *   MutatingAdmissionPolicy NAME-mutate, NAME-mutate-audit   the pin, the
 *       default budget, GOMEMLIMIT and the readiness gate as one JSON
 *       Patch, the webhook's; for enforce (the webhook's failurePolicy)
 *       and audit namespaces (Ignore).
 *
 * The expressions are policy.c's rules written again in CEL, message for
 * message; test/e2e/cluster_policy_diff.py sends every admission case of
 * the end-to-end suite through both on the real API server and compares
 * verdicts, warnings and the admitted objects. What CEL cannot see (the
 * namespace's LimitRanges) is said in the output's header comment.
 *
 * Values are text put into the output as they are: CEL literals from a
 * config (celpolicy_params_from_config), or Helm template actions for the
 * chart (`--helm`).
 */
#ifndef MB_CELPOLICY_H
#define MB_CELPOLICY_H

#include <stdbool.h>
#include "membudget/config.h"

struct celpolicy_params {
    const char *name;           /* object name prefix: "membudget" */
    const char *require_budget; /* CEL bool literal: "true" */
    const char *default_pct;    /* CEL int literal: "0" */
    const char *inject_gomemlimit;
    const char *inject_readiness_gate;
    const char *never_json;     /* JSON array of namespace names never governed */
    const char *failure_policy; /* "Fail" or "Ignore": the enforce namespaces' */
    const char *labels;         /* extra YAML under metadata (Helm), or NULL */
    bool helm;                  /* the chart's template: say so in the header */
};

/* Literals for `cfg` (never governed: its excluded namespaces, the fixed
 * ones and own_ns) into bufs owned by the caller; free with
 * celpolicy_params_cleanup(). */
void celpolicy_params_from_config(struct celpolicy_params *p, const struct cfg *cfg, const char *own_ns,
                                  const char *name, const char *failure_policy);
void celpolicy_params_cleanup(struct celpolicy_params *p);

/* Returns: the YAML documents (new string; mb_free). */
char *celpolicy_render(const struct celpolicy_params *p);

#endif /* MB_CELPOLICY_H */
