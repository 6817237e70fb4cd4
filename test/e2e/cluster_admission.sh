#!/usr/bin/env bash
# Admission on the real cluster, as a platform team tries it: kubectl against
# the real kube-apiserver, membudget's webhooks as installed (the chart's
# configurations, its Service, its replicas), next to a sidecar injector that
# puts its proxy first, as Istio does (a small HTTPS server on this machine's
# loopback, registered by URL):
#   - a workload is pinned to its container, and its pods keep it whatever
#     the injector adds; an injector registered after membudget triggers a
#     reinvocation that changes nothing more; a native sidecar can be the target
#   - a LimitRange default: the template is admitted with a warning, its pod
#     gets the limit from the real LimitRanger plugin before the webhooks and
#     is admitted; a pod without a limit anywhere is denied, the limit named first
#   - the largest pod the API server stores can be labelled (its UPDATE
#     review carries it twice)
#   - a ReplicationController is checked like a Deployment
#   - kube-system and membudget's own namespace, labelled and let through by
#     a selector without exclusions, are still never governed
#   - with membudget down: audit namespaces admit, enforce namespaces refuse
# Pods are admitted, not run: their images do not exist (the scenarios of
# cluster_e2e.py run real ones). Everything made here is deleted at the end,
# and what was changed (the webhooks' selector, membudget's replicas) is put
# back.
#   usage: test/e2e/cluster_admission.sh --dir DIR   (a cluster with membudget installed)
set -u
[ "${1:-}" = --dir ] && [ -n "${2:-}" ] || { echo "usage: $0 --dir DIR" >&2; exit 2; }
dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
NAME="cluster admission"
. "$root/test/lib.sh"
. "$dir/env"
# check NAME EXPECTED-REGEX COMMAND...: the output of COMMAND must match
check() {
    local name=$1 want=$2 out; shift 2
    out=$("$@" 2>&1)
    if printf '%s' "$out" | grep -Eq -- "$want"; then ok "$name"; else bad "$name" "want /$want/" "got: ${out:0:600}"; fi
}
k() { kubectl --request-timeout=30s "$@"; }
jp() { k "$@" 2>&1; }
P=adm-   # namespace prefix: nothing here collides with cluster_e2e.py's
NSS="${P}shop ${P}late ${P}capped ${P}plain ${P}trial ${P}later"
injpid=
replicas=$(k -n membudget get deploy membudget -o jsonpath='{.spec.replicas}')
cleanup() {
    [ -n "$injpid" ] && kill "$injpid" 2>/dev/null
    k delete mutatingwebhookconfiguration 0-injector istio-sidecar-injector --ignore-not-found > /dev/null 2>&1
    # shellcheck disable=SC2086
    k delete namespace $NSS --wait=false --ignore-not-found > /dev/null 2>&1
    k -n kube-system delete pod web-1 --ignore-not-found > /dev/null 2>&1
    k -n membudget delete pod web-1 --ignore-not-found > /dev/null 2>&1
    k label namespace kube-system membudget membudget.io/enforce- > /dev/null 2>&1
    [ -f "$work/selectors.json" ] && restore_selectors
    k -n membudget scale deploy membudget --replicas "${replicas:-2}" > /dev/null 2>&1
    k -n membudget rollout status deploy membudget --timeout 3m > /dev/null 2>&1
    rm -rf "$work"
}
trap cleanup EXIT

# A CA and a serving certificate for 127.0.0.1: the injector's.
. "$root/test/certs.sh"
test_certs "$work" injector-ca
ca=$(base64 -w0 < "$work/ca.crt")

# The injector: prepends istio-proxy (with a memory limit of its own) to every pod.
python3 "$root/test/e2e/injector.py" "$work/tls.crt" "$work/tls.key" "$work/inj.addr" 2> "$work/inj.log" &
injpid=$!
for _ in $(seq 100); do [ -s "$work/inj.addr" ] && break; sleep 0.05; done
[ -s "$work/inj.addr" ] || { bad "the injector did not start" "$(cat "$work/inj.log")"; exit 1; }

