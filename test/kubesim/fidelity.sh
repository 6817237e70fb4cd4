#!/usr/bin/env bash
# Fidelity of the simulator, checked with the real kubectl: when kubectl and
# kubesim disagree, kubesim is wrong. Skips (exit 0, says why) when no kubectl
# is installed.
#   usage: test/kubesim/fidelity.sh MEMBUDGET_BINARY
# Env: MB_TEST_COUNTS=FILE receives "passed failed" for test/run_all.sh.
set -u
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
pass=0 fail=0
finish() {
    [ -n "${MB_TEST_COUNTS:-}" ] && echo "$pass $fail" > "$MB_TEST_COUNTS"
    echo "kubectl fidelity: $pass ok, $fail failing"
    [ "$fail" = 0 ]
}
if ! command -v kubectl >/dev/null 2>&1; then
    echo "kubectl fidelity: SKIPPED, no kubectl on PATH (install Debian's kubernetes-client)"
    [ -n "${MB_TEST_COUNTS:-}" ] && echo "0 0" > "$MB_TEST_COUNTS"
    exit 0
fi

work=$(mktemp -d /tmp/kubesim-fidelity.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$work"; }
trap cleanup EXIT
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; shift; [ $# -gt 0 ] && printf '       %s\n' "$@"; }
# check NAME EXPECTED-REGEX COMMAND...: output of COMMAND must match
check() {
    local name=$1 want=$2 out; shift 2
    out=$("$@" 2>&1)
    if printf '%s' "$out" | grep -Eq -- "$want"; then ok "$name"; else bad "$name" "want /$want/" "got: $out"; fi
}
waitfor() { for _ in $(seq 100); do [ -s "$1" ] && return 0; sleep 0.05; done; return 1; }

"$root/test/kubesim/kubesim" --listen 127.0.0.1:0 --address-file "$work/addr" \
    --kubeconfig-file "$work/kubeconfig" --bookmark-interval 1 > "$work/sim.out" 2> "$work/sim.err" &
pids+=($!)
waitfor "$work/kubeconfig" || { bad "kubesim starts" "$(cat "$work/sim.err")"; finish; exit 1; }
export KUBECONFIG=$work/kubeconfig
k() { kubectl --request-timeout=20s "$@"; }

check "discovery: kubectl version sees the server" 'Server Version: .*v1\.33' k version
check "discovery: api-resources lists pods/leases/pdbs/metrics" \
    'poddisruptionbudgets.*policy/v1' k api-resources
cat > "$work/ns-pod.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {team: a}}
---
apiVersion: v1
kind: Node
metadata: {name: node-1}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop, labels: {app: api}}
spec:
  containers: [{name: app, image: busybox}]
EOF
# kubectl before 1.24 (Debian's 1.20) reads dry-run support from the OpenAPI v2
# protobuf document; later ones just send dryRun. Nothing may be stored.
cat > "$work/dry.yaml" <<'EOF'
apiVersion: v1
kind: Namespace
metadata: {name: dry}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: dry, namespace: default}
spec: {minAvailable: 1, selector: {matchLabels: {app: dry}}}
EOF
check "apply --dry-run=server: accepted for a core and a grouped kind" \
    'poddisruptionbudget.policy/dry created \(server dry run\)' \
    k apply --dry-run=server -f "$work/dry.yaml"
check "apply --dry-run=server stored nothing" 'NotFound|not found' k get ns dry
check "apply a namespace, a node and a pod from YAML" 'pod/api created' k apply -f "$work/ns-pod.yaml"
check "apply again is a no-op" 'pod/api unchanged' k apply -f "$work/ns-pod.yaml"
sleep 0.3
check "get: the pod runs on the node" 'api +1/1 +Running .*node-1' k -n shop get pods -o wide
check "list with a labelSelector" '^shop ' k get ns -l team=a --no-headers
check "list with a labelSelector that matches nothing" 'No resources found' k get ns -l team=b
check "list with a fieldSelector" 'shop +api ' k get pods -A --field-selector spec.nodeName=node-1
check "list with an unsupported fieldSelector is refused" 'field label not supported' \
    k get pods -A --field-selector spec.bogus=1
check "paginated list (--chunk-size=1) sees every namespace" 'kube-system' \
    k get ns --chunk-size=1 --no-headers

# (no time limit on the watch: it is stopped once the deletion is seen, or
# after 60 s; a 4 s limit ended it before the deletion on a busy machine)
timeout 60 kubectl -n shop get pods -w --output-watch-events > "$work/watch.out" 2>&1 &
wpid=$!
sleep 1
check "patch --type merge" 'pod/api patched' k -n shop patch pod api --type merge -p '{"metadata":{"labels":{"tier":"web"}}}'
check "patch --type json" 'pod/api patched' k -n shop patch pod api --type json -p '[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]'
check "patch --type strategic" 'pod/api patched' k -n shop patch pod api -p '{"metadata":{"labels":{"x":"y"}}}'
check "all three patches landed" 'api.*tier.*web.*x.*y|x.*y.*tier.*web' \
    k -n shop get pod api -o jsonpath='{.metadata.labels}{.metadata.annotations}'
cond='{"status":{"conditions":[{"type":"membudget.io/within-budget","status":"True"}]}}'
if kubectl patch --help 2>/dev/null | grep -q -- --subresource; then
    check "strategic patch of status.conditions merges by type" \
        'Ready.*membudget.io/within-budget' \
        k -n shop patch pod api --subresource status -o jsonpath='{.status.conditions[*].type}' -p "$cond"
else  # kubectl < 1.24 has no --subresource: the same request with curl
    check "strategic patch of status.conditions merges by type (curl; this kubectl has no --subresource)" \
        'Ready.*membudget.io/within-budget' \
        curl -sS -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' -d "$cond" \
        "http://$(cat "$work/addr")/api/v1/namespaces/shop/pods/api/status"
