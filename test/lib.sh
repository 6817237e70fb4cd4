# test/lib.sh -- shared by the shell test suites (sourced, not run):
# counters and their summary line, a throw-away work directory, and the
# chart renderer built into it.
#   NAME="deploy checks"; . "$root/test/lib.sh"
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok   - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; shift; [ $# -gt 0 ] && printf '       %s\n' "$@"; }
# Print the summary (and the counts for test/run_all.sh); status 0 when all passed.
finish() {
    [ -n "${MB_TEST_COUNTS:-}" ] && echo "$pass $fail" > "$MB_TEST_COUNTS"
    echo "$NAME: $pass ok, $fail failing"
    [ "$fail" = 0 ]
}
work=$(mktemp -d "/tmp/mb-${NAME// /-}.XXXXXX")
trap 'rm -rf "$work"' EXIT
# build_render: test/chart/render (helm template's stand-in, and YAML to
# JSON) as $work/render, from Debian's Go packages; a failed check otherwise.
build_render() {
    (cd "$root/test/chart/render" && GO111MODULE=off GOPATH=/usr/share/gocode \
        GOCACHE=${GOCACHE:-/tmp/membudget-gocache} go build -o "$work/render" . 2> "$work/build.err") && return 0
    bad "the chart renderer builds (needs golang-github-masterminds-sprig-dev)" "$(cat "$work/build.err")"
    return 1
}
