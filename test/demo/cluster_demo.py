#!/usr/bin/env python3
"""The demo's story, told on the real test cluster (test/demo/demo.sh starts
it and installs membudget with Helm first): admission by the real API server,
a live view while one pod's garbage is reclaimed by a forced GC and another
pod's leak ends in an eviction, the Events as kubectl shows them, a real
OOM kill explained by the ledger, GOMEMLIMIT following a new budget, the
captures and the recommendations.

    test/demo/cluster_demo.py --dir CLUSTER_DIR --bin bin/membudget
"""
import argparse
import json
import os
import shutil
import subprocess
import tempfile
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "e2e"))
import cluster_e2e as k  # noqa: E402  (kube.py's and targets.py's helpers: kubectl, workloads, the leader)
from harness import wait_until  # noqa: E402

NS = "shop"
B, N = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
BIN = None


def say(text):
    print("\n%s== %s%s" % (B, text, N), flush=True)


def out(text=""):
    print(text, flush=True)


def app_of(pod_name):
    return pod_name.rsplit("-", 2)[0]


def pods():
    return (k.kj("-n", NS, "pods") or {}).get("items", [])


def membudget(*args):
    """bin/membudget ARGS --address LEADER --token-file READER: its output (stderr too on
    failure)."""
    addr = k.leader_metrics_addr()
    if not addr:
        return "(no membudget replica leads right now)"
    # (metrics auth is on, as the chart ships it: the reader's token, as Prometheus has one)
    p = subprocess.run([BIN] + list(args) + ["--address", addr, "--token-file", k.reader_token_file()],
                       capture_output=True, text=True, timeout=30)
    return p.stdout if p.returncode == 0 else p.stdout + p.stderr


def membudget_events():
    """membudget's Events in the demo's namespace, oldest first."""
    return [e for e in k.events(NS) if e["reason"].startswith("MemoryBudget")]


def ready_line():
    """Each pod's READY as the kubelet computes it (our gate included)."""
    cells = []
    for p in sorted(pods(), key=lambda p: p["metadata"]["name"]):
        conds = {c["type"]: c["status"] for c in p["status"].get("conditions") or []}
        cells.append("%s %s" % (p["metadata"]["name"], "Ready" if conds.get("Ready") == "True"
                                else "NotReady"))
    return "   kubelet: " + ", ".join(cells)


