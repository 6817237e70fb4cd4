/* fakes.c -- see fakes.h. */
#include <string.h>

#include "fakes.h"
#include "membudget/alloc.h"

static mb_mono_ms fc_mono(void *ctx) { return ((struct fake_clock *)ctx)->mono; }

static uint64_t fc_mono_ns(void *ctx) { return ((struct fake_clock *)ctx)->mono * 1000000ULL; }

static mb_wall_ms fc_wall(void *ctx) { return ((struct fake_clock *)ctx)->wall; }

void fake_clock_init(struct fake_clock *fc, mb_mono_ms mono, mb_wall_ms wall)
{
    fc->mono = mono;
    fc->wall = wall;
    fc->clk = (struct mb_clock){fc_mono, fc_mono_ns, fc_wall, fc};
}

void fake_clock_advance(struct fake_clock *fc, uint64_t ms)
{
    fc->mono += ms;
    fc->wall += (mb_wall_ms)ms;
}

static void fk_submit(void *ctx, uint64_t id, const struct kapi_req *req, kapi_done_fn *done,
                      void *arg)
{
    struct fake_kapi *f = ctx;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 32;
        f->v = mb_xrealloc(f->v, f->cap * sizeof *f->v);
    }
    struct fk_req *r = &f->v[f->n++];
    memset(r, 0, sizeof *r);
    r->id = id;
    snprintf(r->method, sizeof r->method, "%s", req->method ? req->method : "GET");
    r->path = mb_xstrdup(req->path);
    r->body = req->body ? mb_xstrndup(req->body, req->body_len) : mb_xstrdup("");
    r->streamed = req->on_data != NULL;
    r->timeout_ms = req->timeout_ms;
    r->on_data = req->on_data;
    r->done = done;
    r->arg = arg;
}

static void fk_cancel(void *ctx, uint64_t id)
{
    struct fake_kapi *f = ctx;
    for (size_t i = 0; i < f->n; i++)
        if (f->v[i].id == id)
            f->v[i].cancelled = true;
}

static const struct kapi_ops FK_OPS = {fk_submit, fk_cancel};

void fake_kapi_init(struct fake_kapi *f)
{
    memset(f, 0, sizeof *f);
    f->k = kapi_new_ops(&FK_OPS, f, "https://fake-api:6443");
}

void fake_kapi_cleanup(struct fake_kapi *f)
{
    kapi_free(f->k);
    for (size_t i = 0; i < f->n; i++) {
        mb_free(f->v[i].path);
        mb_free(f->v[i].body);
    }
    mb_free(f->v);
    memset(f, 0, sizeof *f);
}

struct fk_req *fake_kapi_find(struct fake_kapi *f, const char *needle)
{
    for (size_t i = 0; i < f->n; i++) {
        struct fk_req *r = &f->v[i];
        if (!r->answered && !r->cancelled && (!needle || strstr(r->path, needle)))
            return r;
    }
    return NULL;
}

size_t fake_kapi_count(const struct fake_kapi *f, const char *method, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++)
        n += (!method || !strcmp(f->v[i].method, method)) &&
             (!needle || strstr(f->v[i].path, needle));
    return n;
}

static void finish(struct fk_req *r, mb_err err, long status, const char *body, const char *msg)
{
    /* The record may move (the callback can submit): copy what we need. */
    kapi_done_fn *done = r->done;
    void *arg = r->arg;
    r->answered = true;
    struct kapi_resp resp = {.err = err,
                             .status = status,
                             .body = body ? body : "",
                             .len = body ? strlen(body) : 0,
                             .retry_after_s = -1,
                             .errmsg = msg ? msg : ""};
    done(arg, &resp);
}

void fake_kapi_answer(struct fk_req *r, long status, const char *body)
{
    finish(r, MB_OK, status, r->streamed && status == 200 ? "" : body, NULL);
}

void fake_kapi_stream(struct fk_req *r, const char *data)
{
    r->on_data(r->arg, data, strlen(data));
}

void fake_kapi_fail(struct fk_req *r, mb_err err, const char *msg) { finish(r, err, 0, "", msg); }
