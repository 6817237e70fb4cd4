#!/usr/bin/env bash
# The controller against an API server that misbehaves forever (figures, not
# pass/fail): how many requests it makes, and what happens to its memory.
#   1. every watch answered 410 Gone            -> list+watch requests per second
#   2. every watch ends at once with 200        -> watch requests per second
#   3. list pages of 48 MiB (chunked, no length) and pages declaring 1 GiB
#                                               -> controller RSS before/after
#   4. every list answered 307 to another host  -> what the log says
# Each for 8 s, against a small Python server (no kubesim: it behaves).
#   usage: test/bench/hostile_api_bench.sh MEMBUDGET_BINARY
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d /tmp/mb-hostile.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
secs=8; [ -n "${BENCH_QUICK:-}" ] && secs=2   # make bench-quick

cat > "$work/server.py" <<'PY'
import http.server, json, sys, threading
mode = sys.argv[1]
counts = {"list": 0, "watch": 0}
LIST = json.dumps({"kind": "PodList", "metadata": {"resourceVersion": "5"}, "items": []}).encode()

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def send_json(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.startswith("/_counts"):
            return self.send_json(200, json.dumps(counts).encode())
        watch = "watch=1" in self.path
        counts["watch" if watch else "list"] += 1
        if mode == "redirect" and not watch:
            self.send_response(307)
            self.send_header("Location", "https://user:secret@elsewhere.example:6443/api/v1/pods")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "huge" and not watch:
            if counts["list"] % 2:  # chunked, 48 MiB of a list that never ends properly
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b'{"kind":"Pod","metadata":{"name":"' + b"x" * 65000 + b'"}},'
                try:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(b'{"kind":"PodList","items":['),
                                                        b'{"kind":"PodList","items":['))
                    for _ in range(48 * 16):
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.write(b"0\r\n\r\n")
                except OSError:
                    pass
            else:  # declares 1 GiB
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(1 << 30))
                self.end_headers()
                try:
                    self.wfile.write(b'{"kind":"PodList","items":[' + b" " * (1 << 20))
                except OSError:
                    pass
            self.close_connection = True
            return
        if not watch:
            return self.send_json(200, LIST)
        if mode == "gone":
            return self.send_json(410, json.dumps({"kind": "Status", "code": 410,
                                                   "reason": "Expired"}).encode())
        if mode == "short":
            return self.send_json(200, b"")
        return self.send_json(200, b"")

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[2], "w").write("%d" % srv.server_address[1])
srv.serve_forever()
PY

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

run() { # mode -> prints figures
    local mode=$1 port ctl
    rm -f "$work/port"
    python3 "$work/server.py" "$mode" "$work/port" & pids+=($!); local srv=$!
    for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
    port=$(cat "$work/port")
    cat > "$work/kc" <<EOF
apiVersion: v1
kind: Config
current-context: h
clusters: [{name: h, cluster: {server: "http://127.0.0.1:$port"}}]
contexts: [{name: h, context: {cluster: h}}]
EOF
    "$bin" controller --kubeconfig "$work/kc" --namespace bench --metrics-bind-address 127.0.0.1:0 \
        2> "$work/$mode.log" & pids+=($!); ctl=$!
    sleep 1
    local r0; r0=$(rss_kib "$ctl")
    local c0; c0=$(curl -s "http://127.0.0.1:$port/_counts")
    sleep "$secs"
    local c1; c1=$(curl -s "http://127.0.0.1:$port/_counts")
    local r1; r1=$(rss_kib "$ctl")
    python3 - "$mode" "$c0" "$c1" "$r0" "$r1" "$work/$mode.log" "$secs" <<'PY'
import json, sys
mode, c0, c1, r0, r1, logp = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
secs = float(sys.argv[7])
n = lambda k: c1[k] - c0[k]
if mode in ("gone", "short"):
    print("  %-28s %5.1f requests/s (lists %d, watches %d in %g s)" % (
        {"gone": "every watch 410", "short": "every watch ends at once"}[mode],
        (n("list") + n("watch")) / secs, n("list"), n("watch"), secs))
elif mode == "huge":
    print("  %-28s RSS %d MiB after 1 s, %d MiB after %g s of attack (%d list attempts)" % (
        "48 MiB / 1 GiB list pages", r0 // 1024, r1 // 1024, secs, n("list")))
else:
    lines = [json.loads(l) for l in open(logp) if l.startswith("{")]
    msg = next((l.get("error", "") for l in lines if "redirect" in l.get("error", "")), "(none)")
    print("  %-28s log says: %s" % ("a list answered 307", msg))
PY
    kill "$ctl" "$srv" 2>/dev/null || true; wait "$ctl" "$srv" 2>/dev/null || true
}

echo "== the controller against an API server that misbehaves ($secs s each)"
for m in gone short huge redirect; do run "$m"; done
