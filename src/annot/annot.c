/*
 * annot.c -- the membudget.io pod annotations (pure; see annot.h): their
 * syntax (ann_parse, a table of one parser per key), the container the
 * budget is for (ann_find_target) and the endpoints, checked against the
 * ports the container declares (ann_resolve_endpoint). The webhook's
 * policy, `membudget lint` and the controller's spec (planner.c's
 * pl_spec_of) all read annotations through here, so a pod means the same
 * thing to each; celpolicy.c writes the same rules again in CEL.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/annot.h"

/* One message for every unknown membudget.io key, naming the known ones:
 * a typo ("membudget.io/budegt") is then fixed from the message alone. */
#define ANN_UNKNOWN_MSG                                                                            \
    "unknown annotation (known: budget, container, tiers, usage, metrics, gc, throttle, profile, " \
    "goroutines, memlimit, mode, max-limit, baseline-every)"

void ann_errors_cleanup(struct ann_errors *e)
{
    MB_FREE(e->v);
    e->n = e->cap = 0;
}

/* An error goes to the sink when there is one (the policy turns it into a
 * violation at once and nothing is kept: a pod with 60k bad annotations
 * costs no list), else into the list. */
void ann_errors_add(struct ann_errors *e, const char *key, const char *fmt, ...)
{
    va_list ap;
    struct ann_error one, *dst = &one;

    if (!e->sink) {
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 8;
            e->v = mb_xrealloc(e->v, e->cap * sizeof *e->v);
        }
        dst = &e->v[e->n];
    }
    snprintf(dst->key, sizeof dst->key, "%s", key);
    va_start(ap, fmt);
    vsnprintf(dst->msg, sizeof dst->msg, fmt, ap);
    va_end(ap);
    dst->unknown = false;
    if (e->sink)
        e->sink(e->sink_ctx, dst);
    e->n++;
}

/* An unknown membudget.io key: one message for all, marked as such. */
static void ann_errors_add_unknown(struct ann_errors *e, const char *key)
{
    struct ann_error one, *dst = &one;
    if (!e->sink) {
        ann_errors_add(e, key, "%s", ANN_UNKNOWN_MSG);
        e->v[e->n - 1].unknown = true;
        return;
    }
    snprintf(dst->key, sizeof dst->key, "%s", key);
    snprintf(dst->msg, sizeof dst->msg, "%s", ANN_UNKNOWN_MSG);
    dst->unknown = true;
    e->sink(e->sink_ctx, dst);
    e->n++;
}

/* A value as messages show it: quoted, escaped, at most 64 characters.
 * Messages go into Events, logs and API answers; a value of megabytes, or
 * with control bytes, must not come with them. */
char *ann_quote(const char *v, char dst[ANN_QUOTE_LEN])
{
    size_t o = 0, shown = 0;
    const unsigned char *c = (const unsigned char *)v;

    const size_t dstlen = ANN_QUOTE_LEN;

    dst[o++] = '"';
    while (*c) {
        char tmp[8];
        size_t tl, adv = 1;

        if (shown >= 64) {
            if (o + 5 < dstlen)
                memcpy(dst + o, "...", 3), o += 3;
            break;
        }
        if (*c == '"' || *c == '\\') {
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\%c", *c);
        } else if (*c < 0x20 || *c == 0x7f) {
            tl = (size_t)snprintf(tmp, sizeof tmp, "\\u%04x", *c);
        } else {
            /* copy a whole UTF-8 sequence so truncation never splits one */
            tl = 0;
            tmp[tl++] = (char)*c;
            while (c[adv] && (c[adv] & 0xc0) == 0x80 && adv < 4)
                tmp[tl++] = (char)c[adv++];
        }
        if (o + tl + 2 >= dstlen)
            break;
        memcpy(dst + o, tmp, tl);
        o += tl;
        c += adv;
        shown++;
    }
    dst[o++] = '"';
    dst[o] = '\0';
    return dst;
}

/* RFC 1123 label, as Kubernetes validates container names: a-z, 0-9 and
 * '-' not at either end, at most 63 characters. */
bool ann_is_dns_label(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(c == '-' && i > 0 && i < n - 1))
            return false;
    }
    return true;
}

/* IANA_SVC_NAME as Kubernetes validates container port names. */
static bool is_port_name(const char *s, size_t n)
{
    bool letter = false;

    if (n == 0 || n > ANN_PORTNAME_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'a' && c <= 'z')
            letter = true;
        else if (c == '-') {
            if (i + 1 < n && s[i + 1] == '-')
                return false;
        } else if (!(c >= '0' && c <= '9'))
            return false;
    }
    return letter;
}

