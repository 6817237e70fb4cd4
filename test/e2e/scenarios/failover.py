"""Scenarios: Leadership: a leader's pod or the control plane going away, and what the next leader continues."""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import ssl
import time
import urllib.error
import urllib.request

import kube
from kube import *  # noqa: F401,F403
from targets import *  # noqa: F401,F403
from harness import check, wait_until, http, finish, prom_values  # noqa: F401
from scenarios import scenario

@scenario(8)
def sc_failover(ns):
    """7. Two replicas: the leader's pod deleted, the other takes the Lease, and
    a throttled pod stays throttled."""
    started = start_target(ns, "held", budget="64Mi", limit="256Mi", mode="idle", maxmib=40,
                           tiers="throttle=50,gc=97,evict=99")
    if not started:
        return
    _, name, ip = started
    control(ip, "steady", 16)   # grows to --max and holds it
    check("throttled", wait_until(lambda: cond_of(kj("-n", ns, "pod", name)) == "False", 60, 0.5),
          reasons(ns, name))
    old = leader()
    check("a leader holds the Lease", bool(old), old)
    n_throttled = len(messages(ns, name, "MemoryBudgetThrottled"))
    kubectl("-n", "membudget", "delete", "pod", old, "--wait=false")
    new = wait_until(lambda: leader() not in (None, old) and leader(), 90, 0.5)
    check("the other replica takes the Lease", bool(new) and new != old, (old, new))
    time.sleep(10)  # a few samples by the new leader
    p = kj("-n", ns, "pod", name)
    check("the throttled pod stayed throttled across the failover (condition False, no "
          "Recovered, no second Throttled)", cond_of(p) == "False" and
          "MemoryBudgetRecovered" not in reasons(ns, name) and
          len(messages(ns, name, "MemoryBudgetThrottled")) == n_throttled, reasons(ns, name))
    check("membudget's Deployment is whole again", wait_until(lambda: (kj(
        "-n", "membudget", "deployment", "membudget") or {}).get("status", {}).get(
        "readyReplicas") == 2, 120, 1))


@scenario(30)
def sc_recommend_failover(ns):
    """Issue 25: recommendations survive failover. The installed membudget
    (two replicas, in-cluster, recommend.peakWindow 1s and checkpointInterval
    5s in cluster-config.yaml: 12 s of history make a recommendation) writes
    each owner's state into a ConfigMap in its namespace; the leader's pod
    is deleted; the new leader reads the checkpoints back before its own
    samples count, and `membudget status --recommend` on it gives the same
    recommendation at once."""
    leaky_workload(ns, "recsteady", budget="64Mi", limit="128Mi", replicas=2)
    ok = wait_until(lambda: len([p for p in pods_of(ns, "recsteady") if p["status"].get("podIP") and
                                 p["status"].get("phase") == "Running"]) == 2, 120, 1)
    if not check("a Deployment of 2 replicas runs", ok):
        return
    for p in pods_of(ns, "recsteady"):
        control(p["status"]["podIP"], "steady", 30)

    def row(addr):
        """(REC-BUDGET, REC-LIMIT, BASIS, PEAKS) of the owner in `status --recommend` on addr."""
        out = subprocess.run([BIN, "status", "--recommend", "--token-file", reader_token_file(),
                              "--address", addr], capture_output=True,
                             text=True, timeout=20)
        for line in out.stdout.splitlines():
            cols = line.split()
            if len(cols) >= 12 and cols[0] == ns and cols[1] == "Deployment/recsteady" and \
                    cols[5] != "-" and "history" not in line:
                return (cols[5], cols[7], cols[11], cols[2])
        return None
    first = leader()
    before = wait_until(lambda: row(leader_metrics_addr()), 120, 2)
    check("the leader recommends for Deployment/recsteady (%s)" % (before,), before)
    owner = "%s/Deployment/recsteady" % ns

    def checkpoint():
        for cm in (kj("-n", "membudget", "configmaps", "-l", "membudget.io/recommendation=true")
                   or {"items": []})["items"]:
            if cm["metadata"].get("annotations", {}).get("membudget.io/owner") == owner:
                return cm
    cm = wait_until(checkpoint, 30, 1)
    data = json.loads(cm["data"]["checkpoint.json"]) if cm else {}
    check("its checkpoint is a ConfigMap in membudget's namespace (%d bytes), with its peaks" % (
        len(cm["data"]["checkpoint.json"]) if cm else 0),
        cm and data.get("v") == 1 and data.get("peaks", {}).get("n", 0) >= 6, cm)
    # Its pods go (the owner stays: forgotten only after two half-lives), so no
    # new peak moves the recommendation; the last checkpoint holds every peak.
    kubectl("-n", ns, "scale", "deployment", "recsteady", "--replicas=0")
    wait_until(lambda: not pods_of(ns, "recsteady"), 60, 1)

    def current():
        r, cm = row(leader_metrics_addr()), checkpoint()
        n = cm and json.loads(cm["data"]["checkpoint.json"])["peaks"]["n"]
        return r if r and n is not None and str(n) == r[3] else None
    before = wait_until(current, 30, 1)
    check("the last checkpoint holds every peak the leader has (%s)" % (before and before[3]), before)
    n = metrics_text_of_leader()
    check("membudget_recommendation_checkpoints_total counts the leader's writes",
          any(l.startswith("membudget_recommendation_checkpoints_total{") and 'op="write"' in l and
              'result="ok"' in l for l in n.splitlines()),
          [l for l in n.splitlines() if "checkpoint" in l])
    kubectl("-n", "membudget", "delete", "pod", first, "--wait=false")
    new = wait_until(lambda: (lambda w: w if w and w != first else None)(leader()), 90, 0.5)
    check("another replica leads (%s -> %s)" % (first, new), new)
    addr = wait_until(lambda: new and leader_metrics_addr(), 30, 0.5)
    after = wait_until(lambda: addr and row(addr), 20, 0.5)
    check("the new leader's `status --recommend` gives the same recommendation at once: %s -> %s" % (
        before, after), before and after == before)
    logs = kubectl("-n", "membudget", "logs", new, ok=False).stdout if new else ""
    read = [json.loads(l) for l in logs.splitlines() if "checkpoints read" in l]
    check("... read back from the checkpoints when it began to lead (its log)",
          read and read[0].get("result") == "ok" and read[0].get("owners", 0) >= 1, read)
    kubectl("-n", ns, "delete", "deployment", "recsteady", "--wait=false", ok=False)


