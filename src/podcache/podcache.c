/*
 * podcache.c -- compact pod records in an open-addressing hash table.
 *
 * What pods share is stored once: a shape (namespace, owner, target
 * container, annotations, ports, limit, GOMEMLIMIT) is interned by content,
 * and so are node names, phases and condition reasons (refcounted, freed
 * with their last pod). A record holds only what is the pod's own (name,
 * uid, IP, the remediation record, status figures), built in two passes
 * over the pod object: the first measures, the second copies into one
 * allocation, so no pointer into the (large) jansson tree survives.
 *
 * Table: linear probing on FNV-1a of "ns/name", power-of-two size, load kept
 * under 0.7 counting tombstones; rehash on growth or when tombstones pile up.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/podcache.h"
#include "membudget/quantity.h"

/* A deleted slot: probing must go on past it (an empty slot would end a
 * probe early and hide pods placed after it). */
#define TOMB ((struct pc_pod *)(uintptr_t)1)

/* --- interning ------------------------------------------------------------------- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ull;
    return h;
}
#define FNV0 1469598103934665603ull

/* A refcounted string; "" is never interned (a static empty string). */
struct istr {
    struct istr *next;
    uint32_t refs, len;
    uint64_t hash;
    char s[];
};

/* Chained hash sets (few entries: shapes and names, not pods). */
struct iset {
    void **b;
    size_t cap, n, bytes;
};

static void iset_init(struct iset *t)
{
    t->cap = 64;
    t->b = mb_xcalloc(t->cap, sizeof *t->b);
}

static struct istr **istr_slot(struct iset *t, const char *s, size_t len, uint64_t h)
{
    struct istr **pp = (struct istr **)&t->b[h & (t->cap - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->len == len && !memcmp((*pp)->s, s, len)))
        pp = &(*pp)->next;
    return pp;
}

/* Doubles t's buckets. Entries are chained through the pointer at next_off
 * and hashed by the uint64_t at hash_off (strings and shapes alike). */
static void iset_grow(struct iset *t, size_t next_off, size_t hash_off)
{
    size_t cap = t->cap * 2;
    void **b = mb_xcalloc(cap, sizeof *b);
    for (size_t i = 0; i < t->cap; i++)
        for (char *e = t->b[i], *nx; e; e = nx) {
            void **next = (void **)(void *)(e + next_off);
            uint64_t h;
            memcpy(&h, e + hash_off, sizeof h);
            nx = *next;
            *next = b[h & (cap - 1)];
            b[h & (cap - 1)] = e;
        }
    mb_free(t->b);
    t->b = b;
    t->cap = cap;
}

/* Returns: the interned copy of s (NULL: ""), one more reference. */
static const char *intern(struct iset *t, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    if (!len)
        return "";
    uint64_t h = fnv(FNV0, s, len);
    struct istr **pp = istr_slot(t, s, len, h);
    if (*pp) {
        (*pp)->refs++;
        return (*pp)->s;
    }
    struct istr *e = mb_xmalloc(sizeof *e + len + 1);
    e->next = NULL;
    e->refs = 1;
    e->len = (uint32_t)len;
    e->hash = h;
    memcpy(e->s, s, len + 1);
    *pp = e;
    t->n++;
    t->bytes += sizeof *e + len + 1;
    if (t->n > t->cap)
        iset_grow(t, offsetof(struct istr, next), offsetof(struct istr, hash));
    return e->s;
}

static void unintern(struct iset *t, const char *s)
{
    if (!*s)
        return;
    struct istr *e = (struct istr *)(void *)(s - offsetof(struct istr, s));
    if (--e->refs)
        return;
    struct istr **pp = istr_slot(t, e->s, e->len, e->hash);
    MB_ASSERT(*pp == e);
    *pp = e->next;
    t->n--;
    t->bytes -= sizeof *e + e->len + 1;
    mb_free(e);
}

static void iset_free_strings(struct iset *t)
{
    for (size_t i = 0; i < t->cap; i++)
        for (struct istr *e = t->b[i], *nx; e; e = nx) {
            nx = e->next;
            mb_free(e);
        }
    mb_free(t->b);
}

struct podcache {
    struct pc_pod **slots;
    size_t cap;   /* power of two */
    size_t n;     /* live records */
    size_t tombs; /* deleted slots */
    size_t bytes; /* record bytes */
    uint32_t gen; /* relist generation */
    char *relist_ns;
    pc_listener_fn *fn;
    pc_scope_fn *scope;
    void *ctx;
    size_t shape_user;
    struct iset strs;   /* node names, phases, reasons, namespaces */
    struct iset shapes; /* struct pc_shape, chained by ->next */
};

