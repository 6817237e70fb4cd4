/* check_forensics.c -- the profile directory: names that split back, the
 * retention decision (profname.h, as tables), and the store on a real
 * temporary directory (profstore.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "membudget/jsonx.h"
#include "membudget/profname.h"
#include "membudget/profstore.h"
#include "membudget/s3xml.h"
#include "suites.h"

#define T0 1795428000000LL /* 2026-11-23T10:00:00Z */

START_TEST(test_prof_names)
{
    char f[PROF_NAME_MAX];
    struct prof_parsed p;
    prof_name("shop", "web-5d4f7c9b8-x2x9q", T0 + 250, PROF_HEAP, f, sizeof f);
    ck_assert_str_eq(f, "shop_web-5d4f7c9b8-x2x9q_20261123T100000Z.pb.gz");
    ck_assert(prof_name_parse(f, &p));
    ck_assert_str_eq(p.ns, "shop");
    ck_assert_str_eq(p.pod, "web-5d4f7c9b8-x2x9q");
    ck_assert_int_eq(p.at, T0);
    ck_assert_int_eq(p.kind, PROF_HEAP);
    prof_name("shop", "db.0", T0, PROF_GOROUTINES, f, sizeof f);
    ck_assert_str_eq(f, "shop_db.0_20261123T100000Z.goroutines.txt");
    ck_assert(prof_name_parse(f, &p));
    ck_assert_int_eq(p.kind, PROF_GOROUTINES);
    ck_assert_str_eq(prof_kind_name(p.kind), "goroutines");
    /* what the API never sends is still made harmless: no '/', no '_' inside */
    prof_name("../x", "a_b/../c", T0, PROF_HEAP, f, sizeof f);
    ck_assert_str_eq(f, "-.-x_a-b-..-c_20261123T100000Z.pb.gz");
    ck_assert(prof_name_parse(f, &p));
    ck_assert_str_eq(p.pod, "a-b-..-c");
}
END_TEST

/* Names that are not ours: never listed, never deleted. */
static const char *const NOT_OURS[] = {
    "notes.txt",
    ".shop_web_20261123T100000Z.pb.gz.tmp",
    ".shop_web_20261123T100000Z.pb.gz",
    "shop_web_20261123T100000.pb.gz",
    "shop_web_20261323T100000Z.pb.gz",
    "shopweb20261123T100000Z.pb.gz",
    "_web_20261123T100000Z.pb.gz",
    "shop__20261123T100000Z.pb.gz",
    "shop_a_b_20261123T100000Z.pb.gz",
    "shop_web_20261123X100000Z.pb.gz",
    "shop_web_20261123T100000Z.heap",
};

START_TEST(test_prof_not_ours)
{
    struct prof_parsed p;
    ck_assert_msg(!prof_name_parse(NOT_OURS[_i], &p), "%s", NOT_OURS[_i]);
}
END_TEST

/* Retention rows: files (age in minutes before T0, MiB), the cap (MiB) ->
 * which are deleted ("1" per file). */
static const struct {
    const char *name;
    int age[8], mib[8];
    int n;
    unsigned cap;
    const char *want;
    size_t files; /* the count cap; 0: PROF_MAX_FILES */
} RETAIN_ROWS[] = {
    {"under the cap", {30, 20, 10}, {10, 10, 10}, 3, 100, "000", 0},
    {"at the cap", {30, 20, 10}, {10, 10, 10}, 3, 30, "000", 0},
    {"oldest first", {30, 20, 10}, {10, 10, 10}, 3, 25, "100", 0},
    {"order in the listing does not matter", {10, 30, 20}, {10, 10, 10}, 3, 15, "011", 0},
    {"one capture's files go one by one, by name",
     {20, 20, 0, 0},
     {10, 1, 10, 1},
     4,
     12,
     "1000",
     0},
    {"and both when needed", {20, 20, 0, 0}, {10, 1, 10, 1}, 4, 11, "1100", 0},
    /* the newest capture stays even when it alone is over the cap */
    {"newest kept", {20, 0, 0}, {5, 50, 1}, 3, 10, "100", 0},
    {"empty", {0}, {0}, 0, 1, "", 0},
    /* the count cap: small files, far under the byte cap */
    {"too many files", {40, 30, 20, 10, 0}, {0, 0, 0, 0, 0}, 5, 100, "11000", 3},
    {"the newest capture stays whatever the count", {10, 0, 0}, {1, 1, 1}, 3, 100, "100", 1},
};

