#!/usr/bin/env bash
# The Helm chart, rendered by test/chart/render (helm template's stand-in:
# Go text/template + Debian's sprig) for the default values and a few value
# sets, then: its config accepted by membudget's own config parser;
# `membudget lint` on its workloads; and the chart agreeing with deploy/
# (RBAC, webhooks, alerts). With --cluster DIR, the real part instead
# (test/e2e/cluster_run.sh): the real helm template renders what the
# stand-in renders, and a server-side dry run of each set passes the real
# API server (with the real CRDs of ServiceMonitor, PrometheusRule and
# cert-manager's kinds: test/cluster/crds).
#   usage: test/chart/check.sh [--cluster DIR] MEMBUDGET_BINARY
set -u
cluster=
if [ "${1:-}" = --cluster ]; then cluster=$2; shift 2; fi
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
NAME="chart checks"
. "$root/test/lib.sh"

build_render || { finish; exit 1; }
sets=(default certmanager certmanager-issuer dryrun-namespaces-monitoring profiles-pvc sample-interval-1s
      admission-policy admission-both profiles-s3)
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

json() { "$work/render" --json "$@" 2>&1; }

if [ "$cluster" ]; then
    . "$cluster/env"
    for s in "${sets[@]}"; do
        [ -s "$work/$s.yaml" ] || continue
        args=()
        [ "$s" != default ] && args=(-f "$root/test/chart/values/$s.yaml")
        if ! out=$(helm template membudget "$root/charts/membudget" -n membudget "${args[@]}" 2>&1); then
            bad "helm template: $s" "$out"; continue
        fi
        printf '%s\n' "$out" > "$work/$s.helm.yaml"
        json "$work/$s.helm.yaml" > "$work/$s.helm.json"
        json "$work/$s.yaml" > "$work/$s.render.json"
        out=$(python3 - "$work/$s.helm.json" "$work/$s.render.json" <<'PY'
import json, sys
def objs(f):
    return sorted((json.loads(l) for l in open(f) if l.strip()),
                  key=lambda o: (o["kind"], o["metadata"]["name"]))
a, b = objs(sys.argv[1]), objs(sys.argv[2])
diff = [("%s/%s" % (x["kind"], x["metadata"]["name"]), "%s/%s" % (y["kind"], y["metadata"]["name"]))
        for x, y in zip(a, b) if x != y]
if len(a) != len(b) or diff:
    print("helm %d objects, the stand-in %d; differing: %s" % (len(a), len(b), diff[:5]))
    sys.exit(1)
print(len(a))
PY
)
        if [ $? = 0 ]; then ok "the stand-in renders what helm template renders: $s ($out objects)"
        else bad "the stand-in renders what helm template renders: $s" "$out"; fi
        out=$(kubectl apply --dry-run=server -f "$work/$s.helm.yaml" 2>&1)
        if [ $? = 0 ]; then ok "kubectl apply --dry-run=server (the real API server): $s"
        else bad "kubectl apply --dry-run=server (the real API server): $s" "$out"; fi
    done
    finish; exit $?
fi

for s in "${sets[@]}"; do
    [ -s "$work/$s.yaml" ] || continue
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
    && ! grep -q 'kind: PersistentVolumeClaim' "$work/default.yaml" && grep -q 'emptyDir: {sizeLimit: 1536Mi}' "$work/default.yaml" \
    && ok "profiles: a PersistentVolumeClaim with profiles.persistence, an emptyDir otherwise" \
    || bad "profiles: a PersistentVolumeClaim with profiles.persistence, an emptyDir otherwise"
# the s3 store: the config names the key files where the Secret is mounted;
# the default (local) has no s3 section and mounts no Secret
grep -q 'accessKeyFile: /etc/membudget/s3/access-key' "$work/profiles-s3.yaml" \
    && grep -q 'secretName: membudget-s3' "$work/profiles-s3.yaml" && grep -q 'mountPath: /etc/membudget/s3' "$work/profiles-s3.yaml" \
    && ! grep -q 'accessKeyFile\|/etc/membudget/s3' "$work/default.yaml" && grep -q 'store: local' "$work/default.yaml" \
    && ok "profiles: the s3 store mounts its credentials Secret and names its key files; local mounts none" \
    || bad "profiles: the s3 store mounts its credentials Secret and names its key files; local mounts none"
printf 'config:\n  profiles:\n    store: s3\n' > "$work/s3-nosecret.values.yaml"
out=$("$work/render" "$root/charts/membudget" -f "$work/s3-nosecret.values.yaml" 2>&1) \
    && bad "profiles: the s3 store without a credentials Secret is refused" "$out" \
    || { grep -q 'profiles.s3CredentialsSecret' <<< "$out" && ok "profiles: the s3 store without a credentials Secret is refused, the value named" \
         || bad "profiles: the s3 store without a credentials Secret is refused" "$out"; }
grep -q 'cert-manager.io/inject-ca-from: membudget/membudget' "$work/certmanager.yaml" && ! grep -q 'membudget certs\|- certs$' "$work/certmanager.yaml" \
    && grep -q 'kind: ClusterIssuer' "$work/certmanager-issuer.yaml" \
    && ok "cert-manager mode: Certificate + cainjector annotation, no certs Job; issuerRef honoured" \
    || bad "cert-manager mode: Certificate + cainjector annotation, no certs Job; issuerRef honoured"

