/*
 * gateq.h -- the pod condition queue: membudget.io/within-budget (the
 * readiness gate) and membudget.io/remediation (the planner's record), as
 * PATCHes of pods/status.
 *
 * Shell module, on the controller's loop thread. Each pod has a struct
 * gq_item (embedded in the controller's per-pod state) saying what it
 * should have; the queue compares that with what the watch shows (the
 * API server's state is the truth; the queue converges to it):
 *   - within-budget: False while throttled (never in dry run), True on a
 *     running gated pod or one that already has the condition, none
 *     otherwise;
 *   - remediation: the record's message, when this replica holds planner
 *     state for the pod and it differs.
 * A pod sits in a FIFO at most once; a pump submits up to max_inflight
 * patches (the queue's bookkeeping is held only while a pod has work, not
 * by every pod); a failure goes back with a per-pod backoff (Retry-After
 * honoured), a 404 drops the work (the pod is gone), and after 8 failures
 * it waits for the pod to change. Only while active (the leader).
 */
#ifndef MB_GATEQ_H
#define MB_GATEQ_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/backoff.h"
#include "membudget/clock.h"
#include "membudget/podcache.h"

#define GQ_RECORD_MAX 256 /* the planner's record (planner.h), formatted */

struct gateq;
struct gq_work;
struct kapi;
struct loop;
struct mx;

struct gq_item {
    /* what the pod should have (the owner writes these, then gq_check) */
    const struct pc_pod *pod; /* its current record */
    char *cond_msg;           /* the condition's message while throttled; NULL none (gq_set) */
    char *record;             /* the remediation record; NULL when none (gq_set) */
    struct gq_work *w;        /* private to gateq.c: queued, in flight or backing off */
    bool throttled;
    bool record_own; /* this replica's planner holds the pod: write the record */
};

struct gq_conf {
    unsigned max_inflight;    /* 0: 32 */
    bool dry_run;             /* never False */
    const atomic_bool *fence; /* when set (from any thread): start no write; NULL: none */
};

/* Returns: new queue, inactive. All borrowed. */
struct gateq *gq_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api, struct mx *mx,
                     const struct gq_conf *conf);
void gq_free(struct gateq *q); /* NULL-safe; cancels what is in flight */

void gq_item_init(struct gq_item *it);

/* Sets one of the item's strings (&it->cond_msg, &it->record) to a copy of
 * value; NULL or "" clears it. Heap strings, so that a pod that was never
 * throttled and holds no record costs two NULL pointers. */
void gq_set(char **field, const char *value);

/* Frees the item's strings (after gq_forget). NULL-safe. */
void gq_item_cleanup(struct gq_item *it);

/* Re-check an item after its pod or its wishes changed: queued if it needs
 * a patch and the queue is active. */
void gq_check(struct gateq *q, struct gq_item *it);
/* The pod is gone: drop it from the queue and cancel its patch. */
void gq_forget(struct gateq *q, struct gq_item *it);
/* Leader or not. Becoming active does not scan: gq_check each item. */
void gq_set_active(struct gateq *q, bool active);
/* Stop starting patches (those in flight finish). */
void gq_stop(struct gateq *q);

size_t gq_inflight(const struct gateq *q);
bool gq_pending(const struct gq_item *it); /* queued or in flight */

/* The within-budget condition it should have (pure: for tests too). */
enum pc_cond gq_want(const struct gq_item *it, bool dry_run);
/* Does it need a patch? */
bool gq_needs(const struct gq_item *it, bool dry_run);

#endif
