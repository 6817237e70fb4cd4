/*
 * pprof.c -- pprof profiles decoded into per-function totals, and diffed
 * (see pprof.h).
 *
 * Three steps, each bounded: inflate (zlib, into at most max_raw bytes),
 * unpack (protobuf-c, through an allocator that refuses past max_mem),
 * then one pass over the samples that checks every reference and adds each
 * sample's values to its leaf function (flat) and, once per sample, to
 * every function on its stack (cum). Functions are keyed by name, as
 * pprof's default granularity keys them: two function ids with one name are
 * one function. The result keeps only names and sums; the decoded message
 * is freed before pprof_decode returns.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "membudget/alloc.h"
#include "membudget/pprof.h"
#include "profile.pb-c.h"

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Function Function;
typedef Perftools__Profiles__Sample Sample;

const struct pprof_limits PPROF_LIMITS_DEFAULT = {
    .max_gz = (size_t)64 << 20,
    .max_raw = (size_t)256 << 20,
    .max_mem = (size_t)1 << 30,
    .max_samples = 4u << 20,
    .max_depth = 4096,
    .max_functions = 1u << 20,
};

/* --- inflate ---------------------------------------------------------------- */

static bool is_gzip(const unsigned char *b, size_t len)
{
    return len >= 2 && b[0] == 0x1f && b[1] == 0x8b;
}

/* Inflate a gzip stream into *out (mb_free it), at most max bytes. */
static mb_err gunzip(const unsigned char *in, size_t len, size_t max, unsigned char **out,
                     size_t *outlen, struct mb_diag *d)
{
    z_stream z = {0};
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return mb_diag_set(d, MB_ENOMEM, "gzip: zlib could not start");
    size_t cap = len < max / 4 ? len * 4 + 4096 : max, n = 0;
    if (cap > max)
        cap = max;
    unsigned char *buf = mb_xmalloc(cap + 1);
    mb_err e = MB_OK;
    z.next_in = (unsigned char *)in;
    for (int stuck = 0;;) {
        /* zlib counts in uInt: feed and drain it in pieces below 4 GiB */
        size_t in_left = len - (size_t)(z.next_in - in);
        z.avail_in = in_left > UINT32_MAX ? UINT32_MAX : (uInt)in_left;
        if (n == cap) {
            if (cap == max) {
                e = mb_diag_set(d, MB_ETOOBIG, "the profile inflates past %zu bytes", max);
                break;
            }
            cap = cap > max / 2 ? max : cap * 2;
            buf = mb_xrealloc(buf, cap + 1);
        }
        size_t room = cap - n;
        z.next_out = buf + n;
        z.avail_out = room > UINT32_MAX ? UINT32_MAX : (uInt)room;
        uInt before = z.avail_out, in_before = z.avail_in;
        int r = inflate(&z, Z_NO_FLUSH);
        n += before - z.avail_out;
        if (r == Z_STREAM_END)
            break;
        if (r != Z_OK && r != Z_BUF_ERROR) {
            e = mb_diag_set(d, r == Z_MEM_ERROR ? MB_ENOMEM : MB_EPARSE, "gzip: %s",
                            z.msg ? z.msg : "corrupt stream");
            break;
        }
        if (z.avail_out == 0)
            continue; /* out of room: grow */
        stuck = z.avail_out == before && z.avail_in == in_before ? stuck + 1 : 0;
        if (z.avail_in == 0 || stuck > 1) {
            e = mb_diag_set(d, MB_EPARSE, "the gzip stream ends early (%zu bytes read)", len);
            break;
        }
    }
    inflateEnd(&z);
    if (e) {
        mb_free(buf);
        return e;
    }
    *out = buf;
    *outlen = n;
    return MB_OK;
}

/* --- unpack, through a bounded allocator ------------------------------------- */

struct budget {
    size_t used, max;
    bool refused;
};

static void *budget_alloc(void *arg, size_t n)
{
    struct budget *b = arg;
    if (n > b->max - b->used) {
        b->refused = true;
        return NULL;
    }
    b->used += n;
    return malloc(n ? n : 1);
}

static void budget_free(void *arg, void *p)
{
    (void)arg;
    free(p);
}

