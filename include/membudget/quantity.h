/*
 * quantity.h -- Kubernetes resource quantities, as memory in bytes.
 *
 * Pure: no I/O, no allocation. Implements the API server's grammar
 * (k8s.io/apimachinery/pkg/api/resource):
 *
 *   quantity ::= [+-] number suffix
 *   number   ::= digits | digits "." digits | digits "." | "." digits
 *   suffix   ::= "" | binarySI | decimalSI | ("e"|"E") [+-] digits
 *   binarySI ::= Ki Mi Gi Ti Pi Ei          decimalSI ::= m k M G T P E
 *
 * The value is computed exactly (decimal digit arithmetic, no floating
 * point) and converted to whole bytes rounding *up*, as Quantity.Value() does:
 * "500m" (half a byte) is 1 byte, "0.5Ki" is exactly 512. Memory cannot be
 * negative, so a leading "-" is refused; anything beyond INT64_MAX bytes is
 * refused as overflow.
 */
#ifndef MB_QUANTITY_H
#define MB_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/err.h"

/* Longest quantity string accepted; the API server has no such limit but no
 * real memory figure comes close. */
#define QTY_MAX_LEN 64

/* Enough for qty_format() of any int64 (19 digits + suffix + NUL). */
#define QTY_FMT_LEN 32

/* Parse `s` (len bytes, not necessarily NUL-terminated) into *bytes.
 * *rounded is set when the exact value had a fractional byte that was
 * rounded up (may be NULL). Out-parameters are written only on success.
 * Returns MB_OK, MB_EPARSE (malformed; diag says what and where), or
 * MB_ERANGE (negative or over INT64_MAX). */
mb_err qty_parse(const char *s, size_t len, int64_t *bytes, bool *rounded, struct mb_diag *diag);

/* As qty_parse on a NUL-terminated string. */
mb_err qty_parse_str(const char *s, int64_t *bytes, struct mb_diag *diag);

/* Write the canonical short form of `bytes` (>= 0) into out[QTY_FMT_LEN]:
 * the largest binary suffix that divides it exactly ("768Mi"), else the
 * largest decimal one ("129M"), else plain digits. qty_parse() of the result
 * gives `bytes` back. Returns: out. */
char *qty_format(int64_t bytes, char out[QTY_FMT_LEN]);

#endif /* MB_QUANTITY_H */
