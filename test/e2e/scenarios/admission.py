"""Scenarios: Admission through the real API server: the webhook's rules, the namespaces never governed, the API paths it answers on, its certificates."""
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

@scenario(1)
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


@scenario(5)
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


@scenario(17)
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


@scenario(28)
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
