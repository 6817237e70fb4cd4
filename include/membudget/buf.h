/*
 * buf.h -- a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * Pure. Value type: embed it. Fields are private to buf.c except for
 * reading `p` and `len`. The content is always NUL-terminated (the NUL is not
 * counted in len and not counted against the cap), so text can be used as a
 * C string directly.
 */
#ifndef MB_BUF_H
#define MB_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include "membudget/err.h"

struct mb_buf {
    char *p;    /* content, NUL-terminated; NULL until the first add */
    size_t len; /* bytes in use */
    size_t cap; /* bytes allocated (excluding the terminating NUL slot) */
    size_t max; /* hard limit on len: adding past it fails with MB_ETOOBIG */
    bool full;  /* an add was refused since init or reset (sticky): a writer that
                   appends many pieces checks once, at the end, that none was lost */
};

/* Cannot fail. `max` is the most bytes the buffer will ever hold. */
void mb_buf_init(struct mb_buf *b, size_t max);

/* Frees the content; the buffer may be reused after mb_buf_init(). */
void mb_buf_cleanup(struct mb_buf *b);

/* Empty the buffer, keeping its memory. */
void mb_buf_reset(struct mb_buf *b);

/* Append. Returns MB_OK or MB_ETOOBIG (content unchanged on error, and
 * `full` set). */
mb_err mb_buf_add(struct mb_buf *b, const void *data, size_t len);
mb_err mb_buf_adds(struct mb_buf *b, const char *s);
mb_err mb_buf_printf(struct mb_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
mb_err mb_buf_vprintf(struct mb_buf *b, const char *fmt, va_list ap);

/* Returns: the content, now owned by the caller (free with mb_free), or a
 * new empty string. The buffer is left empty. */
char *mb_buf_take(struct mb_buf *b);

/* Returns: borrowed content as a C string ("" when empty), valid until the
 * next change to the buffer. */
const char *mb_buf_str(const struct mb_buf *b);

#endif /* MB_BUF_H */
