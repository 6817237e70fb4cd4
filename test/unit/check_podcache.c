/* check_podcache.c -- the pod cache (events, relist diffs, what is kept,
 * the compact record) and the leader-election decisions, with plain data
 * and injected time. */
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "membudget/alloc.h"
#include "membudget/leader.h"
#include "membudget/lease.h"
#include "membudget/podcache.h"
#include "membudget/target.h"
#include "suites.h"

struct seen {
    char log[8192];
    int added, updated, deleted;
};

static void listener(void *ctx, enum pc_change ch, const struct pc_pod *old, struct pc_pod *cur)
{
    struct seen *s = ctx;
    const struct pc_pod *p = cur ? cur : old;
    size_t at = strlen(s->log);
    snprintf(s->log + at, sizeof s->log - at, "%c%s/%s ",
             ch == PC_ADDED     ? '+'
             : ch == PC_UPDATED ? '~'
                                : '-',
             p->sh->ns, p->name);
    if (ch == PC_ADDED)
        s->added++;
    else if (ch == PC_UPDATED)
        s->updated++;
    else
        s->deleted++;
}

/* shop is governed, kube-system excluded, the rest neither. */
static enum pc_scope scope_shop(void *ctx, const char *ns)
{
    (void)ctx;
    if (!strcmp(ns, "kube-system"))
        return PC_NS_EXCLUDED;
    return strcmp(ns, "shop") == 0 ? PC_NS_GOVERNED : PC_NS_OTHER;
}

/* A pod: budget NULL for none; gated adds the readiness gate. */
static json_t *pod(const char *ns, const char *name, const char *uid, const char *budget,
                   bool gated)
{
    json_t *p = json_pack(
        "{s:{s:s,s:s,s:s,s:s,s:{},s:[{s:s,s:s,s:s,s:b}]},"
        "s:{s:s,s:[{s:s,s:{s:{s:s}},s:[{s:s,s:i},{s:i,s:s},{s:i}]},{s:s}]},"
        "s:{s:s,s:s,s:[{s:s,s:s}]}}",
        "metadata", "namespace", ns, "name", name, "uid", uid, "resourceVersion", "5",
        "annotations", "ownerReferences", "kind", "ReplicaSet", "name", "web-7d9", "uid", "rs-1",
        "controller", 1, "spec", "nodeName", "node-1", "containers", "name", "app", "resources",
        "limits", "memory", "1Gi", "ports", "name", "metrics", "containerPort", 6060,
        "containerPort", 53, "protocol", "UDP", "containerPort", 8080, "name", "sidecar", "status",
        "phase", "Running", "podIP", "10.0.0.7", "conditions", "type", "Ready", "status", "True");
    json_t *ann = json_object_get(json_object_get(p, "metadata"), "annotations");
    if (budget)
        json_object_set_new(ann, "membudget.io/budget", json_string(budget));
    json_object_set_new(ann, "other.io/x", json_string("ignored"));
    if (gated)
        json_object_set_new(json_object_get(p, "spec"), "readinessGates",
                            json_pack("[{s:s}]", "conditionType", "membudget.io/within-budget"));
    return p;
}

START_TEST(test_pc_record_fields)
{
    struct seen s = {{0}, 0, 0, 0};
    struct podcache *c = pc_new(listener, NULL, &s, 0);
    json_t *p = pod("shop", "web-1", "u1", "768Mi", true);
    json_object_set_new(json_object_get(json_object_get(p, "metadata"), "annotations"),
                        "membudget.io/tiers", json_string("gc=90,evict=95"));
    ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, NULL), MB_OK);
    const struct pc_pod *r = pc_get(c, "shop", "web-1");
    ck_assert_ptr_nonnull(r);
    char ub[PC_UID_BUF];
    ck_assert_str_eq(pc_uid(r, ub), "u1");
    ck_assert_str_eq(r->sh->owner_kind, "ReplicaSet");
    ck_assert_str_eq(r->sh->owner_name, "web-7d9");
    ck_assert_str_eq(r->node, "node-1");
    ck_assert_str_eq(pc_ip(r), "10.0.0.7");
    ck_assert_str_eq(r->phase, "Running");
    ck_assert_str_eq(r->sh->container, "app");
    ck_assert_int_eq(r->sh->limit, 1073741824);
    ck_assert(r->ready && r->sh->gated && !r->deleting);
    ck_assert_int_eq(r->cond, PC_COND_ABSENT);
    ck_assert_str_eq(pc_ann(r, "budget"), "768Mi");
    ck_assert_str_eq(pc_ann(r, "tiers"), "gc=90,evict=95");
    ck_assert_ptr_null(pc_ann(r, "x"));
    /* TCP ports only: 6060 "metrics" and 8080 "" (53/UDP left out). */
    ck_assert_uint_eq(r->sh->nports, 2);
    ck_assert_uint_eq(r->sh->ports[0].port, 6060);
    ck_assert_str_eq(r->sh->ports[0].name, "metrics");
    ck_assert_uint_eq(r->sh->ports[1].port, 8080);
    ck_assert_str_eq(r->sh->ports[1].name, "");
    /* Small: one allocation, well under a kilobyte for a typical pod. */
    ck_assert_uint_lt(r->bytes, 600);
    json_t *j = pc_pod_json(r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "owner")), "ReplicaSet/web-7d9");
    json_decref(j);
    json_decref(p);
    pc_free(c);
}
END_TEST

/* The target container's restarts and last termination (the OOM ledger's
 * input), its env GOMEMLIMIT, and the workload it belongs to. */
