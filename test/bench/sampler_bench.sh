#!/usr/bin/env bash
# Reaction figures on the real API server (the bench cluster: a kwok pod
# whose /metrics is test/bench/responder, its usage set through the
# responder; `membudget controller` on this machine for its namespace):
#  1. a pod's usage is set over the throttle threshold: from the breaker's
#     decision to the condition patch answered by the real API server
#     (action latency, from the controller's log), and from the usage change
#     to the condition seen False in the API (end to end, includes waiting
#     for the next sample). sampleInterval 1s, sustainSamples 1.
#  2. the same end to end with sustainSamples 2, alone and with one hung pod
#     elsewhere (its /metrics never answers; scrapeTimeout 800ms): each pod
#     is sampled on its own schedule, so the ratio should stay near 1.
# Medians of REACTION_TRIALS (9; bench-quick 3). (The sample cycle over 10k
# pods by scrape is cluster_scale_bench.sh's.) Figures, not assertions.
#   usage: test/bench/sampler_bench.sh MEMBUDGET_BINARY
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
q=${BENCH_QUICK:-}
export REACTION_TRIALS=${q:+3}; REACTION_TRIALS=${REACTION_TRIALS:-9}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/mb-smpbench.XXXXXX)
. "$root/test/bench/cluster_lib.sh"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -z "${KUBECONFIG:-}" ] || kubectl delete namespace reaction --wait=false > /dev/null 2>&1 || true
    bench_cluster_down
    rm -rf "$work"
}
trap cleanup EXIT
bench_cluster_up

start_ctl() { # config-file
    "$bin" controller --kubeconfig "$dir/kubeconfig" --namespace reaction --config "$1" --log-level debug \
        --metrics-bind-address 127.0.0.1:0 2> "$work/ctl.log" &
    ctl=$!; pids+=("$ctl")
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# From Python: the API server with the admin's certificate, the responder,
# pod r-0 (budget 100Mi, gated, its /metrics the responder's), and trials of
# usage 10Mi -> 90Mi -> 10Mi timing the condition False.
cat > "$work/reaction.py" <<'PY'
import json, os, ssl, time, urllib.request
DIR = os.environ["BENCH_DIR"]
API = open(os.path.join(DIR, "kubeconfig")).read().split("server: ")[1].split()[0]
CTX = ssl.create_default_context(cafile=os.path.join(DIR, "pki", "ca.crt"))
CTX.load_cert_chain(os.path.join(DIR, "pki", "admin.crt"), os.path.join(DIR, "pki", "admin.key"))
RESP = "http://10.128.0.1:19000"
GATE = "membudget.io/within-budget"
KWOK = {"nodeSelector": {"type": "kwok"},
        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]}

def call(method, path, body=None, base=None, ctx=CTX):
    req = urllib.request.Request((base or API) + path, json.dumps(body).encode() if body is not None else None,
                                 {"Content-Type": "application/json"}, method=method)
    with urllib.request.urlopen(req, context=ctx if not base else None, timeout=10) as r:
        data = r.read()
        return json.loads(data) if data else None

def pod(name, port=19000):
    call("POST", "/api/v1/namespaces/reaction/pods", {"metadata": {"name": name, "annotations": {
        "membudget.io/budget": "100Mi", "membudget.io/usage": "heap",
        "membudget.io/metrics": "%d/metrics" % port}}, "spec": dict(KWOK, readinessGates=[
            {"conditionType": GATE}], containers=[{"name": "app", "image": "fake", "ports": [
                {"containerPort": port}], "resources": {"limits": {"memory": "200Mi"}}}])})
    for _ in range(600):
        ip = (call("GET", "/api/v1/namespaces/reaction/pods/" + name).get("status") or {}).get("podIP")
        if ip:
            return ip
        time.sleep(0.1)
    raise SystemExit("pod %s never got an IP" % name)

def cond():
    p = call("GET", "/api/v1/namespaces/reaction/pods/r-0")
    for c in p["status"].get("conditions", []):
        if c["type"] == GATE:
            return c["status"]

def wait(v, limit=15):
    t = time.monotonic()
    while time.monotonic() - t < limit:
        if cond() == v:
            return time.monotonic()
        time.sleep(0.005)
    return None