static uint64_t hash(const char *ns, const char *name)
{
    uint64_t h = fnv(FNV0, ns, strlen(ns));
    h = (h ^ '/') * 1099511628211ull;
    return fnv(h, name, strlen(name));
}

struct podcache *pc_new(pc_listener_fn *fn, pc_scope_fn *scope, void *ctx, size_t shape_user)
{
    struct podcache *c = mb_xcalloc(1, sizeof *c);
    c->cap = 64;
    c->slots = mb_xcalloc(c->cap, sizeof *c->slots);
    c->fn = fn;
    c->scope = scope;
    c->ctx = ctx;
    c->shape_user = (shape_user + 7) & ~(size_t)7;
    iset_init(&c->strs);
    iset_init(&c->shapes);
    return c;
}

static void shape_release(struct podcache *c, const struct pc_shape *sh);
static void record_free(struct podcache *c, struct pc_pod *p)
{
    unintern(&c->strs, p->node);
    unintern(&c->strs, p->phase);
    unintern(&c->strs, p->cond_reason);
    shape_release(c, p->sh);
    mb_free(p);
}

void pc_free(struct podcache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i] && c->slots[i] != TOMB)
            record_free(c, c->slots[i]);
    MB_ASSERT(c->shapes.n == 0);
    mb_free(c->shapes.b);
    iset_free_strings(&c->strs);
    mb_free(c->slots);
    mb_free(c->relist_ns);
    mb_free(c);
}

/* Slot holding ns/name, or the slot where it would go (*found false). */
static size_t find(const struct podcache *c, const char *ns, const char *name, bool *found)
{
    size_t mask = c->cap - 1, i = (size_t)hash(ns, name) & mask, first_tomb = SIZE_MAX;
    for (;;) {
        struct pc_pod *p = c->slots[i];
        if (!p) {
            *found = false;
            return first_tomb != SIZE_MAX ? first_tomb : i;
        }
        if (p == TOMB) {
            if (first_tomb == SIZE_MAX)
                first_tomb = i;
        } else if (strcmp(p->name, name) == 0 && strcmp(p->sh->ns, ns) == 0) {
            *found = true;
            return i;
        }
        i = (i + 1) & mask;
    }
}

static void rehash(struct podcache *c, size_t cap)
{
    struct pc_pod **old = c->slots;
    size_t oldcap = c->cap;
    c->slots = mb_xcalloc(cap, sizeof *c->slots);
    c->cap = cap;
    c->tombs = 0;
    for (size_t i = 0; i < oldcap; i++) {
        struct pc_pod *p = old[i];
        if (p && p != TOMB) {
            bool found;
            c->slots[find(c, p->sh->ns, p->name, &found)] = p;
        }
    }
    mb_free(old);
}

/* --- building a record ---------------------------------------------------------- */

/* The webhook's own resolution (ann_find_target): by name, kubectl's
 * default container, or the first; a native sidecar may be the target. */
static const json_t *target_container(const json_t *pod, bool *sidecar)
{
    const json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
    struct ann_target t;

    *sidecar = false;
    if (ann_find_target(json_object_get(pod, "spec"),
                        json_string_value(json_object_get(ann, ANN_CONTAINER)),
                        json_string_value(json_object_get(ann, ANN_KUBECTL_DEFAULT_CONTAINER)), &t))
        return NULL;
    *sidecar = !strcmp(t.list, "initContainers");
    return t.container;
}

static bool has_gate(const json_t *pod)
{
    const json_t *gates = json_object_get(json_object_get(pod, "spec"), "readinessGates"), *g;
    size_t i;
    json_array_foreach(gates, i, g)
    {
        const char *t = json_string_value(json_object_get(g, "conditionType"));
        if (t && strcmp(t, ANN_CONDITION) == 0)
            return true;
    }
    return false;
}

bool pc_pod_relevant(const json_t *pod)
{
    const json_t *ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
    return json_is_string(json_object_get(ann, ANN_BUDGET)) || has_gate(pod);
}

struct builder {
    char *out; /* NULL while measuring */
    size_t len;
};

/* A uid in the form the API server gives (a UUID: 8-4-4-4-12 lowercase hex
 * digits) into its 16 bytes; false for anything else (kept as text). */