START_TEST(test_pc_container_status_and_workload)
{
    static const struct {
        const char *status, *env, *hash, *owner_kind;
        uint32_t restarts;
        bool oom;
        int64_t term_at, gomemlimit;
        const char *wl_kind, *wl_name;
    } rows[] = {
        {"{\"containerStatuses\":[{\"name\":\"sidecar\",\"restartCount\":9},"
         "{\"name\":\"app\",\"restartCount\":2,\"lastState\":{\"terminated\":{"
         "\"reason\":\"OOMKilled\",\"exitCode\":137,\"finishedAt\":\"2026-11-23T10:00:00Z\"}}}]}",
         "805306368", "7d9", "ReplicaSet", 2, true, 1795428000000LL, 805306368, "Deployment",
         "web"},
        {"{\"containerStatuses\":[{\"name\":\"app\",\"restartCount\":1,\"lastState\":{"
         "\"terminated\":{\"reason\":\"Error\",\"exitCode\":2}}}]}",
         "768MiB", "other", "ReplicaSet", 1, false, 0, 805306368, "ReplicaSet", "web-7d9"},
        {"{}", "off", NULL, "StatefulSet", 0, false, 0, -1, "StatefulSet", "web-7d9"},
        {"{\"containerStatuses\":\"junk\"}", NULL, NULL, NULL, 0, false, 0, 0, "Pod", "web-1"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(rows); i++) {
        struct podcache *c = pc_new(NULL, NULL, NULL, 0);
        json_t *p = pod("shop", "web-1", "u1", "768Mi", true);
        json_t *md = json_object_get(p, "metadata"), *st = json_loads(rows[i].status, 0, NULL);
        ck_assert_ptr_nonnull(st);
        json_object_update(json_object_get(p, "status"), st);
        json_decref(st);
        json_t *ctr = json_array_get(json_object_get(json_object_get(p, "spec"), "containers"), 0);
        if (rows[i].env)
            json_object_set_new(
                ctr, "env", json_pack("[{s:s,s:s}]", "name", "GOMEMLIMIT", "value", rows[i].env));
        if (rows[i].hash)
            json_object_set_new(md, "labels",
                                json_pack("{s:s}", "pod-template-hash", rows[i].hash));
        if (rows[i].owner_kind)
            json_object_set_new(json_array_get(json_object_get(md, "ownerReferences"), 0), "kind",
                                json_string(rows[i].owner_kind));
        else
            json_object_del(md, "ownerReferences");
        ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, NULL), MB_OK);
        const struct pc_pod *r = pc_get(c, "shop", "web-1");
        ck_assert_uint_eq(r->restarts, rows[i].restarts);
        ck_assert_int_eq(r->last_oom, rows[i].oom);
        ck_assert_int_eq(r->last_term_at, rows[i].term_at);
        ck_assert_int_eq(r->sh->gomemlimit, rows[i].gomemlimit);
        if (rows[i].oom)
            ck_assert_int_eq(r->last_exit, 137);
        const char *kind;
        char name[64];
        pc_workload(r, &kind, name, sizeof name);
        ck_assert_str_eq(kind, rows[i].wl_kind);
        ck_assert_str_eq(name, rows[i].wl_name);
        json_decref(p);
        pc_free(c);
    }
}
END_TEST

/* Where a resize stands, from the pod's status (the kubelet's conditions,
 * the target's status resources against its spec), and the spec's request,
 * resizePolicy and sidecar-ness (what a resize patch needs). Measured on
 * the real kubelet (docs/design/resize-tier.md): accepted and not yet
 * looked at, the status limit lags the spec's. */
START_TEST(test_pc_resize_state)
{
    static const struct {
        const char *status, *conds;
        enum pc_resize want;
        const char *msg;
    } rows[] = {
        {"{\"name\":\"app\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}", "[]", PC_RZ_NONE,
         ""},
        {"{\"name\":\"app\"}", "[]", PC_RZ_NONE, ""}, /* no status resources: cannot tell */
        {"{\"name\":\"app\",\"resources\":{\"limits\":{\"memory\":\"768Mi\"}}}", "[]",
         PC_RZ_UNACTUATED, ""},
        {"{\"name\":\"app\",\"resources\":{\"limits\":{\"memory\":\"768Mi\"}}}",
         "[{\"type\":\"PodResizeInProgress\",\"status\":\"True\"}]", PC_RZ_IN_PROGRESS, ""},
        {"{\"name\":\"app\",\"resources\":{\"limits\":{\"memory\":\"768Mi\"}}}",
         "[{\"type\":\"PodResizePending\",\"status\":\"True\",\"reason\":\"Deferred\","
         "\"message\":\"Node didn't have enough resource: memory\"}]",
         PC_RZ_DEFERRED, "Node didn't have enough resource: memory"},
        {"{\"name\":\"app\",\"resources\":{\"limits\":{\"memory\":\"768Mi\"}}}",
         "[{\"type\":\"PodResizePending\",\"status\":\"True\",\"reason\":\"Infeasible\"},"
         "{\"type\":\"PodResizeInProgress\",\"status\":\"True\"}]",
         PC_RZ_INFEASIBLE, ""},
        {"{\"name\":\"app\",\"resources\":{\"limits\":{\"memory\":\"768Mi\"}}}",
         "[{\"type\":\"PodResizePending\",\"status\":\"True\",\"reason\":\"Later\"}]",
         PC_RZ_PENDING, ""},
        {"{\"name\":\"app\",\"resources\":{\"limits\":{\"memory\":\"1Gi\"}}}",
         "[{\"type\":\"PodResizePending\",\"status\":\"False\",\"reason\":\"Deferred\"}]",
         PC_RZ_NONE, ""},
        /* another container's status says nothing of the target's */
        {"{\"name\":\"sidecar\",\"resources\":{\"limits\":{\"memory\":\"64Mi\"}}}", "[]",
         PC_RZ_NONE, ""},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(rows); i++) {
        struct podcache *c = pc_new(NULL, NULL, NULL, 0);
        json_t *p = pod("shop", "web-1", "u1", "768Mi", true);
        json_t *st = json_object_get(p, "status");
        json_object_set_new(st, "containerStatuses",
                            json_pack("[o]", json_loads(rows[i].status, 0, NULL)));
        json_object_set_new(st, "conditions", json_loads(rows[i].conds, 0, NULL));
        ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, NULL), MB_OK);
        const struct pc_pod *r = pc_get(c, "shop", "web-1");
        ck_assert_msg(r->resize == rows[i].want, "row %zu: %s, want %s", i,
                      pc_resize_name(r->resize), pc_resize_name(rows[i].want));
        ck_assert_str_eq(pc_resize_msg(r), rows[i].msg);
        json_decref(p);
        pc_free(c);
    }
    /* The spec's side: request, resizePolicy, a native sidecar target. */
    struct podcache *c = pc_new(NULL, NULL, NULL, 0);
    json_t *p = pod("shop", "web-1", "u1", "768Mi", true);
    json_t *ctr = json_array_get(json_object_get(json_object_get(p, "spec"), "containers"), 0);
    json_object_set_new(json_object_get(ctr, "resources"), "requests",
                        json_pack("{s:s}", "memory", "512Mi"));
    json_object_set_new(ctr, "resizePolicy",
                        json_pack("[{s:s,s:s},{s:s,s:s}]", "resourceName", "cpu", "restartPolicy",
                                  "NotRequired", "resourceName", "memory", "restartPolicy",
                                  "RestartContainer"));
    ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, NULL), MB_OK);
    const struct pc_pod *r = pc_get(c, "shop", "web-1");
    ck_assert_int_eq(r->sh->request, 512 << 20);
    ck_assert(r->sh->rz_restart && !r->sh->sidecar);
    json_object_set_new(json_object_get(p, "metadata"), "name", json_string("web-2"));
    json_object_set_new(json_object_get(json_object_get(p, "metadata"), "annotations"),
                        "membudget.io/container", json_string("proxy"));
    json_object_set_new(json_object_get(p, "spec"), "initContainers",
                        json_pack("[{s:s,s:s}]", "name", "proxy", "restartPolicy", "Always"));
    ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, NULL), MB_OK);
    r = pc_get(c, "shop", "web-2");
    ck_assert_str_eq(r->sh->container, "proxy");
    ck_assert(r->sh->sidecar && !r->sh->rz_restart && r->sh->request == 0);
    json_decref(p);
    pc_free(c);
}
END_TEST

