#!/usr/bin/env python3
"""End-to-end scenarios on the real test cluster (test/cluster/up): membudget
installed as a user installs it (test/cluster/install-membudget), real Go
targets (test/targets/leaky) in real pods with real memory cgroups, and every
check asserting what the real components did: the ReplicaSet's FailedCreate,
the EndpointSlice's ready flag, the disruption controller's PDB status, the
kubelet's OOMKilled, the process's own environment.

    usage: test/e2e/cluster_e2e.py --dir DIR [SCENARIO...]

DIR holds a running cluster with membudget installed and the leaky image
loaded (make e2e-cluster does all of it). Each scenario works in namespaces
of its own and deletes them at the end.
"""
import argparse
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, wait_until, http, finish, prom_values  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LEAKY = "membudget.test/leaky:dev"
GATE = "membudget.io/within-budget"
ENV = dict(os.environ)
DIR = None
PORT = 6060


# --- the cluster, through kubectl -------------------------------------------------

class KubeError(OSError):
    """kubectl failed (an OSError, so wait_until keeps polling through it)."""


def load_env(d):
    """DIR/env's exports (KUBECONFIG, PATH with the cluster's kubectl first)."""
    with open(os.path.join(d, "env")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("export ") and "=" in line:
                k, v = line[len("export "):].split("=", 1)
                ENV[k] = v.replace("$PATH", os.environ.get("PATH", ""))


def kubectl(*args, stdin=None, ok=True):
    p = subprocess.run(["kubectl"] + list(args), input=stdin, capture_output=True, text=True,
                       env=ENV, timeout=120)
    if ok and p.returncode != 0:
        raise KubeError("kubectl %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def kj(*args):
    """kubectl get ... -o json, parsed; None when it is not there."""
    p = kubectl("get", *args, "-o", "json", ok=False)
    if p.returncode != 0:
        if "NotFound" in p.stderr or "not found" in p.stderr:
            return None
        raise KubeError("kubectl get %s: %s" % (" ".join(args), p.stderr.strip()))
    return json.loads(p.stdout)


def raw(path):
    """GET path on the API server, parsed."""
    return json.loads(kubectl("get", "--raw", path).stdout)


def apply(obj):
    """kubectl apply of one object (a dict); the CompletedProcess (not raised)."""
    return kubectl("apply", "-f", "-", stdin=json.dumps(obj), ok=False)


def namespace(name, enforce=True, audit=False):
    labels = {}
    if enforce:
        labels["membudget.io/enforce"] = "true"
    if audit:
        labels["membudget.io/admission"] = "audit"
    # A namespace of an earlier run (kept by E2E_KEEP, or still terminating)
    # goes first: a scenario starts from nothing.
    if kj("namespace", name) is not None:
        delete_namespace(name)
        wait_until(lambda: kj("namespace", name) is None, 180, 1)
    p = apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name,
                                                                     "labels": labels}})
    if p.returncode != 0:
        raise KubeError(p.stderr)
    # The ServiceAccount a pod needs: the controller makes it in its own time.
    wait_until(lambda: kj("-n", name, "serviceaccount", "default"), 30, 0.2)
    return name


def delete_namespace(name):
    kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", ok=False)


def events(ns, name=None):
    """The Events in ns (about name only, when given), oldest first."""
    sel = ["--field-selector", "involvedObject.name=" + name] if name else []
    out = kj("-n", ns, "events", *sel) or {"items": []}
    return sorted(out["items"], key=lambda e: (e.get("lastTimestamp") or e.get("eventTime") or
                                                e["metadata"]["creationTimestamp"]))


def reasons(ns, name):
    return [e["reason"] for e in events(ns, name)]


def messages(ns, name, reason):
    return [e["message"] for e in events(ns, name) if e["reason"] == reason]


def cond_of(pod, typ=GATE):
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == typ:
            return c.get("status")
    return None


def pods_of(ns, app):
    out = kj("-n", ns, "pods", "-l", "app=" + app) or {"items": []}
    return [p for p in out["items"] if not p["metadata"].get("deletionTimestamp")]


def running_pod(ns, app, timeout=120):
    """The app's one Running pod with an IP (waits for it)."""
    def one():
        ps = [p for p in pods_of(ns, app) if p["status"].get("phase") == "Running" and
              p["status"].get("podIP")]
        return ps[0] if len(ps) == 1 else None
    return wait_until(one, timeout, 0.5)


def slice_ready(ns, svc, pod_ip):
    """The ready flag of pod_ip in the Service's EndpointSlices (None: absent)."""
    out = kj("-n", ns, "endpointslices", "-l", "kubernetes.io/service-name=" + svc)
    for s in (out or {}).get("items", []):
        for e in s.get("endpoints") or []:
            if pod_ip in e.get("addresses", []):
                return (e.get("conditions") or {}).get("ready")
    return None


# --- the leaky target in a pod -------------------------------------------------------

