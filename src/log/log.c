/*
 * log.c -- structured logging, one JSON object per line on stderr (shell;
 * see log.h). Each line is one write(), so lines from the webhook's
 * workers and the controller never interleave; log_limited() lets a
 * repeating line through once a second, counting the ones held back.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/log.h"

static enum log_level min_level = LOG_INFO;
static const char *const NAMES[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level l) { min_level = l; }

int log_parse_level(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, NAMES[i])) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

/* One line; `suppressed` > 0 adds how many lines a limit held back. */
static void emit(enum log_level l, const char *msg, unsigned long suppressed, const char *fmt,
                 va_list ap)
{
    json_t *o, *fields = NULL;
    char ts[96];
    struct timespec now;
    struct tm tm;
    char *line;
    size_t len;

    if (fmt) {
        json_error_t e;
        fields = json_vpack_ex(&e, 0, fmt, ap);
    }
    o = json_object();
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
    json_object_set_new(o, "ts", json_string(ts));
    json_object_set_new(o, "level", json_string(NAMES[l]));
    json_object_set_new(o, "msg", mb_json_string_lossy(msg));
    if (json_is_object(fields))
        json_object_update_missing(o, fields); /* ts, level, msg first and never overridden */
    json_decref(fields);
    if (suppressed)
        json_object_set_new(o, "suppressed", json_integer((json_int_t)suppressed));
    line = mb_json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER, &len);
    json_decref(o);
    line = mb_xrealloc(line, len + 2);
    line[len++] = '\n';
    (void)!write(STDERR_FILENO, line, len);
    mb_free(line);
}

void log_emit(enum log_level l, const char *msg, const char *fmt, ...)
{
    va_list ap;

    if (l < min_level)
        return;
    va_start(ap, fmt);
    emit(l, msg, 0, fmt, ap);
    va_end(ap);
}

void log_emit_limited(struct log_limit *lim, enum log_level l, const char *msg, const char *fmt,
                      ...)
{
    struct timespec ts;
    unsigned long long now;
    va_list ap;

    if (l < min_level)
        return;
    unsigned long suppressed;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now = (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
    if (!log_limit_pass(lim, now, &suppressed))
        return;
    va_start(ap, fmt);
    emit(l, msg, suppressed, fmt, ap);
    va_end(ap);
}

bool log_limit_pass(struct log_limit *lim, unsigned long long now, unsigned long *suppressed)
{
    unsigned long long next = atomic_load(&lim->next_ms);
    /* one thread wins the second; the others count themselves held back */
    if (now < next || !atomic_compare_exchange_strong(&lim->next_ms, &next, now + 1000)) {
        atomic_fetch_add(&lim->held, 1);
        return false;
    }
    *suppressed = atomic_exchange(&lim->held, 0);
    return true;
}
