/*
 * capture.c -- captures (shell; see remedy_int.h): the pod's heap profile,
 * then its goroutine dump, fetched from the endpoints its annotations
 * declare (podcall.h: its own IP, a declared port, no redirects, bounded
 * reads), written whole under one stamp: into the profile directory
 * (profiles.store: local) or the outbox that delivers them to the bucket
 * (s3: outbox.h), with the object key and metadata (why, tier, usage,
 * budget). Then the analysis (forensics.h, on its own thread): the heap
 * profile against the pod's previous one, the dump grouped.
 *
 * Two kinds, one path:
 *   baseline   on the first signal (the planner's plan.baseline: the first
 *              throttle, a leak, goroutines, GC thrash, the pod's period);
 *              the Events that wait for it (the leak's, the goroutines')
 *              go out with what the analysis found
 *   eviction   before an eviction (plan.capture_profile), as before: what
 *              was saved, or why not, goes back to the planner
 *              (pl_profile_done), whose plan carries the eviction on. A
 *              capture that fails never holds an eviction back, and the
 *              whole capture, analysis included, takes at most CAPTURE_MS.
 *
 * At most profiles.maxInFlight captures are under way in the cluster (this
 * leader's); a baseline past it is skipped, an eviction's goes without.
 */
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/controller.h"
#include "membudget/forensics.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/outbox.h"
#include "membudget/podcall.h"
#include "membudget/profname.h"
#include "membudget/profstore.h"
#include "remedy_int.h"

#define CAPTURE_MS 30000
#define CAPTURE_MIN_MS 1000 /* less left than this: the dump is skipped */

/* The pod's captures: the one under way, and what the last ones said.
 * Made at the first capture, freed with the podrun (capture_free). */
struct capture {
    bool active;
    bool then_evict;    /* an eviction asked for while a baseline ran: it is the eviction's */
    const char *reason; /* static: "throttle"... or "evict" */
    mb_wall_ms at;
    mb_mono_ms deadline;
    enum prof_kind kind;         /* the one under way */
    bool want[2];                /* by enum prof_kind */
    char file[2][PROF_NAME_MAX]; /* "" until saved */
    char err[2][200];
    size_t bytes[2];
    uint64_t job;        /* the analysis asked for; 0 none */
    struct event *timer; /* the analysis's deadline */
    struct pl_event held[PL_MAX_EVENTS];
    size_t nheld;
    char *growth, *gtop; /* what the last analysis found (NULL: nothing) */
    char *growth_err;    /* why the last had no growth line */
};

/* The annotation each kind is fetched from (target.h). */
static const char *const CAPTURE_KEY[] = {
    [PROF_HEAP] = "profile", [PROF_GOROUTINES] = "goroutines"};

static void capture_next(struct controller *c, struct podstate *s, struct rm_now now);
static void capture_finish(struct controller *c, struct podstate *s, struct rm_now now);

static void count(struct controller *c, const char *reason, const char *result)
{
    mx_add(c->rm.m_captures, (const char *[]){reason, result}, 1);
}

/* --- writing: the directory, or the outbox ------------------------------------ */

static mb_err store_write(struct controller *c, struct podstate *s, enum prof_kind k,
                          const void *body, size_t len, struct mb_diag *d)
{
    const struct pc_pod *p = s->gq.pod;
    struct capture *cap = RUN(s)->cap;
    char *file = cap->file[k];
    prof_name(p->sh->ns, p->name, cap->at, k, file, PROF_NAME_MAX);
    if (c->cfg->profiles.store != CFG_STORE_S3 || !c->rm.outbox)
        return ps_write(c->cfg->eviction.profile_dir, file, body, len, d);
    char key[S3_KEY_MAX + 1], tier[16], usage[32], budget[32], owner[254];
    pc_workload(p, &(const char *){NULL}, owner, sizeof owner);
    if (!prof_key(c->cfg->profiles.s3.prefix ? c->cfg->profiles.s3.prefix : "", p->sh->ns, owner,
                  p->name, cap->at, k, key, sizeof key))
        return mb_diag_set(d, MB_EINVAL, "the object key is longer than %d bytes", S3_KEY_MAX);
    snprintf(tier, sizeof tier, "%s", brk_tier_name(pl_tier(s->pl)));
    snprintf(usage, sizeof usage, "%lld", (long long)s->pl->usage);
    snprintf(budget, sizeof budget, "%lld", (long long)s->pl->budget);
    const struct s3_meta meta[] = {{"reason", cap->reason},  {"tier", tier},
                                   {"usage-bytes", usage},   {"budget-bytes", budget},
                                   {"namespace", p->sh->ns}, {"pod", p->name}};
    return outbox_put(c->rm.outbox, file, key, meta, MB_ARRAY_LEN(meta), body, len, d);
}

