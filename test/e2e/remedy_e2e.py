#!/usr/bin/env python3
"""End-to-end scenarios of the breaker and its actions: membudget's controller
against kubesim, with real Go targets (test/targets/leaky) listening on
loopback addresses that the simulated pods carry as their IPs.

    usage: test/e2e/remedy_e2e.py MEMBUDGET_BINARY [SCENARIO...]
"""
import gzip
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import controller_e2e as base  # noqa: E402  (the harness: Sim, Ctl, check, wait_until)
from controller_e2e import check, cond_of, wait_until, http  # noqa: E402

ROOT = base.ROOT
LEAKY = None
TARGETS = []


def build_leaky(work):
    out = os.path.join(tempfile.gettempdir(), "membudget-e2e-leaky")
    env = dict(os.environ, GOCACHE=os.environ.get("GOCACHE", "/tmp/membudget-gocache"),
               GOFLAGS="-mod=mod")
    subprocess.run(["go", "build", "-o", out, "."], cwd=os.path.join(ROOT, "test", "targets",
                                                                     "leaky"),
                   check=True, env=env)
    return out


class Target:
    """A leaky Go process on 127.0.0.N:PORT."""

    def __init__(self, ip, port, mode, rate, maxmib=256, env=None):
        self.ip, self.port = ip, port
        self.p = subprocess.Popen([LEAKY, "--listen", "%s:%d" % (ip, port), "--mode", mode,
                                   "--rate", str(rate), "--max", str(maxmib)],
                                  stderr=subprocess.DEVNULL, env=dict(os.environ, **(env or {})))
        TARGETS.append(self)
        wait_until(lambda: self.metrics() is not None, 10)

    def url(self, path):
        return "http://%s:%d%s" % (self.ip, self.port, path)

    def metrics(self):
        try:
            with urllib.request.urlopen(self.url("/metrics"), timeout=2) as r:
                return base.prom_values(r.read().decode())
        except OSError:
            return None

    def control(self, mode, rate=0):
        http("POST", self.url("/control"), {"mode": mode, "rate": rate})

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


CONFIG = """sampleInterval: 1s
usage: {scrapeTimeout: 800ms, allowLoopback: true}
sustainSamples: 2
recoverSamples: 2
hysteresis: 5
gcMinInterval: 2s
leak: {window: 6, minSlopePercentPerMinute: 10}
eviction: {maxPerMinute: 5, profileDir: %s}
"""


def controller(work, sim, extra_cfg=""):
    cfg = os.path.join(work, "config.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG % os.path.join(work, "profiles") + extra_cfg)
    return base.Ctl(work, sim, "ctl", "--config", cfg)


def leaky_pod(sim, ns, name, t, usage="heap", mode=None, labels=None, owner=None, tiers=None,
              budget="64Mi", limit="128Mi", env=None, extra=None):
    ann = {"membudget.io/budget": budget, "membudget.io/usage": usage,
           "membudget.io/metrics": "%d/metrics" % t.port,
           "membudget.io/gc": "%d/debug/gc" % t.port,
           "membudget.io/profile": "%d/debug/pprof/heap" % t.port,
           "kubesim.io/pod-ip": t.ip}
    if mode:
        ann["membudget.io/mode"] = mode
    if tiers:
        ann["membudget.io/tiers"] = tiers
    ann.update(extra or {})
    md = {"name": name, "annotations": ann, "labels": labels or {}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                  "uid": owner + "-uid", "controller": True}]
    return sim.api("POST", "/api/v1/namespaces/%s/pods" % ns, {"metadata": md, "spec": {
        "nodeName": "node-1",
        "readinessGates": [{"conditionType": "membudget.io/within-budget"}],
        "containers": [{"name": "app", "image": "leaky", "resources": {"limits": {
            "memory": limit}}, "ports": [{"containerPort": t.port}],
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}]}})


def events(sim, ns, pod):
    st, body = sim.api("GET", "/api/v1/namespaces/%s/events" % ns)
    evs = [e for e in body["items"] if e["involvedObject"]["name"] == pod]
    return sorted(evs, key=lambda e: e.get("firstTimestamp", ""))


def reasons(sim, ns, pod):
    return [e["reason"] for e in events(sim, ns, pod)]


def setup(work):
    sim = base.Sim(work)
    sim.ns("shop")
    sim.node()
    return sim


# --- scenarios ----------------------------------------------------------------

def sc_reclaimable(work):
    """Growth a GC reclaims: throttle -> gc -> recovered, and the real heap drops."""
    sim = setup(work)
    # 8 MiB/s sampled every 1s: the gc tier's band (70%..99% of 64Mi, 18.6 MiB)
    # is wider than two samples' growth, so with sustainSamples 2 the gc tier
    # is always entered before the evict tier, however slowly samples come.
    t = Target("127.0.0.11", 16001, "garbage", 8)
    try:
        ctl = controller(work, sim)
        leaky_pod(sim, "shop", "web", t, tiers="throttle=50,gc=70,evict=99")
        ok = wait_until(lambda: "MemoryBudgetGCForced" in reasons(sim, "shop", "web"), 20)
        check("reclaimable growth: throttled, then a GC forced", ok and
              "MemoryBudgetThrottled" in reasons(sim, "shop", "web"), reasons(sim, "shop", "web"))
        check("Events give the pod's own thresholds (membudget.io/tiers)", any(
            "(throttle at 50%)" in e["message"] for e in events(sim, "shop", "web")),
            [e["message"] for e in events(sim, "shop", "web")])
        check("the GC endpoint was really called", wait_until(
            lambda: t.metrics()["membudget_forced_gc_total"] >= 1, 5))
        t.control("idle")
        check("after the GC the pod recovers (Event, condition True again)", wait_until(
            lambda: "MemoryBudgetRecovered" in reasons(sim, "shop", "web") and
            base.cond_of(sim.pods()[("shop", "web")]) == "True", 20),
            reasons(sim, "shop", "web"))
        check("the GC's effect is reported from the next sample (Event: before -> after)",
              wait_until(lambda: any(e["message"].startswith("after the forced GC")
                                     for e in events(sim, "shop", "web")), 10),
              [e["message"] for e in events(sim, "shop", "web")])
        check("the real heap dropped below the budget", wait_until(
            lambda: t.metrics()["go_memstats_heap_inuse_bytes"] < 32 << 20, 5), t.metrics())
        pod = ctl.tracked()[("shop", "web")]
        check("/debug/pods shows tier normal and fresh figures", pod.get("tier") == "normal" and
              pod.get("fresh") is True, pod)
        m = ctl.metrics()
        check("metrics: transitions and actions counted",
              'membudget_tier_transitions_total{tier="gc"}' in m and
              'membudget_actions_total{action="gc",result="ok"}' in m and
              'membudget_pod_usage_ratio{namespace="shop",pod="web"}' in m,
              [l for l in m.splitlines() if "transitions" in l or "actions" in l])
        check("SIGTERM: exit 0", ctl.stop() == 0)
    finally:
        t.stop()
        sim.stop()


