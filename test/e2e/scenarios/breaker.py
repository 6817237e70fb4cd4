"""Scenarios: The breaker's tiers on real pods: throttle, GC, eviction, OOM kills, the leak and thrash signals, GOMEMLIMIT, dry runs, the eviction limits."""
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

@scenario(2)
def sc_throttle_gc(ns):
    """2 + 3. Garbage a GC reclaims: at the throttle tier the pod's EndpointSlice
    endpoint turns ready: false (the kubelet and the EndpointSlice controller,
    from our gate); with a lower gc tier (the pod's annotation, changed on the
    running pod) the GC is forced over the pod network; the working set that
    metrics-server reports drops; the endpoint is ready again."""
    # Garbage grows 8 MiB/s to 40 MiB (--max) and stays: above throttle (32Mi),
    # below the gc tier (57.6Mi) until the annotation lowers it.
    started = start_target(ns, "web", budget="64Mi", limit="256Mi", mode="idle", maxmib=40,
                           tiers="throttle=50,gc=90,evict=99")
    if not started:
        return
    _, name, ip = started
    check("it is ready in its Service's EndpointSlice", wait_until(
        lambda: slice_ready(ns, "web", ip) is True, 60, 0.5), slice_ready(ns, "web", ip))
    control(ip, "garbage", 8)
    check("throttle: the EndpointSlice endpoint turns ready: false", wait_until(
        lambda: slice_ready(ns, "web", ip) is False, 60, 0.2), reasons(ns, name))
    check("... because membudget throttled it (Event MemoryBudgetThrottled, condition False)",
          "MemoryBudgetThrottled" in reasons(ns, name) and
          cond_of(kj("-n", ns, "pod", name)) == "False", reasons(ns, name))

    def ws():
        m = raw("/apis/metrics.k8s.io/v1beta1/namespaces/%s/pods/%s" % (ns, name))
        q = m["containers"][0]["usage"]["memory"]
        return int(q[:-2]) << 10 if q.endswith("Ki") else int(q)
    high = wait_until(lambda: ws() > 36 << 20 and ws(), 90, 1)
    check("metrics-server reports the garbage in the working set (%s MiB)" % (
        high and high >> 20), high)
    check("no GC while the gc tier is out of reach", metrics(ip).get(
        "membudget_forced_gc_total", 0) == 0)
    kubectl("-n", ns, "annotate", "pod", name, "--overwrite",
            "membudget.io/tiers=throttle=50,gc=55,evict=99")
    check("with the pod's gc tier lowered, the GC is forced over the pod network", wait_until(
        lambda: metrics(ip).get("membudget_forced_gc_total", 0) >= 1, 60, 0.2),
        reasons(ns, name))
    control(ip, "idle")
    check("recovered: the endpoint is ready again", wait_until(
        lambda: slice_ready(ns, "web", ip) is True, 60, 0.2), reasons(ns, name))
    check("... after Events Throttled, GCForced, Recovered", all(
        r in reasons(ns, name) for r in ("MemoryBudgetThrottled", "MemoryBudgetGCForced",
                                         "MemoryBudgetRecovered")), reasons(ns, name))
    low = wait_until(lambda: ws() < 24 << 20 and ws(), 90, 2)
    check("the working set metrics-server reports dropped after the GC (%s -> %s MiB)" % (
        high and high >> 20, low and low >> 20), high and low and low < high)


