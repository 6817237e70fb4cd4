"""What every end-to-end suite shares: one line per check ("ok   - ..." /
"FAIL - ..."), the counts for test/run_all.sh (MB_TEST_COUNTS=FILE gets
"passed failed"), polling without timed assertions, and small HTTP calls.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

PASS, FAIL = [0], [0]


def check(name, cond, detail=""):
    if cond:
        PASS[0] += 1
        print("ok   - " + name)
    else:
        FAIL[0] += 1
        print("FAIL - " + name + ("\n       " + str(detail)[:2000] if detail else ""))
    sys.stdout.flush()
    return cond


def wait_until(fn, timeout=10.0, step=0.05):
    """fn() until it is truthy or timeout seconds passed; its last value.
    A bound on waiting, never an assertion about speed."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        try:
            last = fn()
            if last:
                return last
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(step)
    return last


def http(method, url, body=None, ctype="application/json", timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw


def prom_values(text):
    """Prometheus text exposition: {series: value} (comments skipped)."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.split()[:2]
            out[k] = float(v)
    return out


def finish(name):
    """Print the suite's summary, write the counts; the exit status."""
    counts = os.environ.get("MB_TEST_COUNTS")
    if counts:
        with open(counts, "w") as f:
            f.write("%d %d\n" % (PASS[0], FAIL[0]))
    print("%s: %d ok, %d failing" % (name, PASS[0], FAIL[0]))
    return 0 if FAIL[0] == 0 else 1
