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
 * With --config, list, get and diff read the store that config names
 * (profiles.store: the profile directory, or the S3 bucket through s3.h,
 * with --access-key-file/--secret-key-file when the config's key files are
 * a pod's paths); without it, list asks a controller.
 *
 * `membudget profiles` without a verb is `list`, as before the verbs.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/gdump.h"
#include "membudget/jsonx.h"
#include "membudget/kobj.h"
#include "membudget/pprof.h"
#include "membudget/profname.h"
#include "membudget/profstore.h"
#include "membudget/s3.h"

/* --- the store a config names ----------------------------------------------- */

struct store {
    const char *config, *access, *secret;
    struct cfg cfg;
    bool loaded;
    struct s3 *s3; /* profiles.store: s3 */
};

#define STORE_FLAGS(st)                                                                            \
    {"config",     "FILE", "",   "membudget's config: read the store it names (profiles.store)",   \
     &(st).config, NULL,   false},                                                                 \
        {"access-key-file", "FILE", "",   "s3: the access key, instead of the config's file",      \
         &(st).access,      NULL,   false},                                                        \
        {"secret-key-file", "FILE", "",   "s3: the secret key, instead of the config's file",      \
         &(st).secret,      NULL,   false},

static bool store_open(const char *cmd, struct store *st)
{
    if (!*st->config)
        return true;
    if (!app_load_config(st->config, &st->cfg))
        return false;
    st->loaded = true;
    struct cfg_s3 *c = &st->cfg.profiles.s3;
    if (*st->access) {
        mb_free(c->access_key_file);
        c->access_key_file = mb_xstrdup(st->access);
    }
    if (*st->secret) {
        mb_free(c->secret_key_file);
        c->secret_key_file = mb_xstrdup(st->secret);
    }
    if (st->cfg.profiles.store == CFG_STORE_S3 && !(st->s3 = s3_new(c))) {
        fprintf(stderr, "membudget %s: libcurl could not make a handle\n", cmd);
        return false;
    }
    return true;
}

static void store_close(struct store *st)
{
    s3_free(st->s3);
    if (st->loaded)
        cfg_cleanup(&st->cfg);
}

/* A capture's bytes from the store: a key of the bucket, or a file of the
 * profile directory. */
static char *store_fetch(const char *cmd, struct store *st, const char *name, size_t *len)
{
    size_t max = (size_t)st->cfg.eviction.profile_max_bytes;
    if (st->s3) {
        struct mb_buf out;
        struct s3_status ss;
        if (s3_get(st->s3, name, max, &out, &ss)) {
            fprintf(stderr, "membudget %s: %s\n", cmd, ss.msg);
            return NULL;
        }
        *len = out.len;
        return out.p ? mb_buf_take(&out) : mb_xstrdup("");
    }
    char path[1400], why[256];
    snprintf(path, sizeof path, "%s/%s", st->cfg.eviction.profile_dir, name);
    char *b = app_read_file(path, max, len, why, sizeof why);
    if (!b)
        fprintf(stderr, "membudget %s: %s: %s\n", cmd, path, why);
    return b;
}

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

/* A local file, or (with a store, when no such file exists) a capture of
 * the store. */
static bool capture_read(const char *cmd, struct store *st, const char *path,
                         struct capture_file *c)
{
    char why[256];
    struct mb_diag d = {0};
    *c = (struct capture_file){.path = path};
    if (st->loaded && access(path, F_OK) != 0) {
        c->bytes = store_fetch(cmd, st, path, &c->len);
        if (!c->bytes)
            return false;
    } else if (!(c->bytes =
                     app_read_file(path, PPROF_LIMITS_DEFAULT.max_gz, &c->len, why, sizeof why))) {
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
    struct store st = {0};
    const char *top;
    const struct flag FLAGS[] = {
        STORE_FLAGS(st){
            "type", "NAME", "inuse_space",
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
    static const char USAGE[] = "BASE CURRENT [--type inuse_space] [--by flat|cum] [--top N] "
                                "[--output text|json] [--config FILE]";
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
    if (store_open("profiles diff", &st) && capture_read("profiles diff", &st, pos[0], &a) &&
        capture_read("profiles diff", &st, pos[1], &b)) {
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
    store_close(&st);
    return status;
}

/* --- list and get ---------------------------------------------------------------- */

struct listed {
    char name[S3_KEY_MAX + 1]; /* the key, or the file */
    struct prof_parsed p;
    int64_t bytes;
};

static int newest_first(const void *x, const void *y)
{
    const struct listed *a = x, *b = y;
    if (a->p.at != b->p.at)
        return a->p.at > b->p.at ? -1 : 1;
    return strcmp(a->name, b->name);
}

/* The store's captures, newest first. Returns false (after saying why)
 * when the store cannot be read. */
static bool store_list(const char *cmd, struct store *st, const char *ns, struct listed **out,
                       size_t *n)
{
    *out = NULL;
    *n = 0;
    if (st->s3) {
        char prefix[600];
        const char *p = st->cfg.profiles.s3.prefix ? st->cfg.profiles.s3.prefix : "";
        snprintf(prefix, sizeof prefix, "%s%s%s%s", p, *p ? "/" : "", ns, *ns ? "/" : "");
        struct s3_page pg;
        struct s3_status ss;
        if (s3_list(st->s3, prefix, 1000000, &pg, &ss)) {
            fprintf(stderr, "membudget %s: %s\n", cmd, ss.msg);
            return false;
        }
        *out = mb_xcalloc(pg.n + 1, sizeof **out);
        for (size_t i = 0; i < pg.n; i++) {
            struct listed *l = &(*out)[*n];
            if (!prof_key_parse(pg.obj[i].key, p, &l->p))
                continue;
            snprintf(l->name, sizeof l->name, "%s", pg.obj[i].key);
            l->bytes = pg.obj[i].size;
            (*n)++;
        }
        s3xml_page_free(&pg);
    } else {
        json_t *j = ps_list_json(st->cfg.eviction.profile_dir,
                                 (uint64_t)st->cfg.eviction.profile_dir_max_bytes),
               *f;
        size_t i;
        if (json_string_value(json_object_get(j, "error"))) {
            fprintf(stderr, "membudget %s: %s\n", cmd,
                    json_string_value(json_object_get(j, "error")));
            json_decref(j);
            return false;
        }
        const json_t *list = json_object_get(j, "profiles");
        *out = mb_xcalloc(json_array_size(list) + 1, sizeof **out);
        json_array_foreach(list, i, f)
        {
            struct listed *l = &(*out)[*n];
            const char *file = json_string_value(json_object_get(f, "file"));
            if (!file || !prof_name_parse(file, &l->p) || (*ns && strcmp(l->p.ns, ns)))
                continue;
            snprintf(l->name, sizeof l->name, "%s", file);
            snprintf(l->p.owner, sizeof l->p.owner, "-");
            l->bytes = (int64_t)json_integer_value(json_object_get(f, "bytes"));
            (*n)++;
        }
        json_decref(j);
    }
    if (*n)
        qsort(*out, *n, sizeof **out, newest_first);
    return true;
}

/* --since: an RFC 3339 time, or a duration before now ("2h"). */
static bool since_flag(const char *v, mb_wall_ms *out)
{
    uint64_t ms;
    *out = 0;
    if (!*v)
        return true;
    if (kobj_parse_time(v, strlen(v), out))
        return true;
    if (cfg_parse_duration(v, &ms)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *out = (mb_wall_ms)ts.tv_sec * 1000 - (mb_wall_ms)ms;
        return true;
    }
    fprintf(stderr,
            "membudget profiles list: --since: \"%s\" is neither a time "
            "(2026-12-07T03:00:00Z) nor a duration (2h)\n",
            v);
    return false;
}

static int profiles_list_store(struct store *st, const char *ns, const char *pod, const char *since,
                               const char *output)
{
    mb_wall_ms from;
    struct listed *l;
    size_t n;
    if (!since_flag(since, &from) || !store_open("profiles list", st))
        return 2;
    if (!store_list("profiles list", st, ns, &l, &n)) {
        store_close(st);
        return 1;
    }
    json_t *arr = json_array();
    if (strcmp(output, "json"))
        printf("%-20s %-28s %-36s %-10s %-20s %10s  %s\n", "NAMESPACE", "OWNER", "POD", "KIND",
               "CAPTURED", "SIZE", st->s3 ? "KEY" : "FILE");
    for (size_t i = 0; i < n; i++) {
        if ((*pod && strcmp(l[i].p.pod, pod)) || l[i].p.at < from)
            continue;
        char at[32];
        fmt_time_ns(l[i].p.at * 1000000, at, sizeof at);
        if (!strcmp(output, "json"))
            json_array_append_new(
                arr, json_pack("{s:s,s:s,s:s,s:s,s:s,s:I,s:s}", st->s3 ? "key" : "file", l[i].name,
                               "namespace", l[i].p.ns, "owner", l[i].p.owner, "pod", l[i].p.pod,
                               "kind", prof_kind_name(l[i].p.kind), "bytes", (json_int_t)l[i].bytes,
                               "capturedAt", at));
        else
            printf("%-20s %-28s %-36s %-10s %-20s %10lld  %s\n", l[i].p.ns, l[i].p.owner,
                   l[i].p.pod, prof_kind_name(l[i].p.kind), at, (long long)l[i].bytes, l[i].name);
    }
    if (!strcmp(output, "json")) {
        char *t = mb_json_dumps(arr, JSON_COMPACT, NULL);
        puts(t);
        mb_free(t);
    }
    json_decref(arr);
    mb_free(l);
    store_close(st);
    return 0;
}

static int profiles_list(int argc, char **argv)
{
    struct store st = {0};
    const char *ns, *pod, *since, *output;
    /* without --config: the controller's /debug/profiles, as before */
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9))
            goto store;
    return profiles_list_controller(argc, argv);
store:;
    const struct flag FLAGS[] = {
        STORE_FLAGS(st){"namespace", "NAME", "", "only this namespace's captures", &ns, NULL,
                        false},
        {"pod", "NAME", "", "only this pod's captures", &pod, NULL, false},
        {"since", "TIME|DURATION", "", "only captures taken since then (2026-12-07T03:00:00Z, 2h)",
         &since, NULL, false},
        {"output", "FORMAT", "table", "table or json", &output, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    static const char USAGE[] = "--config FILE [--namespace N] [--pod P] [--since TIME|DURATION] "
                                "[--output table|json]";
    char *pos[4];
    size_t npos;
    int r = flags_parse("profiles list", USAGE, FLAGS, argc, argv, pos, &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos || (strcmp(output, "table") && strcmp(output, "json"))) {
        fprintf(stderr, "membudget profiles: usage: membudget profiles list %s\n", USAGE);
        return 2;
    }
    return profiles_list_store(&st, ns, pod, since, output);
}

/* get: each capture named, into DIR under its file name (profname.h). */
static int profiles_get(int argc, char **argv)
{
    struct store st = {0};
    const char *out_dir;
    const struct flag FLAGS[] = {
        STORE_FLAGS(st){"output-dir", "DIR", ".", "where the files go", &out_dir, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    static const char USAGE[] = "KEY|FILE... --config FILE [--output-dir DIR]";
    char *pos[64];
    size_t npos;
    int r = flags_parse("profiles get", USAGE, FLAGS, argc, argv, pos, &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (!npos || npos > 64 || !*st.config) {
        fprintf(stderr, "membudget profiles: usage: membudget profiles get %s\n", USAGE);
        return 2;
    }
    if (!store_open("profiles get", &st))
        return 2;
    int status = 0;
    for (size_t i = 0; i < npos && !status; i++) {
        struct prof_parsed p;
        char file[PROF_NAME_MAX];
        const char *prefix = st.cfg.profiles.s3.prefix ? st.cfg.profiles.s3.prefix : "";
        if (st.s3 && prof_key_parse(pos[i], prefix, &p))
            prof_name(p.ns, p.pod, p.at, p.kind, file, sizeof file);
        else
            snprintf(file, sizeof file, "%s",
                     strrchr(pos[i], '/') ? strrchr(pos[i], '/') + 1 : pos[i]);
        size_t len;
        char *b = store_fetch("profiles get", &st, pos[i], &len);
        struct mb_diag d = {0};
        if (!b || ps_write(out_dir, file, b, len, &d)) {
            if (b)
                fprintf(stderr, "membudget profiles get: %s\n", d.msg);
            status = 1;
        } else {
            printf("%s/%s\t%zu bytes\n", out_dir, file, len);
        }
        mb_free(b);
    }
    store_close(&st);
    return status;
}

int cmd_profiles(int argc, char **argv)
{
    if (argc > 0 && (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))) {
        printf("Usage: membudget profiles list|get|diff [flags]\n\n"
               "  list   the captures of a controller (--address) or of a store (--config)\n"
               "  get    download captures from the store a --config names\n"
               "  diff   what grew between two heap profiles (or goroutine dumps): local files,\n"
               "         or keys of the store a --config names\n\n"
               "membudget profiles VERB --help lists each verb's flags. Without a verb: list.\n");
        return 0;
    }
    if (argc > 0 && strcmp(argv[0], "get") == 0)
        return profiles_get(argc - 1, argv + 1);
    if (argc > 0 && strcmp(argv[0], "diff") == 0)
        return profiles_diff(argc - 1, argv + 1);
    if (argc > 0 && strcmp(argv[0], "list") == 0)
        return profiles_list(argc - 1, argv + 1);
    if (argc > 0 && argv[0][0] != '-') {
        fprintf(stderr, "membudget profiles: unknown verb \"%s\" (list, get or diff)\n", argv[0]);
        return 2;
    }
    return profiles_list_controller(argc, argv);
}
