#!/usr/bin/env bash
# Admission end to end, as a platform team tries it: the real kubectl against
# kubesim, membudget's webhooks registered from deploy/40-webhooks.yaml (its
# Service mapped to a real `membudget webhook`), next to a sidecar injector
# that puts its proxy first, as Istio does:
#   - a workload is pinned to its container, and its pods keep it whatever
#     the injector adds; an injector registered after membudget triggers a
#     reinvocation that changes nothing more; a native sidecar can be the target
#   - a LimitRange default: the template is admitted with a warning, its pod
#     gets the limit before the webhooks and is admitted; a pod without a
#     limit anywhere is denied, the limit named first
#   - pods/resize below the budget is denied; above it is fine
#   - a 2.1 MB pod can be labelled (an UPDATE review carries it twice)
#   - a ReplicationController is checked like a Deployment
#   - with membudget down: audit namespaces admit, enforce namespaces refuse
#   usage: test/e2e/admission_e2e.sh MEMBUDGET_BINARY
set -u
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
NAME="admission e2e"
. "$root/test/lib.sh"
if ! command -v kubectl >/dev/null 2>&1; then
    echo "$NAME: SKIPPED, no kubectl on PATH (install Debian's kubernetes-client)"
    finish
    exit $?
fi
# check NAME EXPECTED-REGEX COMMAND...: the output of COMMAND must match
check() {
    local name=$1 want=$2 out; shift 2
    out=$("$@" 2>&1)
    if printf '%s' "$out" | grep -Eq -- "$want"; then ok "$name"; else bad "$name" "want /$want/" "got: ${out:0:600}"; fi
}
k() { kubectl --request-timeout=20s "$@"; }
jp() { k "$@" 2>&1; }

# A CA and a serving certificate for 127.0.0.1, shared by membudget and the injector.
. "$root/test/certs.sh"
test_certs "$work" ca
ca=$(base64 -w0 < "$work/ca.crt")


# The injector: prepends istio-proxy (with a memory limit of its own) to every pod.
cat > "$work/injector.py" <<'PY'
import base64, http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass
    def do_POST(self):
        req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))["request"]
        names = [c.get("name") for c in req["object"]["spec"].get("containers") or []]
        resp = {"uid": req["uid"], "allowed": True}
        if "istio-proxy" not in names:
            patch = [{"op": "add", "path": "/spec/containers/0", "value": {
                "name": "istio-proxy", "image": "proxyv2",
                "resources": {"limits": {"memory": "256Mi"}}}}]
            resp.update(patchType="JSONPatch", patch=base64.b64encode(json.dumps(patch).encode()).decode())
        body = json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                           "response": resp}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(sys.argv[3], "w").write("127.0.0.1:%d" % srv.server_address[1])
srv.serve_forever()
PY
python3 "$work/injector.py" "$work/tls.crt" "$work/tls.key" "$work/inj.addr" 2> "$work/inj.log" &
injpid=$!
for _ in $(seq 100); do [ -s "$work/inj.addr" ] && break; sleep 0.05; done

start_sim
trap '[ -n "$sim" ] && kill $sim 2>/dev/null; kill $whpid $injpid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
# membudget's webhook, with the API server for the namespaces' LimitRanges.
"$bin" webhook --tls-cert-file "$work/tls.crt" --tls-private-key-file "$work/tls.key" \
    --kubeconfig "$work/kubeconfig" \
    --webhook-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 2> "$work/wh.log" &
