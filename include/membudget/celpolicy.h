/*
 * celpolicy.h -- the admission rules as Kubernetes admission policies (pure).
 *
 * `membudget policy render` and the chart's admission.mode=policy emit, as
 * YAML, the objects that let the API server itself apply docs/design.md's
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
#include "membudget/err.h"

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

/* The most the list of namespaces never governed may take as text. It is
 * written into every policy's selector and match condition, and the API
 * server refuses an object over 1.5 MiB. */
#define CELPOLICY_MAX_NEVER (256u << 10)

/* The warning policy's GOMEMLIMIT advice reads the target container's
 * environment: skipped past this many variables (CEL in the API server
 * costs about 100 us an element on a small machine: 6 s for 60k). */
#define CELPOLICY_MAX_ENV_ADVICE 1000

/* Literals for `cfg` (never governed: its excluded namespaces, the fixed
 * ones and own_ns) into strings owned by p; free with
 * celpolicy_params_cleanup() (also after an error). Returns MB_OK, or
 * MB_ETOOBIG when the list of namespaces would take more than
 * CELPOLICY_MAX_NEVER, with the count and the limit in diag: never a list
 * cut short (membudget's own namespace was the one left out). */
mb_err celpolicy_params_from_config(struct celpolicy_params *p, const struct cfg *cfg,
                                    const char *own_ns, const char *name,
                                    const char *failure_policy, struct mb_diag *diag);
void celpolicy_params_cleanup(struct celpolicy_params *p);

/* The YAML documents into *out (new string; mb_free). Returns MB_OK, or
 * MB_ETOOBIG (nothing in *out) when they would take more than 64 MiB, or a
 * piece of them more than its own cap, with which in diag. */
mb_err celpolicy_render(const struct celpolicy_params *p, char **out, struct mb_diag *diag);

#endif /* MB_CELPOLICY_H */