/* --- the pass over the samples ------------------------------------------------ */

/* Where a frame's name comes from: a function id, or (a location without a
 * function) the location's address. */
struct name_ref {
    const char *name;
    uint32_t *slot; /* where the name's slot goes */
};

struct decode {
    const Profile *p;
    const struct pprof_limits *lim;
    struct mb_diag *d;
    bool loc_dense, fn_dense; /* id == index + 1 throughout (else struct ids) */
    uint32_t *fn_slot;        /* [n_function] */
    uint32_t *addr_slot;      /* [n_location]: the address name's slot, or UINT32_MAX */
    char (*addr_name)[24];    /* [n_location] */
    size_t nslots;
    const char **slot_name; /* [nslots] */
    int64_t *flat, *cum;    /* [nslots * ntypes] */
    uint32_t *stamp;        /* [nslots]: the last sample counted in cum, + 1 */
    bool *used;             /* [nslots] */
    int64_t *total;         /* [ntypes] */
};

static const char *str_at(const Profile *p, int64_t i)
{
    return i >= 0 && (uint64_t)i < p->n_string_table ? p->string_table[i] : NULL;
}

struct id_pair {
    uint64_t id;
    uint32_t idx;
};

static int cmp_pair(const void *a, const void *b)
{
    const struct id_pair *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Index ids: dense when id == index + 1 throughout (what Go writes), else
 * a sorted table. A repeated id is an error. */
static mb_err index_ids(uint64_t (*id_of)(const Profile *, size_t), const Profile *p, size_t n,
                        const char *what, struct id_pair **pairs, bool *dense, struct mb_diag *d)
{
    *dense = true;
    for (size_t i = 0; i < n && *dense; i++)
        *dense = id_of(p, i) == i + 1;
    if (*dense || n == 0)
        return MB_OK;
    struct id_pair *t = *pairs = mb_xcalloc(n, sizeof *t);
    for (size_t i = 0; i < n; i++)
        t[i] = (struct id_pair){id_of(p, i), (uint32_t)i};
    qsort(t, n, sizeof *t, cmp_pair);
    for (size_t i = 0; i < n; i++) {
        if (t[i].id == 0)
            return mb_diag_set(d, MB_EINVAL, "%s %u has id 0", what, t[i].idx);
        if (i > 0 && t[i].id == t[i - 1].id)
            return mb_diag_set(d, MB_EINVAL, "two %ss have id %" PRIu64, what, t[i].id);
    }
    return MB_OK;
}

static uint64_t loc_id(const Profile *p, size_t i) { return p->location[i]->id; }
static uint64_t fn_id(const Profile *p, size_t i) { return p->function[i]->id; }

/* The index of `id`, or -1. */
static long lookup(uint64_t id, size_t n, bool dense, const struct id_pair *t)
{
    if (dense)
        return id >= 1 && id <= n ? (long)(id - 1) : -1;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t[mid].id == id)
            return (long)t[mid].idx;
        if (t[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int cmp_ref(const void *a, const void *b)
{
    return strcmp(((const struct name_ref *)a)->name, ((const struct name_ref *)b)->name);
}

struct ids {
    struct id_pair *loc, *fn;
};

/* Give every function name, and every address of a location that has no
 * function, a slot; equal names share one; slots are in name order. */
static mb_err assign_slots(struct decode *x, struct ids *ids)
{
    const Profile *p = x->p;
    mb_err e = index_ids(loc_id, p, p->n_location, "location", &ids->loc, &x->loc_dense, x->d);
    if (!e)
        e = index_ids(fn_id, p, p->n_function, "function", &ids->fn, &x->fn_dense, x->d);
    if (e)
        return e;
    x->fn_slot = mb_xcalloc(p->n_function + 1, sizeof *x->fn_slot);
    x->addr_slot = mb_xcalloc(p->n_location + 1, sizeof *x->addr_slot);
    x->addr_name = mb_xcalloc(p->n_location + 1, sizeof *x->addr_name);
    struct name_ref *refs = mb_xcalloc(p->n_function + p->n_location + 1, sizeof *refs);
    size_t nrefs = 0;
    for (size_t i = 0; i < p->n_function; i++) {
        const char *nm = str_at(p, p->function[i]->name);
        if (!nm) {
            mb_free(refs);
            return mb_diag_set(x->d, MB_EINVAL,
                               "function %" PRIu64 "'s name is string %" PRId64
                               ", past the string table (%zu strings)",
                               p->function[i]->id, p->function[i]->name, p->n_string_table);
        }
        refs[nrefs++] = (struct name_ref){nm, &x->fn_slot[i]};
    }
    for (size_t i = 0; i < p->n_location; i++) {
        const Location *l = p->location[i];
        x->addr_slot[i] = UINT32_MAX;
        bool needs = l->n_line == 0;
        for (size_t j = 0; j < l->n_line && !needs; j++)
            needs = l->line[j]->function_id == 0;
        if (!needs)
            continue;
        snprintf(x->addr_name[i], sizeof x->addr_name[i], "0x%" PRIx64, l->address);
        refs[nrefs++] = (struct name_ref){x->addr_name[i], &x->addr_slot[i]};
    }
    qsort(refs, nrefs, sizeof *refs, cmp_ref);
    x->slot_name = mb_xcalloc(nrefs + 1, sizeof *x->slot_name);
    for (size_t i = 0; i < nrefs; i++) {
        if (i == 0 || strcmp(refs[i].name, refs[i - 1].name) != 0)
            x->slot_name[x->nslots++] = refs[i].name;
        *refs[i].slot = (uint32_t)(x->nslots - 1);
    }
    mb_free(refs);
    if (x->nslots > x->lim->max_functions)
        return mb_diag_set(x->d, MB_ETOOBIG, "the profile names %zu functions, more than %zu",
                           x->nslots, x->lim->max_functions);
    return MB_OK;
}

static mb_err add(int64_t *acc, int64_t v, size_t sample, struct mb_diag *d)
{
    if (__builtin_add_overflow(*acc, v, acc))
        return mb_diag_set(d, MB_ERANGE, "sample %zu: the sums overflow 64 bits", sample);
    return MB_OK;
}

/* Add one frame (a slot) of sample s: flat when it is the leaf, cum once. */
static mb_err frame(struct decode *x, size_t s, uint32_t slot, size_t depth)
{
    const Sample *sm = x->p->sample[s];
    size_t nt = x->p->n_sample_type;
    mb_err e = MB_OK;
    x->used[slot] = true;
    for (size_t t = 0; t < nt && !e && depth == 0; t++)
        e = add(&x->flat[slot * nt + t], sm->value[t], s, x->d);
    if (x->stamp[slot] == s + 1)
        return e;
    x->stamp[slot] = (uint32_t)(s + 1);
    for (size_t t = 0; t < nt && !e; t++)
        e = add(&x->cum[slot * nt + t], sm->value[t], s, x->d);
    return e;
}

static mb_err sample(struct decode *x, const struct ids *ids, size_t s)
{
    const Profile *p = x->p;
    const Sample *sm = p->sample[s];
    size_t nt = p->n_sample_type, depth = 0;
    if (sm->n_value != nt)
        return mb_diag_set(x->d, MB_EINVAL, "sample %zu has %zu values for %zu sample types", s,
                           sm->n_value, nt);
    mb_err e = MB_OK;
    for (size_t t = 0; t < nt && !e; t++)
        e = add(&x->total[t], sm->value[t], s, x->d);
    for (size_t i = 0; i < sm->n_location_id && !e; i++) {
        long li = lookup(sm->location_id[i], p->n_location, x->loc_dense, ids->loc);
        if (li < 0)
            return mb_diag_set(x->d, MB_EINVAL,
                               "sample %zu refers to location %" PRIu64
                               ", which the profile does not have",
                               s, sm->location_id[i]);
        const Location *l = p->location[li];
        for (size_t j = 0; j < l->n_line + (l->n_line == 0) && !e; j++, depth++) {
            if (depth >= x->lim->max_depth)
                return mb_diag_set(x->d, MB_ETOOBIG, "sample %zu has more than %zu frames", s,
                                   x->lim->max_depth);
            uint64_t fid = l->n_line ? l->line[j]->function_id : 0;
            long fi = fid ? lookup(fid, p->n_function, x->fn_dense, ids->fn) : -1;
            if (fid && fi < 0)
                return mb_diag_set(x->d, MB_EINVAL,
                                   "location %" PRIu64 " refers to function %" PRIu64
                                   ", which the profile does not have",
                                   l->id, fid);
            e = frame(x, s, fi >= 0 ? x->fn_slot[fi] : x->addr_slot[li], depth);
        }
    }
    return e;
}

static mb_err check_types(const Profile *p, const struct pprof_limits *lim, struct mb_diag *d)
{
    if (p->n_sample_type == 0 || p->n_sample_type > 64)
        return mb_diag_set(d, MB_EINVAL, "the profile has %zu sample types (1 to 64 expected)",
                           p->n_sample_type);
    for (size_t t = 0; t < p->n_sample_type; t++)
        if (!str_at(p, p->sample_type[t]->type) || !str_at(p, p->sample_type[t]->unit))
            return mb_diag_set(d, MB_EINVAL, "sample type %zu names a string past the table", t);
    if (p->n_sample > lim->max_samples)
        return mb_diag_set(d, MB_ETOOBIG, "the profile has %zu samples, more than %zu", p->n_sample,
                           lim->max_samples);
    return MB_OK;
}

/* --- the result, in one block ---------------------------------------------------- */

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static struct pprof *result(const struct decode *x)
{
    const Profile *p = x->p;
    size_t nt = p->n_sample_type, nfn = 0, strbytes = 0;
    for (size_t i = 0; i < x->nslots; i++)
        if (x->used[i]) {
            nfn++;
            strbytes += strlen(x->slot_name[i]) + 1;
        }
    for (size_t t = 0; t < nt; t++)
        strbytes += strlen(str_at(p, p->sample_type[t]->type)) +
                    strlen(str_at(p, p->sample_type[t]->unit)) + 2;
    size_t o_fn = align8(sizeof(struct pprof)),
           o_num = o_fn + align8(nfn * sizeof(struct pprof_fn)),
           o_tot = o_num + nfn * nt * 2 * sizeof(int64_t), o_typ = o_tot + nt * sizeof(int64_t),
           o_str = o_typ + 2 * nt * sizeof(char *);
    char *m = mb_xcalloc(1, o_str + strbytes);
    struct pprof *r = (struct pprof *)m;
    struct pprof_fn *fn = (struct pprof_fn *)(m + o_fn);
    int64_t *num = (int64_t *)(m + o_num), *tot = (int64_t *)(m + o_tot);
    const char **typ = (const char **)(m + o_typ);
    char *s = m + o_str;
#define COPY(dst, src)                                                                             \
    do {                                                                                           \
        size_t l_ = strlen(src) + 1;                                                               \
        memcpy(s, (src), l_);                                                                      \
        (dst) = s;                                                                                 \
        s += l_;                                                                                   \
    } while (0)
    *r = (struct pprof){.ntypes = nt,
                        .type = typ,
                        .unit = typ + nt,
                        .total = tot,
                        .time_ns = p->time_nanos,
                        .nsamples = p->n_sample,
                        .nfn = nfn,
                        .fn = fn,
                        .mem_ = m};
    for (size_t t = 0; t < nt; t++) {
        COPY(typ[t], str_at(p, p->sample_type[t]->type));
        COPY(typ[nt + t], str_at(p, p->sample_type[t]->unit));
        tot[t] = x->total[t];
    }
    for (size_t i = 0, k = 0; i < x->nslots; i++) {
        if (!x->used[i])
            continue;
        int64_t *f = num + k * nt * 2, *c = f + nt;
        memcpy(f, x->flat + i * nt, nt * sizeof *f);
        memcpy(c, x->cum + i * nt, nt * sizeof *c);
        COPY(fn[k].name, x->slot_name[i]);
        fn[k].flat = f;
        fn[k].cum = c;
        k++;
    }
#undef COPY
    return r;
}

static mb_err decode_message(const Profile *p, const struct pprof_limits *lim, struct pprof **out,
                             struct mb_diag *d)
{
    mb_err e = check_types(p, lim, d);
    if (e)
        return e;
    struct decode x = {.p = p, .lim = lim, .d = d};
    struct ids ids = {0};
    e = assign_slots(&x, &ids);
    if (!e) {
        size_t nt = p->n_sample_type;
        x.flat = mb_xcalloc(x.nslots * nt + 1, sizeof *x.flat);
        x.cum = mb_xcalloc(x.nslots * nt + 1, sizeof *x.cum);
        x.stamp = mb_xcalloc(x.nslots + 1, sizeof *x.stamp);
        x.used = mb_xcalloc(x.nslots + 1, sizeof *x.used);
        x.total = mb_xcalloc(nt, sizeof *x.total);
        for (size_t s = 0; s < p->n_sample && !e; s++)
            e = sample(&x, &ids, s);
    }
    if (!e)
        *out = result(&x);
    mb_free(ids.loc);
    mb_free(ids.fn);
    mb_free(x.fn_slot);
    mb_free(x.addr_slot);
    mb_free(x.addr_name);
    mb_free(x.slot_name);
    mb_free(x.flat);
    mb_free(x.cum);
    mb_free(x.stamp);
    mb_free(x.used);
    mb_free(x.total);
    return e;
}

mb_err pprof_decode(const void *buf, size_t len, const struct pprof_limits *lim, struct pprof **out,
                    struct mb_diag *d)
{
    *out = NULL;
    if (!lim)
        lim = &PPROF_LIMITS_DEFAULT;
    if (len == 0)
        return mb_diag_set(d, MB_EPARSE, "the profile is empty");
    if (len > lim->max_gz)
        return mb_diag_set(d, MB_ETOOBIG, "the profile is %zu bytes, more than %zu", len,
                           lim->max_gz);
    unsigned char *raw = NULL;
    size_t rawlen = len;
    if (is_gzip(buf, len)) {
        mb_err e = gunzip(buf, len, lim->max_raw, &raw, &rawlen, d);
        if (e)
            return e;
    } else if (len > lim->max_raw) {
        return mb_diag_set(d, MB_ETOOBIG, "the profile is %zu bytes, more than %zu", len,
                           lim->max_raw);
    }
    struct budget b = {.max = lim->max_mem};
    ProtobufCAllocator a = {.alloc = budget_alloc, .free = budget_free, .allocator_data = &b};
    Profile *p = perftools__profiles__profile__unpack(&a, rawlen, raw ? raw : (const uint8_t *)buf);
    mb_free(raw);
    if (!p)
        return b.refused
                   ? mb_diag_set(d, MB_ETOOBIG, "the profile takes more than %zu bytes decoded",
                                 lim->max_mem)
                   : mb_diag_set(d, MB_EPARSE,
                                 "not a pprof profile: the protobuf (%zu "
                                 "bytes) does not decode",
                                 rawlen);
    mb_err e = decode_message(p, lim, out, d);
    perftools__profiles__profile__free_unpacked(p, &a);
    return e;
}

void pprof_free(struct pprof *p)
{
    if (p)
        mb_free(p->mem_);
}

int pprof_type_index(const struct pprof *p, const char *type)
{
    for (size_t t = 0; t < p->ntypes; t++)
        if (strcmp(p->type[t], type) == 0)
            return (int)t;
    return -1;
}

/* --- the diff -------------------------------------------------------------------- */

static void types_of(const struct pprof *p, char *out, size_t len)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t t = 0; t < p->ntypes && n < len; t++)
        n += (size_t)snprintf(out + n, len - n, "%s%s", t ? ", " : "", p->type[t]);
}

static int cmp_delta(const void *a, const void *b, void *arg)
{
    const struct pprof_delta *x = a, *y = b;
    bool flat = *(const enum pprof_order *)arg == PPROF_BY_FLAT;
    int64_t kx = flat ? x->flat : x->cum, ky = flat ? y->flat : y->cum;
    int64_t ox = flat ? x->cum : x->flat, oy = flat ? y->cum : y->flat;
    if (kx != ky)
        return kx > ky ? -1 : 1;
    if (ox != oy)
        return ox > oy ? -1 : 1;
    return strcmp(x->name, y->name);
}

mb_err pprof_diff(const struct pprof *base, const struct pprof *cur, const char *type,
                  enum pprof_order by, struct pprof_delta **out, size_t *n, struct mb_diag *d)
{
    *out = NULL;
    *n = 0;
    int tb = pprof_type_index(base, type), tc = pprof_type_index(cur, type);
    if (tb < 0 || tc < 0) {
        char have[200];
        types_of(tb < 0 ? base : cur, have, sizeof have);
        return mb_diag_set(d, MB_EINVAL, "the %s profile has no sample type %s (it has: %s)",
                           tb < 0 ? "base" : "current", type, have);
    }
    if (strcmp(base->unit[tb], cur->unit[tc]) != 0)
        return mb_diag_set(d, MB_EINVAL, "%s is in %s in the base profile but in %s in the other",
                           type, base->unit[tb], cur->unit[tc]);
    struct pprof_delta *r = mb_xcalloc(base->nfn + cur->nfn + 1, sizeof *r);
    size_t i = 0, j = 0, k = 0;
    while (i < base->nfn || j < cur->nfn) {
        int c = i == base->nfn ? 1 : j == cur->nfn ? -1 : strcmp(base->fn[i].name, cur->fn[j].name);
        struct pprof_delta v = {.name = c <= 0 ? base->fn[i].name : cur->fn[j].name};
        if (c >= 0) {
            v.flat = cur->fn[j].flat[tc];
            v.cum = cur->fn[j].cum[tc];
            j++;
        }
        if (c <= 0) {
            v.flat -= base->fn[i].flat[tb];
            v.cum -= base->fn[i].cum[tb];
            i++;
        }
        if (v.flat || v.cum)
            r[k++] = v;
    }
    qsort_r(r, k, sizeof *r, cmp_delta, &by);
    *out = r;
    *n = k;
    return MB_OK;
}

/* --- words ------------------------------------------------------------------------ */

void pprof_fmt_delta(int64_t v, const char *unit, char *out, size_t len)
{
    char sign = v < 0 ? '-' : '+';
    double a = v < 0 ? -(double)v : (double)v;
    if (strcmp(unit, "bytes") == 0) {
        if (a < 1024)
            snprintf(out, len, "%c%.0fB", sign, a);
        else if (a < 1024.0 * 1024)
            snprintf(out, len, "%c%.1fKiB", sign, a / 1024);
        else if (a < 1024.0 * 1024 * 1024)
            snprintf(out, len, "%c%.1fMiB", sign, a / (1024.0 * 1024));
        else
            snprintf(out, len, "%c%.2fGiB", sign, a / (1024.0 * 1024 * 1024));
    } else if (strcmp(unit, "nanoseconds") == 0) {
        snprintf(out, len, "%c%.2fs", sign, a / 1e9);
    } else {
        snprintf(out, len, "%c%.0f", sign, a);
    }
}

#define NAME_MAX_IN_LINE 120

size_t pprof_growth_line(const struct pprof_delta *d, size_t n, size_t k, const char *type,
                         const char *unit, char *out, size_t len)
{
    size_t w = 0, shown = 0;
    char fig[32];
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int r_ = snprintf(out + (w < len ? w : len), w < len ? len - w : 0, __VA_ARGS__);          \
        w += r_ > 0 ? (size_t)r_ : 0;                                                              \
    } while (0)
    if (len)
        out[0] = '\0';
    for (size_t i = 0; i < n && shown < k; i++) {
        if (d[i].flat <= 0)
            continue;
        pprof_fmt_delta(d[i].flat, unit, fig, sizeof fig);
        size_t nl = strlen(d[i].name);
        if (nl > NAME_MAX_IN_LINE)
            PUT("%s%.*s... %s", shown ? ", " : "", NAME_MAX_IN_LINE - 3, d[i].name, fig);
        else
            PUT("%s%s %s", shown ? ", " : "", d[i].name, fig);
        shown++;
    }
    if (shown)
        PUT(" (%s)", type);
#undef PUT
    return w;
}
