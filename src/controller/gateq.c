/*
 * gateq.c -- the pod conditions membudget writes, queued (shell; see
 * gateq.h). Two conditions: the readiness gate membudget.io/within-budget
 * (False while a pod is throttled, so its Service stops sending it
 * traffic) and the record membudget.io/record, where the leader keeps its
 * state about the pod in the cluster (a new leader resumes from it).
 *
 * Level-triggered, as a Kubernetes controller is: the queue holds pods,
 * not writes. When a pod comes to the front, what it should have is
 * compared with what the watch shows (gq_needs) and one PATCH of its
 * status says it all; a pod that changed meanwhile, or already has it, is
 * not written. At most max_inflight writes are out; a failed one is
 * retried with backoff (Retry-After honoured) up to MAX_GATE_ATTEMPTS
 * times, then left until the pod changes again. Only while active (the
 * leader) and never after shutdown began (the fence).
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/gateq.h"
#include "membudget/jsonx.h"
#include "membudget/kapi.h"
#include "membudget/kobj.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"

/* Past this many failed writes in a row, a pod waits for its next change:
 * a pod the API server keeps refusing must not hold a slot for ever. */
#define MAX_GATE_ATTEMPTS 8

/* A pod's place in the queue, held while it has work. */
struct gq_work {
    struct gq_item *it;
    struct gateq *q;
    TAILQ_ENTRY(gq_work) link; /* in gateq.queue while queued */
    bool queued;
    unsigned attempts;     /* failed writes in a row */
    uint64_t call;         /* the PATCH in flight, 0 when none */
    mb_mono_ms not_before; /* a retry's backoff: not sent before then */
    struct backoff bo;
};

struct gateq {
    const struct mb_clock *clk;
    struct kapi *api;
    TAILQ_HEAD(, gq_work) queue; /* pods with a write to make, oldest first */
    size_t inflight, max_inflight;
    bool active, stopped, dry_run;
    const atomic_bool *fence; /* shutdown began: no new write (gq_conf) */
    struct event *pump;       /* runs the queue (also a 100 ms retry tick) */
    uint64_t rnd;
    struct mx_family *m_patches;
};

/* A pod that is not Running (or is going) has no condition to keep. A
 * pod with the gate, or one membudget already wrote, is True unless
 * throttled; a pod without either is left alone (absent). */
enum pc_cond gq_want(const struct gq_item *it, bool dry_run)
{
    const struct pc_pod *p = it->pod;
    if (p->deleting || strcmp(p->phase, "Running") != 0)
        return PC_COND_ABSENT;
    if (it->throttled && !dry_run) /* dry run: never False */
        return PC_COND_FALSE;
    return p->sh->gated || p->cond != PC_COND_ABSENT ? PC_COND_TRUE : PC_COND_ABSENT;
}

/* The record is this replica's to write (it leads and sampled the pod),
 * and the cluster's copy differs. */
static bool needs_record(const struct gq_item *it)
{
    return it->record_own && it->record && strcmp(it->record, pc_record(it->pod)) != 0 &&
           !it->pod->deleting;
}

bool gq_needs(const struct gq_item *it, bool dry_run)
{
    enum pc_cond w = gq_want(it, dry_run);
    return (w != PC_COND_ABSENT && w != it->pod->cond) || needs_record(it);
}

void gq_item_init(struct gq_item *it) { memset(it, 0, sizeof *it); }

/* The pod's bookkeeping, made when it first has work: most pods never
 * need a write, and carry only a NULL pointer. */
static struct gq_work *work_of(struct gateq *q, struct gq_item *it)
{
    if (!it->w) {
        it->w = mb_xcalloc(1, sizeof *it->w);
        it->w->it = it;
        it->w->q = q;
        backoff_init(&it->w->bo, 200, 10000);
    }
    return it->w;
}

/* Nothing queued, in flight or waited for: the bookkeeping goes. */
static void work_done(struct gq_item *it)
{
    struct gq_work *w = it->w;
    if (w && !w->queued && !w->call) {
        mb_free(w);
        it->w = NULL;
    }
}

/* (unchanged text keeps its allocation: the planner sets the same
 * message on every sample of a throttled pod) */
void gq_set(char **field, const char *value)
{
    if (value && *value && *field && !strcmp(*field, value))
        return;
    MB_FREE(*field);
    if (value && *value)
        *field = mb_xstrdup(value);
}

