/*
 * controller_int.h -- private to src/controller: the controller and its
 * per-pod state. Its files:
 *
 *   controller.c  reflectors -> the pod cache, /debug/pods, wiring
 *   governed.c    the governed namespaces
 *   gateq.c       the pod conditions (its own header, gateq.h)
 *   remedy.c      the executor: samples -> the planner's plans -> actions;
 *                 capture.c, eviction.c and resize.c carry out its parts
 *                 (remedy_int.h); its state is struct remedy
 *   insight.c     recommendations, the OOM ledger's counts, checkpoints;
 *                 its state is struct insight
 *
 * Nothing calls back up into controller.c.
 */
#ifndef MB_CONTROLLER_INT_H
#define MB_CONTROLLER_INT_H

#include <event2/event.h>
#include <stdatomic.h>
#include <jansson.h>
#include "membudget/backoff.h"
#include "membudget/config.h"
#include "membudget/evlimit.h"
#include "membudget/gateq.h"
#include "membudget/kapi.h"
#include "membudget/metrics.h"
#include "membudget/planner.h"
#include "membudget/podcache.h"
#include "membudget/recommend.h"
#include "membudget/recorder.h"
#include "membudget/sampler.h"

struct loop;
struct podsink;

struct podstate {
    struct gq_item gq;     /* gq.pod: the pod's current record (kept current by on_pod);
                            * the conditions it should have (gateq.h) */
    struct pl_pod *pl;     /* the leader's state (struct podrun), NULL until sampled */
    int64_t ml_old_budget; /* a budget change not yet acted on (GOMEMLIMIT) */
};

/* Its annotations, parsed once per shape: the spec that on_pod made for the
 * current record's shape (pc_shape.user starts with it). */
#define SPEC(s) ((const struct pl_spec *)(s)->gq.pod->sh->user)

/* What only a leader that samples the pod holds (remedy.c, insight.c): made
 * with the planner's state, which it starts with, and freed with it. */
struct podrun {
    struct pl_pod pl; /* first: podstate.pl points here */
    struct controller *c;
    uint64_t gc_call, thr_call, prof_call, evict_call, ml_call;
    struct capture *cap; /* the pod's captures: the one under way, what the last found */
    struct resizing *rz; /* the resize under way (the resize tier) */
    bool evl_held;       /* an eviction slot is held for this pod's attempt */
    /* Intent before action (pl_gc_intent): a GC, a capture, waiting for the
     * cluster's record to hold it (remedy_intents); the times are the
     * planner's (pl.last_gc_wall, pl.profile_at). In evl_held's padding. */
    bool gc_wait, prof_wait;
    struct event *wake;   /* the planner's retry timer, made when first needed */
    struct rc_window win; /* this pod's current peak window (insight.c) */
};
#define RUN(s) ((struct podrun *)(void *)(s)->pl)

/* The executor's state (remedy.c, capture.c, eviction.c, resize.c):
 * remedy_init() makes it, remedy_cleanup() frees it. */
struct remedy {
    struct pl_conf pcf;
    struct sampler *sampler;
    struct evlimit evl;
    struct mx_family *m_transitions, *m_actions, *m_ratio, *m_rate_limited, *m_leak, *m_gc_freed,
        *m_in_tier, *m_owner_slots, *m_gc_share, *m_thrashing, *m_captures;
    /* captures (capture.c): where they go, who analyses them */
    struct outbox *outbox; /* profiles.store: s3; NULL: the directory */
    struct fx *fx;         /* NULL: no analysis */
    uint64_t fx_seq;
    unsigned captures_inflight;
};

/* The recommendations, the OOM ledger's counts and the checkpoints
 * (insight.c): insight_init() makes it, insight_cleanup() frees it. */
struct insight {
    struct rc_table *rc;
    struct rc_conf rcf;
    uint32_t rc_expired_at;
    struct ckpt_call *ck; /* checkpoint writes and deletes in flight (CKPT_INFLIGHT) */
    uint64_t ck_list;     /* the list of checkpoints (a new leader's), in flight */
    bool rc_restoring;    /* leading, checkpoints not yet all read (samples count,
                             rc_restore merges; no checkpoint is written meanwhile) */
    bool rc_clearing;     /* insight_reset: owners go, their checkpoints stay */
    unsigned ck_tries;    /* lists of checkpoints that failed */
    uint32_t ck_retry_at;
    uint32_t ck_session;   /* this leadership's reading of the checkpoints (rc_restore) */
    unsigned ck_pages;     /* pages read in this try */
    char ck_continue[512]; /* the list's next page */
    struct mx_family *m_ckpt;
    struct mx_family *m_ooms, *m_oom_unprevented, *m_rec_budget, *m_rec_limit, *m_owner_budget,
        *m_owner_limit, *m_rec_bytes, *m_prof_bytes, *m_prof_deleted;
};

