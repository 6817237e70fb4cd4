/*
 * controller.c -- reflectors -> pod cache -> readiness-gate work queue.
 *
 * Per-pod state (struct podstate) hangs off the cache record's `user` and
 * follows the pod across updates; it is freed when the pod leaves the cache.
 * A pod needing its gate condition sits in a FIFO (at most once); a pump
 * submits up to max_inflight PATCHes of pods/status; failures go back to
 * the queue with a per-pod backoff ("not before" time), a 404 drops the work
 * (the pod is gone), and the watch shows the result of a success.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/backoff.h"
#include "membudget/buf.h"
#include "membudget/controller.h"
#include "membudget/gateq.h"
#include "membudget/https.h"
#include "membudget/jsonx.h"
#include "membudget/kapi.h"
#include "membudget/kobj.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/ops.h"
#include "membudget/podcache.h"
#include "membudget/podcall.h"
#include "membudget/reflector.h"
#include "controller_int.h"

/* The pod cache's question: what is this namespace? Excluded ones (the
 * webhook's very decision, cfg_excluded) keep no pod at all: never
 * tracked, throttled, evicted or listed, whatever their labels. */
static enum pc_scope ns_scope(void *arg, const char *ns)
{
    if (gov_has(arg, ns))
        return PC_NS_GOVERNED;
    return gov_excluded(arg, ns) ? PC_NS_EXCLUDED : PC_NS_OTHER;
}

/* --- the cache listener ------------------------------------------------------- */

/* Paid once per tracked pod (100k in a large cluster): a field that grows it
 * must be worth that (a 592-byte inline pair of strings once doubled it). */
_Static_assert(sizeof(struct podstate) <= 56,
               "struct podstate grew: it is paid per pod (56: a 64-byte malloc chunk)");
_Static_assert(sizeof(struct pc_pod) <= 80, "struct pc_pod grew: it is paid per pod");
/* ...and this by every pod the leader samples (the leak windows aside). */
_Static_assert(sizeof(struct podrun) <= 472,
               "struct podrun grew: it is paid per sampled pod (472: a 480-byte malloc chunk)");

/* The pod `old` is gone (or replaced by a new uid): drop its state, with
 * whatever is queued or in flight for it. */
static void state_free(struct controller *c, struct podstate *s, const struct pc_pod *old)
{
    s->gq.pod = old;
    remedy_pod_gone(c, s, true);
    gq_forget(c->gq, &s->gq);
    gq_item_cleanup(&s->gq);
    mb_free(s);
}

/* The planner's reading of a shape's annotations, made once for all the
 * pods that share it, in the shape's listener bytes. */
struct shape_spec {
    struct pl_spec spec; /* first: SPEC() reads it at the start of the bytes */
    bool done;
};

static const struct pl_spec *spec_of(struct controller *c, const struct pc_pod *p)
{
    struct shape_spec *ss = (struct shape_spec *)(void *)((struct pc_shape *)p->sh)->user;
    if (!ss->done) {
        pl_spec_of(p, &c->rm.pcf, &ss->spec);
        ss->done = true;
    }
    return &ss->spec;
}

/* Does membudget call this pod at all (scrape, GC, throttle, profile,
 * GOMEMLIMIT)? */
static bool called(const struct pc_pod *p)
{
    static const char *const KEYS[] = {"metrics", "gc", "throttle", "profile", "memlimit"};
    for (size_t i = 0; i < MB_ARRAY_LEN(KEYS); i++)
        if (pc_ann(p, KEYS[i]))
            return true;
    return false;
}

/* A pod membudget would call, at an address it never calls (0.0.0.0, ::,
 * loopback, IPv4-mapped, ...): said once per pod and address, by the
 * leader, at warn, and counted by reason. Nothing is sent to it. */
