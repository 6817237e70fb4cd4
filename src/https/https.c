/*
 * https.c -- the HTTP/1.1 server on evhttp, with or without TLS (shell; see
 * https.h for why evhttp). Serves the webhook's routes (one server per
 * worker, sharing the port through SO_REUSEPORT) and the ops endpoints.
 * Everything an unauthenticated client can make it hold is bounded by
 * configuration: connections, header and body bytes, the shared pool of
 * buffered bytes (a quarter kept for small reviews), the time a whole
 * request may take, TLS key updates.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>
#include "membudget/alloc.h"
#include "membudget/https.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/tlsctx.h"

#define SWEEP_MS 250

struct conn {
    struct https *s;
    struct bufferevent *bev; /* we hold one reference */
    mb_mono_ms deadline;     /* request must complete by then */
    bool killed;             /* socket shut down by us; waiting for evhttp */
    bool over_cap;           /* closed for the connection cap (counted there, not as a timeout) */
    mb_mono_ms since;        /* accepted, or its last request completed */
    bool nodelay;            /* TCP_NODELAY set (the fd is attached after the bevcb) */
    /* The buffered-bytes budget (conf.pool): bytes received since the last
     * reply, and what was paid for them beyond the free window. */
    int64_t held, paid;
    bool waiting; /* reading stopped until the pool can pay */
    /* TLS 1.3 KeyUpdates from the peer (tlsctx_watch_key_updates): more
     * than KEY_UPDATES_MAX within KEY_UPDATES_WINDOW_MS closes it. */
    struct tlsctx_watch ku;
    unsigned key_updates;
    mb_mono_ms ku_since; /* start of the current window */
};

/* No client membudget serves needs more than a handful: Go's crypto/tls
 * never starts a KeyUpdate, OpenSSL's only when asked, or after 2^35 bytes. */
#define KEY_UPDATES_MAX 8
#define KEY_UPDATES_WINDOW_MS 10000

struct route {
    char *path;
    https_handler *fn;
    void *ctx;
};

struct https {
    struct loop *lp;
    const struct mb_clock *clk;
    struct https_conf conf;
    char *name, *bind;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct route *routes;
    size_t nroutes;
    struct conn **conns; /* each allocated alone: evbuffer callbacks point at it */
    size_t nconns, capconns;
    struct event *sweep;
    char addr[80];
    bool draining;        /* replies carry Connection: close */
    bool trim_due;        /* large bodies were released: give the memory back */
    mb_mono_ms next_trim; /* not before then */
    /* Read by other threads (the ops server's collectors, the drain). */
    atomic_size_t open; /* connections evhttp has not freed, as of the last change seen */
    atomic_size_t own_total, *total; /* connections against max_conns: ours, or shared */
    atomic_ulong timeouts, rejected, key_update_closes;
};

/* --- the buffered-bytes budget -------------------------------------------------
 *
 * evhttp reads a whole request body before it calls us, so the memory held
 * by requests in flight would otherwise grow with the number of
 * connections (300 x 3 MiB held bodies: 1 GB). Instead, every byte read
 * from a connection beyond a free `window` (enough for an ordinary review,
 * so those never wait) is paid from one pool shared by all the webhook's
 * workers (conf.pool, --webhook-max-buffered-bytes), and repaid when its
 * request is answered or the connection closes. When the pool cannot pay,
 * we stop reading that socket: the bytes wait in the kernel, not in our
 * memory, and the sweep resumes it once a reply has repaid the pool. (If
 * evhttp turns reading back on meanwhile, the next read stops it again.)
 * Memory held by requests is thus at most the pool, plus window and one
 * read per connection, all set by configuration. A client that never
 * finishes is cut off at the request deadline as usual. */

#define BUDGET_CHUNK (64 * 1024) /* taken from the pool at a time */

