/*
 * ops.h -- the operations endpoint on the metrics address (shell):
 * /healthz (the process and its loop are alive), /readyz (every readiness
 * check passes and we are not shutting down), /metrics (Prometheus text);
 * with ops_set_auth(), only for callers whose token RBAC allows (the two
 * probes stay open: the kubelet calls them without a token).
 * Other modules add routes (the controller's /debug/pods) and collectors
 * (called just before /metrics renders, to refresh gauges).
 *
 * Threads: the server runs on the loop given to ops_new (the main loop).
 * Ready checks and collectors run there too, so they may only read what
 * other threads publish atomically; ops_add_route_on() hands a request to
 * another loop. Registration happens before the other threads start.
 */
#ifndef MB_OPS_H
#define MB_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"
#include "membudget/err.h"
#include "membudget/buf.h"
#include "membudget/https.h"

struct ops;
struct mx;
struct loop;

typedef bool ops_ready_fn(void *ctx, char *why, size_t whylen);
typedef void ops_collect_fn(void *ctx);

/* Serve on `bind` (plain HTTP). `mx` is borrowed. */
mb_err ops_new(struct loop *lp, const struct mb_clock *clk, const char *bind, struct mx *mx,
               struct ops **out, struct mb_diag *diag);
void ops_free(struct ops *o); /* NULL-safe */

void ops_add_ready_check(struct ops *o, const char *name, ops_ready_fn *fn, void *ctx);
void ops_add_collector(struct ops *o, ops_collect_fn *fn, void *ctx);
void ops_add_route(struct ops *o, const char *path, https_handler *fn, void *ctx);

/* A route whose answer is made on another loop's thread (the controller's
 * /debug/pods: the pod cache is that thread's). fn runs on `owner`'s thread,
 * appends the body to `out`, may set *content_type to a static string, and
 * returns the HTTP status; the reply goes out on the ops loop. The owner's
 * loop must run (or be freed, which runs what is queued) for the request to
 * be answered. */
typedef int ops_render_fn(void *ctx, struct mb_buf *out, const char **content_type);
void ops_add_route_on(struct ops *o, const char *path, struct loop *owner, ops_render_fn *fn,
                      void *ctx);

/* From now on every route but /healthz and /readyz needs a bearer token
 * that RBAC lets GET its path (opsauth.h): 401 without one, 403 when not
 * allowed, 503 when it cannot be checked. The check runs on `auth_lp` (the
 * checker's kapi loop); both are borrowed and must outlive the requests:
 * free the checker (which answers what waits) before ops_free, and flush
 * the ops loop after it. Call before the loops run. */
struct opsauth;
void ops_set_auth(struct ops *o, struct loop *auth_lp, struct opsauth *auth);

/* From now on /readyz answers 503 ("shutting down"). */
void ops_set_shutting_down(struct ops *o);

/* Returns: borrowed bound address. */
const char *ops_address(const struct ops *o);

#endif
