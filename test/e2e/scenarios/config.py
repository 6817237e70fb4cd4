"""Scenarios: Configuration and permissions: what the ServiceAccount may write, who may read the ops endpoints, the recommendations."""
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

@scenario(9)
def sc_rbac_and_writes(ns):
    """8. Everything membudget wrote was accepted: no 403 (the chart's RBAC) and
    no refused write in its logs; its status patch and an Event of the kinds it
    writes pass server-side dry-run with strict field validation."""
    lines = membudget_logs()
    # (a resize past the node's allocatable is the API server's 403 too: resize_tier's toobig)
    bad = [l for l in lines if ('"status":403' in l or " 403" in l or "forbidden" in l.lower()) and
           "enough allocatable resources" not in l]
    check("no 403 in membudget's logs (its ServiceAccount's RBAC is enough)", not bad, bad[:5])
    refused = [l for l in lines if '"level":"error"' in l and ("patch" in l or "event" in l)]
    check("no refused patch or Event in membudget's logs", not refused, refused[:5])
    started = start_target(ns, "probe", budget="64Mi", limit="128Mi", maxmib=40,
                           tiers="throttle=50,gc=97,evict=99")
    if not started:
        return
    _, name, ip = started
    control(ip, "steady", 16)
    wait_until(lambda: cond_of(kj("-n", ns, "pod", name)) == "False", 60, 0.5)
    cond = [c for c in kj("-n", ns, "pod", name)["status"]["conditions"] if c["type"] == GATE]
    st, body = api("PATCH", "/api/v1/namespaces/%s/pods/%s/status?dryRun=All&fieldValidation=Strict"
                   % (ns, name), {"status": {"conditions": cond}},
                   "application/strategic-merge-patch+json")
    check("the gate condition membudget wrote passes strict server-side dry-run",
          st == 200, (st, body))
    # pods: patch (the resize tier's budget annotation) is held to that annotation by the
    # API server itself (ValidatingAdmissionPolicy membudget-writes)
    sa = ["--as", "system:serviceaccount:membudget:membudget"]
    p = kubectl("-n", ns, "annotate", "pod", name, "--overwrite", "membudget.io/budget=65Mi",
                "--dry-run=server", *sa, ok=False)
    check("membudget's ServiceAccount may change a pod's budget annotation", p.returncode == 0, p.stderr)
    for what in (["label", "pod", name, "stolen=yes"],
                 ["annotate", "pod", name, "other.io/x=y"],
                 ["patch", "pod", name, "-p", json.dumps({"spec": {"activeDeadlineSeconds": 5}})]):
        p = kubectl("-n", ns, *what, "--dry-run=server", *sa, ok=False)
        check("... and nothing else of it (%s): refused by the membudget-writes policy" % what[0],
              p.returncode != 0 and "may change only the membudget.io/budget annotation" in p.stderr,
              p.stderr)
    evs = [e for e in events(ns, name) if e["reason"].startswith("MemoryBudget")]
    check("membudget wrote Events about it", evs, reasons(ns, name))
    for e in evs[:3]:
        for k in ("uid", "resourceVersion", "creationTimestamp", "managedFields"):
            e["metadata"].pop(k, None)
        e["metadata"]["name"] += "-dryrun"
        st, body = api("POST", "/api/v1/namespaces/%s/events?dryRun=All&fieldValidation=Strict"
                       % ns, e)
        check("Event %s as membudget wrote it passes strict server-side dry-run" % e["reason"],
              st == 201, (st, body))


