/* governed.c -- the governed namespaces: the set the controller acts in,
 * never one of the excluded (config.h cfg_excluded). Shared by the cache
 * listener (controller.c) and the executor (remedy.c). */
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/log.h"
#include "controller_int.h"

bool gov_has(const struct controller *c, const char *ns)
{
    for (size_t i = 0; i < c->ngoverned; i++)
        if (strcmp(c->governed[i], ns) == 0)
            return true;
    return false;
}

/* kube-system, kube-public, kube-node-lease, excludedNamespaces and our
 * own: never governed, whatever their labels (docs/design.md). */
bool gov_excluded(const struct controller *c, const char *ns)
{
    return cfg_excluded(c->cfg, ns, c->own_ns);
}

bool gov_add(struct controller *c, const char *ns)
{
    if (gov_has(c, ns))
        return false;
    if (gov_excluded(c, ns)) {
        log_warn("namespace is labelled but excluded: not governed", "{s:s}", "namespace", ns);
        return false;
    }
    if (c->ngoverned == c->capgoverned) {
        c->capgoverned = c->capgoverned ? c->capgoverned * 2 : 8;
        c->governed = mb_xrealloc(c->governed, c->capgoverned * sizeof *c->governed);
    }
    c->governed[c->ngoverned++] = mb_xstrdup(ns);
    return true;
}

bool gov_remove(struct controller *c, const char *ns)
{
    for (size_t i = 0; i < c->ngoverned; i++) {
        if (strcmp(c->governed[i], ns) == 0) {
            mb_free(c->governed[i]);
            c->governed[i] = c->governed[--c->ngoverned];
            return true;
        }
    }
    return false;
}
