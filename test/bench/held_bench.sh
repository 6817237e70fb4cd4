#!/usr/bin/env bash
# Held bodies: 300 connections (HELD_CONNS) each send the headers of a 3 MiB
# review and then as much of its body as the webhook takes, never the last
# byte, for 6 s. Prints the webhook's peak resident memory, and its resident
# memory once the connections are gone. Printed, never asserted here (the io
# suite asserts the bound).
#   usage: test/bench/held_bench.sh MEMBUDGET_BINARY
#   HELD_BEFORE=OTHER_BINARY measures it first (before/after, same run).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
q=${BENCH_QUICK:-}   # make bench-quick: 20 connections for 2 s
n=${HELD_CONNS:-${q:+20}}; n=${n:-300}
hold=${q:+2}; hold=${hold:-6}
work=$(mktemp -d /tmp/mb-heldbench.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null
kib() { awk -v f="$1:" '$1 == f { print $2 }' "/proc/$pid/status"; }
one() { # binary label
    "$1" webhook --tls-cert-file "$work/tls.crt" --tls-private-key-file "$work/tls.key" \
        --webhook-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 --log-level info \
        --webhook-request-timeout 60s 2> "$work/wh.log" &
    pid=$!
    for _ in $(seq 100); do grep -q '"webhook listening"' "$work/wh.log" && break; sleep 0.05; done
    port=$(python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j = json.loads(l)
    if j.get("msg") == "webhook listening": print(j["address"].rsplit(":", 1)[1]); break' "$work/wh.log")
    python3 - "$port" "$n" "$hold" <<'PY'
import socket, ssl, sys, time
port, n, hold = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
body = 3 << 20
conns = []
for _ in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
    s.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % body)
    s.setblocking(False)
    conns.append(s)
chunk, sent, t = b" " * 65536, [0] * n, time.time()
while time.time() - t < hold:
    for i, s in enumerate(conns):
        try:
            if sent[i] < body - 1:
                sent[i] += s.send(chunk[:min(65536, body - 1 - sent[i])])
        except (ssl.SSLWantWriteError, BlockingIOError):
            pass
print("  sent %d MiB in all" % (sum(sent) >> 20))
for s in conns:
    s.close()
PY
    local peak after
    peak=$(kib VmHWM)
    sleep 2
    after=$(kib VmRSS)
    printf '%-8s %d connections holding 3 MiB - 1: peak RSS %d MiB, RSS %d MiB 2 s after they closed\n' \
        "$2" "$n" $((peak / 1024)) $((after / 1024))
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
echo "== webhook memory with held request bodies"
[ -n "${HELD_BEFORE:-}" ] && one "$HELD_BEFORE" before
one "$1" now
