/* check_pprof.c -- the pprof decoder and diff (pprof.h) on real profiles
 * written by Go (test/fixtures/pprof, made by its gen/main.go: the figures
 * below are `go tool pprof -top -unit=B` of the same files), on hand-built
 * protobufs for every broken reference, and on every bound; the goroutine
 * dump parser (gdump.h) on both formats Go writes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "membudget/alloc.h"
#include "membudget/gdump.h"
#include "membudget/pprof.h"
#include "profile.pb-c.h"
#include "suites.h"
#include "testutil.h"

static struct pprof *load(const char *rel)
{
    size_t len;
    char *b = tu_read_file(rel, &len);
    ck_assert_msg(b, "%s", rel);
    struct pprof *p = NULL;
    struct mb_diag d = {0};
    mb_err e = pprof_decode(b, len, NULL, &p, &d);
    ck_assert_msg(e == MB_OK, "%s: %s", rel, d.msg);
    free(b);
    return p;
}

static const struct pprof_fn *fn_named(const struct pprof *p, const char *name)
{
    for (size_t i = 0; i < p->nfn; i++)
        if (strcmp(p->fn[i].name, name) == 0)
            return &p->fn[i];
    return NULL;
}

/* go tool pprof -top -nodefraction=0 -unit=B -sample_index=inuse_space cur.heap.pb.gz */
static const struct {
    const char *fn;
    int64_t flat, cum;
} CUR_INUSE_SPACE[] = {
    {"main.fillSessionCache", 6832128, 6832128},
    {"main.fillRequestPool", 263936, 263936},
    {"main.keepRecord", 114688, 114688}, /* inlined into decodeRecord */
    {"runtime.mallocgc", 21696, 21696},
    {"main.recurse", 16384, 16384}, /* five frames deep: cum counts a sample once */
    {"main.decodeRecord", 0, 114688},
    {"main.main", 0, 7235584},
};

START_TEST(test_pprof_decode_go_heap)
{
    struct pprof *p = load("test/fixtures/pprof/cur.heap.pb.gz");
    ck_assert_int_eq(p->ntypes, 4);
    ck_assert_str_eq(p->type[0], "alloc_objects");
    ck_assert_str_eq(p->unit[0], "count");
    ck_assert_str_eq(p->type[3], "inuse_space");
    ck_assert_str_eq(p->unit[3], "bytes");
    ck_assert_int_eq(pprof_type_index(p, "inuse_space"), 3);
    ck_assert_int_eq(pprof_type_index(p, "cpu"), -1);
    ck_assert_int_eq(p->total[3], 7261648);
    ck_assert(p->time_ns > 0);
    for (size_t i = 0; i < MB_ARRAY_LEN(CUR_INUSE_SPACE); i++) {
        const struct pprof_fn *f = fn_named(p, CUR_INUSE_SPACE[i].fn);
        ck_assert_msg(f, "%s missing", CUR_INUSE_SPACE[i].fn);
        ck_assert_msg(f->flat[3] == CUR_INUSE_SPACE[i].flat && f->cum[3] == CUR_INUSE_SPACE[i].cum,
                      "%s: flat %lld cum %lld", f->name, (long long)f->flat[3],
                      (long long)f->cum[3]);
    }
    for (size_t i = 1; i < p->nfn; i++) /* by name, each once */
        ck_assert(strcmp(p->fn[i - 1].name, p->fn[i].name) < 0);
    pprof_free(p);
}
END_TEST

