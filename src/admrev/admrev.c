/*
 * admrev.c -- the AdmissionReview codec (pure; see admrev.h): the bytes the
 * API server sends, into a request view the policy reads, and the verdict
 * back into the response it expects. review.c calls it for every request;
 * the fuzz target review drives it with hostile bytes. Strict only where
 * a real API server always is, so a field the next Kubernetes adds does
 * not break admission.
 */
#include <string.h>
#include "membudget/admrev.h"
#include "membudget/b64.h"
#include "membudget/alloc.h"
#include "membudget/jsonx.h"

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* The one rule for every string the webhook reads: absent or null gives
 * `dflt` (NULL: required, an error); anything but a string, or a string
 * holding a NUL byte (which C would silently cut there), is an error that
 * names the field. */
static bool text(const json_t *o, const char *key, const char *path, const char *dflt,
                 const char **out, struct mb_diag *d)
{
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (!dflt) {
            mb_diag_set(d, MB_EINVAL, "%s is missing", path);
            return false;
        }
        *out = dflt;
        return true;
    }
    if (!json_is_string(v)) {
        mb_diag_set(d, MB_EINVAL, "%s must be a string, got %s", path, type_name(v));
        return false;
    }
    if (strlen(json_string_value(v)) != json_string_length(v)) {
        mb_diag_set(d, MB_EINVAL, "%s contains a NUL byte", path);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

/* Objects may carry \u0000 in strings membudget never reads (other tools'
 * annotations and labels, managedFields); a NUL in any other string of the
 * object is refused, naming where. */
static bool unread_metadata(const char *parent, const char *key)
{
    if (!strcmp(parent, "metadata"))
        return !strcmp(key, "managedFields") || !strcmp(key, "labels");
    if (!strcmp(parent, "annotations"))
        return strncmp(key, "membudget.io/", 13) &&
               strcmp(key, "kubectl.kubernetes.io/default-container");
    return false;
}

/* Any NUL in a string read? No paths built: the common case costs a walk. */
/* Is there a NUL in a string membudget reads? With `path` (cap bytes, the
 * first `used` its prefix) the first one's place is written there; without,
 * nothing is built: the common case, no NUL, costs only the walk. */
static bool has_nul(const json_t *v, const char *parent, char *path, size_t used, size_t cap)
{
    if (json_is_string(v))
        return strlen(json_string_value(v)) != json_string_length(v);
    if (json_is_object(v)) {
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (unread_metadata(parent, k))
                continue;
            if (path)
                snprintf(path + used, cap - used, ".%s", k);
            if (has_nul(m, k, path, path ? strlen(path) : 0, cap))
                return true;
        }
    } else if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (path)
                snprintf(path + used, cap - used, "[%zu]", i);
            if (has_nul(json_array_get(v, i), parent, path, path ? strlen(path) : 0, cap))
                return true;
        }
    }
    return false;
}

