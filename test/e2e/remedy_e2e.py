#!/usr/bin/env python3
"""End-to-end scenarios of the breaker and its actions: membudget's controller
against kubesim, with real Go targets (test/targets/leaky) listening on
loopback addresses that the simulated pods carry as their IPs.

    usage: test/e2e/remedy_e2e.py MEMBUDGET_BINARY [SCENARIO...]
"""
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import controller_e2e as base  # noqa: E402  (the harness: Sim, Ctl, check, wait_until)
from controller_e2e import check, wait_until, http  # noqa: E402

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

    def __init__(self, ip, port, mode, rate, maxmib=256):
        self.ip, self.port = ip, port
        self.p = subprocess.Popen([LEAKY, "--listen", "%s:%d" % (ip, port), "--mode", mode,
                                   "--rate", str(rate), "--max", str(maxmib)],
                                  stderr=subprocess.DEVNULL)
        TARGETS.append(self)
        wait_until(lambda: self.metrics() is not None, 10)

    def url(self, path):
        return "http://%s:%d%s" % (self.ip, self.port, path)

    def metrics(self):
        try:
            with urllib.request.urlopen(self.url("/metrics"), timeout=2) as r:
                out = {}
                for line in r.read().decode().splitlines():
                    if line and not line.startswith("#"):
                        k, v = line.split()[:2]
                        out[k] = float(v)
                return out
        except OSError:
            return None

    def control(self, mode, rate=0):
        http("POST", self.url("/control"), {"mode": mode, "rate": rate})

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


CONFIG = """sampleInterval: 1s
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


def leaky_pod(sim, ns, name, t, usage="heap", mode=None, labels=None, owner=None):
    ann = {"membudget.io/budget": "64Mi", "membudget.io/usage": usage,
           "membudget.io/metrics": "%d/metrics" % t.port,
           "membudget.io/gc": "%d/debug/gc" % t.port,
           "membudget.io/profile": "%d/debug/pprof/heap" % t.port,
           "kubesim.io/pod-ip": t.ip}
    if mode:
        ann["membudget.io/mode"] = mode
    md = {"name": name, "annotations": ann, "labels": labels or {}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                  "uid": owner + "-uid", "controller": True}]
    return sim.api("POST", "/api/v1/namespaces/%s/pods" % ns, {"metadata": md, "spec": {
        "nodeName": "node-1",
        "readinessGates": [{"conditionType": "membudget.io/within-budget"}],
        "containers": [{"name": "app", "image": "leaky", "resources": {"limits": {
            "memory": "128Mi"}}, "ports": [{"containerPort": t.port}]}]}})


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
    t = Target("127.0.0.11", 16001, "garbage", 12)
    try:
        ctl = controller(work, sim)
        leaky_pod(sim, "shop", "web", t)
        ok = wait_until(lambda: "MemoryBudgetGCForced" in reasons(sim, "shop", "web"), 20)
        check("reclaimable growth: throttled, then a GC forced", ok and
              "MemoryBudgetThrottled" in reasons(sim, "shop", "web"), reasons(sim, "shop", "web"))
        check("the GC endpoint was really called", wait_until(
            lambda: t.metrics()["membudget_forced_gc_total"] >= 1, 5))
        t.control("idle")
        check("after the GC the pod recovers (Event, condition True again)", wait_until(
            lambda: "MemoryBudgetRecovered" in reasons(sim, "shop", "web") and
            base.cond_of(sim.pods()[("shop", "web")]) == "True", 20),
            reasons(sim, "shop", "web"))
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
        files = os.listdir(pdir) if os.path.isdir(pdir) else []
        valid = False
        if files:
            with gzip.open(os.path.join(pdir, files[0])) as g:
                valid = len(g.read()) > 0
        check("the profile file is named NAMESPACE_POD_STAMP.pb.gz and is a valid gzip",
              len(files) == 1 and files[0].startswith("shop_hog_") and
              files[0].endswith(".pb.gz") and valid, files)
        check("the pod is gone", wait_until(lambda: ("shop", "hog") not in sim.pods(), 5))
        ctl.stop()
    finally:
        t.stop()
        sim.stop()


def sc_dry_run(work):
    """dry-run pod: Events say what would happen; nothing happens."""
    sim = setup(work)
    t = Target("127.0.0.13", 16003, "held", 12)
    try:
        ctl = controller(work, sim)
        leaky_pod(sim, "shop", "dry", t, mode="dry-run")
        ok = wait_until(lambda: "MemoryBudgetEvicted" in reasons(sim, "shop", "dry"), 30)
        evs = events(sim, "shop", "dry")
        check("dry run: the Events say what would have happened", ok and all(
            e["message"].startswith("dry run: would") for e in evs
            if e["reason"] in ("MemoryBudgetThrottled", "MemoryBudgetGCForced",
                               "MemoryBudgetEvicted")), [(e["reason"], e["message"]) for e in evs])
        check("dry run: no GC call", t.metrics()["membudget_forced_gc_total"] == 0)
        p = sim.pods().get(("shop", "dry"))
        check("dry run: no eviction and the condition stays True", p is not None and
              base.cond_of(p) == "True")
        ctl.stop()
    finally:
        t.stop()
        sim.stop()


SCENARIOS = [sc_reclaimable, sc_unreclaimable, sc_dry_run]


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
                if c.p.poll() is None:
                    c.p.kill()
                    c.p.wait()
            del base.LIVE[:]
            for t in TARGETS:
                t.stop()
            del TARGETS[:]
    if os.environ.get("MB_TEST_COUNTS"):
        with open(os.environ["MB_TEST_COUNTS"], "w") as f:
            f.write("%d %d\n" % (base.PASS[0], base.FAIL[0]))
    print("remedy e2e: %d ok, %d failing" % (base.PASS[0], base.FAIL[0]))
    return 0 if base.FAIL[0] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
