/*
 * insight.c -- what membudget learns beyond one pod's breaker: the OOM
 * ledger's counters, budget recommendations per owner (recommend.h), and
 * the profile directory (profstore.h), with their /debug routes:
 *
 *   /debug/owners     recommendations next to each owner's current values
 *   /debug/profiles   the captures on disk, newest first
 *
 * On the controller's thread. Recommendations are advice: nothing here
 * changes a pod. They are kept by the leader (which samples) and start
 * afresh on a new leader.
 */
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/log.h"
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

/* --- the OOM ledger ------------------------------------------------------------- */

void insight_oom(struct controller *c, const struct pc_pod *p, const char *reason)
{
    const char *kind;
    char name[256], owner[300];
    pc_workload(p, &kind, name, sizeof name);
    snprintf(owner, sizeof owner, "%s/%s", kind, name);
    const char *lo[] = {p->sh->ns, owner}, *lr[] = {reason};
    mx_add(c->m_ooms, lo, 1);
    mx_add(c->m_oom_unprevented, lr, 1);
    log_warn("OOM kill not prevented", "{s:s,s:s,s:s,s:s,s:i}", "namespace", p->sh->ns, "pod",
             p->name, "owner", owner, "reason", reason, "restarts", (int)p->restarts);
}

/* --- recommendations ------------------------------------------------------------ */

static void publish(struct controller *c, const struct rc_owner *o)
{
    struct rc_rec r;
    char owner[300];
    owner_label(o, owner, sizeof owner);
    const char *lv[] = {o->ns, owner};
    if (o->cur.budget > 0)
        mx_set(c->m_owner_budget, lv, (double)o->cur.budget);
    if (o->cur.limit > 0)
        mx_set(c->m_owner_limit, lv, (double)o->cur.limit);
    if (rc_recommend(o, &c->rcf, secs(c), &r) == RC_OK) {
        mx_set(c->m_rec_budget, lv, (double)r.budget);
        mx_set(c->m_rec_limit, lv, (double)r.limit);
    }
}

void insight_sample(struct controller *c, struct podstate *s, const struct smp_result *r,
                    bool after_gc)
{
    const struct pc_pod *p = s->gq.pod;
    int64_t peak, rss_peak;
    bool closed = rc_window_feed(&RUN(s)->win, r->usage, r->rss, r->taken,
                                 c->cfg->recommend.peak_window_ms, &peak, &rss_peak);
    const char *kind;
    char name[256];
    pc_workload(p, &kind, name, sizeof name);
    struct rc_owner *o = rc_owner(c->rc, p->sh->ns, kind, name);
    struct rc_current cur = {SPEC(s)->budget, p->sh->limit, SPEC(s)->tiers.evict,
                             r->figure == ANN_USAGE_HEAP};
    /* The current values follow the pods at once (a new budget shows beside
     * the recommendation without waiting for a peak). */
    bool changed = o->cur.budget != cur.budget || o->cur.limit != cur.limit ||
                   o->cur.evict_pct != cur.evict_pct || o->cur.counts_heap != cur.counts_heap;
    o->cur = cur;
    o->last_s = secs(c); /* seen: not expired while its pods are sampled */
    if (closed)
        rc_peak(o, &c->rcf, peak, rss_peak, secs(c));
    if (after_gc) /* the figure after a forced GC: the floor the live heap keeps */
        rc_floor(o, &c->rcf, r->usage, secs(c));
    if (closed || after_gc || changed)
        publish(c, o);
}

static void forget(void *arg, const struct rc_owner *o)
{
    struct controller *c = arg;
    char owner[300];
    owner_label(o, owner, sizeof owner);
    const char *lv[] = {o->ns, owner};
    mx_delete(c->m_rec_budget, lv);
    mx_delete(c->m_rec_limit, lv);
    mx_delete(c->m_owner_budget, lv);
    mx_delete(c->m_owner_limit, lv);
}

/* Every second (remedy_collect): owners not sampled for two half-lives
 * (all their pods gone) go, at most once a minute. */
void insight_collect(struct controller *c)
{
    uint32_t now = secs(c);
    if (now - c->rc_expired_at < EXPIRE_EVERY_S)
        return;
    c->rc_expired_at = now;
    uint64_t age = 2ULL * c->rcf.half_life_s;
    size_t n = rc_expire(c->rc, now, age > UINT32_MAX ? UINT32_MAX : (uint32_t)age, forget, c);
    if (n)
        log_info("recommendations expired", "{s:I}", "owners", (json_int_t)n);
    mx_set(c->m_rec_bytes, NULL, (double)rc_bytes(c->rc));
}

/* Leadership lost: the next leader's samples make its own. */
void insight_reset(struct controller *c)
{
    rc_expire(c->rc, UINT32_MAX, 0, forget, c);
}

