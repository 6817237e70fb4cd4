/*
 * loop.h -- the process's event loop: one libevent event_base (shell).
 *
 * loop_ owns the base; nobody else calls event_base_dispatch. SIGTERM and
 * SIGINT are delivered to one handler as ordinary loop callbacks (never
 * from signal context); SIGPIPE is ignored process-wide.
 */
#ifndef MB_LOOP_H
#define MB_LOOP_H

#include "membudget/err.h"

struct loop;
struct event_base;

typedef void loop_signal_fn(int signo, void *ctx);

/* Returns MB_OK and a new loop in *out (free with loop_free). */
mb_err loop_new(struct loop **out, struct mb_diag *diag);
void loop_free(struct loop *lp); /* NULL-safe */

/* Returns: borrowed base, valid until loop_free. */
struct event_base *loop_base(struct loop *lp);

/* Call fn on SIGTERM/SIGINT (on the loop thread). One handler per loop. */
mb_err loop_on_shutdown_signal(struct loop *lp, loop_signal_fn *fn, void *ctx);

/* Run until loop_stop() or until no events are left. Returns 0 or -1. */
int loop_run(struct loop *lp);

/* Make loop_run() return after the current callback. */
void loop_stop(struct loop *lp);

#endif
