/*
 * profstore.h -- the profile directory on disk (shell): captures written
 * whole or not at all, the directory kept under its byte cap, and the
 * listing behind /debug/profiles and `membudget profiles`.
 *
 * Names and the retention decision are profname.h's. Runs on the
 * controller's thread (writes, retention) and answers its /debug/profiles.
 */
#ifndef MB_PROFSTORE_H
#define MB_PROFSTORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/err.h"

/* Write `len` bytes as dir/file: to a dot-file first, then renamed, so a
 * crash never leaves half a profile under a listed name. Creates dir
 * (0750) when missing. Never replaces an existing file. */
mb_err ps_write(const char *dir, const char *file, const void *buf, size_t len,
                struct mb_diag *diag);

/* Delete the oldest captures beyond max_bytes (prof_retain). Returns how
 * many files were deleted; *kept_bytes (may be NULL) is what remains. */
size_t ps_enforce(const char *dir, uint64_t max_bytes, uint64_t *kept_bytes);

/* Returns: new JSON object {"dir":..., "bytes":N, "maxBytes":N, "profiles":[
 * {"file","namespace","pod","kind","bytes","capturedAt"}...]}, newest
 * first; an unreadable directory gives "error" and no profiles. */
json_t *ps_list_json(const char *dir, uint64_t max_bytes);

#endif
