/* check_base.c -- errors, diagnostics and the capped buffer. */
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/err.h"
#include "membudget/log.h"
#include "suites.h"

START_TEST(test_buf_cap_is_hard)
{
    struct mb_buf b;

    mb_buf_init(&b, 10);
    ck_assert_int_eq(mb_buf_adds(&b, "hello"), MB_OK);
    ck_assert_int_eq(mb_buf_adds(&b, "world"), MB_OK);
    ck_assert_int_eq(mb_buf_adds(&b, "!"), MB_ETOOBIG);
    ck_assert_str_eq(mb_buf_str(&b), "helloworld"); /* unchanged on error */
    ck_assert_int_eq(mb_buf_printf(&b, "%d", 1), MB_ETOOBIG);
    mb_buf_reset(&b);
    ck_assert_int_eq(mb_buf_printf(&b, "%s-%d", "ab", 42), MB_OK);
    ck_assert_str_eq(mb_buf_str(&b), "ab-42");
    char *s = mb_buf_take(&b);
    ck_assert_str_eq(s, "ab-42");
    mb_free(s);
    ck_assert_str_eq(mb_buf_str(&b), "");
    mb_buf_cleanup(&b);
}
END_TEST

START_TEST(test_buf_huge_len_does_not_wrap)
{
    struct mb_buf b;

    mb_buf_init(&b, 100);
    ck_assert_int_eq(mb_buf_adds(&b, "x"), MB_OK);
    ck_assert_int_eq(mb_buf_add(&b, "y", SIZE_MAX), MB_ETOOBIG);
    ck_assert_int_eq(b.len, 1);
    mb_buf_cleanup(&b);
    mb_buf_cleanup(&b); /* cleanup twice is harmless */
}
END_TEST

START_TEST(test_diag)
{
    struct mb_diag d = {0};

    ck_assert_int_eq(mb_diag_set(&d, MB_EINVAL, "bad %s", "thing"), MB_EINVAL);
    mb_diag_prefix(&d, "file %d", 3);
    ck_assert_str_eq(d.msg, "file 3: bad thing");
    ck_assert_int_eq(mb_diag_set(NULL, MB_ETOOBIG, "x"), MB_ETOOBIG);
    ck_assert_str_eq(mb_strerror(MB_ETOOBIG), "too big");
    ck_assert_str_eq(mb_strerror((mb_err)999), "unknown error");
}
END_TEST

/* A repeated warning: at most one line a second, the next one carrying the
 * count held back. Rows: times (ms) of attempts -> which pass, with what
 * count. */
START_TEST(test_log_limit)
{
    static const struct {
        unsigned long long at;
        bool pass;
        unsigned long suppressed;
    } STEPS[] = {
        {5000, true, 0},  {5001, false, 0}, {5500, false, 0}, {5999, false, 0},
        {6000, true, 3}, /* a second later, with the three held back */
        {6000, false, 0}, {9000, true, 1},  {9001, false, 0}, {20000, true, 1},
    };
    struct log_limit lim = {0};

    for (size_t i = 0; i < sizeof STEPS / sizeof STEPS[0]; i++) {
        unsigned long sup = 12345;
        bool pass = log_limit_pass(&lim, STEPS[i].at, &sup);
        ck_assert_msg(pass == STEPS[i].pass, "step %zu (t=%llu)", i, STEPS[i].at);
        if (pass)
            ck_assert_msg(sup == STEPS[i].suppressed, "step %zu: %lu held back, want %lu", i, sup,
                          STEPS[i].suppressed);
    }
}
END_TEST

Suite *base_suite(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("buf");

    tcase_add_test(tc, test_buf_cap_is_hard);
    tcase_add_test(tc, test_buf_huge_len_does_not_wrap);
    tcase_add_test(tc, test_diag);
    tcase_add_test(tc, test_log_limit);
    suite_add_tcase(s, tc);
    return s;
}
