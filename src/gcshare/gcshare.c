/*
 * gcshare.c -- the GC's share of a Go process's CPU between two scrapes
 * (pure; see gcshare.h): the GC-thrash signal the planner reads.
 */
#include <math.h>
#include "membudget/gcshare.h"

enum gcs_result gcs_feed(struct gcs *g, double gc, double total, double *share)
{
    if (!isfinite(gc) || !isfinite(total) || gc < 0 || total < 0)
        return GCS_INVALID;
    if (!g->have) {
        *g = (struct gcs){true, gc, total};
        return GCS_FIRST;
    }
    if (gc < g->gc || total < g->total) {
        *g = (struct gcs){true, gc, total};
        return GCS_RESET;
    }
    double dt = total - g->total, dg = gc - g->gc;
    if (dt <= 0)
        return GCS_IDLE; /* keep the baseline: the next pair measures from it */
    *g = (struct gcs){true, gc, total};
    /* GC time is part of the total; a ratio above 1 is a runtime rounding
     * artefact, never more than all of it. */
    *share = dg >= dt ? 1.0 : dg / dt;
    return GCS_SHARE;
}

const char *gcs_result_name(enum gcs_result r)
{
    static const char *const N[] = {"share", "first", "reset", "idle", "invalid"};
    return (unsigned)r < sizeof N / sizeof *N ? N[r] : "?";
}
