/* cmd_controller.c -- `membudget controller` and `membudget run` (shell: wiring).
 *
 * app_controller_main's steps: parse the flags, check them, wire (config,
 * API clients, metrics and ops, with `run` the webhook (webhook_wiring.c),
 * the pod caller, the controller, leader election), run until SIGTERM's
 * drain (drain.c) ends, and tear down in the reverse order.
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
#include "membudget/forensics.h"
#include "membudget/outbox.h"
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
static void lrw_start(void *arg) { lrwatch_start(arg); }

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

/* Everything one `controller` or `run` holds: its flags, then what wire()
 * makes and teardown() frees (NULL when not made). */
struct ctl_app {
    const char *cmd;
    bool with_webhook;
    const char *kubeconfig, *context, *config, *mbind, *nsflag, *level, *grace, *identity,
        *lease_ns, *lease_name, *lease_dur, *renew, *retry, *maxseries, *mauth;
    bool leader_elect, dry_run, auth_on;
    struct app_webhook_opts web;
    uint64_t grace_ms, lease_ms, renew_ms, retry_ms;
    unsigned long nseries;
    enum log_level ll;
    struct cfg cfg;
    struct kcfg kc;
    struct loop *lp, *clp;
    struct mx *mx;
    struct opsauth *auth;
    struct ops *ops;
    struct kapi *api, *scrape;
    struct podcall *pods;
    struct controller *ctl;
    struct leader *le;
    struct webhook *wh;
    struct lrwatch *lrw;
    struct outbox *outbox; /* profiles.store: s3 */
    struct fx *fx;         /* the captures' analysis */
    struct app_drain dr;
    char nsbuf[4096], idbuf[300], ua[400], own_ns[64];
    const char *nsv[256];
    size_t nns;
};

/* Returns -1 to go on, else the exit code (0 after --help). */
static int parse(struct ctl_app *a, int argc, char **argv)
{
    const struct flag OWN[] = {
        {"kubeconfig", "FILE", "", "kubeconfig; default $KUBECONFIG, in-cluster, ~/.kube/config",
         &a->kubeconfig, NULL, false},
        {"context", "NAME", "", "kubeconfig context (default: current-context)", &a->context, NULL,
         false},
        {"config", "FILE", "",
         "config file (YAML): tiers, sampleInterval, eviction... (defaults when not given)",
         &a->config, NULL, false},
        {"namespace", "NS", "",
         "govern only these namespaces (repeatable, or a,b); default: config, else namespaces "
         "labelled membudget.io/enforce=true",
         &a->nsflag, NULL, true},
        {"leader-elect", NULL, "false", "elect a leader through a Lease; only the leader acts",
         NULL, &a->leader_elect, false},
        {"leader-election-namespace", "NS", "default",
         "namespace of the Lease (in-cluster: the pod's)", &a->lease_ns, NULL, false},
        {"leader-election-id", "NAME", "membudget-controller", "name of the Lease", &a->lease_name,
         NULL, false},
        {"leader-election-identity", "ID", "",
         "this replica's identity (default: hostname_RANDOM, new at each start)", &a->identity,
         NULL, false},
        {"leader-elect-lease-duration", "DURATION", "15s",
         "how long a lease is valid without renewal", &a->lease_dur, NULL, false},
        {"leader-elect-renew-deadline", "DURATION", "10s",
         "the leader gives up if it cannot renew for this long", &a->renew, NULL, false},
        {"leader-elect-retry-period", "DURATION", "2s", "interval between acquire/renew attempts",
         &a->retry, NULL, false},
        {"dry-run", NULL, "false",
         "compute and log everything, write nothing to pods (overrides the config)", NULL,
         &a->dry_run, false},
        {"metrics-bind-address", "ADDR", ":8080",
         "HTTP address for /healthz, /readyz, /metrics, /debug/pods", &a->mbind, NULL, false},
        {"metrics-auth", "MODE", "none", APP_METRICS_AUTH_HELP, &a->mauth, NULL, false},
        {"shutdown-grace-period", "DURATION", "10s",
         "on SIGTERM, wait this long for writes in flight", &a->grace, NULL, false},
        {"metrics-max-series", "N", "1000000",
         "series per metric family on /metrics; past it, new series are dropped, counted and "
         "logged once",
         &a->maxseries, NULL, false},
        {"log-level", "LEVEL", "info", "debug, info, warn or error", &a->level, NULL, false},
    };
    struct flag web[APP_WEBHOOK_NFLAGS], table[48];
    size_t used = 0, npos;
    char *pos[64];

    flags_cat(table, MB_ARRAY_LEN(table), &used, OWN, MB_ARRAY_LEN(OWN));
    if (a->with_webhook) { /* (`controller` serves no webhook: it has none of its flags) */
        app_webhook_flags(&a->web, web);
        flags_cat(table, MB_ARRAY_LEN(table), &used, web, MB_ARRAY_LEN(web));
    }
    int r = flags_parse(a->cmd,
                        a->with_webhook ? "--tls-cert-file FILE --tls-private-key-file FILE [flags]"
                                        : "[flags]",
                        table, argc, argv, pos, &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos) {
        fprintf(stderr, "membudget %s: unexpected argument \"%s\"\n", a->cmd, pos[0]);
        return 2;
    }
    return -1;
}

