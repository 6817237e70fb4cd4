/*
 * remedy.c -- the executor: samples in, the planner (planner.h) decides,
 * this file carries the plan out (condition, pod calls, profile file,
 * eviction under the limits, Events, metrics, logs) and feeds each result
 * back to the planner. Nothing here decides a threshold, a tier or a
 * retry time. Only the leader samples and acts.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/controller.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/podcall.h"
#include "membudget/profname.h"
#include "membudget/profstore.h"
#include "membudget/quantity.h"
#include "controller_int.h"

/* The pod for the recorder; its uid may be written into ub. */
static struct recorder_ref ref_of(const struct pc_pod *p, char ub[PC_UID_BUF])
{
    return (struct recorder_ref){p->sh->ns, p->name, pc_uid(p, ub)};
}

static mb_mono_ms mono(const struct controller *c)
{
    return c->clk->mono_ms(c->clk->ctx);
}

static mb_wall_ms wall(const struct controller *c)
{
    return c->clk->wall_ms(c->clk->ctx);
}

static void carry(struct controller *c, struct podstate *s, struct pl_plan *plan);

/* --- pod calls ---------------------------------------------------------------- */

/* Shutdown began: what is in flight finishes, nothing new starts (the next
 * leader will do it). */
static bool fenced(struct controller *c)
{
    return atomic_load(&c->fenced);
}

/* A forced GC (runtime.GC and debug.FreeOSMemory) of a heap of hundreds of
 * MiB takes longer than a scrape: cut at the scrape's timeout (800 ms at a
 * 1 s sampleInterval) the call "failed" while the pod went on collecting,
 * and the last-chance GC's pod was evicted on a figure read during it. */
#define GC_CALL_MIN_MS 10000

static uint64_t pod_post(struct controller *c, struct podstate *s, const char *key,
                         const char *body, kapi_done_fn *done)
{
    char why[256];
    if (fenced(c)) {
        log_debug("pod call not started: shutting down", "{s:s,s:s,s:s}", "namespace",
                  s->gq.pod->sh->ns, "pod", s->gq.pod->name, "endpoint", key);
        return 0;
    }
    struct podcall_req req = {.key = key,
                              .method = "POST",
                              .body = body,
                              .timeout_ms = (unsigned)c->cfg->usage.scrape_timeout_ms};
    if (!strcmp(key, "gc") && req.timeout_ms < GC_CALL_MIN_MS)
        req.timeout_ms = GC_CALL_MIN_MS;
    uint64_t id = podcall_submit(c->calls, s->gq.pod, &req, done, s, why, sizeof why);
    if (!id)
        log_limited(LOG_WARN, "pod endpoint refused", "{s:s,s:s,s:s,s:s}", "namespace", s->gq.pod->sh->ns, "pod",
                 s->gq.pod->name, "endpoint", key, "why", why);
    return id;
}

static bool resp_ok(const struct kapi_resp *r)
{
    return r->err == MB_OK && r->status >= 200 && r->status < 300;
}

static void on_gc(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    struct pl_plan plan;
    RUN(s)->gc_call = 0;
    bool ok = resp_ok(r);
    log_info(ok ? "gc forced" : "gc call failed", "{s:s,s:s,s:i,s:s}", "namespace", s->gq.pod->sh->ns,
             "pod", s->gq.pod->name, "status", (int)r->status, "error", r->err ? r->errmsg : "");
    pl_gc_done(s->pl, ok, mono(c), wall(c), &plan);
    carry(c, s, &plan);
}

static void on_throttle_ep(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct pl_plan plan;
    RUN(s)->thr_call = 0;
    bool ok = resp_ok(r);
    if (!ok)
        log_limited(LOG_WARN, "throttle endpoint call failed", "{s:s,s:s,s:i,s:s}", "namespace", s->gq.pod->sh->ns,
                 "pod", s->gq.pod->name, "status", (int)r->status, "error", r->err ? r->errmsg : "");
    pl_throttle_done(s->pl, ok, &plan);
    carry(RUN(s)->c, s, &plan);
}

/* contrib/go answers {"applied":N,"previous":M}: the pod's own word. */
static void on_memlimit(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    struct pl_plan plan;
    char err[200] = "";
    int64_t applied = 0, previous = 0;
    RUN(s)->ml_call = 0;
    bool ok = resp_ok(r);
    if (!ok) {
        snprintf(err, sizeof err, "%s", r->err ? r->errmsg : "");
        if (!r->err)
            snprintf(err, sizeof err, "HTTP %ld", r->status);
    } else {
        json_t *j = json_loadb(r->body, r->len, 0, NULL);
        json_t *a = json_object_get(j, "applied"), *pv = json_object_get(j, "previous");
        applied = json_is_integer(a) && json_integer_value(a) > 0 ? json_integer_value(a) : 0;
        previous = json_is_integer(pv) && json_integer_value(pv) > 0 ? json_integer_value(pv) : 0;
        json_decref(j);
    }
    log_info(ok ? "GOMEMLIMIT updated" : "GOMEMLIMIT update failed", "{s:s,s:s,s:I,s:I,s:s}",
             "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name, "applied", (json_int_t)applied,
             "previous", (json_int_t)previous, "error", err);
    pl_memlimit_done(s->pl, &c->pcf, ok, applied, previous, s->gq.pod->restarts, err, mono(c),
                     &plan);
    carry(c, s, &plan);
}

/* --- eviction ----------------------------------------------------------------- */

/* The uid of p's owner, or (its own owner) of p, which may be written into ub. */
static const char *owner_of(const struct pc_pod *p, char ub[PC_UID_BUF])
{
    return *p->sh->owner_uid ? p->sh->owner_uid : pc_uid(p, ub);
}

