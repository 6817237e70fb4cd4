/*
 * outbox.h -- captures on their way to the object store (profiles.store:
 * s3): written to a directory on local disk by the controller, delivered
 * by a thread of their own.
 *
 * Shell. The controller's thread only writes two local files per capture
 * (outbox_put): its bytes, and beside them NAME.json with the object key
 * and the metadata. The outbox thread uploads the oldest first (s3.h),
 * then moves the bytes into the profile directory (the local copy the
 * diffs read, kept under eviction.profileDirMaxBytes); a failure is
 * retried with backoff (1 s doubling to 5 min), never in a hot loop, and
 * logged once per change of cause. Past profiles.queueMaxBytes the oldest
 * captures are dropped, counted and logged. What is queued survives a
 * restart: the thread starts with what the directory holds (a container
 * restarted in the same pod, an emptyDir, delivers it).
 *
 * Metrics: membudget_profile_uploads_total{result="ok|retried|dropped"},
 * membudget_profile_queue_bytes, membudget_profile_queue_captures,
 * membudget_profile_store_seconds (each request to the store).
 */
#ifndef MB_OUTBOX_H
#define MB_OUTBOX_H

#include <jansson.h>
#include <stddef.h>
#include "membudget/config.h"
#include "membudget/err.h"
#include "membudget/metrics.h"
#include "membudget/s3.h"

struct outbox;

/* The outbox of cfg (its store must be s3): DIR/outbox under
 * eviction.profileDir. Starts the thread. cfg and mx must outlive it. */
struct outbox *outbox_start(const struct cfg *cfg, struct mx *mx, struct mb_diag *d);

/* Stop the thread (an upload under way is aborted) and free. NULL-safe.
 * What was not delivered stays on disk for the next start. */
void outbox_stop(struct outbox *ob);

/* Queue one capture: `file` (a profname.h name) holding `len` bytes, to be
 * stored as `key` with `meta`. Written whole or not at all; any thread. */
mb_err outbox_put(struct outbox *ob, const char *file, const char *key, const struct s3_meta *meta,
                  size_t nmeta, const void *body, size_t len, struct mb_diag *d);

/* Returns: new JSON object for /debug/profiles: {"queued":N,"bytes":N,
 * "maxBytes":N,"delivered":N,"dropped":N,"lastError":"..."}. */
json_t *outbox_json(struct outbox *ob);

/* The outbox directory of cfg, into buf. */
void outbox_dir(const struct cfg *cfg, char *buf, size_t len);

#endif
