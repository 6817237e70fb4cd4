/*
 * outbox.c -- captures on their way to the object store (see outbox.h).
 *
 * The thread's loop: list the directory (complete captures only: a data
 * file with its NAME.json), drop the oldest past the byte cap, and upload
 * the oldest one left unless the backoff says to wait; then sleep until
 * the next attempt is due or outbox_put signals. One mutex guards the
 * counters and the condition; the directory itself is the queue, so a
 * restart loses nothing that reached it.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "membudget/alloc.h"
#include "membudget/backoff.h"
#include "membudget/jsonx.h"
#include "membudget/log.h"
#include "membudget/outbox.h"
#include "membudget/profname.h"
#include "membudget/profstore.h"

#define OUTBOX_BACKOFF_BASE_MS 1000
#define OUTBOX_BACKOFF_MAX_MS (5 * 60 * 1000)
#define OUTBOX_RESCAN_MS 30000              /* a look at the directory at least this often */
#define OUTBOX_META_MAX 16384               /* NAME.json */
#define OUTBOX_LOG_AGAIN_MS (5 * 60 * 1000) /* the same failure, logged again after */

struct outbox {
    const struct cfg *cfg;
    char dir[1100], done_dir[1100];
    struct s3 *s3;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool kicked;
    /* the thread's own */
    struct backoff bo;
    uint64_t rnd, next_ms; /* monotonic: no attempt before next_ms */
    char last_err[400];
    uint64_t last_logged_ms;
    /* under mu, for /debug/profiles */
    size_t queued;
    uint64_t bytes, delivered, dropped;
    char shown_err[400];
    struct mx_family *m_uploads, *m_queue_bytes, *m_queue_n, *m_seconds;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void outbox_dir(const struct cfg *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "%s/outbox", cfg->eviction.profile_dir);
}

/* --- the queue, as the directory holds it ----------------------------------- */

struct entry {
    char name[PROF_NAME_MAX];
    uint64_t bytes;
    mb_wall_ms at;
};

static int by_stamp(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The complete captures (data and NAME.json), oldest first, in *out. */
static size_t scan(const char *dir, struct entry **out)
{
    DIR *d = opendir(dir);
    size_t n = 0, cap = 0;
    *out = NULL;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        struct prof_parsed pp;
        struct stat st, sm;
        char path[1400], meta[1400];
        if (!prof_name_parse(de->d_name, &pp))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(meta, sizeof meta, "%.1390s.json", path);
        if (stat(path, &st) || !S_ISREG(st.st_mode) || stat(meta, &sm))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            *out = mb_xrealloc(*out, cap * sizeof **out);
        }
        struct entry *e = &(*out)[n++];
        snprintf(e->name, sizeof e->name, "%s", de->d_name);
        e->bytes = (uint64_t)st.st_size + (uint64_t)sm.st_size;
        e->at = pp.at;
    }
    closedir(d);
    if (n)
        qsort(*out, n, sizeof **out, by_stamp);
    return n;
}

static void remove_entry(const char *dir, const char *name)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    unlink(path);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* Past the cap: the oldest go (prof_retain decides, as for the directory). */
static size_t enforce(struct outbox *ob, struct entry *e, size_t n)
{
    struct prof_file *f = mb_xcalloc(n + 1, sizeof *f);
    for (size_t i = 0; i < n; i++)
        f[i] = (struct prof_file){.name = e[i].name, .bytes = e[i].bytes, .at = e[i].at};
    size_t dropped = prof_retain(f, n, (uint64_t)ob->cfg->profiles.queue_max_bytes, PROF_MAX_FILES);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!f[i].del) {
            e[kept++] = e[i];
            continue;
        }
        remove_entry(ob->dir, e[i].name);
        log_warn("capture dropped from the outbox: over profiles.queueMaxBytes while the store "
                 "is unreachable",
                 "{s:s,s:I,s:I}", "file", e[i].name, "bytes", (json_int_t)e[i].bytes,
                 "queueMaxBytes", (json_int_t)ob->cfg->profiles.queue_max_bytes);
        mx_add(ob->m_uploads, (const char *[]){"dropped"}, 1);
    }
    mb_free(f);
    pthread_mutex_lock(&ob->mu);
    ob->dropped += dropped;
    pthread_mutex_unlock(&ob->mu);
    return kept;
}

