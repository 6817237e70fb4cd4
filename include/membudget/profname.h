/*
 * profname.h -- the profile directory's file names and its retention
 * (docs/design.md: eviction.profileDir, profileMaxBytes, profileDirMaxBytes).
 *
 * Pure. One capture before an eviction writes up to two files with the
 * same stamp:
 *
 *   shop_web-5d4f7c9b8-x2x9q_20261123T100000Z.pb.gz             heap profile
 *   shop_web-5d4f7c9b8-x2x9q_20261123T100000Z.goroutines.txt    goroutine dump
 *
 * Namespaces and pod names cannot hold '_' (DNS labels and subdomains), so
 * the name splits back into namespace, pod and time; any other character
 * outside [A-Za-z0-9.-] is replaced by '_' (the names come from the API,
 * the file system is ours). Files being written are dot-files, never
 * listed.
 */
#ifndef MB_PROFNAME_H
#define MB_PROFNAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/clock.h"

enum prof_kind { PROF_HEAP, PROF_GOROUTINES };

#define PROF_NAME_MAX 256

/* The file name for a capture of ns/pod at `at`. */
void prof_name(const char *ns, const char *pod, mb_wall_ms at, enum prof_kind kind, char *out,
               size_t len);

struct prof_parsed {
    char ns[64], pod[254];
    mb_wall_ms at; /* whole seconds */
    enum prof_kind kind;
};

/* Returns false for a name this module did not make (it is then neither
 * listed nor ever deleted). */
bool prof_name_parse(const char *file, struct prof_parsed *out);

const char *prof_kind_name(enum prof_kind k); /* Returns: static "heap", "goroutines" */

/* A file of the directory, for the retention decision. */
struct prof_file {
    const char *name;
    uint64_t bytes;
    mb_wall_ms at; /* its stamp */
    bool del;      /* output: delete it */
};

/* At most this many files are kept, whatever their size (small goroutine
 * dumps would otherwise pile up to a listing nobody can read). */
#define PROF_MAX_FILES 10000

/* Mark the oldest files (by stamp, then name) for deletion until the rest
 * hold at most max_bytes in at most max_files files. The newest capture
 * (every file with the newest stamp) is always kept: the profile just
 * written is the one wanted. Returns how many files are marked. */
size_t prof_retain(struct prof_file *f, size_t n, uint64_t max_bytes, size_t max_files);

#endif