START_TEST(test_pprof_diff_go_heap)
{
    struct pprof *b = load("test/fixtures/pprof/base.heap.pb.gz"),
                 *c = load("test/fixtures/pprof/cur.heap.pb.gz");
    struct pprof_delta *dl;
    size_t n;
    struct mb_diag d = {0};
    /* go tool pprof -top -unit=B -sample_index=inuse_space -diff_base=base cur */
    ck_assert_int_eq(pprof_diff(b, c, "inuse_space", PPROF_BY_FLAT, &dl, &n, &d), MB_OK);
    ck_assert(n >= 6);
    ck_assert_str_eq(dl[0].name, "main.fillSessionCache");
    ck_assert_int_eq(dl[0].flat, 6569600);
    ck_assert_int_eq(dl[0].cum, 6569600);
    ck_assert_str_eq(dl[1].name, "main.keepRecord");
    ck_assert_int_eq(dl[1].flat, 106496);
    ck_assert_str_eq(dl[n - 1].name, "main.warmTemplates"); /* the shrink comes last */
    ck_assert_int_eq(dl[n - 1].flat, -263040);
    char line[512];
    pprof_growth_line(dl, n, 3, "inuse_space", "bytes", line, sizeof line);
    ck_assert_str_eq(line, "main.fillSessionCache +6.3MiB, main.keepRecord +104.0KiB, "
                           "runtime.mallocgc +19.2KiB (inuse_space)");
    mb_free(dl);
    /* by cum: main.main holds the growth less the templates let go */
    ck_assert_int_eq(pprof_diff(b, c, "inuse_space", PPROF_BY_CUM, &dl, &n, &d), MB_OK);
    ck_assert_str_eq(dl[0].name, "main.fillSessionCache");
    ck_assert_str_eq(dl[1].name, "main.main");
    ck_assert_int_eq(dl[1].cum, 6431360); /* as go tool pprof says */
    ck_assert_int_eq(dl[1].flat, 0);
    ck_assert_str_eq(dl[2].name, "runtime.main"); /* the same figures: by name */
    mb_free(dl);
    /* inuse_objects: 400 sessions more, 33 templates fewer */
    ck_assert_int_eq(pprof_diff(b, c, "inuse_objects", PPROF_BY_FLAT, &dl, &n, &d), MB_OK);
    ck_assert_str_eq(dl[0].name, "main.fillSessionCache");
    ck_assert_int_eq(dl[0].flat, 400);
    ck_assert_str_eq(dl[n - 1].name, "main.warmTemplates");
    ck_assert_int_eq(dl[n - 1].flat, -33);
    pprof_growth_line(dl, n, 2, "inuse_objects", "count", line, sizeof line);
    ck_assert_str_eq(line, "main.fillSessionCache +400, main.keepRecord +101 (inuse_objects)");
    mb_free(dl);
    /* a profile against itself: nothing differs */
    ck_assert_int_eq(pprof_diff(c, c, "inuse_space", PPROF_BY_FLAT, &dl, &n, &d), MB_OK);
    ck_assert_int_eq(n, 0);
    ck_assert_int_eq(pprof_growth_line(dl, n, 3, "inuse_space", "bytes", line, sizeof line), 0);
    ck_assert_str_eq(line, "");
    mb_free(dl);
    ck_assert_int_eq(pprof_diff(b, c, "cpu", PPROF_BY_FLAT, &dl, &n, &d), MB_EINVAL);
    ck_assert_str_eq(d.msg, "the base profile has no sample type cpu (it has: alloc_objects, "
                            "alloc_space, inuse_objects, inuse_space)");
    pprof_free(b);
    pprof_free(c);
}
END_TEST

/* --- hand-built profiles ---------------------------------------------------- */

typedef Perftools__Profiles__Profile Profile;

/* A profile of `nfn` functions f0..f{n-1} (ids 1..n, or 10, 20, ... when
 * sparse), one location per function (same ids), and samples given as
 * location id lists ending in 0, one value type "inuse_space"/"bytes". */
struct built {
    Profile p;
    Perftools__Profiles__ValueType vt, *vtp;
    Perftools__Profiles__Function fn[8], *fnp[8];
    Perftools__Profiles__Location loc[8], *locp[8];
    Perftools__Profiles__Line line[8], *linep[8];
    Perftools__Profiles__Sample s[8], *sp[8];
    uint64_t ids[8][16];
    int64_t val[8][2];
    char *strs[16];
};