whpid=$!
for _ in $(seq 100); do grep -q '"webhook listening"' "$work/wh.log" && break; sleep 0.05; done
for _ in $(seq 100); do grep -q '"limitranges synced"' "$work/wh.log" && break; sleep 0.05; done
whaddr=$(sed -n 's/.*"msg":"webhook listening".*"address":"\([^"]*\)".*/\1/p' "$work/wh.log")
curl -s -X POST "http://$simaddr/_sim/services" -d "{\"membudget/membudget-webhook\":\"$whaddr\"}" > /dev/null
k apply -f "$root/deploy/00-namespace.yaml" > /dev/null
k apply -f "$root/deploy/40-webhooks.yaml" > /dev/null
for cfg in mutatingwebhookconfiguration validatingwebhookconfiguration; do
    k patch $cfg 00-membudget --type json -p "[{\"op\":\"add\",\"path\":\"/webhooks/0/clientConfig/caBundle\",\"value\":\"$ca\"},
        {\"op\":\"add\",\"path\":\"/webhooks/1/clientConfig/caBundle\",\"value\":\"$ca\"}]" > /dev/null
done
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
k create namespace shop > /dev/null
k label namespace shop membudget.io/enforce=true mesh-injection=early > /dev/null
k create namespace late > /dev/null
k label namespace late membudget.io/enforce=true mesh-injection=late > /dev/null
k create namespace capped > /dev/null
k label namespace capped membudget.io/enforce=true > /dev/null
k create namespace plain > /dev/null
k label namespace plain membudget.io/enforce=true > /dev/null
k create namespace trial > /dev/null
k label namespace trial membudget.io/enforce=true membudget.io/admission=audit > /dev/null

# --- 1. the target survives injection -------------------------------------------
cat > "$work/web.yaml" <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
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
    jp -n shop get deploy web -o 'jsonpath={.spec.template.metadata.annotations.membudget\.io/container}'
# Its pod, as the ReplicaSet controller creates it: the template's metadata and spec.
k -n shop get deploy web -o json | python3 -c '
import json, sys
t = json.load(sys.stdin)["spec"]["template"]
t["metadata"]["name"] = "web-1"
print(json.dumps(dict(apiVersion="v1", kind="Pod", metadata=t["metadata"], spec=t["spec"])))' > "$work/web-1.json"
check "its pod is admitted after the injector put istio-proxy first" 'pod/web-1 created' \
    k -n shop create -f "$work/web-1.json"
check "... the proxy is first, the app second" '^istio-proxy app$' \
    jp -n shop get pod web-1 -o 'jsonpath={.spec.containers[*].name}'
check "... GOMEMLIMIT is on the app (768Mi), not on the proxy" '^ ?GOMEMLIMIT=805306368$' \
    jp -n shop get pod web-1 -o 'jsonpath={range .spec.containers[0].env[*]}{.name}{end} {range .spec.containers[1].env[*]}{.name}={.value}{end}'
check "... and the readiness gate" 'membudget.io/within-budget' \
    jp -n shop get pod web-1 -o 'jsonpath={.spec.readinessGates[*].conditionType}'
cat > "$work/solo.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: solo, namespace: late, annotations: {membudget.io/budget: 768Mi}}
spec:
  containers:
  - {name: app, image: shop/solo, resources: {limits: {memory: 1Gi}}}
EOF
check "an injector after membudget: the pod is admitted (membudget reinvoked)" 'pod/solo created' \
    k create -f "$work/solo.yaml"
check "... pinned to app before the proxy arrived, GOMEMLIMIT still on app only" \
    '^app istio-proxy,app  GOMEMLIMIT=805306368$' \
    jp -n late get pod solo -o 'jsonpath={.metadata.annotations.membudget\.io/container} {.spec.containers[0].name},{.spec.containers[1].name} {range .spec.containers[0].env[*]}{.name}{end} {range .spec.containers[1].env[*]}{.name}={.value}{end}'
sed -e 's/name: solo, namespace: late, annotations: {/name: solo-dc, namespace: late, annotations: {kubectl.kubernetes.io\/default-container: app, /' \
    "$work/solo.yaml" > "$work/solo-dc.yaml"
check "... with kubectl.kubernetes.io/default-container too: admitted" 'pod/solo-dc created' \
    k create -f "$work/solo-dc.yaml"
check "... pinned to app, GOMEMLIMIT on app only" '^app istio-proxy,app  GOMEMLIMIT=805306368$' \
    jp -n late get pod solo-dc -o 'jsonpath={.metadata.annotations.membudget\.io/container} {.spec.containers[0].name},{.spec.containers[1].name} {range .spec.containers[0].env[*]}{.name}{end} {range .spec.containers[1].env[*]}{.name}={.value}{end}'
# The same bare pod where the injector's configuration sorts before
# membudget's: membudget's first call already sees the proxy first.
sed -e 's/name: solo, namespace: late/name: early-dc, namespace: shop/' \
    -e 's/annotations: {/annotations: {kubectl.kubernetes.io\/default-container: app, /' \
    "$work/solo.yaml" > "$work/early-dc.yaml"
check "an injector before membudget, the pod names its app in kubectl.kubernetes.io/default-container: admitted" \
    'pod/early-dc created' k create -f "$work/early-dc.yaml"
check "... pinned to app, GOMEMLIMIT on app, not on the proxy in front of it" '^app istio-proxy,app  GOMEMLIMIT=805306368$' \
    jp -n shop get pod early-dc -o 'jsonpath={.metadata.annotations.membudget\.io/container} {.spec.containers[0].name},{.spec.containers[1].name} {range .spec.containers[0].env[*]}{.name}{end} {range .spec.containers[1].env[*]}{.name}={.value}{end}'
sed -e 's/name: solo, namespace: late/name: early, namespace: shop/' "$work/solo.yaml" > "$work/early.yaml"
check "an injector before membudget, nothing names the app: denied, the budget checked against the proxy it was handed" \
    'denied the request: Pod shop/early: metadata.annotations\[membudget.io/budget\]: "768Mi": exceeds the memory limit 256Mi of container "istio-proxy"' \
    k create -f "$work/early.yaml"
check "... and the warning says why and what to set" \
    'Warning: membudget: Pod shop/early: metadata.annotations\[membudget.io/container\]: not set: the budget is for the first of 2 containers, .istio-proxy.; a sidecar injector whose webhook runs before membudget.s puts its proxy first' \
    k create -f "$work/early.yaml"
sed -e 's/name: solo, namespace: late, annotations: {/name: proxied, namespace: late, annotations: {membudget.io\/container: istio-proxy, /' \
    -e 's/budget: 768Mi/budget: 200Mi/' "$work/solo.yaml" > "$work/proxied.yaml"
check "a pod budgeting the container a later injector adds is admitted" 'pod/proxied created' \
    k create -f "$work/proxied.yaml"
check "... GOMEMLIMIT landed on it: membudget was called again after the injector" '^istio-proxy GOMEMLIMIT=209715200$' \
    jp -n late get pod proxied -o 'jsonpath={.spec.containers[0].name} {range .spec.containers[0].env[*]}{.name}={.value}{end}'
cat > "$work/mesh.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: mesh, namespace: plain, annotations: {membudget.io/budget: 400Mi, membudget.io/container: envoy}}
spec:
  initContainers:
  - {name: envoy, image: envoy, restartPolicy: Always, resources: {limits: {memory: 512Mi}}}
  containers:
  - {name: app, image: shop/app}
EOF
check "a native sidecar (restartPolicy: Always) may be the target" 'pod/mesh created' k create -f "$work/mesh.yaml"
check "... GOMEMLIMIT lands on it" '^GOMEMLIMIT=419430400$' \
    jp -n plain get pod mesh -o 'jsonpath={range .spec.initContainers[0].env[*]}{.name}={.value}{end}'

# --- 2. LimitRange ---------------------------------------------------------------
cat > "$work/lr.yaml" <<'EOF'
apiVersion: v1
kind: LimitRange
metadata: {name: mem, namespace: capped}
spec:
  limits:
  - {type: Container, default: {memory: 1Gi}, defaultRequest: {memory: 512Mi}}
EOF
k apply -f "$work/lr.yaml" > /dev/null
sed -e 's/namespace: shop/namespace: capped/' -e 's/, resources: {limits: {memory: 1Gi}}//' "$work/web.yaml" > "$work/web-lr.yaml"
check "a template without a limit, a LimitRange default there: admitted, the warning names it and its limit" \
    'Warning: membudget: Deployment capped/web: spec.template.spec.containers\[0\].resources.limits.memory: not set in the template: its pods get 1Gi from LimitRange capped/mem \(default.memory\)' \
    k apply -f "$work/web-lr.yaml"
check "... the budget is checked against that limit" \
    'denied the request: Deployment capped/big: spec.template.metadata.annotations\[membudget.io/budget\]: "2Gi": exceeds the memory limit 1Gi that LimitRange capped/mem gives container "app"' \
    k apply -f <(sed -e 's/name: web, namespace: capped/name: big, namespace: capped/' -e 's/budget: 768Mi/budget: 2Gi/' "$work/web-lr.yaml")
check "a template without a limit, no LimitRange in its namespace: denied at the template's path" \
    'denied the request: Deployment plain/web: spec.template.spec.containers\[0\].resources.limits.memory: required when membudget.io/budget is set: no LimitRange of namespace "plain" gives a default memory limit' \
    k apply -f <(sed 's/namespace: capped/namespace: plain/' "$work/web-lr.yaml")
# A LimitRange created now reaches the webhook through its watch.
k create namespace later > /dev/null
k label namespace later membudget.io/enforce=true > /dev/null
sed 's/namespace: capped/namespace: later/' "$work/lr.yaml" | k apply -f - > /dev/null
for _ in $(seq 50); do
    k apply --dry-run=server -f <(sed 's/namespace: capped/namespace: later/' "$work/web-lr.yaml") > /dev/null 2>&1 && break
    sleep 0.1
done
check "a LimitRange created later is seen (watch): the template there is admitted" \
    'deployment.apps/web created' k apply -f <(sed 's/namespace: capped/namespace: later/' "$work/web-lr.yaml")
cat > "$work/lr-pod.yaml" <<'EOF'
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: capped, annotations: {membudget.io/budget: 768Mi}}
spec:
  containers:
  - {name: app, image: shop/web}
