/*
 * lrwatch.h -- the cluster's LimitRanges, kept by a list/watch, for the
 * webhook's workers to ask (shell).
 *
 * A reflector (reflector.h) on one client loop lists and watches
 * /api/v1/limitranges; the LimitRanges are kept in a limitrange.h set
 * behind one mutex, which the webhook's workers take for a lookup (a
 * binary search and a copy: nanoseconds) and the loop's thread for an
 * update (rare). Until the first list completes the answer is
 * POLICY_LR_UNKNOWN, so the webhook never denies on what it has not seen;
 * after that the reflector keeps it in step (a watch that breaks resumes, a
 * 410 relists), as a client-go informer would.
 *
 * Threads: lrwatch_new/_start/_free on the loop's thread (or before it
 * runs / after it stopped); lrwatch_lookup on any.
 */
#ifndef MB_LRWATCH_H
#define MB_LRWATCH_H

#include <stdbool.h>
#include "membudget/clock.h"
#include "membudget/policy.h"

struct lrwatch;
struct loop;
struct kapi;
struct mx;

/* Returns: new, not started (lrwatch_free). lp, clk, api, mx borrowed. */
struct lrwatch *lrwatch_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api,
                            struct mx *mx);

/* Start listing; on the loop's thread. */
void lrwatch_start(struct lrwatch *w);

/* NULL-safe; stops the reflector first. */
void lrwatch_free(struct lrwatch *w);

/* What namespace `ns`'s LimitRanges give a container without a memory
 * limit; POLICY_LR_UNKNOWN before the first list completed. `ctx` is the
 * lrwatch (the signature of review_conf.limit_range). Any thread. */
void lrwatch_lookup(void *ctx, const char *ns, struct policy_lr *out);

#endif /* MB_LRWATCH_H */
