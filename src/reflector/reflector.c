/*
 * reflector.c -- list, then watch, with resume, backoff and relist on 410.
 *
 * States: IDLE -> LISTING (one request per page) -> WATCHING (one streamed
 * request) -> WATCHING ... ; any failure -> WAITING (a timer) -> LISTING or
 * WATCHING. `rv` is the version to resume from: the list's, then each event's
 * and bookmark's. An empty rv means "relist".
 *
 * With conf.watch_list, a relist is a streamed list instead (KEP 3157, as
 * client-go's WatchListClient): one watch with sendInitialEvents=true whose
 * ADDED events are the list's items, ended by a BOOKMARK annotated
 * k8s.io/initial-events-end that carries the list's resourceVersion; the same
 * request then goes on as the watch. The API server answers it from its watch
 * cache, in one request instead of one per page, and no page is ever held
 * whole. A server that refuses it (422 from one without the feature) or does
 * not end its initial events (a bookmark without the annotation) is listed by
 * pages from then on.
 */
#include <curl/curl.h>
#include <event2/event.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/backoff.h"
#include "membudget/buf.h"
#include "membudget/kapi.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/reflector.h"
#include "membudget/wframe.h"

enum state { IDLE, LISTING, WATCHING, WAITING };

struct reflector {
    struct kapi *api;
    const struct mb_clock *clk;
    struct event *timer;
    struct reflector_sink sink;
    void *ctx;
    char *name, *path, *selector; /* selector already URL-escaped, or NULL */
    unsigned page_size, watch_timeout_s;
    bool watch_list; /* relist by a streamed list (refused once: false) */
    bool initial;    /* this watch is a streamed list: before its end bookmark */
    size_t max_event;
    enum state state;
    uint64_t call;  /* request in flight, 0 when none */
    char rv[64];    /* resume version; "" = relist next */
    char *cont;     /* list continue token */
    bool in_relist; /* relist_begin sent, relist_end not yet */
    bool synced;
    bool watch_got_data; /* this watch delivered something */
    bool want_relist;    /* a 410 or a decode failure: relist next */
    bool stop_stream;    /* on_line refused a line: end this watch */
    const char *end_why; /* why this watch was ended by us or by an ERROR event
                            (static text), NULL: it ended by itself */
    size_t stream_items; /* events of this streamed list so far */
    struct wframe frame;
    struct mb_arena arena; /* each event's (or page's) JSON tree, reset after it */
    char *lean;            /* the text without managedFields (kobj_strip_managed_fields) */
    size_t lean_cap;
    struct backoff bo;
    uint64_t rnd;
    mb_mono_ms list_started;
    mb_mono_ms watch_started;
    unsigned gone_streak; /* 410s since the last healthy watch */
    uint64_t delay_ms;    /* the current wait (WAITING) */
    size_t max_page;      /* largest list page kept */
    unsigned long restarts, relists;
    struct mx_family *m_restarts, *m_relists, *m_events;
};

static void start_list(struct reflector *r);
static void start_watch(struct reflector *r);
static void start_stream_list(struct reflector *r);
static bool initial_event(struct reflector *r, enum kobj_ev type, const json_t *obj);
static void stream_list_done(struct reflector *r, const struct kapi_resp *resp);

static void count(struct mx_family *f, const char *a, const char *b)
{
    const char *v[2] = {a, b};
    if (f)
        mx_add(f, v, 1);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct reflector *r = arg;
    (void)fd;
    (void)what;
    if (r->state != WAITING)
        return;
    if (r->want_relist || !r->rv[0])
        start_list(r);
    else
        start_watch(r);
}