/* The controller resolves the target as the webhook does: a pinned name
 * behind an injected proxy, kubectl's default container, a native sidecar. */
START_TEST(test_pc_target_as_the_webhook)
{
    static const struct {
        const char *ann_key, *ann_val, *want;
        int64_t limit;
    } rows[] = {
        {"membudget.io/container", "app", "app", 1073741824},
        {"kubectl.kubernetes.io/default-container", "app", "app", 1073741824},
        {NULL, NULL, "istio-proxy", 268435456},
        {"membudget.io/container", "mesh", "mesh", 536870912},
        {"membudget.io/container", "setup", NULL, 0}, /* an init container: none */
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(rows); i++) {
        struct seen s = {{0}, 0, 0, 0};
        struct podcache *c = pc_new(listener, NULL, &s, 0);
        json_t *p = pod("shop", "web-1", "u1", "768Mi", true);
        json_t *spec = json_object_get(p, "spec");
        json_array_insert_new(json_object_get(spec, "containers"), 0,
                              json_pack("{s:s,s:{s:{s:s}}}", "name", "istio-proxy", "resources",
                                        "limits", "memory", "256Mi"));
        json_object_set_new(spec, "initContainers",
                            json_pack("[{s:s},{s:s,s:s,s:{s:{s:s}}}]", "name", "setup", "name",
                                      "mesh", "restartPolicy", "Always", "resources", "limits",
                                      "memory", "512Mi"));
        if (rows[i].ann_key)
            json_object_set_new(json_object_get(json_object_get(p, "metadata"), "annotations"),
                                rows[i].ann_key, json_string(rows[i].ann_val));
        ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, NULL), MB_OK);
        const struct pc_pod *r = pc_get(c, "shop", "web-1");
        ck_assert_ptr_nonnull(r);
        if (rows[i].want)
            ck_assert_str_eq(r->sh->container, rows[i].want);
        else
            ck_assert_msg(!r->sh->container || !*r->sh->container, "row %zu: %s", i,
                          r->sh->container);
        ck_assert_int_eq(r->sh->limit, rows[i].limit);
        json_decref(p);
        pc_free(c);
    }
}
END_TEST

START_TEST(test_pc_what_is_kept)
{
    struct seen s = {{0}, 0, 0, 0};
    struct podcache *c = pc_new(listener, scope_shop, &s, 0);
    json_t *a = pod("other", "plain", "u1", NULL, false);        /* not kept */
    json_t *b = pod("other", "budget", "u2", "1Gi", false);      /* kept: budget */
    json_t *g = pod("other", "gated", "u3", NULL, true);         /* kept: gate */
    json_t *n = pod("shop", "plain", "u4", NULL, false);         /* kept: governed namespace */
    json_t *xb = pod("kube-system", "dns", "u5", "100Mi", true); /* not kept: excluded */
    pc_apply(c, KOBJ_ADDED, a, NULL);
    pc_apply(c, KOBJ_ADDED, b, NULL);
    pc_apply(c, KOBJ_ADDED, g, NULL);
    pc_apply(c, KOBJ_ADDED, n, NULL);
    pc_apply(c, KOBJ_ADDED, xb, NULL);
    pc_relist_begin(c, "");
    pc_relist_item(c, xb, NULL);
    pc_relist_item(c, a, NULL);
    pc_relist_item(c, b, NULL);
    pc_relist_item(c, g, NULL);
    pc_relist_item(c, n, NULL);
    pc_relist_end(c);
    ck_assert_uint_eq(pc_count(c), 3);
    ck_assert_ptr_null(pc_get(c, "other", "plain"));
    ck_assert_ptr_null(pc_get(c, "kube-system", "dns"));
    json_decref(xb);
    /* The budget annotation removed: no longer kept, reported as deleted. */
    json_object_del(json_object_get(json_object_get(b, "metadata"), "annotations"),
                    "membudget.io/budget");
    pc_apply(c, KOBJ_MODIFIED, b, NULL);
    ck_assert_ptr_null(pc_get(c, "other", "budget"));
    ck_assert_int_eq(s.deleted, 1);
    /* Namespace no longer governed: its unbudgeted, ungated pods go. */
    pc_prune_namespace(c, "shop");
    ck_assert_ptr_null(pc_get(c, "shop", "plain"));
    ck_assert_uint_eq(pc_count(c), 1);
    json_decref(a);
    json_decref(b);
    json_decref(g);
    json_decref(n);
    pc_free(c);
}
END_TEST

