/* check_seams.c -- the shell modules through their I/O seam (kapi_new_ops,
 * test/fakes): the reflector's backoff against a misbehaving API server,
 * the sampler's per-pod schedule with a hung pod, the gate queue, and the
 * executor carrying out plans (owner slots, one profile, PDB retries).
 * No network; timers are a few milliseconds of the real loop at most, and
 * nothing asserts on elapsed time. */
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakes.h"
#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/config.h"
#include "membudget/controller.h"
#include "membudget/gateq.h"
#include "membudget/jsonx.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/metrics.h"
#include "membudget/podcall.h"
#include "membudget/profstore.h"
#include "membudget/reflector.h"
#include "suites.h"
#include "testutil.h"

/* Run the loop until `cond` holds, at most `turns` times. */
#define RUN_UNTIL(lp, cond, turns)                                                                 \
    do {                                                                                           \
        for (int t_ = 0; t_ < (turns) && !(cond); t_++)                                            \
            event_base_loop(loop_base(lp), EVLOOP_ONCE | EVLOOP_NONBLOCK);                         \
        for (int t_ = 0; t_ < (turns) && !(cond); t_++)                                            \
            event_base_loop(loop_base(lp), EVLOOP_ONCE);                                           \
    } while (0)

/* --- the reflector against a misbehaving server ------------------------------- */

static void sk_nop(void *ctx) { (void)ctx; }

static void sk_item(void *ctx, const json_t *o)
{
    (void)o;
    (*(int *)ctx)++;
}

static void sk_event(void *ctx, enum kobj_ev t, const json_t *o)
{
    (void)t;
    (void)o;
    (*(int *)ctx)++;
}

static const struct reflector_sink SINK = {sk_nop, sk_item, sk_nop, sk_event, sk_nop};

static const char EMPTY_LIST[] = "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"5\"},"
                                 "\"items\":[]}";

/* Answer the list in flight, then the watch the reflector starts. */
static struct fk_req *list_then_watch(struct fake_kapi *f, struct loop *lp)
{
    struct fk_req *l = NULL;
    RUN_UNTIL(lp, (l = fake_kapi_find(f, "limit=")), 200);
    ck_assert_msg(l, "no list request");
    fake_kapi_answer(l, 200, EMPTY_LIST);
    struct fk_req *w = fake_kapi_find(f, "watch=1");
    ck_assert_msg(w, "no watch after the list");
    return w;
}

/* A started pods reflector on a loop, a fake API and a fake clock; backoff
 * 4 ms doubling to 64 ms so a test waits milliseconds; listing by pages, or
 * by streamed watch (watch_list). */
struct rtest {
    struct loop *lp;
    struct fake_kapi f;
    struct fake_clock fc;
    int seen;
    struct reflector *r;
};

static void rtest_start(struct rtest *t, size_t max_page_bytes, bool watch_list)
{
    memset(t, 0, sizeof *t);
    ck_assert_int_eq(loop_new(&t->lp, LOOP_CLIENT, NULL), MB_OK);
    fake_kapi_init(&t->f);
    fake_clock_init(&t->fc, 1000000, 1795000000000LL);
    struct reflector_conf rc = {.name = "pods",
                                .path = "/api/v1/pods",
                                .backoff_base_ms = 4,
                                .backoff_max_ms = 64,
                                .max_page_bytes = max_page_bytes,
                                .watch_list = watch_list};
    t->r = reflector_new(t->lp, &t->fc.clk, t->f.k, NULL, &rc, &SINK, &t->seen);
    reflector_start(t->r);
}

static void rtest_stop(struct rtest *t)
{
    reflector_free(t->r);
    fake_kapi_cleanup(&t->f);
    loop_free(t->lp);
}

START_TEST(test_reflector_paces_410_and_short_watches)
{
    struct rtest t;
    rtest_start(&t, 0, false);
    struct loop *lp = t.lp;
    struct fake_kapi *f = &t.f;
    struct reflector *r = t.r;

    /* A server that answers every watch with 410: the first relists at
     * once (as client-go), every one after it waits, longer and longer up
     * to the cap. */
    struct fk_req *w = list_then_watch(f, lp);
    fake_kapi_answer(w, 410, "{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\"}");
    ck_assert_uint_eq(reflector_waiting_ms(r), 0);
    ck_assert_ptr_nonnull(fake_kapi_find(f, "limit=")); /* relisted at once */
    uint64_t most = 0;
    for (int i = 0; i < 8; i++) {
        w = list_then_watch(f, lp);
        fake_kapi_answer(w, 410, "");
        uint64_t d = reflector_waiting_ms(r);
        ck_assert_msg(d >= 2, "410 #%d relisted without waiting", i + 2);
        ck_assert_msg(d <= 64, "410 #%d waits %llu ms, over the cap", i + 2, (unsigned long long)d);
        ck_assert_ptr_null(fake_kapi_find(f, "limit=")); /* nothing before the timer */
        most = d > most ? d : most;
    }
    ck_assert_uint_ge(most, 32); /* it grew (equal jitter: at least half of 64) */

    /* A watch that the server ends at once with 200 and nothing in it:
     * paced too, not resumed in a tight loop. */
    w = list_then_watch(f, lp);
    fake_kapi_answer(w, 200, "");
    ck_assert_uint_gt(reflector_waiting_ms(r), 0);
    struct fk_req *again = NULL;
    RUN_UNTIL(lp, (again = fake_kapi_find(f, "watch=1")), 200);
    ck_assert_ptr_nonnull(again);

    /* A healthy watch (events, and it lasted): ended by the server, it is
     * resumed at once, and the backoff starts over. */
    fake_kapi_stream(again, "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
                            "{\"name\":\"a\",\"namespace\":\"x\",\"resourceVersion\":\"9\"}}}\n");
    fake_clock_advance(&t.fc, 300000);
    fake_kapi_answer(again, 200, "");
    ck_assert_uint_eq(reflector_waiting_ms(r), 0);
    w = fake_kapi_find(f, "watch=1");
    ck_assert_ptr_nonnull(w);
    ck_assert_msg(strstr(w->path, "resourceVersion=9"), "%s", w->path);
    /* and a 410 now (after a healthy watch) relists at once again */
    fake_kapi_answer(w, 410, "");
    ck_assert_uint_eq(reflector_waiting_ms(r), 0);
    ck_assert_ptr_nonnull(fake_kapi_find(f, "limit="));
    ck_assert_int_eq(t.seen, 1);

    rtest_stop(&t);
}
END_TEST

/* A failed list answer of any size is read for its Status; a list page
 * larger than the page limit is refused (kapi's cap) and retried paced. */
START_TEST(test_reflector_list_errors_paced)
{
    struct rtest t;
    rtest_start(&t, 1 << 20, false);
    struct loop *lp = t.lp;
    struct fake_kapi *f = &t.f;
    struct reflector *r = t.r;
    struct fk_req *l = NULL;
    RUN_UNTIL(lp, (l = fake_kapi_find(f, "limit=")), 200);
    fake_kapi_fail(l, MB_ETOOBIG, "response larger than the configured maximum");
    ck_assert_uint_gt(reflector_waiting_ms(r), 0);
    ck_assert_ptr_null(fake_kapi_find(f, "limit="));
    RUN_UNTIL(lp, (l = fake_kapi_find(f, "limit=")), 200);
    ck_assert_ptr_nonnull(l);
    fake_kapi_answer(l, 500, "{\"kind\":\"Status\",\"code\":500,\"message\":\"etcd down\"}");
    ck_assert_uint_gt(reflector_waiting_ms(r), 0);
    ck_assert(!reflector_synced(r));
    rtest_stop(&t);
}
END_TEST