void gq_item_cleanup(struct gq_item *it)
{
    if (!it)
        return;
    MB_FREE(it->cond_msg);
    MB_FREE(it->record);
}

/* Queue the pod once: a pod already queued, or with its write in flight,
 * is looked at again when it comes to the front or the answer comes. */
static void push(struct gateq *q, struct gq_item *it)
{
    struct gq_work *w = work_of(q, it);
    if (w->queued || w->call)
        return;
    w->queued = true;
    TAILQ_INSERT_TAIL(&q->queue, w, link);
    event_active(q->pump, EV_TIMEOUT, 0);
}

static void unqueue(struct gateq *q, struct gq_work *w)
{
    if (!w || !w->queued)
        return;
    TAILQ_REMOVE(&q->queue, w, link);
    w->queued = false;
}

static void count(struct gateq *q, const char *result)
{
    const char *v[] = {result};
    mx_add(q->m_patches, v, 1);
}

/* The PATCH answered: done (200), the pod gone (404), or a retry after
 * backoff. A 409 (the pod changed since the resourceVersion the write was
 * made from) is retried too, from the pod as the watch shows it by then. */
static void on_patched(void *arg, const struct kapi_resp *resp)
{
    struct gq_work *w = arg;
    struct gq_item *it = w->it;
    struct gateq *q = w->q;
    struct kobj_status st;
    mb_mono_ms now = q->clk->mono_ms(q->clk->ctx);
    w->call = 0;
    q->inflight--;
    if (resp->err == MB_OK && resp->status == 200) {
        count(q, "ok");
        log_info("condition set", "{s:s,s:s,s:s,s:s}", "namespace", it->pod->sh->ns, "pod",
                 it->pod->name, "condition", ANN_CONDITION, "status",
                 gq_want(it, q->dry_run) == PC_COND_FALSE ? "False" : "True");
        work_done(it);
    } else if (resp->err == MB_OK && resp->status == 404) {
        count(q, "gone");
        work_done(it);
    } else {
        kobj_status_from_body(resp->status, resp->body, resp->len, &st);
        count(q, resp->status == 409 ? "conflict" : "error");
        if (++w->attempts < MAX_GATE_ATTEMPTS) {
            uint64_t ms =
                backoff_next(&w->bo, backoff_rand(&q->rnd),
                             resp->retry_after_s > 0 ? (uint64_t)resp->retry_after_s * 1000 : 0);
            w->not_before = now + ms;
            log_limited(LOG_WARN, "pod condition patch failed, retrying", "{s:s,s:s,s:i,s:s,s:I}",
                        "namespace", it->pod->sh->ns, "pod", it->pod->name, "status",
                        (int)resp->status, "error", resp->err ? resp->errmsg : st.message,
                        "retry_ms", (json_int_t)ms);
            push(q, it);
        } else {
            log_error("pod condition patch failed, giving up until the pod changes",
                      "{s:s,s:s,s:i,s:s}", "namespace", it->pod->sh->ns, "pod", it->pod->name,
                      "status", (int)resp->status, "error", resp->err ? resp->errmsg : st.message);
            work_done(it);
        }
    }
    event_active(q->pump, EV_TIMEOUT, 0);
}

/* One strategic merge patch of the pod's status with what it needs: the
 * gate condition (when it differs, or alone when the record needs nothing)
 * and the record. Conditions merge by type, so other conditions stay. */
