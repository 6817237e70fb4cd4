/*
 * policy.c -- the admission policy (pure; see policy.h): one object in,
 * its violations, warnings and mutations out. policy_eval() runs the
 * numbered rules below ("the rules") on the object, and on an UPDATE
 * first on the old object, so that only what an update makes worse is
 * refused. The webhook (review.c) and `membudget lint` call it;
 * celpolicy.c has the same rules in CEL for the API server.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/jpatch.h"
#include "membudget/kobj.h"
#include "membudget/policy.h"
#include "membudget/quantity.h"

void policy_conf_defaults(struct policy_conf *c)
{
    *c = (struct policy_conf){
        .require_budget = true,
        .default_budget_pct = 0,
        .inject_gomemlimit = true,
        .inject_readiness_gate = true,
        .default_tiers = {80, 90, 95},
    };
}

static const struct {
    const char *group, *kind;
    enum policy_kind k;
} KINDS[] = {
    {"", "Pod", POLICY_KIND_POD},
    {"apps", "Deployment", POLICY_KIND_DEPLOYMENT},
    {"apps", "StatefulSet", POLICY_KIND_STATEFULSET},
    {"apps", "DaemonSet", POLICY_KIND_DAEMONSET},
    {"apps", "ReplicaSet", POLICY_KIND_REPLICASET},
    {"batch", "Job", POLICY_KIND_JOB},
    {"batch", "CronJob", POLICY_KIND_CRONJOB},
    {"", "ReplicationController", POLICY_KIND_REPLICATIONCONTROLLER},
};

enum policy_kind policy_kind_of(const char *group, const char *kind)
{
    if (!group)
        group = "";
    if (!kind)
        return POLICY_KIND_OTHER;
    for (size_t i = 0; i < MB_ARRAY_LEN(KINDS); i++)
        if (!strcmp(KINDS[i].group, group) && !strcmp(KINDS[i].kind, kind))
            return KINDS[i].k;
    return POLICY_KIND_OTHER;
}

enum policy_kind policy_kind_of_object(const json_t *obj)
{
    const char *av = json_string_value(json_object_get(obj, "apiVersion"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    char group[64] = "";
    const char *slash;

    if (!av || !kind)
        return POLICY_KIND_OTHER;
    slash = strchr(av, '/');
    if (slash && (size_t)(slash - av) < sizeof group)
        snprintf(group, sizeof group, "%.*s", (int)(slash - av), av);
    return policy_kind_of(group, kind);
}

const char *policy_kind_name(enum policy_kind k)
{
    for (size_t i = 0; i < MB_ARRAY_LEN(KINDS); i++)
        if (KINDS[i].k == k)
            return KINDS[i].kind;
    return "";
}

/* Where the pod template lives in each kind: a JSON Pointer and the
 * matching field-path prefix for messages. */
static const json_t *find_template(const json_t *obj, const struct policy_input *in,
                                   const char **prefix, const char **pointer)
{
    switch (in->kind) {
    case POLICY_KIND_CUSTOM:
        if (!in->template_pointer || !in->template_prefix)
            return NULL;
        *prefix = in->template_prefix;
        *pointer = in->template_pointer;
        return jpatch_get(obj, *pointer);
    case POLICY_KIND_POD:
        *prefix = "";
        *pointer = "";
        return obj;
    case POLICY_KIND_CRONJOB:
        *prefix = "spec.jobTemplate.spec.template.";
        *pointer = "/spec/jobTemplate/spec/template";
        return jpatch_get(obj, *pointer);
    case POLICY_KIND_OTHER:
        return NULL;
    default:
        *prefix = "spec.template.";
        *pointer = "/spec/template";
        return jpatch_get(obj, *pointer);
    }
}

/* Where one evaluation's violations and warnings go. While the old object
 * of an UPDATE is evaluated (`collect`), violations only fill `old_seen`, a
 * set of "path\037msg" keys; while the new one is, each violation found
 * there is not new: it becomes a warning at step 6, the rest are kept up
 * to `max` (then counted). jansson's hash table is seeded at random, and a
 * hit is confirmed by comparing the keys, so no crafted annotation can
 * pass a new violation off as an old one. */
struct vsink {
    struct policy_result *out;
    size_t max;            /* keep at most this many violations and warnings; 0: all */
    json_t *old_seen;      /* the old object's violations, or NULL (not an UPDATE) */
    const json_t *old_ann; /* the old object's annotations (UPDATE): an unknown key's
                              violation is told old or new by its key alone, so none of
                              those goes into old_seen (a pod may carry 100k of them) */
    bool collect;          /* evaluating the old object: only fill old_seen */
    char **notnew;         /* "path: msg (not new ...)", for step 6 */
    size_t nnotnew, notnew_more;
};

/* Append `text_take` to a capped list of strings (warnings). */
static void push_capped(char ***list, size_t *n, size_t *more, size_t max, char *text_take)
{
    if (max && *n >= max) {
        (*more)++;
        mb_free(text_take);
        return;
    }
    *list = mb_xrealloc(*list, (*n + 1) * sizeof **list);
    (*list)[(*n)++] = text_take;
}

