/* fuzz_gdump.c -- the goroutine dump parser on any bytes: an error, or
 * groups whose counts add up to the total, never a crash. */
#include <stdint.h>
#include "membudget/gdump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gdump g;
    struct mb_diag d = {0};
    if (gd_parse((const char *)data, size, 8, &g, &d)) {
        MB_ASSERT(g.ngroups == 0 && d.msg[0]);
        return 0;
    }
    uint64_t sum = g.other;
    for (size_t i = 0; i < g.ngroups; i++) {
        sum += g.group[i].count;
        MB_ASSERT(i == 0 || g.group[i - 1].count >= g.group[i].count);
    }
    MB_ASSERT(sum == g.total && g.ngroups <= 8);
    char s[128];
    gd_summary(&g, s, sizeof s);
    gd_free(&g);
    return 0;
}