def leaky_annotations(budget, usage="heap", tiers=None, memlimit=False, ann=None):
    """membudget's annotations on the leaky target, as the README tells a Go
    service to be instrumented; `ann` adds to them (a None value leaves
    that annotation out)."""
    a = {"membudget.io/budget": budget, "membudget.io/usage": usage,
         "membudget.io/metrics": "%d/metrics" % PORT, "membudget.io/gc": "%d/debug/gc" % PORT,
         "membudget.io/profile": "%d/debug/pprof/heap" % PORT}
    if memlimit:
        a["membudget.io/memlimit"] = "%d/debug/memlimit" % PORT
    if tiers:
        a["membudget.io/tiers"] = tiers
    a.update(ann or {})
    return {k: v for k, v in a.items() if v is not None}


def leaky_container(limit, mode="idle", rate=1, maxmib=256, env=None, listen=PORT, request="16Mi"):
    """The leaky target's container (declaring PORT; listening on `listen`)."""
    return {"name": "app", "image": LEAKY, "imagePullPolicy": "Never",
            "args": ["--listen", ":%d" % listen, "--mode", mode, "--rate", str(rate),
                     "--max", str(maxmib)],
            "ports": [{"name": "http", "containerPort": PORT}],
            "resources": {"requests": {"memory": request, "cpu": "10m"},
                          "limits": {"memory": limit}},
            "env": [{"name": k, "value": v} for k, v in (env or {}).items()]}


LEAKY_SPEC = {"terminationGracePeriodSeconds": 1, "enableServiceLinks": False,
              "automountServiceAccountToken": False}


def leaky_workload(ns, name, budget, limit, mode="idle", rate=1, maxmib=256, replicas=1,
                   tiers=None, usage="heap", ann=None, kind="Deployment", env=None,
                   memlimit=False, request="16Mi"):
    """A Deployment (and its Service) of the leaky target, budgeted and
    instrumented as the README tells a Go service to be."""
    tmpl = {"metadata": {"labels": {"app": name},
                         "annotations": leaky_annotations(budget, usage, tiers, memlimit, ann)},
            "spec": dict(LEAKY_SPEC, containers=[leaky_container(limit, mode, rate, maxmib, env,
                                                                 request=request)])}
    obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": tmpl}}
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
           "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": PORT}]}}
    apply(svc)
    return apply(obj)


def start_target(ns, name, **kw):
    """leaky_workload, then its one Running pod: (pod, name, ip), or None
    (a failed check) when it does not run."""
    leaky_workload(ns, name, **kw)
    pod = running_pod(ns, name)
    if not check("the target runs", pod is not None):
        return None
    return pod, pod["metadata"]["name"], pod["status"]["podIP"]


def leaky_pod(ns, name, budget, limit, mode="idle", rate=1, maxmib=256, tiers=None,
              usage="heap", ann=None, env=None, gated=False, listen=PORT, labels=None,
              memlimit=False):
    """A bare Pod of the leaky target (its own owner), annotated as
    leaky_workload's; `gated`: the readiness gate written here (where no
    webhook injects it)."""
    a = leaky_annotations(budget, usage, tiers, memlimit, ann)
    spec = dict(LEAKY_SPEC, containers=[leaky_container(limit, mode, rate, maxmib, env, listen)])
    if gated:
        spec["readinessGates"] = [{"conditionType": GATE}]
    return kubectl("create", "-f", "-", ok=False, stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "spec": spec,
        "metadata": {"name": name, "namespace": ns, "annotations": a,
                     "labels": dict({"app": name}, **(labels or {}))}}))


def running(ns, name, timeout=120):
    """ns/name once Running with an IP (None when it is not by then)."""
    return wait_until(lambda: (lambda p: p if p and p.get("status", {}).get("phase") == "Running"
                               and p["status"].get("podIP") else None)(kj("-n", ns, "pod", name)),
                      timeout, 0.5)


def hits(ip, port=PORT):
    """The target's requests served, by path."""
    with urllib.request.urlopen("http://%s:%d/hits" % (ip, port), timeout=3) as r:
        return json.loads(r.read())


def target(ip, path):
    return "http://%s:%d%s" % (ip, PORT, path)


def control(ip, mode, rate=0, maxmib=0):
    """The leaky target's mode and rate (and its cap, MiB, when maxmib)."""
    return http("POST", target(ip, "/control"), {"mode": mode, "rate": rate, "max": maxmib})


def metrics(ip):
    with urllib.request.urlopen(target(ip, "/metrics"), timeout=3) as r:
        return prom_values(r.read().decode())


def container_environ(pod, container="app"):
    """The real environment of the container's process, read from the node:
    containerd's task PID, then /proc/PID/environ."""
    cid = None
    for cs in pod["status"].get("containerStatuses") or []:
        if cs["name"] == container:
            cid = cs.get("containerID", "").split("://")[-1]
    if not cid:
        return None
    p = subprocess.run(["ctr", "--address", os.path.join(DIR, "containerd", "containerd.sock"),
                        "--namespace", "k8s.io", "task", "ls"], capture_output=True, text=True,
                       env=ENV)
    for line in p.stdout.splitlines():
        f = line.split()
        if f and f[0] == cid:
            with open("/proc/%s/environ" % f[1], "rb") as e:
                return dict(kv.split("=", 1) for kv in e.read().decode().split("\0") if "=" in kv)
    return None


