"""The admission cases of the end-to-end suite, as data: what
cluster_policy_diff.py sends once through membudget's webhook and once
through its admission policies (`membudget policy render`).

A case: (name, namespace role, operation, object[, change]). Roles are the
namespaces cluster_policy_diff.py makes: shop (enforce), trial (audit), lr
(enforce, a LimitRange giving 512Mi), early and late (enforce, a sidecar
injector whose webhook runs before or after membudget's), upd (enforce; the
objects that UPDATE cases change were made before it was governed).
Operations: create (a server-side dry run), update (a dry-run merge patch
of the object made first), resize (a dry-run patch of pods/resize).

KNOWN: the cases where the two must differ, each with why; the suite checks
that they differ as said, so a difference that goes away is seen too.
"""
import copy

BUDGET = "membudget.io/budget"


def ctr(name="app", limit="1Gi", ports=None, env=None, **kw):
    c = {"name": name, "image": "shop/" + name}
    if limit is not None:
        c["resources"] = {"limits": {"memory": limit}}
    if ports:
        c["ports"] = ports
    if env is not None:
        c["env"] = env
    c.update(kw)
    return c


def pod(name="web", ann=None, containers=None, init=None, gates=None, generate=False, labels=None):
    meta = {"annotations": dict(ann)} if ann is not None else {}
    if generate:
        meta["generateName"] = name + "-"
    else:
        meta["name"] = name
    if labels:
        meta["labels"] = labels
    spec = {"containers": containers if containers is not None else [ctr()],
            # never scheduled: these pods are admitted, not run
            "schedulingGates": [{"name": "membudget.test/never"}]}
    if init:
        spec["initContainers"] = init
    if gates:
        spec["readinessGates"] = gates
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def budgeted(budget="768Mi", **ann):
    a = {BUDGET: budget}
    a.update({"membudget.io/" + k.replace("_", "-"): v for k, v in ann.items()})
    return a


def template(p):
    t = copy.deepcopy(p)
    t["metadata"].pop("name", None)
    t["metadata"]["labels"] = {"app": "web"}
    t["spec"].pop("schedulingGates", None)
    return {"metadata": t["metadata"], "spec": t["spec"]}


def workload(kind, p, name="web"):
    t = template(p)
    group = {"Job": "batch/v1", "CronJob": "batch/v1", "ReplicationController": "v1"}.get(kind, "apps/v1")
    meta = {"name": name}
    if kind == "Job":
        t["spec"]["restartPolicy"] = "Never"
        spec = {"template": t, "suspend": True}
    elif kind == "CronJob":
        t["spec"]["restartPolicy"] = "Never"
        spec = {"schedule": "0 0 * * *", "suspend": True, "jobTemplate": {"spec": {"template": t}}}
    elif kind == "ReplicationController":
        spec = {"replicas": 0, "selector": {"app": "web"}, "template": t}
    elif kind == "DaemonSet":
        spec = {"selector": {"matchLabels": {"app": "web"}}, "template": t}
    else:
        spec = {"replicas": 0, "selector": {"matchLabels": {"app": "web"}}, "template": t}
        if kind == "StatefulSet":
            spec["serviceName"] = "web"
    return {"apiVersion": group, "kind": kind, "metadata": meta, "spec": spec}


def pinned(obj):
    """The container an admitted object is pinned to (its template's), or None."""
    t = obj or {}
    spec = t.get("spec", {})
    t = spec.get("jobTemplate", {}).get("spec", {}).get("template") or spec.get("template") or t
    return (t.get("metadata", {}).get("annotations") or {}).get("membudget.io/container")


HTTP = [{"name": "http", "containerPort": 6060}]
CASES = []


def case(name, role, op, obj, change=None):
    CASES.append((name, role, op, obj, change))


# --- pods: the budget ---------------------------------------------------------------
case("a valid pod: pinned, GOMEMLIMIT, the readiness gate", "shop", "create", pod(ann=budgeted()))
case("no budget", "shop", "create", pod(ann={}))
case("no annotations at all", "shop", "create", pod())
case("a budget without a memory limit", "shop", "create", pod(ann=budgeted(), containers=[ctr(limit=None)]))
case("no budget and no limit", "shop", "create", pod(ann={}, containers=[ctr(limit=None)]))
case("a budget above the limit", "shop", "create", pod(ann=budgeted("2Gi")))
case("a budget equal to the limit", "shop", "create", pod(ann=budgeted("1Gi")))
case("a budget in decimal units", "shop", "create", pod(ann=budgeted("500M")))
case("a fractional budget (rounds up to a byte)", "shop", "create", pod(ann=budgeted("0.5")))
case("a budget with an exponent", "shop", "create", pod(ann=budgeted("5e8")))
# A large pod: 60000 environment variables (2 MB). The same verdict and
# object both ways; its cost through the policies: README.
case("a pod with 60000 environment variables", "shop", "create",
     pod(ann=budgeted(), containers=[ctr(env=[{"name": "V%d" % i, "value": "x"} for i in range(60000)])]))
