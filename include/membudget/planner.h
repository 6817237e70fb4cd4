/*
 * planner.h -- one pod's remediation, decided (pure; docs/design.md "Breaker
 * rules", CONTRIBUTING.md §6 "decide, then do").
 *
 * A struct pl_pod holds everything membudget remembers about a pod: the
 * breaker, the leak windows, the GC report, the escalation (last-chance GC,
 * profile, eviction attempts and their backoff). Inputs are plain data: the
 * pod's spec (its annotations, parsed once per pod version), the config,
 * a sample and the time. Each input returns a plan: the throttle state, the
 * calls to make, the Events with their text, the metric changes and the
 * record to keep in the cluster. The executor (controller/remedy.c) carries
 * plans out and reports each result back with pl_*_done, which returns a
 * plan of its own.
 *
 *   sample   -> pl_step     -> plan (throttle, gc, profile + evict, events)
 *   GC call  -> pl_gc_done  -> plan (action metric; the next fresh sample
 *                                   reports what the GC freed)
 *   profile  -> pl_profile_done -> plan (event, then evict)
 *   eviction -> pl_evict_done   -> plan (evicted / blocked: backoff <= 30 s)
 *   limits   -> pl_evict_deferred (rate limit or owner busy: no attempt)
 *   timer    -> pl_retry    -> plan (a blocked eviction's retry, on the last
 *                                   fresh sample while it is still fresh)
 *   OOM kill -> pl_oom      -> plan (the ledger: MemoryBudgetOOMKilled, why it
 *                                   was not prevented, counted in the record)
 *   budget   -> pl_memlimit -> plan (POST the new GOMEMLIMIT, or say it is
 *                                   stale) -> pl_memlimit_done
 *
 * Rules beyond the breaker's:
 *   - dry run (global, or membudget.io/mode: dry-run): every decision is
 *     made and said ("would ..."), nothing is called, the pod is never
 *     throttled (plan.throttled stays false) and no record is written;
 *   - last-chance GC (gc_first): on entering the evict tier, a pod with a
 *     GC endpoint and no GC within gcMinInterval gets one GC; the next fresh
 *     sample decides: still at or above the evict threshold, evict;
 *   - an eviction is attempted only on a fresh sample at or above the evict
 *     threshold; the heap profile is captured once per escalation (from
 *     entering the evict tier until recovery to normal) and reused by
 *     retries; a blocked or failed attempt backs off (2 s doubling, at most
 *     30 s) and spends no rate-limit slot (the executor's evlimit counts
 *     accepted evictions only);
 *   - GC thrash: from a Go target's runtime/metrics CPU counters
 *     (gcshare.h), a GC share above gcThrash.percent for `sustain` fresh
 *     samples raises MemoryBudgetGCThrashing once; with gcThrash.evict the
 *     pod is in the evict tier while it lasts (no last-chance GC: more GC
 *     is the problem), with every rule of an eviction;
 *   - the record (tier, last GC, profile, OOM kills counted, the GOMEMLIMIT
 *     applied) goes to the cluster, so a new leader resumes: pl_resume, and
 *     never counts an OOM kill twice.
 *
 * Value type: embed it (pl_init). Fields are private to planner.c.
 */
#ifndef MB_PLANNER_H
#define MB_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "membudget/annot.h"
#include "membudget/backoff.h"
#include "membudget/breaker.h"
#include "membudget/clock.h"
#include "membudget/gcshare.h"
#include "membudget/evict.h"

struct cfg;
struct pc_pod;

#define PL_LEAK_MAX 64 /* longest leak window kept (samples) */
#define PL_MAX_EVENTS 6
#define PL_MAX_ACTIONS 4
#define PL_EVICT_BACKOFF_BASE_MS 2000
#define PL_EVICT_BACKOFF_MAX_MS 30000

/* The config, as the planner needs it. */
struct pl_conf {
    struct ann_tiers tiers; /* defaults when the pod has no membudget.io/tiers */
    unsigned sustain, recover, hysteresis;
    uint64_t interval_ms, gc_min_interval_ms;
    unsigned leak_window;  /* samples; < 3: no leak signal */
    double leak_min_slope; /* percent of budget per minute */
    bool gc_first;
    bool dry_run;             /* global (config dryRun or --dry-run) */
    unsigned thrash_pct;      /* gcThrash.percent */
    bool thrash_evict;        /* gcThrash.evict */
    uint64_t baseline_min_ms; /* profiles.minInterval: one pod's baselines at most this often */
};

void pl_conf_from_cfg(const struct cfg *c, bool dry_run_flag, struct pl_conf *out);