def membudget_logs():
    """Every membudget pod's log lines (JSON), current and previous containers."""
    out = []
    pods = kj("-n", "membudget", "pods", "-l", "app.kubernetes.io/name=membudget")
    for p in (pods or {}).get("items", []):
        # the previous container's log exists only after a restart (else kubectl fails: skipped)
        for prev in ("--previous=false", "--previous=true"):
            r = kubectl("-n", "membudget", "logs", p["metadata"]["name"], "-c", "membudget", prev,
                        ok=False)
            out += r.stdout.splitlines() if r.returncode == 0 else []
    return out


def leader():
    """The pod that holds membudget's Lease (its identity is POD_NAME_N)."""
    leases = (kj("-n", "membudget", "leases") or {}).get("items", [])
    for lease in leases:
        who = lease["spec"].get("holderIdentity") or ""
        if who.startswith("membudget"):
            return who.rsplit("_", 1)[0]
    return None


def leader_metrics_addr():
    """IP:PORT of the leading replica's metrics port (/metrics, /debug/pods),
    over the pod network; None when no replica leads or it has no IP yet."""
    who = leader()
    pod = who and kj("-n", "membudget", "pod", who)
    if not pod or not pod["status"].get("podIP"):
        return None
    port = [p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
            if p.get("name") == "metrics"][0]
    return "%s:%d" % (pod["status"]["podIP"], port)


def reader_token_file():
    """The token of a ServiceAccount that RBAC lets read membudget's /metrics
    and /debug/* (test/cluster/install-membudget makes it: metrics auth is
    on in the chart and deploy/, as a user runs them)."""
    return os.path.join(DIR, "metrics-reader.token")


def ops_get(addr, path, token="reader", timeout=5):
    """GET http://ADDR/PATH of an in-cluster membudget's metrics port, with a
    bearer token: the reader's by default, None for none, else the token."""
    req = urllib.request.Request("http://%s%s" % (addr, path))
    if token == "reader":
        with open(reader_token_file()) as f:
            token = f.read().strip()
    if token:
        req.add_header("Authorization", "Bearer " + token)
    return urllib.request.urlopen(req, timeout=timeout)


def metrics_text_of_leader():
    """The leading replica's /metrics text ("" when none answers)."""
    addr = leader_metrics_addr()
    try:
        with ops_get(addr, "/metrics") as r:
            return r.read().decode()
    except (OSError, ValueError, TypeError):
        return ""


def qty_bytes(q):
    """A Kubernetes memory quantity in bytes (the suffixes the API server writes)."""
    for suf, mul in (("Ki", 1 << 10), ("Mi", 1 << 20), ("Gi", 1 << 30), ("Ti", 1 << 40),
                     ("k", 10 ** 3), ("M", 10 ** 6), ("G", 10 ** 9), ("T", 10 ** 12)):
        if q.endswith(suf):
            return int(float(q[:-len(suf)]) * mul)
    return int(float(q))


def membudget_debug():
    """The leading replica's /debug/pods (None when no replica leads or it
    does not answer)."""
    addr = leader_metrics_addr()
    if not addr:
        return None
    try:
        with ops_get(addr, "/debug/pods", timeout=3) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


def oom_killed(ns, name):
    """The status of ns/name's container whose last state is OOMKilled, or None."""
    p = kj("-n", ns, "pod", name)
    for cs in (p or {}).get("status", {}).get("containerStatuses") or []:
        if ((cs.get("lastState") or {}).get("terminated") or {}).get("reason") == "OOMKilled":
            return cs
    return None


def membudget_view(ns, name):
    """The leader's /debug/pods entry for the pod ns/name (None when absent)."""
    view = membudget_debug() or {"pods": []}
    return next((p for p in view["pods"] if p.get("namespace") == ns and p.get("name") == name),
                None)


def api_server():
    """The API server's URL, from DIR/kubeconfig."""
    with open(os.path.join(DIR, "kubeconfig")) as f:
        return [l.split()[-1] for l in f if "server:" in l][0]


