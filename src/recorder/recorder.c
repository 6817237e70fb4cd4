/*
 * recorder.c -- what the controller writes about pods (shell; see
 * recorder.h): Events (aggregated by evagg, best effort, bounded in
 * flight), Evictions (with the pod's uid as a precondition, a 429 reported
 * as "blocked"), and the strategic merge patches of the resize tier.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include "membudget/alloc.h"
#include "membudget/evagg.h"
#include "membudget/jsonx.h"
#include "membudget/kapi.h"
#include "membudget/kobj.h"
#include "membudget/log.h"
#include "membudget/metrics.h"
#include "membudget/recorder.h"

struct pending {
    TAILQ_ENTRY(pending) link; /* in recorder.list */
    struct recorder *r;
    uint64_t call;
    bool is_evict;
    bool patch;               /* event: a PATCH of an existing Event */
    char ns[64], name[320];   /* event: the Event's namespace and name */
    json_t *event;            /* event: the full object, to create it if the PATCH 404s */
    recorder_evict_fn *done;  /* evict */
    recorder_patch_fn *pdone; /* patch */
    void *ctx;
};

struct recorder {
    const struct mb_clock *clk;
    struct kapi *api;
    struct evagg *agg;
    char *component, *instance;
    unsigned max_inflight, inflight;
    TAILQ_HEAD(, pending) list; /* calls in flight, newest first */
    struct mx_family *m_events, *m_evictions;
};

static void count(struct mx_family *f, const char *v)
{
    const char *vals[] = {v};
    if (f)
        mx_add(f, vals, 1);
}

struct recorder *recorder_new(const struct mb_clock *clk, struct kapi *api, struct mx *mx,
                              const char *component, const char *instance, unsigned max_inflight)
{
    struct recorder *r = mb_xcalloc(1, sizeof *r);
    r->clk = clk;
    r->api = api;
    r->agg = evagg_new(0);
    r->component = mb_xstrdup(component);
    r->instance = mb_xstrdup(instance);
    r->max_inflight = max_inflight ? max_inflight : 64;
    TAILQ_INIT(&r->list);
    if (mx) {
        static const char *const L[] = {"result"};
        r->m_events = mx_counter(mx, "membudget_events_total",
                                 "Kubernetes Events written, by result (created, aggregated, "
                                 "dropped, error).",
                                 1, L);
        r->m_evictions =
            mx_counter(mx, "membudget_eviction_requests_total",
                       "Eviction API calls, by result (evicted, blocked, gone, error).", 1, L);
    }
    return r;
}

static struct pending *pending_new(struct recorder *r)
{
    struct pending *p = mb_xcalloc(1, sizeof *p);
    p->r = r;
    TAILQ_INSERT_HEAD(&r->list, p, link);
    r->inflight++;
    return p;
}

static void pending_free(struct pending *p)
{
    struct recorder *r = p->r;
    TAILQ_REMOVE(&r->list, p, link);
    r->inflight--;
    json_decref(p->event);
    mb_free(p);
}

void recorder_free(struct recorder *r)
{
    if (!r)
        return;
    struct pending *p;
    while ((p = TAILQ_FIRST(&r->list))) {
        kapi_cancel(r->api, p->call);
        pending_free(p);
    }
    evagg_free(r->agg);
    mb_free(r->component);
    mb_free(r->instance);
    mb_free(r);
}

/* --- events ------------------------------------------------------------------- */

static void submit_event(struct pending *p);

static void on_event_done(void *arg, const struct kapi_resp *resp)
{
    struct pending *p = arg;
    struct recorder *r = p->r;
    if (resp->err == MB_OK && (resp->status == 200 || resp->status == 201)) {
        count(r->m_events, p->patch ? "aggregated" : "created");
    } else if (p->patch && resp->err == MB_OK && resp->status == 404) {
        /* The Event expired (the API server keeps them ~1h): start a new one. */
        evagg_forget(r->agg, p->name);
        p->patch = false;
        submit_event(p);
        return;
    } else {
        struct kobj_status st;
        kobj_status_from_body(resp->status, resp->body, resp->len, &st);
        count(r->m_events, "error");
        log_limited(LOG_WARN, "event not written", "{s:s,s:s,s:i,s:s}", "namespace", p->ns, "event",
                    p->name, "status", (int)resp->status, "error",
                    resp->err ? resp->errmsg : st.message);
    }
    pending_free(p);
}