static void build(struct built *b, size_t nfn, bool sparse, const uint64_t samples[][8], size_t ns)
{
    memset(b, 0, sizeof *b);
    static const char *const S[] = {"", "inuse_space", "bytes", "f0", "f1", "f2", "f3", "f4"};
    for (size_t i = 0; i < MB_ARRAY_LEN(S); i++)
        b->strs[i] = (char *)S[i];
    perftools__profiles__profile__init(&b->p);
    perftools__profiles__value_type__init(&b->vt);
    b->vt.type = 1;
    b->vt.unit = 2;
    b->vtp = &b->vt;
    b->p.n_sample_type = 1;
    b->p.sample_type = &b->vtp;
    b->p.n_string_table = MB_ARRAY_LEN(S);
    b->p.string_table = b->strs;
    for (size_t i = 0; i < nfn; i++) {
        uint64_t id = sparse ? (i + 1) * 10 : i + 1;
        perftools__profiles__function__init(&b->fn[i]);
        b->fn[i].id = id;
        b->fn[i].name = 3 + (int64_t)i;
        b->fnp[i] = &b->fn[i];
        perftools__profiles__line__init(&b->line[i]);
        b->line[i].function_id = id;
        b->linep[i] = &b->line[i];
        perftools__profiles__location__init(&b->loc[i]);
        b->loc[i].id = id;
        b->loc[i].address = 0x1000 + i;
        b->loc[i].n_line = 1;
        b->loc[i].line = &b->linep[i];
        b->locp[i] = &b->loc[i];
    }
    b->p.n_function = b->p.n_location = nfn;
    b->p.function = b->fnp;
    b->p.location = b->locp;
    for (size_t i = 0; i < ns; i++) {
        perftools__profiles__sample__init(&b->s[i]);
        size_t k = 0;
        for (; samples[i][k]; k++)
            b->ids[i][k] = samples[i][k];
        b->s[i].n_location_id = k;
        b->s[i].location_id = b->ids[i];
        b->val[i][0] = 100 * (int64_t)(i + 1);
        b->s[i].n_value = 1;
        b->s[i].value = b->val[i];
        b->sp[i] = &b->s[i];
    }
    b->p.n_sample = ns;
    b->p.sample = b->sp;
}

static uint8_t *pack(const Profile *p, size_t *len)
{
    *len = perftools__profiles__profile__get_packed_size(p);
    uint8_t *buf = mb_xmalloc(*len + 1);
    perftools__profiles__profile__pack(p, buf);
    return buf;
}

