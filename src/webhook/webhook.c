/*
 * webhook.c -- the admission webhook service (shell; see webhook.h): its
 * workers (one HTTPS server and event loop each, on one shared port), the
 * memory pools every request draws on, certificate reloads, the metrics
 * and the readiness check. Each review is decided by review.c on the
 * worker that read it.
 */
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
struct worker;

/* One per path and worker: which decision it asks of review_handle(). */
struct endpoint {
    struct worker *wk;
    enum review_endpoint ep;
    enum review_mode mode;
    const char *name;
};

/* A webhook worker: its own thread, loop, server and arena. Everything in
 * it is used only on its thread, except the server's atomic counters. */
struct worker {
    struct webhook *w;
    struct loop *lp;
    struct https *srv;
    struct mb_arena arena;                   /* one request's JSON values, reused */
    struct endpoint validate, audit, mutate; /* route contexts */
};

struct webhook {
    struct loop *lp; /* the main loop: reload timer, ops */
    const struct mb_clock *clk;
    struct review_conf review; /* immutable once the workers run */
    char own_ns[64];           /* review.own_ns */
    struct tlsctx *tls;        /* shared: tlsctx_ssl_new from the workers */
    struct event *reload;
    struct mx_family *requests, *duration, *conns_open, *conns_closed, *reloads, *expiry, *buffered,
        *parsing;
    struct worker *workers;
    size_t nworkers;
    char addr[80];
    atomic_size_t conns; /* open connections of all workers, against max_conns */
    atomic_llong pool;   /* buffered-bytes budget left (see https.c) */
    size_t max_buffered;
    atomic_llong parse_pool; /* parse-memory budget left (mb_arena_set_pool) */
    size_t max_parse;
    int cert_state; /* last logged: 0 valid, 1 expired, -1 not yet valid */
};

static bool json_content_type(struct evhttp_request *req)
{
    const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    size_t n = strlen("application/json");

    return !ct || (!strncasecmp(ct, "application/json", n) &&
                   (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' '));
}

static void on_review(struct evhttp_request *req, void *ctx)
{
    struct endpoint *e = ctx;
    struct webhook *w = e->wk->w;
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
    review_handle(&w->review, e->ep, e->mode, body ? body : "", len, &e->wk->arena, &out);
    if (out.http_status == 503) /* the other reviews hold the parse budget: soon free again */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "1");
    https_reply(req, out.http_status, out.content_type, out.body, out.body_len);

    {
        const char *labels[] = {e->name, out.s.operation, out.s.kind, out.s.result};
        const char *ep[] = {e->name};
        double secs = (double)(w->clk->mono_ns(w->clk->ctx) - t0) / 1e9;
        mx_add(w->requests, labels, 1);
        mx_observe(w->duration, ep, secs);
    }
    if (out.http_status != 200)
        log_limited(LOG_WARN, "admission review rejected", "{s:s,s:i,s:s}", "endpoint", e->name,
                    "status", out.http_status, "reason", out.body);
    else if (!strcmp(out.s.result, "too_large"))
        log_limited(LOG_WARN, "admission review too large to parse: answered without checking it",
                    "{s:s,s:s,s:I}", "endpoint", e->name, "uid", out.s.uid, "bytes",
                    (json_int_t)len);
    else if (!strcmp(out.s.result, "denied") || !strcmp(out.s.result, "warned"))
        log_info("admission review", "{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:b}", "endpoint", e->name,
                 "result", out.s.result, "uid", out.s.uid, "kind", out.s.kind, "namespace",
                 out.s.ns, "name", out.s.name, "violations", (int)out.s.violations, "dryRun",
                 out.s.dry_run);
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
    const char *dl[] = {"deadline"}, *ll[] = {"limit"}, *kl[] = {"key_update"};
    double timeouts = 0, rejected = 0, key_updates = 0;

    mx_set(w->conns_open, NULL, (double)webhook_open_connections(w));
    for (size_t i = 0; i < w->nworkers; i++) {
        timeouts += (double)https_timeouts(w->workers[i].srv);
        rejected += (double)https_rejected(w->workers[i].srv);
        key_updates += (double)https_key_update_closes(w->workers[i].srv);
    }
    /* counters mirror the servers' own totals */
    mx_add(w->conns_closed, dl, timeouts - mx_value(w->conns_closed, dl));
    mx_add(w->conns_closed, ll, rejected - mx_value(w->conns_closed, ll));
    mx_add(w->conns_closed, kl, key_updates - mx_value(w->conns_closed, kl));
    mx_set(w->expiry, NULL, (double)tlsctx_not_after(w->tls));
    if (w->max_buffered)
        mx_set(w->buffered, NULL, (double)((long long)w->max_buffered - atomic_load(&w->pool)));
    if (w->max_parse)
        mx_set(w->parsing, NULL, (double)((long long)w->max_parse - atomic_load(&w->parse_pool)));
}

