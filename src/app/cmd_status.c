/* cmd_status.c -- `membudget status` and `membudget profiles`: the
 * controller's /debug/pods, /debug/owners and /debug/profiles as tables.
 *
 * One-shot command-line clients: a single blocking libcurl easy request is
 * the right tool here (no event loop to share), bounded in size and time,
 * no redirects. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_int.h"
#include "membudget/alloc.h"
#include "membudget/jsonx.h"
#include "membudget/buf.h"
#include "membudget/kubeconfig.h"

/* A body past the buffer's cap ends the transfer (libcurl's write error)
 * instead of growing without bound. */
static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    return mb_buf_add(arg, data, size * n) == MB_OK ? size * n : 0;
}

/* A table cell: the field, or "-" when it is absent or empty. */
static const char *s(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : "-";
}

/* "768Mi", "1.5Gi", "-" for none. */
static const char *bytes(const json_t *o, const char *k, char *buf, size_t len)
{
    json_int_t b = json_integer_value(json_object_get(o, k));
    if (b <= 0)
        return "-";
    if (b < (json_int_t)1 << 20)
        snprintf(buf, len, "%.0fKi", (double)b / 1024);
    else if (b >= (json_int_t)1 << 30 && b % ((json_int_t)1 << 30))
        snprintf(buf, len, "%.1fGi", (double)b / (1 << 30));
    else if (b >= (json_int_t)1 << 30)
        snprintf(buf, len, "%lldGi", (long long)(b >> 30));
    else
        snprintf(buf, len, "%.0fMi", (double)b / (1 << 20));
    return buf;
}

/* The bearer token for the ops endpoints (membudget run --metrics-auth
 * kubernetes): --token-file, else the kubeconfig's user (--kubeconfig or
 * $KUBECONFIG; a user with a client certificate has none), else none.
 * Returns false (printed) when a file named cannot be read; *out is a new
 * string or NULL. */
static bool token_for(const char *cmd, const char *token_file, const char *kubeconfig,
                      const char *context, char **out)
{
    char why[256];
    size_t len;
    const char *file = token_file;
    struct kcfg kc = {0};
    bool from_kc = !*file && (*kubeconfig || (getenv("KUBECONFIG") && *getenv("KUBECONFIG")));

    *out = NULL;
    if (from_kc) {
        if (!app_kube_config(kubeconfig, context, &kc))
            return false;
        if (kc.token)
            *out = mb_xstrdup(kc.token);
        file = kc.token_file ? kc.token_file : "";
    }
    if (!*out && *file) {
        char *t = app_read_file(file, 16384, &len, why, sizeof why);
        if (!t) {
            fprintf(stderr, "membudget %s: token file %s: %s\n", cmd, file, why);
            kcfg_cleanup(&kc);
            return false;
        }
        while (len && (t[len - 1] == '\n' || t[len - 1] == '\r' || t[len - 1] == ' '))
            t[--len] = '\0';
        *out = t;
    }
    kcfg_cleanup(&kc);
    return true;
}

/* GET http://addr/path into a JSON object, with the bearer `token` (NULL:
 * none); `raw` (may be NULL) gets the body for --output json. Prints the
 * error (as `cmd`; a refusal with the server's reason) and returns NULL on
 * failure. */
static json_t *fetch(const char *cmd, const char *addr, const char *path, const char *token,
                     struct mb_buf *raw)
{
    char url[512], err[CURL_ERROR_SIZE] = "";
    snprintf(url, sizeof url, "http://%s%s", addr, path);
    struct mb_buf body;
    mb_buf_init(&body, 256u << 20);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *e = curl_easy_init();
    long code = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
    struct curl_slist *hdrs = NULL;
    if (token) {
        char *h = mb_xasprintf("Authorization: Bearer %s", token);
        hdrs = curl_slist_append(NULL, h);
        mb_free(h);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    }
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    json_t *root = NULL;
    json_error_t je;
    if (rc != CURLE_OK)
        fprintf(stderr, "membudget %s: %s: %s\n", cmd, url, err[0] ? err : curl_easy_strerror(rc));
    else if (code == 401 || code == 403)
        fprintf(stderr, "membudget %s: %s: HTTP %ld: %.*s%s\n", cmd, url, code,
                (int)(body.len > 400 ? 400 : body.len), mb_buf_str(&body),
                code == 401 && !token
                    ? " (give --token-file, or a kubeconfig whose user has a token)"
                    : "");
    else if (code != 200)
        fprintf(stderr, "membudget %s: %s: unexpected HTTP status %ld\n", cmd, url, code);
    else if (!(root = json_loadb(body.p, body.len, 0, &je)) || !json_is_object(root))
        fprintf(stderr, "membudget %s: %s: not JSON (%s)\n", cmd, url,
                root ? "not an object" : je.text);
    else if (raw)
        mb_buf_add(raw, body.p, body.len);
    if (root && !json_is_object(root)) {
        json_decref(root);
        root = NULL;
    }
    mb_buf_cleanup(&body);
    return root;
}

