#!/usr/bin/env bash
# The Helm chart, rendered by test/chart/render (helm template's stand-in:
# Go text/template + Debian's sprig) for the default values and a few value
# sets, then: applied with the real kubectl --dry-run=server against kubesim;
# its config accepted by membudget's own config parser; `membudget lint` on
# its workloads; and the chart agreeing with deploy/ (RBAC, webhooks, alerts).
#   usage: test/chart/check.sh MEMBUDGET_BINARY
set -u
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
NAME="chart checks"
. "$root/test/lib.sh"

if ! (cd "$root/test/chart/render" && GO111MODULE=off GOPATH=/usr/share/gocode \
      GOCACHE=${GOCACHE:-/tmp/membudget-gocache} go build -o "$work/render" . 2> "$work/build.err"); then
    bad "the chart renderer builds (needs golang-github-masterminds-sprig-dev)" "$(cat "$work/build.err")"
    finish; exit 1
fi
sets=(default certmanager certmanager-issuer dryrun-namespaces-monitoring profiles-pvc sample-interval-1s)
for s in "${sets[@]}"; do
    args=()
    [ "$s" != default ] && args=(-f "$root/test/chart/values/$s.yaml")
    if out=$("$work/render" "$root/charts/membudget" "${args[@]}" 2>&1); then
        printf '%s\n' "$out" > "$work/$s.yaml"
        ok "renders with values: $s ($(grep -c '^# Source' "$work/$s.yaml") templates)"
    else
        bad "renders with values: $s" "$out"
    fi
done

start_sim
kubectl create namespace membudget > /dev/null 2>&1
json() { kubectl create --dry-run=client -o json -f "$1" 2>&1; }
for s in "${sets[@]}"; do
    [ -s "$work/$s.yaml" ] || continue
    out=$(kubectl apply --dry-run=server -f "$work/$s.yaml" 2>&1)
    if [ $? = 0 ]; then ok "kubectl apply --dry-run=server: $s"; else bad "kubectl apply --dry-run=server: $s" "$out"; fi
    # The rendered config is accepted by membudget's own (strict) parser.
    python3 - "$work/$s.yaml" "$work/$s.config.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"  config.yaml: \|\n((?:    .*\n?)+)", text)
open(sys.argv[2], "w").write("\n".join(l[4:] for l in m.group(1).splitlines()) + "\n" if m else "")
PY
    printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n' > "$work/empty.yaml"
    out=$("$bin" lint --config "$work/$s.config.yaml" "$work/empty.yaml" 2>&1)
    if [ $? = 0 ] && [ -s "$work/$s.config.yaml" ]; then ok "membudget accepts the rendered config: $s"
    else bad "membudget accepts the rendered config: $s" "$out"; fi
    out=$("$bin" lint "$work/$s.yaml" 2>&1)
    if [ $? = 0 ]; then ok "membudget lint passes on the rendered workloads: $s"; else bad "membudget lint: $s" "$out"; fi
done
grep -q -- '- --dry-run$' "$work/dryrun-namespaces-monitoring.yaml" && grep -q 'namespaces: \["shop","payments"\]' "$work/dryrun-namespaces-monitoring.yaml" \
    && grep -q 'failurePolicy: Ignore' "$work/dryrun-namespaces-monitoring.yaml" && grep -q 'kind: ServiceMonitor' "$work/dryrun-namespaces-monitoring.yaml" \
    && ok "values reach the manifests (dry-run, namespaces, failurePolicy, ServiceMonitor)" \
    || bad "values reach the manifests (dry-run, namespaces, failurePolicy, ServiceMonitor)"
grep -q 'kind: PersistentVolumeClaim' "$work/profiles-pvc.yaml" && grep -q 'claimName: membudget-profiles' "$work/profiles-pvc.yaml" \
    && grep -q 'storage: 5Gi' "$work/profiles-pvc.yaml" && grep -q 'profileDirMaxBytes: 4Gi\|"profileDirMaxBytes":"4Gi"' "$work/profiles-pvc.yaml" \
    && ! grep -q 'kind: PersistentVolumeClaim' "$work/default.yaml" && grep -q 'emptyDir: {sizeLimit: 1280Mi}' "$work/default.yaml" \
    && ok "profiles: a PersistentVolumeClaim with profiles.persistence, an emptyDir otherwise" \
    || bad "profiles: a PersistentVolumeClaim with profiles.persistence, an emptyDir otherwise"
grep -q 'cert-manager.io/inject-ca-from: membudget/membudget' "$work/certmanager.yaml" && ! grep -q 'membudget certs\|- certs$' "$work/certmanager.yaml" \
    && grep -q 'kind: ClusterIssuer' "$work/certmanager-issuer.yaml" \
    && ok "cert-manager mode: Certificate + cainjector annotation, no certs Job; issuerRef honoured" \
    || bad "cert-manager mode: Certificate + cainjector annotation, no certs Job; issuerRef honoured"

# The chart agrees with deploy/: same RBAC rules, same webhooks, same alerts.
json "$work/default.yaml" > "$work/chart.json"
cat "$root"/deploy/*.yaml > "$work/deploy-all.yaml"
json "$work/deploy-all.yaml" > "$work/deploy.json"
json "$root/deploy/prometheus/rules.yaml" > "$work/rules-deploy.json"
json "$work/dryrun-namespaces-monitoring.yaml" > "$work/chart-mon.json"
out=$(python3 - "$work" <<'PY'
import json, sys
w = sys.argv[1]
def objs(f):
    # kubectl prints one JSON document per object, back to back.
    text, dec, out, i = open(f).read(), json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        j, i = dec.raw_decode(text, i)
        out.extend(j["items"] if j.get("kind") == "List" else [j])
def find(items, kind, name=None):
    for o in items:
        if o["kind"] == kind and (name is None or o["metadata"]["name"] == name):
            return o
chart, dep = objs(w + "/chart.json"), objs(w + "/deploy.json")
problems = []
for kind, name in (("ClusterRole", "membudget"), ("Role", "membudget-leader-election")):
    a, b = find(chart, kind, name), find(dep, kind, name)
    if not a or not b or a["rules"] != b["rules"]:
        problems.append("%s %s rules differ" % (kind, name))
for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
    a, b = find(chart, kind, "00-membudget"), find(dep, kind, "00-membudget")
    if not a or not b or a["webhooks"] != b["webhooks"]:
        problems.append("%s webhooks differ:\n%s\n%s" % (kind, json.dumps(a and a["webhooks"])[:600], json.dumps(b and b["webhooks"])[:600]))
ra = find(objs(w + "/chart-mon.json"), "PrometheusRule")
rb = find(objs(w + "/rules-deploy.json"), "PrometheusRule")
if not ra or not rb or ra["spec"] != rb["spec"]:
    problems.append("PrometheusRule spec differs")
print("\n".join(problems) if problems else "same")
sys.exit(1 if problems else 0)
PY
2>&1)
if [ $? = 0 ]; then ok "chart and deploy/ agree: RBAC, webhooks, alerts"; else bad "chart and deploy/ agree: RBAC, webhooks, alerts" "$out"; fi
finish