static uint8_t *gzip_of(const uint8_t *in, size_t len, size_t *outlen)
{
    z_stream z = {0};
    ck_assert_int_eq(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len);
    uint8_t *out = mb_xmalloc(cap);
    z.next_in = (uint8_t *)in;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *outlen = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

static mb_err decode_built(struct built *b, const struct pprof_limits *lim, struct pprof **out,
                           struct mb_diag *d)
{
    size_t len;
    uint8_t *buf = pack(&b->p, &len);
    mb_err e = pprof_decode(buf, len, lim, out, d);
    mb_free(buf);
    return e;
}

/* Recursion, sparse ids, a location with no function, an uncompressed profile. */
START_TEST(test_pprof_decode_built)
{
    struct built b;
    /* leaf first: f0 <- f1 <- f1 <- f0 (recursion of both) ; f2 ; f3 <- f1 */
    static const uint64_t S[][8] = {{10, 20, 20, 10, 0}, {30, 0}, {40, 20, 0}};
    build(&b, 4, true, S, 3);
    b.loc[2].n_line = 0; /* f2's location lost its symbol: its address names it */
    struct pprof *p;
    struct mb_diag d = {0};
    ck_assert_msg(decode_built(&b, NULL, &p, &d) == MB_OK, "%s", d.msg);
    ck_assert_int_eq(p->total[0], 600);
    ck_assert_int_eq(p->nfn, 4); /* f0 f1 f3 and 0x1002; f2 is in no sample */
    const struct pprof_fn *f0 = fn_named(p, "f0"), *f1 = fn_named(p, "f1"), *f3 = fn_named(p, "f3"),
                          *a = fn_named(p, "0x1002");
    ck_assert(f0 && f1 && f3 && a && !fn_named(p, "f2"));
    ck_assert_int_eq(f0->flat[0], 100);
    ck_assert_int_eq(f0->cum[0], 100);
    ck_assert_int_eq(f1->flat[0], 0);
    ck_assert_int_eq(f1->cum[0], 400);
    ck_assert_int_eq(f3->flat[0], 300);
    ck_assert_int_eq(a->flat[0], 200);
    pprof_free(p);
}
END_TEST

enum breakage {
    BR_LOC_MISSING,
    BR_FN_MISSING,
    BR_NAME_PAST,
    BR_VALUES,
    BR_DUP_ID,
    BR_NO_TYPES,
    BR_DEPTH,
    BR_SAMPLES,
    BR_FUNCTIONS,
    BR_MEM,
    BR_OVERFLOW,
};

static const struct {
    enum breakage br;
    mb_err err;
    const char *msg;
} BROKEN[] = {
    {BR_LOC_MISSING, MB_EINVAL, "sample 1 refers to location 9, which the profile does not have"},
    {BR_FN_MISSING, MB_EINVAL, "location 2 refers to function 7, which the profile does not have"},
    {BR_NAME_PAST, MB_EINVAL, "function 1's name is string 99, past the string table (8 strings)"},
    {BR_VALUES, MB_EINVAL, "sample 0 has 2 values for 1 sample types"},
    {BR_DUP_ID, MB_EINVAL, "two locations have id 1"},
    {BR_NO_TYPES, MB_EINVAL, "the profile has 0 sample types (1 to 64 expected)"},
    {BR_DEPTH, MB_ETOOBIG, "sample 0 has more than 2 frames"},
    {BR_SAMPLES, MB_ETOOBIG, "the profile has 2 samples, more than 1"},
    {BR_FUNCTIONS, MB_ETOOBIG, "the profile names 3 functions, more than 2"},
    {BR_MEM, MB_ETOOBIG, "the profile takes more than 64 bytes decoded"},
    {BR_OVERFLOW, MB_ERANGE, "sample 1: the sums overflow 64 bits"},
};

START_TEST(test_pprof_broken)
{
    struct built b;
    static const uint64_t S[][8] = {{1, 2, 3, 0}, {2, 0}};
    build(&b, 3, false, S, 2);
    struct pprof_limits lim = PPROF_LIMITS_DEFAULT;
    int64_t two[2] = {1, 2};
    switch (BROKEN[_i].br) {
    case BR_LOC_MISSING:
        b.ids[1][0] = 9;
        break;
    case BR_FN_MISSING:
        b.line[1].function_id = 7;
        break;
    case BR_NAME_PAST:
        b.fn[0].name = 99;
        break;
    case BR_VALUES:
        b.s[0].n_value = 2;
        b.s[0].value = two;
        break;
    case BR_DUP_ID:
        b.loc[1].id = 1;
        break;
    case BR_NO_TYPES:
        b.p.n_sample_type = 0;
        break;
    case BR_DEPTH:
        lim.max_depth = 2;
        break;
    case BR_SAMPLES:
        lim.max_samples = 1;
        break;
    case BR_FUNCTIONS:
        lim.max_functions = 2;
        break;
    case BR_MEM:
        lim.max_mem = 64;
        break;
    case BR_OVERFLOW:
        b.val[0][0] = INT64_MAX;
        b.val[1][0] = 1;
        break;
    }
    struct pprof *p = (struct pprof *)1;
    struct mb_diag d = {0};
    mb_err e = decode_built(&b, &lim, &p, &d);
    ck_assert_msg(e == BROKEN[_i].err, "row %d: %s", _i, d.msg);
    ck_assert_str_eq(d.msg, BROKEN[_i].msg);
    ck_assert_ptr_null(p);
}
END_TEST

/* Bytes that are no profile, and the gzip bounds. */
START_TEST(test_pprof_bytes)
{
    struct built b;
    static const uint64_t S[][8] = {{1, 2, 0}};
    build(&b, 2, false, S, 1);
    size_t len, gzlen;
    uint8_t *raw = pack(&b.p, &len), *gz = gzip_of(raw, len, &gzlen);
    struct pprof *p;
    struct mb_diag d = {0};
    struct pprof_limits lim = PPROF_LIMITS_DEFAULT;
    ck_assert_int_eq(pprof_decode(gz, gzlen, &lim, &p, &d), MB_OK); /* gzipped and not */
    pprof_free(p);
    ck_assert_int_eq(pprof_decode(raw, len, &lim, &p, &d), MB_OK);
    pprof_free(p);
    ck_assert_int_eq(pprof_decode(gz, 0, &lim, &p, &d), MB_EPARSE);
    ck_assert_str_eq(d.msg, "the profile is empty");
    ck_assert_int_eq(pprof_decode(gz, gzlen - 12, &lim, &p, &d), MB_EPARSE);
    ck_assert_msg(strstr(d.msg, "the gzip stream ends early"), "%s", d.msg);
    ck_assert_int_eq(pprof_decode("\xff\xff\xff\xff not a profile", 20, &lim, &p, &d), MB_EPARSE);
    ck_assert_msg(strstr(d.msg, "not a pprof profile"), "%s", d.msg);
    gz[12] ^= 0xff; /* the deflate stream itself */
    mb_err e = pprof_decode(gz, gzlen, &lim, &p, &d);
    ck_assert_msg(e == MB_EPARSE && strncmp(d.msg, "gzip: ", 6) == 0, "%d %s", e, d.msg);
    gz[12] ^= 0xff;
    lim.max_gz = gzlen - 1;
    ck_assert_int_eq(pprof_decode(gz, gzlen, &lim, &p, &d), MB_ETOOBIG);
    lim.max_gz = PPROF_LIMITS_DEFAULT.max_gz;
    lim.max_raw = 8;
    ck_assert_int_eq(pprof_decode(gz, gzlen, &lim, &p, &d), MB_ETOOBIG);
    ck_assert_str_eq(d.msg, "the profile inflates past 8 bytes");
    mb_free(raw);
    mb_free(gz);
}
END_TEST

static const struct {
    int64_t v;
    const char *unit, *want;
} FMT[] = {
    {88080384, "bytes", "+84.0MiB"},       {-3174, "bytes", "-3.1KiB"}, {512, "bytes", "+512B"},
    {3LL << 30, "bytes", "+3.00GiB"},      {1234, "count", "+1234"},    {-7, "count", "-7"},
    {1500000000, "nanoseconds", "+1.50s"}, {0, "bytes", "+0B"},
};

START_TEST(test_pprof_fmt)
{
    char out[32];
    pprof_fmt_delta(FMT[_i].v, FMT[_i].unit, out, sizeof out);
    ck_assert_str_eq(out, FMT[_i].want);
}
END_TEST

START_TEST(test_pprof_growth_line_bounds)
{
    char longname[300], line[64];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    struct pprof_delta dl[] = {{longname, 2048, 2048}, {"b", 1, 1}};
    char big[512];
    pprof_growth_line(dl, 2, 3, "inuse_space", "bytes", big, sizeof big);
    ck_assert_int_eq(strlen(big), 117 + 3 + 1 + 7 + 2 + 5 + 14);
    ck_assert(strstr(big, "xxx... +2.0KiB, b +1B (inuse_space)"));
    /* a short buffer: cut, terminated, and the length it needed said */
    size_t need = pprof_growth_line(dl, 2, 3, "inuse_space", "bytes", line, sizeof line);
    ck_assert_int_eq(need, strlen(big));
    ck_assert_int_eq(strlen(line), sizeof line - 1);
}
END_TEST

/* --- goroutine dumps ------------------------------------------------------------ */

START_TEST(test_gdump_go)
{
    static const char *const F[] = {"test/fixtures/pprof/goroutines.debug2.txt",
                                    "test/fixtures/pprof/goroutines.debug1.txt"};
    static const char *const SECOND[] = {"runtime/pprof.writeGoroutineStacks",
                                         "runtime/pprof.writeRuntimeProfile"};
    size_t len;
    char *t = tu_read_file(F[_i], &len);
    struct gdump g;
    struct mb_diag d = {0};
    ck_assert_msg(gd_parse(t, len, 0, &g, &d) == MB_OK, "%s: %s", F[_i], d.msg);
    ck_assert_int_eq(g.total, 41);
    ck_assert_int_eq(g.ngroups, 2);
    ck_assert_str_eq(g.group[0].fn, "main.waitForOrders");
    ck_assert_int_eq(g.group[0].count, 40);
    ck_assert_str_eq(g.group[1].fn, SECOND[_i]);
    ck_assert_int_eq(gd_count(&g, "main.waitForOrders"), 40);
    ck_assert_int_eq(gd_count(&g, "main.nothing"), 0);
    char s[128];
    gd_summary(&g, s, sizeof s);
    ck_assert_str_eq(s, "41 goroutines; main.waitForOrders holds 40 (98%)");
    gd_free(&g);
    free(t);
}
END_TEST

static const struct {
    const char *text;
    size_t max_groups;
    mb_err err;
    const char *want; /* the groups "fn=count,..." or the error */
} GD_ROWS[] = {
    /* runtime frames are skipped for the top; a runtime-only stack keeps its first */
    {"goroutine 1 [select]:\nruntime.gopark(0x1)\n\t/x.go:1 "
     "+0x1\nnet/http.(*persistConn).readLoop(0xc0)\n"
     "\t/y.go:2 +0x2\ncreated by net/http.(*Transport).dialConn in goroutine 9\n\t/z.go:3\n\n"
     "goroutine 2 [running]:\nruntime.goexit()\n\t/r.go:1\n",
     0, MB_OK, "net/http.(*persistConn).readLoop=1,runtime.goexit=1"},
    /* CRLF, generics in names, elided frames, a goroutine with no frames */
    {"goroutine 7 [chan send, 3 minutes]:\r\nmain.Map[...](...)\r\n\t/m.go:5\r\n...additional "
     "frames "
     "elided...\r\n\r\ngoroutine 8 [idle]:\r\n",
     0, MB_OK, "(no frames)=1,main.Map[...]=1"},
    {"goroutine profile: total 5\n3 @ 0x1 0x2\n# labels: "
     "{\"a\":\"b\"}\n#\t0x1\truntime.gopark+0x1\t/r.go:1\n"
     "#\t0x2\tmain.(*T).wait+0x20\t/t.go:9\n\n2 @ 0x3\n#\t0x3\tmain.idle+0x1\t/i.go:1\n",
     0, MB_OK, "main.(*T).wait=3,main.idle=2"},
    /* past max_groups: counted as other */
    {"goroutine 1 [a]:\nmain.a()\n\ngoroutine 2 [a]:\nmain.b()\n\ngoroutine 3 [a]:\nmain.c()\n", 2,
     MB_OK, "main.a=1,main.b=1,other=1"},
    {"hello world\n", 0, MB_EPARSE,
     "line 1: not a goroutine dump (\"goroutine profile: total N\" or \"goroutine N [state]:\" "
     "expected)"},
    {"", 0, MB_EPARSE, "the goroutine dump is empty"},
    {"goroutine 1 [a]:\nmain.a()\n\nmain.b()\n", 0, MB_EPARSE,
     "line 4: a frame outside any goroutine"},
    {"goroutine profile: total 1\n1 x\n", 0, MB_EPARSE, "line 2: \"COUNT @ ADDRESSES\" expected"},
    {"goroutine profile: total 1\n99999999999999999999 @ 0x1\n", 0, MB_ERANGE,
     "line 2: a count past 64 bits"},
    {"goroutine profile: total 1\n1 @ 0x1\nfoo\n", 0, MB_EPARSE, "line 3: not a frame"},
    {"goroutine profile: total 1\n#\t0x1\tmain.a+0x1\n", 0, MB_EPARSE,
     "line 2: a frame outside any record"},
};

START_TEST(test_gdump_rows)
{
    struct gdump g;
    struct mb_diag d = {0};
    const char *t = GD_ROWS[_i].text;
    mb_err e = gd_parse(t, strlen(t), GD_ROWS[_i].max_groups, &g, &d);
    ck_assert_msg(e == GD_ROWS[_i].err, "row %d: %d %s", _i, e, d.msg);
    if (e) {
        ck_assert_str_eq(d.msg, GD_ROWS[_i].want);
        ck_assert_int_eq(g.ngroups, 0);
        return;
    }
    char got[256] = "";
    size_t w = 0;
    for (size_t i = 0; i < g.ngroups; i++)
        w += (size_t)snprintf(got + w, sizeof got - w, "%s%s=%llu", i ? "," : "", g.group[i].fn,
                              (unsigned long long)g.group[i].count);
    if (g.other)
        snprintf(got + w, sizeof got - w, ",other=%llu", (unsigned long long)g.other);
    ck_assert_str_eq(got, GD_ROWS[_i].want);
    gd_free(&g);
}
END_TEST

Suite *pprof_suite(void)
{
    Suite *s = suite_create("pprof");
    TCase *tc = tcase_create("decode");
    tcase_add_test(tc, test_pprof_decode_go_heap);
    tcase_add_test(tc, test_pprof_diff_go_heap);
    tcase_add_test(tc, test_pprof_decode_built);
    tcase_add_loop_test(tc, test_pprof_broken, 0, (int)MB_ARRAY_LEN(BROKEN));
    tcase_add_test(tc, test_pprof_bytes);
    tcase_add_loop_test(tc, test_pprof_fmt, 0, (int)MB_ARRAY_LEN(FMT));
    tcase_add_test(tc, test_pprof_growth_line_bounds);
    suite_add_tcase(s, tc);
    tc = tcase_create("goroutines");
    tcase_add_loop_test(tc, test_gdump_go, 0, 2);
    tcase_add_loop_test(tc, test_gdump_rows, 0, (int)MB_ARRAY_LEN(GD_ROWS));
    suite_add_tcase(s, tc);
    return s;
}
