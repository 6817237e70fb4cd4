/* fuzz_record.c -- what membudget reads back from places others can write:
 * the remediation record (a pod condition's message), capture file names
 * (a directory), and the recommender fed any peaks at any times.
 *   byte 0 % 3 == 0: the rest is a record: parsed; a record that parses
 *                    formats to one that parses to the same values;
 *                 1: a file name: parsed; a name that parses is rebuilt
 *                    from its parts into one that parses the same;
 *                 2: (value, time) pairs into a histogram: quantiles in
 *                    order, within the range. */
#include <stdint.h>
#include <string.h>
#include "membudget/planner.h"
#include "membudget/profname.h"
#include "membudget/recommend.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void record(const char *s)
{
    struct pl_record r, back;
    char text[256];
    if (!pl_record_parse(s, &r))
        return;
    pl_record_format(&r, text, sizeof text);
    if (!pl_record_parse(text, &back) || back.tier != r.tier || back.ooms != r.ooms ||
        back.oom_restarts != r.oom_restarts || back.memlimit != r.memlimit ||
        back.memlimit_restarts != r.memlimit_restarts || back.has_gc != r.has_gc ||
        back.has_profile != r.has_profile)
        __builtin_trap();
}

static void file_name(const char *s)
{
    struct prof_parsed p, back;
    char name[PROF_NAME_MAX];
    if (!prof_name_parse(s, &p))
        return;
    prof_name(p.ns, p.pod, p.at, p.kind, name, sizeof name);
    if (!prof_name_parse(name, &back) || back.at != p.at || back.kind != p.kind)
        __builtin_trap();
}

static void histogram(const uint8_t *d, size_t n)
{
    struct rc_hist h = {0};
    uint32_t t = 0;
    for (size_t i = 0; i + 6 <= n; i += 6) {
        uint64_t v = 0;
        memcpy(&v, d + i, 4);
        int64_t bytes = (int64_t)(v << (d[i + 4] % 24)); /* up to ~64 PiB */
        t += d[i + 5];
        rc_hist_add(&h, bytes, t, 1 + d[i + 5] % 7);
    }
    int64_t q50, q95, q100;
    if (!rc_hist_quantile(&h, 0.5, &q50))
        return;
    if (!rc_hist_quantile(&h, 0.95, &q95) || !rc_hist_quantile(&h, 1.0, &q100) || q50 > q95 ||
        q95 > q100 || q50 < 0 || (h.scale && (double)q100 > 2.0 * (double)((int64_t)1 << h.scale)))
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char s[512];
    if (size < 1)
        return 0;
    size_t n = size - 1 < sizeof s - 1 ? size - 1 : sizeof s - 1;
    memcpy(s, data + 1, n);
    s[n] = '\0';
    switch (data[0] % 3) {
    case 0:
        record(s);
        break;
    case 1:
        file_name(s);
        break;
    default:
        histogram(data + 1, size - 1);
    }
    return 0;
}