/* A whole file of at most max bytes (a capture the controller wrote, so
 * the bound is its own profileMaxBytes). */
static char *slurp(const char *path, size_t max, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rbe");
    if (!f) {
        snprintf(why, whylen, "%s", strerror(errno));
        return NULL;
    }
    char *buf = mb_xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    if (bad || n > max) {
        snprintf(why, whylen, "%s", bad ? "read error" : "larger than eviction.profileMaxBytes");
        mb_free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* --- one upload ---------------------------------------------------------------- */

/* Read NAME.json: the key and up to 8 metadata pairs (strings kept in j). */
static bool read_meta(const char *dir, const char *name, json_t **j, const char **key,
                      struct s3_meta *meta, size_t *nmeta, char *why, size_t whylen)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    json_error_t je;
    *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    *key = *j ? json_string_value(json_object_get(*j, "key")) : NULL;
    if (!*key) {
        snprintf(why, whylen, "%.400s: %s", path, *j ? "no \"key\"" : je.text);
        return false;
    }
    *nmeta = 0;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(*j, "meta"), k, v)
    {
        if (*nmeta < 8 && json_is_string(v))
            meta[(*nmeta)++] = (struct s3_meta){k, json_string_value(v)};
    }
    return true;
}

/* One log line per cause (the status and S3's code, or what curl said),
 * not per request: a store that refuses every capture the same way says
 * so once, then every OUTBOX_LOG_AGAIN_MS while it lasts. */
static void log_failure(struct outbox *ob, const struct s3_status *st, uint64_t wait_ms,
                        size_t queued)
{
    char cause[400];
    const char *tail = strrchr(st->msg, ':');
    snprintf(cause, sizeof cause, "%ld %s %.300s", st->http, st->code,
             st->http || !tail ? "" : tail);
    uint64_t now = mono_ms();
    if (!strcmp(cause, ob->last_err) && now - ob->last_logged_ms < OUTBOX_LOG_AGAIN_MS)
        return;
    snprintf(ob->last_err, sizeof ob->last_err, "%s", cause);
    ob->last_logged_ms = now;
    const char *what = st->auth   ? "the object store refused membudget's credentials: check the "
                                    "key files of profiles.s3 and the bucket's policy"
                       : st->http ? "the object store refused an upload"
                                  : "the object store is unreachable";
    log_error(what, "{s:s,s:s,s:f,s:I}", "error", st->msg, "code", st->code, "retryInSeconds",
              (double)wait_ms / 1000.0, "queued", (json_int_t)queued);
}