static void address_check(struct controller *c, const struct pc_pod *old, const struct pc_pod *cur)
{
    char why[200];
    const char *reason;
    if (!c->leader || !c->calls || !*pc_ip(cur) || !called(cur))
        return;
    if (old && pc_uid_eq(old, cur) && !strcmp(pc_ip(old), pc_ip(cur)))
        return; /* seen */
    if (!(reason = podcall_address_refusal(c->calls, cur, why, sizeof why)))
        return;
    const char *l[] = {reason};
    mx_add(c->m_addr_refused, l, 1);
    log_warn("pod address refused: membudget never calls this pod", "{s:s,s:s,s:s,s:s}",
             "namespace", cur->sh->ns, "pod", cur->name, "reason", reason, "why", why);
}

static void on_pod(void *arg, enum pc_change ch, const struct pc_pod *old, struct pc_pod *cur)
{
    struct controller *c = arg;
    if (ch == PC_DELETED) {
        if (old->user)
            state_free(c, old->user, old);
        return;
    }
    struct podstate *s = cur->user;
    if (!s || !old || !pc_uid_eq(old, cur)) {
        /* New pod, or the same name with a new uid: fresh state. */
        if (s)
            state_free(c, s, old);
        s = mb_xcalloc(1, sizeof *s);
        gq_item_init(&s->gq);
        cur->user = s;
    }
    int64_t old_budget = old && s->gq.pod ? SPEC(s)->budget : 0;
    s->gq.pod = cur;
    spec_of(c, cur); /* SPEC(s) from now on */
    if (old_budget > 0 && old_budget != SPEC(s)->budget)
        s->ml_old_budget = old_budget; /* followers keep it for when they lead */
    if (!s->pl) {
        /* No planner state here (not leading, or not sampled yet): hold
         * what the cluster holds, so a new leader never flips a throttled
         * pod's condition back to True before it has decided anything. */
        s->gq.throttled =
            cur->cond == PC_COND_FALSE && !strcmp(cur->cond_reason, "OverMemoryBudget");
        s->gq.record_own = false;
    }
    if (cur->ready && (!old || !old->ready || !pc_uid_eq(old, cur)))
        remedy_pod_ready(c, cur);
    if (c->leader) {
        remedy_check_container(c, s, s->ml_old_budget);
        s->ml_old_budget = 0;
        remedy_intents(c, s); /* the record written: the GC or capture it holds goes on */
    }
    address_check(c, old, cur);
    gq_check(c->gq, &s->gq);
}

/* --- sinks -------------------------------------------------------------------- */

struct podsink {
    struct controller *c;
    char ns[64]; /* scope of the relist, "" for all */
};

static void pods_relist_begin(void *arg)
{
    struct podsink *ps = arg;
    pc_relist_begin(ps->c->cache, ps->ns);
}

static void pods_item(void *arg, const json_t *obj)
{
    struct podsink *ps = arg;
    struct mb_diag d = {0};
    if (pc_relist_item(ps->c->cache, obj, &d))
        log_limited(LOG_WARN, "pod skipped", "{s:s}", "error", d.msg);
}

static void pods_relist_end(void *arg)
{
    struct podsink *ps = arg;
    size_t gone = pc_relist_end(ps->c->cache);
    if (gone)
        log_info("relist: pods gone while the watch was down", "{s:I}", "deleted",
                 (json_int_t)gone);
}

static void pods_event(void *arg, enum kobj_ev type, const json_t *obj)
{
    struct podsink *ps = arg;
    struct mb_diag d = {0};
    if (pc_apply(ps->c->cache, type, obj, &d))
        log_limited(LOG_WARN, "pod event skipped", "{s:s,s:s}", "type", kobj_ev_name(type), "error",
                    d.msg);
}

