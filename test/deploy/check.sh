#!/usr/bin/env bash
# deploy/ checked without a cluster: the RBAC granted to the controller
# equals the calls its code makes (derived below from the request paths
# written in src/), no more, no less; the dashboard and alerts use real
# metrics, promtool runs the alerts' tests; the webhook configurations as a
# YAML parser reads them; membudget lint on its workloads. With --cluster
# DIR, the real API server's part instead (test/e2e/cluster_run.sh, after
# kubectl apply -f deploy/: the real install is its own check there).
#   usage: test/deploy/check.sh [--cluster DIR] MEMBUDGET_BINARY
set -u
cluster=
if [ "${1:-}" = --cluster ]; then cluster=$2; shift 2; fi
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
NAME="deploy checks"
. "$root/test/lib.sh"

# --cluster DIR: the real API server's part, on a cluster where deploy/ is
# installed (test/e2e/cluster_run.sh): a server-side dry run of deploy/ that
# changes nothing, and of the optional profiles claim and its patch.
if [ "$cluster" ]; then
    . "$cluster/env"
    # (its generation: the spec's version; status updates of a rollout still
    # settling move resourceVersion, not this)
    gen() { kubectl -n membudget get deployment membudget -o jsonpath='{.metadata.generation}' 2>&1; }
    before=$(gen)
    out=$(kubectl apply --dry-run=server -f "$root/deploy/" 2>&1)
    if [ $? = 0 ] && ! grep -q -i error <<< "$out"; then ok "kubectl apply --dry-run=server -f deploy/ (the real API server)"
    else bad "kubectl apply --dry-run=server -f deploy/ (the real API server)" "$out"; fi
    after=$(gen)
    [ -n "$before" ] && [ "$before" = "$after" ] && ok "... the dry run changed nothing (the Deployment's generation stays $before)" ||
        bad "the dry run changed nothing" "$before -> $after"
    out=$(kubectl apply --dry-run=server -f "$root/deploy/optional/profiles-pvc.yaml" 2>&1 &&
          kubectl -n membudget patch deployment membudget --dry-run=server --patch-file "$root/deploy/optional/profiles-pvc-patch.yaml" \
              -o jsonpath='{range .spec.template.spec.volumes[?(@.name=="profiles")]}{.persistentVolumeClaim.claimName}/{.emptyDir}{end}' 2>&1)
    if [ "${out##*$'\n'}" = "membudget-profiles/" ]; then ok "deploy/optional: the profiles claim replaces the emptyDir (server-side dry run)"
    else bad "deploy/optional: the profiles claim replaces the emptyDir" "$out"; fi
    out=$(kubectl apply --dry-run=server -f "$root/deploy/optional/admission-policies.yaml" 2>&1)
    if [ $? = 0 ] && [ "$(grep -c 'created (server dry run)\|configured (server dry run)\|unchanged (server dry run)' <<< "$out")" = 8 ]; then
        ok "deploy/optional: the admission policies and their bindings compile on the real API server (server-side dry run)"
    else bad "deploy/optional: the admission policies compile on the real API server" "$out"; fi
    finish; exit $?
fi

# RBAC: what the code calls (verb resource) vs what 10-rbac.yaml grants.
python3 - "$root" > "$work/rbac.out" 2>&1 <<'PY'
import re, sys, json
root = sys.argv[1]
# The calls the controller and webhook make, from the code itself: every
# kapi request path built in src/ (method + path pattern).
calls = set()
for f in ["src/reflector/reflector.c", "src/controller/controller.c", "src/controller/gateq.c",
          "src/lrwatch/lrwatch.c",
          "src/recorder/recorder.c", "src/controller/insight.c",
          "src/leader/leader.c", "src/sampler/sampler.c", "src/opsauth/opsauth.c"]:
    text = open("%s/%s" % (root, f)).read()
    if "reflector" in f:   # list + watch of pods and namespaces (paths from controller.c)
        calls |= {("list", "", "pods"), ("watch", "", "pods"), ("list", "", "namespaces"),
                  ("watch", "", "namespaces")}
    for m in re.finditer(r'"(/api[^"]*)"', text):
        p = m.group(1)
        if "/pods/%s/status" in p: calls.add(("patch", "", "pods/status"))
        if "/pods/%s/eviction" in p: calls.add(("create", "", "pods/eviction"))
        if "/pods/%s/resize" in p: calls.add(("patch", "", "pods/resize"))
        if p.endswith("/pods/%s"): calls.add(("patch", "", "pods"))
        # the recommender's checkpoints: server-side apply (patch, create when new), list, delete
        if "/configmaps/%s?fieldManager" in p: calls |= {("patch", "", "configmaps"), ("create", "", "configmaps")}
        if p.endswith("/configmaps/%s"): calls.add(("delete", "", "configmaps"))
        if "/configmaps?labelSelector" in p: calls.add(("list", "", "configmaps"))
        if p.endswith("/events"): calls.add(("create", "", "events"))
        if "/events/%s" in p: calls.add(("patch", "", "events"))
        if "coordination.k8s.io" in p: calls |= {("get", "coordination.k8s.io", "leases"),
                                                 ("create", "coordination.k8s.io", "leases"),
                                                 ("update", "coordination.k8s.io", "leases")}
        if "metrics.k8s.io" in p: calls.add(("list", "metrics.k8s.io", "pods"))
        if p == "/api/v1/limitranges": calls |= {("list", "", "limitranges"), ("watch", "", "limitranges")}
        # --metrics-auth=kubernetes: the token, then the access, asked of the API server
        if p.endswith("/tokenreviews"): calls.add(("create", "authentication.k8s.io", "tokenreviews"))
        if p.endswith("/subjectaccessreviews"): calls.add(("create", "authorization.k8s.io", "subjectaccessreviews"))