def api(method, path, body=None, ctype="application/json"):
    """A call to the API server as the admin (DIR/pki), for what kubectl does not
    send (server-side dry-run with strict field validation on a subresource)."""
    ctx = ssl.create_default_context(cafile=os.path.join(DIR, "pki", "ca.crt"))
    ctx.load_cert_chain(os.path.join(DIR, "pki", "admin.crt"), os.path.join(DIR, "pki", "admin.key"))
    server = api_server()
    req = urllib.request.Request(server + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


# --- scenarios -------------------------------------------------------------------------

def sc_admission(ns):
    """1. A template whose budget exceeds its limit: refused at the Deployment;
    created before the namespace was governed, its ReplicaSet's pods are refused
    (FailedCreate with the webhook's message). A valid pod runs with GOMEMLIMIT
    in its real environment and the readiness gate in its spec."""
    p = leaky_workload(ns, "greedy", budget="512Mi", limit="256Mi")
    check("a Deployment whose template's budget exceeds its limit is refused by the real "
          "API server, with the webhook's message naming the object and the path",
          p.returncode != 0 and 'denied the request: Deployment %s/greedy:' % ns in p.stderr and
          "spec.template" in p.stderr and "512Mi" in p.stderr, p.stderr)
    old = namespace(ns + "-late", enforce=False)
    try:
        p = leaky_workload(old, "greedy", budget="512Mi", limit="256Mi", replicas=0)
        check("the same Deployment is created while its namespace is not governed",
              p.returncode == 0, p.stderr)
        kubectl("label", "namespace", old, "membudget.io/enforce=true")
        kubectl("-n", old, "scale", "deployment/greedy", "--replicas=1")

        def failed():
            for rs in (kj("-n", old, "replicasets") or {"items": []})["items"]:
                for e in events(old, rs["metadata"]["name"]):
                    if e["reason"] == "FailedCreate":
                        return e
        e = wait_until(failed, 60, 0.5)
        check("its ReplicaSet's pods are refused: FailedCreate carries the webhook's message",
              e and "admission webhook" in e["message"] and "membudget.io" in e["message"] and
              "exceeds" in e["message"], e and e["message"])
        check("... and no pod of it exists", pods_of(old, "greedy") == [])
    finally:
        delete_namespace(old)

    p = leaky_workload(ns, "fits", budget="96Mi", limit="128Mi")
    check("a valid Deployment is admitted", p.returncode == 0, p.stderr)
    pod = running_pod(ns, "fits")
    check("its pod runs", pod is not None)
    if not pod:
        return
    gates = [g["conditionType"] for g in pod["spec"].get("readinessGates") or []]
    check("the readiness gate is in the pod's spec", gates == [GATE], gates)
    env = container_environ(pod)
    check("the running process has GOMEMLIMIT = the budget in bytes in its real environment",
          env and env.get("GOMEMLIMIT") == str(96 << 20), env)
    m = wait_until(lambda: metrics(pod["status"]["podIP"]), 30, 0.5)
    check("... and the Go runtime applied it (go_gc_gomemlimit_bytes from the pod's IP)",
          m and m.get("go_gc_gomemlimit_bytes") == 96 << 20, m and m.get("go_gc_gomemlimit_bytes"))
    def ready_pod():
        p = kj("-n", ns, "pod", pod["metadata"]["name"])
        return cond_of(p) == "True" and cond_of(p, "Ready") == "True" and p
    ready = wait_until(ready_pod, 60, 0.5)
    check("membudget opens the gate (condition True) and the kubelet makes the pod Ready",
          ready and cond_of(ready, "Ready") == "True", ready and ready["status"].get("conditions"))


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


def sc_api_paths(ns):
    """What a user reaches through the API server works against the real
    kubelet and the pod network: logs, exec, port-forward, the pods' proxy
    subresource; and pods reach the API server through the kubernetes
    Service (membudget's in-cluster config)."""
    started = start_target(ns, "paths", budget="64Mi", limit="128Mi")
    if not started:
        return
    _, name, ip = started
    logs = kubectl("-n", ns, "logs", name, "-c", "app", ok=False)
    check("kubectl logs: the target's own log line", logs.returncode == 0 and
          "leaky: mode idle" in logs.stdout, logs.stdout + logs.stderr)
    who = leader()
    mb = who and kj("-n", "membudget", "pod", who)
    if not check("a membudget replica leads", mb is not None):
        return
    ex = kubectl("-n", "membudget", "exec", who, "-c", "membudget", "--", "id", "-u", ok=False)
    check("kubectl exec: a command runs in membudget's container, as its user (65532)",
          ex.returncode == 0 and ex.stdout.strip() == "65532", ex.stdout + ex.stderr)
    prox = kubectl("get", "--raw", "/api/v1/namespaces/%s/pods/%s:%d/proxy/metrics" % (
        ns, name, PORT), ok=False)
    check("the pods' proxy subresource: the API server reaches the pod's IP",
          prox.returncode == 0 and "go_gc_gomemlimit_bytes" in prox.stdout, prox.stderr)
    pf = subprocess.Popen(["kubectl", "-n", ns, "port-forward", "pod/" + name, ":%d" % PORT],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        line = pf.stdout.readline()  # "Forwarding from 127.0.0.1:NNNNN -> 8080"
        local = line.split()[2] if line.startswith("Forwarding from") else None
        body = None
        if local:
            with urllib.request.urlopen("http://%s/metrics" % local, timeout=5) as r:
                body = r.read().decode()
        check("kubectl port-forward: the pod's port on loopback",
              body and "go_gc_gomemlimit_bytes" in body, line)
    finally:
        pf.kill()
        pf.wait()
    # membudget status, from this machine to the leader's metrics port
    def status_row():
        st = subprocess.run([os.path.join(ROOT, "bin", "membudget"), "status", "--token-file",
                             reader_token_file(), "--address",
                             leader_metrics_addr()], capture_output=True, text=True, timeout=30)
        lines = st.stdout.splitlines()
        head = lines[1].split() if len(lines) > 1 else []
        rows = [dict(zip(head, l.split())) for l in lines if l.split()[:2] == [ns, name]]
        # a fresh figure, in bytes and percent ("?" after it when stale)
        return (rows and rows[0].get("USAGE", "")[-2:] in ("Ki", "Mi") and
                rows[0].get("%BUDGET", "").endswith("%") and rows[0])
    row = wait_until(status_row, 30, 0.5)
    check("membudget status shows the pod's usage and its share of the budget", row, row)
    svc = kj("-n", "default", "service", "kubernetes")
    env = container_environ(mb, "membudget") or {}
    check("membudget reaches the API server through the kubernetes Service (in-cluster config)",
          svc and env.get("KUBERNETES_SERVICE_HOST") == svc["spec"]["clusterIP"] and
          wait_until(lambda: (membudget_debug() or {}).get("synced"), 30, 0.5),
          (env.get("KUBERNETES_SERVICE_HOST"), svc and svc["spec"]["clusterIP"]))


def memory_limit(ns, name, where):
    """The app container's memory limit as the pod's spec ("spec") or the
    kubelet ("status": status.containerStatuses[].resources) has it; None
    when the pod is gone (an evicted pod may vanish between two reads)."""
    p = kj("-n", ns, "pod", name)
    if p is None:
        return None
    if where == "spec":
        return p["spec"]["containers"][0]["resources"]["limits"]["memory"]
    for cs in p["status"].get("containerStatuses") or []:
        if cs["name"] == "app":
            return ((cs.get("resources") or {}).get("limits") or {}).get("memory")
    return None


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


# --- pods on kwok's fake nodes (test/cluster/fake-nodes) ---------------------------

BIN = os.path.join(ROOT, "bin", "membudget")
# The membudget that HostCtl runs on this machine (MB_HOST_BIN: a sanitizer
# build, for make tsan), under MB_E2E_WRAP (e.g. valgrind ..., for make
# check-valgrind). Its exit code then carries their verdict.
HOST_BIN = os.environ.get("MB_HOST_BIN") or BIN
WRAP = os.environ.get("MB_E2E_WRAP", "").split()
KWOK = {"nodeSelector": {"type": "kwok"},
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]}


def fake_pod(ns, name, budget="64Mi", limit="128Mi", annotations=None, gated=False):
    """A pod on one of kwok's nodes: through the real admission chain, then
    Running with an IP and no container. `gated`: the readiness gate written
    by the test (a namespace the webhook does not govern)."""
    ann = {"membudget.io/budget": budget} if budget else {}
    ann.update(annotations or {})
    spec = dict(KWOK, containers=[{"name": "app", "image": "fake",
                                   "resources": {"limits": {"memory": limit}}}])
    if gated:
        spec["readinessGates"] = [{"conditionType": GATE}]
    return kubectl("create", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "spec": spec,
        "metadata": {"name": name, "namespace": ns, "annotations": ann}}), ok=False)


