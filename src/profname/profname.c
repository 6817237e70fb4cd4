/*
 * profname.c -- the profile directory's file names and retention (pure; see
 * profname.h): a name says which pod and when, so a listing sorts by time
 * and retention can drop the oldest whole captures first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "membudget/alloc.h"
#include "membudget/kobj.h"
#include "membudget/profname.h"

static const char *const SUFFIX[] = {".pb.gz", ".goroutines.txt"};

const char *prof_kind_name(enum prof_kind k)
{
    return k == PROF_GOROUTINES ? "goroutines" : "heap";
}

static bool safe(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-';
}

/* Append `n` bytes at most of `s` to out[*at..len), each character outside
 * [A-Za-z0-9.-] replaced by '-'. */
static void put_safe(char *out, size_t len, size_t *at, const char *s, size_t n)
{
    for (size_t i = 0; s[i] && i < n && *at + 1 < len; i++)
        out[(*at)++] = safe(s[i]) ? s[i] : '-';
    out[*at] = '\0';
}

void prof_name(const char *ns, const char *pod, mb_wall_ms at, enum prof_kind kind, char *out,
               size_t len)
{
    char stamp[32];
    time_t t = (time_t)(at / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    size_t n = 0;
    if (!len)
        return;
    put_safe(out, len, &n, ns, 63);
    if (n && out[0] == '.')
        out[0] = '-';
    if (n + 1 < len) {
        out[n++] = '_';
        out[n] = '\0';
    }
    put_safe(out, len, &n, pod, 120);
    snprintf(out + n, len - n, "_%s%s", stamp, SUFFIX[kind]);
}

bool prof_name_parse(const char *file, struct prof_parsed *out)
{
    size_t len = strlen(file);
    int kind = -1;
    for (int k = 0; k < 2; k++) {
        size_t sl = strlen(SUFFIX[k]);
        if (len > sl && !strcmp(file + len - sl, SUFFIX[k]))
            kind = k;
    }
    if (kind < 0 || file[0] == '.')
        return false;
    len -= strlen(SUFFIX[kind]);
    /* ..._YYYYMMDDTHHMMSSZ */
    if (len < 18 || file[len - 17] != '_')
        return false;
    const char *st = file + len - 16;
    char rfc[24];
    snprintf(rfc, sizeof rfc, "%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", st, st + 4, st + 6, st + 9, st + 11,
             st + 13);
    if (st[8] != 'T' || st[15] != 'Z' || !kobj_parse_time(rfc, strlen(rfc), &out->at))
        return false;
    const char *us = memchr(file, '_', len - 17);
    if (!us || us == file || us + 1 >= file + len - 17)
        return false;
    size_t nl = (size_t)(us - file), pl = (size_t)(file + len - 17 - us - 1);
    if (nl >= sizeof out->ns || pl >= sizeof out->pod || memchr(us + 1, '_', pl))
        return false;
    memcpy(out->ns, file, nl);
    out->ns[nl] = '\0';
    memcpy(out->pod, us + 1, pl);
    out->pod[pl] = '\0';
    out->kind = (enum prof_kind)kind;
    return true;
}

/* --- object keys ------------------------------------------------------------ */

static void put_raw(char *out, size_t len, size_t *at, const char *s)
{
    for (; *s && *at + 1 < len; s++)
        out[(*at)++] = *s;
    out[*at] = '\0';
}

static const char *const KEY_SUFFIX[] = {".heap.pb.gz", ".goroutines.txt"};

/* The prefix without slashes at either end, as (p, n). */
static void trim_prefix(const char **p, size_t *n)
{
    *n = strlen(*p);
    while (*n && **p == '/')
        (*p)++, (*n)--;
    while (*n && (*p)[*n - 1] == '/')
        (*n)--;
}

bool prof_key(const char *prefix, const char *ns, const char *owner, const char *pod, mb_wall_ms at,
              enum prof_kind kind, char *out, size_t len)
{
    size_t pl, n = 0;
    trim_prefix(&prefix, &pl);
    char stamp[32];
    time_t t = (time_t)(at / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!len)
        return false;
    out[0] = '\0';
    if (pl) {
        int r = snprintf(out, len, "%.*s/", (int)pl, prefix);
        if (r < 0 || (size_t)r >= len)
            return false;
        n = (size_t)r;
    }
    const char *seg[] = {ns, owner && *owner ? owner : "_", pod};
    for (size_t i = 0; i < 3; i++) {
        size_t before = n;
        if (seg[i][0] == '_' && !seg[i][1]) /* no owner: the one '_' a key holds */
            put_raw(out, len, &n, "_");
        else
            put_safe(out, len, &n, seg[i], 253);
        if (n < len && n > before && out[before] == '.')
            out[before] = '-'; /* no "." or ".." segment */
        if (n + 1 >= len)
            return false;
        out[n++] = '/';
        out[n] = '\0';
    }
    if (len - n <= strlen(stamp) + strlen(KEY_SUFFIX[kind]))
        return false;
    snprintf(out + n, len - n, "%s%s", stamp, KEY_SUFFIX[kind]);
    return true;
}

bool prof_key_parse(const char *key, const char *prefix, struct prof_parsed *out)
{
    size_t pl;
    trim_prefix(&prefix, &pl);
    if (pl) {
        if (strncmp(key, prefix, pl) != 0 || key[pl] != '/')
            return false;
        key += pl + 1;
    }
    const char *part[4];
    size_t plen[4];
    for (int i = 0; i < 4; i++) {
        const char *sl = i < 3 ? strchr(key, '/') : key + strlen(key);
        if (!sl || sl == key)
            return false;
        part[i] = key;
        plen[i] = (size_t)(sl - key);
        key = *sl ? sl + 1 : sl;
    }
    if (*key || memchr(part[3], '/', plen[3]))
        return false;
    int kind = -1;
    for (int k = 0; k < 2; k++) {
        size_t sl = strlen(KEY_SUFFIX[k]);
        if (plen[3] == 20 + sl && !memcmp(part[3] + 20, KEY_SUFFIX[k], sl))
            kind = k;
    }
    if (kind < 0 || plen[0] >= sizeof out->ns || plen[1] >= sizeof out->owner ||
        plen[2] >= sizeof out->pod || !kobj_parse_time(part[3], 20, &out->at))
        return false;
    memcpy(out->ns, part[0], plen[0]);
    out->ns[plen[0]] = '\0';
    memcpy(out->owner, part[1], plen[1]);
    out->owner[plen[1]] = '\0';
    memcpy(out->pod, part[2], plen[2]);
    out->pod[plen[2]] = '\0';
    out->kind = (enum prof_kind)kind;
    return true;
}

static int by_age(const void *a, const void *b)
{
    const struct prof_file *x = *(const struct prof_file *const *)a,
                           *y = *(const struct prof_file *const *)b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return strcmp(x->name, y->name);
}

size_t prof_retain(struct prof_file *f, size_t n, uint64_t max_bytes, size_t max_files)
{
    uint64_t total = 0;
    mb_wall_ms newest = 0;
    for (size_t i = 0; i < n; i++) {
        f[i].del = false;
        total += f[i].bytes;
        if (!i || f[i].at > newest)
            newest = f[i].at;
    }
    if (total <= max_bytes && n <= max_files)
        return 0;
    struct prof_file **o = mb_xmalloc(n * sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i] = &f[i];
    qsort(o, n, sizeof *o, by_age);
    size_t marked = 0;
    for (size_t i = 0; i < n && (total > max_bytes || n - marked > max_files) && o[i]->at != newest;
         i++) {
        o[i]->del = true;
        total -= o[i]->bytes;
        marked++;
    }
    mb_free(o);
    return marked;
}
