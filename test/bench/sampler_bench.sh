#!/usr/bin/env bash
# Sampler and reaction figures.
#  1. One full sample cycle over N pods (default 10000), twice: every pod
#     scraped directly (Prometheus text, from a local responder answering on
#     every 127.1.x.y address, maxConcurrentScrapes 256), then every pod
#     from one metrics.k8s.io list. Median of the cycles' durations (from the
#     controller's own "sample cycle" log lines).
#  2. Reaction: a pod's usage is set over the throttle threshold; from the
#     breaker's decision to the condition patch answered (action latency, from
#     the controller's log), and from the usage change to the condition seen
#     False in the API (end to end, includes waiting for the next sample).
#     sampleInterval 1s, sustainSamples 1; median of 9 trials.
#  3. The same end to end with sustainSamples 2, alone and with one hung pod
#     elsewhere: the hung pod must not slow the reaction (ratio near 1).
#   usage: test/bench/sampler_bench.sh MEMBUDGET_BINARY [N]
set -euo pipefail
bin=$1
q=${BENCH_QUICK:-}   # make bench-quick: 200 pods, 3 reaction trials
n=${2:-${q:+200}}; n=${n:-10000}
export REACTION_TRIALS=${q:+3}; REACTION_TRIALS=${REACTION_TRIALS:-9}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/mb-smpbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export GOCACHE=${GOCACHE:-/tmp/membudget-gocache} GOFLAGS=${GOFLAGS:--mod=mod}
(cd "$root/test/bench/responder" && go build -o "$work/responder" .)