/* Try again after a backoff delay: relist when `relist`, else resume. */
static void retry(struct reflector *r, bool relist, const char *reason, long retry_after_s)
{
    uint64_t ms = backoff_next(&r->bo, backoff_rand(&r->rnd),
                               retry_after_s > 0 ? (uint64_t)retry_after_s * 1000 : 0);
    r->restarts++;
    count(r->m_restarts, r->name, reason);
    if (relist)
        r->want_relist = true;
    r->state = WAITING;
    r->call = 0;
    r->delay_ms = ms;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(r->timer, &tv);
    log_warn("watch restart", "{s:s,s:s,s:s,s:I,s:b}", "resource", r->name, "reason", reason,
             "resourceVersion", r->rv, "delay_ms", (json_int_t)ms, "relist", relist || !r->rv[0]);
}

/* 410 Gone is not a failure of the server: our version is too old. Relist at
 * once, as client-go does (the list itself is paced by the backoff if it
 * fails). */
static void relist_now(struct reflector *r)
{
    r->restarts++;
    count(r->m_restarts, r->name, "gone");
    log_info("watch expired (410 Gone): relisting", "{s:s}", "resource", r->name);
    r->want_relist = true;
    r->rv[0] = '\0';
    MB_FREE(r->cont);
    start_list(r);
}

/* --- list -------------------------------------------------------------------- */

/* The list is whole (r->rv is its version): the sink diffs, and is synced. */
static void list_complete(struct reflector *r, const char *how)
{
    r->in_relist = false;
    r->sink.relist_end(r->ctx);
    r->want_relist = false;
    r->relists++;
    count(r->m_relists, r->name, NULL);
    mb_mono_ms took = r->clk->mono_ms(r->clk->ctx) - r->list_started;
    log_info("list complete", "{s:s,s:s,s:I,s:b,s:s}", "resource", r->name, "resourceVersion",
             r->rv, "duration_ms", (json_int_t)took, "initial", !r->synced, "via", how);
    r->synced = true;
    if (r->sink.synced)
        r->sink.synced(r->ctx);
}

/* A decoded answer is done with: its tree goes with the arena. */
static void drop_tree(struct reflector *r, json_t *tree)
{
    json_decref(tree);
    mb_arena_reset(&r->arena);
    if (r->lean_cap > (1u << 20)) { /* a list page's: not kept */
        MB_FREE(r->lean);
        r->lean_cap = 0;
    }
}

/* text[len] without managedFields, in r->lean: nothing here reads them, and
 * they are a third or more of a pod's bytes. Returns its length. */
static size_t lean_text(struct reflector *r, const char *text, size_t len)
{
    if (len + 1 > r->lean_cap) {
        r->lean_cap = len + 1 > 4096 ? len + 1 : 4096;
        mb_free(r->lean);
        r->lean = mb_xmalloc(r->lean_cap);
    }
    return kobj_strip_managed_fields(text, len, r->lean);
}

static void on_page(void *arg, const struct kapi_resp *resp)
{
    struct reflector *r = arg;
    struct kobj_status st;
    r->call = 0;
    if (resp->err || resp->status != 200) {
        kobj_status_from_body(resp->status, resp->body, resp->len, &st);
        if (resp->status == 410) /* continue token expired: list again from scratch */
            MB_FREE(r->cont);
        if (resp->err == MB_ETOOBIG)
            log_error("list page refused: larger than the page limit", "{s:s,s:I,s:i}", "resource",
                      r->name, "max_bytes", (json_int_t)r->max_page, "page_size",
                      (int)r->page_size);
        else
            log_warn("list failed", "{s:s,s:i,s:s}", "resource", r->name, "status",
                     (int)resp->status, "error", resp->err ? resp->errmsg : st.message);
        retry(r, true, resp->err ? "list-error" : "list-status", resp->retry_after_s);
        return;
    }
    json_error_t je;
    size_t n = lean_text(r, resp->body, resp->len);
    mb_json_arena_begin(&r->arena); /* as a watch event's (on_line) */
    json_t *list = json_loadb(r->lean, n, 0, &je);
    mb_json_arena_end();
    const json_t *items = json_object_get(list, "items"), *it;
    const char *rv = kobj_rv(list);
    if (!json_is_array(items) || !rv) {
        log_error("list answer is not a list", "{s:s,s:s}", "resource", r->name, "error",
                  list ? "no items or resourceVersion" : je.text);
        drop_tree(r, list);
        MB_FREE(r->cont);
        retry(r, true, "list-decode", -1);
        return;
    }
    if (!r->cont && !r->in_relist) {
        r->in_relist = true;
        r->sink.relist_begin(r->ctx);
    }
    size_t i;
    json_array_foreach(items, i, it) r->sink.item(r->ctx, it);
    const char *cont = kobj_continue(list);
    MB_FREE(r->cont);
    if (cont) {
        r->cont = mb_xstrdup(cont);
        drop_tree(r, list);
        start_list(r);
        return;
    }
    snprintf(r->rv, sizeof r->rv, "%s", rv);
    drop_tree(r, list);
    list_complete(r, "pages");
    start_watch(r);
}