def phases(ns):
    out = kj("-n", ns, "pods") or {"items": []}
    return {p["metadata"]["name"]: (p.get("status") or {}).get("phase") for p in out["items"]}


def tracked(ns):
    """{name: entry} of the leader's /debug/pods in ns."""
    view = membudget_debug() or {"pods": []}
    return {p["name"]: p for p in view["pods"] if p.get("namespace") == ns}


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


# --- membudget on this machine, through the fault-injecting proxy ---------------------

class FaultProxy:
    """test/faultproxy in front of the real kube-apiserver (MB_FAULTPROXY: its
    binary, built by cluster_run.sh)."""

    def __init__(self, work):
        server = api_server()
        af = os.path.join(work, "faultproxy.addr")
        self.p = subprocess.Popen([os.environ["MB_FAULTPROXY"], "--listen", "127.0.0.1:0",
                                   "--upstream", server, "--upstream-ca",
                                   os.path.join(DIR, "pki", "ca.crt"), "--address-file", af],
                                  stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(work, "faultproxy.log"), "w"))
        wait_until(lambda: os.path.exists(af) and open(af).read().strip(), 20, 0.1)
        self.addr = open(af).read().strip()

    def call(self, method, path, body=None):
        return http(method, "http://%s%s" % (self.addr, path), body)

    def faults(self, **f):
        return self.call("POST", "/_faults", f)

    def clear(self):
        self.call("DELETE", "/_faults")

    def requests(self, since=0.0):
        st, body = self.call("GET", "/_faults/requests")
        return [r for r in body if r["t"] >= since]

    def stop(self):
        self.p.kill()
        self.p.wait()


