/*
 * leak.h -- the leak signal: a least-squares line through recent usage
 * (post-GC usage, or goroutines), and whether its slope is a sustained rise.
 *
 * Pure.
 */
#ifndef MB_LEAK_H
#define MB_LEAK_H

#include <stdbool.h>
#include <stddef.h>

struct leak_fit {
    double slope_per_min; /* units of y per minute */
    double r2;            /* coefficient of determination, 0..1 */
    double last;          /* the fitted value at the last x */
};

/* Fit y over x (x in milliseconds, increasing). Returns false when n < 3 or
 * every x is the same. */
bool leak_fit(const double *x_ms, const double *y, size_t n, struct leak_fit *out);

/* A leak: the fit is good (r2 >= 0.8) and the slope at least min_per_min.
 * When true and `target` is above the last fitted value, *minutes_to_target
 * is how long until the line reaches it (else negative). */
bool leak_suspected(const struct leak_fit *f, double min_per_min, double target,
                    double *minutes_to_target);

#endif