def sc_unreclaimable(work):
    """Growth no GC reclaims: gc, then the profile is captured and the pod evicted."""
    sim = setup(work)
    t = Target("127.0.0.12", 16002, "held", 12)
    try:
        ctl = controller(work, sim)
        leaky_pod(sim, "shop", "hog", t)
        ok = wait_until(lambda: "MemoryBudgetEvicted" in reasons(sim, "shop", "hog"), 30)
        r = reasons(sim, "shop", "hog")
        check("unreclaimable growth ends in eviction", ok, r)
        check("the profile is captured before the eviction",
              "MemoryBudgetProfileCaptured" in r and
              r.index("MemoryBudgetProfileCaptured") < r.index("MemoryBudgetEvicted"), r)
        pdir = os.path.join(work, "profiles")
        files = sorted(os.listdir(pdir)) if os.path.isdir(pdir) else []
        heap = [f for f in files if f.endswith(".pb.gz")]
        gor = [f for f in files if f.endswith(".goroutines.txt")]
        valid = False
        if heap:
            with gzip.open(os.path.join(pdir, heap[0])) as g:
                valid = len(g.read()) > 0
        check("the profile file is named NAMESPACE_POD_STAMP.pb.gz and is a valid gzip",
              len(heap) == 1 and heap[0].startswith("shop_hog_") and valid, files)
        dump = open(os.path.join(pdir, gor[0])).read() if len(gor) == 1 else ""
        check("a goroutine dump (debug=2) is captured alongside, under the same stamp",
              dump.startswith("goroutine ") and "runtime/pprof" in dump and
              gor[0][:-len(".goroutines.txt")] == heap[0][:-len(".pb.gz")], files)
        msg = [e["message"] for e in events(sim, "shop", "hog")
               if e["reason"] == "MemoryBudgetProfileCaptured"]
        check("the ProfileCaptured Event lists both files", msg and heap[0] in msg[0] and
              gor[0] in msg[0], msg)
        out = subprocess.run([base.BIN, "profiles", "--address", ctl.addr, "--namespace", "shop",
                              "--pod", "hog"], capture_output=True, text=True)
        check("`membudget profiles --namespace --pod` lists both captures",
              out.returncode == 0 and heap[0] in out.stdout and gor[0] in out.stdout and
              "goroutines" in out.stdout, out.stdout + out.stderr)
        out = subprocess.run([base.BIN, "profiles", "--address", ctl.addr, "--pod", "other"],
                             capture_output=True, text=True)
        check("... and only what the filter asks for", out.returncode == 0 and
              heap[0] not in out.stdout, out.stdout)
        check("the pod is gone", wait_until(lambda: ("shop", "hog") not in sim.pods(), 5))
        ctl.stop()
    finally:
        t.stop()
        sim.stop()


def check_would(sim, pod, t, ok, what):
    """A dry-run pod's action Events all say "dry run: would", and its GC
    endpoint was never called."""
    evs = events(sim, "shop", pod)
    check(what + ": the Events say what would have happened", ok and all(
        e["message"].startswith("dry run: would") for e in evs
        if e["reason"] in ("MemoryBudgetThrottled", "MemoryBudgetGCForced",
                           "MemoryBudgetEvicted")), [(e["reason"], e["message"]) for e in evs])
    check(what + ": no GC call", t.metrics()["membudget_forced_gc_total"] == 0)


def sc_dry_run(work):
    """dry-run pod: Events say what would happen; nothing happens."""
    sim = setup(work)
    t = Target("127.0.0.13", 16003, "held", 12)
    try:
        ctl = controller(work, sim)
        leaky_pod(sim, "shop", "dry", t, mode="dry-run")
        ok = wait_until(lambda: "MemoryBudgetEvicted" in reasons(sim, "shop", "dry"), 30)
        check_would(sim, "dry", t, ok, "dry run")
        p = sim.pods().get(("shop", "dry"))
        check("dry run: no eviction and the condition stays True", p is not None and
              base.cond_of(p) == "True")
        ctl.stop()
    finally:
        t.stop()
        sim.stop()


def sc_dry_run_global(work):
    """Global dryRun: every running gated pod gets its condition True (the gate
    never keeps a pod NotReady), and it is never set False, even past the
    evict tier; the Events say what would have happened."""
    sim = setup(work)
    t = Target("127.0.0.19", 16009, "held", 12)
    try:
        ctl = controller(work, sim, "dryRun: true\n")
        sim.pod("shop", "quiet")  # gated, no endpoints: within budget as far as anyone knows
        leaky_pod(sim, "shop", "hog", t)
        seen = set()

        def watch():
            pods = sim.pods()
            for k in (("shop", "quiet"), ("shop", "hog")):
                if k in pods:
                    seen.add((k[1], base.cond_of(pods[k])))
            return "MemoryBudgetEvicted" in reasons(sim, "shop", "hog")
        ok = wait_until(watch, 30)
        pods = sim.pods()
        check("global dry run: a gated pod without samples gets its condition True",
              base.cond_of(pods.get(("shop", "quiet"), {})) == "True", seen)
        check("global dry run: the over-budget pod's condition is True and never False",
              ok and base.cond_of(pods.get(("shop", "hog"), {})) == "True" and
              ("hog", "False") not in seen, seen)
        check_would(sim, "hog", t, ok, "global dry run")
        ctl.stop()
    finally:
        t.stop()
        sim.stop()