@scenario(26)
def sc_leader_election(ns):
    """Two membudgets on this machine electing through a real Lease (in
    membudget's namespace, under a name of their own): exactly one leads,
    the other writes nothing; after kill -9 of the leader the other takes
    the Lease and acts; SIGTERM releases the Lease."""
    lease = "e2e-host-controller"

    def run(work, hns):
        le = ["--leader-elect", "--leader-election-namespace", "membudget",
              "--leader-election-id", lease, "--leader-elect-lease-duration", "3s",
              "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"]

        def debug(c):
            try:
                return json.loads(c.get("/debug/pods"))
            except (OSError, ValueError):
                return {}

        def writes(c):
            m = prom_values(c.get("/metrics"))
            return sum(v for k, v in m.items() if k.startswith(
                ("membudget_condition_patches_total", "membudget_actions_total")))
        a = host_ctl(work, "a", args=le + ["--leader-election-identity", "a"])
        check("a takes the Lease", wait_until(lambda: debug(a).get("leader"), 30, 0.5))
        b = host_ctl(work, "b", args=le + ["--leader-election-identity", "b"])
        wait_until(lambda: debug(b).get("synced"), 30, 0.5)
        check("exactly one leader", debug(a).get("leader") and not debug(b).get("leader"))
        fake_pod(hns, "x", gated=True)
        check("the leader gates a new pod", wait_until(
            lambda: cond_of(kj("-n", hns, "pod", "x") or {}) == "True", 60, 0.5))
        check("the other writes nothing", writes(b) == 0, writes(b))
        a.p.kill()
        a.p.wait()
        check("after kill -9 of the leader, the other takes the Lease", wait_until(
            lambda: debug(b).get("leader"), 30, 0.5),
            (kj("-n", "membudget", "lease", lease) or {}).get("spec"))
        fake_pod(hns, "y", gated=True)
        check("the new leader acts", wait_until(
            lambda: cond_of(kj("-n", hns, "pod", "y") or {}) == "True", 60, 0.5))
        rc = b.stop()
        spec = (kj("-n", "membudget", "lease", lease) or {}).get("spec", {})
        check("SIGTERM releases the Lease and exits 0", rc == 0 and not spec.get("holderIdentity"),
              (rc, spec))
        said = [l["msg"] for l in b.logs() if l.get("msg", "").startswith("shutting down")]
        check("the controller alone says what it does at SIGTERM (no webhook to drain)",
              said == ["shutting down: not ready, starting no new writes; the controller "
                       "finishes those in flight, then releases its lease"], said)
        kubectl("-n", "membudget", "delete", "lease", lease, "--ignore-not-found", ok=False)
    host_scenario(run)