@scenario(31)
def sc_ops_auth(ns):
    """The ops endpoints behind authentication and authorization (metrics
    auth on, as the chart and deploy/ ship it): anonymous 401, a token whose
    user RBAC does not allow 403, the reader's token 200; the probes open;
    membudget status with and without a token."""
    addr = leader_metrics_addr()
    if not check("a membudget replica leads", addr is not None):
        return

    def get(path, token):
        try:
            with ops_get(addr, path, token=token) as r:
                return r.status, r.read().decode(), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), dict(e.headers)
        except OSError as e:
            return 0, str(e), {}

    for path in ("/healthz", "/readyz"):
        code, body, _ = get(path, None)
        check("%s without a token: 200 (the kubelet's probes carry none)" % path, code == 200, (code, body))
    code, body, hdrs = get("/metrics", None)
    check("/metrics without a token: 401, WWW-Authenticate: Bearer, says how to ask",
          code == 401 and hdrs.get("WWW-Authenticate", "").startswith("Bearer") and
          "no bearer token" in body, (code, body, hdrs))
    code, body, _ = get("/debug/pods", "not-a-token")
    check("/debug/pods with a token the API server does not know: 401", code == 401 and
          "does not accept this token" in body, (code, body))
    kubectl("-n", ns, "create", "serviceaccount", "no-reader")
    other = kubectl("-n", ns, "create", "token", "no-reader", "--duration=1h").stdout.strip()
    code, body, _ = get("/metrics", other)
    check("/metrics with a ServiceAccount's token that RBAC does not allow: 403, naming the user "
          "and the path", code == 403 and ("system:serviceaccount:%s:no-reader" % ns) in body and
          "may not get /metrics" in body, (code, body))
    code, body, _ = get("/metrics", "reader")
    check("/metrics with the reader's token (bound to membudget-metrics-reader): 200",
          code == 200 and "membudget_tracked_pods" in body, (code, body[:300]))
    code, body, _ = get("/debug/pods", "reader")
    check("/debug/pods with it: 200, JSON", code == 200 and body.startswith("{"), (code, body[:300]))
    v = prom_values(get("/metrics", "reader")[1])
    check("membudget_ops_auth_checks_total counts each result", all(
        v.get('membudget_ops_auth_checks_total{result="%s"}' % r, 0) >= 1
        for r in ("allowed", "unauthenticated", "forbidden")),
        {k: x for k, x in v.items() if k.startswith("membudget_ops_auth")})
    st = subprocess.run([BIN, "status", "--address", addr], capture_output=True, text=True, timeout=20)
    check("membudget status without a token: refused, the 401 and the way out said",
          st.returncode != 0 and "HTTP 401" in st.stderr and "--token-file" in st.stderr, st.stderr)
    st = subprocess.run([BIN, "status", "--token-file", reader_token_file(), "--address", addr],
                        capture_output=True, text=True, timeout=20)
    check("membudget status --token-file: the table", st.returncode == 0 and
          st.stdout.startswith("leader: yes"), st.stdout[:300] + st.stderr)


@scenario(21)
def sc_recommend(ns):
    """Recommendations per owner after varied load: p95 of the decaying peaks
    plus the margin, as metrics, /debug/owners and `status --recommend`;
    advice only."""
    def run(work, hns):
        leaky_workload(hns, "api", budget="100Mi", limit="128Mi", maxmib=40, replicas=3)
        ok = wait_until(lambda: len([p for p in pods_of(hns, "api") if p["status"].get("podIP") and
                                     p["status"].get("phase") == "Running"]) == 3, 120, 1)
        if not check("a Deployment of 3 replicas runs", ok):
            return
        ips = [p["status"]["podIP"] for p in pods_of(hns, "api")]
        ctl = host_ctl(work, "rec", "recommend: {peakWindow: 2s, halfLife: 10m}\n"
                       "tiers: {throttle: 95, gc: 98, evict: 99}\n")
        for step in range(10):
            for i, ip in enumerate(ips):
                control(ip, "idle")
                control(ip, "steady", 20 + 10 * ((i + step) % 3))
            time.sleep(3)
        m = ctl.get("/metrics")
        owners = json.loads(ctl.get("/debug/owners"))["owners"]
        o = [x for x in owners if x["name"] == "api"]
        check("a recommendation for the Deployment appears after varied load", o and
              o[0].get("kind") in (None, "Deployment") and "recommendedBudgetBytes" in o[0] and
              'membudget_owner_recommended_budget_bytes{namespace="%s",owner="Deployment/api"}' % hns
              in m, owners)
        out = subprocess.run([BIN, "status", "--recommend", "--address", ctl.addr()],
                             capture_output=True, text=True, timeout=20)
        check("`membudget status --recommend` prints it", out.returncode == 0 and
              "Deployment/api" in out.stdout, out.stdout + out.stderr)
        check("advice only: the pods' budgets are unchanged", all(
            p["metadata"]["annotations"]["membudget.io/budget"] == "100Mi"
            for p in pods_of(hns, "api")))
        check("SIGTERM: exit 0", ctl.stop() == 0)
    host_scenario(run)
