/* fuzz_quantity.c -- quantities: never crash; anything accepted round-trips
 * through qty_format. */
#include <stdint.h>
#include "membudget/quantity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int64_t b, back;
    bool rounded;
    char out[QTY_FMT_LEN];

    if (qty_parse((const char *)data, size, &b, &rounded, NULL) != MB_OK)
        return 0;
    if (b < 0)
        __builtin_trap();
    qty_format(b, out);
    if (qty_parse_str(out, &back, NULL) != MB_OK || back != b)
        __builtin_trap();
    return 0;
}
