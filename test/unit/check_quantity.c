/* check_quantity.c -- Kubernetes quantities to bytes, table-driven. */
#include <string.h>
#include "membudget/quantity.h"
#include "suites.h"

static const struct {
    const char *in;
    int64_t bytes;
    bool rounded;
} GOOD[] = {
    {"128974848", 128974848, false},
    {"129e6", 129000000, false},
    {"129M", 129000000, false},
    {"123Mi", 128974848, false},
    {"1.5Gi", 1610612736, false},
    {"0.5Ki", 512, false},
    {"1e3", 1000, false},
    {"1E3", 1000, false},
    {"1e+3", 1000, false},
    {"1000e-3", 1, false},
    {"500m", 1, true}, /* half a byte rounds up, as Quantity.Value() */
    {"1500m", 2, true},
    {"2000m", 2, false},
    {"0", 0, false},
    {"0.0", 0, false},
    {"-0", 0, false},
    {"+1Ki", 1024, false},
    {"1.", 1, false},
    {".5Ki", 512, false},
    {"1k", 1000, false},
    {"1Ki", 1024, false},
    {"1Mi", 1048576, false},
    {"1Gi", 1073741824, false},
    {"1Ti", 1099511627776LL, false},
    {"1Pi", 1125899906842624LL, false},
    {"1Ei", 1152921504606846976LL, false},
    {"7Ei", 8070450532247928832LL, false},
    {"1G", 1000000000, false},
    {"1T", 1000000000000LL, false},
    {"1P", 1000000000000000LL, false},
    {"1E", 1000000000000000000LL, false},
    {"9E", 9000000000000000000LL, false},
    {"9223372036854775807", INT64_MAX, false},
    {"9223372036854775806.5", INT64_MAX, true},
    {"0.000000001", 1, true},
    {"1e-30", 1, true},
    {"000000000000000000000000000001Ki", 1024, false},
    {"1.00000000000000000000000000000001", 2, true},
    {"768Mi", 805306368, false},
    {"0.1Ki", 103, true}, /* 102.4 -> 103 */
};

START_TEST(test_qty_good)
{
    int64_t b = -1;
    bool r = !GOOD[_i].rounded;
    struct mb_diag d = {0};
    mb_err err = qty_parse(GOOD[_i].in, strlen(GOOD[_i].in), &b, &r, &d);

    ck_assert_msg(err == MB_OK, "%s: %s", GOOD[_i].in, d.msg);
    ck_assert_msg(b == GOOD[_i].bytes, "%s: got %lld want %lld", GOOD[_i].in, (long long)b,
                  (long long)GOOD[_i].bytes);
    ck_assert_msg(r == GOOD[_i].rounded, "%s: rounded", GOOD[_i].in);
}
END_TEST

static const struct {
    const char *in;
    mb_err err;
    const char *why; /* substring of the message */
} BAD[] = {
    {"12MiB", MB_EPARSE, "unknown suffix"},
    {"1..5Gi", MB_EPARSE, "more than one decimal point"},
    {"-1Gi", MB_ERANGE, "must not be negative"},
    {"Gi", MB_EPARSE, "expected a number"},
    {"", MB_EPARSE, "empty"},
    {".", MB_EPARSE, "expected a number"},
    {"+", MB_EPARSE, "expected a number"},
    {"1e", MB_EPARSE, "unknown suffix"},
    {"1e+", MB_EPARSE, "exponent has no digits"},
    {"1e1.5", MB_EPARSE, "exponent must be an integer"},
    {"1 Gi", MB_EPARSE, "unknown suffix"},
    {" 1Gi", MB_EPARSE, "expected a number"},
    {"1gi", MB_EPARSE, "unknown suffix"},
    {"1K", MB_EPARSE, "unknown suffix"},
    {"0x10", MB_EPARSE, "unknown suffix"},
    {"9223372036854775808", MB_ERANGE, "overflows int64"},
    {"8Ei", MB_ERANGE, "overflows int64"},
    {"10E", MB_ERANGE, "overflows int64"},
    {"1e19", MB_ERANGE, "overflows int64"},
    {"1e99999999999999999999", MB_ERANGE, "overflows int64"},
    {"99999999999999999999999999999999999999999999999999999999999999Ei", MB_ERANGE, "overflows"},
    {"12345678901234567890123456789012345678901234567890123456789012345", MB_EPARSE,
     "more than 64"},
    {"9223372036854775807.5", MB_ERANGE, "overflows int64"},
    {"1Mi1", MB_EPARSE, "unknown suffix"},
};

START_TEST(test_qty_bad)
{
    int64_t b = 77;
    struct mb_diag d = {0};
    mb_err err = qty_parse(BAD[_i].in, strlen(BAD[_i].in), &b, NULL, &d);

    ck_assert_msg(err == BAD[_i].err, "%s: got err %d (%s)", BAD[_i].in, err, d.msg);
    ck_assert_msg(strstr(d.msg, BAD[_i].why), "%s: message \"%s\" lacks \"%s\"", BAD[_i].in, d.msg,
                  BAD[_i].why);
    ck_assert_int_eq(b, 77); /* untouched on error */
}
END_TEST

START_TEST(test_qty_not_nul_terminated)
{
    const char s[] = {'1', 'M', 'i', 'X'};
    int64_t b = 0;

    ck_assert_int_eq(qty_parse(s, 3, &b, NULL, NULL), MB_OK);
    ck_assert_int_eq(b, 1048576);
}
END_TEST

static const struct {
    int64_t bytes;
    const char *want;
} FMT[] = {
    {0, "0"},
    {1, "1"},
    {1000, "1k"},
    {1024, "1Ki"},
    {805306368, "768Mi"},
    {129000000, "129M"},
    {1536, "1536"},
    {1610612736, "1536Mi"},
    {INT64_MAX, "9223372036854775807"},
    {1152921504606846976LL, "1Ei"},
};

START_TEST(test_qty_format)
{
    char out[QTY_FMT_LEN];
    ck_assert_str_eq(qty_format(FMT[_i].bytes, out), FMT[_i].want);
}
END_TEST

/* Every format round-trips, including odd values around powers of two. */
START_TEST(test_qty_roundtrip)
{
    char out[QTY_FMT_LEN];
    int64_t vals[] = {1,
                      999,
                      1001,
                      1023,
                      1025,
                      4096,
                      3000000,
                      123456789,
                      1LL << 40,
                      (1LL << 62) + 1,
                      INT64_MAX - 1,
                      INT64_MAX,
                      9000000000000000000LL};

    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
        int64_t back = -1;
        qty_format(vals[k], out);
        ck_assert_int_eq(qty_parse_str(out, &back, NULL), MB_OK);
        ck_assert_msg(back == vals[k], "%s", out);
    }
}
END_TEST

Suite *qty_suite(void)
{
    Suite *s = suite_create("qty");
    TCase *tc = tcase_create("parse");

    tcase_add_loop_test(tc, test_qty_good, 0, (int)MB_ARRAY_LEN(GOOD));
    tcase_add_loop_test(tc, test_qty_bad, 0, (int)MB_ARRAY_LEN(BAD));
    tcase_add_test(tc, test_qty_not_nul_terminated);
    tcase_add_loop_test(tc, test_qty_format, 0, (int)MB_ARRAY_LEN(FMT));
    tcase_add_test(tc, test_qty_roundtrip);
    suite_add_tcase(s, tc);
    return s;
}
