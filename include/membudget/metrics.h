/*
 * metrics.h -- a small Prometheus registry rendered as text format 0.0.4
 * (pure: no I/O; the HTTP layer serves mx_render()'s output).
 *
 * Families are counters, gauges or histograms with fixed label names.
 * Series are created on first use and looked up by label values. A family
 * holds at most MX_MAX_SERIES series: past that, new series are dropped
 * (and counted in membudget_metrics_series_dropped_total) so that label
 * values taken from input can never grow memory without bound.
 */
#ifndef MB_METRICS_H
#define MB_METRICS_H

#include <stddef.h>
#include "membudget/buf.h"

#define MX_MAX_LABELS 4
#define MX_MAX_SERIES 10000

struct mx;        /* registry, opaque */
struct mx_family; /* one metric name; owned by its registry */

/* Returns: new registry (free with mx_free). */
struct mx *mx_new(void);
void mx_free(struct mx *m); /* NULL-safe; frees every family */

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

/* Current value of a counter or gauge series (0 when absent); for tests. */
double mx_value(struct mx_family *f, const char *const *values);

/* Append the exposition text of every family to `out`. Returns MB_OK or
 * MB_ETOOBIG when `out`'s cap is reached. */
mb_err mx_render(const struct mx *m, struct mb_buf *out);

#endif /* MB_METRICS_H */
