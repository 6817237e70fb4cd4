/*
 * err.c -- mb_err's names and the diag helpers (pure): one error enum for
 * the project, details in an optional struct mb_diag (line, column,
 * message), as redis's char *err and jansson's json_error_t.
 */
#include <stdarg.h>
#include <string.h>
#include "membudget/err.h"

static const char *const NAMES[MB_ELAST] = {
    [MB_OK] = "no error",          [MB_ENOMEM] = "out of memory",
    [MB_EINVAL] = "invalid value", [MB_ETOOBIG] = "too big",
    [MB_ERANGE] = "out of range",  [MB_EPARSE] = "parse error",
    [MB_EIO] = "I/O error",        [MB_ETLS] = "TLS error",
    [MB_ENOTFOUND] = "not found",  [MB_EUNSUPPORTED] = "unsupported",
    [MB_ETIMEOUT] = "timed out",
};

const char *mb_strerror(mb_err e)
{
    if ((int)e < 0 || e >= MB_ELAST || !NAMES[e])
        return "unknown error";
    return NAMES[e];
}

mb_err mb_diag_set(struct mb_diag *d, mb_err e, const char *fmt, ...)
{
    va_list ap;

    if (!d)
        return e;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof d->msg, fmt, ap);
    va_end(ap);
    return e;
}

void mb_diag_prefix(struct mb_diag *d, const char *fmt, ...)
{
    char out[sizeof d->msg];
    size_t n;
    va_list ap;

    if (!d)
        return;
    va_start(ap, fmt);
    vsnprintf(out, sizeof out, fmt, ap);
    va_end(ap);
    n = strlen(out);
    if (n + 2 < sizeof out) { /* then ": " and as much of the old message as fits */
        memcpy(out + n, ": ", 2);
        n += 2;
        size_t rest = strnlen(d->msg, sizeof d->msg);
        if (rest > sizeof out - 1 - n)
            rest = sizeof out - 1 - n;
        memcpy(out + n, d->msg, rest);
        out[n + rest] = '\0';
    }
    memcpy(d->msg, out, sizeof out);
}

_Noreturn void mb_assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "membudget: assertion failed: %s (%s:%d)\n", what, file, line);
    abort();
}
