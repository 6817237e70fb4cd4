/*
 * kapi.c -- libcurl multi on libevent (curl's docs/examples/hiperfifo.c).
 *
 * One `struct sock` per socket libcurl wants watched, with an embedded event,
 * attached to the socket with curl_multi_assign. The timer callback only arms
 * or deletes one evtimer. After every curl_multi_socket_action we drain
 * finished transfers with curl_multi_info_read and deliver them.
 *
 * Re-entrancy: libcurl refuses most multi calls from inside its callbacks,
 * so nothing of ours runs there. Streamed data is appended to the call's
 * buffer by the write callback and handed to on_data after socket_action has
 * returned (flush_streams), as are completions (check_done); both may then
 * submit or cancel freely.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>
#include <strings.h>
#include <sys/stat.h>

#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/kapi.h"
#include "membudget/log.h"
#include "membudget/loop.h"

#define DEFAULT_TIMEOUT_MS 30000u
#define DEFAULT_MAX_RESPONSE ((size_t)64 << 20)
#define MAX_ERRBODY ((size_t)64 << 10)        /* non-200 answers to a streamed request */
#define MAX_STREAM_BACKLOG ((size_t)64 << 20) /* streamed bytes waiting for on_data */
#define TOKEN_RECHECK_MS 1000u
#define MAX_TOKEN_BYTES 65536

struct call {
    TAILQ_ENTRY(call) link; /* in kapi.calls, or kapi.failed */
    struct kapi *k;
    uint64_t id;
    CURL *easy;
    struct curl_slist *headers;
    char *body;           /* request body (owned; libcurl does not copy) */
    struct mb_buf resp;   /* buffered response (capped) */
    struct mb_buf stream; /* streamed data not yet given to on_data */
    bool (*on_data)(void *ctx, const char *data, size_t len);
    kapi_done_fn *done;
    void *ctx;
    bool cancelled;          /* done will not be called */
    bool waiting;            /* queued behind max_inflight, not yet in the multi handle */
    TAILQ_ENTRY(call) wlink; /* in kapi.waiting while `waiting` */
    bool aborted;            /* on_data asked to stop */
    bool too_big;            /* the buffered body hit its cap */
    bool err_capped;         /* a failed answer's body was cut at MAX_ERRBODY */
    size_t cap;              /* this call's cap on a buffered body */
    long retry_after;
    char errbuf[CURL_ERROR_SIZE];
};

struct sock {
    TAILQ_ENTRY(sock) link; /* in kapi.socks */
    curl_socket_t fd;
    struct event *ev;
    struct kapi *k;
};

struct kapi {
    struct event_base *base;
    const struct mb_clock *clk;
    CURLM *multi;
    struct event *timer;
    struct event *deferred;    /* delivers calls that failed at submit time */
    TAILQ_HEAD(, call) calls;  /* in flight, including waiting ones; newest first */
    TAILQ_HEAD(, call) failed; /* submit failures waiting for `deferred`; newest first */
    TAILQ_HEAD(, sock) socks;  /* sockets libcurl asked us to watch */
    uint64_t next_id;
    size_t ncalls;              /* in flight, including waiting ones */
    size_t active;              /* in the multi handle */
    unsigned max_inflight;      /* 0: no cap */
    TAILQ_HEAD(, call) waiting; /* calls waiting for a slot, oldest first */
    bool absolute;              /* request paths are whole URLs (scrapes) */
    size_t nstreams;            /* calls with on_data in flight */
    const char *protocols;
    bool in_curl; /* inside curl_multi_socket_action */
    /* configuration */
    char *server;
    char *ca_pem, *ca_file, *cert_pem, *cert_file, *key_pem, *key_file;
    char *user_agent;
    char *proxy;                /* the API server's proxy (kubeconfig proxy-url), or NULL */
    const struct kapi_ops *ops; /* kapi_new_ops: requests go there, not to libcurl */
    void *ops_ctx;
    mb_mono_ms trimmed; /* last malloc_trim */
    bool insecure;
    unsigned timeout_ms;
    size_t max_response;
    /* bearer token */
    char *token; /* current value (fixed, or last read from token_file) */
    char *token_file;
    struct timespec token_mtime;
    off_t token_size;
    mb_mono_ms token_checked;
};

