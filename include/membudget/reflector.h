/*
 * reflector.h -- list-then-watch of one collection, kept in step forever
 * (client-go's Reflector).
 *
 * Shell module, on the loop thread. It lists the collection page by page
 * (limit/continue), tells its sink that a relist begins, feeds every item,
 * ends the relist (the sink diffs: what vanished is deleted), then watches
 * from the list's resourceVersion with bookmarks. It follows every event's
 * and bookmark's resourceVersion, so:
 *   - a watch that ends (server timeout) resumes from the last version seen;
 *   - a dropped connection or a 5xx/429 resumes after exponential backoff
 *     with jitter (Retry-After honoured), from the last version seen;
 *   - 410 Gone (HTTP 410, or an ERROR event with a Status of code 410) means
 *     the version is too old: relist, and the sink's diff synthesizes the
 *     deletes that happened meanwhile.
 * Nothing is lost and nothing is applied twice out of order: every event is
 * applied in stream order, and a relist replaces the whole scope.
 */
#ifndef MB_REFLECTOR_H
#define MB_REFLECTOR_H

#include <jansson.h>
#include <stdbool.h>
#include "membudget/clock.h"
#include "membudget/err.h"
#include "membudget/kobj.h"

struct reflector;
struct kapi;
struct loop;
struct mx;

/* Where the data goes; every callback runs on the loop thread. Objects are
 * borrowed for the call. */
struct reflector_sink {
    void (*relist_begin)(void *ctx);
    void (*item)(void *ctx, const json_t *obj);
    void (*relist_end)(void *ctx);
    void (*event)(void *ctx, enum kobj_ev type, const json_t *obj);
    void (*synced)(void *ctx); /* after every complete list (the first: initial sync) */
};

struct reflector_conf {
    const char *name;           /* "pods" or "namespaces": logs and metric labels */
    const char *path;           /* collection path: "/api/v1/pods", "/api/v1/namespaces/x/pods" */
    const char *label_selector; /* NULL: none */
    unsigned page_size;         /* list limit; 0: 500 */
    bool watch_list;            /* list by a streamed watch (sendInitialEvents), pages
                                   when the server refuses it */
    unsigned watch_timeout_s;   /* server-side watch timeout; 0: 300-600 s at random */
    size_t max_event_bytes;     /* longest watch event; 0: 16 MiB */
    size_t max_page_bytes;      /* largest list page; larger is refused; 0: 32 MiB */
    uint64_t backoff_base_ms;   /* 0: 800 ms */
    uint64_t backoff_max_ms;    /* 0: 30 s */
};

/* Returns: new reflector (reflector_free), not yet started. Strings copied;
 * lp, clk, api, mx (may be NULL) and sink ctx borrowed. */
struct reflector *reflector_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api,
                                struct mx *mx, const struct reflector_conf *conf,
                                const struct reflector_sink *sink, void *ctx);

/* Start listing. Idempotent. */
void reflector_start(struct reflector *r);

/* Stop: cancel the request in flight and any timer. No callback after. */
void reflector_stop(struct reflector *r);

/* Throw away the current watch and relist now (e.g. when the scope of what
 * the sink keeps grew). */
void reflector_relist(struct reflector *r);

void reflector_free(struct reflector *r); /* NULL-safe; stops first */

bool reflector_synced(const struct reflector *r); /* a full list completed once */
/* The delay before the request now waited for, or 0 when none is waited
 * for (a request is in flight or was made at once). For tests and logs. */
uint64_t reflector_waiting_ms(const struct reflector *r);
const char *reflector_version(const struct reflector *r); /* last resourceVersion seen, "" */
unsigned long reflector_restarts(const struct reflector *r);
unsigned long reflector_relists(const struct reflector *r);

#endif /* MB_REFLECTOR_H */
