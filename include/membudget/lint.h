/*
 * lint.h -- the admission policy over manifest files (pure: bytes in, text out).
 *
 * Accepts YAML streams and JSON (one or more values), with Pods, the
 * workload kinds of policy.h, List objects (items are checked one by one)
 * and any other kind whose pod template is named in a `group/kind: path`
 * list (Argo Rollout and OpenKruise CloneSet by default); other kinds are
 * skipped. The field paths and messages are policy_eval()'s, the webhook's
 * own, and the object is named as the webhook names it ("Deployment
 * shop/web"). Each finding is one line:
 *
 *   text    FILE:LINE:COL: Deployment shop/web: FIELD.PATH: MESSAGE
 *           FILE:LINE:COL: Deployment shop/web: warning: FIELD.PATH: MESSAGE
 *           FILE:LINE:COL: error: MESSAGE                 (unreadable document)
 *   json    {"file":..,"line":..,"column":..,"type":"violation"|"warning"|"unreadable",
 *            "object":..,"kind":..,"namespace":..,"name":..,"field":..,"message":..}
 *   github  ::error file=FILE,line=LINE,col=COL,title=membudget: OBJECT::FIELD: MESSAGE
 *
 * LINE:COL is the field's own position in the file, or the nearest enclosing
 * one that exists (a missing annotation points at its annotations map, or at
 * the object), for YAML; for JSON, the object's.
 *
 * LimitRanges: a workload template (or pod) whose target container has no
 * memory limit is checked against the LimitRanges of its namespace found in
 * the input (lint_collect_limitranges, over every file first), with the
 * webhook's rule: none giving a default is a violation, one giving one a
 * warning naming it (the budget checked against its default). A namespace
 * with no LimitRange in the input is not known: a LimitRange is assumed to
 * give a default, the warning says so, and lint_stats.assumed counts them.
 *
 * A YAML stream is split into documents as kubectl splits it (a line that is
 * "---", optionally followed by a comment), and each document is parsed on
 * its own, with its own limits and memory: a broken document is reported at
 * its own line and the others are still checked.
 */
#ifndef MB_LINT_H
#define MB_LINT_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/buf.h"
#include "membudget/limitrange.h"
#include "membudget/policy.h"

enum lint_format { LINT_TEXT, LINT_JSON, LINT_GITHUB };

/* A kind whose pod template lint checks: "argoproj.io/Rollout: spec.template". */
struct lint_kind {
    char group[128], kind[64];
    char pointer[128]; /* "/spec/template" */
    char prefix[128];  /* "spec.template." */
};

struct lint_opts {
    const struct policy_conf *conf;
    enum lint_format format;
    const struct lint_kind *kinds; /* more kinds with a pod template; may be NULL */
    size_t nkinds;
    const struct lr_set *limitranges; /* the input's LimitRanges; NULL: none */
    struct lr_set *collect;           /* lint_collect_limitranges only */
};

/* The defaults: argoproj.io/Rollout and apps.kruise.io/CloneSet at spec.template. */
extern const char *const LINT_DEFAULT_KINDS[];
extern const size_t LINT_NDEFAULT_KINDS;

/* Parse "GROUP/KIND: PATH" (PATH dotted, e.g. spec.template). Returns
 * false with the reason in why. */
bool lint_kind_parse(const char *spec, struct lint_kind *out, char *why, size_t whylen);

struct lint_stats {
    size_t objects;    /* governed objects checked */
    size_t skipped;    /* objects of other kinds */
    size_t violations; /* violations reported */
    size_t warnings;   /* warnings reported */
    size_t bad_inputs; /* documents that could not be read */
    size_t assumed;    /* targets without a limit in a namespace with no LimitRange in the input */
};

/* Lint one file's bytes; findings are appended to `out` in o->format.
 * Cannot fail. */
void lint_buffer(const struct lint_opts *o, const char *name, const char *buf, size_t len,
                 struct mb_buf *out, struct lint_stats *st);

/* Add every LimitRange of one file's bytes (lists too) to `set`; nothing
 * else is read, nothing reported (lint_buffer reports the file's problems).
 * A quick scan skips files that never say "LimitRange". Cannot fail. */
void lint_collect_limitranges(const struct lint_opts *o, const char *buf, size_t len,
                              struct lr_set *set);

#endif