fi
check "a stale resourceVersion is a 409 Conflict" 'the object has been modified' \
    k -n shop patch pod api --type merge -p '{"metadata":{"resourceVersion":"1","labels":{"q":"1"}}}'
check "delete waits for the graceful deletion" 'pod "api" deleted' k -n shop delete pod api
for _ in $(seq 600); do grep -q 'DELETED  *api' "$work/watch.out" && break; kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
kill "$wpid" 2>/dev/null; wait "$wpid" 2>/dev/null
check "get -w saw the changes and the deletion" 'DELETED +api' cat "$work/watch.out"
check "get -w saw the modifications" 'MODIFIED +api' cat "$work/watch.out"

# drain: evictions blocked by the PDB, then allowed.
cat > "$work/drain.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: w1, namespace: shop, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: app, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: w2, namespace: shop, labels: {app: web}}
spec: {nodeName: node-1, containers: [{name: app, image: x}]}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec: {minAvailable: 2, selector: {matchLabels: {app: web}}}
EOF
k apply -f "$work/drain.yaml" >/dev/null
sleep 0.6
check "PDB status is kept current" 'web +2 +N/A +0 ' k -n shop get pdb --no-headers
check "drain is blocked by the PDB (Eviction API answers 429)" \
    "Cannot evict pod as it would violate the pod's disruption budget" \
    timeout 12 kubectl drain node-1 --force --timeout=4s
check "the node is cordoned, the pods still run" 'w1 +1/1 +Running' k -n shop get pods
k -n shop patch pdb web --type merge -p '{"spec":{"minAvailable":0}}' >/dev/null
sleep 0.5
check "drain succeeds once the PDB allows" 'node/node-1 (drained|evicted)' \
    timeout 30 kubectl drain node-1 --force --timeout=25s
check "the drained pods are gone" 'No resources found' k -n shop get pods

# admission: the real webhook, registered with a caBundle, denies a bad pod.
. "$root/test/certs.sh"
test_certs "$work" ca
"$bin" webhook --tls-cert-file "$work/tls.crt" --tls-private-key-file "$work/tls.key" \
    --webhook-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 2> "$work/wh.log" &
pids+=($!)
for _ in $(seq 100); do grep -q '"webhook listening"' "$work/wh.log" && break; sleep 0.05; done
whaddr=$(sed -n 's/.*"msg":"webhook listening".*"address":"\([^"]*\)".*/\1/p' "$work/wh.log")
ca=$(base64 -w0 < "$work/ca.crt")
cat > "$work/vwc.yaml" <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: membudget}
webhooks:
- name: validate.membudget.io
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  timeoutSeconds: 5
  clientConfig: {url: "https://$whaddr/validate", caBundle: "$ca"}
  namespaceSelector: {matchLabels: {membudget.io/enforce: "true"}}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE, UPDATE], resources: [pods, pods/resize]}
EOF
check "register the webhook" 'created' k apply -f "$work/vwc.yaml"
k label ns shop membudget.io/enforce=true >/dev/null
cat > "$work/bad.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: greedy
  namespace: shop
  annotations: {membudget.io/budget: "2Gi"}
spec:
  containers: [{name: app, image: x, resources: {limits: {memory: 1Gi}}}]
EOF
check "a denied pod shows the webhook's message" \
    'admission webhook "validate.membudget.io" denied the request: .*membudget.io/budget' \
    k apply -f "$work/bad.yaml"
check "the denied pod was not stored" 'NotFound|not found' k -n shop get pod greedy
check "a namespace outside the selector is not sent to the webhook" 'pod/greedy created' \
    k apply -f <(sed 's/namespace: shop/namespace: default/' "$work/bad.yaml")
# In-place resize (pods/resize): only cpu and memory may change, through the
# subresource alone, and the webhooks are called for it.
cat > "$work/rz.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata:
  name: rz
  namespace: shop
  annotations: {membudget.io/budget: "768Mi"}
spec:
  containers: [{name: app, image: x, resources: {requests: {memory: 512Mi}, limits: {memory: 1Gi}}}]
EOF
k apply -f "$work/rz.yaml" > /dev/null
lim() { printf '{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"%s"}}}]}}' "$1"; }
# kubectl knows --subresource resize from 1.33 on; before, the same request with curl.
if k -n shop patch pod rz --subresource resize --dry-run=server -p '{}' 2>&1 |
        grep -qE 'invalid subresource|unknown flag'; then
    resize() { curl -sS -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' -d "$1" \
                   "http://$(cat "$work/addr")/api/v1/namespaces/shop/pods/rz/resize"; }
    how=" (curl: kubectl $(kubectl version --client 2>/dev/null | sed -n 's/Client Version: //p') has no --subresource resize)"
else
    resize() { k -n shop patch pod rz --subresource resize -p "$1"; }
    how=
fi
check "patch --subresource resize raises a memory limit$how" 'patched|"2Gi"' resize "$(lim 2Gi)"
check "the resize is stored" '2Gi' k -n shop get pod rz -o jsonpath='{.spec.containers[0].resources.limits.memory}'
check "a resize below the budget is denied by the webhook$how" \
    'denied the request: Pod shop/rz: metadata.annotations\[membudget.io/budget\]: \\?"768Mi\\?": exceeds the memory limit 256Mi' \
    resize "$(lim 256Mi)"
check "a resize may change only cpu and memory$how" 'only cpu and memory resources are mutable' \
    resize '{"spec":{"containers":[{"name":"app","image":"y"}]}}'
check "a plain pod update may not change resources" 'Forbidden: pod updates may not change' \
    k -n shop patch pod rz -p "$(lim 4Gi)"
finish