static bool uuid_parse(const char *s, uint8_t out[16])
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0, k = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            continue;
        }
        int v = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                             : -1;
        if (v < 0)
            return false;
        out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | v : v << 4);
        k++;
    }
    return true;
}

const char *pc_uid(const struct pc_pod *p, char buf[PC_UID_BUF])
{
    if (!p->uid_bin)
        return p->name + p->o_uid;
    const uint8_t *r = (const uint8_t *)p->name + p->o_uid;
    static const char hex[] = "0123456789abcdef";
    char *o = buf;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *o++ = '-';
        *o++ = hex[r[i] >> 4];
        *o++ = hex[r[i] & 15];
    }
    *o = '\0';
    return buf;
}

bool pc_uid_eq(const struct pc_pod *a, const struct pc_pod *b)
{
    if (a->uid_bin != b->uid_bin)
        return false;
    if (a->uid_bin)
        return memcmp(a->name + a->o_uid, b->name + b->o_uid, 16) == 0;
    return strcmp(a->name + a->o_uid, b->name + b->o_uid) == 0;
}

static const char *put(struct builder *b, const char *s, size_t n)
{
    const char *at = b->out ? b->out + b->len : "";
    if (b->out) {
        memcpy(b->out + b->len, s, n);
        b->out[b->len + n] = '\0';
    }
    b->len += n + 1;
    return at;
}

static const char *puts_(struct builder *b, const char *s)
{
    return put(b, s ? s : "", s ? strlen(s) : 0);
}

/* Fill a shape's strings and ports from pod through b (measure when b->out
 * is NULL; ports are written only then). */
static void fill_shape(struct pc_shape *sh, struct pc_port *ports, struct builder *b,
                       const json_t *pod, const json_t *ctr)
{
    const json_t *md = json_object_get(pod, "metadata");
    const json_t *ref = kobj_controller_ref(md);

    sh->ns = puts_(b, json_string_value(json_object_get(md, "namespace")));
    sh->owner_kind = puts_(b, json_string_value(json_object_get(ref, "kind")));
    sh->owner_name = puts_(b, json_string_value(json_object_get(ref, "name")));
    sh->owner_uid = puts_(b, json_string_value(json_object_get(ref, "uid")));
    sh->container = puts_(b, json_string_value(json_object_get(ctr, "name")));

    /* membudget.io/ annotations as "key\0value\0" pairs. */
    const json_t *anns = json_object_get(md, "annotations"), *v;
    const char *k;
    size_t start = b->len, plen = strlen(ANN_PREFIX);
    sh->ann = b->out ? b->out + b->len : "";
    json_object_foreach((json_t *)anns, k, v)
    {
        if (strncmp(k, ANN_PREFIX, plen) != 0 || !json_is_string(v))
            continue;
        puts_(b, k + plen);
        put(b, json_string_value(v), json_string_length(v));
    }
    sh->ann_len = (uint32_t)(b->len - start);

    /* Ports: names go into the string area. */
    const json_t *pts = json_object_get(ctr, "ports"), *pt;
    size_t i, np = 0;
    json_array_foreach(pts, i, pt)
    {
        const char *proto = json_string_value(json_object_get(pt, "protocol"));
        json_int_t num = json_integer_value(json_object_get(pt, "containerPort"));
        if ((proto && strcmp(proto, "TCP") != 0) || num < 1 || num > 65535)
            continue;
        const char *nm = puts_(b, json_string_value(json_object_get(pt, "name")));
        if (b->out) {
            ports[np].port = (uint16_t)num;
            ports[np].name = nm;
        }
        np++;
    }
    sh->nports = (uint16_t)np;
}

/* resources.KIND.memory of a container (spec or status) in bytes; 0 when
 * absent or not a quantity. */
static int64_t memory_of(const json_t *ctr, const char *kind)
{
    int64_t v = 0;
    const char *q = json_string_value(
        json_object_get(json_object_get(json_object_get(ctr, "resources"), kind), "memory"));
    return q && qty_parse_str(q, &v, NULL) == MB_OK ? v : 0;
}

/* The scalars of a shape: limit, request, GOMEMLIMIT, gate, hostNetwork,
 * resizePolicy, workload. */
