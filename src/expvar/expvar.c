/*
 * expvar.c -- Go's expvar JSON (/debug/vars) read for memstats (pure; see
 * expvar.h): the sampler's source for Go services that publish expvar
 * rather than Prometheus text.
 */
#include <jansson.h>
#include <math.h>

#include "membudget/expvar.h"

/* A non-negative integral JSON number that fits uint64 (expvar writes
 * integers; a real with no fraction is accepted too). */
static bool get_u64(const json_t *o, const char *k, uint64_t *out)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = (uint64_t)json_integer_value(v);
        return true;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d < 1.8e19 && d == floor(d)) {
            *out = (uint64_t)d;
            return true;
        }
    }
    return false;
}

mb_err expvar_parse(const char *buf, size_t len, struct expvar_mem *out, struct mb_diag *diag)
{
    json_error_t je;
    json_t *root = json_loadb(buf, len, 0, &je);
    if (!root)
        return mb_diag_set(diag, MB_EPARSE, "expvar: not JSON: %s (line %d)", je.text, je.line);
    const json_t *ms = json_object_get(root, "memstats");
    if (!json_is_object(ms)) {
        json_decref(root);
        return mb_diag_set(diag, MB_EPARSE, "expvar: no \"memstats\" object");
    }
    struct expvar_mem m = {0};
    m.has_heap_inuse = get_u64(ms, "HeapInuse", &m.heap_inuse);
    m.has_heap_alloc = get_u64(ms, "HeapAlloc", &m.heap_alloc);
    m.has_sys = get_u64(ms, "Sys", &m.sys);
    m.has_num_gc = get_u64(ms, "NumGC", &m.num_gc);
    json_decref(root);
    *out = m;
    return MB_OK;
}
