/*
 * ydoc.h -- YAML streams as node trees with source positions (pure).
 *
 * libyaml parses bytes (never files) into a tree per document. Every node
 * keeps its 1-based line and column, so the config loader can name
 * "file:line:col: key" in its errors. ydoc_to_json() converts a document to
 * jansson values the way Kubernetes tooling does (sigs.k8s.io/yaml over
 * go-yaml v2): YAML 1.1 plain-scalar resolution (yes/no/on/off are booleans,
 * 0755 is octal), merge keys "<<", aliases expanded.
 *
 * Hostile input is bounded: nesting depth, node count, and the size of an
 * alias expansion (billion laughs) all have caps; recursive aliases are an
 * error. Callers bound the input size.
 */
#ifndef MB_YDOC_H
#define MB_YDOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include "membudget/err.h"

enum ydoc_type { YDOC_SCALAR, YDOC_SEQ, YDOC_MAP };

struct ydoc_node {
    enum ydoc_type type;
    int line, column;         /* 1-based position of the node's start */
    char *tag;                /* explicit tag ("tag:yaml.org,2002:str"), or NULL */
    char *value;              /* SCALAR: bytes, NUL-terminated (may contain NUL) */
    size_t len;               /* SCALAR: length of value */
    bool plain;               /* SCALAR: unquoted, so subject to type resolution */
    struct ydoc_node **items; /* SEQ: items; MAP: key0, value0, key1, value1, ... */
    size_t n;                 /* SEQ: item count; MAP: 2 x pair count */
    bool open;                /* private: under construction (recursive alias check) */
};

struct ydoc_stream {
    struct ydoc_node **docs; /* document roots (an empty document is a null scalar) */
    size_t ndocs;
    struct ydoc_node **all; /* private: every node, for freeing (aliases share) */
    size_t nall, capall;
};

struct ydoc_limits {
    size_t max_depth; /* nesting of collections; 0 = 256 */
    size_t max_nodes; /* nodes parsed, and nodes produced by ydoc_to_json; 0 = 2,000,000 */
};

/* Parse a whole YAML stream. On success *out is new (free with
 * ydoc_free). On error returns MB_EPARSE (or MB_ETOOBIG for a limit) with
 * line/column in diag. `limits` may be NULL for the defaults. */
mb_err ydoc_parse(const char *buf, size_t len, const struct ydoc_limits *limits,
                  struct ydoc_stream **out, struct mb_diag *diag);

void ydoc_free(struct ydoc_stream *s); /* NULL-safe */

/* Returns: borrowed value node of `key` in a MAP node, or NULL (also when
 * `map` is not a map). Plain and quoted keys both match. */
const struct ydoc_node *ydoc_map_get(const struct ydoc_node *map, const char *key);

/* Is this scalar a YAML null (plain "", "~", "null", "Null", "NULL")? */
bool ydoc_is_null(const struct ydoc_node *n);

/* Returns: short name of the node's kind for messages ("mapping", ...). */
const char *ydoc_kind(const struct ydoc_node *n);

/* Convert a node to JSON. *out is new on success. Errors (MB_EPARSE,
 * MB_ETOOBIG) carry the offending node's line/column in diag. `limits` may
 * be NULL. */
mb_err ydoc_to_json(const struct ydoc_node *n, const struct ydoc_limits *limits, json_t **out,
                    struct mb_diag *diag);

#endif /* MB_YDOC_H */
