/*
 * expvar.h -- Go's expvar JSON (/debug/vars), read for memstats.
 *
 * Pure (jansson). Figures are optional individually; the body must be a JSON
 * object with a "memstats" object, else MB_EPARSE.
 */
#ifndef MB_EXPVAR_H
#define MB_EXPVAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/err.h"

struct expvar_mem {
    bool has_heap_inuse, has_heap_alloc, has_sys, has_num_gc;
    uint64_t heap_inuse, heap_alloc, sys, num_gc;
};

/* On success *out is filled; on error it is untouched and diag says why. */
mb_err expvar_parse(const char *buf, size_t len, struct expvar_mem *out, struct mb_diag *diag);

#endif