static void check_done(struct kapi *k);
static void flush_streams(struct kapi *k);

/* --- URLs in logs ------------------------------------------------------------- */

void kapi_redact_url(const char *url, char *out, size_t len)
{
    const char *scheme = strstr(url, "://");
    const char *host = scheme ? scheme + 3 : url;
    size_t hl = strcspn(host, "/?#");
    const char *at = memchr(host, '@', hl);
    if (!at) {
        snprintf(out, len, "%s", url);
        return;
    }
    snprintf(out, len, "%.*sREDACTED@%s", (int)(host - url), url, at + 1);
}

/* --- bearer token ------------------------------------------------------------ */

/* Re-read the token file when its mtime or size changed (checked at most once
 * a second). On a read error the previous token stays: a rotation caught
 * half-way is retried on the next request. */
static void refresh_token(struct kapi *k, mb_mono_ms now)
{
    struct stat st;
    if (!k->token_file || (k->token && now - k->token_checked < TOKEN_RECHECK_MS))
        return;
    k->token_checked = now;
    if (stat(k->token_file, &st) != 0) {
        log_warn("token file unreadable", "{s:s,s:s}", "file", k->token_file, "error",
                 strerror(errno));
        return;
    }
    if (k->token && st.st_mtim.tv_sec == k->token_mtime.tv_sec &&
        st.st_mtim.tv_nsec == k->token_mtime.tv_nsec && st.st_size == k->token_size)
        return;
    FILE *f = fopen(k->token_file, "r");
    if (!f)
        return;
    char *buf = mb_xmalloc(MAX_TOKEN_BYTES + 1);
    size_t n = fread(buf, 1, MAX_TOKEN_BYTES, f);
    fclose(f);
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    if (n == 0) {
        mb_free(buf);
        return;
    }
    if (k->token)
        log_info("token file re-read", "{s:s}", "file", k->token_file);
    mb_free(k->token);
    k->token = buf;
    k->token_mtime = st.st_mtim;
    k->token_size = st.st_size;
}

/* --- libcurl <-> libevent ------------------------------------------------------ */

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct kapi *k = arg;
    int running;
    (void)fd;
    (void)what;
    k->in_curl = true;
    curl_multi_socket_action(k->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    k->in_curl = false;
    flush_streams(k);
    check_done(k);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    struct kapi *k = arg;
    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(k->timer);
    } else {
        struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        evtimer_add(k->timer, &tv);
    }
    return 0;
}

static void on_sock(evutil_socket_t fd, short what, void *arg)
{
    struct kapi *k = arg;
    int running,
        action = (what & EV_READ ? CURL_CSELECT_IN : 0) | (what & EV_WRITE ? CURL_CSELECT_OUT : 0);
    k->in_curl = true;
    curl_multi_socket_action(k->multi, fd, action, &running);
    k->in_curl = false;
    flush_streams(k);
    check_done(k);
}

static void sock_free(struct kapi *k, struct sock *s)
{
    TAILQ_REMOVE(&k->socks, s, link);
    if (s->ev)
        event_free(s->ev);
    mb_free(s);
}

static int sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    struct kapi *k = arg;
    struct sock *s = sockp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            sock_free(k, s);
            curl_multi_assign(k->multi, fd, NULL);
        }
        return 0;
    }
    short kind = (short)((what & CURL_POLL_IN ? EV_READ : 0) |
                         (what & CURL_POLL_OUT ? EV_WRITE : 0) | EV_PERSIST);
    if (!s) {
        s = mb_xcalloc(1, sizeof *s);
        s->fd = fd;
        s->k = k;
        TAILQ_INSERT_HEAD(&k->socks, s, link);
        curl_multi_assign(k->multi, fd, s);
    } else if (s->ev) {
        event_free(s->ev);
    }
    s->ev = event_new(k->base, fd, kind, on_sock, k);
    event_add(s->ev, NULL);
    return 0;
}

