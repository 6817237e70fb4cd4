#!/usr/bin/env python3
"""End-to-end scenarios: membudget's controller against kubesim.

Each scenario starts a fresh simulator and controller(s), drives the
simulator through its API and /_sim/ faults, and checks what the controller
believes (/debug/pods) against what the simulator holds. Prints one line per
check ("ok   - ..." / "FAIL - ...") and, with MB_TEST_COUNTS=FILE, writes
"passed failed" there for test/run_all.sh.

    usage: test/e2e/controller_e2e.py MEMBUDGET_BINARY [SCENARIO...]
"""
import json
import socket
import shutil
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import PASS, FAIL, check, wait_until, http, finish, prom_values  # noqa: E402,F401

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KUBESIM = os.path.join(ROOT, "test", "kubesim", "kubesim")
# MB_E2E_WRAP="valgrind -q --leak-check=full --error-exitcode=99" runs every
# membudget process under that command (exit checks then catch leaks).
WRAP = os.environ.get("MB_E2E_WRAP", "").split()


class Sim:
    def __init__(self, work, *args):
        self.addr_file = os.path.join(work, "sim.addr")
        self.kubeconfig = os.path.join(work, "kubeconfig")
        self.log = open(os.path.join(work, "sim.log"), "w")
        self.p = subprocess.Popen([KUBESIM, "--listen", "127.0.0.1:0", "--address-file",
                                   self.addr_file, "--kubeconfig-file", self.kubeconfig,
                                   "--kubelet-delay", "0.02"] + list(args),
                                  stdout=subprocess.PIPE, stderr=self.log)
        line = self.p.stdout.readline().decode().strip()
        if line != "ready":
            raise RuntimeError("kubesim did not start: %r" % line)
        self.addr = open(self.addr_file).read().strip()
        self.url = "http://" + self.addr

    def api(self, method, path, body=None, ctype="application/json"):
        return http(method, self.url + path, body, ctype)

    def ns(self, name, governed=True):
        labels = {"membudget.io/enforce": "true"} if governed else {}
        return self.api("POST", "/api/v1/namespaces",
                        {"metadata": {"name": name, "labels": labels}})

    def node(self, name="node-1"):
        return self.api("POST", "/api/v1/nodes", {"metadata": {"name": name}})

    def pod(self, ns, name, gated=True, budget="100Mi", labels=None):
        ann = {"membudget.io/budget": budget} if budget else {}
        spec = {"containers": [{"name": "app", "image": "x", "resources": {
            "limits": {"memory": "200Mi"}}, "ports": [{"name": "http", "containerPort": 6060}]}]}
        if gated:
            spec["readinessGates"] = [{"conditionType": "membudget.io/within-budget"}]
        return self.api("POST", "/api/v1/namespaces/%s/pods" % ns, {
            "metadata": {"name": name, "annotations": ann, "labels": labels or {}}, "spec": spec})

    def delete(self, ns, name, grace=0):
        return self.api("DELETE", "/api/v1/namespaces/%s/pods/%s?gracePeriodSeconds=%d"
                        % (ns, name, grace))

    def pods(self, ns=None):
        st, body = self.api("GET", "/api/v1/namespaces/%s/pods" % ns if ns else "/api/v1/pods")
        return {(p["metadata"]["namespace"], p["metadata"]["name"]): p for p in body["items"]}

    def faults(self, **f):
        return self.api("POST", "/_sim/faults", f)

    def stop(self):
        self.p.kill()
        self.p.wait()
        self.log.close()


LIVE = []


class Ctl:
    def __init__(self, work, sim, name="ctl", *args):
        self.log_path = os.path.join(work, name + ".log")
        self.log = open(self.log_path, "w")
        self.p = subprocess.Popen(WRAP + [BIN, "controller", "--kubeconfig", sim.kubeconfig,
                                   "--metrics-bind-address", "127.0.0.1:0"] + list(args),
                                  stderr=self.log)
        LIVE.append(self)
        self.addr = wait_until(self._addr, 10)
        if not self.addr:
            raise RuntimeError("controller did not start: " + open(self.log_path).read())

    def _addr(self):
        for line in open(self.log_path):
            j = json.loads(line)
            if j.get("msg") == "metrics listening":
                return j["address"]
        return None

    def debug(self):
        return http("GET", "http://%s/debug/pods" % self.addr)[1]

    def tracked(self):
        return {(p["namespace"], p["name"]): p for p in self.debug()["pods"]}

    def metrics(self):
        with urllib.request.urlopen("http://%s/metrics" % self.addr, timeout=5) as r:
            return r.read().decode()

    def logs(self):
        return [json.loads(l) for l in open(self.log_path) if l.startswith("{")]

    def stop(self, sig=signal.SIGTERM):
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            rc = self.p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        self.log.close()
        self.rc = rc
        return rc


