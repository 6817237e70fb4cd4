"""Scenarios: A hostile or broken world: an API server that lies or hangs (through the fault proxy), pods that hang or lie, addresses never to call, series without end."""
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

@scenario(10)
def sc_watch(ns):
    """The watch against the real API server (was the simulator's
    initial_sync_and_gate and changes_seen): pods on kwok's nodes, the
    installed membudget's leader tracking them, gating them and following
    every change, and the namespace label deciding what is kept."""
    for i in range(20):
        p = fake_pod(ns, "g%d" % i)
        if p.returncode != 0:
            check("a budgeted pod for a kwok node is admitted", False, p.stderr)
            return
    check("20 pods Running on kwok's nodes", wait_until(
        lambda: list(phases(ns).values()) == ["Running"] * 20, 120, 1), phases(ns))
    check("the leader sets the readiness gate True on every one", wait_until(
        lambda: all(cond_of(p) == "True" for p in kj("-n", ns, "pods")["items"]), 60, 1),
        [(p["metadata"]["name"], cond_of(p)) for p in kj("-n", ns, "pods")["items"]])
    api_pods = {p["metadata"]["name"]: p["metadata"]["uid"] for p in kj("-n", ns, "pods")["items"]}
    check("/debug/pods: the leader tracks exactly the namespace's pods, by uid", wait_until(
        lambda: {n: e.get("uid") for n, e in tracked(ns).items()} == api_pods, 30, 1),
        sorted(tracked(ns)))
    addr = leader_metrics_addr()
    out = subprocess.run([BIN, "status", "--token-file", reader_token_file(), "--address", addr],
                         capture_output=True, text=True, timeout=20)
    rows = [l.split() for l in out.stdout.splitlines() if l.startswith(ns + " ")]
    check("membudget status prints them as a table", out.returncode == 0 and
          out.stdout.startswith("leader: yes") and len(rows) == 20 and
          all("True" in r for r in rows), out.stdout[-1500:] + out.stderr)
    # (the gauges are set once a second: the last pods may be a tick ahead of them)
    def gauges():
        return prom_values(ops_get(addr, "/metrics").read().decode())
    v = wait_until(lambda: (lambda g: g if g.get("membudget_tracked_pods", 0) >= 20 else None)(
        gauges()), 10, 0.5) or gauges()
    check("metrics: membudget_tracked_pods counts them, membudget_leader 1",
          v.get("membudget_tracked_pods", 0) >= 20 and v.get("membudget_leader") == 1,
          {"addr": addr, "leader now": leader(), "membudget_tracked_pods":
           v.get("membudget_tracked_pods"), "membudget_leader": v.get("membudget_leader"),
           "membudget_leader_transitions_total": {k: x for k, x in v.items()
                                                  if k.startswith("membudget_leader_")}})
    kubectl("-n", ns, "annotate", "pod", "g0", "membudget.io/tiers=throttle=70,gc=80,evict=90")
    check("an update is seen", wait_until(
        lambda: (tracked(ns).get("g0") or {}).get("annotations", {}).get("tiers") ==
        "throttle=70,gc=80,evict=90", 30, 0.5), tracked(ns).get("g0"))
    kubectl("-n", ns, "delete", "pod", "g1", "--grace-period=0", "--force")
    check("a deletion is seen", wait_until(lambda: "g1" not in tracked(ns), 30, 0.5))
    fake_pod(ns, "g1")
    check("a pod re-created under the same name is tracked with its new uid", wait_until(
        lambda: (tracked(ns).get("g1") or {}).get("uid") ==
        (kj("-n", ns, "pod", "g1") or {}).get("metadata", {}).get("uid"), 60, 0.5))
    # Namespaces: a pod without budget or gate is kept only where governed.
    late = namespace(ns + "-late", enforce=False)
    try:
        fake_pod(late, "plain", budget=None)
        wait_until(lambda: phases(late).get("plain") == "Running", 120, 1)
        check("an ungoverned namespace's pod without budget or gate is not tracked",
              "plain" not in tracked(late))
        kubectl("label", "namespace", late, "membudget.io/enforce=true",
                "membudget.io/admission=audit")
        check("a namespace labelled later is governed and its pods picked up",
              wait_until(lambda: "plain" in tracked(late), 30, 0.5))
        kubectl("label", "namespace", late, "membudget.io/enforce-")
        check("a namespace that loses the label lets its unbudgeted pods go",
              wait_until(lambda: "plain" not in tracked(late) and
                         late not in (membudget_debug() or {}).get("governedNamespaces", []),
                         30, 0.5))
    finally:
        if not os.environ.get("E2E_KEEP"):
            delete_namespace(late)
    api_pods = {p["metadata"]["name"]: p["metadata"]["uid"] for p in kj("-n", ns, "pods")["items"]}
    check("in the end the leader's cache equals the API server's pods", wait_until(
        lambda: {n: e.get("uid") for n, e in tracked(ns).items()} == api_pods, 30, 1))


