/* cmd_certs.c -- `membudget certs`: the webhook's certificate bootstrap
 * (what kube-webhook-certgen does), usable as a Helm hook Job.
 *
 *   1. Read Secret NS/SECRET. If it holds a CA, a certificate and a key that
 *      still verify, cover the Service's DNS names and are valid for more than
 *      --renew-before, keep them (a second run changes nothing).
 *   2. Otherwise generate a CA and an ECDSA P-256 (or, --key-type rsa, RSA
 *      2048) serving certificate for
 *      SERVICE, SERVICE.NS, SERVICE.NS.svc and SERVICE.NS.svc.cluster.local,
 *      and create or update the Secret (type kubernetes.io/tls; keys tls.crt,
 *      tls.key, ca.crt).
 *   3. Put the CA into caBundle of every webhook of each named
 *      Mutating/ValidatingWebhookConfiguration (GET, change, PUT with the
 *      resourceVersion; retried on conflict).
 *
 * A command-line job: requests go through kapi on a private loop, one at a
 * time (run_call). Exit 0 when done, 1 on an API or certificate error, 2 on
 * bad flags.
 */
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/b64.h"
#include "membudget/certgen.h"
#include "membudget/jsonx.h"
#include "membudget/kapi.h"
#include "membudget/kobj.h"
#include "membudget/kubeconfig.h"
#include "membudget/log.h"
#include "membudget/loop.h"

struct call_result {
    bool done;
    mb_err err;
    long status;
    char *body;
    char errmsg[256];
};

static void on_done(void *ctx, const struct kapi_resp *r)
{
    struct call_result *c = ctx;
    c->done = true;
    c->err = r->err;
    c->status = r->status;
    c->body = mb_xstrdup(r->body);
    snprintf(c->errmsg, sizeof c->errmsg, "%s", r->errmsg);
}

/* One request, waited for. Returns the parsed body on a 2xx (new ref), else
 * NULL with *status set (0 on a transport error) and a message printed
 * unless the status is `quiet` (e.g. 404 when absence is fine). */
static json_t *run_call(struct loop *lp, struct kapi *k, const char *method, const char *path,
                        const json_t *body, long *status, long quiet)
{
    struct call_result c = {0};
    char *text = NULL;
    size_t len = 0;
    if (body)
        text = mb_json_dumps(body, JSON_COMPACT, &len);
    struct kapi_req req = {.method = method, .path = path, .body = text, .body_len = len,
                           .timeout_ms = 30000};
    kapi_submit(k, &req, on_done, &c);
    while (!c.done)
        event_base_loop(loop_base(lp), EVLOOP_ONCE);
    mb_free(text);
    *status = c.err ? 0 : c.status;
    json_t *j = NULL;
    if (c.err == MB_OK && c.status >= 200 && c.status < 300) {
        j = json_loads(c.body, 0, NULL);
    } else if (*status != quiet) {
        struct kobj_status st;
        kobj_status_from_body(c.status, c.body, strlen(c.body), &st);
        fprintf(stderr, "membudget certs: %s %s: %s\n", method, path,
                c.err ? c.errmsg : st.message);
    }
    mb_free(c.body);
    return j;
}

static char *secret_field(const json_t *secret, const char *key)
{
    /* Not kobj_str: these keys contain dots. */
    const char *v = json_string_value(json_object_get(json_object_get(secret, "data"), key));
    char *out = NULL;
    size_t n;
    if (!v || mb_b64_decode(v, strlen(v), &out, &n) != MB_OK)
        return NULL;
    return out;
}

