#!/usr/bin/env bash
# make bench: membudget's /validate against a Go net/http baseline doing the
# same checks, in the same run, on the same ~4 KB pod review, over TLS
# keep-alive. Each server is pinned to CPU 0 (the Go one with GOMAXPROCS=1,
# as membudget's webhook is one event loop); the load generators run on CPU 1.
#   1. throughput: wrk, 16 keep-alive connections, $BENCH_SECONDS (default 10)
#   2. latency at a fixed rate: loadgen (open loop, latency from the scheduled
#      send time), $BENCH_RATE requests/s (default 2000)
# The two servers run in $BENCH_ROUNDS (default 3) interleaved rounds; the
# summary gives medians and the median of the per-round ratios. Figures are
# printed; nothing is asserted (these machines are noisy).
set -euo pipefail
bin=$1
root=$(cd "$(dirname "$0")/../.." && pwd)
# BENCH_QUICK=1 (make bench-quick): 2 s figures, one round, 500/s.
q=${BENCH_QUICK:-}
secs=${BENCH_SECONDS:-${q:+2}}; secs=${secs:-10}
rate=${BENCH_RATE:-${q:+500}}; rate=${rate:-2000}
rounds=${BENCH_ROUNDS:-${q:+1}}; rounds=${rounds:-3}
work=$(mktemp -d /tmp/membudget-bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export GOCACHE=${GOCACHE:-$work/gocache} GOPATH=${GOPATH:-$work/gopath} GOFLAGS=-mod=mod
ncpu=$(nproc)
pin_srv=() pin_load=()
if [ "$ncpu" -ge 2 ] && command -v taskset >/dev/null; then pin_srv=(taskset -c 0); pin_load=(taskset -c 1); fi

echo "building the Go baseline and the load generator (Debian's $(go version | cut -d' ' -f3))"
(cd "$root/test/bench/gobaseline" && go build -o "$work/gobaseline" .)
(cd "$root/test/bench/loadgen" && go build -o "$work/loadgen" .)

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])),separators=(",",":")))' \
    "$root/test/fixtures/admission/pod-create-good.json" > "$work/review.json"
echo "review body: $(wc -c < "$work/review.json") bytes (test/fixtures/admission/pod-create-good.json, compact)"

# MODE=core: each server pinned to CPU 0 with one thread (one webhook worker,
# GOMAXPROCS=1), the load on CPU 1. MODE=all: no pinning, every server with
# its defaults for this machine (membudget: a worker per CPU; Go: GOMAXPROCS
# = CPUs), the load generator sharing the same cores.
MODE=core
start_membudget() {
    local w=1 pin=("${pin_srv[@]}")
    [ "$MODE" = all ] && { w=0; pin=(); }
    "${pin[@]}" "$bin" webhook --tls-cert-file "$work/tls.crt" --tls-private-key-file "$work/tls.key" \
        --webhook-bind-address 127.0.0.1:18443 --metrics-bind-address 127.0.0.1:18080 --log-level warn \
        --webhook-workers "$w" 2> "$work/membudget.log" &
    pids+=($!); echo $! > "$work/pid"
}
start_go() {
    if [ "$MODE" = all ]; then
        "$work/gobaseline" -addr 127.0.0.1:19443 -cert "$work/tls.crt" -key "$work/tls.key" 2> "$work/go.log" &
    else
        GOMAXPROCS=1 "${pin_srv[@]}" "$work/gobaseline" -addr 127.0.0.1:19443 -cert "$work/tls.crt" \
            -key "$work/tls.key" 2> "$work/go.log" &
    fi
    pids+=($!); echo $! > "$work/pid"
}
wait_port() { for _ in $(seq 200); do curl -sk -o /dev/null "https://127.0.0.1:$1/" && return 0; sleep 0.05; done; return 1; }

run() { # name port
    local name=$1 port=$2 out lp=("${pin_load[@]}") threads=1
    [ "$MODE" = all ] && { lp=(); threads=2; }
    wait_port "$port"
    # warm-up, then measure
    MB_BODY="$work/review.json" "${lp[@]}" wrk -t"$threads" -c16 -d2s -s "$root/test/bench/wrk_post.lua" "https://localhost:$port/validate" >/dev/null
    out=$(MB_BODY="$work/review.json" "${lp[@]}" wrk -t"$threads" -c16 -d"${secs}s" --latency -s "$root/test/bench/wrk_post.lua" "https://localhost:$port/validate")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    errs=$(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ' || true)
    fixed=$("${lp[@]}" "$work/loadgen" -url "https://localhost:$port/validate" -body "$work/review.json" \
        -cacert "$work/tls.crt" -rate "$rate" -duration "${secs}s" -conns 16)
    rss=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$(cat "$work/pid")/status")
    printf '%s|%s|%s|%s|%s|%s|%s\n' "$name" "$rps" "$p50" "$p99" "$fixed" "$rss" "$errs" >> "$work/results"
    kill "$(cat "$work/pid")"; wait "$(cat "$work/pid")" 2>/dev/null || true
}

bench_mode() {
MODE=$1 MODE_DESC=$2
: > "$work/results"
for r in $(seq "$rounds"); do
    echo "round $r/$rounds"
    start_membudget; run membudget 18443
    start_go; run go-baseline 19443
done

echo
echo "== webhook /validate, ~4 KB pod, TLS keep-alive, $MODE_DESC ($secs s per figure)"
printf '%-12s %12s %10s %10s   %s\n' server "reviews/s" "wrk p50" "wrk p99" "peak RSS"
while IFS='|' read -r name rps p50 p99 fixed rss errs; do
    printf '%-12s %12s %10s %10s   %s %s\n' "$name" "$rps" "$p50" "$p99" "$rss" "$errs"
done < "$work/results"
echo
echo "== latency at a fixed $rate reviews/s (open loop, from scheduled send time)"
while IFS='|' read -r name rps p50 p99 fixed rss errs; do
    printf '%-12s %s\n' "$name" "$fixed"
done < "$work/results"
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
m=$(awk -F'|' '$1=="membudget" {print $2}' "$work/results" | median)
g=$(awk -F'|' '$1=="go-baseline" {print $2}' "$work/results" | median)
ratio=$(paste <(awk -F'|' '$1=="membudget" {print $2}' "$work/results") \
              <(awk -F'|' '$1=="go-baseline" {print $2}' "$work/results") | awk '{ print $1 / $2 }' | median)
mp99=$(awk -F'|' '$1=="membudget" {print $5}' "$work/results" | sed 's/.* p99=\([0-9.]*\)ms.*/\1/' | median)
gp99=$(awk -F'|' '$1=="go-baseline" {print $5}' "$work/results" | sed 's/.* p99=\([0-9.]*\)ms.*/\1/' | median)
echo
echo "== summary over $rounds rounds (medians), $MODE_DESC"
echo "membudget:   $m reviews/s, p99 at $rate/s: ${mp99}ms"
echo "go-baseline: $g reviews/s, p99 at $rate/s: ${gp99}ms"
printf 'throughput ratio membudget / go-baseline (median of per-round ratios): %.2fx\n' "$ratio"
}

bench_mode core "each server on 1 core (one worker / GOMAXPROCS=1), load on the other"
echo
bench_mode all "all cores: servers with their defaults, load on the same cores"
