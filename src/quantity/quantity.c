/*
 * quantity.c -- Kubernetes quantity parser (pure).
 *
 * Strategy: collect the significant decimal digits D of the number, and the
 * scale as value = D * 10^e10 * 2^e2. Multiply D by 2^e2 on a decimal digit
 * string (at most QTY_MAX_LEN digits grow by at most ~19 digits), then shift
 * by e10 digits: append zeros, or drop digits (remembering whether any
 * dropped digit was non-zero, which means a fractional byte to round up).
 * Every step is exact and the work is bounded by the input cap.
 */
#include <string.h>
#include "membudget/quantity.h"

/* Decimal digits, most significant first. Room for the input digits, plus
 * 2^60 growth (19 digits), plus slack. */
#define NDIG (QTY_MAX_LEN + 24)

struct dnum {
    char d[NDIG]; /* each 0..9 */
    int n;        /* number of digits in use */
};

static void dnum_mul_small(struct dnum *x, unsigned m)
{
    unsigned carry = 0;
    for (int i = x->n - 1; i >= 0; i--) {
        unsigned v = (unsigned)x->d[i] * m + carry;
        x->d[i] = (char)(v % 10);
        carry = v / 10;
    }
    while (carry) { /* prepend; caller guarantees room */
        memmove(x->d + 1, x->d, (size_t)x->n);
        x->d[0] = (char)(carry % 10);
        x->n++;
        carry /= 10;
    }
}

static mb_err bad(struct mb_diag *diag, const char *s, size_t len, size_t at, const char *why)
{
    if (diag)
        diag->column = (int)at + 1;
    return mb_diag_set(diag, MB_EPARSE, "\"%.*s\": %s", (int)len, s, why);
}

/* A parse in progress: the input, where it is, and the number so far
 * (value = x * 10^e10 * 2^e2). */
struct qparse {
    const char *s;
    size_t len, i;
    struct dnum x;
    long e10, e2;
    bool neg, any_nonzero;
    struct mb_diag *diag;
};

/* 1. [+-] digits [. digits]: the significant digits into x, every
 * fraction digit (significant or not) scaling by 1/10. */
static mb_err read_number(struct qparse *q)
{
    const char *s = q->s;
    size_t nint = 0, nfrac = 0;
    if (s[q->i] == '+' || s[q->i] == '-')
        q->neg = s[q->i++] == '-';
    for (; q->i < q->len && s[q->i] >= '0' && s[q->i] <= '9'; q->i++, nint++)
        if (q->x.n || s[q->i] != '0')
            q->x.d[q->x.n++] = (char)(s[q->i] - '0');
    if (q->i < q->len && s[q->i] == '.') {
        q->i++;
        for (; q->i < q->len && s[q->i] >= '0' && s[q->i] <= '9'; q->i++, nfrac++) {
            if (q->x.n || s[q->i] != '0')
                q->x.d[q->x.n++] = (char)(s[q->i] - '0');
            q->e10--;
        }
    }
    if (nint + nfrac == 0)
        return bad(q->diag, s, q->len, q->i, "expected a number before the suffix");
    for (int k = 0; k < q->x.n; k++)
        q->any_nonzero |= q->x.d[k] != 0;
    return MB_OK;
}

/* A decimal exponent, [eE][+-]digits, from suf (slen > 1) at q->i. */
static mb_err read_exponent(struct qparse *q, const char *suf, size_t slen)
{
    size_t j = 1;
    bool eneg = false;
    long ev = 0;
    if (suf[j] == '+' || suf[j] == '-')
        eneg = suf[j++] == '-';
    if (j >= slen)
        return bad(q->diag, q->s, q->len, q->i + j, "exponent has no digits");
    for (; j < slen; j++) {
        if (suf[j] < '0' || suf[j] > '9')
            return bad(q->diag, q->s, q->len, q->i + j, "exponent must be an integer");
        if (ev < 100000) /* (past it the value overflows, or is 0, either way) */
            ev = ev * 10 + (suf[j] - '0');
    }
    q->e10 += eneg ? -ev : ev;
    return MB_OK;
}

/* 2. The suffix: a binary or decimal SI suffix first ("Ei" is exbibytes,
 * never an exponent), else an exponent, else an error. */
