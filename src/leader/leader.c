/*
 * leader.c -- leader election, the I/O around lease.c (shell; see leader.h).
 *
 * Every retry period, on the controller's loop: GET the Lease, let the pure
 * lease.c decide (lease_decide: take an expired Lease, renew our own, or
 * wait), and PUT or POST what it asks, with the resourceVersion it read, so
 * that of two candidates that race the API server takes one (the other gets
 * a 409). Whether this replica leads is lease.c's answer too
 * (lease_still_leader): a leader that cannot renew within the renew
 * deadline stops acting on its own, before its Lease can expire and
 * another replica take over. On shutdown the Lease is released (its holder
 * cleared) so that the next leader need not wait out its duration.
 *
 * At most one call is out at a time (l->call); a tick that finds one still
 * out only re-checks leadership. Transitions are logged and counted
 * (membudget_leader_transitions_total) and told to the owner (leader_fn).
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/kapi.h"
#include "membudget/kobj.h"
#include "membudget/leader.h"
#include "membudget/lease.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"

struct leader {
    struct kapi *api;
    const struct mb_clock *clk;
    struct event *timer;        /* every retry_ms: the next attempt */
    struct lease_conf lc;       /* identity, lease duration, renew deadline */
    struct lease_state st;      /* lease.c's: what was seen, when we last renewed */
    char *ns, *name, *identity; /* the Lease, and this replica's holderIdentity */
    uint64_t retry_ms;
    uint64_t call;         /* the GET or write in flight, 0 when none */
    bool running, leading; /* started (and not stopped); leading as last told */
    leader_fn *fn;         /* told of each transition */
    void *ctx;
    void (*release_done)(void *); /* leader_release's caller, once the release answered */
    void *release_ctx;
    struct mx_family *m_transitions;
};

/* Tell the owner only of a change: the callback runs on transitions, so
 * that the controller starts or stops its work once, not every tick. */
static void set_leading(struct leader *l, bool leading)
{
    if (l->leading == leading)
        return;
    l->leading = leading;
    const char *v[] = {leading ? "acquired" : "lost"};
    mx_add(l->m_transitions, v, 1);
    log_info(leading ? "leader election: leading" : "leader election: stopped leading",
             "{s:s,s:s,s:s}", "lease", l->name, "namespace", l->ns, "identity", l->identity);
    if (l->fn)
        l->fn(l->ctx, leading);
}

static void lease_path(struct leader *l, char *buf, size_t len, bool item)
{
    snprintf(buf, len, "/apis/coordination.k8s.io/v1/namespaces/%s/leases%s%s", l->ns,
             item ? "/" : "", item ? l->name : "");
}

/* A write (take, renew, create) answered. Its answer is the Lease as the
 * API server stored it: the renew time lease.c counts from is the one we
 * wrote, not the one we meant to. A failed write leaves leadership to the
 * renew deadline: one lost PUT does not end it. */
static void on_written(void *arg, const struct kapi_resp *resp)
{
    struct leader *l = arg;
    mb_mono_ms now = l->clk->mono_ms(l->clk->ctx);
    struct lease_rec got;
    l->call = 0;
    if (!l->running)
        return;
    json_t *j = resp->err == MB_OK && (resp->status == 200 || resp->status == 201)
                    ? json_loadb(resp->body, resp->len, 0, NULL)
                    : NULL;
    if (j && lease_from_json(j, &got) == MB_OK) {
        lease_written(&l->st, true, &got, now);
        set_leading(l, true);
    } else {
        struct kobj_status s;
        kobj_status_from_body(resp->status, resp->body, resp->len, &s);
        if (resp->status != 409) /* 409: another candidate won the race; normal */
            log_warn("leader election: lease write failed", "{s:i,s:s}", "status",
                     (int)resp->status, "error", resp->err ? resp->errmsg : s.message);
        lease_written(&l->st, false, NULL, now);
        set_leading(l, lease_still_leader(&l->st, &l->lc, now));
    }
    json_decref(j);
}

/* PUT the Lease lease.c wants (its resourceVersion makes the write
 * conditional), or POST it when there is none yet. Each call is cut at two
 * retry periods: a hung call must not hold the next attempt back longer. */
static void write_lease(struct leader *l, const struct lease_rec *want, bool create,
                        kapi_done_fn *done)
{
    char path[512];
    json_t *obj = lease_to_json(want, l->ns, l->name);
    size_t len;
    char *body = mb_json_dumps(obj, JSON_COMPACT, &len);
    json_decref(obj);
    lease_path(l, path, sizeof path, !create);
    struct kapi_req req = {.method = create ? "POST" : "PUT",
                           .path = path,
                           .body = body,
                           .body_len = len,
                           .timeout_ms = (unsigned)l->retry_ms * 2};
    l->call = kapi_submit(l->api, &req, done, l);
    mb_free(body);
}

/* The Lease as it is (404: none yet): lease.c observes it (a holder's
 * renewals are timed on our monotonic clock, never on its timestamps, as
 * client-go does) and decides whether to write. */