def cond_of(pod, typ="membudget.io/within-budget"):
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == typ:
            return c.get("status")
    return None


def kept(sim, ns=None):
    """The pods the controller should track: budgeted or gated ones."""
    out = {}
    for k, p in sim.pods(ns).items():
        ann = p["metadata"].get("annotations") or {}
        gates = [g.get("conditionType") for g in p["spec"].get("readinessGates") or []]
        if "membudget.io/budget" in ann or "membudget.io/within-budget" in gates:
            out[k] = p
    return out


def same_pods(sim, ctl):
    want = {k: p["metadata"]["uid"] for k, p in kept(sim).items()}
    got = {k: p["uid"] for k, p in ctl.tracked().items()}
    return want == got, (want, got)


# --- scenarios ------------------------------------------------------------------

def sc_initial_sync_and_gate(work):
    sim = Sim(work)
    try:
        sim.ns("shop")
        sim.ns("other", governed=False)
        sim.node()
        for i in range(20):
            sim.pod("shop", "g%d" % i)
        sim.pod("shop", "plain", gated=False, budget=None)      # governed ns: kept
        sim.pod("other", "stranger", gated=False, budget=None)  # not kept
        sim.pod("other", "budgeted", gated=True)                # kept: gate + budget
        wait_until(lambda: all((p.get("status") or {}).get("phase") == "Running"
                               for p in sim.pods().values()), 5)
        ctl = Ctl(work, sim)
        t0 = time.monotonic()
        ok = wait_until(lambda: all(cond_of(p) == "True" for k, p in sim.pods().items()
                                    if k[1].startswith("g") or k[1] == "budgeted"), 5)
        took = time.monotonic() - t0
        check("readiness gate set True on every running gated pod (%.2fs)" % took, ok)
        check("gated pods become Ready (the kubelet sees the gate True)",
              wait_until(lambda: all(cond_of(p, "Ready") == "True" for k, p in sim.pods().items()
                                     if k[1].startswith("g")), 5))
        d = ctl.debug()
        check("/debug/pods: synced, leader, tracks the right pods", d["synced"] and d["leader"]
              and {(p["namespace"], p["name"]) for p in d["pods"]} ==
              set(kept(sim)) | {("shop", "plain")}, d)
        check("an ungoverned pod without budget or gate is not cached",
              ("other", "stranger") not in ctl.tracked())
        check("pods in a governed namespace are cached without a budget",
              ("shop", "plain") in ctl.tracked())
        out = subprocess.run([BIN, "status", "--address", ctl.addr], capture_output=True,
                             text=True, timeout=10)
        lines = out.stdout.splitlines()
        check("membudget status prints the tracked pods as a table", out.returncode == 0 and
              lines[0].startswith("leader: yes") and "NAMESPACE" in lines[1] and
              any(l.split()[:2] == ["shop", "g0"] and "True" in l for l in lines) and
              len(lines) == 2 + 22, out.stdout + out.stderr)
        out = subprocess.run([BIN, "status", "--address", "127.0.0.1:1"], capture_output=True,
                             text=True, timeout=10)
        check("membudget status on a dead address: exit 1 and says why",
              out.returncode == 1 and "127.0.0.1:1" in out.stderr, out.stderr)
        # the controller refreshes its state gauges every second, on its own thread
        ok = wait_until(lambda: "membudget_tracked_pods 22\n" in ctl.metrics() and
                        "membudget_leader 1\n" in ctl.metrics(), 5)
        m = ctl.metrics()
        check("metrics: membudget_tracked_pods and membudget_leader", ok, m[-800:])
        rc = ctl.stop()
        check("SIGTERM: exit 0", rc == 0, rc)
    finally:
        sim.stop()