@scenario(3)
def sc_evict(ns):
    """4. Memory no GC frees: a PDB whose disruptionsAllowed is 0 (the
    disruption controller's) blocks the eviction; without it, the heap profile
    is captured, the pod is evicted through the Eviction API and its
    ReplicaSet recreates it."""
    started = start_target(ns, "hog", budget="64Mi", limit="256Mi", mode="idle",
                           tiers="throttle=50,gc=60,evict=75")
    apply({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
           "metadata": {"name": "hog", "namespace": ns},
           "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "hog"}}}})
    if not started:
        return
    pod, name, ip = started
    pdb = wait_until(lambda: (kj("-n", ns, "pdb", "hog") or {}).get("status", {}).get(
        "observedGeneration") and kj("-n", ns, "pdb", "hog"), 60, 0.5)
    # A throttled pod is not Ready, so the PDB's allowance is 0 either way.
    check("the disruption controller computes disruptionsAllowed 0",
          pdb and pdb["status"].get("disruptionsAllowed") == 0, pdb and pdb.get("status"))
    control(ip, "held", 16)
    check("the eviction is refused by the real Eviction API: Event MemoryBudgetEvictionBlocked",
          wait_until(lambda: "MemoryBudgetEvictionBlocked" in reasons(ns, name), 90, 0.5),
          reasons(ns, name))
    check("... and the pod is still there", kj("-n", ns, "pod", name) is not None)
    blocked = messages(ns, name, "MemoryBudgetEvictionBlocked")
    check("... the Event says the pod is NotReady (throttled), so its PDB counts it unhealthy, and "
          "names unhealthyPodEvictionPolicy: AlwaysAllow", any(
              "the pod is NotReady (membudget throttled it)" in m and
              "unhealthyPodEvictionPolicy: AlwaysAllow" in m for m in blocked), blocked)
    kubectl("-n", ns, "delete", "pdb", "hog")
    check("without the PDB: evicted (Event MemoryBudgetEvicted)", wait_until(
        lambda: "MemoryBudgetEvicted" in reasons(ns, name), 90, 0.5), reasons(ns, name))
    rs = reasons(ns, name)
    check("... after the heap profile was captured", "MemoryBudgetProfileCaptured" in rs and
          rs.index("MemoryBudgetProfileCaptured") < rs.index("MemoryBudgetEvicted"), rs)
    check("the ReplicaSet recreates the pod (a new one runs)", wait_until(
        lambda: [p for p in pods_of(ns, "hog") if p["metadata"]["name"] != name and
                 p["status"].get("phase") == "Running"], 90, 0.5))
    check("the evicted pod is gone", wait_until(lambda: kj("-n", ns, "pod", name) is None, 60, 0.5))
    rsname = [o["name"] for o in pod["metadata"]["ownerReferences"]][0]
    check("the ReplicaSet's own Events say it created the replacement",
          any(e["reason"] == "SuccessfulCreate" for e in events(ns, rsname)),
          [e["reason"] for e in events(ns, rsname)])


@scenario(4)
def sc_oom(ns):
    """5. A pod that leaks faster than sampling hits its cgroup limit: the
    kernel kills it, the kubelet reports OOMKilled, and membudget's Event
    MemoryBudgetOOMKilled explains it."""
    started = start_target(ns, "burst", budget="96Mi", limit="128Mi", mode="idle", maxmib=1024)
    if not started:
        return
    _, name, ip = started
    wait_until(lambda: cond_of(kj("-n", ns, "pod", name)) == "True", 30, 0.5)
    # The burst starts once membudget has a fresh sample of the pod (the
    # metrics API knows a new pod some 15-30 s after it starts): before
    # that, the kill is rightly no-fresh-sample, not what this tells.
    seen = wait_until(lambda: (membudget_view(ns, name) or {}).get("fresh"), 90, 0.5)
    check("membudget has a fresh sample of it before it leaks", seen, membudget_view(ns, name))
    control(ip, "held", 400)
    cs = wait_until(lambda: oom_killed(ns, name), 90, 0.5)
    check("the kernel's memcg OOM killer killed it: the kubelet reports lastState OOMKilled",
          cs is not None, kj("-n", ns, "pod", name)["status"].get("containerStatuses"))
    check("... and restarted it (restartCount >= 1)", cs and cs["restartCount"] >= 1)
    msg = wait_until(lambda: messages(ns, name, "MemoryBudgetOOMKilled"), 60, 0.5)
    check("membudget's Event MemoryBudgetOOMKilled explains the kill: it grew to the limit "
          "between two samples", msg and "of budget 96Mi" in msg[0] and
          msg[0].endswith("Not prevented: faster-than-sampling"), msg or reasons(ns, name))


@scenario(12)
def sc_dry_run(ns):
    """membudget.io/mode: dry-run on a pod over every tier: Events say what
    would happen; the gate stays True and the pod stays."""
    started = start_target(ns, "dry", budget="64Mi", limit="256Mi", mode="held", rate=12,
                           maxmib=100, ann={"membudget.io/mode": "dry-run"})
    if not started:
        return
    _, name, ip = started
    ok = wait_until(lambda: "MemoryBudgetEvicted" in reasons(ns, name), 90, 0.5)
    check("dry run: the evict tier is reached and said (Event MemoryBudgetEvicted)", ok,
          reasons(ns, name))
    would_only(ns, name, ip)
    p = kj("-n", ns, "pod", name)
    check("... the pod is still there, its condition True", p is not None and cond_of(p) == "True")


@scenario(13)
def sc_goroutine_leak(ns):
    """Goroutines that only grow: MemoryBudgetLeakSuspected, long before any tier."""
    started = start_target(ns, "gor", budget="128Mi", limit="256Mi", mode="goroutines", rate=5,
                           usage="rss")
    if not started:
        return
    _, name, _ = started
    check("a goroutine leak raises MemoryBudgetLeakSuspected (goroutines rising)", wait_until(
        lambda: any("goroutines rising" in m for m in messages(ns, name, "MemoryBudgetLeakSuspected")),
        90, 1), [(e["reason"], e["message"]) for e in events(ns, name)])


@scenario(15)
def sc_owner_one_at_a_time(ns):
    """Two replicas of one Deployment over every tier, no PDB: one is
    evicted; the other waits until that one is gone and a replica is Ready
    again (the ReplicaSet's replacement), then goes too."""
    leaky_workload(ns, "web", budget="64Mi", limit="256Mi", mode="held", rate=16, maxmib=70,
                   replicas=2, tiers="throttle=80,gc=90,evict=95")
    ok = wait_until(lambda: len([p for p in pods_of(ns, "web")
                                 if p["status"].get("phase") == "Running"]) == 2, 120, 1)
    if not check("two replicas run", ok):
        return
    first = [p["metadata"]["name"] for p in pods_of(ns, "web")]

    def evicted():
        return [n for n in first if "MemoryBudgetEvicted" in reasons(ns, n)]
    check("one replica is evicted", wait_until(evicted, 120, 0.5),
          {n: reasons(ns, n) for n in first})
    one = evicted()[0]
    other = [n for n in first if n != one][0]
    check("the other is evicted once the replacement is Ready", wait_until(
        lambda: "MemoryBudgetEvicted" in reasons(ns, other), 180, 1), reasons(ns, other))
    # A replacement of a small Go program is Ready within a second or two, so
    # "only one evicted" may be over before a poll sees it: the order is read
    # from the leader's log, one stream in the order it acted.
    logs = membudget_logs()

    def first_line(pred, start=0):
        return next((i for i in range(start, len(logs)) if pred(logs[i])), None)
    deferred = first_line(lambda l: '"eviction deferred"' in l and other in l)
    released = first_line(lambda l: "eviction slot released" in l and '"%s"' % ns in l,
                          deferred or 0)
    gone = first_line(lambda l: '"pod evicted"' in l and other in l)
    check("... it waited for its owner's slot: eviction deferred, slot released, then evicted",
          None not in (deferred, released, gone) and deferred < released < gone,
          {"deferred": deferred, "released": released, "evicted": gone})


@scenario(16)
def sc_last_chance_gc(ns):
    """Past the evict tier between two samples: the GC endpoint is tried
    before any eviction, and the next fresh sample decides. A burst of
    garbage (made once): a forced GC frees it, no eviction. Held memory: the
    GC first, then the eviction. (The real breaker walks the tiers a sample
    at a time: with usage far past them all, the GC comes at the gc tier, and
    the evict tier asks for one more unless one was just made.)"""
    started = start_target(ns, "jump", budget="64Mi", limit="512Mi", mode="idle", maxmib=300,
                           tiers="throttle=80,gc=90,evict=95")
    if not started:
        return
    _, name, ip = started
    wait_until(lambda: (membudget_view(ns, name) or {}).get("fresh"), 90, 0.5)
    control(ip, "burst", 300)  # 300 MiB of garbage once: 470% of the budget within a second
    check("a burst of garbage far past the evict tier: a forced GC frees it and the pod recovers",
          wait_until(lambda: "MemoryBudgetRecovered" in reasons(ns, name), 60, 0.5) and
          "MemoryBudgetGCForced" in reasons(ns, name), reasons(ns, name))
    check("... the GC reached the pod", metrics(ip).get("membudget_forced_gc_total", 0) >= 1)
    check("... no eviction", "MemoryBudgetEvicted" not in reasons(ns, name), reasons(ns, name))
    control(ip, "idle")
    wait_until(lambda: cond_of(kj("-n", ns, "pod", name)) == "True", 60, 0.5)
    before = len(reasons(ns, name))
    # (60 MiB/s: past the evict tier between two samples, and 7 s from it to
    # the 512Mi limit: room for the GC, the fresh sample after it, the
    # profile and the eviction, each written to the record first. At 300
    # MiB/s the kernel's OOM kill won the race about one run in two.)
    control(ip, "held", 60)
    check("held memory far past the evict tier: evicted", wait_until(
        lambda: "MemoryBudgetEvicted" in reasons(ns, name), 120, 0.5), reasons(ns, name))
    later = reasons(ns, name)[before:]
    check("... after a GC was tried (Event GCForced first)", "MemoryBudgetGCForced" in later and
          later.index("MemoryBudgetGCForced") < later.index("MemoryBudgetEvicted"), later)


@scenario(18)
def sc_memlimit(ns):
    """GOMEMLIMIT follows the budget: a resize alone leaves it; a new budget is
    POSTed to the pod, which confirms; without the endpoint, a warning that
    it is stale. The real pods/resize, the real webhook on the new budget."""
    env = {"GOMEMLIMIT": "67108864"}
    a = start_target(ns, "follow", budget="64Mi", limit="128Mi", env=env, memlimit=True)
    b = start_target(ns, "stale", budget="64Mi", limit="128Mi", env=env)
    if not a or not b:
        return
    _, fname, fip = a
    _, sname, sip = b
    wait_until(lambda: (membudget_view(ns, fname) or {}).get("fresh"), 90, 0.5)
    for pod in (fname, sname):
        p = kubectl("-n", ns, "patch", "pod", pod, "--subresource", "resize", "-p", json.dumps(
            {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "256Mi"}}}]}}),
            ok=False)
        check("%s resized in place (pods/resize)" % pod, p.returncode == 0, p.stderr)
    time.sleep(2)
    check("a resize alone leaves GOMEMLIMIT (it follows the budget, unchanged)",
          metrics(fip).get("go_gc_gomemlimit_bytes") == 64 << 20 and
          "MemoryBudgetLimitUpdated" not in reasons(ns, fname))
    for pod in (fname, sname):
        kubectl("-n", ns, "annotate", "pod", pod, "--overwrite", "membudget.io/budget=192Mi")
    t0 = time.time()
    ok = wait_until(lambda: metrics(fip).get("go_gc_gomemlimit_bytes") == 192 << 20, 30, 0.2)
    check("the new budget is POSTed to membudget.io/memlimit and applied (%.1f s)"
          % (time.time() - t0), ok, metrics(fip).get("go_gc_gomemlimit_bytes"))
    check("Event MemoryBudgetLimitUpdated, as the pod confirmed it", wait_until(
        lambda: messages(ns, fname, "MemoryBudgetLimitUpdated") ==
        ["GOMEMLIMIT 64Mi -> 192Mi (the budget), applied by the pod"], 15, 0.5),
        messages(ns, fname, "MemoryBudgetLimitUpdated"))
    warn = wait_until(lambda: [e for e in events(ns, sname)
                               if e["reason"] == "MemoryBudgetLimitUpdated"], 30, 0.5)
    check("without an endpoint: a Warning that names both values, the process unchanged",
          warn and warn[0]["type"] == "Warning" and
          "runs with 64Mi, the budget is 192Mi" in warn[0]["message"] and
          metrics(sip).get("go_gc_gomemlimit_bytes") == 64 << 20,
          [e["message"] for e in warn or []])


