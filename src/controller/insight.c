/*
 * insight.c -- what membudget learns beyond one pod's breaker: the OOM
 * ledger's counters, budget recommendations per owner (recommend.h), and
 * the profile directory (profstore.h), with their /debug routes:
 *
 *   /debug/owners     recommendations next to each owner's current values
 *   /debug/profiles   the captures on disk, newest first
 *
 * On the controller's thread. Recommendations are advice: nothing here
 * changes a pod. They are kept by the leader (which samples), and
 * checkpointed into ConfigMaps in membudget's own namespace (one per owner,
 * recommend.h's checkpoint under "checkpoint.json", by server-side apply):
 * an owner's at most once per recommend.checkpointInterval and only when it
 * changed, CKPT_PER_TICK a second and CKPT_INFLIGHT in flight at most. A
 * new leader lists them before its own samples count; an owner that
 * expires takes its ConfigMap with it.
 */
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/kapi.h"
#include "membudget/kobj.h"
#include "membudget/log.h"
#include "membudget/outbox.h"
#include "membudget/ops.h"
#include "membudget/profstore.h"
#include "membudget/recommend.h"
#include "controller_int.h"

#define EXPIRE_EVERY_S 60

static uint32_t secs(const struct controller *c)
{
    return (uint32_t)(c->clk->mono_ms(c->clk->ctx) / 1000);
}

static void owner_label(const struct rc_owner *o, char *out, size_t len)
{
    snprintf(out, len, "%s/%s", o->kind, o->name);
}

static void ckpt_delete(struct controller *c, const struct rc_owner *o);

/* --- the OOM ledger ------------------------------------------------------------- */

void insight_oom(struct controller *c, const struct pc_pod *p, const char *reason)
{
    const char *kind;
    char name[256], owner[300];
    pc_workload(p, &kind, name, sizeof name);
    snprintf(owner, sizeof owner, "%s/%s", kind, name);
    const char *lo[] = {p->sh->ns, owner}, *lr[] = {reason};
    mx_add(c->ins.m_ooms, lo, 1);
    mx_add(c->ins.m_oom_unprevented, lr, 1);
    log_warn("OOM kill not prevented", "{s:s,s:s,s:s,s:s,s:i}", "namespace", p->sh->ns, "pod",
             p->name, "owner", owner, "reason", reason, "restarts", (int)p->restarts);
}

/* --- recommendations ------------------------------------------------------------ */

static void publish(struct controller *c, const struct rc_owner *o, uint32_t now_s)
{
    struct rc_rec r;
    char owner[300];
    owner_label(o, owner, sizeof owner);
    const char *lv[] = {o->ns, owner};
    if (o->cur.budget > 0)
        mx_set(c->ins.m_owner_budget, lv, (double)o->cur.budget);
    if (o->cur.limit > 0)
        mx_set(c->ins.m_owner_limit, lv, (double)o->cur.limit);
    if (rc_recommend(o, &c->ins.rcf, now_s, &r) == RC_OK) {
        mx_set(c->ins.m_rec_budget, lv, (double)r.budget);
        mx_set(c->ins.m_rec_limit, lv, (double)r.limit);
    }
}

void insight_sample(struct controller *c, struct podstate *s, const struct smp_result *r,
                    bool after_gc, mb_mono_ms now)
{
    uint32_t now_s = (uint32_t)(now / 1000);
    const struct pc_pod *p = s->gq.pod;
    /* (also while the checkpoints are read: rc_restore merges them in) */
    int64_t peak, rss_peak;
    bool closed = rc_window_feed(&RUN(s)->win, r->usage, r->rss, r->taken,
                                 c->cfg->recommend.peak_window_ms, &peak, &rss_peak);
    const char *kind;
    char name[256];
    pc_workload(p, &kind, name, sizeof name);
    struct rc_owner *o = rc_owner(c->ins.rc, p->sh->ns, kind, name);
    struct rc_current cur = {SPEC(s)->budget, p->sh->limit, SPEC(s)->tiers.evict,
                             r->figure == ANN_USAGE_HEAP};
    /* The current values follow the pods at once (a new budget shows beside
     * the recommendation without waiting for a peak). */
    bool changed = o->cur.budget != cur.budget || o->cur.limit != cur.limit ||
                   o->cur.evict_pct != cur.evict_pct || o->cur.counts_heap != cur.counts_heap;
    o->cur = cur;
    o->last_s = now_s; /* seen: not expired while its pods are sampled */
    if (closed)
        rc_peak(o, &c->ins.rcf, peak, rss_peak, now_s);
    if (after_gc) /* the figure after a forced GC: the floor the live heap keeps */
        rc_floor(o, &c->ins.rcf, r->usage, now_s);
    if (closed || after_gc || changed)
        publish(c, o, now_s);
}