/* What the pod's annotations say, in annot's types. */
struct pl_spec {
    int64_t budget;         /* bytes; 0: no valid budget (nothing is decided) */
    struct ann_tiers tiers; /* the pod's, or the config's */
    enum ann_usage usage;   /* the figure that counts (ann_effective_usage) */
    enum ann_throttle throttle;
    enum ann_mode mode;
    bool has_metrics, has_gc, has_profile, has_goroutines, has_memlimit;
    int64_t limit;        /* the target's memory limit, bytes; 0 unknown */
    int64_t request;      /* its memory request, bytes; 0 none */
    int64_t max_limit;    /* membudget.io/max-limit, bytes; 0: no resize tier */
    bool resize_restarts; /* its resizePolicy restarts it on a memory resize: no resize tier */
    uint64_t baseline_every_ms; /* membudget.io/baseline-every: periodic baselines; 0 none */
};

/* Parse p's membudget.io/ annotations (once per pod version). An invalid
 * value (admission makes this rare) keeps the default: the config's tiers,
 * budget 0. */
void pl_spec_of(const struct pc_pod *p, const struct pl_conf *c, struct pl_spec *out);

struct pl_sample {
    bool ok;       /* false: stale, `err` says why */
    int64_t usage; /* bytes */
    mb_mono_ms taken;
    bool has_goroutines;
    double goroutines;
    /* a scraped Go target's runtime figures (sampler.h); absent: no signal */
    bool has_gc_cpu;
    double gc_cpu_s, total_cpu_s;            /* cumulative CPU seconds: in GC, available */
    int64_t heap_alloc, next_gc, gomemlimit; /* bytes, read only with has_gc_cpu; -1 unknown */
    const char *err;                         /* borrowed; "" or NULL when ok */
};

/* The record kept in the cluster (the pod's membudget.io/remediation
 * condition message, logfmt: "tier=gc lastGC=2026-...Z profile=2026-...Z"),
 * so that a new leader continues. */
struct pl_record {
    enum brk_tier tier;
    bool has_gc;
    mb_wall_ms last_gc;
    bool has_profile; /* captured (or tried) in the open escalation */
    mb_wall_ms profile_at;
    /* the OOM ledger: "ooms=2@5 lastOOM=2026-...Z" (counted, at restartCount 5) */
    unsigned ooms;
    uint32_t oom_restarts;
    mb_wall_ms last_oom; /* 0 unknown */
    /* "memlimit=805306368@1": the GOMEMLIMIT applied, while restartCount is 1 */
    int64_t memlimit; /* 0 none */
    uint32_t memlimit_restarts;
};

/* false (and *out untouched): not ours, or malformed. Unknown keys are
 * skipped (a later version's), a known key with a bad value is malformed. */
bool pl_record_parse(const char *msg, struct pl_record *out);
void pl_record_format(const struct pl_record *r, char *out, size_t len);

/* What an Event may have added to it by the executor, from the pod's
 * captures: the functions whose memory grew (the heap profiles' diff), or
 * the goroutine dump's top group. */
enum pl_forensic { PL_FX_NONE, PL_FX_HEAP, PL_FX_GOROUTINES };

struct pl_event {
    bool warning;       /* "Warning", else "Normal" */
    uint8_t forensic;   /* enum pl_forensic */
    const char *reason; /* static: "MemoryBudgetThrottled"... */
    char msg[480];
};

struct pl_action {
    const char *action; /* static: membudget_actions_total{action,result} */
    const char *result;
};

