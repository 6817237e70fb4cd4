#!/usr/bin/env bash
# make tsan: the threaded parts under ThreadSanitizer. The io suites (the
# real binary: workers, drain, certificate reloads, cross-thread calls), the
# metrics registry's thread test, the API client against the real API
# server, and the controller's end-to-end scenarios on the real cluster
# (leader election, failover, remediation) run a binary built with
# -fsanitize=thread. Any report fails the run and is
# printed, wherever the process's stderr went.
#   usage: test/tsan.sh BUILD_DIR   (holds unit and membudget, built with SAN=thread)
set -u
b=$(cd "$1" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
reports=$b/tsan-report
rm -f "$reports".*
export TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 log_path=$reports"
export MB_BIN=$b/membudget MB_SRCDIR=$root
rc=0
for suite in webhook_io kube_io mx; do
    CK_RUN_SUITE=$suite "$b/unit" 2>&1 | grep -E '^[0-9]+%: Checks|^test/' || true
    [ "${PIPESTATUS[0]}" = 0 ] || rc=1
done
# The controller on the real cluster (test/e2e/cluster_run.sh): this build
# is the membudget the host scenarios run (leader election and failover,
# the rate limit's executor, a failing metrics API), and check's
# kube_io_cluster suite is this build's.
E2E_ONLY="leader_election failover_continuity rate_limit metrics_failing" MB_HOST_BIN=$b/membudget \
    MB_UNIT=$b/unit "$root/test/e2e/cluster_run.sh" 2>&1 | grep -E '^(ok|FAIL) |^cluster e2e:' || true
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
if ls "$reports".* > /dev/null 2>&1; then
    echo "ThreadSanitizer reports:"
    cat "$reports".*
    rc=1
fi
[ "$rc" = 0 ] && echo "tsan: clean" || echo "tsan: FAILED"
exit "$rc"
