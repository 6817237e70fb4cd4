/* pprof_bench.c -- make bench's figures for the forensics (issue 34):
 *
 *   pprof_bench decode BASE CUR [ROUNDS]
 *       decode each profile and diff them, ROUNDS times: the median of each
 *       step, and the peak RSS (figures, never asserted)
 *   pprof_bench store ENDPOINT BUCKET KEYDIR PROFILE_URL SPOOL [ROUNDS]
 *       the path of a capture from the decision to the object stored: GET
 *       the profile from a pod (PROFILE_URL, a loopback server standing in
 *       for the pod's pprof endpoint), write it to the outbox, and wait
 *       until the outbox thread has it in the bucket (KEYDIR/access-key and
 *       secret-key); the median and the worst of ROUNDS
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/config.h"
#include "membudget/metrics.h"
#include "membudget/outbox.h"
#include "membudget/pprof.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return v[n / 2];
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = mb_xmalloc((size_t)n + 1);
    *len = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static int decode(const char *base, const char *cur, int rounds)
{
    size_t bl, cl;
    char *b = slurp(base, &bl), *c = slurp(cur, &cl);
    double *td = mb_xcalloc((size_t)rounds, sizeof *td),
           *tf = mb_xcalloc((size_t)rounds, sizeof *tf);
    size_t nfn = 0, nsamples = 0, nchanged = 0;
    char line[512] = "";
    for (int r = 0; r < rounds; r++) {
        struct pprof *pb, *pc;
        struct pprof_delta *dl;
        struct mb_diag d = {0};
        double t0 = now_s();
        if (pprof_decode(b, bl, NULL, &pb, &d) || pprof_decode(c, cl, NULL, &pc, &d)) {
            fprintf(stderr, "decode: %s\n", d.msg);
            return 1;
        }
        double t1 = now_s();
        if (pprof_diff(pb, pc, "inuse_space", PPROF_BY_FLAT, &dl, &nchanged, &d)) {
            fprintf(stderr, "diff: %s\n", d.msg);
            return 1;
        }
        pprof_growth_line(dl, nchanged, 3, "inuse_space", "bytes", line, sizeof line);
        double t2 = now_s();
        td[r] = (t1 - t0) / 2; /* per profile */
        tf[r] = t2 - t1;
        nfn = pc->nfn;
        nsamples = pc->nsamples;
        mb_free(dl);
        pprof_free(pb);
        pprof_free(pc);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("pprof decode: %zu + %zu bytes gzipped, %zu samples, %zu functions: %.1f ms per "
           "profile (median of %d)\n",
           bl, cl, nsamples, nfn, median(td, rounds) * 1e3, rounds);
    printf("pprof diff: %zu functions changed: %.1f ms (median of %d); whole analysis %.1f ms; "
           "peak RSS %ld MiB\n",
           nchanged, median(tf, rounds) * 1e3, rounds,
           (2 * median(td, rounds) + median(tf, rounds)) * 1e3, ru.ru_maxrss / 1024);
    printf("  growth line: %s\n", line);
    mb_free(td);
    mb_free(tf);
    mb_free(b);
    mb_free(c);
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    return mb_buf_add(arg, p, sz * n) ? 0 : sz * n;
}

static double delivered(struct outbox *ob)
{
    json_t *j = outbox_json(ob);
    double v = (double)json_integer_value(json_object_get(j, "delivered"));
    json_decref(j);
    return v;
}

static int store(char **argv, int rounds)
{
    struct cfg cfg;
    cfg_defaults(&cfg);
    mb_free(cfg.eviction.profile_dir);
    cfg.eviction.profile_dir = mb_xstrdup(argv[4]);
    cfg.profiles.store = CFG_STORE_S3;
    cfg.profiles.s3.endpoint = mb_xstrdup(argv[0]);
    cfg.profiles.s3.bucket = mb_xstrdup(argv[1]);
    cfg.profiles.s3.path_style = true;
    cfg.profiles.s3.access_key_file = mb_xasprintf("%s/access-key", argv[2]);
    cfg.profiles.s3.secret_key_file = mb_xasprintf("%s/secret-key", argv[2]);
    struct mx *mx = mx_new();
    struct mb_diag d = {0};
    struct outbox *ob = outbox_start(&cfg, mx, &d);
    if (!ob) {
        fprintf(stderr, "outbox: %s\n", d.msg);
        return 1;
    }
    CURL *e = curl_easy_init();
    double *t = mb_xcalloc((size_t)rounds + 1, sizeof *t);
    size_t bytes = 0;
    /* round 0 is the warm-up (a fresh SeaweedFS allocates its first volume): not counted */
    for (int r = -1; r < rounds; r++) {
        struct mb_buf body;
        mb_buf_init(&body, 64u << 20);
        double before = delivered(ob), t0 = now_s();
        curl_easy_setopt(e, CURLOPT_URL, argv[3]);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
        if (curl_easy_perform(e) != CURLE_OK) {
            fprintf(stderr, "GET %s failed\n", argv[3]);
            return 1;
        }
        char file[128], key[256];
        snprintf(file, sizeof file, "bench_pod-%d_20261207T0300%02dZ.pb.gz", r + 1, (r + 1) % 60);
        snprintf(key, sizeof key, "bench/ns/owner/pod-%d/2026-12-07T03:00:%02dZ.heap.pb.gz", r + 1,
                 (r + 1) % 60);
        const struct s3_meta meta[] = {{"reason", "evict"}};
        if (outbox_put(ob, file, key, meta, 1, body.p, body.len, &d)) {
            fprintf(stderr, "outbox: %s\n", d.msg);
            return 1;
        }
        while (delivered(ob) <= before && now_s() - t0 < 60)
            usleep(1000);
        if (r >= 0)
            t[r] = now_s() - t0;
        bytes = body.len;
        mb_buf_cleanup(&body);
    }
    double worst = 0;
    for (int r = 0; r < rounds; r++)
        worst = t[r] > worst ? t[r] : worst;
    printf("capture to object stored: %zu bytes fetched, queued, PUT to SeaweedFS: median %.1f ms, "
           "worst %.1f ms (%d rounds)\n",
           bytes, median(t, rounds) * 1e3, worst * 1e3, rounds);
    curl_easy_cleanup(e);
    outbox_stop(ob);
    mx_free(mx);
    cfg_cleanup(&cfg);
    mb_free(t);
    return 0;
}

int main(int argc, char **argv)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (argc >= 4 && !strcmp(argv[1], "decode"))
        return decode(argv[2], argv[3], argc > 4 ? atoi(argv[4]) : 5);
    if (argc >= 7 && !strcmp(argv[1], "store"))
        return store(argv + 2, argc > 7 ? atoi(argv[7]) : 10);
    fprintf(stderr, "usage: pprof_bench decode BASE CUR [ROUNDS] | store ENDPOINT BUCKET KEYDIR "
                    "PROFILE_URL SPOOL [ROUNDS]\n");
    return 2;
}