def sc_changes_seen(work):
    sim = Sim(work)
    try:
        sim.ns("shop")
        sim.node()
        ctl = Ctl(work, sim)
        wait_until(lambda: ctl.debug()["synced"], 5)
        sim.pod("shop", "a")
        check("a created pod is seen and gated within a second",
              wait_until(lambda: cond_of(sim.pods()[("shop", "a")]) == "True", 1.5))
        sim.api("PATCH", "/api/v1/namespaces/shop/pods/a", {"metadata": {"annotations": {
            "membudget.io/tiers": "throttle=70,gc=80,evict=90"}}}, "application/merge-patch+json")
        check("an update is seen", wait_until(lambda: ctl.tracked()[("shop", "a")]
                                              ["annotations"].get("tiers") ==
                                              "throttle=70,gc=80,evict=90", 3))
        sim.delete("shop", "a")
        check("a deletion is seen", wait_until(lambda: ("shop", "a") not in ctl.tracked(), 3))
        sim.pod("shop", "a")
        check("a pod re-created under the same name is tracked with its new uid",
              wait_until(lambda: ctl.tracked().get(("shop", "a"), {}).get("uid") ==
                         sim.pods()[("shop", "a")]["metadata"]["uid"], 3))
        sim.ns("late")
        sim.pod("late", "plain", gated=False, budget=None)
        check("a namespace labelled later is governed and its pods picked up",
              wait_until(lambda: ("late", "plain") in ctl.tracked(), 5))
        sim.api("PATCH", "/api/v1/namespaces/late", {"metadata": {"labels": {
            "membudget.io/enforce": None}}}, "application/merge-patch+json")
        check("a namespace that loses the label drops its unbudgeted pods",
              wait_until(lambda: ("late", "plain") not in ctl.tracked(), 5))
        sim.ns("late2")
        sim.pod("late2", "plain", gated=False, budget=None)
        wait_until(lambda: ("late2", "plain") in ctl.tracked(), 5)
        # The label goes while the namespace watch is down and history is lost:
        # the relist must let the namespace go.
        sim.faults(errors=[{"status": 503, "count": 3, "path": "/api/v1/namespaces",
                            "method": "GET"}], dropWatches=True)
        sim.api("PATCH", "/api/v1/namespaces/late2", {"metadata": {"labels": {
            "membudget.io/enforce": None}}}, "application/merge-patch+json")
        sim.faults(compact=True)
        check("a label lost while the watch was down (410): the relist lets the namespace go",
              wait_until(lambda: ("late2", "plain") not in ctl.tracked() and
                         "late2" not in ctl.debug()["governedNamespaces"], 15),
              [l for l in ctl.logs() if l.get("resource") == "namespaces" or
               "namespace" in l.get("msg", "")][-12:])
        check("cache equals the simulator", wait_until(lambda: same_pods(sim, ctl)[0], 3),
              same_pods(sim, ctl)[1])
        ctl.stop()
    finally:
        sim.stop()


def sc_bookmarks(work):
    sim = Sim(work, "--bookmark-interval", "0.2")
    try:
        sim.ns("shop")
        ctl = Ctl(work, sim)
        wait_until(lambda: ctl.debug()["synced"], 5)
        # Unrelated writes move the version on; only bookmarks tell the watcher.
        for i in range(30):
            sim.api("POST", "/api/v1/namespaces/shop/configmaps", {"metadata": {"name": "c%d" % i}})
        time.sleep(1.0)
        sim.faults(compact=True, dropWatches=True)
        time.sleep(1.5)
        lg = ctl.logs()
        relists = [l for l in lg if l.get("msg") == "list complete" and l.get("resource") == "pods"]
        check("bookmarks carry the version: resume after compaction needs no relist",
              len(relists) == 1, relists)
        ctl.stop()
    finally:
        sim.stop()


def sc_gone_relist(work):
    sim = Sim(work, "--bookmark-interval", "100")
    try:
        sim.ns("shop")
        sim.node()
        for i in range(10):
            sim.pod("shop", "p%d" % i)
        ctl = Ctl(work, sim)
        wait_until(lambda: len(ctl.tracked()) == 10, 5)
        # Cut the watch and make the server refuse it while we change things.
        sim.faults(errors=[{"status": 503, "count": 3, "path": "/api/v1/pods", "method": "GET"}],
                   dropWatches=True)
        for i in range(5):
            sim.delete("shop", "p%d" % i)
        for i in range(5):
            sim.pod("shop", "n%d" % i)
        sim.faults(compact=True)
        ok = wait_until(lambda: same_pods(sim, ctl)[0], 15)
        check("410 after the watch was down: relist, deletes synthesized, no phantoms", ok,
              same_pods(sim, ctl)[1])
        m = ctl.metrics()
        check("watch restarts and relists are counted", "membudget_watch_restarts_total" in m and
              'membudget_watch_relists_total{resource="pods"} 2' in m, m[-1500:])
        sim.faults(expireNextWatch=1, dropWatches=True)
        sim.delete("shop", "n0")
        check("an ERROR 410 event in the stream also relists",
              wait_until(lambda: same_pods(sim, ctl)[0], 15), same_pods(sim, ctl)[1])
        ctl.stop()
    finally:
        sim.stop()


