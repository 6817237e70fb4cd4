/*
 * s3.h -- an S3-compatible object store: put, get and list, signed by
 * libcurl's own AWS SigV4 (CURLOPT_AWS_SIGV4; there is no signing code
 * here). Works with AWS S3, Google Cloud Storage's interoperability API,
 * Ceph RGW, SeaweedFS, MinIO: path-style (ENDPOINT/BUCKET/KEY) or
 * virtual-hosted (BUCKET.HOST/KEY) addressing.
 *
 * Shell, and blocking: one easy handle, reused (its connection kept
 * alive), for one thread at a time (the uploader's thread, or a command
 * line). Every request is bounded in time (the config's timeout, a
 * 10 s connect timeout) and every answer in bytes; redirects are never
 * followed and no proxy is used. Credentials are read from their files at
 * every request, so a rotated Secret is used without a restart.
 */
#ifndef MB_S3_H
#define MB_S3_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include "membudget/buf.h"
#include "membudget/config.h"
#include "membudget/err.h"
#include "membudget/s3xml.h"

struct s3;

/* What became of one request. */
struct s3_status {
    long http;      /* the answer's status; 0: none came */
    char code[64];  /* S3's error Code ("SignatureDoesNotMatch"), "" when none */
    char msg[800];  /* one line for a log: what failed and why */
    double seconds; /* the request's whole time */
    bool retry;     /* worth trying again later: no answer, 5xx, 408, 429 */
    bool auth;      /* refused for who we are: 401, 403, a credential file unreadable */
};

/* A client for `conf` (kept by pointer: it must outlive the client). */
struct s3 *s3_new(const struct cfg_s3 *conf);
void s3_free(struct s3 *s);

/* A request under way ends (as failed) soon after *flag turns true: a
 * shutdown does not wait for the store's timeout. */
void s3_set_abort(struct s3 *s, const atomic_bool *flag);

/* A metadata header: x-amz-meta-NAME: VALUE (printable ASCII). */
struct s3_meta {
    const char *name, *value;
};

/* PUT `len` bytes as `key` with its metadata. MB_OK when the store said
 * 2xx; otherwise an error with *st saying why. */
mb_err s3_put(struct s3 *s, const char *key, const void *body, size_t len, const char *content_type,
              const struct s3_meta *meta, size_t nmeta, struct s3_status *st);

/* GET `key` into out (at most `max` bytes; more is MB_ETOOBIG). */
mb_err s3_get(struct s3 *s, const char *key, size_t max, struct mb_buf *out, struct s3_status *st);

/* ListObjectsV2 under `prefix`, following continuation tokens, at most
 * `max` objects in *page (more is MB_ETOOBIG). */
mb_err s3_list(struct s3 *s, const char *prefix, size_t max, struct s3_page *page,
               struct s3_status *st);

#endif
