/*
 * ops.h -- the operations endpoint on the metrics address (shell):
 * /healthz (the process and its loop are alive), /readyz (every readiness
 * check passes and we are not shutting down), /metrics (Prometheus text).
 * Other modules add routes (the controller's /debug/pods) and collectors
 * (called just before /metrics renders, to refresh gauges).
 */
#ifndef MB_OPS_H
#define MB_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"
#include "membudget/err.h"
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

/* From now on /readyz answers 503 ("shutting down"). */
void ops_set_shutting_down(struct ops *o);

/* Returns: borrowed bound address. */
const char *ops_address(const struct ops *o);

#endif
