/*
 * cmd_profiles.c -- `membudget profiles list|get|diff`: what the person on
 * call runs after an eviction.
 *
 *   list   the captures a controller holds (its /debug/profiles)
 *   diff   two captures of one pod compared: for heap profiles the
 *          functions whose memory grew (pprof.h, the same figures as
 *          `go tool pprof -top -diff_base A B`), for goroutine dumps the
 *          groups that grew (gdump.h). Works on two local files, offline,
 *          so CI can run it on profiles it kept.
 *
 * `membudget profiles` without a verb is `list`, as before the verbs.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/gdump.h"
#include "membudget/jsonx.h"
#include "membudget/pprof.h"

/* --- one capture, read and decoded ---------------------------------------- */

struct capture_file {
    const char *path;
    char *bytes;
    size_t len;
    bool goroutines; /* a goroutine dump, else a profile */
    struct pprof *prof;
    struct gdump dump;
};

static bool looks_like_dump(const char *b, size_t len)
{
    return len >= 10 && memcmp(b, "goroutine ", 10) == 0;
}

static bool capture_read(const char *cmd, const char *path, struct capture_file *c)
{
    char why[256];
    struct mb_diag d = {0};
    *c = (struct capture_file){.path = path};
    c->bytes = app_read_file(path, PPROF_LIMITS_DEFAULT.max_gz, &c->len, why, sizeof why);
    if (!c->bytes) {
        fprintf(stderr, "membudget %s: %s: %s\n", cmd, path, why);
        return false;
    }
    c->goroutines = looks_like_dump(c->bytes, c->len);
    mb_err e = c->goroutines ? gd_parse(c->bytes, c->len, 0, &c->dump, &d)
                             : pprof_decode(c->bytes, c->len, NULL, &c->prof, &d);
    if (e) {
        fprintf(stderr, "membudget %s: %s: %s\n", cmd, path, d.msg);
        return false;
    }
    return true;
}

static void capture_free(struct capture_file *c)
{
    mb_free(c->bytes);
    pprof_free(c->prof);
    gd_free(&c->dump);
}

static void fmt_time_ns(int64_t ns, char *out, size_t len)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    if (ns <= 0 || !gmtime_r(&t, &tm) || !strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, len, "unknown");
}

/* --- diff: heap profiles ------------------------------------------------------ */

struct diff_opts {
    const char *type, *by, *output;
    unsigned long top;
};

static json_t *delta_json(const struct pprof_delta *dl, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:I,s:I}", "function", dl[i].name, "flat",
                                           (json_int_t)dl[i].flat, "cum", (json_int_t)dl[i].cum));
    return a;
}

static int diff_profiles(const struct capture_file *a, const struct capture_file *b,
                         const struct diff_opts *o)
{
    struct pprof_delta *dl;
    size_t n;
    struct mb_diag d = {0};
    enum pprof_order by = strcmp(o->by, "cum") == 0 ? PPROF_BY_CUM : PPROF_BY_FLAT;
    if (pprof_diff(a->prof, b->prof, o->type, by, &dl, &n, &d)) {
        fprintf(stderr, "membudget profiles diff: %s\n", d.msg);
        return 2;
    }
    const char *unit = b->prof->unit[pprof_type_index(b->prof, o->type)];
    char since[32], at[32], line[1024];
    fmt_time_ns(a->prof->time_ns, since, sizeof since);
    fmt_time_ns(b->prof->time_ns, at, sizeof at);
    pprof_growth_line(dl, n, 3, o->type, unit, line, sizeof line);
    size_t shown = o->top && o->top < n ? o->top : n;
    if (strcmp(o->output, "json") == 0) {
        json_t *j = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{s:s,s:s},s:I,s:o,s:s}", "type", o->type,
                              "unit", unit, "by", o->by, "base", "file", a->path, "time", since,
                              "current", "file", b->path, "time", at, "changed", (json_int_t)n,
                              "functions", delta_json(dl, shown), "growth", line);
        char *t = mb_json_dumps(j, JSON_COMPACT, NULL);
        puts(t);
        mb_free(t);
        json_decref(j);
    } else {
        printf("base:    %s (%s)\ncurrent: %s (%s)\n%s by %s growth, %zu of %zu functions that "
               "changed\n%12s %12s  %s\n",
               a->path, since, b->path, at, o->type, o->by, shown, n, "FLAT", "CUM", "FUNCTION");
        for (size_t i = 0; i < shown; i++) {
            char f[32], c[32];
            pprof_fmt_delta(dl[i].flat, unit, f, sizeof f);
            pprof_fmt_delta(dl[i].cum, unit, c, sizeof c);
            printf("%12s %12s  %s\n", f, c, dl[i].name);
        }
        printf("%s\n", *line ? line : "nothing grew");
    }
    mb_free(dl);
    return 0;
}

/* --- diff: goroutine dumps ------------------------------------------------------- */

struct gd_delta {
    const char *fn;
    uint64_t base, cur;
};

