/* webhook.c -- the admission webhook: HTTPS, review_handle, metrics (shell). */
#include <event2/event.h>
#include <event2/http.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/https.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/ops.h"
#include "membudget/review.h"
#include "membudget/tlsctx.h"
#include "membudget/webhook.h"

struct webhook;

/* One per path: which decision it asks of review_handle(). */
struct endpoint {
    struct webhook *w;
    enum review_endpoint ep;
    enum review_mode mode;
    const char *name;
};

struct webhook {
    struct loop *lp;
    const struct mb_clock *clk;
    struct policy_conf policy;
    struct tlsctx *tls;
    struct https *srv;
    struct event *reload;
    struct mx_family *requests, *duration, *conns_open, *conns_closed, *reloads, *expiry;
    struct endpoint validate, audit, mutate; /* route contexts */
    struct mb_arena arena;                   /* one request's JSON values, reused */
};

static bool json_content_type(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t n = strlen("application/json");

    return !ct || (!strncasecmp(ct, "application/json", n) && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '));
}

static void on_review(struct evhttp_request *req, void *ctx)
{
    struct endpoint *e = ctx;
    struct webhook *w = e->w;
    uint64_t t0 = w->clk->mono_ns(w->clk->ctx);
    struct review_out out;
    const char *body;
    size_t len;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        https_reply(req, 405, "text/plain; charset=utf-8", "use POST\n", 9);
        return;
    }
    if (!json_content_type(req)) {
        static const char M[] = "Content-Type must be application/json\n";
        https_reply(req, 415, "text/plain; charset=utf-8", M, sizeof M - 1);
        return;
    }
    body = https_body(req, &len);
    review_handle(&w->policy, e->ep, e->mode, body ? body : "", len, &w->arena, &out);
    https_reply(req, out.http_status, out.content_type, out.body, out.body_len);

    {
        const char *labels[] = {e->name, out.s.operation, out.s.kind, out.s.result};
        const char *ep[] = {e->name};
        double secs = (double)(w->clk->mono_ns(w->clk->ctx) - t0) / 1e9;
        mx_add(w->requests, labels, 1);
        mx_observe(w->duration, ep, secs);
    }
    if (out.http_status != 200)
        log_warn("admission review rejected", "{s:s,s:i,s:s}", "endpoint", e->name, "status",
                 out.http_status, "reason", out.body);
    else if (!strcmp(out.s.result, "denied") || !strcmp(out.s.result, "warned"))
        log_info("admission review", "{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:b}", "endpoint", e->name,
                 "result", out.s.result, "uid", out.s.uid, "kind", out.s.kind, "namespace", out.s.ns,
                 "name", out.s.name, "violations", (int)out.s.violations, "dryRun", out.s.dry_run);
    else
        log_debug("admission review", "{s:s,s:s,s:s,s:s,s:s,s:s,s:b}", "endpoint", e->name,
                  "result", out.s.result, "uid", out.s.uid, "kind", out.s.kind, "namespace",
                  out.s.ns, "name", out.s.name, "dryRun", out.s.dry_run);
    review_out_cleanup(&out);
}

static void on_reload_tick(evutil_socket_t fd, short what, void *arg)
{
    struct webhook *w = arg;
    struct mb_diag d = {0};
    int r;
    (void)fd;
    (void)what;

    r = tlsctx_maybe_reload(w->tls, &d);
    if (r > 0) {
        const char *l[] = {"success"};
        mx_add(w->reloads, l, 1);
        log_info("serving certificate reloaded", "{s:s}", "certificate", tlsctx_describe(w->tls));
    } else if (r < 0) {
        const char *l[] = {"failure"};
        mx_add(w->reloads, l, 1);
        if (d.msg[0])
            log_error("serving certificate changed but cannot be loaded; keeping the previous one",
                      "{s:s}", "error", d.msg);
    }
}

static void collect(void *ctx)
{
    struct webhook *w = ctx;
    const char *dl[] = {"deadline"}, *ll[] = {"limit"};

    mx_set(w->conns_open, NULL, (double)https_open_connections(w->srv));
    /* counters mirror the server's own totals */
    mx_add(w->conns_closed, dl, (double)https_timeouts(w->srv) - mx_value(w->conns_closed, dl));
    mx_add(w->conns_closed, ll, (double)https_rejected(w->srv) - mx_value(w->conns_closed, ll));
    mx_set(w->expiry, NULL, (double)tlsctx_not_after(w->tls));
}