/* Another pod of p's owner is terminating: a replica is already going down
 * (maybe evicted by a leader before this one, whose slot died with it). */
static bool owner_terminating(const struct controller *c, const struct pc_pod *p)
{
    if (!*p->sh->owner_uid)
        return false;
    size_t pos = 0;
    const struct pc_pod *q;
    while ((q = pc_next(c->cache, &pos)))
        if (q != p && q->deleting && !strcmp(q->sh->owner_uid, p->sh->owner_uid))
            return true;
    return false;
}

static void on_evicted(void *arg, enum evict_result res, const char *msg)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    const struct pc_pod *p = s->gq.pod;
    struct pl_plan plan;
    RUN(s)->evict_call = 0;
    RUN(s)->evl_held = false;
    char ob[PC_UID_BUF], ub[PC_UID_BUF];
    evl_finished(&c->evl, owner_of(p, ob), res == EVICT_OK, pc_uid(p, ub), mono(c));
    if (res == EVICT_OK)
        log_info("pod evicted", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name, "owner",
                 *p->sh->owner_name ? p->sh->owner_name : "(none)");
    else if (res == EVICT_BLOCKED)
        log_warn("eviction blocked", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name, "reason",
                 msg);
    else if (res == EVICT_ERROR)
        log_warn("eviction failed", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name, "error",
                 msg);
    pl_evict_done(s->pl, SPEC(s), res, msg, p->ready, mono(c), backoff_rand(&c->rnd), &plan);
    carry(c, s, &plan);
}

/* The capture before an eviction: the heap profile, then the goroutine
 * dump, each written whole (profstore.h) under one stamp; then the
 * directory is kept under eviction.profileDirMaxBytes. Both together take
 * at most CAPTURE_MS: a pod near its limit whose endpoints hang delays its
 * own eviction by that much, never twice that. */
#define CAPTURE_MS 30000
#define CAPTURE_MIN_MS 1000 /* less left than this: the dump is skipped */

struct capture {
    mb_wall_ms at;
    mb_mono_ms deadline;
    enum prof_kind kind;                  /* the one under way */
    bool want[2];                         /* by enum prof_kind */
    char file[2][PROF_NAME_MAX];          /* "" until saved */
    char err[2][200];
    size_t bytes[2];
};

/* The annotation each kind is fetched from (target.h). */
static const char *const CAPTURE_KEY[] = {[PROF_HEAP] = "profile", [PROF_GOROUTINES] = "goroutines"};

static void capture_next(struct controller *c, struct podstate *s);