static mb_err read_suffix(struct qparse *q)
{
    static const struct {
        const char *name;
        long e10, e2;
    } SUF[] = {
        {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
        {"Ei", 0, 60}, {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},
        {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
    };
    const char *suf = q->s + q->i;
    size_t slen = q->len - q->i;
    if (!slen)
        return MB_OK;
    for (size_t k = 0; k < MB_ARRAY_LEN(SUF); k++) {
        if (strlen(SUF[k].name) == slen && memcmp(SUF[k].name, suf, slen) == 0) {
            q->e10 += SUF[k].e10;
            q->e2 = SUF[k].e2;
            return MB_OK;
        }
    }
    if ((suf[0] == 'e' || suf[0] == 'E') && slen > 1)
        return read_exponent(q, suf, slen);
    if (suf[0] == '.')
        return bad(q->diag, q->s, q->len, q->i, "more than one decimal point");
    return bad(q->diag, q->s, q->len, q->i,
               "unknown suffix (use Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P, E, or "
               "an exponent such as e6)");
}

/* x's digits as an int64, or false when they do not fit. */
static bool digits_fit(const struct dnum *x, uint64_t *out)
{
    static const char MAXD[] = "9223372036854775807";
    int start = 0;
    uint64_t v = 0;
    while (start < x->n - 1 && x->d[start] == 0)
        start++;
    int nd = x->n - start;
    if (nd > 19)
        return false;
    if (nd == 19) {
        for (int k = 0; k < 19; k++) {
            if (x->d[start + k] != MAXD[k] - '0') {
                if (x->d[start + k] > MAXD[k] - '0')
                    return false;
                break;
            }
        }
    }
    for (int k = start; k < x->n; k++)
        v = v * 10 + (uint64_t)x->d[k];
    *out = v;
    return true;
}

/* 3. Scale by 2^e2 then 10^e10, exactly, and round a fractional byte up.
 * Returns false on overflow. */
static bool to_bytes(struct qparse *q, int64_t *bytes, bool *rounded)
{
    struct dnum *x = &q->x;
    bool dropped_nonzero = false;
    uint64_t v;
    /* A quick screen before any digit work: value >= 10^(n-1+e10). */
    if ((long)x->n + q->e10 > 20 + 1)
        return false;
    for (long k = 0; k < q->e2; k += 10)
        dnum_mul_small(x, 1024);
    if (q->e10 > 0) {
        if (x->n + q->e10 > 20)
            return false;
        for (long k = 0; k < q->e10; k++)
            x->d[x->n++] = 0;
    } else if (q->e10 < 0) {
        long drop = -q->e10;
        if (drop >= x->n) { /* 0 < value < 1: rounds up to one byte */
            *bytes = 1;
            *rounded = true;
            return true;
        }
        for (long k = x->n - drop; k < x->n; k++)
            dropped_nonzero |= x->d[k] != 0;
        x->n -= (int)drop;
    }
    if (!digits_fit(x, &v) || (dropped_nonzero && v == (uint64_t)INT64_MAX))
        return false;
    *bytes = (int64_t)(v + dropped_nonzero);
    *rounded = dropped_nonzero;
    return true;
}

mb_err qty_parse(const char *s, size_t len, int64_t *bytes, bool *rounded, struct mb_diag *diag)
{
    struct qparse q = {.s = s, .len = len, .diag = diag};
    bool r = false;
    mb_err e;

    if (len == 0)
        return bad(diag, s, len, 0, "empty quantity");
    if (len > QTY_MAX_LEN)
        return mb_diag_set(diag, MB_EPARSE, "quantity is %zu characters long, more than %d", len,
                           QTY_MAX_LEN);
    if ((e = read_number(&q)) || (e = read_suffix(&q)))
        return e;
    if (!q.any_nonzero) {
        *bytes = 0;
        if (rounded)
            *rounded = false;
        return MB_OK;
    }
    if (q.neg)
        return mb_diag_set(diag, MB_ERANGE, "\"%.*s\": memory must not be negative", (int)len, s);
    if (!to_bytes(&q, bytes, &r))
        return mb_diag_set(diag, MB_ERANGE, "\"%.*s\": more than %lld bytes (overflows int64)",
                           (int)len, s, (long long)INT64_MAX);
    if (rounded)
        *rounded = r;
    return MB_OK;
}

mb_err qty_parse_str(const char *s, int64_t *bytes, struct mb_diag *diag)
{
    return qty_parse(s, strlen(s), bytes, NULL, diag);
}

char *qty_format(int64_t bytes, char out[QTY_FMT_LEN])
{
    static const char *const BIN[] = {"", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"};
    static const char *const DEC[] = {"", "k", "M", "G", "T", "P", "E"};
    int64_t v = bytes;
    int k = 0;

    MB_ASSERT(bytes >= 0);
    if (bytes == 0) {
        snprintf(out, QTY_FMT_LEN, "0");
        return out;
    }
    while (k < 6 && v % 1024 == 0) {
        v /= 1024;
        k++;
    }
    if (k > 0) {
        snprintf(out, QTY_FMT_LEN, "%lld%s", (long long)v, BIN[k]);
        return out;
    }
    while (k < 6 && v % 1000 == 0) {
        v /= 1000;
        k++;
    }
    snprintf(out, QTY_FMT_LEN, "%lld%s", (long long)v, DEC[k]);
    return out;
}
