/*
 * wframe.c -- the watch stream framer (pure; see wframe.h): bytes in any
 * pieces, whole lines out, each line bounded, so a watch that sends a
 * megabyte without a newline is dropped rather than buffered.
 */
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/wframe.h"

void wframe_init(struct wframe *f, size_t max_line)
{
    memset(f, 0, sizeof *f);
    f->max_line = max_line;
}

void wframe_cleanup(struct wframe *f)
{
    mb_free(f->buf);
    memset(f, 0, sizeof *f);
}

size_t wframe_pending(const struct wframe *f) { return f->len; }

static mb_err keep(struct wframe *f, const char *data, size_t len)
{
    if (f->len + len > f->max_line) {
        f->failed = true;
        f->len = 0;
        return MB_ETOOBIG;
    }
    if (f->len + len > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        while (cap < f->len + len)
            cap *= 2;
        if (cap > f->max_line)
            cap = f->max_line;
        f->buf = mb_xrealloc(f->buf, cap);
        f->cap = cap;
    }
    memcpy(f->buf + f->len, data, len);
    f->len += len;
    return MB_OK;
}

static bool emit(const char *line, size_t len, wframe_line_fn *fn, void *ctx)
{
    if (len && line[len - 1] == '\r')
        len--;
    return len == 0 || fn(ctx, line, len);
}

mb_err wframe_feed(struct wframe *f, const char *data, size_t len, wframe_line_fn *fn, void *ctx)
{
    if (f->failed)
        return MB_ETOOBIG;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        if (!nl)
            return keep(f, data, len);
        size_t n = (size_t)(nl - data);
        bool go;
        if (f->len) {
            /* Finish the carried-over line. */
            mb_err e = keep(f, data, n);
            if (e)
                return e;
            go = emit(f->buf, f->len, fn, ctx);
            f->len = 0;
        } else {
            if (n > f->max_line) {
                f->failed = true;
                return MB_ETOOBIG;
            }
            go = emit(data, n, fn, ctx);
        }
        data = nl + 1;
        len -= n + 1;
        if (!go)
            return MB_OK;
    }
    return MB_OK;
}