static void on_capture(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    const struct pc_pod *p = s->gq.pod;
    struct capture *cap = RUN(s)->cap;
    enum prof_kind k = cap->kind;
    char *file = cap->file[k], *err = cap->err[k];
    RUN(s)->prof_call = 0;
    if (r->err == MB_OK && r->status == 200 && r->len > 0) {
        struct mb_diag d = {0};
        prof_name(p->sh->ns, p->name, cap->at, k, file, PROF_NAME_MAX);
        if (ps_write(c->cfg->eviction.profile_dir, file, r->body, r->len, &d)) {
            snprintf(err, sizeof cap->err[k], "%.190s", d.msg);
            file[0] = '\0';
        } else {
            cap->bytes[k] = r->len;
        }
    } else if (r->err) {
        snprintf(err, sizeof cap->err[k], "%.190s", r->errmsg);
    } else {
        snprintf(err, sizeof cap->err[k], "HTTP %ld%s", r->status, r->status == 200 ? ", empty" : "");
    }
    static const char *const SAVED[] = {"heap profile captured", "goroutine dump captured"},
                             *const LOST[] = {"heap profile not captured; evicting anyway",
                                              "goroutine dump not captured; evicting anyway"};
    if (*file)
        log_info(SAVED[k], "{s:s,s:s,s:s,s:I}", "namespace", p->sh->ns, "pod", p->name, "file", file,
                 "bytes", (json_int_t)r->len);
    else
        log_warn(LOST[k], "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name, "error", err);
    cap->want[k] = false;
    capture_next(c, s);
}

/* Fetch what is still wanted (the heap profile first); when nothing is,
 * tell the planner what was saved. */
static void capture_next(struct controller *c, struct podstate *s)
{
    struct capture *cap = RUN(s)->cap;
    if (fenced(c)) {
        /* Shutting down: no further fetch, and no eviction after it
         * (attempt() refuses); the slot goes with the process. */
        log_info("capture stopped: shutting down; the next leader decides again", "{s:s,s:s}",
                 "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name);
        return;
    }
    if (cap->want[PROF_HEAP] || cap->want[PROF_GOROUTINES]) {
        char why[256];
        mb_mono_ms now = mono(c);
        cap->kind = cap->want[PROF_HEAP] ? PROF_HEAP : PROF_GOROUTINES;
        if (cap->deadline < now + CAPTURE_MIN_MS) {
            struct kapi_resp late = {.err = MB_ETIMEOUT,
                                     .errmsg = "no time left (the capture takes at most 30 s)"};
            on_capture(s, &late);
            return;
        }
        struct podcall_req req = {.key = CAPTURE_KEY[cap->kind],
                                  .method = "GET",
                                  .timeout_ms = (unsigned)(cap->deadline - now),
                                  .max_response = (size_t)c->cfg->eviction.profile_max_bytes};
        RUN(s)->prof_call = podcall_submit(c->calls, s->gq.pod, &req, on_capture, s, why, sizeof why);
        if (!RUN(s)->prof_call) {
            struct kapi_resp none = {.err = MB_EINVAL, .errmsg = why};
            on_capture(s, &none);
        }
        return;
    }
    struct pl_capture pc = {0};
    if (SPEC(s)->has_profile)
        pc = (struct pl_capture){.heap = cap->file[PROF_HEAP], .heap_err = cap->err[PROF_HEAP],
                                 .heap_bytes = cap->bytes[PROF_HEAP]};
    if (SPEC(s)->has_goroutines) {
        pc.gor = cap->file[PROF_GOROUTINES];
        pc.gor_err = cap->err[PROF_GOROUTINES];
        pc.gor_bytes = cap->bytes[PROF_GOROUTINES];
    }
    struct pl_plan plan;
    pl_profile_done(s->pl, &pc, wall(c), &plan);
    mb_free(RUN(s)->cap);
    RUN(s)->cap = NULL;
    profiles_enforce(c);
    carry(c, s, &plan);
}

static void start_capture(struct controller *c, struct podstate *s)
{
    struct capture *cap = RUN(s)->cap = mb_xcalloc(1, sizeof *cap);
    cap->at = wall(c);
    cap->deadline = mono(c) + CAPTURE_MS;
    cap->want[PROF_HEAP] = SPEC(s)->has_profile;
    cap->want[PROF_GOROUTINES] = SPEC(s)->has_goroutines;
    capture_next(c, s);
}

/* The plan asks for an attempt: the limits first (a slot is held from here
 * until the answer), then the profile when asked, then the Eviction. */
static void attempt(struct controller *c, struct podstate *s, bool profile)
{
    const struct pc_pod *p = s->gq.pod;
    mb_mono_ms now = mono(c);
    char ub[PC_UID_BUF];
    if (fenced(c)) {
        log_info("eviction not started: shutting down; the next leader decides again",
                 "{s:s,s:s}", "namespace", p->sh->ns, "pod", p->name);
        return;
    }
    if (!controller_synced(c)) {
        /* One eviction per owner needs the owner's other pods known: not
         * before the initial list is whole (a streamed list of 300k pods
         * delivers them for minutes before its end). */
        log_limited(LOG_INFO, "eviction deferred", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod",
                    p->name, "why", "the initial pod list is not complete");
        pl_evict_deferred(s->pl, now + 1000);
        return;
    }
    if (!RUN(s)->evl_held) {
        enum evl_verdict v = evl_check(&c->evl, owner_of(p, ub), now);
        if (v == EVL_OK && owner_terminating(c, p))
            v = EVL_OWNER;
        if (v != EVL_OK) {
            mx_add(c->m_rate_limited, NULL, 1);
            log_info("eviction deferred", "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name,
                     "why", evl_verdict_name(v));
            pl_evict_deferred(s->pl, now + 1000);
            return;
        }
        evl_started(&c->evl, owner_of(p, ub), now);
        RUN(s)->evl_held = true;
    }
    if (profile) {
        /* The capture is recorded first, as a GC is (remedy_intents). */
        if (!RUN(s)->prof_wait) {
            struct pl_plan r;
            RUN(s)->prof_wait = true;
            pl_profile_intent(s->pl, wall(c), &r);
            carry(c, s, &r);
        }
        remedy_intents(c, s);
        return;
    }
    struct recorder_ref ref = ref_of(p, ub);
    RUN(s)->evict_call = recorder_evict(c->rec, &ref, on_evicted, s);
}

/* --- the resize tier ------------------------------------------------------------ */

/* A resize under way: the PATCH of pods/NAME/resize; once the API server
 * took it, the kubelet's answer as the watch shows it (pc_pod.resize and
 * the spec's limit); then the budget annotation; then the planner is told.
 * The kubelet has RESIZE_WAIT_MS to run it: a pod over its budget does not
 * wait for a Deferred resize. One that was taken and is given up is
 * withdrawn (the old limit asked again): the kubelet retries a Deferred
 * resize whenever the node has room (seen on the test cluster), and would
 * otherwise raise the limit later with the budget left behind. */
#define RESIZE_WAIT_MS 60000

struct resizing {
    int64_t limit, budget, request;
    int64_t old_limit, old_request; /* what the spec had: the withdrawal asks for it again */
    char why[400];                  /* given up: why (told once the withdrawal answered) */
    uint64_t call;             /* the resize PATCH, then the budget's */
    bool accepted;             /* the API server took the resize: the watch tells the rest */
    bool budget_phase;         /* the kubelet runs it: the budget annotation is being written */
    uint32_t restarts;         /* the target's restartCount when it was asked */
    struct event *timer;
};

static void resize_give_up(struct controller *c, struct podstate *s, const char *why);
static json_t *resize_patch(const struct pc_pod *p, int64_t limit, int64_t request);

static void resize_free(struct controller *c, struct podrun *run)
{
    struct resizing *rz = run->rz;
    if (!rz)
        return;
    if (rz->call)
        recorder_cancel(c->rec, rz->call);
    if (rz->timer)
        event_free(rz->timer);
    mb_free(rz);
    run->rz = NULL;
}

/* Tell the planner; the resize is over. */
static void resize_end(struct controller *c, struct podstate *s, bool ok, const char *why,
                       const char *budget_err)
{
    struct resizing *rz = RUN(s)->rz;
    char w[sizeof rz->why], b[400];
    /* (copied: `why` may be rz's own, freed below) */
    snprintf(w, sizeof w, "%s", why ? why : "");
    snprintf(b, sizeof b, "%s", budget_err ? budget_err : "");
    why = w;
    budget_err = budget_err ? b : NULL;
    struct pl_resize_result r = {.ok = ok,
                                 .limit = rz->limit,
                                 .budget = rz->budget,
                                 .why = why,
                                 .budget_err = budget_err,
                                 .restarts_before = rz->restarts,
                                 .restarts_after = s->gq.pod->restarts};
    struct pl_plan plan;
    log_info(ok ? "resized" : "resize refused", "{s:s,s:s,s:I,s:I,s:s,s:s}", "namespace",
             s->gq.pod->sh->ns, "pod", s->gq.pod->name, "limit", (json_int_t)rz->limit, "budget",
             (json_int_t)rz->budget, "why", why ? why : "", "budget_error", budget_err ? budget_err : "");
    resize_free(c, RUN(s));
    pl_resize_done(s->pl, &r, &plan);
    carry(c, s, &plan);
}

/* "HTTP 403: its words", or the transport error alone (status 0). */
static const char *answer_text(long status, const char *msg, char *out, size_t len)
{
    if (status)
        snprintf(out, len, "HTTP %ld: %s", status, msg);
    else
        snprintf(out, len, "%s", msg);
    return out;
}

static void on_budget_patched(void *arg, long status, const char *msg)
{
    struct podstate *s = arg;
    char err[300];
    RUN(s)->rz->call = 0;
    if (status >= 200 && status < 300) {
        resize_end(RUN(s)->c, s, true, NULL, NULL);
        return;
    }
    resize_end(RUN(s)->c, s, true, NULL, answer_text(status, msg, err, sizeof err));
}

/* The kubelet runs the new limit: the budget follows (admission checks it
 * against the new limit; GOMEMLIMIT follows the budget through the watch,
 * remedy_check_container). */
static void resize_budget(struct controller *c, struct podstate *s)
{
    struct resizing *rz = RUN(s)->rz;
    const struct pc_pod *p = s->gq.pod;
    char ub[PC_UID_BUF], q[QTY_FMT_LEN];
    if (rz->timer)
        event_del(rz->timer);
    rz->budget_phase = true;
    if (fenced(c)) {
        resize_end(c, s, true, NULL, "not written: membudget is shutting down");
        return;
    }
    json_t *patch = json_pack("{s:{s:s,s:{s:s}}}", "metadata", "uid", pc_uid(p, ub), "annotations",
                              ANN_BUDGET, qty_format(rz->budget, q));
    struct recorder_ref ref = ref_of(p, ub);
    rz->call = recorder_patch_pod(c->rec, &ref, false, patch, on_budget_patched, s);
    json_decref(patch);
}

/* The watch changed the pod (or the PATCH was just taken): has the kubelet
 * answered? */
static void resize_watch(struct controller *c, struct podstate *s)
{
    struct resizing *rz = RUN(s)->rz;
    const struct pc_pod *p = s->gq.pod;
    char why[400];
    if (!rz->accepted || rz->budget_phase)
        return;
    switch ((enum pc_resize)p->resize) {
    case PC_RZ_NONE:
        if (p->sh->limit == rz->limit)
            resize_budget(c, s);
        return; /* (another limit in the spec: not ours yet, or someone else's; the timer ends it) */
    case PC_RZ_DEFERRED:
    case PC_RZ_INFEASIBLE:
    case PC_RZ_PENDING:
        snprintf(why, sizeof why, "the kubelet left it pending, %s: %s", pc_resize_name(p->resize),
                 *pc_resize_msg(p) ? pc_resize_msg(p) : "no message");
        resize_give_up(c, s, why);
        return;
    case PC_RZ_UNACTUATED:
    case PC_RZ_IN_PROGRESS:
        return;
    }
}

static void on_withdrawn(void *arg, long status, const char *msg)
{
    struct podstate *s = arg;
    struct resizing *rz = RUN(s)->rz;
    char q[QTY_FMT_LEN], ans[320];
    size_t n = strlen(rz->why);
    rz->call = 0;
    if (status >= 200 && status < 300)
        snprintf(rz->why + n, sizeof rz->why - n, "; withdrawn, the limit back to %s",
                 qty_format(rz->old_limit, q));
    else
        snprintf(rz->why + n, sizeof rz->why - n, "; withdrawing it failed (%s)",
                 answer_text(status, msg, ans, sizeof ans));
    resize_end(RUN(s)->c, s, false, rz->why, NULL);
}

/* Give up a resize the API server took: ask for the old limit again, then
 * tell the planner (on_withdrawn). */
static void resize_give_up(struct controller *c, struct podstate *s, const char *why)
{
    struct resizing *rz = RUN(s)->rz;
    const struct pc_pod *p = s->gq.pod;
    char ub[PC_UID_BUF];
    snprintf(rz->why, sizeof rz->why, "%s", why);
    if (rz->timer)
        event_del(rz->timer);
    rz->budget_phase = true; /* (the watch no longer decides) */
    if (fenced(c)) {
        size_t n = strlen(rz->why);
        snprintf(rz->why + n, sizeof rz->why - n, "; not withdrawn: membudget is shutting down");
        resize_end(c, s, false, rz->why, NULL);
        return;
    }
    json_t *patch = resize_patch(p, rz->old_limit, rz->request ? rz->old_request : 0);
    struct recorder_ref ref = ref_of(p, ub);
    rz->call = recorder_patch_pod(c->rec, &ref, true, patch, on_withdrawn, s);
    json_decref(patch);
}

static void on_resize_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct podstate *s = arg;
    char why[160];
    (void)fd;
    (void)what;
    snprintf(why, sizeof why, "the kubelet had not run it %d s after the API server took it (%s)",
             RESIZE_WAIT_MS / 1000, pc_resize_name(s->gq.pod->resize));
    resize_give_up(RUN(s)->c, s, why);
}

static void on_resize_patched(void *arg, long status, const char *msg)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    struct resizing *rz = RUN(s)->rz;
    char why[320];
    rz->call = 0;
    if (status < 200 || status >= 300) {
        /* e.g. 403 "node didn't have enough allocatable resources": the API
         * server refuses what can never fit the node */
        resize_end(c, s, false, answer_text(status, msg, why, sizeof why), NULL);
        return;
    }
    rz->accepted = true;
    rz->timer = event_new(loop_base(c->lp), -1, 0, on_resize_timeout, s);
    struct timeval tv = {RESIZE_WAIT_MS / 1000, 0};
    event_add(rz->timer, &tv);
    resize_watch(c, s); /* the watch may have shown it already */
}