@scenario(32)
def sc_control_plane_outage(ns):
    """Intent before action, on the real control plane (issue 32's double GC):
    membudget on this machine with leader election (lease 15 s, renew 10 s,
    as the chart's), gcMinInterval 20 s, a pod held in its gc tier and one
    past its evict tier whose eviction a PDB blocks. kube-apiserver is killed
    4 s before the first pod's next GC falls due and started again 15 s
    later; then etcd is killed and started again 40 s later. Held: no GC
    while the API server cannot write its record, no two GCs the pod sees
    closer than gcMinInterval, and one heap profile for the escalation."""
    def run(work, hns):
        cfg = ("sampleInterval: 1s\nsustainSamples: 2\nrecoverSamples: 2\nhysteresis: 5\n"
               "gcMinInterval: 20s\nleak: {window: 6, minSlopePercentPerMinute: 10}\n"
               "eviction: {maxPerMinute: 5, gcFirst: true, profileDir: %s}\n"
               % os.path.join(work, "profiles"))
        tiers = "throttle=75,gc=78,evict=95"
        a = leaky_pod(hns, "gcp", "64Mi", "128Mi", mode="held", rate=20, maxmib=54, tiers=tiers,
                      gated=True)
        b = leaky_pod(hns, "evp", "64Mi", "128Mi", mode="held", rate=20, maxmib=64, tiers=tiers,
                      gated=True)
        apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": "evp", "namespace": hns},
               "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "evp"}}}})
        gp, ep = running(hns, "gcp"), running(hns, "evp")
        if not check("the targets run", a.returncode == 0 and b.returncode == 0 and gp and ep,
                     a.stderr + b.stderr):
            return
        gip, eip = gp["status"]["podIP"], ep["status"]["podIP"]
        ctl = HostCtl(work, "outage", HOST_NS, None, cfg, [
            "--leader-elect", "--leader-election-namespace", "membudget", "--leader-election-id",
            "e2e-outage", "--leader-elect-lease-duration", "15s", "--leader-elect-renew-deadline",
            "10s", "--leader-elect-retry-period", "2s"])
        try:
            if not check("two GCs of the gc-tier pod, 20 s apart", wait_until(
                    lambda: len(calls(gip, "/debug/gc")) >= 2, 120, 1), calls(gip, "/debug/gc")):
                return
            check("the evict-tier pod: its heap profile, then a blocked eviction", wait_until(
                lambda: "MemoryBudgetEvictionBlocked" in reasons(hns, "evp"), 120, 1),
                reasons(hns, "evp"))
            # 1. kube-apiserver: killed 4 s before the next GC is due, back 15 s later
            due = calls(gip, "/debug/gc")[-1] / 1000.0 + 20
            time.sleep(max(0, due - 4 - time.time()))
            pid = component_pid("kube-apiserver")
            os.kill(pid, 9)
            down_at = time.time()
            time.sleep(15)
            # (certainly down until now: `up` below starts it at once, then
            # waits for the rest of the cluster, so its return is later)
            back_at = time.time()
            up = restart_components()
            check("kube-apiserver killed 4 s before a due GC, started again 15 s later",
                  up.returncode == 0, up.stdout[-600:] + up.stderr[-600:])
            time.sleep(45)
            # 2. etcd: killed, back 40 s later
            os.kill(component_pid("etcd"), 9)
            edown_at = time.time()
            time.sleep(40)
            up = restart_components()
            eback_at = time.time()
            check("etcd killed, started again 40 s later", up.returncode == 0,
                  up.stdout[-600:] + up.stderr[-600:])
            time.sleep(45)
            gcs = [t / 1000.0 for t in calls(gip, "/debug/gc")]
            gaps = [round(b_ - a_, 2) for a_, b_ in zip(gcs, gcs[1:])]
            check("no two GCs closer than gcMinInterval (20 s; the pod's own clock, 0.5 s for the "
                  "network)", gaps and min(gaps) >= 19.5, gaps)
            during = [round(t - down_at, 1) for t in gcs if down_at < t < back_at]
            check("no GC while kube-apiserver was down (its record could not be written)",
                  not during, during)
            check("GCs went on after the outages", any(t > eback_at for t in gcs),
                  (gcs[-3:], eback_at))
            heap = calls(eip, "/debug/pprof/heap")
            # (besides it, baselines: the first throttle's, at most one per
            # profiles.minInterval; every fetch the pod saw is a logged capture)
            caps = [l.get("reason") for l in ctl.logs() if l.get("msg") == "heap profile captured"
                    and l.get("pod") == "evp"]
            check("one heap profile before eviction for the escalation, across both outages and "
                  "the Leases lost (captures: %s)" % caps,
                  caps.count("evict") == 1 and len(heap) == len(caps), (heap, caps))
            said = [l.get("msg") for l in ctl.logs()]
            check("the controller lost and took back its Lease", "not leading: observing only" in said
                  and said.count("leading: acting on pods") >= 2,
                  [m for m in said if "lead" in (m or "")])
        finally:
            ctl.stop()
            kubectl("-n", "membudget", "delete", "lease", "e2e-outage", "--ignore-not-found", ok=False)
            if component_pid("kube-apiserver") is None or component_pid("etcd") is None:
                restart_components()
    host_scenario(run)


