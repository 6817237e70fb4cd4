/* cmd_webhook.c -- `membudget webhook` (shell: wiring and shutdown order). */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/ops.h"
#include "membudget/webhook.h"

struct shutdown {
    struct loop *lp;
    struct ops *ops;
    struct webhook *wh;
    struct event *tick;
    mb_mono_ms deadline; /* set when the signal arrives */
    uint64_t grace_ms;
    const struct mb_clock *clk;
    bool started;
};

/* Drain: stop when no connection is open or the grace period is over. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct shutdown *s = arg;
    size_t open = webhook_open_connections(s->wh);
    (void)fd;
    (void)what;

    if (open == 0 || s->clk->mono_ms(s->clk->ctx) >= s->deadline) {
        log_info("shutdown complete", "{s:i}", "connectionsClosedAtExit", (int)open);
        loop_stop(s->lp);
    }
}

static void on_signal(int signo, void *ctx)
{
    struct shutdown *s = ctx;
    struct timeval tv = {0, 100000};

    if (s->started) {
        log_warn("second signal: exiting now", "{s:i}", "signal", signo);
        loop_stop(s->lp);
        return;
    }
    s->started = true;
    s->deadline = s->clk->mono_ms(s->clk->ctx) + s->grace_ms;
    log_info("shutting down: not ready, no new connections, draining", "{s:i}", "signal", signo);
    ops_set_shutting_down(s->ops);
    webhook_stop_accepting(s->wh);
    event_add(s->tick, &tv);
}

int cmd_webhook(int argc, char **argv)
{
    const char *cert, *key, *bind, *mbind, *config, *reload, *idle, *reqto, *maxconns, *grace, *level;
    const struct flag FLAGS[] = {
        {"tls-cert-file", "FILE", "", "serving certificate (PEM, chain allowed); re-read when it changes", &cert, NULL, false},
        {"tls-private-key-file", "FILE", "", "private key of the serving certificate (PEM)", &key, NULL, false},
        {"webhook-bind-address", "ADDR", ":8443", "HTTPS address for /validate, /validate/audit, /mutate", &bind, NULL, false},
        {"metrics-bind-address", "ADDR", ":8080", "HTTP address for /healthz, /readyz, /metrics", &mbind, NULL, false},
        {"config", "FILE", "", "config file (YAML); defaults when not given", &config, NULL, false},
        {"tls-reload-interval", "DURATION", "10s", "how often to check the certificate files for changes", &reload, NULL, false},
        {"webhook-idle-timeout", "DURATION", "60s", "close a connection idle (or stalled) this long", &idle, NULL, false},
        {"webhook-request-timeout", "DURATION", "10s", "a whole request must arrive within this time", &reqto, NULL, false},
        {"webhook-max-connections", "N", "1024", "open connections; more are closed at once", &maxconns, NULL, false},
        {"shutdown-grace-period", "DURATION", "5s", "on SIGTERM, wait this long for open connections", &grace, NULL, false},
        {"log-level", "LEVEL", "info", "debug, info, warn or error", &level, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char *pos[64];
    size_t npos;
    int r = flags_parse("webhook", "--tls-cert-file FILE --tls-private-key-file FILE [flags]", FLAGS,
                        argc, argv, pos, &npos);
    uint64_t reload_ms, idle_ms, req_ms, grace_ms;
    unsigned long nconns;
    enum log_level ll;
    struct cfg cfg;
    struct loop *lp = NULL;
    struct mx *mx = NULL;
    struct ops *ops = NULL;
    struct webhook *wh = NULL;
    struct mb_diag d = {0};
    struct shutdown sd = {0};
    int status = 1;

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
        !app_uint_flag("webhook-max-connections", maxconns, 1000000, &nconns))
        return 2;
    if (reload_ms < 100 || idle_ms < 1000 || req_ms < 100 || nconns < 1) {
        fprintf(stderr, "membudget webhook: intervals must be at least 100ms (idle timeout 1s) and "
                        "--webhook-max-connections at least 1\n");
        return 2;
    }
    log_set_level(ll);
    if (!app_load_config(config, &cfg))
        return 2;

    if (loop_new(&lp, &d))
        goto out;
    mx = app_metrics_new(MX_DEFAULT_MAX_SERIES);
    if (ops_new(lp, clock_system(), mbind, mx, &ops, &d))
        goto out;
    {
        struct webhook_conf wc = {
            .cert_file = cert,
            .key_file = key,
            .bind = bind,
            .cfg = &cfg,
            .tls_reload_ms = (unsigned)reload_ms,
            .idle_timeout_s = (unsigned)(idle_ms / 1000),
            .request_timeout_ms = (unsigned)req_ms,
            .max_conns = (unsigned)nconns,
        };
        if (webhook_new(lp, clock_system(), &wc, mx, ops, &wh, &d))
            goto out;
    }
    log_info("metrics listening", "{s:s}", "address", ops_address(ops));
    sd = (struct shutdown){.lp = lp, .ops = ops, .wh = wh, .clk = clock_system(), .grace_ms = grace_ms};
    sd.tick = event_new(loop_base(lp), -1, EV_PERSIST, on_drain_tick, &sd);
    if (loop_on_shutdown_signal(lp, on_signal, &sd)) {
        mb_diag_set(&d, MB_EIO, "cannot install signal handlers");
        goto out;
    }
    status = loop_run(lp) == 0 ? 0 : 1;
out:
    if (d.msg[0])
        fprintf(stderr, "membudget webhook: %s\n", d.msg);
    if (sd.tick)
        event_free(sd.tick);
    webhook_free(wh);
    ops_free(ops);
    mx_free(mx);
    loop_free(lp);
    cfg_cleanup(&cfg);
    return status;
}