/* The strategic merge patch of pods/NAME/resize: the target container's
 * memory limit, and its request when `request` (0: left alone). */
static json_t *resize_patch(const struct pc_pod *p, int64_t limit, int64_t request)
{
    char ub[PC_UID_BUF], ql[QTY_FMT_LEN], qr[QTY_FMT_LEN];
    json_t *res = json_pack("{s:{s:s}}", "limits", "memory", qty_format(limit, ql));
    if (request)
        json_object_set_new(res, "requests", json_pack("{s:s}", "memory", qty_format(request, qr)));
    return json_pack("{s:{s:s},s:{s:[{s:s,s:o}]}}", "metadata", "uid", pc_uid(p, ub), "spec",
                     p->sh->sidecar ? "initContainers" : "containers", "name", p->sh->container,
                     "resources", res);
}

/* plan.resize: PATCH pods/NAME/resize, the target container's memory limit
 * (and a Guaranteed pod's request with it). */
static void resize_start(struct controller *c, struct podstate *s, const struct pl_plan *plan)
{
    const struct pc_pod *p = s->gq.pod;
    char ub[PC_UID_BUF], why[160];
    struct resizing *rz = RUN(s)->rz = mb_xcalloc(1, sizeof *rz);
    rz->limit = plan->resize_limit;
    rz->budget = plan->resize_budget;
    rz->request = plan->resize_request;
    rz->old_limit = p->sh->limit;
    rz->old_request = p->sh->request;
    rz->restarts = p->restarts;
    if (fenced(c) || p->resize != PC_RZ_NONE) {
        /* shutting down: the next leader decides again; a resize someone
         * else started: its outcome is not ours to wait for */
        if (fenced(c))
            snprintf(why, sizeof why, "not asked: membudget is shutting down");
        else
            snprintf(why, sizeof why, "not asked: a resize is already under way (%s)",
                     pc_resize_name(p->resize));
        resize_end(c, s, false, why, NULL);
        return;
    }
    json_t *patch = resize_patch(p, rz->limit, rz->request);
    struct recorder_ref ref = ref_of(p, ub);
    rz->call = recorder_patch_pod(c->rec, &ref, true, patch, on_resize_patched, s);
    json_decref(patch);
}