START_TEST(test_pc_events_and_user_state)
{
    struct seen s = {{0}, 0, 0, 0};
    struct podcache *c = pc_new(listener, NULL, &s, 0);
    json_t *p = pod("a", "x", "u1", "1Gi", false);
    pc_apply(c, KOBJ_ADDED, p, NULL);
    pc_get_mut(c, "a", "x")->user = (void *)0x1234;
    json_object_set_new(json_object_get(p, "status"), "phase", json_string("Failed"));
    pc_apply(c, KOBJ_MODIFIED, p, NULL);
    ck_assert_str_eq(pc_get(c, "a", "x")->phase, "Failed");
    ck_assert_ptr_eq(pc_get(c, "a", "x")->user, (void *)0x1234); /* carried across updates */
    /* MODIFIED of an unknown pod is an add (a watch can start mid-life). */
    json_t *q = pod("a", "y", "u2", "1Gi", false);
    pc_apply(c, KOBJ_MODIFIED, q, NULL);
    pc_apply(c, KOBJ_DELETED, p, NULL);
    pc_apply(c, KOBJ_DELETED, p, NULL);  /* twice: harmless */
    pc_apply(c, KOBJ_BOOKMARK, p, NULL); /* ignored */
    ck_assert_str_eq(s.log, "+a/x ~a/x +a/y -a/x ");
    /* Malformed: no name. */
    json_t *bad = json_pack("{s:{}}", "metadata");
    struct mb_diag d = {0};
    ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, bad, &d), MB_EINVAL);
    ck_assert(strstr(d.msg, "metadata.name"));
    json_decref(bad);
    json_decref(p);
    json_decref(q);
    pc_free(c);
}
END_TEST

/* A relist after the watch was down: what vanished is deleted (synthesized),
 * what is new is added, and pods of other namespaces are left alone when
 * the relist is scoped. */
START_TEST(test_pc_relist_diff)
{
    struct seen s = {{0}, 0, 0, 0};
    struct podcache *c = pc_new(listener, NULL, &s, 0);
    char name[32], uid[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "p%d", i);
        snprintf(uid, sizeof uid, "u%d", i);
        json_t *p = pod("a", name, uid, "1Gi", false);
        pc_apply(c, KOBJ_ADDED, p, NULL);
        json_decref(p);
    }
    json_t *other = pod("b", "keep", "ub", "1Gi", false);
    pc_apply(c, KOBJ_ADDED, other, NULL);
    s.log[0] = '\0';
    pc_relist_begin(c, "a");
    for (int i = 3; i < 7; i++) { /* p0..p2 vanished, p5 and p6 are new */
        snprintf(name, sizeof name, "p%d", i);
        snprintf(uid, sizeof uid, "u%d", i);
        json_t *p = pod("a", name, uid, "1Gi", false);
        pc_relist_item(c, p, NULL);
        json_decref(p);
    }
    ck_assert_uint_eq(pc_relist_end(c), 3);
    ck_assert_uint_eq(pc_count(c), 5);
    ck_assert_ptr_nonnull(pc_get(c, "b", "keep"));
    ck_assert_ptr_null(pc_get(c, "a", "p0"));
    ck_assert_ptr_nonnull(pc_get(c, "a", "p6"));
    /* A cluster-wide relist that lists nothing empties everything. */
    pc_relist_begin(c, "");
    ck_assert_uint_eq(pc_relist_end(c), 5);
    ck_assert_uint_eq(pc_count(c), 0);
    json_decref(other);
    pc_free(c);
}
END_TEST

/* Many pods: growth, tombstones and iteration stay consistent. */
START_TEST(test_pc_many)
{
    struct podcache *c = pc_new(NULL, NULL, NULL, 0);
    char name[32];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3000; i++) {
            snprintf(name, sizeof name, "p%d", i);
            json_t *p = pod("ns", name, name, "1Gi", false);
            pc_apply(c, i % 3 == round ? KOBJ_DELETED : KOBJ_ADDED, p, NULL);
            json_decref(p);
        }
    }
    size_t pos = 0, n = 0;
    while (pc_next(c, &pos))
        n++;
    ck_assert_uint_eq(n, pc_count(c));
    ck_assert_uint_eq(n, 2000); /* the last round deleted every i % 3 == 2 */
    /* every record is counted, and what the pods share is not paid per pod */
    ck_assert_uint_gt(pc_bytes(c), 2000 * sizeof(struct pc_pod));
    ck_assert_uint_lt(pc_bytes(c), 2000 * 300);
    pc_free(c);
}
END_TEST

/* A uid in the API server's form (a UUID) is kept as its 16 bytes and reads
 * back the same; any other uid is kept as it came; a new uid under the same
 * name is a different pod either way. */
START_TEST(test_pc_uid_kept_as_bytes)
{
    static const struct {
        const char *uid;
        bool bytes;
    } rows[] = {
        {"0d719bee-d783-4e58-9054-a476d8dca657", true},
        {"00000000-0000-0000-0000-000000000000", true},
        {"ffffffff-ffff-ffff-ffff-ffffffffffff", true},
        {"0D719BEE-D783-4E58-9054-A476D8DCA657", false},  /* not as the API server writes it */
        {"0d719bee-d783-4e58-9054-a476d8dca65", false},   /* short */
        {"0d719bee-d783-4e58-9054-a476d8dca6577", false}, /* long */
        {"0d719bee+d783-4e58-9054-a476d8dca657", false},
        {"0d719bee-d783-4e58-9054-a476d8dca65g", false},
        {"uid-1", false},
        {"", false},
    };
    struct podcache *c = pc_new(NULL, NULL, NULL, 0);
    size_t text_bytes = 0;
    for (size_t i = 0; i < MB_ARRAY_LEN(rows); i++) {
        json_t *p = pod("ns", "p", rows[i].uid, "1Gi", false);
        ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, NULL), MB_OK);
        const struct pc_pod *r = pc_get(c, "ns", "p");
        char ub[PC_UID_BUF];
        ck_assert_msg(r->uid_bin == rows[i].bytes, "row %zu (%s)", i, rows[i].uid);
        ck_assert_str_eq(pc_uid(r, ub), rows[i].uid);
        ck_assert(pc_uid_eq(r, r));
        if (i == 0)
            text_bytes = pc_bytes(c);
        ck_assert_int_eq(pc_apply(c, KOBJ_DELETED, p, NULL), MB_OK);
        json_decref(p);
    }
    /* the same pod with its uid as text costs 20 bytes more */
    json_t *t = pod("ns", "p", "uid-of-thirty-six-characters-exactly", "1Gi", false);
    ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, t, NULL), MB_OK);
    ck_assert_uint_eq(pc_bytes(c), text_bytes + 20);
    /* a pod replaced under its name (a new uid) is not the same pod */
    const struct pc_pod *a = pc_get(c, "ns", "p");
    json_t *u = pod("ns", "q", "0d719bee-d783-4e58-9054-a476d8dca657", "1Gi", false);
    json_t *v = pod("ns", "r", "0d719bee-d783-4e58-9054-a476d8dca658", "1Gi", false);
    json_t *w = pod("ns", "s", "0d719bee-d783-4e58-9054-a476d8dca657", "1Gi", false);
    pc_apply(c, KOBJ_ADDED, u, NULL);
    pc_apply(c, KOBJ_ADDED, v, NULL);
    pc_apply(c, KOBJ_ADDED, w, NULL);
    ck_assert(!pc_uid_eq(pc_get(c, "ns", "q"), pc_get(c, "ns", "r")));
    ck_assert(pc_uid_eq(pc_get(c, "ns", "q"), pc_get(c, "ns", "s")));
    ck_assert(!pc_uid_eq(a, pc_get(c, "ns", "q")));
    json_decref(t);
    json_decref(u);
    json_decref(v);
    json_decref(w);
    pc_free(c);
}
END_TEST

