/*
 * annot.h -- the membudget.io pod annotations (pure).
 *
 * ann_parse() reads a pod's (or pod template's) metadata.annotations and
 * returns what it could understand plus *every* problem found, each naming
 * its annotation:
 *
 *   membudget.io/tiers: "gc=90,throttle=95": thresholds must increase throttle < gc < evict
 *
 * Syntax only: whether the named container and ports exist is checked by
 * ann_resolve_endpoint() against the target container, which the policy
 * finds (see policy.h).
 *
 * Rules (docs/design.md, "The contract with users"):
 *   budget     Kubernetes quantity, > 0 (<= the limit is the policy's check)
 *   container  a container name (DNS-1123 label)
 *   tiers      "throttle=80,gc=90,evict=95": any order, each an integer percent
 *              in (0, 100], strictly increasing in tier order; a tier left out
 *              is off for this pod
 *   usage      working-set | rss | heap; rss and heap are scraped, so they need
 *              membudget.io/metrics (and rss needs Prometheus text, not expvar)
 *   metrics, gc, profile, goroutines, memlimit
 *              PORT/PATH; PORT is 1-65535 or a port name (goroutines defaults
 *              to the profile's port, ANN_GOROUTINES_DEFAULT_PATH)
 *   throttle   readiness (default) | none | PORT/PATH
 *   mode       enforce (default) | dry-run
 * Any other membudget.io/ key is an error (a typo would otherwise silently
 * turn a protection off).
 */
#ifndef MB_ANNOT_H
#define MB_ANNOT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/quantity.h"

#define ANN_PREFIX "membudget.io/"
#define ANN_BUDGET ANN_PREFIX "budget"
#define ANN_CONTAINER ANN_PREFIX "container"
#define ANN_TIERS ANN_PREFIX "tiers"
#define ANN_USAGE ANN_PREFIX "usage"
#define ANN_METRICS ANN_PREFIX "metrics"
#define ANN_GC ANN_PREFIX "gc"
#define ANN_THROTTLE ANN_PREFIX "throttle"
#define ANN_PROFILE ANN_PREFIX "profile"
#define ANN_MODE ANN_PREFIX "mode"
#define ANN_GOROUTINES ANN_PREFIX "goroutines"
#define ANN_MEMLIMIT ANN_PREFIX "memlimit"
/* the highest memory limit membudget may raise the target's to (pods/resize) */
#define ANN_MAX_LIMIT ANN_PREFIX "max-limit"
/* periodic baseline captures (heap profile, goroutine dump): a duration from
 * 1m to 24h, written as [Nh][Nm][Ns] ("30m", "1h30m"), each N at most 5 digits */
#define ANN_BASELINE_EVERY ANN_PREFIX "baseline-every"

/* The goroutine dump when membudget.io/goroutines is absent: on the
 * profile's port. */
#define ANN_GOROUTINES_DEFAULT_PATH "/debug/pprof/goroutine?debug=2"

/* The pod condition (and readiness gate) membudget owns. */
#define ANN_CONDITION ANN_PREFIX "within-budget"

/* A second pod condition (not a readiness gate, so it never changes
 * readiness): what a new leader needs to continue (planner.h's record). */
#define ANN_RECORD_CONDITION ANN_PREFIX "remediation"

#define ANN_PATH_MAX 256    /* longest endpoint path */
#define ANN_NAME_MAX 63     /* container names are DNS-1123 labels */
#define ANN_PORTNAME_MAX 15 /* IANA_SVC_NAME */

enum ann_usage { ANN_USAGE_WORKING_SET, ANN_USAGE_RSS, ANN_USAGE_HEAP };
enum ann_throttle { ANN_THROTTLE_READINESS, ANN_THROTTLE_ENDPOINT, ANN_THROTTLE_NONE };
enum ann_mode { ANN_MODE_ENFORCE, ANN_MODE_DRY_RUN };

/* Tier thresholds in percent of the budget; 0 means the tier is off. */
struct ann_tiers {
    unsigned throttle, gc, evict;
};

/* A PORT/PATH endpoint on the pod's own IP. */
struct ann_endpoint {
    bool set;
    unsigned port;                        /* 1-65535; 0 while a name is unresolved */
    char port_name[ANN_PORTNAME_MAX + 1]; /* "" when given as a number */
    char path[ANN_PATH_MAX + 1];          /* starts with '/' */
};

/* What the annotations say. Fields whose annotation was absent or invalid
 * keep their defaults; has_* tell which were given and valid. */
struct ann {
    bool has_budget;
    int64_t budget; /* bytes, > 0 */
    bool has_max_limit;
    int64_t max_limit; /* bytes, > 0 */
    bool has_baseline_every;
    uint64_t baseline_every_ms; /* 60000 .. 86400000 */
    bool has_container;
    char container[ANN_NAME_MAX + 1];
    bool has_tiers;
    struct ann_tiers tiers;
    bool has_usage;
    enum ann_usage usage;
    struct ann_endpoint metrics, gc, profile, goroutines, memlimit;
    enum ann_throttle throttle;
    struct ann_endpoint throttle_ep; /* when throttle == ANN_THROTTLE_ENDPOINT */
    enum ann_mode mode;
};