/* --- carrying out a plan ------------------------------------------------------ */

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct podstate *s = arg;
    struct pl_plan plan;
    (void)fd;
    (void)what;
    if (!s->pl || !RUN(s)->c->leader)
        return;
    pl_retry(s->pl, &RUN(s)->c->pcf, SPEC(s), mono(RUN(s)->c), &plan);
    carry(RUN(s)->c, s, &plan);
}

static void carry(struct controller *c, struct podstate *s, struct pl_plan *plan)
{
    const struct pc_pod *p = s->gq.pod;
    char ub[PC_UID_BUF];
    struct recorder_ref ref = ref_of(p, ub);
    const char *lv[] = {p->sh->ns, p->name};
    if (plan->changed) {
        const char *v[] = {brk_tier_name(plan->to)};
        mx_add(c->m_transitions, v, 1);
        log_info("tier", "{s:s,s:s,s:s,s:s,s:f,s:b}", "namespace", p->sh->ns, "pod", p->name, "from",
                 brk_tier_name(plan->from), "to", brk_tier_name(plan->to), "percent",
                 s->pl->percent, "dryRun", plan->dry);
    }
    if (plan->ratio_set)
        mx_set(c->m_ratio, lv, plan->ratio);
    if (plan->leak >= 0)
        mx_set(c->m_leak, lv, plan->leak);
    if (plan->gc_freed_set) {
        mx_observe(c->m_gc_freed, NULL, plan->gc_freed);
        log_info("gc result", "{s:s,s:s,s:I,s:I,s:f}", "namespace", p->sh->ns, "pod", p->name,
                 "before_bytes", (json_int_t)s->pl->gc_before, "after_bytes",
                 (json_int_t)s->pl->usage, "percent_after", s->pl->percent);
    }
    if (plan->leak_reported)
        log_warn("leak suspected", "{s:s,s:s,s:f}", "namespace", p->sh->ns, "pod", p->name,
                 "slope_per_min", plan->leak_slope);
    if (plan->gc_share_set)
        mx_set(c->m_gc_share, lv, plan->gc_share);
    if (plan->thrashing >= 0) {
        mx_set(c->m_thrashing, lv, plan->thrashing);
        log_info(plan->thrashing ? "gc thrashing" : "gc thrashing ended", "{s:s,s:s,s:f}",
                 "namespace", p->sh->ns, "pod", p->name, "gc_share", s->pl->gc_share);
    }
    if (plan->oom)
        insight_oom(c, p, plan->oom_reason);
    for (size_t i = 0; i < plan->nact; i++) {
        const char *v[] = {plan->act[i].action, plan->act[i].result};
        mx_add(c->m_actions, v, 1);
    }
    for (size_t i = 0; i < plan->nev; i++)
        recorder_event(c->rec, &ref, plan->ev[i].warning ? "Warning" : "Normal",
                       plan->ev[i].reason, "%s", plan->ev[i].msg);
    if (plan->throttle_changed) {
        s->gq.throttled = plan->throttled;
        gq_set(&s->gq.cond_msg, plan->cond_msg);
    }
    if (plan->record_changed) {
        struct pl_record r;
        char rec[GQ_RECORD_MAX];
        pl_record_of(s->pl, &r);
        pl_record_format(&r, rec, sizeof rec);
        gq_set(&s->gq.record, rec);
    }
    if (plan->throttle_changed || plan->record_changed)
        gq_check(c->gq, &s->gq);
    if (plan->call_throttle) {
        if (RUN(s)->thr_call)
            podcall_cancel(c->calls, RUN(s)->thr_call);
        RUN(s)->thr_call = pod_post(c, s, "throttle",
                               plan->throttle_on ? "{\"throttle\":true}" : "{\"throttle\":false}",
                               on_throttle_ep);
        if (!RUN(s)->thr_call) {
            struct pl_plan r;
            pl_throttle_done(s->pl, false, &r);
            carry(c, s, &r);
        }
    }
    if (plan->call_gc && !RUN(s)->gc_call && !RUN(s)->gc_wait) {
        /* The record says it first; the GC is forced once the cluster
         * holds that record (remedy_intents, from the watch). */
        struct pl_plan r;
        RUN(s)->gc_wait = true;
        pl_gc_intent(s->pl, wall(c), &r);
        carry(c, s, &r);
        remedy_intents(c, s);
    }
    if (plan->call_memlimit && !RUN(s)->ml_call) {
        char body[32];
        snprintf(body, sizeof body, "%lld", (long long)plan->memlimit);
        RUN(s)->ml_call = pod_post(c, s, "memlimit", body, on_memlimit);
        if (!RUN(s)->ml_call) {
            struct pl_plan r;
            pl_memlimit_done(s->pl, &c->pcf, false, 0, 0, p->restarts, "no call: see the log",
                             mono(c), &r);
            carry(c, s, &r);
        }
    }
    if (plan->evict)
        attempt(c, s, plan->capture_profile);
    if (plan->resize && !RUN(s)->rz)
        resize_start(c, s, plan);
    mb_mono_ms w = pl_wake(s->pl), now = mono(c);
    if (w) {
        if (!RUN(s)->wake)
            RUN(s)->wake = event_new(loop_base(c->lp), -1, 0, on_wake, s);
        uint64_t ms = w > now ? w - now : 0;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        event_add(RUN(s)->wake, &tv);
    }
}

