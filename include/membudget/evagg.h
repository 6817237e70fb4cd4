/*
 * evagg.h -- Event aggregation, as client-go's EventCorrelator does it for
 * identical events: the first occurrence creates an Event; a repeat (same
 * object, type, reason and message) bumps that Event's count and
 * lastTimestamp instead of creating another object. Keys live in a bounded
 * LRU (4096 by default), so memory stays bounded however many pods churn.
 *
 * Pure: time comes in as arguments.
 */
#ifndef MB_EVAGG_H
#define MB_EVAGG_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"

struct evagg;

struct evagg_decision {
    bool create;      /* true: POST a new Event named `name`; false: PATCH `name` */
    char name[320];   /* "<object>.<16 hex digits>", unique per first occurrence */
    unsigned count;   /* the count to write */
    mb_wall_ms first; /* firstTimestamp */
};

/* Returns: new aggregator (evagg_free); max_keys 0: 4096. */
struct evagg *evagg_new(size_t max_keys);
void evagg_free(struct evagg *a); /* NULL-safe */

/* Decide for one occurrence at `now`. Strings are copied as needed. */
void evagg_decide(struct evagg *a, const char *obj_name, const char *obj_uid, const char *type,
                  const char *reason, const char *message, mb_wall_ms now,
                  struct evagg_decision *out);

/* The Event `name` is gone (PATCH answered 404): forget it, so the next
 * occurrence creates a new one. */
void evagg_forget(struct evagg *a, const char *name);

size_t evagg_size(const struct evagg *a);

#endif