struct ann_error {
    char key[320]; /* the annotation, e.g. "membudget.io/tiers" (any key fits) */
    char msg[512]; /* what is wrong, e.g. "\"x\": must be ..." (without the key) */
    bool unknown;  /* an unknown membudget.io key: the message is the same for every
                      such key and value (policy.c tells an UPDATE's new ones by key) */
};

/* Called for each error as it is found (`e` borrowed, for the call only). */
typedef void ann_error_fn(void *ctx, const struct ann_error *e);

/* A growable list of errors, or a sink. Without `sink` every error is kept
 * in v (832 bytes each); with it, each goes to sink as it is found and none
 * is kept (n still counts them): the webhook's way, since a pod may carry
 * a quarter of a million unknown annotations. Fields are private to
 * annot.c except v, n, sink and sink_ctx. */
struct ann_errors {
    struct ann_error *v;
    size_t n, cap;
    ann_error_fn *sink;
    void *sink_ctx;
};

void ann_errors_cleanup(struct ann_errors *e);

/* Append a formatted error for `key`. */
void ann_errors_add(struct ann_errors *e, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Parse `annotations` (a JSON object, or NULL for none) into *out, appending
 * one error per problem to `errs`. Never fails as a whole: *out is always
 * filled with defaults plus whatever was valid. Returns the number of errors
 * added. */
size_t ann_parse(const json_t *annotations, struct ann *out, struct ann_errors *errs);

/* Parse one tiers value ("throttle=80,gc=90,evict=95"). On error writes the
 * reason (with the quoted value) into why[whylen] and returns false. */
bool ann_parse_tiers(const char *v, struct ann_tiers *out, char *why, size_t whylen);

/* Check tiers ordering and ranges (shared with the config loader). */
bool ann_tiers_valid(const struct ann_tiers *t, char *why, size_t whylen);

/* Parse one PORT/PATH value. On error writes the reason into why. */
bool ann_parse_endpoint(const char *v, struct ann_endpoint *out, char *why, size_t whylen);

/* Resolve ep's port against a container object (its "ports" array): a
 * named port must exist, a numbered one must be declared, and either must
 * be TCP. On success sets ep->port. `container_name` and `path` are for
 * the message. Returns false with the reason in why. */
bool ann_resolve_endpoint(struct ann_endpoint *ep, const json_t *container, const char *path,
                          char *why, size_t whylen);

/* kubectl's own choice of a pod's main container; membudget's second choice. */
#define ANN_KUBECTL_DEFAULT_CONTAINER "kubectl.kubernetes.io/default-container"

/* Where a pod (or template) keeps its target container. */
struct ann_target {
    const json_t *container; /* borrowed; NULL when not resolved */
    const char *list;        /* "containers", or "initContainers" for a native sidecar */
    size_t index;            /* in that list */
    const char *name;        /* the container's name (borrowed) */
    enum { ANN_TARGET_NAMED, ANN_TARGET_DEFAULT, ANN_TARGET_FIRST } from;
    bool default_ignored; /* kubectl's default-container named no usable container */
};

enum ann_target_err {
    ANN_TARGET_OK = 0,
    ANN_TARGET_NO_CONTAINERS, /* spec.containers is absent or empty */
    ANN_TARGET_NOT_FOUND,     /* `want` names no container */
    ANN_TARGET_INIT,          /* `want` names an init container that is not a sidecar */
};

/* The target container, resolved the same way by the webhook, lint and the
 * controller: `want` (membudget.io/container, may be NULL), else `dflt`
 * (kubectl.kubernetes.io/default-container, may be NULL; ignored with
 * t->default_ignored when it names no usable container), else the first of
 * spec.containers. A name is looked up in spec.containers, then among the
 * native sidecars (spec.initContainers with restartPolicy: Always), which
 * run for the pod's whole life and so may be budgeted. `spec` is the pod
 * spec. */
enum ann_target_err ann_find_target(const json_t *spec, const char *want, const char *dflt,
                                    struct ann_target *t);

/* The figure that counts when membudget.io/usage is absent: rss when the
 * pod is scraped, else the metrics API's working set. */
enum ann_usage ann_effective_usage(const struct ann *a);

const char *ann_usage_name(enum ann_usage u);
const char *ann_mode_name(enum ann_mode m);

/* Quote a value for a message: in double quotes, '"' and '\\' escaped
 * with a backslash, other control bytes as \u00XX; at most 64 characters
 * (UTF-8 sequences), then "..." (celpolicy.c says the same in CEL).
 * dst has ANN_QUOTE_LEN bytes, room for 64 of the longest escape.
 * Returns: dst. */
#define ANN_QUOTE_LEN 400
char *ann_quote(const char *v, char dst[ANN_QUOTE_LEN]);

/* Is `s` a DNS-1123 label (container names)? */
bool ann_is_dns_label(const char *s);

/* GOMEMLIMIT as the Go runtime reads it: digits and an optional B, KiB, MiB,
 * GiB or TiB. Returns false for "off" or anything unparsable. */
bool ann_parse_gomemlimit(const char *s, int64_t *out);

#endif /* MB_ANNOT_H */