/* A repeat is a PATCH of count and lastTimestamp only, as client-go's
 * recorder does: the API server keeps one object per repeated Event. */
static void submit_event(struct pending *p)
{
    struct recorder *r = p->r;
    char path[512];
    json_t *body;
    if (p->patch) {
        body = json_pack("{s:O,s:O}", "count", json_object_get(p->event, "count"), "lastTimestamp",
                         json_object_get(p->event, "lastTimestamp"));
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/events/%s", p->ns, p->name);
    } else {
        body = json_incref(p->event);
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/events", p->ns);
    }
    size_t len;
    char *text = mb_json_dumps(body, JSON_COMPACT, &len);
    json_decref(body);
    struct kapi_req req = {.method = p->patch ? "PATCH" : "POST",
                           .path = path,
                           .content_type = p->patch ? "application/strategic-merge-patch+json"
                                                    : "application/json",
                           .body = text,
                           .body_len = len};
    p->call = kapi_submit(r->api, &req, on_event_done, p);
    mb_free(text);
}

/* Events are best effort and never queue without bound: past
 * max_inflight they are dropped and counted. An Event is what an SRE
 * reads; a controller that stalls on writing one helps nobody. The
 * source and reporting fields name this replica, so `kubectl describe`
 * shows which leader acted. */
void recorder_event(struct recorder *r, const struct recorder_ref *ref, const char *type,
                    const char *reason, const char *fmt, ...)
{
    char msg[1024], now_s[32], first_s[32];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    mb_wall_ms now = r->clk->wall_ms(r->clk->ctx);
    struct evagg_decision d;
    evagg_decide(r->agg, ref->name, ref->uid, type, reason, msg, now, &d);
    if (r->inflight >= r->max_inflight) {
        count(r->m_events, "dropped");
        /* (20k pods at once would be 20k lines: one a second, with the count) */
        log_limited(LOG_WARN, "event dropped: too many in flight", "{s:s,s:s,s:s}", "namespace",
                    ref->ns, "pod", ref->name, "reason", reason);
        return;
    }
    kobj_format_time(now, now_s, sizeof now_s);
    kobj_format_time(d.first, first_s, sizeof first_s);
    struct pending *p = pending_new(r);
    snprintf(p->ns, sizeof p->ns, "%s", ref->ns);
    snprintf(p->name, sizeof p->name, "%s", d.name);
    p->patch = !d.create;
    p->event = json_pack(
        "{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:i,s:s,s:s,s:{s:s,s:s},"
        "s:s,s:s}",
        "apiVersion", "v1", "kind", "Event", "metadata", "name", d.name, "namespace", ref->ns,
        "involvedObject", "apiVersion", "v1", "kind", "Pod", "namespace", ref->ns, "name",
        ref->name, "uid", ref->uid, "reason", reason, "message", msg, "type", type, "count",
        (int)d.count, "firstTimestamp", first_s, "lastTimestamp", now_s, "source", "component",
        r->component, "host", r->instance, "reportingComponent", r->component, "reportingInstance",
        r->instance);
    submit_event(p);
}

/* --- evictions ------------------------------------------------------------------ */

/* The Eviction API's answer, in the planner's terms: 201 evicted, 429 a
 * PodDisruptionBudget (or the disruption controller) saying not now, 404
 * or a uid precondition's 409 the pod is gone or replaced, else an error.
 * The API server's own words go with it: they end up in the Event. */
