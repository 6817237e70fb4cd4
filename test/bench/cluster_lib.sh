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
    # (kwok pods' IPs answer on port 19000: test/bench/responder)
    "$cl/fake-nodes" --dir "$dir" --nodes 10 --endpoints 19000 | tail -n 1
    . "$dir/env"
    . "$cl/lib.sh"; find_go > /dev/null
}
bench_cluster_down() {
    [ -n "${BENCH_KEEP:-}" ] || "$cl/down" --dir "$dir" > /dev/null 2>&1 || true
}
# CPU time (user + system, ms) process PID has used so far.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) * 1000 / hz }' "/proc/$1/stat"; }
