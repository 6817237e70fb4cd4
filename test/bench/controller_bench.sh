#!/usr/bin/env bash
# Controller figures: initial-sync time and resident memory with N pods in
# the simulator (default 10000 and 100000), per pod. Each run: a fresh
# kubesim, N budgeted running pods created in bulk, `membudget controller`
# started, the time to its "initial sync complete" log line (list pages of
# 500 + cache build), then VmRSS and VmHWM (peak) from /proc. A run with 0
# pods gives the baseline subtracted for the per-pod figure.
#   usage: test/bench/controller_bench.sh MEMBUDGET_BINARY [N...]
set -euo pipefail
bin=$1; shift
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(10000 100000)
[ -n "${BENCH_QUICK:-}" ] && [ $# = 0 ] && counts=(1000)   # make bench-quick
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/mb-ctlbench.XXXXXX)
sim= ctl=
cleanup() { [ -n "$ctl" ] && kill "$ctl" 2>/dev/null; [ -n "$sim" ] && kill "$sim" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }

run() {
    local n=$1
    rm -f "$work/addr" "$work/kc"
    "$root/test/kubesim/kubesim" --listen 127.0.0.1:0 --address-file "$work/addr" \
        --kubeconfig-file "$work/kc" --no-kubelet --watch-window 1000 > /dev/null 2> "$work/sim.err" &
    sim=$!
    for _ in $(seq 100); do [ -s "$work/kc" ] && break; sleep 0.05; done
    local a; a=$(cat "$work/addr")
    curl -sS -X POST "http://$a/api/v1/namespaces" -d '{"metadata":{"name":"bench"}}' > /dev/null
    local t0 t1
    t0=$(date +%s.%N)
    local left=$n start=0
    while [ "$left" -gt 0 ]; do
        local c=$(( left > 20000 ? 20000 : left ))
        curl -sS -X POST "http://$a/_sim/bulk-pods" -d "{\"namespace\":\"bench\",\"prefix\":\"p\",\"start\":$start,\"count\":$c,
          \"template\":{\"metadata\":{\"labels\":{\"app\":\"bench\"},\"annotations\":{\"membudget.io/budget\":\"768Mi\",
          \"membudget.io/metrics\":\"6060/metrics\",\"membudget.io/gc\":\"6060/debug/gc\"},
          \"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":\"ReplicaSet\",\"name\":\"bench-7d9f8\",\"uid\":\"0b8f0e5c-1111-2222-3333-444455556666\",\"controller\":true}]},
          \"spec\":{\"containers\":[{\"name\":\"app\",\"image\":\"registry.example.com/team/app:1.2.3\",
          \"resources\":{\"limits\":{\"memory\":\"1Gi\",\"cpu\":\"1\"},\"requests\":{\"memory\":\"1Gi\",\"cpu\":\"500m\"}},
          \"ports\":[{\"name\":\"metrics\",\"containerPort\":6060}],\"env\":[{\"name\":\"GOMEMLIMIT\",\"value\":\"805306368\"}]}]}}}" > /dev/null
        left=$((left - c)); start=$((start + c))
    done
    t1=$(date +%s.%N)
    "$bin" controller --kubeconfig "$work/kc" --namespace bench --metrics-bind-address 127.0.0.1:0 \
        2> "$work/ctl.log" &
    ctl=$!
    for _ in $(seq 6000); do grep -q '"initial sync complete"' "$work/ctl.log" && break; sleep 0.02; done
    sleep 0.5
    local line rss hwm
    line=$(grep '"initial sync complete"' "$work/ctl.log")
    rss=$(kb "$ctl" VmRSS); hwm=$(kb "$ctl" VmHWM)
    kill "$ctl"; wait "$ctl" 2>/dev/null || true; ctl=
    kill "$sim"; wait "$sim" 2>/dev/null || true; sim=
    python3 - "$n" "$rss" "$hwm" "$line" "$t0" "$t1" <<'PY'
import json, sys
n, rss, hwm = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
j = json.loads(sys.argv[4])
print("%d %d %d %d %d %.1f" % (n, rss, hwm, j["duration_ms"], j["cache_bytes"], float(sys.argv[6]) - float(sys.argv[5])))
PY
}

echo "== controller: initial sync and memory (kubesim on loopback, list pages of 500)"
base=$(run 0)
read -r _ rss0 hwm0 _ _ _ <<< "$base"
printf '%-8s %10s %12s %12s %14s %14s %14s\n' pods sync_ms sync_us/pod rss_MiB rss_B/pod peak_MiB cache_B/pod
for n in "${counts[@]}"; do
    read -r _ rss hwm ms cache _ <<< "$(run "$n")"
    awk -v n="$n" -v ms="$ms" -v rss="$rss" -v rss0="$rss0" -v hwm="$hwm" -v cache="$cache" 'BEGIN {
        printf "%-8d %10d %12.1f %12.1f %14.0f %14.1f %14.0f\n", n, ms, ms*1000/n, rss/1024, (rss-rss0)*1024/n, hwm/1024, cache/n }'
done
echo "(rss_B/pod: resident memory above the 0-pod baseline of $((rss0 / 1024)) MiB, divided by pods; peak includes the 500-pod list pages being decoded)"
