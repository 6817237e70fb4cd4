/*
 * webhook_wiring.c -- the webhook's flags and wiring, one copy for the two
 * commands that serve it (shell): `membudget webhook` (the webhook alone)
 * and `membudget run` (the webhook beside the controller). Both put
 * app_webhook_flags()'s rows in their flag table, check them with
 * app_webhook_check() and start the webhook with app_webhook_start(), so
 * a flag added here is a flag of both; test_io_webhook_flags_same holds
 * them to it.
 */
#include <stdio.h>
#include <string.h>

#include "app_int.h"
#include "membudget/lrwatch.h"
#include "membudget/webhook.h"

void app_webhook_flags(struct app_webhook_opts *o, struct flag rows[APP_WEBHOOK_NFLAGS])
{
    const struct flag ROWS[APP_WEBHOOK_NFLAGS] = {
        {"tls-cert-file", "FILE", "",
         "webhook serving certificate (PEM, chain allowed); re-read when it changes", &o->cert,
         NULL, false},
        {"tls-private-key-file", "FILE", "", "private key of the webhook serving certificate (PEM)",
         &o->key, NULL, false},
        {"tls-reload-interval", "DURATION", "10s",
         "how often to check the certificate files for changes", &o->reload, NULL, false},
        {"webhook-bind-address", "ADDR", ":8443",
         "HTTPS address for /validate, /validate/audit, /mutate", &o->bind, NULL, false},
        {"webhook-idle-timeout", "DURATION", "60s",
         "close a webhook connection idle (or stalled) this long", &o->idle, NULL, false},
        {"webhook-request-timeout", "DURATION", "10s",
         "a whole webhook request must arrive within this time", &o->reqto, NULL, false},
        {"webhook-max-connections", "N", "1024",
         "open webhook connections (all workers together); more are closed at once", &o->maxconns,
         NULL, false},
        {"webhook-max-buffered-bytes", "QUANTITY", "64Mi",
         "webhook request bytes held in memory at once, all connections together; past it, "
         "connections wait (unread) for room",
         &o->maxbuf, NULL, false},
        {"webhook-max-parse-bytes", "QUANTITY", "128Mi",
         "parsed review JSON held in memory at once, all workers together; a review that finds it "
         "used up by others is answered 503 (retry); one that could never fit gets a definite 'too "
         "large' answer",
         &o->maxparse, NULL, false},
        {"webhook-workers", "N", "0",
         "threads serving the webhook, each with its own event loop (0: the CPUs this process may "
         "use)",
         &o->workers, NULL, false},
    };
    memcpy(rows, ROWS, sizeof ROWS);
}

bool app_webhook_check(const char *cmd, struct app_webhook_opts *o)
{
    uint64_t reload_ms, idle_ms, req_ms;
    unsigned long nconns, nworkers;
    int64_t maxbuf = 0, maxparse = 0;

    if (!*o->cert || !*o->key) {
        fprintf(stderr, "membudget %s: --tls-cert-file and --tls-private-key-file are required\n",
                cmd);
        return false;
    }
    if (!app_duration_flag("tls-reload-interval", o->reload, &reload_ms) ||
        !app_duration_flag("webhook-idle-timeout", o->idle, &idle_ms) ||
        !app_duration_flag("webhook-request-timeout", o->reqto, &req_ms) ||
        !app_uint_flag("webhook-max-connections", o->maxconns, 1, 1000000, &nconns) ||
        !app_uint_flag("webhook-workers", o->workers, 0, 1024, &nworkers) ||
        !app_quantity_flag("webhook-max-buffered-bytes", o->maxbuf, &maxbuf) ||
        !app_quantity_flag("webhook-max-parse-bytes", o->maxparse, &maxparse))
        return false;
    /* (an idle timeout is whole seconds: libevent's bufferevent timeouts) */
    if (reload_ms < 100 || idle_ms < 1000 || req_ms < 100) {
        fprintf(stderr,
                "membudget %s: --tls-reload-interval and --webhook-request-timeout must be "
                "at least 100ms, --webhook-idle-timeout at least 1s\n",
                cmd);
        return false;
    }
    o->wc = (struct webhook_conf){
        .cert_file = o->cert,
        .key_file = o->key,
        .bind = o->bind,
        .tls_reload_ms = (unsigned)reload_ms,
        .idle_timeout_s = (unsigned)(idle_ms / 1000),
        .request_timeout_ms = (unsigned)req_ms,
        .max_conns = (unsigned)nconns,
        .workers = nworkers ? (unsigned)nworkers : app_default_workers(),
        .max_buffered = (size_t)maxbuf,
        .max_parse = (size_t)maxparse,
    };
    return true;
}

mb_err app_webhook_start(struct app_webhook_opts *o, struct loop *lp, const struct cfg *cfg,
                         const char *own_ns, struct lrwatch *lrw, struct mx *mx, struct ops *ops,
                         struct webhook **out, struct mb_diag *diag)
{
    o->wc.cfg = cfg;
    o->wc.own_namespace = own_ns;
    /* The LimitRanges, for templates without a memory limit: without a
     * watch they are unknown, and such a template gets a warning. */
    o->wc.limit_range = lrw ? lrwatch_lookup : NULL;
    o->wc.limit_range_ctx = lrw;
    return webhook_new(lp, clock_system(), &o->wc, mx, ops, out, diag);
}
