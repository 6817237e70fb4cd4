/*
 * certgen.c -- a CA and serving certificates, made in memory with OpenSSL
 * (no I/O; see certgen.h). Used by `membudget certs` (the chart's and
 * deploy/'s certificate Job: the webhook's Secret and the caBundle of its
 * configurations), and by the tests, which make throw-away CAs.
 *
 * What a webhook serving certificate needs and nothing more: a self-signed
 * CA (CA:TRUE, keyCertSign), a leaf signed by it for the Service's DNS
 * names (serverAuth, the names in subjectAltName: the API server checks
 * those, never the CN), ECDSA P-256 keys by default (RSA 2048 for clusters
 * whose policies ask for it). certgen_check() tells whether a kept
 * certificate can serve on: the job renews before expiry, not after.
 */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/certgen.h"

void certgen_pair_cleanup(struct certgen_pair *p)
{
    MB_FREE(p->cert_pem);
    MB_FREE(p->key_pem);
}

/* OpenSSL's reason for the last failure, into diag; its queue is cleared
 * so that a later, unrelated failure does not report this one. */
static mb_err fail(struct mb_diag *d, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[160] = "unknown error";

    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return mb_diag_set(d, MB_ETLS, "%s: %s", what, buf);
}

static char *bio_text(BIO *b)
{
    char *p;
    long n = BIO_get_mem_data(b, &p);
    return mb_xstrndup(p, (size_t)n);
}

/* One X.509v3 extension in OpenSSL's config syntax ("critical,CA:TRUE");
 * the issuer is needed for the authority key identifier. */
static bool add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ex;

    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    ex = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ex)
        return false;
    X509_add_ext(cert, ex, -1);
    X509_EXTENSION_free(ex);
    return true;
}

/* Set once, before any certificate is made (`certs --key-type`). */
static enum certgen_key key_type = CERTGEN_ECDSA_P256;

void certgen_set_key_type(enum certgen_key t) { key_type = t; }

/* One certificate and its new key: self-signed when issuer is NULL (the
 * CA), else signed by issuer_key. The serial is 127 random bits (RFC 5280
 * asks for at most 20 octets, and CAs for unpredictable ones). */
static mb_err make(const char *cn, int days, bool is_ca, const char *san, X509 *issuer,
                   EVP_PKEY *issuer_key, struct certgen_pair *out, struct mb_diag *diag)
{
    EVP_PKEY *key = key_type == CERTGEN_RSA_2048 ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    X509 *x = X509_new();
    BIGNUM *bn = BN_new();
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    mb_err err = MB_OK;

    if (!key || !x || !bn || !cb || !kb) {
        err = fail(diag, "allocating key or certificate");
        goto out;
    }
    X509_set_version(x, 2);
    if (!BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x))) {
        err = fail(diag, "serial number");
        goto out;
    }
    X509_gmtime_adj(X509_getm_notBefore(x), -300); /* tolerate small clock skew */
    X509_gmtime_adj(X509_getm_notAfter(x), (long)days * 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
    if (!add_ext(x, issuer ? issuer : x, NID_basic_constraints,
                 is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") ||
        !add_ext(x, issuer ? issuer : x, NID_key_usage,
                 is_ca ? "critical,keyCertSign,cRLSign"
                       : "critical,digitalSignature,keyEncipherment") ||
        !add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash") ||
        (issuer && !add_ext(x, issuer, NID_authority_key_identifier, "keyid:always")) ||
        (!is_ca && !add_ext(x, issuer, NID_ext_key_usage, "serverAuth")) ||
        (san && *san && !add_ext(x, issuer, NID_subject_alt_name, san))) {
        err = fail(diag, "certificate extensions");
        goto out;
    }
    if (!X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256())) {
        err = fail(diag, "signing");
        goto out;
    }
    if (!PEM_write_bio_X509(cb, x) ||
        !PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL)) {
        err = fail(diag, "PEM encoding");
        goto out;
    }
    out->cert_pem = bio_text(cb);
    out->key_pem = bio_text(kb);
