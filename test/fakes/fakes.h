/* fakes.h -- the I/O seams' fakes for the check suites (CONTRIBUTING.md §6):
 *   - a clock the test sets (fake_clock);
 *   - an API server, and pod endpoints, that record every request and
 *     answer when and how the test says (fake_kapi, through kapi_new_ops).
 * No network, no wall-clock waits. */
#ifndef MB_FAKES_H
#define MB_FAKES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "membudget/clock.h"
#include "membudget/kapi.h"

struct fake_clock {
    mb_mono_ms mono;
    mb_wall_ms wall;
    struct mb_clock clk; /* pass &fc->clk */
};

void fake_clock_init(struct fake_clock *fc, mb_mono_ms mono, mb_wall_ms wall);
void fake_clock_advance(struct fake_clock *fc, uint64_t ms);

/* One request the client made. */
struct fk_req {
    uint64_t id;
    char method[8];
    char *path;          /* path and query (API) or whole URL (pod endpoints) */
    char *body;          /* "" when none */
    bool streamed;       /* a watch (on_data set) */
    unsigned timeout_ms; /* as asked (0: the client's default) */
    bool (*on_data)(void *ctx, const char *data, size_t len);
    kapi_done_fn *done;
    void *arg;
    bool answered, cancelled;
};

struct fake_kapi {
    struct kapi *k; /* the client to hand to the code under test */
    struct fk_req *v;
    size_t n, cap;
};

void fake_kapi_init(struct fake_kapi *f);
void fake_kapi_cleanup(struct fake_kapi *f); /* frees k too */

/* The oldest request not answered nor cancelled whose path contains `needle`
 * (NULL: any), or NULL. */
struct fk_req *fake_kapi_find(struct fake_kapi *f, const char *needle);
size_t fake_kapi_count(const struct fake_kapi *f, const char *method, const char *needle);

/* Answer r: status and body ("" for none); MB_OK unless err. For a
 * streamed request, `stream` (may be NULL) goes to on_data first. */
void fake_kapi_answer(struct fk_req *r, long status, const char *body);
void fake_kapi_stream(struct fk_req *r, const char *data); /* on_data only, not finished */
void fake_kapi_fail(struct fk_req *r, mb_err err, const char *msg);

#endif
