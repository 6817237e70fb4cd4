/*
 * s3xml.c -- ListBucketResult and Error documents (see s3xml.h).
 *
 * expat calls back per element; the state is the path of the elements we
 * care about (ListBucketResult > Contents > Key|Size|LastModified, and the
 * top level's IsTruncated and NextContinuationToken, or Error > Code and
 * Message) and the text of the one being read. Namespaces are ignored:
 * the local name decides, as every S3 server writes the same names.
 */
#include <expat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "membudget/alloc.h"
#include "membudget/s3xml.h"

enum field { F_NONE, F_KEY, F_SIZE, F_MODIFIED, F_TRUNCATED, F_TOKEN, F_CODE, F_MESSAGE };

struct reader {
    XML_Parser xp;
    int depth;
    bool root_ok, in_contents;
    enum field field;
    char text[S3_KEY_MAX + 2];
    size_t tlen;
    bool text_long;
    /* list */
    struct s3_page *page;
    size_t cap, max;
    struct s3_object cur;
    mb_err err;
    char why[160];
    /* error */
    char code[64], msg[256];
};

static const char *local(const char *name)
{
    const char *c = strrchr(name, ' '); /* expat's "uri name" with a separator */
    return c ? c + 1 : name;
}

static void stop(struct reader *r, mb_err e, const char *why)
{
    if (!r->err) {
        r->err = e;
        snprintf(r->why, sizeof r->why, "%s", why);
    }
    XML_StopParser(r->xp, XML_FALSE);
}

static void on_start(void *arg, const char *name, const char **attrs)
{
    struct reader *r = arg;
    (void)attrs;
    const char *n = local(name);
    r->depth++;
    r->field = F_NONE;
    r->tlen = 0;
    r->text_long = false;
    if (r->depth == 1) {
        r->root_ok = strcmp(n, r->page ? "ListBucketResult" : "Error") == 0;
        if (!r->root_ok)
            stop(r, MB_EPARSE, r->page ? "not a ListBucketResult" : "not an Error");
        return;
    }
    if (r->page && r->depth == 2 && strcmp(n, "Contents") == 0) {
        r->in_contents = true;
        memset(&r->cur, 0, sizeof r->cur);
        r->cur.size = -1;
        return;
    }
    static const struct {
        int depth;
        bool contents, list;
        const char *name;
        enum field f;
    } F[] = {
        {3, true, true, "Key", F_KEY},
        {3, true, true, "Size", F_SIZE},
        {3, true, true, "LastModified", F_MODIFIED},
        {2, false, true, "IsTruncated", F_TRUNCATED},
        {2, false, true, "NextContinuationToken", F_TOKEN},
        {2, false, false, "Code", F_CODE},
        {2, false, false, "Message", F_MESSAGE},
    };
    for (size_t i = 0; i < sizeof F / sizeof F[0]; i++)
        if (F[i].depth == r->depth && F[i].contents == r->in_contents &&
            F[i].list == (r->page != NULL) && strcmp(F[i].name, n) == 0)
            r->field = F[i].f;
}

static void on_text(void *arg, const char *s, int len)
{
    struct reader *r = arg;
    if (r->field == F_NONE || len <= 0)
        return;
    size_t room = sizeof r->text - 1 - r->tlen, n = (size_t)len;
    if (n > room) {
        n = room;
        r->text_long = true;
    }
    memcpy(r->text + r->tlen, s, n);
    r->tlen += n;
    r->text[r->tlen] = '\0';
}

static void put_object(struct reader *r)
{
    if (!r->cur.key[0] || r->cur.size < 0) {
        stop(r, MB_EPARSE, "a Contents without its Key or Size");
        return;
    }
    if (r->page->n == r->max) {
        stop(r, MB_ETOOBIG, "more objects than the page may hold");
        return;
    }
    if (r->page->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 64;
        r->page->obj = mb_xrealloc(r->page->obj, r->cap * sizeof *r->page->obj);
    }
    r->page->obj[r->page->n++] = r->cur;
}