/* --- samples ------------------------------------------------------------------ */

/* This replica's planner state for s: created on the first sample after it
 * became leader, continuing from what the cluster holds (the record, and
 * the within-budget condition). */
static struct pl_pod *planner_of(struct controller *c, struct podstate *s)
{
    if (s->pl)
        return s->pl;
    struct podrun *run = mb_xcalloc(1, sizeof *run);
    run->c = c;
    s->pl = &run->pl;
    pl_init(s->pl);
    struct pl_record r;
    bool have = pl_record_parse(pc_record(s->gq.pod), &r);
    if (!have && s->gq.throttled) {
        /* Throttled by a leader that left no record: continue throttled,
         * and let the breaker recover it. */
        r = (struct pl_record){.tier = BRK_THROTTLE};
        have = true;
    }
    if (have) {
        pl_resume(s->pl, &c->pcf, SPEC(s), &r, mono(c), wall(c));
        log_info("resuming from the cluster's record", "{s:s,s:s,s:s,s:b}", "namespace",
                 s->gq.pod->sh->ns, "pod", s->gq.pod->name, "record", pc_record(s->gq.pod), "throttled",
                 s->gq.throttled);
    }
    s->gq.throttled = pl_throttled(s->pl);
    gq_set(&s->gq.record, pc_record(s->gq.pod));
    s->gq.record_own = true;
    return s->pl;
}

/* --- intent before action ------------------------------------------------------ */

/* How long an intent may wait for the cluster's record to hold it: past
 * it, the action is not taken (its record could not be written: the next
 * leader must not find an action it does not know of). On the wall clock,
 * as the record's times are. */
#define INTENT_MAX_MS 30000

static void force_gc(struct controller *c, struct podstate *s)
{
    pl_gc_forcing(s->pl, mono(c));
    RUN(s)->gc_call = pod_post(c, s, "gc", "", on_gc);
    if (!RUN(s)->gc_call) {
        struct pl_plan r;
        pl_gc_done(s->pl, false, mono(c), wall(c), &r);
        carry(c, s, &r);
    }
}

void remedy_intents(struct controller *c, struct podstate *s)
{
    if (!s->pl || !c->leader)
        return;
    struct podrun *run = RUN(s);
    const char *rec = pc_record(s->gq.pod);
    mb_wall_ms now = wall(c);
    if (run->gc_wait && pl_record_holds(rec, false, s->pl->last_gc_wall)) {
        run->gc_wait = false;
        force_gc(c, s);
    } else if (run->gc_wait && now > s->pl->last_gc_wall + INTENT_MAX_MS) {
        struct pl_plan r;
        run->gc_wait = false;
        log_limited(LOG_WARN, "gc not forced: its record could not be written", "{s:s,s:s,s:i}",
                    "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name, "waited_ms",
                    INTENT_MAX_MS);
        pl_gc_done(s->pl, false, mono(c), now, &r);
        carry(c, s, &r);
    }
    if (!s->pl)
        return;
    if (run->prof_wait && pl_record_holds(rec, true, s->pl->profile_at)) {
        run->prof_wait = false;
        start_capture(c, s);
    } else if (run->prof_wait && now > s->pl->profile_at + INTENT_MAX_MS) {
        /* Not captured; the eviction goes on (it asks the API server too). */
        struct pl_plan r;
        struct pl_capture cap = {.heap_err = "not captured: its record could not be written"};
        run->prof_wait = false;
        log_limited(LOG_WARN, "profile not captured: its record could not be written",
                    "{s:s,s:s,s:i}", "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name,
                    "waited_ms", INTENT_MAX_MS);
        pl_profile_done(s->pl, &cap, now, &r);
        carry(c, s, &r);
    }
}