static void violate(struct vsink *s, char *path_take, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void violate(struct vsink *s, char *path_take, const char *fmt, ...)
{
    struct policy_result *r = s->out;
    va_list ap;
    struct mb_buf b;
    char *msg;

    mb_buf_init(&b, 4096);
    va_start(ap, fmt);
    (void)mb_buf_vprintf(&b, fmt, ap); /* a message longer than the cap is dropped whole */
    va_end(ap);
    msg = mb_buf_take(&b);
    if (s->collect || s->old_seen) {
        char *key = mb_xasprintf("%s\037%s", path_take, msg);
        bool before = false;
        if (s->collect) /* (no UTF-8 check: a message may cut a name short mid-character) */
            (void)json_object_set_new_nocheck(s->old_seen, key, json_true());
        else
            before = json_object_get(s->old_seen, key) != NULL;
        mb_free(key);
        if (s->collect || before) {
            if (before)
                push_capped(&s->notnew, &s->nnotnew, &s->notnew_more, s->max,
                            mb_xasprintf("%s: %s (not new in this update, so not refused)",
                                         path_take, msg));
            mb_free(path_take);
            mb_free(msg);
            return;
        }
    }
    if (s->max && r->nv >= s->max) {
        r->more++;
        mb_free(path_take);
        mb_free(msg);
        return;
    }
    if (r->nv == r->capv) {
        r->capv = r->capv ? r->capv * 2 : 4;
        r->v = mb_xrealloc(r->v, r->capv * sizeof *r->v);
    }
    r->v[r->nv].path = path_take;
    r->v[r->nv].msg = msg;
    r->nv++;
}

static void warn(struct vsink *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct vsink *s, const char *fmt, ...)
{
    va_list ap;
    struct mb_buf b;

    if (s->collect)
        return; /* the old object's advice is not given */
    mb_buf_init(&b, 4096);
    va_start(ap, fmt);
    (void)mb_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    push_capped(&s->out->warnings, &s->out->nw, &s->out->wmore, s->max, mb_buf_take(&b));
}

static char *ann_path(const char *prefix, const char *key)
{
    return mb_xasprintf("%smetadata.annotations[%s]", prefix, key);
}

/* The memory limit of a container: absent -> false; present -> true with
 * *ok telling whether it parsed. */
static bool container_limit(const json_t *c, int64_t *bytes, bool *ok, char *why, size_t whylen)
{
    const json_t *m = jpatch_get(c, "/resources/limits/memory");
    struct mb_diag d = {0};

    *ok = false;
    if (!m || json_is_null(m))
        return false;
    if (json_is_integer(m)) {
        if (json_integer_value(m) < 0) {
            snprintf(why, whylen, "must not be negative");
            return true;
        }
        *bytes = (int64_t)json_integer_value(m);
        *ok = true;
        return true;
    }
    if (!json_is_string(m)) {
        snprintf(why, whylen, "must be a quantity such as \"1Gi\"");
        return true;
    }
    if (qty_parse_str(json_string_value(m), bytes, &d)) {
        snprintf(why, whylen, "%s", d.msg);
        return true;
    }
    *ok = true;
    return true;
}

static bool has_budget_annotation(const json_t *tmpl)
{
    return json_is_string(jpatch_get(tmpl, "/metadata/annotations/membudget.io~1budget"));
}

static bool env_has(const json_t *container, const char *name, const json_t **entry)
{
    size_t i;
    json_t *e;

    json_array_foreach(json_object_get(container, "env"), i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        if (n && !strcmp(n, name)) {
            if (entry)
                *entry = e;
            return true;
        }
    }
    return false;
}

static bool has_gate(const json_t *spec)
{
    size_t i;
    json_t *g;

    json_array_foreach(json_object_get(spec, "readinessGates"), i, g)
    {
        const char *t = json_string_value(json_object_get(g, "conditionType"));
        if (t && !strcmp(t, ANN_CONDITION))
            return true;
    }
    return false;
}

/* Patch operations adding `adds_take` (annotation -> value) to the
 * metadata.annotations of the object at `pointer`, creating the map (or
 * metadata itself) when absent. */
static void add_annotations(json_t *patch, const char *pointer, const json_t *meta,
                            const json_t *annotations, json_t *adds_take)
{
    const char *key;
    json_t *v;

    if (json_object_size(adds_take) == 0) {
        json_decref(adds_take);
        return;
    }
    if (!json_is_object(meta)) {
        char *p = mb_xasprintf("%s/metadata", pointer);
        jpatch_add_op(patch, "add", p, json_pack("{s:o}", "annotations", adds_take));
        mb_free(p);
        return;
    }
    if (!json_is_object(annotations)) {
        char *p = mb_xasprintf("%s/metadata/annotations", pointer);
        jpatch_add_op(patch, "add", p, adds_take);
        mb_free(p);
        return;
    }
    json_object_foreach(adds_take, key, v)
    {
        char *tok = jpatch_token(key);
        char *p = mb_xasprintf("%s/metadata/annotations/%s", pointer, tok);
        jpatch_add_op(patch, "add", p, json_incref(v));
        mb_free(p);
        mb_free(tok);
    }
    json_decref(adds_take);
}

/* Should the mutating webhook write the target it resolved into the object
 * (membudget.io/container), so that the pods resolve it by name whatever a
 * sidecar injector adds in front of it later?
 *  - Pods: on CREATE.
 *  - Workloads: on CREATE; on UPDATE only when the template changes anyway,
 *    since a template change is a rollout: pinning alone would restart every
 *    pod of a workload that predates membudget.
 *  - Never an object another controller manages (a ReplicaSet of a
 *    Deployment, a Job of a CronJob): its owner's template carries the pin,
 *    and a Deployment whose ReplicaSet's template differs from its own
 *    would create ReplicaSets forever.
 * The caller pins only objects with a budget (given or defaulted): what
 * membudget does not govern, it does not write into. */
static bool should_pin(const struct policy_input *in, const json_t *tmpl, const json_t *annotations,
                       const struct ann_target *tg)
{
    const char *prefix, *pointer;
    const json_t *old_tmpl;

    if (!tg->container || !tg->name || !ann_is_dns_label(tg->name) ||
        json_object_get(annotations, ANN_CONTAINER))
        return false;
    if (in->kind == POLICY_KIND_POD)
        return in->op == POLICY_CREATE;
    if (kobj_controller_ref(json_object_get(in->object, "metadata")))
        return false;
    if (in->op == POLICY_CREATE || !in->old_object)
        return true;
    old_tmpl = find_template(in->old_object, in, &prefix, &pointer);
    return !json_is_object(old_tmpl) || !json_equal(old_tmpl, tmpl);
}

/* --- types of what is read ------------------------------------------------------ */

enum jt { JT_OBJ, JT_ARR, JT_STR, JT_QTY, JT_INT };

static const char *jt_name(enum jt t)
{
    static const char *const N[] = {"an object", "an array", "a string",
                                    "a quantity (a string or an integer)", "an integer"};
    return N[t];
}

static const char *json_kind(const json_t *v)
{
    return json_is_object(v)    ? "an object"
           : json_is_array(v)   ? "an array"
           : json_is_string(v)  ? "a string"
           : json_is_integer(v) ? "an integer"
           : json_is_real(v)    ? "a number"
           : json_is_null(v)    ? "null"
                                : "a boolean";
}

/* Is o[key] absent, null, or of type t? Else says so in why. */
static bool typed(const json_t *o, const char *key, enum jt t, const char *where, char *why,
                  size_t whylen)
{
    const json_t *v = json_object_get(o, key);
    bool ok = !v || json_is_null(v) ||
              (t == JT_OBJ   ? json_is_object(v)
               : t == JT_ARR ? json_is_array(v)
               : t == JT_STR ? json_is_string(v)
               : t == JT_INT ? json_is_integer(v)
                             : json_is_string(v) || json_is_integer(v));
    if (!ok)
        snprintf(why, whylen, "%s.%s must be %s, got %s", where, key, jt_name(t), json_kind(v));
    return ok;
}

/* Each element of the array o[key] an object with the given fields typed. */
static bool typed_items(const json_t *o, const char *key, const char *const *keys,
                        const enum jt *ts, size_t n, const char *where, char *why, size_t whylen)
{
    const json_t *a = json_object_get(o, key), *e;
    size_t i;
    char at[300];
    json_array_foreach((json_t *)a, i, e)
    {
        snprintf(at, sizeof at, "%.220s.%.30s[%zu]", where, key, i);
        if (!json_is_object(e)) {
            snprintf(why, whylen, "%s must be an object, got %s", at, json_kind(e));
            return false;
        }
        for (size_t k = 0; k < n; k++)
            if (!typed(e, keys[k], ts[k], at, why, whylen))
                return false;
    }
    return true;
}

static bool template_types(const json_t *t, const char *where, char *why, size_t whylen)
{
    static const char *const MD[] = {"name", "namespace", "generateName"};
    static const char *const ENV[] = {"name", "value"},
                             *const PORT[] = {"name", "protocol", "containerPort"},
                             *const GATE[] = {"conditionType"};
    static const enum jt ENV_T[] = {JT_STR, JT_STR}, PORT_T[] = {JT_STR, JT_STR, JT_INT},
                         GATE_T[] = {JT_STR};
    static const char *const LISTS[] = {"containers", "initContainers"};
    char at[300], ct[300];
    const json_t *md = json_object_get(t, "metadata"), *spec = json_object_get(t, "spec");
    if (!typed(t, "metadata", JT_OBJ, where, why, whylen) ||
        !typed(t, "spec", JT_OBJ, where, why, whylen))
        return false;
    snprintf(at, sizeof at, "%.200s.metadata", where);
    for (size_t i = 0; i < MB_ARRAY_LEN(MD); i++)
        if (!typed(md, MD[i], JT_STR, at, why, whylen))
            return false;
    if (!typed(md, "annotations", JT_OBJ, at, why, whylen))
        return false;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(md, "annotations"), k, v)
    {
        if ((!strncmp(k, "membudget.io/", 13) || !strcmp(k, ANN_KUBECTL_DEFAULT_CONTAINER)) &&
            !json_is_string(v)) {
            snprintf(why, whylen, "%s.annotations[%s] must be a string, got %s", at, k,
                     json_kind(v));
            return false;
        }
    }
    snprintf(at, sizeof at, "%.200s.spec", where);
    if (!typed_items(spec, "readinessGates", GATE, GATE_T, 1, at, why, whylen))
        return false;
    for (size_t l = 0; l < MB_ARRAY_LEN(LISTS); l++) {
        const json_t *cs = json_object_get(spec, LISTS[l]), *c;
        size_t i;
        if (!typed(spec, LISTS[l], JT_ARR, at, why, whylen))
            return false;
        json_array_foreach((json_t *)cs, i, c)
        {
            snprintf(ct, sizeof ct, "%.220s.%s[%zu]", at, LISTS[l], i);
            if (!json_is_object(c)) {
                snprintf(why, whylen, "%s must be an object, got %s", ct, json_kind(c));
                return false;
            }
            const json_t *res = json_object_get(c, "resources");
            char rt[340], lt[360];
            snprintf(rt, sizeof rt, "%.300s.resources", ct);
            if (!typed(c, "name", JT_STR, ct, why, whylen) ||
                !typed(c, "restartPolicy", JT_STR, ct, why, whylen) ||
                !typed(c, "resources", JT_OBJ, ct, why, whylen) ||
                !typed(res, "limits", JT_OBJ, rt, why, whylen) ||
                !typed(res, "requests", JT_OBJ, rt, why, whylen) ||
                !typed(c, "env", JT_ARR, ct, why, whylen) ||
                !typed(c, "ports", JT_ARR, ct, why, whylen) ||
                !typed_items(c, "env", ENV, ENV_T, 2, ct, why, whylen) ||
                !typed_items(c, "ports", PORT, PORT_T, 3, ct, why, whylen))
                return false;
            snprintf(lt, sizeof lt, "%.330s.limits", rt);
            if (!typed(json_object_get(res, "limits"), "memory", JT_QTY, lt, why, whylen))
                return false;
            snprintf(lt, sizeof lt, "%.330s.requests", rt);
            if (!typed(json_object_get(res, "requests"), "memory", JT_QTY, lt, why, whylen))
                return false;
        }
    }
    return typed(spec, "readinessGates", JT_ARR, at, why, whylen);
}

