/* ops.c -- /healthz, /readyz, /metrics (shell); every route but the two
 * probes behind the bearer-token check when ops_set_auth() is given one. */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "membudget/alloc.h"
#include "membudget/loop.h"
#include "membudget/buf.h"
#include "membudget/metrics.h"
#include "membudget/ops.h"
#include "membudget/opsauth.h"

#define MAX_CHECKS 8

/* A route answered by another loop's thread: the request stays on the ops
 * loop (evhttp is not thread-safe), the owner renders into a buffer, and
 * the reply is sent back on the ops loop. If the client goes away
 * meanwhile, evhttp keeps the request detached until the reply frees it. */
struct owned_route {
    struct ops *o; /* pointer to the owning struct, declared below */
    struct loop *owner;
    ops_render_fn *fn;
    void *ctx;
};

/* A route that only callers RBAC allows may read (ops_set_auth): checked
 * first on the checker's loop, then served as it would be unguarded. */
struct guarded {
    struct ops *o;
    https_handler *fn;
    void *ctx;
};

struct ops {
    struct loop *lp;      /* the ops server's (main) loop */
    struct opsauth *auth; /* NULL: every route open */
    struct loop *auth_lp; /* the checker's loop */
    struct guarded guarded[MAX_CHECKS + 1];
    size_t nguarded;
    struct https *srv;
    struct mx *mx;
    struct {
        char *name;
        ops_ready_fn *fn;
        void *ctx;
    } checks[MAX_CHECKS];
    size_t nchecks;
    struct {
        ops_collect_fn *fn;
        void *ctx;
    } collectors[MAX_CHECKS];
    size_t ncollectors;
    struct owned_route owned[MAX_CHECKS];
    size_t nowned;
    bool shutting_down;
};