# admission.mode: the policies are `membudget policy render --helm` (the
# chart's copy is not edited by hand), rendered for policy and both only,
# with the values in them; the webhooks for webhook and both only.
out=$("$bin" policy render --helm | diff - "$root/charts/membudget/templates/admission-policies.yaml" 2>&1)
if [ $? = 0 ]; then ok "the chart's admission-policies.yaml is what membudget policy render --helm prints"
else bad "the chart's admission-policies.yaml is what membudget policy render --helm prints (make it again: bin/membudget policy render --helm > charts/membudget/templates/admission-policies.yaml)" "${out:0:600}"; fi
out=$("$bin" policy render --namespace 'a"b' 2>&1)
[ $? = 2 ] && grep -q 'is not a namespace name' <<< "$out" && ok "policy render --namespace that is no namespace name: exit 2, named" \
    || bad "policy render --namespace that is no namespace name: exit 2, named" "$out"
out=$("$bin" policy render --config /nonexistent 2>&1)
[ $? = 2 ] && grep -q nonexistent <<< "$out" && ok "policy render --config of a missing file: exit 2, named" \
    || bad "policy render --config of a missing file: exit 2, named" "$out"
# a config whose never-governed list does not fit (99,990 namespaces, 1 MB): exit 2, named, nothing printed
{ echo "excludedNamespaces:"; seq -f '- n%05g' 0 99989; } > "$work/huge.yaml"
out=$("$bin" policy render --config "$work/huge.yaml" 2> "$work/huge.err"); rc=$?
[ $rc = 2 ] && [ -z "$out" ] && grep -q 'excludedNamespaces: 99990 namespaces .* more than 256 KiB' "$work/huge.err" \
    && ok "policy render of a 1 MB config whose namespaces do not fit: exit 2, the limit named, nothing printed" \
    || bad "policy render of a 1 MB config whose namespaces do not fit: exit 2, the limit named, nothing printed" "rc $rc: $(head -c 300 "$work/huge.err") ${out:0:200}"
"$bin" policy render > "$work/plain-policies.yaml" 2>&1 &&
    diff -q "$work/plain-policies.yaml" "$root/deploy/optional/admission-policies.yaml" > /dev/null \
    && ok "deploy/optional/admission-policies.yaml is what membudget policy render prints" \
    || bad "deploy/optional/admission-policies.yaml is what membudget policy render prints (make it again: bin/membudget policy render > deploy/optional/admission-policies.yaml)"
count() { grep -c "^kind: $2\$" "$work/$1.yaml"; }
# (every mode has one more ValidatingAdmissionPolicy: membudget-writes, the guard on its own pod writes)
[ "$(count default ValidatingAdmissionPolicy)" = 1 ] && [ "$(count default ValidatingWebhookConfiguration)" = 1 ] &&
    [ "$(count admission-policy ValidatingAdmissionPolicy)" = 3 ] && [ "$(count admission-policy MutatingAdmissionPolicyBinding)" = 2 ] &&
    [ "$(count admission-policy ValidatingWebhookConfiguration)" = 0 ] && [ "$(count admission-policy MutatingWebhookConfiguration)" = 0 ] &&
    [ "$(count admission-both ValidatingAdmissionPolicy)" = 3 ] && [ "$(count admission-both MutatingWebhookConfiguration)" = 1 ] \
    && ok "admission.mode: webhook renders the webhooks only, policy the policies only, both both" \
    || bad "admission.mode: webhook renders the webhooks only, policy the policies only, both both"
grep -q '75 > 0' "$work/admission-both.yaml" && grep -q '&& false$' "$work/admission-both.yaml" &&
    grep -q 'values: \["kube-system","kube-public","kube-node-lease","batch","membudget"\]' "$work/admission-both.yaml" \
    && ok "admission values reach the policies (default budget 75%, no readiness gate, excluded namespaces)" \
    || bad "admission values reach the policies (default budget 75%, no readiness gate, excluded namespaces)"
printf 'admission: {mode: nope}\n' > "$work/nope.yaml"
out=$("$work/render" "$root/charts/membudget" -f "$work/nope.yaml" 2>&1)
[ $? != 0 ] && grep -q 'is not webhook, policy or both' <<< "$out" && ok "admission.mode=nope: refused, the values named" \
    || bad "admission.mode=nope: refused, the values named" "$out"

# The chart agrees with deploy/: same RBAC rules, same webhooks, same alerts.
json "$work/default.yaml" > "$work/chart.json"
json "$root"/deploy/*.yaml > "$work/deploy.json"
json "$root/deploy/prometheus/rules.yaml" > "$work/rules-deploy.json"
json "$work/dryrun-namespaces-monitoring.yaml" > "$work/chart-mon.json"
out=$(python3 - "$work" 2>&1 <<'PY'
import json, sys
w = sys.argv[1]
def objs(f):
    # render --json prints one JSON document per object, back to back.
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
for kind, name in (("ClusterRole", "membudget"), ("Role", "membudget-leader-election"),
                   ("Role", "membudget-checkpoints")):
    a, b = find(chart, kind, name), find(dep, kind, name)
    if not a or not b or a["rules"] != b["rules"]:
        problems.append("%s %s rules differ" % (kind, name))
# the guard on membudget's own pod writes: the same policy (the username is the release's)
a, b = find(chart, "ValidatingAdmissionPolicy", "membudget-writes"), find(dep, "ValidatingAdmissionPolicy", "membudget-writes")
if not a or not b or a["spec"] != b["spec"]:
    problems.append("ValidatingAdmissionPolicy membudget-writes differs:\n%s\n%s" % (
        json.dumps(a and a["spec"])[:600], json.dumps(b and b["spec"])[:600]))
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
)
if [ $? = 0 ]; then ok "chart and deploy/ agree: RBAC, webhooks, alerts"; else bad "chart and deploy/ agree: RBAC, webhooks, alerts" "$out"; fi
finish
