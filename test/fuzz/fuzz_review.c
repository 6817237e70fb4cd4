/* fuzz_review.c -- the whole admission decision on arbitrary bytes: decode,
 * policy (validate and mutate, enforce and audit), encode. */
#include <stdint.h>
#include <string.h>
#include "membudget/admrev.h"
#include "membudget/alloc.h"
#include "membudget/arena.h"
#include "membudget/review.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct review_conf conf = {0};
    struct review_out out;
    static struct mb_arena arena;
    static bool init;

    if (!init) {
        mb_arena_init(&arena, 8192);
        mb_arena_set_limit(&arena, 256 * 1024); /* the too-large path, within -max_len */
        mb_alloc_install_json();
        init = true;
    }

    policy_conf_defaults(&conf.policy);
    conf.policy.default_budget_pct = size & 1 ? 90 : 0;
    conf.own_ns = "membudget";
    for (int ep = 0; ep < 2; ep++) {
        review_handle(&conf, ep ? REVIEW_MUTATE : REVIEW_VALIDATE,
                      ep ? REVIEW_ENFORCE : REVIEW_AUDIT, (const char *)data, size, NULL, &out);
        if (out.http_status != 200 && out.http_status != 400)
            __builtin_trap();
        review_out_cleanup(&out);
    }
    /* with a parse cap: the floor, the too-large answer and the uid scanner */
    review_handle(&conf, REVIEW_VALIDATE, REVIEW_ENFORCE, (const char *)data, size, &arena, &out);
    if (out.http_status != 200 && out.http_status != 400 && out.http_status != 413)
        __builtin_trap();
    review_out_cleanup(&out);
    char uid[129];
    if (admrev_peek_uid((const char *)data, size, uid, sizeof uid) &&
        (!uid[0] || strlen(uid) > 128 || !memmem(data, size, uid, strlen(uid))))
        __builtin_trap();
    return 0;
}