@scenario(27)
def sc_failover_continuity(ns):
    """(was the simulator's failover) Two membudgets on this machine electing
    through a real Lease, gcMinInterval 60s. The leader throttles a pod and
    forces its GC; kill -9 of the leader; the other resumes from the record
    the cluster holds: the pod stays throttled (its condition never True, its
    lastTransitionTime unchanged), the pod's own GC counter says no second GC
    within gcMinInterval, and the pod recovers when its usage falls."""
    lease = "e2e-host-failover"

    def run(work, hns):
        le = ["--leader-elect", "--leader-election-namespace", "membudget",
              "--leader-election-id", lease, "--leader-elect-lease-duration", "3s",
              "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"]
        cfg = FAILOVER_CONFIG % os.path.join(work, "profiles")

        def debug(c):
            try:
                return json.loads(c.get("/debug/pods"))
            except (OSError, ValueError):
                return {}
        p = leaky_pod(hns, "hot", "64Mi", "256Mi", mode="idle", maxmib=60, gated=True,
                      tiers="throttle=80,gc=90,evict=99")
        pod = p.returncode == 0 and running(hns, "hot")
        if not check("the target runs", bool(pod), p.stderr):
            return
        ip = pod["status"]["podIP"]
        a = HostCtl(work, "a", hns, None, cfg, le + ["--leader-election-identity", "a"])
        check("a takes the Lease", wait_until(lambda: debug(a).get("leader"), 30, 0.5))
        b = HostCtl(work, "b", hns, None, cfg, le + ["--leader-election-identity", "b"])
        wait_until(lambda: debug(b).get("synced"), 30, 0.5)
        control(ip, "steady", 16)  # held: 60 MiB, past the gc tier, below evict
        gc_a = wait_until(lambda: metrics(ip).get("membudget_forced_gc_total", 0) >= 1, 60, 0.5)
        thr = wait_until(lambda: cond_of(kj("-n", hns, "pod", "hot")) == "False", 30, 0.5)
        check("the leader throttles and forces a GC", gc_a and thr, reasons(hns, "hot"))
        recorded = wait_until(lambda: "tier=gc" in json.dumps(kj("-n", hns, "pod", "hot")), 30, 0.5)
        check("... and records the gc tier in the pod's condition", recorded)

        def gate():
            for c in (kj("-n", hns, "pod", "hot") or {}).get("status", {}).get("conditions", []):
                if c["type"] == GATE:
                    return c
            return {}
        before = gate()
        t0 = time.monotonic()
        a.p.kill()
        a.p.wait()
        check("after kill -9 of the leader, the other takes the Lease", wait_until(
            lambda: debug(b).get("leader"), 30, 0.1))
        acted = wait_until(lambda: any(x.get("tier") and x.get("fresh") is not None for x in
                                       debug(b).get("pods", []) if x.get("name") == "hot"), 30, 0.1)
        print("  (failover: kill -9 of the leader to the new leader sampling and deciding: %.1f s;"
              " lease duration 3 s, retry period 500 ms)" % (time.monotonic() - t0))
        seen = set()
        end = time.monotonic() + 6  # six samples of the new leader
        while time.monotonic() < end:
            seen.add(gate().get("status"))
            time.sleep(0.3)
        after = gate()
        check("the new leader keeps the pod throttled: never True across the failover, the "
              "condition's lastTransitionTime unchanged",
              acted and seen == {"False"} and after.get("lastTransitionTime") ==
              before.get("lastTransitionTime") and "MemoryBudgetRecovered" not in reasons(hns, "hot"),
              (seen, before, after))
        check("gcMinInterval holds across leaders: the pod was asked for one GC, not two",
              metrics(ip).get("membudget_forced_gc_total") == 1,
              metrics(ip).get("membudget_forced_gc_total"))
        check("the new leader says it resumed from the cluster's record", any(
            l.get("msg") == "resuming from the cluster's record" and l.get("pod") == "hot"
            for l in b.logs()))
        control(ip, "idle")
        check("and it recovers the pod when usage falls", wait_until(
            lambda: gate().get("status") == "True", 60, 0.5), reasons(hns, "hot"))
        b.stop()
        kubectl("-n", "membudget", "delete", "lease", lease, "--ignore-not-found", ok=False)
    host_scenario(run)