static void pods_synced(void *arg)
{
    struct podsink *ps = arg;
    struct controller *c = ps->c;
    atomic_store(&c->synced_pub, controller_synced(c));
    if (c->initial_logged)
        return;
    if (++c->synced_pods < c->npods)
        return;
    c->initial_logged = true;
    /* The list pages' JSON trees are gone: give their memory back to the
     * system rather than keep the peak resident (glibc). */
    mb_trim();
    size_t n = pc_count(c->cache), bytes = pc_bytes(c->cache);
    log_info("initial sync complete", "{s:I,s:I,s:I,s:I}", "pods", (json_int_t)n, "duration_ms",
             (json_int_t)(c->clk->mono_ms(c->clk->ctx) - c->started), "cache_bytes",
             (json_int_t)bytes, "cache_bytes_per_pod", (json_int_t)(n ? bytes / n : 0));
}

/* A namespace relist (initial, or after 410) replaces the governed set: the
 * old one is kept aside, and what the list no longer has is let go at the
 * end, as if its DELETED had been seen. */
static void ns_relist_begin(void *arg)
{
    struct controller *c = arg;
    for (size_t i = 0; i < c->nprev; i++)
        mb_free(c->prev[i]);
    mb_free(c->prev);
    c->prev = c->governed;
    c->nprev = c->ngoverned;
    c->governed = NULL;
    c->ngoverned = c->capgoverned = 0;
}

/* A governed namespace appeared: its pods without a budget were not kept, so
 * the pod watch lists again to pick them up. */
static bool in_prev(const struct controller *c, const char *ns)
{
    for (size_t i = 0; i < c->nprev; i++)
        if (strcmp(c->prev[i], ns) == 0)
            return true;
    return false;
}

static void ns_gain(struct controller *c, const char *ns)
{
    if (gov_add(c, ns) && !in_prev(c, ns)) {
        log_info("namespace governed", "{s:s}", "namespace", ns);
        if (c->npods && reflector_synced(c->pods[0]))
            reflector_relist(c->pods[0]);
    }
}

static void ns_lose(struct controller *c, const char *ns)
{
    if (gov_remove(c, ns)) {
        log_info("namespace no longer governed", "{s:s}", "namespace", ns);
        pc_prune_namespace(c->cache, ns);
    }
}

static void ns_item(void *arg, const json_t *obj)
{
    struct controller *c = arg;
    const char *ns = kobj_str(obj, "metadata.name");
    if (ns)
        ns_gain(c, ns);
}

static void ns_relist_end(void *arg)
{
    struct controller *c = arg;
    for (size_t i = 0; i < c->nprev; i++) {
        if (!gov_has(c, c->prev[i])) {
            log_info("namespace no longer governed", "{s:s}", "namespace", c->prev[i]);
            pc_prune_namespace(c->cache, c->prev[i]);
        }
        mb_free(c->prev[i]);
    }
    mb_free(c->prev);
    c->prev = NULL;
    c->nprev = 0;
}

static void ns_event(void *arg, enum kobj_ev type, const json_t *obj)
{
    struct controller *c = arg;
    const char *ns = kobj_str(obj, "metadata.name");
    if (!ns)
        return;
    if (type == KOBJ_DELETED)
        ns_lose(c, ns);
    else
        ns_gain(c, ns);
}

static void ns_synced(void *arg)
{
    struct controller *c = arg;
    for (size_t i = 0; i < c->npods; i++)
        reflector_start(c->pods[i]); /* no-op once started */
}

/* --- /debug/pods -------------------------------------------------------------- */

static int cmp_pod(const void *a, const void *b)
{
    const struct pc_pod *x = *(const struct pc_pod *const *)a,
                        *y = *(const struct pc_pod *const *)b;
    int r = strcmp(x->sh->ns, y->sh->ns);
    return r ? r : strcmp(x->name, y->name);
}