@scenario(11)
def sc_hostile(ns):
    """An API server that misbehaves (was the simulator's gone_relist,
    restart_and_errors and bookmarks, and the hostile bench's cases):
    membudget on this machine talks to the real kube-apiserver through
    test/faultproxy. For each fault, a controller starts while it is in
    force: its call rate stays paced (no hot loop), its memory bounded, and
    once the fault is gone its cache equals the API server, pods changed
    meanwhile included. Then, on one controller: the API server down for
    20 s, condition patches refused, watches cut again and again."""
    work = tempfile.mkdtemp(prefix="mb-hostile-")
    hns = namespace(HOSTILE_NS, enforce=False)
    fp = ctl = None
    try:
        for i in range(10):
            fake_pod(hns, "p%d" % i, gated=True)
        wait_until(lambda: list(phases(hns).values()) == ["Running"] * 10, 120, 1)
        fp = FaultProxy(work)

        def same(c):
            api = {p["metadata"]["name"]: p["metadata"]["uid"] for p in kj("-n", hns, "pods")["items"]
                   if not p["metadata"].get("deletionTimestamp")}
            return {n: e.get("uid") for n, e in c.tracked().items()} == api

        pods = "/api/v1/namespaces/%s/pods" % hns
        ctl = HostCtl(work, "hostile", hns, fp.addr)
        check("a controller through the proxy syncs, its list streamed (watch-list)", wait_until(
            lambda: same(ctl), 60, 0.5) and all(
            l.get("via") == "watch-list" for l in ctl.logs() if l.get("msg") == "list complete"))
        base = ctl.rss_kib()
        ctl.stop()
        secs = 8
        cases = [
            ("every watch answered 410 Gone", {"watch": True, "action": "expired"}, 1.0),
            ("every watch ends at once", {"watch": True, "action": "endAtOnce"}, 1.0),
            ("every watch declares 1 GiB and sends 1 MiB", {"watch": True, "action": "declare1GiB"}, 1.0),
            ("every watch a 48 MiB line that never ends", {"watch": True, "action": "endless"}, 1.0),
            ("every watch redirected to another host", {"watch": True, "action": "redirect"}, 1.0),
            ("every watch with garbage lines first", {"watch": True, "action": "garbage"}, 1.0),
            ("every list and watch at 20 KB/s", {"action": "slow", "bytesPerSecond": 20000}, 1.0),
            ("every request 429 with Retry-After: 3", {"status": 429, "retryAfter": 3}, 0.5),
            ("every request 500", {"status": 500}, 1.0),
        ]
        for n, (what, rule, most) in enumerate(cases):
            fp.clear()
            fp.faults(rules=[dict(rule, path=pods, count=-1)])
            t0 = time.time()
            ctl = HostCtl(work, "hostile%d" % n, hns, fp.addr)
            time.sleep(secs)
            r = rate(fp, t0, secs, path=pods)
            slow = rule.get("action") == "slow"  # (one streamed list, still open: 0/s is right)
            check("%s: %.2f requests/s from a controller that starts then (at most %.1f)" %
                  (what, r, most), (0 < r or slow) and r <= most, fp.requests(t0)[:12])
            if slow:
                check("... slow, but synced through it: the cache equals the API server",
                      same(ctl), fp.requests(t0)[:12])
            rss = ctl.rss_kib()
            check("... its memory stays bounded: %d KiB (%d synced, no fault; a watch line is "
                  "capped at 16 MiB)" % (rss, base), rss < base + 32 * 1024, rss)
            if rule.get("action") == "redirect":
                check("... the redirect is not followed, and the log says 307",
                      [l for l in ctl.logs() if l.get("status") == 307],
                      [l for l in ctl.logs() if l.get("level") != "info"][-5:])
            kubectl("-n", hns, "delete", "pod", "p%d" % n, "--grace-period=0", "--force", ok=False)
            fake_pod(hns, "n%d" % n, gated=True)
            fp.clear()
            check("... and over: synced, the cache equals the API server, changes included",
                  wait_until(lambda: same(ctl), 60, 0.5), sorted(ctl.tracked()))
            check("... SIGTERM: exit 0", ctl.stop() == 0)
        ctl = HostCtl(work, "hostile-last", hns, fp.addr)
        wait_until(lambda: same(ctl), 60, 0.5)
        # The API server down for a while (connection refused), then back.
        fp.faults(downMs=20000)
        time.sleep(20)
        kubectl("-n", hns, "delete", "pod", "n0", "--grace-period=0", "--force", ok=False)
        fake_pod(hns, "d0", gated=True)
        check("the API server down for 20 s: back, the cache equals it again",
              wait_until(lambda: same(ctl), 90, 0.5), sorted(ctl.tracked()))
        # Condition patches refused for a while: retried, Retry-After honoured.
        fp.faults(rules=[{"path": pods + "/e0/status", "method": "PATCH", "count": 4, "status": 500},
                         {"path": pods + "/e1/status", "method": "PATCH", "count": 2, "status": 429,
                          "retryAfter": 1}])
        fake_pod(hns, "e0", gated=True)
        fake_pod(hns, "e1", gated=True)
        check("condition patches retried through 500s and 429s", wait_until(
            lambda: cond_of(kj("-n", hns, "pod", "e0")) == "True" and
            cond_of(kj("-n", hns, "pod", "e1")) == "True", 90, 0.5))
        m = prom_values(ctl.get("/metrics"))
        check("patch errors are counted",
              m.get('membudget_condition_patches_total{result="error"}', 0) == 6,
              {k: v for k, v in m.items() if "condition_patches" in k})
        # Watches cut again and again resume from their version: no relist.
        before = len([l for l in ctl.logs() if l.get("msg") == "list complete"])
        for i in range(5):
            kubectl("-n", hns, "create", "configmap", "c%d" % i)
            time.sleep(1.5)
            fp.faults(dropWatches=True)
        time.sleep(2)
        after = len([l for l in ctl.logs() if l.get("msg") == "list complete"])
        check("watches cut 5 times resume from their version (still in the API server's "
              "watch cache): no relist", after == before, (before, after))
        check("SIGTERM: exit 0", ctl.stop() == 0)
    finally:
        if ctl:
            ctl.stop()
        if fp:
            fp.stop()
        if not os.environ.get("E2E_KEEP"):
            delete_namespace(hns)
            shutil.rmtree(work, ignore_errors=True)