/* Is the serving certificate valid now? An expired (or not yet valid) one
 * makes every API server call fail its TLS handshake: better to say so in
 * /readyz and the log (once per change) than to serve it quietly. */
static int cert_state(struct webhook *w, char *why, size_t whylen)
{
    long long now = (long long)(w->clk->wall_ms(w->clk->ctx) / 1000);
    long long na = tlsctx_not_after(w->tls), nb = tlsctx_not_before(w->tls);
    int st = na && now >= na ? 1 : nb && now < nb ? -1 : 0;

    if (st > 0)
        snprintf(why, whylen, "serving certificate expired %lld s ago (%s)", now - na,
                 tlsctx_describe(w->tls));
    else if (st < 0)
        snprintf(why, whylen, "serving certificate not valid for another %lld s (%s)", nb - now,
                 tlsctx_describe(w->tls));
    if (st != w->cert_state) {
        if (st)
            log_warn("serving certificate is not valid now: the webhook is not ready", "{s:s}",
                     "reason", why);
        else
            log_info("serving certificate is valid again", "{s:s}", "certificate",
                     tlsctx_describe(w->tls));
        w->cert_state = st;
    }
    return st;
}

static bool ready(void *ctx, char *why, size_t whylen)
{
    struct webhook *w = ctx;
    if (!w->nworkers) {
        snprintf(why, whylen, "webhook not listening");
        return false;
    }
    return cert_state(w, why, whylen) == 0;
}

static mb_err worker_init(struct webhook *w, struct worker *wk, const struct https_conf *hc,
                          struct mb_diag *diag)
{
    mb_err err;

    wk->w = w;
    mb_arena_init(&wk->arena, 256 * 1024);
    /* A review's JSON values may take 32 times the largest body: dense
     * Kubernetes JSON (managedFields) is about 23 times its text in
     * jansson; a review built only to cost memory (a million {} in 3 MiB,
     * 85 times) is refused with 413 once it reaches the cap, so a worker
     * never holds more than this for one request. */
    mb_arena_set_limit(&wk->arena, 32 * hc->max_body);
    if (w->max_parse)
        mb_arena_set_pool(&wk->arena, &w->parse_pool, w->max_parse);
    err = loop_new(&wk->lp, LOOP_SERVER, diag);
    if (!err)
        err = https_new(wk->lp, w->clk, hc, &wk->srv, diag);
    if (err)
        return err;
    wk->validate = (struct endpoint){wk, REVIEW_VALIDATE, REVIEW_ENFORCE, "validate"};
    wk->audit = (struct endpoint){wk, REVIEW_VALIDATE, REVIEW_AUDIT, "validate-audit"};
    wk->mutate = (struct endpoint){wk, REVIEW_MUTATE, REVIEW_ENFORCE, "mutate"};
    https_route(wk->srv, "/validate", on_review, &wk->validate);
    https_route(wk->srv, "/validate/audit", on_review, &wk->audit);
    https_route(wk->srv, "/mutate", on_review, &wk->mutate);
    return MB_OK;
}

