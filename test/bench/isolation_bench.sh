#!/usr/bin/env bash
# Webhook isolation: the latency of a normal review in `membudget run` (webhook
# and controller in one process), idle, then while the same process samples
# N pods (default 10000) from the metrics API every 2 s. One ~4 KB review
# every 20 ms (50/s, open loop, latency from the scheduled send time, one
# keep-alive connection), $ISO_SECONDS (default 20) per phase. Also the
# controller's CPU time per sample cycle. Figures are printed, not asserted.
#   usage: test/bench/isolation_bench.sh MEMBUDGET_BINARY [N]
#   ISO_BEFORE=OTHER_BINARY runs the same against it first (before/after, same run).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
q=${BENCH_QUICK:-}   # make bench-quick: 500 pods, 3 s phases
n=${2:-${q:+500}}; n=${n:-10000}
secs=${ISO_SECONDS:-${q:+3}}; secs=${secs:-20}
work=$(mktemp -d /tmp/mb-isobench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export GOCACHE=${GOCACHE:-/tmp/membudget-gocache} GOFLAGS=${GOFLAGS:--mod=mod}
(cd "$root/test/bench/loadgen" && go build -o "$work/loadgen" .)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])),separators=(",",":")))' \
    "$root/test/fixtures/admission/pod-create-good.json" > "$work/review.json"
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
cycles() { grep -c '"sample cycle"' "$work/run.log" || true; }

one() { # binary label
    local bin=$1 label=$2 sim run port idle loaded c0 t0 k
    rm -f "$work/addr" "$work/kc" "$work/run.log"
    "$root/test/kubesim/kubesim" --listen 127.0.0.1:0 --address-file "$work/addr" --no-kubelet \
        --kubeconfig-file "$work/kc" --watch-window 1000 > /dev/null 2> "$work/sim.err" &
    sim=$!; pids+=("$sim")
    for _ in $(seq 100); do [ -s "$work/kc" ] && break; sleep 0.05; done
    api="http://$(cat "$work/addr")"
    curl -sS -X POST "$api/api/v1/namespaces" -d '{"metadata":{"name":"bench"}}' > /dev/null
    printf 'sampleInterval: 2s\nusage: {allowLoopback: true}\n' > "$work/cfg.yaml"
    "$bin" run --kubeconfig "$work/kc" --namespace bench --config "$work/cfg.yaml" --log-level debug \
        --tls-cert-file "$work/tls.crt" --tls-private-key-file "$work/tls.key" \
        --webhook-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 2> "$work/run.log" &
    run=$!; pids+=("$run")
    for _ in $(seq 200); do grep -q '"webhook listening"' "$work/run.log" && break; sleep 0.05; done
    port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("msg") == "webhook listening": print(j["address"].rsplit(":", 1)[1]); break' "$work/run.log")
    lg() { "$work/loadgen" -url "https://localhost:$port/validate" -body "$work/review.json" \
        -cacert "$work/tls.crt" -rate 50 -duration "${secs}s" -conns 1; }
    idle=$(lg)
    tmpl='{"metadata":{"annotations":{"membudget.io/budget":"256Mi"}},"spec":{"containers":[{"name":"app","image":"x","resources":{"limits":{"memory":"512Mi"}}}]}}'
    curl -sS -X POST "$api/_sim/bulk-pods" -d "{\"namespace\":\"bench\",\"prefix\":\"p\",\"count\":$n,\"template\":$tmpl}" > /dev/null
    python3 - "$api" "$n" <<'PY'
import json, sys, urllib.request
items = [{"namespace": "bench", "name": "p-%d" % i, "containers": {"app": "100Mi"}} for i in range(int(sys.argv[2]))]
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/_sim/podmetrics", json.dumps({"items": items}).encode(), {"Content-Type": "application/json"}))
PY
    # wait until cycles cover every pod
    for _ in $(seq 600); do
        grep '"sample cycle"' "$work/run.log" | tail -n 1 | grep "\"pods\":$n[,}]" > /dev/null && break; sleep 0.1
    done
    c0=$(cycles); t0=$(cpu_ms "$run")
    loaded=$(lg)
    k=$(( $(cycles) - c0 ))
    printf '%-8s idle:   %s\n' "$label" "$idle"
    printf '%-8s loaded: %s\n' "$label" "$loaded"
    awk -v a="$t0" -v b="$(cpu_ms "$run")" -v k="$k" -v l="$label" \
        'BEGIN { if (k > 0) printf "%-8s process CPU per 2 s sample cycle while loaded (cycles + reviews): %.0f ms over %d cycles\n", l, (b - a) / k, k }'
    paste <(sed 's/.* p99=\([0-9.]*\)ms.*/\1/' <<< "$idle") <(sed 's/.* p99=\([0-9.]*\)ms.*/\1/' <<< "$loaded") |
        awk -v l="$label" '{ printf "%-8s p99 loaded / idle: %.1fx\n", l, $2 / $1 }'
    kill "$run" "$sim" 2>/dev/null || true; wait "$run" "$sim" 2>/dev/null || true
}

echo "== webhook isolation: one review every 20 ms, idle, then while sampling $n pods every 2 s ($secs s each)"
[ -n "${ISO_BEFORE:-}" ] && one "$ISO_BEFORE" before
one "$1" now
