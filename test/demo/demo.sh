#!/usr/bin/env bash
# The local demo: the Kubernetes API simulator, `membudget run` (webhook +
# controller) registered in it with a throw-away CA, and real leaking Go
# programs listening on loopback addresses that the simulated pods carry as
# their IPs. It shows, live, pods moving through throttle -> gc -> evict (or
# recovering after a GC), the Events as `kubectl describe` shows them, a pod
# refused at admission, then the OOM ledger, GOMEMLIMIT following a new
# budget, the captures and the budget recommendations, and ends by itself
# with a summary.
#   usage: test/demo/demo.sh MEMBUDGET_BINARY
set -euo pipefail
bin=${1:-bin/membudget}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/membudget-demo.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
if [ -t 1 ]; then B=$'\033[1m'; N=$'\033[0m'; else B=; N=; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
export GOCACHE=${GOCACHE:-/tmp/membudget-gocache} GOFLAGS=${GOFLAGS:--mod=mod}

say "1. build the leaking Go target (test/targets/leaky, using contrib/go)"
(cd "$root/test/targets/leaky" && go build -o "$work/leaky" .)
echo "built $work/leaky"

say "2. start the Kubernetes API simulator"
"$root/test/kubesim/kubesim" --listen 127.0.0.1:0 --address-file "$work/sim.addr" \
    --kubeconfig-file "$work/kubeconfig" > /dev/null 2> "$work/sim.log" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/kubeconfig" ] && break; sleep 0.05; done
api="http://$(cat "$work/sim.addr")"
echo "API server (simulated): $api"
sim() { curl -sS -X "$1" -H "Content-Type: ${3:-application/json}" ${4:+-d "$4"} "$api$2"; }

say "3. a throw-away CA and serving certificate; membudget run (webhook + controller)"
. "$root/test/certs.sh"
test_certs "$work" demo-ca
cat > "$work/config.yaml" <<EOF
sampleInterval: 1s       # the demo is fast; production default is 15s
usage:
  scrapeTimeout: 800ms   # below sampleInterval
  allowLoopback: true    # the demo's pods all live on 127.0.0.x
sustainSamples: 2
recoverSamples: 2
gcMinInterval: 3s
leak: {window: 3, minSlopePercentPerMinute: 5}
eviction: {maxPerMinute: 5, profileDir: $work/profiles}
recommend: {peakWindow: 3s}   # production default 5m: one peak per pod per window; advice after 12 windows (36s)
EOF
cat "$work/config.yaml"
"$bin" run --kubeconfig "$work/kubeconfig" --config "$work/config.yaml" \
    --tls-cert-file "$work/tls.crt" --tls-private-key-file "$work/tls.key" \
    --webhook-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 2> "$work/run.log" &
pids+=($!)
addr() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j=json.loads(l)
    if j.get("msg")==sys.argv[2]: print(j["address"]); break' "$work/run.log" "$1"; }
