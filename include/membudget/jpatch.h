/*
 * jpatch.h -- RFC 6902 JSON Patch and RFC 6901 JSON Pointer (pure).
 *
 * Building: jpatch_add_op() appends {"op":"add","path":...,"value":...} to a
 * patch array; jpatch_token() escapes one key ("membudget.io/budget" ->
 * "membudget.io~1budget") so callers assemble pointers safely.
 * Applying: jpatch_apply() implements add, remove, replace, move, copy and
 * test on a copy of the document, so a failing patch leaves nothing half
 * applied.
 */
#ifndef MB_JPATCH_H
#define MB_JPATCH_H

#include <jansson.h>
#include "membudget/err.h"

/* Returns: new string, `key` escaped as a JSON Pointer reference token. */
char *jpatch_token(const char *key);

/* Append an operation to `patch` (a JSON array). `value_take` is stolen
 * (may be NULL for ops without a value). `path` is copied. */
void jpatch_add_op(json_t *patch, const char *op, const char *path, json_t *value_take);

/* Resolve a pointer in `doc`. Returns: borrowed node, or NULL when absent
 * or the pointer is malformed. "" is the whole document. */
json_t *jpatch_get(const json_t *doc, const char *pointer);

/* Apply `patch` to a deep copy of `doc`. On success *out is the new
 * document. On error (malformed op, missing path, failed test) returns
 * MB_EINVAL with the op index and reason in diag; *out untouched. */
mb_err jpatch_apply(const json_t *doc, const json_t *patch, json_t **out, struct mb_diag *diag);

#endif /* MB_JPATCH_H */
