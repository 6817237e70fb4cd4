/*
 * lease.c -- leader election's decisions on a Lease (pure; see lease.h for
 * the rules, client-go's tryAcquireOrRenew). leader.c does the I/O and
 * asks this file what to write and whether it still leads.
 */
#include <string.h>

#include "membudget/kobj.h"
#include "membudget/lease.h"

void lease_init(struct lease_state *s) { memset(s, 0, sizeof *s); }

static bool same(const struct lease_rec *a, const struct lease_rec *b)
{
    return a->exists == b->exists && !strcmp(a->holder, b->holder) && !strcmp(a->renew, b->renew) &&
           !strcmp(a->rv, b->rv);
}

void lease_observe(struct lease_state *s, const struct lease_rec *r, mb_mono_ms now)
{
    if (!s->observed || !same(&s->seen, r))
        s->seen_at = now;
    s->seen = *r;
    s->observed = true;
    /* Leadership is not decided here: a leader that fails to renew gives up
     * at its renew deadline, which is before anyone else may take over. */
}

bool lease_decide(const struct lease_state *s, const struct lease_conf *c, mb_mono_ms now,
                  mb_wall_ms wall, struct lease_rec *want)
{
    struct lease_rec w = {0};
    char ts[40];
    if (!s->observed)
        return false;
    kobj_format_time_us(wall, ts, sizeof ts);
    const struct lease_rec *cur = &s->seen;
    bool ours = cur->exists && strcmp(cur->holder, c->identity) == 0;
    if (cur->exists && cur->holder[0] && !ours) {
        uint64_t dur = cur->duration_s ? (uint64_t)cur->duration_s * 1000 : c->lease_ms;
        if (now < s->seen_at + dur)
            return false; /* held by someone else, and alive */
    }
    w.exists = cur->exists;
    snprintf(w.holder, sizeof w.holder, "%s", c->identity);
    w.duration_s = (unsigned)((c->lease_ms + 999) / 1000);
    snprintf(w.renew, sizeof w.renew, "%s", ts);
    if (ours) {
        snprintf(w.acquire, sizeof w.acquire, "%s", cur->acquire[0] ? cur->acquire : ts);
        w.transitions = cur->transitions;
    } else {
        snprintf(w.acquire, sizeof w.acquire, "%s", ts);
        w.transitions = cur->exists ? cur->transitions + 1 : 0;
    }
    snprintf(w.rv, sizeof w.rv, "%s", cur->rv);
    *want = w;
    return true;
}

bool lease_written(struct lease_state *s, bool ok, const struct lease_rec *written, mb_mono_ms now)
{
    if (!ok)
        return s->leader; /* the deadline decides when a leader gives up */
    s->seen = *written;
    s->seen_at = now;
    s->observed = true;
    s->leader = true;
    s->last_renew = now;
    return true;
}

bool lease_still_leader(struct lease_state *s, const struct lease_conf *c, mb_mono_ms now)
{
    if (s->leader && now > s->last_renew + c->renew_deadline_ms)
        s->leader = false;
    return s->leader;
}

void lease_release_rec(const struct lease_state *s, mb_wall_ms wall, struct lease_rec *out)
{
    struct lease_rec r = {0};
    r.exists = true;
    r.duration_s = 1;
    kobj_format_time_us(wall, r.renew, sizeof r.renew);
    snprintf(r.acquire, sizeof r.acquire, "%s", r.renew);
    r.transitions = s->seen.transitions;
    snprintf(r.rv, sizeof r.rv, "%s", s->seen.rv);
    *out = r;
}

mb_err lease_from_json(const json_t *obj, struct lease_rec *out)
{
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const json_t *spec = json_object_get(obj, "spec"), *md = json_object_get(obj, "metadata");
    if (!kind || strcmp(kind, "Lease") != 0 || !json_is_object(md))
        return MB_EPARSE;
    struct lease_rec r = {0};
    const char *s;
    r.exists = true;
    if ((s = json_string_value(json_object_get(spec, "holderIdentity"))))
        snprintf(r.holder, sizeof r.holder, "%s", s);
    json_int_t d = json_integer_value(json_object_get(spec, "leaseDurationSeconds"));
    r.duration_s = d > 0 && d < 86400 ? (unsigned)d : 0;
    if ((s = json_string_value(json_object_get(spec, "acquireTime"))))
        snprintf(r.acquire, sizeof r.acquire, "%s", s);
    if ((s = json_string_value(json_object_get(spec, "renewTime"))))
        snprintf(r.renew, sizeof r.renew, "%s", s);
    json_int_t t = json_integer_value(json_object_get(spec, "leaseTransitions"));
    r.transitions = t > 0 ? (unsigned)t : 0;
    if ((s = json_string_value(json_object_get(md, "resourceVersion"))))
        snprintf(r.rv, sizeof r.rv, "%s", s);
    *out = r;
    return MB_OK;
}

json_t *lease_to_json(const struct lease_rec *r, const char *ns, const char *name)
{
    json_t *md = json_pack("{s:s,s:s}", "name", name, "namespace", ns);
    if (r->rv[0])
        json_object_set_new(md, "resourceVersion", json_string(r->rv));
    json_t *spec = json_pack("{s:s,s:i,s:i}", "holderIdentity", r->holder, "leaseDurationSeconds",
                             (int)r->duration_s, "leaseTransitions", (int)r->transitions);
    if (r->acquire[0])
        json_object_set_new(spec, "acquireTime", json_string(r->acquire));
    if (r->renew[0])
        json_object_set_new(spec, "renewTime", json_string(r->renew));
    return json_pack("{s:s,s:s,s:o,s:o}", "apiVersion", "coordination.k8s.io/v1", "kind", "Lease",
                     "metadata", md, "spec", spec);
}