static void forget(void *arg, const struct rc_owner *o)
{
    struct controller *c = arg;
    char owner[300];
    owner_label(o, owner, sizeof owner);
    const char *lv[] = {o->ns, owner};
    if (!c->ins.rc_clearing)
        ckpt_delete(c, o); /* gone for good: so is its checkpoint */
    mx_delete(c->ins.m_rec_budget, lv);
    mx_delete(c->ins.m_rec_limit, lv);
    mx_delete(c->ins.m_owner_budget, lv);
    mx_delete(c->ins.m_owner_limit, lv);
}

/* --- checkpoints ------------------------------------------------------------------ */

#define CKPT_INFLIGHT 8
#define CKPT_PER_TICK 4
#define CKPT_LIST_TRIES 3
#define CKPT_RETRY_S 5     /* then 10, 20: doubling per failed try */
#define CKPT_MAX_PAGES 400 /* 200k owners at 500 a page: a list longer than that never ends */
#define CKPT_LABEL "membudget.io/recommendation"

struct ckpt_call {
    uint64_t id; /* 0: free */
    struct controller *c;
    bool del;
    uint32_t changes; /* a write: the owner's `changes` it carries */
    char ns[64], kind[64], name[254];
};

static bool ckpt_on(const struct controller *c)
{
    return c->leader && c->cfg->recommend.checkpoint_interval_ms && *c->own_ns &&
           !atomic_load(&c->fenced);
}

static void ckpt_name(const struct rc_owner *o, char *out, size_t len)
{
    snprintf(out, len, "membudget-rec-%016llx", (unsigned long long)rc_owner_hash(o));
}

static struct ckpt_call *ckpt_slot(struct controller *c, const struct rc_owner *o, bool del)
{
    for (size_t i = 0; i < CKPT_INFLIGHT; i++)
        if (!c->ins.ck[i].id) {
            struct ckpt_call *k = &c->ins.ck[i];
            k->c = c;
            k->del = del;
            k->changes = o->changes;
            snprintf(k->ns, sizeof k->ns, "%s", o->ns);
            snprintf(k->kind, sizeof k->kind, "%s", o->kind);
            snprintf(k->name, sizeof k->name, "%s", o->name);
            return k;
        }
    return NULL;
}

static void on_ckpt(void *arg, const struct kapi_resp *r)
{
    struct ckpt_call *k = arg;
    struct controller *c = k->c;
    bool ok =
        r->err == MB_OK && ((r->status >= 200 && r->status < 300) || (k->del && r->status == 404));
    const char *v[] = {k->del ? "delete" : "write", ok ? "ok" : "error"};
    k->id = 0;
    mx_add(c->ins.m_ckpt, v, 1);
    if (!ok) {
        struct kobj_status st;
        kobj_status_from_body(r->status, r->body, r->len, &st);
        log_limited(LOG_WARN,
                    k->del ? "recommendation checkpoint not deleted"
                           : "recommendation checkpoint not written",
                    "{s:s,s:s,s:s,s:i,s:s}", "namespace", k->ns, "kind", k->kind, "name", k->name,
                    "status", (int)r->status, "error", r->err ? r->errmsg : st.message);
        return; /* a write is tried again after the interval */
    }
    struct rc_owner *o = k->del ? NULL : rc_find(c->ins.rc, k->ns, k->kind, k->name);
    if (o)
        o->saved = k->changes;
}

