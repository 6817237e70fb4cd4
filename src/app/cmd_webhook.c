/* cmd_webhook.c -- `membudget webhook` (shell: wiring and shutdown order). */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/kapi.h"
#include "membudget/kubeconfig.h"
#include "membudget/lrwatch.h"
#include "membudget/opsauth.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/ops.h"
#include "membudget/webhook.h"

static void lrw_start(void *arg)
{
    lrwatch_start(arg);
}

int cmd_webhook(int argc, char **argv)
{
    const char *cert, *key, *bind, *mbind, *config, *reload, *idle, *reqto, *maxconns, *grace, *level,
        *workers, *maxbuf, *maxparse, *maxseries, *kubeconfig, *context, *mauth;
    bool auth_on = false;
    const struct flag FLAGS[] = {
        {"tls-cert-file", "FILE", "", "serving certificate (PEM, chain allowed); re-read when it changes", &cert, NULL, false},
        {"tls-private-key-file", "FILE", "", "private key of the serving certificate (PEM)", &key, NULL, false},
        {"webhook-bind-address", "ADDR", ":8443", "HTTPS address for /validate, /validate/audit, /mutate", &bind, NULL, false},
        {"metrics-bind-address", "ADDR", ":8080", "HTTP address for /healthz, /readyz, /metrics", &mbind, NULL, false},
        {"metrics-auth", "MODE", "none", APP_METRICS_AUTH_HELP, &mauth, NULL, false},
        {"config", "FILE", "", "config file (YAML); defaults when not given", &config, NULL, false},
        {"kubeconfig", "FILE", "", "API server for the LimitRanges (templates without a memory limit); default $KUBECONFIG, else in-cluster, else none (they are then unknown)", &kubeconfig, NULL, false},
        {"context", "NAME", "", "kubeconfig context (default: its current-context)", &context, NULL, false},
        {"tls-reload-interval", "DURATION", "10s", "how often to check the certificate files for changes", &reload, NULL, false},
        {"webhook-idle-timeout", "DURATION", "60s", "close a connection idle (or stalled) this long", &idle, NULL, false},
        {"webhook-request-timeout", "DURATION", "10s", "a whole request must arrive within this time", &reqto, NULL, false},
        {"webhook-max-connections", "N", "1024", "open connections (all workers together); more are closed at once", &maxconns, NULL, false},
        {"webhook-max-buffered-bytes", "QUANTITY", "64Mi", "request bytes held in memory at once, all connections together; past it, connections wait (unread) for room", &maxbuf, NULL, false},
        {"webhook-max-parse-bytes", "QUANTITY", "128Mi", "parsed review JSON held in memory at once, all workers together; a review that finds it used up by others is answered 503 (retry); one that could never fit gets a definite 'too large' answer", &maxparse, NULL, false},
        {"webhook-workers", "N", "0", "threads serving the webhook, each with its own event loop (0: the CPUs this process may use)", &workers, NULL, false},
        {"shutdown-grace-period", "DURATION", "5s", "on SIGTERM, wait this long for open connections", &grace, NULL, false},
        {"metrics-max-series", "N", "1000000", "series per metric family on /metrics; past it, new series are dropped, counted and logged once", &maxseries, NULL, false},
        {"log-level", "LEVEL", "info", "debug, info, warn or error", &level, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char *pos[64];
    size_t npos;
    int r = flags_parse("webhook", "--tls-cert-file FILE --tls-private-key-file FILE [flags]", FLAGS,
                        argc, argv, pos, &npos);
    uint64_t reload_ms, idle_ms, req_ms, grace_ms;
    unsigned long nconns, nworkers, nseries;
    int64_t maxbuf_bytes = 0, maxparse_bytes = 0;
    enum log_level ll;
    struct cfg cfg;
    struct loop *lp = NULL, *clp = NULL;
    struct kcfg kc = {0};
    bool with_api;
    struct kapi *api = NULL;
    struct lrwatch *lrw = NULL;
    struct opsauth *auth = NULL;
    struct mx *mx = NULL;
    struct ops *ops = NULL;
    struct webhook *wh = NULL;
    struct mb_diag d = {0};
    struct app_drain dr = {0};
    int status = 1;
    char own_ns[64];

    if (r)
        return r == 1 ? 0 : 2;
    if (npos) {
        fprintf(stderr, "membudget webhook: unexpected argument \"%s\"\n", pos[0]);
        return 2;
    }
    if (!*cert || !*key) {
        fprintf(stderr, "membudget webhook: --tls-cert-file and --tls-private-key-file are required\n");
        return 2;
    }
    if (log_parse_level(level, &ll)) {
        fprintf(stderr, "membudget webhook: --log-level: \"%s\" is not debug, info, warn or error\n", level);
        return 2;
    }
    if (!app_duration_flag("tls-reload-interval", reload, &reload_ms) ||
        !app_duration_flag("webhook-idle-timeout", idle, &idle_ms) ||
        !app_duration_flag("webhook-request-timeout", reqto, &req_ms) ||
        !app_duration_flag("shutdown-grace-period", grace, &grace_ms) ||
        !app_uint_flag("webhook-max-connections", maxconns, 1, 1000000, &nconns) ||
        !app_uint_flag("webhook-workers", workers, 0, 1024, &nworkers) ||
        !app_uint_flag("metrics-max-series", maxseries, 1, 100000000, &nseries))
        return 2;
    if (reload_ms < 100 || idle_ms < 1000 || req_ms < 100) {
        fprintf(stderr, "membudget webhook: intervals must be at least 100ms (idle timeout 1s)\n");
        return 2;
    }
    if (!app_quantity_flag("webhook-max-buffered-bytes", maxbuf, &maxbuf_bytes) ||
        !app_quantity_flag("webhook-max-parse-bytes", maxparse, &maxparse_bytes) ||
        !app_metrics_auth_flag("webhook", mauth, &auth_on))
        return 2;
    log_set_level(ll);
    if (!app_load_config(config, &cfg))
        return 2;
    /* The API server is asked only for LimitRanges: with a kubeconfig (flag
     * or $KUBECONFIG) or in a cluster; without one they are unknown, and a
     * template without a memory limit is admitted with a warning. */
    with_api = *kubeconfig || (getenv("KUBECONFIG") && *getenv("KUBECONFIG")) ||
               (getenv("KUBERNETES_SERVICE_HOST") && *getenv("KUBERNETES_SERVICE_HOST"));
    if (auth_on && !with_api) {
        fprintf(stderr, "membudget webhook: --metrics-auth=kubernetes checks tokens with the API "
                        "server: give --kubeconfig (or $KUBECONFIG), or run in a cluster\n");
        cfg_cleanup(&cfg);
        return 2;
    }
    if (with_api && !app_kube_config(kubeconfig, context, &kc)) {
        cfg_cleanup(&cfg);
        return 2;
    }
    app_own_namespace(with_api ? &kc : NULL, own_ns, sizeof own_ns);
    if (loop_new(&lp, LOOP_SERVER, &d))
        goto out;
    if (with_api) {
        struct kapi_conf kconf;
        char ua[200];
        snprintf(ua, sizeof ua, "membudget/%s (webhook)", MB_VERSION);
        app_kapi_conf(&kc, ua, &kconf);
        if (loop_new(&clp, LOOP_CLIENT, &d) || kapi_new(clp, clock_system(), &kconf, &api, &d))
            goto out;
        lrw = lrwatch_new(clp, clock_system(), api, NULL);
    } else {
        log_warn("no API server configuration (--kubeconfig, $KUBECONFIG or in-cluster): the "
                 "namespaces' LimitRanges are unknown, so a workload template without a memory "
                 "limit is admitted with a warning", NULL);
    }
    mx = app_metrics_new(nseries);
    if (ops_new(lp, clock_system(), mbind, mx, &ops, &d))
        goto out;
    if (auth_on) {
        auth = opsauth_new(api, clock_system(), mx);
        ops_set_auth(ops, clp, auth);
    }
    {
        struct webhook_conf wc = {
            .cert_file = cert,
            .key_file = key,
            .bind = bind,
            .cfg = &cfg,
            .own_namespace = own_ns,
            .limit_range = lrw ? lrwatch_lookup : NULL,
            .limit_range_ctx = lrw,
            .tls_reload_ms = (unsigned)reload_ms,
            .idle_timeout_s = (unsigned)(idle_ms / 1000),
            .request_timeout_ms = (unsigned)req_ms,
            .max_conns = (unsigned)nconns,
            .workers = nworkers ? (unsigned)nworkers : app_default_workers(),
            .max_buffered = (size_t)maxbuf_bytes,
            .max_parse = (size_t)maxparse_bytes,
        };
        if (webhook_new(lp, clock_system(), &wc, mx, ops, &wh, &d))
            goto out;
    }
    log_info("metrics listening", "{s:s}", "address", ops_address(ops));
    dr = (struct app_drain){.main = lp, .clk = clock_system(), .ops = ops, .wh = wh,
                            .grace_ms = grace_ms};
    if (app_drain_init(&dr, &d))
        goto out;
    if (lrw) {
        if (loop_spawn(clp, "limitranges", &d))
            goto out;
        loop_post(clp, lrw_start, lrw);
    }
    status = loop_run(lp) == 0 ? 0 : 1;
out:
    if (d.msg[0])
        fprintf(stderr, "membudget webhook: %s\n", d.msg);
    webhook_free(wh); /* stops and joins the workers */
    if (clp) {
        loop_stop(clp);
        loop_join(clp);
        loop_flush(clp);
    }
    opsauth_free(auth); /* (what waits is answered 503: replies posted to the main loop) */
    loop_flush(lp);
    app_drain_cleanup(&dr);
    ops_free(ops);
    mx_free(mx);
    lrwatch_free(lrw);
    kapi_free(api);
    loop_free(clp);
    loop_free(lp);
    kcfg_cleanup(&kc);
    cfg_cleanup(&cfg);
    return status;
}