/* Step 3 for one configuration name: whichever of the two kinds exists. */
static int inject_ca(struct loop *lp, struct kapi *k, const char *name, const char *ca_b64)
{
    static const char *const KINDS[] = {"mutatingwebhookconfigurations",
                                        "validatingwebhookconfigurations"};
    int found = 0;
    for (size_t i = 0; i < 2; i++) {
        char path[512];
        snprintf(path, sizeof path, "/apis/admissionregistration.k8s.io/v1/%s/%s", KINDS[i], name);
        for (int attempt = 0; attempt < 5; attempt++) {
            long st;
            json_t *cfg = run_call(lp, k, "GET", path, NULL, &st, 404);
            if (!cfg) {
                if (st != 404)
                    return -1;
                break;
            }
            json_t *whs = json_object_get(cfg, "webhooks"), *wh;
            size_t w;
            bool changed = false;
            json_array_foreach(whs, w, wh)
            {
                json_t *cc = json_object_get(wh, "clientConfig");
                if (!json_is_object(cc)) {
                    cc = json_object();
                    json_object_set_new(wh, "clientConfig", cc);
                }
                const char *cur = json_string_value(json_object_get(cc, "caBundle"));
                if (!cur || strcmp(cur, ca_b64)) {
                    json_object_set_new(cc, "caBundle", json_string(ca_b64));
                    changed = true;
                }
            }
            if (!changed) {
                printf("%s/%s: caBundle already current\n", KINDS[i], name);
                json_decref(cfg);
                found++;
                break;
            }
            size_t nwh = json_array_size(whs);
            json_t *done = run_call(lp, k, "PUT", path, cfg, &st, 409);
            json_decref(cfg);
            if (done) {
                printf("%s/%s: caBundle set on %zu webhook(s)\n", KINDS[i], name, nwh);
                json_decref(done);
                found++;
                break;
            }
            if (st != 409)
                return -1;
            /* Someone changed it meanwhile: read it again. */
        }
    }
    if (!found)
        fprintf(stderr, "membudget certs: no webhook configuration named %s\n", name);
    return found ? 0 : -1;
}