/* Fairness: a connection that already holds more than LARGE_HELD beyond its
 * window may not take the pool below a quarter of its size (RESERVE_DIV).
 * Large uploads that stall (30 connections each sending half of 6 MiB, 90
 * MiB wanted of a 64 MiB pool) then fill at most three quarters of it, and
 * the last quarter always serves the connections that hold little, that
 * is, ordinary reviews (before: one of them waited 9 s, until the stalled
 * ones met their deadline). The largest request (admission.maxBodyBytes)
 * still fits: webhook_new requires the pool to hold it with room to spare. */
#define LARGE_HELD ((int64_t)1 << 20)
#define RESERVE_DIV 4

/* Take up to `want` from the pool, leaving at least `keep` in it. */
static int64_t pool_take(atomic_llong *pool, int64_t want, int64_t keep)
{
    long long avail = atomic_load(pool);

    while (avail > keep) {
        long long got = avail - keep < want ? avail - keep : want;
        if (atomic_compare_exchange_weak(pool, &avail, avail - got))
            return got;
    }
    return 0;
}

/* Read a connection that waited for the pool again. */
static void resume(struct conn *c)
{
    if (c->waiting) {
        c->waiting = false;
        bufferevent_enable(c->bev, EV_READ);
    }
}

/* Give back to the pool what the connection paid for. */
static void repay(struct conn *c)
{
    if (c->s->conf.pool && c->paid) {
        atomic_fetch_add(c->s->conf.pool, c->paid);
        c->s->trim_due = true;
        c->paid = 0;
    }
}

/* Pay for what the connection holds beyond its window, and a chunk ahead;
 * stop reading it when the pool cannot. */
static void pay(struct conn *c)
{
    struct https *s = c->s;
    int64_t over = c->held - (int64_t)s->conf.window - c->paid;

    if (over > 0) {
        int64_t keep = 0;
        if (c->held - (int64_t)s->conf.window > LARGE_HELD)
            keep = (int64_t)(s->conf.pool_total / RESERVE_DIV);
        int64_t got = pool_take(s->conf.pool, over + BUDGET_CHUNK, keep);
        c->paid += got;
        if (got < over) {
            bufferevent_disable(c->bev, EV_READ);
            c->waiting = true;
            return;
        }
    }
    resume(c);
}

static void on_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct conn *c = arg;
    (void)buf;
    if (info->n_added) {
        c->held += (int64_t)info->n_added;
        pay(c);
    }
}

/* The request on this connection was answered: the pool is repaid. */
static void repay_held(struct conn *c)
{
    if (!c->s->conf.pool)
        return;
    repay(c);
    c->held = 0;
    resume(c);
}

static bool bev_freed(struct bufferevent *bev)
{
    bufferevent_data_cb r, w;
    bufferevent_event_cb e;
    void *arg;

    bufferevent_getcb(bev, &r, &w, &e, &arg);
    return !r && !w && !e;
}

static void kill_conn(struct conn *c)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    if (fd >= 0)
        shutdown(fd, SHUT_RDWR); /* evhttp sees EOF and frees the connection */
    resume(c);                   /* it only sees the EOF if it reads */
    c->killed = true;
}

/* Has the client closed (or reset) a connection we are not reading? POLLRDHUP
 * tells even while its unread bytes wait in the kernel. */
