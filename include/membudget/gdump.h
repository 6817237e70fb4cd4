/*
 * gdump.h -- a Go goroutine dump grouped by top function: how many
 * goroutines each function holds, the most first.
 *
 * Pure. Reads both text formats of /debug/pprof/goroutine:
 *
 *   debug=2 (what membudget.io/goroutines fetches by default): one block
 *   per goroutine, "goroutine 17 [chan receive]:" then a function line and
 *   a file line per frame;
 *   debug=1: "goroutine profile: total 41", then one record per distinct
 *   stack, "40 @ 0x47e6ae ...", with "#\t0x4e43ce\tmain.waitForOrders+0x4e\t..."
 *   per frame.
 *
 * A goroutine's top function is its first frame outside the runtime package
 * ("runtime.gopark" says only that it waits; "runtime/pprof." is not the
 * runtime package): the first frame when every frame is the runtime's.
 * Bounded: the caller bounds the bytes; groups past max_groups are counted
 * in `other`; a function name is cut at GD_NAME_MAX. Anything else is an
 * error naming its line.
 */
#ifndef MB_GDUMP_H
#define MB_GDUMP_H

#include <stddef.h>
#include <stdint.h>
#include "membudget/err.h"

#define GD_NAME_MAX 256

struct gd_group {
    char fn[GD_NAME_MAX];
    uint64_t count;
};

struct gdump {
    uint64_t total; /* goroutines in the dump */
    uint64_t other; /* goroutines of groups past max_groups */
    size_t ngroups;
    struct gd_group *group; /* [ngroups], the most goroutines first, then by name */
};

/* Parse `len` bytes (not NUL-terminated). At most max_groups groups are
 * kept (0: 10000). Returns MB_OK and *out filled (free with gd_free);
 * MB_EPARSE for text that is neither format, with d->line. */
mb_err gd_parse(const char *text, size_t len, size_t max_groups, struct gdump *out,
                struct mb_diag *d);
void gd_free(struct gdump *g);

/* The goroutine Event's words: "41 goroutines; main.waitForOrders holds 40 (98%)". */
void gd_summary(const struct gdump *g, char *out, size_t len);

/* The count of `fn` in g (0 when it has no such group). */
uint64_t gd_count(const struct gdump *g, const char *fn);

#endif
