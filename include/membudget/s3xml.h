/*
 * s3xml.h -- the two XML answers of the S3 API membudget reads: a
 * ListObjectsV2 page (ListBucketResult) and an error (<Error><Code>...).
 *
 * Pure, on expat (a streaming parser: memory is what is kept, not the
 * document). Bounded: at most `max` objects are kept from one page, a key
 * longer than 1024 bytes (S3's own limit) is an error, and the caller
 * bounds the bytes.
 */
#ifndef MB_S3XML_H
#define MB_S3XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/err.h"

#define S3_KEY_MAX 1024

struct s3_object {
    char key[S3_KEY_MAX + 1];
    int64_t size;
    char last_modified[40]; /* as the server wrote it: "2026-12-07T03:12:44.000Z" */
};

struct s3_page {
    struct s3_object *obj; /* [n], mb_free */
    size_t n;
    bool truncated;
    char next_token[S3_KEY_MAX + 1]; /* NextContinuationToken, "" when none */
};

/* Parse one ListBucketResult. MB_EPARSE (with d->line) for XML that is not
 * well formed or not a ListBucketResult; MB_ETOOBIG past `max` objects. */
mb_err s3xml_list(const char *xml, size_t len, size_t max, struct s3_page *out, struct mb_diag *d);
void s3xml_page_free(struct s3_page *p);

/* An <Error>'s Code and Message, cut to their buffers; false when the text
 * is no such document (an HTML page from a proxy, nothing at all). */
bool s3xml_error(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen);

#endif