#define POD_EV(type, name, rv)                                                                     \
    "{\"type\":\"" type "\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"" name           \
    "\",\"namespace\":\"x\",\"resourceVersion\":\"" rv "\"}}}\n"
#define END_BOOKMARK(rv)                                                                           \
    "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"resourceVersion\":\"" rv  \
    "\",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}}}}\n"

/* The list is one watch: its ADDED events are the items, the annotated
 * bookmark ends them with the list's version, and the same request goes on
 * as the watch; once it ends, the watch resumes from the last version, with
 * no initial events asked for. */
START_TEST(test_reflector_watch_list)
{
    struct rtest t;
    rtest_start(&t, 0, true); /* lists by streamed watch */
    struct loop *lp = t.lp;
    struct fake_kapi *f = &t.f;
    struct reflector *r = t.r;
    struct fk_req *w = NULL;
    RUN_UNTIL(lp, (w = fake_kapi_find(f, "sendInitialEvents=true")), 200);
    ck_assert_msg(w, "no streamed list");
    ck_assert_msg(
        strstr(w->path, "watch=1") && strstr(w->path, "resourceVersionMatch=NotOlderThan") &&
            strstr(w->path, "allowWatchBookmarks=true") && strstr(w->path, "resourceVersion=&"),
        "%s", w->path);
    ck_assert_uint_eq(fake_kapi_count(f, "GET", "limit="), 0);
    /* items carry their own versions, which are not the list's */
    fake_kapi_stream(w, POD_EV("ADDED", "a", "30") POD_EV("ADDED", "b", "12"));
    ck_assert(!reflector_synced(r));
    ck_assert_str_eq(reflector_version(r), "");
    fake_kapi_stream(w, END_BOOKMARK("41"));
    ck_assert(reflector_synced(r));
    ck_assert_str_eq(reflector_version(r), "41");
    ck_assert_uint_eq(reflector_relists(r), 1);
    fake_kapi_stream(w, POD_EV("MODIFIED", "a", "42"));
    ck_assert_str_eq(reflector_version(r), "42");
    ck_assert_int_eq(t.seen, 3);
    fake_clock_advance(&t.fc, 300000);
    fake_kapi_answer(w, 200, "");
    struct fk_req *again = fake_kapi_find(f, "watch=1");
    ck_assert_ptr_nonnull(again);
    ck_assert_msg(strstr(again->path, "resourceVersion=42&") && !strstr(again->path, "sendInitial"),
                  "%s", again->path);
    /* a 410 on the resumed watch lists again by stream, at once */
    fake_kapi_answer(again, 410, "");
    ck_assert_ptr_nonnull(fake_kapi_find(f, "sendInitialEvents=true"));
    rtest_stop(&t);
}
END_TEST

/* A streamed list that ends before its end bookmark says why, as it is
 * known (before: a 410 or an empty stream was "an event too large or
 * unreadable"): rows of what the stream carries, and the words expected. */
static const struct {
    const char *stream;
    long status;
    const char *says;
} STREAM_ENDS[] = {
    {"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,\"reason\":\"Expired\","
     "\"message\":\"too old resource version\"}}\n",
     200, "\"why\":\"410 Gone: the resourceVersion is too old\""},
    {"", 200,
     "\"why\":\"the stream ended with no event at "
     "all\",\"status\":200,\"error\":\"\",\"events\":0"},
    {POD_EV("ADDED", "a", "30"), 200,
     "\"why\":\"the stream stopped before its end "
     "bookmark\",\"status\":200,\"error\":\"\",\"events\":1"},
    {"{not json\n", 200, "\"why\":\"an event that could not be decoded\""},
    {"", 500, "\"why\":\"the API server's status\",\"status\":500"},
};

START_TEST(test_reflector_stream_end_named)
{
    struct rtest t;
    rtest_start(&t, 0, true);
    struct fk_req *w = NULL;
    RUN_UNTIL(t.lp, (w = fake_kapi_find(&t.f, "sendInitialEvents=true")), 200);
    ck_assert_ptr_nonnull(w);
    log_set_level(LOG_WARN);
    tu_stderr_begin();
    if (*STREAM_ENDS[_i].stream)
        fake_kapi_stream(w, STREAM_ENDS[_i].stream);
    fake_kapi_answer(w, STREAM_ENDS[_i].status, "");
    char *logged = tu_stderr_end();
    log_set_level(LOG_ERROR);
    ck_assert_msg(strstr(logged, "streamed list ended before its last item") &&
                      strstr(logged, STREAM_ENDS[_i].says),
                  "row %d: %s", _i, logged);
    ck_assert_ptr_null(strstr(logged, "too large or unreadable"));
    ck_assert(!reflector_synced(t.r));
    mb_free(logged);
    rtest_stop(&t);
}
END_TEST

/* A server that refuses streamed lists (422, as one without the WatchList
 * feature answers resourceVersionMatch on a watch), or that answers as a
 * plain watch and never marks the end of its initial events: listed by
 * pages at once, and by pages from then on. A stream cut before its end is
 * a failed list: retried paced, still by stream, and nothing is synced. */
START_TEST(test_reflector_watch_list_refused)
{
    static const char *const refusals[] = {
        "422",
        "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
        "{\"resourceVersion\":\"9\"}}}\n",
    };
    for (size_t i = 0; i < sizeof refusals / sizeof *refusals; i++) {
        struct rtest t;
        rtest_start(&t, 0, true); /* lists by streamed watch */
        struct fk_req *w = NULL;
        RUN_UNTIL(t.lp, (w = fake_kapi_find(&t.f, "sendInitialEvents=true")), 200);
        ck_assert_ptr_nonnull(w);
        if (i == 0) {
            fake_kapi_answer(
                w, 422,
                "{\"kind\":\"Status\",\"code\":422,\"message\":\"resourceVersionMatch: "
                "Forbidden: resourceVersionMatch is forbidden for watch\"}");
        } else {
            fake_kapi_stream(w, POD_EV("ADDED", "a", "3") POD_EV("ADDED", "b", "4"));
            fake_kapi_stream(w, refusals[i]);
            fake_kapi_answer(w, 200, "");
        }
        ck_assert_msg(!reflector_synced(t.r), "refusal %zu", i);
        ck_assert_uint_eq(reflector_waiting_ms(t.r), 0); /* pages at once */
        struct fk_req *l = fake_kapi_find(&t.f, "limit=");
        ck_assert_msg(l, "refusal %zu: no paged list", i);
        fake_kapi_answer(l, 200, EMPTY_LIST);
        ck_assert(reflector_synced(t.r));
        w = fake_kapi_find(&t.f, "watch=1");
        ck_assert_ptr_nonnull(w);
        ck_assert_msg(!strstr(w->path, "sendInitialEvents"), "%s", w->path);
        fake_kapi_answer(w, 410, "");
        ck_assert_ptr_nonnull(fake_kapi_find(&t.f, "limit=")); /* relists by pages */
        ck_assert_ptr_null(fake_kapi_find(&t.f, "sendInitialEvents"));
        rtest_stop(&t);
    }

    struct rtest t;
    rtest_start(&t, 0, true); /* lists by streamed watch */
    struct fk_req *w = NULL;
    RUN_UNTIL(t.lp, (w = fake_kapi_find(&t.f, "sendInitialEvents=true")), 200);
    fake_kapi_stream(w, POD_EV("ADDED", "a", "3"));
    fake_kapi_fail(w, MB_EIO, "connection reset");
    ck_assert(!reflector_synced(t.r));
    ck_assert_uint_gt(reflector_waiting_ms(t.r), 0);
    ck_assert_ptr_null(fake_kapi_find(&t.f, "watch=1"));
    RUN_UNTIL(t.lp, (w = fake_kapi_find(&t.f, "sendInitialEvents=true")), 200);
    ck_assert_ptr_nonnull(w);
    fake_kapi_stream(w, POD_EV("ADDED", "a", "3") END_BOOKMARK("5"));
    ck_assert(reflector_synced(t.r));
    ck_assert_uint_eq(fake_kapi_count(&t.f, "GET", "limit="), 0);
    rtest_stop(&t);
}
END_TEST