static void on_sample(void *ctx, struct pc_pod *p, const struct smp_result *r)
{
    struct controller *c = ctx;
    struct podstate *s = p->user;
    struct pl_plan plan;
    if (!s || !c->leader || SPEC(s)->budget <= 0)
        return;
    struct pl_sample smp = {.ok = r->ok,
                            .usage = r->usage,
                            .taken = r->taken,
                            .has_goroutines = r->has_goroutines,
                            .goroutines = r->goroutines,
                            .has_gc_cpu = r->has_gc_cpu,
                            .gc_cpu_s = r->gc_cpu_s,
                            .total_cpu_s = r->total_cpu_s,
                            .heap_alloc = r->heap_alloc,
                            .next_gc = r->next_gc,
                            .gomemlimit = r->gomemlimit,
                            .err = r->err};
    struct pl_pod *pp = planner_of(c, s);
    remedy_intents(c, s); /* (an intent the record never held: given up) */
    if (!s->pl)
        return;
    pl_step(pp, &c->pcf, SPEC(s), &smp, mono(c), &plan);
    carry(c, s, &plan);
    if (r->ok)
        insight_sample(c, s, r, plan.gc_freed_set);
    if (s->pl && (s->pl->ml_val || s->pl->ml_want))
        remedy_check_container(c, s, 0); /* the pod answers: a pending GOMEMLIMIT can go */
}

/* The pod's container changed, or this replica began to lead: an OOM kill
 * the record has not counted, and a GOMEMLIMIT the budget left behind. */
void remedy_check_container(struct controller *c, struct podstate *s, int64_t old_budget)
{
    const struct pc_pod *p = s->gq.pod;
    struct pl_plan plan;
    if (!c->leader || !gov_has(c, p->sh->ns))
        return;
    if (s->pl && RUN(s)->rz)
        resize_watch(c, s);
    /* What was counted and applied: this replica's planner state, or else
     * the record in the cluster (no planner state is made to read it). */
    struct pl_record rec = {0};
    if (s->pl)
        pl_record_of(s->pl, &rec);
    else
        pl_record_parse(pc_record(p), &rec); /* none (or not ours): rec stays empty */
    if (pl_oom_new(&rec, p->restarts, p->last_oom)) {
        struct pl_oom o = {p->restarts, p->last_term_at, p->last_exit, p->sh->container};
        pl_oom(planner_of(c, s), &c->pcf, SPEC(s), &o, mono(c), wall(c), &plan);
        carry(c, s, &plan);
    }
    /* GOMEMLIMIT: only when something could be stale (a budget change, or
     * a value membudget applied or is applying). */
    if (SPEC(s)->budget > 0 && (old_budget > 0 || rec.memlimit > 0 || (s->pl && s->pl->ml_want))) {
        struct pl_ml_in in = {old_budget, p->sh->gomemlimit, p->restarts,
                              !strcmp(p->phase, "Running") && *pc_ip(p) && !p->deleting};
        pl_memlimit(planner_of(c, s), &c->pcf, SPEC(s), &in, mono(c), &plan);
        carry(c, s, &plan);
    }
}

static bool want_sample(void *ctx, const struct pc_pod *p, enum ann_usage *usage)
{
    struct controller *c = ctx;
    const struct podstate *s = p->user;
    if (!c->leader || !s || SPEC(s)->budget <= 0 || p->deleting || strcmp(p->phase, "Running") != 0 ||
        !*pc_ip(p) || !gov_has(c, p->sh->ns))
        return false;
    *usage = SPEC(s)->usage;
    return true;
}

static void on_cycle(void *ctx, unsigned pods, unsigned stale, uint64_t ms)
{
    (void)ctx;
    log_debug("sample cycle", "{s:i,s:i,s:I}", "pods", (int)pods, "stale", (int)stale,
              "duration_ms", (json_int_t)ms);
}

/* --- lifecycle ---------------------------------------------------------------- */

void remedy_init(struct controller *c, struct loop *lp)
{
    static const char *const L1[] = {"tier"}, *const L2[] = {"action", "result"},
                             *const LP[] = {"namespace", "pod"};
    struct smp_conf sc = {
        .interval_ms = c->cfg->sample_interval_ms,
        .force_scrape = c->cfg->usage.source == CFG_SOURCE_SCRAPE,
        .force_metrics_api = c->cfg->usage.source == CFG_SOURCE_METRICS_API,
    };
    const char *nsv[256];
    if (c->explicit_ns) {
        for (size_t i = 0; i < c->ngoverned && i < 256; i++)
            nsv[i] = c->governed[i];
        sc.namespaces = nsv;
        sc.nnamespaces = c->ngoverned < 256 ? c->ngoverned : 256;
    }
    pl_conf_from_cfg(c->cfg, c->dry_run, &c->pcf);
    c->sampler = smp_new(lp, c->clk, c->api, c->calls, c->cache, c->mx, &sc, want_sample,
                         on_sample, on_cycle, c);
    evl_init(&c->evl, c->cfg->eviction.max_per_minute, c->cfg->eviction.per_owner_in_flight,
             c->cfg->eviction.owner_settle_timeout_ms);
    c->m_transitions = mx_counter(c->mx, "membudget_tier_transitions_total",
                                  "Pods entering a tier, by the tier entered.", 1, L1);
    c->m_actions = mx_counter(c->mx, "membudget_actions_total",
                              "Remediation actions, by action and result.", 2, L2);
    c->m_ratio = mx_gauge(c->mx, "membudget_pod_usage_ratio",
                          "Last fresh usage / budget per pod.", 2, LP);
    c->m_in_tier = mx_gauge(c->mx, "membudget_pods_in_tier",
                            "Pods in each tier now (on the leader; 0 elsewhere).", 1, L1);
    c->m_rate_limited = mx_counter(c->mx, "membudget_evictions_rate_limited_total",
                                   "Eviction attempts deferred by the rate limit or the owner's "
                                   "slot.", 0, NULL);
    c->m_owner_slots = mx_gauge(c->mx, "membudget_eviction_owner_slots",
                                "Owners holding an eviction slot (under way, or waiting for the "
                                "pod to go and a replica to be Ready).", 0, NULL);
    static const double FREED[] = {0, 1 << 20, 8 << 20, 64 << 20, 256 << 20, 1 << 30};
    c->m_gc_freed = mx_histogram(c->mx, "membudget_gc_freed_bytes",
                                 "Usage before a forced GC minus usage at the next sample.", 0,
                                 NULL, FREED, MB_ARRAY_LEN(FREED));
    c->m_gc_share = mx_gauge(c->mx, "membudget_pod_gc_cpu_share",
                             "Share of a Go target's CPU spent in GC between its last two "
                             "scrapes (runtime/metrics counters), 0..1.", 2, LP);
    c->m_thrashing = mx_gauge(c->mx, "membudget_gc_thrashing",
                              "1 while a pod's GC share stays above gcThrash.percent.", 2, LP);
    c->m_leak = mx_gauge(c->mx, "membudget_leak_suspected",
                         "1 while a pod's usage rises steadily (least squares over the window).",
                         2, LP);
}

