#!/usr/bin/env bash
# Webhook isolation: the latency of a normal review in `membudget run` (webhook
# and controller in one process, on this machine, against the bench
# cluster's real API server), idle, then while the same process samples N
# kwok pods (default 10000; made through the API server by mkpods) by
# scraping their /metrics every 2 s (one responder answers for every pod
# IP). One ~4 KB review every 20 ms (50/s, open loop, latency from the
# scheduled send time, one keep-alive connection), $ISO_SECONDS (default 20)
# per phase. Also the process's CPU time per sample cycle. Figures, not
# assertions.
#   usage: test/bench/isolation_bench.sh MEMBUDGET_BINARY [N]
#   ISO_BEFORE=OTHER_BINARY runs the same against it first (before/after, same run).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
q=${BENCH_QUICK:-}   # make bench-quick: 500 pods, 3 s phases
n=${2:-${q:+500}}; n=${n:-10000}
secs=${ISO_SECONDS:-${q:+3}}; secs=${secs:-20}
work=$(mktemp -d /tmp/mb-isobench.XXXXXX)
. "$root/test/bench/cluster_lib.sh"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -z "${KUBECONFIG:-}" ] || [ -n "${BENCH_KEEP:-}" ] || kubectl delete namespace "iso-$n" --wait=false > /dev/null 2>&1 || true
    bench_cluster_down
    rm -rf "$work"
}
trap cleanup EXIT
bench_cluster_up
export GOCACHE=${GOCACHE:-/tmp/membudget-gocache} GOFLAGS=${GOFLAGS:--mod=mod}
(cd "$root/test/bench/loadgen" && go build -o "$work/loadgen" .)
(cd "$root/test/bench/informer" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    "$GO" build -o "$work/mkpods" ./mkpods)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])),separators=(",",":")))' \
    "$root/test/fixtures/admission/pod-create-good.json" > "$work/review.json"
# N kwok pods (kept with the cluster: a rerun with BENCH_KEEP=1 finds them made)
"$work/mkpods" --kubeconfig "$dir/kubeconfig" --namespace "iso-$n" --count "$n" --nodes 10 --metrics-port 19000 \
    2> "$work/mkpods.log" > /dev/null || { tail -n 5 "$work/mkpods.log"; exit 1; }
kubectl create namespace iso-empty > /dev/null 2>&1 || true
cycles() { grep -c '"sample cycle"' "$work/run.log" || true; }

one() { # binary label
    local bin=$1 label=$2 run port idle loaded c0 t0 k
    printf 'sampleInterval: 2s\nusage: {source: scrape, maxConcurrentScrapes: 256, scrapeTimeout: 1500ms}\n' > "$work/cfg.yaml"
    start() { # namespace
        rm -f "$work/run.log"
        "$bin" run --kubeconfig "$dir/kubeconfig" --namespace "$1" --config "$work/cfg.yaml" --log-level debug \
            --tls-cert-file "$work/tls.crt" --tls-private-key-file "$work/tls.key" \
            --webhook-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 2> "$work/run.log" &
        run=$!; pids+=("$run")
        for _ in $(seq 200); do grep -q '"webhook listening"' "$work/run.log" && break; sleep 0.05; done
        port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("msg") == "webhook listening": print(j["address"].rsplit(":", 1)[1]); break' "$work/run.log")
    }
    lg() { "$work/loadgen" -url "https://localhost:$port/validate" -body "$work/review.json" \
        -cacert "$work/tls.crt" -rate 50 -duration "${secs}s" -conns 1; }
    # idle: a namespace with no pod
    start iso-empty
    idle=$(lg)
    kill "$run" 2>/dev/null || true; wait "$run" 2>/dev/null || true
    # loaded: the N pods, scraped every 2 s
    start "iso-$n"
    # wait until cycles cover every pod (the initial sync first)
    for _ in $(seq 1800); do
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
    kill "$run" 2>/dev/null || true; wait "$run" 2>/dev/null || true
}

echo "== webhook isolation: one review every 20 ms, idle, then while scraping $n kwok pods every 2 s ($secs s each)"
[ -n "${ISO_BEFORE:-}" ] && one "$ISO_BEFORE" before
one "$1" now