/* now: ckpt_tick's (one reading of the clock per tick, for every owner). */
static void ckpt_write(struct controller *c, struct rc_owner *o, uint32_t now, int64_t wall)
{
    struct ckpt_call *k = ckpt_slot(c, o, false);
    char name[64], path[256], owner[400];
    if (!k)
        return;
    o->saved_s = now; /* (tried: the next attempt waits the interval, whatever the answer) */
    ckpt_name(o, name, sizeof name);
    snprintf(owner, sizeof owner, "%s/%s/%s", o->ns, o->kind, o->name);
    json_t *cp = rc_checkpoint(o, now, wall);
    char *text = mb_json_dumps(cp, JSON_COMPACT, NULL);
    json_decref(cp);
    json_t *cm =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s,s:s},s:{s:s}},s:{s:s}}", "apiVersion", "v1", "kind",
                  "ConfigMap", "metadata", "name", name, "namespace", c->own_ns, "labels",
                  "app.kubernetes.io/name", "membudget", CKPT_LABEL, "true", "annotations",
                  "membudget.io/owner", owner, "data", "checkpoint.json", text);
    mb_free(text);
    size_t len;
    char *body = mb_json_dumps(cm, JSON_COMPACT, &len);
    json_decref(cm);
    snprintf(path, sizeof path,
             "/api/v1/namespaces/%s/configmaps/%s?fieldManager=membudget&force=true", c->own_ns,
             name);
    struct kapi_req req = {.method = "PATCH",
                           .path = path,
                           .content_type = "application/apply-patch+yaml",
                           .body = body,
                           .body_len = len};
    k->id = kapi_submit(c->api, &req, on_ckpt, k);
    mb_free(body);
}

static void ckpt_delete(struct controller *c, const struct rc_owner *o)
{
    struct ckpt_call *k;
    char name[64], path[256];
    if (!ckpt_on(c) || !(k = ckpt_slot(c, o, true)))
        return; /* (a checkpoint left behind expires when a new leader reads it) */
    ckpt_name(o, name, sizeof name);
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/configmaps/%s", c->own_ns, name);
    struct kapi_req req = {.method = "DELETE", .path = path};
    k->id = kapi_submit(c->api, &req, on_ckpt, k);
}

/* Every second: the owners whose checkpoint is due. */
static void ckpt_tick(struct controller *c, uint32_t now, int64_t wall)
{
    uint64_t every = c->cfg->recommend.checkpoint_interval_ms / 1000;
    unsigned n = 0;
    size_t pos = 0;
    struct rc_owner *o;
    if (!ckpt_on(c) || c->ins.rc_restoring)
        return;
    while (n < CKPT_PER_TICK && (o = rc_next(c->ins.rc, &pos)))
        if (o->changes != o->saved && now - o->saved_s >= every && o->h.peaks) {
            ckpt_write(c, o, now, wall);
            n++;
        }
}

static void ckpt_list(struct controller *c);

static void restored(struct controller *c, const char *how)
{
    c->ins.rc_restoring = false;
    c->ins.ck_continue[0] = '\0';
    c->ins.rc_expired_at = 0; /* the next tick forgets (and deletes) what was read back stale */
    log_info("recommendations: checkpoints read", "{s:s,s:I}", "result", how, "owners",
             (json_int_t)rc_count(c->ins.rc));
}

/* A list that failed (an error, an unreadable answer, a page that repeats,
 * or more pages than any real list has): tried again from its first page
 * after a backoff, CKPT_LIST_TRIES times at most, then given up. Owners
 * read meanwhile stay (rc_restore counts a checkpoint once per session),
 * and samples count all along. */
static void list_failed(struct controller *c, int status, const char *why)
{
    c->ins.ck_tries++;
    c->ins.ck_continue[0] = '\0';
    c->ins.ck_pages = 0;
    log_warn("recommendation checkpoints not read", "{s:i,s:s,s:i,s:i}", "status", status, "error",
             why, "try", (int)c->ins.ck_tries, "retry_s",
             c->ins.ck_tries >= CKPT_LIST_TRIES ? 0 : CKPT_RETRY_S << (c->ins.ck_tries - 1));
    if (c->ins.ck_tries >= CKPT_LIST_TRIES)
        restored(c, "unreadable: starting afresh");
    else
        c->ins.ck_retry_at = secs(c) + (CKPT_RETRY_S << (c->ins.ck_tries - 1));
}