/* The flags' values: each error printed, naming the flag. */
static bool validate(struct ctl_app *a)
{
    const char *cmd = a->cmd;
    if (log_parse_level(a->level, &a->ll)) {
        fprintf(stderr, "membudget %s: --log-level: \"%s\" is not debug, info, warn or error\n",
                cmd, a->level);
        return false;
    }
    if (!app_duration_flag("shutdown-grace-period", a->grace, &a->grace_ms) ||
        !app_duration_flag("leader-elect-lease-duration", a->lease_dur, &a->lease_ms) ||
        !app_duration_flag("leader-elect-renew-deadline", a->renew, &a->renew_ms) ||
        !app_duration_flag("leader-elect-retry-period", a->retry, &a->retry_ms) ||
        !app_uint_flag("metrics-max-series", a->maxseries, 1, 100000000, &a->nseries) ||
        !app_metrics_auth_flag(cmd, a->mauth, &a->auth_on))
        return false;
    if (!(a->retry_ms < a->renew_ms && a->renew_ms < a->lease_ms) || a->retry_ms < 100) {
        fprintf(stderr,
                "membudget %s: leader election needs retry-period < renew-deadline < "
                "lease-duration (and a retry period of at least 100ms)\n",
                cmd);
        return false;
    }
    return !a->with_webhook || app_webhook_check(cmd, &a->web);
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

/* What the flags and the config say about namespaces and identity. */
static void settle(struct ctl_app *a)
{
    if (*a->nsflag) {
        snprintf(a->nsbuf, sizeof a->nsbuf, "%s", a->nsflag);
        a->nns = split_list(a->nsbuf, a->nsv, MB_ARRAY_LEN(a->nsv));
    } else {
        for (size_t i = 0; i < a->cfg.namespaces.n && a->nns < MB_ARRAY_LEN(a->nsv); i++)
            a->nsv[a->nns++] = a->cfg.namespaces.v[i];
    }
    if (*a->identity)
        snprintf(a->idbuf, sizeof a->idbuf, "%s", a->identity);
    else
        leader_default_identity(a->idbuf, sizeof a->idbuf);
    snprintf(a->ua, sizeof a->ua, "membudget/%s (%s; %s)", MB_VERSION, a->cmd, a->idbuf);
    app_own_namespace(&a->kc, a->own_ns, sizeof a->own_ns);
}

/* Pod endpoints: whole http:// URLs, no credentials, bounded. */
static mb_err wire_pods(struct ctl_app *a, struct mb_diag *d)
{
    const struct cfg *cfg = &a->cfg;
    struct kapi_conf sconf = {
        .absolute = true,
        .max_inflight = cfg->usage.max_concurrent_scrapes,
        .timeout_ms = (unsigned)cfg->usage.scrape_timeout_ms,
        .max_response = (size_t)cfg->usage.max_response_bytes,
        .user_agent = a->ua,
    };
    mb_err e = kapi_new(a->clp, clock_system(), &sconf, &a->scrape, d);
    if (e)
        return e;
    struct tgt_policy pol = {.allow_loopback = cfg->usage.allow_loopback,
                             .allow_host_network = cfg->usage.allow_host_network};
    a->pods = podcall_new(a->scrape, &pol);
    if (pol.allow_loopback)
        log_warn("usage.allowLoopback is true: pods whose IP is a loopback address will be "
                 "called; only single-machine setups (demo, tests) should set it",
                 NULL);
    if (pol.allow_host_network)
        log_warn("usage.allowHostNetwork is true: hostNetwork pods will be called on their "
                 "node's IP",
                 NULL);
    return MB_OK;
}

/* The controller, and the Lease it acts under when elected. */
static mb_err wire_controller(struct ctl_app *a, struct mb_diag *d)
{
    struct controller_conf cc = {
        .namespaces = a->nsv,
        .nnamespaces = a->nns,
        .dry_run = a->dry_run || a->cfg.dry_run,
        .watch_list = true,
        .cfg = &a->cfg,
        .pods = a->pods,
        .identity = a->idbuf,
        .own_namespace = a->own_ns,
    };
    mb_err e = controller_new(a->clp, clock_system(), a->api, a->mx, a->ops, &cc, &a->ctl, d);
    if (e)
        return e;
    /* Captures: the outbox delivers what this replica queued, leader or
     * not (a restarted pod delivers what its predecessor left). */
    if (a->cfg.profiles.store == CFG_STORE_S3 && !(a->outbox = outbox_start(&a->cfg, a->mx, d)))
        return MB_EIO;
    if (!(a->fx = fx_start(&a->cfg, a->clp, controller_fx_done, a->ctl, d)))
        return MB_EIO;
    controller_set_forensics(a->ctl, a->outbox, a->fx);
    a->dr = (struct app_drain){.main = a->lp,
                               .clk = clock_system(),
                               .ops = a->ops,
                               .wh = a->wh,
                               .ctl_lp = a->clp,
                               .ctl = a->ctl,
                               .grace_ms = a->grace_ms};
    if (!a->leader_elect)
        return MB_OK;
    const char *lns = a->lease_ns;
    /* in a cluster the default is the pod's own namespace */
    if (!strcmp(lns, "default") && a->kc.namespace_ && !strcmp(a->kc.context, "in-cluster"))
        lns = a->kc.namespace_;
    struct leader_conf lc = {
        .ns = lns,
        .name = a->lease_name,
        .identity = a->idbuf,
        .lease_ms = a->lease_ms,
        .renew_deadline_ms = a->renew_ms,
        .retry_ms = a->retry_ms,
    };
    e = leader_new(a->clp, clock_system(), a->api, a->mx, &lc, on_leading, &a->dr, &a->le, d);
    a->dr.le = a->le;
    return e;
}

static void log_start(const struct ctl_app *a)
{
    json_t *ex = json_array();
    static const char *const ALWAYS[] = CFG_ALWAYS_EXCLUDED;
    for (size_t i = 0; i < MB_ARRAY_LEN(ALWAYS); i++)
        json_array_append_new(ex, json_string(ALWAYS[i]));
    for (size_t i = 0; i < a->cfg.excluded.n; i++) {
        bool dup = false;
        for (size_t k = 0; k < MB_ARRAY_LEN(ALWAYS); k++)
            dup = dup || !strcmp(ALWAYS[k], a->cfg.excluded.v[i]);
        if (!dup)
            json_array_append_new(ex, json_string(a->cfg.excluded.v[i]));
    }
    json_array_append_new(ex, json_string(a->own_ns));
    char server[300];
    app_server_for_log(&a->kc, server, sizeof server);
    log_info("controller starting", "{s:s,s:s,s:s,s:b,s:b,s:I,s:o}", "server", server, "context",
             a->kc.context ? a->kc.context : "", "identity", a->idbuf, "leaderElect",
             a->leader_elect, "dryRun", a->dry_run || a->cfg.dry_run, "namespaces",
             (json_int_t)a->nns, "excludedNamespaces", ex);
}

static mb_err wire(struct ctl_app *a, struct mb_diag *d)
{
    struct kapi_conf kconf;
    mb_err e;
    if ((e = loop_new(&a->lp, LOOP_SERVER, d)) || (e = loop_new(&a->clp, LOOP_CLIENT, d)))
        return e;
    a->mx = app_metrics_new(a->nseries);
    if ((e = ops_new(a->lp, clock_system(), a->mbind, a->mx, &a->ops, d)))
        return e;
    app_kapi_conf(&a->kc, a->ua, &kconf);
    if ((e = kapi_new(a->clp, clock_system(), &kconf, &a->api, d)))
        return e;
    if (a->auth_on) { /* (checked on the controller's loop, where its API client is) */
        a->auth = opsauth_new(a->api, clock_system(), a->mx);
        ops_set_auth(a->ops, a->clp, a->auth);
    }
    if (a->with_webhook) {
        /* The LimitRanges, for templates without a memory limit: listed and
         * watched on the controller's loop (its latency is not the webhook's),
         * read by the webhook's workers. */
        a->lrw = lrwatch_new(a->clp, clock_system(), a->api, a->mx);
        if ((e = app_webhook_start(&a->web, a->lp, &a->cfg, a->own_ns, a->lrw, a->mx, a->ops,
                                   &a->wh, d)))
            return e;
    }
    if ((e = wire_pods(a, d)) || (e = wire_controller(a, d)) || (e = app_drain_init(&a->dr, d)))
        return e;
    log_info("metrics listening", "{s:s}", "address", ops_address(a->ops));
    log_start(a);
    if (a->lrw)
        loop_post(a->clp, lrw_start, a->lrw);
    loop_post(a->clp, ctl_start, &a->dr);
    return loop_spawn(a->clp, "controller", d);
}

/* In this order: the webhook's workers, then the controller's thread
 * (whatever it still posts to the main loop is delivered while the ops
 * server exists), then the objects, newest first. */
static void teardown(struct ctl_app *a)
{
    webhook_free(a->wh); /* stops and joins the workers */
    if (a->clp) {
        loop_stop(a->clp);
        loop_join(a->clp);
        fx_stop(a->fx); /* its last result is posted to the controller's loop: flushed next */
        a->fx = NULL;
        loop_flush(a->clp); /* e.g. a /debug/pods render: it posts its reply to the main loop */
    }
    opsauth_free(a->auth); /* (what waits is answered 503: replies posted to the main loop) */
    if (a->lp)
        loop_flush(a->lp); /* replies still queued, while the ops server exists */
    app_drain_cleanup(&a->dr);
    leader_free(a->le);
    lrwatch_free(a->lrw);
    fx_stop(a->fx); /* (when the controller's thread never ran) */
    controller_free(a->ctl);
    outbox_stop(a->outbox);
    kapi_free(a->scrape);
    podcall_free(a->pods);
    kapi_free(a->api);
    ops_free(a->ops);
    mx_free(a->mx);
    loop_free(a->clp);
    loop_free(a->lp);
    kcfg_cleanup(&a->kc);
    cfg_cleanup(&a->cfg);
}

static int app_controller_main(const char *cmd, int argc, char **argv, bool with_webhook)
{
    struct ctl_app *a = mb_xcalloc(1, sizeof *a); /* (8 KiB: not on the stack) */
    struct mb_diag d = {0};
    a->cmd = cmd;
    a->with_webhook = with_webhook;
    int status = parse(a, argc, argv);
    if (status < 0 && !validate(a))
        status = 2;
    if (status < 0) {
        log_set_level(a->ll);
        if (!app_load_config(a->config, &a->cfg)) {
            status = 2;
        } else if (!app_kube_config(a->kubeconfig, a->context, &a->kc)) {
            cfg_cleanup(&a->cfg);
            status = 2;
        }
    }
    if (status < 0) {
        settle(a);
        status = 1;
        if (!wire(a, &d))
            status = loop_run(a->lp) == 0 ? 0 : 1;
        if (d.msg[0])
            fprintf(stderr, "membudget %s: %s\n", cmd, d.msg);
        teardown(a);
    }
    mb_free(a);
    return status;
}

int cmd_controller(int argc, char **argv)
{
    return app_controller_main("controller", argc, argv, false);
}

int cmd_run(int argc, char **argv) { return app_controller_main("run", argc, argv, true); }