/* The memory pools, checked against the largest request: each must hold
 * at least one review of admission.maxBodyBytes. */
static mb_err pools(struct webhook *w, const struct webhook_conf *conf, struct https_conf *hc,
                    struct mb_diag *diag)
{
    if (conf->max_buffered) {
        /* The largest request must fit, or it could never be read; large
         * ones may take three quarters of the pool (https.c, fairness). */
        if (conf->max_buffered / 4 * 3 < hc->max_body + hc->max_headers + 16 * 1024)
            return mb_diag_set(diag, MB_EINVAL,
                               "--webhook-max-buffered-bytes (%zu) must be at least 4/3 of "
                               "admission.maxBodyBytes (%zu) plus 32 KiB (a quarter of it is kept "
                               "for small reviews)",
                               conf->max_buffered, hc->max_body);
        w->max_buffered = conf->max_buffered;
        atomic_store(&w->pool, (long long)conf->max_buffered);
        hc->pool = &w->pool;
        hc->pool_total = conf->max_buffered;
    }
    if (conf->max_parse) {
        /* One review of the largest body must be able to parse: dense
         * Kubernetes JSON takes up to ~20 times its text (make bench). */
        if (conf->max_parse < 4 * hc->max_body)
            return mb_diag_set(diag, MB_EINVAL,
                               "--webhook-max-parse-bytes (%zu) must be at least 4 times "
                               "admission.maxBodyBytes (%zu)",
                               conf->max_parse, hc->max_body);
        w->max_parse = conf->max_parse;
        atomic_store(&w->parse_pool, (long long)conf->max_parse);
    }
    return MB_OK;
}

static void metrics_new(struct webhook *w, struct mx *mx)
{
    static const double BUCKETS[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                     0.01,   0.025,   0.05,   0.1,   0.25,   1};
    static const char *const REQ_L[] = {"endpoint", "operation", "kind", "result"};
    static const char *const EP_L[] = {"endpoint"};
    static const char *const REASON_L[] = {"reason"};
    static const char *const RESULT_L[] = {"result"};
    w->requests = mx_counter(mx, "membudget_webhook_requests_total",
                             "Admission reviews answered, by endpoint, operation, kind and result.",
                             4, REQ_L);
    w->duration =
        mx_histogram(mx, "membudget_webhook_request_duration_seconds",
                     "Time to decide an admission review, from a complete request to the reply.", 1,
                     EP_L, BUCKETS, MB_ARRAY_LEN(BUCKETS));
    w->conns_open =
        mx_gauge(mx, "membudget_webhook_connections_open", "Open webhook connections.", 0, NULL);
    w->conns_closed = mx_counter(
        mx, "membudget_webhook_connections_closed_total",
        "Webhook connections closed by membudget: request deadline passed or too many connections.",
        1, REASON_L);
    w->reloads = mx_counter(mx, "membudget_tls_certificate_reloads_total",
                            "Serving certificate reloads after the files changed.", 1, RESULT_L);
    w->expiry = mx_gauge(mx, "membudget_tls_certificate_expiry_timestamp_seconds",
                         "notAfter of the serving certificate in use, as a Unix time.", 0, NULL);
    w->buffered =
        mx_gauge(mx, "membudget_webhook_buffered_bytes",
                 "Bytes of webhook requests held in memory (received, not yet answered) "
                 "or granted to connections to read, against --webhook-max-buffered-bytes.",
                 0, NULL);
    w->parsing = mx_gauge(mx, "membudget_webhook_parse_bytes",
                          "Bytes of parsed review JSON the workers hold now (in 1 MiB blocks), "
                          "against --webhook-max-parse-bytes.",
                          0, NULL);
}