bool policy_check_types(const struct policy_input *in, char *why, size_t whylen)
{
    const json_t *objs[] = {in->object, in->old_object};
    static const char *const NAMES[] = {"object", "oldObject"};
    for (size_t i = 0; i < 2; i++) {
        const char *prefix, *pointer;
        char where[300];
        if (!objs[i])
            continue;
        const json_t *t = find_template(objs[i], in, &prefix, &pointer);
        if (!t)
            continue;
        if (!json_is_object(t)) {
            snprintf(why, whylen, "%s.%.*s must be an object, got %s", NAMES[i],
                     (int)(strlen(prefix) ? strlen(prefix) - 1 : 0), prefix, json_kind(t));
            return false;
        }
        snprintf(where, sizeof where, "%s%s%.*s", NAMES[i], *prefix ? "." : "",
                 (int)(strlen(prefix) ? strlen(prefix) - 1 : 0), prefix);
        if (!template_types(t, where, why, whylen))
            return false;
    }
    return true;
}

/* Step 1's sink: an annotation error becomes a violation at once. */
struct ann_sink {
    struct vsink *s;
    const char *prefix;
    bool container_error; /* membudget.io/container is wrong: no target then */
};

static void ann_violation(void *ctx, const struct ann_error *e)
{
    struct ann_sink *as = ctx;
    struct vsink *s = as->s;
    if (!strcmp(e->key, ANN_CONTAINER))
        as->container_error = true;
    if (e->unknown && s->collect)
        return; /* (told by key: see old_ann) */
    if (e->unknown && s->old_seen && json_object_get(s->old_ann, e->key)) {
        char *path = ann_path(as->prefix, e->key);
        push_capped(&s->notnew, &s->nnotnew, &s->notnew_more, s->max,
                    mb_xasprintf("%s: %s (not new in this update, so not refused)", path, e->msg));
        mb_free(path);
        return;
    }
    if (!strncmp(e->key, ANN_PREFIX, sizeof ANN_PREFIX - 1))
        violate(as->s, ann_path(as->prefix, e->key), "%s", e->msg);
    else
        violate(as->s, mb_xasprintf("%s%s", as->prefix, e->key), "%s", e->msg);
}

