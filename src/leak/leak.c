/*
 * leak.c -- the leak signal (pure; see leak.h): a least-squares line through
 * a pod's usage after GCs (or its goroutines), and whether its slope is a
 * sustained rise rather than noise. The planner keeps the windows and asks
 * this file for the fit.
 */
#include "membudget/leak.h"

bool leak_fit(const double *x_ms, const double *y, size_t n, struct leak_fit *out)
{
    if (n < 3)
        return false;
    /* Centre x on its first value and use minutes, for numerical sanity. */
    double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double x = (x_ms[i] - x_ms[0]) / 60000.0;
        sx += x;
        sy += y[i];
        sxx += x * x;
        sxy += x * y[i];
        syy += y[i] * y[i];
    }
    double dn = (double)n, vx = sxx - sx * sx / dn, vy = syy - sy * sy / dn,
           cxy = sxy - sx * sy / dn;
    if (vx <= 0)
        return false;
    double slope = cxy / vx, icpt = (sy - slope * sx) / dn;
    out->slope_per_min = slope;
    out->r2 = vy > 0 ? (cxy * cxy) / (vx * vy) : 0;
    out->last = icpt + slope * (x_ms[n - 1] - x_ms[0]) / 60000.0;
    return true;
}

bool leak_suspected(const struct leak_fit *f, double min_per_min, double target,
                    double *minutes_to_target)
{
    bool yes = f->slope_per_min > 0 && f->slope_per_min >= min_per_min && f->r2 >= 0.8;
    if (minutes_to_target)
        *minutes_to_target = yes && target > f->last ? (target - f->last) / f->slope_per_min : -1;
    return yes;
}
