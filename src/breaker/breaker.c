/*
 * breaker.c -- the per-pod tiered memory circuit breaker (pure; see
 * breaker.h for the state machine). The planner feeds it each fresh
 * sample with `now` and carries out the decision it returns; nothing here
 * knows about pods, calls or Events.
 */
#include <string.h>

#include "membudget/breaker.h"

static const char *const NAMES[] = {"normal", "throttle", "gc", "evict"};

const char *brk_tier_name(enum brk_tier t) { return (unsigned)t < BRK_NTIERS ? NAMES[t] : "?"; }

void brk_init(struct brk *b) { memset(b, 0, sizeof *b); }

bool brk_tier_on(const struct brk_conf *c, enum brk_tier t)
{
    if (t == BRK_NORMAL)
        return true;
    if (c->threshold[t] == 0)
        return false;
    return t != BRK_GC || c->gc_available;
}

/* The usage still "holds" tier t: at or above its threshold minus hysteresis. */
static bool holds(const struct brk_conf *c, enum brk_tier t, double p)
{
    return t == BRK_NORMAL || (brk_tier_on(c, t) && p >= (double)c->threshold[t] - c->hysteresis);
}

void brk_step(struct brk *b, const struct brk_conf *c, const struct brk_sample *s, mb_mono_ms now,
              struct brk_decision *out)
{
    unsigned sustain = c->sustain ? c->sustain : 1, recover = c->recover ? c->recover : 1;
    memset(out, 0, sizeof *out);
    out->from = out->to = b->tier;

    bool fresh = s->ok && s->taken <= now && now - s->taken <= 2 * c->interval_ms;
    if (!fresh) {
        /* Hold: no move either way, and the runs start again. */
        out->stale = true;
        memset(b->above, 0, sizeof b->above);
        b->below = 0;
        return;
    }
    double p = s->percent;
    for (int t = BRK_THROTTLE; t < BRK_NTIERS; t++)
        b->above[t] =
            brk_tier_on(c, (enum brk_tier)t) && p >= (double)c->threshold[t] ? b->above[t] + 1 : 0;

    /* Escalate to the highest tier sustained above the current one. */
    enum brk_tier up = b->tier;
    for (int t = BRK_NTIERS - 1; t > (int)b->tier; t--) {
        if (b->above[t] >= sustain) {
            up = (enum brk_tier)t;
            break;
        }
    }
    if (up != b->tier) {
        b->tier = up;
        b->below = 0;
    } else if (b->tier != BRK_NORMAL) {
        /* Recover: enough samples below the current tier's exit. */
        b->below = holds(c, b->tier, p) ? 0 : b->below + 1;
        if (b->below >= recover) {
            enum brk_tier down = BRK_NORMAL;
            for (int t = (int)b->tier - 1; t > BRK_NORMAL; t--) {
                if (holds(c, (enum brk_tier)t, p)) {
                    down = (enum brk_tier)t;
                    break;
                }
            }
            b->tier = down;
            b->below = 0;
        }
    }
    out->to = b->tier;
    out->changed = out->to != out->from;
    out->recovered = out->changed && out->to == BRK_NORMAL;

    /* Actions that follow from the tier. */
    bool want_throttle = b->tier >= BRK_THROTTLE && brk_tier_on(c, BRK_THROTTLE);
    if (want_throttle && !b->throttling) {
        out->throttle_on = true;
        b->throttling = true;
    } else if (!want_throttle && b->throttling) {
        out->throttle_off = true;
        b->throttling = false;
    }
    /* At most one GC per gc_min_interval, whatever the tier did meanwhile. */
    if (b->tier == BRK_GC && brk_tier_on(c, BRK_GC) && brk_gc_allowed(b, c, now)) {
        out->gc = true;
        brk_gc_noted(b, now);
    }
    if (out->changed && b->tier == BRK_EVICT)
        out->evict = true;
}

enum brk_tier brk_tier_of(const struct brk *b) { return b->tier; }

bool brk_gc_allowed(const struct brk *b, const struct brk_conf *c, mb_mono_ms now)
{
    return !b->ever_gc || now - b->last_gc >= c->gc_min_interval_ms;
}

void brk_gc_noted(struct brk *b, mb_mono_ms now)
{
    b->ever_gc = true;
    b->last_gc = now;
}

void brk_resume(struct brk *b, const struct brk_conf *c, enum brk_tier tier, bool ever_gc,
                mb_mono_ms last_gc)
{
    brk_init(b);
    b->tier = (unsigned)tier < BRK_NTIERS ? tier : BRK_NORMAL;
    b->throttling = b->tier >= BRK_THROTTLE && brk_tier_on(c, BRK_THROTTLE);
    b->ever_gc = ever_gc;
    b->last_gc = last_gc;
}
