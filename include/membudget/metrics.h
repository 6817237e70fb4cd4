/*
 * metrics.h -- a Prometheus registry rendered as text format 0.0.4
 * (pure: no I/O; the HTTP layer serves mx_render()'s output).
 *
 * Families are counters, gauges or histograms with fixed label names.
 * Series are created on first use and found by their label values through a
 * hash table (O(1) on average, whatever the number of series: the
 * controller keeps one series per tracked pod, 100k and more).
 *
 * Series limit: a family holds at most the registry's series limit
 * (mx_set_series_limit; default MX_DEFAULT_MAX_SERIES, far above any
 * cluster's pod count, so that a bug or hostile label values can never grow
 * memory without bound). Past it, new series are dropped and counted in
 * membudget_metrics_series_dropped_total{metric} (itself exempt: one series
 * per declared family at most), and the overflow callback
 * (mx_on_overflow) is called once per family, for one log line.
 *
 * Threads: every function may be called from any thread. Each family has
 * its own mutex, held only to find a series and change a number; mx_render
 * copies a family's series under its lock and formats them after releasing
 * it, so a scrape of 100k series never holds up a writer for long. Families
 * are declared at start-up (declaring takes the registry's lock).
 */
#ifndef MB_METRICS_H
#define MB_METRICS_H

#include <stddef.h>
#include "membudget/buf.h"

#define MX_MAX_LABELS 4
#define MX_DEFAULT_MAX_SERIES 1000000

struct mx;        /* registry, opaque */
struct mx_family; /* one metric name; owned by its registry */

/* Returns: new registry (free with mx_free). */
struct mx *mx_new(void);
void mx_free(struct mx *m); /* NULL-safe; frees every family */

/* Series limit per family (at least 1). Call before the registry is shared. */
void mx_set_series_limit(struct mx *m, size_t limit);

/* Called once per family, the first time it drops a series, with the
 * family's name (borrowed, valid during the call). Runs on the thread that
 * tried to add the series, under no lock of the registry. */
typedef void mx_overflow_fn(void *ctx, const char *family, size_t limit);
void mx_on_overflow(struct mx *m, mx_overflow_fn *fn, void *ctx);

/* Declare a family. `name`, `help` and label names are copied. Returns:
 * borrowed, valid until mx_free. Declaring the same name twice is a
 * programmer error (assert). */
struct mx_family *mx_counter(struct mx *m, const char *name, const char *help, size_t nlabels,
                             const char *const *labels);
struct mx_family *mx_gauge(struct mx *m, const char *name, const char *help, size_t nlabels,
                           const char *const *labels);
/* `bounds` are the upper bounds of the buckets, increasing (+Inf implied). */
struct mx_family *mx_histogram(struct mx *m, const char *name, const char *help, size_t nlabels,
                               const char *const *labels, const double *bounds, size_t nbounds);

/* Returns: borrowed family declared under `name`, or NULL (for modules that
 * share a family, e.g. several reflectors). */
struct mx_family *mx_lookup(struct mx *m, const char *name);

/* Update a series; `values` has one entry per label (NULL when none). */
void mx_add(struct mx_family *f, const char *const *values, double v);     /* counter */
void mx_set(struct mx_family *f, const char *const *values, double v);     /* gauge */
void mx_observe(struct mx_family *f, const char *const *values, double v); /* histogram */
void mx_delete(struct mx_family *f, const char *const *values);            /* drop a series */

/* Current value of a counter or gauge series (0 when absent). */
double mx_value(struct mx_family *f, const char *const *values);

/* Series in a family (for tests and the overflow log). */
size_t mx_series_count(struct mx_family *f);

/* Append the exposition text of every family to `out`. Returns MB_OK or
 * MB_ETOOBIG when `out`'s cap is reached. */
mb_err mx_render(struct mx *m, struct mb_buf *out);

#endif /* MB_METRICS_H */
