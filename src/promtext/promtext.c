/* promtext.c -- a strict reader of the Prometheus text format, line by line. */
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

static bool name_char(char c)
{
    return name_start(c) || (c >= '0' && c <= '9');
}

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

static mb_err scan(const char *buf, size_t len, struct prom_want *wants, size_t nwants,
                   struct mb_diag *diag)
{
    struct typed typed[MAX_TYPED];
    size_t ntyped = 0;
    const char *p = buf, *end = buf + len;
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
        while (s < le && (*s == ' ' || *s == '\t'))
            s++;
        if (s == le)
            continue;
        if (memchr(s, '\0', (size_t)(le - s)))
            return bad(diag, line, "NUL byte in the exposition");
        if (*s == '#') {
            /* "# TYPE name kind": remember histogram and summary families. */
            if (le - s > 7 && !memcmp(s, "# TYPE ", 7)) {
                const char *n = s + 7, *ne = n;
                while (ne < le && name_char(*ne))
                    ne++;
                if (ne == n || !name_start(*n))
                    return bad(diag, line, "TYPE without a metric name");
                const char *k = ne;
                while (k < le && *k == ' ')
                    k++;
                size_t kl = (size_t)(le - k);
                while (kl && (k[kl - 1] == ' ' || k[kl - 1] == '\t'))
                    kl--;
                static const char *const KINDS[] = {"counter", "gauge", "histogram", "summary",
                                                    "untyped"};
                size_t ki;
                for (ki = 0; ki < MB_ARRAY_LEN(KINDS); ki++)
                    if (kl == strlen(KINDS[ki]) && !memcmp(k, KINDS[ki], kl))
                        break;
                if (ki == MB_ARRAY_LEN(KINDS))
                    return bad(diag, line, "unknown metric type");
                if ((ki == 2 || ki == 3) && ntyped < MAX_TYPED && (size_t)(ne - n) < 128) {
                    memcpy(typed[ntyped].name, n, (size_t)(ne - n));
                    typed[ntyped].name[ne - n] = '\0';
                    ntyped++;
                }
            }
            continue;
        }
        /* name */
        const char *n = s;
        if (!name_start(*s))
            return bad(diag, line, "a sample must start with a metric name");
        while (s < le && name_char(*s))
            s++;
        size_t nlen = (size_t)(s - n);
        bool labels = false;
        /* labels */
        if (s < le && *s == '{') {
            s++;
            for (;;) {
                while (s < le && *s == ' ')
                    s++;
                if (s < le && *s == '}') {
                    s++;
                    break;
                }
                if (s >= le || !(name_start(*s) && *s != ':'))
                    return bad(diag, line, "bad label name");
                while (s < le && name_char(*s) && *s != ':')
                    s++;
                labels = true;
                while (s < le && *s == ' ')
                    s++;
                if (s >= le || *s != '=')
                    return bad(diag, line, "expected '=' after a label name");
                s++;
                while (s < le && *s == ' ')
                    s++;
                if (s >= le || *s != '"')
                    return bad(diag, line, "label value must be quoted");
                s++;
                while (s < le && *s != '"') {
                    if (*s == '\\') {
                        if (s + 1 >= le || (s[1] != '\\' && s[1] != '"' && s[1] != 'n'))
                            return bad(diag, line, "bad escape in a label value");
                        s++;
                    }
                    s++;
                }
                if (s >= le)
                    return bad(diag, line, "unterminated label value");
                s++;
                while (s < le && *s == ' ')
                    s++;
                if (s < le && *s == ',') {
                    s++;
                    continue;
                }
                if (s < le && *s == '}') {
                    s++;
                    break;
                }
                return bad(diag, line, "expected ',' or '}' in labels");
            }
        }
        /* value */
        if (s >= le || (*s != ' ' && *s != '\t'))
            return bad(diag, line, "expected a space before the value");
        while (s < le && (*s == ' ' || *s == '\t'))
            s++;
        const char *v = s;
        while (s < le && *s != ' ' && *s != '\t')
            s++;
        double val;
        if (!parse_value(v, (size_t)(s - v), &val))
            return bad(diag, line, "the value is not a number");
        while (s < le && (*s == ' ' || *s == '\t'))
            s++;
        if (s < le) {
            const char *t = s;
            while (s < le && *s != ' ' && *s != '\t')
                s++;
            if (!parse_int(t, (size_t)(s - t)))
                return bad(diag, line, "the timestamp is not an integer");
            while (s < le && (*s == ' ' || *s == '\t'))
                s++;
            if (s < le)
                return bad(diag, line, "unexpected text after the timestamp");
        }
        if (labels || is_typed(typed, ntyped, n, nlen))
            continue;
        for (size_t i = 0; i < nwants; i++) {
            if (!wants[i].found && strlen(wants[i].name) == nlen &&
                !memcmp(wants[i].name, n, nlen)) {
                wants[i].value = val;
                wants[i].found = true;
            }
        }
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
