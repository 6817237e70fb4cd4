/*
 * kubeconfig.c -- where the API server is and how to authenticate (pure;
 * see kubeconfig.h): a kubeconfig's text (through ydoc) or the in-cluster
 * service-account layout into one struct kcfg. src/app/kubeconn.c reads
 * the files and the environment and hands the text in.
 */
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/b64.h"
#include "membudget/kubeconfig.h"
#include "membudget/ydoc.h"

void kcfg_cleanup(struct kcfg *c)
{
    char **fields[] = {&c->context,  &c->server,   &c->proxy_url,  &c->ca_pem,
                       &c->ca_file,  &c->cert_pem, &c->cert_file,  &c->key_pem,
                       &c->key_file, &c->token,    &c->token_file, &c->namespace_};
    for (size_t i = 0; i < MB_ARRAY_LEN(fields); i++)
        MB_FREE(*fields[i]);
    c->insecure = false;
}

struct parse {
    const char *file;
    struct mb_diag *diag;
};

static mb_err fail_at(struct parse *p, const struct ydoc_node *n, const char *fmt, const char *a,
                      const char *b)
{
    char msg[200];
    snprintf(msg, sizeof msg, fmt, a ? a : "", b ? b : "");
    if (p->diag && n)
        p->diag->line = n->line;
    if (n)
        return mb_diag_set(p->diag, MB_EINVAL, "%s:%d: %s", p->file, n->line, msg);
    return mb_diag_set(p->diag, MB_EINVAL, "%s: %s", p->file, msg);
}

/* A scalar string value of map[key], or NULL (absent or null). */
static const char *str(const struct ydoc_node *map, const char *key)
{
    const struct ydoc_node *v = map ? ydoc_map_get(map, key) : NULL;
    if (!v || v->type != YDOC_SCALAR || ydoc_is_null(v))
        return NULL;
    return v->value;
}

/* Find the entry named `name` in a list of {name: ..., KEY: {...}}; returns
 * its KEY map. */
static const struct ydoc_node *named(const struct ydoc_node *root, const char *list,
                                     const char *key, const char *name)
{
    const struct ydoc_node *l = ydoc_map_get(root, list);
    if (!l || l->type != YDOC_SEQ)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        const struct ydoc_node *e = l->items[i];
        const char *nm = e->type == YDOC_MAP ? str(e, "name") : NULL;
        if (nm && strcmp(nm, name) == 0) {
            const struct ydoc_node *v = ydoc_map_get(e, key);
            return v && v->type == YDOC_MAP ? v : e;
        }
    }
    return NULL;
}

/* `path` made absolute relative to the kubeconfig's directory. */
static char *resolve(const char *file, const char *path)
{
    if (!path || !*path)
        return NULL;
    const char *slash = strrchr(file, '/');
    if (path[0] == '/' || !slash)
        return mb_xstrdup(path);
    return mb_xasprintf("%.*s/%s", (int)(slash - file), file, path);
}

static mb_err data_field(struct parse *p, const struct ydoc_node *map, const char *key,
                         const char *what, char **out)
{
    const char *v = str(map, key);
    size_t n;
    if (!v)
        return MB_OK;
    if (mb_b64_decode(v, strlen(v), out, &n) != MB_OK)
        return fail_at(p, ydoc_map_get(map, key), "%s: %s is not valid base64", what, key);
    return MB_OK;
}

mb_err kcfg_parse(const char *buf, size_t len, const char *filename, const char *context,
                  struct kcfg *out, struct mb_diag *diag)
{
    struct parse p = {filename, diag};
    struct ydoc_stream *ys = NULL;
    struct ydoc_limits lim = {.max_depth = 64, .max_nodes = 100000};
    struct kcfg c = {0};
    mb_err e = ydoc_parse(buf, len, &lim, &ys, diag);
    char what[160];