static void start_list(struct reflector *r)
{
    if (r->watch_list) {
        start_stream_list(r);
        return;
    }
    struct mb_buf path;
    mb_buf_init(&path, 1 << 20);
    mb_buf_printf(&path, "%s?limit=%u", r->path, r->page_size);
    if (r->selector)
        mb_buf_printf(&path, "&labelSelector=%s", r->selector);
    if (r->cont) {
        char *e = curl_easy_escape(NULL, r->cont, 0);
        mb_buf_printf(&path, "&continue=%s", e ? e : "");
        curl_free(e);
    } else {
        r->list_started = r->clk->mono_ms(r->clk->ctx);
        /* A relist that restarts from page one begins the diff again. */
        r->in_relist = false;
    }
    struct kapi_req req = {.method = "GET",
                           .path = mb_buf_str(&path),
                           .timeout_ms = 60000,
                           .max_response = r->max_page};
    r->state = LISTING;
    r->call = kapi_submit(r->api, &req, on_page, r);
    mb_buf_cleanup(&path);
}

/* --- watch ------------------------------------------------------------------- */

/* One decoded watch event. Returns false to end the request. */
static bool line_event(struct reflector *r, enum kobj_ev type, const json_t *obj)
{
    struct kobj_status st;
    if (type == KOBJ_ERROR) {
        kobj_status_decode(obj, &st);
        log_warn("watch error event", "{s:s,s:i,s:s,s:s}", "resource", r->name, "code",
                 (int)st.code, "reason", st.reason, "message", st.message);
        if (st.code == 410)
            r->rv[0] = '\0';
        r->want_relist = st.code == 410;
        r->stop_stream = true; /* the server ends the stream after an ERROR */
        r->end_why = st.code == 410 ? "410 Gone: the resourceVersion is too old"
                                    : "an ERROR event (the watch error event above)";
        return false;
    }
    r->watch_got_data = true;
    if (r->initial)
        return initial_event(r, type, obj);
    const char *rv = kobj_rv(obj);
    if (type != KOBJ_BOOKMARK) {
        count(r->m_events, r->name, kobj_ev_name(type));
        r->sink.event(r->ctx, type, obj);
    }
    if (rv && *rv)
        snprintf(r->rv, sizeof r->rv, "%s", rv);
    return true;
}

static bool on_line(void *arg, const char *line, size_t len)
{
    struct reflector *r = arg;
    enum kobj_ev type;
    json_t *obj = NULL;
    struct mb_diag d = {0};

    /* Decoded without managedFields, and the tree is read by the sink and
     * dropped (no sink keeps a reference): from the arena, released at once
     * after it. A pod event is hundreds of small nodes, a third of them in
     * managedFields; decoding them was most of the time of a sync. */
    size_t n = lean_text(r, line, len);
    mb_json_arena_begin(&r->arena);
    mb_err de = kobj_event_decode(r->lean, n, &type, &obj, &d);
    mb_json_arena_end();
    if (de != MB_OK) {
        log_error("watch event undecodable", "{s:s,s:s}", "resource", r->name, "error",
                  mb_arena_exhausted(&r->arena) ? "too large to decode" : d.msg);
        mb_arena_reset(&r->arena);
        r->want_relist = true; /* we may have missed something: start clean */
        r->stop_stream = true;
        r->end_why = "an event that could not be decoded";
        return false;
    }
    bool go_on = line_event(r, type, obj);
    drop_tree(r, obj);
    return go_on;
}

