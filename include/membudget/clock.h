/*
 * clock.h -- time types and the injectable clock.
 *
 * mb_mono_ms / mb_wall_ms say in their type which clock a number came from
 * (redis monotime). Pure code takes `now` as an argument; shell objects get
 * a `const struct mb_clock *` and read it once per callback.
 */
#ifndef MB_CLOCK_H
#define MB_CLOCK_H

#include <stdint.h>

typedef uint64_t mb_mono_ms; /* monotonic milliseconds, arbitrary origin */
typedef int64_t mb_wall_ms;  /* milliseconds since the Unix epoch */

struct mb_clock {
    mb_mono_ms (*mono_ms)(void *ctx);
    uint64_t (*mono_ns)(void *ctx);
    mb_wall_ms (*wall_ms)(void *ctx);
    void *ctx;
};

/* Returns: borrowed, the process-wide system clock (CLOCK_MONOTONIC and
 * CLOCK_REALTIME). Thread-safe. */
const struct mb_clock *clock_system(void);

#endif