/* --- the controller wired to fakes -------------------------------------------- */

struct rig {
    struct loop *lp;
    struct fake_kapi api, pods;
    struct fake_clock fc;
    struct mx *mx;
    struct cfg cfg;
    struct podcall *calls;
    struct controller *ctl;
    struct fk_req *watch;
    char dir[64];
    json_t *objs;  /* the pods as the fake API server holds them, by name */
    bool apply;    /* TICKS applies status patches as an API server would (rig_apply_status) */
    bool api_down; /* ... or fails them (500), as one that cannot be reached */
};

/* A budgeted pod of shop (budget 100Mi, heap scraped on 6060), owned by
 * `owner` ("" for none). `extra` adds annotations (",\"k\":\"v\""), `cond`
 * the within-budget condition ("" none). */
static char *pod_json(const char *name, const char *owner, int ip, bool ready, const char *extra,
                      const char *cond, const char *record)
{
    char ow[200] = "", cd[400] = "", rc[300] = "";
    if (*owner)
        snprintf(ow, sizeof ow,
                 ",\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"%s\","
                 "\"uid\":\"uid-%s\",\"controller\":true}]",
                 owner, owner);
    if (*cond)
        snprintf(cd, sizeof cd,
                 ",{\"type\":\"membudget.io/within-budget\",\"status\":\"%s\","
                 "\"reason\":\"%s\"}",
                 cond, strcmp(cond, "False") ? "WithinBudget" : "OverMemoryBudget");
    if (*record)
        snprintf(rc, sizeof rc,
                 ",{\"type\":\"membudget.io/remediation\",\"status\":\"True\","
                 "\"message\":\"%s\"}",
                 record);
    return mb_xasprintf(
        "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"shop\",\"uid\":\"uid-%s\","
        "\"resourceVersion\":\"1\"%s,\"annotations\":{\"membudget.io/budget\":\"100Mi\","
        "\"membudget.io/usage\":\"heap\",\"membudget.io/metrics\":\"6060/metrics\"%s}},"
        "\"spec\":{\"readinessGates\":[{\"conditionType\":\"membudget.io/within-budget\"}],"
        "\"containers\":[{\"name\":\"app\",\"ports\":[{\"containerPort\":6060}],"
        "\"resources\":{\"limits\":{\"memory\":\"128Mi\"}}}]},"
        "\"status\":{\"phase\":\"Running\",\"podIP\":\"127.0.0.%d\",\"conditions\":["
        "{\"type\":\"Ready\",\"status\":\"%s\"}%s%s]}}",
        name, name, ow, extra ? extra : "", ip, ready ? "True" : "False", cd, rc);
}

static const char *rig_own_ns;              /* a test's: membudget's namespace (checkpoints on) */
static const char *rig_first_page_continue; /* a test's: the pod list's first page goes on */

static void rig_start(struct rig *r, const char *const *pods, size_t npods, bool dry)
{
    memset(r, 0, sizeof *r);
    ck_assert_int_eq(loop_new(&r->lp, LOOP_CLIENT, NULL), MB_OK);
    fake_kapi_init(&r->api);
    fake_kapi_init(&r->pods);
    fake_clock_init(&r->fc, 5000000, 1795000000000LL);
    r->mx = mx_new();
    cfg_defaults(&r->cfg);
    r->cfg.sample_interval_ms = 10; /* a real timer: keep the test fast */
    r->cfg.sustain_samples = 2;
    r->cfg.recover_samples = 2;
    r->cfg.dry_run = dry;
    snprintf(r->dir, sizeof r->dir, "/tmp/mb-seams-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
    mb_free(r->cfg.eviction.profile_dir);
    r->cfg.eviction.profile_dir = mb_xstrdup(r->dir);
    struct tgt_policy pol = {.allow_loopback = true};
    r->calls = podcall_new(r->pods.k, &pol);
    static const char *const NS[] = {"shop"};
    struct controller_conf cc = {.namespaces = NS,
                                 .nnamespaces = 1,
                                 .cfg = &r->cfg,
                                 .pods = r->calls,
                                 .identity = "test",
                                 .own_namespace = rig_own_ns};
    struct mb_diag d = {0};
    ck_assert_int_eq(controller_new(r->lp, &r->fc.clk, r->api.k, r->mx, NULL, &cc, &r->ctl, &d),
                     MB_OK);
    controller_start(r->ctl);
    controller_set_leader(r->ctl, true);
    struct mb_buf list;
    mb_buf_init(&list, 1 << 20);
    if (rig_first_page_continue)
        mb_buf_printf(&list,
                      "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"10\","
                      "\"continue\":\"%s\"},\"items\":[",
                      rig_first_page_continue);
    else
        mb_buf_adds(&list,
                    "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"10\"},\"items\":[");
    r->objs = json_object();
    for (size_t i = 0; i < npods; i++) {
        mb_buf_printf(&list, "%s%s", i ? "," : "", pods[i]);
        json_t *o = tu_json(pods[i]);
        json_object_set_new(
            r->objs, json_string_value(json_object_get(json_object_get(o, "metadata"), "name")), o);
    }
    mb_buf_adds(&list, "]}");
    struct fk_req *l = NULL;
    RUN_UNTIL(r->lp, (l = fake_kapi_find(&r->api, "pods?limit=")), 100);
    ck_assert_ptr_nonnull(l);
    fake_kapi_answer(l, 200, mb_buf_str(&list));
    mb_buf_cleanup(&list);
    if (rig_first_page_continue)
        return; /* the test answers the rest */
    r->watch = fake_kapi_find(&r->api, "watch=1");
    ck_assert_ptr_nonnull(r->watch);
}

static void rig_stop(struct rig *r)
{
    json_decref(r->objs);
    controller_stop(r->ctl);
    controller_free(r->ctl);
    podcall_free(r->calls);
    fake_kapi_cleanup(&r->api);
    fake_kapi_cleanup(&r->pods);
    mx_free(r->mx);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", r->dir);
    ck_assert_int_eq(system(cmd), 0);
    cfg_cleanup(&r->cfg);
    loop_free(r->lp);
}

/* A watch event for the pod (the watch request stays open). */
static void rig_event(struct rig *r, const char *type, char *pod)
{
    json_t *o = tu_json(pod);
    const char *name = json_string_value(json_object_get(json_object_get(o, "metadata"), "name"));
    if (!strcmp(type, "DELETED"))
        json_object_del(r->objs, name);
    else
        json_object_set(r->objs, name, o);
    json_decref(o);
    char *line = mb_xasprintf("{\"type\":\"%s\",\"object\":%s}\n", type, pod);
    struct fk_req *w = fake_kapi_find(&r->api, "watch=1");
    ck_assert_ptr_nonnull(w);
    fake_kapi_stream(w, line);
    mb_free(line);
}

/* The fake API server takes the pending PATCHes of pods' status as the real
 * one does: the precondition (metadata.resourceVersion) checked (409), the
 * conditions merged by type, the version moved on, the pod sent to the
 * watch. With api_down, each is answered 500 instead. Returns how many. */
static int rig_apply_status(struct rig *r)
{
    int n = 0;
    for (size_t i = 0; i < r->api.n; i++) {
        struct fk_req *q = &r->api.v[i];
        size_t pl = strlen(q->path);
        if (q->answered || q->cancelled || strcmp(q->method, "PATCH") || pl < 7 ||
            strcmp(q->path + pl - 7, "/status"))
            continue;
        n++;
        if (r->api_down) {
            fake_kapi_answer(q, 500, "{\"kind\":\"Status\",\"message\":\"etcd down\"}");
            continue;
        }
        const char *from = strstr(q->path, "/pods/") + 6;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(pl - 7 - (size_t)(from - q->path)), from);
        json_t *pod = json_object_get(r->objs, name), *patch = tu_json(q->body);
        ck_assert_msg(pod, "a status patch of %s, which the API server does not hold", name);
        json_t *md = json_object_get(pod, "metadata");
        const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
        const char *want = json_string_value(
            json_object_get(json_object_get(patch, "metadata"), "resourceVersion"));
        if (want && strcmp(want, rv)) {
            fake_kapi_answer(q, 409, "{\"kind\":\"Status\",\"code\":409,\"reason\":\"Conflict\"}");
            json_decref(patch);
            continue;
        }
        json_t *conds = json_object_get(json_object_get(pod, "status"), "conditions"), *pc;
        size_t k;
        json_array_foreach(json_object_get(json_object_get(patch, "status"), "conditions"), k, pc)
        {
            const char *type = json_string_value(json_object_get(pc, "type"));
            size_t j;
            json_t *c;
            bool done = false;
            json_array_foreach(conds, j,
                               c) if (!done &&
                                      !strcmp(json_string_value(json_object_get(c, "type")), type))
            {
                json_array_set(conds, j, pc);
                done = true;
            }
            if (!done)
                json_array_append(conds, pc);
        }
        char next[24];
        snprintf(next, sizeof next, "%ld", strtol(rv, NULL, 10) + 1);
        json_object_set_new(md, "resourceVersion", json_string(next));
        char *text = mb_json_dumps(pod, JSON_COMPACT, NULL);
        fake_kapi_answer(q, 200, text);
        char *line = mb_xasprintf("{\"type\":\"MODIFIED\",\"object\":%s}\n", text);
        fake_kapi_stream(fake_kapi_find(&r->api, "watch=1"), line);
        mb_free(line);
        mb_free(text);
        json_decref(patch);
    }
    return n;
}