static bool on_data(void *arg, const char *data, size_t len)
{
    struct reflector *r = arg;
    mb_err e = wframe_feed(&r->frame, data, len, on_line, r);
    if (e == MB_ETOOBIG) {
        log_error("watch event too large", "{s:s,s:I}", "resource", r->name, "max_bytes",
                  (json_int_t)r->max_event);
        r->want_relist = true;
        r->end_why = "an event larger than the cap (the watch event too large above)";
        return false;
    }
    return !r->stop_stream;
}

/* A watch that ended (or was refused) less than this after it started is
 * not healthy, whatever it delivered: the next request waits out the
 * backoff, so a server that misbehaves forever gets a few requests a
 * second at most (client-go treats a "very short watch" the same way). */
#define SHORT_WATCH_MS 1000

static void on_watch_done(void *arg, const struct kapi_resp *resp)
{
    struct reflector *r = arg;
    struct kobj_status st;
    r->call = 0;
    if (r->state != WATCHING)
        return;
    if (r->initial) {
        stream_list_done(r, resp);
        return;
    }
    bool healthy =
        r->watch_got_data && r->clk->mono_ms(r->clk->ctx) - r->watch_started >= SHORT_WATCH_MS;
    if (healthy) {
        backoff_reset(&r->bo);
        r->gone_streak = 0;
    }
    bool gone = !r->rv[0] || (resp->err == MB_OK && resp->status == 410);
    if (gone) {
        /* The first 410 relists at once, as client-go; a 410 again and
         * again with no healthy watch between (a server that lost its
         * history, or lies) is paced by the backoff. */
        if (r->gone_streak++ == 0) {
            relist_now(r);
        } else {
            r->rv[0] = '\0';
            retry(r, true, "gone", -1);
        }
        return;
    }
    if (r->want_relist) { /* an event we could not read: relist, paced */
        retry(r, true, "undecodable", -1);
        return;
    }
    if (r->stop_stream) {
        retry(r, false, "error-event", -1);
        return;
    }
    if (resp->err == MB_OK && resp->status == 200) {
        /* The server ended the watch (timeoutSeconds): resume at once,
         * unless it ended at once. */
        log_debug("watch ended", "{s:s,s:s}", "resource", r->name, "resourceVersion", r->rv);
        if (healthy)
            start_watch(r);
        else
            retry(r, false, "short-watch", -1);
        return;
    }
    kobj_status_from_body(resp->status, resp->body, resp->len, &st);
    retry(r, false, resp->err ? "disconnected" : "watch-status", resp->retry_after_s);
}

/* A watch from r->rv; `initial`: a streamed list (from the newest version,
 * its initial events first). */
static void submit_watch(struct reflector *r, bool initial)
{
    struct mb_buf path;
    unsigned t =
        r->watch_timeout_s ? r->watch_timeout_s : 300 + (unsigned)(backoff_rand(&r->rnd) % 300);
    wframe_cleanup(&r->frame);
    wframe_init(&r->frame, r->max_event);
    r->watch_got_data = false;
    r->watch_started = r->clk->mono_ms(r->clk->ctx);
    r->stop_stream = false;
    r->end_why = NULL;
    r->stream_items = 0;
    r->initial = initial;
    mb_buf_init(&path, 1 << 20);
    mb_buf_printf(&path, "%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
                  r->path, initial ? "" : r->rv, t);
    if (initial)
        mb_buf_printf(&path, "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan");
    if (r->selector)
        mb_buf_printf(&path, "&labelSelector=%s", r->selector);
    struct kapi_req req = {.method = "GET",
                           .path = mb_buf_str(&path),
                           .timeout_ms = (t + 30) * 1000,
                           .on_data = on_data};
    r->state = WATCHING;
    r->call = kapi_submit(r->api, &req, on_watch_done, r);
    mb_buf_cleanup(&path);
}

