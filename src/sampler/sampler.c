/*
 * sampler.c -- every interval: one metrics API list plus concurrent scrapes.
 *
 * Each pod is on its own schedule: a tick starts a scrape for every pod
 * that has none in flight, and a list for every scope that has none in
 * flight. A slow or hung pod holds only its own next sample back (its
 * scrape is not doubled); its neighbours are sampled every interval. A
 * result is delivered whenever it arrives, if the pod is still the same
 * (same uid). A tick's "cycle" ends when the requests it started have
 * answered (for the duration histogram and the debug log).
 */
#include <event2/event.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/expvar.h"
#include "membudget/gcshare.h"
#include "membudget/kapi.h"
#include "membudget/kobj.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/podcache.h"
#include "membudget/podcall.h"
#include "membudget/podmetrics.h"
#include "membudget/promtext.h"
#include "membudget/quantity.h"
#include "membudget/sampler.h"

struct req {
    struct sampler *s;
    uint64_t cycle;
    char ns[64], name[256], uid[64]; /* scrape: the pod; metrics API: ns or "" */
    enum ann_usage fig;
    bool expvar;
    bool metrics_api;
    uint64_t call;
    mb_mono_ms sent;       /* when the scrape went out: its figure is no older than that */
    TAILQ_ENTRY(req) link; /* in sampler.reqs */
};

struct sampler {
    const struct mb_clock *clk;
    struct kapi *api;
    struct podcall *pods;
    struct podcache *cache;
    struct event *timer;
    struct smp_conf conf;
    char **namespaces;
    smp_want_fn *want;
    smp_pod_fn *on_pod;
    smp_cycle_fn *on_cycle;
    void *ctx;
    uint64_t cycle;
    bool running;         /* a cycle is in progress */
    unsigned outstanding; /* requests of this cycle not answered */
    unsigned sampled, stale;
    mb_mono_ms started;
    TAILQ_HEAD(, req) reqs; /* in flight, newest first */
    struct mx_family *m_duration, *m_scrapes;
};

static void count_scrape(struct sampler *s, const char *result)
{
    const char *v[] = {result};
    if (s->m_scrapes)
        mx_add(s->m_scrapes, v, 1);
}

static struct req *req_new(struct sampler *s)
{
    struct req *r = mb_xcalloc(1, sizeof *r);
    r->s = s;
    r->cycle = s->cycle;
    TAILQ_INSERT_HEAD(&s->reqs, r, link);
    s->outstanding++;
    return r;
}

static void req_free(struct req *r)
{
    struct sampler *s = r->s;
    TAILQ_REMOVE(&s->reqs, r, link);
    mb_free(r);
}

static void end_cycle_if_done(struct sampler *s)
{
    if (!s->running || s->outstanding)
        return;
    s->running = false;
    uint64_t ms = s->clk->mono_ms(s->clk->ctx) - s->started;
    if (s->m_duration)
        mx_observe(s->m_duration, NULL, (double)ms / 1000.0);
    if (s->on_cycle)
        s->on_cycle(s->ctx, s->sampled, s->stale, ms);
}

/* Deliver a result for ns/name if it is still the same pod. */
static void deliver(struct sampler *s, const char *ns, const char *name, const char *uid,
                    struct smp_result *res)
{
    struct pc_pod *p = pc_get_mut(s->cache, ns, name);
    char ub[PC_UID_BUF];
    if (!p || strcmp(pc_uid(p, ub), uid) != 0)
        return; /* gone or replaced meanwhile */
    s->sampled++;
    if (!res->ok)
        s->stale++;
    s->on_pod(s->ctx, p, res);
}

/* --- scrapes ------------------------------------------------------------------ */

/* A request answered: it counts towards its own tick only. */
static void req_done(struct req *r)
{
    struct sampler *s = r->s;
    bool current = r->cycle == s->cycle;
    req_free(r);
    if (current) {
        s->outstanding--;
        end_cycle_if_done(s);
    }
}