def sc_pdb_blocks(work):
    """A PDB that allows no disruption: EvictionBlocked, retried, evicted once it allows."""
    sim = setup(work)
    t = Target("127.0.0.15", 16005, "held", 12)
    try:
        ctl = controller(work, sim)
        sim.api("POST", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets", {
            "metadata": {"name": "hog"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "hog"}}}})
        leaky_pod(sim, "shop", "hog", t, labels={"app": "hog"})
        ok = wait_until(lambda: "MemoryBudgetEvictionBlocked" in reasons(sim, "shop", "hog"), 30)
        blocked = [e for e in events(sim, "shop", "hog")
                   if e["reason"] == "MemoryBudgetEvictionBlocked"]
        check("the PDB blocks the eviction: Event EvictionBlocked with the PDB's reason", ok and
              "disruption budget" in blocked[0]["message"], [e["message"] for e in blocked])
        check("blocked is not evicted", ("shop", "hog") in sim.pods() and
              "MemoryBudgetEvicted" not in reasons(sim, "shop", "hog"))
        sim.api("PATCH", "/apis/policy/v1/namespaces/shop/poddisruptionbudgets/hog",
                {"spec": {"minAvailable": 0}}, "application/merge-patch+json")
        check("evicted once the PDB allows (retried with backoff)", wait_until(
            lambda: "MemoryBudgetEvicted" in reasons(sim, "shop", "hog"), 30),
            reasons(sim, "shop", "hog"))
        ctl.stop()
    finally:
        t.stop()
        sim.stop()


def sc_goroutine_leak(work):
    """Goroutines that only grow: MemoryBudgetLeakSuspected, long before any tier."""
    sim = setup(work)
    t = Target("127.0.0.16", 16006, "goroutines", 5)
    try:
        ctl = controller(work, sim)
        leaky_pod(sim, "shop", "gor", t, usage="rss")
        ok = wait_until(lambda: any("goroutines rising" in e["message"]
                                    for e in events(sim, "shop", "gor")), 20)
        check("a goroutine leak raises MemoryBudgetLeakSuspected", ok,
              [(e["reason"], e["message"]) for e in events(sim, "shop", "gor")])
        ctl.stop()
    finally:
        t.stop()
        sim.stop()


def wset_pod(sim, ns, name, owner):
    return sim.api("POST", "/api/v1/namespaces/%s/pods" % ns, {
        "metadata": {"name": name, "annotations": {"membudget.io/budget": "100Mi"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": owner, "uid": owner + "-uid",
                                          "controller": True}]},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "x", "resources": {
            "limits": {"memory": "128Mi"}}}]}})


def set_usage(sim, ns, names, mem):
    sim.api("POST", "/_sim/podmetrics", {"items": [
        {"namespace": ns, "name": n, "containers": {"app": mem}} for n in names]})


def sc_metrics_failing(work):
    """The metrics API fails: samples are stale, nothing escalates; when it
    comes back, the breaker moves on fresh data."""
    sim = setup(work)
    try:
        ctl = controller(work, sim)
        wset_pod(sim, "shop", "w", "rs-w")
        wait_until(lambda: ("shop", "w") in ctl.tracked(), 5)
        set_usage(sim, "shop", ["w"], "99Mi")
        sim.faults(errors=[{"status": 500, "count": 1000, "path": "/apis/metrics.k8s.io"}])
        time.sleep(5)
        pod = ctl.tracked()[("shop", "w")]
        check("a failing metrics source: no escalation, no action",
              reasons(sim, "shop", "w") == [] and pod.get("tier", "normal") == "normal", pod)
        check("the sample is marked stale with the reason", pod.get("fresh") is False and
              "metrics API" in pod.get("staleReason", ""), pod)
        sim.api("DELETE", "/_sim/faults")
        check("fresh data again: the breaker escalates", wait_until(
            lambda: "MemoryBudgetThrottled" in reasons(sim, "shop", "w"), 10),
            reasons(sim, "shop", "w"))
        ctl.stop()
    finally:
        sim.stop()


def sc_rate_limit(work):
    """20 pods over budget at once: at most eviction.maxPerMinute (5) evicted."""
    sim = setup(work)
    try:
        ctl = controller(work, sim)
        names = ["p%02d" % i for i in range(20)]
        for n in names:
            wset_pod(sim, "shop", n, "rs-" + n)
        wait_until(lambda: len(ctl.tracked()) == 20, 5)
        wait_until(lambda: all(p["podIP"] for p in ctl.tracked().values()), 5)
        set_usage(sim, "shop", names, "99Mi")
        wait_until(lambda: sum(1 for n in names if "MemoryBudgetEvicted" in reasons(
            sim, "shop", n)) >= 5, 20)
        time.sleep(4)
        evicted = [n for n in names if "MemoryBudgetEvicted" in reasons(sim, "shop", n)]
        check("eviction rate limit holds: 5 of 20 evicted in the first minute",
              len(evicted) == 5, evicted)
        m = ctl.metrics()
        check("deferred evictions are counted", any(
            l.startswith("membudget_evictions_rate_limited_total ") and float(l.split()[1]) > 0
            for l in m.splitlines()))
        ctl.stop()
    finally:
        sim.stop()