static void on_healthz(struct evhttp_request *req, void *ctx)
{
    (void)ctx;
    https_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void on_readyz(struct evhttp_request *req, void *ctx)
{
    struct ops *o = ctx;
    char why[256], line[320];

    if (o->shutting_down) {
        https_reply(req, 503, "text/plain; charset=utf-8", "shutting down\n", 14);
        return;
    }
    for (size_t i = 0; i < o->nchecks; i++) {
        why[0] = '\0';
        if (!o->checks[i].fn(o->checks[i].ctx, why, sizeof why)) {
            int n = snprintf(line, sizeof line, "%s: %s\n", o->checks[i].name, why);
            https_reply(req, 503, "text/plain; charset=utf-8", line, (size_t)n);
            return;
        }
    }
    https_reply(req, 200, "text/plain; charset=utf-8", "ok\n", 3);
}

static void on_metrics(struct evhttp_request *req, void *ctx)
{
    struct ops *o = ctx;
    struct mb_buf b;

    for (size_t i = 0; i < o->ncollectors; i++)
        o->collectors[i].fn(o->collectors[i].ctx);
    mb_buf_init(&b, 64u << 20);
    if (mx_render(o->mx, &b) != MB_OK) {
        mb_buf_cleanup(&b);
        https_reply(req, 500, "text/plain; charset=utf-8", "metrics too large\n", 18);
        return;
    }
    https_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", mb_buf_str(&b), b.len);
    mb_buf_cleanup(&b);
}

/* --- who may read: the bearer token, checked on the checker's loop ------------ */

struct authjob {
    struct guarded *g;
    struct evhttp_request *req; /* stays on the ops loop; evhttp keeps it until the reply */
    char *token, *path;
    int status;
    char why[400];
};

static void auth_finish(void *arg) /* on the ops loop */
{
    struct authjob *j = arg;
    if (j->status == 200) {
        j->g->fn(j->req, j->g->ctx);
    } else {
        char text[480];
        int n = snprintf(text, sizeof text, "%s\n", j->why);
        if (j->status == 401)
            evhttp_add_header(evhttp_request_get_output_headers(j->req), "WWW-Authenticate",
                              "Bearer realm=\"membudget\"");
        https_reply(j->req, j->status, "text/plain; charset=utf-8", text,
                    (size_t)(n < (int)sizeof text ? n : (int)sizeof text - 1));
    }
    mb_free(j->token);
    mb_free(j->path);
    mb_free(j);
}

static void auth_done(void *ctx, int status, const char *why) /* on the checker's loop */
{
    struct authjob *j = ctx;
    j->status = status;
    snprintf(j->why, sizeof j->why, "%s", why);
    loop_post(j->g->o->lp, auth_finish, j);
}

static void auth_start(void *arg) /* on the checker's loop */
{
    struct authjob *j = arg;
    opsauth_check(j->g->o->auth, j->token, j->path, auth_done, j);
}

static void on_guarded(struct evhttp_request *req, void *arg)
{
    struct guarded *g = arg;
    struct ops *o = g->o;
    if (!o->auth) {
        g->fn(req, g->ctx);
        return;
    }
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    const char *token = h && !strncasecmp(h, "Bearer ", 7) ? h + 7 : "";
    while (*token == ' ')
        token++;
    const char *uri = evhttp_request_get_uri(req);
    struct authjob *j = mb_xcalloc(1, sizeof *j);
    j->g = g;
    j->req = req;
    j->token = mb_xstrndup(token, OPSAUTH_MAX_TOKEN + 1);
    j->path = mb_xstrndup(uri, strcspn(uri, "?#"));
    loop_post(o->auth_lp, auth_start, j);
}

/* Route `path` through the guard (every route but /healthz and /readyz). */
static void route_guarded(struct ops *o, const char *path, https_handler *fn, void *ctx)
{
    MB_ASSERT(o->nguarded < MB_ARRAY_LEN(o->guarded));
    struct guarded *g = &o->guarded[o->nguarded++];
    *g = (struct guarded){o, fn, ctx};
    https_route(o->srv, path, on_guarded, g);
}

void ops_set_auth(struct ops *o, struct loop *auth_lp, struct opsauth *auth)
{
    o->auth_lp = auth_lp;
    o->auth = auth;
}

mb_err ops_new(struct loop *lp, const struct mb_clock *clk, const char *bind, struct mx *mx,
               struct ops **out, struct mb_diag *diag)
{
    struct ops *o = mb_xcalloc(1, sizeof *o);
    struct https_conf hc = {
        .name = "metrics",
        .bind = bind,
        .tls = NULL,
        .max_body = 4096,
        .max_headers = 16384,
        .idle_timeout_s = 30,
        .request_timeout_ms = 60000,
        .max_conns = 64,
    };
    mb_err err = https_new(lp, clk, &hc, &o->srv, diag);

    if (err) {
        mb_free(o);
        return err;
    }
    o->mx = mx;
    o->lp = lp;
    https_route(o->srv, "/healthz", on_healthz, o);
    https_route(o->srv, "/readyz", on_readyz, o);
    route_guarded(o, "/metrics", on_metrics, o);
    *out = o;
    return MB_OK;
}

void ops_free(struct ops *o)
{
    if (!o)
        return;
    https_free(o->srv);
    for (size_t i = 0; i < o->nchecks; i++)
        mb_free(o->checks[i].name);
    mb_free(o);
}

void ops_add_ready_check(struct ops *o, const char *name, ops_ready_fn *fn, void *ctx)
{
    MB_ASSERT(o->nchecks < MAX_CHECKS);
    o->checks[o->nchecks].name = mb_xstrdup(name);
    o->checks[o->nchecks].fn = fn;
    o->checks[o->nchecks].ctx = ctx;
    o->nchecks++;
}

void ops_add_collector(struct ops *o, ops_collect_fn *fn, void *ctx)
{
    MB_ASSERT(o->ncollectors < MAX_CHECKS);
    o->collectors[o->ncollectors].fn = fn;
    o->collectors[o->ncollectors].ctx = ctx;
    o->ncollectors++;
}

void ops_add_route(struct ops *o, const char *path, https_handler *fn, void *ctx)
{
    route_guarded(o, path, fn, ctx);
}

struct job {
    const struct owned_route *r;
    struct evhttp_request *req;
    struct mb_buf body;
    int status;
    const char *content_type;
};

static void job_reply(void *arg) /* on the ops loop */
{
    struct job *j = arg;
    https_reply(j->req, j->status, j->content_type, mb_buf_str(&j->body), j->body.len);
    mb_buf_cleanup(&j->body);
    mb_free(j);
}

static void job_render(void *arg) /* on the owner's loop */
{
    struct job *j = arg;
    j->status = j->r->fn(j->r->ctx, &j->body, &j->content_type);
    loop_post(j->r->o->lp, job_reply, j);
}

static void on_owned(struct evhttp_request *req, void *arg)
{
    const struct owned_route *r = arg;
    struct job *j = mb_xcalloc(1, sizeof *j);

    j->r = r;
    j->req = req;
    j->status = 500;
    j->content_type = "text/plain; charset=utf-8";
    mb_buf_init(&j->body, 256u << 20);
    loop_post(r->owner, job_render, j);
}

void ops_add_route_on(struct ops *o, const char *path, struct loop *owner, ops_render_fn *fn,
                      void *ctx)
{
    MB_ASSERT(o->nowned < MAX_CHECKS);
    o->owned[o->nowned] = (struct owned_route){o, owner, fn, ctx};
    route_guarded(o, path, on_owned, &o->owned[o->nowned]);
    o->nowned++;
}

void ops_set_shutting_down(struct ops *o) { o->shutting_down = true; }

const char *ops_address(const struct ops *o) { return https_address(o->srv); }
