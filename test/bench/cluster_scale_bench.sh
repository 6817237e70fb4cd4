#!/usr/bin/env bash
# Initial sync on the real API server, membudget beside its peer: N budgeted
# pods on kwok's fake nodes (test/cluster/fake-nodes), made through the real
# kube-apiserver (test/bench/informer/mkpods); then, three rounds each, in
# the same run against the same API server and the same pods:
#   - `membudget controller --namespace NS`: time to its "initial sync
#     complete" log line, VmRSS then, and VmRSS of a run that watches an
#     empty namespace (the baseline subtracted for the per-pod figure);
#   - a client-go shared informer for pods (test/bench/informer), as
#     controller-runtime controllers list and watch, with and without
#     managedFields: time to HasSynced, VmRSS after a GC, and its baseline;
#   - then (N <= 10000) a sample cycle over the same pods by direct scrapes
#     of their /metrics, which one process answers for every pod IP
#     (test/bench/responder, fake-nodes --endpoints), and one through
#     metrics.k8s.io (the real metrics-server reading kwok's per-node
#     /metrics/resource): the median cycle and what it costs per pod.
# Medians; ratios membudget/informer. Figures, not assertions.
#   usage: test/bench/cluster_scale_bench.sh MEMBUDGET_BINARY [N...]
#   BENCH_CLUSTER_DIR (default /var/tmp/membudget-bench-cluster); the
#   cluster (and its pods) are deleted at the end unless BENCH_KEEP=1.
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(10000 100000)
[ -n "${BENCH_QUICK:-}" ] && [ $# = 0 ] && counts=(1000)   # make bench-quick
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/mb-scalebench.XXXXXX)
. "$root/test/bench/cluster_lib.sh"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    bench_cluster_down
    rm -rf "$work"
}
trap cleanup EXIT
bench_cluster_up
echo "building the client-go peer (test/bench/informer, client-go v0.37.2)"
(cd "$root/test/bench/informer" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    "$GO" build -o "$work/informer" . && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    "$GO" build -o "$work/mkpods" ./mkpods)

kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status"; }
# membudget NS: "ms rssKiB" at its initial sync (ms -1 when it never synced)
# (usage from the metrics API, one call a minute: the sync is what is measured)
printf 'sampleInterval: 60s\nusage: {source: metrics-api}\n' > "$work/sync.yaml"
membudget_run() {
    local log=$work/ctl.log c line
    "$bin" controller --kubeconfig "$dir/kubeconfig" --namespace "$1" --config "$work/sync.yaml" \
        --metrics-bind-address 127.0.0.1:0 2> "$log" &
    c=$!; pids+=("$c")
    for _ in $(seq 15000); do
        grep -q '"initial sync complete"' "$log" && break
        kill -0 "$c" 2> /dev/null || { tail -n 5 "$log" >&2; break; }   # it exited: say why
        sleep 0.02
    done
    sleep 0.5
    line=$(grep -m1 '"initial sync complete"' "$log" || true)
    local rss; rss=$(kb "$c" VmRSS)
    kill "$c"; wait "$c" 2>/dev/null || true
    if [ -z "$line" ]; then echo "-1 $rss"; return; fi
    python3 -c 'import json,sys; print(json.loads(sys.argv[1])["duration_ms"], sys.argv[2])' "$line" "$rss"
}
# informer NS [--strip-managed-fields]: "ms rssKiB"
informer_run() {
    local ns=$1; shift
    "$work/informer" --kubeconfig "$dir/kubeconfig" --namespace "$ns" "$@" |
        python3 -c 'import json,sys; j=json.load(sys.stdin); print(j["syncedMs"], j["rssKiB"])'
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
# cycle NS N LABEL USAGE_YAML: membudget sampling NS every 5 s; prints the
# median of cycles 2-4 ("sample cycle" log lines), stale pods, and its CPU.
cycle() {
    local ns=$1 n=$2 label=$3 c cpu
    printf 'sampleInterval: 5s\n%s\n' "$4" > "$work/cycle.yaml"
    "$bin" controller --kubeconfig "$dir/kubeconfig" --namespace "$ns" --config "$work/cycle.yaml" \
        --log-level debug --metrics-bind-address 127.0.0.1:0 2> "$work/cycle.log" &
    c=$!; pids+=("$c")
    for _ in $(seq 1200); do
        [ "$(grep -c '"sample cycle"' "$work/cycle.log" || true)" -ge 4 ] && break
        kill -0 "$c" 2> /dev/null || { tail -n 5 "$work/cycle.log" >&2; break; }
        sleep 0.25
    done
    cpu=$(cpu_ms "$c" 2>/dev/null || echo 0)
    kill "$c"; wait "$c" 2>/dev/null || true
    python3 - "$work/cycle.log" "$n" "$cpu" "$label" <<'PY'
import json, statistics, sys
c = [json.loads(l) for l in open(sys.argv[1]) if '"sample cycle"' in l]
if len(c) < 2:
    print("%-8s sample cycle %s: fewer than 2 cycles (see the controller's log)" % (sys.argv[2], sys.argv[4]))
else:
    d = [x["duration_ms"] for x in c[1:4]]
    print("%-8s sample cycle %s: median %d ms over %d cycles, %.1f us/pod, "
          "%d of %d stale; controller CPU %.0f ms in all (sync included)"
          % (sys.argv[2], sys.argv[4], statistics.median(d), len(d), statistics.median(d) * 1000 / c[-1]["pods"],
             c[-1]["stale"], c[-1]["pods"], float(sys.argv[3])))
PY
}

printf '%-8s %-34s %10s %10s %12s\n' pods who synced_ms rss_KiB B_per_pod
for n in "${counts[@]}"; do
    ns=scale-$n
    # (kwok's metrics emulation only where a metrics.k8s.io cycle is measured)
    if [ "$n" -le 10000 ]; then bench_kwok metrics; else bench_kwok plain; fi
    # kwok (without its metrics emulation) runs pods at about 30 a second
    # past 60k on this machine's 2 cores: 100k take about an hour, beyond
    # mkpods' default 30 min (the first 100k run stopped at 66683 Running)
    "$work/mkpods" --kubeconfig "$dir/kubeconfig" --namespace "$ns" --count "$n" --nodes 10 --metrics-port 19000 \
        --timeout "$(( n > 45000 ? n / 20 : 1800 ))s" \
        2> "$work/mkpods.log" > /dev/null || { tail -n 5 "$work/mkpods.log"; exit 1; }
    kubectl create namespace "empty-$n" > /dev/null 2>&1 || true
    for who in membudget informer informer-strip; do
        case $who in
            membudget) run() { membudget_run "$@"; } ;;
            informer) run() { informer_run "$@"; } ;;
            informer-strip) run() { informer_run "$@" --strip-managed-fields; } ;;
        esac
        : > "$work/r"
        for _ in 1 2 3; do run "$ns" >> "$work/r"; done
        base=$(for _ in 1 2 3; do run "empty-$n"; done | awk '{print $2}' | median)
        ms=$(awk '{print $1}' "$work/r" | median)
        rss=$(awk '{print $2}' "$work/r" | median)
        per=$(( (rss - base) * 1024 / n ))
        printf '%-8s %-34s %10s %10s %12s\n' "$n" "$who" "$ms" "$rss" "$per"
        echo "$n $who $ms $rss $per" >> "$work/all"
    done
    python3 - "$n" "$work/all" <<'PY'
