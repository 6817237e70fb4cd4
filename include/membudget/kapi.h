/*
 * kapi.h -- asynchronous Kubernetes API client: libcurl's multi interface
 * driven by the process event loop (curl's hiperfifo.c pattern).
 *
 * Shell module. One struct kapi per API server. Every request is
 * asynchronous; completions and streamed data are delivered on the loop
 * thread. Connections are kept and reused by the multi handle (a watch holds
 * one for as long as it runs). Redirects are never followed; only http and
 * https are allowed; every buffered response is capped (max_response).
 *
 * Authentication: a bearer token (fixed, or a file re-read when it changes,
 * as bound service-account tokens rotate), and/or a client certificate. TLS
 * verification against the configured CA unless `insecure` is set.
 *
 * Failed answers (non-2xx) are read only up to 64 KiB, for their Status; a
 * 2xx body declared (Content-Length) or grown larger than its cap is
 * refused (MB_ETOOBIG), and the memory of large bodies is returned to the
 * system. A redirect is never followed: it is delivered as MB_EIO with its
 * status and a message naming where it pointed.
 */
#ifndef MB_KAPI_H
#define MB_KAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/clock.h"
#include "membudget/err.h"

struct kapi;
struct loop;

/* Where and how to reach the API server. Strings are copied by kapi_new. A
 * *_pem field holds the PEM text itself; a *_file field a path (read by
 * libcurl on each new connection). */
struct kapi_conf {
    const char *server;     /* "https://10.0.0.1:443" (no trailing slash needed) */
    const char *ca_pem;     /* CA bundle text, or NULL */
    const char *ca_file;    /* CA bundle path, or NULL */
    const char *cert_pem;   /* client certificate text, or NULL */
    const char *cert_file;  /* client certificate path, or NULL */
    const char *key_pem;    /* client key text, or NULL */
    const char *key_file;   /* client key path, or NULL */
    const char *token;      /* bearer token, or NULL */
    const char *token_file; /* bearer token path, re-read when it changes, or NULL */
    bool insecure;          /* skip server certificate verification */
    const char *user_agent; /* "membudget/0.1.0 (controller; pod-x)" */
    unsigned timeout_ms;    /* default whole-request timeout; 0: 30 s */
    size_t max_response;    /* cap on a buffered response body; 0: 64 MiB */
    /* For pod endpoints (scrapes, GC calls) rather than the API server:
     * every request path is a whole URL, http:// only unless allow_https,
     * and `server`, the CA, certificates and tokens are not used. */
    bool absolute;
    bool allow_https;
    unsigned max_inflight; /* requests in flight at once; more wait in order; 0: no cap */
    const char *proxy;     /* proxy for the API server (kubeconfig proxy-url), or NULL: the
                            * environment's (http_proxy...), as client-go. Pod calls
                            * (absolute) never use a proxy. */
};

/* A request to submit. Strings and the body are copied by kapi_submit. */
struct kapi_req {
    const char *method;       /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char *path;         /* "/api/v1/namespaces/x/pods?limit=500": path and query */
    const char *content_type; /* of the body; NULL: application/json */
    const char *body;         /* NULL: none */
    size_t body_len;
    unsigned timeout_ms; /* 0: the client's default */
    size_t max_response; /* cap on the buffered body; 0: the client's */
    /* Streaming (watch): when set and the answer is 200, the body goes to
     * on_data piece by piece as it arrives (any split) instead of being
     * buffered; returning false aborts the request (done then sees
     * MB_EIO "aborted"). Runs on the loop thread, outside libcurl, so it may
     * submit and cancel; it must not call kapi_free. */
    bool (*on_data)(void *ctx, const char *data, size_t len);
};

/* What came back. `body` is borrowed, valid only during the done callback,
 * NUL-terminated; for a streamed 200 it is empty. */
struct kapi_resp {
    mb_err err;  /* MB_OK when an HTTP answer arrived (any status) */
    long status; /* HTTP status, 0 when none */
    const char *body;
    size_t len;
    long retry_after_s; /* Retry-After header in seconds, -1 when absent */
    const char *errmsg; /* transport error text when err != MB_OK, else "" */
};

typedef void kapi_done_fn(void *ctx, const struct kapi_resp *resp);

/* Returns MB_OK and a new client in *out (free with kapi_free), or an error
 * with details in diag. `lp` and `clk` are borrowed and must outlive it;
 * `lp` must be a LOOP_CLIENT loop (libcurl closes its own sockets: see
 * loop.h). */
mb_err kapi_new(struct loop *lp, const struct mb_clock *clk, const struct kapi_conf *conf,
                struct kapi **out, struct mb_diag *diag);

/* The I/O seam (CONTRIBUTING.md §6): a client whose requests go to `ops` instead
 * of the network (test/fakes/fake_kapi.c). kapi_submit hands each request
 * (borrowed for the call: copy what you keep) with its id to submit, which
 * must not call `done` before returning; kapi_cancel goes to cancel. */
struct kapi_ops {
    void (*submit)(void *ctx, uint64_t id, const struct kapi_req *req, kapi_done_fn *done,
                   void *arg);
    void (*cancel)(void *ctx, uint64_t id);
};
struct kapi *kapi_new_ops(const struct kapi_ops *ops, void *ctx, const char *server);

/* Cancels every request in flight (their done callbacks are not called) and
 * frees. NULL-safe. Must not be called from a kapi callback. */
void kapi_free(struct kapi *k);

/* Start a request. Returns its id (never 0). `done` is called exactly once,
 * on the loop thread and never from inside kapi_submit itself, unless the
 * request is cancelled first. `ctx` is borrowed. */
uint64_t kapi_submit(struct kapi *k, const struct kapi_req *req, kapi_done_fn *done, void *ctx);

/* Cancel a request: its done callback will not be called. Unknown or
 * finished ids are ignored. Safe from any kapi callback. */
void kapi_cancel(struct kapi *k, uint64_t id);

/* Requests in flight. */
size_t kapi_inflight(const struct kapi *k);

/* Copy `url` to out[len] with any user:password@ replaced by REDACTED@, for
 * logs. */
void kapi_redact_url(const char *url, char *out, size_t len);

/* Returns: borrowed server URL. */
const char *kapi_server(const struct kapi *k);

#endif /* MB_KAPI_H */