/* Answer every pending scrape of pod ip `ip` with `pct`% of 100Mi; returns
 * how many. */
static int answer_scrapes(struct rig *r, int ip, int pct)
{
    char needle[64], body[128];
    int n = 0;
    struct fk_req *q;
    snprintf(needle, sizeof needle, "127.0.0.%d:6060/metrics", ip);
    snprintf(body, sizeof body, "go_memstats_heap_inuse_bytes %lld\n", (long long)pct * 1048576LL);
    while ((q = fake_kapi_find(&r->pods, needle))) {
        fake_kapi_answer(q, 200, body);
        n++;
    }
    return n;
}

static bool scrape_pending(struct rig *r, int ip)
{
    char needle[64];
    snprintf(needle, sizeof needle, "127.0.0.%d:6060/metrics", ip);
    return fake_kapi_find(&r->pods, needle) != NULL;
}

/* Run ticks (the loop until a new scrape of ips[0] appears), answering
 * scrapes of the pods in ips[] with pcts[]; stop when `cond`. */
#define TICKS(r, n, ips, pcts, cond)                                                               \
    do {                                                                                           \
        for (int k_ = 0; k_ < (n) && !(cond); k_++) {                                              \
            RUN_UNTIL((r)->lp, scrape_pending((r), (ips)[0]), 200);                                \
            for (size_t j_ = 0; j_ < MB_ARRAY_LEN(ips); j_++)                                      \
                answer_scrapes((r), (ips)[j_], (pcts)[j_]);                                        \
            if ((r)->apply)                                                                        \
                rig_apply_status(r);                                                               \
        }                                                                                          \
    } while (0)

/* Behaviour 6: a hung pod delays only itself, and is not scraped twice. */
START_TEST(test_sampler_hung_pod_delays_only_itself)
{
    struct rig r;
    char *a = pod_json("hung", "", 21, true, NULL, "True", ""),
         *b = pod_json("fine", "", 22, true, NULL, "True", "");
    const char *pods[] = {a, b};
    rig_start(&r, pods, 2, false);
    for (int i = 0; i < 6; i++) {
        RUN_UNTIL(r.lp, fake_kapi_find(&r.pods, "127.0.0.22:6060"), 200);
        ck_assert_int_eq(answer_scrapes(&r, 22, 10), 1);
    }
    /* six samples of the healthy pod, one request ever for the hung one */
    ck_assert_uint_eq(fake_kapi_count(&r.pods, "GET", "127.0.0.22:6060"), 6);
    ck_assert_uint_eq(fake_kapi_count(&r.pods, "GET", "127.0.0.21:6060"), 1);
    /* once it answers, its next tick scrapes it again */
    ck_assert_int_eq(answer_scrapes(&r, 21, 10), 1);
    RUN_UNTIL(r.lp, fake_kapi_find(&r.pods, "127.0.0.21:6060"), 200);
    ck_assert_uint_eq(fake_kapi_count(&r.pods, "GET", "127.0.0.21:6060"), 2);
    rig_stop(&r);
    mb_free(a);
    mb_free(b);
}
END_TEST

static size_t evictions(struct rig *r, const char *pod)
{
    char needle[128];
    snprintf(needle, sizeof needle, "/pods/%s/eviction", pod);
    return fake_kapi_count(&r->api, "POST", needle);
}

/* Behaviour 2: two replicas of one owner at 99%: one eviction; the other
 * waits until the first is gone AND a replica is Ready again. */
START_TEST(test_executor_one_per_owner_until_settled)
{
    struct rig r;
    char *o1 = pod_json("o1", "web", 31, false, NULL, "False", ""),
         *o2 = pod_json("o2", "web", 32, false, NULL, "False", "");
    const char *pods[] = {o1, o2};
    rig_start(&r, pods, 2, false);
    const int ips[] = {31, 32}, pcts[] = {99, 99};
    TICKS(&r, 40, ips, pcts, evictions(&r, "o1") + evictions(&r, "o2") > 0);
    const char *first = evictions(&r, "o1") ? "o1" : "o2",
               *second = strcmp(first, "o1") ? "o1" : "o2";
    ck_assert_uint_eq(evictions(&r, first), 1);
    struct fk_req *e = fake_kapi_find(&r.api, "/eviction");
    fake_kapi_answer(e, 201, "{}");
    TICKS(&r, 10, ips, pcts, false);
    ck_assert_uint_eq(evictions(&r, second), 0); /* accepted is not gone */
    char *gone = pod_json(first, "web", strcmp(first, "o1") ? 32 : 31, false, NULL, "False", "");
    rig_event(&r, "DELETED", gone);
    const int ip2[] = {strcmp(second, "o1") ? 32 : 31}, pct2[] = {99};
    TICKS(&r, 10, ip2, pct2, false);
    ck_assert_uint_eq(evictions(&r, second), 0); /* gone, but no replica Ready yet */
    char *o3 = pod_json("o3", "web", 33, true, NULL, "True", "");
    rig_event(&r, "ADDED", o3);
    for (int k = 0; k < 40 && !evictions(&r, second); k++) {
        fake_clock_advance(&r.fc, 500); /* a deferred attempt is retried a second later */
        TICKS(&r, 1, ip2, pct2, false);
    }
    ck_assert_uint_eq(evictions(&r, second), 1);
    rig_stop(&r);
    mb_free(o1);
    mb_free(o2);
    mb_free(o3);
    mb_free(gone);
}
END_TEST

