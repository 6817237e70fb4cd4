# test/bench/cluster_lib.sh -- sourced by the bench scripts that run on the
# bench cluster (a real API server, kwok's fake nodes, one responder
# answering /metrics for every kwok pod IP): up (idempotent: a cluster left
# up by the previous bench script is found running), and down at the end
# unless BENCH_KEEP=1 (make bench keeps it between its scripts and stops it
# once). Needs $root and $work.
#   BENCH_CLUSTER_DIR (default /var/tmp/membudget-bench-cluster)
cl=$root/test/cluster
dir=${BENCH_CLUSTER_DIR:-/var/tmp/membudget-bench-cluster}
bench_cluster_up() {
    "$cl/up" --dir "$dir" | tail -n 1
    bench_kwok metrics
    . "$dir/env"
    . "$cl/lib.sh"; find_go > /dev/null
}
# bench_kwok metrics|plain: kwok's fake nodes, their pods' IPs answering on
# port 19000 (test/bench/responder); with "metrics" their usage also reaches
# metrics.k8s.io (kwok's server, read by the real metrics-server), which
# costs kwok too much for 100k pods. A kwok running the other way is
# restarted.
bench_kwok() {
    local pid has=plain
    pid=$(cat "$dir/run/kwok.pid" 2>/dev/null) || pid=
    if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ]; then
        tr '\0' ' ' < "/proc/$pid/cmdline" | grep -- '--enable-crds' > /dev/null && has=metrics
        if [ "$has" != "$1" ]; then
            kill "$pid"
            for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        fi
    fi
    local extra=()
    [ "$1" = metrics ] && extra=(--metrics)
    "$cl/fake-nodes" --dir "$dir" --nodes 10 --endpoints 19000 "${extra[@]}" | tail -n 1
}
bench_cluster_down() {
    [ -n "${BENCH_KEEP:-}" ] || "$cl/down" --dir "$dir" > /dev/null 2>&1 || true
}
# CPU time (user + system, ms) process PID has used so far.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