# Two injectors, each for the namespaces labelled for it. Configurations go
# in name order: "0-injector" sorts before membudget's "00-membudget" (a
# configuration named to run first), "istio-sidecar-injector", Istio's own
# name, after it.
for when in early late; do
    [ $when = early ] && cfgname=0-injector || cfgname=istio-sidecar-injector
    cat > "$work/inj-$when.yaml" <<EOF
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: $cfgname}
webhooks:
- name: inject.mesh.example
  admissionReviewVersions: [v1]
  sideEffects: None
  failurePolicy: Fail
  reinvocationPolicy: Never
  clientConfig: {url: "https://$(cat "$work/inj.addr")/inject", caBundle: "$ca"}
  namespaceSelector: {matchLabels: {mesh-injection: $when}}
  rules:
  - {apiGroups: [""], apiVersions: [v1], operations: [CREATE], resources: [pods]}
EOF
    k apply -f "$work/inj-$when.yaml" > /dev/null
done
for ns in $NSS; do k create namespace "$ns" > /dev/null; done
k label namespace ${P}shop membudget.io/enforce=true mesh-injection=early > /dev/null
k label namespace ${P}late membudget.io/enforce=true mesh-injection=late > /dev/null
k label namespace ${P}capped membudget.io/enforce=true > /dev/null
k label namespace ${P}plain membudget.io/enforce=true > /dev/null
k label namespace ${P}trial membudget.io/enforce=true membudget.io/admission=audit > /dev/null
k label namespace ${P}later membudget.io/enforce=true > /dev/null

# --- 1. the target survives injection -------------------------------------------
cat > "$work/web.yaml" <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${P}shop}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata:
      labels: {app: web}
      annotations: {membudget.io/budget: 768Mi}
    spec:
      containers:
      - {name: app, image: shop/web, resources: {limits: {memory: 1Gi}}}
EOF
check "a Deployment is admitted" 'deployment.apps/web created' k apply -f "$work/web.yaml"
check "its template is pinned to the container membudget resolved" '^app$' \
    jp -n ${P}shop get deploy web -o 'jsonpath={.spec.template.metadata.annotations.membudget\.io/container}'
# Its pod, as the ReplicaSet controller creates it: the template's metadata and spec.
k -n ${P}shop get deploy web -o json | python3 -c '
import json, sys
t = json.load(sys.stdin)["spec"]["template"]
t["metadata"]["name"] = "web-1"
print(json.dumps(dict(apiVersion="v1", kind="Pod", metadata=t["metadata"], spec=t["spec"])))' > "$work/web-1.json"
check "its pod is admitted after the injector put istio-proxy first" 'pod/web-1 created' \
    k -n ${P}shop create -f "$work/web-1.json"
check "... the proxy is first, the app second" '^istio-proxy app$' \
    jp -n ${P}shop get pod web-1 -o 'jsonpath={.spec.containers[*].name}'
check "... GOMEMLIMIT is on the app (768Mi), not on the proxy" '^ ?GOMEMLIMIT=805306368$' \
    jp -n ${P}shop get pod web-1 -o 'jsonpath={range .spec.containers[0].env[*]}{.name}{end} {range .spec.containers[1].env[*]}{.name}={.value}{end}'
check "... and the readiness gate" 'membudget.io/within-budget' \
    jp -n ${P}shop get pod web-1 -o 'jsonpath={.spec.readinessGates[*].conditionType}'
cat > "$work/solo.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: ${P}late, annotations: {membudget.io/budget: 768Mi}}
spec:
  containers:
  - {name: app, image: shop/solo, resources: {limits: {memory: 1Gi}}}
EOF
pinned='jsonpath={.metadata.annotations.membudget\.io/container} {.spec.containers[0].name},{.spec.containers[1].name} {range .spec.containers[0].env[*]}{.name}{end} {range .spec.containers[1].env[*]}{.name}={.value}{end}'
check "an injector after membudget: the pod is admitted (membudget reinvoked)" 'pod/solo created' \
    k create -f "$work/solo.yaml"
check "... pinned to app before the proxy arrived, GOMEMLIMIT still on app only" \
    '^app istio-proxy,app  GOMEMLIMIT=805306368$' jp -n ${P}late get pod solo -o "$pinned"
sed -e "s/name: solo, namespace: ${P}late, annotations: {/name: solo-dc, namespace: ${P}late, annotations: {kubectl.kubernetes.io\/default-container: app, /" \
    "$work/solo.yaml" > "$work/solo-dc.yaml"