/* A gauge in bytes, or -1 when absent or not a byte count. */
static int64_t bytes_of(const struct prom_want *w)
{
    return w->found && w->value >= 0 && w->value < 9.2e18 ? (int64_t)w->value : -1;
}

static void on_scraped(void *arg, const struct kapi_resp *resp)
{
    struct req *r = arg;
    struct sampler *s = r->s;
    /* A scrape's figure is the pod's at some moment between sending and
     * the answer: it counts from when it was sent, so that a scrape sent
     * before a forced GC and answered after it is never taken for a figure
     * read after the GC (the last-chance GC decides on a figure from
     * after it). */
    struct smp_result res = {
        .figure = r->fig, .taken = r->sent, .heap_alloc = -1, .next_gc = -1, .gomemlimit = -1};
    struct mb_diag d = {0};
    if (resp->err) {
        snprintf(res.err, sizeof res.err, "scrape failed: %s", resp->errmsg);
        count_scrape(s, resp->err == MB_ETIMEOUT ? "timeout" : "error");
    } else if (resp->status != 200) {
        snprintf(res.err, sizeof res.err, "scrape answered HTTP %ld", resp->status);
        count_scrape(s, "error");
    } else if (r->expvar) {
        struct expvar_mem m;
        if (expvar_parse(resp->body, resp->len, &m, &d)) {
            snprintf(res.err, sizeof res.err, "%.190s", d.msg);
        } else if (r->fig == ANN_USAGE_HEAP && m.has_heap_inuse) {
            res.ok = true;
            res.usage = (int64_t)m.heap_inuse;
            res.rss = m.has_sys ? (int64_t)m.sys : 0;
        } else if (r->fig == ANN_USAGE_RSS && m.has_sys) {
            res.ok = true; /* expvar has no RSS: Sys is what the runtime holds from the OS */
            res.usage = res.rss = (int64_t)m.sys;
        } else {
            snprintf(res.err, sizeof res.err, "expvar: no %s figure", ann_usage_name(r->fig));
        }
        count_scrape(s, res.ok ? "ok" : "bad-data");
    } else {
        struct prom_want w[] = {{"go_memstats_heap_inuse_bytes", 0, false},
                                {"process_resident_memory_bytes", 0, false},
                                {"go_goroutines", 0, false},
                                {GCS_GC_METRIC, 0, false},
                                {GCS_TOTAL_METRIC, 0, false},
                                {"go_memstats_heap_alloc_bytes", 0, false},
                                {"go_memstats_next_gc_bytes", 0, false},
                                {"go_gc_gomemlimit_bytes", 0, false}};
        if (prom_scan(resp->body, resp->len, w, MB_ARRAY_LEN(w), &d)) {
            snprintf(res.err, sizeof res.err, "metrics: %.180s", d.msg);
        } else {
            struct prom_want *f = r->fig == ANN_USAGE_HEAP ? &w[0] : &w[1];
            if (f->found && f->value >= 0 && f->value < 9.2e18) {
                res.ok = true;
                res.usage = (int64_t)f->value;
            } else if (f->found) {
                snprintf(res.err, sizeof res.err, "metrics: %s is %s, not a byte count", f->name,
                         isnan(f->value) ? "NaN" : "out of range");
            } else {
                snprintf(res.err, sizeof res.err, "metrics: no %s", f->name);
            }
            res.rss = bytes_of(&w[1]) > 0 ? bytes_of(&w[1]) : 0;
            res.has_goroutines = w[2].found;
            res.goroutines = w[2].value;
            res.has_gc_cpu = w[3].found && w[4].found;
            res.gc_cpu_s = w[3].value;
            res.total_cpu_s = w[4].value;
            res.heap_alloc = bytes_of(&w[5]);
            res.next_gc = bytes_of(&w[6]);
            res.gomemlimit = bytes_of(&w[7]);
        }
        count_scrape(s, res.ok ? "ok" : "bad-data");
    }
    deliver(s, r->ns, r->name, r->uid, &res);
    req_done(r);
}

