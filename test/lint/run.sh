#!/usr/bin/env bash
# Lint the example manifests with the real binary: good.yaml passes (exit 0),
# bad.yaml fails (exit 1) with exactly bad.expected, JSON input and stdin
# work, and unreadable input exits 2.
set -u
bin=$1
cd "$(dirname "$0")"
fail=0
pass=0
check() { # name, want-exit, got-exit
    if [ "$2" = "$3" ]; then pass=$((pass + 1)); else echo "FAIL: $1: exit $3, want $2"; fail=$((fail + 1)); fi
}
"$bin" lint --quiet good.yaml >/tmp/mb-lint.$$ 2>&1; check "good.yaml" 0 $?
"$bin" lint --quiet bad.yaml >/tmp/mb-lint.$$ 2>&1; check "bad.yaml" 1 $?
if diff -u bad.expected /tmp/mb-lint.$$; then pass=$((pass + 1)); else echo "FAIL: bad.yaml messages differ"; fail=$((fail + 1)); fi
"$bin" lint --quiet - <good.yaml >/dev/null 2>&1; check "stdin" 0 $?
printf '{"apiVersion":"v1","kind":"Pod","metadata":{"name":"j"},"spec":{"containers":[{"name":"a"}]}}\n{"kind":"ConfigMap","apiVersion":"v1"}\n' \
    | "$bin" lint --quiet - >/tmp/mb-lint.$$ 2>&1; check "json stream" 1 $?
grep -q '^<stdin>:1: Pod/j: metadata.annotations\[membudget.io/budget\]: required' /tmp/mb-lint.$$; check "json message" 0 $?
"$bin" lint --quiet /nonexistent.yaml >/dev/null 2>&1; check "missing file" 2 $?
printf 'a: [1, 2\n' | "$bin" lint --quiet - >/dev/null 2>&1; check "broken yaml" 2 $?
"$bin" lint --quiet --config /nonexistent good.yaml >/dev/null 2>&1; check "bad config" 2 $?
rm -f /tmp/mb-lint.$$
echo "lint checks: $pass ok, $fail failing"
echo "$pass $fail" > "${MB_LINT_COUNTS:-/dev/null}"
[ "$fail" = 0 ]