static void on_ckpt_list(void *arg, const struct kapi_resp *r)
{
    struct controller *c = arg;
    c->ins.ck_list = 0;
    json_t *j = r->err == MB_OK && r->status == 200 ? json_loadb(r->body, r->len, 0, NULL) : NULL;
    if (!j) {
        struct kobj_status st;
        kobj_status_from_body(r->status, r->body, r->len, &st);
        list_failed(c, (int)r->status, r->err ? r->errmsg : st.message);
        return;
    }
    const char *cont = kobj_continue(j);
    if (cont && *cont &&
        (!strcmp(cont, c->ins.ck_continue) || c->ins.ck_pages + 1 >= CKPT_MAX_PAGES)) {
        /* The API server (or a proxy) sends the same page forever: an error,
         * not a reason to ask again at once (23 GETs a second before). */
        char why[96];
        if (!strcmp(cont, c->ins.ck_continue))
            snprintf(why, sizeof why,
                     "the list's continue token repeats: the list would never end");
        else
            snprintf(why, sizeof why, "the list goes on past %d pages: it would never end",
                     CKPT_MAX_PAGES);
        list_failed(c, 200, why);
        json_decref(j);
        return;
    }
    c->ins.ck_pages++;
    uint32_t now = secs(c);
    int64_t wall = (int64_t)(c->clk->wall_ms(c->clk->ctx) / 1000);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(j, "items"), i, item)
    {
        const char *name = kobj_str(item, "metadata.name");
        const char *text =
            json_string_value(json_object_get(json_object_get(item, "data"), "checkpoint.json"));
        json_t *cp = text ? json_loads(text, 0, NULL) : NULL;
        char err[200] = "no data checkpoint.json, or not JSON";
        struct rc_owner *o = cp ? rc_restore(c->ins.rc, &c->ins.rcf, cp, c->ins.ck_session, now,
                                             wall, err, sizeof err)
                                : NULL;
        json_decref(cp);
        if (!o)
            log_limited(LOG_WARN, "recommendation checkpoint skipped", "{s:s,s:s}", "configmap",
                        name ? name : "?", "why", err);
    }
    snprintf(c->ins.ck_continue, sizeof c->ins.ck_continue, "%s", cont ? cont : "");
    json_decref(j);
    if (*c->ins.ck_continue)
        ckpt_list(c); /* the next page */
    else
        restored(c, "ok");
}

static void ckpt_list(struct controller *c)
{
    char path[800];
    snprintf(path, sizeof path,
             "/api/v1/namespaces/%s/configmaps?labelSelector=" CKPT_LABEL "%%3Dtrue&limit=500%s%s",
             c->own_ns, *c->ins.ck_continue ? "&continue=" : "", c->ins.ck_continue);
    struct kapi_req req = {.method = "GET", .path = path};
    c->ins.ck_list = kapi_submit(c->api, &req, on_ckpt_list, c);
}

void insight_lead(struct controller *c)
{
    c->ins.ck_tries = 0;
    c->ins.ck_pages = 0;
    c->ins.ck_continue[0] = '\0';
    if (++c->ins.ck_session == 0) /* (0 is "never read") */
        c->ins.ck_session = 1;
    if (!ckpt_on(c)) {
        c->ins.rc_restoring = false;
        return;
    }
    c->ins.rc_restoring = true;
    ckpt_list(c);
}

/* Every second (remedy_collect): owners not sampled for two half-lives
 * (all their pods gone) go, at most once a minute. */
void insight_collect(struct controller *c)
{
    uint32_t now = secs(c);
    int64_t wall = (int64_t)(c->clk->wall_ms(c->clk->ctx) / 1000);
    if (c->ins.rc_restoring && !c->ins.ck_list && c->ins.ck_retry_at && now >= c->ins.ck_retry_at) {
        c->ins.ck_retry_at = 0;
        ckpt_list(c);
    }
    ckpt_tick(c, now, wall);
    if (now - c->ins.rc_expired_at < EXPIRE_EVERY_S)
        return;
    c->ins.rc_expired_at = now;
    uint64_t age = 2ULL * c->ins.rcf.half_life_s;
    size_t n = rc_expire(c->ins.rc, now, age > UINT32_MAX ? UINT32_MAX : (uint32_t)age, forget, c);
    if (n)
        log_info("recommendations expired", "{s:I}", "owners", (json_int_t)n);
    mx_set(c->ins.m_rec_bytes, NULL, (double)rc_bytes(c->ins.rc));
}

/* Leadership lost: the next leader reads the checkpoints back. */
void insight_reset(struct controller *c)
{
    for (size_t i = 0; i < CKPT_INFLIGHT; i++)
        if (c->ins.ck[i].id) {
            kapi_cancel(c->api, c->ins.ck[i].id);
            c->ins.ck[i].id = 0;
        }
    if (c->ins.ck_list)
        kapi_cancel(c->api, c->ins.ck_list);
    c->ins.ck_list = 0;
    c->ins.rc_restoring = false;
    c->ins.ck_retry_at = 0;
    c->ins.rc_clearing = true;
    rc_expire(c->ins.rc, UINT32_MAX, 0, forget, c);
    c->ins.rc_clearing = false;
}

