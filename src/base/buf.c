/*
 * buf.c -- growable byte buffers with a cap (pure): every buffer that input
 * can grow has a ceiling (curl's dynbuf rule); past it the buffer says
 * so (MB_ETOOBIG, and a sticky `full`), it never grows on.
 */
#include <stdio.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/buf.h"

void mb_buf_init(struct mb_buf *b, size_t max) { *b = (struct mb_buf){.max = max}; }

void mb_buf_cleanup(struct mb_buf *b)
{
    MB_FREE(b->p);
    b->len = b->cap = 0;
}

void mb_buf_reset(struct mb_buf *b)
{
    b->len = 0;
    b->full = false;
    if (b->p)
        b->p[0] = '\0';
}

/* Make room for `extra` more bytes. Invariant: cap >= len, and p has cap + 1
 * bytes so the terminating NUL always fits. */
static mb_err reserve(struct mb_buf *b, size_t extra)
{
    size_t want, ncap;

    if (extra > b->max || b->len > b->max - extra) {
        b->full = true;
        return MB_ETOOBIG;
    }
    want = b->len + extra;
    if (b->p && want <= b->cap)
        return MB_OK;
    ncap = b->cap ? b->cap : 64;
    while (ncap < want)
        ncap = (ncap > b->max / 2) ? b->max : ncap * 2;
    if (ncap > b->max)
        ncap = b->max;
    b->p = mb_xrealloc(b->p, ncap + 1);
    b->cap = ncap;
    return MB_OK;
}

mb_err mb_buf_add(struct mb_buf *b, const void *data, size_t len)
{
    mb_err err = reserve(b, len);
    if (err)
        return err;
    if (len)
        memcpy(b->p + b->len, data, len);
    b->len += len;
    b->p[b->len] = '\0';
    return MB_OK;
}

mb_err mb_buf_adds(struct mb_buf *b, const char *s) { return mb_buf_add(b, s, strlen(s)); }

mb_err mb_buf_vprintf(struct mb_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    mb_err err;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return MB_EINVAL;
    err = reserve(b, (size_t)n);
    if (err)
        return err;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return MB_OK;
}

mb_err mb_buf_printf(struct mb_buf *b, const char *fmt, ...)
{
    va_list ap;
    mb_err err;

    va_start(ap, fmt);
    err = mb_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return err;
}

char *mb_buf_take(struct mb_buf *b)
{
    char *p = b->p ? b->p : mb_xstrdup("");
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *mb_buf_str(const struct mb_buf *b) { return b->p ? b->p : ""; }