struct pl_plan {
    /* the tier */
    bool changed;
    enum brk_tier from, to;
    bool stale; /* the sample was not used (see err) */
    bool dry;
    /* the readiness condition (throttle: readiness): False while throttled */
    bool throttled; /* the state after this plan */
    bool throttle_changed;
    char cond_msg[240]; /* the condition's message while throttled */
    /* calls to the pod (the executor builds the URLs through the guard) */
    bool call_throttle; /* throttle: PORT/PATH */
    bool throttle_on;
    bool call_gc;
    bool last_chance;     /* this GC is the last one before evicting */
    bool capture_profile; /* heap profile and goroutine dump, before the
                           * eviction; then pl_profile_done */
    bool evict;           /* attempt an eviction (after the profile when capture_profile) */
    int64_t gc_before;    /* usage when the GC was asked for */
    /* what to tell */
    struct pl_event ev[PL_MAX_EVENTS];
    size_t nev;
    struct pl_action act[PL_MAX_ACTIONS];
    size_t nact;
    bool ratio_set;
    double ratio; /* usage / budget */
    int leak;     /* membudget_leak_suspected: -1 unchanged, 0 or 1 */
    bool gc_freed_set;
    double gc_freed;    /* bytes, for membudget_gc_freed_bytes */
    bool leak_reported; /* a leak Event is in ev (for the log) */
    double leak_slope;  /* points (or goroutines) per minute */
    bool gc_share_set;
    double gc_share; /* 0..1, for membudget_pod_gc_cpu_share */
    int thrashing;   /* membudget_gc_thrashing: -1 unchanged, 0 or 1 */
    /* the OOM ledger */
    bool oom;               /* count it: membudget_oom_kills_total... */
    const char *oom_reason; /* static: "no-fresh-sample"... */
    /* GOMEMLIMIT */
    bool call_memlimit; /* POST memlimit (bytes) to membudget.io/memlimit */
    int64_t memlimit;
    /* the resize tier: raise the target's limit through pods/resize (then
     * pl_resize_done), the budget following */
    /* a baseline capture (heap profile and goroutine dump, no eviction):
     * its reason ("throttle", "leak", "goroutines", "gc-thrash",
     * "periodic"), static; NULL none. baseline_skip: one was due but this
     * pod had one less than profiles.minInterval ago (the reason). */
    const char *baseline, *baseline_skip;
    bool gor_leak; /* the goroutine leak Event is in ev */
    bool resize;
    int64_t resize_limit, resize_budget;
    int64_t resize_request; /* the request to set with it (a Guaranteed pod's follows its
                             * limit, or the QoS class would change); 0: left alone */
    /* the record changed: write it (pl_record_of) */
    bool record_changed;
};

struct pl_pod {
    struct brk brk;
    bool sampled, last_ok;
    double percent; /* last fresh figure, percent of budget */
    int64_t usage, budget;
    mb_mono_ms last_fresh; /* when the last fresh figure was taken */
    char *last_err;        /* why the last sample was stale; NULL when fresh (pl_cleanup) */
    mb_mono_ms epoch;      /* origin of the leak windows' times */
    /* The leak windows, made at the configured size when first fed (paid
     * only by pods that have the figure: a sampled pod is one of up to
     * 100k): l = post-GC usage (minutes, percent), g = goroutines (minutes,
     * count), x values then y values. */
    float *lw, *gw;
    uint8_t ln, lcap, gn, gcap;
    bool leak_reported, gor_reported;
    bool throttled; /* the readiness condition is (to be) False */
    bool gc_inflight, post_gc, gc_report;
    int64_t gc_before;
    mb_mono_ms gc_done_at; /* when the last GC call answered */
    bool has_gc_wall;
    mb_wall_ms last_gc_wall;
    /* the escalation */
    bool last_chance_done; /* asked for in this stay in the evict tier */
    bool last_chance_wait; /* waiting for the fresh sample after it */
    bool profile_done;     /* captured or tried in this escalation */
    mb_wall_ms profile_at;
    bool inflight;      /* profile or eviction under way */
    bool evicted;       /* accepted (or the pod was gone): wait for it to go */
    bool dry_said;      /* "would evict" said in this stay */
    bool baseline_done; /* a baseline was taken (baseline_s) */
    /* the resize tier (in the padding here: a pl_pod is paid per sampled pod) */
    bool rz_inflight; /* asked for: its answer decides (no eviction meanwhile) */
    bool rz_refused;  /* refused in this escalation: evict as without the tier */
    bool rz_dry_said; /* "would resize" said in this escalation */
    mb_mono_ms evict_next;
    unsigned attempts;
    uint32_t baseline_s; /* the last baseline's start, monotonic seconds (in a hole) */
    struct backoff ebo;
    bool blocked;  /* the last attempt was refused (429: a PDB) */
    bool deferred; /* the last attempt waited for the rate limit or the owner */
    /* GC thrash */
    struct gcs gcs;
    bool has_share;
    double gc_share;    /* the last share, 0..1 */
    uint8_t thrash_run; /* consecutive fresh shares above the threshold */
    bool thrashing;
    bool thrash_evict_on; /* gcThrash.evict when the thrash began */
    /* the OOM ledger (resumed from the record) */
    unsigned ooms;
    uint32_t oom_restarts;
    mb_wall_ms last_oom;
    const char *last_oom_reason; /* static, NULL before one */
    /* GOMEMLIMIT */
    int64_t ml_val; /* applied (record), 0 none */
    uint32_t ml_restarts;
    int64_t ml_want; /* being applied, or to retry; 0 none */
    int64_t ml_from; /* what the process ran with when it was asked */
    bool ml_inflight;
    mb_mono_ms ml_retry_at;
    int64_t ml_said; /* the budget a "stale"/"would" Event was said for */
};

