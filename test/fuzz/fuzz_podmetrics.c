/* fuzz_podmetrics.c -- the metrics API list scanner, checked against jansson
 * on any bytes: both accept or both refuse, and they read the same fields.
 * The allowed differences: jansson refuses integers and reals it cannot hold,
 * the scanner (which keeps no numbers) does not; jansson passes over a NUL
 * byte right after a literal or a number ({"items":[null\0]}), the scanner
 * refuses it, as RFC 8259 does. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "membudget/podmetrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Did the scanner stop at a NUL byte ("... at byte N")? */
static bool stopped_at_nul(const struct mb_diag *d, const uint8_t *data, size_t size)
{
    const char *at = strstr(d->msg, " at byte ");
    size_t n = at ? strtoul(at + 9, NULL, 10) : size;
    return n < size && data[n] == 0;
}

static void same(struct pm_str s, const json_t *v)
{
    const char *want = json_string_value(v);
    if (!want) {
        MB_ASSERT(s.p == NULL);
        return;
    }
    MB_ASSERT(s.p && s.len == json_string_length(v) && !memcmp(s.p, want, s.len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pm_list l;
    struct mb_diag d = {0};
    json_error_t je;
    mb_err e = pm_parse((const char *)data, size, &l, &d);
    json_t *j = json_loadb((const char *)data, size, 0, &je);
    const json_t *items = json_object_get(j, "items");

    if (!j) {
        MB_ASSERT(e || strstr(je.text, "too big") || strstr(je.text, "overflow"));
    } else if (!json_is_array(items)) {
        MB_ASSERT(e);
    } else if (e) {
        /* jansson allows 2048 levels, and NUL bytes after a token */
        MB_ASSERT(strstr(d.msg, "nested too deep") || stopped_at_nul(&d, data, size));
    } else {
        size_t i, n = 0;
        const json_t *it;
        json_array_foreach(items, i, it)
        {
            if (!json_is_object(it))
                continue;
            MB_ASSERT(n < l.nitems);
            const struct pm_item *pi = &l.items[n++];
            const json_t *md = json_object_get(it, "metadata");
            same(pi->ns, json_object_get(md, "namespace"));
            same(pi->name, json_object_get(md, "name"));
            const json_t *cs = json_object_get(it, "containers"), *c;
            size_t k, m = 0;
            json_array_foreach(cs, k, c)
            {
                if (!json_is_object(c))
                    continue;
                MB_ASSERT(m < pi->n);
                const struct pm_container *pc = &l.containers[pi->first + m++];
                same(pc->name, json_object_get(c, "name"));
                same(pc->memory, json_object_get(json_object_get(c, "usage"), "memory"));
            }
            MB_ASSERT(m == pi->n);
        }
        MB_ASSERT(n == l.nitems);
    }
    json_decref(j);
    if (!e)
        pm_list_free(&l);
    return 0;
}
