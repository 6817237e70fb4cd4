/* recommend_bench.c -- the recommender's memory per owner, its cost per peak
 * and how far its p95 is from the exact one (make bench).
 *
 *   owners  bytes/owner (the table's count, malloc's)  ns/peak  p95 error
 *
 * Owners are named like Deployments ("checkout-api-42" in "team-7"); each gets
 * 48 peaks (a day at one peak per 30 min) drawn around its own size. The p95
 * error is against the exact p95 of the same peaks (no decay: one time). */
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "membudget/recommend.h"

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rnd = 88172645463325252ULL;
static double uniform(void)
{
    rnd ^= rnd << 13;
    rnd ^= rnd >> 7;
    rnd ^= rnd << 17;
    return (double)(rnd >> 11) / 9007199254740992.0;
}

int main(void)
{
    static const size_t SIZES[] = {1000, 10000, 100000};
    /* BENCH_QUICK (make bench-quick): the smallest size only. */
    const size_t nsizes =
        getenv("BENCH_QUICK") && *getenv("BENCH_QUICK") ? 1 : sizeof SIZES / sizeof *SIZES;
    const int PEAKS = 48;
    struct rc_conf conf = {.margin_pct = 15, .half_life_s = 86400};
    printf("recommender: %zu-byte decaying record (rc_hist) per owner\n", sizeof(struct rc_hist));
    printf("%8s %12s %14s %12s %14s %14s\n", "owners", "table B/own", "malloc B/own", "ns/peak",
           "p95 |err| avg", "p95 |err| max");
    for (size_t si = 0; si < nsizes; si++) {
        size_t n = SIZES[si];
        struct mallinfo2 m0 = mallinfo2();
        struct rc_table *t = rc_new();
        char ns[32], name[64];
        double t0 = now_ns(), errsum = 0, errmax = 0;
        int64_t peaks[64];
        for (size_t i = 0; i < n; i++) {
            snprintf(ns, sizeof ns, "team-%zu", i % 97);
            snprintf(name, sizeof name, "checkout-api-%zu", i);
            struct rc_owner *o = rc_owner(t, ns, "Deployment", name);
            double base = (64 + uniform() * 4000) * 1048576.0; /* 64 MiB .. 4 GiB */
            for (int k = 0; k < PEAKS; k++) {
                peaks[k] = (int64_t)(base * (0.7 + 0.6 * uniform()));
                rc_peak(o, &conf, peaks[k], 0, 1000);
            }
            qsort(peaks, PEAKS, sizeof *peaks, cmp_i64);
            /* the exact p95 (nearest rank) */
            int64_t exact = peaks[(int)ceil(0.95 * PEAKS) - 1], got;
            rc_hist_quantile(&o->h, RC_QUANTILE, &got);
            double err = ((double)got - (double)exact) / (double)exact;
            errsum += fabs(err);
            if (fabs(err) > errmax)
                errmax = fabs(err);
        }
        double ns_per_peak = (now_ns() - t0) / ((double)n * PEAKS);
        struct mallinfo2 m1 = mallinfo2();
        printf("%8zu %12.0f %14.0f %12.0f %13.1f%% %13.1f%%\n", n, (double)rc_bytes(t) / (double)n,
               (double)(m1.uordblks - m0.uordblks) / (double)n, ns_per_peak,
               100 * errsum / (double)n, 100 * errmax);
        rc_free(t);
    }
    return 0;
}