def sc_restart_and_errors(work):
    sim = Sim(work)
    try:
        sim.ns("shop")
        sim.node()
        ctl = Ctl(work, sim)
        wait_until(lambda: ctl.debug()["synced"], 5)
        sim.faults(restart={"downMs": 700})
        time.sleep(0.8)
        for i in range(3):
            sim.pod("shop", "r%d" % i)
        check("after a simulator restart the controller resumes and sees every pod",
              wait_until(lambda: same_pods(sim, ctl)[0], 15), same_pods(sim, ctl)[1])
        sim.faults(errors=[{"status": 500, "count": 4, "path": "/api/v1/namespaces/shop/pods/e0",
                            "method": "PATCH"},
                           {"status": 429, "count": 2, "path": "/api/v1/namespaces/shop/pods/e1",
                            "method": "PATCH", "retryAfter": 1}])
        sim.pod("shop", "e0")
        sim.pod("shop", "e1")
        check("condition patches retried through 500s and 429s (Retry-After honoured)",
              wait_until(lambda: cond_of(sim.pods()[("shop", "e0")]) == "True" and
                         cond_of(sim.pods()[("shop", "e1")]) == "True", 15))
        m = ctl.metrics()
        check("patch errors are counted", 'membudget_condition_patches_total{result="error"} 6'
              in m, [l for l in m.splitlines() if "condition_patches" in l])
        ctl.stop()
    finally:
        sim.stop()


def sc_leader_election(work):
    sim = Sim(work)
    try:
        sim.ns("shop")
        sim.node()
        le = ["--leader-elect", "--leader-elect-lease-duration", "3s",
              "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms"]
        a = Ctl(work, sim, "a", *(le + ["--leader-election-identity", "a"]))
        wait_until(lambda: a.debug()["leader"], 5)
        b = Ctl(work, sim, "b", *(le + ["--leader-election-identity", "b"]))
        wait_until(lambda: b.debug()["synced"], 5)
        check("exactly one leader", a.debug()["leader"] and not b.debug()["leader"])
        since = sim.api("GET", "/_sim/requests")[1]["last"]
        sim.pod("shop", "x")
        wait_until(lambda: cond_of(sim.pods()[("shop", "x")]) == "True", 3)
        reqs = sim.api("GET", "/_sim/requests?since=%d" % since)[1]["items"]
        writes_b = [r for r in reqs if "; b)" in r["userAgent"] and r["method"] != "GET"]
        check("the non-leader does not act (no writes from b)", not writes_b, writes_b)
        a.stop(signal.SIGKILL)
        t0 = time.monotonic()
        ok = wait_until(lambda: b.debug()["leader"], 8)
        took = time.monotonic() - t0
        check("failover after the leader is killed: %.1fs (lease 3s + retry 0.5s)" % took,
              ok and took <= 3.0 + 2 * 0.5 + 0.5, took)
        sim.pod("shop", "y")
        check("the new leader acts", wait_until(
            lambda: cond_of(sim.pods()[("shop", "y")]) == "True", 3))
        rc = b.stop()
        st, lease = sim.api("GET", "/apis/coordination.k8s.io/v1/namespaces/default/leases/"
                                   "membudget-controller")
        check("SIGTERM releases the lease and exits 0", rc == 0 and
              lease["spec"]["holderIdentity"] == "", (rc, lease.get("spec")))
    finally:
        sim.stop()