static int render_owners(void *arg, struct mb_buf *out, const char **content_type)
{
    static const char *const WAITING[] = {[RC_FEW_PEAKS] = "peaks", [RC_SHORT_HISTORY] = "history"};
    struct controller *c = arg;
    json_t *arr = json_array();
    size_t pos = 0;
    struct rc_owner *o;
    uint32_t now = secs(c);
    while ((o = rc_next(c->ins.rc, &pos))) {
        struct rc_rec r;
        enum rc_status st = rc_recommend(o, &c->ins.rcf, now, &r);
        json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:i,s:b,s:i,s:I}", "namespace", o->ns, "kind",
                              o->kind, "name", o->name, "budgetBytes", (json_int_t)o->cur.budget,
                              "limitBytes", (json_int_t)o->cur.limit, "evictPercent",
                              (int)o->cur.evict_pct, "countsHeap", o->cur.counts_heap, "peaks",
                              (int)r.peaks, "historySeconds", (json_int_t)r.history_s);
        if (r.p95 > 0)
            json_object_set_new(j, "p95Bytes", json_integer(r.p95));
        if (r.rss_p95 > 0)
            json_object_set_new(j, "rssP95Bytes", json_integer(r.rss_p95));
        if (r.floor > 0)
            json_object_set_new(j, "floorBytes", json_integer(r.floor));
        if (st == RC_OK) {
            json_object_set_new(j, "recommendedBudgetBytes", json_integer(r.budget));
            json_object_set_new(j, "recommendedLimitBytes", json_integer(r.limit));
            json_object_set_new(j, "basis", json_string(rc_basis_name(r.basis)));
        } else {
            json_object_set_new(j, "waitingFor", json_string(WAITING[st]));
        }
        json_array_append_new(arr, j);
    }
    uint64_t need = (uint64_t)RC_MIN_WINDOWS * c->ins.rcf.window_s;
    json_t *root =
        json_pack("{s:b,s:i,s:I,s:I,s:i,s:I,s:I,s:o}", "leader", c->leader, "marginPercent",
                  (int)c->cfg->recommend.margin_pct, "halfLifeSeconds",
                  (json_int_t)c->ins.rcf.half_life_s, "peakWindowSeconds",
                  (json_int_t)c->ins.rcf.window_s, "minPeaks", RC_MIN_PEAKS, "minHistorySeconds",
                  (json_int_t)need, "minBudgetBytes", (json_int_t)RC_MIN_BUDGET, "owners", arr);
    return debug_reply_json(root, out, content_type);
}

/* --- the profile directory ------------------------------------------------------ */

void profiles_enforce(struct controller *c)
{
    uint64_t kept = 0;
    size_t gone = ps_enforce(c->cfg->eviction.profile_dir,
                             (uint64_t)c->cfg->eviction.profile_dir_max_bytes, &kept);
    if (gone) {
        mx_add(c->ins.m_prof_deleted, NULL, (double)gone);
        log_info("old profiles deleted (eviction.profileDirMaxBytes)", "{s:I,s:I,s:I}", "deleted",
                 (json_int_t)gone, "kept_bytes", (json_int_t)kept, "max_bytes",
                 (json_int_t)c->cfg->eviction.profile_dir_max_bytes);
    }
    mx_set(c->ins.m_prof_bytes, NULL, (double)kept);
}

static int render_profiles(void *arg, struct mb_buf *out, const char **content_type)
{
    struct controller *c = arg;
    json_t *root = ps_list_json(c->cfg->eviction.profile_dir,
                                (uint64_t)c->cfg->eviction.profile_dir_max_bytes);
    /* with the s3 store: where the bucket is, and what waits to go there */
    json_object_set_new(root, "store",
                        json_string(c->cfg->profiles.store == CFG_STORE_S3 ? "s3" : "local"));
    if (c->rm.outbox) {
        const struct cfg_s3 *s3 = &c->cfg->profiles.s3;
        json_object_set_new(root, "bucket", json_string(s3->bucket));
        json_object_set_new(root, "prefix", json_string(s3->prefix ? s3->prefix : ""));
        json_object_set_new(root, "outbox", outbox_json(c->rm.outbox));
    }
    return debug_reply_json(root, out, content_type);
}

int debug_reply_json(json_t *root, struct mb_buf *out, const char **content_type)
{
    size_t len;
    char *text = mb_json_dumps(root, JSON_COMPACT, &len);
    json_decref(root);
    *content_type = "application/json";
    if (mb_buf_add(out, text, len) != MB_OK) {
        mb_free(text);
        mb_buf_reset(out);
        mb_buf_adds(out, "answer too large\n");
        *content_type = "text/plain; charset=utf-8";
        return 500;
    }
    mb_free(text);
    return 200;
}