def sc_ssrf_guard(work):
    """An endpoint annotation pointing at a port the container does not
    declare: refused at admission (lint runs the same policy), and the
    controller never calls it."""
    import socket
    import threading
    sim = setup(work)
    hits = []
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.14", 16999))
    srv.listen(16)
    srv.settimeout(0.2)
    stop = [False]

    def accept():
        while not stop[0]:
            try:
                c, _ = srv.accept()
                hits.append(1)
                c.close()
            except OSError:
                pass
    th = threading.Thread(target=accept, daemon=True)
    th.start()
    try:
        man = os.path.join(work, "pod.yaml")
        with open(man, "w") as f:
            f.write("apiVersion: v1\nkind: Pod\nmetadata:\n  name: sneaky\n  annotations:\n"
                    "    membudget.io/budget: 64Mi\n    membudget.io/metrics: 16999/metrics\n"
                    "spec:\n  containers:\n  - name: app\n    image: x\n"
                    "    resources: {limits: {memory: 128Mi}}\n"
                    "    ports: [{containerPort: 16004}]\n")
        out = subprocess.run([base.BIN, "lint", man], capture_output=True, text=True)
        check("admission refuses an endpoint on an undeclared port", out.returncode == 1 and
              "membudget.io/metrics" in out.stdout + out.stderr, out.stdout + out.stderr)
        ctl = controller(work, sim)
        sim.api("POST", "/api/v1/namespaces/shop/pods", {
            "metadata": {"name": "sneaky", "annotations": {
                "membudget.io/budget": "64Mi", "membudget.io/metrics": "16999/metrics",
                "kubesim.io/pod-ip": "127.0.0.14"}},
            "spec": {"nodeName": "node-1", "containers": [{
                "name": "app", "image": "x", "resources": {"limits": {"memory": "128Mi"}},
                "ports": [{"containerPort": 16004}]}]}})
        time.sleep(4)
        pod = ctl.tracked().get(("shop", "sneaky"), {})
        check("the controller never calls an undeclared port", hits == [] and
              "not a TCP port" in pod.get("staleReason", ""), (hits, pod))
        ctl.stop()
    finally:
        stop[0] = True
        srv.close()
        sim.stop()


def wset_gc_pod(sim, ns, name, t):
    """A working-set pod (usage from the metrics API, set by the test) whose
    GC endpoint is a real target: GC calls can be counted, usage steered."""
    return sim.api("POST", "/api/v1/namespaces/%s/pods" % ns, {
        "metadata": {"name": name, "annotations": {
            "membudget.io/budget": "100Mi", "membudget.io/gc": "%d/debug/gc" % t.port,
            "kubesim.io/pod-ip": t.ip}},
        "spec": {"nodeName": "node-1",
                 "readinessGates": [{"conditionType": "membudget.io/within-budget"}],
                 "containers": [{"name": "app", "image": "x", "ports": [{"containerPort": t.port}],
                                 "resources": {"limits": {"memory": "128Mi"}}}]}})


def log_msgs(ctl, msg, pod=None):
    return [l for l in ctl.logs() if l.get("msg") == msg and (pod is None or l.get("pod") == pod)]


def sc_owner_one_at_a_time(work):
    """Two replicas of one owner at 99%, no PDB: one is evicted; the other
    waits until that one is gone AND a replica is Ready again."""
    sim = setup(work)
    try:
        ctl = controller(work, sim)
        for n in ("o1", "o2"):
            wset_pod(sim, "shop", n, "rs-web")
        wait_until(lambda: len(ctl.tracked()) == 2 and
                   all(p["podIP"] for p in ctl.tracked().values()), 5)
        set_usage(sim, "shop", ["o1", "o2"], "99Mi")
        ok = wait_until(lambda: any("MemoryBudgetEvicted" in reasons(sim, "shop", n)
                                    for n in ("o1", "o2")), 20)
        first = "o1" if "MemoryBudgetEvicted" in reasons(sim, "shop", "o1") else "o2"
        second = "o2" if first == "o1" else "o1"
        check("one replica evicted", ok, (reasons(sim, "shop", "o1"), reasons(sim, "shop", "o2")))
        gone = wait_until(lambda: ("shop", first) not in sim.pods(), 30)
        time.sleep(3)  # three more samples of the other replica at 99%
        check("the other replica waits: the first is gone but no replica is Ready again",
              gone and "MemoryBudgetEvicted" not in reasons(sim, "shop", second),
              reasons(sim, "shop", second))
        wset_pod(sim, "shop", "o3", "rs-web")  # the ReplicaSet's replacement
        set_usage(sim, "shop", [second], "99Mi")
        check("once a replica is Ready again, the other is evicted", wait_until(
            lambda: "MemoryBudgetEvicted" in reasons(sim, "shop", second), 20),
            reasons(sim, "shop", second))
        check("the slot release is logged", wait_until(lambda: log_msgs(
            ctl, "eviction slot released: the pod is gone and its owner is Ready"), 5))
        ctl.stop()
    finally:
        sim.stop()


def sc_last_chance_gc(work):
    """A jump straight into the evict tier: the GC endpoint is tried first,
    and the next fresh sample decides."""
    sim = setup(work)
    t = Target("127.0.0.17", 16007, "garbage", 0)
    try:
        ctl = controller(work, sim)
        wset_gc_pod(sim, "shop", "jump", t)
        wait_until(lambda: ("shop", "jump") in ctl.tracked(), 5)
        set_usage(sim, "shop", ["jump"], "99Mi")
        ok = wait_until(lambda: "MemoryBudgetEvicted" in reasons(sim, "shop", "jump"), 20)
        evs = events(sim, "shop", "jump")
        msgs = [e["reason"] + ": " + e["message"] for e in evs]
        last = [i for i, e in enumerate(evs) if "one last GC before evicting" in e["message"]]
        ev = [i for i, e in enumerate(evs) if e["reason"] == "MemoryBudgetEvicted"]
        check("the GC endpoint is called before the eviction", ok and last and ev and
              last[0] < ev[0] and log_msgs(ctl, "gc forced", "jump"), msgs)
        ctl.stop()
    finally:
        t.stop()
        sim.stop()