/*
 * --- the rules ------------------------------------------------------------------
 *
 * policy_eval() runs these steps in order on one object (struct eval holds
 * what each step learns for the next). celpolicy.c writes the same rules
 * in CEL, in the same order and under the same names (its step_* functions),
 * with the same messages: change one, change the other, and
 * test/e2e/cluster_policy_diff.py compares them on a real API server.
 *
 *   1. step_annotations  the syntax of each membudget.io annotation
 *   2. step_target       the container the budget is for
 *   3. step_limit        its memory limit (or a LimitRange's default)
 *   4. step_budget       the budget against the limit; max-limit above it
 *   5. step_ports        endpoints are ports the container declares
 *   6. step_update       an update may not drop the budget
 *   7. step_advice       an explicit GOMEMLIMIT above the budget
 *   8. step_mutation     the pin, default budget, GOMEMLIMIT, readiness gate
 */
struct eval {
    const struct policy_conf *conf;
    const struct policy_input *in;
    struct vsink *s;
    const char *prefix, *pointer; /* where the template is: "spec.template.", "/spec/template" */
    const json_t *tmpl, *meta, *annotations, *spec;
    struct ann a;             /* step 1 */
    bool container_ann_error; /* step 1: no target then */
    const json_t *target;     /* step 2: the container, or NULL */
    struct ann_target tg;
    char tpath[160], tptr[96];    /* "spec.containers[1]", "/spec/containers/1" */
    bool limit_present, limit_ok; /* step 3 */
    int64_t limit;
    const struct policy_lr *limit_from; /* the LimitRange that gives the limit */
    char why[256];                      /* step 3: why the limit is not ok */
    int64_t budget;                     /* step 4 */
    bool budget_known, budget_defaulted;
};

