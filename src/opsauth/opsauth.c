/*
 * opsauth.c -- a bearer token, a TokenReview, then a SubjectAccessReview
 * (shell). See opsauth.h for the rules; this file holds the cache and the
 * two requests of one check.
 *
 * A check is a small state machine on the kapi client's loop:
 *   REVIEW_TOKEN --authenticated--> REVIEW_ACCESS --allowed--> 200
 *        |                               `--refused--> 403 (cached)
 *        `--not authenticated--> 401 (cached); any failure to ask: 503
 * Every check ends in exactly one call of its `done`.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/kapi.h"
#include "membudget/kobj.h"
#include "membudget/log.h"
#include "membudget/metrics.h"
#include "membudget/opsauth.h"

/* One remembered answer for a token and a path. */
struct entry {
    char *token, *path; /* NULL: a free slot */
    int status;         /* 200, 401 or 403 */
    char why[200];
    mb_mono_ms expires;
    mb_mono_ms at; /* when it was made: the oldest goes first when full */
};

enum stage { REVIEW_TOKEN, REVIEW_ACCESS };

struct check {
    struct opsauth *a;
    char *token, *path;
    opsauth_done_fn *done;
    void *ctx;
    enum stage stage;
    uint64_t call; /* the request in flight */
    json_t *user;  /* status.user of the TokenReview */
    TAILQ_ENTRY(check) link;
};

struct opsauth {
    struct kapi *api;
    const struct mb_clock *clk;
    struct entry cache[OPSAUTH_MAX_ENTRIES];
    TAILQ_HEAD(, check) pending;
    size_t npending;
    struct mx_family *m_checks;
};

static const char *result_name(int status)
{
    switch (status) {
    case 200:
        return "allowed";
    case 401:
        return "unauthenticated";
    case 403:
        return "forbidden";
    default:
        return "unverified";
    }
}

/* Every answer goes out here: counted, and given to the caller. */
static void answer(struct opsauth *a, opsauth_done_fn *done, void *ctx, int status, const char *why)
{
    const char *l[] = {result_name(status)};
    if (a->m_checks)
        mx_add(a->m_checks, l, 1);
    done(ctx, status, why);
}

static struct entry *lookup(struct opsauth *a, const char *token, const char *path, mb_mono_ms now)
{
    for (size_t i = 0; i < OPSAUTH_MAX_ENTRIES; i++) {
        struct entry *e = &a->cache[i];
        if (e->token && now < e->expires && !strcmp(e->path, path) && !strcmp(e->token, token))
            return e;
    }
    return NULL;
}

static void remember(struct opsauth *a, const char *token, const char *path, int status,
                     const char *why)
{
    mb_mono_ms now = a->clk->mono_ms(a->clk->ctx);
    struct entry *slot = NULL, *oldest = &a->cache[0];
    /* this very token and path, else a free or expired slot, else the oldest */
    for (size_t i = 0; i < OPSAUTH_MAX_ENTRIES; i++) {
        struct entry *e = &a->cache[i];
        if (e->token && !strcmp(e->path, path) && !strcmp(e->token, token)) {
            slot = e;
            break;
        }
        if (!slot && (!e->token || now >= e->expires))
            slot = e;
        if (e->at < oldest->at)
            oldest = e;
    }
    if (!slot)
        slot = oldest;
    mb_free(slot->token);
    mb_free(slot->path);
    slot->token = mb_xstrdup(token);
    slot->path = mb_xstrdup(path);
    slot->status = status;
    snprintf(slot->why, sizeof slot->why, "%s", why);
    slot->at = now;
    slot->expires = now + (status == 200 ? OPSAUTH_ALLOW_TTL_MS : OPSAUTH_DENY_TTL_MS);
}

/* The check is over: answered, and gone. */
static void finish(struct check *k, int status, const char *why, bool cache)
{
    struct opsauth *a = k->a;
    if (cache)
        remember(a, k->token, k->path, status, why);
    TAILQ_REMOVE(&a->pending, k, link);
    a->npending--;
    answer(a, k->done, k->ctx, status, why);
    json_decref(k->user);
    mb_free(k->token);
    mb_free(k->path);
    mb_free(k);
}

static void on_review(void *arg, const struct kapi_resp *r);

static void submit(struct check *k, const char *path, json_t *body_take)
{
    size_t len;
    char *body = mb_json_dumps(body_take, JSON_COMPACT, &len);
    json_decref(body_take);
    struct kapi_req req = {.method = "POST",
                           .path = path,
                           .body = body,
                           .body_len = len,
                           .timeout_ms = 10000,
                           .max_response = 1u << 20};
    k->call = kapi_submit(k->a->api, &req, on_review, k);
    mb_free(body);
}

/* Not answered as asked: 503, never cached, and the reason logged (at most
 * once a second: a scraper retries). */
static void unverified(struct check *k, const struct kapi_resp *r, const char *what)
{
    struct kobj_status st;
    char why[400];
    kobj_status_from_body(r->status, r->body, r->len, &st);
    if (r->err)
        snprintf(why, sizeof why, "cannot verify the token: the %s failed: %s", what, r->errmsg);
    else
        snprintf(why, sizeof why, "cannot verify the token: the %s got HTTP %ld: %s", what,
                 r->status, st.message);
    log_limited(LOG_WARN, "ops endpoint request not verified", "{s:s,s:s}", "path", k->path, "why",
                why);
    finish(k, 503, why, false);
}

