/* fuzz_pprof.c -- the pprof decoder (gzipped or not) and the diff on any
 * bytes: an error or a profile whose figures hold together, never a crash.
 * The limits are small so that the fuzzer reaches them. */
#include <stdint.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pprof_limits lim = {.max_gz = 1 << 20,
                               .max_raw = 4 << 20,
                               .max_mem = 64 << 20,
                               .max_samples = 1 << 16,
                               .max_depth = 256,
                               .max_functions = 1 << 16};
    struct pprof *p = NULL;
    struct mb_diag d = {0};
    if (pprof_decode(data, size, &lim, &p, &d)) {
        MB_ASSERT(p == NULL && d.msg[0]);
        return 0;
    }
    MB_ASSERT(p->ntypes >= 1 && p->nsamples <= lim.max_samples && p->nfn <= lim.max_functions);
    for (size_t i = 1; i < p->nfn; i++)
        MB_ASSERT(strcmp(p->fn[i - 1].name, p->fn[i].name) < 0);
    struct pprof_delta *dl;
    size_t n;
    MB_ASSERT(pprof_diff(p, p, p->type[0], PPROF_BY_FLAT, &dl, &n, &d) == MB_OK && n == 0);
    mb_free(dl);
    char line[256];
    struct pprof_delta one = {p->nfn ? p->fn[0].name : "x", 1, 1};
    pprof_growth_line(&one, 1, 3, p->type[0], p->unit[0], line, sizeof line);
    pprof_free(p);
    return 0;
}