/* Many shapes and node names: the interning tables grow past their first
 * buckets (64) and every pod still points at its own; all go with the pods
 * (pc_free asserts no shape is left; valgrind and ASan check the rest). */
START_TEST(test_pc_interning_grows)
{
    struct podcache *c = pc_new(NULL, NULL, NULL, 8);
    char ns[32], node[32];
    for (int i = 0; i < 300; i++) {
        snprintf(ns, sizeof ns, "ns-%d", i);
        snprintf(node, sizeof node, "node-%d", i);
        json_t *p = pod(ns, "p", ns, "1Gi", true);
        json_object_set_new(json_object_get(p, "spec"), "nodeName", json_string(node));
        ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, NULL), MB_OK);
        json_decref(p);
    }
    ck_assert_uint_eq(pc_count(c), 300);
    for (int i = 0; i < 300; i += 7) {
        snprintf(ns, sizeof ns, "ns-%d", i);
        snprintf(node, sizeof node, "node-%d", i);
        const struct pc_pod *p = pc_get(c, ns, "p");
        ck_assert_ptr_nonnull(p);
        ck_assert_str_eq(p->sh->ns, ns);
        ck_assert_str_eq(p->node, node);
        char ub[PC_UID_BUF];
        ck_assert_str_eq(pc_uid(p, ub), ns);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(ns, sizeof ns, "ns-%d", i);
        json_t *p = pod(ns, "p", ns, "1Gi", true);
        ck_assert_int_eq(pc_apply(c, KOBJ_DELETED, p, NULL), MB_OK);
        json_decref(p);
    }
    ck_assert_uint_eq(pc_count(c), 0);
    pc_free(c);
}
END_TEST

/* A record's own strings are bounded (its offsets are 16 bits): a pod
 * whose remediation record is absurdly long is refused, by name, and the
 * cache stays as it was. */
START_TEST(test_pc_strings_bounded)
{
    struct podcache *c = pc_new(NULL, NULL, NULL, 0);
    json_t *p = pod("ns", "huge", "u1", "1Gi", true);
    char *msg = mb_xmalloc(9001);
    memset(msg, 'x', 9000);
    msg[9000] = '\0';
    json_array_append_new(json_object_get(json_object_get(p, "status"), "conditions"),
                          json_pack("{s:s,s:s,s:s}", "type", "membudget.io/remediation", "status",
                                    "True", "message", msg));
    struct mb_diag d = {0};
    ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, p, &d), MB_EINVAL);
    ck_assert_msg(strstr(d.msg, "pod huge") && strstr(d.msg, "over 8192"), "%s", d.msg);
    ck_assert_uint_eq(pc_count(c), 0);
    mb_free(msg);
    json_decref(p);
    pc_free(c);
}
END_TEST

/* Pods of one template share one shape (and one copy of node, phase and
 * reason); a pod whose template differs in anything the shape holds gets
 * its own; shapes and strings go with their last pod (pc_free asserts no
 * shape is left, and the sanitizers see no leak). */
START_TEST(test_pc_shapes_shared)
{
    struct podcache *c = pc_new(NULL, NULL, NULL, 16);
    json_t *a = pod("ns", "a", "ua", "1Gi", true), *b = pod("ns", "b", "ub", "1Gi", true);
    json_t *d = pod("ns", "d", "ud", "2Gi", true), *e = pod("other", "e", "ue", "1Gi", true);
    json_t *f = pod("ns", "f", "uf", "1Gi", true);
    json_object_set_new(json_object_get(f, "spec"), "hostNetwork", json_true());
    json_t *all[] = {a, b, d, e, f};
    for (size_t i = 0; i < MB_ARRAY_LEN(all); i++)
        ck_assert_int_eq(pc_apply(c, KOBJ_ADDED, all[i], NULL), MB_OK);
    const struct pc_pod *pa = pc_get(c, "ns", "a"), *pb = pc_get(c, "ns", "b");
    const struct pc_pod *pd = pc_get(c, "ns", "d"), *pe = pc_get(c, "other", "e");
    const struct pc_pod *pf = pc_get(c, "ns", "f");
    ck_assert_ptr_eq(pa->sh, pb->sh);
    ck_assert_ptr_eq(pa->node, pb->node);
    ck_assert_ptr_eq(pa->phase, pb->phase);
    ck_assert_ptr_ne(pa->sh, pd->sh); /* the budget annotation differs */
    ck_assert_ptr_ne(pa->sh, pe->sh); /* the namespace */
    ck_assert_ptr_ne(pa->sh, pf->sh); /* hostNetwork */
    ck_assert_str_eq(pe->sh->ns, "other");
    ck_assert_str_eq(pc_ann(pd, "budget"), "2Gi");
    /* the listener's per-shape bytes: zeroed, aligned, its own */
    for (size_t i = 0; i < 16; i++)
        ck_assert_uint_eq(pa->sh->user[i], 0);
    ck_assert_uint_eq((uintptr_t)pa->sh->user % 8, 0);
    /* an update that keeps the shape keeps the pointer */
    json_object_set_new(json_object_get(a, "status"), "podIP", json_string("10.0.0.9"));
    const struct pc_shape *before = pa->sh;
    ck_assert_int_eq(pc_apply(c, KOBJ_MODIFIED, a, NULL), MB_OK);
    pa = pc_get(c, "ns", "a");
    ck_assert_ptr_eq(pa->sh, before);
    ck_assert_str_eq(pc_ip(pa), "10.0.0.9");
    for (size_t i = 0; i < MB_ARRAY_LEN(all); i++) {
        ck_assert_int_eq(pc_apply(c, KOBJ_DELETED, all[i], NULL), MB_OK);
        json_decref(all[i]);
    }
    ck_assert_uint_eq(pc_count(c), 0);
    pc_free(c);
}
END_TEST

