/*
 * certgen.h -- make a CA and serving certificates in memory (OpenSSL).
 *
 * ECDSA P-256 keys, SHA-256 signatures, serial numbers from the OpenSSL
 * RNG. Output is PEM text; nothing touches the filesystem. Used by the tests
 * (throw-away CAs) and by certificate bootstrap.
 */
#ifndef MB_CERTGEN_H
#define MB_CERTGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/err.h"

struct certgen_pair {
    char *cert_pem; /* owned */
    char *key_pem;  /* owned, PKCS#8 */
};

void certgen_pair_cleanup(struct certgen_pair *p);

enum certgen_key { CERTGEN_ECDSA_P256, CERTGEN_RSA_2048 };

/* The key type of the certificates made from now on (default ECDSA P-256;
 * RSA 2048 for clients that need it). Process-wide: set it once, at start,
 * before any certificate is made. */
void certgen_set_key_type(enum certgen_key t);

/* A self-signed CA valid for `days`. */
mb_err certgen_ca(const char *common_name, int days, struct certgen_pair *out,
                  struct mb_diag *diag);

/* A serving certificate signed by `ca`, with DNS and IP SANs (either list
 * may be empty), extendedKeyUsage serverAuth. */
mb_err certgen_serving(const struct certgen_pair *ca, const char *common_name,
                       const char *const *dns, size_t ndns, const char *const *ips, size_t nips,
                       int days, struct certgen_pair *out, struct mb_diag *diag);

/* Is `cert_pem` (with `key_pem`) signed by `ca_pem`, valid at `now_s` and
 * for `min_remaining_s` more (the CA too), and does it cover every name in
 * dns? On false, `why` says what is wrong. Nothing is allocated for the
 * caller. */
bool certgen_check(const char *ca_pem, const char *cert_pem, const char *key_pem,
                   const char *const *dns, size_t ndns, int64_t now_s, int64_t min_remaining_s,
                   char *why, size_t whylen);

#endif
