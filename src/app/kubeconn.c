/*
 * kubeconn.c -- where the API server is, and who membudget is there
 * (shell; see app_int.h). The same order controller-runtime and kubectl
 * use, so that an operator's habits carry over: --kubeconfig, else the
 * first path of $KUBECONFIG, else in-cluster (the pod's ServiceAccount),
 * else ~/.kube/config. The parsing is kubeconfig.c's (pure); this file
 * reads the files and the environment, and says in one line what is
 * missing when nothing is found.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/annot.h"
#include "membudget/kapi.h"
#include "membudget/kubeconfig.h"
#include "membudget/log.h"

/* Where the kubelet mounts the pod's ServiceAccount token, CA and namespace. */
#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
/* A kubeconfig is a few KiB; a bigger file is not one (and is not read whole). */
#define MAX_KUBECONFIG (4u << 20)

/* Read and parse one kubeconfig file; errors go to stderr, naming it. */
static bool from_file(const char *path, const char *context, struct kcfg *out)
{
    char why[256];
    size_t len;
    struct mb_diag d = {0};
    char *buf = app_read_file(path, MAX_KUBECONFIG, &len, why, sizeof why);
    if (!buf) {
        fprintf(stderr, "membudget: kubeconfig %s: %s\n", path, why);
        return false;
    }
    mb_err e = kcfg_parse(buf, len, path, context, out, &d);
    mb_free(buf);
    if (e) {
        fprintf(stderr, "membudget: kubeconfig %s\n", d.msg);
        return false;
    }
    return true;
}

/* In a cluster the ServiceAccount's namespace is the truth (the chart may
 * install anywhere); outside one, $POD_NAMESPACE lets a test or a sidecar
 * say it; else the namespace deploy/ installs into. A namespace file that
 * is not a DNS label is ignored rather than trusted into a selector. */
void app_own_namespace(const struct kcfg *kc, char *out, size_t len)
{
    const char *env = getenv("POD_NAMESPACE");
    char why[128], *ns = NULL;
    size_t n = 0;

    if (kc && kc->namespace_ && kc->context && !strcmp(kc->context, "in-cluster") &&
        *kc->namespace_) {
        snprintf(out, len, "%s", kc->namespace_);
        return;
    }
    if (env && *env) {
        snprintf(out, len, "%s", env);
        return;
    }
    if (getenv("KUBERNETES_SERVICE_HOST"))
        ns = app_read_file(SA_DIR "/namespace", 4096, &n, why, sizeof why);
    while (ns && n && (ns[n - 1] == '\n' || ns[n - 1] == ' '))
        ns[--n] = '\0';
    if (ns && n && ann_is_dns_label(ns))
        snprintf(out, len, "%s", ns);
    else
        snprintf(out, len, "%s", APP_DEFAULT_NAMESPACE);
    mb_free(ns);
}

bool app_kube_config(const char *kubeconfig, const char *context, struct kcfg *out)
{
    if (kubeconfig && *kubeconfig)
        return from_file(kubeconfig, context, out);
    const char *env = getenv("KUBECONFIG");
    if (env && *env) {
        char *first = mb_xstrndup(env, strcspn(env, ":"));
        bool ok = from_file(first, context, out);
        mb_free(first);
        return ok;
    }
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    if (host && *host) {
        /* In a pod: the token is re-read when the kubelet rotates it
         * (kapi's token_file); a token that cannot be read now is said at
         * start, not as a 401 on the first call. */
        struct mb_diag d = {0};
        char why[128], *ns;
        size_t len;
        ns = app_read_file(SA_DIR "/namespace", 4096, &len, why, sizeof why);
        mb_err e = kcfg_in_cluster(host, getenv("KUBERNETES_SERVICE_PORT"), SA_DIR, ns, out, &d);
        mb_free(ns);
        if (e) {
            fprintf(stderr, "membudget: %s\n", d.msg);
            return false;
        }
        if (access(out->token_file, R_OK) != 0) {
            fprintf(stderr, "membudget: in-cluster: cannot read the service account token %s\n",
                    out->token_file);
            kcfg_cleanup(out);
            return false;
        }
        return true;
    }
    const char *home = getenv("HOME");
    if (home && *home) {
        char *p = mb_xasprintf("%s/.kube/config", home);
        if (access(p, R_OK) == 0) {
            bool ok = from_file(p, context, out);
            mb_free(p);
            return ok;
        }
        mb_free(p);
    }
    fprintf(stderr, "membudget: no API server configuration: pass --kubeconfig, set KUBECONFIG, "
                    "or run in a cluster\n");
    return false;
}

/* Borrowed strings: kc must outlive the client. A token over plain http
 * is allowed (a local API server in a test) but never silently. */
void app_kapi_conf(const struct kcfg *kc, const char *user_agent, struct kapi_conf *out)
{
    *out = (struct kapi_conf){
        .server = kc->server,
        .ca_pem = kc->ca_pem,
        .ca_file = kc->ca_file,
        .cert_pem = kc->cert_pem,
        .cert_file = kc->cert_file,
        .key_pem = kc->key_pem,
        .key_file = kc->key_file,
        .token = kc->token,
        .token_file = kc->token_file,
        .insecure = kc->insecure,
        .proxy = kc->proxy_url,
        .user_agent = user_agent,
    };
    if ((kc->token || kc->token_file) && !strncmp(kc->server, "http://", 7)) {
        char where[300];
        app_server_for_log(kc, where, sizeof where);
        log_warn("the bearer token goes to the API server over plain http: anyone on the path can "
                 "read it and act as membudget; use https",
                 "{s:s}", "server", where);
    }
}

/* (a kubeconfig's server URL may carry user:password@: never into a log) */
void app_server_for_log(const struct kcfg *kc, char *out, size_t len)
{
    kapi_redact_url(kc->server ? kc->server : "", out, len);
}
