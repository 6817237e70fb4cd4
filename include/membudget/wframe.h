/*
 * wframe.h -- the watch stream framer: bytes in any pieces -> whole lines.
 *
 * Pure. A Kubernetes watch body is newline-delimited JSON, one event per
 * line, arriving in chunks that split lines anywhere. wframe_feed gives the
 * same lines whether the stream comes in 1-byte or 64 KiB pieces. A line
 * longer than `max_line` is an error (MB_ETOOBIG): the caller drops the
 * watch and starts again rather than buffer without bound.
 *
 * Value type: embed it. Fields are private to wframe.c.
 */
#ifndef MB_WFRAME_H
#define MB_WFRAME_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/err.h"

struct wframe {
    char *buf;       /* partial line carried over between feeds */
    size_t len;      /* bytes in buf */
    size_t cap;      /* bytes allocated */
    size_t max_line; /* longest accepted line, excluding the newline */
    bool failed;     /* a line was too long; every later feed fails */
};

/* Called for each complete line (without its newline; never empty). `line`
 * is borrowed for the call only. Return false to stop (wframe_feed then
 * returns MB_OK and keeps nothing of the rest of this piece). */
typedef bool wframe_line_fn(void *ctx, const char *line, size_t len);

void wframe_init(struct wframe *f, size_t max_line);
void wframe_cleanup(struct wframe *f);

/* Feed a piece of the stream. Returns MB_OK, or MB_ETOOBIG when a line
 * exceeds max_line (lines before it in this piece were delivered). */
mb_err wframe_feed(struct wframe *f, const char *data, size_t len, wframe_line_fn *fn, void *ctx);

/* Bytes of an unfinished line held. */
size_t wframe_pending(const struct wframe *f);

#endif