/* Behaviours 3 and 4: a PDB blocks twice; one profile for the escalation. */
START_TEST(test_executor_one_profile_across_pdb_retries)
{
    struct rig r;
    char *p = pod_json("p", "", 41, true, ",\"membudget.io/profile\":\"6060/debug/pprof/heap\"",
                       "True", "");
    const char *pods[] = {p};
    rig_start(&r, pods, 1, false);
    r.apply = true; /* (the record holds the capture before it is taken) */
    const int ips[] = {41}, pcts[] = {99};
    TICKS(&r, 40, ips, pcts, fake_kapi_find(&r.pods, "/debug/pprof/heap"));
    struct fk_req *prof = fake_kapi_find(&r.pods, "/debug/pprof/heap");
    ck_assert_ptr_nonnull(prof);
    ck_assert_uint_eq(prof->timeout_ms, 30000);
    fake_clock_advance(&r.fc, 20000); /* the heap profile took 20 s */
    fake_kapi_answer(prof, 200, "PROFILE-BYTES");
    /* then the goroutine dump, on the profile's port by default, in what is
     * left of the capture's 30 s */
    struct fk_req *gor = NULL;
    RUN_UNTIL(r.lp, (gor = fake_kapi_find(&r.pods, "/debug/pprof/goroutine?debug=2")), 200);
    ck_assert_ptr_nonnull(gor);
    ck_assert_str_eq(gor->method, "GET");
    ck_assert_uint_eq(gor->timeout_ms, 10000);
    fake_kapi_answer(gor, 200, "goroutine 1 [running]:\n");
    for (int attempt = 0; attempt < 3; attempt++) {
        struct fk_req *e = NULL;
        RUN_UNTIL(r.lp, (e = fake_kapi_find(&r.api, "/pods/p/eviction")), 1);
        for (int k = 0; k < 40 && !(e = fake_kapi_find(&r.api, "/pods/p/eviction")); k++) {
            fake_clock_advance(&r.fc, 1000); /* the backoff passes on the fake clock */
            TICKS(&r, 1, ips, pcts, false);
        }
        ck_assert_msg(e, "attempt %d never came", attempt + 1);
        if (attempt < 2)
            fake_kapi_answer(e, 429,
                             "{\"kind\":\"Status\",\"code\":429,\"message\":\"Cannot evict "
                             "pod as it would violate the pod's disruption budget.\"}");
        else
            fake_kapi_answer(e, 201, "{}");
    }
    ck_assert_uint_eq(evictions(&r, "p"), 3);
    ck_assert_uint_eq(fake_kapi_count(&r.pods, "GET", "/debug/pprof/heap"), 1);
    ck_assert_uint_eq(fake_kapi_count(&r.pods, "GET", "/debug/pprof/goroutine"), 1);
    ck_assert_uint_eq(fake_kapi_count(&r.api, "POST", "reason%3DMemoryBudgetProfileCaptured"), 0);
    /* both files, under one stamp, in the profile directory */
    json_t *ls = ps_list_json(r.dir, 1 << 30);
    json_t *items = json_object_get(ls, "profiles");
    ck_assert_uint_eq(json_array_size(items), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "kind")),
                     "goroutines");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "kind")), "heap");
    json_decref(ls);
    rig_stop(&r);
    mb_free(p);
}
END_TEST

/* The capture's two calls share 30 s: a heap profile that took nearly all
 * of it leaves no dump, and the eviction is not delayed further. */
START_TEST(test_executor_capture_bounded)
{
    struct rig r;
    char *p = pod_json("q", "", 42, true, ",\"membudget.io/profile\":\"6060/debug/pprof/heap\"",
                       "True", "");
    const char *pods[] = {p};
    rig_start(&r, pods, 1, false);
    r.apply = true; /* (the record holds the capture before it is taken) */
    const int ips[] = {42}, pcts[] = {99};
    TICKS(&r, 40, ips, pcts, fake_kapi_find(&r.pods, "/debug/pprof/heap"));
    struct fk_req *prof = fake_kapi_find(&r.pods, "/debug/pprof/heap");
    ck_assert_ptr_nonnull(prof);
    fake_clock_advance(&r.fc, 29500);
    fake_kapi_answer(prof, 200, "PROFILE-BYTES");
    struct fk_req *e = NULL;
    RUN_UNTIL(r.lp, (e = fake_kapi_find(&r.api, "/pods/q/eviction")), 200);
    ck_assert_ptr_nonnull(e);
    ck_assert_uint_eq(fake_kapi_count(&r.pods, "GET", "/debug/pprof/goroutine"), 0);
    fake_kapi_answer(e, 201, "{}");
    rig_stop(&r);
    mb_free(p);
}
END_TEST

/* s with the first `from` replaced by `to` (new string). */
static char *subst(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    ck_assert_ptr_nonnull(at);
    return mb_xasprintf("%.*s%s%s", (int)(at - s), s, to, at + strlen(from));
}

/* The pending PATCH of the pod itself (not a subresource), or NULL. */
static struct fk_req *pod_patch(struct rig *r, const char *name)
{
    char end[80];
    snprintf(end, sizeof end, "/pods/%s", name);
    for (size_t i = 0; i < r->api.n; i++) {
        struct fk_req *q = &r->api.v[i];
        size_t pl = strlen(q->path), el = strlen(end);
        if (!q->answered && !q->cancelled && !strcmp(q->method, "PATCH") && pl >= el &&
            !strcmp(q->path + pl - el, end))
            return q;
    }
    return NULL;
}

/* Events (created or aggregated) whose body has needle. */
static size_t events_with(struct rig *r, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < r->api.n; i++)
        n += strstr(r->api.v[i].path, "/events") && strstr(r->api.v[i].body, needle);
    return n;
}

/* The resize tier's executor (issue 25): at 92% after forced GCs (a full
 * leak window of them, flat), the limit is raised through pods/NAME/resize; the watch then tells
 * what the kubelet did: runs it (the budget annotation follows), leaves it pending (refused: the
 * evict tier goes on), or the API server refuses outright. */
