/*
 * https.h -- HTTP/1.1 server on libevent's evhttp, with or without TLS (shell).
 *
 * Why evhttp: it is the libevent HTTP server docs/design.md asks for, it parses
 * HTTP (we write no HTTP parser), bounds header and body sizes itself
 * (evhttp_set_max_body_size answers 413 from Content-Length without reading
 * the body), and plugs into OpenSSL through evhttp_set_bevcb +
 * bufferevent_openssl_socket_new, so TLS runs on the same single loop.
 *
 * What evhttp does not do, this module adds:
 *  - a whole-request deadline: evhttp's timeout is an *inactivity* timeout,
 *    so a client trickling one byte every few seconds would never be cut
 *    off. Every connection must complete a request within
 *    request_timeout_ms of being accepted or of its previous request; a
 *    sweep shuts down the socket of any that does not (evhttp then frees
 *    the connection as usual).
 *  - a cap on open connections (max_conns): extra connections are closed
 *    at once.
 * Both rely on holding a reference on each bufferevent we create in the
 * bevcb; evhttp's bufferevent_free() clears its callbacks, which is how the
 * sweep learns that a connection is gone and drops the reference.
 *
 * Every handler must end the request with exactly one https_reply().
 * Everything runs on the loop thread, except what says "Any thread".
 */
#ifndef MB_HTTPS_H
#define MB_HTTPS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"
#include "membudget/err.h"

struct https;
struct loop;
struct tlsctx;
struct evhttp_request;

typedef void https_handler(struct evhttp_request *req, void *ctx);

struct https_conf {
    const char *name;            /* for logs: "webhook", "metrics" */
    const char *bind;            /* ":8443", "127.0.0.1:0", "[::1]:8443" */
    struct tlsctx *tls;          /* borrowed; NULL for plain HTTP */
    size_t max_body;             /* bytes; larger requests get 413 */
    size_t max_headers;          /* bytes of request line + headers */
    unsigned idle_timeout_s;     /* inactivity timeout on reads and writes */
    unsigned request_timeout_ms; /* a whole request, accept (or last request) to handler */
    unsigned max_conns;          /* open connections; more are closed at once */
    bool reuseport;              /* SO_REUSEPORT: several servers share the port */
    atomic_size_t *shared_total; /* optional: servers that share max_conns (the webhook
                                    workers) count their connections here */
    atomic_llong *pool;          /* optional: bytes requests may hold, shared by servers
                                    (the buffered-bytes budget, see https.c); handlers
                                    must then answer before they return */
    size_t window;               /* with a pool: read credit per connection (16 KiB) */
    size_t pool_total;           /* with a pool: its whole size (a quarter of it is kept
                                    for connections that hold under 1 MiB) */
};

/* Bind and start serving on `lp`. Strings in conf are copied; tls, lp and
 * clk are borrowed and must outlive the server. Returns MB_OK and a new
 * server in *out, or MB_EIO/MB_EINVAL with the reason in diag. */
mb_err https_new(struct loop *lp, const struct mb_clock *clk, const struct https_conf *conf,
                 struct https **out, struct mb_diag *diag);

/* Stop accepting, close every connection, free. NULL-safe. */
void https_free(struct https *s);

/* Route an exact path ("/validate") to a handler. `path` is copied. */
void https_route(struct https *s, const char *path, https_handler *fn, void *ctx);

/* Returns: borrowed "host:port" actually bound (useful with port 0). */
const char *https_address(const struct https *s);

/* Stop accepting new connections (graceful shutdown); open ones go on. */
void https_stop_accepting(struct https *s);

/* Graceful shutdown: stop accepting, and answer every request from now on
 * with Connection: close, so each client moves to another replica once its
 * request in flight is answered. */
void https_drain(struct https *s);

/* Connections currently open (as of the last sweep, at most 250 ms old;
 * 50 ms while draining). Any thread. */
size_t https_open_connections(const struct https *s);

/* Connections cut off by the request deadline or the connection cap. Any thread. */
unsigned long https_timeouts(const struct https *s);
unsigned long https_rejected(const struct https *s);
/* Connections closed for sending more than 8 TLS KeyUpdates in 10 s. */
unsigned long https_key_update_closes(const struct https *s);

/* Request helpers for handlers. https_body returns a borrowed, contiguous
 * view of the request body valid until the reply (may be NULL when empty). */
const char *https_body(struct evhttp_request *req, size_t *len);
const char *https_method(struct evhttp_request *req);
const char *https_path(struct evhttp_request *req);
const char *https_query_param(struct evhttp_request *req, const char *name, char *buf,
                              size_t buflen);
void https_reply(struct evhttp_request *req, int code, const char *content_type, const char *body,
                 size_t len);

#endif
