/*
 * podcache.h -- the controller's cache of pods: what the watch says exists,
 * reduced to the fields membudget needs.
 *
 * Pure: fed with decoded watch events and list items (jansson objects), it
 * keeps one compact record per pod (a single allocation with its own
 * strings, pointing at interned shapes and strings that pods share) in an
 * open-addressing hash table keyed by namespace/name, and tells
 * a listener what changed. Relists are diffed: pods that vanished while the
 * watch was down get a synthesized delete, so nothing is lost or phantom.
 *
 * Which pods are kept: the `scope` callback says what each namespace is.
 * In an excluded namespace (never governed, config.h cfg_excluded), none;
 * in a governed one, every pod; elsewhere, those carrying
 * membudget.io/budget or the membudget.io/within-budget readiness gate.
 * Others are not stored (a pod that stops qualifying is deleted from the
 * cache).
 *
 * Fields are private to podcache.c except the read-only struct pc_pod.
 */
#ifndef MB_PODCACHE_H
#define MB_PODCACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/clock.h"
#include "membudget/err.h"
#include "membudget/kobj.h"

struct pc_port {
    uint16_t port;
    const char *name; /* "" when unnamed */
};

enum pc_cond { PC_COND_ABSENT, PC_COND_TRUE, PC_COND_FALSE, PC_COND_UNKNOWN };

/* Where an in-place resize of the pod stands, as its status tells (the
 * kubelet's conditions PodResizePending / PodResizeInProgress, and the
 * target container's status.resources against its spec):
 *   NONE        nothing under way: the target runs its spec's memory limit
 *               (or its status does not say which it runs);
 *   UNACTUATED  the target's status limit differs from the spec's, and no
 *               condition says why yet (the kubelet has not looked);
 *   IN_PROGRESS PodResizeInProgress;
 *   DEFERRED, INFEASIBLE, PENDING: PodResizePending with that reason (or
 *               another); pc_resize_msg has the kubelet's words. */
enum pc_resize {
    PC_RZ_NONE,
    PC_RZ_UNACTUATED,
    PC_RZ_IN_PROGRESS,
    PC_RZ_DEFERRED,
    PC_RZ_INFEASIBLE,
    PC_RZ_PENDING
};

/* What the pods made from one template share: namespace, controller owner,
 * target container, membudget.io/ annotations, ports, limit, GOMEMLIMIT.
 * Interned: one copy per distinct shape however many pods have it (a
 * Deployment's replicas hold one between them). Read-only to users. */
struct pc_shape {
    const char *ns;
    const char *owner_kind, *owner_name, *owner_uid; /* the controller owner, or "" */
    const char *container; /* the target container (membudget.io/container or the first) */
    const char *ann;       /* membudget.io/ annotations: "key\0value\0" pairs, key without prefix */
    const struct pc_port *ports; /* the target container's TCP ports */
    int64_t limit;      /* its resources.limits.memory in bytes; 0 when absent or invalid */
    int64_t request;    /* its resources.requests.memory in bytes; 0 when absent or invalid */
    int64_t gomemlimit; /* its env GOMEMLIMIT, a literal value, in bytes; 0 absent, -1 not a size */
    uint32_t ann_len;   /* bytes in ann */
    uint16_t nports;
    uint8_t wl_cut;    /* see pc_workload */
    bool gated;        /* spec.readinessGates has membudget.io/within-budget */
    bool host_network; /* spec.hostNetwork: its IP is the node's */
    bool sidecar;      /* the target is a native sidecar (in spec.initContainers) */
    bool rz_restart;   /* its resizePolicy for memory is RestartContainer */
    /* private to podcache.c */
    uint32_t refs, bytes, str_len;
    uint64_t hash;
    struct pc_shape *next; /* in its hash bucket */
    /* the listener's per-shape state (pc_new's shape_user bytes, zeroed);
       freed with the shape */
    _Alignas(8) unsigned char user[];
};

/* One pod, read-only to users. Every string is non-NULL ("" when absent).
 * Paid once per pod (100k in a large cluster): what pods share is in `sh`;
 * node, phase and the condition's reason are interned; the rest lives in
 * the record's own allocation. */
struct pc_pod {
    const struct pc_shape *sh; /* its namespace is sh->ns */
    const char *node, *phase;
    const char *cond_reason;
    void *user;              /* the listener's per-pod state, carried across updates */
    mb_wall_ms last_term_at; /* target container's lastState.terminated.finishedAt; 0 unknown */
    uint32_t restarts;       /* its restartCount */
    int32_t last_exit;       /* lastState.terminated.exitCode */
    bool ready;              /* condition Ready is True */
    bool deleting;           /* metadata.deletionTimestamp set */
    bool last_oom;           /* its lastState.terminated.reason is OOMKilled */
    uint8_t cond;            /* enum pc_cond: the membudget.io/within-budget condition */
    /* private to podcache.c: pc_uid, pc_ip, pc_record, pc_resize_msg, pc_rv */
    uint16_t o_uid, o_ip, o_record, o_rzmsg; /* offsets of the strings after name */
    bool uid_bin;   /* the uid, a UUID, is kept as its 16 bytes (20 fewer per pod) */
    uint8_t resize; /* enum pc_resize */
    uint16_t o_rv;  /* (in what was padding: the struct stays 80 bytes) */
    uint32_t gen;   /* relist generation last seen in */
    uint32_t bytes; /* size of the allocation */
    char name[];    /* then uid, podIP, the record, the resize message and the
                       resourceVersion, each NUL-ended */
};