FAILOVER_CONFIG = """sampleInterval: 1s
usage: {scrapeTimeout: 800ms, allowLoopback: true}
sustainSamples: 2
recoverSamples: 2
gcMinInterval: 60s
tiers: {throttle: 80, gc: 90, evict: 99}
eviction: {profileDir: %s}
"""


def sc_failover(work):
    """kill -9 of the leader: the new leader keeps the throttled pod
    throttled (no True flip) and does not GC again within gcMinInterval."""
    sim = setup(work)
    t = Target("127.0.0.18", 16008, "garbage", 0)
    try:
        cfg = os.path.join(work, "failover.yaml")
        with open(cfg, "w") as f:
            f.write(FAILOVER_CONFIG % os.path.join(work, "profiles"))
        le = ["--config", cfg, "--leader-elect", "--leader-elect-lease-duration", "3s",
              "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"]
        a = base.Ctl(work, sim, "a", *(le + ["--leader-election-identity", "a"]))
        wait_until(lambda: a.debug()["leader"], 5)
        b = base.Ctl(work, sim, "b", *(le + ["--leader-election-identity", "b"]))
        wset_gc_pod(sim, "shop", "hot", t)
        wait_until(lambda: ("shop", "hot") in a.tracked(), 5)
        set_usage(sim, "shop", ["hot"], "92Mi")
        gc_a = wait_until(lambda: log_msgs(a, "gc forced", "hot"), 15)
        thr = wait_until(lambda: base.cond_of(sim.pods()[("shop", "hot")]) == "False", 5)
        check("the leader throttles and forces a GC", gc_a and thr,
              (reasons(sim, "shop", "hot"), base.cond_of(sim.pods()[("shop", "hot")])))
        wait_until(lambda: "tier=gc" in json.dumps(sim.pods()[("shop", "hot")]), 5)
        since = sim.api("GET", "/_sim/requests")[1]["last"]
        a.stop(signal.SIGKILL)
        a.rc = None  # killed on purpose: its exit code is not a verdict
        t0 = time.monotonic()
        wait_until(lambda: b.debug()["leader"], 10)
        acted = wait_until(lambda: any(p.get("tier") for p in b.debug()["pods"]
                                       if p.get("fresh") is not None), 10)
        took = time.monotonic() - t0
        print("  (failover: kill -9 to the new leader sampling and deciding: %.1f s)" % took)
        conds = []
        end = time.monotonic() + 6
        while time.monotonic() < end:
            conds.append(base.cond_of(sim.pods()[("shop", "hot")]))
            time.sleep(0.2)
        reqs = sim.api("GET", "/_sim/requests?since=%d" % since)[1]["items"]
        flips = [r for r in reqs if r["method"] == "PATCH" and "WithinBudget" in
                 json.dumps(r.get("body", ""))]
        check("the new leader keeps the pod throttled: never True across the failover",
              acted and set(conds) == {"False"} and not flips, (set(conds), flips[:2]))
        check("gcMinInterval holds across leaders: no GC from the new leader",
              not log_msgs(b, "gc forced", "hot"), log_msgs(b, "gc forced", "hot"))
        check("the new leader says it resumed from the cluster's record",
              log_msgs(b, "resuming from the cluster's record", "hot"))
        set_usage(sim, "shop", ["hot"], "40Mi")
        check("and it recovers the pod when usage falls", wait_until(
            lambda: base.cond_of(sim.pods()[("shop", "hot")]) == "True", 10))
        b.stop()
    finally:
        t.stop()
        sim.stop()


def sc_excluded_namespaces(work):
    """kube-system and membudget's own namespace (out of cluster: "membudget")
    labelled for membudget, a pod in each at 190%: never tracked, throttled
    or evicted, not listed on /debug/pods; the same pod in shop is."""
    sim = setup(work)
    try:
        for ns in ("kube-system", "membudget"):
            st, _ = sim.ns(ns)
            if st == 409:  # kubesim has it already: label it
                sim.api("PATCH", "/api/v1/namespaces/" + ns,
                        {"metadata": {"labels": {"membudget.io/enforce": "true"}}},
                        "application/merge-patch+json")
        ctl = controller(work, sim)
        for ns in ("kube-system", "membudget", "shop"):
            wset_pod(sim, ns, "p", "rs-" + ns)
        wait_until(lambda: ("shop", "p") in ctl.tracked(), 5)
        check("/debug/pods lists neither kube-system's nor membudget's pod",
              not {("kube-system", "p"), ("membudget", "p")} & set(ctl.tracked()), ctl.tracked().keys())
        check("neither is a governed namespace",
              sorted(ctl.debug()["governedNamespaces"]) == ["shop"], ctl.debug()["governedNamespaces"])
        for ns in ("kube-system", "membudget", "shop"):
            set_usage(sim, ns, ["p"], "190Mi")
        wait_until(lambda: "MemoryBudgetEvicted" in reasons(sim, "shop", "p"), 20)
        time.sleep(2)
        for ns in ("kube-system", "membudget"):
            check("a labelled %s is not governed: no action, no Event there, the pod still there" % ns,
                  reasons(sim, ns, "p") == [] and (ns, "p") in sim.pods()
                  and cond_of(sim.pods()[(ns, "p")]) is None, reasons(sim, ns, "p"))
        check("the exclusion is logged", log_msgs(
            ctl, "namespace is labelled but excluded: not governed"))
        check("the controller logs its own namespace among the excluded",
              any("membudget" in (l.get("excludedNamespaces") or []) for l in ctl.logs()
                  if l.get("msg") == "controller starting"))
        ctl.stop()
    finally:
        sim.stop()


def set_oom(sim, ns, pod, restarts, at=None):
    """The kubelet's report of an OOM kill: the container's lastState, through
    the status subresource (a strategic merge, keyed by container name)."""
    at = at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return sim.api("PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (ns, pod), {"status": {
        "containerStatuses": [{"name": "app", "restartCount": restarts, "ready": True,
                               "lastState": {"terminated": {"reason": "OOMKilled",
                                                            "exitCode": 137, "finishedAt": at}},
                               "state": {"running": {"startedAt": at}}}]}},
        "application/strategic-merge-patch+json")