out:
    BIO_free(cb);
    BIO_free(kb);
    BN_free(bn);
    X509_free(x);
    EVP_PKEY_free(key);
    return err;
}

mb_err certgen_ca(const char *common_name, int days, struct certgen_pair *out, struct mb_diag *diag)
{
    return make(common_name, days, true, NULL, NULL, NULL, out, diag);
}

mb_err certgen_serving(const struct certgen_pair *ca, const char *common_name,
                       const char *const *dns, size_t ndns, const char *const *ips, size_t nips,
                       int days, struct certgen_pair *out, struct mb_diag *diag)
{
    BIO *cb = BIO_new_mem_buf(ca->cert_pem, -1), *kb = BIO_new_mem_buf(ca->key_pem, -1);
    X509 *cax = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *cak = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    struct mb_buf san;
    mb_err err;

    mb_buf_init(&san, 16384);
    for (size_t i = 0; i < ndns; i++)
        (void)mb_buf_printf(&san, "%sDNS:%s", san.len ? "," : "", dns[i]);
    for (size_t i = 0; i < nips; i++)
        (void)mb_buf_printf(&san, "%sIP:%s", san.len ? "," : "", ips[i]);
    if (!cax || !cak)
        err = fail(diag, "reading the CA certificate and key");
    else
        err = make(common_name, days, false, mb_buf_str(&san), cax, cak, out, diag);
    mb_buf_cleanup(&san);
    X509_free(cax);
    EVP_PKEY_free(cak);
    BIO_free(cb);
    BIO_free(kb);
    return err;
}

/* Whether the Secret's three PEMs still serve: they parse, the key is the
 * certificate's, the CA signed it, it is valid now and for min_remaining_s
 * more (the CA too), and it covers every name. The first failure is why. */
bool certgen_check(const char *ca_pem, const char *cert_pem, const char *key_pem,
                   const char *const *dns, size_t ndns, int64_t now_s, int64_t min_remaining_s,
                   char *why, size_t whylen)
{
    BIO *b1 = BIO_new_mem_buf(ca_pem, -1), *b2 = BIO_new_mem_buf(cert_pem, -1),
        *b3 = BIO_new_mem_buf(key_pem, -1);
    X509 *ca = b1 ? PEM_read_bio_X509(b1, NULL, NULL, NULL) : NULL;
    X509 *cert = b2 ? PEM_read_bio_X509(b2, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = b3 ? PEM_read_bio_PrivateKey(b3, NULL, NULL, NULL) : NULL;
    time_t limit = (time_t)(now_s + min_remaining_s), now = (time_t)now_s;
    bool ok = false;

    if (!ca || !cert || !key)
        snprintf(why, whylen, "cannot parse the %s",
                 !ca     ? "CA certificate"
                 : !cert ? "certificate"
                         : "key");
    else if (X509_check_private_key(cert, key) != 1)
        snprintf(why, whylen, "the key does not match the certificate");
    else if (X509_verify(cert, X509_get0_pubkey(ca)) != 1)
        snprintf(why, whylen, "the certificate is not signed by the CA");
    else if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0)
        snprintf(why, whylen, "the certificate is not valid yet");
    else if (X509_cmp_time(X509_get0_notAfter(cert), &limit) < 0 ||
             X509_cmp_time(X509_get0_notAfter(ca), &limit) < 0)
        snprintf(why, whylen, "the certificate or its CA expires within %lld days",
                 (long long)(min_remaining_s / 86400));
    else {
        ok = true;
        for (size_t i = 0; i < ndns && ok; i++) {
            if (X509_check_host(cert, dns[i], 0, 0, NULL) != 1) {
                snprintf(why, whylen, "the certificate does not cover %s", dns[i]);
                ok = false;
            }
        }
    }
    ERR_clear_error();
    X509_free(ca);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(b1);
    BIO_free(b2);
    BIO_free(b3);
    return ok;
}