# Fractional quantities that are whole numbers of bytes: never rounded up
# (the policies' isInteger() is false for them: 0.5Gi gave GOMEMLIMIT=536870913,
# and 1.5Gi under a 1.5Gi limit was denied).
for b, l in [("0.5Gi", "0.5Gi"), ("1.5Gi", "1.5Gi"), ("0.25Gi", "256Mi"), ("0.5Gi", "512Mi"),
             ("1.5G", "1.5G"), ("2.5Mi", "2.5Mi"), ("1.5Gi", "1536Mi"), ("0.5Gi", "0.25Gi")]:
    case("a budget of %s under a limit of %s" % (b, l), "shop", "create",
         pod(ann=budgeted(b), containers=[ctr(limit=l)]))
for v in ["768MiB", "-1Gi", "0", "", "1.5.5", "1e", "1e+", "1ex", "abc", "99999999999999999999",
          "1" * 65, "+.", "12 Mi"]:
    case("a budget of %r" % v, "shop", "create", pod(ann=budgeted(v)))

# --- tiers, usage, mode, unknown annotations -----------------------------------------
for v in ["throttle=80,gc=90,evict=95", "gc=90,throttle=95", "throttle=80,foo=90",
          "throttle=80,throttle=90", "throttle=0", "throttle=101", "throttle", " throttle = 80 , gc=90",
          "throttle=80,", "evict=95", "gc=9x", "averyveryveryveryverylongtiername-more-than-32=5"]:
    case("tiers %r" % v, "shop", "create", pod(ann=budgeted(tiers=v)))
case("usage heap without metrics", "shop", "create", pod(ann=budgeted(usage="heap")))
case("usage rss from expvar", "shop", "create",
     pod(ann=budgeted(usage="rss", metrics="6060/debug/vars"), containers=[ctr(ports=HTTP)]))
case("usage heap with metrics", "shop", "create",
     pod(ann=budgeted(usage="heap", metrics="6060/metrics"), containers=[ctr(ports=HTTP)]))
case("usage bogus", "shop", "create", pod(ann=budgeted(usage="bogus")))
case("mode dry-run", "shop", "create", pod(ann=budgeted(mode="dry-run")))
case("mode bogus, quoted with escapes", "shop", "create", pod(ann=budgeted(mode='a"b\\c\nd\te')))
case("a value longer than 64 characters, quoted", "shop", "create", pod(ann=budgeted(usage="u" * 80)))
case("an unknown membudget.io annotation", "shop", "create",
     pod(ann=dict(budgeted(), **{"membudget.io/bogus": "x", "membudget.io/zzz": "y", "other.io/x": "z"})))

# --- the resize tier's ceiling (issue 25) ----------------------------------------------
for v in ["2Gi", "1Gi", "512Mi", "0", "lots", "1.5Gi"]:
    case("max-limit %r" % v, "shop", "create", pod(ann=dict(budgeted(), **{"membudget.io/max-limit": v})))

# --- periodic baselines (issue 34): C and CEL agree on the duration's form and bounds ---
for v in ["30m", "1h30m15s", "24h", "59s", "24h1s", "30m1h", "1.5h", "000001h", "", "99999h"]:
    case("baseline-every %r" % v, "shop", "create", pod(ann=dict(budgeted(), **{"membudget.io/baseline-every": v})))

# --- endpoints -------------------------------------------------------------------------
for v, ports in [("6060/metrics", HTTP), ("9090/metrics", HTTP), ("http/metrics", HTTP),
                 ("nope/metrics", HTTP), ("0/x", HTTP), ("70000/x", HTTP), ("/x", HTTP), ("nope", HTTP),
                 ("Bad_Name/x", HTTP), ("6060/a b", HTTP), ("6060/" + "p" * 300, HTTP),
                 ("53/x", [{"name": "dns", "containerPort": 53, "protocol": "UDP"}]),
                 ("dns/x", [{"name": "dns", "containerPort": 53, "protocol": "UDP"}])]:
    case("metrics %r" % v[:40], "shop", "create", pod(ann=budgeted(metrics=v), containers=[ctr(ports=ports)]))