static void fill_shape_scalars(struct pc_shape *sh, const json_t *pod, const json_t *ctr,
                               bool sidecar)
{
    const json_t *spec = json_object_get(pod, "spec");
    sh->gated = has_gate(pod);
    sh->host_network = json_is_true(json_object_get(spec, "hostNetwork"));
    sh->sidecar = sidecar;
    sh->limit = memory_of(ctr, "limits");
    sh->request = memory_of(ctr, "requests");
    const json_t *env = json_object_get(ctr, "env"), *e;
    size_t i;
    sh->rz_restart = false;
    json_array_foreach(json_object_get(ctr, "resizePolicy"), i, e)
    {
        const char *r = json_string_value(json_object_get(e, "resourceName"));
        const char *pol = json_string_value(json_object_get(e, "restartPolicy"));
        if (r && pol && !strcmp(r, "memory") && !strcmp(pol, "RestartContainer"))
            sh->rz_restart = true;
    }
    sh->gomemlimit = 0;
    json_array_foreach(env, i, e)
    {
        const char *n = json_string_value(json_object_get(e, "name"));
        const char *v = json_string_value(json_object_get(e, "value"));
        int64_t bytes;
        if (n && !strcmp(n, "GOMEMLIMIT"))
            sh->gomemlimit = v && ann_parse_gomemlimit(v, &bytes) ? bytes : -1;
    }
    /* A ReplicaSet named "<deployment>-<pod-template-hash>" is a Deployment's. */
    const char *hash = kobj_str(pod, "metadata.labels.pod-template-hash");
    size_t hl = hash ? strlen(hash) : 0, nl = strlen(sh->owner_name);
    sh->wl_cut = 0;
    if (hl && hl < 64 && !strcmp(sh->owner_kind, "ReplicaSet") && nl > hl + 1 &&
        sh->owner_name[nl - hl - 1] == '-' && !strcmp(sh->owner_name + nl - hl, hash))
        sh->wl_cut = (uint8_t)(hl + 1);
}

static const struct pc_port *shape_ports(const struct pc_shape *sh) { return sh->ports; }

static const char *shape_strings(const struct pc_shape *sh)
{
    return (const char *)(shape_ports(sh) + sh->nports);
}

/* Two shapes are one when every field a decision reads is equal; the hash
 * is compared first, so most misses cost one comparison. */
static bool shape_eq(const struct pc_shape *a, const struct pc_shape *b)
{
    if (a->hash != b->hash || a->limit != b->limit || a->request != b->request ||
        a->gomemlimit != b->gomemlimit || a->nports != b->nports || a->wl_cut != b->wl_cut ||
        a->gated != b->gated || a->host_network != b->host_network || a->sidecar != b->sidecar ||
        a->rz_restart != b->rz_restart || a->ann_len != b->ann_len || a->str_len != b->str_len)
        return false;
    for (uint16_t i = 0; i < a->nports; i++)
        if (a->ports[i].port != b->ports[i].port)
            return false;
    return !memcmp(shape_strings(a), shape_strings(b), a->str_len);
}

/* Returns: the interned shape of pod (one more reference). */
static const struct pc_shape *shape_of(struct podcache *c, const json_t *pod, const json_t *ctr,
                                       bool sidecar)
{
    struct pc_shape tmp = {0};
    struct builder b = {NULL, 0};
    fill_shape(&tmp, NULL, &b, pod, ctr);
    size_t np = tmp.nports;
    size_t head = sizeof(struct pc_shape) + c->shape_user + np * sizeof(struct pc_port);
    size_t total = head + b.len;
    struct pc_shape *sh = mb_xcalloc(1, total);
    struct pc_port *ports = (struct pc_port *)(void *)(sh->user + c->shape_user);
    sh->ports = ports;
    b.out = (char *)sh + head;
    b.len = 0;
    fill_shape(sh, ports, &b, pod, ctr);
    MB_ASSERT(head + b.len == total && sh->nports == np);
    fill_shape_scalars(sh, pod, ctr, sidecar);
    sh->bytes = (uint32_t)total;
    sh->str_len = (uint32_t)b.len;
    uint64_t h = fnv(FNV0, b.out, b.len);
    int64_t sc[3] = {sh->limit, sh->request, sh->gomemlimit};
    h = fnv(h, sc, sizeof sc);
    for (size_t i = 0; i < np; i++)
        h = fnv(h, &ports[i].port, sizeof ports[i].port);
    h = fnv(h, (uint8_t[]){sh->wl_cut, sh->gated, sh->host_network, sh->sidecar, sh->rz_restart},
            5);
    sh->hash = h;

    struct iset *t = &c->shapes;
    for (struct pc_shape *e = t->b[h & (t->cap - 1)]; e; e = e->next)
        if (shape_eq(e, sh)) {
            mb_free(sh);
            e->refs++;
            return e;
        }
    sh->refs = 1;
    sh->next = t->b[h & (t->cap - 1)];
    t->b[h & (t->cap - 1)] = sh;
    t->n++;
    t->bytes += total;
    if (t->n > t->cap)
        iset_grow(t, offsetof(struct pc_shape, next), offsetof(struct pc_shape, hash));
    return sh;
}

