/*
 * podcall.c -- calls to a pod's own endpoints (shell; see podcall.h): the
 * URL from target.c only, through a kapi in pod-endpoint mode (no proxy,
 * no redirects, bounded reads). The one door the controller has to pods.
 */
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/podcache.h"
#include "membudget/podcall.h"

struct podcall {
    struct kapi *k;
    struct tgt_policy pol;
};

struct podcall *podcall_new(struct kapi *k, const struct tgt_policy *pol)
{
    struct podcall *pc = mb_xcalloc(1, sizeof *pc);
    pc->k = k;
    pc->pol = *pol;
    return pc;
}

void podcall_free(struct podcall *pc) { mb_free(pc); }

uint64_t podcall_submit(struct podcall *pc, const struct pc_pod *p, const struct podcall_req *req,
                        kapi_done_fn *done, void *ctx, char *why, size_t whylen)
{
    char url[600];
    if (!tgt_url(p, req->key, &pc->pol, url, sizeof url, why, whylen))
        return 0;
    struct kapi_req kr = {.method = req->method,
                          .path = url,
                          .body = req->body,
                          .body_len = req->body ? strlen(req->body) : 0,
                          .timeout_ms = req->timeout_ms,
                          .max_response = req->max_response};
    return kapi_submit(pc->k, &kr, done, ctx);
}

const char *podcall_address_refusal(const struct podcall *pc, const struct pc_pod *p, char *why,
                                    size_t whylen)
{
    return tgt_address_refusal(p, &pc->pol, why, whylen);
}

void podcall_cancel(struct podcall *pc, uint64_t id) { kapi_cancel(pc->k, id); }
