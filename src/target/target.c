/*
 * target.c -- the URL of a pod's own endpoint, and nothing else (pure; see
 * target.h). This is where the controller's SSRF guard decides: the host
 * is the pod's status.podIP, re-written by inet_ntop (never the API's
 * text), and only when it is an address a pod may have (not loopback,
 * link-local such as a cloud's metadata service, multicast, mapped or
 * reserved); the port is one the pod's container declares over TCP; the
 * path is the annotation's, checked to URL characters by annot.c. A pod
 * author controls the annotation, so nothing in it may choose where the
 * request goes. podcall.c is the only caller that sends.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "membudget/annot.h"
#include "membudget/target.h"

/* ::ffff:a.b.c.d would reach an IPv4 address the v4 checks never saw. */
static const unsigned char V4MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const unsigned char ZERO[16] = {0};

/* The classes of address no pod should have: the label (a metric's) and
 * the description (a log's). */
static const struct {
    const char *label, *desc;
} CLASSES[] = {
    {"not-an-ip", "not an IP address"},
    {"unspecified", "unspecified (::)"},
    {"loopback", "loopback (::1)"},
    {"ipv4-mapped", "IPv4-mapped IPv6 (::ffff:0:0/96)"},
    {"ipv4-compatible", "IPv4-compatible IPv6 (::/96)"},
    {"link-local", "link-local (fe80::/10)"},
    {"multicast", "multicast (ff00::/8)"},
    {"unspecified", "unspecified (0.0.0.0/8)"},
    {"loopback", "loopback (127.0.0.0/8)"},
    {"link-local", "link-local (169.254.0.0/16)"},
    {"multicast", "multicast (224.0.0.0/4)"},
    {"reserved", "reserved or broadcast (240.0.0.0/4)"},
};
enum {
    NOT_IP,
    UNSPEC6,
    LOOP6,
    MAPPED,
    COMPAT,
    LINK6,
    MULTI6,
    UNSPEC4,
    LOOP4,
    LINK4,
    MULTI4,
    RESERVED
};

/* Index into CLASSES, or -1 for an ordinary unicast address. */
static int classify(const char *ip)
{
    unsigned char a[16];
    if (strchr(ip, ':')) {
        if (inet_pton(AF_INET6, ip, a) != 1)
            return NOT_IP;
        if (!memcmp(a, ZERO, 16))
            return UNSPEC6;
        if (!memcmp(a, ZERO, 15) && a[15] == 1)
            return LOOP6;
        if (!memcmp(a, V4MAPPED, 12))
            return MAPPED;
        if (!memcmp(a, ZERO, 12))
            return COMPAT;
        if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
            return LINK6;
        if (a[0] == 0xff)
            return MULTI6;
        return -1;
    }
    if (inet_pton(AF_INET, ip, a) != 1)
        return NOT_IP;
    if (a[0] == 0)
        return UNSPEC4;
    if (a[0] == 127)
        return LOOP4;
    if (a[0] == 169 && a[1] == 254)
        return LINK4;
    if (a[0] >= 224 && a[0] <= 239)
        return MULTI4;
    if (a[0] >= 240)
        return RESERVED;
    return -1;
}

/* Why membudget will not call this pod's IP (the metric's label; why gets
 * the log's words), or NULL when it may. A hostNetwork pod's IP is its
 * node's: calling it would reach whatever the node serves on that port. */
const char *tgt_address_refusal(const struct pc_pod *p, const struct tgt_policy *pol, char *why,
                                size_t whylen)
{
    const char *ip = pc_ip(p);
    if (!*ip)
        return NULL;
    if (p->sh->host_network && !pol->allow_host_network) {
        snprintf(why, whylen,
                 "the pod uses hostNetwork: its IP %.64s is the node's "
                 "(usage.allowHostNetwork is false)",
                 ip);
        return "host-network";
    }
    int k = classify(ip);
    bool loopback = k == LOOP4 || k == LOOP6;
    if (k < 0 || (loopback && pol->allow_loopback))
        return NULL;
    snprintf(why, whylen, "status.podIP %.64s is %s%s", ip, CLASSES[k].desc,
             loopback ? " (usage.allowLoopback is false)" : "");
    return CLASSES[k].label;
}

/* http://IP:PORT/PATH for the endpoint the pod's annotation `key` names,
 * or false and why. The port is looked up in the ports the pod cache kept
 * (TCP only, from the target container's spec), so a port the admission
 * check passed but the container no longer declares is refused here. */
bool tgt_url(const struct pc_pod *p, const char *key, const struct tgt_policy *pol, char *url,
             size_t len, char *why, size_t whylen)
{
    struct ann_endpoint ep;
    const char *v = pc_ann(p, key);
    unsigned char addr[16];
    char canon[INET6_ADDRSTRLEN];
    bool v6;

    char dflt[ANN_PORTNAME_MAX + sizeof ANN_GOROUTINES_DEFAULT_PATH + 1];
    if (!v && !strcmp(key, "goroutines") && (v = pc_ann(p, "profile"))) {
        /* The goroutine dump defaults to the profile's port. */
        const char *slash = strchr(v, '/');
        int pl = slash ? (int)(slash - v) : 0;
        snprintf(dflt, sizeof dflt, "%.*s%s", pl > ANN_PORTNAME_MAX ? 0 : pl, v,
                 ANN_GOROUTINES_DEFAULT_PATH);
        v = dflt;
    }
    if (!v) {
        snprintf(why, whylen, "no membudget.io/%s annotation", key);
        return false;
    }
    if (!ann_parse_endpoint(v, &ep, why, whylen))
        return false;
    if (!*pc_ip(p)) {
        snprintf(why, whylen, "the pod has no IP yet");
        return false;
    }
    if (tgt_address_refusal(p, pol, why, whylen))
        return false;
    /* The URL carries the address as inet_ntop writes it, never the
     * API's text. */
    v6 = strchr(pc_ip(p), ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, pc_ip(p), addr) != 1 ||
        !inet_ntop(v6 ? AF_INET6 : AF_INET, addr, canon, sizeof canon)) {
        snprintf(why, whylen, "status.podIP %.64s is not an IP address", pc_ip(p));
        return false;
    }
    unsigned port = 0;
    for (size_t i = 0; i < p->sh->nports; i++) {
        if (ep.port_name[0] ? !strcmp(p->sh->ports[i].name, ep.port_name)
                            : p->sh->ports[i].port == ep.port) {
            port = p->sh->ports[i].port;
            break;
        }
    }
    if (!port) {
        if (ep.port_name[0])
            snprintf(why, whylen, "port %s is not a TCP port of container %.63s", ep.port_name,
                     p->sh->container);
        else
            snprintf(why, whylen, "port %u is not a TCP port of container %.63s", ep.port,
                     p->sh->container);
        return false;
    }
    int n = snprintf(url, len, v6 ? "http://[%s]:%u%s" : "http://%s:%u%s", canon, port, ep.path);
    if (n < 0 || (size_t)n >= len) {
        snprintf(why, whylen, "URL too long");
        return false;
    }
    return true;
}