/* Runs on the controller's thread (ops_add_route_on): the cache is its. */
static int render_debug_pods(void *arg, struct mb_buf *out, const char **content_type)
{
    struct controller *c = arg;
    size_t n = pc_count(c->cache), pos = 0, i = 0;
    struct pc_pod **v = mb_xcalloc(n ? n : 1, sizeof *v);
    struct pc_pod *p;
    while ((p = pc_next(c->cache, &pos)) && i < n)
        v[i++] = p;
    qsort(v, i, sizeof *v, cmp_pod);
    json_t *arr = json_array();
    for (size_t k = 0; k < i; k++) {
        json_t *j = pc_pod_json(v[k]);
        struct podstate *s = v[k]->user;
        json_object_set_new(j, "governed", json_boolean(gov_has(c, v[k]->sh->ns)));
        json_t *rj = s ? remedy_pod_json(s) : NULL;
        if (rj) {
            json_object_update(j, rj);
            json_decref(rj);
        } else {
            json_object_set_new(j, "tier", json_string("normal"));
        }
        json_object_set_new(j, "pendingWrite", json_boolean(s && gq_pending(&s->gq)));
        char why[200];
        if (c->calls && called(v[k]) && podcall_address_refusal(c->calls, v[k], why, sizeof why))
            json_object_set_new(j, "addressRefused", json_string(why));
        /* the ledger, from the cluster's record: the same on every replica */
        struct pl_record rec;
        json_object_set_new(j, "restarts", json_integer(v[k]->restarts));
        if (pl_record_parse(pc_record(v[k]), &rec) && rec.ooms) {
            char at[40];
            json_object_set_new(j, "ooms", json_integer(rec.ooms));
            if (rec.last_oom) {
                kobj_format_time(rec.last_oom, at, sizeof at);
                json_object_set_new(j, "lastOOM", json_string(at));
            }
        } else {
            json_object_set_new(j, "ooms", json_integer(0));
        }
        if (v[k]->sh->gomemlimit)
            json_object_set_new(j, "gomemlimitEnvBytes", json_integer(v[k]->sh->gomemlimit));
        json_array_append_new(arr, j);
    }
    mb_free(v);
    json_t *gov = json_array();
    for (size_t k = 0; k < c->ngoverned; k++)
        json_array_append_new(gov, json_string(c->governed[k]));
    json_t *root = json_pack("{s:b,s:b,s:b,s:I,s:o,s:o}", "leader", c->leader, "synced",
                             controller_synced(c), "dryRun", c->dry_run, "tracked", (json_int_t)i,
                             "governedNamespaces", gov, "pods", arr);
    return debug_reply_json(root, out, content_type);
}

/* Every second, on the controller's thread: the gauges that describe its
 * state, and the readiness that the ops server (another thread) reads. */
static void on_gauges(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    controller_tick(arg);
}

void controller_tick(struct controller *c)
{
    mx_set(c->m_tracked, NULL, (double)pc_count(c->cache));
    mx_set(c->m_cache_bytes, NULL, (double)pc_bytes(c->cache));
    mx_set(c->m_leader, NULL, c->leader ? 1 : 0);
    remedy_collect(c);
    atomic_store(&c->synced_pub, controller_synced(c));
}

static bool ready_check(void *arg, char *why, size_t whylen)
{
    struct controller *c = arg;
    if (atomic_load(&c->synced_pub))
        return true;
    snprintf(why, whylen, "pod cache not synced yet");
    return false;
}

/* --- lifecycle ---------------------------------------------------------------- */

static const struct reflector_sink POD_SINK = {pods_relist_begin, pods_item, pods_relist_end,
                                               pods_event, pods_synced};
static const struct reflector_sink NS_SINK = {ns_relist_begin, ns_item, ns_relist_end, ns_event,
                                              ns_synced};

/* Pods of the namespaces the flags or config name, one reflector each;
 * a name that is not valid, or that is never governed, is an error. */
