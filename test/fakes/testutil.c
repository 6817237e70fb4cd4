/* testutil.c -- helpers for the check suites. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "membudget/alloc.h"
#include "testutil.h"

json_t *tu_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &e);

    ck_assert_msg(j != NULL, "bad JSON in test (%d:%d %s): %s", e.line, e.column, e.text, text);
    return j;
}

char *tu_read_file(const char *relpath, size_t *len)
{
    const char *dir = getenv("MB_SRCDIR");
    char path[4096];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof path, "%s/%s", dir ? dir : ".", relpath);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = mb_xmalloc((size_t)n + 1);
    ck_assert_int_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

json_t *tu_pod(const char *annotations_json, const char *containers_json)
{
    char *text =
        mb_xasprintf("{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"%s%s},"
                     "\"spec\":{\"containers\":%s}}",
                     annotations_json ? ",\"annotations\":" : "",
                     annotations_json ? annotations_json : "", containers_json);
    json_t *j = tu_json(text);
    mb_free(text);
    return j;
}

char *tu_base64_decode(const char *b64, size_t *len)
{
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = mb_xmalloc(strlen(b64) * 3 / 4 + 4);
    size_t n = 0;
    unsigned v = 0;
    int bits = 0;

    for (const char *c = b64; *c && *c != '='; c++) {
        const char *p = strchr(T, *c);
        ck_assert_msg(p != NULL && *c, "bad base64 character %c", *c);
        v = (v << 6) | (unsigned)(p - T);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)(v >> bits);
            v &= (1u << bits) - 1;
        }
    }
    out[n] = '\0';
    if (len)
        *len = n;
    return out;
}

void tu_write_file(const char *dir, const char *name, const char *text)
{
    char tmp[512], path[512];
    FILE *f;

    /* write + rename: a reader never sees half a file */
    snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    ck_assert_int_eq(rename(tmp, path), 0);
}

/* --- heap counting (tu_heap_begin/_end) --- */
static long long heap_now, heap_peak;

static void *count_malloc(size_t n)
{
    void *p = malloc(n);
    if (p && (heap_now += (long long)malloc_usable_size(p)) > heap_peak)
        heap_peak = heap_now;
    return p;
}

static void *count_realloc(void *p, size_t n)
{
    long long before = p ? (long long)malloc_usable_size(p) : 0;
    void *q = realloc(p, n);
    if (q) {
        heap_now += (long long)malloc_usable_size(q) - before;
        if (heap_now > heap_peak)
            heap_peak = heap_now;
    }
    return q;
}

static void count_free(void *p)
{
    if (p)
        heap_now -= (long long)malloc_usable_size(p);
    free(p);
}

void tu_heap_begin(void)
{
    static const struct mb_alloc_hooks COUNTING = {count_malloc, count_realloc, count_free};
    heap_now = heap_peak = 0;
    mb_set_alloc_hooks(&COUNTING);
}

long long tu_heap_end(void)
{
    mb_set_alloc_hooks(NULL);
    return heap_peak;
}

/* --- stderr capture (tu_stderr_begin/_end) --- */
static int saved_stderr = -1;
static FILE *captured;

void tu_stderr_begin(void)
{
    fflush(stderr);
    captured = tmpfile();
    ck_assert_ptr_nonnull(captured);
    saved_stderr = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_stderr, 0);
    dup2(fileno(captured), STDERR_FILENO);
}

char *tu_stderr_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    saved_stderr = -1;
    long n = ftell(captured);
    char *text = mb_xmalloc((size_t)(n > 0 ? n : 0) + 1);
    rewind(captured);
    size_t got = n > 0 ? fread(text, 1, (size_t)n, captured) : 0;
    text[got] = '\0';
    fclose(captured);
    captured = NULL;
    return text;
}