static void start_watch(struct reflector *r) { submit_watch(r, false); }

/* --- streamed list (watch-list) ---------------------------------------------- */

static void start_stream_list(struct reflector *r)
{
    r->list_started = r->clk->mono_ms(r->clk->ctx);
    r->rv[0] = '\0';
    r->in_relist = true;
    r->sink.relist_begin(r->ctx);
    submit_watch(r, true);
}

/* Streamed lists refused: list by pages from now on. */
static void stop_streaming_lists(struct reflector *r, const char *why)
{
    r->watch_list = false;
    log_warn("the API server does not stream lists: listing by pages", "{s:s,s:s}", "resource",
             r->name, "reason", why);
}

/* An event of a streamed list before its end. Returns false to end the
 * request. */
static bool initial_event(struct reflector *r, enum kobj_ev type, const json_t *obj)
{
    r->stream_items++;
    switch (type) {
    case KOBJ_ADDED:
    case KOBJ_MODIFIED:
        r->sink.item(r->ctx, obj);
        return true;
    case KOBJ_DELETED: /* not sent before the end; harmless if it were */
        r->sink.event(r->ctx, type, obj);
        return true;
    case KOBJ_BOOKMARK:
        break;
    default:
        return true;
    }
    const char *rv = kobj_rv(obj);
    const json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
    const char *mark = json_string_value(json_object_get(ann, "k8s.io/initial-events-end"));
    if (!mark || strcmp(mark, "true") || !rv || !*rv) {
        /* A server without the feature answers as a plain watch from "now"
         * (its ADDED events were a snapshot, but it never says where they
         * end): list by pages instead. */
        stop_streaming_lists(r, "a bookmark without k8s.io/initial-events-end");
        r->want_relist = true;
        r->stop_stream = true;
        return false;
    }
    snprintf(r->rv, sizeof r->rv, "%s", rv);
    r->initial = false;
    list_complete(r, "watch-list");
    return true; /* the same request goes on as the watch */
}

/* The streamed list's request ended before its end bookmark. */
static void stream_list_done(struct reflector *r, const struct kapi_resp *resp)
{
    struct kobj_status st;
    r->initial = false;
    r->rv[0] = '\0';
    if (r->stop_stream && !r->watch_list) { /* refused by initial_event: pages now */
        MB_FREE(r->cont);
        start_list(r);
        return;
    }
    if (resp->err == MB_OK && resp->status >= 400 && resp->status < 500 && resp->status != 410 &&
        resp->status != 429) {
        kobj_status_from_body(resp->status, resp->body, resp->len, &st);
        char why[320];
        snprintf(why, sizeof why, "%ld: %s", resp->status, st.message);
        stop_streaming_lists(r, why);
        MB_FREE(r->cont);
        start_list(r);
        return;
    }
    /* Say why it ended, as it is known: our own refusal or the server's
     * ERROR event, the server's status, the connection, or a stream that
     * simply stopped (how many events came first tells an empty one). */
    const char *why = r->end_why;
    if (!why && resp->err == MB_ETOOBIG)
        why = "an event larger than the cap";
    if (!why && resp->err)
        why = "the connection failed";
    if (!why && resp->status != 200)
        why = "the API server's status";
    if (!why)
        why = r->stream_items ? "the stream stopped before its end bookmark"
                              : "the stream ended with no event at all";
    log_warn("streamed list ended before its last item", "{s:s,s:s,s:i,s:s,s:I}", "resource",
             r->name, "why", why, "status", (int)resp->status, "error",
             resp->err ? resp->errmsg : "", "events", (json_int_t)r->stream_items);
    retry(r, true, "list-ended", resp->retry_after_s);
}

/* --- lifecycle ------------------------------------------------------------- */

