/*
 * forensics.h -- what a capture says, worked out off the controller's
 * thread: the pod's heap profile diffed against its previous one (the
 * functions whose memory grew, pprof.h), and its goroutine dump grouped
 * by top function (gdump.h).
 *
 * Shell: one thread of its own, a queue of at most FX_QUEUE jobs, results
 * posted to the controller's loop. The previous profile is the pod's
 * newest heap capture taken before this one: in the profile directory or
 * the outbox (this replica's), else (profiles.store: s3) in the bucket,
 * under PREFIX/NAMESPACE/OWNER/POD/, so a new leader finds its
 * predecessor's baseline. Decoding is bounded (pprof.h's limits, the
 * config's profileMaxBytes) and a malformed capture is a result with an
 * error, never a crash.
 */
#ifndef MB_FORENSICS_H
#define MB_FORENSICS_H

#include <stdbool.h>
#include <stdint.h>
#include "membudget/clock.h"
#include "membudget/config.h"
#include "membudget/err.h"
#include "membudget/profname.h"

struct loop;
struct fx;

#define FX_QUEUE 16

struct fx_job {
    uint64_t id;
    char ns[64], pod[254], owner[254], uid[40];
    mb_wall_ms at;            /* the capture's stamp */
    char heap[PROF_NAME_MAX]; /* its heap profile's file name, "" none */
    char dump[PROF_NAME_MAX]; /* its goroutine dump's file name, "" none */
};

struct fx_result {
    uint64_t id;
    char ns[64], pod[254], uid[40];
    char growth[512]; /* "since 03:01:15: main.leak +84.0MiB, ... (inuse_space)", "" none */
    char base[1100];  /* the profile it was compared with (a file, or a key) */
    char gtop[320];   /* "41 goroutines; main.wait holds 40 (98%)", "" none */
    char err[400];    /* why there is no growth line, "" when there is */
    double seconds;   /* the analysis's time */
};

/* Called on the loop's thread with each result; r is the callee's (free
 * it with mb_free). */
typedef void fx_done_fn(void *ctx, struct fx_result *r);

/* Start the thread. cfg and lp must outlive it. */
struct fx *fx_start(const struct cfg *cfg, struct loop *lp, fx_done_fn *done, void *ctx,
                    struct mb_diag *d);

/* Queue a job (copied). Returns false when FX_QUEUE jobs wait already. */
bool fx_submit(struct fx *fx, const struct fx_job *job);

/* Stop and join the thread (a job under way finishes first; those still
 * queued are dropped). Its results are posted before it returns: flush
 * the loop after. NULL-safe. */
void fx_stop(struct fx *fx);

#endif
