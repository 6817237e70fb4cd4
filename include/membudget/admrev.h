/*
 * admrev.h -- AdmissionReview admission.k8s.io/v1 decode/encode (pure).
 *
 * Decoding is strict about what a real API server always sends (apiVersion,
 * kind, request.uid, request.kind, request.operation, an object for CREATE
 * and UPDATE) and says which field is wrong; everything else is optional.
 * Encoding always echoes apiVersion, kind and the request's uid.
 */
#ifndef MB_ADMREV_H
#define MB_ADMREV_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "membudget/err.h"

#define ADMREV_API_VERSION "admission.k8s.io/v1"

enum admrev_op { ADMREV_CREATE, ADMREV_UPDATE, ADMREV_DELETE, ADMREV_CONNECT };

/* A decoded request. All pointers borrow from `root`, which the struct owns. */
struct admrev_req {
    json_t *root;                       /* the whole review */
    const char *uid;                    /* request.uid, non-empty */
    const char *group, *version, *kind; /* request.kind (group "" for core) */
    const char *resource,
        *sub_resource; /* request.resource.resource, request.subResource ("" if none) */
    enum admrev_op op;
    const char *op_name;               /* "CREATE", ... */
    const char *ns, *name;             /* "" when absent (CREATE with generateName) */
    const json_t *object, *old_object; /* may be NULL (DELETE has no object) */
    bool dry_run;
};

/* Parse `body`. On success fills *out (clean up with admrev_req_cleanup).
 * Returns MB_EPARSE (not JSON) or MB_EINVAL (not an AdmissionReview v1
 * request) with a one-line reason in diag; *out untouched on error. */
mb_err admrev_decode(const char *body, size_t len, struct admrev_req *out, struct mb_diag *diag);

void admrev_req_cleanup(struct admrev_req *r);

/* Find request.uid in `body` without parsing the rest: for a review too
 * large to parse, which still deserves an answer the API server can match.
 * Copies it to out[outlen] and returns true only when the top level is an
 * object whose one "request" member is an object with one "uid" member, a
 * plain string (no escapes, no NUL) of 1 to 128 bytes; false otherwise. No
 * allocation, O(len), depth not limited (it only counts brackets). */
bool admrev_peek_uid(const char *body, size_t len, char *out, size_t outlen);

struct admrev_resp {
    bool allowed;
    int code;              /* status.code when denied (403); 0: no status */
    const char *reason;    /* status.reason ("Forbidden"), may be NULL */
    const char *message;   /* status.message, may be NULL */
    const json_t *patch;   /* JSON Patch array, borrowed; NULL: no patch */
    char *const *warnings; /* may be NULL */
    size_t nwarnings;
};

/* Returns: new JSON text of the response review (free with mb_free); *len
 * gets its length. Cannot fail (aborts on OOM). */
char *admrev_encode(const char *uid, const struct admrev_resp *resp, size_t *len);

#endif /* MB_ADMREV_H */
