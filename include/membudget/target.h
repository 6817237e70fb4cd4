/*
 * target.h -- the URL of a pod's own endpoint, and nothing else.
 *
 * Pure. The controller calls URLs derived from pod annotations, so the URL
 * is built only from: the pod's status.podIP (an IP literal, never a name,
 * written back canonically), a port the target container declares (TCP, by
 * number or by name), and the annotation's path (already restricted by the
 * annotation parser). An annotation pointing anywhere else cannot produce a
 * URL. Nor can an address no pod should have:
 *   - always refused: unspecified (0.0.0.0/8, ::), link-local (169.254/16,
 *     fe80::/10), multicast, reserved/broadcast (240/4), IPv4-mapped and
 *     IPv4-compatible IPv6 (they reach IPv4 loopback and friends);
 *   - loopback (127/8, ::1): only with usage.allowLoopback (single-machine
 *     setups: the demo, the tests);
 *   - a hostNetwork pod (its IP is the node's): only with
 *     usage.allowHostNetwork.
 */
#ifndef MB_TARGET_H
#define MB_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/podcache.h"

struct tgt_policy {
    bool allow_loopback;
    bool allow_host_network;
};

/* Is p's address one the policy refuses to call? Returns a short reason
 * (a metric label: "unspecified", "loopback", "link-local", "multicast",
 * "reserved", "ipv4-mapped", "ipv4-compatible", "not-an-ip",
 * "host-network") with the sentence in why; NULL when it may be called, or
 * when the pod has no IP yet. tgt_url refuses exactly these. */
const char *tgt_address_refusal(const struct pc_pod *p, const struct tgt_policy *pol, char *why,
                                size_t whylen);

/* Build "http://IP:PORT/PATH" for the membudget.io/<key> annotation of p
 * ("metrics", "gc", "profile", "throttle", "goroutines", "memlimit"; without
 * a goroutines annotation, the profile's port and ANN_GOROUTINES_DEFAULT_PATH).
 * Returns false with the reason in
 * why when there is no such annotation, it is malformed, the pod has no IP
 * or one the policy refuses, or the port is not declared by the target
 * container. */
bool tgt_url(const struct pc_pod *p, const char *key, const struct tgt_policy *pol, char *url,
             size_t len, char *why, size_t whylen);

#endif
