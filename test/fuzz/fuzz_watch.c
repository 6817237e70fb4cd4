/* fuzz_watch.c -- a watch stream: bytes split at fuzzer-chosen points into
 * the framer, each line stripped of managedFields and decoded as a watch
 * event (as the reflector does) and applied to the pod cache (with relists
 * mixed in). Checks the cache's own invariants, and that stripping never
 * turns JSON the decoder takes into JSON it refuses. */
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
    char *lean = mb_xmalloc(len + 1);
    size_t n = kobj_strip_managed_fields(line, len, lean);
    MB_ASSERT(n <= len);
    json_t *whole = json_loadb(line, len, 0, NULL), *part = json_loadb(lean, n, 0, NULL);
    MB_ASSERT(!whole || part);
    json_decref(whole);
    json_decref(part);
    mb_err e = kobj_event_decode(lean, n, &t, &obj, NULL);
    mb_free(lean);
    if (e != MB_OK)
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
    struct podcache *c = pc_new(NULL, NULL, NULL, 16);
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
        MB_ASSERT(pc_get(c, p->sh->ns, p->name) == p);
        json_decref(pc_pod_json(p));
        n++;
    }
    MB_ASSERT(n == pc_count(c));
    wframe_cleanup(&f);
    pc_free(c);
    return 0;
}
