/*
 * s3.c -- put, get and list on an S3-compatible store (see s3.h).
 *
 * libcurl signs (CURLOPT_AWS_SIGV4 "aws:amz:REGION:s3", the keys as
 * user:password). What SigV4 asks of the request itself is done here, as
 * curl 7.88 leaves it to the caller: the path is URI-encoded segment by
 * segment (S3's canonical URI), the query is sorted and encoded (its
 * canonical query), and x-amz-content-sha256 carries the payload's hash
 * (OpenSSL's SHA-256), which curl then signs with the other headers.
 */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/s3.h"

#define S3_CONNECT_TIMEOUT_MS 10000
#define S3_ERROR_BODY_MAX 16384       /* an error document is small */
#define S3_LIST_PAGE_BYTES (8u << 20) /* one ListObjectsV2 page: 1000 keys of 1 KiB */
#define S3_SECRET_FILE_MAX 4096

struct s3 {
    const struct cfg_s3 *conf;
    CURL *e;
    const atomic_bool *abort;
};

void s3_set_abort(struct s3 *s, const atomic_bool *flag) { s->abort = flag; }

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    const struct s3 *s = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    return s->abort && atomic_load(s->abort);
}

struct s3 *s3_new(const struct cfg_s3 *conf)
{
    struct s3 *s = mb_xcalloc(1, sizeof *s);
    s->conf = conf;
    s->e = curl_easy_init();
    if (!s->e) {
        mb_free(s);
        return NULL;
    }
    return s;
}

void s3_free(struct s3 *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->e);
    mb_free(s);
}

/* --- the request's parts -------------------------------------------------- */

/* Append s, every byte but unreserved ones (and '/' when keep_slash)
 * percent-encoded in upper-case hex: S3's canonical form. */
static void uri_encode(struct mb_buf *b, const char *s, bool keep_slash)
{
    static const char HEX[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (keep_slash && c == '/')) {
            mb_buf_add(b, s, 1);
        } else {
            char pct[3] = {'%', HEX[c >> 4], HEX[c & 15]};
            mb_buf_add(b, pct, 3);
        }
    }
}

/* The URL of `key` (NULL: the bucket itself), with `query` (already
 * canonical) when not NULL. */
static void url_of(const struct cfg_s3 *c, const char *key, const char *query, struct mb_buf *u)
{
    const char *e = c->endpoint, *host = strstr(e, "://") + 3;
    if (c->path_style) {
        mb_buf_printf(u, "%s/", e);
        uri_encode(u, c->bucket, false);
        mb_buf_adds(u, "/");
    } else {
        mb_buf_printf(u, "%.*s%s.%s/", (int)(host - e), e, c->bucket, host);
    }
    if (key)
        uri_encode(u, key, true);
    if (query)
        mb_buf_printf(u, "?%s", query);
}

static void sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* A secret's file, first line, trimmed; false (and st says which file)
 * when it cannot be read or is empty. */
static bool read_secret(const char *path, char *out, size_t len, struct s3_status *st)
{
    FILE *f = fopen(path, "re");
    size_t n = f ? fread(out, 1, len - 1, f) : 0;
    if (f)
        fclose(f);
    out[n] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    for (size_t l = strlen(out); l && (out[l - 1] == ' ' || out[l - 1] == '\t'); l--)
        out[l - 1] = '\0';
    if (!f || !out[0]) {
        snprintf(st->msg, sizeof st->msg, "the credential file %s %s", path,
                 f ? "is empty" : "cannot be read");
        st->auth = true;
        return false;
    }
    return true;
}

/* --- one request --------------------------------------------------------------- */

struct sink {
    struct mb_buf *body;
    bool over;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct sink *k = arg;
    if (mb_buf_add(k->body, p, sz * n)) {
        k->over = true;
        return 0;
    }
    return sz * n;
}

