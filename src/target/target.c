/* target.c -- pod endpoint URLs from the pod's IP and declared ports only. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "membudget/annot.h"
#include "membudget/target.h"

bool tgt_url(const struct pc_pod *p, const char *key, char *url, size_t len, char *why,
             size_t whylen)
{
    struct ann_endpoint ep;
    const char *v = pc_ann(p, key);
    unsigned char addr[16];
    bool v6;

    if (!v) {
        snprintf(why, whylen, "no membudget.io/%s annotation", key);
        return false;
    }
    if (!ann_parse_endpoint(v, &ep, why, whylen))
        return false;
    if (!*p->ip) {
        snprintf(why, whylen, "the pod has no IP yet");
        return false;
    }
    v6 = strchr(p->ip, ':') != NULL;
    if (inet_pton(v6 ? AF_INET6 : AF_INET, p->ip, addr) != 1) {
        snprintf(why, whylen, "status.podIP %.64s is not an IP address", p->ip);
        return false;
    }
    unsigned port = 0;
    for (size_t i = 0; i < p->nports; i++) {
        if (ep.port_name[0] ? !strcmp(p->ports[i].name, ep.port_name) : p->ports[i].port == ep.port) {
            port = p->ports[i].port;
            break;
        }
    }
    if (!port) {
        snprintf(why, whylen, "port %s is not a TCP port of container %.63s",
                 ep.port_name[0] ? ep.port_name : "(number)", p->container);
        if (!ep.port_name[0])
            snprintf(why, whylen, "port %u is not a TCP port of container %.63s", ep.port,
                     p->container);
        return false;
    }
    int n = snprintf(url, len, v6 ? "http://[%s]:%u%s" : "http://%s:%u%s", p->ip, port, ep.path);
    if (n < 0 || (size_t)n >= len) {
        snprintf(why, whylen, "URL too long");
        return false;
    }
    return true;
}