static int render_owners(void *arg, struct mb_buf *out, const char **content_type)
{
    static const char *const WAITING[] = {[RC_FEW_PEAKS] = "peaks", [RC_SHORT_HISTORY] = "history"};
    struct controller *c = arg;
    json_t *arr = json_array();
    size_t pos = 0;
    struct rc_owner *o;
    uint32_t now = secs(c);
    while ((o = rc_next(c->rc, &pos))) {
        struct rc_rec r;
        enum rc_status st = rc_recommend(o, &c->rcf, now, &r);
        json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:I,s:i,s:b,s:i,s:I}", "namespace", o->ns, "kind",
                              o->kind, "name", o->name, "budgetBytes", (json_int_t)o->cur.budget,
                              "limitBytes", (json_int_t)o->cur.limit, "evictPercent",
                              (int)o->cur.evict_pct, "countsHeap", o->cur.counts_heap,
                              "peaks", (int)r.peaks, "historySeconds", (json_int_t)r.history_s);
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
    uint64_t need = (uint64_t)RC_MIN_WINDOWS * c->rcf.window_s;
    json_t *root = json_pack("{s:b,s:i,s:I,s:I,s:i,s:I,s:I,s:o}", "leader", c->leader,
                             "marginPercent", (int)c->cfg->recommend.margin_pct,
                             "halfLifeSeconds", (json_int_t)c->rcf.half_life_s,
                             "peakWindowSeconds", (json_int_t)c->rcf.window_s, "minPeaks",
                             RC_MIN_PEAKS, "minHistorySeconds", (json_int_t)need,
                             "minBudgetBytes", (json_int_t)RC_MIN_BUDGET, "owners", arr);
    return debug_reply_json(root, out, content_type);
}

/* --- the profile directory ------------------------------------------------------ */

void profiles_enforce(struct controller *c)
{
    uint64_t kept = 0;
    size_t gone = ps_enforce(c->cfg->eviction.profile_dir,
                             (uint64_t)c->cfg->eviction.profile_dir_max_bytes, &kept);
    if (gone) {
        mx_add(c->m_prof_deleted, NULL, (double)gone);
        log_info("old profiles deleted (eviction.profileDirMaxBytes)", "{s:I,s:I,s:I}", "deleted",
                 (json_int_t)gone, "kept_bytes", (json_int_t)kept, "max_bytes",
                 (json_int_t)c->cfg->eviction.profile_dir_max_bytes);
    }
    mx_set(c->m_prof_bytes, NULL, (double)kept);
}

static int render_profiles(void *arg, struct mb_buf *out, const char **content_type)
{
    struct controller *c = arg;
    json_t *root = ps_list_json(c->cfg->eviction.profile_dir,
                                (uint64_t)c->cfg->eviction.profile_dir_max_bytes);
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
    c->rc = rc_new();
    c->rcf.margin_pct = c->cfg->recommend.margin_pct;
    uint64_t hl = c->cfg->recommend.half_life_ms / 1000;
    c->rcf.half_life_s = hl > UINT32_MAX ? UINT32_MAX : hl ? (uint32_t)hl : 1;
    uint64_t win = c->cfg->recommend.peak_window_ms / 1000; /* config: 1s..24h */
    c->rcf.window_s = win > UINT32_MAX ? UINT32_MAX : win ? (uint32_t)win : 1;
    c->m_ooms = mx_counter(c->mx, "membudget_oom_kills_total",
                           "OOM kills of governed containers, by namespace and owner (the "
                           "ledger).", 2, LO);
    c->m_oom_unprevented =
        mx_counter(c->mx, "membudget_oom_kills_unprevented_total",
                   "OOM kills membudget did not prevent, by why: no-fresh-sample, "
                   "below-evict-tier, faster-than-sampling, eviction-blocked, eviction-rate-limited, "
                   "not-budgeted.",
                   1, LR);
    for (int r = 0; r < PL_OOM_NREASONS; r++) {
        const char *v[] = {pl_oom_reason_name((enum pl_oom_reason)r)};
        mx_add(c->m_oom_unprevented, v, 0); /* every reason from the start: rate() sees the first */
    }
    c->m_rec_budget = mx_gauge(c->mx, "membudget_owner_recommended_budget_bytes",
                               "Recommended budget per owner: p95 of its decaying usage peaks "
                               "plus the margin (advice only).", 2, LO);
    c->m_rec_limit = mx_gauge(c->mx, "membudget_owner_recommended_limit_bytes",
                              "Recommended memory limit per owner: the recommended budget over "
                              "the evict threshold (advice only).", 2, LO);
    c->m_owner_budget = mx_gauge(c->mx, "membudget_owner_budget_bytes",
                                 "The budget an owner's pods declare now.", 2, LO);
    c->m_owner_limit = mx_gauge(c->mx, "membudget_owner_limit_bytes",
                                "The memory limit of an owner's target container now.", 2, LO);
    c->m_rec_bytes = mx_gauge(c->mx, "membudget_recommender_bytes",
                              "Memory held by the recommendations (all owners).", 0, NULL);
    c->m_prof_bytes = mx_gauge(c->mx, "membudget_profile_dir_bytes",
                               "Bytes of captures in eviction.profileDir.", 0, NULL);
    c->m_prof_deleted = mx_counter(c->mx, "membudget_profiles_deleted_total",
                                   "Captures deleted to keep eviction.profileDirMaxBytes.", 0,
                                   NULL);
    if (ops) {
        ops_add_route_on(ops, "/debug/owners", lp, render_owners, c);
        ops_add_route_on(ops, "/debug/profiles", lp, render_profiles, c);
    }
    profiles_enforce(c);
}

void insight_cleanup(struct controller *c)
{
    rc_free(c->rc);
    c->rc = NULL;
}