/* A path we are willing to put in a URL after http://IP:PORT: printable
 * ASCII from RFC 3986's path and query characters, no fragment, no spaces. */
static bool path_char_ok(unsigned char c)
{
    if (c <= 0x20 || c >= 0x7f)
        return false;
    return strchr("\"#<>\\^`{|}", c) == NULL;
}

/* PORT/PATH: a port number or a port name (resolved later against the
 * container's ports, ann_resolve_endpoint), then a path. Only the syntax
 * here; where the URL may go is target.c's. The path is limited to URL
 * characters so that nothing it holds can change what the URL means. */
bool ann_parse_endpoint(const char *v, struct ann_endpoint *out, char *why, size_t whylen)
{
    char q[ANN_QUOTE_LEN];
    const char *slash = strchr(v, '/');
    struct ann_endpoint ep = {.set = true};
    size_t plen;

    if (!slash || slash == v) {
        snprintf(why, whylen, "%s: expected PORT/PATH, e.g. 6060/metrics", ann_quote(v, q));
        return false;
    }
    plen = (size_t)(slash - v);
    if (v[0] >= '0' && v[0] <= '9') {
        unsigned long port = 0;
        for (size_t i = 0; i < plen; i++) {
            if (v[i] < '0' || v[i] > '9' || port > 65535) {
                port = 0;
                break;
            }
            port = port * 10 + (unsigned long)(v[i] - '0');
        }
        if (port < 1 || port > 65535 || v[0] == '0') {
            snprintf(why, whylen, "%s: port must be a number 1-65535 or a port name",
                     ann_quote(v, q));
            return false;
        }
        ep.port = (unsigned)port;
    } else {
        if (!is_port_name(v, plen)) {
            snprintf(why, whylen,
                     "%s: port must be a number 1-65535 or a port name (at most 15 of a-z, 0-9, "
                     "'-', with a letter)",
                     ann_quote(v, q));
            return false;
        }
        memcpy(ep.port_name, v, plen);
        ep.port_name[plen] = '\0';
    }
    if (strlen(slash) > ANN_PATH_MAX) {
        snprintf(why, whylen, "%s: path is longer than %d characters", ann_quote(v, q),
                 ANN_PATH_MAX);
        return false;
    }
    for (const char *c = slash; *c; c++) {
        if (!path_char_ok((unsigned char)*c)) {
            snprintf(why, whylen,
                     "%s: path has a character not allowed in a URL path (spaces, controls, "
                     "non-ASCII, '#', '\\\\' ...)",
                     ann_quote(v, q));
            return false;
        }
    }
    snprintf(ep.path, sizeof ep.path, "%s", slash);
    *out = ep;
    return true;
}

/* Tiers that are set (non-zero) must increase: a gc tier under the
 * throttle tier would force GCs on a pod still taking traffic. A tier may
 * be left out (0): the breaker then skips it. */
bool ann_tiers_valid(const struct ann_tiers *t, char *why, size_t whylen)
{
    const unsigned v[3] = {t->throttle, t->gc, t->evict};
    unsigned last = 0;

    for (int i = 0; i < 3; i++) {
        if (v[i] > 100) {
            snprintf(why, whylen, "thresholds are percentages in (0, 100]");
            return false;
        }
        if (!v[i])
            continue;
        if (v[i] <= last) {
            snprintf(why, whylen, "thresholds must increase throttle < gc < evict");
            return false;
        }
        last = v[i];
    }
    if (!last) {
        snprintf(why, whylen, "no tier is set");
        return false;
    }
    return true;
}

/* "throttle=80,gc=90,evict=95": NAME=PERCENT items in any order, spaces
 * around them allowed, each name once. What is left out is 0 here; the
 * config's tiers fill it later (planner.c's pl_spec_of). */
