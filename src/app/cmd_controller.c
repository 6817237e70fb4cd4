/* cmd_controller.c -- `membudget controller` (shell: wiring and shutdown order).
 *
 * Shutdown on SIGTERM: /readyz goes 503, the watches stop, writes in flight
 * finish (up to the grace period), the lease is released, exit 0.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/controller.h"
#include "membudget/kapi.h"
#include "membudget/kubeconfig.h"
#include "membudget/leader.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/ops.h"
#include "membudget/webhook.h"

struct ctl {
    struct loop *lp;
    struct ops *ops;
    struct controller *ctl;
    struct leader *le;
    struct event *tick;
    const struct mb_clock *clk;
    mb_mono_ms deadline;
    uint64_t grace_ms;
    bool stopping, releasing;
};

static void on_released(void *arg)
{
    struct ctl *s = arg;
    log_info("shutdown complete", "{}");
    loop_stop(s->lp);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct ctl *s = arg;
    (void)fd;
    (void)what;
    if (s->releasing)
        return;
    if (controller_inflight(s->ctl) > 0 && s->clk->mono_ms(s->clk->ctx) < s->deadline)
        return;
    s->releasing = true;
    if (s->le)
        leader_release(s->le, on_released, s); /* bounded by its own timeout */
    else
        on_released(s);
}

static void on_signal(int signo, void *arg)
{
    struct ctl *s = arg;
    struct timeval tv = {0, 50000};
    if (s->stopping) {
        log_warn("second signal: exiting now", "{s:i}", "signal", signo);
        loop_stop(s->lp);
        return;
    }
    s->stopping = true;
    s->deadline = s->clk->mono_ms(s->clk->ctx) + s->grace_ms;
    log_info("shutting down: watches stop, writes in flight finish, lease released", "{s:i}",
             "signal", signo);
    ops_set_shutting_down(s->ops);
    controller_stop(s->ctl);
    if (s->le)
        leader_stop(s->le); /* stop renewing; acting stops too */
    controller_set_leader(s->ctl, false);
    event_add(s->tick, &tv);
}