@scenario(19)
def sc_dry_run_global(ns):
    """dryRun: true: every running gated pod gets its condition True (the gate
    never keeps a pod NotReady), never False even past the evict tier; the
    Events say what would have happened."""
    def run(work, hns):
        fake = fake_pod(hns, "quiet", gated=True)
        p = leaky_pod(hns, "hog", "64Mi", "256Mi", mode="held", rate=12, maxmib=100, gated=True)
        check("the pods are made", fake.returncode == 0 and p.returncode == 0, p.stderr)
        pod = running(hns, "hog")
        if not pod:
            return
        ctl = host_ctl(work, "dry", "dryRun: true\n")
        seen = set()

        def watch():
            for n in ("quiet", "hog"):
                seen.add((n, cond_of(kj("-n", hns, "pod", n) or {})))
            return "MemoryBudgetEvicted" in reasons(hns, "hog")
        ok = wait_until(watch, 90, 0.5)
        check("global dry run: a gated pod without samples gets its condition True",
              cond_of(kj("-n", hns, "pod", "quiet")) == "True", seen)
        check("global dry run: the over-budget pod's condition is True and never False",
              ok and cond_of(kj("-n", hns, "pod", "hog")) == "True" and ("hog", "False") not in seen,
              seen)
        check("... and it Ready through its gate (the kubelet)",
              cond_of(kj("-n", hns, "pod", "hog"), "Ready") == "True")
        would_only(hns, "hog", pod["status"]["podIP"])
        check("SIGTERM: exit 0", ctl.stop() == 0)
    host_scenario(run)