START_TEST(test_prof_retain)
{
    struct prof_file f[8];
    char names[8][64], got[9] = "";
    for (int i = 0; i < RETAIN_ROWS[_i].n; i++) {
        snprintf(names[i], sizeof names[i], "f%d", i);
        f[i] = (struct prof_file){names[i], (uint64_t)RETAIN_ROWS[_i].mib[i] << 20,
                                  T0 - RETAIN_ROWS[_i].age[i] * 60000LL, true};
    }
    size_t marked = prof_retain(f, (size_t)RETAIN_ROWS[_i].n, (uint64_t)RETAIN_ROWS[_i].cap << 20,
                                RETAIN_ROWS[_i].files ? RETAIN_ROWS[_i].files : PROF_MAX_FILES);
    size_t ones = 0;
    for (int i = 0; i < RETAIN_ROWS[_i].n; i++) {
        got[i] = f[i].del ? '1' : '0';
        ones += f[i].del;
    }
    got[RETAIN_ROWS[_i].n] = '\0';
    ck_assert_msg(!strcmp(got, RETAIN_ROWS[_i].want), "%s: got %s, want %s", RETAIN_ROWS[_i].name,
                  got, RETAIN_ROWS[_i].want);
    ck_assert_uint_eq(marked, ones);
}
END_TEST