def oom_events(sim, ns, pod):
    return [e for e in events(sim, ns, pod) if e["reason"] == "MemoryBudgetOOMKilled"]


def sc_oom_ledger(work):
    """The OOM ledger: a kill the kubelet reports is an Event with what membudget
    last saw and why it was not prevented, counted by owner and reason, shown by
    `status`; a kill while membudget was down is counted by the next, once."""
    sim = setup(work)
    t = Target("127.0.0.23", 16013, "steady", 40, maxmib=20)
    try:
        ctl = controller(work, sim)
        leaky_pod(sim, "shop", "ledger-7d9-x1", t, owner="ledger-7d9",
                  labels={"pod-template-hash": "7d9"})
        wait_until(lambda: ctl.tracked().get(("shop", "ledger-7d9-x1"), {}).get("fresh"), 15)
        t0 = time.time()
        st, _ = set_oom(sim, "shop", "ledger-7d9-x1", 1)
        ok = wait_until(lambda: oom_events(sim, "shop", "ledger-7d9-x1"), 10)
        delay = time.time() - t0
        ev = oom_events(sim, "shop", "ledger-7d9-x1")
        msg = ev[0]["message"] if ev else ""
        check("an OOM kill set through pods/status is an Event MemoryBudgetOOMKilled (%.2f s)"
              % delay, st == 200 and ok and ev[0]["type"] == "Warning", (st, reasons(
                  sim, "shop", "ledger-7d9-x1")))
        check("it says what membudget last saw and why it was not prevented",
              "container app was OOM-killed (exit 137" in msg and "% of budget 64Mi" in msg and
              "before the kill, tier normal" in msg and msg.endswith(
                  "between two samples. Not prevented: faster-than-sampling"), msg)
        m = ctl.metrics()
        check("counted by owner (the Deployment) and by reason",
              'membudget_oom_kills_total{namespace="shop",owner="Deployment/ledger"} 1' in m and
              'membudget_oom_kills_unprevented_total{reason="faster-than-sampling"} 1' in m and
              'membudget_oom_kills_unprevented_total{reason="eviction-blocked"} 0' in m,
              [l for l in m.splitlines() if "oom_kills" in l])
        set_oom(sim, "shop", "ledger-7d9-x1", 1)  # the same report again
        time.sleep(1.5)
        check("the same kill is counted once", len(oom_events(sim, "shop", "ledger-7d9-x1")) == 1,
              reasons(sim, "shop", "ledger-7d9-x1"))
        check("SIGTERM: exit 0", ctl.stop() == 0)
        # while no membudget runs: another kill
        set_oom(sim, "shop", "ledger-7d9-x1", 2)
        time.sleep(1)
        t0 = time.time()
        ctl2 = controller(work, sim)
        ok = wait_until(lambda: len(oom_events(sim, "shop", "ledger-7d9-x1")) == 2, 15)
        delay2 = time.time() - t0
        ev = oom_events(sim, "shop", "ledger-7d9-x1")
        check("a kill while membudget was down is counted by the next one (%.2f s after its "
              "start), as no-fresh-sample" % delay2,
              ok and ev[-1]["message"].endswith("Not prevented: no-fresh-sample") and
              "restart 2" in ev[-1]["message"], [e["message"] for e in ev])
        time.sleep(1.5)
        check("... and the one already counted is not counted again (the record)",
              len(oom_events(sim, "shop", "ledger-7d9-x1")) == 2, reasons(
                  sim, "shop", "ledger-7d9-x1"))
        out = subprocess.run([base.BIN, "status", "--address", ctl2.addr], capture_output=True,
                             text=True)
        lines = out.stdout.splitlines()
        head = lines[1].split() if len(lines) > 1 else []
        row = [dict(zip(head, l.split())) for l in lines if "ledger-7d9-x1" in l]
        check("`membudget status` shows the pod's OOM count and its last OOM",
              row and row[0].get("OOMS") == "2" and row[0].get("LAST-OOM", "").endswith("Z"),
              out.stdout)
        print("  figure: ledger detection delay %.2f s (watch), %.2f s (new controller)"
              % (delay, delay2))
        check("SIGTERM: exit 0", ctl2.stop() == 0)
    finally:
        t.stop()
        sim.stop()