@scenario(20)
def sc_gc_thrash(ns):
    """A live heap held just under GOMEMLIMIT with constant allocation, on one
    CPU: the share of CPU in GC raises GCThrashing; with gcThrash.evict the
    pod is evicted with the usual forensics."""
    def run(work, hns):
        env = {"GOMAXPROCS": "1", "GOMEMLIMIT": "48MiB"}
        p = leaky_pod(hns, "spiral", "1Gi", "2Gi", mode="idle", rate=300, env=env, gated=True)
        check("the pod is made", p.returncode == 0, p.stderr)
        pod = running(hns, "spiral")
        if not pod:
            return
        ip = pod["status"]["podIP"]
        ctl = host_ctl(work, "thrash", "gcThrash: {percent: 50, evict: true}\n")
        wait_until(lambda: ctl.tracked().get("spiral", {}).get("fresh"), 30, 0.5)
        t0 = time.time()
        control(ip, "thrash", 300)
        ok = wait_until(lambda: "MemoryBudgetGCThrashing" in reasons(hns, "spiral"), 60, 0.5)
        msg = messages(hns, "spiral", "MemoryBudgetGCThrashing")
        check("the spiral raises MemoryBudgetGCThrashing (%.1f s after it began)" % (time.time() - t0),
              ok and "of its CPU over the last interval" in msg[0] and "GOMEMLIMIT 48Mi" in msg[0],
              msg or reasons(hns, "spiral"))
        check("gcThrash.evict: evicted as the evict tier, after the profile", wait_until(
            lambda: "MemoryBudgetEvicted" in reasons(hns, "spiral"), 60, 0.5) and
            "MemoryBudgetProfileCaptured" in reasons(hns, "spiral"), reasons(hns, "spiral"))
        check("SIGTERM: exit 0", ctl.stop() == 0)
    host_scenario(run)


