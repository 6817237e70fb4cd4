/* evlimit.c -- a sliding-window rate limit and per-owner in-flight counts. */
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/evlimit.h"

void evl_init(struct evlimit *l, unsigned max_per_minute, unsigned per_owner_in_flight)
{
    memset(l, 0, sizeof *l);
    l->max_per_minute = max_per_minute > EVL_MAX_PER_MINUTE ? EVL_MAX_PER_MINUTE : max_per_minute;
    l->per_owner = per_owner_in_flight ? per_owner_in_flight : 1;
}

void evl_cleanup(struct evlimit *l)
{
    mb_free(l->owners);
    memset(l, 0, sizeof *l);
}

const char *evl_verdict_name(enum evl_verdict v)
{
    return v == EVL_OK ? "ok" : v == EVL_RATE ? "rate-limited" : "owner-busy";
}

static void expire(struct evlimit *l, mb_mono_ms now)
{
    while (l->n && now >= l->starts[l->head] + 60000) {
        l->head = (l->head + 1) % EVL_MAX_PER_MINUTE;
        l->n--;
    }
}

static struct evl_owner *find(struct evlimit *l, const char *owner)
{
    for (size_t i = 0; i < l->nowners; i++)
        if (!strncmp(l->owners[i].key, owner, sizeof l->owners[i].key - 1))
            return &l->owners[i];
    return NULL;
}

enum evl_verdict evl_check(struct evlimit *l, const char *owner, mb_mono_ms now)
{
    expire(l, now);
    if (l->n >= l->max_per_minute)
        return EVL_RATE;
    struct evl_owner *o = find(l, owner);
    if (o && o->inflight >= l->per_owner)
        return EVL_OWNER;
    return EVL_OK;
}

void evl_started(struct evlimit *l, const char *owner, mb_mono_ms now)
{
    expire(l, now);
    if (l->n < EVL_MAX_PER_MINUTE) {
        l->starts[(l->head + l->n) % EVL_MAX_PER_MINUTE] = now;
        l->n++;
    }
    struct evl_owner *o = find(l, owner);
    if (!o) {
        if (l->nowners == l->capowners) {
            l->capowners = l->capowners ? l->capowners * 2 : 8;
            l->owners = mb_xrealloc(l->owners, l->capowners * sizeof *l->owners);
        }
        o = &l->owners[l->nowners++];
        memset(o, 0, sizeof *o);
        snprintf(o->key, sizeof o->key, "%s", owner);
    }
    o->inflight++;
}

void evl_finished(struct evlimit *l, const char *owner)
{
    struct evl_owner *o = find(l, owner);
    if (!o || !o->inflight)
        return;
    if (--o->inflight == 0) /* forget idle owners: the list stays as small as what is in flight */
        *o = l->owners[--l->nowners];
}
