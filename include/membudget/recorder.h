/*
 * recorder.h -- what the controller writes about pods: Events (aggregated,
 * see evagg.h) and Evictions (policy/v1, honouring PodDisruptionBudgets).
 *
 * Shell module, on the loop thread.
 *
 * Events are core/v1 Events (what `kubectl describe pod` shows): the first
 * occurrence is POSTed, repeats PATCH count and lastTimestamp; an Event that
 * disappeared (expired: 404) is created afresh. Events are best effort: at
 * most `max_inflight` are outstanding, more are dropped and counted
 * (membudget_events_total{result="dropped"}), never queued without bound.
 *
 * Evictions: POST pods/NAME/eviction with the pod's uid as a precondition
 * (never evict a replacement that took the same name). A 429 is the PDB
 * saying "not now": reported as EVICT_BLOCKED with the API
 * server's reason, not as an error.
 */
#ifndef MB_RECORDER_H
#define MB_RECORDER_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "membudget/clock.h"
#include "membudget/evict.h"

struct recorder;
struct kapi;
struct mx;

struct recorder_ref {
    const char *ns, *name, *uid; /* the pod */
};

/* `message` is borrowed for the call: the API server's words. */
typedef void recorder_evict_fn(void *ctx, enum evict_result result, const char *message);

/* Returns: new recorder. `component` is the Event source ("membudget"),
 * `instance` this replica (host or pod name). api, clk, mx borrowed. */
struct recorder *recorder_new(const struct mb_clock *clk, struct kapi *api, struct mx *mx,
                              const char *component, const char *instance, unsigned max_inflight);
void recorder_free(struct recorder *r); /* NULL-safe; cancels what is in flight */

/* Record an Event on the pod. type: "Normal" or "Warning". */
void recorder_event(struct recorder *r, const struct recorder_ref *ref, const char *type,
                    const char *reason, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Evict the pod; `done` is called once (not if recorder_cancel'd). Returns
 * the call id for recorder_cancel. */
uint64_t recorder_evict(struct recorder *r, const struct recorder_ref *ref, recorder_evict_fn *done,
                        void *ctx);
void recorder_cancel(struct recorder *r, uint64_t id);

/* PATCH the pod with a strategic merge patch (borrowed): `resize`, its
 * pods/NAME/resize subresource (its containers' resources), else the pod
 * itself (the resize tier's budget annotation). `done` gets the HTTP status (0: no answer) and the
 * API server's words (its Status message, or the transport error). Returns the call id for
 * recorder_cancel. */
typedef void recorder_patch_fn(void *ctx, long status, const char *message);
uint64_t recorder_patch_pod(struct recorder *r, const struct recorder_ref *ref, bool resize,
                            const json_t *patch, recorder_patch_fn *done, void *ctx);

#endif
