"""Scenarios: The resize tier: in-place resizes of the memory limit through the kubelet."""
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

@scenario(6)
def sc_resize(ns):
    """6. An in-place resize (pods/resize) goes through membudget's rules: below
    the budget it is refused; above it, it is applied by the kubelet; a new
    budget then reaches the running process's GOMEMLIMIT."""
    started = start_target(ns, "elastic", budget="64Mi", limit="128Mi", memlimit=True)
    if not started:
        return
    _, name, ip = started

    def resize(mem):
        body = {"spec": {"containers": [{"name": "app", "resources": {
            "requests": {"memory": "16Mi"}, "limits": {"memory": mem}}}]}}
        return kubectl("-n", ns, "patch", "pod", name, "--subresource", "resize",
                       "--type", "strategic", "-p", json.dumps(body), ok=False)
    p = resize("48Mi")
    check("a resize of the limit below the budget is refused by membudget's webhook",
          p.returncode != 0 and "membudget" in p.stderr and "64Mi" in p.stderr, p.stderr)
    p = resize("256Mi")
    check("a resize above the budget is admitted", p.returncode == 0, p.stderr)

    check("the kubelet resized the running container in place (status resources, no restart)",
          wait_until(lambda: memory_limit(ns, name, "status") == "256Mi", 60, 0.5) and
          kj("-n", ns, "pod", name)["status"]["containerStatuses"][0]["restartCount"] == 0)
    kubectl("-n", ns, "annotate", "pod", name, "--overwrite", "membudget.io/budget=192Mi")
    check("the new budget reaches the running process: GOMEMLIMIT 192Mi (POST membudget.io/memlimit)",
          wait_until(lambda: metrics(ip).get("go_gc_gomemlimit_bytes") == 192 << 20, 60, 0.5),
          metrics(ip).get("go_gc_gomemlimit_bytes"))
    msg = messages(ns, name, "MemoryBudgetLimitUpdated")
    check("... recorded in an Event MemoryBudgetLimitUpdated", msg and "192Mi" in msg[-1], msg)


