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
    char ns[64], pod[254], owner[254]; /* owner: object keys only ("_": none) */
    mb_wall_ms at;                     /* whole seconds */
    enum prof_kind kind;
};

/* Returns false for a name this module did not make (it is then neither
 * listed nor ever deleted). */
bool prof_name_parse(const char *file, struct prof_parsed *out);

const char *prof_kind_name(enum prof_kind k); /* Returns: static "heap", "goroutines" */

/* The object key of a capture in an object store:
 *
 *   PREFIX/NAMESPACE/OWNER/POD/2026-12-07T03:12:44Z.heap.pb.gz
 *   PREFIX/NAMESPACE/OWNER/POD/2026-12-07T03:12:44Z.goroutines.txt
 *
 * OWNER is the name of the pod's controller (its ReplicaSet, StatefulSet...)
 * or "_" for a pod without one; an empty prefix drops its segment, and
 * slashes around it are not doubled. Segments are made safe as file names
 * are. Returns false when the key would not fit in len (S3: 1024 bytes). */
bool prof_key(const char *prefix, const char *ns, const char *owner, const char *pod, mb_wall_ms at,
              enum prof_kind kind, char *out, size_t len);
/* Split a key made by prof_key under `prefix` back. Returns false for any
 * other key (it is then never listed as a capture). */
bool prof_key_parse(const char *key, const char *prefix, struct prof_parsed *out);

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