START_TEST(test_executor_resize)
{
    static const char *const EXTRA =
        ",\"membudget.io/gc\":\"6060/gc\",\"membudget.io/max-limit\":\"256Mi\"";
    enum { RAN, PENDING, REFUSED };
    for (int how = RAN; how <= REFUSED; how++) {
        struct rig r;
        char *p = pod_json("z", "", 81, true, EXTRA, "True", "");
        const char *pods[] = {p};
        rig_start(&r, pods, 1, false);
        r.apply = true; /* (the record holds each GC before it is forced) */
        const int ips[] = {81}, pcts[] = {92};
        struct fk_req *gc = NULL, *rz = NULL;
        /* a GC per gcMinInterval (60 s on the fake clock) until the leak
         * window (10 post-GC figures) is full and flat: then the resize */
        for (int k = 0; k < 400 && !(rz = fake_kapi_find(&r.api, "/pods/z/resize")); k++) {
            if ((gc = fake_kapi_find(&r.pods, "/gc"))) {
                fake_kapi_answer(gc, 200, "");
                fake_clock_advance(&r.fc, 60000);
            }
            TICKS(&r, 1, ips, pcts, false);
        }
        ck_assert_msg(rz, "how %d: no resize asked", how);
        ck_assert_uint_ge(fake_kapi_count(&r.pods, "POST", "/gc"), 10);
        ck_assert_str_eq(rz->method, "PATCH");
        ck_assert_msg(strstr(rz->body,
                             "\"containers\":[{\"name\":\"app\",\"resources\":{\"limits\":"
                             "{\"memory\":\"160Mi\"}}}]") &&
                          strstr(rz->body, "\"uid\":\"uid-z\"") && !strstr(rz->body, "requests"),
                      "%s", rz->body);
        ck_assert_uint_eq(events_with(&r, "raising the memory limit 128Mi -> 160Mi"), 1);
        if (how == REFUSED) {
            fake_kapi_answer(rz, 403,
                             "{\"kind\":\"Status\",\"code\":403,\"message\":\"pod z: node didn't "
                             "have enough allocatable resources\"}");
        } else {
            fake_kapi_answer(rz, 200, "{}");
            /* the spec has it; the kubelet has not looked yet */
            char *spec = subst(p, "\"memory\":\"128Mi\"", "\"memory\":\"160Mi\"");
            char *upd = subst(spec, "\"status\":{",
                              "\"status\":{\"containerStatuses\":[{\"name\":\"app\","
                              "\"resources\":{\"limits\":{\"memory\":\"128Mi\"}}}],");
            rig_event(&r, "MODIFIED", upd);
            RUN_UNTIL(r.lp, false, 5);
            ck_assert_ptr_null(pod_patch(&r, "z")); /* the budget waits for the kubelet */
            char *done = how == RAN
                             ? subst(spec, "\"status\":{",
                                     "\"status\":{\"containerStatuses\":[{\"name\":\"app\","
                                     "\"resources\":{\"limits\":{\"memory\":\"160Mi\"}}}],")
                             : subst(upd, "\"conditions\":[",
                                     "\"conditions\":[{\"type\":\"PodResizePending\","
                                     "\"status\":\"True\",\"reason\":\"Deferred\","
                                     "\"message\":\"Node didn't have enough resource: memory\"},");
            rig_event(&r, "MODIFIED", done);
            mb_free(spec);
            mb_free(upd);
            mb_free(done);
            if (how == PENDING) {
                /* given up: withdrawn (the kubelet would run it once the node has room) */
                struct fk_req *wd = NULL;
                RUN_UNTIL(r.lp, (wd = fake_kapi_find(&r.api, "/pods/z/resize")), 100);
                ck_assert_ptr_nonnull(wd);
                ck_assert_msg(strstr(wd->body, "{\"limits\":{\"memory\":\"128Mi\"}}"), "%s",
                              wd->body);
                fake_kapi_answer(wd, 200, "{}");
            }
        }
        if (how == RAN) {
            struct fk_req *b = NULL;
            RUN_UNTIL(r.lp, (b = pod_patch(&r, "z")), 100);
            ck_assert_ptr_nonnull(b);
            ck_assert_str_eq(
                b->body,
                "{\"metadata\":{\"uid\":\"uid-z\",\"annotations\":{\"membudget.io/budget\":"
                "\"125Mi\"}}}");
            fake_kapi_answer(b, 200, "{}");
            RUN_UNTIL(r.lp, events_with(&r, "the memory limit is 160Mi now"), 100);
            ck_assert_uint_eq(
                events_with(&r, "the memory limit is 160Mi now, without a restart, the budget "
                                "125Mi (GOMEMLIMIT follows)"),
                1);
            ck_assert_uint_eq(evictions(&r, "z"), 0);
        } else {
            const char *why = how == REFUSED
                                  ? "resize refused (HTTP 403: pod z: node didn't have enough "
                                    "allocatable resources)"
                                  : "resize refused (the kubelet left it pending, deferred: Node "
                                    "didn't have enough resource: memory; withdrawn, the limit "
                                    "back to 128Mi)";
            RUN_UNTIL(r.lp, events_with(&r, why), 100);
            ck_assert_msg(events_with(&r, why) == 1, "how %d: no '%s'", how, why);
            /* the evict tier goes on as without the resize tier */
            const int high[] = {99};
            for (int k = 0; k < 60 && !evictions(&r, "z"); k++) {
                if ((gc = fake_kapi_find(&r.pods, "/gc")))
                    fake_kapi_answer(gc, 200,
                                     ""); /* (the last-chance GC, or one asked meanwhile) */
                TICKS(&r, 1, ips, high, false);
            }
            ck_assert_uint_eq(evictions(&r, "z"), 1);
            ck_assert_uint_eq(fake_kapi_count(&r.api, "PATCH", "/pods/z/resize"),
                              how == PENDING ? 2 : 1);
        }
        rig_stop(&r);
        mb_free(p);
    }
}
END_TEST

static size_t patches_with(struct rig *r, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < r->api.n; i++)
        n += !strcmp(r->api.v[i].method, "PATCH") && strstr(r->api.v[i].path, "/status") &&
             strstr(r->api.v[i].body, needle);
    return n;
}

/* Behaviour 1: dry run sets True on a gated pod and never False. */
START_TEST(test_gateq_dry_run_never_false)
{
    struct rig r;
    char *p = pod_json("d", "", 51, false, NULL, "", "");
    const char *pods[] = {p};
    rig_start(&r, pods, 1, true);
    RUN_UNTIL(r.lp, fake_kapi_find(&r.api, "/pods/d/status"), 200);
    ck_assert_uint_eq(patches_with(&r, "\"status\":\"True\""), 1);
    const int ips[] = {51}, pcts[] = {99};
    TICKS(&r, 20, ips, pcts, false);
    ck_assert_uint_eq(patches_with(&r, "\"status\":\"False\""), 0);
    ck_assert_uint_eq(evictions(&r, "d"), 0);
    ck_assert_uint_eq(patches_with(&r, "membudget.io/remediation"), 0); /* no record either */
    rig_stop(&r);
    mb_free(p);
}
END_TEST

/* Behaviour 7: a new leader finds a throttled pod and its record: no True
 * flip while usage holds, True once it recovers. */
START_TEST(test_failover_keeps_throttle)
{
    struct rig r;
    char *p = pod_json("t", "", 61, false, NULL, "False", "tier=throttle");
    const char *pods[] = {p};
    rig_start(&r, pods, 1, false);
    const int ips[] = {61}, high[] = {85}, low[] = {50};
    TICKS(&r, 10, ips, high, false);
    ck_assert_uint_eq(patches_with(&r, "\"status\":\"True\""), 0);
    TICKS(&r, 20, ips, low, patches_with(&r, "WithinBudget") > 0);
    RUN_UNTIL(r.lp, patches_with(&r, "WithinBudget") > 0, 50);
    ck_assert_uint_eq(patches_with(&r, "WithinBudget"), 1);
    ck_assert_uint_ge(patches_with(&r, "tier=normal"), 1);
    rig_stop(&r);
    mb_free(p);
}
END_TEST

/* After SIGTERM the controller finishes what is in flight and starts
 * nothing new (issue 26): fenced while a condition write is in flight, that
 * write completes; a new pod gets no write, a pod at 99% is neither
 * throttled nor collected nor evicted. (controller_fence only: the
 * controller's loop has not seen controller_stop yet.) */
