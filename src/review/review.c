/* review.c -- AdmissionReview in, AdmissionReview out (pure). */
#include <stdio.h>
#include <string.h>
#include "membudget/admrev.h"
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/review.h"

static void copy(char *dst, size_t n, const char *src) { snprintf(dst, n, "%s", src ? src : ""); }

static void decide(const struct policy_conf *conf, enum review_endpoint ep, enum review_mode mode,
                   const char *body, size_t len, struct review_out *out)
{
    struct admrev_req req;
    struct mb_diag d = {0};
    struct policy_result pr = {0};
    struct admrev_resp resp = {.allowed = true};
    char *msg = NULL, **warnings = NULL;
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
    out->s.result = "skipped";

    if (kind != POLICY_KIND_OTHER && req.sub_resource[0] == '\0' &&
        (req.op == ADMREV_CREATE || req.op == ADMREV_UPDATE)) {
        struct policy_input in = {
            .kind = kind,
            .op = req.op == ADMREV_CREATE ? POLICY_CREATE : POLICY_UPDATE,
            .object = req.object,
            .old_object = req.old_object,
        };
        policy_eval(conf, &in, &pr);
        out->s.violations = pr.nv;
        if (ep == REVIEW_MUTATE) {
            resp.patch = pr.patch;
            out->s.result = pr.patch ? "mutated" : "allowed";
        } else if (pr.nv && mode == REVIEW_ENFORCE) {
            msg = policy_message(&pr);
            resp.allowed = false;
            resp.code = 403;
            resp.reason = "Forbidden";
            resp.message = msg;
            out->s.result = "denied";
        } else {
            /* audit mode: each violation becomes a warning */
            warnings = mb_xcalloc(pr.nv + pr.nw + 1, sizeof *warnings);
            for (size_t i = 0; i < pr.nv; i++)
                warnings[nwarn++] = mb_xasprintf("membudget (audit, would deny): %s: %s",
                                                 pr.v[i].path, pr.v[i].msg);
            out->s.result = pr.nv ? "warned" : "allowed";
        }
        if (ep == REVIEW_VALIDATE) {
            if (!warnings)
                warnings = mb_xcalloc(pr.nw + 1, sizeof *warnings);
            for (size_t i = 0; i < pr.nw; i++)
                warnings[nwarn++] = mb_xasprintf("membudget: %s", pr.warnings[i]);
        }
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

void review_handle(const struct policy_conf *conf, enum review_endpoint ep, enum review_mode mode,
                   const char *body, size_t len, struct mb_arena *arena, struct review_out *out)
{
    if (arena)
        mb_json_arena_begin(arena);
    decide(conf, ep, mode, body, len, out);
    if (arena) {
        mb_json_arena_end();
        mb_arena_reset(arena);
    }
}

void review_out_cleanup(struct review_out *o)
{
    MB_FREE(o->body);
    o->body_len = 0;
}
