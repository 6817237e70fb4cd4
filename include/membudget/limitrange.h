/*
 * limitrange.h -- what a namespace's LimitRanges give a container that has
 * no memory limit (pure).
 *
 * The LimitRanger admission plugin, which runs before every admission
 * webhook, gives each container without resources.limits.memory the
 * `default.memory` of a LimitRange item of `type: Container` in the pod's
 * namespace. A workload template is not defaulted (only its pods are), so
 * the webhook and `membudget lint` ask this set what the template's pods
 * will get: nothing (every pod would be denied), or a limit from a named
 * LimitRange (the budget must fit under it).
 *
 * When several LimitRanges of a namespace give a default, Kubernetes applies
 * them in the order its cache lists them, which is not defined; the set
 * answers with the smallest default (the strictest the pods may get) and
 * says how many there are.
 *
 * A set is a sorted array of (namespace, name, default) entries: a lookup
 * is a binary search, an update a memmove (LimitRanges change rarely).
 * Not thread-safe: the shell wraps it (lrwatch.h). Fields are private to
 * limitrange.c.
 */
#ifndef MB_LIMITRANGE_H
#define MB_LIMITRANGE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/err.h"
#include "membudget/policy.h"

struct lr_entry {
    char *ns, *name;        /* owned */
    int64_t default_memory; /* -1: this LimitRange gives no default memory limit */
};

struct lr_set {
    struct lr_entry *v;
    size_t n, cap;
};

/* A zeroed struct is an empty set too. */
void lr_set_init(struct lr_set *s);
void lr_set_cleanup(struct lr_set *s);

/* Put (add or replace) the LimitRange `obj` (borrowed). MB_EINVAL with diag
 * when it has no name; a default.memory that is not a quantity counts as no
 * default (the API server would not have stored it). */
mb_err lr_set_put(struct lr_set *s, const json_t *obj, struct mb_diag *diag);

/* Remove the LimitRange named in `obj` (borrowed); absent is fine. */
void lr_set_delete(struct lr_set *s, const json_t *obj);

/* Replace `dst`'s content by `src`'s (src is left empty). */
void lr_set_move(struct lr_set *dst, struct lr_set *src);

size_t lr_set_count(const struct lr_set *s);

/* What namespace `ns` gives a container without a memory limit: the
 * smallest default.memory of its LimitRanges (POLICY_LR_DEFAULT, with the
 * LimitRange's name and how many give one), or POLICY_LR_NONE. Never
 * POLICY_LR_UNKNOWN: a set answers for what it holds. Returns whether the
 * namespace has any LimitRange in the set, with or without a default (lint
 * treats a namespace with none in its input as unknown). */
bool lr_set_lookup(const struct lr_set *s, const char *ns, struct policy_lr *out);

#endif /* MB_LIMITRANGE_H */
