/*
 * policy.h -- the admission policy: object -> violations + mutations (pure).
 *
 * One function, policy_eval(), serves the webhook (/validate, /mutate) and
 * `membudget lint`, so their messages are identical. It looks at the pod
 * template of the object (the pod itself, spec.template of workloads, or
 * spec.jobTemplate.spec.template of a CronJob) and reports every violation
 * of docs/design.md's admission rules at once, each with its field path:
 *
 *   spec.template.metadata.annotations[membudget.io/budget]: required: ...
 *   spec.containers[0].resources.limits.memory: required when membudget.io/budget is set
 *
 * On UPDATE, only violations the update introduces count (plus removing a
 * budget); those the old object already had come back as warnings, so
 * controllers can still scale, relabel and finalize objects that predate
 * membudget. The old object is evaluated first, its violations kept as a
 * set (a jansson object: inside the webhook's parse arena, so they count
 * against the parse budget), and each new violation is looked up there:
 * linear in the number of violations, never quadratic.
 *
 * The target container is ann_find_target()'s: membudget.io/container,
 * kubectl's default container, or the first; a native sidecar may be it.
 *
 * Mutations (a JSON Patch), only for budgeted objects:
 *  - the pin: membudget.io/container set to the target's name, when absent,
 *    so pods find it by name whatever a sidecar injector puts in front of
 *    it. Pods on CREATE; workload templates on CREATE, and on UPDATE only
 *    when the template changes anyway (a pin alone would roll every pod);
 *    never an object another controller owns (see should_pin()).
 *  - Pods on CREATE: the default budget, GOMEMLIMIT on the target, the
 *    readiness gate.
 * Each is added only when missing, so evaluating the mutated object again
 * (reinvocationPolicy: IfNeeded) asks for nothing more. Nothing else in a
 * template is changed: GitOps tools would fight the webhook.
 */
#ifndef MB_POLICY_H
#define MB_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "membudget/annot.h"

enum policy_kind {
    POLICY_KIND_OTHER = 0, /* not governed: always allowed */
    POLICY_KIND_POD,
    POLICY_KIND_DEPLOYMENT,
    POLICY_KIND_STATEFULSET,
    POLICY_KIND_DAEMONSET,
    POLICY_KIND_REPLICASET,
    POLICY_KIND_JOB,
    POLICY_KIND_CRONJOB,
    POLICY_KIND_REPLICATIONCONTROLLER,
    POLICY_KIND_CUSTOM, /* another kind with a pod template at policy_input.template */
};

enum policy_op { POLICY_CREATE, POLICY_UPDATE };

/* The admission section of the config (docs/design.md), plus default tiers. */
struct policy_conf {
    bool require_budget;         /* a governed pod must declare a budget */
    unsigned default_budget_pct; /* 0: off; else a missing budget becomes pct% of the limit */
    bool inject_gomemlimit;
    bool inject_readiness_gate;
    struct ann_tiers default_tiers;
};

/* Fill with docs/design.md's defaults. */
void policy_conf_defaults(struct policy_conf *c);

/* Map an API group/kind ("apps", "Deployment") to a kind; version is not
 * checked (matchPolicy: Equivalent converts to the registered version). */
enum policy_kind policy_kind_of(const char *group, const char *kind);

/* From an object's own apiVersion and kind (for lint). */
enum policy_kind policy_kind_of_object(const json_t *obj);

/* Returns: static kind name ("Deployment"), "" for OTHER. */
const char *policy_kind_name(enum policy_kind k);

/* What the namespace's LimitRanges give a container without a memory limit
 * (limitrange.h): the workload template's pods get it from the LimitRanger
 * admission plugin before any webhook sees them. */
