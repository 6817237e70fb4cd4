/*
 * promtext.c -- the Prometheus text exposition format, read for the figures
 * the sampler wants (pure; see promtext.h). The whole body is checked as
 * Prometheus checks a scrape: a malformed line fails it (a stale sample,
 * never a zero), and a histogram's or summary's series never pass for a
 * plain value.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "membudget/promtext.h"

#define MAX_TYPED 64 /* families declared histogram/summary we remember */

struct typed {
    char name[128];
};

static bool name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

/* Parse a float the way Prometheus does (Go's ParseFloat plus the special
 * spellings). */
static bool parse_value(const char *s, size_t n, double *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (!strcmp(buf, "NaN")) {
        *out = NAN;
        return true;
    }
    if (!strcmp(buf, "+Inf") || !strcmp(buf, "Inf")) {
        *out = INFINITY;
        return true;
    }
    if (!strcmp(buf, "-Inf")) {
        *out = -INFINITY;
        return true;
    }
    /* strtod accepts hex, "inf", "nan(...)": refuse what Prometheus would. */
    for (size_t i = 0; i < n; i++) {
        char c = buf[i];
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'))
            return false;
    }
    char *end;
    *out = strtod(buf, &end);
    return end == buf + n;
}

static bool parse_int(const char *s, size_t n)
{
    size_t i = (n && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (i == n || n > 20)
        return false;
    for (; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool is_typed(const struct typed *t, size_t nt, const char *name, size_t n)
{
    /* A histogram/summary family "x" owns x, x_bucket, x_sum, x_count. */
    static const char *const SUF[] = {"", "_bucket", "_sum", "_count"};
    for (size_t i = 0; i < nt; i++) {
        size_t fl = strlen(t[i].name);
        for (size_t k = 0; k < MB_ARRAY_LEN(SUF); k++) {
            size_t sl = strlen(SUF[k]);
            if (n == fl + sl && !memcmp(name, t[i].name, fl) && !memcmp(name + fl, SUF[k], sl))
                return true;
        }
    }
    return false;
}

static mb_err bad(struct mb_diag *d, int line, const char *what)
{
    if (d)
        d->line = line;
    return mb_diag_set(d, MB_EPARSE, "line %d: %s", line, what);
}

/* The scanners below read one line, s to le, and return NULL or what is
 * wrong with it (scan() adds the line number). */

static const char *skip_blanks(const char *s, const char *le)
{
    while (s < le && (*s == ' ' || *s == '\t'))
        s++;
    return s;
}

/* "# TYPE name kind": a histogram or summary family is remembered (its
 * _bucket, _sum and _count samples are not plain values). Other comments
 * are skipped. */
static const char *type_line(const char *s, const char *le, struct typed *typed, size_t *ntyped)
{
    static const char *const KINDS[] = {"counter", "gauge", "histogram", "summary", "untyped"};
    if (le - s <= 7 || memcmp(s, "# TYPE ", 7))
        return NULL;
    const char *n = s + 7, *ne = n;
    while (ne < le && name_char(*ne))
        ne++;
    if (ne == n || !name_start(*n))
        return "TYPE without a metric name";
    const char *k = ne;
    while (k < le && *k == ' ')
        k++;
    size_t kl = (size_t)(le - k), ki;
    while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
        kl--;
    for (ki = 0; ki < MB_ARRAY_LEN(KINDS); ki++)
        if (kl == strlen(KINDS[ki]) && !memcmp(k, KINDS[ki], kl))
            break;
    if (ki == MB_ARRAY_LEN(KINDS))
        return "unknown metric type";
    if ((ki == 2 || ki == 3) && *ntyped < MAX_TYPED && (size_t)(ne - n) < 128) {
        memcpy(typed[*ntyped].name, n, (size_t)(ne - n));
        typed[*ntyped].name[ne - n] = '\0';
        (*ntyped)++;
    }
    return NULL;
}

/* One label, name="value", from *sp (past the blanks before it). */
static const char *label(const char **sp, const char *le)
{
    const char *s = *sp;
    if (s >= le || !(name_start(*s) && *s != ':'))
        return "bad label name";
    while (s < le && name_char(*s) && *s != ':')
        s++;
    while (s < le && *s == ' ')
        s++;
    if (s >= le || *s != '=')
        return "expected '=' after a label name";
    s++;
    while (s < le && *s == ' ')
        s++;
    if (s >= le || *s != '"')
        return "label value must be quoted";
    for (s++; s < le && *s != '"'; s++) {
        if (*s != '\\')
            continue;
        if (s + 1 >= le || (s[1] != '\\' && s[1] != '"' && s[1] != 'n'))
            return "bad escape in a label value";
        s++;
    }
    if (s >= le)
        return "unterminated label value";
    *sp = s + 1;
    return NULL;
}

/* {label="v",...} from *sp, which is at the '{'; *any: a label was there. */
static const char *labels(const char **sp, const char *le, bool *any)
{
    const char *s = *sp + 1, *why;
    for (;;) {
        while (s < le && *s == ' ')
            s++;
        if (s < le && *s == '}')
            break;
        if ((why = label(&s, le)))
            return why;
        *any = true;
        while (s < le && *s == ' ')
            s++;
        if (s < le && *s == ',') {
            s++;
            continue;
        }
        if (s < le && *s == '}')
            break;
        return "expected ',' or '}' in labels";
    }
    *sp = s + 1;
    return NULL;
}

/* " value [timestamp]" to the end of the line. */
static const char *value(const char *s, const char *le, double *val)
{
    if (s >= le || (*s != ' ' && *s != '\t'))
        return "expected a space before the value";
    s = skip_blanks(s, le);
    const char *v = s;
    while (s < le && *s != ' ' && *s != '\t')
        s++;
    if (!parse_value(v, (size_t)(s - v), val))
        return "the value is not a number";
    s = skip_blanks(s, le);
    if (s == le)
        return NULL;
    const char *t = s;
    while (s < le && *s != ' ' && *s != '\t')
        s++;
    if (!parse_int(t, (size_t)(s - t)))
        return "the timestamp is not an integer";
    return skip_blanks(s, le) < le ? "unexpected text after the timestamp" : NULL;
}

/* A sample line: name[{labels}] value [timestamp]. A wanted name without
 * labels, and not part of a histogram or summary, takes the value. */
static const char *sample(const char *s, const char *le, const struct typed *typed, size_t ntyped,
                          struct prom_want *wants, size_t nwants)
{
    const char *n = s, *why;
    bool any = false;
    double val;
    if (!name_start(*s))
        return "a sample must start with a metric name";
    while (s < le && name_char(*s))
        s++;
    size_t nlen = (size_t)(s - n);
    if (s < le && *s == '{' && (why = labels(&s, le, &any)))
        return why;
    if ((why = value(s, le, &val)))
        return why;
    if (any || is_typed(typed, ntyped, n, nlen))
        return NULL;
    for (size_t i = 0; i < nwants; i++) {
        if (!wants[i].found && strlen(wants[i].name) == nlen && !memcmp(wants[i].name, n, nlen)) {
            wants[i].value = val;
            wants[i].found = true;
        }
    }
    return NULL;
}

static mb_err scan(const char *buf, size_t len, struct prom_want *wants, size_t nwants,
                   struct mb_diag *diag)
{
    struct typed typed[MAX_TYPED];
    size_t ntyped = 0;
    const char *p = buf, *end = buf + len, *why;
    int line = 0;

    for (size_t i = 0; i < nwants; i++)
        wants[i].found = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *s = p;
        line++;
        p = nl ? nl + 1 : end;
        if (le > s && le[-1] == '\r')
            le--;
        s = skip_blanks(s, le);
        if (s == le)
            continue;
        if (memchr(s, '\0', (size_t)(le - s)))
            return bad(diag, line, "NUL byte in the exposition");
        why = *s == '#' ? type_line(s, le, typed, &ntyped)
                        : sample(s, le, typed, ntyped, wants, nwants);
        if (why)
            return bad(diag, line, why);
    }
    return MB_OK;
}

mb_err prom_scan(const char *buf, size_t len, struct prom_want *wants, size_t nwants,
                 struct mb_diag *diag)
{
    mb_err e = scan(buf, len, wants, nwants, diag);
    if (e) /* a malformed exposition gives nothing, not a partial answer */
        for (size_t i = 0; i < nwants; i++)
            wants[i].found = false;
    return e;
}