struct controller {
    struct loop *lp;
    const struct mb_clock *clk;
    struct kapi *api;
    struct mx *mx;
    struct podcache *cache;
    struct reflector **pods; /* one per namespace, or one cluster-wide */
    struct podsink *sinks;   /* their contexts, one each */
    size_t npods;
    struct reflector *nsr; /* governed-namespace watch (label mode) */
    char **governed;       /* governed namespace names */
    size_t ngoverned, capgoverned;
    char **prev; /* the governed set before a namespace relist */
    size_t nprev;
    bool explicit_ns; /* namespaces from config/flags */
    char own_ns[64];  /* membudget's namespace, "" when unknown */
    bool dry_run;
    bool leader, stopped;
    atomic_bool fenced; /* shutdown began (controller_fence): start no write */
    size_t synced_pods; /* pod reflectors that finished a list */
    bool initial_logged;
    mb_mono_ms started;
    struct gateq *gq;       /* pod conditions */
    struct event *gauges;   /* 1 s: state gauges, synced_pub */
    atomic_bool synced_pub; /* controller_synced(), for the ops thread's /readyz */
    uint64_t rnd;
    struct mx_family *m_tracked, *m_cache_bytes, *m_leader, *m_addr_refused;
    /* wiring: the config, and what remedy.c and insight.c both call */
    const struct cfg *cfg;
    struct podcall *calls; /* pod endpoints: scrapes, GC, throttle, profiles */
    struct recorder *rec;
    struct remedy rm;   /* remedy.c and its executor files */
    struct insight ins; /* insight.c */
};

/* governed.c: the governed namespaces */
bool gov_has(const struct controller *c, const char *ns);
bool gov_excluded(const struct controller *c, const char *ns);
bool gov_add(struct controller *c, const char *ns);    /* false: already, or excluded (logged) */
bool gov_remove(struct controller *c, const char *ns); /* false: was not governed */

/* remedy.c */
void remedy_init(struct controller *c, struct loop *lp);
void remedy_start(struct controller *c);
void remedy_stop(struct controller *c);
void remedy_cleanup(struct controller *c);
void remedy_collect(struct controller *c);                                 /* metrics collector */
void remedy_pod_gone(struct controller *c, struct podstate *s, bool gone); /* frees s->pl */
void remedy_pod_ready(struct controller *c, const struct pc_pod *p);
void remedy_reset(struct controller *c); /* leadership lost */
/* The pod changed (its record may now hold an intent), or a sample came:
 * act on intents the cluster's record holds, give up those it has not
 * held for INTENT_MAX_MS. */
void remedy_intents(struct controller *c, struct podstate *s);
json_t *remedy_pod_json(const struct podstate *s); /* Returns: new object, or NULL */
/* An OOM kill to count, a GOMEMLIMIT to update (old_budget: the budget
 * before a change the watch showed, else 0). Leader only. */
void remedy_check_container(struct controller *c, struct podstate *s, int64_t old_budget);

/* insight.c */
struct ops;
void insight_init(struct controller *c, struct ops *ops, struct loop *lp);
void insight_cleanup(struct controller *c);
void insight_collect(struct controller *c);
void insight_reset(struct controller *c);
void insight_lead(struct controller *c); /* leadership gained: read the checkpoints back */
void insight_oom(struct controller *c, const struct pc_pod *p, const char *reason);
void insight_sample(struct controller *c, struct podstate *s, const struct smp_result *r,
                    bool after_gc, mb_mono_ms now); /* now: the sample callback's */
void profiles_enforce(struct controller *c);
/* A /debug route's answer: root (consumed) as compact JSON into out; 500
 * with a short text when it does not fit. Returns the HTTP status. */
struct mb_buf;
int debug_reply_json(json_t *root, struct mb_buf *out, const char **content_type);

#endif