static size_t count_files(const char *dir)
{
    size_t n = 0;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

START_TEST(test_profstore_dir)
{
    char tmpl[] = "/tmp/mb-prof-XXXXXX", dir[64], f[PROF_NAME_MAX];
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(dir, sizeof dir, "%s/profiles", tmpl); /* made on the first write */
    struct mb_diag d = {0};
    static char blob[300 << 10];
    memset(blob, 'x', sizeof blob);
    for (int i = 0; i < 6; i++) {
        prof_name("shop", "web-1", T0 + i * 60000LL, PROF_HEAP, f, sizeof f);
        ck_assert_msg(ps_write(dir, f, blob, sizeof blob, &d) == MB_OK, "%s", d.msg);
        prof_name("shop", "web-1", T0 + i * 60000LL, PROF_GOROUTINES, f, sizeof f);
        ck_assert_msg(ps_write(dir, f, "goroutine 1 [running]:\n", 23, &d) == MB_OK, "%s", d.msg);
    }
    /* an existing capture is never replaced */
    ck_assert_int_eq(ps_write(dir, f, "x", 1, &d), MB_EIO);
    /* a stranger's file stays whatever the cap */
    char other[128];
    snprintf(other, sizeof other, "%s/README", dir);
    FILE *fp = fopen(other, "w");
    fputs("mine\n", fp);
    fclose(fp);
    ck_assert_uint_eq(count_files(dir), 13);
    uint64_t kept = 0;
    /* 1 MiB holds three captures of 300 KiB and their dumps */
    ck_assert_uint_eq(ps_enforce(dir, 1 << 20, &kept), 6);
    ck_assert_uint_le(kept, 1 << 20);
    ck_assert_uint_eq(count_files(dir), 7);
    json_t *j = ps_list_json(dir, 1 << 20);
    json_t *arr = json_object_get(j, "profiles");
    ck_assert_uint_eq(json_array_size(arr), 6);
    json_t *first = json_array_get(arr, 0);
    ck_assert_str_eq(json_string_value(json_object_get(first, "capturedAt")),
                     "2026-11-23T10:05:00Z");
    ck_assert_str_eq(json_string_value(json_object_get(first, "namespace")), "shop");
    ck_assert_str_eq(json_string_value(json_object_get(first, "pod")), "web-1");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "bytes")), (json_int_t)kept);
    ck_assert_ptr_null(json_object_get(j, "error"));
    json_decref(j);
    /* a missing directory lists nothing, and is not an error (nothing captured yet) */
    j = ps_list_json("/nonexistent/membudget", 1);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "profiles")), 0);
    ck_assert_ptr_null(json_object_get(j, "error"));
    json_decref(j);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_prof_keys)
{
    char k[S3_KEY_MAX + 1];
    struct prof_parsed p;
    ck_assert(prof_key("membudget", "shop", "web-5d4f7c9b8", "web-5d4f7c9b8-x2x9q", T0 + 250,
                       PROF_HEAP, k, sizeof k));
    ck_assert_str_eq(
        k, "membudget/shop/web-5d4f7c9b8/web-5d4f7c9b8-x2x9q/2026-11-23T10:00:00Z.heap.pb.gz");
    ck_assert(prof_key_parse(k, "membudget", &p));
    ck_assert_str_eq(p.ns, "shop");
    ck_assert_str_eq(p.owner, "web-5d4f7c9b8");
    ck_assert_str_eq(p.pod, "web-5d4f7c9b8-x2x9q");
    ck_assert_int_eq(p.at, T0);
    ck_assert_int_eq(p.kind, PROF_HEAP);
    ck_assert(prof_key_parse(k, "/membudget/", &p)); /* slashes around a prefix do not count */
    ck_assert(!prof_key_parse(k, "other", &p));
    ck_assert(!prof_key_parse(k, "", &p)); /* five segments where four are expected */
    /* no prefix, no owner, a goroutine dump, hostile names made safe */
    ck_assert(prof_key("//", "../x", "", "a/b", T0, PROF_GOROUTINES, k, sizeof k));
    ck_assert_str_eq(k, "-.-x/_/a-b/2026-11-23T10:00:00Z.goroutines.txt");
    ck_assert(prof_key_parse(k, "", &p));
    ck_assert_str_eq(p.owner, "_");
    ck_assert_int_eq(p.kind, PROF_GOROUTINES);
    /* too small a buffer: refused, not cut */
    ck_assert(!prof_key("membudget", "shop", "web", "web-1", T0, PROF_HEAP, k, 40));
    static const char *const BAD[] = {
        "shop/web/web-1/2026-11-23T10:00:00Z.pb.gz",
        "shop/web/web-1/2026-11-23T10:00:00.heap.pb.gz",
        "shop/web/web-1/2026-13-23T10:00:00Z.heap.pb.gz",
        "shop/web/2026-11-23T10:00:00Z.heap.pb.gz",
        "shop//web-1/2026-11-23T10:00:00Z.heap.pb.gz",
        "shop/web/web-1/x/2026-11-23T10:00:00Z.heap.pb.gz",
    };
    for (size_t i = 0; i < MB_ARRAY_LEN(BAD); i++)
        ck_assert_msg(!prof_key_parse(BAD[i], "", &p), "%s", BAD[i]);
}
END_TEST

