/*
 * cmd_webhook.c -- `membudget webhook`: the admission webhook alone (shell:
 * wiring and shutdown order). Its steps: parse the flags, check them,
 * wire (config, the optional API client for LimitRanges, metrics and ops,
 * the webhook), run until SIGTERM's drain ends, and tear down in the
 * reverse order. The webhook's own flags and wiring are webhook_wiring.c's,
 * shared with `membudget run`.
 *
 * Threads: the main loop (ops, certificate reloads, signals), the webhook's
 * workers, and with an API server a client loop "limitranges" for the
 * LimitRange watch (its latency is never the webhook's).
 */
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

struct wh_app {
    /* flags */
    const char *mbind, *config, *grace, *level, *maxseries, *kubeconfig, *context, *mauth;
    struct app_webhook_opts web;
    uint64_t grace_ms;
    unsigned long nseries;
    enum log_level ll;
    bool auth_on, with_api;
    /* what wire() makes, teardown() frees */
    struct cfg cfg;
    struct kcfg kc;
    struct loop *lp, *clp;
    struct kapi *api;
    struct lrwatch *lrw;
    struct opsauth *auth;
    struct mx *mx;
    struct ops *ops;
    struct webhook *wh;
    struct app_drain dr;
    char own_ns[64];
};

static void lrw_start(void *arg) { lrwatch_start(arg); }

/* Returns -1 to go on, else the exit code (0 after --help). */
static int parse(struct wh_app *a, int argc, char **argv)
{
    const struct flag OWN[] = {
        {"metrics-bind-address", "ADDR", ":8080", "HTTP address for /healthz, /readyz, /metrics",
         &a->mbind, NULL, false},
        {"metrics-auth", "MODE", "none", APP_METRICS_AUTH_HELP, &a->mauth, NULL, false},
        {"config", "FILE", "", "config file (YAML); defaults when not given", &a->config, NULL,
         false},
        {"kubeconfig", "FILE", "",
         "API server for the LimitRanges (templates without a memory limit); default $KUBECONFIG, "
         "else in-cluster, else none (they are then unknown)",
         &a->kubeconfig, NULL, false},
        {"context", "NAME", "", "kubeconfig context (default: its current-context)", &a->context,
         NULL, false},
        {"shutdown-grace-period", "DURATION", "5s",
         "on SIGTERM, wait this long for open connections", &a->grace, NULL, false},
        {"metrics-max-series", "N", "1000000",
         "series per metric family on /metrics; past it, new series are dropped, counted and "
         "logged once",
         &a->maxseries, NULL, false},
        {"log-level", "LEVEL", "info", "debug, info, warn or error", &a->level, NULL, false},
    };
    struct flag web[APP_WEBHOOK_NFLAGS], table[32];
    size_t used = 0, npos;
    char *pos[64];

    app_webhook_flags(&a->web, web);
    flags_cat(table, MB_ARRAY_LEN(table), &used, web, MB_ARRAY_LEN(web));
    flags_cat(table, MB_ARRAY_LEN(table), &used, OWN, MB_ARRAY_LEN(OWN));
    int r = flags_parse("webhook", "--tls-cert-file FILE --tls-private-key-file FILE [flags]",
                        table, argc, argv, pos, &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos) {
        fprintf(stderr, "membudget webhook: unexpected argument \"%s\"\n", pos[0]);
        return 2;
    }
    return -1;
}

/* The flags' values: each error printed, naming the flag. */
static bool validate(struct wh_app *a)
{
    if (!app_webhook_check("webhook", &a->web))
        return false;
    if (log_parse_level(a->level, &a->ll)) {
        fprintf(stderr,
                "membudget webhook: --log-level: \"%s\" is not debug, info, warn or error\n",
                a->level);
        return false;
    }
    if (!app_duration_flag("shutdown-grace-period", a->grace, &a->grace_ms) ||
        !app_uint_flag("metrics-max-series", a->maxseries, 1, 100000000, &a->nseries) ||
        !app_metrics_auth_flag("webhook", a->mauth, &a->auth_on))
        return false;
    /* The API server is asked only for LimitRanges: with a kubeconfig (flag
     * or $KUBECONFIG) or in a cluster; without one they are unknown, and a
     * template without a memory limit is admitted with a warning. */
    a->with_api = *a->kubeconfig || (getenv("KUBECONFIG") && *getenv("KUBECONFIG")) ||
                  (getenv("KUBERNETES_SERVICE_HOST") && *getenv("KUBERNETES_SERVICE_HOST"));
    if (a->auth_on && !a->with_api) {
        fprintf(stderr, "membudget webhook: --metrics-auth=kubernetes checks tokens with the API "
                        "server: give --kubeconfig (or $KUBECONFIG), or run in a cluster\n");
        return false;
    }
    return true;
}