static bool peer_gone(struct conn *c)
{
    struct pollfd p = {bufferevent_getfd(c->bev), POLLRDHUP, 0};

    return p.fd >= 0 && poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* evhttp has freed the connection: repay everything it took, drop our reference. */
static void free_conn(struct conn *c)
{
    repay(c);
    bufferevent_decref(c->bev);
    mb_free(c);
}

/* Reap connections evhttp has freed; with `expire`, also cut off those past
 * their deadline. */
static void sweep(struct https *s, mb_mono_ms now, bool expire)
{
    for (size_t i = 0; i < s->nconns;) {
        struct conn *c = s->conns[i];
        if (bev_freed(c->bev)) {
            free_conn(c);
            s->trim_due = true; /* (its TLS state and buffers: tens of KiB each) */
            s->conns[i] = s->conns[--s->nconns];
            atomic_fetch_sub(s->total, 1);
            continue;
        }
        if (expire && !c->killed && now >= c->deadline) {
            if (!c->over_cap) /* one close, one reason */
                atomic_fetch_add(&s->timeouts, 1);
            kill_conn(c);
        }
        if (c->waiting && peer_gone(c))
            kill_conn(c); /* not reading, evhttp would not notice until the deadline */
        else if (c->waiting)
            pay(c); /* reads again once a reply has repaid the pool */
        i++;
    }
    atomic_store(&s->open, s->nconns);
    if (s->trim_due && now >= s->next_trim) {
        /* Bodies of megabytes, or connections, were freed: glibc keeps
         * freed memory in its (per-thread) arenas, so hand it back to the
         * system, or the resident set stays at its peak (3000 idle
         * connections took it from 12 to 73 MB, and it stayed there). At
         * most once a second. */
        mb_trim();
        s->trim_due = false;
        s->next_trim = now + 1000;
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct https *s = arg;
    (void)fd;
    (void)what;
    sweep(s, s->clk->mono_ms(s->clk->ctx), true);
}

/* The cap is reached and a new connection arrives: make room by closing
 * the connection that has waited longest without completing a request,
 * idle ones (nothing received since their last answer) first, rather than
 * refusing the newcomer. Otherwise connections opened and left idle (or
 * trickling bytes) would hold every slot until their timeouts, and a probe
 * or the API server's next connection would be the one refused; this way a
 * newcomer always gets in unless as many connections arrive within its own
 * request. A connection whose answer is still going out is never chosen.
 * Returns false (refuse the newcomer) when nothing can be closed,
 * or too many closes are still being reaped (bounds the overshoot). */
#define MAX_CLOSING 16
static bool make_room(struct https *s, struct conn *newc)
{
    struct conn *victim = NULL;
    size_t closing = 0;
    for (size_t i = 0; i < s->nconns; i++) {
        struct conn *c = s->conns[i];
        if (c->killed) {
            closing++;
            continue;
        }
        if (c == newc || c->over_cap || evbuffer_get_length(bufferevent_get_output(c->bev)))
            continue; /* (one with an answer going out is being served: left alone) */
        bool idle = c->held == 0 && !c->waiting,
             vidle = victim && victim->held == 0 && !victim->waiting;
        if (!victim || (idle && !vidle) || (idle == vidle && c->since < victim->since))
            victim = c;
    }
    if (!victim || closing >= MAX_CLOSING)
        return false;
    victim->over_cap = true;
    kill_conn(victim);
    return true;
}

/* A KeyUpdate from the peer: past the limit in a window the connection is
 * shut down (kill_conn: evhttp sees EOF), counted, and logged (limited). */
static void on_key_update(void *arg)
{
    struct conn *c = arg;
    mb_mono_ms now = c->s->clk->mono_ms(c->s->clk->ctx);

    if (c->killed)
        return;
    if (now - c->ku_since >= KEY_UPDATES_WINDOW_MS) {
        c->ku_since = now;
        c->key_updates = 0;
    }
    if (++c->key_updates <= KEY_UPDATES_MAX)
        return;
    atomic_fetch_add(&c->s->key_update_closes, 1);
    char host[INET6_ADDRSTRLEN] = "?", port[8] = "?", peer[INET6_ADDRSTRLEN + 16];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = bufferevent_getfd(c->bev);
    if (fd >= 0 && !getpeername(fd, (struct sockaddr *)&ss, &sl))
        (void)getnameinfo((struct sockaddr *)&ss, sl, host, sizeof host, port, sizeof port,
                          NI_NUMERICHOST | NI_NUMERICSERV);
    snprintf(peer, sizeof peer, "%s:%s", host, port);
    log_limited(LOG_WARN, "connection closed: too many TLS KeyUpdates", "{s:s,s:s,s:i,s:i}",
                "server", c->s->name, "peer", peer, "key_updates", (int)c->key_updates, "window_ms",
                KEY_UPDATES_WINDOW_MS);
    kill_conn(c);
}

static struct bufferevent *on_new_conn(struct event_base *base, void *arg)
{
    struct https *s = arg;
    struct bufferevent *bev;
    mb_mono_ms now = s->clk->mono_ms(s->clk->ctx);
    SSL *ssl = NULL;

    if (s->conf.tls) {
        ssl = tlsctx_ssl_new(s->conf.tls);
        if (!ssl)
            return NULL;
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!bev)
        return NULL;
    if (atomic_load(s->total) >= s->conf.max_conns)
        sweep(s, now, false); /* count only connections still open */
    if (s->nconns == s->capconns) {
        s->capconns = s->capconns ? s->capconns * 2 : 16;
        s->conns = mb_xrealloc(s->conns, s->capconns * sizeof *s->conns);
    }
    bufferevent_incref(bev);
    struct conn *c = mb_xcalloc(1, sizeof *c);
    *c = (struct conn){.s = s,
                       .bev = bev,
                       .deadline = now + s->conf.request_timeout_ms,
                       .since = now,
                       .ku = {on_key_update, c},
                       .ku_since = now};
    if (ssl) /* (the SSL is freed with the bev, before free_conn frees c) */
        tlsctx_watch_key_updates(ssl, &c->ku);
    s->conns[s->nconns++] = c;
    atomic_store(&s->open, s->nconns);
    if (atomic_fetch_add(s->total, 1) + 1 > s->conf.max_conns) {
        /* Over the cap: close the longest-waiting connection of this
         * worker instead; if there is none, expire the newcomer now (the
         * next sweep shuts it down: the fd is only attached after we
         * return). One close, counted as "limit", either way. */
        atomic_fetch_add(&s->rejected, 1);
        if (!make_room(s, c)) {
            c->over_cap = true;
            c->deadline = 0;
        }
    }
    if (s->conf.pool)
        evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    return bev;
}

static struct conn *find_conn(struct https *s, struct bufferevent *bev)
{
    for (size_t i = 0; i < s->nconns; i++)
        if (s->conns[i]->bev == bev)
            return s->conns[i];
    return NULL;
}

static bool ambiguous_length(struct evhttp_request *req)
{
    const struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const struct evkeyval *kv;
    int cl = 0, te = 0;

    TAILQ_FOREACH(kv, h, next)
    {
        cl += !strcasecmp(kv->key, "Content-Length");
        te += !strcasecmp(kv->key, "Transfer-Encoding");
    }
    return cl > 1 || (cl && te);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct https *s = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct conn *c = evcon ? find_conn(s, evhttp_connection_get_bufferevent(evcon)) : NULL;
    const char *path = https_path(req);

    if (c) { /* a complete request arrived: the next one gets a fresh deadline */
        c->since = s->clk->mono_ms(s->clk->ctx);
        c->deadline = c->since + s->conf.request_timeout_ms;
        if (!c->nodelay) {
            /* Responses go out as header and body writes; without NODELAY,
             * Nagle holds the second until the peer's delayed ACK (~40 ms). */
            int one = 1;
            evutil_socket_t fd = bufferevent_getfd(c->bev);
            if (fd >= 0)
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            c->nodelay = true;
        }
    }
    if (s->draining) /* clients move to another replica once this answer is in */
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    if (ambiguous_length(req)) {
        /* Two Content-Length headers, or one beside Transfer-Encoding: the
         * body's end is ambiguous (the way requests are smuggled). evhttp
         * would use the first; refuse, and close the connection, whose
         * framing can no longer be trusted. */
        static const char M[] = "ambiguous request length: more than one Content-Length, or "
                                "Content-Length with Transfer-Encoding\n";
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        https_reply(req, 400, "text/plain; charset=utf-8", M, sizeof M - 1);
    } else {
        size_t i;
        for (i = 0; i < s->nroutes; i++) {
            if (!strcmp(s->routes[i].path, path)) {
                s->routes[i].fn(req, s->routes[i].ctx);
                break;
            }
        }
        if (i == s->nroutes)
            https_reply(req, 404, "text/plain; charset=utf-8", "not found\n", 10);
    }
    /* Answered (the servers with a pool answer before returning): what the
     * request held goes back to the pool. */
    if (c)
        repay_held(c);
}

/* Split "host:port", ":port", "[v6]:port". */
static mb_err parse_bind(const char *bind, char *host, size_t hostlen, unsigned *port,
                         struct mb_diag *diag)
{
    const char *colon = strrchr(bind, ':');
    char *end;
    long p;

    if (!colon)
        return mb_diag_set(diag, MB_EINVAL, "bind address \"%s\": expected HOST:PORT or :PORT",
                           bind);
    p = strtol(colon + 1, &end, 10);
    if (*end || colon[1] == '\0' || p < 0 || p > 65535)
        return mb_diag_set(diag, MB_EINVAL, "bind address \"%s\": bad port", bind);
    if (colon == bind) {
        snprintf(host, hostlen, "0.0.0.0");
    } else if (bind[0] == '[' && colon[-1] == ']') {
        snprintf(host, hostlen, "%.*s", (int)(colon - bind - 2), bind + 1);
    } else {
        snprintf(host, hostlen, "%.*s", (int)(colon - bind), bind);
    }
    *port = (unsigned)p;
    return MB_OK;
}

/* A listening socket on host:port (an IP literal). With `reuseport`, several
 * servers (one per webhook worker) listen on the same port and the kernel
 * spreads connections among them. */
static evutil_socket_t listen_socket(const char *host, unsigned port, bool reuseport)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int one = 1, e;
    evutil_socket_t fd;

    memset(&ss, 0, sizeof ss);
    if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in);
    } else if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)port);
        sl = sizeof(struct sockaddr_in6);
    } else {
        errno = EINVAL; /* host names are not resolved: an IP literal is wanted */
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one)) ||
        bind(fd, (struct sockaddr *)&ss, sl) || listen(fd, 511)) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