/* --- pod endpoint URLs (the SSRF guard) ------------------------------------------ */

static const struct {
    const char *ann;  /* membudget.io/metrics value, NULL: none */
    const char *ip;   /* status.podIP */
    const char *want; /* URL, or a substring of the reason */
    bool ok;
} URLS[] = {
    {"6060/metrics", "10.0.0.7", "http://10.0.0.7:6060/metrics", true},
    {"metrics/debug/vars", "10.0.0.7", "http://10.0.0.7:6060/debug/vars", true},
    {"8080/metrics", "fd00::7", "http://[fd00::7]:8080/metrics", true},
    {"9090/metrics", "10.0.0.7", "port 9090 is not a TCP port", false}, /* undeclared */
    {"53/metrics", "10.0.0.7", "not a TCP port", false},                /* UDP */
    {"admin/metrics", "10.0.0.7", "port admin is not", false},          /* unknown name */
    {"6060/metrics", "", "no IP", false},
    {"6060/metrics", "evil.example.com", "not an IP address", false},
    {"6060/metrics", "10.0.0.7/32", "not an IP address", false},
    {"http://evil/x", "10.0.0.7", "", false}, /* not PORT/PATH */
    {"6060@evil.com/x", "10.0.0.7", "", false},
    {NULL, "10.0.0.7", "no membudget.io/metrics annotation", false},
    /* The address guard: classes no pod should have. */
    {"6060/metrics", "0.0.0.0", "unspecified (0.0.0.0/8)", false},
    {"6060/metrics", "::", "unspecified (::)", false},
    {"6060/metrics", "127.0.0.3", "loopback (127.0.0.0/8) (usage.allowLoopback is false)", false},
    {"6060/metrics", "::1", "loopback (::1)", false},
    {"6060/metrics", "::ffff:127.0.0.3", "IPv4-mapped IPv6", false},
    {"6060/metrics", "::ffff:7f00:3", "IPv4-mapped IPv6", false},
    {"6060/metrics", "::127.0.0.3", "IPv4-compatible IPv6", false},
    {"6060/metrics", "169.254.169.254", "link-local (169.254.0.0/16)", false},
    {"6060/metrics", "fe80::1", "link-local (fe80::/10)", false},
    {"6060/metrics", "224.0.0.1", "multicast", false},
    {"6060/metrics", "ff02::1", "multicast", false},
    {"6060/metrics", "255.255.255.255", "reserved or broadcast", false},
    {"6060/metrics", "127.1", "not an IP address", false},
    {"6060/metrics", "fe80::1%eth0", "not an IP address", false},
    {"6060/metrics", "FD00:0:0::7", "http://[fd00::7]:6060/metrics",
     true}, /* written canonically */
};

START_TEST(test_tgt_url)
{
    json_t *p = pod("shop", "web", "u", "1Gi", false);
    json_t *md = json_object_get(p, "metadata");
    if (URLS[_i].ann)
        json_object_set_new(json_object_get(md, "annotations"), "membudget.io/metrics",
                            json_string(URLS[_i].ann));
    json_object_set_new(json_object_get(p, "status"), "podIP", json_string(URLS[_i].ip));
    struct podcache *c = pc_new(NULL, NULL, NULL, 0);
    pc_apply(c, KOBJ_ADDED, p, NULL);
    char url[256] = "", why[256] = "";
    struct tgt_policy pol = {0};
    bool ok = tgt_url(pc_get(c, "shop", "web"), "metrics", &pol, url, sizeof url, why, sizeof why);
    ck_assert_msg(ok == URLS[_i].ok, "row %d: %s %s", _i, url, why);
    if (ok)
        ck_assert_str_eq(url, URLS[_i].want);
    else
        ck_assert_msg(strstr(why, URLS[_i].want) && why[0], "row %d: %s", _i, why);
    pc_free(c);
    json_decref(p);
}
END_TEST

/* The goroutine dump: its own annotation, else the profile's port. */
START_TEST(test_tgt_goroutines_default)
{
    static const struct {
        const char *profile, *goroutines, *want;
    } rows[] = {
        {"6060/debug/pprof/heap", NULL, "http://10.0.0.7:6060/debug/pprof/goroutine?debug=2"},
        {"metrics/debug/pprof/heap", NULL, "http://10.0.0.7:6060/debug/pprof/goroutine?debug=2"},
        {"6060/debug/pprof/heap", "8080/stacks", "http://10.0.0.7:8080/stacks"},
        {NULL, NULL, NULL},
        {"9999/heap", NULL, NULL}, /* the profile's port is not declared */
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(rows); i++) {
        json_t *p = pod("shop", "web", "u", "1Gi", false);
        json_t *ann = json_object_get(json_object_get(p, "metadata"), "annotations");
        if (rows[i].profile)
            json_object_set_new(ann, "membudget.io/profile", json_string(rows[i].profile));
        if (rows[i].goroutines)
            json_object_set_new(ann, "membudget.io/goroutines", json_string(rows[i].goroutines));
        struct podcache *c = pc_new(NULL, NULL, NULL, 0);
        pc_apply(c, KOBJ_ADDED, p, NULL);
        char url[256] = "", why[256] = "";
        struct tgt_policy pol = {0};
        bool ok =
            tgt_url(pc_get(c, "shop", "web"), "goroutines", &pol, url, sizeof url, why, sizeof why);
        ck_assert_msg(ok == (rows[i].want != NULL), "row %zu: %s", i, why);
        if (ok)
            ck_assert_str_eq(url, rows[i].want);
        pc_free(c);
        json_decref(p);
    }
}
END_TEST

