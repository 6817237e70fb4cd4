/*
 * review.h -- one admission request, bytes in, bytes out (pure).
 *
 * The webhook's whole decision: decode the AdmissionReview, run the policy,
 * encode the answer. The HTTPS layer only moves bytes and counts; the fuzz
 * target drives this function directly.
 *
 *   /validate  enforce mode: violations deny (HTTP 200, allowed=false, 403,
 *              every violation in the message); warnings carry advice.
 *   /validate  audit mode: violations become warnings; always allowed.
 *   /mutate    always allowed; a JSON Patch for Pod CREATE.
 * pods/resize is checked as an UPDATE of the pod (a resize may not take the
 * target's limit below its budget). Other subresources, DELETE/CONNECT and
 * kinds membudget does not govern are allowed untouched ("skipped"). A review
 * in a namespace that is never governed (config.h cfg_excluded: the same
 * decision the controller makes) is allowed untouched too ("excluded"),
 * whatever the webhook configuration's namespaceSelector let through. A body
 * that is not an AdmissionReview v1 request gets HTTP 400 and a one-line
 * reason.
 *
 * Parse memory (`arena`): a review that needs more than one review may
 * ever take (mb_arena_cap), judged from its bytes before parsing or by the
 * parse, is "too_large", a definite answer: /validate denies (code 413),
 * /validate/audit and /mutate allow with a warning, under the request's
 * uid (admrev_peek_uid; without one, HTTP 413). One that could fit, but
 * finds the shared budget held by other reviews, is "busy": HTTP 503, to be
 * retried.
 */
#ifndef MB_REVIEW_H
#define MB_REVIEW_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/config.h"
#include "membudget/policy.h"

enum review_endpoint { REVIEW_VALIDATE, REVIEW_MUTATE };
enum review_mode { REVIEW_ENFORCE, REVIEW_AUDIT };

/* What the webhook decides with. */
struct review_conf {
    struct policy_conf policy;
    const struct cfg *cfg; /* borrowed: excludedNamespaces; NULL: only the built-in exclusions */
    const char *own_ns;    /* borrowed: membudget's own namespace; NULL when unknown */
    /* What namespace `ns`'s LimitRanges give a container without a memory
     * limit (lrwatch_lookup), asked for workload templates; NULL: unknown.
     * Called on the reviewing thread: it must be thread-safe. */
    void (*limit_range)(void *ctx, const char *ns, struct policy_lr *out);
    void *limit_range_ctx;
};

/* What happened, for metrics and logs. Strings are static or copied. */
struct review_summary {
    const char *operation; /* "CREATE", ..., or "unknown" */
    const char *kind;      /* "Pod", "Deployment", ..., "other" */
    const char *result;    /* allowed | denied | warned | mutated | skipped | excluded | invalid |
                            * busy | too_large */
    bool dry_run;
    size_t violations;
    char uid[129];
    char ns[64];
    char name[254];
};

struct review_out {
    int http_status; /* 200; 400 malformed; 413 too large without a uid; 503 busy */
    char *body;      /* response body (JSON, or a text line for 400); new */
    size_t body_len;
    const char *content_type;
    struct review_summary s;
};

struct mb_arena;

/* Decide. `out` is filled (clean up with review_out_cleanup). Cannot fail;
 * runs on any thread. `arena` (may be NULL) holds the request's JSON
 * values while deciding and is reset before returning; out->body is not
 * in it. */
void review_handle(const struct review_conf *rc, enum review_endpoint ep, enum review_mode mode,
                   const char *body, size_t len, struct mb_arena *arena, struct review_out *out);

void review_out_cleanup(struct review_out *o);

/* A floor under the bytes jansson takes (through the arena) to parse
 * `body`: what review_handle() compares with the cap before parsing, so
 * that a body built to cost memory is refused from its bytes alone. Each
 * JSON value costs at least what it measures in jansson 2.14 (the table
 * test in check_review.c parses each attacker shape and holds the floor
 * between 80% and 100% of the real cost for the shapes that cost most). Exposed for that test. */
size_t review_parse_cost_floor(const char *body, size_t len);

#endif /* MB_REVIEW_H */