/* Copy what fits, terminated (a long Message is cut, not an error). */
static void cut(char *dst, size_t len, const char *src)
{
    size_t n = strnlen(src, len - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void field_done(struct reader *r)
{
    char *end;
    if (r->text_long && (r->field == F_KEY || r->field == F_TOKEN)) {
        stop(r, MB_ETOOBIG, "a key longer than 1024 bytes");
        return;
    }
    switch (r->field) {
    case F_KEY:
        memcpy(r->cur.key, r->text, r->tlen + 1);
        break;
    case F_SIZE:
        r->cur.size = strtoll(r->text, &end, 10);
        if (end == r->text || *end || r->cur.size < 0)
            stop(r, MB_EPARSE, "a Size that is not a number of bytes");
        break;
    case F_MODIFIED:
        cut(r->cur.last_modified, sizeof r->cur.last_modified, r->text);
        break;
    case F_TRUNCATED:
        r->page->truncated = strcmp(r->text, "true") == 0;
        break;
    case F_TOKEN:
        memcpy(r->page->next_token, r->text, r->tlen + 1);
        break;
    case F_CODE:
        cut(r->code, sizeof r->code, r->text);
        break;
    case F_MESSAGE:
        cut(r->msg, sizeof r->msg, r->text);
        break;
    case F_NONE:
        break;
    }
}

static void on_end(void *arg, const char *name)
{
    struct reader *r = arg;
    if (r->field != F_NONE)
        field_done(r);
    r->field = F_NONE;
    r->tlen = 0;
    r->text[0] = '\0';
    if (r->page && r->depth == 2 && r->in_contents && strcmp(local(name), "Contents") == 0) {
        r->in_contents = false;
        put_object(r);
    }
    r->depth--;
}

static mb_err run(struct reader *r, const char *xml, size_t len, struct mb_diag *d)
{
    r->xp = XML_ParserCreateNS(NULL, ' ');
    if (!r->xp)
        return mb_diag_set(d, MB_ENOMEM, "expat could not start");
    XML_SetUserData(r->xp, r);
    XML_SetElementHandler(r->xp, on_start, on_end);
    XML_SetCharacterDataHandler(r->xp, on_text);
    mb_err e = MB_OK;
    if (len > (size_t)INT32_MAX)
        e = mb_diag_set(d, MB_ETOOBIG, "an XML answer of %zu bytes", len);
    else if (XML_Parse(r->xp, xml, (int)len, XML_TRUE) == XML_STATUS_ERROR) {
        if (d)
            d->line = (int)XML_GetCurrentLineNumber(r->xp);
        e = r->err ? mb_diag_set(d, r->err, "%s", r->why)
                   : mb_diag_set(d, MB_EPARSE, "XML: %s", XML_ErrorString(XML_GetErrorCode(r->xp)));
    } else if (!r->root_ok) {
        e = mb_diag_set(d, MB_EPARSE, "no document");
    }
    XML_ParserFree(r->xp);
    return e;
}

mb_err s3xml_list(const char *xml, size_t len, size_t max, struct s3_page *out, struct mb_diag *d)
{
    *out = (struct s3_page){0};
    struct reader *r = mb_xcalloc(1, sizeof *r);
    r->page = out;
    r->max = max;
    mb_err e = run(r, xml, len, d);
    mb_free(r);
    if (e)
        s3xml_page_free(out);
    return e;
}

void s3xml_page_free(struct s3_page *p)
{
    MB_FREE(p->obj);
    *p = (struct s3_page){0};
}

bool s3xml_error(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen)
{
    struct reader *r = mb_xcalloc(1, sizeof *r);
    bool ok = run(r, xml, len, NULL) == MB_OK && r->code[0];
    if (ok) {
        snprintf(code, codelen, "%s", r->code);
        snprintf(msg, msglen, "%s", r->msg);
    }
    mb_free(r);
    return ok;
}
