/*
 * profstore.c -- the profile directory on disk (shell; see profstore.h):
 * a capture is written to a temporary file, then renamed, so a
 * reader never sees half a profile; the directory is kept under its byte
 * cap (the decision is profname.c's); the listing feeds /debug/profiles.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "membudget/alloc.h"
#include "membudget/kobj.h"
#include "membudget/profname.h"
#include "membudget/profstore.h"

mb_err ps_write(const char *dir, const char *file, const void *buf, size_t len,
                struct mb_diag *diag)
{
    char tmp[1400], path[1400];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path ||
        snprintf(tmp, sizeof tmp, "%s/.%s.tmp", dir, file) >= (int)sizeof tmp)
        return mb_diag_set(diag, MB_EINVAL, "%s/%s: path too long", dir, file);
    if (mkdir(dir, 0750) && errno != EEXIST)
        return mb_diag_set(diag, MB_EIO, "%s: %s", dir, strerror(errno));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0)
        return mb_diag_set(diag, MB_EIO, "%s: %s", tmp, strerror(errno));
    const char *p = buf;
    size_t left = len;
    int e = 0;
    while (left && !e) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            e = w < 0 ? errno : ENOSPC;
            break;
        }
        p += w;
        left -= (size_t)w;
    }
    if (close(fd) && !e)
        e = errno;
    if (e) {
        unlink(tmp);
        return mb_diag_set(diag, MB_EIO, "%s: %s", tmp, strerror(e));
    }
    /* link + unlink: unlike rename, never replaces an existing capture */
    if (link(tmp, path)) {
        e = errno;
        unlink(tmp);
        return mb_diag_set(diag, MB_EIO, "%s: %s", path, strerror(e));
    }
    unlink(tmp);
    return MB_OK;
}

struct listing {
    struct prof_file *f;
    struct prof_parsed *parsed;
    char **names;
    size_t n, cap;
};

static void listing_free(struct listing *l)
{
    for (size_t i = 0; i < l->n; i++)
        mb_free(l->names[i]);
    mb_free(l->names);
    mb_free(l->f);
    mb_free(l->parsed);
}

/* Our files in dir (regular files whose names profname made). */
static int list(const char *dir, struct listing *l)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d)
        return errno;
    int dfd = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        struct prof_parsed pp;
        struct stat st;
        if (!prof_name_parse(e->d_name, &pp) || fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
            !S_ISREG(st.st_mode))
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? l->cap * 2 : 64;
            l->f = mb_xrealloc(l->f, l->cap * sizeof *l->f);
            l->parsed = mb_xrealloc(l->parsed, l->cap * sizeof *l->parsed);
            l->names = mb_xrealloc(l->names, l->cap * sizeof *l->names);
        }
        l->names[l->n] = mb_xstrdup(e->d_name);
        l->parsed[l->n] = pp;
        l->f[l->n] = (struct prof_file){l->names[l->n], (uint64_t)st.st_size, pp.at, false};
        l->n++;
    }
    closedir(d);
    return 0;
}

size_t ps_enforce(const char *dir, uint64_t max_bytes, uint64_t *kept_bytes)
{
    struct listing l;
    size_t gone = 0;
    uint64_t kept = 0;
    if (list(dir, &l) == 0) {
        prof_retain(l.f, l.n, max_bytes, PROF_MAX_FILES);
        for (size_t i = 0; i < l.n; i++) {
            char path[1400];
            snprintf(path, sizeof path, "%s/%s", dir, l.f[i].name);
            if (l.f[i].del && unlink(path) == 0)
                gone++;
            else
                kept += l.f[i].bytes;
        }
    }
    listing_free(&l);
    if (kept_bytes)
        *kept_bytes = kept;
    return gone;
}

static int newest_first(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c = strcmp(json_string_value(json_object_get(y, "capturedAt")),
                   json_string_value(json_object_get(x, "capturedAt")));
    return c ? c
             : strcmp(json_string_value(json_object_get(x, "file")),
                      json_string_value(json_object_get(y, "file")));
}

json_t *ps_list_json(const char *dir, uint64_t max_bytes)
{
    struct listing l;
    json_t *out = json_pack("{s:s,s:I}", "dir", dir, "maxBytes", (json_int_t)max_bytes);
    int err = list(dir, &l);
    if (err && err != ENOENT)
        json_object_set_new(out, "error", json_string(strerror(err)));
    json_t **items = mb_xcalloc(l.n ? l.n : 1, sizeof *items);
    uint64_t total = 0;
    for (size_t i = 0; i < l.n; i++) {
        char at[32];
        kobj_format_time(l.parsed[i].at, at, sizeof at);
        items[i] =
            json_pack("{s:s,s:s,s:s,s:s,s:I,s:s}", "file", l.f[i].name, "namespace", l.parsed[i].ns,
                      "pod", l.parsed[i].pod, "kind", prof_kind_name(l.parsed[i].kind), "bytes",
                      (json_int_t)l.f[i].bytes, "capturedAt", at);
        total += l.f[i].bytes;
    }
    qsort(items, l.n, sizeof *items, newest_first);
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, items[i]);
    mb_free(items);
    json_object_set_new(out, "bytes", json_integer((json_int_t)total));
    json_object_set_new(out, "profiles", arr);
    listing_free(&l);
    return out;
}
