/*
 * review.c -- one admission request, bytes in, bytes out (pure; see
 * review.h): decode (admrev.c), decide (policy.c, with the namespace's
 * mode, exclusions and LimitRanges), encode. The webhook's workers call
 * it; so does the fuzz target. Parsing happens in a capped arena, so a
 * review's memory is bounded before a byte of it is trusted.
 */
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
    /* (what the policy counted without keeping: its "and N more") */
    size_t unkept = (violations ? pr->more : 0) + pr->wmore;
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
    if (left || unkept) {
        if (!w)
            w = mb_xcalloc(1, sizeof *w);
        w[(*n)++] = mb_xasprintf("membudget: and %zu more (`membudget lint` lists them all)",
                                 left + unkept);
    }
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
    bool resize =
        kind == POLICY_KIND_POD && !strcmp(req.sub_resource, "resize") && req.op == ADMREV_UPDATE;
    if (!excluded && kind != POLICY_KIND_OTHER && (req.sub_resource[0] == '\0' || resize) &&
        (req.op == ADMREV_CREATE || req.op == ADMREV_UPDATE)) {
        struct policy_input in = {
            .kind = kind,
            .op = req.op == ADMREV_CREATE ? POLICY_CREATE : POLICY_UPDATE,
            .object = req.object,
            .old_object = req.old_object,
            .max_kept = POLICY_KEEP,
        };
        struct policy_lr lr;
        /* A workload template is not defaulted by LimitRanger, its pods
         * are: ask what they will get. (A pod is reviewed after it.) */
        if (kind != POLICY_KIND_POD && rc->limit_range && req.ns && *req.ns) {
            rc->limit_range(rc->limit_range_ctx, req.ns, &lr);
            in.limit_range = &lr;
        }
        char why[512];
        if (!policy_check_types(&in, why, sizeof why)) {
            out->http_status = 400;
            out->body = mb_xasprintf("invalid AdmissionReview: request.%s\n", why);
            out->body_len = strlen(out->body);
            out->content_type = "text/plain; charset=utf-8";
            out->s.result = "invalid";
            admrev_req_cleanup(&req);
            return;
        }
        policy_eval(&rc->policy, &in, &pr);
        out->s.violations = pr.nv + pr.more;
        policy_object_label(req.object, req.kind, req.ns, req.name, label, sizeof label);
        if (ep == REVIEW_MUTATE) {
            resp.patch = pr.patch;
            out->s.result = pr.patch ? "mutated" : "allowed";
        } else if (pr.nv + pr.more && mode == REVIEW_ENFORCE) {
            char *list = policy_message(&pr);
            msg = mb_xasprintf("%s: %s", label, list);
            mb_free(list);
            resp.allowed = false;
            resp.code = 403;
            resp.reason = "Forbidden";
            resp.message = msg;
            out->s.result = "denied";
        } else {
            out->s.result = pr.nv + pr.more ? "warned" : "allowed";
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

/* The floor's costs per JSON value, in bytes, from jansson 2.14 through
 * the arena (test_review_parse_floor_rows measures each shape and holds the
 * floor at or under the real cost, and within 80% of it for the shapes
 * that cost the most per byte of text): an empty object 256 measured, an
 * array 160 (140 nested, where no doubling table holds it), a string 91, a
 * number 56; a value's slot in its parent's table is part of each. */
#define FLOOR_OBJ 224
#define FLOOR_ARR 136
#define FLOOR_STR 72
#define FLOOR_NUM 44

/* Read before parsing, so that a review built to cost memory (a million {}
 * in 3 MiB: 249 MB parsed) is refused from its bytes alone, before it takes
 * any. true, false and null are shared values: only their slot. */
size_t review_parse_cost_floor(const char *b, size_t len)
{
    size_t objs = 0, arrs = 0, strs = 0, nums = 0;
    for (size_t i = 0; i < len; i++) {
        char c = b[i];
        if (c == '"') {
            strs++;
            for (i++; i < len && b[i] != '"'; i++)
                if (b[i] == '\\')
                    i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            nums++; /* one number: skip the rest of its characters */
            while (i + 1 < len &&
                   (b[i + 1] == '.' || b[i + 1] == 'e' || b[i + 1] == 'E' || b[i + 1] == '+' ||
                    b[i + 1] == '-' || (b[i + 1] >= '0' && b[i + 1] <= '9')))
                i++;
        } else {
            objs += c == '{';
            arrs += c == '[';
        }
    }
    return objs * FLOOR_OBJ + arrs * FLOOR_ARR + strs * FLOOR_STR + nums * FLOOR_NUM + len;
}

/* The review cannot be parsed within the cap, alone or not: a definite
 * answer, the same every time, so not "retry". With the request's uid
 * (found without parsing) it is an AdmissionReview: /validate denies,
 * /validate/audit and /mutate allow with a warning (the object was not
 * checked or changed; in an enforce namespace /validate still denies it).
 * Without one the API server could not match an answer: HTTP 413. */
static void too_large(enum review_endpoint ep, enum review_mode mode, const char *body, size_t len,
                      size_t cap, struct review_out *out)
{
    char *msg = mb_xasprintf("AdmissionReview too large for membudget's webhook: its JSON would "
                             "take more than %zu MiB of memory to parse (the per-review cap: 32 "
                             "times admission.maxBodyBytes, at most --webhook-max-parse-bytes); "
                             "the object was not checked",
                             cap >> 20);
    review_out_cleanup(out);
    memset(out, 0, sizeof *out);
    out->s.operation = "unknown";
    out->s.kind = "other";
    out->s.result = "too_large";
    if (!admrev_peek_uid(body, len, out->s.uid, sizeof out->s.uid)) {
        out->http_status = 413;
        out->content_type = "text/plain; charset=utf-8";
        out->body =
            mb_xasprintf("%s (and its request.uid cannot be read without parsing it)\n", msg);
        out->body_len = strlen(out->body);
        mb_free(msg);
        return;
    }
    struct admrev_resp resp = {.allowed = true};
    char *warn = NULL;
    if (ep == REVIEW_VALIDATE && mode == REVIEW_ENFORCE) {
        resp = (struct admrev_resp){
            .allowed = false, .code = 413, .reason = "RequestEntityTooLarge", .message = msg};
    } else {
        warn = mb_xasprintf("membudget: %s", msg);
        resp.warnings = &warn;
        resp.nwarnings = 1;
    }
    out->http_status = 200;
    out->content_type = "application/json";
    out->body = admrev_encode(out->s.uid, &resp, &out->body_len);
    mb_free(warn);
    mb_free(msg);
}

void review_handle(const struct review_conf *rc, enum review_endpoint ep, enum review_mode mode,
                   const char *body, size_t len, struct mb_arena *arena, struct review_out *out)
{
    size_t cap = arena ? mb_arena_cap(arena) : 0;
    /* (the floor is at most 121 bytes per byte of text, "{}": only a body
     * that large could be over the cap, so ordinary reviews skip the scan) */
    if (cap && len > cap / (FLOOR_OBJ / 2 + 1) && review_parse_cost_floor(body, len) > cap) {
        memset(out, 0, sizeof *out);
        too_large(ep, mode, body, len, cap, out);
        return;
    }
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
            /* The parse (or the answer) ran out of the cap one review may
             * ever take: a review built to cost memory past the floor.
             * Do not guess at an answer from a partial parse. */
            too_large(ep, mode, body, len, cap, out);
        }
        mb_arena_reset(arena);
    }
}

void review_out_cleanup(struct review_out *o)
{
    MB_FREE(o->body);
    o->body_len = 0;
}
