"""What the end-to-end scenarios run against: the leaky Go target
(test/targets/leaky) as pods and workloads and its control endpoint, kwok's
fake pods, membudget as a process on this machine (HostCtl) with the
fault-injecting proxy in front of the API server (FaultProxy), and the
responder that stands in for thousands of pod endpoints.
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

import kube
from kube import *  # noqa: F401,F403
from harness import check, wait_until, http, finish, prom_values  # noqa: F401

LEAKY = "membudget.test/leaky:dev"


PORT = 6060


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


class FaultProxy:
    """test/faultproxy in front of the real kube-apiserver (MB_FAULTPROXY: its
    binary, built by cluster_run.sh)."""

    def __init__(self, work):
        server = api_server()
        af = os.path.join(work, "faultproxy.addr")
        self.p = subprocess.Popen([os.environ["MB_FAULTPROXY"], "--listen", "127.0.0.1:0",
                                   "--upstream", server, "--upstream-ca",
                                   os.path.join(kube.DIR, "pki", "ca.crt"), "--address-file", af],
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
                os.path.join(kube.DIR, "pki", "ca.crt"))
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


def would_only(ns, name, ip):
    """A dry-run pod: its action Events all say "dry run: would", and its GC
    endpoint was never called."""
    evs = [e for e in events(ns, name) if e["reason"] in (
        "MemoryBudgetThrottled", "MemoryBudgetGCForced", "MemoryBudgetEvicted")]
    check("... the Events say what would have happened", evs and all(
        e["message"].startswith("dry run: would") for e in evs),
        [(e["reason"], e["message"]) for e in evs])
    check("... no GC call reached the pod", metrics(ip).get("membudget_forced_gc_total", 0) == 0)


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


def behave(hows):
    """How test/bench/responder answers /metrics on each address ({IP: how})."""
    port = int(os.environ.get("MB_FAKE_PORT", "19000"))
    return http("POST", "http://10.128.0.1:%d/_behave" % port, hows)


def responder_hits():
    port = int(os.environ.get("MB_FAKE_PORT", "19000"))
    with urllib.request.urlopen("http://10.128.0.1:%d/_hits" % port, timeout=5) as r:
        return json.loads(r.read().decode())


def calls(ip, path):
    """When the leaky target served `path` (Unix ms), oldest first."""
    try:
        with urllib.request.urlopen("http://%s:%d/calls?path=%s" % (ip, PORT, path), timeout=3) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return []


FAILOVER_CONFIG = """sampleInterval: 1s
sustainSamples: 2
recoverSamples: 2
gcMinInterval: 60s
eviction: {profileDir: %s}
"""