EOF
check "its pod gets the limit from the LimitRange before the webhooks, and is admitted" 'pod/web-1 created' \
    k create -f "$work/lr-pod.yaml"
check "... with the LimitRange's limit" '^1Gi$' jp -n capped get pod web-1 -o 'jsonpath={.spec.containers[0].resources.limits.memory}'
check "a pod with no limit from anywhere is denied, the limit named first" \
    'denied the request: Pod plain/web-1: spec.containers\[0\].resources.limits.memory: required when membudget.io/budget is set' \
    k create -f <(sed 's/namespace: capped/namespace: plain/' "$work/lr-pod.yaml")

# --- 3. resize -------------------------------------------------------------------
sed -e 's/name: solo, namespace: late/name: rz, namespace: plain/' "$work/solo.yaml" > "$work/rz.yaml"
k create -f "$work/rz.yaml" > /dev/null
lim() { printf '{"spec":{"containers":[{"name":"app","resources":{"limits":{"memory":"%s"}}}]}}' "$1"; }
if k -n plain patch pod rz --subresource resize --dry-run=server -p '{}' 2>&1 | grep -qE 'invalid subresource|unknown flag'; then
    resize() { curl -sS -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' -d "$1" \
                   "http://$simaddr/api/v1/namespaces/plain/pods/rz/resize"; }
    how=" (curl: this kubectl has no --subresource resize)"
else
    resize() { k -n plain patch pod rz --subresource resize -p "$1"; }
    how=
fi
check "a resize below the budget is denied$how" \
    'denied the request: Pod plain/rz: metadata.annotations\[membudget.io/budget\]: \\?"768Mi\\?": exceeds the memory limit 256Mi of container \\?"app\\?"' \
    resize "$(lim 256Mi)"
check "a resize above the budget is admitted$how" 'patched|"2Gi"' resize "$(lim 2Gi)"

# --- 4. a large UPDATE -----------------------------------------------------------
python3 - "$work/big.json" <<'PY'
import json, sys
pod = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "big", "namespace": "plain",
                    "annotations": {"membudget.io/budget": "768Mi", "example.com/blob": "x" * 2_100_000}},
       "spec": {"containers": [{"name": "app", "image": "x", "resources": {"limits": {"memory": "1Gi"}}}]}}
