/*
 * clock.c -- the system clock behind struct mb_clock (shell): CLOCK_MONOTONIC
 * for deadlines and CLOCK_REALTIME for what records and Events say. The
 * only place that reads the time; tests pass a fake clock instead.
 */
#include <time.h>
#include "membudget/clock.h"

static uint64_t sys_mono_ns(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static mb_mono_ms sys_mono_ms(void *ctx) { return sys_mono_ns(ctx) / 1000000u; }

static mb_wall_ms sys_wall_ms(void *ctx)
{
    struct timespec ts;
    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (mb_wall_ms)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct mb_clock SYSTEM = {sys_mono_ms, sys_mono_ns, sys_wall_ms, NULL};

const struct mb_clock *clock_system(void) { return &SYSTEM; }