mb_err https_new(struct loop *lp, const struct mb_clock *clk, const struct https_conf *conf,
                 struct https **out, struct mb_diag *diag)
{
    struct https *s;
    char host[64];
    unsigned port = 0;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    struct timeval tv = {SWEEP_MS / 1000, (SWEEP_MS % 1000) * 1000};
    mb_err err = parse_bind(conf->bind, host, sizeof host, &port, diag);

    if (err)
        return err;
    s = mb_xcalloc(1, sizeof *s);
    s->lp = lp;
    s->clk = clk;
    s->conf = *conf;
    s->name = mb_xstrdup(conf->name);
    s->bind = mb_xstrdup(conf->bind);
    s->conf.name = s->name;
    s->conf.bind = s->bind; /* the copy owns its strings: the caller's may not outlive it */
    s->total = conf->shared_total ? conf->shared_total : &s->own_total;
    if (conf->pool && !s->conf.window)
        s->conf.window = 16 * 1024;
    s->http = evhttp_new(loop_base(lp));
    if (!s->http) {
        err = mb_diag_set(diag, MB_EIO, "evhttp_new failed");
        goto fail;
    }
    evhttp_set_max_body_size(s->http, (ev_ssize_t)conf->max_body);
    evhttp_set_max_headers_size(s->http, (ev_ssize_t)conf->max_headers);
    evhttp_set_timeout(s->http, (int)conf->idle_timeout_s);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
    evhttp_set_bevcb(s->http, on_new_conn, s);
    evhttp_set_gencb(s->http, on_request, s);
    {
        evutil_socket_t fd = listen_socket(host, port, conf->reuseport);
        if (fd < 0) {
            err = mb_diag_set(diag, MB_EIO, "%s: cannot listen on %s: %s", conf->name, conf->bind,
                              strerror(errno));
            goto fail;
        }
        s->bound = evhttp_accept_socket_with_handle(s->http, fd);
        if (!s->bound) {
            evutil_closesocket(fd);
            err = mb_diag_set(diag, MB_EIO, "%s: cannot listen on %s", conf->name, conf->bind);
            goto fail;
        }
    }
    if (getsockname(evhttp_bound_socket_get_fd(s->bound), (struct sockaddr *)&ss, &sl) == 0) {
        char ip[INET6_ADDRSTRLEN] = "?";
        if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
            inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
            snprintf(s->addr, sizeof s->addr, "[%s]:%u", ip, ntohs(a->sin6_port));
        } else {
            struct sockaddr_in *a = (struct sockaddr_in *)&ss;
            inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
            snprintf(s->addr, sizeof s->addr, "%s:%u", ip, ntohs(a->sin_port));
        }
    }
    s->sweep = event_new(loop_base(lp), -1, EV_PERSIST, on_sweep, s);
    event_add(s->sweep, &tv);
    *out = s;
    return MB_OK;
