/*
 * tlsctx.c -- the server's TLS context and its hot reload (shell; see
 * tlsctx.h): cert-manager rotates the Secret's files, a timer notices and
 * a new SSL_CTX is swapped in atomically; connections in flight keep the
 * one they started with.
 */
#include <openssl/err.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include "membudget/alloc.h"
#include "membudget/tlsctx.h"

struct filesig {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool ok; /* stat succeeded */
};

struct tlsctx {
    char *cert_path, *key_path;
    pthread_mutex_t mu; /* guards `cur` against a reload while a worker takes it */
    SSL_CTX *cur;
    struct filesig cert_sig, key_sig;     /* of the files behind `cur` */
    struct filesig tried_cert, tried_key; /* last failed attempt, to log once */
    char desc[512];
    long long not_after, not_before; /* epoch seconds */
};

static struct filesig sig_of(const char *path)
{
    struct stat st;
    struct filesig s = {0};

    if (stat(path, &st) == 0) {
        s.dev = st.st_dev;
        s.ino = st.st_ino;
        s.size = st.st_size;
        s.mtime = st.st_mtim;
        s.ok = true;
    }
    return s;
}

static bool sig_eq(const struct filesig *a, const struct filesig *b)
{
    return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static mb_err ssl_fail(struct mb_diag *diag, const char *what, const char *path)
{
    unsigned long e = ERR_get_error();
    char buf[200] = "unknown error";

    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return mb_diag_set(diag, MB_ETLS, "%s %s: %s", what, path, buf);
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned int inlen, void *arg)
{
    static const unsigned char H11[] = "\x08http/1.1";
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto((unsigned char **)out, outlen, H11, sizeof H11 - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no ALPN agreement: plain HTTP/1.1 anyway */
    return SSL_TLSEXT_ERR_OK;
}

/* notAfter (or notBefore) of the certificate, epoch seconds; 0 if unknown. */
static long long cert_time(SSL_CTX *ctx, bool before)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    struct tm tm;

    if (!x || ASN1_TIME_to_tm(before ? X509_get0_notBefore(x) : X509_get0_notAfter(x), &tm) != 1)
        return 0;
    return (long long)timegm(&tm);
}

static void describe(SSL_CTX *ctx, char *out, size_t n)
{
    X509 *x = SSL_CTX_get0_certificate(ctx);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char subj[256] = "", exp[64] = "";
    BIO *b;

    if (!x) {
        snprintf(out, n, "no certificate");
        return;
    }
    X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof subj);
    X509_digest(x, EVP_sha256(), md, &mdlen);
    b = BIO_new(BIO_s_mem());
    if (b && ASN1_TIME_print(b, X509_get0_notAfter(x)) > 0) {
        int r = BIO_read(b, exp, sizeof exp - 1);
        exp[r > 0 ? r : 0] = '\0';
    }
    BIO_free(b);
    snprintf(out, n, "subject=%s sha256=%02x%02x%02x%02x%02x%02x%02x%02x notAfter=%s", subj, md[0],
             md[1], md[2], md[3], md[4], md[5], md[6], md[7], exp);
}

static mb_err build(const char *cert, const char *key, SSL_CTX **out, struct mb_diag *diag)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    mb_err err;

    if (!ctx)
        return ssl_fail(diag, "creating a TLS context for", cert);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* An idle connection gives its read and write buffers (about 34 KiB)
     * back: a flood of idle connections costs their TLS state only. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
        err = ssl_fail(diag, "setting ciphers for", cert);
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        err = ssl_fail(diag, "loading certificate", cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        err = ssl_fail(diag, "loading private key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        err = ssl_fail(diag, "private key does not match certificate", cert);
        goto fail;
    }
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    *out = ctx;
    return MB_OK;
fail:
    SSL_CTX_free(ctx);
    return err;
}

mb_err tlsctx_new(const char *cert_path, const char *key_path, struct tlsctx **out,
                  struct mb_diag *diag)
{
    struct tlsctx *t;
    struct filesig cs = sig_of(cert_path), ks = sig_of(key_path);
    SSL_CTX *ctx;
    mb_err err = build(cert_path, key_path, &ctx, diag);

    if (err)
        return err;
    t = mb_xcalloc(1, sizeof *t);
    t->cert_path = mb_xstrdup(cert_path);
    t->key_path = mb_xstrdup(key_path);
    pthread_mutex_init(&t->mu, NULL);
    t->cur = ctx;
    t->cert_sig = cs;
    t->key_sig = ks;
    describe(ctx, t->desc, sizeof t->desc);
    t->not_after = cert_time(ctx, false);
    t->not_before = cert_time(ctx, true);
    *out = t;
    return MB_OK;
}

void tlsctx_free(struct tlsctx *t)
{
    if (!t)
        return;
    SSL_CTX_free(t->cur);
    pthread_mutex_destroy(&t->mu);
    mb_free(t->cert_path);
    mb_free(t->key_path);
    mb_free(t);
}

SSL *tlsctx_ssl_new(struct tlsctx *t)
{
    SSL *ssl;

    pthread_mutex_lock(&t->mu);
    ssl = SSL_new(t->cur); /* the SSL holds its own reference to the context */
    pthread_mutex_unlock(&t->mu);
    return ssl;
}

/* OpenSSL's message callback: every protocol message, sent (write_p) or
 * received; a received handshake message of type key_update is counted. */
static void on_msg(int write_p, int version, int content_type, const void *buf, size_t len,
                   SSL *ssl, void *arg)
{
    struct tlsctx_watch *w = arg;
    (void)version;
    (void)ssl;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 &&
        ((const unsigned char *)buf)[0] == SSL3_MT_KEY_UPDATE)
        w->fn(w->arg);
}

void tlsctx_watch_key_updates(SSL *ssl, struct tlsctx_watch *w)
{
    SSL_clear_mode(ssl, SSL_MODE_AUTO_RETRY);
    SSL_set_msg_callback_arg(ssl, w);
    SSL_set_msg_callback(ssl, on_msg);
}

const char *tlsctx_describe(const struct tlsctx *t) { return t->desc; }

long long tlsctx_not_after(const struct tlsctx *t) { return t->not_after; }

long long tlsctx_not_before(const struct tlsctx *t) { return t->not_before; }

int tlsctx_maybe_reload(struct tlsctx *t, struct mb_diag *diag)
{
    struct filesig cs = sig_of(t->cert_path), ks = sig_of(t->key_path);
    SSL_CTX *ctx;

    if (sig_eq(&cs, &t->cert_sig) && sig_eq(&ks, &t->key_sig))
        return 0;
    if (build(t->cert_path, t->key_path, &ctx, diag)) {
        /* report a given broken state once; retry silently until it changes */
        bool repeat = sig_eq(&cs, &t->tried_cert) && sig_eq(&ks, &t->tried_key);
        t->tried_cert = cs;
        t->tried_key = ks;
        if (repeat && diag)
            diag->msg[0] = '\0';
        return -1;
    }
    pthread_mutex_lock(&t->mu);
    SSL_CTX_free(t->cur); /* live SSL objects keep their own reference */
    t->cur = ctx;
    pthread_mutex_unlock(&t->mu);
    t->cert_sig = cs;
    t->key_sig = ks;
    describe(ctx, t->desc, sizeof t->desc);
    t->not_after = cert_time(ctx, false);
    t->not_before = cert_time(ctx, true);
    return 1;
}
