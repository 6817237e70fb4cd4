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
 * registers its metrics and readiness check with the ops server.
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
    const char *bind;            /* ":8443" */
    const struct cfg *cfg;       /* borrowed; admission section and maxBodyBytes are used */
    unsigned tls_reload_ms;      /* how often to look at the certificate files */
    unsigned idle_timeout_s;     /* keep-alive / inactivity timeout */
    unsigned request_timeout_ms; /* whole-request deadline (slow clients) */
    unsigned max_conns;
};

/* Start serving. lp, clk, mx and ops are borrowed and must outlive it.
 * Returns MB_OK and a new webhook in *out, or an error with diag. */
mb_err webhook_new(struct loop *lp, const struct mb_clock *clk, const struct webhook_conf *conf,
                   struct mx *mx, struct ops *ops, struct webhook **out, struct mb_diag *diag);
void webhook_free(struct webhook *w); /* NULL-safe */

/* Stop accepting connections; requests on open connections complete. */
void webhook_stop_accepting(struct webhook *w);

/* Open connections (graceful shutdown waits for 0). */
size_t webhook_open_connections(const struct webhook *w);

/* Returns: borrowed bound address ("0.0.0.0:8443"). */
const char *webhook_address(const struct webhook *w);

#endif
