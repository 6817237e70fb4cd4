/*
 * log.h -- structured logging: one JSON object per line on stderr (shell).
 *
 *   {"ts":"2026-11-22T10:00:00.123Z","level":"info","msg":"listening","server":"webhook",...}
 *
 * Only shell modules log; pure modules return errors. Extra fields are given
 * as a jansson json_pack() format and arguments, e.g.
 *   log_info("listening", "{s:s,s:s}", "server", "webhook", "address", addr);
 * A NULL format means no extra fields. Safe to call from any thread (each
 * line is written with one write(2)).
 */
#ifndef MB_LOG_H
#define MB_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level l);
/* Parse "debug", "info", "warn", "error". Returns 0, or -1 if unknown. */
int log_parse_level(const char *s, enum log_level *out);

void log_emit(enum log_level l, const char *msg, const char *fmt, ...);

/* A warning that may repeat (an event dropped per pod, a connection closed
 * per attacker) is logged through a limit of its own: at most one line a
 * second, and that line says how many were held back since the last one
 * ("suppressed": N). Declare the limit static at the call site, or use
 * log_limited(), which does. Thread-safe (atomics); the count of lines held
 * back after the last one written is carried into the next one. */
struct log_limit {
    _Atomic unsigned long long next_ms; /* monotonic ms before which lines are held */
    _Atomic unsigned long held;         /* held back since the last line written */
};
void log_emit_limited(struct log_limit *lim, enum log_level l, const char *msg, const char *fmt,
                      ...);
/* The limit's decision at `now_ms`: true when a line may be written now,
 * with *suppressed the lines held back before it (log_emit_limited's own
 * test seam: tests give the time). */
bool log_limit_pass(struct log_limit *lim, unsigned long long now_ms, unsigned long *suppressed);
#define log_limited(level, ...)                                                                    \
    do {                                                                                           \
        static struct log_limit log_limit_;                                                        \
        log_emit_limited(&log_limit_, level, __VA_ARGS__);                                         \
    } while (0)

#define log_debug(...) log_emit(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_emit(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_ERROR, __VA_ARGS__)

#endif
