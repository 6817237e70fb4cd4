/* cmd_controller.c -- `membudget controller` and `membudget run` (shell: wiring).
 *
 * Threads: the main thread runs the ops server (/healthz, /readyz,
 * /metrics, /debug/pods), signals and the drain (drain.c); the controller
 * (API client, watches, sampler, remediation, leader election) runs on its
 * own thread "controller"; with `run`, the webhook on its workers. The
 * controller's objects are created on the main thread before its thread
 * starts, and freed there after it has been joined.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/controller.h"
#include "membudget/kapi.h"
#include "membudget/podcall.h"
#include "membudget/kubeconfig.h"
#include "membudget/leader.h"
#include "membudget/opsauth.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/lrwatch.h"
#include "membudget/metrics.h"
#include "membudget/ops.h"
#include "membudget/webhook.h"

/* Leadership changes, on the controller's loop. */
static void on_leading(void *arg, bool leading)
{
    struct app_drain *d = arg;
    if (!d->ctl_stopping)
        controller_set_leader(d->ctl, leading);
}

/* Started on the controller's loop once its thread runs. */
static void lrw_start(void *arg)
{
    lrwatch_start(arg);
}

/* Likewise. */
static void ctl_start(void *arg)
{
    struct app_drain *d = arg;
    controller_start(d->ctl);
    if (d->le)
        leader_start(d->le);
    else
        controller_set_leader(d->ctl, true);
}

/* Split "a,b,c" in place into v. */
static size_t split_list(char *s, const char **v, size_t max)
{
    size_t n = 0;
    for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
        if (*tok)
            v[n++] = tok;
    return n;
}

int app_controller_main(const char *cmd, int argc, char **argv, bool with_webhook);

int cmd_controller(int argc, char **argv)
{
    return app_controller_main("controller", argc, argv, false);
}

int cmd_run(int argc, char **argv)
{
    return app_controller_main("run", argc, argv, true);
}

