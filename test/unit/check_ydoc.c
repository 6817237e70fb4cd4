/* check_ydoc.c -- YAML streams, positions, YAML 1.1 resolution, limits. */
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/ydoc.h"
#include "suites.h"
#include "testutil.h"

/* Each row: YAML in, the JSON of its first document out (compact, sorted). */
static const struct {
    const char *yaml, *json;
} CONV[] = {
    {"a: 1", "{\"a\": 1}"},
    {"a: yes\nb: off\nc: True\nd: n", "{\"a\": true, \"b\": false, \"c\": true, \"d\": false}"},
    {"a: ~\nb: null\nc:", "{\"a\": null, \"b\": null, \"c\": null}"},
    {"a: \"yes\"\nb: '1'", "{\"a\": \"yes\", \"b\": \"1\"}"},
    {"a: 0755\nb: 0x1F\nc: 0b101\nd: -12\ne: 1_000",
     "{\"a\": 493, \"b\": 31, \"c\": 5, \"d\": -12, \"e\": 1000}"},
    {"a: 1.5\nb: .5\nc: 1e3", "{\"a\": 1.5, \"b\": 0.5, \"c\": 1000.0}"},
    {"a: 768Mi\nb: 6060/metrics\nc: 2026-01-01",
     "{\"a\": \"768Mi\", \"b\": \"6060/metrics\", \"c\": \"2026-01-01\"}"},
    {"a: !!str 512\nb: !!int \"7\"", "{\"a\": \"512\", \"b\": 7}"},
    {"- a\n- [1, 2]\n- {x: y}", "[\"a\", [1, 2], {\"x\": true}]"}, /* YAML 1.1: y is true */
    {"base: &b {x: 1, y: 2}\nd:\n  <<: *b\n  y: 3",
     "{\"base\": {\"x\": 1, \"y\": 2}, \"d\": {\"x\": 1, \"y\": 3}}"},
    {"a: &a [1]\nb: *a", "{\"a\": [1], \"b\": [1]}"},
    {"k: |\n  line1\n  line2\n", "{\"k\": \"line1\\nline2\\n\"}"},
    {"a: 9223372036854775808", "{\"a\": 9.2233720368547758e18}"},
    {"---\n", "null"},
};

START_TEST(test_ydoc_conversion)
{
    struct ydoc_stream *s = NULL;
    struct mb_diag d = {0};
    json_t *j = NULL;
    char *got;

    ck_assert_msg(ydoc_parse(CONV[_i].yaml, strlen(CONV[_i].yaml), NULL, &s, &d) == MB_OK, "%s",
                  d.msg);
    ck_assert_uint_ge(s->ndocs, 1);
    ck_assert_msg(ydoc_to_json(s->docs[0], NULL, &j, &d) == MB_OK, "row %d: %s", _i, d.msg);
    got = mb_json_dumps(j, JSON_SORT_KEYS | JSON_REAL_PRECISION(17), NULL);
    ck_assert_msg(!strcmp(got, CONV[_i].json), "row %d: got %s want %s", _i, got, CONV[_i].json);
    mb_free(got);
    json_decref(j);
    ydoc_free(s);
}
END_TEST

START_TEST(test_ydoc_multi_and_positions)
{
    const char *y = "a: 1\n---\nkind: Pod\nmetadata:\n  name: x\n---\n";
    struct ydoc_stream *s = NULL;
    const struct ydoc_node *n;

    ck_assert_int_eq(ydoc_parse(y, strlen(y), NULL, &s, NULL), MB_OK);
    ck_assert_uint_eq(s->ndocs, 3);
    n = ydoc_map_get(ydoc_map_get(s->docs[1], "metadata"), "name");
    ck_assert_ptr_nonnull(n);
    ck_assert_str_eq(n->value, "x");
    ck_assert_int_eq(n->line, 5);
    ck_assert_int_eq(n->column, 9);
    ck_assert(ydoc_is_null(s->docs[2]));
    ck_assert_ptr_null(ydoc_map_get(s->docs[1], "nope"));
    ydoc_free(s);
    ck_assert_int_eq(ydoc_parse("", 0, NULL, &s, NULL), MB_OK);
    ck_assert_uint_eq(s->ndocs, 0);
    ydoc_free(s);
}
END_TEST