/* 1. Annotation syntax: each error a violation as it is found. */
static void step_annotations(struct eval *e)
{
    struct ann_errors errs = {0};
    struct ann_sink as = {.s = e->s, .prefix = e->prefix};
    errs.sink = ann_violation;
    errs.sink_ctx = &as;
    ann_parse(json_is_null(e->annotations) ? NULL : e->annotations, &e->a, &errs);
    e->container_ann_error = as.container_error;
    ann_errors_cleanup(&errs);
}

/* 2. The target container (ann_find_target: by name, kubectl's default,
 * or the first). */
static void step_target(struct eval *e)
{
    struct vsink *s = e->s;
    const char *prefix = e->prefix;
    if (e->container_ann_error)
        return;
    const char *dflt =
        json_string_value(json_object_get(e->annotations, ANN_KUBECTL_DEFAULT_CONTAINER));
    switch (ann_find_target(e->spec, e->a.has_container ? e->a.container : NULL, dflt, &e->tg)) {
    case ANN_TARGET_OK:
        e->target = e->tg.container;
        snprintf(e->tpath, sizeof e->tpath, "%sspec.%s[%zu]", prefix, e->tg.list, e->tg.index);
        snprintf(e->tptr, sizeof e->tptr, "/spec/%s/%zu", e->tg.list, e->tg.index);
        if (e->tg.default_ignored)
            warn(s,
                 "%smetadata.annotations[" ANN_KUBECTL_DEFAULT_CONTAINER "]: \"%.63s\": no "
                 "such container; membudget budgets the first container, \"%.63s\" "
                 "(set " ANN_CONTAINER " to choose)",
                 prefix, dflt, e->tg.name ? e->tg.name : "");
        else if (e->tg.from == ANN_TARGET_FIRST && e->in->kind == POLICY_KIND_POD &&
                 json_array_size(json_object_get(e->spec, "containers")) > 1)
            /* A pod's first container may not be its author's: a sidecar
             * injector whose webhook ran before membudget's prepends its
             * proxy. The pin (step 8) keeps whatever is chosen now. */
            warn(s,
                 "%smetadata.annotations[" ANN_CONTAINER "]: not set: the budget is for "
                 "the first of %zu containers, \"%.63s\"; a sidecar injector whose "
                 "webhook runs before membudget's puts its proxy first, so name the app "
                 "here (or in " ANN_KUBECTL_DEFAULT_CONTAINER ")",
                 prefix, json_array_size(json_object_get(e->spec, "containers")),
                 e->tg.name ? e->tg.name : "");
        break;
    case ANN_TARGET_NOT_FOUND:
        violate(s, ann_path(prefix, ANN_CONTAINER),
                "\"%s\": no such container in %sspec.containers, nor a native sidecar in "
                "%sspec.initContainers (restartPolicy: Always)",
                e->a.container, prefix, prefix);
        break;
    case ANN_TARGET_INIT:
        violate(s, ann_path(prefix, ANN_CONTAINER),
                "\"%s\": an init container that runs to completion cannot be budgeted; only "
                "a native sidecar (restartPolicy: Always) or a container in %sspec.containers "
                "can",
                e->a.container, prefix);
        break;
    case ANN_TARGET_NO_CONTAINERS:
        break; /* the API server's own validation speaks */
    }
}

/* Step 3 when the namespace's LimitRanges give a default: the template
 * may leave the limit to it (the LimitRanger plugin gives it to each pod
 * before the webhooks see it); a warning names it, and step 4 checks the
 * budget against it. */
static void limit_from_range(struct eval *e, bool wants_limit)
{
    const struct policy_lr *lr = e->in->limit_range;
    char q[QTY_FMT_LEN];
    e->limit = lr->default_memory;
    e->limit_present = e->limit_ok = true;
    e->limit_from = lr;
    if (!wants_limit)
        return;
    char more[96] = "";
    if (lr->count > 1)
        snprintf(more, sizeof more,
                 " (the smallest default of the %u LimitRanges there; "
                 "Kubernetes applies one of them)",
                 lr->count);
    warn(e->s,
         "%s.resources.limits.memory: not set in the %s: %s %s from LimitRange "
         "%s/%s (default.memory)%s",
         e->tpath, e->prefix[0] ? "template" : "pod", e->prefix[0] ? "its pods get" : "it gets",
         qty_format(e->limit, q), lr->ns, lr->name, more);
}