/* libcurl may close a socket before it says CURL_POLL_REMOVE; by then
 * another thread may have been given the same descriptor number, and our
 * event_free would epoll_ctl it. So the event goes first, then the close. */
static int close_cb(void *arg, curl_socket_t fd)
{
    struct kapi *k = arg;
    struct sock *s;
    TAILQ_FOREACH(s, &k->socks, link)
    {
        if (s->fd == fd && s->ev) {
            event_free(s->ev);
            s->ev = NULL;
        }
    }
    return close(fd);
}

/* --- calls --------------------------------------------------------------------- */

static void call_free(struct call *c)
{
    if (!c)
        return;
    if (c->easy)
        curl_easy_cleanup(c->easy);
    curl_slist_free_all(c->headers);
    mb_free(c->body);
    mb_buf_cleanup(&c->resp);
    mb_buf_cleanup(&c->stream);
    mb_free(c);
}

static void unlink_call(struct kapi *k, struct call *c)
{
    TAILQ_REMOVE(&k->calls, c, link);
    k->ncalls--;
    if (c->on_data)
        k->nstreams--;
    if (c->waiting) {
        TAILQ_REMOVE(&k->waiting, c, wlink);
        c->waiting = false;
    } else {
        k->active--;
    }
}

/* Start waiting calls while slots are free. A call that libcurl refuses is
 * failed through the deferred path. */
static void start_waiting(struct kapi *k)
{
    struct call *c;
    while ((c = TAILQ_FIRST(&k->waiting)) && (!k->max_inflight || k->active < k->max_inflight)) {
        TAILQ_REMOVE(&k->waiting, c, wlink);
        c->waiting = false;
        k->active++;
        if (curl_multi_add_handle(k->multi, c->easy) != CURLM_OK) {
            unlink_call(k, c);
            snprintf(c->errbuf, sizeof c->errbuf, "cannot start the request");
            TAILQ_INSERT_HEAD(&k->failed, c, link);
            event_active(k->deferred, EV_TIMEOUT, 0);
        }
    }
}

static void deliver(struct call *c, mb_err err, long status, const char *errmsg)
{
    struct kapi_resp r = {
        .err = err,
        .status = status,
        .body = c->resp.p ? c->resp.p : "",
        .len = c->resp.len,
        .retry_after_s = c->retry_after,
        .errmsg = errmsg ? errmsg : "",
    };
    if (!c->cancelled && c->done)
        c->done(c->ctx, &r);
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct call *c = arg;
    size_t n = size * nmemb;
    long status = 0;

    if (c->cancelled)
        return 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    if (c->on_data && status == 200) {
        if (c->aborted)
            return 0;
        if (mb_buf_add(&c->stream, data, n) != MB_OK) {
            c->too_big = true; /* the consumer cannot keep up: give up on this stream */
            return 0;
        }
        return n;
    }
    if (status < 200 || status >= 300) {
        /* A failed answer is read for its Status only: the first 64 KiB. */
        size_t room = c->resp.len < MAX_ERRBODY ? MAX_ERRBODY - c->resp.len : 0;
        if (n > room) {
            (void)mb_buf_add(&c->resp, data, room);
            c->err_capped = true;
            return 0;
        }
    }
    if (mb_buf_add(&c->resp, data, n) != MB_OK) {
        c->too_big = true;
        return 0;
    }
    return n;
}

static size_t header_cb(char *data, size_t size, size_t nmemb, void *arg)
{
    struct call *c = arg;
    size_t n = size * nmemb;
    static const char RA[] = "retry-after:";

    static const char CL[] = "content-length:";
    if (n > sizeof RA - 1 && strncasecmp(data, RA, sizeof RA - 1) == 0) {
        long v = strtol(data + sizeof RA - 1, NULL, 10);
        c->retry_after = v >= 0 && v < 3600 ? v : -1;
    }
    if (n > sizeof CL - 1 && strncasecmp(data, CL, sizeof CL - 1) == 0 && !c->on_data) {
        /* A body declared larger than we would keep is refused before a
         * byte of it is read (a failed answer is cut, not refused). */
        unsigned long long v = strtoull(data + sizeof CL - 1, NULL, 10);
        long status = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300 && v > c->cap) {
            c->too_big = true;
            return 0;
        }
    }
    return n;
}

