/*
 * loop.c -- one libevent event_base per thread, owned by a struct loop
 * (shell; see loop.h). loop_post() is how one loop asks another for work
 * (a queue and an eventfd-style wake-up), so objects never migrate between
 * threads; loop_flush() runs what is still queued at shutdown.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/queue.h>
#include <unistd.h>
#include "membudget/alloc.h"
#include "membudget/loop.h"

struct call {
    STAILQ_ENTRY(call) next;
    loop_call_fn *fn;
    void *arg;
};

struct loop {
    struct event_base *base;
    enum loop_kind kind;
    struct event *sigterm, *sigint, *sighup;
    loop_signal_fn *fn;
    void *ctx;
    /* loop_post: a locked queue, and an eventfd that wakes the loop when
     * the queue goes from empty to not empty. */
    pthread_mutex_t mu;
    STAILQ_HEAD(, call) calls;
    int wake_fd;
    struct event *wake;
    atomic_bool stop; /* loop_stop() from another thread */
    pthread_t thread;
    bool spawned;
};

/* Runs every queued call; the queue is taken whole, so a call that posts
 * again runs on the next wake-up, not in this one. */
static void run_calls(struct loop *lp)
{
    STAILQ_HEAD(, call) batch = STAILQ_HEAD_INITIALIZER(batch);
    struct call *c;

    pthread_mutex_lock(&lp->mu);
    STAILQ_CONCAT(&batch, &lp->calls);
    pthread_mutex_unlock(&lp->mu);
    while ((c = STAILQ_FIRST(&batch))) {
        STAILQ_REMOVE_HEAD(&batch, next);
        c->fn(c->arg);
        mb_free(c);
    }
}

void loop_flush(struct loop *lp) { run_calls(lp); }

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    struct loop *lp = arg;
    uint64_t n;
    (void)what;

    while (read(fd, &n, sizeof n) == (ssize_t)sizeof n)
        ;
    if (atomic_exchange(&lp->stop, false))
        event_base_loopbreak(lp->base); /* after the calls already queued */
    run_calls(lp);
}

static void wake_up(struct loop *lp)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter is full: the loop is woken already. */
    (void)!write(lp->wake_fd, &one, sizeof one);
}

mb_err loop_new(struct loop **out, enum loop_kind kind, struct mb_diag *diag)
{
    struct loop *lp = mb_xcalloc(1, sizeof *lp);
    struct event_config *cfg = event_config_new();

    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&lp->mu, NULL);
    STAILQ_INIT(&lp->calls);
    lp->wake_fd = -1;
    lp->kind = kind;
    if (cfg && kind == LOOP_SERVER) /* see loop.h */
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    lp->base = cfg ? event_base_new_with_config(cfg) : NULL;
    if (cfg)
        event_config_free(cfg);
    if (!lp->base)
        goto fail;
    lp->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (lp->wake_fd < 0)
        goto fail;
    /* Persistent: it also keeps loop_run() from returning for lack of events. */
    lp->wake = event_new(lp->base, lp->wake_fd, EV_READ | EV_PERSIST, on_wake, lp);
    if (!lp->wake || event_add(lp->wake, NULL))
        goto fail;
    *out = lp;
    return MB_OK;
fail:
    loop_free(lp);
    return mb_diag_set(diag, MB_EIO, "cannot create an event loop: %s", strerror(errno));
}

void loop_free(struct loop *lp)
{
    if (!lp)
        return;
    run_calls(lp); /* whatever they carry is released by running them */
    if (lp->sigterm)
        event_free(lp->sigterm);
    if (lp->sigint)
        event_free(lp->sigint);
    if (lp->sighup)
        event_free(lp->sighup);
    if (lp->wake)
        event_free(lp->wake);
    if (lp->wake_fd >= 0)
        close(lp->wake_fd);
    if (lp->base)
        event_base_free(lp->base);
    pthread_mutex_destroy(&lp->mu);
    mb_free(lp);
}

enum loop_kind loop_kind_of(const struct loop *lp) { return lp->kind; }

struct event_base *loop_base(struct loop *lp) { return lp->base; }

static void on_signal(evutil_socket_t signo, short what, void *arg)
{
    struct loop *lp = arg;
    (void)what;
    if (lp->fn)
        lp->fn((int)signo, lp->ctx);
}

mb_err loop_on_shutdown_signal(struct loop *lp, loop_signal_fn *fn, void *ctx)
{
    lp->fn = fn;
    lp->ctx = ctx;
    if (!lp->sigterm) {
        lp->sigterm = evsignal_new(lp->base, SIGTERM, on_signal, lp);
        lp->sigint = evsignal_new(lp->base, SIGINT, on_signal, lp);
        lp->sighup = evsignal_new(lp->base, SIGHUP, on_signal, lp);
        if (!lp->sigterm || !lp->sigint || !lp->sighup || evsignal_add(lp->sigterm, NULL) ||
            evsignal_add(lp->sigint, NULL) || evsignal_add(lp->sighup, NULL))
            return MB_EIO;
    }
    return MB_OK;
}

int loop_run(struct loop *lp) { return event_base_dispatch(lp->base) < 0 ? -1 : 0; }

void loop_stop(struct loop *lp)
{
    /* Through the eventfd: event_base_loopbreak is only safe on the loop's
     * own thread (libevent runs without its locking layer here). */
    atomic_store(&lp->stop, true);
    wake_up(lp);
}

void loop_post(struct loop *lp, loop_call_fn *fn, void *arg)
{
    struct call *c = mb_xmalloc(sizeof *c);
    bool was_empty;

    c->fn = fn;
    c->arg = arg;
    pthread_mutex_lock(&lp->mu);
    was_empty = STAILQ_EMPTY(&lp->calls);
    STAILQ_INSERT_TAIL(&lp->calls, c, next);
    pthread_mutex_unlock(&lp->mu);
    if (was_empty)
        wake_up(lp);
}

static void *thread_main(void *arg)
{
    loop_run(arg);
    return NULL;
}

mb_err loop_spawn(struct loop *lp, const char *name, struct mb_diag *diag)
{
    sigset_t block, old;
    int e;

    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old); /* the new thread inherits the mask */
    e = pthread_create(&lp->thread, NULL, thread_main, lp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e)
        return mb_diag_set(diag, MB_EIO, "cannot start thread %s: %s", name, strerror(e));
    pthread_setname_np(lp->thread, name);
    lp->spawned = true;
    return MB_OK;
}

void loop_join(struct loop *lp)
{
    if (lp && lp->spawned) {
        pthread_join(lp->thread, NULL);
        lp->spawned = false;
    }
}