struct reflector *reflector_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api,
                                struct mx *mx, const struct reflector_conf *conf,
                                const struct reflector_sink *sink, void *ctx)
{
    struct reflector *r = mb_xcalloc(1, sizeof *r);
    r->api = api;
    r->clk = clk;
    r->sink = *sink;
    r->ctx = ctx;
    r->name = mb_xstrdup(conf->name);
    r->path = mb_xstrdup(conf->path);
    if (conf->label_selector && *conf->label_selector) {
        char *e = curl_easy_escape(NULL, conf->label_selector, 0);
        r->selector = mb_xstrdup(e ? e : "");
        curl_free(e);
    }
    r->page_size = conf->page_size ? conf->page_size : 500;
    r->watch_list = conf->watch_list;
    r->watch_timeout_s = conf->watch_timeout_s;
    r->max_event = conf->max_event_bytes ? conf->max_event_bytes : (size_t)16 << 20;
    r->max_page = conf->max_page_bytes ? conf->max_page_bytes : (size_t)32 << 20;
    backoff_init(&r->bo, conf->backoff_base_ms ? conf->backoff_base_ms : 800,
                 conf->backoff_max_ms ? conf->backoff_max_ms : 30000);
    r->rnd = clk->mono_ns(clk->ctx) ^ (uint64_t)(uintptr_t)r;
    r->timer = evtimer_new(loop_base(lp), on_timer, r);
    wframe_init(&r->frame, r->max_event);
    mb_arena_init(&r->arena, 64 * 1024);
    /* a tree is a few times its text: past that, the event is refused */
    mb_arena_set_limit(&r->arena, 8 * r->max_event);
    if (mx) {
        static const char *const l2[] = {"resource", "reason"}, *const l1[] = {"resource"},
                                 *const le[] = {"resource", "type"};
        r->m_restarts = mx_lookup(mx, "membudget_watch_restarts_total");
        if (!r->m_restarts)
            r->m_restarts = mx_counter(mx, "membudget_watch_restarts_total",
                                       "Watches restarted, by resource and reason.", 2, l2);
        r->m_relists = mx_lookup(mx, "membudget_watch_relists_total");
        if (!r->m_relists)
            r->m_relists = mx_counter(mx, "membudget_watch_relists_total",
                                      "Complete lists (initial sync and after 410 Gone).", 1, l1);
        r->m_events = mx_lookup(mx, "membudget_watch_events_total");
        if (!r->m_events)
            r->m_events = mx_counter(mx, "membudget_watch_events_total",
                                     "Watch events received, by resource and type.", 2, le);
    }
    return r;
}

void reflector_start(struct reflector *r)
{
    if (r->state == IDLE)
        start_list(r);
}

void reflector_stop(struct reflector *r)
{
    if (r->call)
        kapi_cancel(r->api, r->call);
    r->call = 0;
    evtimer_del(r->timer);
    r->state = IDLE;
}

void reflector_relist(struct reflector *r)
{
    if (r->state == IDLE)
        return;
    reflector_stop(r);
    MB_FREE(r->cont);
    r->want_relist = true;
    start_list(r);
}

void reflector_free(struct reflector *r)
{
    if (!r)
        return;
    reflector_stop(r);
    event_free(r->timer);
    wframe_cleanup(&r->frame);
    mb_arena_cleanup(&r->arena);
    mb_free(r->lean);
    mb_free(r->name);
    mb_free(r->path);
    mb_free(r->selector);
    mb_free(r->cont);
    mb_free(r);
}

bool reflector_synced(const struct reflector *r) { return r->synced; }

const char *reflector_version(const struct reflector *r) { return r->rv; }

unsigned long reflector_restarts(const struct reflector *r) { return r->restarts; }

unsigned long reflector_relists(const struct reflector *r) { return r->relists; }

uint64_t reflector_waiting_ms(const struct reflector *r)
{
    return r->state == WAITING ? r->delay_ms : 0;
}
