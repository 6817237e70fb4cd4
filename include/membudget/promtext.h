/*
 * promtext.h -- the Prometheus text exposition format (0.0.4), read for the
 * few figures membudget needs from a pod's /metrics.
 *
 * Pure. The whole body is checked, as Prometheus does when it scrapes: a
 * malformed line fails the scrape (the sample is then stale, never zero).
 * Handled: # HELP / # TYPE / other comments, metric names with colons,
 * labels with escapes (\\ \" \n) in any order, values with exponents, NaN,
 * +Inf, -Inf, optional integer timestamps, blank lines, CRLF. Samples of
 * histogram and summary families (name_bucket, _sum, _count, quantile) are
 * never taken for a wanted plain metric, even if a name collides.
 */
#ifndef MB_PROMTEXT_H
#define MB_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/err.h"

/* A wanted metric: a name, matched on a sample with no labels (the first
 * such sample wins). `value` and `found` are outputs. */
struct prom_want {
    const char *name;
    double value;
    bool found;
};

/* Scan `buf` for the wanted metrics. Returns MB_OK (wants filled; a metric
 * may be absent: found false) or MB_EPARSE with diag naming the line and
 * what is wrong; on error the wants are left with found false. */
mb_err prom_scan(const char *buf, size_t len, struct prom_want *wants, size_t nwants,
                 struct mb_diag *diag);

#endif