int app_controller_main(const char *cmd, int argc, char **argv, bool with_webhook)
{
    const char *kubeconfig, *context, *config, *mbind, *nsflag, *level, *grace, *identity, *lease_ns,
        *lease_name, *lease_dur, *renew, *retry, *cert, *key, *wbind, *workers, *idle, *reqto,
        *maxconns, *maxbuf, *maxparse, *maxseries, *mauth;
    bool leader_elect, dry_run, auth_on = false;
    const struct flag FLAGS[] = {
        {"kubeconfig", "FILE", "", "kubeconfig; default $KUBECONFIG, in-cluster, ~/.kube/config", &kubeconfig, NULL, false},
        {"context", "NAME", "", "kubeconfig context (default: current-context)", &context, NULL, false},
        {"config", "FILE", "", "config file (YAML): tiers, sampleInterval, eviction... (defaults when not given)", &config, NULL, false},
        {"namespace", "NS", "", "govern only these namespaces (repeatable, or a,b); default: config, else namespaces labelled membudget.io/enforce=true", &nsflag, NULL, true},
        {"leader-elect", NULL, "false", "elect a leader through a Lease; only the leader acts", NULL, &leader_elect, false},
        {"leader-election-namespace", "NS", "default", "namespace of the Lease (in-cluster: the pod's)", &lease_ns, NULL, false},
        {"leader-election-id", "NAME", "membudget-controller", "name of the Lease", &lease_name, NULL, false},
        {"leader-election-identity", "ID", "", "this replica's identity (default: hostname_RANDOM, new at each start)", &identity, NULL, false},
        {"leader-elect-lease-duration", "DURATION", "15s", "how long a lease is valid without renewal", &lease_dur, NULL, false},
        {"leader-elect-renew-deadline", "DURATION", "10s", "the leader gives up if it cannot renew for this long", &renew, NULL, false},
        {"leader-elect-retry-period", "DURATION", "2s", "interval between acquire/renew attempts", &retry, NULL, false},
        {"dry-run", NULL, "false", "compute and log everything, write nothing to pods (overrides the config)", NULL, &dry_run, false},
        {"metrics-bind-address", "ADDR", ":8080", "HTTP address for /healthz, /readyz, /metrics, /debug/pods", &mbind, NULL, false},
        {"metrics-auth", "MODE", "none", APP_METRICS_AUTH_HELP, &mauth, NULL, false},
        {"tls-cert-file", "FILE", "", "(run) webhook serving certificate", &cert, NULL, false},
        {"tls-private-key-file", "FILE", "", "(run) webhook serving key", &key, NULL, false},
        {"webhook-bind-address", "ADDR", ":8443", "(run) HTTPS address of the webhook", &wbind, NULL, false},
        {"webhook-max-buffered-bytes", "QUANTITY", "64Mi", "(run) webhook request bytes held in memory at once, all connections together; past it, connections wait (unread) for room", &maxbuf, NULL, false},
        {"webhook-max-parse-bytes", "QUANTITY", "128Mi", "(run) parsed review JSON held in memory at once, all workers together; a review that finds it used up by others is answered 503 (retry); one that could never fit gets a definite 'too large' answer", &maxparse, NULL, false},
        {"webhook-workers", "N", "0", "(run) threads serving the webhook, each with its own event loop (0: the CPUs this process may use)", &workers, NULL, false},
        {"webhook-idle-timeout", "DURATION", "60s", "(run) close a webhook connection idle (or stalled) this long", &idle, NULL, false},
        {"webhook-request-timeout", "DURATION", "10s", "(run) a whole webhook request must arrive within this time", &reqto, NULL, false},
        {"webhook-max-connections", "N", "1024", "(run) open webhook connections (all workers together); more are closed at once", &maxconns, NULL, false},
        {"shutdown-grace-period", "DURATION", "10s", "on SIGTERM, wait this long for writes in flight", &grace, NULL, false},
        {"metrics-max-series", "N", "1000000", "series per metric family on /metrics; past it, new series are dropped, counted and logged once", &maxseries, NULL, false},
        {"log-level", "LEVEL", "info", "debug, info, warn or error", &level, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char *pos[64];
    size_t npos;
    int r = flags_parse(cmd, "[flags]", FLAGS, argc, argv, pos, &npos);
    uint64_t grace_ms, lease_ms, renew_ms, retry_ms, idle_ms, req_ms;
    unsigned long nworkers, nconns, nseries;
    int64_t maxbuf_bytes = 0, maxparse_bytes = 0;
    enum log_level ll;
    struct cfg cfg;
    struct kcfg kc = {0};
    struct loop *lp = NULL, *clp = NULL;
    struct mx *mx = NULL;
    struct opsauth *auth = NULL;
    struct ops *ops = NULL;
    struct kapi *api = NULL, *scrape = NULL;
    struct podcall *pods = NULL;
    struct controller *ctl = NULL;
    struct leader *le = NULL;
    struct webhook *wh = NULL;
    struct lrwatch *lrw = NULL;
    struct mb_diag d = {0};
    struct app_drain dr = {0};
    int status = 1;
    char nsbuf[4096], idbuf[300], ua[400], own_ns[64];
    const char *nsv[256];
    size_t nns = 0;

    if (r)
        return r == 1 ? 0 : 2;
    if (npos) {
        fprintf(stderr, "membudget %s: unexpected argument \"%s\"\n", cmd, pos[0]);
        return 2;
    }
    if (log_parse_level(level, &ll)) {
        fprintf(stderr, "membudget %s: --log-level: \"%s\" is not debug, info, warn or error\n", cmd,
                level);
        return 2;
    }
    if (!app_duration_flag("shutdown-grace-period", grace, &grace_ms) ||
        !app_duration_flag("leader-elect-lease-duration", lease_dur, &lease_ms) ||
        !app_duration_flag("leader-elect-renew-deadline", renew, &renew_ms) ||
        !app_duration_flag("leader-elect-retry-period", retry, &retry_ms) ||
        !app_duration_flag("webhook-idle-timeout", idle, &idle_ms) ||
        !app_duration_flag("webhook-request-timeout", reqto, &req_ms) ||
        !app_uint_flag("webhook-max-connections", maxconns, 1, 1000000, &nconns) ||
        !app_uint_flag("webhook-workers", workers, 0, 1024, &nworkers) ||
        !app_uint_flag("metrics-max-series", maxseries, 1, 100000000, &nseries))
        return 2;
    if (!app_quantity_flag("webhook-max-buffered-bytes", maxbuf, &maxbuf_bytes) ||
        !app_quantity_flag("webhook-max-parse-bytes", maxparse, &maxparse_bytes) ||
        !app_metrics_auth_flag(cmd, mauth, &auth_on))
        return 2;
    if (idle_ms < 1000 || req_ms < 100) {
        fprintf(stderr, "membudget %s: --webhook-idle-timeout must be at least 1s, "
                        "--webhook-request-timeout 100ms\n", cmd);
        return 2;
    }
    if (!(retry_ms < renew_ms && renew_ms < lease_ms) || retry_ms < 100) {
        fprintf(stderr, "membudget %s: leader election needs retry-period < renew-deadline < "
                        "lease-duration (and a retry period of at least 100ms)\n", cmd);
        return 2;
    }
    if (with_webhook && (!*cert || !*key)) {
        fprintf(stderr, "membudget %s: --tls-cert-file and --tls-private-key-file are required\n", cmd);
        return 2;
    }
    log_set_level(ll);
    if (!app_load_config(config, &cfg))
        return 2;
    if (*nsflag) {
        snprintf(nsbuf, sizeof nsbuf, "%s", nsflag);
        nns = split_list(nsbuf, nsv, MB_ARRAY_LEN(nsv));
    } else {
        for (size_t i = 0; i < cfg.namespaces.n && nns < MB_ARRAY_LEN(nsv); i++)
            nsv[nns++] = cfg.namespaces.v[i];
    }
    if (!app_kube_config(kubeconfig, context, &kc)) {
        cfg_cleanup(&cfg);
        return 2;
    }
    if (*identity) {
        snprintf(idbuf, sizeof idbuf, "%s", identity);
    } else {
        leader_default_identity(idbuf, sizeof idbuf);
    }
    snprintf(ua, sizeof ua, "membudget/%s (%s; %s)", MB_VERSION, cmd, idbuf);
    app_own_namespace(&kc, own_ns, sizeof own_ns);

    if (loop_new(&lp, LOOP_SERVER, &d) || loop_new(&clp, LOOP_CLIENT, &d))
        goto out;
    mx = app_metrics_new(nseries);
    if (ops_new(lp, clock_system(), mbind, mx, &ops, &d))
        goto out;
    {
        struct kapi_conf kconf;
        app_kapi_conf(&kc, ua, &kconf);
        if (kapi_new(clp, clock_system(), &kconf, &api, &d))
            goto out;
    }
    if (auth_on) { /* (checked on the controller's loop, where its API client is) */
        auth = opsauth_new(api, clock_system(), mx);
        ops_set_auth(ops, clp, auth);
    }
    if (with_webhook) {
        /* The LimitRanges, for templates without a memory limit: listed and
         * watched on the controller's loop (its latency is not the webhook's),
         * read by the webhook's workers. */
        lrw = lrwatch_new(clp, clock_system(), api, mx);
        struct webhook_conf wc = {
            .cert_file = cert,
            .key_file = key,
            .bind = wbind,
            .cfg = &cfg,
            .own_namespace = own_ns,
            .limit_range = lrwatch_lookup,
            .limit_range_ctx = lrw,
            .tls_reload_ms = 10000,
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
    {
        /* Pod endpoints: whole http:// URLs, no credentials, bounded. */
        struct kapi_conf sconf = {
            .absolute = true,
            .max_inflight = cfg.usage.max_concurrent_scrapes,
            .timeout_ms = (unsigned)cfg.usage.scrape_timeout_ms,
            .max_response = (size_t)cfg.usage.max_response_bytes,
            .user_agent = ua,
        };
        if (kapi_new(clp, clock_system(), &sconf, &scrape, &d))
            goto out;
        struct tgt_policy pol = {.allow_loopback = cfg.usage.allow_loopback,
                                 .allow_host_network = cfg.usage.allow_host_network};
        pods = podcall_new(scrape, &pol);
        if (pol.allow_loopback)
            log_warn("usage.allowLoopback is true: pods whose IP is a loopback address will be "
                     "called; only single-machine setups (demo, tests) should set it", NULL);
        if (pol.allow_host_network)
            log_warn("usage.allowHostNetwork is true: hostNetwork pods will be called on their "
                     "node's IP", NULL);
    }
    {
        struct controller_conf cc = {
            .namespaces = nsv,
            .nnamespaces = nns,
            .dry_run = dry_run || cfg.dry_run,
            .watch_list = true,
            .cfg = &cfg,
            .pods = pods,
            .identity = idbuf,
            .own_namespace = own_ns,
        };
        if (controller_new(clp, clock_system(), api, mx, ops, &cc, &ctl, &d))
            goto out;
    }
    dr = (struct app_drain){.main = lp, .clk = clock_system(), .ops = ops, .wh = wh, .ctl_lp = clp,
                            .ctl = ctl, .grace_ms = grace_ms};
    if (leader_elect) {
        const char *lns = lease_ns;
        if (!strcmp(lns, "default") && kc.namespace_ && !strcmp(kc.context, "in-cluster"))
            lns = kc.namespace_;
        struct leader_conf lc = {
            .ns = lns,
            .name = lease_name,
            .identity = idbuf,
            .lease_ms = lease_ms,
            .renew_deadline_ms = renew_ms,
            .retry_ms = retry_ms,
        };
        if (leader_new(clp, clock_system(), api, mx, &lc, on_leading, &dr, &le, &d))
            goto out;
        dr.le = le;
    }
    if (app_drain_init(&dr, &d))
        goto out;
    log_info("metrics listening", "{s:s}", "address", ops_address(ops));
    {
        json_t *ex = json_array();
        static const char *const ALWAYS[] = CFG_ALWAYS_EXCLUDED;
        for (size_t i = 0; i < MB_ARRAY_LEN(ALWAYS); i++)
            json_array_append_new(ex, json_string(ALWAYS[i]));
        for (size_t i = 0; i < cfg.excluded.n; i++) {
            bool dup = false;
            for (size_t k = 0; k < MB_ARRAY_LEN(ALWAYS); k++)
                dup = dup || !strcmp(ALWAYS[k], cfg.excluded.v[i]);
            if (!dup)
                json_array_append_new(ex, json_string(cfg.excluded.v[i]));
        }
        json_array_append_new(ex, json_string(own_ns));
        char server[300];
        app_server_for_log(&kc, server, sizeof server);
        log_info("controller starting", "{s:s,s:s,s:s,s:b,s:b,s:I,s:o}", "server", server,
                 "context", kc.context ? kc.context : "", "identity", idbuf, "leaderElect",
                 leader_elect, "dryRun", dry_run || cfg.dry_run, "namespaces", (json_int_t)nns,
                 "excludedNamespaces", ex);
    }
    if (lrw)
        loop_post(clp, lrw_start, lrw);
    loop_post(clp, ctl_start, &dr);
    if (loop_spawn(clp, "controller", &d))
        goto out;
    status = loop_run(lp) == 0 ? 0 : 1;
out:
    if (d.msg[0])
        fprintf(stderr, "membudget %s: %s\n", cmd, d.msg);
    webhook_free(wh); /* stops and joins the workers */
    if (clp) {
        loop_stop(clp);
        loop_join(clp);
        loop_flush(clp); /* e.g. a /debug/pods render: it posts its reply to the main loop */
    }
    opsauth_free(auth); /* (what waits is answered 503: replies posted to the main loop) */
    if (lp)
        loop_flush(lp); /* replies still queued, while the ops server exists */
    app_drain_cleanup(&dr);
    leader_free(le);
    lrwatch_free(lrw);
    controller_free(ctl);
    kapi_free(scrape);
    podcall_free(pods);
    kapi_free(api);
    ops_free(ops);
    mx_free(mx);
    loop_free(clp);
    loop_free(lp);
    kcfg_cleanup(&kc);
    cfg_cleanup(&cfg);
    return status;
}