/* The two switches: loopback (single-machine setups) and hostNetwork. No
 * switch lifts the other classes. */
START_TEST(test_tgt_policy)
{
    json_t *p = pod("shop", "web", "u", "1Gi", false);
    json_t *md = json_object_get(p, "metadata");
    json_object_set_new(json_object_get(md, "annotations"), "membudget.io/metrics",
                        json_string("6060/metrics"));
    json_object_set_new(json_object_get(p, "status"), "podIP", json_string("127.0.0.3"));
    struct podcache *c = pc_new(NULL, NULL, NULL, 0);
    pc_apply(c, KOBJ_ADDED, p, NULL);
    char url[256], why[256];
    struct tgt_policy lo = {.allow_loopback = true}, host = {.allow_host_network = true};
    ck_assert(tgt_url(pc_get(c, "shop", "web"), "metrics", &lo, url, sizeof url, why, sizeof why));
    ck_assert_str_eq(url, "http://127.0.0.3:6060/metrics");
    json_object_set_new(json_object_get(p, "status"), "podIP", json_string("::ffff:127.0.0.3"));
    pc_apply(c, KOBJ_MODIFIED, p, NULL);
    ck_assert(!tgt_url(pc_get(c, "shop", "web"), "metrics", &lo, url, sizeof url, why, sizeof why));
    json_object_set_new(json_object_get(p, "status"), "podIP", json_string("10.1.2.3"));
    json_object_set_new(json_object_get(p, "spec"), "hostNetwork", json_true());
    pc_apply(c, KOBJ_MODIFIED, p, NULL);
    ck_assert(!tgt_url(pc_get(c, "shop", "web"), "metrics", &lo, url, sizeof url, why, sizeof why));
    ck_assert_msg(strstr(why, "hostNetwork"), "%s", why);
    ck_assert(
        tgt_url(pc_get(c, "shop", "web"), "metrics", &host, url, sizeof url, why, sizeof why));
    pc_free(c);
    json_decref(p);
}
END_TEST

/* Refused addresses, with the label a metric counts them by; the loopback
 * switch lifts only loopback; no IP yet is not a refusal. */
START_TEST(test_tgt_address_refusal)
{
    static const struct {
        const char *ip;
        bool host, allow_lo;
        const char *want; /* NULL: may be called */
    } rows[] = {
        {"10.1.2.3", false, false, NULL},
        {"", false, false, NULL},
        {"0.0.0.0", false, false, "unspecified"},
        {"::", false, false, "unspecified"},
        {"127.0.0.1", false, false, "loopback"},
        {"127.0.0.1", false, true, NULL},
        {"::1", false, false, "loopback"},
        {"::ffff:10.0.0.1", false, true, "ipv4-mapped"},
        {"::10.0.0.1", false, false, "ipv4-compatible"},
        {"169.254.169.254", false, false, "link-local"},
        {"fe80::1", false, false, "link-local"},
        {"224.0.0.1", false, false, "multicast"},
        {"ff02::1", false, false, "multicast"},
        {"255.255.255.255", false, false, "reserved"},
        {"10.1.2.3", true, false, "host-network"},
        {"10.1.2", false, false, "not-an-ip"},
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(rows); i++) {
        json_t *p = pod("shop", "web", "u", "1Gi", false);
        json_object_set_new(json_object_get(p, "status"), "podIP", json_string(rows[i].ip));
        if (rows[i].host)
            json_object_set_new(json_object_get(p, "spec"), "hostNetwork", json_true());
        struct podcache *c = pc_new(NULL, NULL, NULL, 0);
        pc_apply(c, KOBJ_ADDED, p, NULL);
        char why[256] = "";
        struct tgt_policy pol = {.allow_loopback = rows[i].allow_lo};
        const char *got = tgt_address_refusal(pc_get(c, "shop", "web"), &pol, why, sizeof why);
        ck_assert_msg(rows[i].want ? got && !strcmp(got, rows[i].want) : !got,
                      "row %zu (%s): %s %s", i, rows[i].ip, got ? got : "NULL", why);
        if (got)
            ck_assert_msg(strstr(why, rows[i].host ? "hostNetwork" : rows[i].ip), "row %zu: %s", i,
                          why);
        pc_free(c);
        json_decref(p);
    }
}
END_TEST

/* --- leader election ------------------------------------------------------------ */

static const struct lease_conf LC = {"me", 15000, 10000};

static struct lease_rec rec(const char *holder, unsigned dur, const char *renew, const char *rv)
{
    struct lease_rec r = {0};
    r.exists = true;
    snprintf(r.holder, sizeof r.holder, "%s", holder);
    r.duration_s = dur;
    snprintf(r.renew, sizeof r.renew, "%s", renew);
    snprintf(r.rv, sizeof r.rv, "%s", rv);
    r.transitions = 3;
    return r;
}

START_TEST(test_lease_create_when_absent)
{
    struct lease_state s;
    struct lease_rec none = {0}, want;
    lease_init(&s);
    ck_assert(!lease_decide(&s, &LC, 0, 0, &want)); /* nothing observed yet */
    lease_observe(&s, &none, 1000);
    ck_assert(lease_decide(&s, &LC, 1000, 1700000000000, &want));
    ck_assert(!want.exists); /* create */
    ck_assert_str_eq(want.holder, "me");
    ck_assert_uint_eq(want.duration_s, 15);
    ck_assert_uint_eq(want.transitions, 0);
    ck_assert_str_eq(want.renew, "2023-11-14T22:13:20.000000Z");
    ck_assert(lease_written(&s, true, &want, 1000));
}
END_TEST