start_sim() {
    rm -f "$work/addr" "$work/kc"
    "$root/test/kubesim/kubesim" --listen 127.0.0.1:0 --address-file "$work/addr" --no-kubelet \
        --kubeconfig-file "$work/kc" --watch-window 1000 > /dev/null 2> "$work/sim.err" &
    pids+=($!); sim=$!
    for _ in $(seq 100); do [ -s "$work/kc" ] && break; sleep 0.05; done
    api="http://$(cat "$work/addr")"
    curl -sS -X POST "$api/api/v1/namespaces" -d '{"metadata":{"name":"bench","labels":{"membudget.io/enforce":"true"}}}' > /dev/null
}
start_ctl() { # config-file
    "$bin" controller --kubeconfig "$work/kc" --namespace bench --config "$1" --log-level debug \
        --metrics-bind-address 127.0.0.1:0 2> "$work/ctl.log" &
    pids+=($!); ctl=$!
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
# CPU time (user + system, ms) the process has used so far.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
# cpu_per_cycle PID K: the controller's CPU time per sample cycle over the
# next K cycles (the cache is settled by then, so a cycle is what it costs).
cpu_per_cycle() {
    local c0 t0 want
    c0=$(grep -c '"sample cycle"' "$work/ctl.log" || true); t0=$(cpu_ms "$1")
    want=$((c0 + $2))
    for _ in $(seq 1200); do [ "$(grep -c '"sample cycle"' "$work/ctl.log" || true)" -ge "$want" ] && break; sleep 0.1; done
    awk -v a="$t0" -v b="$(cpu_ms "$1")" -v k="$2" 'BEGIN { printf "%.0f", (b - a) / k }'
}
cycles() { # how many cycles to wait for -> median duration_ms of cycles 2..
    for _ in $(seq 1200); do
        [ "$(grep -c '"sample cycle"' "$work/ctl.log" || true)" -ge "$1" ] && break; sleep 0.1
    done
    python3 - "$work/ctl.log" <<'PY'
import json, statistics, sys
c = [json.loads(l) for l in open(sys.argv[1]) if '"sample cycle"' in l]
d = [x["duration_ms"] for x in c[1:]] or [x["duration_ms"] for x in c]
print("%d %d %d" % (statistics.median(d), c[-1]["pods"], c[-1]["stale"]))
PY
}

"$work/responder" --listen 0.0.0.0:19000 2>/dev/null &
pids+=($!); resp=$!
echo "== sampler: one sample cycle over $n pods (median of 3 cycles after the first)"
printf '%-34s %10s %10s %8s\n' source cycle_ms us/pod stale

# 1a. direct scrapes
start_sim
tmpl='{"metadata":{"annotations":{"membudget.io/budget":"256Mi","membudget.io/usage":"heap","membudget.io/metrics":"19000/metrics"}},"spec":{"containers":[{"name":"app","image":"x","resources":{"limits":{"memory":"512Mi"}},"ports":[{"containerPort":19000}]}]}}'
curl -sS -X POST "$api/_sim/bulk-pods" -d "{\"namespace\":\"bench\",\"prefix\":\"p\",\"count\":$n,\"ipPrefix\":\"127.1\",\"template\":$tmpl}" > /dev/null
printf 'sampleInterval: 5s\nusage: {maxConcurrentScrapes: 256, scrapeTimeout: 4s, allowLoopback: true}\n' > "$work/c1.yaml"
start_ctl "$work/c1.yaml"
read -r ms pods stale <<< "$(cycles 4)"
awk -v ms="$ms" -v n="$pods" -v st="$stale" 'BEGIN { printf "%-34s %10d %10.1f %8d\n", "scrape (Prometheus text, 256 at once)", ms, ms*1000/n, st }'
stop "$ctl"; stop "$sim"

# 1b. the metrics API
start_sim
tmpl='{"metadata":{"annotations":{"membudget.io/budget":"256Mi"}},"spec":{"containers":[{"name":"app","image":"x","resources":{"limits":{"memory":"512Mi"}}}]}}'
curl -sS -X POST "$api/_sim/bulk-pods" -d "{\"namespace\":\"bench\",\"prefix\":\"p\",\"count\":$n,\"template\":$tmpl}" > /dev/null
python3 - "$api" "$n" <<'PY'
import json, sys, urllib.request
items = [{"namespace": "bench", "name": "p-%d" % i, "containers": {"app": "100Mi"}} for i in range(int(sys.argv[2]))]
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_sim/podmetrics", json.dumps({"items": items}).encode(), {"Content-Type": "application/json"}))
PY
start_ctl "$work/c1.yaml"
read -r ms pods stale <<< "$(cycles 4)"
awk -v ms="$ms" -v n="$pods" -v st="$stale" 'BEGIN { printf "%-34s %10d %10.1f %8d\n", "metrics.k8s.io (one list)", ms, ms*1000/n, st }'
echo "  controller CPU time per $pods-pod cycle (metrics.k8s.io, user+system, over 4 cycles): $(cpu_per_cycle "$ctl" 4) ms"
stop "$ctl"; stop "$sim"
stop "$resp"

# Shared by the reaction figures (2 and 3): pod r-0 (budget 100Mi, gated) in
# a fresh simulator, and from Python: post, its condition, waiting for it,
# and 9 trials of usage 10Mi -> 90Mi -> 10Mi timing the condition False.
reaction_sim() {
    start_sim
    curl -sS -X POST "$api/api/v1/nodes" -d '{"metadata":{"name":"n1"}}' > /dev/null
    curl -sS -X POST "$api/_sim/bulk-pods" -d '{"namespace":"bench","prefix":"r","count":1,"template":{"metadata":{"annotations":{"membudget.io/budget":"100Mi"}},"spec":{"readinessGates":[{"conditionType":"membudget.io/within-budget"}],"containers":[{"name":"app","image":"x","resources":{"limits":{"memory":"200Mi"}}}]}}}' > /dev/null
}
cat > "$work/reaction.py" <<'PY'
import json, os, time, urllib.request
API = None
def post(path, body):
    urllib.request.urlopen(urllib.request.Request(API + path, json.dumps(body).encode(), {"Content-Type": "application/json"}))
def cond():
    p = json.load(urllib.request.urlopen(API + "/api/v1/namespaces/bench/pods/r-0"))
    for c in p["status"].get("conditions", []):
        if c["type"] == "membudget.io/within-budget":
            return c["status"]
def wait(v, limit=15):
    t = time.monotonic()
    while time.monotonic() - t < limit:
        if cond() == v:
            return time.monotonic()
        time.sleep(0.005)
    return None
def usage(mem):
    post("/_sim/podmetrics", {"namespace": "bench", "name": "r-0", "containers": {"app": mem}})
def trials(limit=15):
    out = []
    for _ in range(int(os.environ["REACTION_TRIALS"])):
        time.sleep(1.3)
        t0 = time.monotonic()
        usage("90Mi")
        t1 = wait("False", limit)
        if t1:
            out.append((t1 - t0) * 1000)
        usage("10Mi")
        wait("True", limit)
    return out
PY

# 2. reaction
echo
echo "== reaction: usage crosses the throttle threshold (sampleInterval 1s, sustainSamples 1), $REACTION_TRIALS trials"
reaction_sim
printf 'sampleInterval: 1s\nsustainSamples: 1\nrecoverSamples: 1\nusage: {scrapeTimeout: 800ms, allowLoopback: true}\n' > "$work/c2.yaml"
start_ctl "$work/c2.yaml"
python3 - "$api" "$work/ctl.log" "$work" <<'PY'
import json, statistics, sys, time
sys.path.insert(0, sys.argv[3])
import reaction
reaction.API, logp = sys.argv[1], sys.argv[2]
def ts(line):
    j = json.loads(line)
    t = time.strptime(j["ts"][:19], "%Y-%m-%dT%H:%M:%S")
    return time.mktime(t) + float("0." + j["ts"][20:23])
reaction.usage("10Mi")
reaction.wait("True", 15)
e2e, act = reaction.trials(10), []
lines = open(logp).read().splitlines()
tiers = [ts(l) for l in lines if '"msg":"tier"' in l and '"to":"throttle"' in l]
sets = [ts(l) for l in lines if '"msg":"condition set"' in l and '"status":"False"' in l]
for a, b in zip(tiers, sets):
    act.append((b - a) * 1000)
print("  decision -> condition patch answered (action latency): median %.1f ms (n=%d)" % (statistics.median(act), len(act)))
print("  usage changed -> condition False seen in the API (end to end, includes waiting for the next sample): median %.0f ms (n=%d)" % (statistics.median(e2e), len(e2e)))
PY
stop "$ctl"; stop "$sim"

# 3. reaction with sustainSamples 2 (the issue's setting), alone and with one
#    hung pod elsewhere (its /metrics accepts and never answers; scrapeTimeout
#    800ms): each pod is on its own schedule, so the hung one delays nobody.
echo
echo "== reaction with sustainSamples 2 (sampleInterval 1s): quiet, then one hung pod elsewhere, $REACTION_TRIALS trials each"
reaction_sim
printf 'sampleInterval: 1s\nsustainSamples: 2\nrecoverSamples: 1\nusage: {scrapeTimeout: 800ms, allowLoopback: true}\n' > "$work/c3.yaml"
python3 - <<'PY' &
import socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.9.0.0", 19999))
s.listen(64)
held = []
while True:  # accept, read nothing, answer nothing: a hung /metrics
    c, _ = s.accept()
    held.append(c)
PY
pids+=($!)
start_ctl "$work/c3.yaml"
python3 - "$api" "$work" <<'PY'
import statistics, sys, time
sys.path.insert(0, sys.argv[2])
import reaction
from reaction import post, trials
reaction.API = sys.argv[1]
reaction.usage("10Mi")
reaction.wait("True")
quiet = trials()
post("/_sim/bulk-pods", {"namespace": "bench", "prefix": "hung", "count": 1, "ipPrefix": "127.9",
                         "template": {"metadata": {"annotations": {"membudget.io/budget": "100Mi",
                             "membudget.io/metrics": "19999/metrics"}},
                             "spec": {"containers": [{"name": "app", "image": "x", "ports": [{"containerPort": 19999}],
                                                      "resources": {"limits": {"memory": "200Mi"}}}]}}})
time.sleep(3)
hung = trials()
print("  usage changed -> condition False (end to end): median %.0f ms quiet, %.0f ms with a hung pod (ratio %.2f; n=%d, %d)"
      % (statistics.median(quiet), statistics.median(hung), statistics.median(hung) / statistics.median(quiet), len(quiet), len(hung)))
PY