static void submit(struct gateq *q, struct gq_item *it, mb_wall_ms wall)
{
    char ts[32], path[512];
    enum pc_cond w = gq_want(it, q->dry_run);
    bool off = w == PC_COND_FALSE, rec = needs_record(it);
    kobj_format_time(wall, ts, sizeof ts);
    json_t *conds = json_array();
    if (w != PC_COND_ABSENT && (w != it->pod->cond || !rec))
        json_array_append_new(
            conds, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", ANN_CONDITION, "status",
                             off ? "False" : "True", "reason",
                             off ? "OverMemoryBudget" : "WithinBudget", "message",
                             off ? (it->cond_msg ? it->cond_msg : "membudget: over budget")
                                 : "membudget: usage within budget; traffic allowed",
                             "lastTransitionTime", ts));
    if (rec)
        json_array_append_new(
            conds, json_pack("{s:s,s:s,s:s,s:s,s:s}", "type", ANN_RECORD_CONDITION, "status",
                             strncmp(it->record, "tier=normal", 11) ? "True" : "False", "reason",
                             "MembudgetState", "message", it->record, "lastTransitionTime", ts));
    json_t *body = json_pack("{s:{s:o}}", "status", "conditions", conds);
    /* The precondition: the pod as this replica last saw it. A write held
     * by an API server that comes back late (or sent by a replica that has
     * lost its Lease since) is refused (409) once the pod has changed, for
     * instance by a newer leader's record, instead of landing over it; a
     * refused write is sent again from the pod the watch shows next. */
    if (*pc_rv(it->pod))
        json_object_set_new(body, "metadata",
                            json_pack("{s:s}", "resourceVersion", pc_rv(it->pod)));
    size_t len;
    char *text = mb_json_dumps(body, JSON_COMPACT, &len);
    json_decref(body);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/pods/%s/status", it->pod->sh->ns,
             it->pod->name);
    struct kapi_req req = {.method = "PATCH",
                           .path = path,
                           .content_type = "application/strategic-merge-patch+json",
                           .body = text,
                           .body_len = len};
    q->inflight++;
    it->w->call = kapi_submit(q->api, &req, on_patched, it->w);
    mb_free(text);
}

/* Run the queue front to back while slots are free; a pod in backoff is
 * skipped, not waited for. Also every 100 ms, so backoffs end on time. */
static void on_pump(evutil_socket_t fd, short what, void *arg)
{
    struct gateq *q = arg;
    mb_mono_ms now = q->clk->mono_ms(q->clk->ctx);
    mb_wall_ms wall = q->clk->wall_ms(q->clk->ctx);
    (void)fd;
    (void)what;
    if (!q->active || q->stopped || (q->fence && atomic_load(q->fence)))
        return;
    for (struct gq_work *w = TAILQ_FIRST(&q->queue), *next; w && q->inflight < q->max_inflight;
         w = next) {
        next = TAILQ_NEXT(w, link);
        if (w->not_before > now)
            continue;
        struct gq_item *it = w->it;
        unqueue(q, w);
        if (gq_needs(it, q->dry_run)) /* else changed meanwhile: nothing to do */
            submit(q, it, wall);
        else
            work_done(it);
    }
}

struct gateq *gq_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api, struct mx *mx,
                     const struct gq_conf *conf)
{
    static const char *const RL[] = {"result"};
    struct gateq *q = mb_xcalloc(1, sizeof *q);
    TAILQ_INIT(&q->queue);
    q->clk = clk;
    q->api = api;
    q->max_inflight = conf->max_inflight ? conf->max_inflight : 32;
    q->dry_run = conf->dry_run;
    q->fence = conf->fence;
    q->rnd = clk->mono_ns(clk->ctx) | 1;
    q->pump = event_new(loop_base(lp), -1, EV_PERSIST, on_pump, q);
    struct timeval tv = {0, 100000};
    event_add(q->pump, &tv);
    q->m_patches = mx_counter(mx, "membudget_condition_patches_total",
                              "Patches of membudget's pod conditions (within-budget, remediation), "
                              "by result.",
                              1, RL);
    return q;
}

void gq_check(struct gateq *q, struct gq_item *it)
{
    if (q->active && !q->stopped && gq_needs(it, q->dry_run))
        push(q, it);
}

void gq_forget(struct gateq *q, struct gq_item *it)
{
    struct gq_work *w = it->w;
    if (!w)
        return;
    unqueue(q, w);
    if (w->call) {
        kapi_cancel(q->api, w->call);
        w->call = 0;
        q->inflight--;
    }
    work_done(it);
}

void gq_set_active(struct gateq *q, bool active)
{
    q->active = active;
    if (active)
        q->stopped = false;
}

void gq_stop(struct gateq *q) { q->stopped = true; }

size_t gq_inflight(const struct gateq *q) { return q->inflight; }

bool gq_pending(const struct gq_item *it) { return it->w && (it->w->queued || it->w->call); }

void gq_free(struct gateq *q)
{
    if (!q)
        return;
    struct gq_work *w;
    while ((w = TAILQ_FIRST(&q->queue))) {
        struct gq_item *it = w->it;
        unqueue(q, w);
        work_done(it);
    }
    if (q->pump)
        event_free(q->pump);
    mb_free(q);
}
