/*
 * opsauth.h -- who may read the ops endpoints (shell): a bearer token
 * checked with the API server, as controller-runtime's metrics server
 * (since v0.16) and kube-rbac-proxy do it.
 *
 *   token --TokenReview--> user, groups --SubjectAccessReview--> allowed?
 *          (authentication.k8s.io/v1)     (authorization.k8s.io/v1,
 *                                          nonResourceAttributes: path, get)
 *
 * So RBAC decides: a ClusterRole with nonResourceURLs ["/metrics"] and verb
 * get, bound to Prometheus's ServiceAccount, lets it scrape; anyone else
 * gets 401 (no token, or one the API server does not know) or 403 (a token
 * whose user may not). membudget's own ServiceAccount needs create on
 * tokenreviews and subjectaccessreviews (ClusterRole system:auth-delegator).
 *
 * Answers are cached per token and path: allowed for OPSAUTH_ALLOW_TTL_MS,
 * refused for OPSAUTH_DENY_TTL_MS (a scraper asks every 15 s: one review a
 * minute, not four); at most OPSAUTH_MAX_ENTRIES entries, the oldest going
 * first. At most OPSAUTH_MAX_INFLIGHT checks wait for the API server at
 * once; more are answered 503 at once, so callers without a valid token
 * cannot queue work against the API server. An API server that cannot be
 * asked is 503 ("cannot verify"), never cached, never an allow.
 *
 * Thread: everything runs on the loop of the kapi client it is given (a
 * LOOP_CLIENT loop); ops.c hands requests over with loop_post.
 */
#ifndef MB_OPSAUTH_H
#define MB_OPSAUTH_H

#include <stddef.h>
#include <stdint.h>
#include "membudget/clock.h"

#define OPSAUTH_ALLOW_TTL_MS 60000
#define OPSAUTH_DENY_TTL_MS 10000
#define OPSAUTH_MAX_ENTRIES 256
#define OPSAUTH_MAX_INFLIGHT 16
#define OPSAUTH_MAX_TOKEN 8192 /* longer is refused (401) without asking */

struct opsauth;
struct kapi;
struct mx;

/* Returns: a new checker on api's loop (free with opsauth_free). api, clk
 * and mx (may be NULL: no metric) are borrowed and must outlive it. */
struct opsauth *opsauth_new(struct kapi *api, const struct mb_clock *clk, struct mx *mx);

/* Every check still waiting is answered 503 ("shutting down") before this
 * returns; then its requests to the API server are cancelled. NULL-safe.
 * Call on api's loop, or once that loop has stopped. */
void opsauth_free(struct opsauth *a);

/* The answer: 200 allowed, 401 no valid token, 403 not allowed, 503 not
 * checked (the API server cannot be asked, too many checks at once, or
 * shutting down). `why` (borrowed, for the call) says it in words. */
typedef void opsauth_done_fn(void *ctx, int status, const char *why);

/* May the bearer `token` (NULL or "": none) GET `path`? `done` is called
 * exactly once, possibly before this returns (a cached answer, or no
 * token). Strings are copied. On api's loop. */
void opsauth_check(struct opsauth *a, const char *token, const char *path, opsauth_done_fn *done,
                   void *ctx);

#endif /* MB_OPSAUTH_H */