def sc_gc_thrash(work):
    """A live heap held just under GOMEMLIMIT with constant allocation: the
    share of CPU in GC, from the runtime's counters, raises GCThrashing; with
    gcThrash.evict the pod is evicted with the usual forensics."""
    sim = setup(work)
    # one CPU, as a container with a 1-CPU limit runs: the GC competes with the program
    env = {"GOMAXPROCS": "1", "GOMEMLIMIT": "48MiB"}
    t = Target("127.0.0.24", 16014, "idle", 300, env=env)
    try:
        ctl = controller(work, sim, "gcThrash: {percent: 50, evict: true}\n")
        # budget and limit far above GOMEMLIMIT: no usage tier fires, only the
        # thrash signal. Go's GC CPU limiter lets the heap pass GOMEMLIMIT while
        # it thrashes (260 MiB was seen), so a 128Mi budget was evicted by usage.
        leaky_pod(sim, "shop", "spiral", t, budget="1Gi", limit="2Gi",
                  env={"GOMEMLIMIT": "48MiB"})
        wait_until(lambda: ctl.tracked().get(("shop", "spiral"), {}).get("fresh"), 15)
        t0 = time.time()
        t.control("thrash", 300)
        ok = wait_until(lambda: "MemoryBudgetGCThrashing" in reasons(sim, "shop", "spiral"), 30)
        delay = time.time() - t0
        msg = [e["message"] for e in events(sim, "shop", "spiral")
               if e["reason"] == "MemoryBudgetGCThrashing"]
        check("the spiral raises MemoryBudgetGCThrashing (%.1f s after it began)" % delay,
              ok and "of its CPU over the last interval" in msg[0] and "GOMEMLIMIT 48Mi" in msg[0],
              msg or reasons(sim, "shop", "spiral"))
        pod = ctl.tracked().get(("shop", "spiral"), {})
        check("/debug/pods shows the share and the state", pod.get("gcThrashing") is True and
              pod.get("gcShare", 0) > 0.5, pod)
        m = ctl.metrics()
        check("metrics: the share and the thrash gauge",
              'membudget_gc_thrashing{namespace="shop",pod="spiral"} 1' in m and
              'membudget_pod_gc_cpu_share{namespace="shop",pod="spiral"}' in m,
              [l for l in m.splitlines() if "gc_" in l and "spiral" in l])
        ok = wait_until(lambda: "MemoryBudgetEvicted" in reasons(sim, "shop", "spiral"), 20)
        r = reasons(sim, "shop", "spiral")
        msg = [e["message"] for e in events(sim, "shop", "spiral")
               if e["reason"] == "MemoryBudgetEvicted"]
        check("gcThrash.evict: evicted as the evict tier, after the profile and the dump",
              ok and "MemoryBudgetProfileCaptured" in r and
              r.index("MemoryBudgetProfileCaptured") < r.index("MemoryBudgetEvicted") and
              "gcThrash.evict" in msg[0], (r, msg))
        print("  figure: GC-share signal %.1f s after the spiral began (sample 1 s, sustain 2)"
              % delay)
        check("SIGTERM: exit 0", ctl.stop() == 0)
    finally:
        t.stop()
        sim.stop()


def sc_memlimit(work):
    """GOMEMLIMIT follows the budget: a resize, then the new budget, and the
    controller POSTs it to the pod, which confirms; without the endpoint, a
    warning that it is stale."""
    sim = setup(work)
    env = {"GOMEMLIMIT": "67108864"}
    t = Target("127.0.0.25", 16015, "idle", 1, env=env)
    u = Target("127.0.0.26", 16016, "idle", 1, env=env)
    try:
        ctl = controller(work, sim)
        leaky_pod(sim, "shop", "follow", t, env=env,
                  extra={"membudget.io/memlimit": "%d/debug/memlimit" % t.port})
        leaky_pod(sim, "shop", "stale", u, env=env)
        wait_until(lambda: ctl.tracked().get(("shop", "follow"), {}).get("fresh"), 15)
        st, body = sim.api("PATCH", "/api/v1/namespaces/shop/pods/follow/resize", {"spec": {
            "containers": [{"name": "app", "resources": {"limits": {"memory": "256Mi"}}}]}},
            "application/strategic-merge-patch+json")
        check("the pod is resized in place (pods/resize)", st == 200, body)
        time.sleep(1.5)
        check("a resize alone leaves GOMEMLIMIT (it follows the budget, which did not change)",
              t.metrics()["go_gc_gomemlimit_bytes"] == 64 << 20 and
              "MemoryBudgetLimitUpdated" not in reasons(sim, "shop", "follow"))
        for pod in ("follow", "stale"):
            if pod == "stale":
                sim.api("PATCH", "/api/v1/namespaces/shop/pods/stale/resize", {"spec": {
                    "containers": [{"name": "app", "resources": {"limits": {"memory": "256Mi"}}}]}},
                    "application/strategic-merge-patch+json")
            st, body = sim.api("PATCH", "/api/v1/namespaces/shop/pods/" + pod, {"metadata": {
                "annotations": {"membudget.io/budget": "192Mi"}}},
                "application/merge-patch+json")
        t0 = time.time()
        ok = wait_until(lambda: t.metrics()["go_gc_gomemlimit_bytes"] == 192 << 20, 10)
        delay = time.time() - t0
        check("the new budget is POSTed to membudget.io/memlimit and the target applies it "
              "(%.2f s)" % delay, ok, t.metrics().get("go_gc_gomemlimit_bytes"))
        msg = [e["message"] for e in events(sim, "shop", "follow")
               if e["reason"] == "MemoryBudgetLimitUpdated"]
        check("Event MemoryBudgetLimitUpdated records the change, as the pod confirmed it",
              msg == ["GOMEMLIMIT 64Mi -> 192Mi (the budget), applied by the pod"], msg)
        warn = [e for e in events(sim, "shop", "stale") if e["reason"] == "MemoryBudgetLimitUpdated"]
        check("without an endpoint: a warning that GOMEMLIMIT is stale until the pod is recreated",
              wait_until(lambda: [e for e in events(sim, "shop", "stale")
                                  if e["reason"] == "MemoryBudgetLimitUpdated"], 5) and
              u.metrics()["go_gc_gomemlimit_bytes"] == 64 << 20,
              [e["message"] for e in warn])
        warn = [e for e in events(sim, "shop", "stale") if e["reason"] == "MemoryBudgetLimitUpdated"]
        check("... as a Warning that names both values", warn and warn[0]["type"] == "Warning" and
              "runs with 64Mi, the budget is 192Mi" in warn[0]["message"],
              [e["message"] for e in warn])
        check("SIGTERM: exit 0", ctl.stop() == 0)
    finally:
        t.stop()
        u.stop()
        sim.stop()