/* 3. The limit first (a missing limit is the first thing to fix). Where
 * the namespace's LimitRanges are known, none giving a default is a
 * violation for a template; where they are not known, a warning that
 * says so. */
static void step_limit(struct eval *e)
{
    struct vsink *s = e->s;
    const struct policy_lr *lr = e->in->limit_range;
    if (!e->target)
        return;
    e->limit_present = container_limit(e->target, &e->limit, &e->limit_ok, e->why, sizeof e->why);
    bool wants_limit = e->a.has_budget ||
                       (e->conf->require_budget && !json_object_get(e->annotations, ANN_BUDGET));
    if (!e->limit_present && lr && lr->state == POLICY_LR_DEFAULT)
        limit_from_range(e, wants_limit);
    if (e->limit_present || !wants_limit)
        return;
    char *path = mb_xasprintf("%s.resources.limits.memory", e->tpath);
    if (e->prefix[0] && lr && lr->state == POLICY_LR_NONE) {
        if (e->a.has_budget)
            violate(s, path,
                    "required when " ANN_BUDGET " is set: no LimitRange of namespace "
                    "\"%s\" gives a default memory limit (type: Container, "
                    "default.memory), so every pod of this template would be denied",
                    lr->ns);
        else
            violate(s, path,
                    "required: a governed pod needs a memory limit, and no LimitRange "
                    "of namespace \"%s\" gives a default one (type: Container, "
                    "default.memory)",
                    lr->ns);
    } else if (e->prefix[0]) {
        warn(s,
             "%s: not set in the template: its pods need one, from a LimitRange default or "
             "the template (the namespace's LimitRanges are not known here, so one is "
             "assumed to give a default; a pod without a memory limit is denied when it "
             "is created)",
             path);
        s->out->limit_assumed = true;
        mb_free(path);
    } else if (e->a.has_budget) {
        violate(s, path,
                "required when " ANN_BUDGET " is set (the budget must fit under a memory limit)");
    } else {
        violate(s, path,
                "required: a governed pod needs a memory limit, and a " ANN_BUDGET " under it");
    }
}

/* Step 4 for a declared budget: it fits under the limit. */
static void budget_declared(struct eval *e)
{
    char q[QTY_FMT_LEN];
    e->budget = e->a.budget;
    e->budget_known = true;
    if (!e->target || !e->limit_present) {
        /* no target, or no limit: said in step 2 or 3 */
    } else if (!e->limit_ok) {
        violate(e->s, mb_xasprintf("%s.resources.limits.memory", e->tpath), "%s", e->why);
    } else if (e->budget > e->limit) {
        const json_t *raw = json_object_get(e->annotations, ANN_BUDGET);
        const char *name = e->tg.name ? e->tg.name : "";
        char from[600];
        if (e->limit_from)
            snprintf(from, sizeof from,
                     "that LimitRange %s/%s gives container \"%s\" "
                     "(%s.resources.limits.memory is not set)",
                     e->limit_from->ns, e->limit_from->name, name, e->tpath);
        else
            snprintf(from, sizeof from, "of container \"%s\" (%s.resources.limits.memory)", name,
                     e->tpath);
        violate(e->s, ann_path(e->prefix, ANN_BUDGET), "\"%s\": exceeds the memory limit %s %s",
                json_string_value(raw), qty_format(e->limit, q), from);
        e->budget_known = false;
    }
}

/* 4. The budget against the limit: declared, defaulted (a share of the
 * limit), or required. Then the resize tier's ceiling (max-limit) is at
 * least the limit it starts from: membudget only raises a limit up to it. */
static void step_budget(struct eval *e)
{
    const struct policy_conf *conf = e->conf;
    char q[QTY_FMT_LEN];
    if (e->a.has_budget) {
        budget_declared(e);
    } else if (!json_object_get(e->annotations, ANN_BUDGET)) {
        if (conf->default_budget_pct > 0 && e->target && e->limit_present && e->limit_ok &&
            e->limit > 0) {
            /* pct of the limit, rounded down to whole bytes */
            e->budget = (int64_t)((__int128)e->limit * conf->default_budget_pct / 100);
            e->budget_known = e->budget > 0;
            e->budget_defaulted = e->budget_known;
        } else if (conf->require_budget) {
            violate(e->s, ann_path(e->prefix, ANN_BUDGET),
                    "required: every pod in a namespace governed by membudget must declare a "
                    "memory budget, e.g. " ANN_BUDGET ": \"768Mi\"%s",
                    conf->default_budget_pct > 0 && e->target && !e->limit_present
                        ? " (no default: the container has no memory limit)"
                        : "");
        }
    }
    if (e->a.has_max_limit && e->target && e->limit_present && e->limit_ok &&
        e->a.max_limit < e->limit)
        violate(
            e->s, ann_path(e->prefix, ANN_MAX_LIMIT),
            "\"%s\": below the memory limit %s of container \"%s\" (%s.resources.limits.memory); "
            "membudget raises a limit only up to it",
            json_string_value(json_object_get(e->annotations, ANN_MAX_LIMIT)),
            qty_format(e->limit, q), e->tg.name ? e->tg.name : "", e->tpath);
}

