/*
 * evagg.c -- Event aggregation with a bounded LRU (pure; see evagg.h): the
 * recorder asks it whether an Event is new or a repeat, so a pod that
 * flaps writes one Event with a count, not one object per flap.
 */
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include "membudget/alloc.h"
#include "membudget/evagg.h"

struct entry {
    TAILQ_ENTRY(entry) link; /* LRU order: the first is the most recent */
    char *key;               /* uid \x1f type \x1f reason \x1f message */
    char name[320];
    unsigned count;
    mb_wall_ms first;
};

struct evagg {
    TAILQ_HEAD(entries, entry) lru;
    size_t n, max;
};

struct evagg *evagg_new(size_t max_keys)
{
    struct evagg *a = mb_xcalloc(1, sizeof *a);
    a->max = max_keys ? max_keys : 4096;
    TAILQ_INIT(&a->lru);
    return a;
}

static void push_front(struct evagg *a, struct entry *e) { TAILQ_INSERT_HEAD(&a->lru, e, link); }

static void drop(struct evagg *a, struct entry *e)
{
    TAILQ_REMOVE(&a->lru, e, link);
    mb_free(e->key);
    mb_free(e);
    a->n--;
}

void evagg_free(struct evagg *a)
{
    if (!a)
        return;
    struct entry *e;
    while ((e = TAILQ_FIRST(&a->lru)))
        drop(a, e);
    mb_free(a);
}

void evagg_decide(struct evagg *a, const char *obj_name, const char *obj_uid, const char *type,
                  const char *reason, const char *message, mb_wall_ms now,
                  struct evagg_decision *out)
{
    char *key = mb_xasprintf("%s\x1f%s\x1f%s\x1f%s", obj_uid, type, reason, message);
    /* A linear scan: the LRU is bounded and events are rare (transitions). */
    struct entry *e;
    TAILQ_FOREACH(e, &a->lru, link)
    {
        if (strcmp(e->key, key) == 0) {
            mb_free(key);
            e->count++;
            TAILQ_REMOVE(&a->lru, e, link);
            push_front(a, e);
            out->create = false;
            memcpy(out->name, e->name, sizeof out->name);
            out->count = e->count;
            out->first = e->first;
            return;
        }
    }
    e = mb_xcalloc(1, sizeof *e);
    e->key = key;
    /* client-go names events "<object>.<unix nanoseconds in hex>". */
    snprintf(e->name, sizeof e->name, "%.250s.%016llx", obj_name,
             (unsigned long long)now * 1000000ull + a->n);
    e->count = 1;
    e->first = now;
    push_front(a, e);
    if (++a->n > a->max)
        drop(a, TAILQ_LAST(&a->lru, entries));
    out->create = true;
    memcpy(out->name, e->name, sizeof out->name);
    out->count = 1;
    out->first = now;
}

void evagg_forget(struct evagg *a, const char *name)
{
    struct entry *e;
    TAILQ_FOREACH(e, &a->lru, link)
    {
        if (strcmp(e->name, name) == 0) {
            drop(a, e);
            return;
        }
    }
}

size_t evagg_size(const struct evagg *a) { return a->n; }