    if (e) {
        mb_diag_prefix(diag, "%s", filename);
        return e;
    }
    const struct ydoc_node *root = ys->ndocs ? ys->docs[0] : NULL;
    if (!root || root->type != YDOC_MAP) {
        e = fail_at(&p, root, "not a kubeconfig (expected a mapping)%s%s", NULL, NULL);
        goto out;
    }
    const char *ctx = context && *context ? context : str(root, "current-context");
    if (!ctx) {
        e = fail_at(&p, NULL, "current-context is not set (pass --context)%s%s", NULL, NULL);
        goto out;
    }
    const struct ydoc_node *cx = named(root, "contexts", "context", ctx);
    if (!cx) {
        e = fail_at(&p, ydoc_map_get(root, "contexts"), "context \"%s\" not found%s", ctx, NULL);
        goto out;
    }
    const char *cluster = str(cx, "cluster"), *user = str(cx, "user");
    if (!cluster) {
        e = fail_at(&p, cx, "context \"%s\": cluster is required%s", ctx, NULL);
        goto out;
    }
    const struct ydoc_node *cl = named(root, "clusters", "cluster", cluster);
    if (!cl) {
        e = fail_at(&p, cx, "context \"%s\": cluster \"%s\" not found", ctx, cluster);
        goto out;
    }
    c.context = mb_xstrdup(ctx);
    c.namespace_ = str(cx, "namespace") ? mb_xstrdup(str(cx, "namespace")) : NULL;
    const char *server = str(cl, "server");
    if (!server || (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)) {
        e = fail_at(&p, cl, "cluster \"%s\": server must be an http(s):// URL%s", cluster, NULL);
        goto out;
    }
    c.server = mb_xstrdup(server);
    if (ydoc_map_get(cl, "tls-server-name")) {
        e = fail_at(&p, cl,
                    "cluster \"%s\": tls-server-name is not supported by membudget; "
                    "use a server URL whose host the certificate names%s",
                    cluster, NULL);
        goto out;
    }
    const char *proxy = str(cl, "proxy-url");
    if (proxy) {
        if (strncmp(proxy, "http://", 7) && strncmp(proxy, "https://", 8) &&
            strncmp(proxy, "socks5://", 9) && strncmp(proxy, "socks5h://", 10)) {
            e = fail_at(&p, cl,
                        "cluster \"%s\": proxy-url must be an http://, https:// or "
                        "socks5:// URL%s",
                        cluster, NULL);
            goto out;
        }
        c.proxy_url = mb_xstrdup(proxy);
    }
    const char *ins = str(cl, "insecure-skip-tls-verify");
    c.insecure = ins && strcmp(ins, "true") == 0;
    snprintf(what, sizeof what, "cluster \"%s\"", cluster);
    if ((e = data_field(&p, cl, "certificate-authority-data", what, &c.ca_pem)))
        goto out;
    if (!c.ca_pem)
        c.ca_file = resolve(filename, str(cl, "certificate-authority"));
    if (user) {
        const struct ydoc_node *u = named(root, "users", "user", user);
        if (!u) {
            e = fail_at(&p, cx, "context \"%s\": user \"%s\" not found", ctx, user);
            goto out;
        }
        if (ydoc_map_get(u, "exec") || ydoc_map_get(u, "auth-provider")) {
            e = fail_at(&p, u,
                        "user \"%s\" uses exec or auth-provider credentials, which "
                        "membudget does not support; use a token or a client certificate%s",
                        user, NULL);
            goto out;
        }
        snprintf(what, sizeof what, "user \"%s\"", user);
        if ((e = data_field(&p, u, "client-certificate-data", what, &c.cert_pem)) ||
            (e = data_field(&p, u, "client-key-data", what, &c.key_pem)))
            goto out;
        if (!c.cert_pem)
            c.cert_file = resolve(filename, str(u, "client-certificate"));
        if (!c.key_pem)
            c.key_file = resolve(filename, str(u, "client-key"));
        if (str(u, "token"))
            c.token = mb_xstrdup(str(u, "token"));
        else
            c.token_file = resolve(filename, str(u, "tokenFile"));
        if ((c.cert_pem || c.cert_file) != (c.key_pem || c.key_file)) {
            e = fail_at(&p, u,
                        "user \"%s\": a client certificate needs its key, and a key its "
                        "certificate%s",
                        user, NULL);
            goto out;
        }
    }
    *out = c;
    memset(&c, 0, sizeof c);
out:
    kcfg_cleanup(&c);
    ydoc_free(ys);
    return e;
}

mb_err kcfg_in_cluster(const char *host, const char *port, const char *sa_dir,
                       const char *namespace_text, struct kcfg *out, struct mb_diag *diag)
{
    if (!host || !*host || !port || !*port)
        return mb_diag_set(diag, MB_EINVAL,
                           "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                           "must be set (or pass --kubeconfig)");
    for (const char *q = port; *q; q++)
        if (*q < '0' || *q > '9')
            return mb_diag_set(diag, MB_EINVAL, "KUBERNETES_SERVICE_PORT is not a port: %s", port);
    struct kcfg c = {0};
    c.context = mb_xstrdup("in-cluster");
    c.server = strchr(host, ':') ? mb_xasprintf("https://[%s]:%s", host, port)
                                 : mb_xasprintf("https://%s:%s", host, port);
    c.token_file = mb_xasprintf("%s/token", sa_dir);
    c.ca_file = mb_xasprintf("%s/ca.crt", sa_dir);
    if (namespace_text) {
        size_t n = strcspn(namespace_text, " \r\n\t");
        if (n)
            c.namespace_ = mb_xstrndup(namespace_text, n);
    }
    *out = c;
    return MB_OK;
}