START_TEST(test_fence_starts_no_write)
{
    struct rig r;
    char *x = pod_json("x", "", 71, false, NULL, "", ""),
         *y = pod_json("y", "", 72, false, NULL, "", "");
    const char *pods[] = {x};
    rig_start(&r, pods, 1, false);
    struct fk_req *w = NULL;
    RUN_UNTIL(r.lp, (w = fake_kapi_find(&r.api, "/pods/x/status")), 200);
    ck_assert_ptr_nonnull(w);
    controller_fence(r.ctl);
    ck_assert_uint_eq(controller_inflight(r.ctl), 1);
    fake_kapi_answer(w, 200, "{}");
    RUN_UNTIL(r.lp, controller_inflight(r.ctl) == 0, 50);
    ck_assert_uint_eq(controller_inflight(r.ctl), 0);
    rig_event(&r, "ADDED", y);
    const int ips[] = {71, 72}, pcts[] = {99, 99};
    TICKS(&r, 20, ips, pcts, false);
    ck_assert_uint_eq(patches_with(&r, ""), 1); /* x's, in flight at the fence */
    ck_assert_uint_eq(fake_kapi_count(&r.api, "PATCH", "/pods/y/status"), 0);
    ck_assert_uint_eq(evictions(&r, "x") + evictions(&r, "y"), 0);
    ck_assert_uint_eq(fake_kapi_count(&r.pods, "POST", ""), 0); /* no GC, no throttle call */
    rig_stop(&r);
    mb_free(x);
    mb_free(y);
}
END_TEST

/* A pod at an address membudget never calls: said once (a warn line, a
 * counter by reason) and never scraped; a second update of the same pod
 * does not count it again. */
START_TEST(test_refused_address_counted_once)
{
    struct rig r;
    char *z = pod_json("z", "", 1, false, NULL, "", ""),
         *ok = pod_json("ok", "", 81, false, NULL, "", "");
    /* the rig allows loopback: move z to 0.0.0.0 */
    char *at = strstr(z, "127.0.0.1\"");
    ck_assert_ptr_nonnull(at);
    char *zz = mb_xasprintf("%.*s0.0.0.0%s", (int)(at - z), z, at + strlen("127.0.0.1"));
    const char *pods[] = {zz, ok};
    rig_start(&r, pods, 2, false);
    struct mx_family *f = mx_lookup(r.mx, "membudget_pod_address_refused_total");
    ck_assert_ptr_nonnull(f);
    const char *l[] = {"unspecified"};
    ck_assert(mx_value(f, l) == 1);
    rig_event(&r, "MODIFIED", zz);
    const int ips[] = {81}, pcts[] = {50};
    TICKS(&r, 5, ips, pcts, false);
    ck_assert(mx_value(f, l) == 1);
    ck_assert_uint_eq(fake_kapi_count(&r.pods, "GET", "0.0.0.0"), 0);
    ck_assert_uint_gt(fake_kapi_count(&r.pods, "GET", "127.0.0.81"), 0);
    rig_stop(&r);
    mb_free(z);
    mb_free(zz);
    mb_free(ok);
}
END_TEST

/* No owner-wide action before the initial list is whole: a pod far past
 * its evict tier on the first page of the pod list is throttled and
 * sampled, but not evicted until the last page has come (the owner's other
 * pods may be on it). */
START_TEST(test_no_eviction_before_initial_list)
{
    struct rig r;
    char *a = pod_json("a", "web", 51, false, NULL, "False", "");
    const char *pods[] = {a};
    rig_first_page_continue = "page2";
    rig_start(&r, pods, 1, false);
    rig_first_page_continue = NULL;
    const int ips[] = {51}, pcts[] = {99};
    for (int k = 0; k < 30; k++) {
        fake_clock_advance(&r.fc, 1000);
        TICKS(&r, 1, ips, pcts, false);
    }
    ck_assert_uint_gt(fake_kapi_count(&r.pods, "GET", "127.0.0.51"), 0); /* sampled */
    ck_assert_uint_eq(evictions(&r, "a"), 0);
    struct fk_req *l = fake_kapi_find(&r.api, "continue=page2");
    ck_assert_ptr_nonnull(l);
    fake_kapi_answer(
        l, 200, "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\":\"11\"},\"items\":[]}");
    for (int k = 0; k < 30 && !evictions(&r, "a"); k++) {
        fake_clock_advance(&r.fc, 1000);
        TICKS(&r, 1, ips, pcts, false);
    }
    ck_assert_uint_eq(evictions(&r, "a"), 1);
    rig_stop(&r);
    mb_free(a);
}
END_TEST

/* Intent before action (issue 32's double GC): the API server dies just
 * before a gc-tier pod's next GC falls due, and the leader loses and
 * regains its Lease meanwhile. Before: GC #2 was forced, its record lost
 * with the outage, and the leader, resuming from the cluster's record
 * (GC #1), forced GC #3 13 s after #2. Now a GC is forced only once the
 * cluster's record holds it: while the record cannot be written there is
 * no GC, and no two GCs the pod sees are closer than gcMinInterval. */
START_TEST(test_gc_intent_survives_outage)
{
    struct rig r;
    char *p = pod_json("g", "", 71, true, ",\"membudget.io/gc\":\"6060/gc\"", "True", "");
    const char *pods[] = {p};
    rig_start(&r, pods, 1, false);
    r.apply = true;
    const int ips[] = {71}, pcts[] = {92};
    mb_mono_ms gcs[8];
    size_t ngc = 0;
    struct fk_req *gc;
    /* 200 s of 1 s ticks on the fake clock, the outage from the 50th to the
     * 80th second (every status patch fails), the Lease lost at the 60th
     * and regained at the 65th */
    for (int k = 0; k < 200; k++) {
        r.api_down = k >= 50 && k < 80;
        if (k == 60)
            controller_set_leader(r.ctl, false);
        if (k == 65)
            controller_set_leader(r.ctl, true);
        while ((gc = fake_kapi_find(&r.pods, "/gc"))) {
            ck_assert_uint_lt(ngc, MB_ARRAY_LEN(gcs));
            gcs[ngc++] = r.fc.mono;
            fake_kapi_answer(gc, 200, "");
        }
        fake_clock_advance(&r.fc, 1000);
        TICKS(&r, 1, ips, pcts, false);
    }
    ck_assert_uint_ge(ngc, 2);
    for (size_t i = 1; i < ngc; i++)
        ck_assert_msg(gcs[i] - gcs[i - 1] >= r.cfg.gc_min_interval_ms,
                      "GC %zu came %llu ms after the one before (gcMinInterval %llu)", i,
                      (unsigned long long)(gcs[i] - gcs[i - 1]),
                      (unsigned long long)r.cfg.gc_min_interval_ms);
    /* none while the record could not be written */
    for (size_t i = 0; i < ngc; i++)
        ck_assert_msg(gcs[i] < 5000000 + 50000 || gcs[i] >= 5000000 + 80000,
                      "a GC at %llu s, in the outage",
                      (unsigned long long)((gcs[i] - 5000000) / 1000));
    rig_stop(&r);
    mb_free(p);
}
END_TEST

/* F6: a new leader lists its recommendation checkpoints, and the API
 * server answers the same continue token again (before: a GET at once,
 * forever, 23 a second, and every sample dropped meanwhile). Held: the
 * repeat is an error; the list is asked again from its first page only
 * after a backoff (5 s on the clock, then 10 s); after three tries it is
 * given up; and samples count all along (the owner's gauge is set while
 * the checkpoints are still being read). */
