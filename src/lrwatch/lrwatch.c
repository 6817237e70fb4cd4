/*
 * lrwatch.c -- the cluster's LimitRanges, kept by a list/watch and read by
 * the webhook's workers (shell; see lrwatch.h). A workload template
 * without a memory limit gets one from its namespace's LimitRange in each
 * pod; the webhook asks this set what that will be (limitrange.c decides)
 * to admit the template with a warning, or refuse it when no default
 * exists. The reflector runs on the controller's (or a client) loop, so a
 * slow API server never delays a review; the workers only take the
 * mutex to read. Until the first list is whole, lookups say "unknown"
 * (a warning, never a denial built on half a list).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/limitrange.h"
#include "membudget/log.h"
#include "membudget/lrwatch.h"
#include "membudget/reflector.h"

struct lrwatch {
    struct reflector *r;
    pthread_mutex_t mu; /* guards cur */
    struct lr_set cur;  /* what lookups read */
    struct lr_set next; /* a relist in progress (the loop's thread only) */
    atomic_bool synced;
};

/* A relist builds `next` aside and swaps it in whole at the end, so a
 * lookup never sees a namespace's LimitRanges half listed. */
static void relist_begin(void *arg)
{
    struct lrwatch *w = arg;
    lr_set_cleanup(&w->next);
}

static void item(void *arg, const json_t *obj)
{
    struct lrwatch *w = arg;
    struct mb_diag d = {0};
    if (lr_set_put(&w->next, obj, &d))
        log_warn("limitrange ignored", "{s:s}", "error", d.msg);
}

static void relist_end(void *arg)
{
    struct lrwatch *w = arg;
    pthread_mutex_lock(&w->mu);
    lr_set_move(&w->cur, &w->next);
    size_t n = lr_set_count(&w->cur);
    pthread_mutex_unlock(&w->mu);
    log_debug("limitranges listed", "{s:I}", "count", (json_int_t)n);
}

/* A watch event changes `cur` in place, under the mutex. A LimitRange
 * the set cannot read is logged and left out, never fatal. */
static void event(void *arg, enum kobj_ev type, const json_t *obj)
{
    struct lrwatch *w = arg;
    struct mb_diag d = {0};
    mb_err err = MB_OK;

    pthread_mutex_lock(&w->mu);
    if (type == KOBJ_DELETED)
        lr_set_delete(&w->cur, obj);
    else if (type == KOBJ_ADDED || type == KOBJ_MODIFIED)
        err = lr_set_put(&w->cur, obj, &d);
    pthread_mutex_unlock(&w->mu);
    if (err)
        log_warn("limitrange ignored", "{s:s}", "error", d.msg);
}

static void synced(void *arg)
{
    struct lrwatch *w = arg;
    if (!atomic_exchange(&w->synced, true))
        log_info("limitranges synced", NULL);
}

static const struct reflector_sink SINK = {relist_begin, item, relist_end, event, synced};

struct lrwatch *lrwatch_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api,
                            struct mx *mx)
{
    struct lrwatch *w = mb_xcalloc(1, sizeof *w);
    struct reflector_conf rc = {.name = "limitranges", .path = "/api/v1/limitranges"};

    pthread_mutex_init(&w->mu, NULL);
    lr_set_init(&w->cur);
    lr_set_init(&w->next);
    atomic_init(&w->synced, false);
    w->r = reflector_new(lp, clk, api, mx, &rc, &SINK, w);
    return w;
}

void lrwatch_start(struct lrwatch *w) { reflector_start(w->r); }

void lrwatch_free(struct lrwatch *w)
{
    if (!w)
        return;
    reflector_free(w->r);
    lr_set_cleanup(&w->cur);
    lr_set_cleanup(&w->next);
    pthread_mutex_destroy(&w->mu);
    mb_free(w);
}

void lrwatch_lookup(void *ctx, const char *ns, struct policy_lr *out)
{
    struct lrwatch *w = ctx;

    if (!atomic_load(&w->synced)) {
        memset(out, 0, sizeof *out);
        out->state = POLICY_LR_UNKNOWN;
        snprintf(out->ns, sizeof out->ns, "%s", ns);
        return;
    }
    pthread_mutex_lock(&w->mu);
    lr_set_lookup(&w->cur, ns, out);
    pthread_mutex_unlock(&w->mu);
}
