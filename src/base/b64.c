/*
 * b64.c -- base64 (pure): kubeconfig's certificate data, Secrets' data
 * and caBundles are base64 in Kubernetes' JSON.
 */
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/b64.h"

static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *mb_b64_encode(const void *data, size_t n)
{
    const unsigned char *in = data;
    char *out = mb_xmalloc((n + 2) / 3 * 4 + 1), *o = out;
    size_t i;

    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *o++ = T[v >> 18];
        *o++ = T[(v >> 12) & 63];
        *o++ = T[(v >> 6) & 63];
        *o++ = T[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0);
        *o++ = T[v >> 18];
        *o++ = T[(v >> 12) & 63];
        *o++ = i + 1 < n ? T[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int val(unsigned char c)
{
    const char *p = c ? strchr(T, c) : NULL;
    return p ? (int)(p - T) : -1;
}

mb_err mb_b64_decode(const char *in, size_t n, char **out, size_t *outlen)
{
    char *buf = mb_xmalloc(n / 4 * 3 + 4), *o = buf;
    unsigned acc = 0;
    int bits = 0, pad = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = val(c);
        if (v < 0 || pad) { /* data after padding is malformed too */
            mb_free(buf);
            return MB_EPARSE;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *o++ = (char)((acc >> bits) & 0xff);
        }
    }
    /* A final group of one character (6 bits) cannot encode a byte. */
    if (bits >= 6 || pad > 2) {
        mb_free(buf);
        return MB_EPARSE;
    }
    *o = '\0';
    *outlen = (size_t)(o - buf);
    *out = buf;
    return MB_OK;
}