@scenario(14)
def sc_ssrf_guard(ns):
    """An endpoint annotation on a port the container does not declare: the
    real webhook refuses it; in an audit namespace (admitted with a warning)
    the controller still never calls it (the pod counts its requests)."""
    p = leaky_pod(ns, "sneaky", "64Mi", "128Mi", listen=16999,
                  ann={"membudget.io/metrics": "16999/metrics"})
    check("admission refuses an endpoint on an undeclared port",
          p.returncode != 0 and "membudget.io/metrics" in p.stderr and "16999" in p.stderr, p.stderr)
    audit = namespace(ns + "-audit", audit=True)
    try:
        p = leaky_pod(audit, "sneaky", "64Mi", "128Mi", listen=16999,
                      ann={"membudget.io/metrics": "16999/metrics"})
        check("an audit namespace admits it, with a warning", p.returncode == 0 and
              "membudget.io/metrics" in p.stderr, (p.stdout, p.stderr))
        pod = running(audit, "sneaky")
        if not check("it runs, listening on the undeclared port", pod):
            return
        ip = pod["status"]["podIP"]
        view = wait_until(lambda: (lambda v: v if v and "not a TCP port" in v.get("staleReason", "")
                                   else None)(membudget_view(audit, "sneaky")), 60, 1)
        check("membudget refuses to call it: its sample is stale, and says why", view,
              membudget_view(audit, "sneaky"))
        time.sleep(3)
        check("... and the pod was never called by anyone but this test", hits(ip, 16999) == {},
              hits(ip, 16999))
    finally:
        if not os.environ.get("E2E_KEEP"):
            delete_namespace(audit)