/* What AWS S3 answers to ListObjectsV2 (its own namespace, two objects, more to come). */
static const char LIST_AWS[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>prof</Name>"
    "<Prefix>membudget/shop/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
    "<IsTruncated>true</IsTruncated><NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/"
    "wm36Hy4vbOwM=</NextContinuationToken>"
    "<Contents><Key>membudget/shop/web/web-1/2026-11-23T10:00:00Z.heap.pb.gz</Key>"
    "<LastModified>2026-11-23T10:00:01.000Z</"
    "LastModified><ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
    "<Size>48213</Size><StorageClass>STANDARD</StorageClass></Contents>"
    "<Contents><Key>membudget/shop/web/web-1/a &amp; "
    "b.txt</Key><LastModified>2026-11-23T10:00:02.000Z</LastModified>"
    "<Size>0</Size></Contents></ListBucketResult>";

START_TEST(test_s3xml_list)
{
    struct s3_page pg;
    struct mb_diag d = {0};
    ck_assert_int_eq(s3xml_list(LIST_AWS, sizeof LIST_AWS - 1, 100, &pg, &d), MB_OK);
    ck_assert_int_eq(pg.n, 2);
    ck_assert(pg.truncated);
    ck_assert_str_eq(pg.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    ck_assert_str_eq(pg.obj[0].key, "membudget/shop/web/web-1/2026-11-23T10:00:00Z.heap.pb.gz");
    ck_assert_int_eq(pg.obj[0].size, 48213);
    ck_assert_str_eq(pg.obj[0].last_modified, "2026-11-23T10:00:01.000Z");
    ck_assert_str_eq(pg.obj[1].key, "membudget/shop/web/web-1/a & b.txt");
    ck_assert_int_eq(pg.obj[1].size, 0);
    s3xml_page_free(&pg);
    /* one object more than the page may hold */
    ck_assert_int_eq(s3xml_list(LIST_AWS, sizeof LIST_AWS - 1, 1, &pg, &d), MB_ETOOBIG);
    ck_assert_int_eq(pg.n, 0);
    /* an empty bucket, without a namespace */
    static const char EMPTY[] =
        "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>";
    ck_assert_int_eq(s3xml_list(EMPTY, sizeof EMPTY - 1, 10, &pg, &d), MB_OK);
    ck_assert_int_eq(pg.n, 0);
    ck_assert(!pg.truncated);
    s3xml_page_free(&pg);
}
END_TEST

static const struct {
    const char *xml;
    mb_err err;
    const char *msg;
} S3XML_BAD[] = {
    {"<Error><Code>AccessDenied</Code></Error>", MB_EPARSE, "not a ListBucketResult"},
    {"<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>", MB_EPARSE,
     "a Contents without its Key or Size"},
    {"<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>",
     MB_EPARSE, "a Size that is not a number of bytes"},
    {"<ListBucketResult><Contents>", MB_EPARSE, "XML: no element found"},
    {"", MB_EPARSE, "XML: no element found"},
    {"<html><body>502 Bad Gateway</body></html>", MB_EPARSE, "not a ListBucketResult"},
};

START_TEST(test_s3xml_bad)
{
    struct s3_page pg;
    struct mb_diag d = {0};
    const char *x = S3XML_BAD[_i].xml;
    ck_assert_int_eq(s3xml_list(x, strlen(x), 10, &pg, &d), S3XML_BAD[_i].err);
    ck_assert_str_eq(d.msg, S3XML_BAD[_i].msg);
    ck_assert_ptr_null(pg.obj);
}
END_TEST

START_TEST(test_s3xml_error)
{
    char code[64], msg[128];
    static const char E[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
        "<Message>The request signature we calculated does not match the signature you provided."
        "</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>";
    ck_assert(s3xml_error(E, sizeof E - 1, code, sizeof code, msg, sizeof msg));
    ck_assert_str_eq(code, "SignatureDoesNotMatch");
    ck_assert_str_eq(
        msg, "The request signature we calculated does not match the signature you provided.");
    ck_assert(!s3xml_error("<html>no</html>", 15, code, sizeof code, msg, sizeof msg));
    ck_assert(!s3xml_error("", 0, code, sizeof code, msg, sizeof msg));
    char shortmsg[8];
    ck_assert(s3xml_error(E, sizeof E - 1, code, sizeof code, shortmsg, sizeof shortmsg));
    ck_assert_str_eq(shortmsg, "The req");
}
END_TEST

Suite *forensics_suite(void)
{
    Suite *s = suite_create("forensics");
    TCase *tc = tcase_create("profiles");
    tcase_add_test(tc, test_prof_names);
    tcase_add_loop_test(tc, test_prof_not_ours, 0, (int)(sizeof NOT_OURS / sizeof NOT_OURS[0]));
    tcase_add_loop_test(tc, test_prof_retain, 0, (int)(sizeof RETAIN_ROWS / sizeof RETAIN_ROWS[0]));
    tcase_add_test(tc, test_profstore_dir);
    tcase_add_test(tc, test_prof_keys);
    tcase_add_test(tc, test_s3xml_list);
    tcase_add_loop_test(tc, test_s3xml_bad, 0, (int)MB_ARRAY_LEN(S3XML_BAD));
    tcase_add_test(tc, test_s3xml_error);
    suite_add_tcase(s, tc);
    return s;
}
