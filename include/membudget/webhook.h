/*
 * webhook.h -- the admission webhook service (shell).
 *
 * Serves, over TLS:
 *   POST /validate        enforce mode (namespaces labelled membudget.io/enforce=true)
 *   POST /validate/audit  audit mode (namespaces also labelled membudget.io/admission=audit):
 *                         violations come back as warnings, never denials
 *   POST /mutate          defaults, GOMEMLIMIT, readiness gate (Pod CREATE)
 * The namespace's mode is chosen by which path the webhook configuration
 * calls, so the webhook needs no API access of its own and stays stateless.
 *
 * It re-reads its certificate every tls_reload_ms (see tlsctx.h) and
 * registers its metrics and readiness check with the ops server: /readyz
 * fails while the serving certificate is expired or not yet valid.
 *
 * Threads: `workers` threads ("webhook-N"), each with its own loop, HTTPS
 * server (all listening on the same port through SO_REUSEPORT; the kernel
 * spreads connections) and JSON arena, serve whole connections. Nothing
 * else runs on them, so nothing the controller does can delay an answer.
 * They share only immutable things (the policy), the TLS context (swapped
 * under its mutex), the metrics registry (thread-safe) and the log (one
 * write() a line). Every function here runs on the main loop's thread.
 */
#ifndef MB_WEBHOOK_H
#define MB_WEBHOOK_H

#include "membudget/clock.h"
#include "membudget/config.h"
#include "membudget/err.h"

struct webhook;
struct loop;
struct ops;
struct mx;

struct webhook_conf {
    const char *cert_file, *key_file;
    const char *bind;          /* ":8443" */
    const struct cfg *cfg;     /* borrowed, outlives the webhook: admission, maxBodyBytes,
                                * excludedNamespaces */
    const char *own_namespace; /* membudget's own (never governed); copied */
    /* The namespaces' LimitRange defaults (review.h), e.g. lrwatch_lookup;
     * NULL: unknown. ctx borrowed, must outlive the webhook. */
    void (*limit_range)(void *ctx, const char *ns, struct policy_lr *out);
    void *limit_range_ctx;
    unsigned tls_reload_ms;      /* how often to look at the certificate files */
    unsigned idle_timeout_s;     /* keep-alive / inactivity timeout */
    unsigned request_timeout_ms; /* whole-request deadline (slow clients) */
    unsigned max_conns;          /* all workers together */
    unsigned workers;            /* threads serving connections; 0 means 1 */
    size_t max_buffered;         /* bytes all requests may hold at once (0: no limit) */
    size_t max_parse;            /* parsed JSON all workers may hold at once (0: no limit) */
};

/* Start serving: bind, then start the workers. `lp` is the main loop
 * (certificate reloads); lp, clk, mx and ops are borrowed and must outlive
 * it. Returns MB_OK and a new webhook in *out, or an error with diag. */
mb_err webhook_new(struct loop *lp, const struct mb_clock *clk, const struct webhook_conf *conf,
                   struct mx *mx, struct ops *ops, struct webhook **out, struct mb_diag *diag);
/* Stops the workers (connections still open are closed) and frees. NULL-safe. */
void webhook_free(struct webhook *w);

/* Graceful shutdown: every worker stops accepting, and answers each request
 * from now on with Connection: close; requests in flight complete. */
void webhook_drain(struct webhook *w);

/* Open connections (graceful shutdown waits for 0). */
size_t webhook_open_connections(const struct webhook *w);

/* Returns: borrowed bound address ("0.0.0.0:8443"). */
const char *webhook_address(const struct webhook *w);

#endif