static bool ready(void *ctx, char *why, size_t whylen)
{
    struct webhook *w = ctx;
    if (!w->srv) {
        snprintf(why, whylen, "webhook not listening");
        return false;
    }
    return true;
}

mb_err webhook_new(struct loop *lp, const struct mb_clock *clk, const struct webhook_conf *conf,
                   struct mx *mx, struct ops *ops, struct webhook **out, struct mb_diag *diag)
{
    static const double BUCKETS[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                     0.01,   0.025,   0.05,   0.1,   0.25,   1};
    static const char *const REQ_L[] = {"endpoint", "operation", "kind", "result"};
    static const char *const EP_L[] = {"endpoint"};
    static const char *const REASON_L[] = {"reason"};
    static const char *const RESULT_L[] = {"result"};
    struct webhook *w = mb_xcalloc(1, sizeof *w);
    struct timeval tv = {conf->tls_reload_ms / 1000, (conf->tls_reload_ms % 1000) * 1000};
    struct https_conf hc = {
        .name = "webhook",
        .bind = conf->bind,
        .max_body = (size_t)conf->cfg->max_body_bytes,
        .max_headers = 16384,
        .idle_timeout_s = conf->idle_timeout_s,
        .request_timeout_ms = conf->request_timeout_ms,
        .max_conns = conf->max_conns,
    };
    mb_err err;

    w->lp = lp;
    w->clk = clk;
    mb_arena_init(&w->arena, 256 * 1024);
    w->policy = conf->cfg->admission;
    w->policy.default_tiers = conf->cfg->tiers;
    err = tlsctx_new(conf->cert_file, conf->key_file, &w->tls, diag);
    if (err)
        goto fail;
    hc.tls = w->tls;
    err = https_new(lp, clk, &hc, &w->srv, diag);
    if (err)
        goto fail;
    w->validate = (struct endpoint){w, REVIEW_VALIDATE, REVIEW_ENFORCE, "validate"};
    w->audit = (struct endpoint){w, REVIEW_VALIDATE, REVIEW_AUDIT, "validate-audit"};
    w->mutate = (struct endpoint){w, REVIEW_MUTATE, REVIEW_ENFORCE, "mutate"};
    https_route(w->srv, "/validate", on_review, &w->validate);
    https_route(w->srv, "/validate/audit", on_review, &w->audit);
    https_route(w->srv, "/mutate", on_review, &w->mutate);

    w->requests = mx_counter(mx, "membudget_webhook_requests_total",
                             "Admission reviews answered, by endpoint, operation, kind and result.", 4, REQ_L);
    w->duration = mx_histogram(mx, "membudget_webhook_request_duration_seconds",
                               "Time to decide an admission review, from a complete request to the reply.",
                               1, EP_L, BUCKETS, MB_ARRAY_LEN(BUCKETS));
    w->conns_open = mx_gauge(mx, "membudget_webhook_connections_open", "Open webhook connections.", 0, NULL);
    w->conns_closed = mx_counter(mx, "membudget_webhook_connections_closed_total",
                                 "Webhook connections closed by membudget: request deadline passed or too many connections.",
                                 1, REASON_L);
    w->reloads = mx_counter(mx, "membudget_tls_certificate_reloads_total",
                            "Serving certificate reloads after the files changed.", 1, RESULT_L);
    w->expiry = mx_gauge(mx, "membudget_tls_certificate_expiry_timestamp_seconds",
                         "notAfter of the serving certificate in use, as a Unix time.", 0, NULL);
    ops_add_collector(ops, collect, w);
    ops_add_ready_check(ops, "webhook", ready, w);

    w->reload = event_new(loop_base(lp), -1, EV_PERSIST, on_reload_tick, w);
    event_add(w->reload, &tv);
    log_info("webhook listening", "{s:s,s:s}", "address", https_address(w->srv), "certificate",
             tlsctx_describe(w->tls));
    *out = w;
    return MB_OK;
fail:
    webhook_free(w);
    return err;
}

void webhook_free(struct webhook *w)
{
    if (!w)
        return;
    if (w->reload)
        event_free(w->reload);
    https_free(w->srv);
    tlsctx_free(w->tls);
    mb_arena_cleanup(&w->arena);
    mb_free(w);
}

void webhook_stop_accepting(struct webhook *w) { https_stop_accepting(w->srv); }

size_t webhook_open_connections(const struct webhook *w) { return https_open_connections(w->srv); }

const char *webhook_address(const struct webhook *w) { return https_address(w->srv); }