def main():
    global BIN
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--bin", required=True)
    a = ap.parse_args()
    BIN = os.path.abspath(a.bin)
    k.kube.use_dir(a.dir)

    say("4. a governed namespace; a Deployment whose budget is over its limit")
    if k.kj("namespace", NS) is not None:
        k.delete_namespace(NS)
        wait_until(lambda: k.kj("namespace", NS) is None, 180, 1)
    k.namespace(NS)
    out("kubectl label namespace %s membudget.io/enforce=true" % NS)
    p = k.leaky_workload(NS, "greedy", budget="2Gi", limit="1Gi")
    out("kubectl apply (Deployment greedy, budget 2Gi, limit 1Gi): exit %d" % p.returncode)
    out("  " + (p.stderr.strip() or p.stdout.strip()))

    say("5. three Go services (test/targets/leaky), created through admission")
    # name: mode, rate MiB/s, --max MiB, GOMEMLIMIT follows the budget
    services = {"cache": ("garbage", 3, 200, False), "leaky": ("held", 3, 200, False),
                "steady": ("idle", 0, 200, True)}
    for name, (mode, rate, mx, ml) in services.items():
        k.leaky_workload(NS, name, budget="64Mi", limit="128Mi", mode=mode, rate=rate,
                         maxmib=mx, memlimit=ml)
    for name in services:
        pod = k.running_pod(NS, name)
        if pod is None:
            out("  %s: did not start (kubectl -n %s describe pods -l app=%s)" % (name, NS, name))
            return 1
        c = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        out("  %-7s %-22s %-15s GOMEMLIMIT=%s readinessGates=%s" % (
            name, pod["metadata"]["name"], pod["status"]["podIP"], env.get("GOMEMLIMIT"),
            [g["conditionType"] for g in pod["spec"].get("readinessGates", [])]))
    out("  cache: garbage a GC reclaims; leaky: memory it holds, no GC helps; steady: within "
        "budget (64Mi each, limit 128Mi; tiers throttle 80%, gc 90%, evict 95%)")

    say("6. live: membudget status every 2 s, the kubelet's readiness, and new Events")
    seen = set()
    t0 = time.time()
    done_at = None
    while time.time() - t0 < 120:
        out("%s-- t=%3ds%s" % (B, time.time() - t0, N))
        lines = membudget("status").splitlines()
        out("\n".join(l for i, l in enumerate(lines[1:]) if i == 0 or (" %s " % NS) in l
                      or l.startswith(NS)))
        out(ready_line())
        reasons = {}
        for e in membudget_events():
            key = (e["metadata"]["name"], e.get("count", 1))
            reasons.setdefault(app_of(e["involvedObject"]["name"]), []).append(e["reason"])
            if key not in seen:
                seen.add(key)
                out("   event  %-22s %-26s %s" % (e["involvedObject"]["name"], e["reason"],
                                                  e["message"]))
        if (done_at is None and "MemoryBudgetEvicted" in reasons.get("leaky", []) and
                "MemoryBudgetRecovered" in reasons.get("cache", [])):
            done_at = time.time()
        if done_at and time.time() - done_at > 6:
            break
        time.sleep(2)

    say("7. the Events, as kubectl describe shows them")
    cache = k.running_pod(NS, "cache")
    if cache:
        d = k.kubectl("-n", NS, "describe", "pod", cache["metadata"]["name"], ok=False).stdout
        out("kubectl -n %s describe pod %s   (its Events)" % (NS, cache["metadata"]["name"]))
        out(d[d.find("Events:"):].rstrip() if "Events:" in d else d)
    out("\nkubectl -n %s get events --field-selector reason=MemoryBudgetEvicted" % NS)
    out(k.kubectl("-n", NS, "get", "events", "--field-selector", "reason=MemoryBudgetEvicted",
                  ok=False).stdout.rstrip())
    out("\nthe leaky Deployment's ReplicaSet replaced the evicted pod:")
    out(k.kubectl("-n", NS, "get", "pods", "-l", "app=leaky", ok=False).stdout.rstrip())

    say("7b. what grew: the eviction Event names it; membudget profiles diff shows it")
    evicted = [e for e in membudget_events() if e["reason"] == "MemoryBudgetEvicted" and
               app_of(e["involvedObject"]["name"]) == "leaky"]
    if evicted:
        pod = evicted[0]["involvedObject"]["name"]
        msg = evicted[0]["message"]
        out("the eviction Event: %s" % msg)
        if "since " in msg:
            out("  (its last part: the functions whose memory grew since the first throttle's "
                "baseline profile, largest first)")
        listed = membudget("profiles", "list", "--output", "json", "--pod", pod)
        try:
            heaps = sorted((p for p in json.loads(listed) if p["kind"] == "heap"),
                           key=lambda p: p["capturedAt"])
        except ValueError:
            heaps = []
        leader = k.leader()
        if len(heaps) >= 2 and leader:
            work = tempfile.mkdtemp()
            got = []
            for h in (heaps[0], heaps[-1]):
                dst = os.path.join(work, h["file"])
                k.kubectl("-n", "membudget", "cp", "-c", "membudget",
                          "%s:/var/lib/membudget/profiles/%s" % (leader, h["file"]), dst, ok=False)
                got.append(dst)
            out("\nkubectl cp the baseline and the profile before eviction from the leader, then:")
            out("membudget profiles diff %s %s --top 5" % tuple(os.path.basename(g) for g in got))
            d = subprocess.run([BIN, "profiles", "diff", got[0], got[1], "--top", "5"],
                               capture_output=True, text=True, timeout=30)
            out((d.stdout + d.stderr).rstrip())
            shutil.rmtree(work, ignore_errors=True)
        else:
            out("(the leader holds %d heap profiles of %s)" % (len(heaps), pod))

    say("8. a real OOM kill: burst jumps past its limit faster than any sample")
    k.leaky_workload(NS, "burst", budget="96Mi", limit="128Mi", mode="idle", maxmib=1024)
    burst = k.running_pod(NS, "burst")
    if burst:
        name, ip = burst["metadata"]["name"], burst["status"]["podIP"]
        wait_until(lambda: (k.membudget_view(NS, name) or {}).get("fresh"), 90, 0.5)
        out("membudget samples %s; now it allocates 400 MiB/s (limit 128Mi)" % name)
        k.control(ip, "held", 400)
        cs = wait_until(lambda: k.oom_killed(NS, name), 90, 0.5)
        if cs:
            t = cs["lastState"]["terminated"]
            out("the kubelet: lastState.terminated reason=%s exitCode=%s, restartCount=%d" % (
                t["reason"], t["exitCode"], cs["restartCount"]))
        msg = wait_until(lambda: k.messages(NS, name, "MemoryBudgetOOMKilled"), 60, 0.5)
        out("membudget's Event MemoryBudgetOOMKilled: %s" % (msg[0] if msg else "(none yet)"))

    say("9. GOMEMLIMIT follows the budget: steady's budget 64Mi -> 96Mi")
    steady = k.running_pod(NS, "steady")
    if steady:
        name, ip = steady["metadata"]["name"], steady["status"]["podIP"]
        out("kubectl -n %s annotate pod %s --overwrite membudget.io/budget=96Mi" % (NS, name))
        k.kubectl("-n", NS, "annotate", "pod", name, "--overwrite", "membudget.io/budget=96Mi")
        got = wait_until(lambda: k.metrics(ip).get("go_gc_gomemlimit_bytes") == 96 << 20 and
                         96 << 20, 60, 0.5)
        msg = k.messages(NS, name, "MemoryBudgetLimitUpdated")
        out("  Event: %s" % (msg[-1] if msg else "(none)"))
        out("  the process says: go_gc_gomemlimit_bytes %s" % (
            got or k.metrics(ip).get("go_gc_gomemlimit_bytes")))

    say("10. what membudget tracks now, the captures, the recommendations")
    out(membudget("status").rstrip())
    out()
    out(membudget("profiles").rstrip())
    out()
    out(membudget("status", "--recommend").rstrip())

    say("summary")
    by = {}
    for e in membudget_events():
        by.setdefault(app_of(e["involvedObject"]["name"]), []).append(
            e["reason"].replace("MemoryBudget", ""))
    for name in ("cache", "leaky", "steady", "burst"):
        out("  %-7s %s" % (name, " -> ".join(by.get(name, ["(nothing: within budget)"]))))
    out("  greedy  refused at admission")
    return 0


if __name__ == "__main__":
    sys.exit(main())
