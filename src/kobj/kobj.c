/* kobj.c -- watch events, Status objects, small accessors. */
#include <string.h>
#include <time.h>

#include "membudget/kobj.h"

static const char *const EV_NAMES[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *kobj_ev_name(enum kobj_ev t)
{
    return (unsigned)t < MB_ARRAY_LEN(EV_NAMES) ? EV_NAMES[t] : "?";
}

mb_err kobj_event_decode(const char *line, size_t len, enum kobj_ev *type, json_t **obj,
                         struct mb_diag *diag)
{
    json_error_t je;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mb_diag_set(diag, MB_EPARSE, "watch event is not JSON: %s (column %d)", je.text,
                           je.column);
    const char *t = json_string_value(json_object_get(root, "type"));
    json_t *o = json_object_get(root, "object");
    mb_err e = MB_OK;
    size_t i;
    if (!t || !json_is_object(o)) {
        e = mb_diag_set(diag, MB_EPARSE, "watch event needs a \"type\" string and an "
                                         "\"object\" object");
        goto out;
    }
    for (i = 0; i < MB_ARRAY_LEN(EV_NAMES); i++)
        if (strcmp(t, EV_NAMES[i]) == 0)
            break;
    if (i == MB_ARRAY_LEN(EV_NAMES)) {
        e = mb_diag_set(diag, MB_EPARSE, "unknown watch event type \"%.40s\"", t);
        goto out;
    }
    *type = (enum kobj_ev)i;
    *obj = json_incref(o);
out:
    json_decref(root);
    return e;
}

bool kobj_status_decode(const json_t *obj, struct kobj_status *st)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    if (!kind || strcmp(kind, "Status") != 0)
        return false;
    memset(st, 0, sizeof *st);
    st->code = (long)json_integer_value(json_object_get(obj, "code"));
    const char *r = json_string_value(json_object_get(obj, "reason"));
    const char *m = json_string_value(json_object_get(obj, "message"));
    snprintf(st->reason, sizeof st->reason, "%s", r ? r : "");
    snprintf(st->message, sizeof st->message, "%s", m ? m : "");
    return true;
}

void kobj_status_from_body(long http_status, const char *body, size_t len, struct kobj_status *st)
{
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    if (!j || !kobj_status_decode(j, st)) {
        memset(st, 0, sizeof *st);
        size_t n = len;
        const char *nl = len ? memchr(body, '\n', len) : NULL;
        if (nl)
            n = (size_t)(nl - body);
        snprintf(st->message, sizeof st->message, "%.*s", (int)(n > 200 ? 200 : n),
                 body ? body : "");
    }
    if (!st->code)
        st->code = http_status;
    json_decref(j);
}

const char *kobj_str(const json_t *obj, const char *path)
{
    char key[64];
    const json_t *cur = obj;
    while (cur && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof key)
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        cur = json_object_get(cur, key);
        path += n + (path[n] == '.');
    }
    return json_string_value(cur);
}

const char *kobj_rv(const json_t *obj)
{
    return kobj_str(obj, "metadata.resourceVersion");
}

const char *kobj_continue(const json_t *list)
{
    const char *c = kobj_str(list, "metadata.continue");
    return c && *c ? c : NULL;
}

void kobj_format_time(mb_wall_ms wall, char *buf, size_t len)
{
    time_t t = (time_t)(wall / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