/* One reference less; the last one frees the shape (with the controller's
 * per-shape data, shape.user, that came with it). */
static void shape_release(struct podcache *c, const struct pc_shape *csh)
{
    struct pc_shape *sh = (struct pc_shape *)csh;
    if (--sh->refs)
        return;
    struct iset *t = &c->shapes;
    struct pc_shape **pp = (struct pc_shape **)&t->b[sh->hash & (t->cap - 1)];
    while (*pp != sh)
        pp = &(*pp)->next;
    *pp = sh->next;
    t->n--;
    t->bytes -= sh->bytes;
    mb_free(sh);
}

/* The kubelet's PodResizePending message kept (for an Event): at most. */
#define PC_RZMSG_MAX 300

/* Fill the record's own strings through b (measure when b->out is NULL):
 * name, uid, podIP, record, the resize message, the resourceVersion (64
 * bytes at most), each NUL-ended, at offsets from name. */
static void fill(struct pc_pod *p, struct builder *b, const json_t *pod)
{
    const json_t *md = json_object_get(pod, "metadata");
    const json_t *st = json_object_get(pod, "status");
    const char *record = NULL, *rzmsg = NULL;
    const json_t *conds = json_object_get(st, "conditions"), *cnd;
    size_t i;
    json_array_foreach(conds, i, cnd)
    {
        const char *t = json_string_value(json_object_get(cnd, "type"));
        if (t && strcmp(t, ANN_RECORD_CONDITION) == 0)
            record = json_string_value(json_object_get(cnd, "message"));
        else if (t && strcmp(t, "PodResizePending") == 0)
            rzmsg = json_string_value(json_object_get(cnd, "message"));
    }
    puts_(b, json_string_value(json_object_get(md, "name")));
    p->o_uid = (uint16_t)b->len;
    const char *uid = json_string_value(json_object_get(md, "uid"));
    uint8_t raw[16];
    p->uid_bin = uuid_parse(uid, raw);
    if (p->uid_bin)
        put(b, (const char *)raw, sizeof raw);
    else
        puts_(b, uid);
    p->o_ip = (uint16_t)b->len;
    puts_(b, json_string_value(json_object_get(st, "podIP")));
    p->o_record = (uint16_t)b->len;
    puts_(b, record);
    p->o_rzmsg = (uint16_t)b->len;
    put(b, rzmsg ? rzmsg : "", rzmsg ? strnlen(rzmsg, PC_RZMSG_MAX) : 0);
    p->o_rv = (uint16_t)b->len;
    const char *rv = json_string_value(json_object_get(md, "resourceVersion"));
    put(b, rv ? rv : "", rv ? strnlen(rv, 64) : 0);
}

/* The strings a record may hold: longer ones make the pod unreadable here
 * (names and uids are far shorter; a record is at most GQ_RECORD_MAX). */
#define PC_STRINGS_MAX 8192

/* Conditions and phase: Ready, ours and its reason (interned). */
static void fill_status(struct podcache *c, struct pc_pod *p, const json_t *pod)
{
    const json_t *st = json_object_get(pod, "status");
    const json_t *conds = json_object_get(st, "conditions"), *cnd;
    size_t i;
    p->ready = false;
    p->resize = PC_RZ_NONE;
    p->cond = PC_COND_ABSENT;
    p->cond_reason = "";
    p->phase = intern(&c->strs, json_string_value(json_object_get(st, "phase")));
    p->node = intern(&c->strs, kobj_str(pod, "spec.nodeName"));
    json_array_foreach(conds, i, cnd)
    {
        const char *t = json_string_value(json_object_get(cnd, "type"));
        const char *s = json_string_value(json_object_get(cnd, "status"));
        if (!t || !s)
            continue;
        if (strcmp(t, "Ready") == 0)
            p->ready = strcmp(s, "True") == 0;
        else if (strcmp(t, "PodResizePending") == 0 && strcmp(s, "True") == 0) {
            const char *r = json_string_value(json_object_get(cnd, "reason"));
            p->resize = r && !strcmp(r, "Deferred")     ? PC_RZ_DEFERRED
                        : r && !strcmp(r, "Infeasible") ? PC_RZ_INFEASIBLE
                                                        : PC_RZ_PENDING;
        } else if (strcmp(t, "PodResizeInProgress") == 0 && strcmp(s, "True") == 0 &&
                   p->resize == PC_RZ_NONE)
            p->resize = PC_RZ_IN_PROGRESS;
        else if (strcmp(t, ANN_CONDITION) == 0 && p->cond == PC_COND_ABSENT) {
            p->cond = strcmp(s, "True") == 0    ? PC_COND_TRUE
                      : strcmp(s, "False") == 0 ? PC_COND_FALSE
                                                : PC_COND_UNKNOWN;
            p->cond_reason = intern(&c->strs, json_string_value(json_object_get(cnd, "reason")));
        }
    }
}