static mb_err watch_namespaces(struct controller *c, const struct controller_conf *conf,
                               struct mb_diag *diag)
{
    c->pods = mb_xcalloc(conf->nnamespaces, sizeof *c->pods);
    c->sinks = mb_xcalloc(conf->nnamespaces, sizeof *c->sinks);
    for (size_t i = 0; i < conf->nnamespaces; i++) {
        struct podsink *ps = &c->sinks[i];
        char path[300];
        const char *ns = conf->namespaces[i];
        if (!ann_is_dns_label(ns))
            return mb_diag_set(diag, MB_EINVAL, "namespace \"%s\" is not a valid name", ns);
        if (gov_excluded(c, ns))
            return mb_diag_set(diag, MB_EINVAL,
                               "namespace \"%s\" cannot be governed: it is excluded "
                               "(kube-system, kube-public, kube-node-lease, excludedNamespaces "
                               "and membudget's own namespace never are)",
                               ns);
        if (gov_has(c, ns))
            continue; /* listed twice */
        gov_add(c, ns);
        ps->c = c;
        snprintf(ps->ns, sizeof ps->ns, "%s", ns);
        snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods", ns);
        struct reflector_conf rc = {.name = "pods",
                                    .path = path,
                                    .page_size = conf->page_size,
                                    .watch_list = conf->watch_list};
        c->pods[c->npods++] = reflector_new(c->lp, c->clk, c->api, c->mx, &rc, &POD_SINK, ps);
    }
    return MB_OK;
}

/* Every pod, and the namespaces labelled membudget.io/enforce=true (the
 * governed set follows the label). */
static mb_err watch_cluster(struct controller *c, const struct controller_conf *conf)
{
    c->sinks = mb_xcalloc(1, sizeof *c->sinks);
    struct podsink *ps = &c->sinks[0];
    ps->c = c;
    struct reflector_conf rc = {.name = "pods",
                                .path = "/api/v1/pods",
                                .page_size = conf->page_size,
                                .watch_list = conf->watch_list};
    c->pods = mb_xcalloc(1, sizeof *c->pods);
    c->pods[c->npods++] = reflector_new(c->lp, c->clk, c->api, c->mx, &rc, &POD_SINK, ps);
    struct reflector_conf nc = {.name = "namespaces",
                                .path = "/api/v1/namespaces",
                                .label_selector = "membudget.io/enforce=true",
                                .watch_list = conf->watch_list};
    c->nsr = reflector_new(c->lp, c->clk, c->api, c->mx, &nc, &NS_SINK, c);
    return MB_OK;
}

mb_err controller_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api, struct mx *mx,
                      struct ops *ops, const struct controller_conf *conf, struct controller **out,
                      struct mb_diag *diag)
{
    struct controller *c = mb_xcalloc(1, sizeof *c);
    c->lp = lp;
    c->clk = clk;
    c->api = api;
    c->mx = mx;
    c->dry_run = conf->dry_run;
    c->cfg = conf->cfg;
    snprintf(c->own_ns, sizeof c->own_ns, "%s", conf->own_namespace ? conf->own_namespace : "");
    c->calls = conf->pods;
    c->rnd = clk->mono_ns(clk->ctx);
    c->cache = pc_new(on_pod, ns_scope, c, sizeof(struct shape_spec));
    struct gq_conf gc = {.max_inflight = conf->max_inflight_writes,
                         .dry_run = conf->dry_run || conf->cfg->dry_run,
                         .fence = &c->fenced};
    c->gq = gq_new(lp, clk, api, mx, &gc);
    c->explicit_ns = conf->nnamespaces > 0;
    mb_err e = c->explicit_ns ? watch_namespaces(c, conf, diag) : watch_cluster(c, conf);
    if (e) {
        controller_free(c);
        return e;
    }
    c->m_tracked =
        mx_gauge(mx, "membudget_tracked_pods", "Pods in the controller's cache.", 0, NULL);
    c->m_cache_bytes = mx_gauge(mx, "membudget_pod_cache_bytes",
                                "Memory held by the pod cache (records and table).", 0, NULL);
    static const char *const REASON_L[] = {"reason"};
    c->m_addr_refused = mx_counter(mx, "membudget_pod_address_refused_total",
                                   "Pods that membudget would call (scrape, GC, throttle, profile) "
                                   "at an address it never calls, by reason (counted once per pod "
                                   "and address, by the leader).",
                                   1, REASON_L);
    c->m_leader = mx_gauge(mx, "membudget_leader",
                           "1 when this replica is the leader (only the leader acts).", 0, NULL);
    c->rec =
        recorder_new(clk, api, mx, "membudget", conf->identity ? conf->identity : "membudget", 0);
    remedy_init(c, lp);
    insight_init(c, ops, lp);
    c->gauges = event_new(loop_base(lp), -1, EV_PERSIST, on_gauges, c);
    if (ops) {
        ops_add_route_on(ops, "/debug/pods", lp, render_debug_pods, c);
        ops_add_ready_check(ops, "pod cache", ready_check, c);
    }
    *out = c;
    return MB_OK;
}

