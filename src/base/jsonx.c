/* jsonx.c -- jansson helpers (pure). */
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
