/*
 * forensics.c -- the captures' analysis on a thread of its own (see
 * forensics.h).
 *
 * A job names a capture's files; the thread reads them (where the
 * controller wrote them, or where the outbox moved them), finds the pod's
 * previous heap profile (locally, then in the bucket), diffs the two and
 * groups the dump, and posts the result to the controller's loop.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "membudget/alloc.h"
#include "membudget/forensics.h"
#include "membudget/gdump.h"
#include "membudget/log.h"
#include "membudget/loop.h"
#include "membudget/outbox.h"
#include "membudget/pprof.h"
#include "membudget/s3.h"

struct fx {
    const struct cfg *cfg;
    struct loop *lp;
    fx_done_fn *done;
    void *ctx;
    struct s3 *s3; /* profiles.store: s3 */
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    struct fx_job q[FX_QUEUE];
    size_t head, n;
};

/* A result on its way to the loop: it may arrive after fx_stop, so it
 * carries what it needs, not the fx. */
struct posted {
    fx_done_fn *done;
    void *ctx;
    struct fx_result *r;
};

static void deliver(void *arg)
{
    struct posted *p = arg;
    p->done(p->ctx, p->r);
    mb_free(p);
}

/* --- reading captures --------------------------------------------------------- */

/* A capture's bytes, from dir/name or outbox/name, at most max. */
static char *read_local(const struct cfg *cfg, const char *name, size_t *len, char *where,
                        size_t wlen)
{
    char dirs[2][1100];
    snprintf(dirs[0], sizeof dirs[0], "%s", cfg->eviction.profile_dir);
    outbox_dir(cfg, dirs[1], sizeof dirs[1]);
    size_t max = (size_t)cfg->eviction.profile_max_bytes;
    /* twice round: the outbox thread may move it from the outbox to the
     * directory between the two looks */
    for (int i = 0; i < 4; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%.1100s/%.256s", dirs[i % 2], name);
        FILE *f = fopen(path, "rbe");
        if (!f)
            continue;
        char *b = mb_xmalloc(max + 1);
        size_t n = fread(b, 1, max + 1, f);
        bool bad = ferror(f) || n > max;
        fclose(f);
        if (bad) {
            mb_free(b);
            return NULL;
        }
        snprintf(where, wlen, "%s", path);
        *len = n;
        return b;
    }
    return NULL;
}

/* The capture's stamp as its names have it: whole seconds (a previous
 * profile is one of an earlier second, never the capture itself). */
static mb_wall_ms stamp_of(const struct fx_job *j) { return j->at - j->at % 1000; }

/* The pod's newest heap profile before `at` in the local directories. */
static bool local_previous(const struct cfg *cfg, const struct fx_job *j, char *name, size_t len)
{
    char dirs[2][1100];
    snprintf(dirs[0], sizeof dirs[0], "%s", cfg->eviction.profile_dir);
    outbox_dir(cfg, dirs[1], sizeof dirs[1]);
    mb_wall_ms best = -1;
    for (int i = 0; i < 2; i++) {
        DIR *d = opendir(dirs[i]);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            struct prof_parsed p;
            if (prof_name_parse(de->d_name, &p) && p.kind == PROF_HEAP && p.at < stamp_of(j) &&
                p.at > best && !strcmp(p.ns, j->ns) && !strcmp(p.pod, j->pod)) {
                best = p.at;
                snprintf(name, len, "%s", de->d_name);
            }
        }
        if (d)
            closedir(d);
    }
    return best >= 0;
}

/* The pod's newest heap profile before `at` in the bucket. */
static char *bucket_previous(struct fx *fx, const struct fx_job *j, size_t *len, char *key,
                             size_t klen, char *why, size_t wlen)
{
    const struct cfg_s3 *c = &fx->cfg->profiles.s3;
    char prefix[1200];
    const char *p = c->prefix ? c->prefix : "";
    snprintf(prefix, sizeof prefix, "%s%s%s/%s/%s/", p, *p ? "/" : "", j->ns,
             *j->owner ? j->owner : "_", j->pod);
    struct s3_page pg;
    struct s3_status st;
    if (s3_list(fx->s3, prefix, 100000, &pg, &st)) {
        snprintf(why, wlen, "%.390s", st.msg);
        return NULL;
    }
    mb_wall_ms best = -1;
    for (size_t i = 0; i < pg.n; i++) {
        struct prof_parsed pp;
        if (prof_key_parse(pg.obj[i].key, p, &pp) && pp.kind == PROF_HEAP && pp.at < stamp_of(j) &&
            pp.at > best) {
            best = pp.at;
            snprintf(key, klen, "%s", pg.obj[i].key);
        }
    }
    s3xml_page_free(&pg);
    if (best < 0) {
        snprintf(why, wlen, "no earlier heap profile of this pod (locally or under %.300s)",
                 prefix);
        return NULL;
    }
    struct mb_buf out;
    if (s3_get(fx->s3, key, (size_t)fx->cfg->eviction.profile_max_bytes, &out, &st)) {
        snprintf(why, wlen, "%.390s", st.msg);
        return NULL;
    }
    *len = out.len;
    return out.p ? mb_buf_take(&out) : mb_xstrdup("");
}

/* --- the analysis ------------------------------------------------------------------ */

