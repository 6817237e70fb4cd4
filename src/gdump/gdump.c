/*
 * gdump.c -- a goroutine dump grouped by top function (see gdump.h).
 *
 * One pass over the lines. A goroutine (debug=2) or a record of identical
 * stacks (debug=1) is open from its header to the blank line after it;
 * its frames pick its top function; closing it adds its count to that
 * function's group. Groups live in an open-addressing table keyed by the
 * name (FNV-1a), at most max_groups of them, sorted at the end.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/gdump.h"

enum { FMT_NONE, FMT_DEBUG1, FMT_DEBUG2 };

struct parse {
    struct gdump *g;
    size_t max_groups;
    size_t cap;     /* table slots, a power of 2, >= 2 * ngroups */
    size_t *slot;   /* [cap]: group index + 1, 0 empty */
    bool open;      /* a goroutine (or record) is open */
    uint64_t count; /* its count: 1, or the debug=1 record's */
    char top[GD_NAME_MAX], first[GD_NAME_MAX];
    struct mb_diag *d;
    int line;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void rehash(struct parse *p)
{
    size_t cap = p->cap ? p->cap * 2 : 64;
    size_t *t = mb_xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < p->g->ngroups; i++) {
        size_t h = fnv1a(p->g->group[i].fn) & (cap - 1);
        while (t[h])
            h = (h + 1) & (cap - 1);
        t[h] = i + 1;
    }
    mb_free(p->slot);
    p->slot = t;
    p->cap = cap;
    p->g->group = mb_xrealloc(p->g->group, cap / 2 * sizeof *p->g->group);
}

static mb_err add_group(struct parse *p, const char *fn, uint64_t n)
{
    if (__builtin_add_overflow(p->g->total, n, &p->g->total))
        return mb_diag_set(p->d, MB_ERANGE, "line %d: the goroutine count overflows", p->line);
    if (p->cap == 0)
        rehash(p);
    size_t h = fnv1a(fn) & (p->cap - 1);
    while (p->slot[h] && strcmp(p->g->group[p->slot[h] - 1].fn, fn) != 0)
        h = (h + 1) & (p->cap - 1);
    if (p->slot[h]) {
        p->g->group[p->slot[h] - 1].count += n;
        return MB_OK;
    }
    if (p->g->ngroups >= p->max_groups) {
        p->g->other += n;
        return MB_OK;
    }
    struct gd_group *gr = &p->g->group[p->g->ngroups++];
    snprintf(gr->fn, sizeof gr->fn, "%s", fn);
    gr->count = n;
    p->slot[h] = p->g->ngroups;
    if (p->g->ngroups * 2 >= p->cap)
        rehash(p);
    return MB_OK;
}

static bool is_runtime(const char *fn) { return strncmp(fn, "runtime.", 8) == 0; }

static void frame(struct parse *p, const char *name, size_t n)
{
    char fn[GD_NAME_MAX];
    if (n >= sizeof fn)
        n = sizeof fn - 1;
    memcpy(fn, name, n);
    fn[n] = '\0';
    if (!p->first[0])
        memcpy(p->first, fn, n + 1);
    if (!p->top[0] && !is_runtime(fn))
        memcpy(p->top, fn, n + 1);
}

static mb_err end_stack(struct parse *p)
{
    if (!p->open)
        return MB_OK;
    p->open = false;
    const char *fn = p->top[0] ? p->top : p->first[0] ? p->first : "(no frames)";
    return add_group(p, fn, p->count);
}

static void begin_stack(struct parse *p, uint64_t count)
{
    p->open = true;
    p->count = count;
    p->top[0] = p->first[0] = '\0';
}

static bool starts(const char *s, size_t n, const char *prefix)
{
    size_t l = strlen(prefix);
    return n >= l && memcmp(s, prefix, l) == 0;
}

/* debug=2: "goroutine 17 [chan receive]:", "main.f(0x1, ...)", "\tfile:line +0x4f",
 * "created by main.main in goroutine 1", "...additional frames elided..." */
static mb_err line_debug2(struct parse *p, const char *s, size_t n)
{
    if (starts(s, n, "goroutine ")) {
        mb_err e = end_stack(p);
        begin_stack(p, 1);
        return e;
    }
    if (s[0] == '\t' || starts(s, n, "created by ") || starts(s, n, "...additional frames"))
        return MB_OK;
    if (!p->open)
        return mb_diag_set(p->d, MB_EPARSE, "line %d: a frame outside any goroutine", p->line);
    size_t end = n;
    if (n > 0 && s[n - 1] == ')')
        for (size_t i = n; i-- > 0;)
            if (s[i] == '(') {
                end = i;
                break;
            }
    frame(p, s, end);
    return MB_OK;
}