void controller_start(struct controller *c)
{
    c->started = c->clk->mono_ms(c->clk->ctx);
    c->stopped = false;
    {
        struct timeval one = {1, 0};
        event_add(c->gauges, &one);
        event_active(c->gauges, EV_TIMEOUT, 0);
    }
    remedy_start(c);
    if (c->nsr)
        reflector_start(c->nsr); /* pods start once the governed set is known */
    else
        for (size_t i = 0; i < c->npods; i++)
            reflector_start(c->pods[i]);
}

void controller_set_leader(struct controller *c, bool leader)
{
    if (c->leader == leader)
        return;
    c->leader = leader;
    mx_set(c->m_leader, NULL, leader ? 1 : 0);
    log_info(leader ? "leading: acting on pods" : "not leading: observing only", "{s:I}", "tracked",
             (json_int_t)pc_count(c->cache));
    gq_set_active(c->gq, leader);
    if (!leader) {
        remedy_reset(c); /* the next leader continues from the cluster's record */
        return;
    }
    insight_lead(c);
    size_t pos = 0;
    struct pc_pod *p;
    while ((p = pc_next(c->cache, &pos))) {
        struct podstate *s = p->user;
        if (!s)
            continue;
        /* What happened while no replica led: OOM kills, budget changes. */
        remedy_check_container(c, s, s->ml_old_budget);
        address_check(c, NULL, p);
        s->ml_old_budget = 0;
        gq_check(c->gq, &s->gq);
    }
}

void controller_stop(struct controller *c)
{
    c->stopped = true;
    gq_stop(c->gq);
    remedy_stop(c);
    for (size_t i = 0; i < c->npods; i++)
        reflector_stop(c->pods[i]);
    if (c->nsr)
        reflector_stop(c->nsr);
}

void controller_fence(struct controller *c) { atomic_store(&c->fenced, true); }

size_t controller_inflight(const struct controller *c) { return gq_inflight(c->gq); }

bool controller_synced(const struct controller *c)
{
    for (size_t i = 0; i < c->npods; i++)
        if (!reflector_synced(c->pods[i]))
            return false;
    return c->npods > 0;
}

size_t controller_tracked(const struct controller *c) { return pc_count(c->cache); }

void controller_free(struct controller *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npods; i++) {
        if (!c->pods[i])
            continue;
        reflector_stop(c->pods[i]);
    }
    if (c->nsr)
        reflector_free(c->nsr);
    pc_clear(c->cache); /* releases every podstate (cancels its write) */
    pc_free(c->cache);
    remedy_cleanup(c);
    insight_cleanup(c);
    recorder_free(c->rec);
    for (size_t i = 0; i < c->npods; i++)
        reflector_free(c->pods[i]);
    mb_free(c->pods);
    mb_free(c->sinks);
    for (size_t i = 0; i < c->ngoverned; i++)
        mb_free(c->governed[i]);
    mb_free(c->governed);
    for (size_t i = 0; i < c->nprev; i++)
        mb_free(c->prev[i]);
    mb_free(c->prev);
    gq_free(c->gq);
    if (c->gauges)
        event_free(c->gauges);
    mb_free(c);
}