/* --- lifecycle ------------------------------------------------------------------ */

void insight_init(struct controller *c, struct ops *ops, struct loop *lp)
{
    static const char *const LO[] = {"namespace", "owner"}, *const LR[] = {"reason"};
    c->ins.rc = rc_new();
    c->ins.ck = mb_xcalloc(CKPT_INFLIGHT, sizeof *c->ins.ck);
    c->ins.rcf.margin_pct = c->cfg->recommend.margin_pct;
    uint64_t hl = c->cfg->recommend.half_life_ms / 1000;
    c->ins.rcf.half_life_s = hl > UINT32_MAX ? UINT32_MAX : hl ? (uint32_t)hl : 1;
    uint64_t win = c->cfg->recommend.peak_window_ms / 1000; /* config: 1s..24h */
    c->ins.rcf.window_s = win > UINT32_MAX ? UINT32_MAX : win ? (uint32_t)win : 1;
    c->ins.m_ooms = mx_counter(c->mx, "membudget_oom_kills_total",
                               "OOM kills of governed containers, by namespace and owner (the "
                               "ledger).",
                               2, LO);
    c->ins.m_oom_unprevented = mx_counter(
        c->mx, "membudget_oom_kills_unprevented_total",
        "OOM kills membudget did not prevent, by why: no-fresh-sample, "
        "below-evict-tier, faster-than-sampling, eviction-blocked, eviction-rate-limited, "
        "not-budgeted.",
        1, LR);
    for (int r = 0; r < PL_OOM_NREASONS; r++) {
        const char *v[] = {pl_oom_reason_name((enum pl_oom_reason)r)};
        mx_add(c->ins.m_oom_unprevented, v,
               0); /* every reason from the start: rate() sees the first */
    }
    c->ins.m_rec_budget = mx_gauge(c->mx, "membudget_owner_recommended_budget_bytes",
                                   "Recommended budget per owner: p95 of its decaying usage peaks "
                                   "plus the margin (advice only).",
                                   2, LO);
    c->ins.m_rec_limit = mx_gauge(c->mx, "membudget_owner_recommended_limit_bytes",
                                  "Recommended memory limit per owner: the recommended budget over "
                                  "the evict threshold (advice only).",
                                  2, LO);
    c->ins.m_owner_budget = mx_gauge(c->mx, "membudget_owner_budget_bytes",
                                     "The budget an owner's pods declare now.", 2, LO);
    c->ins.m_owner_limit = mx_gauge(c->mx, "membudget_owner_limit_bytes",
                                    "The memory limit of an owner's target container now.", 2, LO);
    c->ins.m_rec_bytes = mx_gauge(c->mx, "membudget_recommender_bytes",
                                  "Memory held by the recommendations (all owners).", 0, NULL);
    static const char *const LC[] = {"op", "result"};
    c->ins.m_ckpt =
        mx_counter(c->mx, "membudget_recommendation_checkpoints_total",
                   "Recommendation checkpoints (ConfigMaps in membudget's namespace) written and "
                   "deleted, by op (write, delete) and result (ok, error).",
                   2, LC);
    c->ins.m_prof_bytes = mx_gauge(c->mx, "membudget_profile_dir_bytes",
                                   "Bytes of captures in eviction.profileDir.", 0, NULL);
    c->ins.m_prof_deleted =
        mx_counter(c->mx, "membudget_profiles_deleted_total",
                   "Captures deleted to keep eviction.profileDirMaxBytes.", 0, NULL);
    if (ops) {
        ops_add_route_on(ops, "/debug/owners", lp, render_owners, c);
        ops_add_route_on(ops, "/debug/profiles", lp, render_profiles, c);
    }
    profiles_enforce(c);
}

void insight_cleanup(struct controller *c)
{
    for (size_t i = 0; c->ins.ck && i < CKPT_INFLIGHT; i++)
        if (c->ins.ck[i].id)
            kapi_cancel(c->api, c->ins.ck[i].id);
    if (c->ins.ck_list)
        kapi_cancel(c->api, c->ins.ck_list);
    mb_free(c->ins.ck);
    c->ins.ck = NULL;
    rc_free(c->ins.rc);
    c->ins.rc = NULL;
}