static void growth(struct fx *fx, const struct fx_job *j, struct fx_result *r)
{
    size_t clen = 0, blen = 0;
    char where[1400], prev[PROF_NAME_MAX];
    char *cur = read_local(fx->cfg, j->heap, &clen, where, sizeof where), *base = NULL;
    if (!cur) {
        snprintf(r->err, sizeof r->err, "the heap profile %s is gone", j->heap);
        return;
    }
    if (local_previous(fx->cfg, j, prev, sizeof prev))
        base = read_local(fx->cfg, prev, &blen, r->base, sizeof r->base);
    if (!base && fx->s3)
        base = bucket_previous(fx, j, &blen, r->base, sizeof r->base, r->err, sizeof r->err);
    else if (!base)
        snprintf(r->err, sizeof r->err, "no earlier heap profile of this pod");
    struct pprof *a = NULL, *b = NULL;
    struct pprof_delta *dl = NULL;
    size_t n = 0;
    struct mb_diag d = {0};
    if (base && !pprof_decode(base, blen, NULL, &a, &d) && !pprof_decode(cur, clen, NULL, &b, &d) &&
        !pprof_diff(a, b, "inuse_space", PPROF_BY_FLAT, &dl, &n, &d)) {
        char line[480], since[16];
        time_t t = (time_t)(a->time_ns / 1000000000);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(since, sizeof since, "%H:%M:%S", &tm);
        pprof_growth_line(dl, n, 3, "inuse_space", "bytes", line, sizeof line);
        if (*line)
            snprintf(r->growth, sizeof r->growth, "since %s: %s", since, line);
        else
            snprintf(r->err, sizeof r->err, "no function grew since %s", since);
    } else if (base) {
        snprintf(r->err, sizeof r->err, "%s", d.msg);
    }
    mb_free(dl);
    pprof_free(a);
    pprof_free(b);
    mb_free(base);
    mb_free(cur);
}

static void dump(struct fx *fx, const struct fx_job *j, struct fx_result *r)
{
    size_t len;
    char where[1400];
    char *t = read_local(fx->cfg, j->dump, &len, where, sizeof where);
    struct gdump g;
    struct mb_diag d = {0};
    if (t && !gd_parse(t, len, 0, &g, &d)) {
        gd_summary(&g, r->gtop, sizeof r->gtop);
        gd_free(&g);
    } else if (t) {
        log_warn("goroutine dump not understood", "{s:s,s:s}", "file", where, "error", d.msg);
    }
    mb_free(t);
}

static void analyse(struct fx *fx, const struct fx_job *j)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct fx_result *r = mb_xcalloc(1, sizeof *r);
    r->id = j->id;
    memcpy(r->ns, j->ns, sizeof r->ns);
    memcpy(r->pod, j->pod, sizeof r->pod);
    memcpy(r->uid, j->uid, sizeof r->uid);
    if (*j->heap)
        growth(fx, j, r);
    if (*j->dump)
        dump(fx, j, r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    struct posted *p = mb_xmalloc(sizeof *p);
    *p = (struct posted){fx->done, fx->ctx, r};
    loop_post(fx->lp, deliver, p);
}

static void *run(void *arg)
{
    struct fx *fx = arg;
    pthread_mutex_lock(&fx->mu);
    for (;;) {
        while (!fx->stop && !fx->n)
            pthread_cond_wait(&fx->cv, &fx->mu);
        if (fx->stop)
            break;
        struct fx_job j = fx->q[fx->head];
        fx->head = (fx->head + 1) % FX_QUEUE;
        fx->n--;
        pthread_mutex_unlock(&fx->mu);
        analyse(fx, &j);
        mb_trim(); /* a decoded profile is big: give it back */
        pthread_mutex_lock(&fx->mu);
    }
    pthread_mutex_unlock(&fx->mu);
    return NULL;
}

struct fx *fx_start(const struct cfg *cfg, struct loop *lp, fx_done_fn *done, void *ctx,
                    struct mb_diag *d)
{
    struct fx *fx = mb_xcalloc(1, sizeof *fx);
    *fx = (struct fx){.cfg = cfg, .lp = lp, .done = done, .ctx = ctx};
    if (cfg->profiles.store == CFG_STORE_S3 && !(fx->s3 = s3_new(&cfg->profiles.s3))) {
        mb_free(fx);
        mb_diag_set(d, MB_ENOMEM, "libcurl could not make a handle");
        return NULL;
    }
    pthread_mutex_init(&fx->mu, NULL);
    pthread_cond_init(&fx->cv, NULL);
    if (pthread_create(&fx->thread, NULL, run, fx)) {
        mb_diag_set(d, MB_EIO, "the forensics thread could not start");
        fx_stop(fx);
        return NULL;
    }
    fx->started = true;
    return fx;
}

bool fx_submit(struct fx *fx, const struct fx_job *job)
{
    pthread_mutex_lock(&fx->mu);
    bool ok = fx->n < FX_QUEUE && !fx->stop;
    if (ok) {
        fx->q[(fx->head + fx->n) % FX_QUEUE] = *job;
        fx->n++;
        pthread_cond_signal(&fx->cv);
    }
    pthread_mutex_unlock(&fx->mu);
    return ok;
}

void fx_stop(struct fx *fx)
{
    if (!fx)
        return;
    pthread_mutex_lock(&fx->mu);
    fx->stop = true;
    pthread_cond_signal(&fx->cv);
    pthread_mutex_unlock(&fx->mu);
    if (fx->started)
        pthread_join(fx->thread, NULL);
    s3_free(fx->s3);
    pthread_cond_destroy(&fx->cv);
    pthread_mutex_destroy(&fx->mu);
    mb_free(fx);
}
