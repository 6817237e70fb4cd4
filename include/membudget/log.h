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

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level l);
/* Parse "debug", "info", "warn", "error". Returns 0, or -1 if unknown. */
int log_parse_level(const char *s, enum log_level *out);

void log_emit(enum log_level l, const char *msg, const char *fmt, ...);

#define log_debug(...) log_emit(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_emit(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_ERROR, __VA_ARGS__)

#endif