static int cmp_gd_delta(const void *x, const void *y)
{
    const struct gd_delta *a = x, *b = y;
    long long da = (long long)a->cur - (long long)a->base,
              db = (long long)b->cur - (long long)b->base;
    if (da != db)
        return da > db ? -1 : 1;
    return strcmp(a->fn, b->fn);
}

static int diff_dumps(const struct gdump *a, const struct gdump *b, const struct diff_opts *o)
{
    struct gd_delta *dl = mb_xcalloc(a->ngroups + b->ngroups + 1, sizeof *dl);
    size_t n = 0;
    for (size_t i = 0; i < b->ngroups; i++)
        dl[n++] = (struct gd_delta){b->group[i].fn, gd_count(a, b->group[i].fn), b->group[i].count};
    for (size_t i = 0; i < a->ngroups; i++)
        if (!gd_count(b, a->group[i].fn))
            dl[n++] = (struct gd_delta){a->group[i].fn, a->group[i].count, 0};
    qsort(dl, n, sizeof *dl, cmp_gd_delta);
    size_t shown = o->top && o->top < n ? o->top : n;
    if (strcmp(o->output, "json") == 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < shown; i++)
            json_array_append_new(arr, json_pack("{s:s,s:I,s:I}", "function", dl[i].fn, "base",
                                                 (json_int_t)dl[i].base, "current",
                                                 (json_int_t)dl[i].cur));
        json_t *j = json_pack("{s:s,s:I,s:I,s:o}", "type", "goroutines", "base",
                              (json_int_t)a->total, "current", (json_int_t)b->total, "groups", arr);
        char *t = mb_json_dumps(j, JSON_COMPACT, NULL);
        puts(t);
        mb_free(t);
        json_decref(j);
    } else {
        printf("goroutines: %llu -> %llu\n%8s %8s %8s  %s\n", (unsigned long long)a->total,
               (unsigned long long)b->total, "BASE", "CURRENT", "DELTA", "TOP FUNCTION");
        for (size_t i = 0; i < shown; i++)
            printf("%8llu %8llu %+8lld  %s\n", (unsigned long long)dl[i].base,
                   (unsigned long long)dl[i].cur, (long long)dl[i].cur - (long long)dl[i].base,
                   dl[i].fn);
    }
    mb_free(dl);
    return 0;
}

static int profiles_diff(int argc, char **argv)
{
    struct diff_opts o;
    const char *top;
    const struct flag FLAGS[] = {
        {"type", "NAME", "inuse_space",
         "the sample type of a heap profile: inuse_space, inuse_objects, alloc_space, "
         "alloc_objects",
         &o.type, NULL, false},
        {"by", "flat|cum", "flat",
         "order by the function's own growth (flat) or with what it calls (cum)", &o.by, NULL,
         false},
        {"top", "N", "20", "print the first N functions (0: all)", &top, NULL, false},
        {"output", "FORMAT", "text", "text or json (json: the figures as integers)", &o.output,
         NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    static const char USAGE[] =
        "BASE CURRENT [--type inuse_space] [--by flat|cum] [--top N] [--output text|json]";
    char *pos[4];
    size_t npos;
    int r = flags_parse("profiles diff", USAGE, FLAGS, argc, argv, pos, &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos != 2 || (strcmp(o.by, "flat") && strcmp(o.by, "cum")) ||
        (strcmp(o.output, "text") && strcmp(o.output, "json"))) {
        fprintf(stderr, "membudget profiles: usage: membudget profiles diff %s\n", USAGE);
        return 2;
    }
    if (!app_uint_flag("top", top, 0, 1000000, &o.top))
        return 2;
    struct capture_file a = {0}, b = {0};
    int status = 2;
    if (capture_read("profiles diff", pos[0], &a) && capture_read("profiles diff", pos[1], &b)) {
        if (a.goroutines != b.goroutines)
            fprintf(stderr,
                    "membudget profiles diff: %s is a %s, %s a %s: diff compares two of a kind\n",
                    a.path, a.goroutines ? "goroutine dump" : "heap profile", b.path,
                    b.goroutines ? "goroutine dump" : "heap profile");
        else
            status = a.goroutines ? diff_dumps(&a.dump, &b.dump, &o) : diff_profiles(&a, &b, &o);
    }
    capture_free(&a);
    capture_free(&b);
    return status;
}

int cmd_profiles(int argc, char **argv)
{
    if (argc > 0 && strcmp(argv[0], "diff") == 0)
        return profiles_diff(argc - 1, argv + 1);
    if (argc > 0 && strcmp(argv[0], "list") == 0)
        return profiles_list_controller(argc - 1, argv + 1);
    if (argc > 0 && argv[0][0] != '-') {
        fprintf(stderr, "membudget profiles: unknown verb \"%s\" (list, get or diff)\n", argv[0]);
        return 2;
    }
    return profiles_list_controller(argc, argv);
}