bool ann_parse_tiers(const char *v, struct ann_tiers *out, char *why, size_t whylen)
{
    struct ann_tiers t = {0, 0, 0};
    char q[ANN_QUOTE_LEN], reason[128];
    const char *p = v;
    bool seen[3] = {false, false, false};

    ann_quote(v, q);
    for (;;) {
        static const char *const NAMES[3] = {"throttle", "gc", "evict"};
        unsigned *slot[3] = {&t.throttle, &t.gc, &t.evict};
        const char *item_end, *eq;
        size_t nlen;
        int which = -1;
        unsigned long pct = 0;
        const char *num;

        while (*p == ' ')
            p++;
        item_end = strchr(p, ',');
        if (!item_end)
            item_end = p + strlen(p);
        eq = memchr(p, '=', (size_t)(item_end - p));
        if (!eq) {
            snprintf(why, whylen,
                     "%s: expected NAME=PERCENT items such as throttle=80,gc=90,evict=95", q);
            return false;
        }
        nlen = (size_t)(eq - p);
        while (nlen && p[nlen - 1] == ' ')
            nlen--;
        for (int k = 0; k < 3; k++)
            if (strlen(NAMES[k]) == nlen && !memcmp(NAMES[k], p, nlen))
                which = k;
        if (which < 0) {
            snprintf(why, whylen, "%s: unknown tier \"%.*s\" (tiers are throttle, gc, evict)", q,
                     (int)(nlen > 32 ? 32 : nlen), p);
            return false;
        }
        if (seen[which]) {
            snprintf(why, whylen, "%s: tier %s is given twice", q, NAMES[which]);
            return false;
        }
        seen[which] = true;
        num = eq + 1;
        while (*num == ' ')
            num++;
        const char *e = item_end;
        while (e > num && e[-1] == ' ')
            e--;
        if (e == num || e - num > 3) {
            snprintf(why, whylen, "%s: %s must be an integer percentage in (0, 100]", q,
                     NAMES[which]);
            return false;
        }
        for (const char *c = num; c < e; c++) {
            if (*c < '0' || *c > '9') {
                snprintf(why, whylen, "%s: %s must be an integer percentage in (0, 100]", q,
                         NAMES[which]);
                return false;
            }
            pct = pct * 10 + (unsigned long)(*c - '0');
        }
        if (pct < 1 || pct > 100) {
            snprintf(why, whylen, "%s: %s must be an integer percentage in (0, 100]", q,
                     NAMES[which]);
            return false;
        }
        *slot[which] = (unsigned)pct;
        if (!*item_end)
            break;
        p = item_end + 1;
    }
    if (!ann_tiers_valid(&t, reason, sizeof reason)) {
        snprintf(why, whylen, "%s: %s", q, reason);
        return false;
    }
    *out = t;
    return true;
}

/* One annotation's value, parsed into a (ann_parse's table below). v is a
 * string without NUL bytes, q its quoted form for messages. */
struct actx {
    struct ann *a;
    struct ann_errors *errs;
    bool usage_err; /* membudget.io/usage was wrong: its cross rule says nothing */
};

static void p_bytes(struct actx *x, const char *key, const char *v, const char *q)
{
    struct mb_diag d = {0};
    int64_t b;
    if (qty_parse(v, strlen(v), &b, NULL, &d)) {
        ann_errors_add(x->errs, key, "%s", d.msg);
    } else if (b <= 0) {
        ann_errors_add(x->errs, key, "%s: must be greater than 0", q);
    } else if (!strcmp(key, ANN_BUDGET)) {
        x->a->has_budget = true;
        x->a->budget = b;
    } else {
        x->a->has_max_limit = true;
        x->a->max_limit = b;
    }
}

static void p_container(struct actx *x, const char *key, const char *v, const char *q)
{
    if (!ann_is_dns_label(v)) {
        ann_errors_add(x->errs, key, "%s: not a container name (DNS-1123 label)", q);
        return;
    }
    x->a->has_container = true;
    snprintf(x->a->container, sizeof x->a->container, "%s", v);
}

static void p_tiers(struct actx *x, const char *key, const char *v, const char *q)
{
    char why[512];
    (void)q;
    if (!ann_parse_tiers(v, &x->a->tiers, why, sizeof why))
        ann_errors_add(x->errs, key, "%s", why);
    else
        x->a->has_tiers = true;
}

static void p_usage(struct actx *x, const char *key, const char *v, const char *q)
{
    static const struct {
        const char *name;
        enum ann_usage u;
    } U[] = {
        {"working-set", ANN_USAGE_WORKING_SET}, {"rss", ANN_USAGE_RSS}, {"heap", ANN_USAGE_HEAP}};
    for (size_t i = 0; i < MB_ARRAY_LEN(U); i++) {
        if (!strcmp(v, U[i].name)) {
            x->a->usage = U[i].u;
            x->a->has_usage = true;
            return;
        }
    }
    ann_errors_add(x->errs, key, "%s: must be working-set, rss or heap", q);
    x->usage_err = true;
}

