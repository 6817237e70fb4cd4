/*
 * podcall.h -- calls to a pod's own endpoints: the metrics scrape, the GC
 * and throttle endpoints, the heap profile. This is the controller's SSRF
 * surface, so it is one small module, apart from the Kubernetes API client:
 *   - the URL comes from target.h only (the pod's own IP, canonical, of an
 *     allowed class; a port the pod declares; the annotation's path);
 *   - the client is a kapi in pod-endpoint mode: http only, redirects never
 *     followed, no proxy (whatever the environment says), a timeout and a
 *     cap on every body read.
 *
 * Shell module, on the controller's loop thread.
 */
#ifndef MB_PODCALL_H
#define MB_PODCALL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/kapi.h"
#include "membudget/target.h"

struct podcall;
struct pc_pod;

/* `k` (borrowed) must be a kapi made with .absolute = true. */
struct podcall *podcall_new(struct kapi *k, const struct tgt_policy *pol);
void podcall_free(struct podcall *pc); /* NULL-safe; cancels nothing (kapi_free does) */

struct podcall_req {
    const char *key;     /* "metrics", "gc", "throttle", "profile" */
    const char *method;  /* "GET" or "POST" */
    const char *body;    /* POST body, or NULL */
    unsigned timeout_ms; /* 0: the client's */
    size_t max_response; /* 0: the client's */
};

/* Call p's membudget.io/<key> endpoint. Returns the call id; or 0 with the
 * reason in why[whylen] when the target is refused (nothing was sent, and
 * `done` will not be called). */
uint64_t podcall_submit(struct podcall *pc, const struct pc_pod *p, const struct podcall_req *req,
                        kapi_done_fn *done, void *ctx, char *why, size_t whylen);
void podcall_cancel(struct podcall *pc, uint64_t id);

/* tgt_address_refusal under this client's policy: the reason p is never
 * called whatever its annotations say, or NULL. */
const char *podcall_address_refusal(const struct podcall *pc, const struct pc_pod *p, char *why,
                                    size_t whylen);

#endif