import sys
n = sys.argv[1]
rows = {l.split()[1]: l.split() for l in open(sys.argv[2]) if l.split()[0] == n}
m, i = rows["membudget"], rows["informer"]
print("%-8s membudget/informer: time to synced %.2fx, bytes per pod %.3fx (%s vs %s B)"
      % (n, float(m[2]) / float(i[2]), float(m[4]) / float(i[4]), m[4], i[4]))
PY
    # A sample cycle over the 10k pods, by direct scrapes of their /metrics
    # (one responder in the pod network answers for all of them), then by one
    # metrics.k8s.io list (the real metrics-server, scraping each kwok node's
    # /metrics/resource from kwok's server): the median of cycles 2-4 from
    # membudget's own "sample cycle" lines, and its CPU.
    if [ "$n" -le 10000 ]; then
        cycle "$ns" "$n" "by scrape (256 at once)" \
            'usage: {source: scrape, maxConcurrentScrapes: 256, scrapeTimeout: 4s}'
        # The same number of pods that count their working set (no endpoint);
        # metrics-server reports a pod once it has two of kwok's samples of it.
        "$work/mkpods" --kubeconfig "$dir/kubeconfig" --namespace "$ns-ws" --count "$n" --nodes 10 \
            2> "$work/mkpods.log" > /dev/null || { tail -n 5 "$work/mkpods.log"; exit 1; }
        got=0
        for _ in $(seq 180); do
            got=$(kubectl get --raw "/apis/metrics.k8s.io/v1beta1/namespaces/$ns-ws/pods" 2>/dev/null |
                python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))' 2>/dev/null) || got=0
            [ "${got:-0}" -ge "$n" ] && break
            sleep 1
        done
        if [ "${got:-0}" -ge "$n" ]; then
            cycle "$ns-ws" "$n" "by metrics.k8s.io (one list)" 'usage: {source: metrics-api}'
        else
            echo "$n sample cycle by metrics.k8s.io: metrics-server reports ${got:-0} of the $n pods after 3 min (see $dir/logs/metrics-server.log)"
        fi
    fi
    # (kept with the cluster: a rerun with BENCH_KEEP=1 finds its pods made)
    [ -n "${BENCH_KEEP:-}" ] || kubectl delete namespace "$ns" "$ns-ws" "empty-$n" --wait=false > /dev/null 2>&1 || true
done