/* Hand streamed data to on_data, outside libcurl. A callback may cancel or
 * submit anything, so calls are looked up again by id each time. */
static bool give_stream(struct kapi *k, struct call *c)
{
    while (c->stream.len && !c->cancelled && !c->aborted) {
        struct mb_buf chunk = c->stream;
        mb_buf_init(&c->stream, MAX_STREAM_BACKLOG);
        uint64_t id = c->id;
        bool go = c->on_data(c->ctx, chunk.p, chunk.len);
        mb_buf_cleanup(&chunk);
        struct call *again;
        TAILQ_FOREACH(again, &k->calls, link)
        if (again->id == id)
            break;
        if (!again)
            return false; /* cancelled (and freed) by the callback */
        if (!go)
            c->aborted = true;
    }
    return true;
}

static void flush_streams(struct kapi *k)
{
    /* Only streamed requests (watches) ever have work here: skip the scan
     * when there are none, so thousands of plain requests stay O(1) each. */
    if (!k->nstreams)
        return;
    bool more = true;
    while (more) {
        more = false;
        struct call *c;
        TAILQ_FOREACH(c, &k->calls, link)
        {
            if (c->stream.len && !c->cancelled && !c->aborted) {
                give_stream(k, c);
                more = true; /* the list may have changed: start over */
                break;
            }
        }
    }
    /* Streams their consumer gave up on: end them now. */
    for (struct call *c = TAILQ_FIRST(&k->calls), *next; c; c = next) {
        next = TAILQ_NEXT(c, link);
        if (c->aborted && !c->cancelled) {
            curl_multi_remove_handle(k->multi, c->easy);
            unlink_call(k, c);
            deliver(c, MB_EIO, 200, "aborted");
            call_free(c);
            next = TAILQ_FIRST(&k->calls); /* deliver may have changed the list */
        }
    }
}

/* A large body is gone: give its memory back to the system (glibc keeps
 * freed memory otherwise), at most once a second. */
static void trim(struct kapi *k)
{
    mb_mono_ms now = k->clk->mono_ms(k->clk->ctx);
    if (k->trimmed && now - k->trimmed < 1000)
        return;
    k->trimmed = now;
    mb_trim();
}

static void check_done(struct kapi *k)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(k->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct call *c = NULL;
        CURLcode rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        /* Whatever streamed before the end goes to on_data first. */
        if (!give_stream(k, c))
            continue;
        curl_multi_remove_handle(k->multi, msg->easy_handle);
        unlink_call(k, c);
        long status = 0;
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
        if (rc == CURLE_OK && status >= 300 && status < 400) {
            /* Never followed: say so, and where it pointed (without any
             * credentials in that URL). */
            char *loc = NULL, where[300], text[400];
            curl_easy_getinfo(c->easy, CURLINFO_REDIRECT_URL, &loc);
            kapi_redact_url(loc ? loc : "(no Location)", where, sizeof where);
            snprintf(text, sizeof text,
                     "redirect (HTTP %ld) to %s refused: redirects are not followed", status,
                     where);
            deliver(c, MB_EIO, status, text);
        } else if (rc == CURLE_OK || c->err_capped) {
            deliver(c, MB_OK, status, NULL);
        } else if (c->too_big) {
            deliver(c, MB_ETOOBIG, status, "response larger than the configured maximum");
        } else if (c->aborted) {
            deliver(c, MB_EIO, status, "aborted");
        } else {
            const char *m = c->errbuf[0] ? c->errbuf : curl_easy_strerror(rc);
            deliver(c, rc == CURLE_OPERATION_TIMEDOUT ? MB_ETIMEOUT : MB_EIO, status, m);
        }
        bool large = c->resp.cap > ((size_t)8 << 20);
        call_free(c);
        if (large)
            trim(k);
    }
    start_waiting(k);
}

