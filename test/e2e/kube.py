"""The cluster, as the end-to-end suites see it (test/e2e): kubectl and the
API server as the admin, the environment of a cluster directory (DIR/env,
DIR/kubeconfig, DIR/pki), the objects membudget writes (Events, conditions,
the leader's metrics and logs), and the cluster's components.

Set DIR with use_dir(DIR) before anything else (the runners do); every
helper here reads it from this module, so `kube.DIR` is the one copy.
"""
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

from harness import check, wait_until, http, finish, prom_values  # noqa: F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


GATE = "membudget.io/within-budget"


ENV = dict(os.environ)


DIR = None


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


def kubectl(*args, stdin=None, ok=True, timeout=120):
    """kubectl ARGS with the cluster's env; KubeError when it fails (ok)."""
    p = subprocess.run(["kubectl"] + list(args), input=stdin, capture_output=True, text=True,
                       env=ENV, timeout=timeout)
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


def running(ns, name, timeout=120):
    """ns/name once Running with an IP (None when it is not by then)."""
    return wait_until(lambda: (lambda p: p if p and p.get("status", {}).get("phase") == "Running"
                               and p["status"].get("podIP") else None)(kj("-n", ns, "pod", name)),
                      timeout, 0.5)


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


def container_pid(pod, container):
    """The host PID of the container's main process (containerd's task), or None."""
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
            return int(f[1])
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


def helm(*args):
    """helm ARGS with the cluster's env (the chart's upgrades take minutes)."""
    p = subprocess.run(["helm"] + list(args), capture_output=True, text=True, env=ENV, timeout=900)
    if p.returncode != 0:
        raise KubeError("helm %s: %s" % (" ".join(args), p.stderr.strip()))
    return p


def use_dir(d):
    """The cluster in directory d: its path, and its env (kubectl, KUBECONFIG)."""
    global DIR
    DIR = os.path.abspath(d)
    load_env(DIR)
