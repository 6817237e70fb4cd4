/*
 * kubeconfig.h -- where the API server is and how to authenticate: from a
 * kubeconfig file's text, or from the in-cluster service-account layout.
 *
 * Pure: the caller reads files and the environment and passes text and
 * values in; nothing here opens a file. Paths found in a kubeconfig are made
 * absolute relative to the kubeconfig's own directory, as kubectl does.
 *
 * Supported: current-context or an explicit context; cluster `server`,
 * `certificate-authority(-data)`, `insecure-skip-tls-verify`, `proxy-url`
 * (http, https, socks5); user `token`,
 * `tokenFile`, `client-certificate(-data)`, `client-key(-data)`; the
 * context's `namespace`. exec and auth-provider users are refused with a
 * message (membudget carries no credential plugins), and so is
 * `tls-server-name` (libcurl has no way to verify against another name).
 */
#ifndef MB_KUBECONFIG_H
#define MB_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "membudget/err.h"

/* Every string is owned (NULL when absent). */
struct kcfg {
    char *context;   /* the context used ("in-cluster" for in-cluster) */
    char *server;    /* "https://host:port" */
    char *proxy_url; /* the cluster's proxy-url, or NULL */
    char *ca_pem, *ca_file;
    char *cert_pem, *cert_file;
    char *key_pem, *key_file;
    char *token, *token_file;
    char *namespace_; /* the context's namespace, or NULL */
    bool insecure;
};

void kcfg_cleanup(struct kcfg *c);

/* Parse kubeconfig text. `filename` is used in messages and to resolve
 * relative paths; `context` picks a context (NULL: current-context). On
 * success *out is filled (caller cleans up); on error *out is untouched and
 * diag says what is wrong and where ("FILE:LINE: ..."). */
mb_err kcfg_parse(const char *buf, size_t len, const char *filename, const char *context,
                  struct kcfg *out, struct mb_diag *diag);

/* The in-cluster configuration: KUBERNETES_SERVICE_HOST/PORT values (IPv6
 * hosts get brackets), the token and CA under `sa_dir`
 * (/var/run/secrets/kubernetes.io/serviceaccount), and `namespace_text`, the
 * content of its namespace file (may be NULL). */
mb_err kcfg_in_cluster(const char *host, const char *port, const char *sa_dir,
                       const char *namespace_text, struct kcfg *out, struct mb_diag *diag);

#endif