@scenario(29)
def sc_hung_and_lying(ns):
    """Pods that hang, flood, lie or redirect (kwok pods whose /metrics is
    test/bench/responder, told how to answer), beside one honestly over its
    budget, all sampled by a membudget of its own: the honest one is
    throttled as if it were alone; each of the others is stale, saying why,
    and never acted on; the redirect is never followed; the flood is read no
    further than usage.maxResponseBytes (membudget's RSS stays small)."""
    hows = {"hang": "timed out", "huge": "larger than the configured maximum",
            "garbage": "metrics: line 1:", "redirect": "redirects are not followed",
            "nan": "is NaN, not a byte count"}

    def run(work, hns):
        names = list(hows) + ["hot"]
        for n in names:
            endpoint_pod(hns, n)
        ok = wait_until(lambda: len([p for p in kj("-n", hns, "pods")["items"]
                                     if p["status"].get("podIP")]) == len(names), 120, 1)
        if not check("%d pods on kwok's nodes, with IPs" % len(names), ok):
            return
        ips = {p["metadata"]["name"]: p["status"]["podIP"] for p in kj("-n", hns, "pods")["items"]}
        set_usage({"*": 50 << 20})
        behave({ips[h]: h for h in hows})
        try:
            ctl = host_ctl(work, "lying", "usage: {maxResponseBytes: 1Mi}\n")
            check("the honest pod is sampled", wait_until(
                lambda: (ctl.tracked().get("hot") or {}).get("fresh"), 60, 0.5))
            set_usage({ips["hot"]: 85 << 20})  # past the throttle tier (80%)
            check("... and throttled when over its budget, whatever the others do", wait_until(
                lambda: cond_of(kj("-n", hns, "pod", "hot")) == "False", 30, 0.5),
                reasons(hns, "hot"))
            wait_until(lambda: False, 4)  # a few more samples of every pod
            t = ctl.tracked()
            for h, why in hows.items():
                e = t.get(h) or {}
                check("%s: stale, saying why (%s)" % (h, e.get("staleReason")),
                      e and not e.get("fresh") and e.get("staleReason") and
                      why in e.get("staleReason", ""), e)
            acted = {h: [r for r in reasons(hns, h) if r.startswith("MemoryBudget")]
                     for h in hows}
            check("... none of them acted on: no Event, the gate open", not any(acted.values()) and
                  all(cond_of(kj("-n", hns, "pod", h)) == "True" for h in hows), acted)
            hits = responder_hits()
            check("the redirect was never followed",
                  not [k for k in hits if k.endswith("/metrics-redirected")],
                  {k: v for k, v in hits.items() if "redirect" in k})
            rss = ctl.rss_kib()
            check("the flood was read no further than the cap: membudget's RSS %d KiB" % rss,
                  rss < 64 << 10, rss)
            check("SIGTERM: exit 0", ctl.stop() == 0)
        finally:
            behave({ips[h]: "" for h in hows})
            set_usage({"*": 50 << 20})
    host_scenario(run)


@scenario(23)
def sc_metrics_failing(ns):
    """The metrics API fails (through the fault-injecting proxy): samples go
    stale, saying why, nothing escalates; when it answers again, the breaker
    moves on fresh data from the real metrics-server."""
    def run(work, hns):
        p = leaky_pod(hns, "w", "64Mi", "256Mi", mode="held", rate=16, maxmib=56, gated=True,
                      usage="working-set", ann={"membudget.io/metrics": None,
                                                "membudget.io/gc": None, "membudget.io/profile": None})
        check("the pod is made", p.returncode == 0, p.stderr)
        pod = running(hns, "w")
        if not pod:
            return
        fp = FaultProxy(work)
        try:
            fp.faults(rules=[{"path": "/apis/metrics.k8s.io", "count": -1, "status": 500}])
            ctl = host_ctl(work, "mfail", via=fp.addr)
            time.sleep(20)
            e = ctl.tracked().get("w", {})
            check("a failing metrics API: the sample is stale, saying why", e.get("fresh") is False
                  and "metrics API" in e.get("staleReason", ""), e)
            check("... and nothing escalates: no Event, tier normal", not [
                r for r in reasons(hns, "w") if r.startswith("MemoryBudget")] and
                e.get("tier", "normal") == "normal", (reasons(hns, "w"), e))
            fp.clear()
            check("fresh data again (metrics-server's working set): the breaker escalates",
                  wait_until(lambda: "MemoryBudgetThrottled" in reasons(hns, "w"), 90, 1),
                  ctl.tracked().get("w"))
            check("SIGTERM: exit 0", ctl.stop() == 0)
        finally:
            fp.stop()
    host_scenario(run)


@scenario(24)
def sc_series_limit(ns):
    """--metrics-max-series: past the cap, new series are dropped, counted in
    membudget_metrics_series_dropped_total and logged once per family."""
    def run(work, hns):
        for i in range(5):
            endpoint_pod(hns, "s%d" % i)
        wait_until(lambda: len([p for p in kj("-n", hns, "pods")["items"]
                                if p["status"].get("podIP")]) == 5, 120, 1)
        set_usage({"*": 10 << 20})
        ctl = host_ctl(work, "series", args=["--metrics-max-series", "2"])
        want = 'membudget_metrics_series_dropped_total{metric="membudget_pod_usage_ratio"}'
        ok = wait_until(lambda: want in ctl.get("/metrics"), 30, 0.5)
        m = ctl.get("/metrics")
        ratios = [l for l in m.splitlines() if l.startswith("membudget_pod_usage_ratio{")]
        check("--metrics-max-series 2: two usage series kept, the others dropped and counted",
              ok and len(ratios) == 2, m[-1500:])
        time.sleep(3)  # more cycles, each dropping three observations
        lines = [l for l in ctl.logs() if l.get("msg", "").startswith("metric reached its series limit")
                 and l.get("metric") == "membudget_pod_usage_ratio"]
        check("the overflow is logged once per family, not once per sample", len(lines) == 1, lines)
        check("SIGTERM: exit 0", ctl.stop() == 0)
    host_scenario(run)