check "... with kubectl.kubernetes.io/default-container too: admitted" 'pod/solo-dc created' \
    k create -f "$work/solo-dc.yaml"
check "... pinned to app, GOMEMLIMIT on app only" '^app istio-proxy,app  GOMEMLIMIT=805306368$' \
    jp -n ${P}late get pod solo-dc -o "$pinned"
# The same bare pod where the injector's configuration sorts before
# membudget's: membudget's first call already sees the proxy first.
sed -e "s/name: solo, namespace: ${P}late/name: early-dc, namespace: ${P}shop/" \
    -e 's/annotations: {/annotations: {kubectl.kubernetes.io\/default-container: app, /' \
    "$work/solo.yaml" > "$work/early-dc.yaml"
check "an injector before membudget, the pod names its app in kubectl.kubernetes.io/default-container: admitted" \
    'pod/early-dc created' k create -f "$work/early-dc.yaml"
check "... pinned to app, GOMEMLIMIT on app, not on the proxy in front of it" '^app istio-proxy,app  GOMEMLIMIT=805306368$' \
    jp -n ${P}shop get pod early-dc -o "$pinned"
sed -e "s/name: solo, namespace: ${P}late/name: early, namespace: ${P}shop/" "$work/solo.yaml" > "$work/early.yaml"
check "an injector before membudget, nothing names the app: denied, the budget checked against the proxy it was handed" \
    "denied the request: Pod ${P}shop/early: metadata.annotations\[membudget.io/budget\]: \"768Mi\": exceeds the memory limit 256Mi of container \"istio-proxy\"" \
    k create -f "$work/early.yaml"
check "... and the warning says why and what to set" \
    "Warning: membudget: Pod ${P}shop/early: metadata.annotations\[membudget.io/container\]: not set: the budget is for the first of 2 containers, .istio-proxy.; a sidecar injector whose webhook runs before membudget.s puts its proxy first" \
    k create -f "$work/early.yaml"
sed -e "s/name: solo, namespace: ${P}late, annotations: {/name: proxied, namespace: ${P}late, annotations: {membudget.io\/container: istio-proxy, /" \
    -e 's/budget: 768Mi/budget: 200Mi/' "$work/solo.yaml" > "$work/proxied.yaml"
check "a pod budgeting the container a later injector adds is admitted" 'pod/proxied created' \
    k create -f "$work/proxied.yaml"
check "... GOMEMLIMIT landed on it: membudget was called again after the injector" '^istio-proxy GOMEMLIMIT=209715200$' \
    jp -n ${P}late get pod proxied -o 'jsonpath={.spec.containers[0].name} {range .spec.containers[0].env[*]}{.name}={.value}{end}'
cat > "$work/mesh.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: mesh, namespace: ${P}plain, annotations: {membudget.io/budget: 400Mi, membudget.io/container: envoy}}
spec:
  initContainers:
  - {name: envoy, image: envoy, restartPolicy: Always, resources: {limits: {memory: 512Mi}}}
  containers:
  - {name: app, image: shop/app}
EOF
check "a native sidecar (restartPolicy: Always) may be the target" 'pod/mesh created' k create -f "$work/mesh.yaml"
check "... GOMEMLIMIT lands on it" '^GOMEMLIMIT=419430400$' \
    jp -n ${P}plain get pod mesh -o 'jsonpath={range .spec.initContainers[0].env[*]}{.name}={.value}{end}'

# --- 2. LimitRange (the real LimitRanger admission plugin) ------------------------
cat > "$work/lr.yaml" <<EOF
apiVersion: v1
kind: LimitRange
metadata: {name: mem, namespace: ${P}capped}
spec:
  limits:
  - {type: Container, default: {memory: 1Gi}, defaultRequest: {memory: 512Mi}}
EOF
k apply -f "$work/lr.yaml" > /dev/null
sed -e "s/namespace: ${P}shop/namespace: ${P}capped/" -e 's/, resources: {limits: {memory: 1Gi}}//' "$work/web.yaml" > "$work/web-lr.yaml"
# (the webhook reads LimitRanges through its own watch: wait until it has this one)
for _ in $(seq 100); do
    k apply --dry-run=server -f "$work/web-lr.yaml" > /dev/null 2>&1 && break
    sleep 0.2
