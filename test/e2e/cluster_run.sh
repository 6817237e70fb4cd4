#!/usr/bin/env bash
# test/e2e/cluster_run.sh -- make e2e-cluster: a real cluster (test/cluster/up),
# membudget installed by Helm, the scenarios of test/e2e/cluster_e2e.py,
# membudget uninstalled and installed again by kubectl apply -f deploy/, the
# scenarios that depend on how it was installed, then the cluster stopped.
#
#   E2E_CLUSTER_DIR  the cluster's directory (default /var/tmp/membudget-e2e-cluster)
#   E2E_KEEP=1       leave the cluster (and the scenarios' namespaces) up
#   E2E_ONLY="a b"   run only these scenarios (with the Helm install); "upgrade"
#                    is the helm upgrade check, "admission_chain" and "policy_diff"
#                    the admission suites
#   MB_TEST_COUNTS   FILE: "passed failed" for test/run_all.sh
#   MB_UNIT          check's test runner (its kube_io_cluster suite runs here)
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${E2E_CLUSTER_DIR:-/var/tmp/membudget-e2e-cluster}
cl=$root/test/cluster
pass=0 fail=0
counts=$(mktemp)
trap 'rm -f "$counts"' EXIT
t0=$SECONDS
# The test bed's facts (ETCD_PORT, BRIDGE, CGROUP_ROOT, FWD_CHAIN) and find_go.
. "$cl/lib.sh"

down() {
    if [ -z "${E2E_KEEP:-}" ]; then "$cl/down" --dir "$dir" || fail=$((fail + 1)); fi
}
abort() {
    echo "FAIL - $1"
    fail=$((fail + 1))
    down
    finish
}
finish() {
    [ -n "${MB_TEST_COUNTS:-}" ] && echo "$pass $fail" > "$MB_TEST_COUNTS"
    echo "cluster e2e: $pass ok, $fail failing ($((SECONDS - t0)) s)"
    [ "$fail" = 0 ]
    exit $?
}
# admission_chain: cluster_admission.sh (injectors, LimitRanges, large
# updates, never-governed namespaces, membudget down), its counts added.
admission_chain() {
    MB_TEST_COUNTS=$counts "$root/test/e2e/cluster_admission.sh" --dir "$dir"
    add_counts
}
# policy_diff: every admission case through the webhooks, then through the
# admission policies (admission.mode=policy, membudget scaled to zero).
policy_diff() {
    MB_TEST_COUNTS=$counts "$root/test/e2e/cluster_policy_diff.py" --dir "$dir"
    add_counts
}
# add_counts: a suite's "passed failed" (MB_TEST_COUNTS) added to ours; none
# written (it crashed) is a failure.
add_counts() {
    local p f
    read -r p f < "$counts" || { p=0; f=1; }
    : > "$counts"   # (read once: a later suite that writes nothing is not given these)
    pass=$((pass + p)); fail=$((fail + f))
}
# (sc_hostile runs membudget on this machine through the fault-injecting proxy)
export MB_FAULTPROXY=$dir/run/faultproxy
# (kwok pods' IPs answer on this port: test/bench/responder in fake-nodes' namespace)
FAKE_PORT=19000
export MB_FAKE_PORT=$FAKE_PORT
# on_cluster deploy|chart: that check script's real-API-server part, its
# counts added to ours.
on_cluster() {
    MB_TEST_COUNTS=$counts "$root/test/$1/check.sh" --cluster "$dir" "$root/bin/membudget"
    add_counts
}
# suite VIA SCENARIO...: cluster_e2e.py's counts added to ours.
suite() {
    local via=$1; shift
    echo "## membudget installed --via $via"
    MB_TEST_COUNTS=$counts "$root/test/e2e/cluster_e2e.py" --dir "$dir" "$@"
    add_counts
}

