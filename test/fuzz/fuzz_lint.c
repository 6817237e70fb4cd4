/* fuzz_lint.c -- manifests through lint: document splitting, UTF-8 checks,
 * positions of field paths, every output format. */
#include <stdint.h>
#include "membudget/lint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum lint_format F[] = {LINT_TEXT, LINT_JSON, LINT_GITHUB};
    struct policy_conf conf;
    struct lint_kind kind;
    char why[128];
    struct lint_opts o = {.conf = &conf, .kinds = &kind, .nkinds = 1};
    struct lint_stats st = {0};
    struct mb_buf out;

    if (size > 1 << 16)
        return 0;
    policy_conf_defaults(&conf);
    if (!lint_kind_parse(LINT_DEFAULT_KINDS[0], &kind, why, sizeof why))
        __builtin_trap();
    o.format = F[size % 3];
    mb_buf_init(&out, 1 << 24);
    lint_buffer(&o, "f.yaml", (const char *)data, size, &out, &st);
    mb_buf_cleanup(&out);
    return 0;
}