case("gc, profile, goroutines, memlimit on declared and undeclared ports", "shop", "create",
     pod(ann=budgeted(gc="6060/debug/gc", profile="7070/debug/pprof/heap", goroutines="http/x",
                      memlimit="8080/debug/memlimit"), containers=[ctr(ports=HTTP)]))
case("throttle none: no readiness gate", "shop", "create", pod(ann=budgeted(throttle="none")))
case("throttle by endpoint: no readiness gate", "shop", "create",
     pod(ann=budgeted(throttle="6060/throttle"), containers=[ctr(ports=HTTP)]))
case("throttle on an undeclared port", "shop", "create", pod(ann=budgeted(throttle="9999/throttle")))
case("throttle bogus", "shop", "create", pod(ann=budgeted(throttle="bogus")))

# --- the target container ----------------------------------------------------------------
two = [ctr("proxy", "256Mi"), ctr("app")]
case("two containers, none named: the first, with a warning", "shop", "create", pod(ann=budgeted("200Mi"), containers=two))
case("the second container, named", "shop", "create", pod(ann=budgeted(container="app"), containers=two))
case("a container that does not exist", "shop", "create", pod(ann=budgeted(container="nope"), containers=two))
case("a container name that is not a DNS label", "shop", "create", pod(ann=budgeted(container="App_1"), containers=two))
case("kubectl's default container", "shop", "create",
     pod(ann=dict(budgeted(), **{"kubectl.kubernetes.io/default-container": "app"}), containers=two))
case("kubectl's default container, missing: a warning", "shop", "create",
     pod(ann=dict(budgeted("200Mi"), **{"kubectl.kubernetes.io/default-container": "gone"}), containers=two))
case("an init container that runs to completion", "shop", "create",
     pod(ann=budgeted(container="setup"), init=[ctr("setup", "64Mi")]))
case("a native sidecar", "shop", "create",
     pod(ann=budgeted("100Mi", container="agent"), init=[ctr("agent", "128Mi", restartPolicy="Always")]))

# --- GOMEMLIMIT, env, gates ------------------------------------------------------------------
for v in ["1GiB", "500MiB", "off", "805306368", "99999999999999999999"]:
    case("GOMEMLIMIT %s already set" % v, "shop", "create",
         pod(ann=budgeted(), containers=[ctr(env=[{"name": "GOMEMLIMIT", "value": v}])]))
case("other env: GOMEMLIMIT appended", "shop", "create",
     pod(ann=budgeted(), containers=[ctr(env=[{"name": "A", "value": "1"}])]))
case("another readiness gate: ours appended", "shop", "create",
     pod(ann=budgeted(), gates=[{"conditionType": "example.com/ready"}]))
case("our readiness gate already there", "shop", "create",
     pod(ann=budgeted(), gates=[{"conditionType": "membudget.io/within-budget"}]))
case("the container already pinned", "shop", "create", pod(ann=budgeted(container="app")))
case("generateName: the label says web-*", "shop", "create", pod(ann={}, generate=True))
case("every rule broken at once", "shop", "create",
     pod(ann={BUDGET: "2Gi", "membudget.io/tiers": "gc=90,throttle=95", "membudget.io/metrics": "9090/metrics",
              "membudget.io/bogus": "x", "membudget.io/usage": "heap", "membudget.io/mode": "x"}))

# --- workloads ------------------------------------------------------------------------------
for kind in ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "ReplicationController"]:
    case("%s: valid, its template pinned" % kind, "shop", "create", workload(kind, pod(ann=budgeted())))
    case("%s: a budget above the limit" % kind, "shop", "create", workload(kind, pod(ann=budgeted("2Gi"))))
    case("%s: no budget" % kind, "shop", "create", workload(kind, pod(ann={})))
case("a Deployment with an endpoint on an undeclared port", "shop", "create",
     workload("Deployment", pod(ann=budgeted(metrics="9090/metrics"))))