/* debug=1: "40 @ 0x47e6ae 0x4159ee", "#\t0x4e43ce\tmain.waitForOrders+0x4e\tfile:89" */
static mb_err line_debug1(struct parse *p, const char *s, size_t n)
{
    if (s[0] >= '0' && s[0] <= '9') {
        uint64_t c = 0;
        size_t i = 0;
        for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            if (__builtin_mul_overflow(c, 10, &c) || __builtin_add_overflow(c, s[i] - '0', &c))
                return mb_diag_set(p->d, MB_ERANGE, "line %d: a count past 64 bits", p->line);
        if (!starts(s + i, n - i, " @"))
            return mb_diag_set(p->d, MB_EPARSE, "line %d: \"COUNT @ ADDRESSES\" expected", p->line);
        mb_err e = end_stack(p);
        begin_stack(p, c);
        return e;
    }
    if (starts(s, n, "# labels:") || !starts(s, n, "#\t"))
        return starts(s, n, "#") ? MB_OK
                                 : mb_diag_set(p->d, MB_EPARSE, "line %d: not a frame", p->line);
    if (!p->open)
        return mb_diag_set(p->d, MB_EPARSE, "line %d: a frame outside any record", p->line);
    const char *f = memchr(s + 2, '\t', n - 2); /* past the address */
    if (!f)
        return mb_diag_set(p->d, MB_EPARSE, "line %d: a frame without a function", p->line);
    f++;
    size_t fl = (size_t)(s + n - f);
    const char *tab = memchr(f, '\t', fl);
    if (tab)
        fl = (size_t)(tab - f);
    for (size_t i = fl; i-- > 1;)
        if (f[i] == '+' && i + 2 < fl && f[i + 1] == '0' && f[i + 2] == 'x') {
            fl = i;
            break;
        }
    frame(p, f, fl);
    return MB_OK;
}

static int cmp_group(const void *a, const void *b)
{
    const struct gd_group *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->fn, y->fn);
}

mb_err gd_parse(const char *text, size_t len, size_t max_groups, struct gdump *out,
                struct mb_diag *d)
{
    *out = (struct gdump){0};
    struct parse p = {.g = out, .max_groups = max_groups ? max_groups : 10000, .d = d};
    int fmt = FMT_NONE;
    mb_err e = MB_OK;
    for (size_t at = 0; at < len && !e;) {
        const char *s = text + at, *nl = memchr(s, '\n', len - at);
        size_t n = nl ? (size_t)(nl - s) : len - at;
        at += n + 1;
        p.line++;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (n == 0) {
            e = end_stack(&p);
            continue;
        }
        if (fmt == FMT_NONE) {
            if (starts(s, n, "goroutine profile: total ")) {
                fmt = FMT_DEBUG1;
                continue;
            }
            if (!starts(s, n, "goroutine ") || !memchr(s, '[', n)) {
                e = mb_diag_set(d, MB_EPARSE,
                                "line %d: not a goroutine dump (\"goroutine profile: total N\" "
                                "or \"goroutine N [state]:\" expected)",
                                p.line);
                break;
            }
            fmt = FMT_DEBUG2;
        }
        e = fmt == FMT_DEBUG1 ? line_debug1(&p, s, n) : line_debug2(&p, s, n);
    }
    if (!e && fmt == FMT_NONE)
        e = mb_diag_set(d, MB_EPARSE, "the goroutine dump is empty");
    if (!e)
        e = end_stack(&p);
    mb_free(p.slot);
    if (e) {
        if (d)
            d->line = p.line;
        gd_free(out);
        return e;
    }
    if (out->ngroups)
        qsort(out->group, out->ngroups, sizeof *out->group, cmp_group);
    return MB_OK;
}

void gd_free(struct gdump *g)
{
    MB_FREE(g->group);
    *g = (struct gdump){0};
}

void gd_summary(const struct gdump *g, char *out, size_t len)
{
    if (g->ngroups == 0) {
        snprintf(out, len, "%" PRIu64 " goroutines", g->total);
        return;
    }
    snprintf(out, len, "%" PRIu64 " goroutines; %s holds %" PRIu64 " (%.0f%%)", g->total,
             g->group[0].fn, g->group[0].count,
             100.0 * (double)g->group[0].count / (double)g->total);
}

uint64_t gd_count(const struct gdump *g, const char *fn)
{
    for (size_t i = 0; i < g->ngroups; i++)
        if (strcmp(g->group[i].fn, fn) == 0)
            return g->group[i].count;
    return 0;
}
