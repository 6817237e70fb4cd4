/*
 * leader.h -- leader election over the API (the I/O around lease.h).
 *
 * Shell module, on the loop thread. Every retry period: GET the Lease, then
 * create or update it when lease_decide says so (updates carry the
 * resourceVersion, so two candidates cannot both win: one gets 409). The
 * callback is told when leadership starts and stops; a leader that cannot
 * renew within the renew deadline stops leading. leader_release gives the
 * lease up on shutdown so a successor need not wait for it to expire.
 */
#ifndef MB_LEADER_H
#define MB_LEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/clock.h"
#include "membudget/err.h"

struct leader;
struct kapi;
struct loop;
struct mx;

struct leader_conf {
    const char *ns, *name; /* the Lease */
    const char *identity;  /* this replica */
    uint64_t lease_ms, renew_deadline_ms, retry_ms;
};

typedef void leader_fn(void *ctx, bool leading);

/* Returns MB_OK and a new elector in *out; strings copied; lp, clk, api, mx
 * and ctx borrowed. */
mb_err leader_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api, struct mx *mx,
                  const struct leader_conf *conf, leader_fn *fn, void *ctx, struct leader **out,
                  struct mb_diag *diag);
void leader_start(struct leader *l);
/* Stop trying and renewing (leadership callback: false, if leading). */
void leader_stop(struct leader *l);
/* Give the lease up if we hold it; `done` is called once when finished
 * (success or not, within the request timeout). */
void leader_release(struct leader *l, void (*done)(void *ctx), void *ctx);
bool leader_is_leader(const struct leader *l);

/* This process's identity, as client-go makes one: the host name, "_" and
 * a random 64-bit number in hex, new each time the process starts. Not
 * the PID: a container's process is PID 1 each time, so a leader
 * restarted in place would have taken its own Lease back at once, as if it
 * had never stopped, instead of waiting out the lease like any successor.
 * Any thread. */
void leader_default_identity(char *out, size_t len);
void leader_free(struct leader *l); /* NULL-safe */

#endif