enum policy_lr_state {
    POLICY_LR_UNKNOWN, /* not known (not listed yet; lint: none in its input) */
    POLICY_LR_NONE,    /* none gives a default: pods without a limit are denied */
    POLICY_LR_DEFAULT, /* default_memory, from LimitRange `name` */
};
struct policy_lr {
    enum policy_lr_state state;
    int64_t default_memory;
    unsigned count; /* LimitRanges of the namespace that give a default */
    char ns[64];
    char name[254];
};

struct policy_input {
    enum policy_kind kind;
    enum policy_op op;
    const json_t *object;     /* borrowed; the object under review */
    const json_t *old_object; /* borrowed; UPDATE only, may be NULL */
    /* POLICY_KIND_CUSTOM: where the PodTemplateSpec is, as a JSON Pointer
     * ("/spec/template") and as a field-path prefix ("spec.template.") */
    const char *template_pointer, *template_prefix;
    /* The namespace's LimitRange default, for a target container without
     * a memory limit; NULL: unknown. The webhook gives it for workload
     * templates only (a pod has been defaulted before it is reviewed);
     * lint for pods too. */
    const struct policy_lr *limit_range;
    /* Keep at most this many violations, and this many warnings; past it
     * they are counted (policy_result.more, .wmore), never allocated. 0:
     * keep all (lint lists every one). The webhook answers anyone who
     * reaches its port, so it keeps POLICY_KEEP: a review of 240k unknown
     * annotations costs a hundred strings, not 240k. */
    size_t max_kept;
};

/* What the webhook keeps of one review (its denial shows 63 KiB at most;
 * the API server keeps 4 KiB of warnings). */
#define POLICY_KEEP 100

struct policy_violation {
    char *path; /* field path, e.g. "spec.containers[0].resources.limits.memory" */
    char *msg;  /* what is wrong */
};

/* Fields are read-only for callers; free with policy_result_cleanup(). */
struct policy_result {
    struct policy_violation *v; /* every violation (up to max_kept), in a stable order */
    size_t nv, capv;
    size_t more;     /* violations past policy_input.max_kept: counted, not kept */
    size_t wmore;    /* warnings past it */
    json_t *patch;   /* JSON Patch array of mutations, or NULL when none */
    char **warnings; /* advice that is not a violation ("path: message") */
    size_t nw;
    bool limit_assumed; /* a template's target has no limit and the namespace's LimitRanges
                         * are not known: one was assumed to give it */
};

/* Evaluate. `out` must be zeroed (or cleaned up) before; it is filled in.
 * The verdict is a denial when out->nv + out->more > 0.
 * Cannot fail: allocation failure aborts. Runs on any thread. */
void policy_eval(const struct policy_conf *conf, const struct policy_input *in,
                 struct policy_result *out);

void policy_result_cleanup(struct policy_result *r);

/* The JSON types of the fields policy_eval reads, in in->object and
 * in->old_object: metadata and its name, namespace, generateName and
 * membudget's annotations; spec.containers and spec.initContainers (name,
 * restartPolicy, resources.limits/requests.memory a string or integer,
 * env[].name/value, ports[].name/protocol, ports[].containerPort an
 * integer), spec.readinessGates[].conditionType. An absent or null field
 * is fine (policy_eval judges what is missing). Returns false with the
 * first mismatch in why, "object.spec.containers[1].name must be a string,
 * got a number" (prefix "object" or "oldObject"). */
bool policy_check_types(const struct policy_input *in, char *why, size_t whylen);

/* Returns: new string joining every violation as "path: msg; path: msg",
 * at most 64 KiB, ending "; and N more" for those it leaves out (cut by
 * size, or not kept: r->more). */
char *policy_message(const struct policy_result *r);

/* The object as a message names it: "Deployment shop/web", "Pod web-7d9f*"
 * (generateName), "Pod (unnamed)". kind, ns and name override what obj
 * says when non-empty (an AdmissionReview's request has them). */
void policy_object_label(const json_t *obj, const char *kind, const char *ns, const char *name,
                         char *out, size_t len);

#endif /* MB_POLICY_H */