START_TEST(test_checkpoint_list_repeating_token)
{
    struct rig r;
    char *p = pod_json("p", "web", 41, true, NULL, "True", "");
    const char *pods[] = {p};
    rig_own_ns = "membudget";
    rig_start(&r, pods, 1, false);
    rig_own_ns = NULL;
    static const char PAGE[] =
        "{\"kind\":\"ConfigMapList\",\"metadata\":{\"continue\":\"same\"},\"items\":[]}";
    struct fk_req *l = NULL;
    RUN_UNTIL(r.lp, (l = fake_kapi_find(&r.api, "configmaps?labelSelector")), 200);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_null(strstr(l->path, "continue="));
    fake_kapi_answer(l, 200, PAGE);
    RUN_UNTIL(r.lp, (l = fake_kapi_find(&r.api, "continue=same")), 200);
    ck_assert_ptr_nonnull(l);
    fake_kapi_answer(l, 200, PAGE); /* the same token again */
    /* samples count meanwhile */
    const int ips[] = {41}, pcts[] = {60};
    TICKS(&r, 5, ips, pcts, false);
    struct mx_family *f = mx_lookup(r.mx, "membudget_owner_budget_bytes");
    const char *lv[] = {"shop", "ReplicaSet/web"};
    ck_assert_msg(mx_value(f, lv) == 100.0 * 1048576, "the owner's budget gauge: %g",
                  mx_value(f, lv));
    /* no third list at once: only two so far */
    ck_assert_uint_eq(fake_kapi_count(&r.api, "GET", "configmaps?labelSelector"), 2);
    /* 5 s on: the list again, from its first page */
    fake_clock_advance(&r.fc, 5000);
    controller_tick(r.ctl); /* (the once-a-second work, on the fake clock) */
    RUN_UNTIL(r.lp, (l = fake_kapi_find(&r.api, "configmaps?labelSelector")), 50);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_null(strstr(l->path, "continue="));
    ck_assert_uint_eq(fake_kapi_count(&r.api, "GET", "configmaps?labelSelector"), 3);
    fake_kapi_answer(l, 500, "{}");
    /* the next try waits 10 s: not at 5 */
    fake_clock_advance(&r.fc, 5000);
    controller_tick(r.ctl);
    RUN_UNTIL(r.lp, false, 20);
    ck_assert_uint_eq(fake_kapi_count(&r.api, "GET", "configmaps?labelSelector"), 3);
    fake_clock_advance(&r.fc, 5000);
    controller_tick(r.ctl); /* (the once-a-second work, on the fake clock) */
    RUN_UNTIL(r.lp, (l = fake_kapi_find(&r.api, "configmaps?labelSelector")), 50);
    ck_assert_ptr_nonnull(l);
    fake_kapi_answer(l, 500, "{}"); /* the third failure: given up, no more lists */
    fake_clock_advance(&r.fc, 60000);
    controller_tick(r.ctl);
    RUN_UNTIL(r.lp, false, 20);
    ck_assert_uint_eq(fake_kapi_count(&r.api, "GET", "configmaps?labelSelector"), 4);
    rig_stop(&r);
    mb_free(p);
}
END_TEST

/* The gate queue's decision, as a table: what within-budget should be. */
static const struct {
    const char *phase;
    bool deleting, gated, throttled, dry;
    enum pc_cond cond, want;
    const char *have_record, *want_record; /* the pod's, ours ("" none) */
    bool needs;
} GQ[] = {
    {"Running", false, true, false, false, PC_COND_ABSENT, PC_COND_TRUE, "", "", true},
    {"Running", false, true, false, false, PC_COND_TRUE, PC_COND_TRUE, "", "", false},
    {"Running", false, true, true, false, PC_COND_TRUE, PC_COND_FALSE, "", "", true},
    {"Running", false, true, true, true, PC_COND_FALSE, PC_COND_TRUE, "", "",
     true}, /* dry: never False */
    {"Running", false, false, false, false, PC_COND_ABSENT, PC_COND_ABSENT, "", "", false},
    {"Running", false, false, true, false, PC_COND_ABSENT, PC_COND_FALSE, "", "", true},
    {"Pending", false, true, false, false, PC_COND_ABSENT, PC_COND_ABSENT, "", "", false},
    {"Running", true, true, true, false, PC_COND_TRUE, PC_COND_ABSENT, "", "tier=gc", false},
    {"Running", false, true, false, false, PC_COND_TRUE, PC_COND_TRUE, "tier=gc", "tier=gc", false},
    {"Running", false, true, false, false, PC_COND_TRUE, PC_COND_TRUE, "tier=gc",
     "tier=gc lastGC=2026-11-23T10:00:00.000Z", true},
};

START_TEST(test_gq_want)
{
    struct pc_shape sh = {.ns = "shop", .gated = GQ[_i].gated};
    /* name "p", uid "", podIP "", then the record (podcache.h's layout) */
    size_t rl = strlen(GQ[_i].have_record);
    struct pc_pod *p = mb_xcalloc(1, sizeof *p + 4 + rl + 1);
    *p = (struct pc_pod){.sh = &sh,
                         .phase = GQ[_i].phase,
                         .deleting = GQ[_i].deleting,
                         .cond = GQ[_i].cond,
                         .o_uid = 2,
                         .o_ip = 3,
                         .o_record = 4};
    memcpy(p->name, "p", 2);
    memcpy(p->name + 4, GQ[_i].have_record, rl + 1);
    struct gq_item it;
    gq_item_init(&it);
    it.pod = p;
    it.throttled = GQ[_i].throttled;
    gq_set(&it.record, GQ[_i].want_record);
    it.record_own = *GQ[_i].want_record != 0;
    ck_assert_int_eq(gq_want(&it, GQ[_i].dry), GQ[_i].want);
    ck_assert_msg(gq_needs(&it, GQ[_i].dry) == GQ[_i].needs, "row %d", _i);
    gq_item_cleanup(&it);
    mb_free(p);
}
END_TEST

/* These suites drive whole modules: their logs are not what is checked. */
static void quiet(void) { log_set_level(LOG_ERROR); }

static void loud(void) { log_set_level(LOG_INFO); }

Suite *seams_suite(void)
{
    Suite *s = suite_create("seams");
    TCase *tc = tcase_create("reflector");
    tcase_add_unchecked_fixture(tc, quiet, loud);
    tcase_add_test(tc, test_reflector_paces_410_and_short_watches);
    tcase_add_test(tc, test_reflector_list_errors_paced);
    tcase_add_test(tc, test_reflector_watch_list);
    tcase_add_test(tc, test_reflector_watch_list_refused);
    tcase_add_loop_test(tc, test_reflector_stream_end_named, 0, (int)MB_ARRAY_LEN(STREAM_ENDS));
    tcase_add_loop_test(tc, test_gq_want, 0, (int)MB_ARRAY_LEN(GQ));
    suite_add_tcase(s, tc);
    tc = tcase_create("controller");
    tcase_add_unchecked_fixture(tc, quiet, loud);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sampler_hung_pod_delays_only_itself);
    tcase_add_test(tc, test_executor_one_per_owner_until_settled);
    tcase_add_test(tc, test_executor_one_profile_across_pdb_retries);
    tcase_add_test(tc, test_executor_capture_bounded);
    tcase_add_test(tc, test_executor_resize);
    tcase_add_test(tc, test_gateq_dry_run_never_false);
    tcase_add_test(tc, test_failover_keeps_throttle);
    tcase_add_test(tc, test_fence_starts_no_write);
    tcase_add_test(tc, test_refused_address_counted_once);
    tcase_add_test(tc, test_checkpoint_list_repeating_token);
    tcase_add_test(tc, test_gc_intent_survives_outage);
    tcase_add_test(tc, test_no_eviction_before_initial_list);
    suite_add_tcase(s, tc);
    return s;
}
