/*
 * controller.h -- the controller core: the pod cache kept by reflectors,
 * which namespaces are governed, and the first behaviour built on them: the
 * readiness gate membudget.io/within-budget is set True on every running
 * gated pod as soon as it is seen (a readiness gate keeps a pod NotReady
 * until its condition is True).
 *
 * Shell module, on the loop thread. Only the leader writes (see
 * controller_set_leader); every replica keeps its cache warm so a new leader
 * acts at once.
 *
 * Namespaces: with an explicit list (config `namespaces` or --namespace),
 * one pod watch per namespace and those are governed; with none, one
 * cluster-wide pod watch and the namespaces labelled
 * membudget.io/enforce=true (watched) are governed.
 */
#ifndef MB_CONTROLLER_H
#define MB_CONTROLLER_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"
#include "membudget/err.h"

struct cfg;
struct controller;
struct kapi;
struct podcall;
struct loop;
struct mx;
struct ops;

struct controller_conf {
    const char *const *namespaces; /* governed namespaces; NULL/0: by label */
    size_t nnamespaces;
    bool dry_run;                 /* compute and log, write nothing to pods */
    unsigned page_size;           /* list page size; 0: 500 */
    bool watch_list;              /* streamed lists (sendInitialEvents); pages if refused */
    unsigned max_inflight_writes; /* 0: 32 */
    const struct cfg *cfg;        /* thresholds, sampling, eviction (borrowed) */
    struct podcall *pods;         /* pod-endpoint client (borrowed): scrapes, GC, profiles */
    const char *identity;         /* this replica, the source of Events */
    const char *own_namespace;    /* membudget's namespace (never governed), or NULL */
};

/* Returns MB_OK and a new controller in *out. lp, clk, api, mx and ops are
 * borrowed and must outlive it; /debug/pods is routed on ops. Not started,
 * and not leader, until told. */
mb_err controller_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api, struct mx *mx,
                      struct ops *ops, const struct controller_conf *conf, struct controller **out,
                      struct mb_diag *diag);

struct outbox;
struct fx;
struct fx_result;

/* Where captures go (ob: the outbox of profiles.store s3; NULL: the
 * profile directory) and who analyses them (fx, started with
 * controller_fx_done and the controller as its ctx; NULL: nobody). Both
 * borrowed. Before controller_start. */
void controller_set_forensics(struct controller *c, struct outbox *ob, struct fx *fx);
/* fx_start's callback (forensics.h): an analysis's result, on the
 * controller's loop. */
void controller_fx_done(void *ctx, struct fx_result *r);

/* Start the watches. */
void controller_start(struct controller *c);

/* The work the controller does once a second (its gauges, expiries, due
 * retries, checkpoints), now: a test with a fake clock drives it instead
 * of waiting for the real second. Controller thread. */
void controller_tick(struct controller *c);

/* Leadership changed: a new leader acts on everything already cached; a
 * former leader stops writing (requests in flight finish). */
void controller_set_leader(struct controller *c, bool leader);

/* Stop the watches and stop starting writes. */
void controller_stop(struct controller *c);

/* Start no write from now on (pod conditions, GC and throttle calls,
 * evictions), whatever is queued; writes in flight finish. Safe from any
 * thread: the signal handler's loop calls it at once, so that a controller
 * loop busy with a large list cannot start writes before controller_stop
 * reaches it. */
void controller_fence(struct controller *c);

/* Writes in flight (shutdown waits for them to finish). */
size_t controller_inflight(const struct controller *c);

bool controller_synced(const struct controller *c);
size_t controller_tracked(const struct controller *c);

void controller_free(struct controller *c); /* NULL-safe */

#endif /* MB_CONTROLLER_H */
