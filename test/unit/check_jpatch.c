/* check_jpatch.c -- JSON Pointer escaping and RFC 6902 apply. */
#include <stdlib.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/jpatch.h"
#include "suites.h"
#include "testutil.h"

START_TEST(test_jpatch_token)
{
    char *t = jpatch_token("membudget.io/budget");
    ck_assert_str_eq(t, "membudget.io~1budget");
    mb_free(t);
    t = jpatch_token("a~b/c");
    ck_assert_str_eq(t, "a~0b~1c");
    mb_free(t);
}
END_TEST

/* Rows from RFC 6902 appendix A, plus our mutations' shapes. */
static const struct {
    const char *doc, *patch, *want; /* want NULL: must fail */
} ROWS[] = {
    {"{\"foo\":\"bar\"}", "[{\"op\":\"add\",\"path\":\"/baz\",\"value\":\"qux\"}]",
     "{\"baz\":\"qux\",\"foo\":\"bar\"}"},
    {"{\"foo\":[\"bar\",\"baz\"]}", "[{\"op\":\"add\",\"path\":\"/foo/1\",\"value\":\"qux\"}]",
     "{\"foo\":[\"bar\",\"qux\",\"baz\"]}"},
    {"{\"foo\":[1]}", "[{\"op\":\"add\",\"path\":\"/foo/-\",\"value\":2}]", "{\"foo\":[1,2]}"},
    {"{\"baz\":\"qux\",\"foo\":\"bar\"}", "[{\"op\":\"remove\",\"path\":\"/baz\"}]",
     "{\"foo\":\"bar\"}"},
    {"{\"baz\":\"qux\"}", "[{\"op\":\"replace\",\"path\":\"/baz\",\"value\":\"boo\"}]",
     "{\"baz\":\"boo\"}"},
    {"{\"a\":{\"b\":1},\"c\":{}}", "[{\"op\":\"move\",\"from\":\"/a/b\",\"path\":\"/c/d\"}]",
     "{\"a\":{},\"c\":{\"d\":1}}"},
    {"{\"a\":[1,2]}", "[{\"op\":\"copy\",\"from\":\"/a/0\",\"path\":\"/a/-\"}]", "{\"a\":[1,2,1]}"},
    {"{\"a\":\"b\"}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":\"b\"}]", "{\"a\":\"b\"}"},
    {"{\"m\":{\"annotations\":{}}}",
     "[{\"op\":\"add\",\"path\":\"/m/annotations/membudget.io~1budget\",\"value\":\"1Gi\"}]",
     "{\"m\":{\"annotations\":{\"membudget.io/budget\":\"1Gi\"}}}"},
    {"{\"a\":\"b\"}", "[{\"op\":\"test\",\"path\":\"/a\",\"value\":\"c\"}]", NULL},
    {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/x/y\",\"value\":1}]", NULL},
    {"{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/2\",\"value\":1}]", NULL},
    {"{\"a\":[1]}", "[{\"op\":\"add\",\"path\":\"/a/01\",\"value\":1}]", NULL},
    {"{\"a\":1}", "[{\"op\":\"remove\",\"path\":\"/b\"}]", NULL},
    {"{\"a\":1}", "[{\"op\":\"add\",\"path\":\"/a~2\",\"value\":1}]", NULL},
    {"{\"a\":1}", "[{\"op\":\"frob\",\"path\":\"/a\"}]", NULL},
    {"{\"a\":{\"b\":1}}", "[{\"op\":\"move\",\"from\":\"/a\",\"path\":\"/a/b/c\"}]", NULL},
    {"{\"a\":1}",
     "[{\"op\":\"add\",\"path\":\"/b\",\"value\":1},{\"op\":\"remove\",\"path\":\"/zz\"}]", NULL},
};

START_TEST(test_jpatch_apply)
{
    json_t *doc = tu_json(ROWS[_i].doc), *patch = tu_json(ROWS[_i].patch), *out = NULL;
    struct mb_diag d = {0};
    mb_err err = jpatch_apply(doc, patch, &out, &d);

    if (ROWS[_i].want) {
        json_t *want = tu_json(ROWS[_i].want);
        ck_assert_msg(err == MB_OK, "row %d: %s", _i, d.msg);
        ck_assert_msg(json_equal(out, want), "row %d", _i);
        json_decref(want);
        json_decref(out);
    } else {
        ck_assert_msg(err == MB_EINVAL, "row %d should fail", _i);
        ck_assert_ptr_null(out);
        ck_assert(strstr(d.msg, "patch op"));
    }
    /* the input is never modified, even by a failing patch */
    json_t *orig = tu_json(ROWS[_i].doc);
    ck_assert(json_equal(orig, doc));
    json_decref(orig);
    json_decref(doc);
    json_decref(patch);
}
END_TEST

START_TEST(test_jpatch_get)
{
    json_t *doc = tu_json("{\"a\":{\"b/c\":[10,20]},\"\":5}");
    ck_assert_int_eq(json_integer_value(jpatch_get(doc, "/a/b~1c/1")), 20);
    ck_assert_int_eq(json_integer_value(jpatch_get(doc, "/")), 5);
    ck_assert_ptr_eq(jpatch_get(doc, ""), doc);
    ck_assert_ptr_null(jpatch_get(doc, "a"));
    ck_assert_ptr_null(jpatch_get(doc, "/a/b~1c/5"));
    json_decref(doc);
}
END_TEST

Suite *jpatch_suite(void)
{
    Suite *s = suite_create("jpatch");
    TCase *tc = tcase_create("patch");

    tcase_add_test(tc, test_jpatch_token);
    tcase_add_loop_test(tc, test_jpatch_apply, 0, (int)MB_ARRAY_LEN(ROWS));
    tcase_add_test(tc, test_jpatch_get);
    suite_add_tcase(s, tc);
    return s;
}
