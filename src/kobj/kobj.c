/*
 * kobj.c -- small views of Kubernetes wire objects (pure; see kobj.h): watch
 * events, Status answers and their reasons, RFC 3339 times. Shared by the
 * reflector, the recorder, the leader and the sampler, so an API answer
 * is read the same way everywhere.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "membudget/kobj.h"

static const char *const EV_NAMES[] = {"ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"};

const char *kobj_ev_name(enum kobj_ev t)
{
    return (unsigned)t < MB_ARRAY_LEN(EV_NAMES) ? EV_NAMES[t] : "?";
}

/* One watch line ({"type": ..., "object": ...}). Duplicate keys are
 * refused: two "type"s would let different readers see different events. */
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
        e = mb_diag_set(diag, MB_EPARSE,
                        "watch event needs a \"type\" string and an "
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

/* A failed call's words: the Status object when the answer is one, else
 * the body's first line (a proxy's HTML, a load balancer's text), cut at
 * 200 bytes so that it fits an Event or a log line. */
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

/* A string at a dotted path ("metadata.namespace"), or NULL: the one
 * lookup every reader of API objects needs, without a JSON path library. */
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

const char *kobj_rv(const json_t *obj) { return kobj_str(obj, "metadata.resourceVersion"); }

const char *kobj_continue(const json_t *list)
{
    const char *c = kobj_str(list, "metadata.continue");
    return c && *c ? c : NULL;
}

/* --- managedFields, dropped before decoding ------------------------------------ */

/* End of the JSON string starting at in[i] == '"': the index after its
 * closing quote, or len when it never closes. */
static size_t str_end(const char *in, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (in[i] == '\\')
            i++;
        else if (in[i] == '"')
            return i + 1;
    }
    return len;
}

/* End of the JSON value starting at in[i] (after whitespace): strings and
 * brackets balanced; a scalar ends at , } ] or whitespace. */
static size_t value_end(const char *in, size_t i, size_t len)
{
    int depth = 0;
    while (i < len) {
        char ch = in[i];
        if (ch == '"') {
            i = str_end(in, i, len);
            if (depth == 0)
                return i;
            continue;
        }
        if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i;
            if (--depth == 0)
                return i + 1;
        } else if (depth == 0 &&
                   (ch == ',' || ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r')) {
            return i;
        }
        i++;
    }
    return len;
}

static size_t skip_ws(const char *in, size_t i, size_t len)
{
    while (i < len && (in[i] == ' ' || in[i] == '\n' || in[i] == '\t' || in[i] == '\r'))
        i++;
    return i;
}

#define MF_KEY "\"managedFields\""
#define MD_KEY "\"metadata\""
#define MF_MAX_DEPTH 64