IP = None
def usage(mib):
    call("POST", "/_usage", {IP: mib << 20}, base=RESP)

def behave(ip, how):
    call("POST", "/_behave", {ip: how}, base=RESP)

def start(ip):
    """The trials' pod is IP; its usage at rest (10Mi) and its gate open."""
    global IP
    IP = ip
    usage(10)
    wait("True", 30)

def trials(limit=15):
    out = []
    for _ in range(int(os.environ["REACTION_TRIALS"])):
        time.sleep(1.3)
        t0 = time.monotonic()
        usage(90)
        t1 = wait("False", limit)
        if t1:
            out.append((t1 - t0) * 1000)
        usage(10)
        wait("True", limit)
    return out
PY
export BENCH_DIR=$dir
kubectl delete namespace reaction --ignore-not-found > /dev/null
kubectl create namespace reaction > /dev/null
# (the ServiceAccount a pod needs: the controller manager makes it in its own time)
for _ in $(seq 100); do kubectl -n reaction get serviceaccount default > /dev/null 2>&1 && break; sleep 0.1; done
python3 - "$work" > "$work/ip" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import reaction
print(reaction.pod("r-0"))
PY

# 1. reaction
echo "== reaction on the real API server: usage crosses the throttle threshold (sampleInterval 1s, sustainSamples 1), $REACTION_TRIALS trials"
printf 'sampleInterval: 1s\nsustainSamples: 1\nrecoverSamples: 1\nusage: {scrapeTimeout: 800ms}\n' > "$work/c1.yaml"
start_ctl "$work/c1.yaml"
python3 - "$work" "$(cat "$work/ip")" <<'PY'
import json, statistics, sys, time, calendar
sys.path.insert(0, sys.argv[1])
import reaction
def ts(line):
    j = json.loads(line)
    return calendar.timegm(time.strptime(j["ts"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + j["ts"][20:23])
reaction.start(sys.argv[2])
e2e = reaction.trials()
lines = open(sys.argv[1] + "/ctl.log").read().splitlines()
tiers = [ts(l) for l in lines if '"msg":"tier"' in l and '"to":"throttle"' in l]
sets = [ts(l) for l in lines if '"msg":"condition set"' in l and '"status":"False"' in l]
act = [(b - a) * 1000 for a, b in zip(tiers, sets)]
if act and e2e:
    print("  decision -> condition patch answered by the API server (action latency): median %.1f ms (n=%d)"
          % (statistics.median(act), len(act)))
    print("  usage changed -> condition False seen in the API (end to end, includes waiting for the "
          "next sample): median %.0f ms (n=%d)" % (statistics.median(e2e), len(e2e)))
else:
    print("  no reaction measured (decisions %d, patches %d, trials %d): see the controller's log"
          % (len(tiers), len(sets), len(e2e)))
PY
stop "$ctl"

# 2. reaction with sustainSamples 2, quiet, then with one hung pod elsewhere.
echo
echo "== reaction with sustainSamples 2 (sampleInterval 1s): quiet, then one hung pod elsewhere, $REACTION_TRIALS trials each"
printf 'sampleInterval: 1s\nsustainSamples: 2\nrecoverSamples: 1\nusage: {scrapeTimeout: 800ms}\n' > "$work/c2.yaml"
start_ctl "$work/c2.yaml"
python3 - "$work" "$(cat "$work/ip")" <<'PY'
import statistics, sys, time
sys.path.insert(0, sys.argv[1])
import reaction
reaction.start(sys.argv[2])
quiet = reaction.trials()
hung = reaction.pod("hung-0")
reaction.behave(hung, "hang")  # its /metrics accepts and never answers
try:
    time.sleep(3)
    slow = reaction.trials()
finally:
    reaction.behave(hung, "")
if quiet and slow:
    print("  usage changed -> condition False (end to end): median %.0f ms quiet, %.0f ms with a hung pod "
          "(ratio %.2f; n=%d, %d)" % (statistics.median(quiet), statistics.median(slow),
                                      statistics.median(slow) / statistics.median(quiet), len(quiet), len(slow)))
else:
    print("  no reaction measured (quiet %d, hung %d trials): see the controller's log" % (len(quiet), len(slow)))
PY
stop "$ctl"