int cmd_certs(int argc, char **argv)
{
    const char *service, *ns, *secret_name, *webhooks, *kubeconfig, *context, *days_s, *renew_s,
        *key_type;
    const struct flag FLAGS[] = {
        {"service", "NAME", "", "the webhook's Service", &service, NULL, false},
        {"namespace", "NS", "", "namespace of the Service and the Secret", &ns, NULL, false},
        {"secret", "NAME", "", "Secret to keep the certificate in (default SERVICE-tls)", &secret_name, NULL, false},
        {"webhook-config", "NAME", "", "Mutating/ValidatingWebhookConfiguration to give the CA (repeatable)", &webhooks, NULL, true},
        {"days", "N", "365", "validity of a new certificate", &days_s, NULL, false},
        {"renew-before", "N", "30", "renew when fewer days than this remain", &renew_s, NULL, false},
        {"key-type", "TYPE", "ecdsa", "ecdsa (P-256) or rsa (2048 bits)", &key_type, NULL, false},
        {"kubeconfig", "FILE", "", "kubeconfig; default $KUBECONFIG, in-cluster, ~/.kube/config", &kubeconfig, NULL, false},
        {"context", "NAME", "", "kubeconfig context", &context, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char *pos[8], secret_buf[300], path[600], whbuf[4096];
    size_t npos;
    unsigned long days, renew;
    int r = flags_parse("certs", "--service NAME --namespace NS [flags]", FLAGS, argc, argv, pos,
                        &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos || !*service || !*ns) {
        fprintf(stderr, "membudget certs: --service and --namespace are required\n");
        return 2;
    }
    if (!app_uint_flag("days", days_s, 0, 3650, &days) ||
        !app_uint_flag("renew-before", renew_s, 0, 3650, &renew))
        return 2;
    if (strcmp(key_type, "ecdsa") && strcmp(key_type, "rsa")) {
        fprintf(stderr, "membudget certs: --key-type: \"%s\" is not ecdsa or rsa\n", key_type);
        return 2;
    }
    certgen_set_key_type(!strcmp(key_type, "rsa") ? CERTGEN_RSA_2048 : CERTGEN_ECDSA_P256);
    if (days < 2 || renew >= days) {
        fprintf(stderr, "membudget certs: need --days >= 2 and --renew-before < --days\n");
        return 2;
    }
    snprintf(secret_buf, sizeof secret_buf, "%s", *secret_name ? secret_name : "");
    if (!*secret_buf)
        snprintf(secret_buf, sizeof secret_buf, "%s-tls", service);

    struct kcfg kc = {0};
    if (!app_kube_config(kubeconfig, context, &kc))
        return 2;
    struct loop *lp = NULL;
    struct kapi *k = NULL;
    struct mb_diag d = {0};
    struct certgen_pair ca = {0}, leaf = {0};
    char *ca_pem = NULL, *crt = NULL, *key = NULL;
    json_t *secret = NULL;
    int status = 1;
    char n1[300], n2[300], n3[300], n4[330];
    snprintf(n1, sizeof n1, "%s", service);
    snprintf(n2, sizeof n2, "%s.%s", service, ns);
    snprintf(n3, sizeof n3, "%s.%s.svc", service, ns);
    snprintf(n4, sizeof n4, "%s.%s.svc.cluster.local", service, ns);
    const char *dns[] = {n1, n2, n3, n4};

    if (loop_new(&lp, LOOP_CLIENT, &d))
        goto out;
    {
        struct kapi_conf conf;
        app_kapi_conf(&kc, "membudget-certs", &conf);
        if (kapi_new(lp, clock_system(), &conf, &k, &d))
            goto out;
    }
    snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets/%s", ns, secret_buf);
    long st;
    secret = run_call(lp, k, "GET", path, NULL, &st, 404);
    if (!secret && st != 404)
        goto out;
    char why[256] = "no Secret yet";
    if (secret) {
        ca_pem = secret_field(secret, "ca.crt");
        crt = secret_field(secret, "tls.crt");
        key = secret_field(secret, "tls.key");
        if (ca_pem && crt && key &&
            certgen_check(ca_pem, crt, key, dns, 4, (int64_t)time(NULL),
                          (int64_t)renew * 86400, why, sizeof why)) {
            printf("secret %s/%s: certificate still valid for %s, kept\n", ns, secret_buf, n3);
        } else {
            if (!(ca_pem && crt && key))
                snprintf(why, sizeof why, "the Secret lacks ca.crt, tls.crt or tls.key");
            MB_FREE(ca_pem);
            MB_FREE(crt);
            MB_FREE(key);
        }
    }
    if (!ca_pem) {
        char cn[300];
        printf("secret %s/%s: new certificate (%s)\n", ns, secret_buf, why);
        snprintf(cn, sizeof cn, "membudget-webhook-ca %.200s", ns);
        if (certgen_ca(cn, (int)days, &ca, &d) ||
            certgen_serving(&ca, n3, dns, 4, NULL, 0, (int)days, &leaf, &d))
            goto out;
        char *b_ca = mb_b64_encode(ca.cert_pem, strlen(ca.cert_pem));
        char *b_crt = mb_b64_encode(leaf.cert_pem, strlen(leaf.cert_pem));
        char *b_key = mb_b64_encode(leaf.key_pem, strlen(leaf.key_pem));
        json_t *obj = json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:{s:s,s:s,s:s}}", "apiVersion",
                                "v1", "kind", "Secret", "metadata", "name", secret_buf,
                                "namespace", ns, "labels", "app.kubernetes.io/managed-by",
                                "membudget-certs", "type", "kubernetes.io/tls", "data", "ca.crt",
                                b_ca, "tls.crt", b_crt, "tls.key", b_key);
        mb_free(b_ca);
        mb_free(b_crt);
        mb_free(b_key);
        json_t *res;
        if (secret) {
            json_object_set(json_object_get(obj, "metadata"), "resourceVersion",
                            json_object_get(json_object_get(secret, "metadata"), "resourceVersion"));
            res = run_call(lp, k, "PUT", path, obj, &st, 0);
        } else {
            snprintf(path, sizeof path, "/api/v1/namespaces/%s/secrets", ns);
            res = run_call(lp, k, "POST", path, obj, &st, 0);
        }
        json_decref(obj);
        if (!res)
            goto out;
        json_decref(res);
        ca_pem = mb_xstrdup(ca.cert_pem);
    }
    if (*webhooks) {
        char *ca_b64 = mb_b64_encode(ca_pem, strlen(ca_pem));
        snprintf(whbuf, sizeof whbuf, "%s", webhooks);
        int bad = 0;
        for (char *t = strtok(whbuf, ","); t; t = strtok(NULL, ","))
            if (*t && inject_ca(lp, k, t, ca_b64) != 0)
                bad++;
        mb_free(ca_b64);
        if (bad)
            goto out;
    }
    status = 0;
out:
    if (d.msg[0])
        fprintf(stderr, "membudget certs: %s\n", d.msg);
    json_decref(secret);
    mb_free(ca_pem);
    mb_free(crt);
    mb_free(key);
    certgen_pair_cleanup(&ca);
    certgen_pair_cleanup(&leaf);
    kapi_free(k);
    loop_free(lp);
    kcfg_cleanup(&kc);
    return status;
}