void pl_init(struct pl_pod *pp);
/* Frees what pl_step made (the leak windows, the stale reason). NULL-safe. */
void pl_cleanup(struct pl_pod *pp);

/* A sample. */
void pl_step(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
             const struct pl_sample *s, mb_mono_ms now, struct pl_plan *out);

/* Intent before action. A GC forced, or a heap profile captured, cannot be
 * taken back, so the record says it first: before the executor calls the
 * pod's GC endpoint (call_gc) or captures (capture_profile), it calls the
 * intent, which puts the time into the record (lastGC, profile) and asks
 * for it to be written (record_changed); it acts only once the cluster's
 * record holds it (pl_record_holds: the watch shows the written record).
 * A record that cannot be written (the API server down, a lost Lease)
 * means no action: never an action that the next leader, reading the
 * cluster's record, would take again before gcMinInterval, or capture
 * twice in one escalation. The action's result follows as before
 * (pl_gc_done, pl_profile_done). */
void pl_gc_intent(struct pl_pod *pp, mb_wall_ms wall, struct pl_plan *out);
void pl_profile_intent(struct pl_pod *pp, mb_wall_ms wall, struct pl_plan *out);
/* The GC the intent was for goes out now: gcMinInterval counts from here
 * (the pod's own view: a record written a moment late does not bring the
 * next GC closer). */
void pl_gc_forcing(struct pl_pod *pp, mb_mono_ms now);
/* Does the record text `msg` (the cluster's) hold a GC (profile: a
 * capture) at `at` or later? */
bool pl_record_holds(const char *msg, bool profile, mb_wall_ms at);

/* Results of what a plan asked for. */
void pl_gc_done(struct pl_pod *pp, bool ok, mb_mono_ms now, mb_wall_ms wall, struct pl_plan *out);
void pl_throttle_done(struct pl_pod *pp, bool ok, struct pl_plan *out);
/* What the capture before an eviction saved: the heap profile and the
 * goroutine dump, each a file name ("" when not saved) and its size, or
 * why not (NULL when not asked for). */
struct pl_capture {
    const char *heap, *heap_err;
    size_t heap_bytes;
    const char *gor, *gor_err;
    size_t gor_bytes;
};
void pl_profile_done(struct pl_pod *pp, const struct pl_capture *cap, mb_wall_ms wall,
                     struct pl_plan *out);
/* `ready`: the pod's Ready condition as last seen. A blocked eviction of a
 * NotReady pod (membudget's throttle makes it NotReady) says that its PDB
 * counts it unhealthy, and that unhealthyPodEvictionPolicy: AlwaysAllow
 * lets it go: with IfHealthyBudget (the default) it stays blocked as long
 * as it is throttled and the budget lacks healthy pods. */
void pl_evict_done(struct pl_pod *pp, const struct pl_spec *sp, enum evict_result res,
                   const char *msg, bool ready, mb_mono_ms now, uint64_t rnd, struct pl_plan *out);
/* The executor's limits refused the attempt (no call was made): try again
 * at `retry_at` at the earliest. */
void pl_evict_deferred(struct pl_pod *pp, mb_mono_ms retry_at);

/* The OOM ledger. A kill of the target container: its restartCount now and
 * its last termination's time (0 unknown), exit code and container. */
struct pl_oom {
    uint32_t restarts;
    mb_wall_ms at;
    int exit_code;
    const char *container;
};

/* Has the record (pl_record_of, or the cluster's pl_record_parse) not yet
 * counted this kill (restartCount above the last counted)? A pod without a
 * record counts its last OOM kill once, even one from before membudget ran. */
bool pl_oom_new(const struct pl_record *r, uint32_t restarts, bool last_oom);

enum pl_oom_reason {
    PL_OOM_NO_FRESH_SAMPLE,       /* no fresh figure within 2 intervals before the kill */
    PL_OOM_BELOW_EVICT_TIER,      /* fresh figures in a tier below evict (throttle, gc), or evict
                                     off: membudget was acting, not yet evicting */
    PL_OOM_EVICTION_BLOCKED,      /* the last attempt was refused (PDB) */
    PL_OOM_EVICTION_RATE_LIMITED, /* the attempt waited for the rate limit or the owner's slot */
    PL_OOM_NOT_BUDGETED,          /* governed, but no valid budget */
    PL_OOM_FASTER_THAN_SAMPLING,  /* fresh figures below the first tier that acts (throttle,
                                     else gc): it grew to its limit between two samples */
};
#define PL_OOM_NREASONS 6
const char *pl_oom_reason_name(enum pl_oom_reason r); /* Returns: static "no-fresh-sample"... */