/* The target container's status: in containerStatuses, or among the init
 * containers' for a native sidecar. */
static const json_t *target_status(const json_t *st, const char *name)
{
    const char *lists[] = {"containerStatuses", "initContainerStatuses"};
    for (size_t l = 0; l < MB_ARRAY_LEN(lists); l++) {
        const json_t *cs = json_object_get(st, lists[l]), *c;
        size_t i;
        json_array_foreach(cs, i, c)
        {
            const char *n = json_string_value(json_object_get(c, "name"));
            if (n && !strcmp(n, name))
                return c;
        }
    }
    return NULL;
}

/* Restarts and the last termination of the target container; the limit
 * it runs, against its spec's (after fill_status). */
static void fill_container(struct pc_pod *p, const json_t *pod)
{
    const json_t *cs = target_status(json_object_get(pod, "status"), p->sh->container);
    int64_t running = memory_of(cs, "limits");
    if (p->resize == PC_RZ_NONE && running && running != p->sh->limit)
        p->resize = PC_RZ_UNACTUATED;
    const json_t *term = json_object_get(json_object_get(cs, "lastState"), "terminated");
    json_int_t rc = json_integer_value(json_object_get(cs, "restartCount"));
    p->restarts = rc > 0 && rc <= UINT32_MAX ? (uint32_t)rc : 0;
    const char *reason = json_string_value(json_object_get(term, "reason"));
    p->last_oom = reason && !strcmp(reason, "OOMKilled");
    p->last_exit = (int32_t)json_integer_value(json_object_get(term, "exitCode"));
    const char *at = json_string_value(json_object_get(term, "finishedAt"));
    if (!at || !kobj_parse_time(at, strlen(at), &p->last_term_at))
        p->last_term_at = 0;
}

void pc_workload(const struct pc_pod *p, const char **kind, char *name, size_t len)
{
    const struct pc_shape *sh = p->sh;
    if (!*sh->owner_name) {
        *kind = "Pod";
        snprintf(name, len, "%s", p->name);
    } else if (sh->wl_cut) {
        *kind = "Deployment";
        snprintf(name, len, "%.*s", (int)(strlen(sh->owner_name) - sh->wl_cut), sh->owner_name);
    } else {
        *kind = sh->owner_kind;
        snprintf(name, len, "%s", sh->owner_name);
    }
}

/* A record from a pod object: measured, then copied into one allocation.
 * A pod whose own strings are too long (PC_STRINGS_MAX: name, uid, IP
 * and the record together) is refused rather than kept. */
static mb_err build(struct podcache *c, const json_t *pod, struct pc_pod **out,
                    struct mb_diag *diag)
{
    const json_t *md = json_object_get(pod, "metadata");
    if (!json_is_object(md) || !json_string_value(json_object_get(md, "name")))
        return mb_diag_set(diag, MB_EINVAL, "pod object without metadata.name");
    bool sidecar;
    const json_t *ctr = target_container(pod, &sidecar);
    struct pc_pod tmp = {0};
    struct builder b = {NULL, 0};

    fill(&tmp, &b, pod);
    if (b.len > PC_STRINGS_MAX)
        return mb_diag_set(diag, MB_EINVAL,
                           "pod %s: name, uid, podIP and the remediation record are %zu bytes "
                           "together, over %d",
                           json_string_value(json_object_get(md, "name")), b.len, PC_STRINGS_MAX);
    size_t total = sizeof(struct pc_pod) + b.len;
    struct pc_pod *p = mb_xcalloc(1, total);
    b.out = p->name;
    b.len = 0;
    fill(p, &b, pod);
    MB_ASSERT(sizeof(struct pc_pod) + b.len == total);
    p->bytes = (uint32_t)total;
    p->sh = shape_of(c, pod, ctr, sidecar);
    p->deleting = json_string_value(json_object_get(md, "deletionTimestamp")) != NULL;
    fill_status(c, p, pod);
    fill_container(p, pod);
    *out = p;
    return MB_OK;
}