static void on_deferred(evutil_socket_t fd, short what, void *arg)
{
    struct kapi *k = arg;
    (void)fd;
    (void)what;
    struct call *c;
    while ((c = TAILQ_FIRST(&k->failed))) {
        TAILQ_REMOVE(&k->failed, c, link);
        deliver(c, MB_EINVAL, 0, c->errbuf);
        call_free(c);
    }
}

static void tls_of(struct kapi *k, CURL *e);
static void request_of(struct kapi *k, struct call *c, const struct kapi_req *req);

/* One request's libcurl handle: URL, callbacks, limits, then its TLS and
 * its headers, body and method. False (why in c->errbuf) when the URL is
 * too long. */
static bool setup_easy(struct kapi *k, struct call *c, const struct kapi_req *req)
{
    CURL *e = c->easy;
    struct mb_buf url;

    mb_buf_init(&url, 16384);
    if ((!k->absolute && mb_buf_adds(&url, k->server)) || mb_buf_adds(&url, req->path)) {
        mb_buf_cleanup(&url);
        snprintf(c->errbuf, sizeof c->errbuf, "request path too long");
        return false;
    }
    curl_easy_setopt(e, CURLOPT_URL, mb_buf_str(&url));
    mb_buf_cleanup(&url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)c);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_cb);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, k);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, k->protocols);
    /* Pod endpoints are IP literals, thousands of them: a name cache would
     * only grow, and libcurl prunes it by scanning every entry per request. */
    if (k->absolute) {
        /* Pod calls go to the pod and nowhere else: no proxy, whatever the
         * environment says (http_proxy, HTTPS_PROXY, NO_PROXY). */
        curl_easy_setopt(e, CURLOPT_PROXY, "");
        curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
        curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
        /* One request per pod per cycle: a kept connection is never reused
         * before the cache evicts it, and libcurl's connection cache costs
         * a scan per new connection. Close after each transfer. */
        curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    } else if (k->proxy) {
        curl_easy_setopt(e, CURLOPT_PROXY, k->proxy); /* the kubeconfig's proxy-url */
    }
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     (long)(req->timeout_ms ? req->timeout_ms : k->timeout_ms));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(e, CURLOPT_USERAGENT, k->user_agent);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);
    tls_of(k, e);
    request_of(k, c, req);
    return true;
}

/* The API server's trust and client credentials (kubeconfig). */
static void tls_of(struct kapi *k, CURL *e)
{
    if (k->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (k->ca_pem) {
        struct curl_blob b = {k->ca_pem, strlen(k->ca_pem), CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
    } else if (k->ca_file) {
        curl_easy_setopt(e, CURLOPT_CAINFO, k->ca_file);
    }
    if (k->cert_pem) {
        struct curl_blob b = {k->cert_pem, strlen(k->cert_pem), CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM");
    } else if (k->cert_file) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, k->cert_file);
    }
    if (k->key_pem) {
        struct curl_blob b = {k->key_pem, strlen(k->key_pem), CURL_BLOB_NOCOPY};
        curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
        curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM");
    } else if (k->key_file) {
        curl_easy_setopt(e, CURLOPT_SSLKEY, k->key_file);
    }
}

/* The request's headers, body and method. */
static void request_of(struct kapi *k, struct call *c, const struct kapi_req *req)
{
    CURL *e = c->easy;
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Accept: application/json");
    if (k->token) {
        char *a = mb_xasprintf("Authorization: Bearer %s", k->token);
        h = curl_slist_append(h, a);
        mb_free(a);
    }
    const char *method = req->method ? req->method : "GET";
    if (req->body || strcmp(method, "GET") != 0) {
        char *ct = mb_xasprintf("Content-Type: %s",
                                req->content_type ? req->content_type : "application/json");
        h = curl_slist_append(h, ct);
        mb_free(ct);
        if (req->body) {
            c->body = mb_xmalloc(req->body_len + 1);
            memcpy(c->body, req->body, req->body_len);
            c->body[req->body_len] = '\0';
        }
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body ? c->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(c->body ? req->body_len : 0));
        h = curl_slist_append(h, "Expect:"); /* no 100-continue round trip */
    }
    if (strcmp(method, "GET") == 0)
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "POST") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    c->headers = h;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
}