/* Why membudget did not prevent a kill at `oom_at` (this replica's clock). */
enum pl_oom_reason pl_oom_reason_of(const struct pl_pod *pp, const struct pl_conf *c,
                                    const struct pl_spec *sp, mb_mono_ms oom_at);

/* Count the kill, say what membudget last saw (Event MemoryBudgetOOMKilled)
 * and why it was not prevented. The record changes (in dry run too: the
 * ledger is an observation). */
void pl_oom(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
            const struct pl_oom *o, mb_mono_ms now, mb_wall_ms wall, struct pl_plan *out);

/* GOMEMLIMIT follows the budget. GOMEMLIMIT is the budget (what the webhook
 * injects), so it is stale when the process runs with another value:
 *   - the value it runs with: the record's, while restartCount is the
 *     record's, else the container's env (a restart goes back to it);
 *   - membudget updates it only when it manages it: it applied it before
 *     (the record), or the value followed the budget until the budget
 *     changed (`old_budget`, seen by the watch). A GOMEMLIMIT the service
 *     set to its own value is left alone.
 * Stale and managed: POST the budget to membudget.io/memlimit (the plan's
 * call_memlimit), or, without that endpoint, one warning Event saying it
 * stays stale until the pod is recreated. A failed call is retried on a
 * later sample, at most once per gcMinInterval. */
struct pl_ml_in {
    int64_t old_budget; /* the budget before this update (0: unchanged) */
    int64_t env;        /* the container's env GOMEMLIMIT (podcache: 0, -1, bytes) */
    uint32_t restarts;
    bool running; /* Running with an IP: it can be called */
};
void pl_memlimit(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
                 const struct pl_ml_in *in, mb_mono_ms now, struct pl_plan *out);
/* The pod answered: `applied` is the value it reports (0 unknown),
 * `previous` what it ran with before (0 unknown). */
void pl_memlimit_done(struct pl_pod *pp, const struct pl_conf *c, bool ok, int64_t applied,
                      int64_t previous, uint32_t restarts, const char *err, mb_mono_ms now,
                      struct pl_plan *out);

/* The resize tier asked for (plan.resize) answered. */
struct pl_resize_result {
    bool ok;                /* the kubelet runs the new limit; else refused (the API server's
                             * 403, the kubelet's PodResizePending: Deferred or Infeasible, or
                             * no answer in time) */
    int64_t limit, budget;  /* what was asked */
    const char *why;        /* refused: its words */
    const char *budget_err; /* ok, but the budget annotation did not follow: why; NULL: it did */
    uint32_t restarts_before, restarts_after; /* the target's restartCount around it */
};
void pl_resize_done(struct pl_pod *pp, const struct pl_resize_result *r, struct pl_plan *out);

/* The resize tier's next step (issue 25, docs/design/resize-tier.md): the
 * limit times 5/4, rounded up to a whole MiB, at most `max`; the budget
 * keeps its share of the limit (rounded down to a whole MiB, or a byte
 * below one MiB). Returns false (and
 * leaves the outputs alone) when there is no step: the limit is already at
 * or above max, or an input is not positive. */
bool pl_resize_step(int64_t limit, int64_t budget, int64_t max, int64_t *new_limit,
                    int64_t *new_budget);

/* When a timer should call pl_retry (an eviction waiting out its backoff
 * while in the evict tier), or 0. */
mb_mono_ms pl_wake(const struct pl_pod *pp);
void pl_retry(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp, mb_mono_ms now,
              struct pl_plan *out);

/* The record to keep in the cluster, and a new leader's resumption from it
 * (and from the within-budget condition: throttled). `now`/`wall` map the
 * record's wall times to this replica's monotonic clock. */
void pl_record_of(const struct pl_pod *pp, struct pl_record *out);
void pl_resume(struct pl_pod *pp, const struct pl_conf *c, const struct pl_spec *sp,
               const struct pl_record *r, mb_mono_ms now, mb_wall_ms wall);

enum brk_tier pl_tier(const struct pl_pod *pp);
bool pl_throttled(const struct pl_pod *pp);

/* For /debug/pods: tier, freshness, usage... Returns: new object, or NULL
 * before the first sample. */
json_t *pl_pod_json(const struct pl_pod *pp);

#endif /* MB_PLANNER_H */