owned = workload("ReplicaSet", pod(ann=budgeted()))
owned["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                         "uid": "00000000-0000-0000-0000-000000000001", "controller": True}]
case("a ReplicaSet a Deployment controls: not pinned", "shop", "create", owned)
case("a Deployment whose template has no metadata", "shop", "create",
     {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bare"},
      "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
               "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [ctr()]}}}})

# --- audit mode --------------------------------------------------------------------------------
case("audit: every rule broken, admitted with warnings", "trial", "create",
     pod(ann={BUDGET: "2Gi", "membudget.io/tiers": "gc=90,throttle=95", "membudget.io/bogus": "x"}))
case("audit: no budget", "trial", "create", pod(ann={}))
case("audit: a valid pod is mutated", "trial", "create", pod(ann=budgeted()))
case("audit: a Deployment above its limit", "trial", "create", workload("Deployment", pod(ann=budgeted("2Gi"))))

# --- LimitRange defaults (the LimitRanger plugin runs before either) --------------------------
case("LimitRange: a pod without a limit gets 512Mi", "lr", "create", pod(ann=budgeted("256Mi"), containers=[ctr(limit=None)]))
case("LimitRange: a budget above the default it gets", "lr", "create", pod(ann=budgeted("1Gi"), containers=[ctr(limit=None)]))

# --- sidecar injectors ---------------------------------------------------------------------------
case("an injector after membudget's: pinned before it", "late", "create", pod(ann=budgeted()))
case("an injector after membudget's, the proxy budgeted by name", "late", "create",
     pod(ann=budgeted("200Mi", container="istio-proxy")))
case("an injector before membudget's, the app named", "early", "create",
     pod(ann=dict(budgeted(), **{"kubectl.kubernetes.io/default-container": "app"})))

# --- updates and resizes (objects made before the namespace was governed) ---------------------
UPD = {
    "legacy": pod("legacy", ann={}),
    "budgeted": pod("budgeted", ann=budgeted()),
    "legacy-deploy": workload("Deployment", pod(ann={}), "legacy-deploy"),
    "unpinned": workload("Deployment", pod(ann=budgeted()), "unpinned"),
}
case("update: a budget removed", "upd", "update", UPD["budgeted"],
     {"metadata": {"annotations": {BUDGET: None}}})
case("update: a budget raised above the limit", "upd", "update", UPD["budgeted"],
     {"metadata": {"annotations": {BUDGET: "2Gi"}}})
case("update: a label on a pod that predates membudget", "upd", "update", UPD["legacy"],
     {"metadata": {"labels": {"touched": "yes"}}})
case("update: a budget added to a pod that predates membudget", "upd", "update", UPD["legacy"],
     {"metadata": {"annotations": {BUDGET: "768Mi"}}})
case("update: a Deployment that predates membudget scaled", "upd", "update", UPD["legacy-deploy"],
     {"spec": {"replicas": 1}})
case("update: its template changed, still without a budget", "upd", "update", UPD["legacy-deploy"],
     {"spec": {"template": {"metadata": {"labels": {"v": "2"}}}}})
case("update: an unpinned Deployment scaled: not pinned", "upd", "update", UPD["unpinned"],
     {"spec": {"replicas": 1}})
case("update: an unpinned Deployment's template changed: pinned", "upd", "update", UPD["unpinned"],
     {"spec": {"template": {"metadata": {"labels": {"v": "2"}}}}})
case("resize: the limit below the budget", "upd", "resize", UPD["budgeted"],
     {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "512Mi"},
                                                             "requests": {"memory": "512Mi"}}}]}})
case("resize: the limit raised", "upd", "resize", UPD["budgeted"],
     {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "2Gi"}}}]}})

# What some cases must answer (in both modes), so that equality is not
# reached by both failing the same way: allowed, and words in the denial
# or the warnings.
EXPECT = {
    "a valid pod: pinned, GOMEMLIMIT, the readiness gate": (True, ""),
    "update: a budget removed": (False, "metadata.annotations[membudget.io/budget]: may not be removed by an update"),
    "update: a budget raised above the limit": (False, '"2Gi": exceeds the memory limit 1Gi'),
    "update: a label on a pod that predates membudget":
        (True, "required: every pod in a namespace governed by membudget must declare a memory budget, "
               'e.g. membudget.io/budget: "768Mi" (not new in this update, so not refused)'),
    "update: a Deployment that predates membudget scaled": (True, "(not new in this update, so not refused)"),
    "update: an unpinned Deployment's template changed: pinned": (True, ""),
    "resize: the limit below the budget":
        (False, 'metadata.annotations[membudget.io/budget]: "768Mi": exceeds the memory limit 512Mi'),
    "resize: the limit raised": (True, ""),
    "audit: every rule broken, admitted with warnings": (True, "membudget (audit, would deny): Pod pd-trial/web: "),
    "GOMEMLIMIT 1GiB already set": (True, "1GiB is above the budget 768Mi"),
    "LimitRange: a budget above the default it gets": (False, '"1Gi": exceeds the memory limit 512Mi'),
    "an injector after membudget's: pinned before it": (True, ""),
}
PINNED = {  # the container each of these is admitted pinned to
    "a valid pod: pinned, GOMEMLIMIT, the readiness gate": "app",
    "update: an unpinned Deployment's template changed: pinned": "app",
    "update: an unpinned Deployment scaled: not pinned": None,
    "a ReplicaSet a Deployment controls: not pinned": None,
    "an injector after membudget's: pinned before it": "app",
    "a native sidecar": "agent",
}