struct request {
    const char *method, *key, *query, *content_type;
    const void *body;
    size_t len;
    const struct s3_meta *meta;
    size_t nmeta;
    struct mb_buf *out; /* the answer's body */
};

static void classify(struct s3_status *st, const struct mb_buf *body, const char *what)
{
    char code[64] = "", msg[200] = "";
    if (body->len && s3xml_error(body->p, body->len, code, sizeof code, msg, sizeof msg))
        snprintf(st->code, sizeof st->code, "%s", code);
    st->auth = st->http == 401 || st->http == 403;
    st->retry = st->http >= 500 || st->http == 408 || st->http == 429;
    snprintf(st->msg, sizeof st->msg, "%s: HTTP %ld%s%s%s%s", what, st->http, code[0] ? " " : "",
             code, msg[0] ? ": " : "", msg);
}

/* The request's headers: the payload's hash, the session token, the
 * metadata, the content type. curl signs them all. */
static struct curl_slist *headers_of(const struct request *rq, const char *hash, const char *token)
{
    struct mb_buf hdr;
    struct curl_slist *h = NULL;
    mb_buf_init(&hdr, 4096);
    mb_buf_printf(&hdr, "x-amz-content-sha256: %s", hash);
    h = curl_slist_append(h, mb_buf_str(&hdr));
    if (token) {
        mb_buf_reset(&hdr);
        mb_buf_printf(&hdr, "x-amz-security-token: %s", token);
        h = curl_slist_append(h, mb_buf_str(&hdr));
    }
    for (size_t i = 0; i < rq->nmeta; i++) {
        mb_buf_reset(&hdr);
        mb_buf_printf(&hdr, "x-amz-meta-%s: %s", rq->meta[i].name, rq->meta[i].value);
        h = curl_slist_append(h, mb_buf_str(&hdr));
    }
    if (rq->content_type) {
        mb_buf_reset(&hdr);
        mb_buf_printf(&hdr, "Content-Type: %s", rq->content_type);
        h = curl_slist_append(h, mb_buf_str(&hdr));
    }
    mb_buf_cleanup(&hdr);
    return h;
}

/* What the answer (or its absence) means, into st. */
static mb_err outcome(CURLcode cc, const struct sink *sink, const struct request *rq,
                      const char *what, struct s3_status *st)
{
    if (sink->over && st->http / 100 == 2) {
        snprintf(st->msg, sizeof st->msg, "%s: the answer is larger than %zu bytes", what,
                 rq->out->max);
        return MB_ETOOBIG;
    }
    if (cc != CURLE_OK && !sink->over) {
        snprintf(st->msg, sizeof st->msg, "%s: %s", what, curl_easy_strerror(cc));
        st->http = 0;
        st->retry = true;
        return cc == CURLE_OPERATION_TIMEDOUT ? MB_ETIMEOUT : MB_EIO;
    }
    if (st->http / 100 != 2) {
        classify(st, rq->out, what);
        return MB_EIO;
    }
    return MB_OK;
}

static void set_options(CURL *e, const struct s3 *s, const struct request *rq, struct sink *sink)
{
    const struct cfg_s3 *c = s->conf;
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)S3_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, sink);
    if (c->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
    if (!strcmp(rq->method, "PUT")) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT");
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
    }
}