class HostCtl:
    """`membudget controller` on this machine as membudget's ServiceAccount
    (a token of it: the chart's RBAC decides), for one namespace named
    explicitly (left unlabelled, so the installed membudget leaves it alone),
    talking to the API server through `server` (the faultproxy)."""

    def __init__(self, work, name, ns, server=None, config="", args=()):
        """server: HOST:PORT of the faultproxy (plain http), or None: the API
        server itself (https, the cluster's CA)."""
        self.work, self.name = work, name
        token = kubectl("-n", "membudget", "create", "token", "membudget",
                        "--duration", "2h").stdout.strip()
        if server:
            cluster = "{server: 'http://%s'}" % server
        else:
            cluster = "{server: '%s', certificate-authority: '%s'}" % (
                api_server(),
                os.path.join(DIR, "pki", "ca.crt"))
        kc = os.path.join(work, name + ".kubeconfig")
        with open(kc, "w") as f:
            f.write("apiVersion: v1\nkind: Config\ncurrent-context: sa\n"
                    "clusters: [{name: c, cluster: %s}]\n"
                    "users: [{name: u, user: {token: '%s'}}]\n"
                    "contexts: [{name: sa, context: {cluster: c, user: u}}]\n" % (cluster, token))
        cfg = os.path.join(work, name + ".yaml")
        with open(cfg, "w") as f:
            f.write(config or "sampleInterval: 5s\n")
        self.log = os.path.join(work, name + ".log")
        self.p = subprocess.Popen(WRAP + [HOST_BIN, "controller", "--kubeconfig", kc, "--config", cfg,
                                   "--namespace", ns, "--metrics-bind-address", "127.0.0.1:0"]
                                  + list(args), stdout=subprocess.DEVNULL,
                                  stderr=open(self.log, "w"))
        wait_until(lambda: self.addr(), 60, 0.1)  # (longer under valgrind)

    def logs(self):
        out = []
        for l in open(self.log):
            try:
                out.append(json.loads(l))
            except ValueError:
                pass
        return out

    def addr(self):
        for l in self.logs():
            if l.get("msg") == "metrics listening":
                return l["address"]
        return None

    def get(self, path):
        with urllib.request.urlopen("http://%s%s" % (self.addr(), path), timeout=5) as r:
            return r.read().decode()

    def tracked(self):
        try:
            return {p["name"]: p for p in json.loads(self.get("/debug/pods"))["pods"]}
        except (OSError, ValueError):
            return {}

    def rss_kib(self):
        for l in open("/proc/%d/status" % self.p.pid):
            if l.startswith("VmRSS:"):
                return int(l.split()[1])
        return 0

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        return self.p.returncode


def rate(fp, since, secs, watch=None, path=""):
    """Requests per second through the proxy in [since, since+secs]."""
    rs = [r for r in fp.requests(since) if r["t"] <= since + secs and r["path"].startswith(path)
          and (watch is None or r["watch"] == watch)]
    return len(rs) / secs


HOSTILE_NS = "e2e-hostile-h"  # excluded in cluster-config.yaml: the installed membudget stays out


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


# --- the breaker's actions on real pods (were the simulator's scenarios) -------------

def would_only(ns, name, ip):
    """A dry-run pod: its action Events all say "dry run: would", and its GC
    endpoint was never called."""
    evs = [e for e in events(ns, name) if e["reason"] in (
        "MemoryBudgetThrottled", "MemoryBudgetGCForced", "MemoryBudgetEvicted")]
    check("... the Events say what would have happened", evs and all(
        e["message"].startswith("dry run: would") for e in evs),
        [(e["reason"], e["message"]) for e in evs])
    check("... no GC call reached the pod", metrics(ip).get("membudget_forced_gc_total", 0) == 0)


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


def sc_excluded_namespaces(ns):
    """kube-system and membudget's own namespace labelled for membudget, a
    pod in each over its budget: never tracked, throttled or evicted, no
    Event there; the same pod in a governed namespace is."""
    made = []
    try:
        for xns in ("kube-system", "membudget"):
            kubectl("label", "--overwrite", "namespace", xns, "membudget.io/enforce=true")
            p = leaky_pod(xns, "e2e-x", "32Mi", "256Mi", mode="held", rate=16, maxmib=60)
            check("a pod over its budget in a labelled %s is admitted untouched" % xns,
                  p.returncode == 0, p.stderr)
            made.append(xns)
        started = start_target(ns, "x", budget="32Mi", limit="256Mi", mode="held", rate=16,
                               maxmib=60)
        if not started:
            return
        _, name, _ = started
        check("the governed namespace's pod is acted on", wait_until(
            lambda: "MemoryBudgetThrottled" in reasons(ns, name), 90, 0.5), reasons(ns, name))
        view = membudget_debug() or {}
        check("/debug/pods lists neither kube-system's nor membudget's pod", not [
            p for p in view.get("pods", []) if p["namespace"] in ("kube-system", "membudget")],
            view.get("governedNamespaces"))
        check("neither is governed", not {"kube-system", "membudget"} &
              set(view.get("governedNamespaces") or []), view.get("governedNamespaces"))
        for xns in made:
            p = kj("-n", xns, "pod", "e2e-x")
            check("%s: no Event, no condition, the pod still there" % xns,
                  p is not None and cond_of(p) is None and not [
                      r for r in reasons(xns, "e2e-x") if r.startswith("MemoryBudget")],
                  reasons(xns, "e2e-x"))
        logs = membudget_logs()
        check("the exclusion is logged", any("labelled but excluded" in l for l in logs))
    finally:
        for xns in ("kube-system", "membudget"):
            kubectl("-n", xns, "delete", "pod", "e2e-x", "--ignore-not-found", "--wait=false",
                    ok=False)
            kubectl("label", "namespace", xns, "membudget.io/enforce-", ok=False)


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


# --- config-specific: membudget on this machine, straight to the API server -------------

