#!/usr/bin/env python3
"""Webhook and admission policies, side by side on the real API server.

Every admission case of policy_cases.py is sent (a server-side dry run, or a
dry-run patch of an object made before its namespace was governed) twice:
with membudget installed by Helm in admission.mode=webhook, then after
`helm upgrade --set admission.mode=policy` with membudget's Deployment
scaled to zero, so that only the API server's ValidatingAdmissionPolicies
and MutatingAdmissionPolicies can answer. The verdict, membudget's words in
the denial, the warnings and the admitted object must be the same; the
known differences (policy_cases.KNOWN) must be there, as documented. Then
admission.mode=webhook again, and everything made here deleted.

  usage: test/e2e/cluster_policy_diff.py --dir DIR   (membudget installed by Helm)
"""
import argparse
import base64
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, wait_until, finish  # noqa: E402
import kube  # noqa: E402
from kube import ROOT, helm  # noqa: E402
import injector  # noqa: E402
import policy_cases  # noqa: E402

P = "pd-"  # namespace prefix
ROLES = {"shop": {}, "trial": {"membudget.io/admission": "audit"}, "lr": {},
         "early": {"mesh-injection": "early"}, "late": {"mesh-injection": "late"}, "upd": None}
PLURAL = {"Pod": "pods", "Deployment": "deployments", "StatefulSet": "statefulsets",
          "DaemonSet": "daemonsets", "ReplicaSet": "replicasets", "Job": "jobs", "CronJob": "cronjobs",
          "ReplicationController": "replicationcontrollers"}


def kubectl(*args, stdin=None, ok=True, timeout=600):
    """kube.kubectl, with room for the waits this suite asks kubectl for."""
    return kube.kubectl(*args, stdin=stdin, ok=ok, timeout=timeout)


