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
    struct kapi_req req = {
        .method = method, .path = path, .body = text, .body_len = len, .timeout_ms = 30000};
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

/* One `membudget certs` run: its flags, then what it holds. */
struct certs_job {
    const char *service, *ns, *secret_name, *webhooks, *kubeconfig, *context, *days_s, *renew_s,
        *key_type;
    unsigned long days, renew;
    char secret[300], path[600];
    char n1[300], n2[300], n3[300], n4[330]; /* the Service's DNS names */
    struct loop *lp;
    struct kapi *k;
    json_t *existing; /* the Secret as it is, or NULL */
    char *ca_pem;     /* the CA the webhook configurations get */
};

/* Returns -1 to go on, else the exit code (0 after --help). */
static int certs_flags(struct certs_job *j, int argc, char **argv)
{
    const struct flag FLAGS[] = {
        {"service", "NAME", "", "the webhook's Service", &j->service, NULL, false},
        {"namespace", "NS", "", "namespace of the Service and the Secret", &j->ns, NULL, false},
        {"secret", "NAME", "", "Secret to keep the certificate in (default SERVICE-tls)",
         &j->secret_name, NULL, false},
        {"webhook-config", "NAME", "",
         "Mutating/ValidatingWebhookConfiguration to give the CA (repeatable)", &j->webhooks, NULL,
         true},
        {"days", "N", "365", "validity of a new certificate", &j->days_s, NULL, false},
        {"renew-before", "N", "30", "renew when fewer days than this remain", &j->renew_s, NULL,
         false},
        {"key-type", "TYPE", "ecdsa", "ecdsa (P-256) or rsa (2048 bits)", &j->key_type, NULL,
         false},
        {"kubeconfig", "FILE", "", "kubeconfig; default $KUBECONFIG, in-cluster, ~/.kube/config",
         &j->kubeconfig, NULL, false},
        {"context", "NAME", "", "kubeconfig context", &j->context, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char *pos[8];
    size_t npos;
    int r = flags_parse("certs", "--service NAME --namespace NS [flags]", FLAGS, argc, argv, pos,
                        &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos || !*j->service || !*j->ns) {
        fprintf(stderr, "membudget certs: --service and --namespace are required\n");
        return 2;
    }
    if (!app_uint_flag("days", j->days_s, 0, 3650, &j->days) ||
        !app_uint_flag("renew-before", j->renew_s, 0, 3650, &j->renew))
        return 2;
    if (strcmp(j->key_type, "ecdsa") && strcmp(j->key_type, "rsa")) {
        fprintf(stderr, "membudget certs: --key-type: \"%s\" is not ecdsa or rsa\n", j->key_type);
        return 2;
    }
    certgen_set_key_type(!strcmp(j->key_type, "rsa") ? CERTGEN_RSA_2048 : CERTGEN_ECDSA_P256);
    if (j->days < 2 || j->renew >= j->days) {
        fprintf(stderr, "membudget certs: need --days >= 2 and --renew-before < --days\n");
        return 2;
    }
    snprintf(j->secret, sizeof j->secret, "%s", *j->secret_name ? j->secret_name : "");
    if (!*j->secret)
        snprintf(j->secret, sizeof j->secret, "%s-tls", j->service);
    snprintf(j->n1, sizeof j->n1, "%s", j->service);
    snprintf(j->n2, sizeof j->n2, "%s.%s", j->service, j->ns);
    snprintf(j->n3, sizeof j->n3, "%s.%s.svc", j->service, j->ns);
    snprintf(j->n4, sizeof j->n4, "%s.%s.svc.cluster.local", j->service, j->ns);
    return -1;
}

/* The Secret's certificate, kept when it is whole, for these names, and
 * valid for more than --renew-before days: then j->ca_pem is its CA.
 * Else why says what is wrong with it. */
static void keep_existing(struct certs_job *j, char *why, size_t whylen)
{
    const char *dns[] = {j->n1, j->n2, j->n3, j->n4};
    char *ca = secret_field(j->existing, "ca.crt"), *crt = secret_field(j->existing, "tls.crt"),
         *key = secret_field(j->existing, "tls.key");
    if (ca && crt && key &&
        certgen_check(ca, crt, key, dns, 4, (int64_t)time(NULL), (int64_t)j->renew * 86400, why,
                      whylen)) {
        printf("secret %s/%s: certificate still valid for %s, kept\n", j->ns, j->secret, j->n3);
        j->ca_pem = ca;
        ca = NULL;
    } else if (!(ca && crt && key)) {
        snprintf(why, whylen, "the Secret lacks ca.crt, tls.crt or tls.key");
    }
    mb_free(ca);
    mb_free(crt);
    mb_free(key);
}

/* A new CA and serving certificate, into the Secret (created, or replaced
 * at the resourceVersion it was read at). */
static mb_err write_new(struct certs_job *j, const char *why, struct mb_diag *d)
{
    const char *dns[] = {j->n1, j->n2, j->n3, j->n4};
    struct certgen_pair ca = {0}, leaf = {0};
    char cn[300];
    long st;
    mb_err e;
    printf("secret %s/%s: new certificate (%s)\n", j->ns, j->secret, why);
    snprintf(cn, sizeof cn, "membudget-webhook-ca %.200s", j->ns);
    if ((e = certgen_ca(cn, (int)j->days, &ca, d)) ||
        (e = certgen_serving(&ca, j->n3, dns, 4, NULL, 0, (int)j->days, &leaf, d))) {
        certgen_pair_cleanup(&ca);
        return e;
    }
    char *b_ca = mb_b64_encode(ca.cert_pem, strlen(ca.cert_pem));
    char *b_crt = mb_b64_encode(leaf.cert_pem, strlen(leaf.cert_pem));
    char *b_key = mb_b64_encode(leaf.key_pem, strlen(leaf.key_pem));
    json_t *obj =
        json_pack("{s:s,s:s,s:{s:s,s:s,s:{s:s}},s:s,s:{s:s,s:s,s:s}}", "apiVersion", "v1", "kind",
                  "Secret", "metadata", "name", j->secret, "namespace", j->ns, "labels",
                  "app.kubernetes.io/managed-by", "membudget-certs", "type", "kubernetes.io/tls",
                  "data", "ca.crt", b_ca, "tls.crt", b_crt, "tls.key", b_key);
    mb_free(b_ca);
    mb_free(b_crt);
    mb_free(b_key);
    json_t *res;
    if (j->existing) {
        json_object_set(
            json_object_get(obj, "metadata"), "resourceVersion",
            json_object_get(json_object_get(j->existing, "metadata"), "resourceVersion"));
        res = run_call(j->lp, j->k, "PUT", j->path, obj, &st, 0);
    } else {
        snprintf(j->path, sizeof j->path, "/api/v1/namespaces/%s/secrets", j->ns);
        res = run_call(j->lp, j->k, "POST", j->path, obj, &st, 0);
    }
    json_decref(obj);
    if (res)
        j->ca_pem = mb_xstrdup(ca.cert_pem);
    json_decref(res);
    certgen_pair_cleanup(&ca);
    certgen_pair_cleanup(&leaf);
    return res ? MB_OK : MB_EIO; /* (run_call printed why) */
}

/* The CA into each --webhook-config; returns how many failed. */
static int inject_all(struct certs_job *j)
{
    char whbuf[4096];
    int bad = 0;
    char *ca_b64 = mb_b64_encode(j->ca_pem, strlen(j->ca_pem));
    snprintf(whbuf, sizeof whbuf, "%s", j->webhooks);
    for (char *t = strtok(whbuf, ","); t; t = strtok(NULL, ","))
        if (*t && inject_ca(j->lp, j->k, t, ca_b64) != 0)
            bad++;
    mb_free(ca_b64);
    return bad;
}

static int certs_run(struct certs_job *j, struct kcfg *kc, struct mb_diag *d)
{
    struct kapi_conf conf;
    char why[256] = "no Secret yet";
    long st;
    if (loop_new(&j->lp, LOOP_CLIENT, d))
        return 1;
    app_kapi_conf(kc, "membudget-certs", &conf);
    if (kapi_new(j->lp, clock_system(), &conf, &j->k, d))
        return 1;
    snprintf(j->path, sizeof j->path, "/api/v1/namespaces/%s/secrets/%s", j->ns, j->secret);
    j->existing = run_call(j->lp, j->k, "GET", j->path, NULL, &st, 404);
    if (!j->existing && st != 404)
        return 1;
    if (j->existing)
        keep_existing(j, why, sizeof why);
    if (!j->ca_pem && write_new(j, why, d))
        return 1;
    return *j->webhooks && inject_all(j) ? 1 : 0;
}

int cmd_certs(int argc, char **argv)
{
    struct certs_job j = {0};
    struct kcfg kc = {0};
    struct mb_diag d = {0};
    int status = certs_flags(&j, argc, argv);
    if (status >= 0)
        return status;
    if (!app_kube_config(j.kubeconfig, j.context, &kc))
        return 2;
    status = certs_run(&j, &kc, &d);
    if (d.msg[0])
        fprintf(stderr, "membudget certs: %s\n", d.msg);
    json_decref(j.existing);
    mb_free(j.ca_pem);
    kapi_free(j.k);
    loop_free(j.lp);
    kcfg_cleanup(&kc);
    return status;
}