def make_certs(work):
    def sh(*a):
        subprocess.run(a, check=True, capture_output=True)
    ca, key = os.path.join(work, "ca.crt"), os.path.join(work, "ca.key")
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-days", "1", "-subj", "/CN=e2e-ca", "-keyout", key, "-out", ca)
    tk, csr, tc = (os.path.join(work, n) for n in ("tls.key", "tls.csr", "tls.crt"))
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-subj", "/CN=localhost", "-keyout", tk, "-out", csr)
    ext = os.path.join(work, "ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", key, "-CAcreateserial",
       "-days", "1", "-extfile", ext, "-out", tc)
    return ca, tc, tk


def sc_run_all_in_one(work):
    """`membudget run`: the webhook (registered in the simulator, mutating and
    validating) and the controller in one process: a pod is mutated at
    admission (readiness gate, GOMEMLIMIT), then the controller opens its
    gate, then the pod is Ready; a bad pod is denied with the message."""
    sim = Sim(work)
    ca, crt, key = make_certs(work)
    log_path = os.path.join(work, "run.log")
    log = open(log_path, "w")
    p = subprocess.Popen(WRAP + [BIN, "run", "--kubeconfig", sim.kubeconfig, "--tls-cert-file", crt,
                          "--tls-private-key-file", key, "--webhook-bind-address",
                          "127.0.0.1:0", "--metrics-bind-address", "127.0.0.1:0"], stderr=log)
    try:
        def addr(msg):
            for line in open(log_path):
                j = json.loads(line)
                if j.get("msg") == msg:
                    return j["address"]
            return None
        wh = wait_until(lambda: addr("webhook listening"), 10)
        mt = wait_until(lambda: addr("metrics listening"), 10)
        check("run: webhook and metrics listen", bool(wh and mt), open(log_path).read())
        import base64
        cab = base64.b64encode(open(ca, "rb").read()).decode()
        common = {"admissionReviewVersions": ["v1"], "sideEffects": "None",
                  "failurePolicy": "Fail", "timeoutSeconds": 5,
                  "namespaceSelector": {"matchLabels": {"membudget.io/enforce": "true"}},
                  "rules": [{"apiGroups": [""], "apiVersions": ["v1"],
                             "operations": ["CREATE", "UPDATE"], "resources": ["pods"]}]}
        sim.api("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
                {"metadata": {"name": "membudget"}, "webhooks": [dict(
                    common, name="mutate.membudget.io",
                    clientConfig={"url": "https://%s/mutate" % wh, "caBundle": cab})]})
        sim.api("POST", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations",
                {"metadata": {"name": "membudget"}, "webhooks": [dict(
                    common, name="validate.membudget.io",
                    clientConfig={"url": "https://%s/validate" % wh, "caBundle": cab})]})
        sim.ns("shop")
        sim.node()
        st, body = sim.pod("shop", "api", gated=False, budget="150Mi")
        spec = body.get("spec", {}) if isinstance(body, dict) else {}
        env = {e["name"]: e.get("value") for e in spec.get("containers", [{}])[0].get("env", [])}
        check("admission mutated the pod: readiness gate and GOMEMLIMIT", st == 201 and
              {"conditionType": "membudget.io/within-budget"} in spec.get("readinessGates", [])
              and env.get("GOMEMLIMIT") == str(150 * 1024 * 1024), body)
        check("the controller opens the gate and the pod becomes Ready", wait_until(
            lambda: cond_of(sim.pods()[("shop", "api")], "Ready") == "True", 5))
        st, body = sim.pod("shop", "greedy", budget="300Mi")
        check("a pod over its limit is denied with the webhook's message", st == 403 and
              'admission webhook "validate.membudget.io" denied the request' in body["message"]
              and "membudget.io/budget" in body["message"], body)
        text = urllib.request.urlopen("http://%s/metrics" % mt, timeout=5).read()
        if shutil.which("promtool"):
            pc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True)
            # promtool exits 0 for a valid exposition; lint remarks (e.g. a counter's
            # unit) are printed but are not failures.
            check("run: promtool check metrics accepts the exposition", pc.returncode == 0,
                  (pc.stdout + pc.stderr).decode()[-2000:])
        else:
            check("run: promtool check metrics (promtool missing: install Debian's prometheus)",
                  False)
        # SIGTERM with requests in flight: each is answered (with Connection:
        # close), then the process exits 0.
        import ssl as _ssl
        ctx = _ssl.create_default_context(cafile=ca)
        ctx.check_hostname = False
        review = open(os.path.join(ROOT, "test/fixtures/admission/pod-create-good.json"), "rb").read()
        req = (b"POST /validate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % len(review)) + review
        half = len(req) - len(review) // 2
        host, port = wh.rsplit(":", 1)
        socks = []
        for _ in range(5):
            sk = ctx.wrap_socket(socket.create_connection((host, int(port)), timeout=10))
            sk.sendall(req[:half])
            socks.append(sk)
        time.sleep(0.3)
        p.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        answers = []
        for sk in socks:
            sk.sendall(req[half:])
            data = b""
            while b"\r\n\r\n" not in data or len(data) < 200:
                chunk = sk.recv(65536)
                if not chunk:
                    break
                data += chunk
            answers.append(data.decode(errors="replace"))
            sk.close()
        check("run: every request in flight at SIGTERM is answered, with Connection: close",
              all(a.startswith("HTTP/1.1 200") and "Connection: close" in a for a in answers),
              answers)
        check("run: SIGTERM exits 0", p.wait(timeout=15) == 0)
        msgs = [json.loads(l).get("msg") for l in open(log_path) if l.startswith("{")]
        check("run: the webhook drains before the shutdown completes",
              "webhook drained" in msgs and "shutdown complete" in msgs and
              msgs.index("webhook drained") < msgs.index("shutdown complete"), msgs[-6:])
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
        sim.stop()


def sc_certs(work):
    """membudget certs: a Secret with a CA and a serving certificate for the
    Service's names, the CA in both webhook configurations; a second run keeps
    the certificate; a certificate for other names is replaced."""
    import base64
    sim = Sim(work)
    try:
        sim.ns("membudget", governed=False)
        for kind in ("mutating", "validating"):
            sim.api("POST", "/apis/admissionregistration.k8s.io/v1/%swebhookconfigurations" % kind,
                    {"metadata": {"name": "00-membudget"}, "webhooks": [
                        {"name": "a.membudget.io", "admissionReviewVersions": ["v1"],
                         "sideEffects": "None", "clientConfig": {"service": {
                             "namespace": "membudget", "name": "membudget-webhook"}}},
                        {"name": "b.membudget.io", "admissionReviewVersions": ["v1"],
                         "sideEffects": "None", "clientConfig": {"service": {
                             "namespace": "membudget", "name": "membudget-webhook"}}}]})
        args = [BIN, "certs", "--kubeconfig", sim.kubeconfig, "--service", "membudget-webhook",
                "--namespace", "membudget", "--webhook-config", "00-membudget"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=30)
        check("certs: first run creates the Secret and injects the CA", out.returncode == 0 and
              "new certificate" in out.stdout, out.stdout + out.stderr)
        st, sec = sim.api("GET", "/api/v1/namespaces/membudget/secrets/membudget-webhook-tls")
        data = {k: base64.b64decode(v).decode() for k, v in sec.get("data", {}).items()}
        for f in ("ca.crt", "tls.crt", "tls.key"):
            open(os.path.join(work, f), "w").write(data.get(f, ""))
        v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(work, "ca.crt"),
                            os.path.join(work, "tls.crt")], capture_output=True, text=True)
        san = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in",
                              os.path.join(work, "tls.crt")], capture_output=True, text=True)
        check("the Secret is kubernetes.io/tls, its certificate verifies against its CA and "
              "covers the Service names", sec.get("type") == "kubernetes.io/tls" and
              v.returncode == 0 and "membudget-webhook.membudget.svc.cluster.local" in
              san.stdout and "DNS:membudget-webhook.membudget.svc," in san.stdout,
              v.stdout + v.stderr + san.stdout)
        cab = base64.b64encode(data["ca.crt"].encode()).decode()
        ok = True
        for kind in ("mutating", "validating"):
            st, cfg = sim.api("GET", "/apis/admissionregistration.k8s.io/v1/"
                              "%swebhookconfigurations/00-membudget" % kind)
            ok = ok and all(w["clientConfig"].get("caBundle") == cab for w in cfg["webhooks"])
        check("caBundle set on every webhook of both configurations", ok)
        out2 = subprocess.run(args, capture_output=True, text=True, timeout=30)
        st, sec2 = sim.api("GET", "/api/v1/namespaces/membudget/secrets/membudget-webhook-tls")
        check("certs is idempotent: a second run keeps the valid certificate",
              out2.returncode == 0 and "kept" in out2.stdout and "already current" in out2.stdout
              and sec2["data"] == sec["data"], out2.stdout + out2.stderr)
        args3 = [a if a != "membudget-webhook" else "other-svc" for a in args]
        args3 += ["--secret", "membudget-webhook-tls"]
        out3 = subprocess.run(args3, capture_output=True, text=True, timeout=30)
        st, sec3 = sim.api("GET", "/api/v1/namespaces/membudget/secrets/membudget-webhook-tls")
        check("a certificate that does not cover the Service is replaced",
              out3.returncode == 0 and "does not cover" in out3.stdout and
              sec3["data"]["tls.crt"] != sec["data"]["tls.crt"], out3.stdout + out3.stderr)
        args5 = [a if a != "membudget-webhook" else "rsa-svc" for a in args] + [
            "--secret", "rsa-tls", "--key-type", "rsa"]
        out5 = subprocess.run(args5, capture_output=True, text=True, timeout=60)
        st, sec5 = sim.api("GET", "/api/v1/namespaces/membudget/secrets/rsa-tls")
        open(os.path.join(work, "rsa.crt"), "w").write(
            base64.b64decode(sec5.get("data", {}).get("tls.crt", "")).decode())
        txt = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                              os.path.join(work, "rsa.crt")], capture_output=True, text=True)
        check("--key-type rsa gives an RSA 2048 certificate", out5.returncode == 0 and
              "Public-Key: (2048 bit)" in txt.stdout and "rsaEncryption" in txt.stdout,
              out5.stdout + out5.stderr + txt.stderr)
        out4 = subprocess.run(args[:-1] + ["nope"], capture_output=True, text=True, timeout=30)
        check("an unknown webhook configuration is an error", out4.returncode == 1 and
              "no webhook configuration named nope" in out4.stderr, out4.stderr)
    finally:
        sim.stop()