done
check "a template without a limit, a LimitRange default there: admitted, the warning names it and its limit" \
    "Warning: membudget: Deployment ${P}capped/web: spec.template.spec.containers\[0\].resources.limits.memory: not set in the template: its pods get 1Gi from LimitRange ${P}capped/mem \(default.memory\)" \
    k apply -f "$work/web-lr.yaml"
check "... the budget is checked against that limit" \
    "denied the request: Deployment ${P}capped/big: spec.template.metadata.annotations\[membudget.io/budget\]: \"2Gi\": exceeds the memory limit 1Gi that LimitRange ${P}capped/mem gives container \"app\"" \
    k apply -f <(sed -e "s/name: web, namespace: ${P}capped/name: big, namespace: ${P}capped/" -e 's/budget: 768Mi/budget: 2Gi/' "$work/web-lr.yaml")
check "a template without a limit, no LimitRange in its namespace: denied at the template's path" \
    "denied the request: Deployment ${P}plain/web: spec.template.spec.containers\[0\].resources.limits.memory: required when membudget.io/budget is set: no LimitRange of namespace \"${P}plain\" gives a default memory limit" \
    k apply -f <(sed "s/namespace: ${P}capped/namespace: ${P}plain/" "$work/web-lr.yaml")
# A LimitRange created now reaches the webhook (every replica) through its watch.
sed "s/namespace: ${P}capped/namespace: ${P}later/" "$work/lr.yaml" | k apply -f - > /dev/null
for _ in $(seq 100); do
    k apply --dry-run=server -f <(sed "s/namespace: ${P}capped/namespace: ${P}later/" "$work/web-lr.yaml") > /dev/null 2>&1 && break
    sleep 0.2
done
check "a LimitRange created later is seen (watch): the template there is admitted" \
    'deployment.apps/web created' k apply -f <(sed "s/namespace: ${P}capped/namespace: ${P}later/" "$work/web-lr.yaml")
cat > "$work/lr-pod.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: ${P}capped, annotations: {membudget.io/budget: 768Mi}}
spec:
  containers:
  - {name: app, image: shop/web}
EOF
check "its pod gets the limit from the LimitRange before the webhooks, and is admitted" 'pod/web-1 created' \
    k create -f "$work/lr-pod.yaml"
check "... with the LimitRange's limit" '^1Gi$' jp -n ${P}capped get pod web-1 -o 'jsonpath={.spec.containers[0].resources.limits.memory}'
check "a pod with no limit from anywhere is denied, the limit named first" \
    "denied the request: Pod ${P}plain/web-1: spec.containers\[0\].resources.limits.memory: required when membudget.io/budget is set" \
    k create -f <(sed "s/namespace: ${P}capped/namespace: ${P}plain/" "$work/lr-pod.yaml")

# --- 3. a large UPDATE -----------------------------------------------------------
# The real API server caps annotations at 256 KiB and a stored object near
# 1.5 MiB (etcd's request limit): the largest pod it keeps carries its bulk
# in an env value. Its UPDATE review carries it twice.
python3 - "$work/big.json" "$P" <<'PY'
import json, sys
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "big", "namespace": sys.argv[2] + "plain",
                    "annotations": {"membudget.io/budget": "768Mi"}},
       "spec": {"containers": [{"name": "app", "image": "x", "resources": {"limits": {"memory": "1Gi"}},
                                "env": [{"name": "BLOB", "value": "x" * 1_400_000}]}]}}
json.dump(pod, open(sys.argv[1], "w"))
PY
check "a 1.4 MB pod is admitted" 'pod/big created' k create -f "$work/big.json"
check "... and labelled (its UPDATE review carries it twice: 2.8 MB)" 'pod/big labeled' k -n ${P}plain label pod big tier=gold

# --- 4. ReplicationController ----------------------------------------------------
cat > "$work/rc.yaml" <<EOF
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: ${P}plain}
spec:
  replicas: 0
  template:
    metadata: {labels: {app: legacy}, annotations: {membudget.io/budget: 2Gi}}
    spec:
      containers:
      - {name: app, image: x, resources: {limits: {memory: 1Gi}}}