json.dump(pod, open(sys.argv[1], "w"))
PY
check "a 2.1 MB pod is admitted" 'pod/big created' k create -f "$work/big.json"
check "... and labelled (its UPDATE review carries it twice: 4.2 MB)" 'pod/big labeled' k -n plain label pod big tier=gold

# --- 5. ReplicationController ----------------------------------------------------
cat > "$work/rc.yaml" <<'EOF'
apiVersion: v1
kind: ReplicationController
metadata: {name: legacy, namespace: plain}
spec:
  template:
    metadata: {labels: {app: legacy}, annotations: {membudget.io/budget: 2Gi}}
    spec:
      containers:
      - {name: app, image: x, resources: {limits: {memory: 1Gi}}}
EOF
check "a ReplicationController's template is checked" \
    'denied the request: ReplicationController plain/legacy: spec.template.metadata.annotations\[membudget.io/budget\]: "2Gi": exceeds' \
    k create -f "$work/rc.yaml"

# --- 5b. namespaces never governed, whatever the selector lets through -----------
# The webhooks' namespaceSelector loses its exclusions (a hand-edited
# configuration, or one rendered from another list): the webhook itself
# still never governs kube-system or its own namespace (here, out of
# cluster: "membudget"), with the controller's very decision.
for cfg in mutatingwebhookconfiguration validatingwebhookconfiguration; do
    k patch $cfg 00-membudget --type json -p '[{"op":"remove","path":"/webhooks/0/namespaceSelector/matchExpressions/2"}]' > /dev/null
