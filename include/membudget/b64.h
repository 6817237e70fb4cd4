/*
 * b64.h -- base64 (RFC 4648, standard alphabet, padded), as the Kubernetes
 * API uses it (AdmissionReview patches, kubeconfig *-data fields, Secrets).
 *
 * Pure.
 */
#ifndef MB_B64_H
#define MB_B64_H

#include <stddef.h>
#include "membudget/err.h"

/* Returns: new NUL-terminated encoding of in[0..n) (aborts on OOM). */
char *mb_b64_encode(const void *in, size_t n);

/* Decode `in` (whitespace and line breaks allowed, padding optional). On
 * success *out is a new NUL-terminated buffer (free with mb_free) and *outlen
 * its length; on error (MB_EPARSE: a character outside the alphabet, or a
 * truncated final group) nothing is written. */
mb_err mb_b64_decode(const char *in, size_t n, char **out, size_t *outlen);

#endif