@scenario(22)
def sc_rate_limit(ns):
    """20 pods over budget at once, each its own owner: eviction.maxPerMinute
    (5) holds; the rest are deferred and counted. kwok pods whose /metrics
    is one responder in the pod network, a membudget of its own."""
    def run(work, hns):
        names = ["p%02d" % i for i in range(20)]
        for n in names:
            endpoint_pod(hns, n)
        ok = wait_until(lambda: len([p for p in kj("-n", hns, "pods")["items"]
                                     if p["status"].get("podIP")]) == 20, 120, 1)
        if not check("20 pods on kwok's nodes, with IPs", ok):
            return
        set_usage({"*": 50 << 20})
        ctl = host_ctl(work, "rate")
        check("all 20 sampled through the pod network", wait_until(
            lambda: len([p for p in ctl.tracked().values() if p.get("fresh")]) == 20, 60, 0.5),
            {n: p.get("staleReason") for n, p in ctl.tracked().items()})
        set_usage({"*": 99 << 20})
        try:
            wait_until(lambda: sum(1 for n in names if "MemoryBudgetEvicted" in reasons(hns, n)) >= 5,
                       60, 0.5)
            time.sleep(6)
            evicted = [n for n in names if "MemoryBudgetEvicted" in reasons(hns, n)]
            check("eviction rate limit holds: 5 of 20 evicted in the first minute",
                  len(evicted) == 5, evicted)
            m = prom_values(ctl.get("/metrics"))
            check("deferred evictions are counted",
                  m.get("membudget_evictions_rate_limited_total", 0) > 0,
                  {k: v for k, v in m.items() if "evict" in k})
            check("the evicted pods are gone through the Eviction API", wait_until(
                lambda: not [n for n in evicted if kj("-n", hns, "pod", n)], 60, 1))
        finally:
            set_usage({"*": 50 << 20})
        check("SIGTERM: exit 0", ctl.stop() == 0)
    host_scenario(run)