mb_err admrev_decode(const char *body, size_t len, struct admrev_req *out, struct mb_diag *diag)
{
    json_error_t je;
    json_t *root, *req, *kind, *res, *obj, *old, *dry;
    struct admrev_req r = {0};
    const char *av, *k, *op;
    static const char *const OPS[] = {"CREATE", "UPDATE", "DELETE", "CONNECT"};
    size_t i;
    char path[512];

    root = json_loadb(body, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return mb_diag_set(diag, MB_EPARSE, "body is not JSON: %s at line %d column %d", je.text,
                           je.line, je.column);
    r.root = root;
    if (!json_is_object(root)) {
        mb_diag_set(diag, MB_EINVAL, "body is not a JSON object");
        goto bad;
    }
    if (!text(root, "apiVersion", "apiVersion", "", &av, diag) ||
        !text(root, "kind", "kind", "", &k, diag))
        goto bad;
    if (strcmp(k, "AdmissionReview") != 0) {
        mb_diag_set(diag, MB_EINVAL, "kind must be AdmissionReview");
        goto bad;
    }
    if (strcmp(av, ADMREV_API_VERSION) != 0) {
        mb_diag_set(diag, MB_EINVAL, "apiVersion must be " ADMREV_API_VERSION " (got %s)",
                    *av ? av : "none");
        goto bad;
    }
    req = json_object_get(root, "request");
    if (!json_is_object(req)) {
        mb_diag_set(diag, MB_EINVAL, "request is missing");
        goto bad;
    }
    /* The uid is echoed byte for byte, or the request is refused. */
    if (!text(req, "uid", "request.uid", NULL, &r.uid, diag))
        goto bad;
    if (!*r.uid || strlen(r.uid) > 128) {
        mb_diag_set(diag, MB_EINVAL, "request.uid must be 1 to 128 bytes, got %zu", strlen(r.uid));
        goto bad;
    }
    kind = json_object_get(req, "kind");
    if (kind && !json_is_object(kind)) {
        mb_diag_set(diag, MB_EINVAL, "request.kind must be an object, got %s", type_name(kind));
        goto bad;
    }
    if (!text(kind, "kind", "request.kind.kind", NULL, &r.kind, diag) ||
        !text(kind, "group", "request.kind.group", "", &r.group, diag) ||
        !text(kind, "version", "request.kind.version", "", &r.version, diag))
        goto bad;
    res = json_object_get(req, "resource");
    if (!text(json_is_object(res) ? res : NULL, "resource", "request.resource.resource", "",
              &r.resource, diag) ||
        !text(req, "subResource", "request.subResource", "", &r.sub_resource, diag) ||
        !text(req, "operation", "request.operation", "", &op, diag))
        goto bad;
    for (i = 0; i < MB_ARRAY_LEN(OPS); i++)
        if (!strcmp(op, OPS[i]))
            break;
    if (i == MB_ARRAY_LEN(OPS)) {
        mb_diag_set(diag, MB_EINVAL, "request.operation must be CREATE, UPDATE, DELETE or CONNECT");
        goto bad;
    }
    r.op = (enum admrev_op)i;
    r.op_name = OPS[i];
    if (!text(req, "namespace", "request.namespace", "", &r.ns, diag) ||
        !text(req, "name", "request.name", "", &r.name, diag))
        goto bad;
    obj = json_object_get(req, "object");
    old = json_object_get(req, "oldObject");
    r.object = json_is_object(obj) ? obj : NULL;
    r.old_object = json_is_object(old) ? old : NULL;
    if ((r.op == ADMREV_CREATE || r.op == ADMREV_UPDATE) && !r.object) {
        mb_diag_set(diag, MB_EINVAL, "request.object must be an object for %s", r.op_name);
        goto bad;
    }
    const json_t *objs[] = {r.object, r.old_object};
    static const char *const NAMES[] = {"request.object", "request.oldObject"};
    for (i = 0; i < 2; i++) {
        if (!objs[i] || !has_nul(objs[i], "", NULL, 0, 0))
            continue;
        snprintf(path, sizeof path, "%s", NAMES[i]); /* found: now say where */
        has_nul(objs[i], "", path, strlen(path), sizeof path);
        mb_diag_set(diag, MB_EINVAL, "%s contains a NUL byte", path);
        goto bad;
    }
    dry = json_object_get(req, "dryRun");
    if (dry && !json_is_null(dry) && !json_is_boolean(dry)) {
        mb_diag_set(diag, MB_EINVAL, "request.dryRun must be a boolean, got %s", type_name(dry));
        goto bad;
    }
    r.dry_run = json_is_true(dry);
    *out = r;
    return MB_OK;
bad:
    json_decref(root);
    return MB_EINVAL;
}

/* --- admrev_peek_uid: a scanner that skips values ------------------------------ */

struct scan {
    const char *p, *end;
};

static void ws(struct scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* At a '"': the string's bytes in [*b, *e) (still escaped); *esc tells
 * whether it had any escape. */
static bool str(struct scan *s, const char **b, const char **e, bool *esc)
{
    if (s->p >= s->end || *s->p != '"')
        return false;
    *b = ++s->p;
    *esc = false;
    while (s->p < s->end && *s->p != '"') {
        if (*s->p == '\\') {
            *esc = true;
            s->p++;
        }
        s->p++;
    }
    if (s->p >= s->end)
        return false;
    *e = s->p++;
    return true;
}

/* Skip one value of any kind (brackets counted, strings respected). */
static bool skip(struct scan *s)
{
    const char *b, *e;
    bool esc;
    size_t depth = 0;
    ws(s);
    do {
        if (s->p >= s->end)
            return false;
        char c = *s->p;
        if (c == '"') {
            if (!str(s, &b, &e, &esc))
                return false;
        } else if (c == '{' || c == '[') {
            depth++;
            s->p++;
        } else if (c == '}' || c == ']') {
            if (!depth)
                return false;
            depth--;
            s->p++;
        } else if (depth) {
            s->p++; /* , : and scalars inside */
        } else {
            while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
                s->p++; /* a scalar */
        }
    } while (depth);
    return true;
}

/* In an object at '{': find member `key` (exactly once), leave s at its
 * value. */
static bool member(struct scan *s, const char *key, struct scan *val)
{
    const char *b, *e;
    bool esc, found = false;
    size_t kl = strlen(key);
    ws(s);
    if (s->p >= s->end || *s->p != '{')
        return false;
    s->p++;
    ws(s);
    if (s->p < s->end && *s->p == '}')
        return false;
    for (;;) {
        ws(s);
        if (!str(s, &b, &e, &esc))
            return false;
        ws(s);
        if (s->p >= s->end || *s->p != ':')
            return false;
        s->p++;
        ws(s);
        if (!esc && (size_t)(e - b) == kl && !memcmp(b, key, kl)) {
            if (found)
                return false; /* twice: ambiguous */
            found = true;
            *val = *s;
        }
        if (!skip(s))
            return false;
        ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        return found && s->p < s->end && *s->p == '}';
    }
}

bool admrev_peek_uid(const char *body, size_t len, char *out, size_t outlen)
{
    struct scan s = {body, body + len}, req, uid;
    const char *b, *e;
    bool esc;
    if (!member(&s, "request", &req) || !member(&req, "uid", &uid) || !str(&uid, &b, &e, &esc))
        return false;
    size_t n = (size_t)(e - b);
    if (esc || n == 0 || n > 128 || n >= outlen || memchr(b, '\0', n))
        return false;
    memcpy(out, b, n);
    out[n] = '\0';
    return true;
}

void admrev_req_cleanup(struct admrev_req *r)
{
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

char *admrev_encode(const char *uid, const struct admrev_resp *resp, size_t *len)
{
    json_t *r = json_object(), *out;
    char *res;

    json_object_set_new(r, "uid", json_string(uid));
    json_object_set_new(r, "allowed", json_boolean(resp->allowed));
    if (resp->code || resp->message) {
        json_t *st = json_object();
        if (resp->code)
            json_object_set_new(st, "code", json_integer(resp->code));
        if (resp->reason)
            json_object_set_new(st, "reason", json_string(resp->reason));
        if (resp->message)
            json_object_set_new(st, "message", mb_json_string_lossy(resp->message));
        json_object_set_new(r, "status", st);
    }
    if (resp->patch) {
        size_t plen;
        char *p = mb_json_dumps(resp->patch, JSON_COMPACT, &plen);
        char *enc = mb_b64_encode(p, plen);
        json_object_set_new(r, "patchType", json_string("JSONPatch"));
        json_object_set_new(r, "patch", json_string(enc));
        mb_free(enc);
        mb_free(p);
    }
    if (resp->nwarnings) {
        json_t *w = json_array();
        for (size_t i = 0; i < resp->nwarnings; i++)
            json_array_append_new(w, mb_json_string_lossy(resp->warnings[i]));
        json_object_set_new(r, "warnings", w);
    }
    out = json_pack("{s:s,s:s,s:o}", "apiVersion", ADMREV_API_VERSION, "kind", "AdmissionReview",
                    "response", r);
    res = mb_json_dumps(out, JSON_COMPACT, len);
    json_decref(out);
    return res;
}