# get is implied by list for the RBAC a client needs; grant matches exactly as written:
want = calls | {("get", "", "pods"), ("get", "", "namespaces"), ("get", "metrics.k8s.io", "pods")}
import subprocess
docs = open(root + "/deploy/10-rbac.yaml").read().split("\n---\n")
granted = set()
for d in docs:
    if "kind: ClusterRole\n" in d or "kind: Role\n" in d:
        for m in re.finditer(r"- apiGroups: \[([^\]]*)\]\n  resources: \[([^\]]*)\]\n  verbs: \[([^\]]*)\]", d):
            g = m.group(1).strip().strip('"')
            for r in m.group(2).split(","):
                for v in m.group(3).split(","):
                    granted.add((v.strip(), g, r.strip()))
extra, missing = granted - want, want - granted
print("granted:", sorted(granted))
if extra: print("EXTRA (granted, never used):", sorted(extra))
if missing: print("MISSING (used, not granted):", sorted(missing))
wild = [g for g in granted if "*" in g]
if wild: print("WILDCARD:", wild)
sys.exit(1 if extra or missing or wild else 0)
PY
if [ $? = 0 ]; then ok "RBAC grants exactly the calls the code makes"; else bad "RBAC grants exactly the calls the code makes" "$(cat "$work/rbac.out")"; fi
# Exclusions, one source of truth: every webhook's namespaceSelector
# excludes exactly the config's excludedNamespaces plus membudget's own.
out=$(python3 - "$root" <<'PY'
import re, sys
root = sys.argv[1]
cfg = open(root + "/deploy/20-config.yaml").read()
m = re.search(r"excludedNamespaces: \[([^\]]*)\]", cfg)
want = sorted({x.strip() for x in m.group(1).split(",")} | {"membudget"}) if m else None
wh = open(root + "/deploy/40-webhooks.yaml").read()
lists = re.findall(r"key: kubernetes.io/metadata.name, operator: NotIn, values: \[([^\]]*)\]", wh)
got = [sorted(x.strip() for x in l.split(",")) for l in lists]
bad = [g for g in got if g != want]
print("config: %s; webhooks: %s" % (want, got))
sys.exit(1 if not m or not got or bad else 0)
PY
)
if [ $? = 0 ]; then ok "webhooks exclude exactly excludedNamespaces + membudget"; else bad "webhooks exclude exactly excludedNamespaces + membudget" "$out"; fi
# Mutating configurations are called in name order: membudget's must come
# before the sidecar injectors' that prepend a proxy (their configurations'
# names as their own charts install them), and the certs Job and its RBAC
# must name the same object.
out=$(python3 - "$root" <<'PY'
import re, sys
root = sys.argv[1]
wh = open(root + "/deploy/40-webhooks.yaml").read()
names = re.findall(r"kind: (?:Mutating|Validating)WebhookConfiguration\nmetadata:\n  name: (\S+)", wh)
injectors = ["istio-sidecar-injector", "istio-revision-tag-default", "linkerd-proxy-injector-webhook-config",
             "vault-agent-injector-cfg", "consul-connect-injector", "dapr-sidecar-injector",
             "kuma-admission-mutating-webhook-configuration", "datadog-webhook", "aws-pod-identity-webhook",
             "opentelemetry-operator-mutation", "appmesh-inject"]
later = [i for i in injectors if names and not names[0] < i]
job = open(root + "/deploy/50-certs-job.yaml").read()
cfg = re.findall(r"--webhook-config=([^\],\s]+)", job)
rbac = re.findall(r"resources: \[mutatingwebhookconfigurations, validatingwebhookconfigurations\]\n  resourceNames: \[([^\]]+)\]", job)
print("configurations %s; sort after them: %s; certs Job %s, RBAC %s" % (names, later, cfg, rbac))
sys.exit(0 if len(names) == 2 and len(set(names)) == 1 and not later and cfg == names[:1] and rbac == names[:1] else 1)
PY
)
if [ $? = 0 ]; then ok "the mutating configuration sorts before common sidecar injectors'; the certs Job names it"
else bad "the mutating configuration sorts before common sidecar injectors'; the certs Job names it" "$out"; fi
# The shipped config is accepted by membudget's own (strict) loader, as is
# the same config with only sampleInterval changed (an unset scrapeTimeout
# follows the interval).
sed -n 's/^    //p' "$root/deploy/20-config.yaml" | sed -n '/^dryRun:/,$p' > "$work/deploy-config.yaml"
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' > "$work/empty.yaml"
cfg_bad=
for iv in 15s 1s 2s 1m; do
    sed "s/^sampleInterval: .*/sampleInterval: $iv/" "$work/deploy-config.yaml" > "$work/deploy-config-$iv.yaml"
    out=$("$bin" lint --config "$work/deploy-config-$iv.yaml" "$work/empty.yaml" 2>&1) || cfg_bad="$cfg_bad