/* 5. Endpoints must be ports the target container declares: the
 * controller calls only those (never a port a pod did not declare). */
static void step_ports(struct eval *e)
{
    struct ann *a = &e->a;
    const struct {
        const char *key;
        struct ann_endpoint *ep;
    } eps[] = {{ANN_METRICS, &a->metrics},
               {ANN_GC, &a->gc},
               {ANN_PROFILE, &a->profile},
               {ANN_GOROUTINES, &a->goroutines},
               {ANN_MEMLIMIT, &a->memlimit},
               {ANN_THROTTLE, a->throttle == ANN_THROTTLE_ENDPOINT ? &a->throttle_ep : NULL}};
    char where[192], why[256];
    if (!e->target)
        return;
    snprintf(where, sizeof where, "%s.ports", e->tpath);
    for (size_t i = 0; i < MB_ARRAY_LEN(eps); i++) {
        if (!eps[i].ep || !eps[i].ep->set)
            continue;
        if (!ann_resolve_endpoint(eps[i].ep, e->target, where, why, sizeof why))
            violate(e->s, ann_path(e->prefix, eps[i].key), "%s", why);
    }
}

/* 6. An update may not drop the budget. */
static void step_update(struct eval *e)
{
    const struct policy_input *in = e->in;
    if (in->op != POLICY_UPDATE || !in->old_object)
        return;
    const char *op = "", *optr = "";
    const json_t *old_tmpl = find_template(in->old_object, in, &op, &optr);
    if (json_is_object(old_tmpl) && has_budget_annotation(old_tmpl) &&
        !json_object_get(e->annotations, ANN_BUDGET))
        violate(e->s, ann_path(e->prefix, ANN_BUDGET), "may not be removed by an update");
}

/* An update is refused only for what it makes worse. Violations the old
 * object already had (it predates membudget, or was admitted in audit
 * mode) become warnings: otherwise a controller could not scale an old
 * ReplicaSet, nor remove a finalizer from a legacy pod. (They were told
 * apart as they came: violate() and policy_eval().) */
static void demote_not_new(struct vsink *s)
{
    struct policy_result *out = s->out;
    for (size_t i = 0; i < s->nnotnew; i++)
        push_capped(&out->warnings, &out->nw, &out->wmore, s->max, s->notnew[i]);
    out->wmore += s->notnew_more;
    MB_FREE(s->notnew);
    s->nnotnew = s->notnew_more = 0;
}

/* 7. Advice: an explicit GOMEMLIMIT above the budget defeats its purpose. */
static void step_advice(struct eval *e)
{
    const json_t *env = NULL;
    int64_t gml;
    char q[QTY_FMT_LEN];
    if (!e->target || !e->budget_known)
        return;
    if (env_has(e->target, "GOMEMLIMIT", &env) &&
        ann_parse_gomemlimit(json_string_value(json_object_get(env, "value")) ?: "", &gml) &&
        gml > e->budget)
        warn(e->s,
             "%s.env[GOMEMLIMIT]: %s is above the budget %s; the Go "
             "runtime will not work to stay inside the budget",
             e->tpath, json_string_value(json_object_get(env, "value")), qty_format(e->budget, q));
}

/* Step 8 for a Pod on CREATE: GOMEMLIMIT (the budget, in bytes) into the
 * target's env, and the readiness gate the throttle tier works through. */
static void inject(struct eval *e, json_t *patch)
{
    if (e->conf->inject_gomemlimit && !env_has(e->target, "GOMEMLIMIT", NULL)) {
        char path[128], bytes[32];
        json_t *entry;
        snprintf(bytes, sizeof bytes, "%lld", (long long)e->budget);
        entry = json_pack("{s:s,s:s}", "name", "GOMEMLIMIT", "value", bytes);
        if (json_is_array(json_object_get(e->target, "env"))) {
            snprintf(path, sizeof path, "%s/env/-", e->tptr);
            jpatch_add_op(patch, "add", path, entry);
        } else {
            snprintf(path, sizeof path, "%s/env", e->tptr);
            jpatch_add_op(patch, "add", path, json_pack("[o]", entry));
        }
    }
    if (e->conf->inject_readiness_gate && e->a.throttle == ANN_THROTTLE_READINESS &&
        !has_gate(e->spec)) {
        json_t *gate = json_pack("{s:s}", "conditionType", ANN_CONDITION);
        if (json_is_array(json_object_get(e->spec, "readinessGates")))
            jpatch_add_op(patch, "add", "/spec/readinessGates/-", gate);
        else
            jpatch_add_op(patch, "add", "/spec/readinessGates", json_pack("[o]", gate));
    }
}

/* 8. Mutations: the pin (workloads and pods), then for a Pod on CREATE
 * the default budget, GOMEMLIMIT and the readiness gate. Each is added
 * only when missing, so a reinvocation (reinvocationPolicy: IfNeeded,
 * after another webhook changed the pod) patches only what that webhook
 * took away or moved. */
