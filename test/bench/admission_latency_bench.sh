#!/usr/bin/env bash
# Admission latency as the API server's client sees it: pod creates (one
# after another, each a budgeted pod that is never scheduled) timed by a
# client-go program (test/bench/informer/admlat), in the same run against
# the same API server:
#   - in a namespace membudget does not govern (no admission of ours: the floor);
#   - in a governed namespace with membudget installed by Helm in
#     admission.mode=webhook (its mutating and validating webhooks);
#   - the same after `helm upgrade --set admission.mode=policy` with
#     membudget scaled to zero (the API server's admission policies, CEL).
# Three rounds of each, alternated with the floor; medians of p50 and p99,
# and each over the floor of its own rounds. Figures, not assertions.
#   usage: test/bench/admission_latency_bench.sh MEMBUDGET_BINARY (membudget's image is
#   built from the tree, as test/cluster/install-membudget does)
#   BENCH_CLUSTER_DIR (default /var/tmp/membudget-bench-cluster); the
#   cluster is stopped at the end unless BENCH_KEEP=1 (membudget is
#   uninstalled either way).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/mb-admlat.XXXXXX)
. "$root/test/bench/cluster_lib.sh"
n=500; [ -n "${BENCH_QUICK:-}" ] && n=100
cleanup() {
    [ -f "$dir/env" ] && "$cl/install-membudget" --dir "$dir" --via helm --uninstall > /dev/null 2>&1
    kubectl delete namespace lat-plain lat-gov --wait=false > /dev/null 2>&1 || true
    bench_cluster_down
    rm -rf "$work"
}
trap cleanup EXIT
bench_cluster_up
echo "building test/bench/informer/admlat (client-go v0.37.2)"
(cd "$root/test/bench/informer" && GOTOOLCHAIN=local GOFLAGS=-mod=readonly CGO_ENABLED=0 \
    "$GO" build -o "$work/admlat" ./admlat)
"$cl/install-membudget" --dir "$dir" --via helm --config "$root/test/e2e/cluster-config.yaml" | tail -n 1
kubectl create namespace lat-plain > /dev/null
kubectl create namespace lat-gov > /dev/null
kubectl label namespace lat-gov membudget.io/enforce=true > /dev/null
for ns in lat-plain lat-gov; do
    for _ in $(seq 150); do kubectl -n "$ns" get serviceaccount default > /dev/null 2>&1 && break; sleep 0.2; done
done
# answered WORDS: a pod without a budget is denied in lat-gov, in WORDS
answered() {
    local out
    out=$(kubectl -n lat-gov run probe --image=x --dry-run=server 2>&1) && return 1
    grep -q "$1" <<< "$out"
}
rounds() {   # MODE
    for r in 1 2 3; do
        "$work/admlat" --kubeconfig "$dir/kubeconfig" --namespace lat-plain --count "$n" | sed "s/^/$1 none /" >> "$work/all"
        "$work/admlat" --kubeconfig "$dir/kubeconfig" --namespace lat-gov --count "$n" | sed "s/^/$1 ours /" >> "$work/all"
        echo "  $1: round $r of 3 done"
    done
    # A large pod: 60k environment variables (1.8 MB), a few creates
    # (the cost of admission grows with the pod: linear, or worse?)
    local big=3 bigw=1
    [ -n "${BENCH_QUICK:-}" ] && big=1 bigw=0
    "$work/admlat" --kubeconfig "$dir/kubeconfig" --namespace lat-plain --count $big --warmup $bigw --env 60000 | sed "s/^/$1 none-60k /" >> "$work/all"
    "$work/admlat" --kubeconfig "$dir/kubeconfig" --namespace lat-gov --count $big --warmup $bigw --env 60000 | sed "s/^/$1 ours-60k /" >> "$work/all"
    echo "  $1: 60k-env pods done"
}
for _ in $(seq 120); do answered "admission webhook" && break; sleep 0.5; done
answered "admission webhook" || { echo "membudget's webhook does not answer"; exit 1; }
rounds webhook
echo "helm upgrade --set admission.mode=policy, membudget scaled to zero"
helm upgrade membudget "$root/charts/membudget" -n membudget --reuse-values --set admission.mode=policy \
    --wait --timeout 5m > /dev/null
kubectl -n membudget scale deploy membudget --replicas 0 > /dev/null
for _ in $(seq 120); do answered "ValidatingAdmissionPolicy" && break; sleep 0.5; done
answered "ValidatingAdmissionPolicy" || { echo "the admission policies do not answer"; exit 1; }
rounds policy
python3 - "$work/all" "$n" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    mode, who, js = line.split(" ", 2)
    rows.setdefault((mode, who), []).append(json.loads(js))
def med(mode, who, k):
    return statistics.median(r[k] for r in rows[(mode, who)])
print("pod create through admission, %s creates one after another, median of 3 rounds:" % sys.argv[2])
print("%-44s %9s %9s %14s" % ("", "p50 ms", "p99 ms", "p50/p99 over none"))
for mode, label in (("webhook", "membudget's webhooks (admission.mode=webhook)"),
                    ("policy", "admission policies (policy, membudget at 0)")):
    n50, n99 = med(mode, "none", "p50Ms"), med(mode, "none", "p99Ms")
    o50, o99 = med(mode, "ours", "p50Ms"), med(mode, "ours", "p99Ms")
    print("%-44s %9.2f %9.2f" % ("  no admission of ours (same phase)", n50, n99))
    print("%-44s %9.2f %9.2f %8.2fx %5.2fx" % ("  " + label, o50, o99, o50 / n50, o99 / n99))
print("a pod with 60000 environment variables, median of its creates:")
for mode in ("webhook", "policy"):
    n, o = med(mode, "none-60k", "p50Ms"), med(mode, "ours-60k", "p50Ms")
    print("  %-8s no admission of ours %8.0f ms, ours %8.0f ms (%.1fx)" % (mode, n, o, o / n))
w50, p50 = med("webhook", "ours", "p50Ms"), med("policy", "ours", "p50Ms")
w99, p99 = med("webhook", "ours", "p99Ms"), med("policy", "ours", "p99Ms")
print("policy/webhook: p50 %.2fx, p99 %.2fx" % (p50 / w50, p99 / w99))
PY
