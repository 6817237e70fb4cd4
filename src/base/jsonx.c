/*
 * jsonx.c -- jansson helpers (pure): a dump into our allocator
 * (mb_json_dumps), a string from bytes that may not be UTF-8, and UTF-8
 * lengths: what every module would otherwise write again.
 */
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/buf.h"
#include "membudget/jsonx.h"

static int dump_cb(const char *buf, size_t size, void *data)
{
    return mb_buf_add(data, buf, size) ? -1 : 0;
}

char *mb_json_dumps(const json_t *j, size_t flags, size_t *len)
{
    struct mb_buf b;

    mb_buf_init(&b, (size_t)-1 / 2);
    if (json_dump_callback(j, dump_cb, &b, flags | JSON_ENCODE_ANY) != 0)
        MB_ASSERT(!"json_dump_callback failed");
    if (len)
        *len = b.len;
    return mb_buf_take(&b);
}

json_t *mb_json_string_lossy(const char *s)
{
    json_t *j = json_string(s);
    char *copy;

    if (j)
        return j;
    copy = mb_xstrdup(s);
    for (char *c = copy; *c; c++)
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    j = json_string(copy);
    mb_free(copy);
    return j;
}

size_t mb_utf8_len(const unsigned char *p, const unsigned char *e)
{
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        n = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
        n = 3;
        if (p[0] == 0xE0)
            lo = 0xA0;
        else if (p[0] == 0xED)
            hi = 0x9F;
    } else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
        n = 4;
        if (p[0] == 0xF0)
            lo = 0x90;
        else if (p[0] == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if ((size_t)(e - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n;
}
