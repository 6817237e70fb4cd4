/* celpolicy.c -- the admission rules in CEL (pure). See celpolicy.h.
 *
 * Each rule is policy.c's (and annot.c's, quantity.c's) written again, in
 * the same order and with the same messages; where the C reads a value, a
 * variable here does. policy.c's steps have the same names here: 1
 * step_annotations, 2 step_target, 3 step_limit, 4 step_budget, 5
 * step_ports and 6 step_update (all in root_vars()), 7 the advice
 * (warning_vars()) and 8 the mutation (mutating()). The rules run twice on
 * an UPDATE, as policy_eval() does: variables n_* on the object, o_* on
 * the old one (as a CREATE), and only what is new in n_v is refused.
 * test/e2e/cluster_policy_diff.py holds both to the same answers on a
 * real API server.
 *
 * CEL in the API server has no functions of its own and no let; a value
 * used several times inside one expression is bound with [X].map(x, ...)[0].
 * The text is built with printf: a literal '%' (CEL's modulo) is "%%". */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/buf.h"
#include "membudget/celpolicy.h"
#include "membudget/quantity.h"

#define MB_STR_(x) #x
#define MB_XSTR(x) MB_STR_(x)

struct gen {
    const struct celpolicy_params *p;
    struct mb_buf *out;
    char **keep; /* every string S() made, freed at the end */
    size_t nkeep;
    bool full; /* a piece did not fit its buffer: the output is not whole */
};

