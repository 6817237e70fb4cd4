# test/lib.sh -- shared by the shell test suites (sourced, not run):
# counters and their summary line, a throw-away work directory, and a
# kubesim on a free port with a kubeconfig pointing at it.
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
sim=
trap '[ -n "$sim" ] && kill $sim 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
# start_sim [kubesim flags...]: sets $sim (pid), $simaddr, and exports KUBECONFIG.
start_sim() {
    "$root/test/kubesim/kubesim" --listen 127.0.0.1:0 --address-file "$work/addr" \
        --kubeconfig-file "$work/kubeconfig" "$@" > /dev/null 2> "$work/sim.err" &
    sim=$!
    for _ in $(seq 100); do [ -s "$work/kubeconfig" ] && break; sleep 0.05; done
    simaddr=$(cat "$work/addr")
    export KUBECONFIG=$work/kubeconfig
}
