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

mb_err qty_parse(const char *s, size_t len, int64_t *bytes, bool *rounded, struct mb_diag *diag)
{
    struct dnum x = {.n = 0};
    size_t i = 0, nint = 0, nfrac = 0;
    long e10 = 0, e2 = 0;
    bool neg = false, any_nonzero = false, dropped_nonzero = false;

    if (len == 0)
        return bad(diag, s, len, 0, "empty quantity");
    if (len > QTY_MAX_LEN)
        return mb_diag_set(diag, MB_EPARSE, "quantity is %zu characters long, more than %d", len,
                           QTY_MAX_LEN);
    if (s[i] == '+' || s[i] == '-')
        neg = s[i++] == '-';

    /* number: significant digits into x, counting integer/fraction digits */
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nint++) {
        if (x.n || s[i] != '0')
            x.d[x.n++] = (char)(s[i] - '0');
    }
    if (i < len && s[i] == '.') {
        i++;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++) {
            if (x.n || s[i] != '0')
                x.d[x.n++] = (char)(s[i] - '0');
            e10--; /* every fraction digit, significant or not, scales by 1/10 */
        }
    }
    if (nint + nfrac == 0)
        return bad(diag, s, len, i, "expected a number before the suffix");
    for (int k = 0; k < x.n; k++)
        any_nonzero |= x.d[k] != 0;

    /* suffix */
    if (i < len) {
        const char *suf = s + i;
        size_t slen = len - i;
        static const struct {
            const char *name;
            long e10, e2;
        } SUF[] = {
            {"Ki", 0, 10}, {"Mi", 0, 20}, {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50},
            {"Ei", 0, 60}, {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},   {"G", 9, 0},
            {"T", 12, 0},  {"P", 15, 0},  {"E", 18, 0},
        };
        bool found = false;

        /* Suffixes first: "Ei" is exbibytes, never an exponent. */
        for (size_t k = 0; k < MB_ARRAY_LEN(SUF); k++) {
            if (strlen(SUF[k].name) == slen && memcmp(SUF[k].name, suf, slen) == 0) {
                e10 += SUF[k].e10;
                e2 = SUF[k].e2;
                found = true;
                break;
            }
        }
        if (!found && (suf[0] == 'e' || suf[0] == 'E') && slen > 1) {
            /* decimal exponent: [eE][+-]digits */
            size_t j = 1;
            bool eneg = false;
            long ev = 0;
            if (suf[j] == '+' || suf[j] == '-')
                eneg = suf[j++] == '-';
            if (j >= slen)
                return bad(diag, s, len, i + j, "exponent has no digits");
            for (; j < slen; j++) {
                if (suf[j] < '0' || suf[j] > '9')
                    return bad(diag, s, len, i + j, "exponent must be an integer");
                if (ev < 100000)
                    ev = ev * 10 + (suf[j] - '0');
            }
            e10 += eneg ? -ev : ev;
            found = true;
        }
        if (!found) {
            if (suf[0] == '.')
                return bad(diag, s, len, i, "more than one decimal point");
            return bad(diag, s, len, i,
                       "unknown suffix (use Ki, Mi, Gi, Ti, Pi, Ei, m, k, M, G, T, P, E, or "
                       "an exponent such as e6)");
        }
    }

    if (!any_nonzero) {
        *bytes = 0;
        if (rounded)
            *rounded = false;
        return MB_OK;
    }
    if (neg)
        return mb_diag_set(diag, MB_ERANGE, "\"%.*s\": memory must not be negative", (int)len, s);

    /* Quick overflow screen before doing digit work: value >= 10^(n-1+e10). */
    if ((long)x.n + e10 > 20 + 1)
        goto overflow;

    for (long k = 0; k < e2; k += 10)
        dnum_mul_small(&x, 1024);

    if (e10 > 0) {
        if (x.n + e10 > 20)
            goto overflow;
        for (long k = 0; k < e10; k++)
            x.d[x.n++] = 0;
    } else if (e10 < 0) {
        long drop = -e10;
        if (drop >= x.n) { /* 0 < value < 1: rounds up to one byte */
            x.n = 1;
            x.d[0] = 1;
            dropped_nonzero = false;
            *bytes = 1;
            if (rounded)
                *rounded = true;
            return MB_OK;
        }
        for (long k = x.n - drop; k < x.n; k++)
            dropped_nonzero |= x.d[k] != 0;
        x.n -= (int)drop;
    }

    {
        /* x now holds floor(value); strip leading zeros, check against int64 */
        static const char MAXD[] = "9223372036854775807";
        int start = 0;
        uint64_t v = 0;

        while (start < x.n - 1 && x.d[start] == 0)
            start++;
        int nd = x.n - start;
        if (nd > 19)
            goto overflow;
        if (nd == 19) {
            for (int k = 0; k < 19; k++) {
                if (x.d[start + k] != MAXD[k] - '0') {
                    if (x.d[start + k] > MAXD[k] - '0')
                        goto overflow;
                    break;
                }
            }
        }
        for (int k = start; k < x.n; k++)
            v = v * 10 + (uint64_t)x.d[k];
        if (dropped_nonzero) {
            if (v == (uint64_t)INT64_MAX)
                goto overflow;
            v++;
        }
        *bytes = (int64_t)v;
        if (rounded)
            *rounded = dropped_nonzero;
        return MB_OK;
    }

overflow:
    return mb_diag_set(diag, MB_ERANGE, "\"%.*s\": more than %lld bytes (overflows int64)",
                       (int)len, s, (long long)INT64_MAX);
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