/* --output json: the controller's own JSON, as it sent it. */
static void print_raw(struct mb_buf *raw)
{
    fwrite(raw->p, 1, raw->len, stdout);
    putchar('\n');
}

/* /debug/pods as a table: one line per tracked pod (usage against budget,
 * readiness, the gate condition, the tier, OOM kills), then the pods whose
 * address membudget refuses to call, and why. */
static int pods_table(const json_t *root)
{
    const json_t *pods = json_object_get(root, "pods"), *p;
    if (!json_is_array(pods)) {
        fprintf(stderr, "membudget status: not a /debug/pods answer (no pods)\n");
        return 1;
    }
    printf("leader: %s   synced: %s   dry-run: %s   tracked: %zu\n",
           json_is_true(json_object_get(root, "leader")) ? "yes" : "no",
           json_is_true(json_object_get(root, "synced")) ? "yes" : "no",
           json_is_true(json_object_get(root, "dryRun")) ? "yes" : "no", json_array_size(pods));
    printf("%-20s %-32s %-8s %-10s %-8s %-7s %-7s %-9s %-10s %-8s %-5s %-20s %s\n", "NAMESPACE",
           "POD", "PHASE", "BUDGET", "USAGE", "%BUDGET", "READY", "CONDITION", "TIER", "GOVERNED",
           "OOMS", "LAST-OOM", "NODE");
    size_t i;
    json_array_foreach(pods, i, p)
    {
        const json_t *ann = json_object_get(p, "annotations");
        const char *budget = json_string_value(json_object_get(ann, "budget"));
        char ooms[16] = "0", usage[32], pct[16] = "-";
        snprintf(ooms, sizeof ooms, "%lld",
                 (long long)json_integer_value(json_object_get(p, "ooms")));
        /* the last figure; "?" after it when the last look failed (membudget does not act on it) */
        const json_t *pj = json_object_get(p, "percent");
        if (json_is_number(pj))
            snprintf(pct, sizeof pct, "%.0f%%%s", json_number_value(pj),
                     json_is_false(json_object_get(p, "fresh")) ? "?" : "");
        printf("%-20s %-32s %-8s %-10s %-8s %-7s %-7s %-9s %-10s %-8s %-5s %-20s %s\n",
               s(p, "namespace"), s(p, "name"), s(p, "phase"), budget ? budget : "-",
               bytes(p, "usageBytes", usage, sizeof usage), pct,
               json_is_true(json_object_get(p, "ready")) ? "yes" : "no", s(p, "condition"),
               s(p, "tier"), json_is_true(json_object_get(p, "governed")) ? "yes" : "no", ooms,
               s(p, "lastOOM"), s(p, "node"));
    }
    /* Pods membudget never calls for their address: no usage figure, no GC,
     * no throttle call will ever come from membudget for them. */
    bool header = false;
    json_array_foreach(pods, i, p)
    {
        const char *why = json_string_value(json_object_get(p, "addressRefused"));
        if (!why)
            continue;
        if (!header)
            printf("\nnever called (address refused):\n");
        header = true;
        printf("  %s/%s: %s\n", s(p, "namespace"), s(p, "name"), why);
    }
    return 0;
}

/* "45s", "6m", "1h20m", "2d3h": a span of history, to the minute or hour. */
static const char *span(json_int_t sec, char *buf, size_t len)
{
    if (sec < 60)
        snprintf(buf, len, "%llds", (long long)(sec < 0 ? 0 : sec));
    else if (sec < 3600)
        snprintf(buf, len, "%lldm", (long long)(sec / 60));
    else if (sec < 86400 && sec % 3600 >= 60)
        snprintf(buf, len, "%lldh%lldm", (long long)(sec / 3600), (long long)(sec % 3600 / 60));
    else if (sec < 86400)
        snprintf(buf, len, "%lldh", (long long)(sec / 3600));
    else if (sec % 86400 >= 3600)
        snprintf(buf, len, "%lldd%lldh", (long long)(sec / 86400), (long long)(sec % 86400 / 3600));
    else
        snprintf(buf, len, "%lldd", (long long)(sec / 86400));
    return buf;
}