def sc_recommend(work):
    """Recommendations per owner after varied load: p95 of the decaying peaks
    plus the margin, as metrics, /debug/owners and `status --recommend`."""
    sim = setup(work)
    ts = [Target("127.0.0.%d" % (27 + i), 16017 + i, "idle", 1, maxmib=40) for i in range(3)]
    try:
        ctl = controller(work, sim, "recommend: {peakWindow: 2s, halfLife: 10m}\n"
                         "tiers: {throttle: 95, gc: 98, evict: 99}\n")
        for i, t in enumerate(ts):
            leaky_pod(sim, "shop", "api-5f6-%d" % i, t, owner="api-5f6",
                      labels={"pod-template-hash": "5f6"}, budget="100Mi", limit="128Mi")
        # varied load: each replica holds a different amount, changing over time
        t0 = time.time()
        early = None
        for step in range(9):
            for i, t in enumerate(ts):
                t.control("idle")
                t.control("steady", 20 + 10 * ((i + step) % 3))
            time.sleep(3)
            if step == 2:
                # 9 s in: peaks from three replicas, but less than 12 windows of history
                early = (http("GET", "http://%s/debug/owners" % ctl.addr)[1],
                         subprocess.run([base.BIN, "status", "--recommend", "--address", ctl.addr],
                                        capture_output=True, text=True).stdout,
                         ctl.metrics())
        eo = [x for x in early[0]["owners"] if x["name"] == "api"]
        check("too little history: no recommendation yet, and /debug/owners says what it waits for",
              eo and eo[0]["peaks"] >= 3 and eo[0]["historySeconds"] < early[0]["minHistorySeconds"] and
              early[0]["minHistorySeconds"] == 24 and eo[0].get("waitingFor") in ("peaks", "history") and
              "recommendedBudgetBytes" not in eo[0] and
              'membudget_owner_recommended_budget_bytes{namespace="shop"' not in early[2], early[0])
        check("... `status --recommend` shows the history it has and refuses",
              re.search(r"Deployment/api +\d+ +\d+s +100Mi +- +128Mi +- .*too little history: "
                        r"needs 6 peaks over 24s, has \d+ over \d+s", early[1]), early[1])
        ok = wait_until(lambda: 'membudget_owner_recommended_budget_bytes{namespace="shop",'
                        'owner="Deployment/api"}' in ctl.metrics(), 30)
        delay = time.time() - t0
        m = ctl.metrics()
        rec = [l for l in m.splitlines() if l.startswith("membudget_owner_")]
        check("recommendations appear after varied load (%.0f s)" % delay, ok and any(
            l.startswith("membudget_owner_recommended_limit_bytes{namespace=\"shop\","
                         "owner=\"Deployment/api\"}") for l in rec) and any(
            l.startswith("membudget_owner_budget_bytes{namespace=\"shop\",owner=\"Deployment/api\"} "
                         "104857600") for l in rec), rec)
        st, owners = http("GET", "http://%s/debug/owners" % ctl.addr)
        o = [x for x in owners["owners"] if x["name"] == "api"]
        mib = 1 << 20

        def up(x):
            return -(-int(x) // mib) * mib
        check("/debug/owners: p95 of the peaks between the least held and the limit, budget = "
              "the larger of it and the RSS's p95 (a heap budget), + 15%, limit = budget / 99% "
              "(each up to 1 MiB), from 6 peaks over 24 s at least",
              o and 20 * mib <= o[0]["p95Bytes"] <= 128 * mib and o[0]["peaks"] >= 6 and
              o[0]["historySeconds"] >= 24 and o[0]["countsHeap"] is True and
              o[0]["rssP95Bytes"] > o[0]["p95Bytes"] and o[0]["basis"] == "rss" and
              o[0]["recommendedBudgetBytes"] == up(o[0]["rssP95Bytes"] * 1.15) and
              o[0]["recommendedLimitBytes"] == up(o[0]["recommendedBudgetBytes"] * 100 / 99), o)
        out = subprocess.run([base.BIN, "status", "--recommend", "--address", ctl.addr],
                             capture_output=True, text=True)
        row = [l for l in out.stdout.splitlines() if "Deployment/api" in l]
        check("`membudget status --recommend` prints them next to the current values",
              out.returncode == 0 and row and row[0].split()[4] == "100Mi" and
              row[0].split()[6] == "128Mi" and row[0].split()[5].endswith("Mi") and
              row[0].split()[-1] == "rss", out.stdout)
        check("advice only: the pods' budgets are unchanged",
              all(p["metadata"]["annotations"]["membudget.io/budget"] == "100Mi"
                  for k, p in sim.pods().items() if k[1].startswith("api-")))
        print("  figure: recommender %s for %s owner(s)" % (
            [l.split()[1] for l in m.splitlines() if l.startswith("membudget_recommender_bytes")],
            len(owners["owners"])))
        check("SIGTERM: exit 0", ctl.stop() == 0)
    finally:
        for t in ts:
            t.stop()
        sim.stop()


SCENARIOS = [sc_reclaimable, sc_unreclaimable, sc_dry_run, sc_dry_run_global, sc_pdb_blocks, sc_metrics_failing,
             sc_rate_limit, sc_ssrf_guard, sc_goroutine_leak, sc_owner_one_at_a_time,
             sc_last_chance_gc, sc_failover, sc_excluded_namespaces, sc_oom_ledger, sc_gc_thrash,
             sc_memlimit, sc_recommend]


def main():
    global LEAKY
    base.BIN = os.path.abspath(sys.argv[1])
    only = sys.argv[2:]
    with tempfile.TemporaryDirectory(prefix="mb-remedy-") as work:
        LEAKY = build_leaky(work)
    for sc in SCENARIOS:
        if only and sc.__name__[3:] not in only:
            continue
        print("# " + sc.__name__[3:])
        with tempfile.TemporaryDirectory(prefix="mb-remedy-") as work:
            try:
                sc(work)
            except Exception as e:
                check(sc.__name__ + " ran to the end", False, repr(e))
            for c in base.LIVE:
                if getattr(c, "rc", None) is not None and sc is not sc_reclaimable:
                    # (sanitizer and valgrind builds report leaks in the exit code)
                    check("the controller exited cleanly", c.rc == 0, c.rc)
                if c.p.poll() is None:
                    c.p.kill()
                    c.p.wait()
            del base.LIVE[:]
            for t in TARGETS:
                t.stop()
            del TARGETS[:]
    return base.finish("remedy e2e")


if __name__ == "__main__":
    sys.exit(main())
