/*
 * loop.h -- an event loop: one libevent event_base, owned by one thread (shell).
 *
 * loop_ owns the base; nobody else calls event_base_dispatch. The process
 * has a few loops, each on a thread named for its job (STYLE §7): the main
 * loop (signals, the ops server, certificate reloads), one per webhook
 * worker, and the controller's. Work never migrates between loops in the
 * middle of a request; what one loop needs from another it asks for with
 * loop_post(), which runs a function on the other loop's thread.
 *
 * Signals: SIGTERM, SIGINT and SIGHUP are delivered to one handler as
 * ordinary loop callbacks on the loop that asked for them (never in signal
 * context); threads started with loop_spawn() block them, so they always
 * reach that loop. SIGPIPE is ignored process-wide.
 *
 * Threads: loop_post() and loop_stop() may be called from any thread;
 * everything else from the loop's own thread (or before it runs).
 */
#ifndef MB_LOOP_H
#define MB_LOOP_H

#include "membudget/err.h"

struct loop;
struct event_base;

typedef void loop_signal_fn(int signo, void *ctx);
typedef void loop_call_fn(void *arg);

/* What a loop serves. LOOP_SERVER batches epoll_ctl changes per iteration
 * (evhttp toggles read and write interest on every request: visible in
 * profiles). LOOP_CLIENT applies each change at once: a loop whose sockets
 * another library closes itself (libcurl, through kapi) must not batch, or
 * an event's deletion reaches epoll after the close, when the descriptor
 * number may already be another thread's (a ThreadSanitizer report, and a
 * stray epoll_ctl on a descriptor that is not ours). */
enum loop_kind { LOOP_SERVER, LOOP_CLIENT };

/* Returns MB_OK and a new loop in *out (free with loop_free). */
mb_err loop_new(struct loop **out, enum loop_kind kind, struct mb_diag *diag);

/* NULL-safe. A spawned loop must have been stopped and joined. Calls still
 * queued by loop_post() are run first (on the calling thread), so that
 * whatever they own is released. */
void loop_free(struct loop *lp);

enum loop_kind loop_kind_of(const struct loop *lp);

/* Returns: borrowed base, valid until loop_free. */
struct event_base *loop_base(struct loop *lp);

/* Call fn on SIGTERM, SIGINT or SIGHUP (on the loop thread). One handler
 * per process. */
mb_err loop_on_shutdown_signal(struct loop *lp, loop_signal_fn *fn, void *ctx);

/* Run until loop_stop(). Returns 0 or -1. The loop does not return just
 * because it has no events left. */
int loop_run(struct loop *lp);

/* Make loop_run() return after the current callback. Any thread. */
void loop_stop(struct loop *lp);

/* Run fn(arg) on the loop's thread, soon, in the order posted. Any thread;
 * never fails (the queue is a list) and never runs fn inside loop_post. */
void loop_post(struct loop *lp, loop_call_fn *fn, void *arg);

/* Run the calls queued by loop_post() now, on the calling thread; for
 * shutdown, once the loop's thread has been joined (or never ran). */
void loop_flush(struct loop *lp);

/* Run the loop on a new thread called `name` (at most 15 characters, shown
 * by top -H), with the shutdown signals blocked. Returns MB_OK or MB_EIO. */
mb_err loop_spawn(struct loop *lp, const char *name, struct mb_diag *diag);

/* Wait for a spawned loop's thread to return (after loop_stop). */
void loop_join(struct loop *lp);

#endif
