/* check_base.c -- errors, diagnostics and the capped buffer. */
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/err.h"
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

Suite *base_suite(void)
{
    Suite *s = suite_create("base");
    TCase *tc = tcase_create("buf");

    tcase_add_test(tc, test_buf_cap_is_hard);
    tcase_add_test(tc, test_buf_huge_len_does_not_wrap);
    tcase_add_test(tc, test_diag);
    suite_add_tcase(s, tc);
    return s;
}
