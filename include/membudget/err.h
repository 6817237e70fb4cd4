/*
 * err.h -- project-wide error codes, diagnostics and assertions.
 *
 * Pure. Every fallible function returns an mb_err (MB_OK = 0) and, where the
 * caller may want to know more, fills an optional `struct mb_diag *` (NULL is
 * always allowed). The numbers are stable: append new codes before MB_ELAST.
 */
#ifndef MB_ERR_H
#define MB_ERR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

typedef enum mb_err {
    MB_OK = 0,
    MB_ENOMEM = 1,       /* allocation failed */
    MB_EINVAL = 2,       /* bad argument or bad input value */
    MB_ETOOBIG = 3,      /* a bounded buffer or input limit was exceeded */
    MB_ERANGE = 4,       /* a number is out of its allowed range */
    MB_EPARSE = 5,       /* malformed syntax (YAML, JSON, quantity...) */
    MB_EIO = 6,          /* a system call failed (errno in diag) */
    MB_ETLS = 7,         /* OpenSSL failed (its error text in diag) */
    MB_ENOTFOUND = 8,    /* a named thing does not exist */
    MB_EUNSUPPORTED = 9, /* valid input we do not handle */
    MB_ETIMEOUT = 10,    /* a deadline passed */
    MB_ELAST             /* never use */
} mb_err;

/* Detail for an error. All fields are optional; 0 means "not known". */
struct mb_diag {
    int line;         /* 1-based line in the input */
    int column;       /* 1-based column in the input */
    long http_status; /* HTTP status, when the error came from a peer */
    int sys_errno;    /* errno saved at the failing system call */
    char msg[256];    /* human-readable, one line, no trailing newline */
};

/* Returns: static string naming `e` ("out of memory", ...). */
const char *mb_strerror(mb_err e);

/* Format into d->msg (truncating) and return `e`; NULL `d` is allowed. Keeps
 * line/column/errno as they are, so a caller may set them first. */
mb_err mb_diag_set(struct mb_diag *d, mb_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix d->msg with a formatted string plus ": ". NULL `d` is allowed. */
void mb_diag_prefix(struct mb_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Programmer errors: always on (redis serverAssert, curl DEBUGASSERT). */
#define MB_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond))                                                                               \
            mb_assert_fail(#cond, __FILE__, __LINE__);                                             \
    } while (0)

_Noreturn void mb_assert_fail(const char *what, const char *file, int line);

#define MB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif /* MB_ERR_H */
