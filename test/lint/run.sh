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
grep -q '^<stdin>:1:1: Pod j: metadata.annotations\[membudget.io/budget\]: required' /tmp/mb-lint.$$; check "json message" 0 $?
# A broken document in the middle: reported at its line, the others still
# checked (a Rollout and a ReplicationController), exit 2 after everything.
"$bin" lint --quiet multi.yaml >/tmp/mb-lint.$$ 2>&1; check "multi.yaml" 2 $?
if diff -u multi.expected /tmp/mb-lint.$$; then pass=$((pass + 1)); else echo "FAIL: multi.yaml messages differ"; fail=$((fail + 1)); fi
# CI formats: one JSON object per finding; GitHub workflow annotations.
"$bin" lint --quiet --output json multi.yaml 2>/dev/null | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
want = [(16, "unreadable", None), (25, "violation", "Rollout shop/canary"),
        (37, "violation", "ReplicationController shop/legacy")]
got = [(r["line"], r["type"], r["object"]) for r in rows]
sys.exit(0 if got == want and all(r["file"] == "multi.yaml" for r in rows) else print(got) or 1)'
check "--output json" 0 $?
"$bin" lint --quiet --output github multi.yaml 2>/dev/null | grep -c '^::error file=multi.yaml,line=[0-9]*,col=[0-9]*,title=membudget' \
    | grep -qx 3; check "--output github" 0 $?
"$bin" lint --quiet --output yaml multi.yaml >/dev/null 2>&1; check "unknown --output" 2 $?
printf 'apiVersion: example.com/v1\nkind: Worker\nmetadata: {name: w}\nspec:\n  pod:\n    spec: {containers: [{name: a}]}\n' >/tmp/mb-lint-w.$$
"$bin" lint --quiet /tmp/mb-lint-w.$$ >/dev/null 2>&1; check "unknown kind skipped" 0 $?
"$bin" lint --quiet --pod-template 'example.com/Worker: spec.pod' /tmp/mb-lint-w.$$ >/dev/null 2>&1; check "--pod-template" 1 $?
"$bin" lint --quiet --pod-template 'Worker spec.pod' /tmp/mb-lint-w.$$ >/dev/null 2>&1; check "bad --pod-template" 2 $?
rm -f /tmp/mb-lint-w.$$
printf 'apiVersion: v1\nkind: ConfigMap\ndata:\n  a: "\xff"\n' | "$bin" lint --quiet - 2>&1 | grep -q '^<stdin>:4:7: error: invalid UTF-8'
check "invalid UTF-8 at its line" 0 $?
"$bin" lint --quiet /nonexistent.yaml >/dev/null 2>&1; check "missing file" 2 $?
printf 'a: [1, 2\n' | "$bin" lint --quiet - >/dev/null 2>&1; check "broken yaml" 2 $?
"$bin" lint --quiet --config /nonexistent good.yaml >/dev/null 2>&1; check "bad config" 2 $?
rm -f /tmp/mb-lint.$$
echo "lint checks: $pass ok, $fail failing"
echo "$pass $fail" > "${MB_LINT_COUNTS:-/dev/null}"
[ "$fail" = 0 ]