HOST_NS = "e2e-host"  # excluded in cluster-config.yaml: the installed membudget stays out
HOST_CONFIG = """sampleInterval: 1s
sustainSamples: 2
recoverSamples: 2
hysteresis: 5
gcMinInterval: 2s
leak: {window: 6, minSlopePercentPerMinute: 10}
eviction: {maxPerMinute: 5, profileDir: %s}
"""


def host_ctl(work, name, extra="", via=None, args=()):
    return HostCtl(work, name, HOST_NS, via, HOST_CONFIG % os.path.join(work, "profiles") + extra,
                   args)


def host_scenario(fn):
    """fn(work, hns) in the excluded namespace HOST_NS, made and deleted here."""
    work = tempfile.mkdtemp(prefix="mb-host-")
    hns = namespace(HOST_NS, enforce=False)
    try:
        fn(work, hns)
    finally:
        if not os.environ.get("E2E_KEEP"):
            delete_namespace(hns)
            wait_until(lambda: kj("namespace", hns) is None, 120, 1)
            shutil.rmtree(work, ignore_errors=True)


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


def set_usage(usages):
    """test/bench/responder's usages from now on ({IP: bytes, "*": bytes})."""
    port = int(os.environ.get("MB_FAKE_PORT", "19000"))
    return http("POST", "http://10.128.0.1:%d/_usage" % port, usages)


def endpoint_pod(ns, name, budget="100Mi", limit="128Mi", gated=True):
    """A kwok pod whose /metrics is test/bench/responder's (MB_FAKE_PORT)."""
    port = int(os.environ.get("MB_FAKE_PORT", "19000"))
    spec = dict(KWOK, containers=[{"name": "app", "image": "fake",
                                   "ports": [{"containerPort": port}],
                                   "resources": {"limits": {"memory": limit}}}])
    if gated:
        spec["readinessGates"] = [{"conditionType": GATE}]
    return kubectl("create", "-f", "-", ok=False, stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod", "spec": spec,
        "metadata": {"name": name, "namespace": ns, "annotations": {
            "membudget.io/budget": budget, "membudget.io/metrics": "%d/metrics" % port,
            "membudget.io/gc": "%d/debug/gc" % port}}}))


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


def behave(hows):
    """How test/bench/responder answers /metrics on each address ({IP: how})."""
    port = int(os.environ.get("MB_FAKE_PORT", "19000"))
    return http("POST", "http://10.128.0.1:%d/_behave" % port, hows)


def responder_hits():
    port = int(os.environ.get("MB_FAKE_PORT", "19000"))
    with urllib.request.urlopen("http://10.128.0.1:%d/_hits" % port, timeout=5) as r:
        return json.loads(r.read().decode())


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