/* metrics, gc, profile, goroutines, memlimit: PORT/PATH on the pod. */
static void p_endpoint(struct actx *x, const char *key, const char *v, const char *q)
{
    struct ann *a = x->a;
    char why[512];
    struct ann_endpoint *ep = !strcmp(key, ANN_METRICS)      ? &a->metrics
                              : !strcmp(key, ANN_GC)         ? &a->gc
                              : !strcmp(key, ANN_PROFILE)    ? &a->profile
                              : !strcmp(key, ANN_GOROUTINES) ? &a->goroutines
                                                             : &a->memlimit;
    (void)q;
    if (!ann_parse_endpoint(v, ep, why, sizeof why))
        ann_errors_add(x->errs, key, "%s", why);
}

static void p_throttle(struct actx *x, const char *key, const char *v, const char *q)
{
    char why[512];
    if (!strcmp(v, "readiness"))
        x->a->throttle = ANN_THROTTLE_READINESS;
    else if (!strcmp(v, "none"))
        x->a->throttle = ANN_THROTTLE_NONE;
    else if (ann_parse_endpoint(v, &x->a->throttle_ep, why, sizeof why))
        x->a->throttle = ANN_THROTTLE_ENDPOINT;
    else
        ann_errors_add(x->errs, key, "%s: must be readiness, none or PORT/PATH", q);
}

static void p_mode(struct actx *x, const char *key, const char *v, const char *q)
{
    if (!strcmp(v, "enforce"))
        x->a->mode = ANN_MODE_ENFORCE;
    else if (!strcmp(v, "dry-run"))
        x->a->mode = ANN_MODE_DRY_RUN;
    else
        ann_errors_add(x->errs, key, "%s: must be enforce or dry-run", q);
}

/* [Nh][Nm][Ns], each N 1 to 5 digits, not empty: the form celpolicy.c's
 * regular expression accepts, so that C and CEL agree on every value. */
static bool hms(const char *v, uint64_t *ms)
{
    static const struct {
        char unit;
        uint64_t ms;
    } U[] = {{'h', 3600000}, {'m', 60000}, {'s', 1000}};
    uint64_t total = 0;
    size_t u = 0;
    if (!*v)
        return false;
    while (*v) {
        size_t n = 0;
        uint64_t x = 0;
        for (; v[n] >= '0' && v[n] <= '9'; n++)
            x = x * 10 + (uint64_t)(v[n] - '0');
        if (n == 0 || n > 5)
            return false;
        while (u < MB_ARRAY_LEN(U) && U[u].unit != v[n])
            u++;
        if (u == MB_ARRAY_LEN(U))
            return false; /* an unknown unit, or one out of order or twice */
        total += x * U[u++].ms;
        v += n + 1;
    }
    *ms = total;
    return true;
}

static void p_every(struct actx *x, const char *key, const char *v, const char *q)
{
    uint64_t ms;
    if (!hms(v, &ms) || ms < 60000 || ms > 86400000) {
        ann_errors_add(x->errs, key, "%s: must be a duration from 1m to 24h, such as 30m or 1h30m",
                       q);
        return;
    }
    x->a->has_baseline_every = true;
    x->a->baseline_every_ms = ms;
}

/* Every annotation membudget knows, and its parser (celpolicy.c's aerr
 * variable is the same table in CEL). Any other membudget.io key is an
 * error: a typo must not silently turn a rule off. */
static const struct {
    const char *key;
    void (*parse)(struct actx *x, const char *key, const char *v, const char *q);
} KNOWN[] = {
    {ANN_BUDGET, p_bytes},         {ANN_CONTAINER, p_container}, {ANN_TIERS, p_tiers},
    {ANN_USAGE, p_usage},          {ANN_METRICS, p_endpoint},    {ANN_GC, p_endpoint},
    {ANN_THROTTLE, p_throttle},    {ANN_PROFILE, p_endpoint},    {ANN_MODE, p_mode},
    {ANN_GOROUTINES, p_endpoint},  {ANN_MEMLIMIT, p_endpoint},   {ANN_MAX_LIMIT, p_bytes},
    {ANN_BASELINE_EVERY, p_every},
};

static bool is_expvar(const struct ann_endpoint *ep)
{
    size_t n = strlen(ep->path);
    const char *q = strchr(ep->path, '?');
    if (q)
        n = (size_t)(q - ep->path);
    return n >= 11 && !memcmp(ep->path + n - 11, "/debug/vars", 11);
}