size_t kobj_strip_managed_fields(const char *in, size_t len, char *out)
{
    /* Per open bracket: an object that is some "metadata" key's value. */
    bool meta[MF_MAX_DEPTH];
    bool obj[MF_MAX_DEPTH];
    int depth = 0;
    bool expect_key = false, key_is_md = false;
    size_t w = 0, i = 0;

    while (i < len) {
        char ch = in[i];
        if (ch == '"') {
            size_t e = str_end(in, i, len);
            bool is_key = expect_key;
            expect_key = false;
            if (is_key && depth > 0 && depth <= MF_MAX_DEPTH && meta[depth - 1] &&
                e - i == sizeof MF_KEY - 1 && !memcmp(in + i, MF_KEY, e - i)) {
                size_t c = skip_ws(in, e, len);
                if (c < len && in[c] == ':') {
                    size_t v = value_end(in, skip_ws(in, c + 1, len), len);
                    /* drop the member and one comma: the one before it, or
                     * (first member) the one after it */
                    size_t back = w;
                    while (back > 0 && (out[back - 1] == ' ' || out[back - 1] == '\n' ||
                                        out[back - 1] == '\t' || out[back - 1] == '\r'))
                        back--;
                    if (back > 0 && out[back - 1] == ',') {
                        w = back - 1;
                        expect_key = false; /* the ',' or '}' at v says */
                    } else {
                        v = skip_ws(in, v, len);
                        expect_key = v < len && in[v] == ',';
                        if (expect_key)
                            v++;
                    }
                    i = v;
                    continue;
                }
            }
            if (is_key)
                key_is_md = e - i == sizeof MD_KEY - 1 && !memcmp(in + i, MD_KEY, e - i);
            memcpy(out + w, in + i, e - i);
            w += e - i;
            i = e;
            continue;
        }
        if (ch == '{' || ch == '[') {
            if (depth < MF_MAX_DEPTH) {
                bool parent_obj = depth > 0 && obj[depth - 1];
                obj[depth] = ch == '{';
                meta[depth] = ch == '{' && parent_obj && key_is_md;
            }
            depth++;
            expect_key = ch == '{';
            key_is_md = false;
        } else if (ch == '}' || ch == ']') {
            if (depth > 0)
                depth--;
            expect_key = false;
        } else if (ch == ',') {
            expect_key = depth > 0 && depth <= MF_MAX_DEPTH && obj[depth - 1];
        } else if (ch == ':') {
            /* the value follows: key_is_md holds for a '{' right after */
        } else if (ch != ' ' && ch != '\n' && ch != '\t' && ch != '\r') {
            key_is_md = false; /* a scalar value */
        }
        out[w++] = ch;
        i++;
    }
    return w;
}

void kobj_format_time(mb_wall_ms wall, char *buf, size_t len)
{
    time_t t = (time_t)(wall / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The seconds, then the milliseconds as `digits` (3 or 6) decimals. */
static void format_frac(mb_wall_ms wall, int digits, char *buf, size_t len)
{
    time_t t = (time_t)(wall / 1000);
    struct tm tm;
    char s[32];
    gmtime_r(&t, &tm);
    strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.19s.%0*uZ", s, digits,
             (unsigned)(wall % 1000) * (digits == 6 ? 1000u : 1u));
}

void kobj_format_time_ms(mb_wall_ms wall, char *buf, size_t len) { format_frac(wall, 3, buf, len); }

void kobj_format_time_us(mb_wall_ms wall, char *buf, size_t len) { format_frac(wall, 6, buf, len); }

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool digits(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return true;
}

/* RFC 3339 in UTC as the API server writes it (metav1.Time and MicroTime:
 * "2026-11-22T10:00:00Z", with up to 9 fraction digits), to milliseconds.
 * Anything else (an offset, a date before 1970) is false, not a guess. */
bool kobj_parse_time(const char *s, size_t len, mb_wall_ms *out)
{
    unsigned y, mo, d, h, mi, se, ms = 0;
    static const unsigned MDAYS[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        !digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &se))
        return false;
    size_t i = 19;
    if (s[i] == '.') {
        size_t n = 0;
        unsigned scale = 100;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, n++) {
            ms += (unsigned)(s[i] - '0') * scale;
            scale /= 10;
        }
        if (n == 0 || n > 9)
            return false;
    }
    if (i + 1 != len || s[i] != 'Z')
        return false;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > MDAYS[mo - 1] || h > 23 || mi > 59 || se > 60)
        return false;
    int64_t days = days_from_civil(y, mo, d);
    *out = (mb_wall_ms)(((days * 24 + h) * 60 + mi) * 60 + se) * 1000 + ms;
    return true;
}

/* The owner that controls the object (ownerReferences[].controller): the
 * one an eviction limit and a recommendation are per. */
const json_t *kobj_controller_ref(const json_t *md)
{
    const json_t *refs = json_object_get(md, "ownerReferences"), *r;
    size_t i;
    json_array_foreach(refs, i, r)
    {
        if (json_is_true(json_object_get(r, "controller")))
            return r;
    }
    return NULL;
}
