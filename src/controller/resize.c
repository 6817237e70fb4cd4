/*
 * resize.c -- the resize tier, carried out (shell; see remedy_int.h). The
 * planner decides a step (src/planner/resize.c: plan.resize); this file
 * PATCHes pods/NAME/resize, follows the kubelet's answer through the pod
 * watch, writes the budget annotation once the new limit runs (GOMEMLIMIT
 * follows the budget, remedy_check_container), withdraws a resize it gives
 * up, and tells the planner (pl_resize_done).
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/quantity.h"
#include "remedy_int.h"

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
    uint64_t call;                  /* the resize PATCH, then the budget's */
    bool accepted;                  /* the API server took the resize: the watch tells the rest */
    bool budget_phase; /* the kubelet runs it: the budget annotation is being written */
    uint32_t restarts; /* the target's restartCount when it was asked */
    struct event *timer;
};

static void resize_give_up(struct controller *c, struct podstate *s, const char *why,
                           struct rm_now now);
static json_t *resize_patch(const struct pc_pod *p, int64_t limit, int64_t request);

void resize_free(struct controller *c, struct podrun *run)
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
                       const char *budget_err, struct rm_now now)
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
             (json_int_t)rz->budget, "why", why ? why : "", "budget_error",
             budget_err ? budget_err : "");
    resize_free(c, RUN(s));
    pl_resize_done(s->pl, &r, &plan);
    remedy_carry(c, s, &plan, now);
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
    struct controller *c = RUN(s)->c;
    char err[300];
    RUN(s)->rz->call = 0;
    if (status >= 200 && status < 300) {
        resize_end(c, s, true, NULL, NULL, rm_now(c));
        return;
    }
    resize_end(c, s, true, NULL, answer_text(status, msg, err, sizeof err), rm_now(c));
}

/* The kubelet runs the new limit: the budget follows (admission checks it
 * against the new limit; GOMEMLIMIT follows the budget through the watch,
 * remedy_check_container). */
static void resize_budget(struct controller *c, struct podstate *s, struct rm_now now)
{
    struct resizing *rz = RUN(s)->rz;
    const struct pc_pod *p = s->gq.pod;
    char ub[PC_UID_BUF], q[QTY_FMT_LEN];
    if (rz->timer)
        event_del(rz->timer);
    rz->budget_phase = true;
    if (rm_fenced(c)) {
        resize_end(c, s, true, NULL, "not written: membudget is shutting down", now);
        return;
    }
    json_t *patch = json_pack("{s:{s:s,s:{s:s}}}", "metadata", "uid", pc_uid(p, ub), "annotations",
                              ANN_BUDGET, qty_format(rz->budget, q));
    struct recorder_ref ref = rm_ref_of(p, ub);
    rz->call = recorder_patch_pod(c->rec, &ref, false, patch, on_budget_patched, s);
    json_decref(patch);
}

/* The watch changed the pod (or the PATCH was just taken). */
void resize_watch(struct controller *c, struct podstate *s, struct rm_now now)
{
    struct resizing *rz = RUN(s)->rz;
    const struct pc_pod *p = s->gq.pod;
    char why[400];
    if (!rz->accepted || rz->budget_phase)
        return;
    switch ((enum pc_resize)p->resize) {
    case PC_RZ_NONE:
        if (p->sh->limit == rz->limit)
            resize_budget(c, s, now);
        return; /* (another limit in the spec: not ours yet, or someone else's; the timer ends it)
                 */
    case PC_RZ_DEFERRED:
    case PC_RZ_INFEASIBLE:
    case PC_RZ_PENDING:
        snprintf(why, sizeof why, "the kubelet left it pending, %s: %s", pc_resize_name(p->resize),
                 *pc_resize_msg(p) ? pc_resize_msg(p) : "no message");
        resize_give_up(c, s, why, now);
        return;
    case PC_RZ_UNACTUATED:
    case PC_RZ_IN_PROGRESS:
        return;
    }
}

static void on_withdrawn(void *arg, long status, const char *msg)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
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
    resize_end(c, s, false, rz->why, NULL, rm_now(c));
}

/* Give up a resize the API server took: ask for the old limit again, then
 * tell the planner (on_withdrawn). */
static void resize_give_up(struct controller *c, struct podstate *s, const char *why,
                           struct rm_now now)
{
    struct resizing *rz = RUN(s)->rz;
    const struct pc_pod *p = s->gq.pod;
    char ub[PC_UID_BUF];
    snprintf(rz->why, sizeof rz->why, "%s", why);
    if (rz->timer)
        event_del(rz->timer);
    rz->budget_phase = true; /* (the watch no longer decides) */
    if (rm_fenced(c)) {
        size_t n = strlen(rz->why);
        snprintf(rz->why + n, sizeof rz->why - n, "; not withdrawn: membudget is shutting down");
        resize_end(c, s, false, rz->why, NULL, now);
        return;
    }
    json_t *patch = resize_patch(p, rz->old_limit, rz->request ? rz->old_request : 0);
    struct recorder_ref ref = rm_ref_of(p, ub);
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
    resize_give_up(RUN(s)->c, s, why, rm_now(RUN(s)->c));
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
        resize_end(c, s, false, answer_text(status, msg, why, sizeof why), NULL, rm_now(c));
        return;
    }
    rz->accepted = true;
    rz->timer = event_new(loop_base(c->lp), -1, 0, on_resize_timeout, s);
    struct timeval tv = {RESIZE_WAIT_MS / 1000, 0};
    event_add(rz->timer, &tv);
    resize_watch(c, s, rm_now(c)); /* the watch may have shown it already */
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
void resize_start(struct controller *c, struct podstate *s, const struct pl_plan *plan,
                  struct rm_now now)
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
    if (rm_fenced(c) || p->resize != PC_RZ_NONE) {
        /* shutting down: the next leader decides again; a resize someone
         * else started: its outcome is not ours to wait for */
        if (rm_fenced(c))
            snprintf(why, sizeof why, "not asked: membudget is shutting down");
        else
            snprintf(why, sizeof why, "not asked: a resize is already under way (%s)",
                     pc_resize_name(p->resize));
        resize_end(c, s, false, why, NULL, now);
        return;
    }
    json_t *patch = resize_patch(p, rz->limit, rz->request);
    struct recorder_ref ref = rm_ref_of(p, ub);
    rz->call = recorder_patch_pod(c->rec, &ref, true, patch, on_resize_patched, s);
    json_decref(patch);
}
