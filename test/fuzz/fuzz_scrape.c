/* fuzz_scrape.c -- the Prometheus text and expvar readers on any bytes. */
#include <math.h>
#include <stdint.h>
#include "membudget/expvar.h"
#include "membudget/promtext.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct prom_want w[] = {{"go_memstats_heap_inuse_bytes", 0, false},
                            {"process_resident_memory_bytes", 0, false},
                            {"go_goroutines", 0, false}};
    struct expvar_mem m;
    mb_err e = prom_scan((const char *)data, size, w, 3, NULL);
    if (e)
        for (int i = 0; i < 3; i++)
            MB_ASSERT(!w[i].found);
    (void)expvar_parse((const char *)data, size, &m, NULL);
    return 0;
}