sampleInterval $iv: $out"
done
if [ -s "$work/deploy-config.yaml" ] && [ -z "$cfg_bad" ]; then
    ok "membudget accepts deploy/'s config, and it with sampleInterval 1s, 2s, 1m"
else
    bad "membudget accepts deploy/'s config, and it with sampleInterval 1s, 2s, 1m" "$cfg_bad"
fi
if grep -qE "resources:.*secrets" "$root/deploy/10-rbac.yaml"; then
    bad "the controller's RBAC has no secrets"
else
    ok "the controller's RBAC has no secrets"
fi

# The image's runtime packages (Makefile RUNTIME_PKGS, used by the
# Dockerfile) provide every library the binary links directly.
missing=
for lib in $(readelf -d "$bin" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    path=$(ldconfig -p | awk -v l="$lib" '$1 == l {print $NF; exit}')
    pkg=$(dpkg -S "$path" 2>/dev/null | head -n1 | cut -d: -f1)
    [ -z "$pkg" ] && pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n1 | cut -d: -f1)
    case " libc6 $(make --no-print-directory -s -C "$root" print-runtime-pkgs | tr "\n" " ") " in *" $pkg "*) ;; *) missing="$missing $lib($pkg)";; esac
done
if [ -z "$missing" ]; then ok "RUNTIME_PKGS (the image) provide every library the binary needs"
else bad "RUNTIME_PKGS (the image) provide every library the binary needs" "missing:$missing"; fi
grep -q 'make deps-build' "$root/Dockerfile" && grep -q 'print-runtime-pkgs' "$root/Dockerfile" && grep -q '^USER 65532' "$root/Dockerfile" \
    && ok "Dockerfile: package lists from the Makefile, non-root user" \
    || bad "Dockerfile: package lists from the Makefile, non-root user"

# The CLI: every subcommand's --help (exit 0) lists its flags with defaults;
# run has every flag docs/design.md names.
cli_bad=
for c in run controller webhook certs status profiles lint version; do
    h=$("$bin" "$c" --help 2>&1) || cli_bad="$cli_bad $c(exit)"
    grep -q "^Usage: membudget $c" <<< "$h" || cli_bad="$cli_bad $c(usage)"
done
h=$("$bin" run --help)
for f in kubeconfig config leader-elect dry-run metrics-bind-address webhook-bind-address \
         tls-cert-file tls-private-key-file namespace context; do
    grep -q -- "--$f" <<< "$h" || cli_bad="$cli_bad run:--$f"
done
grep -q -- '--metrics-bind-address ADDR .*(default :8080)' <<< "$h" || cli_bad="$cli_bad run:default"
"$bin" --help 2>&1 | grep -q certs || cli_bad="$cli_bad top-level"
"$bin" version | grep -q "commit $(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
    || cli_bad="$cli_bad version-commit"
if [ -z "$cli_bad" ]; then ok "every subcommand's --help lists its flags and defaults; version shows the commit"
else bad "every subcommand's --help lists its flags and defaults; version shows the commit" "$cli_bad"; fi

# docs/metrics.md documents exactly the metrics the code declares.
code=$(grep -rhoE '"membudget_[a-z_]+"' "$root/src" | tr -d '"' | sort -u)
docs=$(grep -oE '^\| `membudget_[a-z_]+`' "$root/docs/metrics.md" | grep -oE 'membudget_[a-z_]+' | sort -u)
if [ "$code" = "$docs" ]; then ok "docs/metrics.md lists every metric the code declares, and no other"
else bad "docs/metrics.md lists every metric the code declares, and no other" "$(diff <(echo "$code") <(echo "$docs"))"; fi