done
for ns in kube-system membudget; do
    k create namespace $ns > /dev/null 2>&1
    k label --overwrite namespace $ns membudget.io/enforce=true > /dev/null
    sed -e "s/namespace: capped/namespace: $ns/" -e 's/image: shop\/web}/image: shop\/web, resources: {limits: {memory: 512Mi}}}/' \
        "$work/lr-pod.yaml" > "$work/ex-$ns.yaml"
    check "$ns labelled, the selector without exclusions: a pod over its limit is admitted untouched" \
        'pod/web-1 created' k create -f "$work/ex-$ns.yaml"
    check "... no GOMEMLIMIT, no readiness gate injected in $ns" '^untouched$' \
        sh -c "kubectl -n $ns get pod web-1 -o 'jsonpath={.spec.containers[0].env}{.spec.readinessGates}' | grep -q . || echo untouched"
done
check "the webhook counts them as excluded" 'result="excluded"' \
    curl -s "http://$(sed -n 's/.*"msg":"metrics listening".*"address":"\([^"]*\)".*/\1/p' "$work/wh.log")/metrics"

# --- 6. membudget down -----------------------------------------------------------
kill $whpid 2>/dev/null
wait $whpid 2>/dev/null
sed -e 's/name: solo, namespace: late/name: down, namespace: trial/' "$work/solo.yaml" > "$work/down.yaml"
check "membudget down: an audit namespace admits the pod (fails open)" 'pod/down created' k create -f "$work/down.yaml"
check "membudget down: an enforce namespace refuses it (fails closed)" \
    'failed calling webhook "mutate.membudget.io"' k create -f <(sed 's/namespace: trial/namespace: plain/' "$work/down.yaml")
finish
