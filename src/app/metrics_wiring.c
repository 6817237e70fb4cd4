/*
 * metrics_wiring.c -- the process's metrics registry (shell): made once per
 * process with membudget_build_info set, and one log line when a family
 * first reaches --metrics-max-series (the registry drops new series past
 * it, and counts them).
 */
#include "app_int.h"
#include "membudget/log.h"
#include "membudget/metrics.h"

/* Once per family that reaches the series limit: one line, not one per
 * sample (the drops themselves are counted in
 * membudget_metrics_series_dropped_total). */
static void on_overflow(void *ctx, const char *family, size_t limit)
{
    (void)ctx;
    log_error("metric reached its series limit: new series are dropped", "{s:s,s:I}", "metric",
              family, "limit", (json_int_t)limit);
}

struct mx *app_metrics_new(size_t max_series)
{
    static const char *const BL[] = {"version", "commit"};
    const char *bv[] = {MB_VERSION, MB_COMMIT};
    struct mx *mx = mx_new();

    mx_set_series_limit(mx, max_series);
    mx_on_overflow(mx, on_overflow, NULL);
    mx_set(mx_gauge(mx, "membudget_build_info", "Version of this membudget binary.", 2, BL), bv, 1);
    return mx;
}