/* --- fetching ------------------------------------------------------------------------ */

/* One fetch answered (or failed before it went out): the file, or why not. */
static void captured(struct controller *c, struct podstate *s, const struct kapi_resp *r,
                     struct rm_now now)
{
    const struct pc_pod *p = s->gq.pod;
    struct capture *cap = RUN(s)->cap;
    enum prof_kind k = cap->kind;
    char *file = cap->file[k], *err = cap->err[k];
    RUN(s)->prof_call = 0;
    if (r->err == MB_OK && r->status == 200 && r->len > 0) {
        struct mb_diag d = {0};
        if (store_write(c, s, k, r->body, r->len, &d)) {
            snprintf(err, sizeof cap->err[k], "%.190s", d.msg);
            file[0] = '\0';
        } else {
            cap->bytes[k] = r->len;
        }
    } else if (r->err) {
        snprintf(err, sizeof cap->err[k], "%.190s", r->errmsg);
    } else {
        snprintf(err, sizeof cap->err[k], "HTTP %ld%s", r->status,
                 r->status == 200 ? ", empty" : "");
    }
    static const char *const SAVED[] = {"heap profile captured", "goroutine dump captured"},
                             *const LOST[] = {"heap profile not captured",
                                              "goroutine dump not captured"};
    if (*file)
        log_info(SAVED[k], "{s:s,s:s,s:s,s:s,s:I}", "namespace", p->sh->ns, "pod", p->name,
                 "reason", cap->reason, "file", file, "bytes", (json_int_t)r->len);
    else
        log_warn(LOST[k], "{s:s,s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name, "reason",
                 cap->reason, "error", err);
    cap->want[k] = false;
    capture_next(c, s, now);
}

static void on_capture(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    captured(c, s, r, rm_now(c));
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    (void)fd;
    (void)what;
    log_warn("capture analysis late: going on without it", "{s:s,s:s,s:s}", "namespace",
             s->gq.pod->sh->ns, "pod", s->gq.pod->name, "reason", RUN(s)->cap->reason);
    RUN(s)->cap->job = 0;
    capture_finish(c, s, rm_now(c));
}

/* Everything fetched: the analysis, when there is something to analyse and
 * time left for it; else done. */
static void analyse(struct controller *c, struct podstate *s, struct rm_now now)
{
    struct capture *cap = RUN(s)->cap;
    const struct pc_pod *p = s->gq.pod;
    if (!c->rm.fx || (!cap->file[PROF_HEAP][0] && !cap->file[PROF_GOROUTINES][0]) ||
        cap->deadline <= now.mono) {
        capture_finish(c, s, now);
        return;
    }
    struct fx_job j = {.id = ++c->rm.fx_seq, .at = cap->at};
    char ub[PC_UID_BUF];
    snprintf(j.ns, sizeof j.ns, "%s", p->sh->ns);
    snprintf(j.pod, sizeof j.pod, "%s", p->name);
    snprintf(j.uid, sizeof j.uid, "%s", pc_uid(p, ub));
    pc_workload(p, &(const char *){NULL}, j.owner, sizeof j.owner);
    memcpy(j.heap, cap->file[PROF_HEAP], sizeof j.heap);
    memcpy(j.dump, cap->file[PROF_GOROUTINES], sizeof j.dump);
    if (!fx_submit(c->rm.fx, &j)) {
        log_warn("capture not analysed: the analysis queue is full", "{s:s,s:s}", "namespace",
                 p->sh->ns, "pod", p->name);
        capture_finish(c, s, now);
        return;
    }
    cap->job = j.id;
    if (!cap->timer)
        cap->timer = event_new(loop_base(c->lp), -1, 0, on_deadline, s);
    uint64_t ms = cap->deadline - now.mono;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    event_add(cap->timer, &tv);
}