static void on_review(void *arg, const struct kapi_resp *r)
{
    struct check *k = arg;
    k->call = 0;
    const char *what = k->stage == REVIEW_TOKEN ? "TokenReview" : "SubjectAccessReview";
    json_t *j = !r->err && (r->status == 200 || r->status == 201)
                    ? json_loadb(r->body, r->len, 0, NULL)
                    : NULL;
    json_t *st = json_object_get(j, "status");
    if (!json_is_object(st)) {
        json_decref(j);
        unverified(k, r, what);
        return;
    }
    char why[300];
    if (k->stage == REVIEW_TOKEN) {
        if (!json_is_true(json_object_get(st, "authenticated")) ||
            !json_is_object(json_object_get(st, "user"))) {
            const char *e = json_string_value(json_object_get(st, "error"));
            snprintf(why, sizeof why, "the API server does not accept this token%s%s",
                     e ? ": " : "", e ? e : "");
            json_decref(j);
            finish(k, 401, why, true);
            return;
        }
        k->user = json_incref(json_object_get(st, "user"));
        json_decref(j);
        /* The user as the API server knows it, and the path, to RBAC. */
        json_t *spec =
            json_pack("{s:{s:s,s:s}}", "nonResourceAttributes", "path", k->path, "verb", "get");
        const char *name = json_string_value(json_object_get(k->user, "username"));
        json_object_set_new(spec, "user", json_string(name ? name : ""));
        if (json_is_string(json_object_get(k->user, "uid")))
            json_object_set(spec, "uid", json_object_get(k->user, "uid"));
        if (json_is_array(json_object_get(k->user, "groups")))
            json_object_set(spec, "groups", json_object_get(k->user, "groups"));
        if (json_is_object(json_object_get(k->user, "extra")))
            json_object_set(spec, "extra", json_object_get(k->user, "extra"));
        k->stage = REVIEW_ACCESS;
        submit(k, "/apis/authorization.k8s.io/v1/subjectaccessreviews",
               json_pack("{s:s,s:s,s:o}", "apiVersion", "authorization.k8s.io/v1", "kind",
                         "SubjectAccessReview", "spec", spec));
        return;
    }
    const char *user = json_string_value(json_object_get(k->user, "username"));
    if (json_is_true(json_object_get(st, "allowed"))) {
        json_decref(j);
        finish(k, 200, "allowed", true);
        return;
    }
    const char *reason = json_string_value(json_object_get(st, "reason"));
    snprintf(why, sizeof why,
             "user \"%s\" may not get %s (RBAC: a ClusterRole with nonResourceURLs "
             "[\"%s\"] and verb get, bound to it)%s%s",
             user ? user : "?", k->path, k->path, reason && *reason ? ": " : "",
             reason ? reason : "");
    json_decref(j);
    finish(k, 403, why, true);
}

struct opsauth *opsauth_new(struct kapi *api, const struct mb_clock *clk, struct mx *mx)
{
    static const char *const L[] = {"result"};
    struct opsauth *a = mb_xcalloc(1, sizeof *a);
    a->api = api;
    a->clk = clk;
    TAILQ_INIT(&a->pending);
    if (mx)
        a->m_checks = mx_counter(mx, "membudget_ops_auth_checks_total",
                                 "Requests to the ops endpoints (/metrics, /debug/*) checked, by "
                                 "result: allowed, unauthenticated (401), forbidden (403), "
                                 "unverified (503: the API server could not be asked).",
                                 1, L);
    return a;
}

void opsauth_free(struct opsauth *a)
{
    struct check *k;
    if (!a)
        return;
    while ((k = TAILQ_FIRST(&a->pending))) {
        if (k->call)
            kapi_cancel(a->api, k->call);
        finish(k, 503, "shutting down", false);
    }
    for (size_t i = 0; i < OPSAUTH_MAX_ENTRIES; i++) {
        mb_free(a->cache[i].token);
        mb_free(a->cache[i].path);
    }
    mb_free(a);
}

void opsauth_check(struct opsauth *a, const char *token, const char *path, opsauth_done_fn *done,
                   void *ctx)
{
    if (!token || !*token) {
        answer(a, done, ctx, 401,
               "no bearer token: send Authorization: Bearer TOKEN (a token of a "
               "ServiceAccount that RBAC lets get this path)");
        return;
    }
    if (strlen(token) > OPSAUTH_MAX_TOKEN) {
        answer(a, done, ctx, 401, "the bearer token is longer than any the API server issues");
        return;
    }
    struct entry *e = lookup(a, token, path, a->clk->mono_ms(a->clk->ctx));
    if (e) {
        answer(a, done, ctx, e->status, e->why);
        return;
    }
    if (a->npending >= OPSAUTH_MAX_INFLIGHT) {
        answer(a, done, ctx, 503,
               "too many requests waiting for the API server to check their "
               "token; retry");
        return;
    }
    struct check *k = mb_xcalloc(1, sizeof *k);
    *k = (struct check){.a = a,
                        .token = mb_xstrdup(token),
                        .path = mb_xstrdup(path),
                        .done = done,
                        .ctx = ctx,
                        .stage = REVIEW_TOKEN};
    TAILQ_INSERT_TAIL(&a->pending, k, link);
    a->npending++;
    submit(k, "/apis/authentication.k8s.io/v1/tokenreviews",
           json_pack("{s:s,s:s,s:{s:s}}", "apiVersion", "authentication.k8s.io/v1", "kind",
                     "TokenReview", "spec", "token", token));
}
