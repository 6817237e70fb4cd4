#!/usr/bin/env bash
# Forensics figures (issue 34; figures, never pass/fail):
#   1. decoding and diffing two heap profiles of about 5 MiB each (pprofgen:
#      6000 functions, deep stacks, inline frames), membudget's pprof.c
#      beside `go tool pprof -top -diff_base` on the same files, same run;
#   2. a capture from the decision to the object stored: the profile GET
#      from a loopback stand-in for the pod, the outbox, the PUT to a real
#      SeaweedFS (test/cluster/build seaweedfs, on loopback here).
#   usage: test/bench/forensics_bench.sh MEMBUDGET_BINARY   (BENCH_QUICK=1: small, one round)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/mb-fxbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
samples=88000 rounds=5 peer_rounds=3 store_rounds=20
[ -n "${BENCH_QUICK:-}" ] && samples=8000 rounds=1 peer_rounds=1 store_rounds=3

export GOFLAGS=-mod=mod GOCACHE=${GOCACHE:-/tmp/membudget-gocache}
echo "== forensics: profiles of $samples samples (pprofgen)"
(cd "$root/test/bench/pprofgen" && go run . -out "$work" -samples "$samples")
"$root/build/bench/pprof_bench" decode "$work/base.pb.gz" "$work/cur.pb.gz" "$rounds"
ts=()
for _ in $(seq "$peer_rounds"); do
    t0=$(date +%s%N)
    go tool pprof -top -nodefraction=0 -sample_index=inuse_space -diff_base="$work/base.pb.gz" \
        "$work/cur.pb.gz" > /dev/null 2>&1
    ts+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
med=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (${#ts[@]} + 1) / 2 ))p")
echo "peer: go tool pprof -top -diff_base on the same two files: ${med} ms (median of $peer_rounds, the whole command)"

# 2. decision to stored, against a real S3 server on loopback
. "$root/test/cluster/lib.sh"
"$root/test/cluster/build" --env "$work/bin.env" seaweedfs > "$work/build.log" 2>&1 ||
    { tail -n 20 "$work/build.log"; echo "forensics bench: building SeaweedFS failed"; exit 1; }
. "$work/bin.env"
mkdir -p "$work/s3/data" "$work/keys" "$work/spool"
echo bench > "$work/keys/access-key"; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > "$work/keys/secret-key"
sk=$(cat "$work/keys/secret-key")
printf '{"identities":[{"name":"bench","credentials":[{"accessKey":"bench","secretKey":"%s"}],"actions":["Read","Write","List","Admin"]}]}\n' "$sk" > "$work/s3/id.json"
port=18433
"$SEAWEEDFS_BIN/weed" server -dir="$work/s3/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port=19435 -volume.port=19441 -volume.max=4 -filer -filer.port=18989 \
    -s3 -s3.port=$port -s3.config="$work/s3/id.json" > "$work/weed.log" 2>&1 &
pids+=($!)
for _ in $(seq 120); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 --aws-sigv4 "aws:amz:us-east-1:s3" \
        --user "bench:$sk" -X PUT "http://127.0.0.1:$port/bench") || true
    [ "$code" = 200 ] || [ "$code" = 409 ] && break
    sleep 0.5
done
[ "$code" = 200 ] || [ "$code" = 409 ] || { tail -n 20 "$work/weed.log"; echo "forensics bench: SeaweedFS did not serve S3"; exit 1; }
(cd "$work" && exec python3 -m http.server 18434 --bind 127.0.0.1) > /dev/null 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:18434/cur.pb.gz" && break; sleep 0.1; done
# (the outbox's log lines go to a file: the figure is the line to read)
"$root/build/bench/pprof_bench" store "http://127.0.0.1:$port" bench "$work/keys" \
    "http://127.0.0.1:18434/cur.pb.gz" "$work/spool" "$store_rounds" 2> "$work/store.log" ||
    { tail -n 20 "$work/store.log"; exit 1; }
