/*
 * config.c -- the config file (pure; see config.h): YAML text in (through
 * ydoc, which keeps line and column), a struct cfg out, every key optional
 * with the defaults of docs/design.md. A wrong key or value is an error
 * naming the key, its line and what was expected; unknown keys are errors
 * too (a typo must not silently leave a default in force).
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/config.h"
#include "membudget/quantity.h"
#include "membudget/ydoc.h"

static void names_add(struct cfg_names *l, const char *ns)
{
    l->v = mb_xrealloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n++] = mb_xstrdup(ns);
}

static void names_clear(struct cfg_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        mb_free(l->v[i]);
    MB_FREE(l->v);
    l->n = 0;
}

void cfg_defaults(struct cfg *c)
{
    memset(c, 0, sizeof *c);
    c->tiers = (struct ann_tiers){80, 90, 95};
    c->sample_interval_ms = 15000;
    c->sustain_samples = 2;
    c->recover_samples = 3;
    c->hysteresis = 5;
    c->gc_min_interval_ms = 60000;
    c->leak.window = 10;
    c->leak.min_slope_pct_per_min = 1;
    c->gc_thrash.percent = 50;
    c->recommend.margin_pct = 15;
    c->recommend.half_life_ms = 24ULL * 3600 * 1000;
    c->recommend.peak_window_ms = 5 * 60 * 1000;
    c->recommend.checkpoint_interval_ms = 10 * 60 * 1000;
    c->usage.source = CFG_SOURCE_AUTO;
    c->usage.scrape_timeout_ms = cfg_default_scrape_timeout(c->sample_interval_ms);
    c->usage.max_concurrent_scrapes = 256;
    c->usage.max_response_bytes = 4LL << 20;
    c->eviction.max_per_minute = 5;
    c->eviction.per_owner_in_flight = 1;
    c->eviction.profile_dir = mb_xstrdup("/var/lib/membudget/profiles");
    c->eviction.profile_max_bytes = 64LL << 20;
    c->eviction.profile_dir_max_bytes = 1LL << 30;
    c->eviction.owner_settle_timeout_ms = 5 * 60 * 1000;
    c->eviction.gc_first = true;
    c->profiles.store = CFG_STORE_LOCAL;
    c->profiles.min_interval_ms = 5 * 60 * 1000;
    c->profiles.max_in_flight = 4;
    c->profiles.queue_max_bytes = 256LL << 20;
    c->profiles.s3.region = mb_xstrdup("us-east-1");
    c->profiles.s3.prefix = mb_xstrdup("membudget");
    c->profiles.s3.timeout_ms = 60000;
    static const char *const EX[] = CFG_ALWAYS_EXCLUDED;
    for (size_t i = 0; i < MB_ARRAY_LEN(EX); i++)
        names_add(&c->excluded, EX[i]);
    policy_conf_defaults(&c->admission);
    c->admission.default_tiers = c->tiers;
    c->max_body_bytes = 6LL << 20;
}

void cfg_cleanup(struct cfg *c)
{
    names_clear(&c->namespaces);
    names_clear(&c->excluded);
    MB_FREE(c->eviction.profile_dir);
    struct cfg_s3 *s3 = &c->profiles.s3;
    char **owned[] = {&s3->endpoint,
                      &s3->bucket,
                      &s3->region,
                      &s3->prefix,
                      &s3->access_key_file,
                      &s3->secret_key_file,
                      &s3->session_token_file,
                      &s3->ca_file};
    for (size_t i = 0; i < MB_ARRAY_LEN(owned); i++)
        MB_FREE(*owned[i]);
}

bool cfg_excluded(const struct cfg *c, const char *ns, const char *own)
{
    static const char *const EX[] = CFG_ALWAYS_EXCLUDED;
    for (size_t i = 0; i < MB_ARRAY_LEN(EX); i++)
        if (!strcmp(ns, EX[i]))
            return true;
    for (size_t i = 0; c && i < c->excluded.n; i++)
        if (!strcmp(ns, c->excluded.v[i]))
            return true;
    return own && *own && !strcmp(ns, own);
}

/* Go's time.ParseDuration syntax ("1m30s", "500ms", "1.5h"), as every
 * Kubernetes component writes durations, so a value copied from a
 * controller-runtime flag reads the same here. Whole milliseconds out;
 * more than about 292 years is refused rather than wrapped. */
