/*
 * kobj.h -- small views of Kubernetes wire objects: watch events, Status,
 * resourceVersions.
 *
 * Pure (jansson only).
 */
#ifndef MB_KOBJ_H
#define MB_KOBJ_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "membudget/clock.h"
#include "membudget/err.h"

enum kobj_ev { KOBJ_ADDED, KOBJ_MODIFIED, KOBJ_DELETED, KOBJ_BOOKMARK, KOBJ_ERROR };

/* Decode one watch line ({"type":..., "object":{...}}). On success *type is
 * set and *obj is a new reference to the event's object (json_decref it).
 * MB_EPARSE with a reason in diag for anything else; nothing written then. */
mb_err kobj_event_decode(const char *line, size_t len, enum kobj_ev *type, json_t **obj,
                         struct mb_diag *diag);

const char *kobj_ev_name(enum kobj_ev t); /* Returns: static "ADDED"... */

/* A metav1.Status, as the API server sends errors (also inside ERROR watch
 * events). */
struct kobj_status {
    long code;       /* 410, 409, 429... (0 when absent) */
    char reason[64]; /* "Expired", "Conflict"... */
    char message[256];
};

/* True when `obj` is a Status ("kind":"Status"); fills *st. */
bool kobj_status_decode(const json_t *obj, struct kobj_status *st);

/* Parse a response body as a Status. Fills *st with at least the HTTP code
 * and a message made of the body's first line when it is not JSON. */
void kobj_status_from_body(long http_status, const char *body, size_t len, struct kobj_status *st);

/* Returns: borrowed metadata.resourceVersion (or metadata.continue for
 * kobj_continue), NULL when absent. */
const char *kobj_rv(const json_t *obj);
const char *kobj_continue(const json_t *list);

/* Copy the JSON text in[len] to out (room for len bytes) without the
 * members "managedFields" of every object that is a "metadata" key's value
 * (a watch event's object, a list's items): a third or more of a pod's
 * bytes, and nodes nobody here reads, dropped before they are decoded.
 * Anything else, malformed text included, is copied unchanged (the decoder
 * says what is wrong). Returns: the length written. */
size_t kobj_strip_managed_fields(const char *in, size_t len, char *out);

/* Returns: borrowed string at a dotted path ("metadata.name"), NULL when
 * absent or not a string. */
const char *kobj_str(const json_t *obj, const char *path);

/* Returns: borrowed ownerReference marked `controller: true` in an object's
 * metadata, or NULL (none, or metadata not an object). */
const json_t *kobj_controller_ref(const json_t *metadata);

/* RFC 3339 in UTC, seconds precision ("2026-11-22T23:04:48Z"), as the API
 * writes metav1.Time. `len` of 32 is always enough. */
void kobj_format_time(mb_wall_ms wall, char *buf, size_t len);

/* The same with milliseconds: "2026-11-23T10:00:01.250Z". */
void kobj_format_time_ms(mb_wall_ms wall, char *buf, size_t len);
/* And with microseconds, as a MicroTime ("2026-11-22T10:00:00.250000Z"). */
void kobj_format_time_us(mb_wall_ms wall, char *buf, size_t len);

/* Parse an RFC 3339 UTC time ("2026-11-23T10:00:01Z", optional fraction of
 * a second). `len` bytes of s. Returns false unless that is exactly what
 * they hold. */
bool kobj_parse_time(const char *s, size_t len, mb_wall_ms *out);

#endif