static json_int_t num(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* /debug/owners: the recommendations, one line per owner, with the rule
 * they follow and how much history stands behind each. */
static int owners_table(const json_t *root)
{
    const json_t *owners = json_object_get(root, "owners"), *o;
    char t[4][32];
    if (!json_is_array(owners)) {
        fprintf(stderr, "membudget status: not a /debug/owners answer (no owners)\n");
        return 1;
    }
    json_int_t min_peaks = num(root, "minPeaks"), min_hist = num(root, "minHistorySeconds");
    printf("recommendations (advice only): the largest of the p95 of usage peaks, the post-GC "
           "floor and, for a heap budget, the p95 of the RSS (GOMEMLIMIT is the budget), "
           "+ %lld%%, at least %s\n",
           (long long)num(root, "marginPercent"), bytes(root, "minBudgetBytes", t[0], sizeof t[0]));
    printf("one peak per pod per %s, half-life %s; none from fewer than %lld peaks or less "
           "than %s of history%s\n",
           span(num(root, "peakWindowSeconds"), t[1], sizeof t[1]),
           span(num(root, "halfLifeSeconds"), t[2], sizeof t[2]), (long long)min_peaks,
           span(min_hist, t[3], sizeof t[3]),
           json_is_true(json_object_get(root, "leader")) ? "" : "   (not the leader: none here)");
    printf("%-20s %-40s %-6s %-8s %-10s %-10s %-10s %-10s %-10s %-10s %-10s %s\n", "NAMESPACE",
           "OWNER", "PEAKS", "HISTORY", "BUDGET", "REC-BUDGET", "LIMIT", "REC-LIMIT", "P95-PEAK",
           "P95-RSS", "GC-FLOOR", "BASIS");
    size_t i;
    json_array_foreach(owners, i, o)
    {
        char owner[300], b[7][32], h[2][32], basis[160];
        const char *wait = json_string_value(json_object_get(o, "waitingFor"));
        snprintf(owner, sizeof owner, "%s/%s", s(o, "kind"), s(o, "name"));
        if (wait)
            snprintf(basis, sizeof basis,
                     "too little history: needs %lld peaks over %s, has %lld over %s",
                     (long long)min_peaks, span(min_hist, h[0], sizeof h[0]),
                     (long long)num(o, "peaks"), span(num(o, "historySeconds"), h[1], sizeof h[1]));
        else
            snprintf(basis, sizeof basis, "%s", s(o, "basis"));
        printf("%-20s %-40s %-6lld %-8s %-10s %-10s %-10s %-10s %-10s %-10s %-10s %s\n",
               s(o, "namespace"), owner, (long long)num(o, "peaks"),
               span(num(o, "historySeconds"), b[6], sizeof b[6]),
               bytes(o, "budgetBytes", b[0], sizeof b[0]),
               bytes(o, "recommendedBudgetBytes", b[1], sizeof b[1]),
               bytes(o, "limitBytes", b[2], sizeof b[2]),
               bytes(o, "recommendedLimitBytes", b[3], sizeof b[3]),
               bytes(o, "p95Bytes", b[4], sizeof b[4]), bytes(o, "rssP95Bytes", h[0], sizeof h[0]),
               bytes(o, "floorBytes", b[5], sizeof b[5]), basis);
    }
    return 0;
}

#define TOKEN_FLAGS                                                                                \
    {"token-file",                                                                                 \
     "FILE",                                                                                       \
     "",                                                                                           \
     "a bearer token for the metrics address (membudget run --metrics-auth kubernetes)",           \
     &token_file,                                                                                  \
     NULL,                                                                                         \
     false},                                                                                       \
        {"kubeconfig", "FILE",                                                                     \
         "",           "take the token from this kubeconfig's user (default $KUBECONFIG)",         \
         &kubeconfig,  NULL,                                                                       \
         false},                                                                                   \
        {"context", "NAME", "",   "kubeconfig context (default: current-context)",                 \
         &context,  NULL,   false},

int cmd_status(int argc, char **argv)
{
    const char *addr, *output, *token_file, *kubeconfig, *context;
    bool recommend = false;
    const struct flag FLAGS[] = {
        {"address", "HOST:PORT", "127.0.0.1:8080", "the controller's metrics address", &addr, NULL,
         false},
        TOKEN_FLAGS{"output", "FORMAT", "table", "table or json", &output, NULL, false},
        {"recommend", NULL, NULL,
         "budget recommendations per owner (/debug/owners), next to the "
         "current values",
         NULL, &recommend, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    static const char USAGE[] = "[--address HOST:PORT] [--token-file FILE | --kubeconfig FILE] "
                                "[--output table|json] [--recommend]";
    char *pos[8];
    size_t npos;
    int r = flags_parse("status", USAGE, FLAGS, argc, argv, pos, &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos || (strcmp(output, "table") && strcmp(output, "json"))) {
        fprintf(stderr, "membudget status: usage: membudget status %s\n", USAGE);
        return 2;
    }
    char *token;
    if (!token_for("status", token_file, kubeconfig, context, &token))
        return 2;
    struct mb_buf raw;
    mb_buf_init(&raw, 256u << 20);
    json_t *root = fetch("status", addr, recommend ? "/debug/owners" : "/debug/pods", token, &raw);
    mb_free(token);
    int status = 1;
    if (root && !strcmp(output, "json")) {
        print_raw(&raw);
        status = 0;
    } else if (root) {
        status = recommend ? owners_table(root) : pods_table(root);
    }
    json_decref(root);
    mb_buf_cleanup(&raw);
    return status;
}

int profiles_list_controller(int argc, char **argv)
{
    const char *addr, *output, *ns, *pod, *token_file, *kubeconfig, *context;
    const struct flag FLAGS[] = {
        {"address", "HOST:PORT", "127.0.0.1:8080", "the controller's metrics address", &addr, NULL,
         false},
        TOKEN_FLAGS{"namespace", "NAME", "", "only this namespace's captures", &ns, NULL, false},
        {"pod", "NAME", "", "only this pod's captures", &pod, NULL, false},
        {"output", "FORMAT", "table", "table or json", &output, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    static const char USAGE[] =
        "[--address HOST:PORT] [--token-file FILE | --kubeconfig FILE] [--namespace N] [--pod P] "
        "[--output table|json]";
    char *pos[8];
    size_t npos;
    int r = flags_parse("profiles list", USAGE, FLAGS, argc, argv, pos, &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos || (strcmp(output, "table") && strcmp(output, "json"))) {
        fprintf(stderr, "membudget profiles: usage: membudget profiles list %s\n", USAGE);
        return 2;
    }
    char *token;
    if (!token_for("profiles", token_file, kubeconfig, context, &token))
        return 2;
    json_t *root = fetch("profiles", addr, "/debug/profiles", token, NULL);
    mb_free(token);
    const json_t *list = json_object_get(root, "profiles"), *p;
    if (!json_is_array(list)) {
        if (root)
            fprintf(stderr, "membudget profiles: not a /debug/profiles answer\n");
        json_decref(root);
        return 1;
    }
    /* the filter: what an SRE asks for after `kubectl describe pod` */
    json_t *kept = json_array();
    size_t i;
    json_array_foreach(list, i, p) if ((!*ns || !strcmp(s(p, "namespace"), ns)) &&
                                       (!*pod || !strcmp(s(p, "pod"), pod)))
        json_array_append(kept, (json_t *)p);
    if (!strcmp(output, "json")) {
        char *t = mb_json_dumps(kept, JSON_COMPACT, NULL);
        puts(t);
        mb_free(t);
    } else {
        char b[2][32];
        printf("directory: %s   %s of at most %s", s(root, "dir"),
               bytes(root, "bytes", b[0], sizeof b[0]), bytes(root, "maxBytes", b[1], sizeof b[1]));
        if (json_string_value(json_object_get(root, "error")))
            printf("   error: %s", s(root, "error"));
        printf("\n%-20s %-32s %-10s %-20s %-10s %s\n", "NAMESPACE", "POD", "KIND", "CAPTURED",
               "SIZE", "FILE");
        json_array_foreach(kept, i, p)
        {
            char sz[32];
            snprintf(sz, sizeof sz, "%lld",
                     (long long)json_integer_value(json_object_get(p, "bytes")));
            printf("%-20s %-32s %-10s %-20s %-10s %s\n", s(p, "namespace"), s(p, "pod"),
                   s(p, "kind"), s(p, "capturedAt"), sz, s(p, "file"));
        }
    }
    json_decref(kept);
    json_decref(root);
    return 0;
}