static mb_err perform(struct s3 *s, const struct request *rq, struct s3_status *st)
{
    const struct cfg_s3 *c = s->conf;
    char access[S3_SECRET_FILE_MAX], secret[S3_SECRET_FILE_MAX], token[S3_SECRET_FILE_MAX];
    memset(st, 0, sizeof *st);
    if (!read_secret(c->access_key_file, access, sizeof access, st) ||
        !read_secret(c->secret_key_file, secret, sizeof secret, st) ||
        (c->session_token_file && !read_secret(c->session_token_file, token, sizeof token, st)))
        return MB_EINVAL;
    struct mb_buf url;
    mb_buf_init(&url, 4096);
    url_of(c, rq->key, rq->query, &url);
    char hash[65], sigv4[128];
    sha256_hex(rq->body ? rq->body : "", rq->len, hash);
    snprintf(sigv4, sizeof sigv4, "aws:amz:%s:s3", c->region);
    struct curl_slist *h = headers_of(rq, hash, c->session_token_file ? token : NULL);
    CURL *e = s->e;
    struct sink sink = {.body = rq->out};
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, mb_buf_str(&url));
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(e, CURLOPT_USERNAME, access);
    curl_easy_setopt(e, CURLOPT_PASSWORD, secret);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    set_options(e, s, rq, &sink);
    CURLcode cc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &st->http);
    curl_easy_getinfo(e, CURLINFO_TOTAL_TIME, &st->seconds);
    /* the secrets are the handle's until the next reset: take them away now */
    curl_easy_setopt(e, CURLOPT_USERNAME, "");
    curl_easy_setopt(e, CURLOPT_PASSWORD, "");
    curl_slist_free_all(h);
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(token, sizeof token);
    char what[400];
    snprintf(what, sizeof what, "%s %.380s", rq->method, mb_buf_str(&url));
    mb_buf_cleanup(&url);
    return outcome(cc, &sink, rq, what, st);
}

/* --- the three verbs ------------------------------------------------------------ */

mb_err s3_put(struct s3 *s, const char *key, const void *body, size_t len, const char *content_type,
              const struct s3_meta *meta, size_t nmeta, struct s3_status *st)
{
    struct mb_buf out;
    mb_buf_init(&out, S3_ERROR_BODY_MAX);
    struct request rq = {.method = "PUT",
                         .key = key,
                         .content_type = content_type,
                         .body = body,
                         .len = len,
                         .meta = meta,
                         .nmeta = nmeta,
                         .out = &out};
    mb_err e = perform(s, &rq, st);
    mb_buf_cleanup(&out);
    return e;
}

mb_err s3_get(struct s3 *s, const char *key, size_t max, struct mb_buf *out, struct s3_status *st)
{
    mb_buf_init(out, max);
    struct request rq = {.method = "GET", .key = key, .out = out};
    mb_err e = perform(s, &rq, st);
    if (e)
        mb_buf_cleanup(out);
    return e;
}

mb_err s3_list(struct s3 *s, const char *prefix, size_t max, struct s3_page *page,
               struct s3_status *st)
{
    *page = (struct s3_page){0};
    char token[S3_KEY_MAX + 1] = "";
    mb_err e = MB_OK;
    do {
        struct mb_buf q, out;
        mb_buf_init(&q, 8192);
        mb_buf_init(&out, S3_LIST_PAGE_BYTES);
        /* the canonical query: its names in order, each value encoded */
        if (token[0]) {
            mb_buf_adds(&q, "continuation-token=");
            uri_encode(&q, token, false);
            mb_buf_adds(&q, "&");
        }
        mb_buf_adds(&q, "list-type=2&max-keys=1000&prefix=");
        uri_encode(&q, prefix, false);
        struct request rq = {.method = "GET", .query = mb_buf_str(&q), .out = &out};
        e = perform(s, &rq, st);
        struct s3_page one;
        struct mb_diag d = {0};
        if (!e && (e = s3xml_list(out.p ? out.p : "", out.len, max - page->n, &one, &d)))
            snprintf(st->msg, sizeof st->msg, "the list of %s: %s", prefix, d.msg);
        mb_buf_cleanup(&q);
        mb_buf_cleanup(&out);
        if (e)
            break;
        page->obj = mb_xrealloc(page->obj, (page->n + one.n + 1) * sizeof *page->obj);
        memcpy(page->obj + page->n, one.obj, one.n * sizeof *one.obj);
        page->n += one.n;
        snprintf(token, sizeof token, "%s", one.truncated ? one.next_token : "");
        s3xml_page_free(&one);
    } while (token[0]);
    if (e)
        s3xml_page_free(page);
    return e;
}