@scenario(25)
def sc_oom_ledger(ns):
    """The OOM ledger over real kills: an Event with what membudget last saw
    and why it was not prevented, counted by owner and reason, shown by
    `status`; the same kill counted once; a kill while no membudget ran is
    counted by the next one, once, as no-fresh-sample."""
    def run(work, hns):
        leaky_workload(hns, "ledger", budget="96Mi", limit="128Mi", maxmib=1024)
        pod = wait_until(lambda: [p for p in pods_of(hns, "ledger") if p["status"].get("podIP")
                                  and p["status"].get("phase") == "Running"], 120, 1)
        if not check("the target runs", pod):
            return
        name, ip = pod[0]["metadata"]["name"], pod[0]["status"]["podIP"]
        ctl = host_ctl(work, "ledger")
        wait_until(lambda: ctl.tracked().get(name, {}).get("fresh"), 60, 0.5)
        control(ip, "held", 400)
        ev = wait_until(lambda: messages(hns, name, "MemoryBudgetOOMKilled"), 90, 0.5)
        check("a real kill: Event MemoryBudgetOOMKilled, what membudget last saw, why not "
              "prevented", ev and "container app was OOM-killed (exit 137" in ev[0] and
              "of budget 96Mi" in ev[0] and ev[0].endswith("Not prevented: faster-than-sampling"),
              ev or reasons(hns, name))
        m = prom_values(ctl.get("/metrics"))
        check("counted by owner (the Deployment) and by reason",
              m.get('membudget_oom_kills_total{namespace="%s",owner="Deployment/ledger"}' % hns) == 1
              and m.get('membudget_oom_kills_unprevented_total{reason="faster-than-sampling"}') == 1,
              {k: v for k, v in m.items() if "oom_kills" in k})
        time.sleep(3)
        check("the same kill is counted once", len(messages(hns, name, "MemoryBudgetOOMKilled")) == 1)
        check("SIGTERM: exit 0", ctl.stop() == 0)
        # while no membudget runs: another kill
        wait_until(lambda: (kj("-n", hns, "pod", name) or {}).get("status", {}).get(
            "containerStatuses", [{}])[0].get("ready"), 90, 0.5)
        control(ip, "held", 400)
        wait_until(lambda: (oom_killed(hns, name) or {}).get("restartCount", 0) >= 2, 90, 0.5)
        ctl = host_ctl(work, "ledger2")
        ev = wait_until(lambda: len(messages(hns, name, "MemoryBudgetOOMKilled")) == 2 and
                        messages(hns, name, "MemoryBudgetOOMKilled"), 60, 0.5)
        check("a kill while membudget was down is counted by the next one, as no-fresh-sample",
              ev and ev[-1].endswith("Not prevented: no-fresh-sample") and "restart 2" in ev[-1], ev)
        time.sleep(3)
        check("... and the one already counted is not counted again (the record)",
              len(messages(hns, name, "MemoryBudgetOOMKilled")) == 2)
        out = subprocess.run([BIN, "status", "--address", ctl.addr()], capture_output=True,
                             text=True, timeout=20)
        lines = out.stdout.splitlines()
        head = lines[1].split() if len(lines) > 1 else []
        row = [dict(zip(head, l.split())) for l in lines if name in l]
        check("`membudget status` shows the pod's OOM count and its last OOM",
              row and row[0].get("OOMS") == "2" and row[0].get("LAST-OOM", "").endswith("Z"),
              out.stdout)
        check("SIGTERM: exit 0", ctl.stop() == 0)
    host_scenario(run)
