#!/usr/bin/env bash
# make tsan: the threaded parts under ThreadSanitizer. The io suites (the
# real binary: workers, drain, certificate reloads, cross-thread calls), the
# metrics registry's thread test, and the controller's and webhook's
# end-to-end scenarios (`run`, leader election, remediation) run against a
# binary built with -fsanitize=thread. Any report fails the run and is
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
"$root/test/e2e/controller_e2e.py" "$b/membudget" | tail -n 1 || rc=1
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
"$root/test/e2e/remedy_e2e.py" "$b/membudget" reclaimable unreclaimable pdb_blocks oom_ledger recommend | tail -n 1
[ "${PIPESTATUS[0]}" = 0 ] || rc=1
if ls "$reports".* > /dev/null 2>&1; then
    echo "ThreadSanitizer reports:"
    cat "$reports".*
    rc=1
fi
[ "$rc" = 0 ] && echo "tsan: clean" || echo "tsan: FAILED"
exit "$rc"