class Api:
    """The admin's calls to the API server: status, body, the warnings."""

    def __init__(self, d):
        with open(os.path.join(d, "kubeconfig")) as f:
            self.server = [l.split()[-1] for l in f if "server:" in l][0]
        self.ctx = ssl.create_default_context(cafile=os.path.join(d, "pki", "ca.crt"))
        self.ctx.load_cert_chain(os.path.join(d, "pki", "admin.crt"), os.path.join(d, "pki", "admin.key"))

    def call(self, method, path, body=None, ctype="application/json"):
        req = urllib.request.Request(self.server + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
        req.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null"), warnings(r.headers)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"message": raw.decode(errors="replace")}
            return e.code, body, warnings(e.headers)


def warnings(headers):
    out = []
    for w in headers.get_all("Warning") or []:
        m = re.match(r'^\d{3} \S+ "(.*)"$', w, re.S)
        out.append(re.sub(r'\\(.)', r'\1', m.group(1)) if m else w)
    return out


def path_of(obj, ns, name=None, sub=None):
    group = obj["apiVersion"]
    base = "/api/v1" if group == "v1" else "/apis/" + group
    p = "%s/namespaces/%s/%s" % (base, ns, PLURAL[obj["kind"]])
    if name:
        p += "/" + name
    if sub:
        p += "/" + sub
    return p


# What may differ without meaning anything: the API server's own words
# around membudget's, and what it makes up for each object.
POLICY_WARN = re.compile(r"^Validation failed for ValidatingAdmissionPolicy '[^']*' with binding '[^']*': ")


def ours(message):
    m = re.search(r"denied (?:the )?request: (.*)$", message or "", re.S)
    return m.group(1) if m else message


def normal(obj):
    if not isinstance(obj, dict):
        return obj
    # names and uids the API server makes up anew each time
    text = re.sub(r"kube-api-access-[a-z0-9]{5}", "kube-api-access-*", json.dumps(obj))
    obj = json.loads(re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uid>", text))
    meta = obj.get("metadata", {})
    for k in ("uid", "creationTimestamp", "resourceVersion", "managedFields", "generation"):
        meta.pop(k, None)
    if meta.get("generateName"):
        meta.pop("name", None)
    obj.pop("status", None)
    return obj


def send(api, role, op, obj, change):
    ns = P + role
    if op == "create":
        s, body, w = api.call("POST", path_of(obj, ns) + "?dryRun=All&fieldValidation=Strict", obj)
    else:
        s, body, w = api.call("PATCH", path_of(obj, ns, obj["metadata"]["name"],
                                               "resize" if op == "resize" else None) + "?dryRun=All",
                              change, "application/strategic-merge-patch+json")
    allowed = s in (200, 201)
    gen = obj["metadata"].get("generateName")

    def same_name(text):  # the name the API server made up, the same each time
        return re.sub(re.escape(gen) + "[a-z0-9]{5}", gen + "*", text) if gen and text else text
    return {"allowed": allowed, "status": s,
            "message": None if allowed else same_name(ours(body.get("message") if isinstance(body, dict) else body)),
            "warnings": [same_name(POLICY_WARN.sub("", x)) for x in w],
            "object": normal(body) if allowed else None}


def run_all(api, cases):
    return [send(api, role, op, obj, change) for (_, role, op, obj, change) in cases]


# --- the sidecar injector (test/e2e/injector.py) ---------------------------------------

def start_injector(work):
    subprocess.run(["bash", "-c", '. "$1/test/certs.sh" && test_certs "$2" injector-ca', "-", ROOT, work],
                   check=True)
    srv = injector.serve(os.path.join(work, "tls.crt"), os.path.join(work, "tls.key"))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ca = base64.b64encode(open(os.path.join(work, "ca.crt"), "rb").read()).decode()
    for when, name in (("early", "0-injector"), ("late", "istio-sidecar-injector")):
        cfg = {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
               "metadata": {"name": name},
               "webhooks": [{"name": "inject.mesh.example", "admissionReviewVersions": ["v1"],
                             "sideEffects": "None", "failurePolicy": "Fail", "reinvocationPolicy": "Never",
                             "clientConfig": {"url": "https://127.0.0.1:%d/inject" % srv.server_address[1],
                                              "caBundle": ca},
                             "namespaceSelector": {"matchLabels": {"mesh-injection": when}},
                             "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                                        "resources": ["pods"]}]}]}
        kubectl("apply", "-f", "-", stdin=json.dumps(cfg))
    return srv


# --- the namespaces ------------------------------------------------------------------------

def make_namespaces(api):
    for role, labels in ROLES.items():
        ns = P + role
        if kubectl("get", "namespace", ns, ok=False).returncode == 0:
            kubectl("delete", "namespace", ns, "--wait=true", "--timeout=180s", ok=False)
        all_labels = {"membudget.io/enforce": "true"}
        all_labels.update(labels or {})
        kubectl("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "labels": all_labels if labels is not None else {}}}))
        wait_until(lambda: kubectl("-n", ns, "get", "serviceaccount", "default", ok=False).returncode == 0, 60, 0.2)
    kubectl("apply", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "defaults", "namespace": P + "lr"},
        "spec": {"limits": [{"type": "Container", "default": {"memory": "512Mi"}}]}}))
    # The objects that updates change, made before membudget governed them.
    for obj in policy_cases.UPD.values():
        s, body, _ = api.call("POST", path_of(obj, P + "upd"), obj)
        if s not in (200, 201):
            raise OSError("creating %s: %s" % (obj["metadata"]["name"], body))
    kubectl("label", "namespace", P + "upd", "membudget.io/enforce=true")


def answered_by(api, who):
    """Is admission answered by `who` (webhook or policy): a pod with a
    budget that is no quantity denied, and a valid pod mutated, by it."""
    bad = policy_cases.pod("probe", ann=policy_cases.budgeted("bogus"))
    s, body, _ = api.call("POST", path_of(bad, P + "shop") + "?dryRun=All", bad)
    msg = body.get("message", "") if isinstance(body, dict) else ""
    want = "admission webhook" if who == "webhook" else "ValidatingAdmissionPolicy"
    if s == 201 or want not in msg or ("admission webhook" in msg) != (who == "webhook"):
        return False
    good = policy_cases.pod("probe", ann=policy_cases.budgeted())
    s, body, _ = api.call("POST", path_of(good, P + "shop") + "?dryRun=All", good)
    return s == 201 and any(e.get("name") == "GOMEMLIMIT" for e in body["spec"]["containers"][0].get("env", []))


def membudget_pods():
    p = kubectl("-n", "membudget", "get", "pods", "-l", "app.kubernetes.io/name=membudget", "-o", "name", ok=False)
    return p.stdout.split()


def both_modes(api, chart, sets, cases):
    """The cases through the webhooks, then through the policies with
    membudget at zero; the helm --set values for both."""
    sets = [x for kv in sets for x in ("--set", kv)]
    helm("upgrade", "membudget", chart, "-n", "membudget", "--reuse-values", "--set", "admission.mode=webhook",
         *sets, "--wait", "--timeout", "5m")
    what = " (%s)" % ", ".join(sets[1::2]) if sets else ""
    check("admission is answered by membudget's webhooks (admission.mode=webhook%s)" % what,
          wait_until(lambda: answered_by(api, "webhook"), 120, 0.5))
    hook = run_all(api, cases)
    helm("upgrade", "membudget", chart, "-n", "membudget", "--reuse-values", "--set", "admission.mode=policy",
         *sets, "--wait", "--timeout", "5m")
    kubectl("-n", "membudget", "scale", "deploy", "membudget", "--replicas", "0")
    check("admission.mode=policy: no webhook configuration of membudget's is left",
          kubectl("get", "validatingwebhookconfiguration,mutatingwebhookconfiguration",
                  "-l", "app.kubernetes.io/name=membudget", "-o", "name").stdout.strip() == "")
    check("membudget scaled to zero: none of its pods is left",
          wait_until(lambda: membudget_pods() == [], 180, 1), membudget_pods())
    check("admission is answered by the API server's own policies, with membudget down%s" % what,
          wait_until(lambda: answered_by(api, "policy"), 60, 0.5))
    return hook, run_all(api, cases)


def both_at_once(api, chart):
    """admission.mode=both: the policies and the webhooks both answer, and a
    pod is changed once (the webhook, after the policy, finds GOMEMLIMIT,
    the gate and the pin there and adds nothing)."""
    helm("upgrade", "membudget", chart, "-n", "membudget", "--reuse-values", "--set", "admission.mode=both",
         *[x for kv in policy_cases.ROUND2_RESET for x in ("--set", kv)], "--wait", "--timeout", "5m")
    cfgs = kubectl("get", "validatingwebhookconfiguration,mutatingwebhookconfiguration,validatingadmissionpolicy,"
                   "mutatingadmissionpolicy", "-l", "app.kubernetes.io/name=membudget", "-o", "name").stdout.split()
    # (membudget-writes, the guard on membudget's own pod writes, is there in every mode)
    cfgs = [c for c in cfgs if not c.endswith("/membudget-writes")]
    check("admission.mode=both: the webhooks and the policies are installed (%d objects)" % len(cfgs),
          len(cfgs) == 6, cfgs)

    def once():
        good = policy_cases.pod("both", ann=policy_cases.budgeted())
        s, body, w = api.call("POST", path_of(good, P + "shop") + "?dryRun=All", good)
        if s != 201:
            return None
        c = body["spec"]["containers"][0]
        return ([e["value"] for e in c.get("env", []) if e["name"] == "GOMEMLIMIT"],
                [g["conditionType"] for g in body["spec"].get("readinessGates", [])],
                body["metadata"]["annotations"].get("membudget.io/container"), w)
    got = wait_until(once, 120, 1)
    check("... a pod is changed once: one GOMEMLIMIT, one readiness gate, the pin, no warning",
          got == (["805306368"], ["membudget.io/within-budget"], "app", []), got)
    bad = policy_cases.pod("both", ann=policy_cases.budgeted("2Gi"))
    s, body, _ = api.call("POST", path_of(bad, P + "shop") + "?dryRun=All", bad)
    check("... and a budget above the limit is denied, in membudget's words",
          s == 403 and '"2Gi": exceeds the memory limit 1Gi' in body.get("message", ""), body)


def compare(cases, hook, pol, expect, min_denied, min_mutated):
    same = denied = mutated = 0
    for (name, role, op, obj, change), a, b in zip(cases, hook, pol):
        if name in policy_cases.KNOWN:
            reason, holds = policy_cases.KNOWN[name]
            check("a known difference: " + reason, a != b and holds(a, b),
                  "webhook: %s\n       policy:  %s" % (compact(a), compact(b)))
            continue
        if a == b:
            same += 1
            denied += not a["allowed"]
            mutated += a["allowed"] and changed(a["object"], obj)
        check("%s (%s, %s): the same verdict, message, warnings and object" % (name, role, op), a == b,
              "webhook: %s\n       policy:  %s" % (compact(a), compact(b)))
        if name in expect:
            allowed, words = expect[name]
            said = (a["message"] or "") + "\n".join(a["warnings"])
            check("... and it is %s%s" % ("admitted" if allowed else "denied", ", saying " + repr(words) if words else ""),
                  a["allowed"] == allowed and words in said, compact(a))
        if name in policy_cases.ROUND2_BUDGET:
            want = policy_cases.ROUND2_BUDGET[name]
            o = a["object"] or {}
            got = ((o.get("metadata", {}).get("annotations") or {}).get("membudget.io/budget"),
                   [e.get("value") for c in o.get("spec", {}).get("containers", []) for e in c.get("env") or []
                    if e.get("name") == "GOMEMLIMIT"], o.get("spec", {}).get("readinessGates"))
            check("... admitted with the budget %s, GOMEMLIMIT=%s, no readiness gate" % want,
                  got == (want[0], [want[1]], None), got)
        if name in policy_cases.PINNED:
            check("... pinned to %s" % policy_cases.PINNED[name],
                  a["allowed"] and policy_cases.pinned(a["object"]) == policy_cases.PINNED[name], compact(a))
    check("the cases are not vacuous: %d the same, %d of them denied, %d changed by admission" % (same, denied, mutated),
          denied >= min_denied and mutated >= min_mutated)


def changed(admitted, given):
    """Did membudget's admission change the object: a pin, a budget, a
    GOMEMLIMIT or the readiness gate that the given object did not have?"""
    def marks(o):
        spec = o.get("spec", {})
        t = spec.get("jobTemplate", {}).get("spec", {}).get("template") or spec.get("template") or o
        ann = (t.get("metadata") or {}).get("annotations") or {}
        ts = t.get("spec", {})
        return (ann.get("membudget.io/container"), ann.get("membudget.io/budget"),
                sum(e.get("name") == "GOMEMLIMIT" for c in ts.get("containers", []) + ts.get("initContainers", [])
                    for e in c.get("env") or []),
                sum(g.get("conditionType") == "membudget.io/within-budget" for g in ts.get("readinessGates") or []))
    return marks(admitted) != marks(given)


def compact(o):
    return json.dumps(o, sort_keys=True)[:1500]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    args = ap.parse_args()
    kube.use_dir(args.dir)
    api = Api(args.dir)
    chart = os.path.join(ROOT, "charts", "membudget")
    work = tempfile.mkdtemp(prefix="mb-policydiff.")
    start_injector(work)
    make_namespaces(api)
    try:
        # Round 1: the admission config of the e2e suite (the defaults).
        hook, pol = both_modes(api, chart, [], policy_cases.CASES)
        compare(policy_cases.CASES, hook, pol, policy_cases.EXPECT, 40, 15)
        # Round 2: a default budget of 75% of the limit, no readiness gate.
        hook, pol = both_modes(api, chart, policy_cases.ROUND2_SETS, policy_cases.ROUND2)
        compare(policy_cases.ROUND2, hook, pol, policy_cases.ROUND2_EXPECT, 2, 4)
        both_at_once(api, chart)
    finally:
        helm("upgrade", "membudget", chart, "-n", "membudget", "--reuse-values", "--set", "admission.mode=webhook",
             *[x for kv in policy_cases.ROUND2_RESET for x in ("--set", kv)], "--wait", "--timeout", "5m")
    check("admission.mode=webhook again: the webhooks answer",
          wait_until(lambda: answered_by(api, "webhook"), 120, 0.5))
    for n in ("0-injector", "istio-sidecar-injector"):
        kubectl("delete", "mutatingwebhookconfiguration", n, "--ignore-not-found", ok=False)
    kubectl("delete", "namespace", *[P + r for r in ROLES], "--wait=false", "--ignore-not-found", ok=False)
    return finish("policy differential")


if __name__ == "__main__":
    sys.exit(main())
