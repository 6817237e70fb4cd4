/* fuzz_config.c -- config files and, through them, the YAML loader. */
#include <stdint.h>
#include "membudget/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg c;
    struct mb_diag d = {0};

    if (cfg_parse((const char *)data, size, "fuzz.yaml", &c, &d) == MB_OK)
        cfg_cleanup(&c);
    return 0;
}