static void step_mutation(struct eval *e)
{
    json_t *patch = json_array(), *adds = json_object();
    char q[QTY_FMT_LEN];
    if (e->budget_known && should_pin(e->in, e->tmpl, e->annotations, &e->tg))
        json_object_set_new(adds, ANN_CONTAINER, json_string(e->tg.name));
    if (e->in->kind == POLICY_KIND_POD && e->in->op == POLICY_CREATE && e->budget_known &&
        e->target) {
        if (e->budget_defaulted)
            json_object_set_new(adds, ANN_BUDGET, json_string(qty_format(e->budget, q)));
        inject(e, patch);
    }
    add_annotations(patch, e->pointer, e->meta, e->annotations, adds);
    if (json_array_size(patch) > 0)
        e->s->out->patch = patch;
    else
        json_decref(patch);
}

static void eval(const struct policy_conf *conf, const struct policy_input *in, struct vsink *s)
{
    struct eval e = {.conf = conf, .in = in, .s = s, .prefix = "", .pointer = ""};

    e.tmpl = find_template(in->object, in, &e.prefix, &e.pointer);
    if (!json_is_object(e.tmpl))
        return; /* not ours, or no template: the API server's own validation speaks */
    e.meta = json_object_get(e.tmpl, "metadata");
    e.annotations = json_object_get(e.meta, "annotations");
    e.spec = json_object_get(e.tmpl, "spec");

    step_annotations(&e);
    step_target(&e);
    step_limit(&e);
    step_budget(&e);
    step_ports(&e);
    step_update(&e);
    if (s->collect)
        return; /* the old object of an UPDATE: its violations are all it is evaluated for */
    demote_not_new(s);
    step_advice(&e);
    step_mutation(&e);
}

void policy_eval(const struct policy_conf *conf, const struct policy_input *in,
                 struct policy_result *out)
{
    struct vsink s = {.out = out, .max = in->max_kept};

    if (in->op == POLICY_UPDATE && in->old_object) {
        /* The old object first, as a CREATE: its violations into a set. */
        struct policy_result scratch = {0};
        struct policy_input old_in = *in;
        struct vsink old = {.out = &scratch, .collect = true, .old_seen = json_object()};
        old_in.op = POLICY_CREATE;
        old_in.object = in->old_object;
        old_in.old_object = NULL;
        /* (NULL: the webhook's parse arena is spent, and the review is
         * answered "too large" whatever this finds) */
        if (old.old_seen)
            eval(conf, &old_in, &old);
        policy_result_cleanup(&scratch);
        s.old_seen = old.old_seen;
        const char *op = "", *optr = "";
        const json_t *old_tmpl = find_template(in->old_object, in, &op, &optr);
        s.old_ann = json_object_get(json_object_get(old_tmpl, "metadata"), "annotations");
    }
    eval(conf, in, &s);
    json_decref(s.old_seen);
    for (size_t i = 0; i < s.nnotnew; i++) /* (only when eval returned early) */
        mb_free(s.notnew[i]);
    mb_free(s.notnew);
}

void policy_result_cleanup(struct policy_result *r)
{
    for (size_t i = 0; i < r->nv; i++) {
        mb_free(r->v[i].path);
        mb_free(r->v[i].msg);
    }
    for (size_t i = 0; i < r->nw; i++)
        mb_free(r->warnings[i]);
    mb_free(r->warnings);
    mb_free(r->v);
    json_decref(r->patch);
    memset(r, 0, sizeof *r);
}

void policy_object_label(const json_t *obj, const char *kind, const char *ns, const char *name,
                         char *out, size_t len)
{
    const json_t *meta = json_object_get(obj, "metadata");
    const char *gen = json_string_value(json_object_get(meta, "generateName"));
    if (!kind || !*kind)
        kind = json_string_value(json_object_get(obj, "kind"));
    if (!ns || !*ns)
        ns = json_string_value(json_object_get(meta, "namespace"));
    if (!name || !*name)
        name = json_string_value(json_object_get(meta, "name"));
    snprintf(out, len, "%.63s %.63s%s%.253s%s", kind && *kind ? kind : "object",
             ns && *ns ? ns : "", ns && *ns ? "/" : "",
             name && *name ? name
             : gen && *gen ? gen
                           : "(unnamed)",
             (!name || !*name) && gen && *gen ? "*" : "");
}

char *policy_message(const struct policy_result *r)
{
    struct mb_buf b;

    /* Violations fill up to 63 KiB; the closing "; and N more" always fits
     * in the last KiB. */
    mb_buf_init(&b, 64 * 1024);
    for (size_t i = 0; i < r->nv; i++) {
        size_t before = b.len;
        if (before > 63 * 1024 ||
            mb_buf_printf(&b, "%s%s: %s", i ? "; " : "", r->v[i].path, r->v[i].msg) ||
            b.len > 63 * 1024) {
            if (b.len > 63 * 1024) /* this one went past: drop it too, keep the cap */
                b.len = before;
            (void)mb_buf_printf(&b, "; and %zu more", r->nv - i + r->more);
            return mb_buf_take(&b);
        }
    }
    if (r->more)
        (void)mb_buf_printf(&b, "; and %zu more", r->more);
    return mb_buf_take(&b);
}