# --- where the two differ, and why -----------------------------------------------------------------
KNOWN = {}
LR_TEMPLATE = ("LimitRange: a Deployment without a limit: the webhook names the LimitRange that gives "
               "its pods one; CEL cannot read LimitRanges, so the policy says it is assumed")
case("LimitRange: a Deployment without a limit", "lr", "create",
     workload("Deployment", pod(ann=budgeted("256Mi"), containers=[ctr(limit=None)])))
KNOWN["LimitRange: a Deployment without a limit"] = (
    LR_TEMPLATE, lambda a, b: a["allowed"] and b["allowed"] and a["object"] == b["object"])
NO_LR = ("no LimitRange: a Deployment without a limit is denied by the webhook (it knows no LimitRange "
         "of the namespace gives one), admitted with a warning by the policy (its pods are denied)")
case("no LimitRange: a Deployment with a budget and no limit", "shop", "create",
     workload("Deployment", pod(ann=budgeted(), containers=[ctr(limit=None)])))
KNOWN["no LimitRange: a Deployment with a budget and no limit"] = (
    NO_LR, lambda a, b: not a["allowed"] and b["allowed"])
EARLY = ("an injector before membudget's, nothing names the app: the webhook sees the proxy first and "
         "budgets it; the policies run before every mutating webhook and pin the app")
case("an injector before membudget's, nothing names the app", "early", "create", pod(ann=budgeted()))
KNOWN["an injector before membudget's, nothing names the app"] = (
    EARLY, lambda a, b: not a["allowed"] and b["allowed"] and pinned(b["object"]) == "app")

# --- round 2: a default budget (75% of the limit), no readiness gate -------------------------
ROUND2_SETS = ["config.admission.defaultBudgetPercentOfLimit=75", "config.admission.injectReadinessGate=false"]
ROUND2_RESET = ["config.admission.defaultBudgetPercentOfLimit=0", "config.admission.injectReadinessGate=true"]
ROUND2 = []
for limit, want in [("1Gi", "768Mi"), ("1000M", "750M"), ("1001", "750"), ("7Gi", "5376Mi")]:
    ROUND2.append(("a default budget: 75%% of %s is %s" % (limit, want), "shop", "create",
                   pod(ann={}, containers=[ctr(limit=limit)]), None))
ROUND2 += [
    ("a default budget: no limit, so none", "shop", "create", pod(ann={}, containers=[ctr(limit=None)]), None),
    ("a default budget: a given budget is kept", "shop", "create", pod(ann=budgeted("512Mi")), None),
    ("a default budget: a Deployment is pinned, its template gets no budget", "shop", "create",
     workload("Deployment", pod(ann={})), None),
    ("a default budget: an audit namespace", "trial", "create", pod(ann={}), None),
    ("a default budget: GOMEMLIMIT already above it", "shop", "create",
     pod(ann={}, containers=[ctr(env=[{"name": "GOMEMLIMIT", "value": "1GiB"}])]), None),
    ("a default budget: a budget of 0 is not defaulted", "shop", "create", pod(ann=budgeted("0")), None),
]
ROUND2_EXPECT = {
    "a default budget: 75% of 1Gi is 768Mi": (True, ""),
    "a default budget: no limit, so none":
        (False, "must declare a memory budget, e.g. membudget.io/budget: \"768Mi\" (no default: the container has no memory limit)"),
    "a default budget: GOMEMLIMIT already above it": (True, "1GiB is above the budget 768Mi"),
    "a default budget: a budget of 0 is not defaulted": (False, '"0": must be greater than 0'),
}
ROUND2_BUDGET = {  # the budget each is admitted with, and its GOMEMLIMIT
    "a default budget: 75% of 1Gi is 768Mi": ("768Mi", "805306368"),
    "a default budget: 75% of 1000M is 750M": ("750M", "750000000"),
    "a default budget: 75% of 1001 is 750": ("750", "750"),
    "a default budget: 75% of 7Gi is 5376Mi": ("5376Mi", "5637144576"),
    "a default budget: a given budget is kept": ("512Mi", "536870912"),
    "a default budget: an audit namespace": ("768Mi", "805306368"),
}