fail:
    https_free(s);
    return err;
}

void https_free(struct https *s)
{
    if (!s)
        return;
    if (s->sweep)
        event_free(s->sweep);
    if (s->http)
        evhttp_free(s->http); /* frees every connection: their callbacks are cleared */
    for (size_t i = 0; i < s->nconns; i++)
        free_conn(s->conns[i]);
    atomic_fetch_sub(s->total, s->nconns);

    for (size_t i = 0; i < s->nroutes; i++)
        mb_free(s->routes[i].path);
    mb_free(s->routes);
    mb_free(s->conns);
    mb_free(s->name);
    mb_free(s->bind);
    mb_free(s);
}

void https_route(struct https *s, const char *path, https_handler *fn, void *ctx)
{
    s->routes = mb_xrealloc(s->routes, (s->nroutes + 1) * sizeof *s->routes);
    s->routes[s->nroutes++] = (struct route){mb_xstrdup(path), fn, ctx};
}

const char *https_address(const struct https *s) { return s->addr; }

void https_stop_accepting(struct https *s)
{
    if (s->bound) {
        evhttp_del_accept_socket(s->http, s->bound);
        s->bound = NULL;
    }
}

size_t https_open_connections(const struct https *s) { return atomic_load(&s->open); }

void https_drain(struct https *s)
{
    struct timeval tv = {0, 50 * 1000};

    https_stop_accepting(s);
    s->draining = true;
    /* Sweep more often, so the count of open connections follows closely. */
    event_del(s->sweep);
    event_add(s->sweep, &tv);
}

