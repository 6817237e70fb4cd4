/* review.c -- AdmissionReview in, AdmissionReview out (pure). */
#include <stdio.h>
#include <string.h>
#include "membudget/admrev.h"
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/review.h"

static void copy(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

/* The API server keeps at most 4096 characters of warnings per request
 * (more are dropped, each may be cut at 256), so that is our budget too:
 * warnings past it are counted, not formatted, and one last warning says
 * how many were left out. A review with 100k violations costs 4 KiB of
 * warnings, not megabytes. */
#define WARN_BUDGET 4096

/* Audit mode (`violations`): each violation becomes a warning; then the
 * policy's own warnings. Returns: new array of *n new strings, or NULL. */
static char **warning_list(const struct policy_result *pr, bool violations, const char *label,
                           size_t *n)
{
    size_t total = (violations ? pr->nv : 0) + pr->nw, used = 0, left = 0;
    char **w = total ? mb_xcalloc(total + 1, sizeof *w) : NULL;

    *n = 0;
    for (size_t i = 0; i < total; i++) {
        bool is_v = violations && i < pr->nv;
        size_t k = is_v ? i : i - (violations ? pr->nv : 0);
        char *text;
        if (left) {
            left++;
            continue;
        }
        text = is_v ? mb_xasprintf("membudget (audit, would deny): %s: %s: %s", label,
                                   pr->v[k].path, pr->v[k].msg)
                    : mb_xasprintf("membudget: %s: %s", label, pr->warnings[k]);
        if (used + strlen(text) > WARN_BUDGET - 128) {
            mb_free(text);
            left = 1;
            continue;
        }
        used += strlen(text);
        w[(*n)++] = text;
    }
    if (left)
        w[(*n)++] = mb_xasprintf("membudget: and %zu more (`membudget lint` lists them all)", left);
    return w;
}

static void decide(const struct review_conf *rc, enum review_endpoint ep, enum review_mode mode,
                   const char *body, size_t len, struct review_out *out)
{
    struct admrev_req req;
    struct mb_diag d = {0};
    struct policy_result pr = {0};
    struct admrev_resp resp = {.allowed = true};
    char *msg = NULL, **warnings = NULL, label[400] = "";
    size_t nwarn = 0;
    enum policy_kind kind;

    memset(out, 0, sizeof *out);
    out->s.operation = "unknown";
    out->s.kind = "other";
    if (admrev_decode(body, len, &req, &d)) {
        out->http_status = 400;
        out->body = mb_xasprintf("invalid AdmissionReview: %s\n", d.msg);
        out->body_len = strlen(out->body);
        out->content_type = "text/plain; charset=utf-8";
        out->s.result = "invalid";
        return;
    }
    out->s.operation = req.op_name;
    out->s.dry_run = req.dry_run;
    copy(out->s.uid, sizeof out->s.uid, req.uid);
    copy(out->s.ns, sizeof out->s.ns, req.ns);
    copy(out->s.name, sizeof out->s.name, req.name);
    kind = policy_kind_of(req.group, req.kind);
    if (kind != POLICY_KIND_OTHER)
        out->s.kind = policy_kind_name(kind);
    /* Never governed: allowed untouched, whatever the selector let through. */
    bool excluded = req.ns && *req.ns && cfg_excluded(rc->cfg, req.ns, rc->own_ns);
    out->s.result = excluded ? "excluded" : "skipped";

    /* pods/resize (in-place resize) is an UPDATE of the whole pod: a
     * resize may not take the target's limit below its budget. Other
     * subresources (status, eviction, ...) are not ours to check. */
    bool resize = kind == POLICY_KIND_POD && !strcmp(req.sub_resource, "resize") && req.op == ADMREV_UPDATE;
    if (!excluded && kind != POLICY_KIND_OTHER && (req.sub_resource[0] == '\0' || resize) &&
        (req.op == ADMREV_CREATE || req.op == ADMREV_UPDATE)) {
        struct policy_input in = {
            .kind = kind,
            .op = req.op == ADMREV_CREATE ? POLICY_CREATE : POLICY_UPDATE,
            .object = req.object,
            .old_object = req.old_object,
        };
        struct policy_lr lr;
        /* A workload template is not defaulted by LimitRanger, its pods
         * are: ask what they will get. (A pod is reviewed after it.) */
        if (kind != POLICY_KIND_POD && rc->limit_range && req.ns && *req.ns) {
            rc->limit_range(rc->limit_range_ctx, req.ns, &lr);
            in.limit_range = &lr;
        }
        policy_eval(&rc->policy, &in, &pr);
        out->s.violations = pr.nv;
        policy_object_label(req.object, req.kind, req.ns, req.name, label, sizeof label);
        if (ep == REVIEW_MUTATE) {
            resp.patch = pr.patch;
            out->s.result = pr.patch ? "mutated" : "allowed";
        } else if (pr.nv && mode == REVIEW_ENFORCE) {
            char *list = policy_message(&pr);
            msg = mb_xasprintf("%s: %s", label, list);
            mb_free(list);
            resp.allowed = false;
            resp.code = 403;
            resp.reason = "Forbidden";
            resp.message = msg;
            out->s.result = "denied";
        } else {
            out->s.result = pr.nv ? "warned" : "allowed";
        }
        if (ep == REVIEW_VALIDATE)
            warnings = warning_list(&pr, mode == REVIEW_AUDIT, label, &nwarn);
        resp.warnings = warnings;
        resp.nwarnings = nwarn;
    }
    out->http_status = 200;
    out->content_type = "application/json";
    out->body = admrev_encode(req.uid, &resp, &out->body_len);
    for (size_t i = 0; i < nwarn; i++)
        mb_free(warnings[i]);
    mb_free(warnings);
    mb_free(msg);
    policy_result_cleanup(&pr);
    admrev_req_cleanup(&req);
}

void review_handle(const struct review_conf *rc, enum review_endpoint ep, enum review_mode mode,
                   const char *body, size_t len, struct mb_arena *arena, struct review_out *out)
{
    if (arena)
        mb_json_arena_begin(arena);
    decide(rc, ep, mode, body, len, out);
    if (arena) {
        mb_json_arena_end();
        if (mb_arena_starved(arena)) {
            /* Not this review's fault: the other workers' reviews hold the
             * parse memory now. The API server may retry; failurePolicy
             * decides meanwhile. */
            review_out_cleanup(out);
            out->http_status = 503;
            out->content_type = "text/plain; charset=utf-8";
            out->body = mb_xasprintf("webhook busy: the reviews in progress use all of "
                                     "--webhook-max-parse-bytes; retry\n");
            out->body_len = strlen(out->body);
            out->s.result = "busy";
        } else if (mb_arena_exhausted(arena)) {
            /* The parse (or the answer) ran out of the arena's cap: a review
             * built to cost memory, such as a million {}. Say so, and do
             * not guess at an answer from a partial parse. */
            review_out_cleanup(out);
            out->http_status = 413;
            out->content_type = "text/plain; charset=utf-8";
            out->body = mb_xasprintf("AdmissionReview too complex: its JSON would take more than "
                                     "%zu MiB of memory to parse\n", arena->limit >> 20);
            out->body_len = strlen(out->body);
            out->s.result = "invalid";
        }
        mb_arena_reset(arena);
    }
}

void review_out_cleanup(struct review_out *o)
{
    MB_FREE(o->body);
    o->body_len = 0;
}
