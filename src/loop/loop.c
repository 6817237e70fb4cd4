/* loop.c -- libevent base and signals (shell). */
#include <event2/event.h>
#include <signal.h>
#include "membudget/alloc.h"
#include "membudget/loop.h"

struct loop {
    struct event_base *base;
    struct event *sigterm, *sigint;
    loop_signal_fn *fn;
    void *ctx;
};

mb_err loop_new(struct loop **out, struct mb_diag *diag)
{
    struct loop *lp = mb_xcalloc(1, sizeof *lp);

    struct event_config *cfg = event_config_new();

    signal(SIGPIPE, SIG_IGN);
    /* Batch epoll_ctl changes per loop iteration: evhttp toggles read and
     * write interest on every request, which was visible in profiles. */
    if (cfg)
        event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    lp->base = cfg ? event_base_new_with_config(cfg) : NULL;
    if (cfg)
        event_config_free(cfg);
    if (!lp->base) {
        mb_free(lp);
        return mb_diag_set(diag, MB_EIO, "event_base_new failed");
    }
    *out = lp;
    return MB_OK;
}

void loop_free(struct loop *lp)
{
    if (!lp)
        return;
    if (lp->sigterm)
        event_free(lp->sigterm);
    if (lp->sigint)
        event_free(lp->sigint);
    event_base_free(lp->base);
    mb_free(lp);
}

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
        if (!lp->sigterm || !lp->sigint || evsignal_add(lp->sigterm, NULL) || evsignal_add(lp->sigint, NULL))
            return MB_EIO;
    }
    return MB_OK;
}

int loop_run(struct loop *lp) { return event_base_dispatch(lp->base) < 0 ? -1 : 0; }

void loop_stop(struct loop *lp) { event_base_loopbreak(lp->base); }