/* The API client and the LimitRange watch, on their own loop. */
static mb_err wire_api(struct wh_app *a, struct mb_diag *d)
{
    struct kapi_conf kconf;
    char ua[200];
    snprintf(ua, sizeof ua, "membudget/%s (webhook)", MB_VERSION);
    app_kapi_conf(&a->kc, ua, &kconf);
    mb_err e = loop_new(&a->clp, LOOP_CLIENT, d);
    if (!e)
        e = kapi_new(a->clp, clock_system(), &kconf, &a->api, d);
    if (!e)
        a->lrw = lrwatch_new(a->clp, clock_system(), a->api, NULL);
    return e;
}

static mb_err wire(struct wh_app *a, struct mb_diag *d)
{
    mb_err e;
    app_own_namespace(a->with_api ? &a->kc : NULL, a->own_ns, sizeof a->own_ns);
    if ((e = loop_new(&a->lp, LOOP_SERVER, d)))
        return e;
    if (a->with_api) {
        if ((e = wire_api(a, d)))
            return e;
    } else {
        log_warn("no API server configuration (--kubeconfig, $KUBECONFIG or in-cluster): the "
                 "namespaces' LimitRanges are unknown, so a workload template without a memory "
                 "limit is admitted with a warning",
                 NULL);
    }
    a->mx = app_metrics_new(a->nseries);
    if ((e = ops_new(a->lp, clock_system(), a->mbind, a->mx, &a->ops, d)))
        return e;
    if (a->auth_on) {
        a->auth = opsauth_new(a->api, clock_system(), a->mx);
        ops_set_auth(a->ops, a->clp, a->auth);
    }
    if ((e = app_webhook_start(&a->web, a->lp, &a->cfg, a->own_ns, a->lrw, a->mx, a->ops, &a->wh,
                               d)))
        return e;
    log_info("metrics listening", "{s:s}", "address", ops_address(a->ops));
    a->dr = (struct app_drain){
        .main = a->lp, .clk = clock_system(), .ops = a->ops, .wh = a->wh, .grace_ms = a->grace_ms};
    if ((e = app_drain_init(&a->dr, d)))
        return e;
    if (a->lrw) {
        if ((e = loop_spawn(a->clp, "limitranges", d)))
            return e;
        loop_post(a->clp, lrw_start, a->lrw);
    }
    return MB_OK;
}

/* In this order: the workers, then the client loop (whatever it still
 * posts to the main loop is delivered), then the rest. */
static void teardown(struct wh_app *a)
{
    webhook_free(a->wh); /* stops and joins the workers */
    if (a->clp) {
        loop_stop(a->clp);
        loop_join(a->clp);
        loop_flush(a->clp);
    }
    opsauth_free(a->auth); /* (what waits is answered 503: replies posted to the main loop) */
    if (a->lp)
        loop_flush(a->lp);
    app_drain_cleanup(&a->dr);
    ops_free(a->ops);
    mx_free(a->mx);
    lrwatch_free(a->lrw);
    kapi_free(a->api);
    loop_free(a->clp);
    loop_free(a->lp);
    kcfg_cleanup(&a->kc);
    cfg_cleanup(&a->cfg);
}

int cmd_webhook(int argc, char **argv)
{
    struct wh_app a = {0};
    struct mb_diag d = {0};
    int status = parse(&a, argc, argv);
    if (status >= 0)
        return status;
    if (!validate(&a))
        return 2;
    log_set_level(a.ll);
    if (!app_load_config(a.config, &a.cfg))
        return 2;
    if (a.with_api && !app_kube_config(a.kubeconfig, a.context, &a.kc)) {
        cfg_cleanup(&a.cfg);
        return 2;
    }
    status = 1;
    if (!wire(&a, &d))
        status = loop_run(a.lp) == 0 ? 0 : 1;
    if (d.msg[0])
        fprintf(stderr, "membudget webhook: %s\n", d.msg);
    teardown(&a);
    return status;
}
