/*
 * drain.c -- one graceful shutdown for `webhook`, `controller` and `run`
 * (shell: wiring). Runs on the main loop; talks to the controller's loop
 * only through loop_post().
 *
 * On SIGTERM, SIGINT or SIGHUP (each logged; none is ever a silent exit):
 *   1. /readyz answers 503, so Endpoints drop this replica;
 *   2. the webhook workers stop accepting and answer every further request
 *      with Connection: close; requests in flight finish; the controller
 *      starts no write from the moment of the signal (controller_fence,
 *      not waiting for its loop), stops watching and acting (writes in
 *      flight go on);
 *   3. once no webhook connection is open (or the grace period is over),
 *      the controller waits for its writes in flight (same deadline), then
 *      releases its Lease, so the next leader takes over at once, and only
 *      after the webhook has drained;
 *   4. the main loop stops; the caller frees everything.
 * A second signal stops at once.
 */
#include <event2/event.h>
#include <signal.h>
#include "app_int.h"
#include "membudget/controller.h"
#include "membudget/leader.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/ops.h"
#include "membudget/webhook.h"

#define TICK_MS 50

static void set_tick(struct event *ev)
{
    struct timeval tv = {0, TICK_MS * 1000};
    event_add(ev, &tv);
}

/* --- the controller's side, on its own loop ---------------------------------- */

static void ctl_released(void *arg) /* leader_release's callback, controller loop */
{
    struct app_drain *d = arg;
    loop_post(d->main, app_drain_done, d);
}

static void on_ctl_tick(evutil_socket_t fd, short what, void *arg)
{
    struct app_drain *d = arg;
    (void)fd;
    (void)what;
    if (d->ctl_releasing)
        return;
    if (controller_inflight(d->ctl) > 0 && d->clk->mono_ms(d->clk->ctx) < d->deadline)
        return;
    d->ctl_releasing = true;
    event_del(d->ctl_tick);
    if (d->le)
        leader_release(d->le, ctl_released, d); /* bounded by its own timeout */
    else
        ctl_released(d);
}

static void ctl_stop_acting(void *arg)
{
    struct app_drain *d = arg;
    d->ctl_stopping = true; /* on_leading must not make it lead again */
    controller_stop(d->ctl);
    if (d->le)
        leader_stop(d->le); /* stop renewing; acting stops too */
    controller_set_leader(d->ctl, false);
}

static void ctl_release(void *arg)
{
    struct app_drain *d = arg;
    set_tick(d->ctl_tick);
}

/* --- the main loop's side ------------------------------------------------------ */

void app_drain_done(void *arg)
{
    struct app_drain *d = arg;
    log_info("shutdown complete", "{s:I}", "webhookConnectionsCut", (json_int_t)d->cut);
    loop_stop(d->main);
}

static void on_main_tick(evutil_socket_t fd, short what, void *arg)
{
    struct app_drain *d = arg;
    size_t open = d->wh ? webhook_open_connections(d->wh) : 0;
    (void)fd;
    (void)what;

    if (d->phase != DRAIN_WEBHOOK)
        return;
    if (open > 0 && d->clk->mono_ms(d->clk->ctx) < d->deadline)
        return;
    d->cut = open;
    event_del(d->tick);
    if (d->wh)
        log_info("webhook drained", "{s:I}", "connectionsCut", (json_int_t)open);
    if (d->ctl) {
        d->phase = DRAIN_CONTROLLER;
        loop_post(d->ctl_lp, ctl_release, d);
    } else {
        d->phase = DRAIN_DONE;
        app_drain_done(d);
    }
}

static void on_signal(int signo, void *arg)
{
    struct app_drain *d = arg;

    if (d->phase != DRAIN_RUNNING) {
        log_warn("second signal: exiting now", "{s:i}", "signal", signo);
        loop_stop(d->main);
        return;
    }
    d->phase = DRAIN_WEBHOOK;
    d->deadline = d->clk->mono_ms(d->clk->ctx) + d->grace_ms;
    if (signo == SIGHUP)
        log_warn("SIGHUP: membudget does not reload on SIGHUP (certificates are re-read when "
                 "they change); shutting down gracefully",
                 "{s:i}", "signal", signo);
    /* Each role says what it does (a role run alone has no other half). */
    const char *what =
        !d->ctl  ? "shutting down: not ready, draining the webhook"
        : !d->wh ? (d->le ? "shutting down: not ready, starting no new writes; the "
                            "controller finishes those in flight, then releases its lease"
                          : "shutting down: not ready, starting no new writes; the "
                            "controller finishes those in flight")
                 : "shutting down: not ready, draining the webhook; the controller starts "
                   "no new writes, finishes those in flight, then releases its lease";
    log_info(what, "{s:i,s:I}", "signal", signo, "gracePeriodMs", (json_int_t)d->grace_ms);
    if (d->ctl) /* now, from this thread: its loop may be busy for a while */
        controller_fence(d->ctl);
    ops_set_shutting_down(d->ops);
    if (d->wh)
        webhook_drain(d->wh);
    if (d->ctl)
        loop_post(d->ctl_lp, ctl_stop_acting, d);
    set_tick(d->tick);
}

mb_err app_drain_init(struct app_drain *d, struct mb_diag *diag)
{
    d->phase = DRAIN_RUNNING;
    d->tick = event_new(loop_base(d->main), -1, EV_PERSIST, on_main_tick, d);
    if (d->ctl)
        d->ctl_tick = event_new(loop_base(d->ctl_lp), -1, EV_PERSIST, on_ctl_tick, d);
    if (!d->tick || (d->ctl && !d->ctl_tick) || loop_on_shutdown_signal(d->main, on_signal, d))
        return mb_diag_set(diag, MB_EIO, "cannot install signal handlers");
    return MB_OK;
}

void app_drain_cleanup(struct app_drain *d)
{
    if (d->tick)
        event_free(d->tick);
    if (d->ctl_tick)
        event_free(d->ctl_tick);
    d->tick = d->ctl_tick = NULL;
}
