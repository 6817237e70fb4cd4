#!/usr/bin/env bash
# Runs every test `make test` owns and ends with one line that counts them
# all: the house rules (format, long functions, layout), check's unit + io suites, the lint checks on example manifests,
# deploy/'s and the chart's checks, and every end-to-end scenario on a real
# cluster built here (test/e2e/cluster_run.sh: make e2e-cluster).
#   usage: test/run_all.sh UNIT_BINARY MEMBUDGET_BINARY
set -u
unit=$1
bin=$2
root=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp)
counts=$(mktemp)
dcounts=$(mktemp)
ccounts=$(mktemp)
xcounts=$(mktemp)
icounts=$(mktemp)
fcounts=$(mktemp)
trap 'rm -f "$log" "$counts" "$dcounts" "$ccounts" "$xcounts" "$icounts" "$fcounts"' EXIT

# The house rules a machine can check: format, long functions, the layout.
house_ok=0; house_bad=0
for h in "make -s --no-print-directory -C $root format-check" "$root/test/tools/codestats --brief --max-long 5 $root/src" \
         "$root/test/tools/layout-check ${MB_PURE_MODULES:-}"; do
    if out=$($h 2>&1); then house_ok=$((house_ok + 1)); echo "ok   - ${out%%$'\n'*}"
    else house_bad=$((house_bad + 1)); echo "FAIL - $h"; echo "$out"; fi
done
MB_BIN=$bin MB_SRCDIR=$root "$unit" 2>&1 | tee "$log"
unit_rc=${PIPESTATUS[0]}
MB_LINT_COUNTS=$counts "$root/test/lint/run.sh" "$bin"
lint_rc=$?
MB_TEST_COUNTS=$dcounts "$root/test/deploy/check.sh" "$bin"
dep_rc=$?
MB_TEST_COUNTS=$ccounts "$root/test/chart/check.sh" "$bin"
chart_rc=$?
# `membudget profiles diff` against `go tool pprof` on the same profiles.
MB_TEST_COUNTS=$fcounts "$root/test/forensics/pprof-compare" "$bin"
pp_rc=$?
# The test bed's own safety (lock, state file, fallback routes), no cluster needed.
MB_TEST_COUNTS=$icounts "$root/test/cluster/isolation-test"
iso_rc=$?
MB_UNIT=$(realpath "$unit") MB_TEST_COUNTS=$xcounts "$root/test/e2e/cluster_run.sh"
cluster_rc=$?
# The Go side: contrib/go's own tests, and the leaky target builds.
export GOCACHE=${GOCACHE:-/tmp/membudget-gocache} GOFLAGS=${GOFLAGS:--mod=mod}
go_ok=0; go_bad=0
if (cd "$root/contrib/go" && go test ./...) && (cd "$root/test/targets/leaky" && go build -o /dev/null .); then
    go_ok=1; echo "go: contrib/go tests and test/targets/leaky build ok"
else
    go_bad=1; echo "go: FAILED"
fi

# check prints "100%: Checks: 269, Failures: 0, Errors: 0"
read -r checks failures errors < <(sed -n 's/.*Checks: \([0-9]*\), Failures: \([0-9]*\), Errors: \([0-9]*\).*/\1 \2 \3/p' "$log" | tail -n 1)
read -r lint_ok lint_bad < "$counts" || { lint_ok=0; lint_bad=1; }
read -r dep_ok dep_bad < "$dcounts" || { dep_ok=0; dep_bad=1; }
read -r chart_ok chart_bad < "$ccounts" || { chart_ok=0; chart_bad=1; }
read -r cl_ok cl_bad < "$xcounts" || { cl_ok=0; cl_bad=1; }
read -r iso_ok iso_bad < "$icounts" || { iso_ok=0; iso_bad=1; }
read -r pp_ok pp_bad < "$fcounts" || { pp_ok=0; pp_bad=1; }
checks=${checks:-0}; failures=${failures:-0}; errors=${errors:-1}
failed=$((failures + errors + house_bad + lint_bad + dep_bad + chart_bad + iso_bad + pp_bad + cl_bad + go_bad))
passed=$((checks - failures - errors + house_ok + lint_ok + dep_ok + chart_ok + iso_ok + pp_ok + cl_ok + go_ok))
echo "tests: $passed passed, $failed failed"
[ "$unit_rc" = 0 ] && [ "$lint_rc" = 0 ] && [ "$dep_rc" = 0 ] && [ "$chart_rc" = 0 ] && [ "$iso_rc" = 0 ] && [ "$pp_rc" = 0 ] && [ "$cluster_rc" = 0 ] && [ "$failed" = 0 ]
