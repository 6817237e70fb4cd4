/*
 * tlsctx.h -- the server's TLS context and its hot reload (shell).
 *
 * TLS 1.2 minimum, ECDHE AEAD ciphers for 1.2 (1.3 uses OpenSSL's
 * defaults), no renegotiation, no compression, ALPN "http/1.1".
 *
 * Reload: tlsctx_maybe_reload() stat()s both files (following symlinks, as
 * Kubernetes Secret volumes swap a "..data" symlink) and, when either
 * changed, builds a new SSL_CTX. The new context replaces the current one
 * only if certificate and key load and match; otherwise the old one stays
 * in service and the attempt is retried on the next call. Connections
 * already accepted hold their own reference to the SSL_CTX they started
 * with (OpenSSL refcounts it), so nothing in flight is dropped.
 *
 * Threads: tlsctx_ssl_new() from any thread (the webhook workers); every
 * other function from the one thread that reloads (the main loop).
 */
#ifndef MB_TLSCTX_H
#define MB_TLSCTX_H

#include <openssl/ssl.h>
#include "membudget/err.h"

struct tlsctx;

/* Load cert (PEM chain) and key. Paths are copied. Returns MB_OK and a new
 * context in *out, or MB_EIO/MB_ETLS with the OpenSSL reason in diag. */
mb_err tlsctx_new(const char *cert_path, const char *key_path, struct tlsctx **out,
                  struct mb_diag *diag);
void tlsctx_free(struct tlsctx *t); /* NULL-safe */

/* Returns: a new SSL for one connection, on the current certificate (NULL
 * on allocation failure). Any thread may call it, also during a reload:
 * the swap of the current SSL_CTX is guarded by a mutex, and the SSL keeps
 * its own reference to the context it started with. */
SSL *tlsctx_ssl_new(struct tlsctx *t);

/* A peer's TLS 1.3 KeyUpdates on one connection, watched. Each KeyUpdate
 * makes the server derive new keys (and answer with its own when asked):
 * a client that sends nothing else kept a worker inside one SSL_read for
 * seconds (four such connections delayed every review by 13.6 s, past the
 * API server's timeout). tlsctx_watch_key_updates() turns off
 * SSL_MODE_AUTO_RETRY, so that SSL_read returns to the event loop after
 * each record that is not application data, and calls fn(arg) for every
 * KeyUpdate received; the caller counts them and closes the connection
 * past its limit. `w` (and arg) are borrowed and must outlive the SSL; it
 * runs on the thread that reads the connection. */
typedef void tlsctx_key_update_fn(void *arg);
struct tlsctx_watch {
    tlsctx_key_update_fn *fn;
    void *arg;
};
void tlsctx_watch_key_updates(SSL *ssl, struct tlsctx_watch *w);

/* Returns 0 if nothing changed, 1 if a new certificate was loaded, -1 if
 * the files changed but could not be loaded (diag says why; the old
 * certificate stays in service). */
int tlsctx_maybe_reload(struct tlsctx *t, struct mb_diag *diag);

/* Returns: borrowed description of the loaded certificate for logs:
 * subject, SHA-256 fingerprint prefix and expiry. */
const char *tlsctx_describe(const struct tlsctx *t);

/* Expiry of the loaded certificate, seconds since the epoch (0 if unknown). */
long long tlsctx_not_after(const struct tlsctx *t);
/* Start of validity of the loaded certificate, likewise. */
long long tlsctx_not_before(const struct tlsctx *t);

#endif
