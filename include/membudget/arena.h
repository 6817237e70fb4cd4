/*
 * arena.h -- a bump allocator for short-lived request data (pure).
 *
 * The webhook parses a ~4 KB AdmissionReview into a few hundred jansson
 * nodes and frees them all a few microseconds later; with malloc that was a
 * third of the CPU time (profiled). Within mb_json_arena_begin/_end, every
 * jansson allocation on this thread comes from the arena and jansson's frees
 * of arena memory are no-ops; mb_arena_reset() then releases everything at
 * once. The free hook tells arena blocks from heap blocks by a tag in a
 * 16-byte header in front of each block (alloc.c): O(1), whatever the number
 * of chunks. Chunks double in size up to 8 MiB. Under AddressSanitizer the released memory is
 * poisoned, so a value used after its request still fails loudly.
 *
 * Rule: a JSON value created inside the scope must not be used after the
 * arena is reset. It may be used (and json_decref'd: a no-op) after the
 * scope has ended, so a parse can run in the scope while code that uses the
 * result, and allocates values of its own on the heap, runs outside it.
 */
#ifndef MB_ARENA_H
#define MB_ARENA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

struct mb_arena_chunk;

/* Value type: embed it. Fields are private to arena.c. */
struct mb_arena {
    struct mb_arena_chunk *head; /* current chunk; older ones follow */
    size_t chunk_size;           /* size of the first chunk (others may be larger) */
    size_t limit;                /* bytes jansson may take from it between resets; 0: none */
    size_t used;                 /* bytes handed out since the last reset */
    bool exhausted;              /* an allocation was refused for the limit */
    bool starved;                /* ... because the shared pool was empty */
    atomic_llong *pool;          /* shared budget, or NULL (mb_arena_set_pool) */
    size_t pool_total;           /* the whole shared budget (0: unknown) */
    size_t reserved;             /* bytes taken from the pool since the last reset */
};

void mb_arena_init(struct mb_arena *a, size_t chunk_size);

/* Cap what JSON values may take from the arena between resets (0: no cap).
 * Past it, jansson's allocations fail, so a parse fails cleanly ("out of
 * memory") instead of growing: a 3 MiB review of a million {} would
 * otherwise take 256 MiB. mb_arena_exhausted() tells that this happened;
 * mb_arena_reset() clears it. */
void mb_arena_set_limit(struct mb_arena *a, size_t limit);
bool mb_arena_exhausted(const struct mb_arena *a);

/* Draw what JSON values take from a budget shared by several arenas (the
 * webhook's workers), in blocks of 1 MiB, given back at mb_arena_reset():
 * all arenas together hold at most the pool (plus a block each). When the
 * pool is empty the allocation fails as at the limit, and
 * mb_arena_starved() tells the two apart: this request is not too
 * complex, the others are using the memory now. `total` is the whole
 * budget (0: unknown): a request that would need more than all of it by
 * itself is never "starved" but exhausted, since no retry can fit it. */
void mb_arena_set_pool(struct mb_arena *a, atomic_llong *pool, size_t total);

/* The most one request may ever take: the limit, or the whole pool when
 * smaller (0: no cap). */
size_t mb_arena_cap(const struct mb_arena *a);
bool mb_arena_starved(const struct mb_arena *a);
/* Like mb_arena_alloc, but returns NULL (and marks the arena exhausted)
 * past the limit. */
void *mb_arena_try_alloc(struct mb_arena *a, size_t n);
void mb_arena_cleanup(struct mb_arena *a);          /* frees every chunk */
void mb_arena_reset(struct mb_arena *a);            /* keeps the first chunk for reuse */
void *mb_arena_alloc(struct mb_arena *a, size_t n); /* 16-byte aligned; aborts on OOM */
/* Does `p` point into one of the arena's chunks? O(chunks): for tests and
 * assertions, not for hot paths. */
bool mb_arena_owns(const struct mb_arena *a, const void *p);
size_t mb_arena_nchunks(const struct mb_arena *a); /* for tests */
/* Bytes the arena's chunks take from the heap, headers included: O(chunks),
 * for tests and figures. */
size_t mb_arena_footprint(const struct mb_arena *a);

/* Route this thread's jansson allocations to `a` until mb_json_arena_end().
 * Scopes do not nest. */
void mb_json_arena_begin(struct mb_arena *a);
void mb_json_arena_end(void);

#endif