/* Hostile or broken input: an error with a position, never a crash. */
static const struct {
    const char *yaml;
    mb_err err;
    const char *why;
    int line;
} BAD[] = {
    {"a: [1, 2", MB_EPARSE, "", 0},
    {"a: *nope", MB_EPARSE, "unknown alias", 1},
    {"a: &x [*x]", MB_EPARSE, "refers to itself", 1},
    {"a: 1\na: 2", MB_EPARSE, "duplicate key \"a\"", 2},
    {"? [1]\n: 2", MB_EPARSE, "keys must be scalars", 1},
    {"a: .inf", MB_EPARSE, "cannot be represented", 1},
    {"a: !!int foo", MB_EPARSE, "does not match its tag", 1},
    {"a:\n\t- b", MB_EPARSE, "", 0},
    {"<<: 1", MB_EPARSE, "merge key", 1},
};

START_TEST(test_ydoc_bad)
{
    struct ydoc_stream *s = NULL;
    struct mb_diag d = {0};
    json_t *j = NULL;
    mb_err err = ydoc_parse(BAD[_i].yaml, strlen(BAD[_i].yaml), NULL, &s, &d);

    if (!err) {
        for (size_t k = 0; k < s->ndocs && !err; k++) {
            err = ydoc_to_json(s->docs[k], NULL, &j, &d);
            if (!err)
                json_decref(j);
        }
        ydoc_free(s);
    }
    ck_assert_msg(err == BAD[_i].err, "row %d: err %d (%s)", _i, err, d.msg);
    ck_assert_msg(strstr(d.msg, BAD[_i].why), "row %d: \"%s\"", _i, d.msg);
    ck_assert_int_gt(d.line, 0);
    if (BAD[_i].line)
        ck_assert_int_eq(d.line, BAD[_i].line);
}
END_TEST

START_TEST(test_ydoc_billion_laughs_bounded)
{
    const char *y = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    struct ydoc_stream *s = NULL;
    struct mb_diag d = {0};
    json_t *j = NULL;
    struct ydoc_limits lim = {.max_nodes = 100000};

    ck_assert_int_eq(ydoc_parse(y, strlen(y), &lim, &s, &d), MB_OK);
    ck_assert_int_eq(ydoc_to_json(s->docs[0], &lim, &j, &d), MB_ETOOBIG);
    ck_assert(strstr(d.msg, "too many nodes"));
    ydoc_free(s);
}
END_TEST

START_TEST(test_ydoc_depth_bounded)
{
    char y[2000];
    struct ydoc_stream *s = NULL;
    struct mb_diag d = {0};
    struct ydoc_limits lim = {.max_depth = 100};

    memset(y, '[', 1000);
    y[1000] = '\0';
    ck_assert_int_eq(ydoc_parse(y, strlen(y), &lim, &s, &d), MB_ETOOBIG);
    ck_assert(strstr(d.msg, "too deep"));
}
END_TEST

Suite *ydoc_suite(void)
{
    Suite *s = suite_create("ydoc");
    TCase *tc = tcase_create("yaml");

    tcase_add_loop_test(tc, test_ydoc_conversion, 0, (int)MB_ARRAY_LEN(CONV));
    tcase_add_test(tc, test_ydoc_multi_and_positions);
    tcase_add_loop_test(tc, test_ydoc_bad, 0, (int)MB_ARRAY_LEN(BAD));
    tcase_add_test(tc, test_ydoc_billion_laughs_bounded);
    tcase_add_test(tc, test_ydoc_depth_bounded);
    suite_add_tcase(s, tc);
    return s;
}