bool cfg_parse_duration(const char *s, uint64_t *ms)
{
    static const struct {
        const char *unit;
        double ns;
    } U[] = {{"ns", 1},  {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6},
             {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
    double total = 0;

    if (!strcmp(s, "0")) {
        *ms = 0;
        return true;
    }
    if (!*s)
        return false;
    while (*s) {
        char *end;
        double v;
        size_t best = 0, bestlen = 0;

        if (!((*s >= '0' && *s <= '9') || *s == '.'))
            return false;
        v = strtod(s, &end);
        if (end == s)
            return false;
        s = end;
        for (size_t i = 0; i < MB_ARRAY_LEN(U); i++) {
            size_t l = strlen(U[i].unit);
            if (!strncmp(s, U[i].unit, l) && l > bestlen)
                best = i, bestlen = l;
        }
        if (!bestlen)
            return false;
        total += v * U[best].ns;
        s += bestlen;
        if (total > 9.2e18)
            return false;
    }
    *ms = (uint64_t)(total / 1e6);
    return true;
}

/* --- the schema -------------------------------------------------------- */

/* The whole config file is this table: every key with its type, where it
 * goes in struct cfg, and its bounds. One walk (walk_map, set_key) reads
 * any of them, so a new key is one row, and every key gets the same
 * checks and the same kind of message: FILE:LINE:COL: key: what is wrong.
 */
enum ktype {
    K_SECTION,
    K_BOOL,
    K_UINT,
    K_DOUBLE,
    K_DURATION,
    K_SIZE,
    K_TIERS,
    K_NAMESPACES,
    K_PATH,
    K_ENUM,  /* one of key.names, stored as its index (an enum) */
    K_STRING /* a non-empty string of printable ASCII, at most key.max bytes */
};

struct key {
    const char *name;
    enum ktype type;
    size_t off;               /* offset into struct cfg */
    double min, max;          /* bounds for numbers (durations in ms, sizes in bytes) */
    const struct key *sub;    /* K_SECTION: its keys, NULL-terminated */
    const char *const *names; /* K_ENUM: the values, NULL-terminated */
};

#define O(f) offsetof(struct cfg, f)

static const char *const SOURCE_NAMES[] = {"auto", "metrics-api", "scrape", NULL};
static const char *const STORE_NAMES[] = {"local", "s3", NULL};

static const struct key S3_KEYS[] = {
    {"endpoint", K_STRING, O(profiles.s3.endpoint), 0, 512, NULL, NULL},
    {"bucket", K_STRING, O(profiles.s3.bucket), 0, 63, NULL, NULL},
    {"region", K_STRING, O(profiles.s3.region), 0, 64, NULL, NULL},
    {"prefix", K_STRING, O(profiles.s3.prefix), 0, 256, NULL, NULL},
    {"pathStyle", K_BOOL, O(profiles.s3.path_style), 0, 0, NULL, NULL},
    {"accessKeyFile", K_PATH, O(profiles.s3.access_key_file), 0, 0, NULL, NULL},
    {"secretKeyFile", K_PATH, O(profiles.s3.secret_key_file), 0, 0, NULL, NULL},
    {"sessionTokenFile", K_PATH, O(profiles.s3.session_token_file), 0, 0, NULL, NULL},
    {"caFile", K_PATH, O(profiles.s3.ca_file), 0, 0, NULL, NULL},
    {"timeout", K_DURATION, O(profiles.s3.timeout_ms), 1000, 600000, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const struct key PROFILES_KEYS[] = {
    {"store", K_ENUM, O(profiles.store), 0, 0, NULL, STORE_NAMES},
    {"minInterval", K_DURATION, O(profiles.min_interval_ms), 0, 86400000, NULL, NULL},
    {"maxInFlight", K_UINT, O(profiles.max_in_flight), 1, 1000, NULL, NULL},
    {"queueMaxBytes", K_SIZE, O(profiles.queue_max_bytes), 1024 * 1024,
     1024.0 * 1024 * 1024 * 1024 * 1024, NULL, NULL},
    {"s3", K_SECTION, 0, 0, 0, S3_KEYS, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

static const struct key LEAK_KEYS[] = {
    {"window", K_UINT, O(leak.window), 3, 1000, NULL, NULL},
    {"minSlopePercentPerMinute", K_DOUBLE, O(leak.min_slope_pct_per_min), 0, 100, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const struct key GC_THRASH_KEYS[] = {
    {"percent", K_UINT, O(gc_thrash.percent), 1, 100, NULL, NULL},
    {"evict", K_BOOL, O(gc_thrash.evict), 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const struct key RECOMMEND_KEYS[] = {
    {"marginPercent", K_UINT, O(recommend.margin_pct), 0, 1000, NULL, NULL},
    {"halfLife", K_DURATION, O(recommend.half_life_ms), 1000, 90.0 * 86400000, NULL, NULL},
    {"peakWindow", K_DURATION, O(recommend.peak_window_ms), 1000, 86400000, NULL, NULL},
    {"checkpointInterval", K_DURATION, O(recommend.checkpoint_interval_ms), 0, 86400000, NULL,
     NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const struct key USAGE_KEYS[] = {
    {"source", K_ENUM, O(usage.source), 0, 0, NULL, SOURCE_NAMES},
    {"scrapeTimeout", K_DURATION, O(usage.scrape_timeout_ms), 10, 60000, NULL, NULL},
    {"maxConcurrentScrapes", K_UINT, O(usage.max_concurrent_scrapes), 1, 10000, NULL, NULL},
    {"maxResponseBytes", K_SIZE, O(usage.max_response_bytes), 1024, 256.0 * 1024 * 1024, NULL,
     NULL},
    {"allowLoopback", K_BOOL, O(usage.allow_loopback), 0, 0, NULL, NULL},
    {"allowHostNetwork", K_BOOL, O(usage.allow_host_network), 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const struct key EVICTION_KEYS[] = {
    {"maxPerMinute", K_UINT, O(eviction.max_per_minute), 0, 10000, NULL, NULL},
    {"perOwnerInFlight", K_UINT, O(eviction.per_owner_in_flight), 1, 1000, NULL, NULL},
    {"profileDir", K_PATH, O(eviction.profile_dir), 0, 0, NULL, NULL},
    {"profileMaxBytes", K_SIZE, O(eviction.profile_max_bytes), 1024, 4.0 * 1024 * 1024 * 1024, NULL,
     NULL},
    {"profileDirMaxBytes", K_SIZE, O(eviction.profile_dir_max_bytes), 1024 * 1024,
     1024.0 * 1024 * 1024 * 1024 * 1024, NULL, NULL},
    {"ownerSettleTimeout", K_DURATION, O(eviction.owner_settle_timeout_ms), 0, 86400000, NULL,
     NULL},
    {"gcFirst", K_BOOL, O(eviction.gc_first), 0, 0, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const struct key ADMISSION_KEYS[] = {
    {"requireBudget", K_BOOL, O(admission.require_budget), 0, 0, NULL, NULL},
    {"defaultBudgetPercentOfLimit", K_UINT, O(admission.default_budget_pct), 0, 100, NULL, NULL},
    {"injectGOMEMLIMIT", K_BOOL, O(admission.inject_gomemlimit), 0, 0, NULL, NULL},
    {"injectReadinessGate", K_BOOL, O(admission.inject_readiness_gate), 0, 0, NULL, NULL},
    {"maxBodyBytes", K_SIZE, O(max_body_bytes), 4096, 64.0 * 1024 * 1024, NULL, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};
static const struct key ROOT_KEYS[] = {
    {"dryRun", K_BOOL, O(dry_run), 0, 0, NULL, NULL},
    {"namespaces", K_NAMESPACES, O(namespaces), 0, 0, NULL, NULL},
    {"excludedNamespaces", K_NAMESPACES, O(excluded), 0, 0, NULL, NULL},
    {"tiers", K_TIERS, O(tiers), 0, 0, NULL, NULL},
    {"sampleInterval", K_DURATION, O(sample_interval_ms), 1000, 3600000, NULL, NULL},
    {"sustainSamples", K_UINT, O(sustain_samples), 1, 100, NULL, NULL},
    {"recoverSamples", K_UINT, O(recover_samples), 1, 100, NULL, NULL},
    {"hysteresis", K_UINT, O(hysteresis), 0, 50, NULL, NULL},
    {"gcMinInterval", K_DURATION, O(gc_min_interval_ms), 0, 86400000, NULL, NULL},
    {"leak", K_SECTION, 0, 0, 0, LEAK_KEYS, NULL},
    {"gcThrash", K_SECTION, 0, 0, 0, GC_THRASH_KEYS, NULL},
    {"recommend", K_SECTION, 0, 0, 0, RECOMMEND_KEYS, NULL},
    {"usage", K_SECTION, 0, 0, 0, USAGE_KEYS, NULL},
    {"eviction", K_SECTION, 0, 0, 0, EVICTION_KEYS, NULL},
    {"admission", K_SECTION, 0, 0, 0, ADMISSION_KEYS, NULL},
    {"profiles", K_SECTION, 0, 0, 0, PROFILES_KEYS, NULL},
    {NULL, 0, 0, 0, 0, NULL, NULL},
};

/* One parse: where errors go, and the struct being filled. */
struct ctx {
    const char *file;
    struct mb_diag *diag;
    struct cfg *c;
};

static mb_err fail(struct ctx *x, const struct ydoc_node *n, mb_err e, const char *key,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* FILE:LINE:COL: key: why, with the line and column in diag too (the
 * ConfigMap's author edits YAML; a position saves a search). */
static mb_err fail(struct ctx *x, const struct ydoc_node *n, mb_err e, const char *key,
                   const char *fmt, ...)
{
    char why[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (x->diag) {
        x->diag->line = n ? n->line : 0;
        x->diag->column = n ? n->column : 0;
    }
    if (n)
        return mb_diag_set(x->diag, e, "%s:%d:%d: %s: %s", x->file, n->line, n->column, key, why);
    return mb_diag_set(x->diag, e, "%s: %s: %s", x->file, key, why);
}

static const char *scalar(const struct ydoc_node *n)
{
    return n->type == YDOC_SCALAR ? n->value : NULL;
}

/* A plain (unquoted) YAML number within the key's bounds: "5" quoted is
 * a string, and is said to be one rather than taken as a number. */
static mb_err want_number(struct ctx *x, const struct ydoc_node *n, const char *key,
                          const struct key *k, double *out)
{
    const char *v = scalar(n);
    char *end;
    double d;

    if (!v || !n->plain || !*v)
        return fail(x, n, MB_EINVAL, key, "expected a number, got %s",
                    v ? "a string" : ydoc_kind(n));
    d = strtod(v, &end);
    if (*end)
        return fail(x, n, MB_EINVAL, key, "\"%s\": expected a number", v);
    /* strtod takes "nan" and "inf": NaN would pass every comparison below
     * (leak.minSlopePercentPerMinute: nan turned leak detection off). */
    if (!isfinite(d))
        return fail(x, n, MB_EINVAL, key, "\"%s\": expected a finite number", v);
    /* The range before any cast: 1e39 cast to an integer is undefined. */
    if (d < k->min || d > k->max)
        return fail(x, n, MB_ERANGE, key, "%s is out of range [%g, %g]", v, k->min, k->max);
    if (k->type == K_UINT && d != floor(d))
        return fail(x, n, MB_EINVAL, key, "\"%s\": expected a whole number", v);
    *out = d;
    return MB_OK;
}

static mb_err set_key(struct ctx *x, const struct key *k, const char *key,
                      const struct ydoc_node *n);

/* One mapping against its table: a key given twice or not in the table is
 * an error (YAML parsers differ on duplicates, and an unknown key is most
 * often a typo that would leave a default silently in force). */
static mb_err walk_map(struct ctx *x, const struct key *keys, const char *prefix,
                       const struct ydoc_node *map)
{
    if (ydoc_is_null(map))
        return MB_OK;
    if (map->type != YDOC_MAP)
        return fail(x, map, MB_EINVAL, prefix[0] ? prefix : "(top level)",
                    "expected a mapping, got %s", ydoc_kind(map));
    for (size_t i = 0; i + 1 < map->n; i += 2) {
        const struct ydoc_node *kn = map->items[i], *vn = map->items[i + 1];
        const struct key *k;
        char full[128];
        mb_err err;

        if (kn->type != YDOC_SCALAR)
            return fail(x, kn, MB_EINVAL, prefix[0] ? prefix : "(top level)",
                        "keys must be strings");
        snprintf(full, sizeof full, "%s%s%s", prefix, prefix[0] ? "." : "", kn->value);
        for (size_t j = i + 2; j + 1 < map->n; j += 2)
            if (map->items[j]->type == YDOC_SCALAR && !strcmp(map->items[j]->value, kn->value))
                return fail(x, map->items[j], MB_EINVAL, full, "key is given twice");
        for (k = keys; k->name; k++)
            if (!strcmp(k->name, kn->value))
                break;
        if (!k->name)
            return fail(x, kn, MB_EINVAL, full, "unknown key");
        err = set_key(x, k, full, vn);
        if (err)
            return err;
    }
    return MB_OK;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if (*s < 0x21 || *s > 0x7e)
            return false;
    return true;
}

/* One of k->names; the message lists them all. */
static mb_err set_enum(struct ctx *x, const struct key *k, const char *key,
                       const struct ydoc_node *n, void *field)
{
    const char *v = scalar(n);
    char all[160] = "";
    size_t w = 0;
    for (size_t i = 0; k->names[i]; i++) {
        if (v && !strcmp(v, k->names[i])) {
            *(int *)field = (int)i;
            return MB_OK;
        }
        w += (size_t)snprintf(all + w, sizeof all - w, "%s%s",
                              i ? (k->names[i + 1] ? ", " : " or ") : "", k->names[i]);
    }
    return fail(x, n, MB_EINVAL, key, "expected %s", all);
}

static mb_err set_key(struct ctx *x, const struct key *k, const char *key,
                      const struct ydoc_node *n)
{
    void *field = (char *)x->c + k->off;
    const char *v = scalar(n);
    double d;
    mb_err err;

    switch (k->type) {
    case K_SECTION:
        return walk_map(x, k->sub, key, n);
    case K_BOOL:
        if (!v || !n->plain || (strcmp(v, "true") && strcmp(v, "false")))
            return fail(x, n, MB_EINVAL, key, "expected true or false");
        *(bool *)field = !strcmp(v, "true");
        return MB_OK;
    case K_UINT:
        err = want_number(x, n, key, k, &d);
        if (!err)
            *(unsigned *)field = (unsigned)d;
        return err;
    case K_DOUBLE:
        err = want_number(x, n, key, k, &d);
        if (!err)
            *(double *)field = d;
        return err;
    case K_DURATION: {
        uint64_t ms;
        if (!v || !cfg_parse_duration(v, &ms))
            return fail(x, n, MB_EINVAL, key, "expected a duration such as 15s, 2m or 500ms");
        if ((double)ms < k->min || (double)ms > k->max)
            return fail(x, n, MB_ERANGE, key, "%s is out of range [%gms, %gms]", v, k->min, k->max);
        *(uint64_t *)field = ms;
        return MB_OK;
    }
    case K_SIZE: {
        int64_t b;
        struct mb_diag qd = {0};
        if (!v)
            return fail(x, n, MB_EINVAL, key, "expected a size such as 4Mi, got %s", ydoc_kind(n));
        if (qty_parse_str(v, &b, &qd))
            return fail(x, n, MB_EINVAL, key, "%s", qd.msg);
        if ((double)b < k->min || (double)b > k->max)
            return fail(x, n, MB_ERANGE, key, "%s is out of range [%g, %g] bytes", v, k->min,
                        k->max);
        *(int64_t *)field = b;
        return MB_OK;
    }
    case K_PATH:
        if (!v || !*v || v[0] != '/' || strlen(v) != n->len || n->len > 1024)
            return fail(x, n, MB_EINVAL, key, "expected an absolute path");
        mb_free(*(char **)field);
        *(char **)field = mb_xstrdup(v);
        return MB_OK;
    case K_ENUM:
        return set_enum(x, k, key, n, field);
    case K_STRING:
        if (!v || !*v || strlen(v) != n->len || n->len > k->max || !printable(v))
            return fail(x, n, MB_EINVAL, key,
                        "expected a string of at most %g printable characters", k->max);
        mb_free(*(char **)field);
        *(char **)field = mb_xstrdup(v);
        return MB_OK;
    case K_NAMESPACES: {
        struct cfg_names *list = field;
        names_clear(list); /* the file's list replaces the default */
        if (ydoc_is_null(n))
            return MB_OK;
        if (n->type != YDOC_SEQ)
            return fail(x, n, MB_EINVAL, key, "expected a list of namespace names");
        for (size_t i = 0; i < n->n; i++) {
            const struct ydoc_node *it = n->items[i];
            if (it->type != YDOC_SCALAR || !ann_is_dns_label(it->value))
                return fail(x, it, MB_EINVAL, key, "expected a namespace name (DNS-1123 label)");
            names_add(list, it->value);
        }
        return MB_OK;
    }
    case K_TIERS: {
        static const char *const T[] = {"throttle", "gc", "evict"};
        struct ann_tiers t = {0, 0, 0};
        unsigned *slots[] = {&t.throttle, &t.gc, &t.evict};
        char why[128];
        if (n->type != YDOC_MAP)
            return fail(x, n, MB_EINVAL, key,
                        "expected a mapping such as {throttle: 80, gc: 90, evict: 95}");
        for (size_t i = 0; i + 1 < n->n; i += 2) {
            const struct ydoc_node *kn = n->items[i];
            size_t j;
            char full[192];
            for (j = 0; j < 3; j++)
                if (kn->type == YDOC_SCALAR && !strcmp(kn->value, T[j]))
                    break;
            snprintf(full, sizeof full, "%s.%s", key, kn->type == YDOC_SCALAR ? kn->value : "?");
            if (j == 3)
                return fail(x, kn, MB_EINVAL, full, "unknown tier (tiers are throttle, gc, evict)");
            struct key pk = {T[j], K_UINT, 0, 1, 100, NULL, NULL};
            err = want_number(x, n->items[i + 1], full, &pk, &d);
            if (err)
                return err;
            *slots[j] = (unsigned)d;
        }
        if (!ann_tiers_valid(&t, why, sizeof why))
            return fail(x, n, MB_EINVAL, key, "%s", why);
        *(struct ann_tiers *)field = t;
        return MB_OK;
    }
    }
    return MB_EINVAL;
}

/* usage.scrapeTimeout must be below sampleInterval, so that a pod's next
 * sample never starts while its scrape may still run. An unset timeout
 * follows the interval (as Prometheus clamps an unset scrape_timeout):
 * CFG_SCRAPE_TIMEOUT_MS, or CFG_SCRAPE_TIMEOUT_PCT of the interval when that
 * is shorter; so only a value the user wrote can break the rule, and the
 * message says which of the two values the user wrote. */
static mb_err check_scrape_timeout(struct ctx *x, const struct ydoc_node *root)
{
    const struct ydoc_node *u = root ? ydoc_map_get(root, "usage") : NULL;
    const struct ydoc_node *at = u && u->type == YDOC_MAP ? ydoc_map_get(u, "scrapeTimeout") : NULL;
    const struct ydoc_node *iv = root ? ydoc_map_get(root, "sampleInterval") : NULL;
    struct cfg *c = x->c;
    char ivwhy[64];

    if (!at) {
        c->usage.scrape_timeout_ms = cfg_default_scrape_timeout(c->sample_interval_ms);
        return MB_OK;
    }
    if (c->usage.scrape_timeout_ms < c->sample_interval_ms)
        return MB_OK;
    if (iv)
        snprintf(ivwhy, sizeof ivwhy, "set at line %d", iv->line);
    else
        snprintf(ivwhy, sizeof ivwhy, "the default");
    return fail(x, at, MB_EINVAL, "usage.scrapeTimeout",
                "%llums (set here) must be below sampleInterval (%llums, %s): a pod's next "
                "sample would start while its scrape may still be running; leave scrapeTimeout "
                "out to get %llums",
                (unsigned long long)c->usage.scrape_timeout_ms,
                (unsigned long long)c->sample_interval_ms, ivwhy,
                (unsigned long long)cfg_default_scrape_timeout(c->sample_interval_ms));
}

/* profiles.store: s3 needs where (endpoint, bucket) and who (the two key
 * files); the endpoint is an http(s) URL with no path, the bucket a DNS-style
 * name, the prefix a key prefix without "." or ".." segments. */
static mb_err check_s3(struct ctx *x, const struct ydoc_node *root)
{
    const struct cfg_s3 *s3 = &x->c->profiles.s3;
    const struct ydoc_node *p = root ? ydoc_map_get(root, "profiles") : NULL;
    const struct ydoc_node *sn = p && p->type == YDOC_MAP ? ydoc_map_get(p, "s3") : NULL;
#define AT(k)                                                                                      \
    (sn && sn->type == YDOC_MAP && ydoc_map_get(sn, k) ? ydoc_map_get(sn, k) : sn ? sn : p)
    if (x->c->profiles.store != CFG_STORE_S3)
        return MB_OK;
    static const char *const NEED[] = {"endpoint", "bucket", "accessKeyFile", "secretKeyFile"};
    const char *have[] = {s3->endpoint, s3->bucket, s3->access_key_file, s3->secret_key_file};
    for (size_t i = 0; i < MB_ARRAY_LEN(NEED); i++)
        if (!have[i]) {
            char full[64];
            snprintf(full, sizeof full, "profiles.s3.%s", NEED[i]);
            return fail(x, sn ? sn : p, MB_EINVAL, full, "is required when profiles.store is s3");
        }
    const char *e = s3->endpoint, *host = !strncmp(e, "https://", 8)  ? e + 8
                                          : !strncmp(e, "http://", 7) ? e + 7
                                                                      : NULL;
    if (!host || !*host || strchr(host, '/') || strchr(host, '?') || strchr(host, '@'))
        return fail(x, AT("endpoint"), MB_EINVAL, "profiles.s3.endpoint",
                    "expected http://HOST[:PORT] or https://HOST[:PORT], with no path");
    size_t bl = strlen(s3->bucket);
    bool bucket_ok = bl >= 3 && bl <= 63;
    for (size_t i = 0; i < bl && bucket_ok; i++)
        bucket_ok = (s3->bucket[i] >= 'a' && s3->bucket[i] <= 'z') ||
                    (s3->bucket[i] >= '0' && s3->bucket[i] <= '9') || s3->bucket[i] == '-' ||
                    s3->bucket[i] == '.';
    if (!bucket_ok)
        return fail(x, AT("bucket"), MB_EINVAL, "profiles.s3.bucket",
                    "expected 3 to 63 lowercase letters, digits, '-' or '.'");
    for (const char *c = s3->prefix; c && *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              strchr("-_./", *c)) ||
            (c[0] == '.' && (c == s3->prefix || c[-1] == '/')))
            return fail(x, AT("prefix"), MB_EINVAL, "profiles.s3.prefix",
                        "expected letters, digits, '-', '_', '.' and '/', no segment starting "
                        "with '.'");
#undef AT
    return MB_OK;
}

uint64_t cfg_default_scrape_timeout(uint64_t sample_interval_ms)
{
    uint64_t frac = sample_interval_ms * CFG_SCRAPE_TIMEOUT_PCT / 100;
    return frac < CFG_SCRAPE_TIMEOUT_MS ? frac : CFG_SCRAPE_TIMEOUT_MS;
}

/* The file is capped before it is parsed, and the parse itself (depth,
 * nodes) too: a config is a ConfigMap, and a ConfigMap may be written by
 * someone other than whoever runs membudget. Rules that join two keys
 * (hysteresis under the lowest tier, the scrape timeout under the
 * interval) are checked once every key is read. */
mb_err cfg_parse(const char *buf, size_t len, const char *filename, struct cfg *out,
                 struct mb_diag *diag)
{
    struct ydoc_stream *s = NULL;
    struct ydoc_limits lim = {.max_depth = 16, .max_nodes = 100000};
    struct cfg c;
    struct ctx x = {.file = filename, .diag = diag, .c = &c};
    mb_err err;

    if (len > CFG_MAX_FILE_BYTES)
        return mb_diag_set(diag, MB_ETOOBIG, "%s: larger than %d bytes", filename,
                           CFG_MAX_FILE_BYTES);
    err = ydoc_parse(buf, len, &lim, &s, diag);
    if (err) {
        if (diag)
            mb_diag_prefix(diag, "%s:%d:%d", filename, diag->line, diag->column);
        return err;
    }
    if (s->ndocs > 1) {
        err = fail(&x, s->docs[1], MB_EINVAL, "(file)", "expected one YAML document");
        ydoc_free(s);
        return err;
    }
    cfg_defaults(&c);
    err = s->ndocs ? walk_map(&x, ROOT_KEYS, "", s->docs[0]) : MB_OK;
    if (!err && c.hysteresis >= (c.tiers.throttle ? c.tiers.throttle
                                 : c.tiers.gc     ? c.tiers.gc
                                                  : c.tiers.evict))
        err = fail(&x, ydoc_map_get(s->docs[0], "hysteresis"), MB_EINVAL, "hysteresis",
                   "must be smaller than the lowest tier threshold");
    if (!err)
        err = check_scrape_timeout(&x, s->ndocs ? s->docs[0] : NULL);
    if (!err)
        err = check_s3(&x, s->ndocs ? s->docs[0] : NULL);
    ydoc_free(s);
    if (err) {
        cfg_cleanup(&c);
        return err;
    }
    c.admission.default_tiers = c.tiers;
    *out = c;
    return MB_OK;
}
