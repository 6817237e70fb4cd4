#!/usr/bin/env bash
# The local demo, as it stands with the admission webhook (the controller,
# the API simulator and the leaking Go targets join it in later issues):
# a throw-away CA and serving certificate, `membudget webhook` on loopback,
# real AdmissionReviews over HTTPS, the metrics they produce, and `lint`.
# Runs by itself and stops by itself.
set -euo pipefail
bin=${1:-bin/membudget}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d /tmp/membudget-demo.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
if [ -t 1 ]; then B=$'\033[1m'; N=$'\033[0m'; else B=; N=; fi
say() { printf '\n%s== %s%s\n' "$B" "$*" "$N"; }

say "1. a throw-away CA and a serving certificate for localhost"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=demo-ca \
    -keyout "$work/ca.key" -out "$work/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
    -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$work/ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.crt" -CAkey "$work/ca.key" -CAcreateserial \
    -days 1 -extfile "$work/ext" -out "$work/tls.crt" 2>/dev/null
echo "certificate: $(openssl x509 -in "$work/tls.crt" -noout -subject -enddate | tr '\n' ' ')"

say "2. membudget webhook on 127.0.0.1 (logs are JSON lines)"
"$bin" webhook --tls-cert-file "$work/tls.crt" --tls-private-key-file "$work/tls.key" \
    --webhook-bind-address 127.0.0.1:0 --metrics-bind-address 127.0.0.1:0 2> "$work/log" &
pid=$!
for _ in $(seq 100); do grep -q '"metrics listening"' "$work/log" 2>/dev/null && break; sleep 0.05; done
cat "$work/log"
addr() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    j=json.loads(l)
    if j["msg"]==sys.argv[2]: print(j["address"])' "$work/log" "$1"; }
wh=$(addr "webhook listening"); mt=$(addr "metrics listening")
port=${wh##*:}

post() { curl -sS --cacert "$work/ca.crt" -H 'Content-Type: application/json' \
    --data-binary @"$root/test/fixtures/admission/$2" "https://localhost:$port$1"; }
show() { python3 -c 'import json,sys,base64
r=json.load(sys.stdin)["response"]
print("allowed:", r["allowed"])
if "status" in r: print("message:", r["status"]["message"].replace("; ", ";\n         "))
for w in r.get("warnings", []): print("warning:", w)
if "patch" in r: print("patch:", json.dumps(json.loads(base64.b64decode(r["patch"])), indent=1))'; }

say "3. a well-budgeted pod: allowed"
post /validate pod-create-good.json | show
say "4. a pod with three mistakes: denied, every violation listed"
post /validate pod-create-bad.json | show
say "5. the same pod in a namespace labelled membudget.io/admission=audit: warnings only"
post /validate/audit pod-create-bad.json | show
say "6. /mutate on pod creation: GOMEMLIMIT and the readiness gate"
post /mutate pod-create-mutate.json | show
say "7. a Deployment template without a budget: denied at its template's path"
post /validate deployment-create-bad.json | show
say "8. not an AdmissionReview: HTTP 400 with a one-line reason"
curl -sS --cacert "$work/ca.crt" -H 'Content-Type: application/json' -d '{"hello":"world"}' \
    -w 'HTTP %{http_code}\n' "https://localhost:$port/validate"

say "9. what the webhook counted (/metrics on $mt)"
curl -sS "http://$mt/metrics" | grep -E '^membudget_webhook_requests_total|_count'

say "10. the same policy offline: membudget lint"
"$bin" lint "$root/test/lint/good.yaml" "$root/test/lint/bad.yaml" || echo "(lint exit status $?: violations found)"

say "11. SIGTERM: not ready, drain, exit"
kill -TERM "$pid"; wait "$pid"; pid=
tail -n 2 "$work/log"
echo; echo "demo finished"
