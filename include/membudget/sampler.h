/*
 * sampler.h -- one usage figure per tracked pod per interval.
 *
 * Shell module, on the loop thread. A cycle samples every pod that is
 * Running, has an IP and a valid budget:
 *   - working-set (membudget.io/usage: working-set, or no metrics endpoint):
 *     one bulk list of metrics.k8s.io PodMetrics per cycle (cluster-wide, or
 *     per namespace when namespaces are explicit), the target container's
 *     usage.memory;
 *   - rss / heap (scraped): GET the pod's own metrics endpoint (podcall.h:
 *     pod IP and a declared port only), through the scrape client (no
 *     redirects, capped size, timeout, bounded concurrency): Prometheus text,
 *     or expvar JSON when the path ends in /debug/vars.
 * A failed source gives a sample with ok = false (stale), never zero.
 * Each pod is on its own schedule: one whose scrape is still in flight is
 * skipped by the next tick, and delays nobody else.
 */
#ifndef MB_SAMPLER_H
#define MB_SAMPLER_H

#include <stdbool.h>
#include <stdint.h>
#include "membudget/annot.h"
#include "membudget/clock.h"

struct sampler;
struct kapi;
struct loop;
struct podcall;
struct mx;
struct podcache;
struct pc_pod;

struct smp_result {
    bool ok;               /* false: stale (the reason is in err) */
    enum ann_usage figure; /* the figure that counts (annot.h) */
    int64_t usage;         /* bytes of the figure that counts */
    int64_t rss;           /* the process's RSS (expvar: Sys), 0 unknown */
    bool has_goroutines;
    double goroutines;
    /* Go runtime figures from Prometheus text (gcshare.h names the
     * counters); absent from expvar and the metrics API */
    bool has_gc_cpu;
    double gc_cpu_s, total_cpu_s;
    int64_t heap_alloc, next_gc, gomemlimit; /* with has_gc_cpu: -1 unknown */
    mb_mono_ms taken;
    char err[200];
};

/* A pod's sample. `p` is the cache's current record (valid for the call). */
typedef void smp_pod_fn(void *ctx, struct pc_pod *p, const struct smp_result *r);
/* A cycle finished: how many pods were sampled, and how long it took. */
typedef void smp_cycle_fn(void *ctx, unsigned pods, unsigned stale, uint64_t duration_ms);
/* Should this pod be sampled (governed, leader...)? If so, *usage is the
 * figure that counts for it (its parsed membudget.io/usage, see
 * ann_effective_usage). */
typedef bool smp_want_fn(void *ctx, const struct pc_pod *p, enum ann_usage *usage);

struct smp_conf {
    uint64_t interval_ms;          /* sampleInterval */
    const char *const *namespaces; /* explicit namespaces for the metrics API; NULL: cluster */
    size_t nnamespaces;
    bool force_scrape;      /* usage.source: scrape (metrics-api pods are stale) */
    bool force_metrics_api; /* usage.source: metrics-api (never scrape) */
};

/* Returns: new sampler, not started. api: the API server client; pods: the
 * pod endpoint client (podcall.h). All borrowed. */
struct sampler *smp_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api,
                        struct podcall *pods, struct podcache *cache, struct mx *mx,
                        const struct smp_conf *conf, smp_want_fn *want, smp_pod_fn *on_pod,
                        smp_cycle_fn *on_cycle, void *ctx);
void smp_start(struct sampler *s);
void smp_stop(struct sampler *s); /* cancels what is in flight */
void smp_free(struct sampler *s); /* NULL-safe */

/* A tick now: every wanted pod without a request in flight is sampled. */
void smp_cycle_now(struct sampler *s);

#endif /* MB_SAMPLER_H */