for _ in $(seq 100); do [ -n "$(addr 'metrics listening')" ] && break; sleep 0.05; done
wh=$(addr "webhook listening"); mt=$(addr "metrics listening")
echo "webhook https://$wh   metrics/status http://$mt"
ca=$(base64 -w0 < "$work/ca.crt")
# As deploy/40-webhooks.yaml: each webhook twice, enforce namespaces with
# failurePolicy Fail, audit ones (membudget.io/admission=audit) with Ignore.
for kind in mutating validating; do
    body=$(python3 - "$kind" "$wh" "$ca" <<'PY'
import json, sys
kind, wh, ca = sys.argv[1:4]
def hook(name, path, op, policy):
    ops = ["CREATE"] if kind == "mutating" else ["CREATE", "UPDATE"]
    h = {"name": name, "admissionReviewVersions": ["v1"], "sideEffects": "None",
            "failurePolicy": policy, "timeoutSeconds": 5,
            "clientConfig": {"url": "https://%s%s" % (wh, path), "caBundle": ca},
            "namespaceSelector": {"matchExpressions": [
                {"key": "membudget.io/enforce", "operator": "In", "values": ["true"]},
                {"key": "membudget.io/admission", "operator": op, "values": ["audit"]}]},
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ops,
                       "resources": ["pods"] if kind == "mutating" else ["pods", "pods/resize"]},
                      {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": ["replicationcontrollers"]},
                      {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"]},
                      {"apiGroups": ["batch"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"],
                       "resources": ["jobs", "cronjobs"]}]}
    if kind == "mutating":
        h["reinvocationPolicy"] = "IfNeeded"
    return h
if kind == "mutating":
    hooks = [hook("mutate.membudget.io", "/mutate", "NotIn", "Fail"),
             hook("mutate-audit.membudget.io", "/mutate", "In", "Ignore")]
else:
    hooks = [hook("validate.membudget.io", "/validate", "NotIn", "Fail"),
             hook("audit.membudget.io", "/validate/audit", "In", "Ignore")]
print(json.dumps({"metadata": {"name": "membudget"}, "webhooks": hooks}))
PY
)
    sim POST "/apis/admissionregistration.k8s.io/v1/${kind}webhookconfigurations" "" "$body" > /dev/null
done
echo "webhooks registered (/mutate, /validate; audit namespaces /validate/audit and failurePolicy Ignore) for namespaces labelled membudget.io/enforce=true"

say "4. a governed namespace, a node, and the Go targets"
sim POST /api/v1/namespaces "" '{"metadata":{"name":"shop","labels":{"membudget.io/enforce":"true"}}}' > /dev/null
sim POST /api/v1/nodes "" '{"metadata":{"name":"node-1"}}' > /dev/null
# name ip port mode rate(MiB/s) -- what each pod's process does
targets=("cache 127.0.0.21 16021 garbage 2.5" "leaky 127.0.0.22 16022 held 2.5" "steady 127.0.0.23 16023 idle 0")
for t in "${targets[@]}"; do
    set -- $t
    # steady runs with the GOMEMLIMIT the webhook injects (step 9 changes it);
    # cache's GC is off by design, a limit would collect it
    env $([ "$1" = steady ] && echo GOMEMLIMIT=64MiB) "$work/leaky" --listen "$2:$3" --mode "$4" --rate "$5" --max 200 2>/dev/null &
    pids+=($!)
    printf '  %-7s %s:%s  %-8s %s MiB/s\n' "$1" "$2" "$3" "$4" "$5"
done
sleep 0.5

say "5. pods created through admission (the webhook injects GOMEMLIMIT and the readiness gate)"
pod() { # name ip port
    sim POST /api/v1/namespaces/shop/pods "" "{\"metadata\":{\"name\":\"$1\",\"labels\":{\"app\":\"$1\"},
      \"annotations\":{\"membudget.io/budget\":\"64Mi\",\"membudget.io/usage\":\"heap\",
      \"membudget.io/metrics\":\"$3/metrics\",\"membudget.io/gc\":\"$3/debug/gc\",
      \"membudget.io/profile\":\"$3/debug/pprof/heap\",\"membudget.io/memlimit\":\"$3/debug/memlimit\",
      \"kubesim.io/pod-ip\":\"$2\"}},
      \"spec\":{\"nodeName\":\"node-1\",\"containers\":[{\"name\":\"app\",\"image\":\"leaky\",
      \"resources\":{\"limits\":{\"memory\":\"128Mi\"}},\"ports\":[{\"containerPort\":$3}]}]}}"
}
for t in "${targets[@]}"; do
    set -- $t
    pod "$1" "$2" "$3" | python3 -c 'import json,sys
p=json.load(sys.stdin); c=p["spec"]["containers"][0]
env={e["name"]:e["value"] for e in c.get("env",[])}
print("  %-7s created: GOMEMLIMIT=%s readinessGates=%s" % (p["metadata"]["name"], env.get("GOMEMLIMIT"),
      [g["conditionType"] for g in p["spec"].get("readinessGates",[])]))'
done
echo "  and a pod whose budget is over its limit:"
sim POST /api/v1/namespaces/shop/pods "" '{"metadata":{"name":"greedy","annotations":{"membudget.io/budget":"2Gi"}},
  "spec":{"containers":[{"name":"app","image":"x","resources":{"limits":{"memory":"1Gi"}}}]}}' |
    python3 -c 'import json,sys; j=json.load(sys.stdin); print("  HTTP %s %s: %s" % (j["code"], j["reason"], j["message"]))'

say "6. live: membudget status every 2s (cache: garbage a GC reclaims; leaky: held, no GC helps)"
for i in $(seq 1 20); do
    printf '%s-- t=%2ds%s\n' "$B" $((i * 2)) "$N"
    "$bin" status --address "$mt" | sed 1d | awk 'NR==1 || /shop/'
    python3 - "$api" "$work/seen" <<'PY'
