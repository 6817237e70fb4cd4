#!/usr/bin/env bash
# The local demo, on a real Kubernetes cluster on this machine
# (test/cluster: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, a kubelet with containerd and runc, kube-proxy,
# metrics-server; built from source the first time, cached after): membudget
# installed by Helm as a user would, then the story of test/demo/cluster_demo.py
# (admission, a live view while one Go service's garbage is reclaimed by a
# forced GC and another's leak ends in an eviction, the Events, a real OOM
# kill explained, GOMEMLIMIT following a new budget, captures and
# recommendations). Ends by itself and stops the cluster.
#
#   usage: test/demo/demo.sh MEMBUDGET_BINARY
#   DEMO_CLUSTER_DIR  the cluster's directory (default /var/tmp/membudget-demo-cluster)
#   DEMO_KEEP=1       leave the cluster up afterwards (test/cluster/down --dir DIR stops it)
set -euo pipefail
bin=$(cd "$(dirname "${1:-bin/membudget}")" && pwd)/$(basename "${1:-bin/membudget}")
root=$(cd "$(dirname "$0")/../.." && pwd)
# The cluster needs root (a kubelet, containerd, a bridge, cgroups).
if [ "$(id -u)" != 0 ]; then
    command -v sudo > /dev/null || { echo "demo: the test cluster must run as root (no sudo here)" >&2; exit 1; }
    exec sudo -E "$0" "$bin"
fi
dir=${DEMO_CLUSTER_DIR:-/var/tmp/membudget-demo-cluster}
cl=$root/test/cluster
t0=$SECONDS
if [ -t 1 ]; then B=$'\033[1m'; N=$'\033[0m'; else B=; N=; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }
stop() {
    local rc=$?
    if [ -n "${DEMO_KEEP:-}" ]; then
        say "the cluster stays up (DEMO_KEEP): . $dir/env; kubectl get pods -A; test/cluster/down --dir $dir stops it"
    else
        say "stop the cluster (test/cluster/down)"
        "$cl/down" --dir "$dir" || rc=1
    fi
    echo "demo finished in $(( (SECONDS - t0) / 60 ))m$(( (SECONDS - t0) % 60 ))s$([ "$rc" = 0 ] || echo ", with errors")"
    exit "$rc"
}
trap stop EXIT

say "1. a Kubernetes cluster on this machine (test/cluster/up --dir $dir)"
echo "(the first run builds the components from the Go module proxy: some 20 minutes; then cached)"
"$cl/up" --dir "$dir"

say "2. images without a registry: membudget's (bookworm + bin/membudget) and the Go target's"
"$cl/images" --out "$dir/images" leaky > /dev/null
"$cl/load-image" --dir "$dir" "$dir/images/leaky.tar"

say "3. helm install membudget charts/membudget --wait (config: test/demo/demo-config.yaml)"
"$cl/install-membudget" --dir "$dir" --via helm --config "$root/test/demo/demo-config.yaml" |
    grep -v '^Waiting for deployment'

"$root/test/demo/cluster_demo.py" --dir "$dir" --bin "$bin"
