/*
 * capture.c -- the capture before an eviction (shell; see remedy_int.h):
 * the pod's heap profile, then its goroutine dump, fetched from the
 * endpoints its annotations declare (podcall.h: its own IP, a declared
 * port, no redirects, bounded reads) and written whole (profstore.h) under
 * one stamp, named by profname.h. What was saved, or why not, goes back
 * to the planner (pl_profile_done), whose plan then carries the eviction
 * on: a profile that could not be fetched never holds an eviction back.
 */
#include <stdio.h>

#include "membudget/alloc.h"
#include "membudget/log.h"
#include "membudget/podcall.h"
#include "membudget/profname.h"
#include "membudget/profstore.h"
#include "remedy_int.h"

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
    enum prof_kind kind;         /* the one under way */
    bool want[2];                /* by enum prof_kind */
    char file[2][PROF_NAME_MAX]; /* "" until saved */
    char err[2][200];
    size_t bytes[2];
};

/* The annotation each kind is fetched from (target.h). */
static const char *const CAPTURE_KEY[] = {
    [PROF_HEAP] = "profile", [PROF_GOROUTINES] = "goroutines"};

static void capture_next(struct controller *c, struct podstate *s, struct rm_now now);

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
        snprintf(err, sizeof cap->err[k], "HTTP %ld%s", r->status,
                 r->status == 200 ? ", empty" : "");
    }
    static const char *const SAVED[] = {"heap profile captured", "goroutine dump captured"},
                             *const LOST[] = {"heap profile not captured; evicting anyway",
                                              "goroutine dump not captured; evicting anyway"};
    if (*file)
        log_info(SAVED[k], "{s:s,s:s,s:s,s:I}", "namespace", p->sh->ns, "pod", p->name, "file",
                 file, "bytes", (json_int_t)r->len);
    else
        log_warn(LOST[k], "{s:s,s:s,s:s}", "namespace", p->sh->ns, "pod", p->name, "error", err);
    cap->want[k] = false;
    capture_next(c, s, now);
}

static void on_capture(void *arg, const struct kapi_resp *r)
{
    struct podstate *s = arg;
    struct controller *c = RUN(s)->c;
    captured(c, s, r, rm_now(c));
}

/* Fetch what is still wanted (the heap profile first); when nothing is,
 * tell the planner what was saved. */
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
    if (cap->want[PROF_HEAP] || cap->want[PROF_GOROUTINES]) {
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
        RUN(s)->prof_call =
            podcall_submit(c->calls, s->gq.pod, &req, on_capture, s, why, sizeof why);
        if (!RUN(s)->prof_call) {
            struct kapi_resp none = {.err = MB_EINVAL, .errmsg = why};
            captured(c, s, &none, now);
        }
        return;
    }
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
    mb_free(RUN(s)->cap);
    RUN(s)->cap = NULL;
    profiles_enforce(c);
    remedy_carry(c, s, &plan, now);
}

void capture_start(struct controller *c, struct podstate *s, struct rm_now now)
{
    struct capture *cap = RUN(s)->cap = mb_xcalloc(1, sizeof *cap);
    cap->at = now.wall;
    cap->deadline = now.mono + CAPTURE_MS;
    cap->want[PROF_HEAP] = SPEC(s)->has_profile;
    cap->want[PROF_GOROUTINES] = SPEC(s)->has_goroutines;
    capture_next(c, s, now);
}