import json, os, sys, urllib.request
evs = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/namespaces/shop/events"))["items"]
seen = set(open(sys.argv[2]).read().split("\n")) if os.path.exists(sys.argv[2]) else set()
new = []
for e in sorted(evs, key=lambda e: e["lastTimestamp"]):
    key = "%s/%s" % (e["metadata"]["name"], e.get("count", 1))
    if key not in seen:
        seen.add(key)
        new.append("   event  %-7s %-8s %-28s %s" % (e["involvedObject"]["name"], e["type"],
                                                      e["reason"], e["message"]))
print("\n".join(new)) if new else None
open(sys.argv[2], "w").write("\n".join(sorted(seen)))
PY
    sleep 2
done

say "7. the Events, as kubectl describe pod shows them"
python3 - "$api" <<'PY'
import json, sys, urllib.request
evs = json.load(urllib.request.urlopen(sys.argv[1] + "/api/v1/namespaces/shop/events"))["items"]
by = {}
for e in evs:
    by.setdefault(e["involvedObject"]["name"], []).append(e)
for pod in sorted(by):
    print("Name: %s\nEvents:\n  %-8s %-30s %-6s %-10s %s" % (pod, "Type", "Reason", "Count", "From", "Message"))
    for e in sorted(by[pod], key=lambda e: e["firstTimestamp"]):
        print("  %-8s %-30s %-6s %-10s %s" % (e["type"], e["reason"], e.get("count", 1),
                                               e["source"]["component"], e["message"]))
    print()
PY

say "8. the OOM ledger: the kubelet reports steady's container OOM-killed"
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
sim PATCH /api/v1/namespaces/shop/pods/steady/status application/strategic-merge-patch+json \
    "{\"status\":{\"containerStatuses\":[{\"name\":\"app\",\"restartCount\":1,\"lastState\":{\"terminated\":{
      \"reason\":\"OOMKilled\",\"exitCode\":137,\"finishedAt\":\"$now\"}}}]}}" > /dev/null
sleep 1
events() { # pod reason
    sim GET /api/v1/namespaces/shop/events | python3 -c 'import json,sys
for e in json.load(sys.stdin)["items"]:
    if e["involvedObject"]["name"] == sys.argv[1] and e["reason"] == sys.argv[2]:
        print("  %-8s %s: %s" % (e["type"], e["reason"], e["message"]))' "$1" "$2"; }
events steady MemoryBudgetOOMKilled
curl -sS "http://$mt/metrics" | grep -E '^membudget_oom_kills(_unprevented)?_total\{.*\} [1-9]' | sed 's/^/  /'

say "9. GOMEMLIMIT follows the budget: steady's budget 64Mi -> 96Mi"
sim PATCH /api/v1/namespaces/shop/pods/steady application/merge-patch+json \
    '{"metadata":{"annotations":{"membudget.io/budget":"96Mi"}}}' > /dev/null
sleep 1
events steady MemoryBudgetLimitUpdated
echo "  the process says: $(curl -sS http://127.0.0.23:16023/metrics | grep '^go_gc_gomemlimit_bytes')"

say "10. what is left, the captures, the recommendations, and the controller's metrics"
"$bin" status --address "$mt"
echo
"$bin" profiles --address "$mt"
for f in "$work"/profiles/*.pb.gz; do [ -e "$f" ] && gzip -t "$f" && echo "  $(basename "$f"): valid gzip"; done
echo
"$bin" status --recommend --address "$mt"
echo
curl -sS "http://$mt/metrics" | grep -E '^membudget_(tier_transitions_total|actions_total|evictions_rate_limited_total|leader|tracked_pods)[ {]'

say "summary"
python3 - "$api" <<'PY'
import json, sys, urllib.request
api = sys.argv[1]
evs = json.load(urllib.request.urlopen(api + "/api/v1/namespaces/shop/events"))["items"]
pods = {p["metadata"]["name"] for p in json.load(urllib.request.urlopen(api + "/api/v1/namespaces/shop/pods"))["items"]}
by = {}
for e in evs:
    by.setdefault(e["involvedObject"]["name"], []).append(e["reason"].replace("MemoryBudget", ""))
for name in ("cache", "leaky", "steady"):
    print("  %-7s %-9s %s" % (name, "running" if name in pods else "evicted", " -> ".join(by.get(name, ["(nothing: within budget)"]))))
print("  (steady's OOMKilled was reported by the demo, as a kubelet would)")
print("  greedy  refused at admission")
PY
kill -TERM "${pids[1]}" 2>/dev/null; wait "${pids[1]}" 2>/dev/null || true
echo; echo "demo finished"
