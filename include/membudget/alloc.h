/*
 * alloc.h -- allocation through replaceable hooks.
 *
 * Pure. mb_x* functions abort the process when memory is exhausted (redis's
 * zmalloc_default_oom, h2o's h2o_mem_alloc): callers never check them. Sizes
 * that come from input must be bounded *before* they reach an allocator.
 * Tests install hooks (mb_set_alloc_hooks) to count or fail allocations;
 * jansson is routed through the same hooks by mb_alloc_install_json().
 */
#ifndef MB_ALLOC_H
#define MB_ALLOC_H

#include <stddef.h>

struct mb_alloc_hooks {
    void *(*malloc_fn)(size_t n);
    void *(*realloc_fn)(void *p, size_t n);
    void (*free_fn)(void *p);
};

/* Replace the hooks (NULL restores libc). Call before any allocation. */
void mb_set_alloc_hooks(const struct mb_alloc_hooks *h);

/* Route jansson's allocations through the hooks. Call once at start-up. */
void mb_alloc_install_json(void);

/* Returns: new memory; aborts on exhaustion. mb_xcalloc zeroes and checks
 * n * size for overflow. mb_xstrndup copies at most n bytes and terminates. */
void *mb_xmalloc(size_t n);
void *mb_xcalloc(size_t n, size_t size);
void *mb_xrealloc(void *p, size_t n);
char *mb_xstrdup(const char *s);
char *mb_xstrndup(const char *s, size_t n);
void mb_free(void *p);

/* Give the memory the allocator keeps freed back to the system (glibc's
 * malloc_trim: its arenas keep what was freed, so the resident set would
 * stay at its peak). A no-op under AddressSanitizer or ThreadSanitizer,
 * whose allocator is their own (glibc's trim would walk arenas that were
 * never set up, from several threads at once). Any thread. */
void mb_trim(void);

/* Returns: new string formatted like printf; aborts on exhaustion. */
char *mb_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Free and set to NULL (curlx_safefree). */
#define MB_FREE(p)                                                                                 \
    do {                                                                                           \
        mb_free(p);                                                                                \
        (p) = NULL;                                                                                \
    } while (0)

#endif /* MB_ALLOC_H */