def sc_series_limit(work):
    """--metrics-max-series: past the cap, new series are dropped, counted in
    membudget_metrics_series_dropped_total and logged once per family."""
    sim = Sim(work)
    try:
        sim.ns("shop")
        sim.node()
        for i in range(5):
            sim.pod("shop", "s%d" % i)
            sim.api("POST", "/_sim/podmetrics", {"namespace": "shop", "name": "s%d" % i,
                                                 "containers": {"app": "10Mi"}})
        cfg = os.path.join(work, "c.yaml")
        with open(cfg, "w") as f:
            f.write("sampleInterval: 1s\nusage: {scrapeTimeout: 800ms, allowLoopback: true}\n")
        ctl = Ctl(work, sim, "ctl", "--config", cfg, "--metrics-max-series", "2")
        want = 'membudget_metrics_series_dropped_total{metric="membudget_pod_usage_ratio"}'
        ok = wait_until(lambda: want in ctl.metrics(), 10)
        m = ctl.metrics()
        ratios = [l for l in m.splitlines() if l.startswith("membudget_pod_usage_ratio{")]
        check("--metrics-max-series 2: two usage series kept, the others dropped and counted",
              ok and len(ratios) == 2, m[-1500:])
        wait_until(lambda: False, 2.5)  # two more cycles, each dropping three observations
        lines = [l for l in ctl.logs() if l.get("msg", "").startswith("metric reached its series limit")
                 and l.get("metric") == "membudget_pod_usage_ratio"]
        check("the overflow is logged once per family, not once per sample", len(lines) == 1,
              lines)
        check("SIGTERM: exit 0", ctl.stop() == 0)
    finally:
        sim.stop()


SCENARIOS = [sc_initial_sync_and_gate, sc_changes_seen, sc_bookmarks, sc_gone_relist,
             sc_restart_and_errors, sc_leader_election, sc_run_all_in_one, sc_certs,
             sc_series_limit]


def main():
    global BIN
    BIN = os.path.abspath(sys.argv[1])
    only = sys.argv[2:]
    for sc in SCENARIOS:
        if only and sc.__name__[3:] not in only:
            continue
        print("# " + sc.__name__[3:])
        with tempfile.TemporaryDirectory(prefix="mb-e2e-") as work:
            try:
                sc(work)
            except Exception as e:  # a scenario that crashes is a failure, not a stop
                check(sc.__name__ + " ran to the end", False, repr(e))
            for c in LIVE:
                if c.p.poll() is None:
                    c.p.kill()
                    c.p.wait()
            del LIVE[:]
    return finish("controller e2e")


if __name__ == "__main__":
    sys.exit(main())