EOF
check "a ReplicationController's template is checked" \
    "denied the request: ReplicationController ${P}plain/legacy: spec.template.metadata.annotations\[membudget.io/budget\]: \"2Gi\": exceeds" \
    k create -f "$work/rc.yaml"

# --- 5. namespaces never governed, whatever the selector lets through -----------
# The webhooks' namespaceSelector loses its exclusions (a hand-edited
# configuration, or one rendered from another list): the webhook itself
# still never governs kube-system or its own namespace, with the
# controller's very decision. (Put back by restore_selectors.)
k get mutatingwebhookconfiguration,validatingwebhookconfiguration -l app.kubernetes.io/name=membudget -o json > "$work/selectors.json"
restore_selectors() {
    python3 - "$work/selectors.json" <<'PY' | k apply -f - > /dev/null 2>&1
import json, sys
items = json.load(open(sys.argv[1]))["items"]
for o in items:
    for k in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        o["metadata"].pop(k, None)
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
PY
    rm -f "$work/selectors.json"
}
for cfg in $(k get mutatingwebhookconfiguration,validatingwebhookconfiguration -l app.kubernetes.io/name=membudget -o name); do
    k patch "$cfg" --type json -p '[{"op":"remove","path":"/webhooks/0/namespaceSelector/matchExpressions/2"}]' > /dev/null
done
for ns in kube-system membudget; do
    k label --overwrite namespace $ns membudget.io/enforce=true > /dev/null
    sed -e "s/namespace: ${P}capped/namespace: $ns/" -e 's/image: shop\/web}/image: shop\/web, resources: {limits: {memory: 512Mi}}}/' \
        "$work/lr-pod.yaml" > "$work/ex-$ns.yaml"
    check "$ns labelled, the selector without exclusions: a pod over its limit is admitted untouched" \
        'pod/web-1 created' k create -f "$work/ex-$ns.yaml"
    check "... no GOMEMLIMIT, no readiness gate injected in $ns" '^untouched$' \
        sh -c "kubectl -n $ns get pod web-1 -o 'jsonpath={.spec.containers[0].env}{.spec.readinessGates}' | grep -q . || echo untouched"
    k -n $ns delete pod web-1 --wait=false > /dev/null
    k label namespace $ns membudget.io/enforce- > /dev/null
done
excluded() {
    local addr sum=0 v
    # every replica's (the Service sent the reviews to either), over the pod network,
    # with the reader's token (metrics auth is on: test/cluster/install-membudget)
    for addr in $(k -n membudget get pods -l app.kubernetes.io/name=membudget -o \
        jsonpath='{range .items[*]}{.status.podIP}:{.spec.containers[0].ports[?(@.name=="metrics")].containerPort}{" "}{end}'); do
        v=$(curl -s --max-time 5 -H "Authorization: Bearer $(cat "$dir/metrics-reader.token")" \
            "http://$addr/metrics" | awk '/^membudget_webhook_requests_total\{.*result="excluded"/ {s += $2} END {print s + 0}')
        sum=$((sum + ${v%.*}))
    done
    echo "excluded=$sum"
}
check "the webhook counts them as excluded" '^excluded=[1-9]' excluded
restore_selectors

# --- 6. membudget down -----------------------------------------------------------
k -n membudget scale deploy membudget --replicas 0 > /dev/null
k -n membudget wait --for=delete pod -l app.kubernetes.io/name=membudget --timeout 2m > /dev/null 2>&1
sed -e "s/name: solo, namespace: ${P}late/name: down, namespace: ${P}trial/" "$work/solo.yaml" > "$work/down.yaml"
check "membudget down: an audit namespace admits the pod (fails open)" 'pod/down created' k create -f "$work/down.yaml"
check "membudget down: an enforce namespace refuses it (fails closed)" \
    'failed calling webhook "mutate.membudget.io"' k create -f <(sed "s/namespace: ${P}trial/namespace: ${P}plain/" "$work/down.yaml")
k -n membudget scale deploy membudget --replicas "$replicas" > /dev/null
check "membudget back: its replicas Ready again" 'successfully rolled out' \
    k -n membudget rollout status deploy membudget --timeout 3m
finish
