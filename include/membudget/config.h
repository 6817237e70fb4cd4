/*
 * config.h -- the membudget config file (pure: YAML text in, struct out).
 *
 * The whole schema of docs/design.md, every key optional, defaults as documented
 * there. Keys are described in one table (nginx's ngx_command_t, h2o's
 * configurator): name, type, bounds, where the value goes. Any unknown key,
 * wrong type or out-of-range value is an error that names the file, the
 * line and column, and the dotted key:
 *
 *   /etc/membudget/config.yaml:7:3: admission.maxBodyBytes: "3MB": unknown suffix ...
 *
 * Durations are Go-style ("15s", "2m", "1h30m", "500ms"); sizes are
 * Kubernetes quantities ("3Mi"). A `tiers` map names the active tiers: a
 * tier left out of it is off (the same rule as the membudget.io/tiers
 * annotation).
 */
#ifndef MB_CONFIG_H
#define MB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/annot.h"
#include "membudget/err.h"
#include "membudget/policy.h"

#define CFG_MAX_FILE_BYTES (1024 * 1024) /* callers refuse larger files */

enum cfg_source { CFG_SOURCE_AUTO, CFG_SOURCE_METRICS_API, CFG_SOURCE_SCRAPE };
/* profiles.store: the profile directory only, or an S3-compatible bucket */
enum cfg_store { CFG_STORE_LOCAL, CFG_STORE_S3 };

/* A list of namespace names (owned). */
struct cfg_names {
    char **v;
    size_t n;
};

/* Never governed, whatever the config says (docs/design.md): excludedNamespaces
 * adds to these, and membudget's own namespace is added at run time. */
#define CFG_ALWAYS_EXCLUDED                                                                        \
    {                                                                                              \
        "kube-system", "kube-public", "kube-node-lease"                                            \
    }

struct cfg {
    bool dry_run;
    struct cfg_names namespaces; /* empty: every namespace labelled membudget.io/enforce=true */
    struct cfg_names excluded;   /* excludedNamespaces (defaults: CFG_ALWAYS_EXCLUDED) */
    struct ann_tiers tiers;
    uint64_t sample_interval_ms;
    unsigned sustain_samples;
    unsigned recover_samples;
    unsigned hysteresis; /* percentage points */
    uint64_t gc_min_interval_ms;
    struct {
        unsigned window; /* samples */
        double min_slope_pct_per_min;
    } leak;
    struct {
        unsigned percent; /* share of CPU in GC that counts as thrashing */
        bool evict;       /* thrashing counts as the evict tier */
    } gc_thrash;
    struct {
        unsigned margin_pct;             /* added to p95 of the peaks */
        uint64_t half_life_ms;           /* a peak's weight halves every half life */
        uint64_t peak_window_ms;         /* one peak per pod per window */
        uint64_t checkpoint_interval_ms; /* an owner's checkpoint at most this often; 0: none */
    } recommend;
    struct {
        enum cfg_source source;
        uint64_t scrape_timeout_ms;
        unsigned max_concurrent_scrapes;
        int64_t max_response_bytes;
        bool allow_loopback;     /* pod IPs on loopback may be called (single-machine setups) */
        bool allow_host_network; /* hostNetwork pods (the node's IP) may be called */
    } usage;
    struct {
        unsigned max_per_minute;
        unsigned per_owner_in_flight;
        char *profile_dir; /* owned */
        int64_t profile_max_bytes;
        int64_t profile_dir_max_bytes;    /* the oldest files go beyond this */
        uint64_t owner_settle_timeout_ms; /* the owner's slot is held at most this long */
        bool gc_first;                    /* one last GC before the first eviction attempt */
    } eviction;
    /* profiles: where captures go, and how often they are taken */
    struct {
        enum cfg_store store;
        uint64_t min_interval_ms; /* one pod's baseline captures at most this often */
        unsigned max_in_flight;   /* captures under way at once, cluster-wide */
        int64_t queue_max_bytes;  /* s3: the outbox on disk; the oldest go beyond it */
        struct cfg_s3 {
            char *endpoint, *bucket, *region, *prefix; /* owned */
            bool path_style;                           /* ENDPOINT/BUCKET/KEY, not BUCKET.HOST */
            char *access_key_file, *secret_key_file;   /* owned; read at every request */
            char *session_token_file, *ca_file;        /* owned; NULL: none */
            uint64_t timeout_ms;                       /* one request, whole */
        } s3;
    } profiles;
    struct policy_conf admission; /* admission.default_tiers mirrors tiers */
    int64_t max_body_bytes;       /* admission.maxBodyBytes */
};

/* Fill with the defaults of docs/design.md. Free with cfg_cleanup(). */
void cfg_defaults(struct cfg *c);

void cfg_cleanup(struct cfg *c);

/* Parse `len` bytes of YAML from `filename` (used in messages only) over
 * the defaults. On error returns MB_EPARSE / MB_EINVAL / MB_ERANGE with
 * "file:line:col: key: reason" in diag, and *out untouched. */
mb_err cfg_parse(const char *buf, size_t len, const char *filename, struct cfg *out,
                 struct mb_diag *diag);

/* Is `ns` excluded: one of CFG_ALWAYS_EXCLUDED, in c->excluded (c may be
 * NULL: none), or `own` (membudget's namespace; NULL when unknown)? The one
 * decision the webhook (review.c) and the controller (governed.c) read. */
bool cfg_excluded(const struct cfg *c, const char *ns, const char *own);

/* The default usage.scrapeTimeout for a sampleInterval: CFG_SCRAPE_TIMEOUT_MS,
 * or CFG_SCRAPE_TIMEOUT_PCT percent of the interval when that is shorter
 * (the timeout must stay below the interval). cfg_parse applies it whenever
 * the file leaves scrapeTimeout out. */
#define CFG_SCRAPE_TIMEOUT_MS 2000
#define CFG_SCRAPE_TIMEOUT_PCT 80
uint64_t cfg_default_scrape_timeout(uint64_t sample_interval_ms);

/* Go-style duration ("1h30m", "15s", "250ms") to milliseconds, rounded
 * down. Returns false for malformed or overflowing input. */
bool cfg_parse_duration(const char *s, uint64_t *ms);

#endif /* MB_CONFIG_H */
