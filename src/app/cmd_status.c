/* cmd_status.c -- `membudget status`: the controller's /debug/pods as a table.
 *
 * A one-shot command-line client: a single blocking libcurl easy request is
 * the right tool here (no event loop to share), bounded in size and time,
 * no redirects. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "app_int.h"
#include "membudget/buf.h"

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    return mb_buf_add(arg, data, size * n) == MB_OK ? size * n : 0;
}

static const char *s(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v && *v ? v : "-";
}

int cmd_status(int argc, char **argv)
{
    const char *addr, *output;
    const struct flag FLAGS[] = {
        {"address", "HOST:PORT", "127.0.0.1:8080", "the controller's metrics address", &addr, NULL, false},
        {"output", "FORMAT", "table", "table or json", &output, NULL, false},
        {NULL, NULL, NULL, NULL, NULL, NULL, false},
    };
    char *pos[8], url[512], err[CURL_ERROR_SIZE] = "";
    size_t npos;
    int r = flags_parse("status", "[--address HOST:PORT] [--output table|json]", FLAGS, argc, argv,
                        pos, &npos);
    if (r)
        return r == 1 ? 0 : 2;
    if (npos || (strcmp(output, "table") && strcmp(output, "json"))) {
        fprintf(stderr, "membudget status: usage: membudget status [--address HOST:PORT] "
                        "[--output table|json]\n");
        return 2;
    }
    snprintf(url, sizeof url, "http://%s/debug/pods", addr);
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
    CURLcode rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(e);
    curl_global_cleanup();
    int status = 1;
    json_t *root = NULL;
    if (rc != CURLE_OK || code != 200) {
        fprintf(stderr, "membudget status: %s: %s\n", url,
                rc != CURLE_OK ? (err[0] ? err : curl_easy_strerror(rc)) : "unexpected HTTP status");
        goto out;
    }
    if (!strcmp(output, "json")) {
        fwrite(body.p, 1, body.len, stdout);
        putchar('\n');
        status = 0;
        goto out;
    }
    json_error_t je;
    root = json_loadb(body.p, body.len, 0, &je);
    const json_t *pods = json_object_get(root, "pods"), *p;
    if (!json_is_array(pods)) {
        fprintf(stderr, "membudget status: %s: not a /debug/pods answer (%s)\n", url,
                root ? "no pods" : je.text);
        goto out;
    }
    printf("leader: %s   synced: %s   dry-run: %s   tracked: %zu\n",
           json_is_true(json_object_get(root, "leader")) ? "yes" : "no",
           json_is_true(json_object_get(root, "synced")) ? "yes" : "no",
           json_is_true(json_object_get(root, "dryRun")) ? "yes" : "no", json_array_size(pods));
    printf("%-20s %-32s %-8s %-10s %-7s %-9s %-10s %-8s %s\n", "NAMESPACE", "POD", "PHASE",
           "BUDGET", "READY", "CONDITION", "TIER", "GOVERNED", "NODE");
    size_t i;
    json_array_foreach(pods, i, p)
    {
        const json_t *ann = json_object_get(p, "annotations");
        const char *budget = json_string_value(json_object_get(ann, "budget"));
        printf("%-20s %-32s %-8s %-10s %-7s %-9s %-10s %-8s %s\n", s(p, "namespace"), s(p, "name"),
               s(p, "phase"), budget ? budget : "-",
               json_is_true(json_object_get(p, "ready")) ? "yes" : "no", s(p, "condition"),
               s(p, "tier"), json_is_true(json_object_get(p, "governed")) ? "yes" : "no",
               s(p, "node"));
    }
    status = 0;
out:
    json_decref(root);
    mb_buf_cleanup(&body);
    return status;
}
