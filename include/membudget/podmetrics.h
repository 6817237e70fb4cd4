/*
 * podmetrics.h -- the metrics API's PodMetricsList (metrics.k8s.io/v1beta1),
 * read for the memory usage of each pod's containers.
 *
 * Pure. A dedicated scanner, not a JSON tree: with 10k pods the list is about
 * 3 MB, and building it with jansson was most of a sample cycle's CPU time
 * (profiled: 52% of the controller's CPU in jansson, 91 ms a parse with
 * malloc). The scanner keeps only what the sampler reads, and points into the
 * body instead of copying.
 *
 * The whole body is checked first, at least as strictly as jansson checks it
 * (RFC 8259 grammar, valid UTF-8, no \u0000, nesting at most PM_MAX_DEPTH;
 * a NUL byte between tokens, which jansson passes over, is refused): a list that
 * is malformed anywhere gives no samples at all, never some of them. What is
 * read, per item: metadata.namespace, metadata.name, and containers[].name
 * and containers[].usage.memory. A field of another JSON type than a string
 * counts as absent; of duplicate keys the last wins (jansson's rule); other
 * members are skipped.
 */
#ifndef MB_PODMETRICS_H
#define MB_PODMETRICS_H

#include <stddef.h>
#include "membudget/err.h"

#define PM_MAX_DEPTH 128

/* A string from the body: `p` points into the body, or into memory owned by
 * the list when the JSON string had escapes. Not NUL-terminated. NULL p:
 * absent. */
struct pm_str {
    const char *p;
    size_t len;
};

struct pm_container {
    struct pm_str name, memory;
};

struct pm_item {
    struct pm_str ns, name;
    size_t first, n; /* containers [first, first + n) of the list */
};

struct pm_list {
    struct pm_item *items;
    size_t nitems;
    struct pm_container *containers;
    size_t ncontainers;
    char **decoded; /* strings that had escapes, decoded (owned) */
    size_t ndecoded;
};

/* Read `buf` (`len` bytes). On MB_OK *out holds the items (an empty list is
 * fine; a body without an "items" array is MB_EPARSE) and must be released
 * with pm_list_free(); it refers into `buf`, which must outlive it. On error
 * *out is empty and diag names what is wrong and the byte offset. */
mb_err pm_parse(const char *buf, size_t len, struct pm_list *out, struct mb_diag *diag);

void pm_list_free(struct pm_list *l);

/* Does `s` equal the NUL-terminated `z`? */
int pm_str_eq(struct pm_str s, const char *z);

#endif
