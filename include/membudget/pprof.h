/*
 * pprof.h -- pprof profiles (what Go's /debug/pprof/heap serves) decoded
 * into per-function totals, and two of them compared: the functions whose
 * memory grew, as `go tool pprof -top -diff_base BASE CUR` lists them.
 *
 * Pure. The bytes are gunzipped with zlib (a profile that is not gzipped is
 * read as it is, as pprof does) and decoded with protobuf-c from
 * third_party/pprof/profile.proto. Everything is bounded by struct
 * pprof_limits: the compressed and the inflated bytes, the memory the
 * decoded message may take, the samples, the frames of one sample and the
 * functions. A profile past a bound, or malformed, is an error naming what
 * is wrong and where (which sample, which id), never a crash.
 *
 * Figures are pprof's "functions" granularity: a frame is a function name
 * (an inlined call is a frame of its own; the file is not part of the
 * name); `flat` is what a function's own samples hold (the sample's leaf),
 * `cum` what the samples it is anywhere on hold, a sample counted once
 * however often the function recurses in it.
 */
#ifndef MB_PPROF_H
#define MB_PPROF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/err.h"

struct pprof_limits {
    size_t max_gz;        /* bytes as fetched */
    size_t max_raw;       /* bytes after gunzip */
    size_t max_mem;       /* bytes the decoded protobuf message may take */
    size_t max_samples;   /* samples in one profile */
    size_t max_depth;     /* frames in one sample, inline frames counted */
    size_t max_functions; /* distinct function names */
};

/* The bounds membudget uses: 64 MiB fetched (eviction.profileMaxBytes'
 * default), 256 MiB inflated, 1 GiB decoded, 4 M samples, 4096 frames
 * (Go's own stacks stop at 128... or at the runtime's maximum depth),
 * 1 M functions. A 5 MiB heap profile of a large service is far inside. */
extern const struct pprof_limits PPROF_LIMITS_DEFAULT;

/* One function's totals, one figure per sample type. */
struct pprof_fn {
    const char *name;
    const int64_t *flat, *cum; /* [ntypes] */
};

struct pprof {
    size_t ntypes;
    const char **type, **unit; /* [ntypes]: "inuse_space", "bytes" */
    const int64_t *total;      /* [ntypes]: the sum over all samples */
    int64_t time_ns;           /* when it was taken (0: not said) */
    size_t nsamples;
    size_t nfn;
    struct pprof_fn *fn; /* [nfn], by name (strcmp) */
    void *mem_;          /* everything above, in one block */
};

/* Decode `len` bytes of a profile. Returns MB_OK and a new *out (free with
 * pprof_free); MB_ETOOBIG past a bound, MB_EPARSE for bytes that are not a
 * profile, MB_EINVAL for a profile whose references do not hold (a sample's
 * location id that no location has...), each with d->msg saying which. */
mb_err pprof_decode(const void *buf, size_t len, const struct pprof_limits *lim, struct pprof **out,
                    struct mb_diag *d);
void pprof_free(struct pprof *p);

/* The index of the sample type named `type` ("inuse_space"), or -1. */
int pprof_type_index(const struct pprof *p, const char *type);

/* One function of a diff: cur's figure minus base's. */
struct pprof_delta {
    const char *name; /* points into cur or base */
    int64_t flat, cum;
};

enum pprof_order { PPROF_BY_FLAT, PPROF_BY_CUM };

/* Every function of either profile whose flat or cum figure for `type`
 * differs, cur minus base, in *out (free with mb_free), the largest
 * growth first by `by` (then the other figure, then the name). MB_EINVAL
 * when either profile has no such sample type, or their units differ
 * (d->msg names the types it has). The deltas point into both profiles:
 * free them after the deltas. */
mb_err pprof_diff(const struct pprof *base, const struct pprof *cur, const char *type,
                  enum pprof_order by, struct pprof_delta **out, size_t *n, struct mb_diag *d);

/* A figure as the growth line says it: "+84.0MiB", "-3.1KiB", "+512B" for
 * bytes, "+1234" for counts, "+1.5s" for nanoseconds. */
void pprof_fmt_delta(int64_t v, const char *unit, char *out, size_t len);

/* The growth line of the Events, for the first `k` deltas that grew (flat
 * figure > 0, in the order given):
 *   "encoding/json.(*decodeState).object +84.0MiB, bytes.growSlice +12.3MiB (inuse_space)"
 * A function name longer than 120 bytes is cut with "...". "" when none
 * grew. Returns the length it needed (snprintf's convention). */
size_t pprof_growth_line(const struct pprof_delta *d, size_t n, size_t k, const char *type,
                         const char *unit, char *out, size_t len);

#endif