/* The workers' servers: the first binds what was asked (port 0 picks
 * one); the others share that very address through SO_REUSEPORT. */
static mb_err workers_new(struct webhook *w, struct https_conf *hc, size_t n, struct mb_diag *diag)
{
    w->workers = mb_xcalloc(n, sizeof *w->workers);
    for (size_t i = 0; i < n; i++) {
        mb_err err = worker_init(w, &w->workers[i], hc, diag);
        w->nworkers = i + 1;
        if (err)
            return err;
        if (i == 0) {
            snprintf(w->addr, sizeof w->addr, "%s", https_address(w->workers[0].srv));
            hc->bind = w->addr;
        }
    }
    return MB_OK;
}

mb_err webhook_new(struct loop *lp, const struct mb_clock *clk, const struct webhook_conf *conf,
                   struct mx *mx, struct ops *ops, struct webhook **out, struct mb_diag *diag)
{
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
        .reuseport = true,
    };
    size_t n = conf->workers ? conf->workers : 1;
    char why[600] = "";
    mb_err err;

    w->lp = lp;
    w->clk = clk;
    hc.shared_total = &w->conns;
    if ((err = pools(w, conf, &hc, diag))) {
        mb_free(w);
        return err;
    }
    w->review.policy = conf->cfg->admission;
    w->review.policy.default_tiers = conf->cfg->tiers;
    w->review.cfg = conf->cfg;
    snprintf(w->own_ns, sizeof w->own_ns, "%s", conf->own_namespace ? conf->own_namespace : "");
    w->review.own_ns = w->own_ns;
    w->review.limit_range = conf->limit_range;
    w->review.limit_range_ctx = conf->limit_range_ctx;
    if ((err = tlsctx_new(conf->cert_file, conf->key_file, &w->tls, diag)))
        goto fail;
    hc.tls = w->tls;
    if ((err = workers_new(w, &hc, n, diag)))
        goto fail;
    metrics_new(w, mx);
    mx_set(w->expiry, NULL, (double)tlsctx_not_after(w->tls));
    ops_add_collector(ops, collect, w);
    ops_add_ready_check(ops, "webhook", ready, w);
    w->reload = event_new(loop_base(lp), -1, EV_PERSIST, on_reload_tick, w);
    event_add(w->reload, &tv);
    cert_state(w, why, sizeof why); /* logs a warning when it is not valid now */
    for (size_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "webhook-%u", (unsigned)(i % 100000));
        if ((err = loop_spawn(w->workers[i].lp, name, diag)))
            goto fail;
    }
    log_info("webhook listening", "{s:s,s:I,s:s}", "address", w->addr, "workers", (json_int_t)n,
             "certificate", tlsctx_describe(w->tls));
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
    for (size_t i = 0; i < w->nworkers; i++)
        if (w->workers[i].lp)
            loop_stop(w->workers[i].lp);
    for (size_t i = 0; i < w->nworkers; i++) {
        struct worker *wk = &w->workers[i];
        loop_join(wk->lp); /* from here on, its objects are this thread's */
        https_free(wk->srv);
        loop_free(wk->lp);
        mb_arena_cleanup(&wk->arena);
    }
    if (w->reload)
        event_free(w->reload);
    tlsctx_free(w->tls);
    mb_free(w->workers);
    mb_free(w);
}

static void drain_worker(void *arg)
{
    struct worker *wk = arg;
    https_drain(wk->srv);
}

void webhook_drain(struct webhook *w)
{
    for (size_t i = 0; i < w->nworkers; i++)
        loop_post(w->workers[i].lp, drain_worker, &w->workers[i]);
}

size_t webhook_open_connections(const struct webhook *w)
{
    size_t n = 0;
    for (size_t i = 0; i < w->nworkers; i++)
        n += https_open_connections(w->workers[i].srv);
    return n;
}

const char *webhook_address(const struct webhook *w) { return w->addr; }