@scenario(7)
def sc_resize_tier(ns):
    """Issue 25, the resize tier on the real kubelet (membudget.io/max-limit):
    - a Go pod whose heap plateaus above its gc tier (memory no GC frees, no
      longer growing) is resized in place through pods/resize after a full
      leak window of forced GCs: its container runs the new limit
      (status.containerStatuses[].resources), was not restarted, its budget
      annotation and GOMEMLIMIT follow, and it is not evicted;
    - a pod whose heap keeps growing (a leak) is never resized: evicted;
    - a pod whose resize does not fit the node now (its request follows its
      limit; another pod holds the rest of the node's memory) is left
      PodResizePending Deferred by the kubelet: refused, then evicted."""
    mx = {"membudget.io/max-limit": "256Mi"}
    # heap 54 MiB of a 64Mi budget: 84%+, above gc (78) and below evict (95);
    # after the step (128Mi -> 160Mi, budget 64Mi -> 80Mi) about 70%: normal.
    plateau = start_target(ns, "plateau", budget="64Mi", limit="128Mi", maxmib=54, memlimit=True,
                           tiers="throttle=75,gc=78,evict=95", ann=mx)
    # 1 MiB/s from gc (60%) to evict (95%): 22 s, more than the window (6 GCs, 2 s apart)
    leak = start_target(ns, "leak", budget="64Mi", limit="128Mi", rate=1,
                        tiers="throttle=50,gc=60,evict=95", ann=mx)
    # its request is its limit: a resize asks the node for 32Mi more
    noroom = start_target(ns, "noroom", budget="64Mi", limit="128Mi", maxmib=54, request="128Mi",
                          tiers="throttle=75,gc=78,evict=95", ann=mx)
    # 20Gi requested (held, not used): its step, 25Gi, is more than the node has at all
    toobig = start_target(ns, "toobig", budget="64Mi", limit="20Gi", maxmib=54, request="20Gi",
                          tiers="throttle=75,gc=78,evict=95", ann={"membudget.io/max-limit": "32Gi"})
    if not plateau or not leak or not noroom or not toobig:
        return
    _, tname, tip = toobig
    pod0, pname, pip = plateau
    lpod, lname, lip = leak
    npod, nname, nip = noroom
    # what is left of the node's memory for requests, taken by a filler; first
    # the pods of earlier scenarios go (their requests count until they are gone,
    # and freed later they would make room for the resize that must not fit)
    nodename = pod0["spec"]["nodeName"]

    def settled():
        terminating = {n["metadata"]["name"] for n in (kj("namespaces") or {"items": []})["items"]
                       if n["status"].get("phase") == "Terminating"}
        pods = (kj("pods", "-A", "--field-selector", "spec.nodeName=" + nodename) or {"items": []})["items"]
        return not [p for p in pods if p["metadata"].get("deletionTimestamp") or
                    p["metadata"]["namespace"] in terminating]
    check("the node's pods of earlier scenarios are gone", wait_until(settled, 300, 2))
    node = kj("node", nodename)
    alloc = qty_bytes(node["status"]["allocatable"]["memory"])
    used = 0
    for p in (kj("pods", "-A", "--field-selector", "spec.nodeName=" + node["metadata"]["name"])
              or {"items": []})["items"]:
        if p["status"].get("phase") in ("Succeeded", "Failed"):
            continue
        for c in p["spec"]["containers"]:
            used += qty_bytes(((c.get("resources") or {}).get("requests") or {}).get("memory", "0"))
    left = alloc - used - (16 << 20)
    filler = apply({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "filler", "namespace": ns,
                                 "annotations": {"membudget.io/budget": "64Mi"}},
                    "spec": dict(LEAKY_SPEC, containers=[
                        leaky_container("%d" % left, request="%d" % left)])})
    check("a pod holds the rest of the node's memory requests (%d MiB)" % (left >> 20),
          filler.returncode == 0 and running(ns, "filler") is not None, filler.stderr)
    control(pip, "steady", 8)
    control(lip, "held", 1)
    control(nip, "steady", 8)
    control(tip, "steady", 8)

    # 1. the plateau: resized, not evicted
    said = wait_until(lambda: messages(ns, pname, "MemoryBudgetResized"), 120, 1)
    check("plateau: MemoryBudgetResized says what it raises and why", said and
          said[0].startswith("raising the memory limit 128Mi -> 160Mi (max-limit 256Mi), the "
                             "budget 64Mi -> 80Mi:") and "no leak suspected" in said[0],
          (said, reasons(ns, pname)))
    check("plateau: the kubelet runs the new limit (status.containerStatuses[].resources 160Mi)",
          wait_until(lambda: memory_limit(ns, pname, "status") == "160Mi", 60, 0.5),
          (memory_limit(ns, pname, "spec"), memory_limit(ns, pname, "status")))
    p = kj("-n", ns, "pod", pname)
    check("plateau: the same pod, its container not restarted (restartCount 0)",
          p["metadata"]["uid"] == pod0["metadata"]["uid"] and
          p["status"]["containerStatuses"][0]["restartCount"] == 0, p["status"].get("containerStatuses"))
    check("plateau: the budget annotation follows (80Mi)", wait_until(
        lambda: kj("-n", ns, "pod", pname)["metadata"]["annotations"].get("membudget.io/budget")
        == "80Mi", 30, 0.5))
    check("plateau: GOMEMLIMIT follows in the running process (80Mi)", wait_until(
        lambda: metrics(pip).get("go_gc_gomemlimit_bytes") == 80 << 20, 30, 0.5),
        metrics(pip).get("go_gc_gomemlimit_bytes"))
    check("plateau: Event: the limit is 160Mi now, without a restart", wait_until(
        lambda: "the memory limit is 160Mi now, without a restart, the budget 80Mi (GOMEMLIMIT "
        "follows)" in messages(ns, pname, "MemoryBudgetResized"), 30, 0.5),
        messages(ns, pname, "MemoryBudgetResized"))
    check("plateau: recovered, never evicted", wait_until(
        lambda: "MemoryBudgetRecovered" in reasons(ns, pname), 60, 1) and
        "MemoryBudgetEvicted" not in reasons(ns, pname), reasons(ns, pname))
    # 2. the leak: never resized
    check("leak: suspected, then evicted", wait_until(
        lambda: "MemoryBudgetEvicted" in reasons(ns, lname), 150, 1) and
        "MemoryBudgetLeakSuspected" in reasons(ns, lname), reasons(ns, lname))
    check("leak: never resized (no MemoryBudgetResized, its limit still 128Mi)",
          "MemoryBudgetResized" not in reasons(ns, lname) and
          memory_limit(ns, lname, "spec") in (None, "128Mi"),
          reasons(ns, lname))
    # 3. no room on the node: Deferred, refused, evicted
    refused = wait_until(lambda: [m for m in messages(ns, nname, "MemoryBudgetResized")
                                  if m.startswith("resize refused")], 150, 1)
    check("noroom: the kubelet defers it; membudget says so and withdraws it",
          refused and "deferred" in refused[0] and "withdrawn, the limit back to 128Mi" in refused[0],
          messages(ns, nname, "MemoryBudgetResized"))
    # (withdrawn: the kubelet, which retries a Deferred resize whenever the
    # node has room, has nothing left to run)
    kubectl("-n", ns, "delete", "pod", "filler", "--wait=false", ok=False)
    time.sleep(5)
    now = (memory_limit(ns, nname, "spec"), memory_limit(ns, nname, "status"))
    check("noroom: its limit stays 128Mi (spec and status) once the node has room again",
          now == ("128Mi", "128Mi") and "ResizeCompleted" not in reasons(ns, nname),
          (now, reasons(ns, nname)))
    control(nip, "held", 2, maxmib=100)
    check("noroom: past its evict tier, evicted as without the resize tier", wait_until(
        lambda: "MemoryBudgetEvicted" in reasons(ns, nname), 90, 1), reasons(ns, nname))
    # 4. more than the node has: the API server refuses it outright (no Infeasible to wait for)
    big = wait_until(lambda: [m for m in messages(ns, tname, "MemoryBudgetResized")
                              if m.startswith("resize refused")], 120, 1)
    check("toobig: the API server refuses a step past the node's allocatable (HTTP 403), its limit stays",
          big and "HTTP 403" in big[0] and "allocatable" in big[0] and
          memory_limit(ns, tname, "spec") == "20Gi",
          messages(ns, tname, "MemoryBudgetResized"))
    control(tip, "idle")
    n = metrics_text_of_leader()
    check("membudget_actions_total counts the resizes (ok and refused)",
          'action="resize",result="ok"' in n and 'action="resize",result="refused"' in n,
          [l for l in n.splitlines() if "resize" in l])