/* One membudget.io annotation: known, a string, no NUL, then its parser. */
static void parse_one(struct actx *x, const char *key, const json_t *jv)
{
    char q[ANN_QUOTE_LEN];
    size_t k;
    for (k = 0; k < MB_ARRAY_LEN(KNOWN); k++)
        if (!strcmp(key, KNOWN[k].key))
            break;
    if (k == MB_ARRAY_LEN(KNOWN)) {
        ann_errors_add_unknown(x->errs, key);
        return;
    }
    if (!json_is_string(jv)) {
        ann_errors_add(x->errs, key, "value must be a string (quote it in YAML)");
        x->usage_err |= !strcmp(key, ANN_USAGE);
        return;
    }
    const char *v = json_string_value(jv);
    if (strlen(v) != json_string_length(jv)) {
        ann_errors_add(x->errs, key, "value contains a NUL byte");
        return;
    }
    ann_quote(v, q);
    KNOWN[k].parse(x, key, v, q);
}

/* Cross-annotation rules, once each value is known. An invalid metrics
 * annotation has already been reported; do not pile on. */
static void cross_rules(struct actx *x, const json_t *annotations)
{
    const struct ann *a = x->a;
    if (!a->has_usage || a->usage == ANN_USAGE_WORKING_SET || x->usage_err)
        return;
    const char *u = ann_usage_name(a->usage);
    bool metrics_given = annotations && json_object_get(annotations, ANN_METRICS);
    if (!a->metrics.set && !metrics_given)
        ann_errors_add(x->errs, ANN_USAGE,
                       "\"%s\": needs " ANN_METRICS " (%s is scraped from the pod)", u, u);
    else if (a->metrics.set && a->usage == ANN_USAGE_RSS && is_expvar(&a->metrics))
        ann_errors_add(x->errs, ANN_USAGE,
                       "\"rss\": needs Prometheus text metrics; expvar (/debug/vars) has no "
                       "resident set size");
}

size_t ann_parse(const json_t *annotations, struct ann *out, struct ann_errors *errs)
{
    struct ann a = {.throttle = ANN_THROTTLE_READINESS, .mode = ANN_MODE_ENFORCE};
    struct actx x = {.a = &a, .errs = errs};
    size_t before = errs->n;
    const char *key;
    json_t *jv;

    if (annotations && !json_is_object(annotations)) {
        ann_errors_add(errs, "metadata.annotations", "must be a map of strings");
        *out = a;
        return errs->n - before;
    }
    json_object_foreach((json_t *)annotations, key, jv)
    {
        if (!strncmp(key, ANN_PREFIX, sizeof ANN_PREFIX - 1))
            parse_one(&x, key, jv);
    }
    cross_rules(&x, annotations);
    *out = a;
    return errs->n - before;
}

/* An endpoint's port must be one the container declares, over TCP: the
 * controller calls only ports a pod declares (a pod cannot point it at a
 * port it does not serve, nor a name at a UDP port). A port name becomes
 * its number here, so the controller never resolves names itself. */
bool ann_resolve_endpoint(struct ann_endpoint *ep, const json_t *container, const char *path,
                          char *why, size_t whylen)
{
    const json_t *ports = json_object_get(container, "ports");
    const char *cname = json_string_value(json_object_get(container, "name"));
    size_t i;
    json_t *p;

    if (!cname)
        cname = "";
    json_array_foreach((json_t *)ports, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        json_t *num = json_object_get(p, "containerPort");
        const char *proto = json_string_value(json_object_get(p, "protocol"));
        bool match = ep->port_name[0] ? (name && !strcmp(name, ep->port_name))
                                      : (json_is_integer(num) &&
                                         json_integer_value(num) == (json_int_t)ep->port);
        if (!match)
            continue;
        if (proto && strcmp(proto, "TCP") != 0) {
            if (ep->port_name[0])
                snprintf(why, whylen, "port \"%s\" of container \"%s\" is %s, not TCP",
                         ep->port_name, cname, proto);
            else
                snprintf(why, whylen, "port %u of container \"%s\" is %s, not TCP", ep->port, cname,
                         proto);
            return false;
        }
        if (!json_is_integer(num) || json_integer_value(num) < 1 ||
            json_integer_value(num) > 65535) {
            snprintf(why, whylen, "port \"%s\" of container \"%s\" has no valid containerPort",
                     ep->port_name, cname);
            return false;
        }
        ep->port = (unsigned)json_integer_value(num);
        return true;
    }
    if (ep->port_name[0])
        snprintf(why, whylen, "container \"%s\" has no port named \"%s\" (%s)", cname,
                 ep->port_name, path);
    else
        snprintf(why, whylen,
                 "port %u is not declared by container \"%s\" (add it to %s; membudget only "
                 "calls ports the pod declares)",
                 ep->port, cname, path);
    return false;
}