START_TEST(test_lease_other_holder_expires_by_local_clock)
{
    struct lease_state s;
    struct lease_rec want;
    struct lease_rec r = rec("other", 15, "2020-01-01T00:00:00.000000Z", "10");
    lease_init(&s);
    /* The other's renewTime is years old by our wall clock: irrelevant. Only
     * how long we have seen the record unchanged counts. */
    lease_observe(&s, &r, 5000);
    ck_assert(!lease_decide(&s, &LC, 5000, 1700000000000, &want));
    lease_observe(&s, &r, 19999);
    ck_assert(!lease_decide(&s, &LC, 19999, 0, &want));
    /* It renewed: the clock restarts. */
    struct lease_rec r2 = rec("other", 15, "2020-01-01T00:00:02.000000Z", "11");
    lease_observe(&s, &r2, 19999);
    ck_assert(!lease_decide(&s, &LC, 34998, 0, &want));
    ck_assert(lease_decide(&s, &LC, 34999, 0, &want));
    ck_assert(want.exists);
    ck_assert_str_eq(want.holder, "me");
    ck_assert_str_eq(want.rv, "11"); /* update, conditional on the version seen */
    ck_assert_uint_eq(want.transitions, 4);
}
END_TEST

/* A leader restarted in place (a container's process is PID 1 each time):
 * its new identity is not its old one, so the Lease it held is another
 * holder's, and it waits the lease out like any successor (before: the
 * identity was hostname_pid, the same, and it took the Lease back at once). */
START_TEST(test_lease_restart_in_place_waits)
{
    char first[300], second[300], host[256] = "membudget";
    leader_default_identity(first, sizeof first);
    leader_default_identity(second, sizeof second);
    gethostname(host, sizeof host - 1);
    ck_assert_str_ne(first, second);
    ck_assert_msg(!strncmp(first, host, strlen(host)) && first[strlen(host)] == '_' &&
                      strlen(first) == strlen(host) + 17,
                  "%s", first);
    struct lease_conf lc = LC;
    lc.identity = second;
    struct lease_state s;
    struct lease_rec want, held = rec(first, 15, "2026-12-07T00:00:00.000000Z", "20");
    lease_init(&s);
    lease_observe(&s, &held, 1000);
    ck_assert(!lease_decide(&s, &lc, 1000, 0, &want)); /* not at once */
    ck_assert(!lease_decide(&s, &lc, 15999, 0, &want));
    ck_assert(lease_decide(&s, &lc, 16000, 0, &want)); /* the lease out: taken over */
    ck_assert_str_eq(want.holder, second);
}
END_TEST

START_TEST(test_lease_renew_and_deadline)
{
    struct lease_state s;
    struct lease_rec want, mine = rec("me", 15, "x", "20");
    snprintf(mine.acquire, sizeof mine.acquire, "acq");
    lease_init(&s);
    lease_observe(&s, &mine, 100);
    ck_assert(lease_decide(&s, &LC, 100, 0, &want)); /* ours: renew at once */
    ck_assert_str_eq(want.acquire, "acq");           /* acquire time kept */
    ck_assert_uint_eq(want.transitions, 3);          /* no new transition */
    ck_assert(lease_written(&s, true, &want, 100));
    /* Renewals fail: still leader until the renew deadline, then not. */
    ck_assert(lease_written(&s, false, NULL, 5000));
    ck_assert(lease_still_leader(&s, &LC, 10100));
    ck_assert(!lease_still_leader(&s, &LC, 10101));
    /* Released lease (holder ""): anyone may take it at once. */
    struct lease_state t;
    struct lease_rec rel;
    lease_init(&t);
    lease_release_rec(&s, 0, &rel);
    ck_assert_str_eq(rel.holder, "");
    ck_assert_uint_eq(rel.duration_s, 1);
    lease_observe(&t, &rel, 50);
    ck_assert(lease_decide(&t, &LC, 50, 0, &want));
}
END_TEST

START_TEST(test_lease_json)
{
    struct lease_rec r = rec("me", 15, "2026-01-01T00:00:00.000000Z", "42"), back;
    json_t *j = lease_to_json(&r, "kube-system", "membudget");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "metadata"), "name")),
                     "membudget");
    ck_assert_int_eq(lease_from_json(j, &back), MB_OK);
    ck_assert_str_eq(back.holder, "me");
    ck_assert_uint_eq(back.duration_s, 15);
    ck_assert_str_eq(back.rv, "42");
    ck_assert_uint_eq(back.transitions, 3);
    json_decref(j);
    json_t *notlease = json_pack("{s:s,s:{}}", "kind", "Pod", "metadata");
    ck_assert_int_eq(lease_from_json(notlease, &back), MB_EPARSE);
    json_decref(notlease);
}
END_TEST

Suite *pc_suite(void)
{
    Suite *s = suite_create("podcache");
    TCase *tc = tcase_create("cache");
    tcase_add_test(tc, test_pc_record_fields);
    tcase_add_test(tc, test_pc_shapes_shared);
    tcase_add_test(tc, test_pc_strings_bounded);
    tcase_add_test(tc, test_pc_interning_grows);
    tcase_add_test(tc, test_pc_what_is_kept);
    tcase_add_test(tc, test_pc_target_as_the_webhook);
    tcase_add_test(tc, test_pc_container_status_and_workload);
    tcase_add_test(tc, test_pc_resize_state);
    tcase_add_test(tc, test_pc_events_and_user_state);
    tcase_add_test(tc, test_pc_relist_diff);
    tcase_add_test(tc, test_pc_many);
    tcase_add_test(tc, test_pc_uid_kept_as_bytes);
    suite_add_tcase(s, tc);
    tc = tcase_create("target");
    tcase_add_loop_test(tc, test_tgt_url, 0, (int)MB_ARRAY_LEN(URLS));
    tcase_add_test(tc, test_tgt_policy);
    tcase_add_test(tc, test_tgt_address_refusal);
    tcase_add_test(tc, test_tgt_goroutines_default);
    suite_add_tcase(s, tc);
    tc = tcase_create("lease");
    tcase_add_test(tc, test_lease_create_when_absent);
    tcase_add_test(tc, test_lease_other_holder_expires_by_local_clock);
    tcase_add_test(tc, test_lease_renew_and_deadline);
    tcase_add_test(tc, test_lease_restart_in_place_waits);
    tcase_add_test(tc, test_lease_json);
    suite_add_tcase(s, tc);
    return s;
}