# Bad input: each a clear error naming what is wrong, before anything starts.
expect_error() {
    local what=$1 want=$2 out; shift 2
    if out=$("$@" 2>&1); then
        echo "FAIL - $what: exit 0"; fail=$((fail + 1))
    elif grep -qF -- "$want" <<< "$out"; then
        echo "ok   - $what: '$want'"; pass=$((pass + 1))
    else
        echo "FAIL - $what: no '$want' in: $out"; fail=$((fail + 1))
    fi
}
expect_error "up without --dir" "--dir DIR is required" "$cl/up"
# (from a copy the user can read: the clone may be under root's 0700 home)
nr=$(mktemp -d); cp "$cl/up" "$cl/lib.sh" "$cl/pki.sh" "$nr/"; chmod -R a+rX "$nr"
expect_error "up as a user who is not root" "must run as root" setpriv --reuid=65534 --regid=65534 --clear-groups "$nr/up" --dir /tmp/mb-not-root
rm -rf "$nr"
expect_error "load-image without a cluster" "no cluster in /nonexistent" "$cl/load-image" --dir /nonexistent /etc/hostname
expect_error "install-membudget --via kustomize" "--via must be helm or manifests" "$cl/install-membudget" --dir "$dir" --via kustomize
expect_error "mkimage with a short name" "must be a full reference" "$cl/mkimage" --name leaky --rootfs / --out /dev/null
# The Go module proxy unreachable, on a cold cache: named, not a Go stack of errors.
cold=$(mktemp -d)
expect_error "a build with the Go module proxy unreachable" "is the Go module proxy reachable" \
    env MB_CLUSTER_CACHE="$cold/cache" GOMODCACHE="$cold/mod" GOPROXY=http://127.0.0.1:9 GOFLAGS=-mod=mod \
    "$cl/build" etcd
rm -rf "$cold"
# A port that a component needs, taken by another process: named, with who holds it.
if ! ss -ltnH "sport = :$ETCD_PORT" | grep . > /dev/null; then
    python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); print("held", flush=True); time.sleep(600)' \
        "$ETCD_PORT" > "$counts.port" &
    holder=$!
    for _ in $(seq 50); do grep -q held "$counts.port" 2>/dev/null && break; sleep 0.1; done
    had_bridge=$(ip link show "$BRIDGE" 2>/dev/null)
    expect_error "up with etcd's port taken" "port $ETCD_PORT is taken" "$cl/up" --dir "$dir"
    # (checked before anything is made: a rerun once the port is free meets no half-made bridge)
    if [ -z "$had_bridge" ] && ip link show "$BRIDGE" > /dev/null 2>&1; then
        echo "FAIL - up with etcd's port taken left the bridge $BRIDGE behind"; fail=$((fail + 1))
    fi
    kill "$holder"; wait "$holder" 2>/dev/null; rm -f "$counts.port"
fi

# helm upgrade --wait: the certificate hooks run again (before: the Secret is
# kept; after: the caBundle is already current), the webhook configurations
# keep their CA through Helm's apply, and the webhook still answers over TLS.
upgrade() {
    local out
    # (set -e does not hold inside an if's condition: every step says why it failed)
    if out=$(
        . "$dir/env"
        cabundle() { kubectl get validatingwebhookconfiguration,mutatingwebhookconfiguration \
            -l app.kubernetes.io/name=membudget -o jsonpath='{.items[*].webhooks[*].clientConfig.caBundle}'; }
        before=$(cabundle) || exit 1
        helm upgrade membudget "$root/charts/membudget" -n membudget --reuse-values --wait \
            --timeout 5m 2>&1 > /dev/null || exit 1
        after=$(cabundle) || exit 1
        secret=$(kubectl -n membudget get secret membudget-webhook-tls -o jsonpath='{.data.ca\.crt}') ||
            exit 1
        [ -n "$after" ] && [ "$before" = "$after" ] || { echo "the caBundles changed or went: '$before' -> '$after'"; exit 1; }
        for ca in $after; do [ "$ca" = "$secret" ] || { echo "a caBundle is not the Secret's ca.crt"; exit 1; }; done
        kubectl create namespace mb-upgrade-$$ 2>&1 > /dev/null &&
            kubectl label namespace mb-upgrade-$$ membudget.io/enforce=true 2>&1 > /dev/null || exit 1
        refused=$(kubectl -n mb-upgrade-$$ run nobudget --image=membudget.test/leaky:dev --dry-run=server 2>&1) &&
            { echo "a pod without a budget was admitted"; exit 1; }
        kubectl delete namespace mb-upgrade-$$ --wait=false > /dev/null
        grep -q "membudget" <<< "$refused" || { echo "not refused by membudget: $refused"; exit 1; }
    ); then
        echo "ok   - helm upgrade --wait: the CA is kept in the webhook configurations, the webhook still refuses a pod without a budget"
        pass=$((pass + 1))
    else
        echo "FAIL - helm upgrade --wait: $out"; fail=$((fail + 1))
    fi
}