/* Fetch what is still wanted (the heap profile first); then analyse. */
static void capture_next(struct controller *c, struct podstate *s, struct rm_now now)
{
    struct capture *cap = RUN(s)->cap;
    if (rm_fenced(c)) {
        /* Shutting down: no further fetch, and no eviction after it
         * (evict_attempt() refuses); the slot goes with the process. */
        log_info("capture stopped: shutting down; the next leader decides again", "{s:s,s:s}",
                 "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name);
        return;
    }
    if (!cap->want[PROF_HEAP] && !cap->want[PROF_GOROUTINES]) {
        analyse(c, s, now);
        return;
    }
    char why[256];
    cap->kind = cap->want[PROF_HEAP] ? PROF_HEAP : PROF_GOROUTINES;
    if (cap->deadline < now.mono + CAPTURE_MIN_MS) {
        struct kapi_resp late = {.err = MB_ETIMEOUT,
                                 .errmsg = "no time left (the capture takes at most 30 s)"};
        captured(c, s, &late, now);
        return;
    }
    struct podcall_req req = {.key = CAPTURE_KEY[cap->kind],
                              .method = "GET",
                              .timeout_ms = (unsigned)(cap->deadline - now.mono),
                              .max_response = (size_t)c->cfg->eviction.profile_max_bytes};
    RUN(s)->prof_call = podcall_submit(c->calls, s->gq.pod, &req, on_capture, s, why, sizeof why);
    if (!RUN(s)->prof_call) {
        struct kapi_resp none = {.err = MB_EINVAL, .errmsg = why};
        captured(c, s, &none, now);
    }
}

/* --- done ------------------------------------------------------------------------------- */

/* An Event with what the pod's captures found added: the growth line for
 * the heap's, the top goroutine group for the goroutines'. */
void capture_event(struct controller *c, struct podstate *s, const struct pl_event *ev)
{
    char ub[PC_UID_BUF];
    struct recorder_ref ref = rm_ref_of(s->gq.pod, ub);
    const struct capture *cap = RUN(s)->cap;
    const char *add = !cap                               ? NULL
                      : ev->forensic == PL_FX_HEAP       ? cap->growth
                      : ev->forensic == PL_FX_GOROUTINES ? cap->gtop
                                                         : NULL;
    /* no growth line: say why (the pod's first heap profile, nothing grew) */
    const char *why = !add && cap && ev->forensic == PL_FX_HEAP ? cap->growth_err : NULL;
    recorder_event(c->rec, &ref, ev->warning ? "Warning" : "Normal", ev->reason, "%s%s%s%s%s",
                   ev->msg, add ? "; " : "", add ? add : "", why ? "; what grew: unknown, " : "",
                   why ? why : "");
}

static void say_baseline(struct controller *c, struct podstate *s)
{
    struct capture *cap = RUN(s)->cap;
    char ub[PC_UID_BUF], h[64] = "", g[64] = "";
    struct recorder_ref ref = rm_ref_of(s->gq.pod, ub);
    if (cap->file[PROF_HEAP][0])
        snprintf(h, sizeof h, "heap profile (%zu bytes)", cap->bytes[PROF_HEAP]);
    if (cap->file[PROF_GOROUTINES][0])
        snprintf(g, sizeof g, "goroutine dump (%zu bytes)", cap->bytes[PROF_GOROUTINES]);
    if (!*h && !*g) {
        recorder_event(c->rec, &ref, "Warning", "MemoryBudgetProfileCaptured",
                       "baseline (%s) not captured: %s", cap->reason,
                       cap->err[PROF_HEAP][0] ? cap->err[PROF_HEAP] : cap->err[PROF_GOROUTINES]);
        return;
    }
    recorder_event(c->rec, &ref, "Normal", "MemoryBudgetProfileCaptured",
                   "baseline (%s): %s%s%s, %s%s%s", cap->reason, h, *h && *g ? ", " : "", g,
                   c->cfg->profiles.store == CFG_STORE_S3 ? "queued for the bucket" : "saved",
                   cap->growth ? "; " : "", cap->growth ? cap->growth : "");
}

static void capture_finish(struct controller *c, struct podstate *s, struct rm_now now)
{
    struct capture *cap = RUN(s)->cap;
    if (cap->timer)
        event_del(cap->timer);
    cap->active = false;
    cap->job = 0;
    c->rm.captures_inflight--;
    bool saved = cap->file[PROF_HEAP][0] || cap->file[PROF_GOROUTINES][0];
    count(c, cap->then_evict ? "evict" : cap->reason, saved ? "ok" : "failed");
    for (size_t i = 0; i < cap->nheld; i++)
        capture_event(c, s, &cap->held[i]);
    cap->nheld = 0;
    profiles_enforce(c);
    if (strcmp(cap->reason, "evict") != 0)
        say_baseline(c, s);
    if (strcmp(cap->reason, "evict") != 0 && !cap->then_evict)
        return;
    cap->then_evict = false;
    struct pl_capture pc = {0};
    if (SPEC(s)->has_profile)
        pc = (struct pl_capture){.heap = cap->file[PROF_HEAP],
                                 .heap_err = cap->err[PROF_HEAP],
                                 .heap_bytes = cap->bytes[PROF_HEAP]};
    if (SPEC(s)->has_goroutines) {
        pc.gor = cap->file[PROF_GOROUTINES];
        pc.gor_err = cap->err[PROF_GOROUTINES];
        pc.gor_bytes = cap->bytes[PROF_GOROUTINES];
    }
    struct pl_plan plan;
    pl_profile_done(s->pl, &pc, now.wall, &plan);
    remedy_carry(c, s, &plan, now);
}

/* The analysis of a capture (fx_start's callback, on the controller's
 * loop): the pod, if it is still this capture's, takes the result. */
void controller_fx_done(void *ctx, struct fx_result *r)
{
    struct controller *c = ctx;
    const struct pc_pod *p = c->stopped ? NULL : pc_get(c->cache, r->ns, r->pod);
    struct podstate *s = p ? p->user : NULL;
    char ub[PC_UID_BUF];
    struct capture *cap = s && s->pl ? RUN(s)->cap : NULL;
    if (!cap || !cap->active || cap->job != r->id || strcmp(pc_uid(p, ub), r->uid)) {
        log_info("capture analysis no longer wanted", "{s:s,s:s}", "namespace", r->ns, "pod",
                 r->pod);
        mb_free(r);
        return;
    }
    MB_FREE(cap->growth);
    MB_FREE(cap->gtop);
    MB_FREE(cap->growth_err);
    if (*r->growth)
        cap->growth = mb_xstrdup(r->growth);
    if (*r->gtop)
        cap->gtop = mb_xstrdup(r->gtop);
    if (*r->err)
        cap->growth_err = mb_xstrdup(r->err);
    log_info("capture analysed", "{s:s,s:s,s:s,s:s,s:s,s:s,s:f}", "namespace", r->ns, "pod", r->pod,
             "growth", r->growth, "comparedWith", r->base, "goroutines", r->gtop, "error", r->err,
             "seconds", r->seconds);
    mb_free(r);
    capture_finish(c, s, rm_now(c));
}

void controller_set_forensics(struct controller *c, struct outbox *ob, struct fx *fx)
{
    c->rm.outbox = ob;
    c->rm.fx = fx;
}

bool capture_holds(const struct pl_event *ev)
{
    return ev->forensic == PL_FX_GOROUTINES ||
           (ev->forensic == PL_FX_HEAP && strcmp(ev->reason, "MemoryBudgetEvicted") != 0);
}

/* --- starting ------------------------------------------------------------------------------ */

static struct capture *begin(struct controller *c, struct podstate *s, const char *reason,
                             struct rm_now now)
{
    struct capture *cap = RUN(s)->cap;
    if (!cap)
        cap = RUN(s)->cap = mb_xcalloc(1, sizeof *cap);
    cap->active = true;
    cap->then_evict = false;
    cap->reason = reason;
    /* what the last capture found is not this one's */
    MB_FREE(cap->growth);
    MB_FREE(cap->gtop);
    MB_FREE(cap->growth_err);
    cap->at = now.wall;
    cap->deadline = now.mono + CAPTURE_MS;
    memset(cap->file, 0, sizeof cap->file);
    memset(cap->err, 0, sizeof cap->err);
    memset(cap->bytes, 0, sizeof cap->bytes);
    cap->want[PROF_HEAP] = SPEC(s)->has_profile;
    cap->want[PROF_GOROUTINES] = SPEC(s)->has_goroutines;
    c->rm.captures_inflight++;
    return cap;
}

void capture_start(struct controller *c, struct podstate *s, struct rm_now now)
{
    struct capture *cap = RUN(s)->cap;
    if (cap && cap->active) { /* a baseline runs: it becomes the eviction's */
        cap->then_evict = true;
        return;
    }
    if (c->rm.captures_inflight >= c->cfg->profiles.max_in_flight) {
        count(c, "evict", "skipped-cap");
        log_warn("capture before eviction skipped: profiles.maxInFlight captures are under way",
                 "{s:s,s:s}", "namespace", s->gq.pod->sh->ns, "pod", s->gq.pod->name);
        struct pl_capture pc = {.heap = "",
                                .heap_err = "too many captures under way "
                                            "(profiles.maxInFlight)"};
        struct pl_plan plan;
        pl_profile_done(s->pl, &pc, now.wall, &plan);
        remedy_carry(c, s, &plan, now);
        return;
    }
    begin(c, s, "evict", now);
    capture_next(c, s, now);
}

size_t capture_baseline(struct controller *c, struct podstate *s, const struct pl_plan *plan,
                        struct rm_now now)
{
    struct capture *cap = RUN(s)->cap;
    const char *skip = cap && cap->active                                          ? "skipped-busy"
                       : c->rm.captures_inflight >= c->cfg->profiles.max_in_flight ? "skipped-cap"
                       : rm_fenced(c)                                              ? "skipped-busy"
                                                                                   : NULL;
    if (skip) {
        count(c, plan->baseline, skip);
        log_info("baseline capture skipped", "{s:s,s:s,s:s,s:s}", "namespace", s->gq.pod->sh->ns,
                 "pod", s->gq.pod->name, "reason", plan->baseline, "why", skip);
        return 0;
    }
    cap = begin(c, s, plan->baseline, now);
    cap->nheld = 0;
    for (size_t i = 0; i < plan->nev; i++)
        if (capture_holds(&plan->ev[i]))
            cap->held[cap->nheld++] = plan->ev[i];
    size_t held = cap->nheld;
    capture_next(c, s, now);
    return held;
}

void capture_free(struct controller *c, struct podrun *run)
{
    struct capture *cap = run->cap;
    if (!cap)
        return;
    if (cap->active)
        c->rm.captures_inflight--;
    if (cap->timer)
        event_free(cap->timer);
    mb_free(cap->growth);
    mb_free(cap->gtop);
    mb_free(cap->growth_err);
    mb_free(cap);
    run->cap = NULL;
}