def component_pid(name):
    """The pid of the test cluster's component `name` (DIR/run/NAME.pid)."""
    try:
        with open(os.path.join(DIR, "run", name + ".pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def restart_components():
    """test/cluster/up again: it starts what is not running (and only that),
    and waits until the cluster is whole."""
    return subprocess.run([os.path.join(ROOT, "test", "cluster", "up"), "--dir", DIR, "--no-build"],
                          capture_output=True, text=True, timeout=300)


def calls(ip, path):
    """When the leaky target served `path` (Unix ms), oldest first."""
    try:
        with urllib.request.urlopen("http://%s:%d/calls?path=%s" % (ip, PORT, path), timeout=3) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return []


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
            check("one heap profile for the escalation, across both outages and the Leases lost",
                  len(heap) == 1, heap)
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


def sc_certs(ns):
    """(was the simulator's certs) `membudget certs` on this machine against
    the real API server: a kubernetes.io/tls Secret with a CA and a serving
    certificate for the Service's names, the CA in every webhook of both
    configurations; a second run keeps the certificate; one for other names
    is replaced; --key-type rsa; an unknown configuration is an error. The
    configurations are the test's own, matching no namespace."""
    name = "e2e-certs-" + ns
    never = {"matchLabels": {"e2e.membudget.io/never": "true"}}
    made = []
    try:
        for kind in ("Mutating", "Validating"):
            p = apply({"apiVersion": "admissionregistration.k8s.io/v1",
                       "kind": kind + "WebhookConfiguration", "metadata": {"name": name},
                       "webhooks": [{"name": w + ".membudget.io", "admissionReviewVersions": ["v1"],
                                     "sideEffects": "None", "failurePolicy": "Ignore",
                                     "namespaceSelector": never,
                                     "clientConfig": {"service": {
                                         "namespace": ns, "name": "membudget-webhook"}}}
                                    for w in ("a", "b")]})
            if not check("a %sWebhookConfiguration of the test's" % kind, p.returncode == 0,
                         p.stderr):
                return
            made.append(kind.lower() + "webhookconfiguration")
        args = [BIN, "certs", "--kubeconfig", ENV["KUBECONFIG"], "--service", "membudget-webhook",
                "--namespace", ns, "--webhook-config", name]

        def certs(a):
            return subprocess.run(a, capture_output=True, text=True, timeout=60)

        def secret(sname):
            sec = kj("-n", ns, "secret", sname) or {}
            return sec, {k: base64.b64decode(v).decode() for k, v in sec.get("data", {}).items()}

        def openssl(*a, stdin=""):
            return subprocess.run(["openssl"] + list(a), input=stdin, capture_output=True,
                                  text=True)
        out = certs(args)
        check("certs: a first run creates the Secret and injects the CA",
              out.returncode == 0 and "new certificate" in out.stdout, out.stdout + out.stderr)
        sec, data = secret("membudget-webhook-tls")
        work = tempfile.mkdtemp(prefix="mb-certs-")
        try:
            ca = os.path.join(work, "ca.crt")
            with open(ca, "w") as f:
                f.write(data.get("ca.crt", ""))
            v = openssl("verify", "-CAfile", ca, stdin=data.get("tls.crt", ""))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        san = openssl("x509", "-noout", "-ext", "subjectAltName", stdin=data.get("tls.crt", ""))
        check("the Secret is kubernetes.io/tls, its certificate verifies against its CA and "
              "covers the Service's names", sec.get("type") == "kubernetes.io/tls" and
              v.returncode == 0 and "membudget-webhook.%s.svc.cluster.local" % ns in san.stdout
              and "DNS:membudget-webhook.%s.svc," % ns in san.stdout,
              v.stdout + v.stderr + san.stdout)
        cab = base64.b64encode(data.get("ca.crt", "").encode()).decode()
        check("caBundle set on every webhook of both configurations", all(
            w["clientConfig"].get("caBundle") == cab
            for kind in made for w in (kj(kind, name) or {}).get("webhooks", [{}])))
        out2 = certs(args)
        sec2, _ = secret("membudget-webhook-tls")
        check("a second run keeps the valid certificate",
              out2.returncode == 0 and "kept" in out2.stdout and "already current" in out2.stdout
              and sec2.get("data") == sec.get("data"), out2.stdout + out2.stderr)
        out3 = certs([a if a != "membudget-webhook" else "other-svc" for a in args] +
                     ["--secret", "membudget-webhook-tls"])
        sec3, _ = secret("membudget-webhook-tls")
        check("a certificate that does not cover the Service is replaced",
              out3.returncode == 0 and "does not cover" in out3.stdout and
              sec3["data"]["tls.crt"] != sec["data"]["tls.crt"], out3.stdout + out3.stderr)
        out5 = certs([a if a != "membudget-webhook" else "rsa-svc" for a in args] +
                     ["--secret", "rsa-tls", "--key-type", "rsa"])
        _, rsa = secret("rsa-tls")
        txt = openssl("x509", "-noout", "-text", stdin=rsa.get("tls.crt", ""))
        check("--key-type rsa gives an RSA 2048 certificate", out5.returncode == 0 and
              "Public-Key: (2048 bit)" in txt.stdout and "rsaEncryption" in txt.stdout,
              out5.stdout + out5.stderr + txt.stderr)
        out4 = certs(args[:-1] + ["nope-" + name])
        check("an unknown webhook configuration is an error naming it", out4.returncode == 1 and
              "no webhook configuration named nope-" + name in out4.stderr, out4.stderr)
    finally:
        for kind in made:
            kubectl("delete", kind, name, "--ignore-not-found", ok=False)


FAILOVER_CONFIG = """sampleInterval: 1s
sustainSamples: 2
recoverSamples: 2
gcMinInterval: 60s
eviction: {profileDir: %s}
"""


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


SCENARIOS = [sc_admission, sc_throttle_gc, sc_evict, sc_oom, sc_api_paths, sc_resize, sc_resize_tier,
             sc_failover,
             sc_rbac_and_writes, sc_watch, sc_hostile, sc_dry_run, sc_goroutine_leak, sc_ssrf_guard,
             sc_owner_one_at_a_time, sc_last_chance_gc, sc_excluded_namespaces, sc_memlimit,
             sc_dry_run_global, sc_gc_thrash, sc_recommend, sc_rate_limit, sc_metrics_failing,
             sc_series_limit, sc_oom_ledger, sc_leader_election, sc_failover_continuity,
             sc_certs, sc_hung_and_lying, sc_recommend_failover, sc_ops_auth,
             sc_control_plane_outage]


# Scenarios run only when named (E2E_ONLY=...): none now. (last_chance_gc was,
# until the planner stopped evicting on a figure read while the gc tier's GC
# was still under way.)
UNSETTLED = []


def main():
    global DIR
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    DIR = os.path.abspath(a.dir)
    load_env(DIR)
    names = a.scenarios or [s.__name__[3:] for s in SCENARIOS if s not in UNSETTLED]
    for sc in SCENARIOS:
        if sc.__name__[3:] not in names:
            continue
        print("# " + sc.__name__[3:])
        ns = namespace("e2e-" + sc.__name__[3:].replace("_", "-"))
        try:
            sc(ns)
        except Exception as e:  # a scenario that crashes is a failure, not a stop
            check(sc.__name__ + " ran to the end", False, repr(e))
        finally:
            if not os.environ.get("E2E_KEEP"):
                delete_namespace(ns)
    return finish("cluster e2e")


if __name__ == "__main__":
    sys.exit(main())