/* --- changes ------------------------------------------------------------------- */

static void remove_at(struct podcache *c, size_t i)
{
    struct pc_pod *old = c->slots[i];
    c->slots[i] = TOMB;
    c->tombs++;
    c->n--;
    c->bytes -= old->bytes;
    if (c->fn)
        c->fn(c->ctx, PC_DELETED, old, NULL);
    record_free(c, old);
}

/* Which pods are worth a record: all of a governed namespace's, none of
 * an excluded one's, and elsewhere only those that carry membudget's
 * marks (pc_pod_relevant: a budget annotation, or the gate). A
 * cluster-wide watch of 300k pods keeps the few hundred membudget has to
 * do with, not all of them. */
static bool keep(struct podcache *c, const json_t *pod)
{
    const char *ns = kobj_str(pod, "metadata.namespace");
    switch (c->scope && ns ? c->scope(c->ctx, ns) : PC_NS_OTHER) {
    case PC_NS_EXCLUDED:
        return false;
    case PC_NS_GOVERNED:
        return true;
    case PC_NS_OTHER:
        break;
    }
    return pc_pod_relevant(pod);
}

/* Add or replace a pod's record, telling the listener (old, new) before
 * the old record is freed; the controller's per-pod state (user) moves to
 * the new record. A pod that stops being worth keeping is removed. */
static mb_err upsert(struct podcache *c, const json_t *pod, struct mb_diag *diag)
{
    const char *ns = kobj_str(pod, "metadata.namespace"), *name = kobj_str(pod, "metadata.name");
    bool found;
    if (!name)
        return mb_diag_set(diag, MB_EINVAL, "pod object without metadata.name");
    if (!ns)
        ns = "";
    size_t i = find(c, ns, name, &found);
    if (!keep(c, pod)) {
        if (found)
            remove_at(c, i);
        return MB_OK;
    }
    struct pc_pod *p = NULL;
    mb_err e = build(c, pod, &p, diag);
    if (e)
        return e;
    p->gen = c->gen;
    if (found) {
        struct pc_pod *old = c->slots[i];
        p->user = old->user;
        c->slots[i] = p;
        c->bytes += p->bytes - old->bytes;
        if (c->fn)
            c->fn(c->ctx, PC_UPDATED, old, p);
        record_free(c, old);
        return MB_OK;
    }
    if (c->slots[i] == TOMB)
        c->tombs--;
    c->slots[i] = p;
    c->n++;
    c->bytes += p->bytes;
    if ((c->n + c->tombs) * 10 >= c->cap * 7)
        rehash(c, c->n * 10 >= c->cap * 5 ? c->cap * 2 : c->cap);
    if (c->fn)
        c->fn(c->ctx, PC_ADDED, NULL, p);
    return MB_OK;
}

mb_err pc_apply(struct podcache *c, enum kobj_ev type, const json_t *pod, struct mb_diag *diag)
{
    if (type == KOBJ_ADDED || type == KOBJ_MODIFIED)
        return upsert(c, pod, diag);
    if (type != KOBJ_DELETED)
        return MB_OK;
    const char *ns = kobj_str(pod, "metadata.namespace"), *name = kobj_str(pod, "metadata.name");
    bool found;
    if (!name)
        return mb_diag_set(diag, MB_EINVAL, "deleted pod object without metadata.name");
    size_t i = find(c, ns ? ns : "", name, &found);
    if (found)
        remove_at(c, i);
    return MB_OK;
}

/* A relist marks what it sees with a new generation; pc_relist_end()
 * removes what it did not see (deleted while the watch was down), in the
 * relisted namespace only when the list was one namespace's. */
void pc_relist_begin(struct podcache *c, const char *ns)
{
    c->gen++;
    MB_FREE(c->relist_ns);
    c->relist_ns = mb_xstrdup(ns ? ns : "");
}

mb_err pc_relist_item(struct podcache *c, const json_t *pod, struct mb_diag *diag)
{
    return upsert(c, pod, diag);
}

size_t pc_relist_end(struct podcache *c)
{
    size_t gone = 0;
    const char *ns = c->relist_ns ? c->relist_ns : "";
    for (size_t i = 0; i < c->cap; i++) {
        struct pc_pod *p = c->slots[i];
        if (!p || p == TOMB || p->gen == c->gen || (*ns && strcmp(p->sh->ns, ns) != 0))
            continue;
        remove_at(c, i);
        gone++;
    }
    MB_FREE(c->relist_ns);
    return gone;
}

