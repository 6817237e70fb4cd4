/*
 * evict.h -- how an eviction ended, as the planner (pure) decides on it and
 * the recorder (shell) reports it. Its own header so that the pure planner
 * needs nothing of the recorder's.
 */
#ifndef MB_EVICT_H
#define MB_EVICT_H

/* EVICT_OK: the API server took the Eviction (201); EVICT_BLOCKED: it said
 * "not now" (429: a PDB, or the disruption controller not ready); EVICT_GONE:
 * the pod is not there any more (404); EVICT_ERROR: anything else. */
enum evict_result { EVICT_OK, EVICT_BLOCKED, EVICT_GONE, EVICT_ERROR };

/* Returns: static name of a result ("evicted", ...), the metric's label. */
static inline const char *evict_result_name(enum evict_result e)
{
    static const char *const NAMES[] = {"evicted", "blocked", "gone", "error"};
    return (unsigned)e < sizeof NAMES / sizeof NAMES[0] ? NAMES[e] : "?";
}

#endif
