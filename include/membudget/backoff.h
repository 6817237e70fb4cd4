/*
 * backoff.h -- exponential backoff with jitter (for watch restarts, retries).
 *
 * Pure: randomness is injected as a number. Delay n (0-based) is
 * min(max, base * 2^n), and the returned value is drawn uniformly from
 * [d/2, d] ("equal jitter": never less than half, so a crowd of clients
 * spreads out but none hammers the server). A server's Retry-After raises
 * the floor.
 *
 * Value type: embed it. Fields are private to backoff.c.
 */
#ifndef MB_BACKOFF_H
#define MB_BACKOFF_H

#include <stdint.h>

struct backoff {
    uint64_t base_ms; /* first delay */
    uint64_t max_ms;  /* cap */
    unsigned attempt; /* failures since the last reset */
};

void backoff_init(struct backoff *b, uint64_t base_ms, uint64_t max_ms);

/* The delay before the next attempt, given a uniform random 64-bit number
 * `rnd` and the server's Retry-After in ms (0: none). Counts one failure. */
uint64_t backoff_next(struct backoff *b, uint64_t rnd, uint64_t retry_after_ms);

/* A jitter source for backoff_next: xorshift64* over *state (seed it with
 * anything non-zero; 0 is replaced). Not for security. */
uint64_t backoff_rand(uint64_t *state);

/* A success: the next failure starts from base again. */
void backoff_reset(struct backoff *b);

#endif