static void on_leading(void *arg, bool leading)
{
    struct ctl *s = arg;
    if (!s->stopping)
        controller_set_leader(s->ctl, leading);
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
        *lease_name, *lease_dur, *renew, *retry, *cert, *key, *wbind;
    bool leader_elect, dry_run;
    const struct flag FLAGS[] = {
        {"kubeconfig", "FILE", "", "kubeconfig; default $KUBECONFIG, in-cluster, ~/.kube/config", &kubeconfig, NULL, false},
        {"context", "NAME", "", "kubeconfig context (default: current-context)", &context, NULL, false},
        {"config", "FILE", "", "config file (YAML): tiers, sampleInterval, eviction... (defaults when not given)", &config, NULL, false},
        {"namespace", "NS", "", "govern only these namespaces (repeatable, or a,b); default: config, else namespaces labelled membudget.io/enforce=true", &nsflag, NULL, true},
        {"leader-elect", NULL, "false", "elect a leader through a Lease; only the leader acts", NULL, &leader_elect, false},
        {"leader-election-namespace", "NS", "default", "namespace of the Lease (in-cluster: the pod's)", &lease_ns, NULL, false},
        {"leader-election-id", "NAME", "membudget-controller", "name of the Lease", &lease_name, NULL, false},
        {"leader-election-identity", "ID", "", "this replica's identity (default: hostname_pid)", &identity, NULL, false},
        {"leader-elect-lease-duration", "DURATION", "15s", "how long a lease is valid without renewal", &lease_dur, NULL, false},
        {"leader-elect-renew-deadline", "DURATION", "10s", "the leader gives up if it cannot renew for this long", &renew, NULL, false},
        {"leader-elect-retry-period", "DURATION", "2s", "interval between acquire/renew attempts", &retry, NULL, false},
        {"dry-run", NULL, "false", "compute and log everything, write nothing to pods (overrides the config)", NULL, &dry_run, false},
        {"metrics-bind-address", "ADDR", ":8080", "HTTP address for /healthz, /readyz, /metrics, /debug/pods", &mbind, NULL, false},
        {"tls-cert-file", "FILE", "", "(run) webhook serving certificate", &cert, NULL, false},
        {"tls-private-key-file", "FILE", "", "(run) webhook serving key", &key, NULL, false},
        {"webhook-bind-address", "ADDR", ":8443", "(run) HTTPS address of the webhook", &wbind, NULL, false},
        {"shutdown-grace-period", "DURATION", "10s", "on SIGTERM, wait this long for writes in flight", &grace, NULL, false},
        {"log-level", "LEVEL", "info", "debug, info, warn or error", &level, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char *pos[64];
    size_t npos;
    int r = flags_parse(cmd, "[flags]", FLAGS, argc, argv, pos, &npos);
    uint64_t grace_ms, lease_ms, renew_ms, retry_ms;
    enum log_level ll;
    struct cfg cfg;
    struct kcfg kc = {0};
    struct loop *lp = NULL;
    struct mx *mx = NULL;
    struct ops *ops = NULL;
    struct kapi *api = NULL, *scrape = NULL;
    struct controller *ctl = NULL;
    struct leader *le = NULL;
    struct webhook *wh = NULL;
    struct mb_diag d = {0};
    struct ctl s = {0};
    int status = 1;
    char nsbuf[4096], idbuf[300], ua[400];
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
        !app_duration_flag("leader-elect-retry-period", retry, &retry_ms))
        return 2;
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
        for (size_t i = 0; i < cfg.n_namespaces && nns < MB_ARRAY_LEN(nsv); i++)
            nsv[nns++] = cfg.namespaces[i];
    }
    if (!app_kube_config(kubeconfig, context, &kc)) {
        cfg_cleanup(&cfg);
        return 2;
    }
    if (*identity) {
        snprintf(idbuf, sizeof idbuf, "%s", identity);
    } else {
        char host[256] = "membudget";
        gethostname(host, sizeof host - 1);
        snprintf(idbuf, sizeof idbuf, "%s_%ld", host, (long)getpid());
    }
    snprintf(ua, sizeof ua, "membudget/%s (%s; %s)", MB_VERSION, cmd, idbuf);

    if (loop_new(&lp, &d))
        goto out;
    mx = app_metrics_new(MX_DEFAULT_MAX_SERIES);
    if (ops_new(lp, clock_system(), mbind, mx, &ops, &d))
        goto out;
    if (with_webhook) {
        struct webhook_conf wc = {
            .cert_file = cert,
            .key_file = key,
            .bind = wbind,
            .cfg = &cfg,
            .tls_reload_ms = 10000,
            .idle_timeout_s = 60,
            .request_timeout_ms = 10000,
            .max_conns = 1024,
        };
        if (webhook_new(lp, clock_system(), &wc, mx, ops, &wh, &d))
            goto out;
    }
    {
        struct kapi_conf kconf = {
            .server = kc.server,
            .ca_pem = kc.ca_pem,
            .ca_file = kc.ca_file,
            .cert_pem = kc.cert_pem,
            .cert_file = kc.cert_file,
            .key_pem = kc.key_pem,
            .key_file = kc.key_file,
            .token = kc.token,
            .token_file = kc.token_file,
            .insecure = kc.insecure,
            .user_agent = ua,
        };
        if (kapi_new(lp, clock_system(), &kconf, &api, &d))
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
        if (kapi_new(lp, clock_system(), &sconf, &scrape, &d))
            goto out;
    }
    {
        struct controller_conf cc = {
            .namespaces = nsv,
            .nnamespaces = nns,
            .dry_run = dry_run || cfg.dry_run,
            .cfg = &cfg,
            .scrape = scrape,
            .identity = idbuf,
        };
        if (controller_new(lp, clock_system(), api, mx, ops, &cc, &ctl, &d))
            goto out;
    }
    s = (struct ctl){.lp = lp, .ops = ops, .ctl = ctl, .clk = clock_system(), .grace_ms = grace_ms};
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
        if (leader_new(lp, clock_system(), api, mx, &lc, on_leading, &s, &le, &d))
            goto out;
        s.le = le;
    }
    s.tick = event_new(loop_base(lp), -1, EV_PERSIST, on_tick, &s);
    if (loop_on_shutdown_signal(lp, on_signal, &s)) {
        mb_diag_set(&d, MB_EIO, "cannot install signal handlers");
        goto out;
    }
    log_info("metrics listening", "{s:s}", "address", ops_address(ops));
    log_info("controller starting", "{s:s,s:s,s:s,s:b,s:b,s:I}", "server", kc.server, "context",
             kc.context ? kc.context : "", "identity", idbuf, "leaderElect", leader_elect, "dryRun",
             dry_run || cfg.dry_run, "namespaces", (json_int_t)nns);
    controller_start(ctl);
    if (le)
        leader_start(le);
    else
        controller_set_leader(ctl, true);
    status = loop_run(lp) == 0 ? 0 : 1;
out:
    if (d.msg[0])
        fprintf(stderr, "membudget %s: %s\n", cmd, d.msg);
    if (s.tick)
        event_free(s.tick);
    leader_free(le);
    controller_free(ctl);
    kapi_free(scrape);
    kapi_free(api);
    webhook_free(wh);
    ops_free(ops);
    mx_free(mx);
    loop_free(lp);
    kcfg_cleanup(&kc);
    cfg_cleanup(&cfg);
    return status;
}
