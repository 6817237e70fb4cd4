/*
 * arena.c -- a bump allocator with a byte cap (pure): the webhook parses
 * each review into one arena, so a review's memory is bounded by
 * configuration and freed in one step, whatever the JSON's shape.
 */
#include <stdint.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/err.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define ARENA_MAX_CHUNK ((size_t)8 << 20)

struct mb_arena_chunk {
    struct mb_arena_chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

void mb_arena_init(struct mb_arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->limit = 0;
    a->used = 0;
    a->exhausted = false;
    a->starved = false;
    a->pool = NULL;
    a->pool_total = 0;
    a->reserved = 0;
    a->chunk_size = chunk_size < 1024 ? 1024 : chunk_size;
}

void mb_arena_cleanup(struct mb_arena *a)
{
    struct mb_arena_chunk *c = a->head;

    while (c) {
        struct mb_arena_chunk *n = c->next;
        UNPOISON(c->data, c->size);
        mb_free(c);
        c = n;
    }
    a->head = NULL;
    if (a->pool && a->reserved)
        atomic_fetch_add(a->pool, (long long)a->reserved);
    a->reserved = 0;
}

void mb_arena_reset(struct mb_arena *a)
{
    struct mb_arena_chunk *c = a->head, *first = NULL;

    /* keep the oldest (first-allocated, chunk_size) chunk; free the rest */
    while (c) {
        struct mb_arena_chunk *n = c->next;
        if (!n) {
            first = c;
        } else {
            UNPOISON(c->data, c->size);
            mb_free(c);
        }
        c = n;
    }
    a->head = first;
    a->used = 0;
    a->exhausted = false;
    a->starved = false;
    if (a->pool && a->reserved)
        atomic_fetch_add(a->pool, (long long)a->reserved);
    a->reserved = 0;
    if (first) {
        first->used = 0;
        POISON(first->data, first->size);
    }
}

void *mb_arena_alloc(struct mb_arena *a, size_t n)
{
    struct mb_arena_chunk *c = a->head;
    void *p;

    n = (n + 15) & ~(size_t)15;
    if (!c || c->size - c->used < n) {
        /* Chunks double (up to 8 MiB each), so a request with a million
         * small values uses a few dozen chunks, not thousands. */
        size_t size = c ? c->size * 2 : a->chunk_size;
        if (size > ARENA_MAX_CHUNK)
            size = ARENA_MAX_CHUNK;
        if (size < a->chunk_size)
            size = a->chunk_size;
        if (size < n)
            size = n;
        c = mb_xmalloc(sizeof *c + size);
        c->size = size;
        c->used = 0;
        POISON(c->data, size);
        c->next = a->head;
        a->head = c;
    }
    p = c->data + c->used;
    c->used += n;
    UNPOISON(p, n);
    return p;
}

bool mb_arena_owns(const struct mb_arena *a, const void *p)
{
    for (const struct mb_arena_chunk *c = a->head; c; c = c->next)
        if ((const unsigned char *)p >= c->data && (const unsigned char *)p < c->data + c->size)
            return true;
    return false;
}

size_t mb_arena_nchunks(const struct mb_arena *a)
{
    size_t n = 0;
    for (const struct mb_arena_chunk *c = a->head; c; c = c->next)
        n++;
    return n;
}

size_t mb_arena_footprint(const struct mb_arena *a)
{
    size_t n = 0;
    for (const struct mb_arena_chunk *c = a->head; c; c = c->next)
        n += sizeof *c + c->size;
    return n;
}

void mb_arena_set_limit(struct mb_arena *a, size_t limit) { a->limit = limit; }

bool mb_arena_exhausted(const struct mb_arena *a) { return a->exhausted; }

void mb_arena_set_pool(struct mb_arena *a, atomic_llong *pool, size_t total)
{
    a->pool = pool;
    a->pool_total = total;
}

size_t mb_arena_cap(const struct mb_arena *a)
{
    size_t cap = a->limit;
    if (a->pool && a->pool_total && (!cap || a->pool_total < cap))
        cap = a->pool_total;
    return cap;
}

bool mb_arena_starved(const struct mb_arena *a) { return a->starved; }

#define POOL_BLOCK ((size_t)1 << 20)

void *mb_arena_try_alloc(struct mb_arena *a, size_t n)
{
    if (a->limit && (n > a->limit || a->used > a->limit - n)) {
        a->exhausted = true;
        return NULL;
    }
    if (a->pool && a->used + n > a->reserved) {
        /* one atomic per MiB, not per value */
        long long blk = (long long)(n > POOL_BLOCK ? n : POOL_BLOCK);
        if (atomic_fetch_sub(a->pool, blk) < blk) {
            atomic_fetch_add(a->pool, blk);
            a->exhausted = true;
            /* starved only if the whole pool could have held it */
            a->starved = !a->pool_total || a->reserved + (size_t)blk <= a->pool_total;
            return NULL;
        }
        a->reserved += (size_t)blk;
    }
    a->used += n;
    return mb_arena_alloc(a, n);
}
