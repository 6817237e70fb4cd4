/*
 * gcshare.h -- the share of a Go process's CPU spent in GC between two
 * scrapes, from its cumulative runtime/metrics counters (the GC-thrash
 * signal, docs/design.md "Breaker rules").
 *
 * Pure. The counters are the ones client_golang exports from
 * runtime/metrics (and contrib/go too, under the same names):
 *
 *   go_cpu_classes_gc_total_cpu_seconds_total    /cpu/classes/gc/total:cpu-seconds
 *   go_cpu_classes_total_cpu_seconds_total       /cpu/classes/total:cpu-seconds
 *
 * The second is the CPU time available to the process (GOMAXPROCS
 * integrated over wall time), so the share is the runtime's own figure:
 * the part of the process's CPU capacity the GC took. Counters are
 * cumulative: a scrape missed in between widens the interval, it does not
 * lose it. A counter that went down is a restarted process: the pair is
 * the new baseline and gives no share. A target that does not expose
 * the counters gives no share, ever.
 *
 * Value type: embed it, zeroed.
 */
#ifndef MB_GCSHARE_H
#define MB_GCSHARE_H

#include <stdbool.h>

#define GCS_GC_METRIC "go_cpu_classes_gc_total_cpu_seconds_total"
#define GCS_TOTAL_METRIC "go_cpu_classes_total_cpu_seconds_total"

struct gcs {
    bool have;        /* gc, total hold the previous scrape's counters */
    double gc, total; /* seconds */
};

enum gcs_result {
    GCS_SHARE,   /* *share is set */
    GCS_FIRST,   /* the first pair (or the first after missing counters) */
    GCS_RESET,   /* a counter went down: the process restarted */
    GCS_IDLE,    /* no CPU time passed since the previous pair */
    GCS_INVALID, /* negative, NaN or infinite figures: ignored, baseline kept */
};

/* Feed one scrape's counters. Returns what they gave; on GCS_SHARE,
 * *share is gc time / available CPU time over the interval, in [0, 1].
 * A scrape that failed or lacked the counters is simply not fed: the
 * baseline stays, and the next pair covers the gap. */
enum gcs_result gcs_feed(struct gcs *g, double gc_seconds, double total_seconds, double *share);

const char *gcs_result_name(enum gcs_result r); /* Returns: static "share", "first"... */

#endif