static void on_got(void *arg, const struct kapi_resp *resp)
{
    struct leader *l = arg;
    mb_mono_ms now = l->clk->mono_ms(l->clk->ctx);
    struct lease_rec rec = {0}, want;
    l->call = 0;
    if (!l->running)
        return;
    if (resp->err == MB_OK && resp->status == 404) {
        rec.exists = false;
    } else {
        json_t *j = resp->err == MB_OK && resp->status == 200
                        ? json_loadb(resp->body, resp->len, 0, NULL)
                        : NULL;
        mb_err e = j ? lease_from_json(j, &rec) : MB_EIO;
        json_decref(j);
        if (e) {
            log_warn("leader election: cannot read the lease", "{s:i,s:s}", "status",
                     (int)resp->status, "error", resp->err ? resp->errmsg : "not a Lease");
            set_leading(l, lease_still_leader(&l->st, &l->lc, now));
            return;
        }
    }
    lease_observe(&l->st, &rec, now);
    if (lease_decide(&l->st, &l->lc, now, l->clk->wall_ms(l->clk->ctx), &want))
        write_lease(l, &want, !rec.exists, on_written);
    else
        set_leading(l, lease_still_leader(&l->st, &l->lc, now));
}

/* Each retry period: leadership re-checked against the renew deadline
 * first (a leader cut off from the API server must stop acting even
 * though no answer comes), then the next GET. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct leader *l = arg;
    char path[512];
    (void)fd;
    (void)what;
    if (!l->running)
        return;
    set_leading(l, lease_still_leader(&l->st, &l->lc, l->clk->mono_ms(l->clk->ctx)));
    if (l->call)
        return; /* the previous attempt is still out */
    lease_path(l, path, sizeof path, true);
    struct kapi_req req = {.method = "GET", .path = path, .timeout_ms = (unsigned)l->retry_ms * 2};
    l->call = kapi_submit(l->api, &req, on_got, l);
}

mb_err leader_new(struct loop *lp, const struct mb_clock *clk, struct kapi *api, struct mx *mx,
                  const struct leader_conf *conf, leader_fn *fn, void *ctx, struct leader **out,
                  struct mb_diag *diag)
{
    if (!conf->ns || !*conf->ns || !conf->name || !*conf->name || !conf->identity ||
        !*conf->identity)
        return mb_diag_set(diag, MB_EINVAL,
                           "leader election needs a lease namespace, name and identity");
    struct leader *l = mb_xcalloc(1, sizeof *l);
    l->api = api;
    l->clk = clk;
    l->ns = mb_xstrdup(conf->ns);
    l->name = mb_xstrdup(conf->name);
    l->identity = mb_xstrdup(conf->identity);
    l->lc = (struct lease_conf){l->identity, conf->lease_ms, conf->renew_deadline_ms};
    l->retry_ms = conf->retry_ms;
    l->fn = fn;
    l->ctx = ctx;
    lease_init(&l->st);
    l->timer = event_new(loop_base(lp), -1, EV_PERSIST, on_timer, l);
    static const char *const L[] = {"event"};
    l->m_transitions = mx_counter(mx, "membudget_leader_transitions_total",
                                  "Leadership acquired or lost by this replica.", 1, L);
    *out = l;
    return MB_OK;
}

void leader_start(struct leader *l)
{
    struct timeval tv = {(time_t)(l->retry_ms / 1000), (suseconds_t)(l->retry_ms % 1000) * 1000};
    l->running = true;
    event_add(l->timer, &tv);
    on_timer(-1, 0, l); /* try at once */
}

void leader_stop(struct leader *l)
{
    l->running = false;
    event_del(l->timer);
    if (l->call)
        kapi_cancel(l->api, l->call);
    l->call = 0;
    set_leading(l, false);
}

static void on_released(void *arg, const struct kapi_resp *resp)
{
    struct leader *l = arg;
    l->call = 0;
    if (resp->err == MB_OK && resp->status == 200)
        log_info("leader election: lease released", "{s:s}", "lease", l->name);
    else
        log_warn("leader election: release failed; the lease expires by itself", "{s:i,s:s}",
                 "status", (int)resp->status, "error", resp->err ? resp->errmsg : "");
    if (l->release_done)
        l->release_done(l->release_ctx);
}

/* Shutdown: only a Lease this replica holds is released (written with no
 * holder and a zero duration); anything else needs no call. */
void leader_release(struct leader *l, void (*done)(void *ctx), void *ctx)
{
    struct lease_rec r;
    bool held = l->st.observed && l->st.last_renew && !strcmp(l->st.seen.holder, l->identity);
    if (l->running)
        leader_stop(l);
    if (!held) {
        done(ctx);
        return;
    }
    l->release_done = done;
    l->release_ctx = ctx;
    lease_release_rec(&l->st, l->clk->wall_ms(l->clk->ctx), &r);
    write_lease(l, &r, false, on_released);
}

bool leader_is_leader(const struct leader *l) { return l->leading; }

void leader_free(struct leader *l)
{
    if (!l)
        return;
    if (l->call)
        kapi_cancel(l->api, l->call);
    event_free(l->timer);
    mb_free(l->ns);
    mb_free(l->name);
    mb_free(l->identity);
    mb_free(l);
}

/* hostname_RANDOM: the hostname says which pod; the random part, new at
 * each start, tells a restarted process from its previous life, which may
 * still hold the Lease (client-go uses hostname_UUID for the same reason). */
void leader_default_identity(char *out, size_t len)
{
    char host[256] = "membudget";
    unsigned long long r = 0;

    if (gethostname(host, sizeof host - 1))
        snprintf(host, sizeof host, "membudget");
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* (no entropy source: the clock and the PID still differ per start) */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^
            ((unsigned long long)getpid() << 40);
    }
    snprintf(out, len, "%.200s_%016llx", host, r);
}
