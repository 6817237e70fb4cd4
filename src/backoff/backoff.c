/*
 * backoff.c -- exponential backoff with equal jitter (pure; see
 * backoff.h). Used wherever membudget retries against the API server or a
 * pod: watch restarts, condition patches, eviction attempts. Randomness
 * comes in as a number, so tests can pin every delay.
 */
#include "membudget/backoff.h"

void backoff_init(struct backoff *b, uint64_t base_ms, uint64_t max_ms)
{
    b->base_ms = base_ms ? base_ms : 1;
    b->max_ms = max_ms < b->base_ms ? b->base_ms : max_ms;
    b->attempt = 0;
}

uint64_t backoff_next(struct backoff *b, uint64_t rnd, uint64_t retry_after_ms)
{
    uint64_t d = b->base_ms;
    for (unsigned i = 0; i < b->attempt && d < b->max_ms; i++)
        d *= 2;
    if (d > b->max_ms)
        d = b->max_ms;
    if (b->attempt < 64)
        b->attempt++;
    uint64_t half = d / 2;
    uint64_t v = half + (d - half ? rnd % (d - half + 1) : 0);
    return v < retry_after_ms ? retry_after_ms : v;
}

void backoff_reset(struct backoff *b) { b->attempt = 0; }

uint64_t backoff_rand(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9e3779b97f4a7c15ull;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ull;
}