/* Upload e; Returns true when it was delivered (or cannot ever be). */
static bool deliver(struct outbox *ob, const struct entry *e, size_t queued)
{
    char path[1400], why[600];
    json_t *j = NULL;
    const char *key;
    struct s3_meta meta[8];
    size_t nmeta, len;
    if (!read_meta(ob->dir, e->name, &j, &key, meta, &nmeta, why, sizeof why)) {
        log_error("capture dropped from the outbox: its metadata cannot be read", "{s:s}", "error",
                  why);
        remove_entry(ob->dir, e->name);
        json_decref(j);
        return true;
    }
    snprintf(path, sizeof path, "%s/%s", ob->dir, e->name);
    char *body = slurp(path, (size_t)ob->cfg->eviction.profile_max_bytes, &len, why, sizeof why);
    if (!body) {
        log_error("capture dropped from the outbox: it cannot be read", "{s:s,s:s}", "file", path,
                  "error", why);
        remove_entry(ob->dir, e->name);
        json_decref(j);
        return true;
    }
    struct s3_status st;
    const char *type =
        strstr(e->name, ".goroutines.txt") ? "text/plain" : "application/octet-stream";
    mb_err err = s3_put(ob->s3, key, body, len, type, meta, nmeta, &st);
    mx_observe(ob->m_seconds, (const char *[]){"put"}, st.seconds);
    mb_free(body);
    if (!err) {
        char done[1400];
        snprintf(done, sizeof done, "%s/%s", ob->done_dir, e->name);
        if (rename(path, done)) /* the local copy is a convenience: never a reason to resend */
            unlink(path);
        snprintf(path, sizeof path, "%s/%s.json", ob->dir, e->name);
        unlink(path);
        log_info("capture stored", "{s:s,s:I,s:f}", "key", key, "bytes", (json_int_t)len, "seconds",
                 st.seconds);
        mx_add(ob->m_uploads, (const char *[]){"ok"}, 1);
        backoff_reset(&ob->bo);
        ob->last_err[0] = '\0';
        pthread_mutex_lock(&ob->mu);
        ob->delivered++;
        ob->shown_err[0] = '\0';
        pthread_mutex_unlock(&ob->mu);
    } else if (!atomic_load(&ob->stop)) {
        uint64_t wait = backoff_next(&ob->bo, backoff_rand(&ob->rnd), 0);
        ob->next_ms = mono_ms() + wait;
        mx_add(ob->m_uploads, (const char *[]){"retried"}, 1);
        log_failure(ob, &st, wait, queued);
        pthread_mutex_lock(&ob->mu);
        snprintf(ob->shown_err, sizeof ob->shown_err, "%.399s", st.msg);
        pthread_mutex_unlock(&ob->mu);
    }
    json_decref(j);
    return !err;
}

/* --- the thread ------------------------------------------------------------------ */

static void publish(struct outbox *ob, const struct entry *e, size_t n)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += e[i].bytes;
    mx_set(ob->m_queue_bytes, NULL, (double)bytes);
    mx_set(ob->m_queue_n, NULL, (double)n);
    pthread_mutex_lock(&ob->mu);
    ob->queued = n;
    ob->bytes = bytes;
    pthread_mutex_unlock(&ob->mu);
}

static void wait_for(struct outbox *ob, uint64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&ob->mu);
    while (!ob->kicked && !atomic_load(&ob->stop))
        if (pthread_cond_timedwait(&ob->cv, &ob->mu, &ts) == ETIMEDOUT)
            break;
    ob->kicked = false;
    pthread_mutex_unlock(&ob->mu);
}

static void *run(void *arg)
{
    struct outbox *ob = arg;
    while (!atomic_load(&ob->stop)) {
        struct entry *e;
        size_t n = scan(ob->dir, &e);
        n = enforce(ob, e, n);
        publish(ob, e, n);
        uint64_t now = mono_ms(), sleep_ms = OUTBOX_RESCAN_MS;
        if (n && now >= ob->next_ms && deliver(ob, &e[0], n))
            sleep_ms = 0; /* the next one at once */
        else if (n && ob->next_ms > now)
            sleep_ms = ob->next_ms - now;
        mb_free(e);
        if (sleep_ms)
            wait_for(ob, sleep_ms);
    }
    return NULL;
}

