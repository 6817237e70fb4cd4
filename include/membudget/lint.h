/*
 * lint.h -- the admission policy over manifest files (pure: bytes in, text out).
 *
 * Accepts YAML streams (multi-document) and JSON (one or more values), with
 * Pods, the workload kinds of policy.h and List objects (items are checked
 * one by one); other kinds are skipped. Each violation becomes one line
 *
 *   FILE:DOC: KIND/NAME: FIELD.PATH: MESSAGE
 *
 * where DOC counts documents from 1. The field paths and messages are
 * policy_eval()'s, the webhook's own. Advice (not a violation) is printed as
 * "FILE:DOC: KIND/NAME: warning: ...".
 */
#ifndef MB_LINT_H
#define MB_LINT_H

#include <stddef.h>
#include "membudget/buf.h"
#include "membudget/policy.h"

struct lint_stats {
    size_t objects;    /* governed objects checked */
    size_t skipped;    /* objects of other kinds */
    size_t violations; /* lines reported */
    size_t bad_inputs; /* documents that could not be read */
};

/* Lint one file's bytes. Lines are appended to `out`; input errors are
 * reported there too, as "FILE:DOC: error: ..." (with the YAML line when
 * known) and counted in st->bad_inputs. Cannot fail. */
void lint_buffer(const struct policy_conf *conf, const char *name, const char *buf, size_t len,
                 struct mb_buf *out, struct lint_stats *st);

#endif
