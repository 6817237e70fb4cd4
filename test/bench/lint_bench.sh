#!/usr/bin/env bash
# membudget lint on a large manifest (figures, not pass/fail): a 21 MB
# stream of 14,747 ordinary Deployments (one in fifty with its budget over
# its limit), linted 3 times; the median wall time and peak RSS, and the
# findings, in each output format. Lint parses one document at a time, so
# memory follows the largest document, not the file.
#   usage: test/bench/lint_bench.sh MEMBUDGET_BINARY
set -euo pipefail
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d /tmp/mb-lintbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
docs=14747 runs=3
[ -n "${BENCH_QUICK:-}" ] && docs=500 runs=1   # make bench-quick

python3 - "$work/big.yaml" "$docs" <<'PY'
import sys
doc = '''apiVersion: apps/v1
kind: Deployment
metadata:
  name: svc-{i}
  namespace: team-{t}
  labels: {{app.kubernetes.io/name: svc-{i}, app.kubernetes.io/part-of: shop}}
spec:
  replicas: 3
  selector:
    matchLabels: {{app.kubernetes.io/name: svc-{i}}}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 25%, maxUnavailable: 0}}}}
  template:
    metadata:
      labels: {{app.kubernetes.io/name: svc-{i}, app.kubernetes.io/part-of: shop}}
      annotations:
        membudget.io/budget: "{b}Mi"
        prometheus.io/scrape: "true"
    spec:
      serviceAccountName: svc-{i}
      securityContext: {{runAsNonRoot: true, runAsUser: 65532}}
      containers:
      - name: app
        image: registry.example/shop/svc-{i}:v1.{i}.0
        args: [a, b, c, d, e, f, g, h]
        ports:
        - {{name: http, containerPort: 8080}}
        - {{name: metrics, containerPort: 9090}}
        env:
        - {{name: SERVICE_NAME, value: svc-{i}}}
        - {{name: REGION, value: eu-west-1}}
        - {{name: E0, value: "0"}}
        - {{name: E1, value: "1"}}
        - {{name: E2, value: "2"}}
        - {{name: E3, value: "3"}}
        - {{name: E4, value: "4"}}
        - {{name: E5, value: "5"}}
        - {{name: E6, value: "6"}}
        - {{name: E7, value: "7"}}
        resources:
          requests: {{cpu: 100m, memory: 256Mi}}
          limits: {{memory: 512Mi}}
        livenessProbe:
          httpGet: {{path: /livez, port: http}}
          periodSeconds: 10
'''
with open(sys.argv[1], "w") as f:
    f.write("---\n".join(doc.format(i=i, t=i % 40, b=768 if i % 50 == 0 else 384) for i in range(int(sys.argv[2]))))
PY
size=$(stat -c %s "$work/big.yaml")
echo "lint: $(grep -c '^kind: Deployment' "$work/big.yaml") Deployments, $((size / 1000000)) MB"
for fmt in text json github; do
    rm -f "$work"/t.*
    for run in $(seq "$runs"); do
        /usr/bin/time -f "%e %M" -o "$work/t.$run" "$bin" lint --quiet --output "$fmt" "$work/big.yaml" \
            > "$work/out" 2>/dev/null || true
    done
    read -r secs kb < <(for t in "$work"/t.*; do tail -n 1 "$t"; done | sort -n | sed -n "$(( (runs + 1) / 2 ))p")
    printf '  --output %-6s median %5.2f s, peak RSS %4d MB (%.1f x the file), %d findings\n' \
        "$fmt" "$secs" $((kb / 1024)) "$(echo "$kb * 1024 / $size" | bc -l)" "$(wc -l < "$work/out")"
done