unsigned long https_timeouts(const struct https *s) { return atomic_load(&s->timeouts); }
unsigned long https_rejected(const struct https *s) { return atomic_load(&s->rejected); }
unsigned long https_key_update_closes(const struct https *s)
{
    return atomic_load(&s->key_update_closes);
}

const char *https_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);

    *len = evbuffer_get_length(in);
    return *len ? (const char *)evbuffer_pullup(in, -1) : NULL;
}

const char *https_method(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    default:
        return "OTHER";
    }
}

const char *https_path(struct evhttp_request *req)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *p = u ? evhttp_uri_get_path(u) : NULL;
    return p && *p ? p : "/";
}

const char *https_query_param(struct evhttp_request *req, const char *name, char *buf,
                              size_t buflen)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *q = u ? evhttp_uri_get_query(u) : NULL;
    struct evkeyvalq kv;
    const char *v;

    if (!q || evhttp_parse_query_str(q, &kv) != 0)
        return NULL;
    v = evhttp_find_header(&kv, name);
    if (v)
        snprintf(buf, buflen, "%s", v);
    evhttp_clear_headers(&kv);
    return v ? buf : NULL;
}

static const char *reason(int code)
{
    switch (code) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 503:
        return "Service Unavailable";
    default:
        return code < 400 ? "OK" : "Error";
    }
}

void https_reply(struct evhttp_request *req, int code, const char *content_type, const char *body,
                 size_t len)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);

    if (content_type)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", content_type);
    evhttp_add_header(evhttp_request_get_output_headers(req), "X-Content-Type-Options", "nosniff");
    if (len)
        evbuffer_add(out, body, len);
    evhttp_send_reply(req, code, reason(code), NULL);
}