static void scrape(struct sampler *s, struct pc_pod *p, enum ann_usage fig)
{
    char why[256];
    struct req *r = req_new(s);
    snprintf(r->ns, sizeof r->ns, "%s", p->sh->ns);
    snprintf(r->name, sizeof r->name, "%s", p->name);
    char ub[PC_UID_BUF];
    snprintf(r->uid, sizeof r->uid, "%s", pc_uid(p, ub));
    r->fig = fig;
    const char *path = pc_ann(p, "metrics");
    size_t pl = path ? strlen(path) : 0;
    r->expvar = pl >= 11 && !strcmp(path + pl - 11, "/debug/vars");
    struct podcall_req pr = {.key = "metrics", .method = "GET"};
    r->sent = s->clk->mono_ms(s->clk->ctx);
    r->call = podcall_submit(s->pods, p, &pr, on_scraped, r, why, sizeof why);
    if (!r->call) {
        struct smp_result res = {.figure = fig, .taken = s->clk->mono_ms(s->clk->ctx)};
        snprintf(res.err, sizeof res.err, "no scrape: %.180s", why);
        s->outstanding--;
        req_free(r);
        s->sampled++;
        s->stale++;
        s->on_pod(s->ctx, p, &res);
    }
}

/* --- the metrics API ---------------------------------------------------------- */

