/*
 * target.h -- the URL of a pod's own endpoint, and nothing else.
 *
 * Pure. The controller calls URLs derived from pod annotations, so the URL
 * is built only from: the pod's status.podIP (an IP literal, never a name),
 * a port the target container declares (TCP, by number or by name), and the
 * annotation's path (already restricted by the annotation parser). An
 * annotation pointing anywhere else cannot produce a URL.
 */
#ifndef MB_TARGET_H
#define MB_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/podcache.h"

/* Build "http://IP:PORT/PATH" for the membudget.io/<key> annotation of p
 * ("metrics", "gc", "profile", "throttle"). Returns false with the reason in
 * why when there is no such annotation, it is malformed, the pod has no IP
 * or a bad one, or the port is not declared by the target container. */
bool tgt_url(const struct pc_pod *p, const char *key, char *url, size_t len, char *why,
             size_t whylen);

#endif
