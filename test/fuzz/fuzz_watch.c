/* fuzz_watch.c -- a watch stream: bytes split at fuzzer-chosen points into
 * the framer, each line decoded as a watch event and applied to the pod
 * cache (with relists mixed in). Checks the cache's own invariants. */
#include <stdint.h>
#include <string.h>
#include "membudget/alloc.h"
#include "membudget/kobj.h"
#include "membudget/podcache.h"
#include "membudget/wframe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool on_line(void *ctx, const char *line, size_t len)
{
    struct podcache *c = ctx;
    enum kobj_ev t;
    json_t *obj = NULL;
    if (kobj_event_decode(line, len, &t, &obj, NULL) != MB_OK)
        return true;
    if (t == KOBJ_ERROR) {
        struct kobj_status st;
        kobj_status_decode(obj, &st);
        /* a 410: relist nothing, everything goes */
        pc_relist_begin(c, "");
        pc_relist_end(c);
    } else {
        (void)pc_apply(c, t, obj, NULL);
    }
    json_decref(obj);
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wframe f;
    struct podcache *c = pc_new(NULL, NULL, NULL);
    size_t step = size ? (size_t)data[0] % 61 + 1 : 1;

    wframe_init(&f, 1 << 16);
    for (size_t off = 1; off < size; off += step) {
        size_t n = size - off < step ? size - off : step;
        if (wframe_feed(&f, (const char *)data + off, n, on_line, c) != MB_OK)
            break;
    }
    size_t pos = 0, n = 0;
    struct pc_pod *p;
    while ((p = pc_next(c, &pos))) {
        MB_ASSERT(pc_get(c, p->ns, p->name) == p);
        json_decref(pc_pod_json(p));
        n++;
    }
    MB_ASSERT(n == pc_count(c));
    wframe_cleanup(&f);
    pc_free(c);
    return 0;
}