void pc_prune_namespace(struct podcache *c, const char *ns)
{
    for (size_t i = 0; i < c->cap; i++) {
        struct pc_pod *p = c->slots[i];
        if (!p || p == TOMB || strcmp(p->sh->ns, ns) != 0 || p->sh->gated || pc_ann(p, "budget"))
            continue;
        remove_at(c, i);
    }
}

void pc_clear(struct podcache *c)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->slots[i] && c->slots[i] != TOMB)
            remove_at(c, i);
}

struct pc_pod *pc_get_mut(struct podcache *c, const char *ns, const char *name)
{
    bool found;
    size_t i = find(c, ns, name, &found);
    return found ? c->slots[i] : NULL;
}

const struct pc_pod *pc_get(const struct podcache *c, const char *ns, const char *name)
{
    return pc_get_mut((struct podcache *)c, ns, name);
}

size_t pc_count(const struct podcache *c) { return c->n; }

size_t pc_bytes(const struct podcache *c)
{
    return c->bytes + c->cap * sizeof *c->slots + sizeof *c + c->strs.bytes +
           c->strs.cap * sizeof *c->strs.b + c->shapes.bytes + c->shapes.cap * sizeof *c->shapes.b;
}

struct pc_pod *pc_next(const struct podcache *c, size_t *pos)
{
    while (*pos < c->cap) {
        struct pc_pod *p = c->slots[(*pos)++];
        if (p && p != TOMB)
            return p;
    }
    return NULL;
}

const char *pc_ann(const struct pc_pod *p, const char *key)
{
    const char *s = p->sh->ann, *end = s + p->sh->ann_len;
    while (s < end) {
        const char *v = s + strlen(s) + 1;
        if (strcmp(s, key) == 0)
            return v;
        s = v + strlen(v) + 1;
    }
    return NULL;
}

json_t *pc_ann_json(const struct pc_pod *p)
{
    json_t *o = json_object();
    char key[sizeof ANN_PREFIX + 64];
    for (const char *s = p->sh->ann, *end = s + p->sh->ann_len; s < end;) {
        const char *v = s + strlen(s) + 1;
        snprintf(key, sizeof key, "%s%s", ANN_PREFIX, s);
        json_object_set_new(o, key, json_string(v));
        s = v + strlen(v) + 1;
    }
    return o;
}

static const char *cond_name(enum pc_cond c)
{
    switch (c) {
    case PC_COND_TRUE:
        return "True";
    case PC_COND_FALSE:
        return "False";
    case PC_COND_UNKNOWN:
        return "Unknown";
    default:
        return NULL;
    }
}

json_t *pc_pod_json(const struct pc_pod *p)
{
    const struct pc_shape *sh = p->sh;
    json_t *ann = json_object();
    const char *s = sh->ann, *end = s + sh->ann_len;
    while (s < end) {
        const char *v = s + strlen(s) + 1;
        json_object_set_new(ann, s, json_string(v));
        s = v + strlen(v) + 1;
    }
    const char *cond = cond_name(p->cond);
    char ub[PC_UID_BUF];
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:b,s:b,s:b,s:o,s:s,s:I,s:o}", "namespace",
                          p->sh->ns, "name", p->name, "uid", pc_uid(p, ub), "node", p->node,
                          "podIP", pc_ip(p), "phase", p->phase, "container", sh->container, "ready",
                          p->ready, "deleting", p->deleting, "gated", sh->gated, "condition",
                          cond ? json_string(cond) : json_null(), "owner", sh->owner_kind,
                          "limitBytes", (json_int_t)sh->limit, "annotations", ann);
    if (*sh->owner_name)
        json_object_set_new(j, "owner", json_sprintf("%s/%s", sh->owner_kind, sh->owner_name));
    if (p->resize != PC_RZ_NONE) {
        json_object_set_new(j, "resize", json_string(pc_resize_name(p->resize)));
        if (*pc_resize_msg(p))
            json_object_set_new(j, "resizeMessage", json_string(pc_resize_msg(p)));
    }
    return j;
}

const char *pc_resize_name(enum pc_resize r)
{
    static const char *const N[] = {"none",     "unactuated", "in-progress",
                                    "deferred", "infeasible", "pending"};
    return (unsigned)r < MB_ARRAY_LEN(N) ? N[r] : "?";
}