# Alerts and dashboard: parse, and use only metrics that exist.
out=$(python3 - "$root" <<'PY'
import json, re, sys
root = sys.argv[1]
known = set(re.findall(r"^\| `(membudget_[a-z_]+)`", open(root + "/docs/metrics.md").read(), re.M))
dash = json.load(open(root + "/deploy/grafana/membudget.json"))
exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
rules = open(root + "/deploy/prometheus/rules.yaml").read()
exprs += re.findall(r"expr: (.*)", rules)
bad = set()
for e in exprs:
    for m in re.findall(r"membudget_[a-z_]+", e):
        base = re.sub(r"_(bucket|sum|count)$", "", m)
        if base not in known:
            bad.add(m)
print("unknown metrics: %s" % sorted(bad) if bad else "ok: %d expressions" % len(exprs))
sys.exit(1 if bad or len(dash["panels"]) < 5 else 0)
PY
)
if [ $? = 0 ]; then ok "Grafana dashboard and PrometheusRule use only real metrics ($out)"
else bad "Grafana dashboard and PrometheusRule use only real metrics" "$out"; fi

# The alert rules, with the real Prometheus tooling (Debian's prometheus
# package): promtool checks the PrometheusRule's groups, and runs
# test/deploy/rules_test.yaml, a firing and a quiet series for every alert.
if command -v promtool >/dev/null; then
    python3 - "$root/deploy/prometheus/rules.yaml" "$work/rules.yaml" <<'PY'
import sys
src = open(sys.argv[1]).read().splitlines()
body = src[src.index("spec:") + 1:]  # the groups, as a plain rule file
open(sys.argv[2], "w").write("\n".join(l[2:] if l.startswith("  ") else l for l in body) + "\n")
PY
    cp "$root/test/deploy/rules_test.yaml" "$work/"
    if out=$(cd "$work" && promtool check rules rules.yaml 2>&1); then
        ok "promtool check rules: $(grep -o '[0-9]* rules found' <<< "$out")"
    else bad "promtool check rules deploy/prometheus/rules.yaml" "$out"; fi
    n=$(grep -c 'alertname:' "$root/test/deploy/rules_test.yaml")
    alerts=$(grep -c -- '- alert:' "$root/deploy/prometheus/rules.yaml")
    tested=$(grep -o 'alertname: [A-Za-z]*' "$root/test/deploy/rules_test.yaml" | sort -u | wc -l)
    if out=$(cd "$work" && promtool test rules rules_test.yaml 2>&1) && [ "$tested" = "$alerts" ]; then
        ok "promtool test rules: $n evaluations, each of the $alerts alerts firing and quiet"
    else bad "promtool test rules (alerts $alerts, tested $tested)" "$out"; fi
else
    bad "promtool (Debian's prometheus package) is missing: make deps installs it"
fi

# The webhook configurations as written (YAML anchors resolved by a real
# YAML parser: test/chart/render --json).
build_render || { finish; exit 1; }
"$work/render" --json "$root/deploy/40-webhooks.yaml" > "$work/webhooks.json" 2> "$work/render.err" ||
    bad "deploy/40-webhooks.yaml parses" "$(cat "$work/render.err")"
out=$(python3 - "$work/webhooks.json" <<'PY'
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
kinds = {o["kind"]: o for o in objs if o["metadata"]["name"] == "00-membudget"}
v, m = kinds.get("ValidatingWebhookConfiguration"), kinds.get("MutatingWebhookConfiguration")
print(" ".join(w["name"] for w in v["webhooks"]), v["webhooks"][0]["rules"][1]["resources"])
print(" ".join("%s=%s" % (w["name"], w["failurePolicy"]) for w in m["webhooks"]))
print(" ".join("%s=%s" % (w["name"], w["failurePolicy"]) for w in v["webhooks"]))
PY
)
grep -q "validate.membudget.io audit.membudget.io" <<< "$out" && grep -q statefulsets <<< "$out" \
    && ok "webhooks: enforce and audit, with the workload kinds (YAML anchors resolved)" \
    || bad "webhooks: enforce and audit, with the workload kinds" "$out"
grep -qx "mutate.membudget.io=Fail mutate-audit.membudget.io=Ignore" <<< "$out" &&
    grep -qx "validate.membudget.io=Fail audit.membudget.io=Ignore" <<< "$out" \
    && ok "every webhook twice: enforce namespaces Fail, audit namespaces Ignore" \
    || bad "every webhook twice: enforce namespaces Fail, audit namespaces Ignore" "$out"
out=$("$bin" lint "$root/deploy/30-deployment.yaml" "$root/deploy/50-certs-job.yaml" 2>&1)
if [ $? = 0 ]; then ok "membudget lint passes on deploy/ workloads"; else bad "membudget lint passes on deploy/ workloads" "$out"; fi
finish