/* Does p's sample come from the metrics API list of scope `ns` ("" = all)? */
static bool from_list(struct sampler *s, const struct pc_pod *p, const char *ns)
{
    enum ann_usage u;
    return (!ns[0] || !strcmp(p->sh->ns, ns)) && s->want(s->ctx, p, &u) &&
           u == ANN_USAGE_WORKING_SET && !s->conf.force_scrape;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void on_podmetrics(void *arg, const struct kapi_resp *resp)
{
    struct req *r = arg;
    struct sampler *s = r->s;
    mb_mono_ms now = s->clk->mono_ms(s->clk->ctx);
    /* The list (10k pods: about 3 MB of JSON) is read by a dedicated
     * scanner (podmetrics.h) that points into the body: building it as a
     * jansson tree was most of a cycle's CPU time (profiled). */
    struct pm_list list = {0};
    char err[200] = "";
    if (resp->err) {
        snprintf(err, sizeof err, "metrics API: %.180s", resp->errmsg);
    } else if (resp->status != 200) {
        struct kobj_status st;
        kobj_status_from_body(resp->status, resp->body, resp->len, &st);
        snprintf(err, sizeof err, "metrics API: %.180s", st.message);
    } else {
        struct mb_diag d = {0};
        if (pm_parse(resp->body, resp->len, &list, &d))
            snprintf(err, sizeof err, "%.199s", d.msg);
    }
    if (err[0])
        log_warn("metrics API unavailable: working-set samples are stale", "{s:s}", "error", err);
    /* Every pod of this scope that counts its working set gets a result:
     * its entry (looked up in the cache's hash: linear in the list), then
     * stale for those the list lacks or when the list failed. */
    size_t nd = 0;
    struct pc_pod **done = mb_xcalloc(list.nitems ? list.nitems : 1, sizeof *done);
    for (size_t i = 0; i < list.nitems; i++) {
        const struct pm_item *it = &list.items[i];
        char ns[64], nm[254];
        if (!it->ns.p || !it->name.p || it->ns.len >= sizeof ns || it->name.len >= sizeof nm)
            continue; /* longer than Kubernetes allows: no pod of ours */
        memcpy(ns, it->ns.p, it->ns.len);
        ns[it->ns.len] = '\0';
        memcpy(nm, it->name.p, it->name.len);
        nm[it->name.len] = '\0';
        struct pc_pod *p = pc_get_mut(s->cache, ns, nm);
        if (!p || !from_list(s, p, r->ns))
            continue;
        struct smp_result res = {.figure = ANN_USAGE_WORKING_SET, .taken = now};
        snprintf(res.err, sizeof res.err, "metrics API: no usage for container %.63s",
                 p->sh->container);
        for (size_t k = it->first; k < it->first + it->n; k++) {
            const struct pm_container *c = &list.containers[k];
            int64_t b;
            if (pm_str_eq(c->name, p->sh->container) && c->memory.p &&
                qty_parse(c->memory.p, c->memory.len, &b, NULL, NULL) == MB_OK) {
                res.ok = true;
                res.usage = b;
                res.err[0] = '\0';
            }
        }
        done[nd++] = p;
        s->sampled++;
        if (!res.ok)
            s->stale++;
        s->on_pod(s->ctx, p, &res);
    }
    qsort(done, nd, sizeof *done, cmp_ptr);
    size_t pos = 0;
    struct pc_pod *p;
    while ((p = pc_next(s->cache, &pos))) {
        if (!from_list(s, p, r->ns))
            continue;
        if (bsearch(&p, done, nd, sizeof *done, cmp_ptr))
            continue;
        struct smp_result res = {.figure = ANN_USAGE_WORKING_SET, .taken = now};
        snprintf(res.err, sizeof res.err, "%s",
                 err[0] ? err : "metrics API has no entry for the pod");
        s->sampled++;
        s->stale++;
        s->on_pod(s->ctx, p, &res);
    }
    mb_free(done);
    pm_list_free(&list);
    req_done(r);
}

static void list_metrics(struct sampler *s, const char *ns)
{
    char path[300];
    struct req *r = req_new(s);
    r->metrics_api = true;
    snprintf(r->ns, sizeof r->ns, "%s", ns ? ns : "");
    if (ns && *ns)
        snprintf(path, sizeof path, "/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods", ns);
    else
        snprintf(path, sizeof path, "/apis/metrics.k8s.io/v1beta1/pods");
    struct kapi_req kr = {.method = "GET", .path = path, .timeout_ms = 20000};
    r->call = kapi_submit(s->api, &kr, on_podmetrics, r);
}

/* --- cycles ------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const char *str)
{
    for (const unsigned char *c = (const unsigned char *)str; *c; c++)
        h = (h ^ *c) * 1099511628211ULL;
    return (h ^ '/') * 1099511628211ULL;
}

/* A pod's identity as a number: FNV-1a over ns, name and uid. */
static uint64_t pod_key(const char *ns, const char *name, const char *uid)
{
    return fnv(fnv(fnv(1469598103934665603ULL, ns), name), uid);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void smp_cycle_now(struct sampler *s)
{
    /* What is still in flight from earlier ticks: those pods (and list
     * scopes) wait for their answer instead of getting a second request. */
    size_t nbusy = 0, cap = 0;
    uint64_t *busy = NULL;
    bool list_busy_all = false;
    struct req *r;
    TAILQ_FOREACH(r, &s->reqs, link)
    {
        if (r->metrics_api) {
            if (!r->ns[0])
                list_busy_all = true;
            continue;
        }
        if (nbusy == cap) {
            cap = cap ? cap * 2 : 16;
            busy = mb_xrealloc(busy, cap * sizeof *busy);
        }
        busy[nbusy++] = pod_key(r->ns, r->name, r->uid);
    }
    if (nbusy)
        qsort(busy, nbusy, sizeof *busy, cmp_u64);
    if (s->running)
        log_debug("sample tick: requests of the last one still in flight", "{s:i}", "requests",
                  (int)s->outstanding);
    s->cycle++;
    s->running = true;
    s->outstanding = 1; /* held until the tick is set up */
    s->sampled = s->stale = 0;
    s->started = s->clk->mono_ms(s->clk->ctx);
    bool need_api = false;
    size_t pos = 0;
    struct pc_pod *p;
    while ((p = pc_next(s->cache, &pos))) {
        enum ann_usage fig;
        if (!s->want(s->ctx, p, &fig))
            continue;
        if (fig == ANN_USAGE_WORKING_SET && !s->conf.force_scrape) {
            need_api = true;
        } else if (s->conf.force_metrics_api) {
            struct smp_result res = {.figure = fig, .taken = s->started};
            snprintf(res.err, sizeof res.err, "usage.source is metrics-api: %s is not scraped",
                     ann_usage_name(fig));
            s->sampled++;
            s->stale++;
            s->on_pod(s->ctx, p, &res);
        } else {
            char ub[PC_UID_BUF];
            uint64_t k = pod_key(p->sh->ns, p->name, pc_uid(p, ub));
            if (nbusy && bsearch(&k, busy, nbusy, sizeof *busy, cmp_u64))
                continue; /* its last scrape has not answered yet */
            scrape(s, p, fig == ANN_USAGE_WORKING_SET ? ANN_USAGE_RSS : fig);
        }
    }
    mb_free(busy);
    if (need_api && !list_busy_all) {
        if (s->conf.nnamespaces) {
            for (size_t i = 0; i < s->conf.nnamespaces; i++) {
                bool inflight = false;
                for (r = TAILQ_FIRST(&s->reqs); r && !inflight; r = TAILQ_NEXT(r, link))
                    inflight = r->metrics_api && !strcmp(r->ns, s->namespaces[i]);
                if (!inflight)
                    list_metrics(s, s->namespaces[i]);
            }
        } else {
            list_metrics(s, NULL);
        }
    }
    s->outstanding--;
    end_cycle_if_done(s);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    smp_cycle_now(arg);
}

struct sampler *smp_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api,
                        struct podcall *pods, struct podcache *cache, struct mx *mx,
                        const struct smp_conf *conf, smp_want_fn *want, smp_pod_fn *on_pod,
                        smp_cycle_fn *on_cycle, void *ctx)
{
    struct sampler *s = mb_xcalloc(1, sizeof *s);
    TAILQ_INIT(&s->reqs);
    s->clk = clk;
    s->api = api;
    s->pods = pods;
    s->cache = cache;
    s->conf = *conf;
    s->namespaces = mb_xcalloc(conf->nnamespaces + 1, sizeof *s->namespaces);
    for (size_t i = 0; i < conf->nnamespaces; i++)
        s->namespaces[i] = mb_xstrdup(conf->namespaces[i]);
    s->conf.namespaces = NULL;
    s->want = want;
    s->on_pod = on_pod;
    s->on_cycle = on_cycle;
    s->ctx = ctx;
    s->timer = event_new(loop_base(lp), -1, EV_PERSIST, on_timer, s);
    if (mx) {
        static const double B[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30};
        static const char *const L[] = {"result"};
        s->m_duration =
            mx_histogram(mx, "membudget_sample_duration_seconds",
                         "Time to sample every tracked pod once.", 0, NULL, B, MB_ARRAY_LEN(B));
        s->m_scrapes = mx_counter(mx, "membudget_scrapes_total",
                                  "Scrapes of pod metrics endpoints, by result.", 1, L);
    }
    return s;
}

void smp_start(struct sampler *s)
{
    struct timeval tv = {(time_t)(s->conf.interval_ms / 1000),
                         (suseconds_t)(s->conf.interval_ms % 1000) * 1000};
    event_add(s->timer, &tv);
}

void smp_stop(struct sampler *s)
{
    event_del(s->timer);
    struct req *r;
    while ((r = TAILQ_FIRST(&s->reqs))) {
        if (r->metrics_api)
            kapi_cancel(s->api, r->call);
        else
            podcall_cancel(s->pods, r->call);
        req_free(r);
    }
    s->outstanding = 0;
    s->running = false;
}

void smp_free(struct sampler *s)
{
    if (!s)
        return;
    smp_stop(s);
    event_free(s->timer);
    for (size_t i = 0; i < s->conf.nnamespaces; i++)
        mb_free(s->namespaces[i]);
    mb_free(s->namespaces);
    mb_free(s);
}
