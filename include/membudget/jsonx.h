/*
 * jsonx.h -- small jansson helpers shared by the JSON-speaking modules (pure).
 */
#ifndef MB_JSONX_H
#define MB_JSONX_H

#include <jansson.h>
#include <stddef.h>

/* Returns: new NUL-terminated JSON text of `j` (free with mb_free), its
 * length in *len (may be NULL). Cannot fail (aborts on OOM). */
char *mb_json_dumps(const json_t *j, size_t flags, size_t *len);

/* Returns: new JSON string of `s`; bytes that are not valid UTF-8 are
 * replaced by '?', so a message is never lost to bad input. */
json_t *mb_json_string_lossy(const char *s);

/* Length of the valid UTF-8 sequence starting at p (lead byte >= 0x80,
 * p < end), or 0: overlong forms, surrogates, code points past U+10FFFF
 * and sequences cut by `end` are invalid. */
size_t mb_utf8_len(const unsigned char *p, const unsigned char *end);

#endif