# The last stop is the hard one: every process of the cluster (components,
# shims, the pods' processes) killed with SIGKILL, then down; what is left is
# looked up here, not taken from down's word.
down_after_sigkill() {
    pkill -KILL -f -- "$dir/" 2>/dev/null
    for c in /sys/fs/cgroup/*"$CGROUP_ROOT"; do
        [ -d "$c" ] && find "$c" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u | xargs -r kill -KILL 2>/dev/null
    sleep 1
    "$cl/down" --dir "$dir" > /dev/null 2>&1
    local left=()
    pgrep -f -- "$dir/" > /dev/null && left+=("processes: $(pgrep -af -- "$dir/" | head -n 3 | tr '\n' ';')")
    awk -v r="$dir" 'index($5, r "/") == 1' /proc/self/mountinfo | grep . > /dev/null && left+=("mounts under $dir")
    ip link show "$BRIDGE" > /dev/null 2>&1 && left+=("the bridge $BRIDGE")
    ip netns list 2>/dev/null | grep "^$FAKE_NETNS\b" > /dev/null && left+=("the network namespace $FAKE_NETNS")
    ip route show "$KWOK_CIDR" 2>/dev/null | grep . > /dev/null && left+=("a route to $KWOK_CIDR")
    ip -o link show type veth 2>/dev/null | grep "master $BRIDGE" > /dev/null && left+=("veths on $BRIDGE")
    { iptables-save; ip6tables-save; } 2>/dev/null | grep 'KUBE-\|'"$FWD_CHAIN" > /dev/null && left+=("iptables rules")
    ls -d /sys/fs/cgroup/*"$CGROUP_ROOT" > /dev/null 2>&1 && left+=("cgroups $CGROUP_ROOT")
    ip route show | grep -q " metric $FALLBACK_METRIC" && left+=("the fallback routes (metric $FALLBACK_METRIC)")
    [ -s "$LOCK_FILE" ] && left+=("the machine's lock: $(cat "$LOCK_FILE")")
    if [ ${#left[@]} = 0 ]; then
        echo "ok   - down after SIGKILL to every process of the cluster: no process, mount, bridge, veth, namespace, route, iptables rule or cgroup left, the lock free"
        pass=$((pass + 1))
    else
        echo "FAIL - down after SIGKILL left: ${left[*]}"; fail=$((fail + 1))
    fi
}

"$cl/up" --dir "$dir" || abort "test/cluster/up"
pass=$((pass + 1)); echo "ok   - test/cluster/up: a node Ready, metrics.k8s.io Available"
# The S3 server of the forensics scenarios (test/cluster/s3), built while the
# scenarios before them run (a cold build takes minutes; they mostly wait on
# pods): sc_forensics switches membudget to it (install-membudget --s3),
# whose build waits for this one.
"$cl/build" seaweedfs > "$dir/logs/build-seaweedfs.log" 2>&1 &
seaweed_build=$!
# kwok's fake nodes, for scenarios with more pods than the node runs (sc_watch)
"$cl/fake-nodes" --dir "$dir" --nodes 2 --endpoints "$FAKE_PORT" | tail -n 2 || abort "test/cluster/fake-nodes"
# the CRDs of the kinds the chart may render (prometheus-operator's, cert-manager's)
"$cl/crds" --dir "$dir" | tail -n 1 || abort "test/cluster/crds"
# The fault-injecting proxy's own tests (its Go is the cluster's: 1.26).
( find_go > /dev/null; cd "$root/test/faultproxy" &&
    GOTOOLCHAIN=local GOFLAGS=-mod=mod "$GO" test -count=1 . &&
    GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0 "$GO" build -o "$dir/run/faultproxy" . ) \
    > "$dir/logs/faultproxy-test.log" 2>&1
if [ $? = 0 ]; then
    echo "ok   - test/faultproxy: go test"; pass=$((pass + 1))
else
    echo "FAIL - test/faultproxy: go test"; sed 's/^/       /' "$dir/logs/faultproxy-test.log" | tail -n 20; fail=$((fail + 1))
fi
# The API client and the writers against the real API server: check's
# kube_io_cluster suite (TLS, a rotated token, Events, Evictions with a PDB).
kube_io() {
    local out checks failures errors
    if [ -z "${MB_UNIT:-}" ]; then
        echo "FAIL - kube_io_cluster: MB_UNIT (check's runner) is not set"; fail=$((fail + 1)); return
    fi
    out=$(MB_KUBE_IO_KUBECONFIG=$dir/kubeconfig CK_RUN_SUITE=kube_io_cluster "$MB_UNIT" 2>&1)
    read -r checks failures errors < <(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' <<< "$out")
    if [ -z "${checks:-}" ]; then
        echo "FAIL - kube_io_cluster: no summary"; sed 's/^/       /' <<< "$out" | tail -n 20; fail=$((fail + 1)); return
    fi
    pass=$((pass + checks - failures - errors)); fail=$((fail + failures + errors))
    if [ $((failures + errors)) = 0 ]; then
        echo "ok   - kube_io_cluster: $checks checks of the API client against the real API server"
    else
        echo "FAIL - kube_io_cluster:"; grep -E ':[FE]:' <<< "$out" | sed 's/^/       /'
    fi
}
kube_io
"$cl/images" --out "$dir/images" leaky && "$cl/load-image" --dir "$dir" "$dir/images/leaky.tar" ||
    abort "the leaky target's image"
expect_error "load-image of a file that is no image" "not a tar archive" "$cl/load-image" --dir "$dir" /etc/hostname
# A second up finds everything running and builds nothing.
out=$("$cl/up" --dir "$dir" 2>&1)
if grep -q "building" <<< "$out" || [ "$(grep -c "already running" <<< "$out")" != 8 ]; then
    echo "FAIL - a second up is idempotent: $out"; fail=$((fail + 1))
else
    echo "ok   - a second up builds nothing and finds all 8 components running"; pass=$((pass + 1))
fi

"$cl/install-membudget" --dir "$dir" --via helm --config "$root/test/e2e/cluster-config.yaml" ||
    abort "helm install membudget charts/membudget"
pass=$((pass + 1)); echo "ok   - helm install: both replicas Ready, the webhooks have their CA"
if [ -n "${E2E_ONLY:-}" ]; then
    only=" $E2E_ONLY "
    if [[ $only == *" upgrade "* ]]; then upgrade; only=${only/ upgrade / }; fi
    if [[ $only == *" admission_chain "* ]]; then admission_chain; only=${only/ admission_chain / }; fi
    if [[ $only == *" policy_diff "* ]]; then policy_diff; only=${only/ policy_diff / }; fi
    # shellcheck disable=SC2086
    [ -z "${only// /}" ] || suite helm $only
else
    suite helm   # every scenario of cluster_e2e.py
    admission_chain
    policy_diff
    upgrade
    on_cluster chart
    "$cl/install-membudget" --dir "$dir" --via helm --uninstall || abort "helm uninstall"
    "$cl/install-membudget" --dir "$dir" --via manifests --config "$root/test/e2e/cluster-config.yaml" ||
        abort "kubectl apply -f deploy/"
    pass=$((pass + 1)); echo "ok   - kubectl apply -f deploy/: both replicas Ready, the webhooks have their CA"
    on_cluster deploy
    suite manifests admission throttle_gc rbac_and_writes
fi
# (the background build: done long ago when the forensics scenarios ran)
wait "$seaweed_build" || { echo "FAIL - test/cluster/build seaweedfs (log: $dir/logs/build-seaweedfs.log)"; fail=$((fail + 1)); }
if [ -z "${E2E_ONLY:-}" ] && [ -z "${E2E_KEEP:-}" ]; then down_after_sigkill; else down; fi
finish