static struct kapi *kapi_alloc(void)
{
    struct kapi *k = mb_xcalloc(1, sizeof *k);
    TAILQ_INIT(&k->calls);
    TAILQ_INIT(&k->failed);
    TAILQ_INIT(&k->waiting);
    TAILQ_INIT(&k->socks);
    return k;
}

struct kapi *kapi_new_ops(const struct kapi_ops *ops, void *ops_ctx, const char *server)
{
    struct kapi *k = kapi_alloc();
    k->ops = ops;
    k->ops_ctx = ops_ctx;
    k->server = mb_xstrdup(server ? server : "fake://");
    return k;
}

uint64_t kapi_submit(struct kapi *k, const struct kapi_req *req, kapi_done_fn *done, void *ctx)
{
    if (k->ops) {
        uint64_t id = ++k->next_id;
        k->ops->submit(k->ops_ctx, id, req, done, ctx);
        return id;
    }
    struct call *c = mb_xcalloc(1, sizeof *c);

    c->k = k;
    c->id = ++k->next_id;
    c->done = done;
    c->ctx = ctx;
    c->on_data = req->on_data;
    c->retry_after = -1;
    c->cap = req->on_data ? MAX_ERRBODY : req->max_response ? req->max_response : k->max_response;
    mb_buf_init(&c->resp, c->cap);
    mb_buf_init(&c->stream, MAX_STREAM_BACKLOG);
    refresh_token(k, k->clk->mono_ms(k->clk->ctx));
    c->easy = curl_easy_init();
    bool path_ok =
        req->path &&
        (k->absolute ? (!strncmp(req->path, "http://", 7) ||
                        (!strncmp(req->path, "https://", 8) && strstr(k->protocols, "https")))
                     : req->path[0] == '/');
    bool queue = k->max_inflight && k->active >= k->max_inflight;
    if (!c->easy || !path_ok || !setup_easy(k, c, req) ||
        (!queue && curl_multi_add_handle(k->multi, c->easy) != CURLM_OK)) {
        if (!c->errbuf[0])
            snprintf(c->errbuf, sizeof c->errbuf, "cannot start the request");
        /* Delivered from the loop, never from inside kapi_submit. */
        TAILQ_INSERT_HEAD(&k->failed, c, link);
        event_active(k->deferred, EV_TIMEOUT, 0);
        return c->id;
    }
    TAILQ_INSERT_HEAD(&k->calls, c, link);
    k->ncalls++;
    if (c->on_data)
        k->nstreams++;
    if (queue) {
        c->waiting = true;
        TAILQ_INSERT_TAIL(&k->waiting, c, wlink);
    } else {
        k->active++;
    }
    return c->id;
}

void kapi_cancel(struct kapi *k, uint64_t id)
{
    if (k->ops) {
        k->ops->cancel(k->ops_ctx, id);
        return;
    }
    struct call *c;
    TAILQ_FOREACH(c, &k->failed, link)
    if (c->id == id)
        c->cancelled = true;
    TAILQ_FOREACH(c, &k->calls, link)
    {
        if (c->id != id)
            continue;
        c->cancelled = true;
        if (k->in_curl)
            return; /* cannot happen (nothing of ours runs inside libcurl); kept safe */
        if (!c->waiting)
            curl_multi_remove_handle(k->multi, c->easy);
        unlink_call(k, c);
        call_free(c);
        start_waiting(k);
        return;
    }
}

size_t kapi_inflight(const struct kapi *k) { return k->ncalls; }

const char *kapi_server(const struct kapi *k) { return k->server; }

static char *dup_or_null(const char *s) { return s && *s ? mb_xstrdup(s) : NULL; }

mb_err kapi_new(struct loop *lp, const struct mb_clock *clk, const struct kapi_conf *conf,
                struct kapi **out, struct mb_diag *diag)
{
    static bool global_done;

