/* fuzz_ydoc.c -- YAML streams to JSON with small limits (aliases, depth). */
#include <stdint.h>
#include "membudget/ydoc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ydoc_stream *s = NULL;
    struct ydoc_limits lim = {.max_depth = 64, .max_nodes = 20000};

    if (ydoc_parse((const char *)data, size, &lim, &s, NULL) != MB_OK)
        return 0;
    for (size_t i = 0; i < s->ndocs; i++) {
        json_t *j = NULL;
        if (ydoc_to_json(s->docs[i], &lim, &j, NULL) == MB_OK)
            json_decref(j);
    }
    ydoc_free(s);
    return 0;
}
