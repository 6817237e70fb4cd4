/* fuzz_annot.c -- annotation values: the input is split into a key index
 * and a value, parsed as that annotation, then resolved against a
 * container with ports. */
#include <stdint.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/annot.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const KEYS[] = {ANN_BUDGET,  ANN_CONTAINER,  ANN_TIERS,    ANN_USAGE,
                                   ANN_METRICS, ANN_GC,         ANN_THROTTLE, ANN_PROFILE,
                                   ANN_MODE,    ANN_GOROUTINES, ANN_MEMLIMIT, "membudget.io/x"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *a, *v, *c;
    struct ann ann;
    struct ann_errors e = {0};
    char why[256];

    if (size < 1)
        return 0;
    v = json_stringn((const char *)data + 1, size - 1);
    if (!v)
        return 0; /* not UTF-8: jansson (and the API server) never hand us that */
    a = json_object();
    json_object_set_new(a, KEYS[data[0] % MB_ARRAY_LEN(KEYS)], v);
    if (data[0] & 0x80)
        json_object_set_new(a, ANN_METRICS, json_string("6060/metrics"));
    ann_parse(a, &ann, &e);
    c = json_pack("{s:s,s:[{s:s,s:i},{s:i}]}", "name", "api", "ports", "name", "debug",
                  "containerPort", 6060, "containerPort", 8080);
    if (ann.metrics.set)
        ann_resolve_endpoint(&ann.metrics, c, "spec.containers[0].ports", why, sizeof why);
    if (ann.gc.set)
        ann_resolve_endpoint(&ann.gc, c, "spec.containers[0].ports", why, sizeof why);
    for (size_t i = 0; i < e.n; i++)
        if (strlen(e.v[i].msg) >= sizeof e.v[i].msg)
            __builtin_trap();
    ann_errors_cleanup(&e);
    json_decref(c);
    json_decref(a);
    return 0;
}