    if (loop_kind_of(lp) != LOOP_CLIENT)
        return mb_diag_set(diag, MB_EINVAL, "kapi needs a LOOP_CLIENT loop (see loop.h)");
    if (!conf->absolute && (!conf->server || (strncmp(conf->server, "https://", 8) != 0 &&
                                              strncmp(conf->server, "http://", 7) != 0)))
        return mb_diag_set(diag, MB_EINVAL,
                           "API server URL must start with https:// or http://: %s",
                           conf->server ? conf->server : "(none)");
    if (!global_done) {
        /* Once per process, on the main thread before any other thread starts. */
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
            return mb_diag_set(diag, MB_EIO, "curl_global_init failed");
        global_done = true;
    }
    struct kapi *k = kapi_alloc();
    k->base = loop_base(lp);
    k->clk = clk;
    k->server = mb_xstrdup(conf->server ? conf->server : "");
    k->absolute = conf->absolute;
    k->max_inflight = conf->max_inflight;
    k->protocols = conf->absolute && !conf->allow_https ? "http" : "http,https";
    size_t sl = strlen(k->server);
    while (sl > 0 && k->server[sl - 1] == '/')
        k->server[--sl] = '\0';
    k->ca_pem = dup_or_null(conf->ca_pem);
    k->ca_file = dup_or_null(conf->ca_file);
    k->cert_pem = dup_or_null(conf->cert_pem);
    k->cert_file = dup_or_null(conf->cert_file);
    k->key_pem = dup_or_null(conf->key_pem);
    k->key_file = dup_or_null(conf->key_file);
    k->token = dup_or_null(conf->token);
    k->token_file = dup_or_null(conf->token_file);
    k->insecure = conf->insecure;
    k->user_agent = mb_xstrdup(conf->user_agent ? conf->user_agent : "membudget");
    k->proxy = conf->proxy && *conf->proxy && !conf->absolute ? mb_xstrdup(conf->proxy) : NULL;
    k->timeout_ms = conf->timeout_ms ? conf->timeout_ms : DEFAULT_TIMEOUT_MS;
    k->max_response = conf->max_response ? conf->max_response : DEFAULT_MAX_RESPONSE;
    k->multi = curl_multi_init();
    k->timer = evtimer_new(k->base, on_timer, k);
    k->deferred = event_new(k->base, -1, 0, on_deferred, k);
    if (!k->multi || !k->timer || !k->deferred) {
        kapi_free(k);
        return mb_diag_set(diag, MB_ENOMEM, "cannot create the HTTP client");
    }
    curl_multi_setopt(k->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(k->multi, CURLMOPT_SOCKETDATA, k);
    curl_multi_setopt(k->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(k->multi, CURLMOPT_TIMERDATA, k);
    /* Watches hold a connection each; keep a few idle ones for requests. */
    curl_multi_setopt(k->multi, CURLMOPT_MAXCONNECTS, 32L);
    if (k->token_file) {
        refresh_token(k, clk->mono_ms(clk->ctx));
        if (!k->token) {
            mb_err e = mb_diag_set(diag, MB_EIO, "cannot read the token file %s", k->token_file);
            kapi_free(k);
            return e;
        }
    }
    *out = k;
    return MB_OK;
}

void kapi_free(struct kapi *k)
{
    if (!k)
        return;
    struct call *c;
    while ((c = TAILQ_FIRST(&k->calls))) {
        if (!c->waiting)
            curl_multi_remove_handle(k->multi, c->easy);
        unlink_call(k, c);
        call_free(c);
    }
    while ((c = TAILQ_FIRST(&k->failed))) {
        TAILQ_REMOVE(&k->failed, c, link);
        call_free(c);
    }
    if (k->multi)
        curl_multi_cleanup(k->multi);
    struct sock *s;
    while ((s = TAILQ_FIRST(&k->socks))) /* any libcurl did not remove itself */
        sock_free(k, s);
    if (k->timer)
        event_free(k->timer);
    if (k->deferred)
        event_free(k->deferred);
    mb_free(k->server);
    mb_free(k->ca_pem);
    mb_free(k->ca_file);
    mb_free(k->cert_pem);
    mb_free(k->cert_file);
    mb_free(k->key_pem);
    mb_free(k->key_file);
    mb_free(k->token);
    mb_free(k->token_file);
    mb_free(k->user_agent);
    mb_free(k->proxy);
    mb_free(k);
}