static const double STORE_BUCKETS[] = {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

struct outbox *outbox_start(const struct cfg *cfg, struct mx *mx, struct mb_diag *d)
{
    struct outbox *ob = mb_xcalloc(1, sizeof *ob);
    ob->cfg = cfg;
    outbox_dir(cfg, ob->dir, sizeof ob->dir);
    snprintf(ob->done_dir, sizeof ob->done_dir, "%s", cfg->eviction.profile_dir);
    if ((mkdir(ob->done_dir, 0750) && errno != EEXIST) ||
        (mkdir(ob->dir, 0750) && errno != EEXIST)) {
        mb_diag_set(d, MB_EIO, "%s: %s", ob->dir, strerror(errno));
        mb_free(ob);
        return NULL;
    }
    ob->s3 = s3_new(&cfg->profiles.s3);
    if (!ob->s3) {
        mb_diag_set(d, MB_ENOMEM, "libcurl could not make a handle");
        mb_free(ob);
        return NULL;
    }
    s3_set_abort(ob->s3, &ob->stop);
    backoff_init(&ob->bo, OUTBOX_BACKOFF_BASE_MS, OUTBOX_BACKOFF_MAX_MS);
    ob->rnd = mono_ms() ^ (uint64_t)getpid();
    ob->m_uploads =
        mx_counter(mx, "membudget_profile_uploads_total",
                   "Captures sent to the object store: ok (stored), retried (an attempt "
                   "failed; it stays queued), dropped (the oldest, past "
                   "profiles.queueMaxBytes).",
                   1, (const char *[]){"result"});
    ob->m_queue_bytes =
        mx_gauge(mx, "membudget_profile_queue_bytes",
                 "Bytes of captures waiting in the outbox for the object store.", 0, NULL);
    ob->m_queue_n = mx_gauge(mx, "membudget_profile_queue_captures",
                             "Files waiting in the outbox for the object store.", 0, NULL);
    ob->m_seconds =
        mx_histogram(mx, "membudget_profile_store_seconds",
                     "Time of each request to the object store, failed ones included.", 1,
                     (const char *[]){"op"}, STORE_BUCKETS, MB_ARRAY_LEN(STORE_BUCKETS));
    pthread_mutex_init(&ob->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ob->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&ob->thread, NULL, run, ob)) {
        mb_diag_set(d, MB_EIO, "the outbox thread could not start");
        outbox_stop(ob);
        return NULL;
    }
    ob->started = true;
    return ob;
}

void outbox_stop(struct outbox *ob)
{
    if (!ob)
        return;
    pthread_mutex_lock(&ob->mu);
    atomic_store(&ob->stop, true);
    pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
    if (ob->started)
        pthread_join(ob->thread, NULL);
    s3_free(ob->s3);
    pthread_cond_destroy(&ob->cv);
    pthread_mutex_destroy(&ob->mu);
    mb_free(ob);
}

mb_err outbox_put(struct outbox *ob, const char *file, const char *key, const struct s3_meta *meta,
                  size_t nmeta, const void *body, size_t len, struct mb_diag *d)
{
    json_t *m = json_object();
    for (size_t i = 0; i < nmeta; i++)
        json_object_set_new(m, meta[i].name, json_string(meta[i].value));
    json_t *j = json_pack("{s:s,s:o}", "key", key, "meta", m);
    size_t jl;
    char *text = mb_json_dumps(j, JSON_COMPACT, &jl), name[PROF_NAME_MAX + 8];
    json_decref(j);
    snprintf(name, sizeof name, "%s.json", file);
    /* the metadata first: a data file in the outbox always has it */
    mb_err e = ps_write(ob->dir, name, text, jl, d);
    mb_free(text);
    if (!e && (e = ps_write(ob->dir, file, body, len, d))) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", ob->dir, name);
        unlink(path);
    }
    if (e)
        return e;
    pthread_mutex_lock(&ob->mu);
    ob->kicked = true;
    pthread_cond_signal(&ob->cv);
    pthread_mutex_unlock(&ob->mu);
    return MB_OK;
}

json_t *outbox_json(struct outbox *ob)
{
    pthread_mutex_lock(&ob->mu);
    json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:s}", "dir", ob->dir, "queued",
                          (json_int_t)ob->queued, "bytes", (json_int_t)ob->bytes, "maxBytes",
                          (json_int_t)ob->cfg->profiles.queue_max_bytes, "delivered",
                          (json_int_t)ob->delivered, "dropped", (json_int_t)ob->dropped,
                          "lastError", ob->shown_err);
    pthread_mutex_unlock(&ob->mu);
    return j;
}