/* The pod's uid as text: its own string, or (a UUID kept as 16 bytes)
 * written into buf, which must outlive the use of the result. */
#define PC_UID_BUF 37
const char *pc_uid(const struct pc_pod *p, char buf[PC_UID_BUF]);
/* Do a and b have the same uid? */
bool pc_uid_eq(const struct pc_pod *a, const struct pc_pod *b);

/* status.podIP, and the message of its membudget.io/remediation condition
 * ("" when absent). */
static inline const char *pc_ip(const struct pc_pod *p) { return p->name + p->o_ip; }
static inline const char *pc_record(const struct pc_pod *p) { return p->name + p->o_record; }
/* metadata.resourceVersion ("" when absent): the precondition of
 * membudget's own writes to the pod (gateq.c). */
static inline const char *pc_rv(const struct pc_pod *p) { return p->name + p->o_rv; }
/* The message of its PodResizePending condition ("" when absent). */
static inline const char *pc_resize_msg(const struct pc_pod *p) { return p->name + p->o_rzmsg; }
/* Returns: static name of a resize state ("none", "deferred"...). */
const char *pc_resize_name(enum pc_resize r);

enum pc_change { PC_ADDED, PC_UPDATED, PC_DELETED };

/* Told of every change, after it is applied. ADDED: old NULL. DELETED: cur
 * NULL, old freed after the call. UPDATED: both (old freed after the call).
 * `old->user` is moved to `cur->user` before the call; on DELETED the
 * listener must release old->user. */
typedef void pc_listener_fn(void *ctx, enum pc_change ch, const struct pc_pod *old,
                            struct pc_pod *cur);
enum pc_scope { PC_NS_OTHER, PC_NS_GOVERNED, PC_NS_EXCLUDED };
typedef enum pc_scope pc_scope_fn(void *ctx, const char *ns);

struct podcache;

/* Returns: new cache (pc_free). `fn`, `scope` may be NULL (no scope: every
 * namespace is PC_NS_OTHER). Each shape carries `shape_user` zeroed bytes
 * for the listener (pc_shape.user). */
struct podcache *pc_new(pc_listener_fn *fn, pc_scope_fn *scope, void *ctx, size_t shape_user);

/* Frees every record; the listener is told nothing (its state goes with it:
 * call pc_clear first if it must release per-pod state). NULL-safe. */
void pc_free(struct podcache *c);

/* Delete every record, telling the listener. */
void pc_clear(struct podcache *c);

/* Apply one watch event (ADDED, MODIFIED, DELETED; others are ignored).
 * MB_EINVAL with diag when the object is not a pod with a name. */
mb_err pc_apply(struct podcache *c, enum kobj_ev type, const json_t *pod, struct mb_diag *diag);

/* A relist of namespace `ns` ("" for all): begin, feed each listed pod with
 * pc_relist_item, then end, which deletes (telling the listener) every pod
 * of that scope the list did not contain. */
void pc_relist_begin(struct podcache *c, const char *ns);
mb_err pc_relist_item(struct podcache *c, const json_t *pod, struct mb_diag *diag);
size_t pc_relist_end(struct podcache *c); /* Returns the number of synthesized deletes */

/* Drop the pods of `ns` that are kept only because the namespace was
 * governed (after it stopped being governed). */
void pc_prune_namespace(struct podcache *c, const char *ns);

/* Returns: borrowed record, valid until the next change; NULL when absent. */
const struct pc_pod *pc_get(const struct podcache *c, const char *ns, const char *name);
struct pc_pod *pc_get_mut(struct podcache *c, const char *ns, const char *name);

size_t pc_count(const struct podcache *c);

/* Bytes held by the records and the table (for the per-pod figure). */
size_t pc_bytes(const struct podcache *c);

/* Iterate: start with *pos = 0; returns the next record or NULL at the end.
 * The cache must not change during an iteration. */
struct pc_pod *pc_next(const struct podcache *c, size_t *pos);

/* The workload p belongs to, for per-owner figures: a ReplicaSet's pods
 * (pod-template-hash) belong to its Deployment; other owners are
 * themselves; a pod without one is its own ("Pod"). *kind is static or
 * borrowed from p; name[len] gets the name. */
void pc_workload(const struct pc_pod *p, const char **kind, char *name, size_t len);

/* Returns: borrowed value of the annotation membudget.io/<key> in p, or NULL. */
const char *pc_ann(const struct pc_pod *p, const char *key);

/* Returns: new JSON object of p's membudget.io/ annotations (full keys), as
 * ann_parse() takes them. */
json_t *pc_ann_json(const struct pc_pod *p);

/* Does this object qualify to be kept (ignoring namespace governance)? */
bool pc_pod_relevant(const json_t *pod);

/* Returns: new JSON object describing p (for /debug/pods). */
json_t *pc_pod_json(const struct pc_pod *p);

#endif /* MB_PODCACHE_H */