static void on_evicted(void *arg, const struct kapi_resp *resp)
{
    struct pending *p = arg;
    struct recorder *r = p->r;
    struct kobj_status st = {0};
    enum evict_result res;
    const char *msg;
    kobj_status_from_body(resp->status, resp->body, resp->len, &st);
    if (resp->err) {
        res = EVICT_ERROR;
        msg = resp->errmsg;
    } else if (resp->status == 200 || resp->status == 201) {
        res = EVICT_OK;
        msg = "evicted";
    } else if (resp->status == 429) {
        res = EVICT_BLOCKED;
        msg = st.message[0] ? st.message : "blocked by a PodDisruptionBudget";
    } else if (resp->status == 404 || (resp->status == 409 && strstr(st.message, "UID"))) {
        res = EVICT_GONE; /* gone, or replaced by a pod with the same name */
        msg = st.message;
    } else {
        res = EVICT_ERROR;
        msg = st.message;
    }
    /* A 429 carries the precise reason in details.causes: add it. */
    char text[600];
    snprintf(text, sizeof text, "%s", msg ? msg : "");
    if (res == EVICT_BLOCKED) {
        json_t *j = json_loadb(resp->body, resp->len, 0, NULL);
        const char *cause = json_string_value(json_object_get(
            json_array_get(json_object_get(json_object_get(j, "details"), "causes"), 0),
            "message"));
        if (cause)
            snprintf(text, sizeof text, "%.280s (%.280s)", msg, cause);
        json_decref(j);
    }
    count(r->m_evictions, evict_result_name(res));
    recorder_evict_fn *done = p->done;
    void *ctx = p->ctx;
    pending_free(p);
    done(ctx, res, text);
}

/* POST pods/NAME/eviction with the uid as a precondition: a pod that was
 * replaced by one of the same name (a StatefulSet's) since the decision is
 * never evicted in its place. */
uint64_t recorder_evict(struct recorder *r, const struct recorder_ref *ref, recorder_evict_fn *done,
                        void *ctx)
{
    char path[512];
    struct pending *p = pending_new(r);
    p->is_evict = true;
    p->done = done;
    p->ctx = ctx;
    json_t *body = json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:{s:s}}}", "apiVersion", "policy/v1", "kind",
                             "Eviction", "metadata", "name", ref->name, "namespace", ref->ns,
                             "deleteOptions", "preconditions", "uid", ref->uid);
    size_t len;
    char *text = mb_json_dumps(body, JSON_COMPACT, &len);
    json_decref(body);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/eviction", ref->ns, ref->name);
    struct kapi_req req = {.method = "POST", .path = path, .body = text, .body_len = len};
    p->call = kapi_submit(r->api, &req, on_evicted, p);
    mb_free(text);
    return p->call;
}

/* --- pod patches ------------------------------------------------------------------ */

static void on_patched(void *arg, const struct kapi_resp *resp)
{
    struct pending *p = arg;
    struct kobj_status st = {0};
    char msg[sizeof st.message];
    kobj_status_from_body(resp->status, resp->body, resp->len, &st);
    snprintf(msg, sizeof msg, "%s", resp->err ? resp->errmsg : st.message);
    recorder_patch_fn *done = p->pdone;
    void *ctx = p->ctx;
    long status = resp->err ? 0 : resp->status;
    pending_free(p);
    done(ctx, status, msg);
}

/* A strategic merge patch of the pod, or of its resize subresource (the
 * only way to change a running container's resources in place). */
uint64_t recorder_patch_pod(struct recorder *r, const struct recorder_ref *ref, bool resize,
                            const json_t *patch, recorder_patch_fn *done, void *ctx)
{
    char path[512];
    struct pending *p = pending_new(r);
    p->pdone = done;
    p->ctx = ctx;
    size_t len;
    char *text = mb_json_dumps(patch, JSON_COMPACT, &len);
    if (resize)
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/resize", ref->ns, ref->name);
    else
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s", ref->ns, ref->name);
    struct kapi_req req = {.method = "PATCH",
                           .path = path,
                           .content_type = "application/strategic-merge-patch+json",
                           .body = text,
                           .body_len = len};
    p->call = kapi_submit(r->api, &req, on_patched, p);
    mb_free(text);
    return p->call;
}

void recorder_cancel(struct recorder *r, uint64_t id)
{
    struct pending *p;
    TAILQ_FOREACH(p, &r->list, link)
    {
        if (p->call == id) {
            kapi_cancel(r->api, id);
            pending_free(p);
            return;
        }
    }
}
