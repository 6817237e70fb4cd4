/* target.c -- pod endpoint URLs from the pod's IP and declared ports only,
 * and only to addresses a pod may have. See target.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "membudget/annot.h"
#include "membudget/target.h"

static const unsigned char V4MAPPED[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
static const unsigned char ZERO[16] = {0};

const char *tgt_address_class(const char *ip, bool *loopback)
{
    unsigned char a[16];
    *loopback = false;
    if (strchr(ip, ':')) {
        if (inet_pton(AF_INET6, ip, a) != 1)
            return "not an IP address";
        if (!memcmp(a, ZERO, 16))
            return "unspecified (::)";
        if (!memcmp(a, ZERO, 15) && a[15] == 1) {
            *loopback = true;
            return "loopback (::1)";
        }
        if (!memcmp(a, V4MAPPED, 12))
            return "IPv4-mapped IPv6 (::ffff:0:0/96)";
        if (!memcmp(a, ZERO, 12))
            return "IPv4-compatible IPv6 (::/96)";
        if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
            return "link-local (fe80::/10)";
        if (a[0] == 0xff)
            return "multicast (ff00::/8)";
        return NULL;
    }
    if (inet_pton(AF_INET, ip, a) != 1)
        return "not an IP address";
    if (a[0] == 0)
        return "unspecified (0.0.0.0/8)";
    if (a[0] == 127) {
        *loopback = true;
        return "loopback (127.0.0.0/8)";
    }
    if (a[0] == 169 && a[1] == 254)
        return "link-local (169.254.0.0/16)";
    if (a[0] >= 224 && a[0] <= 239)
        return "multicast (224.0.0.0/4)";
    if (a[0] >= 240)
        return "reserved or broadcast (240.0.0.0/4)";
    return NULL;
}

bool tgt_url(const struct pc_pod *p, const char *key, const struct tgt_policy *pol, char *url,
             size_t len, char *why, size_t whylen)
{
    struct ann_endpoint ep;
    const char *v = pc_ann(p, key);
    unsigned char addr[16];
    char canon[INET6_ADDRSTRLEN];
    bool v6, loopback;

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
    if (p->sh->host_network && !pol->allow_host_network) {
        snprintf(why, whylen, "the pod uses hostNetwork: its IP %.64s is the node's "
                              "(usage.allowHostNetwork is false)", pc_ip(p));
        return false;
    }
    const char *cls = tgt_address_class(pc_ip(p), &loopback);
    if (cls && !(loopback && pol->allow_loopback)) {
        snprintf(why, whylen, "status.podIP %.64s is %s%s", pc_ip(p), cls,
                 loopback ? " (usage.allowLoopback is false)" : "");
        return false;
    }
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
        if (ep.port_name[0] ? !strcmp(p->sh->ports[i].name, ep.port_name) : p->sh->ports[i].port == ep.port) {
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