/* membudget_pods_in_tier{tier}: how many pods sit in each tier now. */
void remedy_collect(struct controller *c)
{
    double n[BRK_NTIERS] = {0};
    size_t pos = 0;
    struct pc_pod *p;
    while ((p = pc_next(c->cache, &pos))) {
        const struct podstate *s = p->user;
        if (s && s->pl && s->pl->sampled)
            n[pl_tier(s->pl)]++;
    }
    for (int t = 0; t < BRK_NTIERS; t++) {
        const char *v[] = {brk_tier_name((enum brk_tier)t)};
        mx_set(c->m_in_tier, v, c->leader ? n[t] : 0);
    }
    mx_set(c->m_owner_slots, NULL, c->leader ? (double)evl_held(&c->evl) : 0);
    insight_collect(c);
}

void remedy_start(struct controller *c)
{
    smp_start(c->sampler);
}

void remedy_stop(struct controller *c)
{
    smp_stop(c->sampler);
}

/* Let go of s's planner state and what is under way for it. `gone`: the
 * pod left the API (its metrics series go too). */
void remedy_pod_gone(struct controller *c, struct podstate *s, bool gone)
{
    struct podrun *run = RUN(s);
    char ob[PC_UID_BUF], ub[PC_UID_BUF];
    if (run) {
        if (run->gc_call)
            podcall_cancel(c->calls, run->gc_call);
        if (run->thr_call)
            podcall_cancel(c->calls, run->thr_call);
        if (run->prof_call)
            podcall_cancel(c->calls, run->prof_call);
        mb_free(run->cap);
        if (run->evict_call)
            recorder_cancel(c->rec, run->evict_call);
        if (run->ml_call)
            podcall_cancel(c->calls, run->ml_call);
        resize_free(c, run);
        if (run->evl_held && s->gq.pod)
            evl_finished(&c->evl, owner_of(s->gq.pod, ob), false, pc_uid(s->gq.pod, ub), mono(c));
        if (run->wake)
            event_free(run->wake);
    }
    if (gone && s->gq.pod) {
        const char *v[] = {s->gq.pod->sh->ns, s->gq.pod->name};
        mx_delete(c->m_ratio, v);
        mx_delete(c->m_leak, v);
        mx_delete(c->m_gc_share, v);
        mx_delete(c->m_thrashing, v);
        if (evl_pod_gone(&c->evl, pc_uid(s->gq.pod, ub)))
            log_info("eviction slot released: the pod is gone and its owner is Ready",
                     "{s:s,s:s}", "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name);
    }
    pl_cleanup(s->pl);
    mb_free(run); /* with the planner's state, its first member */
    s->pl = NULL;
    s->gq.record_own = false;
    gq_set(&s->gq.record, NULL);
}

/* A pod of p's owner became Ready (the owner's slot may settle). */
void remedy_pod_ready(struct controller *c, const struct pc_pod *p)
{
    char ub[PC_UID_BUF];
    if (*p->sh->owner_uid && evl_owner_ready(&c->evl, p->sh->owner_uid, pc_uid(p, ub)))
        log_info("eviction slot released: the pod is gone and its owner is Ready",
                 "{s:s,s:s,s:s}", "namespace", p->sh->ns, "owner", p->sh->owner_name, "ready", p->name);
}

/* Leadership lost: what this replica planned is the new leader's now. */
void remedy_reset(struct controller *c)
{
    size_t pos = 0;
    struct pc_pod *p;
    while ((p = pc_next(c->cache, &pos)))
        if (p->user)
            remedy_pod_gone(c, p->user, false);
    evl_cleanup(&c->evl);
    evl_init(&c->evl, c->cfg->eviction.max_per_minute, c->cfg->eviction.per_owner_in_flight,
             c->cfg->eviction.owner_settle_timeout_ms);
    insight_reset(c);
}

void remedy_cleanup(struct controller *c)
{
    smp_free(c->sampler);
    c->sampler = NULL;
    evl_cleanup(&c->evl);
}

json_t *remedy_pod_json(const struct podstate *s)
{
    return s->pl ? pl_pod_json(s->pl) : NULL;
}