/* Without membudget.io/usage: a pod that names a metrics endpoint is
 * measured by its resident set (what the kernel's OOM killer counts),
 * else by the working set the metrics API reports. */
enum ann_usage ann_effective_usage(const struct ann *a)
{
    if (a->has_usage)
        return a->usage;
    return a->metrics.set ? ANN_USAGE_RSS : ANN_USAGE_WORKING_SET;
}

const char *ann_usage_name(enum ann_usage u)
{
    switch (u) {
    case ANN_USAGE_RSS:
        return "rss";
    case ANN_USAGE_HEAP:
        return "heap";
    default:
        return "working-set";
    }
}

const char *ann_mode_name(enum ann_mode m) { return m == ANN_MODE_DRY_RUN ? "dry-run" : "enforce"; }

/* Look a name up in containers, then in initContainers. *init_only tells
 * an init container that is not a native sidecar. */
static bool find_named(const json_t *spec, const char *want, struct ann_target *t, bool *init_only)
{
    static const char *const lists[] = {"containers", "initContainers"};

    *init_only = false;
    for (size_t l = 0; l < MB_ARRAY_LEN(lists); l++) {
        size_t i;
        const json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            const char *n = json_string_value(json_object_get(c, "name"));
            const char *rp = json_string_value(json_object_get(c, "restartPolicy"));
            if (!n || strcmp(n, want) != 0 || !json_is_object(c))
                continue;
            if (l == 1 && (!rp || strcmp(rp, "Always") != 0)) {
                *init_only = true;
                return false;
            }
            *t = (struct ann_target){.container = c, .list = lists[l], .index = i, .name = n};
            return true;
        }
    }
    return false;
}

/* membudget.io/container when set (an error when it names nothing a
 * budget can apply to), else kubectl's default-container annotation when
 * it names a container (else it is ignored, and said), else the first
 * container. A native sidecar (an init container with restartPolicy:
 * Always) runs as long as the pod, so it can be budgeted; a plain init
 * container cannot. */
enum ann_target_err ann_find_target(const json_t *spec, const char *want, const char *dflt,
                                    struct ann_target *t)
{
    const json_t *ctrs = json_object_get(spec, "containers");
    bool init_only;

    memset(t, 0, sizeof *t);
    if (want) {
        if (find_named(spec, want, t, &init_only)) {
            t->from = ANN_TARGET_NAMED;
            return ANN_TARGET_OK;
        }
        return init_only ? ANN_TARGET_INIT : ANN_TARGET_NOT_FOUND;
    }
    if (dflt) {
        if (find_named(spec, dflt, t, &init_only)) {
            t->from = ANN_TARGET_DEFAULT;
            return ANN_TARGET_OK;
        }
        t->default_ignored = true;
    }
    if (!json_is_array(ctrs) || json_array_size(ctrs) == 0 ||
        !json_is_object(json_array_get(ctrs, 0)))
        return ANN_TARGET_NO_CONTAINERS;
    t->container = json_array_get(ctrs, 0);
    t->list = "containers";
    t->index = 0;
    t->name = json_string_value(json_object_get(t->container, "name"));
    t->from = ANN_TARGET_FIRST;
    return ANN_TARGET_OK;
}

/* GOMEMLIMIT as the Go runtime reads it: digits and an optional B, KiB,
 * MiB, GiB or TiB suffix; anything else (the runtime would refuse it too)
 * is false. The policy's advice (step 7) and the pod cache (the GOMEMLIMIT
 * a container was started with) read it; a value membudget cannot read is
 * left alone, not called wrong. */
bool ann_parse_gomemlimit(const char *s, int64_t *out)
{
    static const struct {
        const char *suf;
        int shift;
    } U[] = {{"", 0}, {"B", 0}, {"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}};
    int64_t v = 0;
    const char *c = s;

    if (*c < '0' || *c > '9')
        return false;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*c - '0');
    }
    for (size_t i = 0; i < MB_ARRAY_LEN(U); i++) {
        if (!strcmp(c, U[i].suf)) {
            if (v > (INT64_MAX >> U[i].shift))
                return false;
            *out = v << U[i].shift;
            return true;
        }
    }
    return false;
}