static const char *S(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static const char *S(struct gen *g, const char *fmt, ...)
{
    va_list ap;
    struct mb_buf b;

    mb_buf_init(&b, 1u << 22);
    va_start(ap, fmt);
    if (mb_buf_vprintf(&b, fmt, ap))
        g->full = true; /* (celpolicy_render refuses the whole output) */
    va_end(ap);
    g->keep = mb_xrealloc(g->keep, (g->nkeep + 1) * sizeof *g->keep);
    return g->keep[g->nkeep++] = mb_buf_take(&b);
}

/* --- values -------------------------------------------------------------------- */

/* ann_quote(): '"' and '\' escaped, control bytes as \u00XX, 64 characters
 * then "...". */
static const char *esc(struct gen *g, const char *x)
{
    struct mb_buf b;
    mb_buf_init(&b, 1u << 20);
    (void)mb_buf_printf(&b, "%s.replace('\\\\', '\\\\\\\\').replace('\"', '\\\\\"')", x);
    for (int c = 1; c < 0x20; c++)
        (void)mb_buf_printf(&b, ".replace('\\x%02x', '\\\\u%04x')", c, c);
    (void)mb_buf_printf(&b, ".replace('\\x7f', '\\\\u007f')");
    g->full |= b.full;
    const char *r = S(g, "%s", mb_buf_str(&b));
    mb_buf_cleanup(&b);
    return r;
}

static const char *quote(struct gen *g, const char *x)
{
    return S(g, "('\"' + (%s.size() > 64 ? %s + '...' : %s) + '\"')", x,
             esc(g, S(g, "%s.substring(0, 64)", x)), esc(g, x));
}

/* quantity.c's bytes: a fraction of a byte rounds up, a whole number of
 * bytes does not. (isInteger() is false for any quantity written with a
 * decimal point, "0.5Gi" and "1.5Gi" too, though they are whole numbers
 * of bytes: rounding those up made GOMEMLIMIT=536870913, and denied a
 * budget of 1.5Gi under a limit of 1.5Gi. Whole below 2^53, a double says
 * exactly whether it is.) */
static const char *qbytes(struct gen *g, const char *s)
{
    return S(
        g,
        "[quantity(%s)].map(q, q.isInteger() ? q.asInteger() : [q.asApproximateFloat()].map(f, "
        "double(int(f)) == f ? int(f) : int(f) + 1)[0])[0]",
        s);
}

#define INT64_MAX_TEXT "9223372036854775807"

/* qty_format(): the largest power of 1024 (then of 1000) that divides it. */
static const char *qfmt(struct gen *g, const char *l)
{
    static const char *const BIN[] = {"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    static const char *const DEC[] = {"k", "M", "G", "T", "P", "E"};
    struct mb_buf b;

    mb_buf_init(&b, 1u << 16);
    (void)mb_buf_printf(&b, "[%s].map(l, l == 0 ? '0'", l);
    for (int k = 6; k >= 1; k--)
        (void)mb_buf_printf(&b, " : l %% %lld == 0 ? string(l / %lld) + '%s'", 1LL << (10 * k),
                            1LL << (10 * k), BIN[k - 1]);
    for (int k = 6; k >= 1; k--) {
        long long p = 1;
        for (int i = 0; i < k; i++)
            p *= 1000;
        (void)mb_buf_printf(&b, " : l %% %lld == 0 ? string(l / %lld) + '%s'", p, p, DEC[k - 1]);
    }
    (void)mb_buf_printf(&b, " : string(l))[0]");
    g->full |= b.full;
    const char *r = S(g, "%s", mb_buf_str(&b));
    mb_buf_cleanup(&b);
    return r;
}

/* qty_parse()'s message for string v, or ''. */
static const char *qty_err(struct gen *g, const char *v)
{
    return S(g,
             "([%1$s == '' ? '\"\": empty quantity'\n"
             ": bytes(%1$s).size() > %2$d ? 'quantity is ' + string(bytes(%1$s).size()) + ' "
             "characters long, more than %2$d'\n"
             ": [%1$s.find('^[+-]?[0-9]*(\\\\.[0-9]*)?')].map(num, "
             "[%1$s.substring(num.size())].map(suf,\n"
             "    !num.matches('[0-9]') ? '\"' + %1$s + '\": expected a number before the suffix'\n"
             "    : suf in ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'm', 'k', 'M', 'G', 'T', 'P', "
             "'E'] ? ''\n"
             "    : suf.size() > 1 && (suf.startsWith('e') || suf.startsWith('E')) ? (\n"
             "        suf.matches('^[eE][+-]?$') ? '\"' + %1$s + '\": exponent has no digits'\n"
             "        : !suf.matches('^[eE][+-]?[0-9]+$') ? '\"' + %1$s + '\": exponent must be an "
             "integer' : '')\n"
             "    : suf.startsWith('.') ? '\"' + %1$s + '\": more than one decimal point'\n"
             "    : '\"' + %1$s + '\": unknown suffix (use Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, "
             "P, E, or an exponent such as e6)'\n"
             "  )[0])[0]\n"
             "].map(e, e != '' ? e\n"
             ": !isQuantity(%1$s) ? '\"' + %1$s + '\": not a quantity the API server accepts'\n"
             ": quantity(%1$s).isLessThan(quantity('0')) ? '\"' + %1$s + '\": memory must not be "
             "negative'\n"
             ": quantity(%1$s).isGreaterThan(quantity('" INT64_MAX_TEXT
             "')) ? '\"' + %1$s + '\": more than " INT64_MAX_TEXT " bytes (overflows int64)'\n"
             ": '')[0])",
             v, QTY_MAX_LEN);
}

/* ann_is_dns_label(): a container name. */
static const char *dns_label(struct gen *g, const char *x)
{
    return S(g, "(%1$s.size() <= %2$d && %1$s.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))", x,
             ANN_NAME_MAX);
}

/* A tier item's name and number: spaces around them do not count. */
static const char *tier_name(struct gen *g, const char *it)
{
    return S(g, "%1$s.substring(0, %1$s.indexOf('=')).find('(?s)[^ ](.*[^ ])?')", it);
}
static const char *tier_num(struct gen *g, const char *it)
{
    return S(g, "%1$s.substring(%1$s.indexOf('=') + 1).find('(?s)[^ ](.*[^ ])?')", it);
}

/* The percentage of tier `name` in the items s (all valid), or 0. */
static const char *tier_value(struct gen *g, const char *name)
{
    return S(g,
             "[s.filter(it, it.contains('=') && %s == '%s').map(it, int(%s))].map(l, l.size() > 0 "
             "? l[0] : 0)[0]",
             tier_name(g, "it"), name, tier_num(g, "it"));
}

/* ann_parse_tiers()'s message for v, or '': a message that shows the value
 * is ": ..." (the caller puts the quoted value in front). */
static const char *tiers_err(struct gen *g, const char *v)
{
    return S(
        g,
        "([%1$s.split(',')].map(s, [lists.range(s.size()).map(i,\n"
        "    !s[i].contains('=') ? ': expected NAME=PERCENT items such as "
        "throttle=80,gc=90,evict=95'\n"
        "    : [%2$s].map(nm,\n"
        "        !(nm in ['throttle', 'gc', 'evict']) ? ': unknown tier \"' + (nm.size() > 32 ? "
        "nm.substring(0, 32) : nm) + '\" (tiers are throttle, gc, evict)'\n"
        "        : lists.range(i).exists(j, s[j].contains('=') && %3$s == nm) ? ': tier ' + nm + ' "
        "is given twice'\n"
        "        : [%4$s].map(n, n.matches('^[0-9]{1,3}$') && int(n) >= 1 && int(n) <= 100 ? '' : "
        "': ' + nm + ' must be an integer percentage in (0, 100]')[0]\n"
        "      )[0]\n"
        "  ).filter(e, e != '')].map(es, es.size() > 0 ? es[0]\n"
        "    : [[%5$s, %6$s, %7$s].filter(x, x > 0)].map(l, lists.range(l.size()).exists(i, i > 0 "
        "&& l[i] <= l[i - 1]) ? ': thresholds must increase throttle < gc < evict' : '')[0]\n"
        "  )[0])[0])",
        v, tier_name(g, "s[i]"), tier_name(g, "s[j]"), tier_num(g, "s[i]"),
        tier_value(g, "throttle"), tier_value(g, "gc"), tier_value(g, "evict"));
}

/* ann_parse_endpoint()'s message for v, or '' (": ..." as tiers_err's). */
static const char *endpoint_err(struct gen *g, const char *v)
{
    return S(
        g,
        "(!%1$s.contains('/') || %1$s.startsWith('/') ? ': expected PORT/PATH, e.g. 6060/metrics'\n"
        ": [%1$s.substring(0, %1$s.indexOf('/'))].map(pt, "
        "[%1$s.substring(%1$s.indexOf('/'))].map(path,\n"
        "    pt.matches('^[0-9]') && !(pt.matches('^[1-9][0-9]{0,4}$') && int(pt) <= 65535) ? ': "
        "port must be a number 1-65535 or a port name'\n"
        "    : !pt.matches('^[0-9]') && !(pt.size() <= %2$d && "
        "pt.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$') && !pt.contains('--') && "
        "pt.matches('[a-z]'))\n"
        "      ? \": port must be a number 1-65535 or a port name (at most %2$d of a-z, 0-9, '-', "
        "with a letter)\"\n"
        "    : bytes(path).size() > %3$d ? ': path is longer than %3$d characters'\n"
        "    : !path.matches('^[!-~]*$') || path.matches('[\"#<>\\\\\\\\^`{|}]')\n"
        "      ? \": path has a character not allowed in a URL path (spaces, controls, non-ASCII, "
        "'#', '\\\\\\\\' ...)\"\n"
        "    : ''\n"
        "  )[0])[0])",
        v, ANN_PORTNAME_MAX, ANN_PATH_MAX);
}

/* --- the rules, on one object ---------------------------------------------------- */

static void var(struct gen *g, const char *name, const char *expr)
{
    (void)mb_buf_printf(g->out, "  - name: %s\n    expression: |-\n      ", name);
    for (const char *c = expr; *c; c++) {
        (void)mb_buf_add(g->out, c, 1);
        if (*c == '\n')
            (void)mb_buf_adds(g->out, "      ");
    }
    (void)mb_buf_adds(g->out, "\n");
}

/* The variables every policy shares: the kind, where its pod template is,
 * and the object's label for messages (policy_object_label()). */
static void shared_vars(struct gen *g)
{
    var(g, "kind", "request.kind.kind");
    var(g, "pfx",
        "variables.kind == 'Pod' ? '' : variables.kind == 'CronJob' ? "
        "'spec.jobTemplate.spec.template.' : 'spec.template.'");
    var(g, "ptr",
        "variables.kind == 'Pod' ? '' : variables.kind == 'CronJob' ? "
        "'/spec/jobTemplate/spec/template' : '/spec/template'");
    var(g, "label",
        "variables.kind + ' ' + (request.namespace != '' ? request.namespace + '/' : '')\n"
        "+ (request.name != '' ? request.name\n"
        "   : object.metadata.?name.orValue('') != '' ? object.metadata.name\n"
        "   : object.metadata.?generateName.orValue('') != '' ? object.metadata.generateName + "
        "'*'\n"
        "   : '(unnamed)')");
}

static const char *template_of(struct gen *g, const char *root)
{
    return S(
        g,
        "%1$s == null ? null : variables.kind == 'Pod' ? %1$s\n"
        ": variables.kind == 'CronJob' ? %1$s.?spec.?jobTemplate.?spec.?template.orValue(null)\n"
        ": %1$s.?spec.?template.orValue(null)",
        root);
}

/* find_named(): N in containers, then in initContainers (a native sidecar
 * only); st is ok, init (an init container that runs to completion) or none. */
static const char *find_named(struct gen *g, const char *v, const char *n, const char *from)
{
    return S(g,
             "(%1$scs.exists(c, c.?name.orValue('') == %2$s)\n"
             "  ? {'st': 'ok', 'list': 'containers', 'i': string(%1$scs.map(c, "
             "c.?name.orValue('')).indexOf(%2$s)), 'from': '%3$s'}\n"
             ": %1$sics.exists(c, c.?name.orValue('') == %2$s)\n"
             "  ? [%1$sics.map(c, c.?name.orValue('')).indexOf(%2$s)].map(i, {'st': "
             "%1$sics[i].?restartPolicy.orValue('') == 'Always' ? 'ok' : 'init', 'list': "
             "'initContainers', 'i': string(i), 'from': '%3$s'})[0]\n"
             ": {'st': 'none', 'list': '', 'i': '-1', 'from': '%3$s'})",
             v, n, from);
}

/*
 * The rules on one object (root "object" or "oldObject"), as variables
 * P_* (P is "n" for the object, "o" for the old one): policy.c's steps,
 * under the same names and in the same order (see "the rules" there).
 * Each step binds its variables and hands back its violations, as CEL
 * lists; P_v joins them, in policy_eval()'s order. Step 7 (advice) is
 * warning_vars() and step 8 (mutation) is mutating(), below.
 */
struct rules {
    struct gen *g;
    const char *p;     /* "n" or "o" */
    const char *V;     /* "variables.n_" */
    const char *ANN;   /* "variables.n_ann" */
    const char *v[12]; /* the violations' CEL lists, in order */
    size_t nv;
};

static void violation(struct rules *r, const char *list)
{
    if (r->nv < MB_ARRAY_LEN(r->v))
        r->v[r->nv++] = list;
    else
        r->g->full = true; /* (cannot happen: the steps add 8) */
}

#define N(x) S(g, "%s_" x, r->p)
/* valid: the annotation is there and parsed */
#define OK(key) S(g, "('" key "' in %1$saerr && %1$saerr['" key "'] == '')", r->V)

/* 1. Annotation syntax: every membudget.io annotation's error, or ''
 * (ann_parse()). The value is quoted only in a message that needs it:
 * each such message is built as ": ..." and the quote put in front at
 * the end. */
static void step_annotations(struct rules *r, const char *root)
{
    struct gen *g = r->g;
    const char *V = r->V, *ANN = r->ANN;
    var(g, N("t"), template_of(g, root));
    var(g, N("ann"), S(g, "%1$st == null ? {} : %1$st.?metadata.?annotations.orValue({})", V));
    var(g, N("aerr"),
        S(g,
          "%1$s.transformMap(k, v, k.startsWith('" ANN_PREFIX "'), [\n"
          "  k in ['" ANN_BUDGET "', '" ANN_MAX_LIMIT
          "'] ? [%3$s].map(e, e != '' ? e : %4$s <= 0 ? ': must be greater than 0' : '')[0]\n"
          ": k == '" ANN_CONTAINER "' ? (%5$s ? '' : ': not a container name (DNS-1123 label)')\n"
          ": k == '" ANN_TIERS "' ? %6$s\n"
          ": k == '" ANN_USAGE
          "' ? (v in ['working-set', 'rss', 'heap'] ? '' : ': must be working-set, rss or heap')\n"
          ": k in ['" ANN_METRICS "', '" ANN_GC "', '" ANN_PROFILE "', '" ANN_GOROUTINES
          "', '" ANN_MEMLIMIT "'] ? %7$s\n"
          ": k == '" ANN_THROTTLE "' ? (v in ['readiness', 'none'] || %7$s == '' ? '' : ': must be "
          "readiness, none or PORT/PATH')\n"
          ": k == '" ANN_MODE
          "' ? (v in ['enforce', 'dry-run'] ? '' : ': must be enforce or dry-run')\n"
          ": k == '" ANN_BASELINE_EVERY
          "' ? (v.matches('^([0-9]{1,5}h)?([0-9]{1,5}m)?([0-9]{1,5}s)?$') && v != '' && "
          "duration(v) >= duration('1m') && duration(v) <= duration('24h') ? '' : ': must be a "
          "duration from 1m to 24h, such as 30m or 1h30m')\n"
          ": 'unknown annotation (known: budget, container, tiers, usage, metrics, gc, throttle, "
          "profile, goroutines, memlimit, mode, max-limit, baseline-every)'\n"
          "].map(e, e.startsWith(': ') ? %2$s + e : e)[0])",
          ANN, quote(g, "v"), qty_err(g, "v"), qbytes(g, "v"), dns_label(g, "v"), tiers_err(g, "v"),
          endpoint_err(g, "v")));
    /* ann_parse()'s cross-annotation rule: usage and metrics */
    var(g, N("uerr"),
        S(g,
          "[%1$s[?'" ANN_USAGE "'].orValue('')].map(u, u in ['rss', 'heap'] && %2$s ? (\n"
          "  !%3$s && !('" ANN_METRICS "' in %1$s) ? '\"' + u + '\": needs " ANN_METRICS
          " (' + u + ' is scraped from the pod)'\n"
          "  : %3$s && u == 'rss' && [%1$s['" ANN_METRICS
          "']].map(m, m.substring(m.indexOf('/')).split('?')[0].endsWith('/debug/vars'))[0]\n"
          "    ? '\"rss\": needs Prometheus text metrics; expvar (/debug/vars) has no resident set "
          "size' : '')\n"
          ": '')[0]",
          ANN, OK(ANN_USAGE), OK(ANN_METRICS)));
    var(g, N("alist"),
        S(g,
          "%1$saerr.filter(k, %1$saerr[k] != '').sort().map(k, variables.pfx + "
          "'metadata.annotations[' + k + ']: ' + %1$saerr[k])\n"
          "+ (%1$suerr != '' ? [variables.pfx + 'metadata.annotations[" ANN_USAGE
          "]: ' + %1$suerr] : [])",
          V));
    violation(r, S(g, "%salist", V));
}

/* 2. The target container (ann_find_target(): by name, kubectl's default,
 * or the first). Its warnings are warning_vars()'s first. */
static void step_target(struct rules *r)
{
    struct gen *g = r->g;
    const char *V = r->V, *ANN = r->ANN;
    var(g, N("cs"), S(g, "%1$st == null ? [] : %1$st.?spec.?containers.orValue([])", V));
    var(g, N("ics"), S(g, "%1$st == null ? [] : %1$st.?spec.?initContainers.orValue([])", V));
    var(g, N("hasdflt"), S(g, "'" ANN_KUBECTL_DEFAULT_CONTAINER "' in %s", ANN));
    var(g, N("dflt"), S(g, "%s[?'" ANN_KUBECTL_DEFAULT_CONTAINER "'].orValue('')", ANN));
    var(g, N("tg"),
        S(g,
          "%1$st == null ? {'st': 'skip', 'list': '', 'i': '-1', 'from': ''}\n"
          ": '" ANN_CONTAINER "' in %1$saerr ? (%1$saerr['" ANN_CONTAINER
          "'] != '' ? {'st': 'skip', 'list': '', 'i': '-1', 'from': ''}\n"
          "    : %2$s)\n"
          ": %1$shasdflt && (%3$s).st == 'ok' ? %3$s\n"
          ": %1$scs.size() > 0 ? {'st': 'ok', 'list': 'containers', 'i': '0', 'from': 'first'}\n"
          ": {'st': 'nocontainers', 'list': '', 'i': '-1', 'from': ''}",
          V, find_named(g, V, S(g, "%s['" ANN_CONTAINER "']", ANN), "named"),
          find_named(g, V, S(g, "%sdflt", V), "default")));
    var(g, N("tc"),
        S(g,
          "%1$stg.st != 'ok' ? null : %1$stg.list == 'containers' ? %1$scs[int(%1$stg.i)] : "
          "%1$sics[int(%1$stg.i)]",
          V));
    var(g, N("tname"), S(g, "%1$stc == null ? '' : %1$stc.?name.orValue('')", V));
    var(g, N("tpath"), S(g, "variables.pfx + 'spec.' + %1$stg.list + '[' + %1$stg.i + ']'", V));
    violation(r,
              S(g,
                "(%1$stg.st == 'none' ? [variables.pfx + 'metadata.annotations[" ANN_CONTAINER
                "]: \"' + %1$sann['" ANN_CONTAINER
                "'] + '\": no such container in ' + variables.pfx + 'spec.containers, nor a native "
                "sidecar in ' + variables.pfx + 'spec.initContainers (restartPolicy: Always)']\n"
                "   : %1$stg.st == 'init' ? [variables.pfx + 'metadata.annotations[" ANN_CONTAINER
                "]: \"' + %1$sann['" ANN_CONTAINER
                "'] + '\": an init container that runs to completion cannot be budgeted; only a "
                "native sidecar (restartPolicy: Always) or a container in ' + variables.pfx + "
                "'spec.containers can'] : [])",
                V));
}

/* 3. The limit (container_limit()). A policy does not see LimitRanges:
 * a template without a limit is the warning policy's (warning_vars()). */
static void step_limit(struct rules *r)
{
    struct gen *g = r->g;
    const char *V = r->V;
    var(g, N("lraw"),
        S(g, "%1$stc == null ? '' : string(%1$stc.?resources.?limits.?memory.orValue(''))", V));
    var(g, N("lpresent"), S(g, "%slraw != ''", V));
    var(g, N("lwhy"),
        S(g,
          "!%1$slpresent ? '' : quantity(%1$slraw).isLessThan(quantity('0')) ? '\"' + %1$slraw + "
          "'\": memory must not be negative'\n"
          ": quantity(%1$slraw).isGreaterThan(quantity('" INT64_MAX_TEXT
          "')) ? '\"' + %1$slraw + '\": more than " INT64_MAX_TEXT " bytes (overflows int64)' : ''",
          V));
    var(g, N("lok"), S(g, "%1$slpresent && %1$slwhy == ''", V));
    var(g, N("limit"), S(g, "%1$slok ? %2$s : 0", V, qbytes(g, S(g, "%slraw", V))));
    violation(
        r,
        S(g,
          "(%1$stc != null && !%1$slpresent && %1$swants && variables.pfx == ''\n"
          "   ? [%1$stpath + '.resources.limits.memory: ' + (%1$shasb ? 'required when " ANN_BUDGET
          " is set (the budget must fit under a memory limit)' : 'required: a governed pod needs a "
          "memory limit, and a " ANN_BUDGET " under it')] : [])",
          V));
}

/* 4. The budget against the limit: declared, defaulted (a share of the
 * limit), or required; then max-limit at least the limit. (P_wants is
 * step 3's wants_limit.) */
static void step_budget(struct rules *r)
{
    struct gen *g = r->g;
    const struct celpolicy_params *cp = g->p;
    const char *V = r->V, *ANN = r->ANN, *limit = qfmt(g, S(g, "%slimit", V));
    var(g, N("bkey"), S(g, "'" ANN_BUDGET "' in %s", ANN));
    var(g, N("hasb"), OK(ANN_BUDGET));
    var(g, N("braw"), S(g, "%s[?'" ANN_BUDGET "'].orValue('')", ANN));
    var(g, N("b"), S(g, "%1$shasb ? %2$s : 0", V, qbytes(g, S(g, "%sbraw", V))));
    var(g, N("wants"), S(g, "%1$shasb || (%2$s && !%1$sbkey)", V, cp->require_budget));
    var(g, N("candef"),
        S(g, "%2$s > 0 && %1$stc != null && %1$slok && %1$slimit > 0", V, cp->default_pct));
    var(g, N("defb"),
        S(g, "%1$scandef ? %1$slimit / 100 * %2$s + %1$slimit %% 100 * %2$s / 100 : 0", V,
          cp->default_pct));
    var(g, N("over"), S(g, "%1$shasb && %1$stc != null && %1$slok && %1$sb > %1$slimit", V));
    var(g, N("bknown"), S(g, "(%1$shasb && !%1$sover) || (!%1$sbkey && %1$sdefb > 0)", V));
    var(g, N("budget"), S(g, "%1$shasb ? %1$sb : %1$sdefb", V));
    violation(r, S(g,
                   "(%1$shasb && %1$stc != null && %1$slpresent && !%1$slok ? [%1$stpath + "
                   "'.resources.limits.memory: ' + %1$slwhy] : [])",
                   V));
    violation(r, S(g,
                   "(%1$sover ? [variables.pfx + 'metadata.annotations[" ANN_BUDGET
                   "]: \"' + %1$sbraw + '\": exceeds the memory limit ' + %2$s + ' of container "
                   "\"' + %1$stname + '\" (' + %1$stpath + '.resources.limits.memory)'] : [])",
                   V, limit));
    violation(
        r,
        S(g,
          "(!%1$sbkey && !%1$scandef && %2$s ? [variables.pfx + 'metadata.annotations[" ANN_BUDGET
          "]: required: every pod in a namespace governed by membudget must declare a memory "
          "budget, e.g. " ANN_BUDGET ": \"768Mi\"'\n"
          "     + (%3$s > 0 && %1$stc != null && !%1$slpresent ? ' (no default: the container has "
          "no memory limit)' : '')] : [])",
          V, cp->require_budget, cp->default_pct));
    violation(
        r,
        S(g,
          "(%2$s && %1$stc != null && %1$slok && %3$s < %1$slimit ? [variables.pfx + "
          "'metadata.annotations[" ANN_MAX_LIMIT "]: \"' + %1$sann['" ANN_MAX_LIMIT
          "'] + '\": below the memory limit ' + %4$s + ' of container \"' + %1$stname + '\" (' + "
          "%1$stpath + '.resources.limits.memory); membudget raises a limit only up to it'] : [])",
          V, OK(ANN_MAX_LIMIT), qbytes(g, S(g, "%sann['" ANN_MAX_LIMIT "']", V)), limit));
}

/* 5. Endpoints: ports the target declares (ann_resolve_endpoint()). */
static void step_ports(struct rules *r)
{
    struct gen *g = r->g;
    var(g, N("eperr"),
        S(g,
          "%1$stc == null ? [] : ['" ANN_METRICS "', '" ANN_GC "', '" ANN_PROFILE
          "', '" ANN_GOROUTINES "', '" ANN_MEMLIMIT "', '" ANN_THROTTLE "']\n"
          ".filter(k, k in %1$saerr && %1$saerr[k] == '' && !(%1$sann[k] in ['readiness', "
          "'none']))\n"
          ".map(k, [k, [%1$sann[k].substring(0, %1$sann[k].indexOf('/'))].map(pt,\n"
          "    [%1$stc.?ports.orValue([]).filter(x, pt.matches('^[0-9]') ? "
          "x.?containerPort.orValue(0) == int(pt) : x.?name.orValue('') == pt)].map(m,\n"
          "      m.size() > 0 ? (m[0].?protocol.orValue('TCP') != 'TCP'\n"
          "          ? 'port ' + (pt.matches('^[0-9]') ? pt : '\"' + pt + '\"') + ' of container "
          "\"' + %1$stname + '\" is ' + m[0].protocol + ', not TCP' : '')\n"
          "      : pt.matches('^[0-9]') ? 'port ' + pt + ' is not declared by container \"' + "
          "%1$stname + '\" (add it to ' + %1$stpath + '.ports; membudget only calls ports the pod "
          "declares)'\n"
          "      : 'container \"' + %1$stname + '\" has no port named \"' + pt + '\" (' + "
          "%1$stpath + '.ports)'\n"
          "    )[0])[0]])\n"
          ".filter(e, e[1] != '').map(e, variables.pfx + 'metadata.annotations[' + e[0] + ']: ' + "
          "e[1])",
          r->V));
    violation(r, S(g, "%seperr", r->V));
}

/* 6. An update may not drop the budget (the object's rules only). */
static void step_update(struct rules *r)
{
    violation(r, S(r->g,
                   "(request.operation == 'UPDATE' && variables.o_t != null && '" ANN_BUDGET
                   "' in variables.o_ann && !%sbkey\n"
                   "   ? [variables.pfx + 'metadata.annotations[" ANN_BUDGET
                   "]: may not be removed by an update'] : [])",
                   r->V));
}
#undef OK

static void root_vars(struct gen *g, const char *p, const char *root, bool is_new)
{
    struct rules r = {.g = g, .p = p};
    struct mb_buf v;
    r.V = S(g, "variables.%s_", p);
    r.ANN = S(g, "%sann", r.V);
    step_annotations(&r, root);
    step_target(&r);
    step_limit(&r);
    step_budget(&r);
    step_ports(&r);
    if (is_new)
        step_update(&r);
    mb_buf_init(&v, 1u << 22);
    (void)mb_buf_printf(&v, "%st == null ? [] : ", r.V);
    for (size_t i = 0; i < r.nv; i++)
        (void)mb_buf_printf(&v, "%s%s", i ? "\n+ " : "", r.v[i]);
    g->full |= v.full;
    var(g, S(g, "%s_v", p), S(g, "%s", v.p ? v.p : ""));
    mb_buf_cleanup(&v);
}
#undef N

/* What an UPDATE makes new is refused; what the old object had is a warning. */
static void verdict_vars(struct gen *g)
{
    var(g, "viol",
        "request.operation == 'UPDATE' && oldObject != null ? variables.n_v.filter(x, !(x in "
        "variables.o_v)) : variables.n_v");
    var(g, "oldv",
        "request.operation == 'UPDATE' && oldObject != null ? variables.n_v.filter(x, x in "
        "variables.o_v) : []");
}

/* policy_eval()'s warnings, in its order: step 2's (the target), step 3's
 * (a template without a limit), the old object's violations, and step 7's
 * advice (policy.c's step_advice). */
static void warning_vars(struct gen *g)
{
    const char *trunc_dflt =
        "(variables.n_dflt.size() > 63 ? variables.n_dflt.substring(0, 63) : variables.n_dflt)";
    const char *trunc_name =
        "(variables.n_tname.size() > 63 ? variables.n_tname.substring(0, 63) : variables.n_tname)";
    /* (advice only: skipped for a container with more than CELPOLICY_MAX_ENV_ADVICE
     * environment variables. kube-apiserver's CEL costs about 100 us a list
     * element here, a pod of 60k variables 6 s for each pass over them; the
     * webhook gives it. README: "Admission without a webhook".) */
    var(g, "gml",
        S(g,
          "variables.n_tc == null || !variables.n_bknown || variables.n_tc.?env.orValue([]).size() "
          "> " MB_XSTR(
              CELPOLICY_MAX_ENV_ADVICE) " ? []\n"
                                        ": [variables.n_tc.?env.orValue([]).filter(e, e.name == "
                                        "'GOMEMLIMIT')].map(es, es.size() == 0 ? [] : "
                                        "[es[0].?value.orValue('')].map(s,\n"
                                        "    s.matches('^[0-9]+(B|KiB|MiB|GiB|TiB)?$') ? "
                                        "[s.find('^[0-9]+')].map(d, [s.endsWith('TiB') ? "
                                        "1099511627776 : s.endsWith('GiB') ? 1073741824 : "
                                        "s.endsWith('MiB') ? 1048576 : s.endsWith('KiB') ? 1024 : "
                                        "1].map(u,\n"
                                        "      (d.size() < 19 || (d.size() == 19 && d <= "
                                        "'" INT64_MAX_TEXT "')) && int(d) <= " INT64_MAX_TEXT
                                        " / u && int(d) * u > variables.n_budget\n"
                                        "        ? [variables.n_tpath + '.env[GOMEMLIMIT]: ' + s + "
                                        "' is above the budget ' + %s + '; the Go runtime will not "
                                        "work to stay inside the budget'] : [])[0])[0]\n"
                                        "    : [])[0])[0]",
          qfmt(g, "variables.n_budget")));
    var(g, "warn",
        S(g,
          "(variables.n_tg.st == 'ok' && variables.n_hasdflt && variables.n_tg.from == 'first' && "
          "!('" ANN_CONTAINER "' in variables.n_aerr)\n"
          "   ? [variables.pfx + 'metadata.annotations[" ANN_KUBECTL_DEFAULT_CONTAINER
          "]: \"' + %1$s + '\": no such container; membudget budgets the first container, \"' + "
          "%2$s + '\" (set " ANN_CONTAINER " to choose)']\n"
          " : variables.n_tg.st == 'ok' && variables.n_tg.from == 'first' && variables.kind == "
          "'Pod' && variables.n_cs.size() > 1\n"
          "   ? [variables.pfx + 'metadata.annotations[" ANN_CONTAINER
          "]: not set: the budget is for the first of ' + string(variables.n_cs.size()) + ' "
          "containers, \"' + %2$s + '\"; a sidecar injector whose webhook runs before "
          "membudget\\'s puts its proxy first, so name the app here (or "
          "in " ANN_KUBECTL_DEFAULT_CONTAINER ")'] : [])\n"
          "+ (variables.n_tc != null && !variables.n_lpresent && variables.n_wants && "
          "variables.pfx != ''\n"
          "   ? [variables.n_tpath + '.resources.limits.memory: not set in the template: its pods "
          "need one, from a LimitRange default or the template (the namespace\\'s LimitRanges are "
          "not known here, so one is assumed to give a default; a pod without a memory limit is "
          "denied when it is created)'] : [])\n"
          "+ variables.oldv.map(x, x + ' (not new in this update, so not refused)')\n"
          "+ variables.gml",
          trunc_dflt, trunc_name));
}

/* --- the objects ------------------------------------------------------------------ */

#define WARN_MAX 40 /* validations in the warning policy: at most this many warnings */

static void header(struct gen *g)
{
    const struct celpolicy_params *p = g->p;
    (void)mb_buf_printf(
        g->out,
        "# membudget's admission rules as admission policies: the API server applies\n"
        "# them itself, in CEL, with no webhook in the path (%s).\n"
        "# The same rules and messages as the webhook, with these differences:\n"
        "#  - LimitRanges: CEL cannot read them. A workload template without a memory\n"
        "#    limit is admitted with a warning (its pods need one from a LimitRange\n"
        "#    default); the webhook denies it when no LimitRange of the namespace gives\n"
        "#    one. Pods are checked after the LimitRanger plugin, as with the webhook.\n"
        "#  - Messages: the API server puts its own words around them "
        "(\"ValidatingAdmissionPolicy\n"
        "#    '%s-validate' with binding ... denied request: \" before a denial,\n"
        "#    \"Validation failed for ValidatingAdmissionPolicy ...\" before a warning).\n"
        "#  - Sidecar injectors: these policies run before every mutating webhook, so a\n"
        "#    pod's first container is pinned before an injector puts its proxy in front.\n"
        "# Generated by `membudget policy render`%s; README.md, \"Admission without a webhook\".\n",
        p->helm ? "the chart's admission.mode" : "see README.md", p->name,
        p->helm ? " --helm (do not edit: test/chart/check.sh compares)" : "");
}

static void meta(struct gen *g, const char *kind, const char *name)
{
    (void)mb_buf_printf(
        g->out,
        "---\napiVersion: admissionregistration.k8s.io/v1\nkind: %s\nmetadata:\n  name: %s-%s\n",
        kind, g->p->name, name);
    if (g->p->labels)
        (void)mb_buf_printf(g->out, "%s\n", g->p->labels);
}

static void selector(struct gen *g, const char *audit_op)
{
    (void)mb_buf_printf(g->out,
                        "  matchResources:\n    namespaceSelector:\n      matchExpressions:\n"
                        "      - {key: membudget.io/enforce, operator: In, values: [\"true\"]}\n");
    if (audit_op)
        (void)mb_buf_printf(
            g->out, "      - {key: membudget.io/admission, operator: %s, values: [audit]}\n",
            audit_op);
    (void)mb_buf_printf(g->out,
                        "      - {key: kubernetes.io/metadata.name, operator: NotIn, values: %s}\n",
                        g->p->never_json);
}

static void match(struct gen *g, bool mutating)
{
    (void)mb_buf_printf(g->out,
                        "  matchConstraints:\n    matchPolicy: Equivalent\n    resourceRules:\n");
    if (mutating)
        (void)mb_buf_printf(g->out, "    - {apiGroups: [\"\"], apiVersions: [v1], operations: "
                                    "[CREATE], resources: [pods]}\n"
                                    "    - {apiGroups: [\"\"], apiVersions: [v1], operations: "
                                    "[CREATE, UPDATE], resources: [replicationcontrollers]}\n");
    else
        (void)mb_buf_printf(g->out,
                            "    - {apiGroups: [\"\"], apiVersions: [v1], operations: [CREATE, "
                            "UPDATE], resources: [pods, pods/resize, replicationcontrollers]}\n");
    (void)mb_buf_printf(
        g->out,
        "    - {apiGroups: [apps], apiVersions: [v1], operations: [CREATE, UPDATE], resources: "
        "[deployments, statefulsets, daemonsets, replicasets]}\n"
        "    - {apiGroups: [batch], apiVersions: [v1], operations: [CREATE, UPDATE], resources: "
        "[jobs, cronjobs]}\n"
        "  matchConditions:\n"
        "  - name: governed-namespace   # never governed, whatever a binding selects\n"
        "    expression: '!(request.namespace in %s)'\n",
        g->p->never_json);
}

static void validating(struct gen *g)
{
    const struct celpolicy_params *p = g->p;

    /* the denial: every new violation, as the webhook's message */
    meta(g, "ValidatingAdmissionPolicy", "validate");
    (void)mb_buf_printf(g->out, "spec:\n  failurePolicy: %s\n", p->failure_policy);
    match(g, false);
    (void)mb_buf_adds(g->out, "  variables:\n");
    shared_vars(g);
    root_vars(g, "o", "oldObject", false);
    root_vars(g, "n", "object", true);
    verdict_vars(g);
    (void)mb_buf_adds(
        g->out,
        "  validations:\n"
        "  - expression: variables.viol.size() == 0\n"
        "    reason: Forbidden\n"
        "    messageExpression: |-\n      variables.label + ': ' + variables.viol.join('; ')\n");
    meta(g, "ValidatingAdmissionPolicyBinding", "validate");
    (void)mb_buf_printf(g->out, "spec:\n  policyName: %s-validate\n  validationActions: [Deny]\n",
                        p->name);
    selector(g, "NotIn");

    /* the warnings: audit namespaces' violations, then the advice */
    meta(g, "ValidatingAdmissionPolicy", "warn");
    (void)mb_buf_adds(g->out, "spec:\n  failurePolicy: Ignore\n");
    match(g, false);
    (void)mb_buf_adds(g->out, "  variables:\n");
    shared_vars(g);
    root_vars(g, "o", "oldObject", false);
    root_vars(g, "n", "object", true);
    verdict_vars(g);
    warning_vars(g);
    var(g, "texts",
        "(namespaceObject.metadata.?labels.orValue({})[?'membudget.io/admission'].orValue('') == "
        "'audit'\n"
        "  ? variables.viol.map(x, 'membudget (audit, would deny): ' + variables.label + ': ' + x) "
        ": [])\n"
        "+ variables.warn.map(x, 'membudget: ' + variables.label + ': ' + x)");
    /* review.c's budget: the API server keeps 4 KiB of warnings */
    var(g, "kept",
        "lists.range(variables.texts.size()).filter(i, lists.range(i + 1).map(j, "
        "variables.texts[j].size()).sum() <= 3968).size()");
    var(g, "shown",
        S(g,
          "[variables.kept < %1$d ? variables.kept : %1$d].map(k, variables.texts.slice(0, k)\n"
          "  + (k < variables.texts.size() ? ['membudget: and ' + string(variables.texts.size() - "
          "k) + ' more (`membudget lint` lists them all)'] : []))[0]",
          WARN_MAX - 1));
    (void)mb_buf_adds(g->out, "  validations:\n");
    for (int i = 0; i < WARN_MAX; i++)
        (void)mb_buf_printf(g->out,
                            "  - {expression: 'variables.shown.size() <= %d', messageExpression: "
                            "'variables.shown[%d]'}\n",
                            i, i);
    meta(g, "ValidatingAdmissionPolicyBinding", "warn");
    (void)mb_buf_printf(g->out, "spec:\n  policyName: %s-warn\n  validationActions: [Warn]\n",
                        p->name);
    selector(g, NULL);
}

/* Step 8 for a Pod on CREATE (policy.c's inject()): GOMEMLIMIT into the
 * target's env, and the readiness gate the throttle tier works through. */
static void inject_vars(struct gen *g)
{
    const struct celpolicy_params *p = g->p;
    var(g, "gmlops",
        S(g,
          "variables.podcreate && variables.n_bknown && variables.n_tc != null && %s\n"
          "&& !variables.n_tc.?env.orValue([]).exists(e, e.name == 'GOMEMLIMIT')\n"
          "? (variables.n_tc.?env.hasValue()\n"
          "   ? [{'path': dyn(variables.tptr + '/env/-'), 'value': dyn({'name': 'GOMEMLIMIT', "
          "'value': string(variables.n_budget)})}]\n"
          "   : [{'path': dyn(variables.tptr + '/env'), 'value': dyn([{'name': 'GOMEMLIMIT', "
          "'value': string(variables.n_budget)}])}])\n"
          ": []",
          p->inject_gomemlimit));
    var(g, "gateops",
        S(g,
          "variables.podcreate && variables.n_bknown && variables.n_tc != null && %s\n"
          "&& !(variables.n_ann[?'" ANN_THROTTLE
          "'].orValue('readiness') == 'none' || ('" ANN_THROTTLE
          "' in variables.n_aerr && variables.n_aerr['" ANN_THROTTLE
          "'] == '' && variables.n_ann['" ANN_THROTTLE "'] != 'readiness'))\n"
          "&& !object.spec.?readinessGates.orValue([]).exists(g, g.conditionType == '" ANN_CONDITION
          "')\n"
          "? (object.spec.?readinessGates.hasValue()\n"
          "   ? [{'path': dyn('/spec/readinessGates/-'), 'value': dyn({'conditionType': "
          "'" ANN_CONDITION "'})}]\n"
          "   : [{'path': dyn('/spec/readinessGates'), 'value': dyn([{'conditionType': "
          "'" ANN_CONDITION "'}])}])\n"
          ": []",
          p->inject_readiness_gate));
}

/* policy_eval()'s step 8 (policy.c's step_mutation): the pin, the default
 * budget, GOMEMLIMIT, the gate. */
static void mutating(struct gen *g, const char *suffix, const char *failure, const char *audit_op)
{
    const struct celpolicy_params *p = g->p;
    const char *name = S(g, "mutate%s", suffix);

    meta(g, "MutatingAdmissionPolicy", name);
    (void)mb_buf_printf(g->out, "spec:\n  failurePolicy: %s\n  reinvocationPolicy: IfNeeded\n",
                        failure);
    match(g, true);
    (void)mb_buf_adds(g->out, "  variables:\n");
    shared_vars(g);
    var(g, "o_t", template_of(g, "oldObject"));
    root_vars(g, "n", "object", false);
    var(g, "podcreate", "variables.kind == 'Pod' && request.operation == 'CREATE'");
    /* should_pin() */
    var(g, "pin",
        S(g,
          "variables.n_bknown && variables.n_tc != null && %s\n"
          "&& !('" ANN_CONTAINER "' in variables.n_ann)\n"
          "&& (variables.kind == 'Pod' ? request.operation == 'CREATE'\n"
          "    : !object.metadata.?ownerReferences.orValue([]).exists(r, "
          "r.?controller.orValue(false))\n"
          "      && (request.operation == 'CREATE' || oldObject == null || variables.o_t == null "
          "|| variables.o_t != variables.n_t))",
          dns_label(g, "variables.n_tname")));
    var(g, "defann",
        "variables.podcreate && variables.n_bknown && variables.n_tc != null && !variables.n_bkey "
        "&& variables.n_defb > 0");
    var(g, "tptr", "'/spec/' + variables.n_tg.list + '/' + variables.n_tg.i");
    inject_vars(g);
    var(g, "adds",
        S(g,
          "(variables.pin ? [['" ANN_CONTAINER
          "', string(variables.n_tname)]] : []) + (variables.defann ? [['" ANN_BUDGET
          "', %s]] : [])",
          qfmt(g, "variables.n_defb")));
    /* add_annotations(): the map, or each key into the map there is */
    var(g, "amap",
        "variables.adds.size() == 2 ? {variables.adds[0][0]: variables.adds[0][1], "
        "variables.adds[1][0]: variables.adds[1][1]}\n"
        ": variables.adds.size() == 1 ? {variables.adds[0][0]: variables.adds[0][1]} : {}");
    var(g, "annops",
        "variables.adds.size() == 0 ? []\n"
        ": !variables.n_t.?metadata.hasValue() ? [{'path': dyn(variables.ptr + '/metadata'), "
        "'value': dyn({'annotations': variables.amap})}]\n"
        ": !variables.n_t.metadata.?annotations.hasValue() ? [{'path': dyn(variables.ptr + "
        "'/metadata/annotations'), 'value': dyn(variables.amap)}]\n"
        ": variables.adds.map(a, {'path': dyn(variables.ptr + '/metadata/annotations/' + "
        "a[0].replace('~', '~0').replace('/', '~1')), 'value': dyn(a[1])})");
    (void)mb_buf_adds(g->out,
                      "  mutations:\n"
                      "  - patchType: JSONPatch\n"
                      "    jsonPatch:\n"
                      "      expression: |-\n"
                      "        (variables.gmlops + variables.gateops + variables.annops).map(o, "
                      "JSONPatch{op: 'add', path: o.path, value: o.value})\n");
    meta(g, "MutatingAdmissionPolicyBinding", name);
    (void)mb_buf_printf(g->out, "spec:\n  policyName: %s-%s\n", p->name, name);
    selector(g, audit_op);
}

mb_err celpolicy_render(const struct celpolicy_params *p, char **out, struct mb_diag *diag)
{
    struct mb_buf b;
    struct gen g = {.p = p, .out = &b};

    mb_buf_init(&b, 64u << 20);
    header(&g);
    validating(&g);
    mutating(&g, "", p->failure_policy, "NotIn");
    mutating(&g, "-audit", "Ignore", "In");
    for (size_t i = 0; i < g.nkeep; i++)
        mb_free(g.keep[i]);
    mb_free(g.keep);
    if (b.full || g.full) {
        mb_buf_cleanup(&b);
        return mb_diag_set(diag, MB_ETOOBIG,
                           "the admission policies would take more than %s: "
                           "not rendered (a part cut short would be wrong)",
                           b.full ? "64 MiB" : "4 MiB in one expression");
    }
    *out = mb_buf_take(&b);
    return MB_OK;
}

mb_err celpolicy_params_from_config(struct celpolicy_params *p, const struct cfg *cfg,
                                    const char *own_ns, const char *name,
                                    const char *failure_policy, struct mb_diag *diag)
{
    static const char *const ALWAYS[] = CFG_ALWAYS_EXCLUDED;
    struct mb_buf b;
    const struct policy_conf *a = &cfg->admission;

    mb_buf_init(&b, CELPOLICY_MAX_NEVER);
    (void)mb_buf_adds(&b, "[");
    for (size_t i = 0; i < MB_ARRAY_LEN(ALWAYS); i++)
        (void)mb_buf_printf(&b, "%s\"%s\"", i ? ", " : "", ALWAYS[i]);
    for (size_t i = 0; i < cfg->excluded.n; i++) {
        bool dup = false;
        for (size_t k = 0; k < MB_ARRAY_LEN(ALWAYS); k++)
            dup |= !strcmp(ALWAYS[k], cfg->excluded.v[i]);
        if (!dup)
            (void)mb_buf_printf(&b, ", \"%s\"", cfg->excluded.v[i]);
    }
    if (own_ns && *own_ns)
        (void)mb_buf_printf(&b, ", \"%s\"", own_ns);
    (void)mb_buf_adds(&b, "]");
    *p = (struct celpolicy_params){
        .name = mb_xstrdup(name),
        .require_budget = a->require_budget ? "true" : "false",
        .default_pct = mb_xasprintf("%u", a->default_budget_pct),
        .inject_gomemlimit = a->inject_gomemlimit ? "true" : "false",
        .inject_readiness_gate = a->inject_readiness_gate ? "true" : "false",
        .never_json = NULL,
        .failure_policy = mb_xstrdup(failure_policy),
    };
    if (b.full) {
        mb_buf_cleanup(&b);
        return mb_diag_set(
            diag, MB_ETOOBIG,
            "excludedNamespaces: %zu namespaces (with membudget's own and the fixed "
            "ones) take more than %u KiB as a list, the most the admission policies "
            "hold (each names them all, and the API server refuses an object over 1.5 MiB)",
            cfg->excluded.n, CELPOLICY_MAX_NEVER >> 10);
    }
    p->never_json = mb_buf_take(&b);
    return MB_OK;
}

void celpolicy_params_cleanup(struct celpolicy_params *p)
{
    mb_free((char *)p->name);
    mb_free((char *)p->default_pct);
    mb_free((char *)p->never_json);
    mb_free((char *)p->failure_policy);
    memset(p, 0, sizeof *p);
}
