/*
 * lease.h -- leader election on a coordination.k8s.io/v1 Lease: the
 * decisions (client-go's tryAcquireOrRenew), without I/O.
 *
 * Pure: time comes in as arguments. Expiry is judged on the local monotonic
 * clock from when this replica last saw the record change (as client-go
 * does), never by comparing another machine's timestamps with ours, so
 * clock skew between replicas cannot make two leaders.
 *
 *   no lease            -> create it, holding it
 *   held by us          -> renew
 *   held by another     -> wait, unless unchanged for leaseDuration (expired)
 *   released (holder "") -> acquire
 * A leader that has not renewed for renewDeadline stops leading, which is
 * before anyone else may take over (renewDeadline < leaseDuration).
 *
 * Value types: embed them. Fields of lease_state are private to lease.c.
 */
#ifndef MB_LEASE_H
#define MB_LEASE_H

#include <jansson.h>
#include <stdbool.h>
#include "membudget/clock.h"
#include "membudget/err.h"

struct lease_rec {
    bool exists;
    char holder[256];
    unsigned duration_s;
    char acquire[40], renew[40]; /* RFC 3339 with microseconds, as written */
    unsigned transitions;
    char rv[64]; /* metadata.resourceVersion (precondition of updates) */
};

struct lease_conf {
    const char *identity;
    uint64_t lease_ms;          /* 15 s */
    uint64_t renew_deadline_ms; /* 10 s */
};

struct lease_state {
    struct lease_rec seen; /* the last record observed */
    mb_mono_ms seen_at;    /* when it last changed */
    bool observed;         /* seen is valid */
    bool leader;
    mb_mono_ms last_renew; /* our last successful write */
};

void lease_init(struct lease_state *s);

/* A GET answered: `r` is the current record (r->exists false on 404). */
void lease_observe(struct lease_state *s, const struct lease_rec *r, mb_mono_ms now);

/* Should we write now? When true, *want is the record to write (create when
 * !s->seen.exists, else update with s->seen.rv as precondition). */
bool lease_decide(const struct lease_state *s, const struct lease_conf *c, mb_mono_ms now,
                  mb_wall_ms wall, struct lease_rec *want);

/* The write's outcome (`written` is the server's answer when ok). Returns
 * whether we lead now. */
bool lease_written(struct lease_state *s, bool ok, const struct lease_rec *written, mb_mono_ms now);

/* The renew deadline: returns false (and stops leading) when a leader has
 * not renewed for renew_deadline_ms. */
bool lease_still_leader(struct lease_state *s, const struct lease_conf *c, mb_mono_ms now);

/* The record that gives the lease up (holder "", duration 1 s). */
void lease_release_rec(const struct lease_state *s, mb_wall_ms wall, struct lease_rec *out);

/* Lease object <-> record. lease_from_json: MB_EPARSE when obj is not a
 * Lease. lease_to_json: Returns new object. */
mb_err lease_from_json(const json_t *obj, struct lease_rec *out);
json_t *lease_to_json(const struct lease_rec *r, const char *ns, const char *name);

#endif
