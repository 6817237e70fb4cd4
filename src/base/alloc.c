/*
 * alloc.c -- allocation (pure): the mb_x* functions abort when memory is
 * exhausted (redis's zmalloc policy: a controller that cannot allocate
 * cannot keep its promises, and a half-done write is worse than a
 * restart), and every allocation goes through hooks that tests replace to
 * inject failures. jansson is pointed at the same hooks.
 */
#include <jansson.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/err.h"

static struct mb_alloc_hooks hooks = {malloc, realloc, free};

void mb_set_alloc_hooks(const struct mb_alloc_hooks *h)
{
    if (h)
        hooks = *h;
    else
        hooks = (struct mb_alloc_hooks){malloc, realloc, free};
}

/* The jansson arena of this thread, if a scope is open (see arena.h). */
static _Thread_local struct mb_arena *json_arena;

/*
 * Every block handed to jansson starts with this header, so that the free
 * hook knows in O(1) where the block came from: arena blocks are released
 * with their arena (free is a no-op), heap blocks go back to the hooks. A
 * scan of the arena's chunks on every free was 82% of the time of a 2.9 MiB
 * review with a million small values. 16 bytes keep jansson's blocks
 * 16-byte aligned. The hooks must be installed before jansson allocates
 * anything (mb_alloc_install_json at start-up), so every block has one.
 */
struct json_hdr {
    uintptr_t tag;
    uintptr_t pad;
};
#define JSON_TAG_HEAP ((uintptr_t)0x4d42484541503031u)  /* "MBHEAP01" */
#define JSON_TAG_ARENA ((uintptr_t)0x4d4241524e413031u) /* "MBARNA01" */

static void *json_malloc_hook(size_t n)
{
    struct json_hdr *h;

    if (n > SIZE_MAX - sizeof *h)
        return NULL;
    if (json_arena) {
        h = mb_arena_try_alloc(json_arena, sizeof *h + n);
        if (!h)
            return NULL; /* over the arena's limit: jansson fails the parse */
        h->tag = JSON_TAG_ARENA;
    } else {
        h = hooks.malloc_fn(sizeof *h + n);
        if (!h)
            return NULL;
        h->tag = JSON_TAG_HEAP;
    }
    return h + 1;
}

static void json_free_hook(void *p)
{
    struct json_hdr *h;

    if (!p)
        return;
    h = (struct json_hdr *)p - 1;
    if (h->tag == JSON_TAG_ARENA)
        return; /* released with the arena */
    MB_ASSERT(h->tag == JSON_TAG_HEAP);
    h->tag = 0; /* a second free of the same block trips the assert */
    hooks.free_fn(h);
}

void mb_alloc_install_json(void) { json_set_alloc_funcs(json_malloc_hook, json_free_hook); }

void mb_json_arena_begin(struct mb_arena *a)
{
    MB_ASSERT(!json_arena);
    json_arena = a;
}

void mb_json_arena_end(void) { json_arena = NULL; }

static _Noreturn void oom(size_t n)
{
    fprintf(stderr, "membudget: out of memory allocating %zu bytes\n", n);
    abort();
}

void *mb_xmalloc(size_t n)
{
    void *p = hooks.malloc_fn(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *mb_xcalloc(size_t n, size_t size)
{
    void *p;

    if (size && n > SIZE_MAX / size)
        oom(SIZE_MAX);
    p = mb_xmalloc(n * size);
    memset(p, 0, n * size);
    return p;
}

void *mb_xrealloc(void *p, size_t n)
{
    void *q = hooks.realloc_fn(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *mb_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = mb_xmalloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *mb_xstrdup(const char *s) { return mb_xstrndup(s, SIZE_MAX); }

void mb_free(void *p)
{
    if (p)
        hooks.free_fn(p);
}

char *mb_xasprintf(const char *fmt, ...)
{
    va_list ap, ap2;
    int n;
    char *s;

    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    s = mb_xmalloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return s;
}

void mb_trim(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return;
#else
    malloc_trim(0);
#endif
}
