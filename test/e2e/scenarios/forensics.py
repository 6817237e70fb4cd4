"""Scenarios: Forensics (issue 34). Captures on the first signal, kept in a
real S3 server (test/cluster/s3: SeaweedFS, installed with
install-membudget --s3), the growing function named in the Events and by
`membudget profiles`, through an outage of the store, a leader killed with
uploads queued, and a wrong credential."""
import json
import os
import re
import subprocess
import tempfile
import time

import kube
import s3store
from kube import *  # noqa: F401,F403
from targets import *  # noqa: F401,F403
from harness import check, wait_until, finish, prom_values  # noqa: F401
from scenarios import scenario

LEAK_FN = "main.(*state).hoardSessionSnapshots"
PARK_FN = "main.parkOnBlockedOrders"
PREFIX = "membudget"


def store_installed():
    """membudget's config names the s3 store, and the server runs; when not,
    membudget is switched to it as a user would (helm upgrade with the
    store's values: test/cluster/install-membudget --s3, which starts the
    server, after the build cluster_run.sh began in the background)."""
    def installed():
        cm = kj("-n", "membudget", "configmap", "membudget-config") or {}
        return "store: s3" in (cm.get("data") or {}).get("config.yaml", "") and \
            s3store.ctl("status").startswith("running")
    if installed():
        return True
    p = subprocess.run([os.path.join(kube.ROOT, "test", "cluster", "install-membudget"), "--dir",
                        kube.DIR, "--via", "helm", "--config",
                        os.path.join(kube.ROOT, "test", "e2e", "cluster-config.yaml"), "--s3"],
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        print("  (install-membudget --s3: %s)" % (p.stdout + p.stderr)[-1500:])
    return installed()


def heap_keys(ns, owner, pod):
    """{key: size} of the pod's heap profiles in the bucket, oldest first."""
    try:
        ks = s3store.list_keys("%s/%s/%s/%s/" % (PREFIX, ns, owner, pod))
    except (OSError, ValueError):
        return {}
    return dict(sorted((k, v) for k, v in ks.items() if k.endswith(".heap.pb.gz")))


def replica_metric(name, label=None):
    """{pod: value} of a metric on every membudget replica (a label "k=v" picks a series)."""
    out = {}
    for p in (kj("-n", "membudget", "pods", "-l", "app.kubernetes.io/name=membudget") or
              {}).get("items", []):
        ip = p["status"].get("podIP")
        if not ip:
            continue
        try:
            with ops_get("%s:8080" % ip, "/metrics") as r:
                text = r.read().decode()
        except OSError:
            continue
        total = 0.0
        for line in text.splitlines():
            if line.startswith(name) and (label is None or label in line):
                total += float(line.rsplit(" ", 1)[1])
        out[p["metadata"]["name"]] = total
    return out


def queued_somewhere():
    """Captures waiting in some replica's outbox."""
    return sum(replica_metric("membudget_profile_queue_captures").values())


def mb(*args, timeout=60):
    return subprocess.run([BIN, "profiles"] + list(args), capture_output=True, text=True,
                          timeout=timeout)


@scenario(41)
def sc_forensics(ns):
    """A Go service leaks in hoardSessionSnapshots. The store goes down
    before the first throttle, so its baseline waits in the leader's
    outbox; the leader is killed with SIGKILL while it waits; the store
    returns 60 s after it went: the baseline is delivered by the restarted
    container. The pod is leak-suspected and evicted: the bucket (listed
    through the S3 API) holds its baseline and current captures with their
    metadata, the eviction Event names the leaking function first, and
    `membudget profiles get` and `diff` on this machine do too."""
    if not check("the s3 store is installed (install-membudget --s3)", store_installed(),
                 s3store.ctl("status")):
        return
    started = start_target(ns, "leak", budget="128Mi", limit="256Mi", mode="idle", maxmib=200,
                           tiers="throttle=40,gc=70,evict=90")
    if not started:
        return
    _, name, ip = started
    dropped0 = sum(replica_metric("membudget_profile_uploads_total", 'result="dropped"').values())
    out = s3store.ctl("stop")
    down_at = time.time()
    check("the store is stopped", s3store.ctl("status").startswith("stopped"), out)
    control(ip, "held", 1)   # 1 MiB/s in hoardSessionSnapshots, never freed
    check("the first throttle", wait_until(
        lambda: cond_of(kj("-n", ns, "pod", name)) == "False", 120, 0.5), reasons(ns, name))
    check("its baseline waits in the outbox while the store is down", wait_until(
        lambda: queued_somewhere() >= 1, 60, 0.5), replica_metric("membudget_profile_queue_captures"))
    # The leader holds it: SIGKILL, its container restarts in the same pod.
    old = leader()
    pod = kj("-n", "membudget", "pod", old) if old else None
    pid = pod and container_pid(pod, "membudget")
    restarts = lambda: sum(cs.get("restartCount", 0) for cs in (kj(  # noqa: E731
        "-n", "membudget", "pod", old) or {}).get("status", {}).get("containerStatuses", []))
    before = restarts() if old else 0
    if check("the leader's process found (pid %s in %s)" % (pid, old), pid):
        os.kill(pid, 9)
        check("its container restarts in the same pod (emptyDir kept)", wait_until(
            lambda: restarts() > before, 90, 1), restarts())
    time.sleep(max(0, 60 - (time.time() - down_at)))
    out = s3store.ctl("start")
    check("the store is back after 60 s", s3store.ctl("status").startswith("running"), out)
    check("the baseline queued before the outage is delivered after it", wait_until(
        lambda: len(heap_keys(ns, "leak", name)) >= 1, 120, 1), heap_keys(ns, "leak", name))
    first = next(iter(heap_keys(ns, "leak", name)), None)
    meta = first and s3store.head(first)
    check("its metadata says why, the tier, usage and budget (%s)" % (
        meta and meta.get("x-amz-meta-reason")), meta and meta.get("x-amz-meta-reason") ==
        "throttle" and meta.get("x-amz-meta-budget-bytes") == str(128 << 20) and
        int(meta.get("x-amz-meta-usage-bytes", "0")) > 0, meta)
    # Leak suspected, then evicted.
    check("evicted", wait_until(lambda: messages(ns, name, "MemoryBudgetEvicted"), 300, 1),
          reasons(ns, name))
    ev = (messages(ns, name, "MemoryBudgetEvicted") or [""])[0]
    m = re.search(r"since \d\d:\d\d:\d\d: (\S+) \+", ev)
    check("the eviction Event names the leaking function first: %s" % ev,
          m and m.group(1) == LEAK_FN, ev)
    leak = messages(ns, name, "MemoryBudgetLeakSuspected")
    print("  (leak Event: %s)" % (leak[:1],))
    keys = wait_until(lambda: (lambda k: k if len(k) >= 2 and any(
        s3store.head(x).get("x-amz-meta-reason") == "evict" for x in k) else None)(
        heap_keys(ns, "leak", name)), 120, 2) or heap_keys(ns, "leak", name)
    check("the bucket holds its baseline and its capture before eviction (%d heap profiles)" %
          len(keys), len(keys) >= 2, list(keys))
    dropped = sum(replica_metric("membudget_profile_uploads_total", 'result="dropped"').values())
    check("no capture was dropped", dropped == dropped0, (dropped0, dropped))
    # The person on call, on this machine.
    cfg = s3store.client_config()
    ks = list(keys)
    listed = mb("list", "--config", cfg, "--namespace", ns, "--pod", name, "--output", "json")
    rows = json.loads(listed.stdout or "[]")
    check("profiles list shows the pod's captures in the bucket (%d)" % len(rows),
          listed.returncode == 0 and {r["key"] for r in rows} >= set(ks), listed.stderr)
    out_dir = tempfile.mkdtemp()
    got = mb("get", "--config", cfg, "--output-dir", out_dir, ks[0], ks[-1])
    files = sorted(os.path.join(out_dir, f) for f in os.listdir(out_dir))
    check("profiles get fetches the baseline and the current profile", got.returncode == 0 and
          len(files) == 2, got.stdout + got.stderr)
    for how, args in (("two local files", files), ("two keys of the bucket", ["--config", cfg] + [
            ks[0], ks[-1]])):
        d = mb("diff", "--output", "json", *args)
        top = json.loads(d.stdout)["functions"][0]["function"] if d.returncode == 0 else d.stderr
        check("profiles diff of %s names %s first (%s)" % (how, LEAK_FN, top), top == LEAK_FN,
              d.stdout[:400] + d.stderr)
    os.unlink(cfg)


@scenario(42)
def sc_forensics_credentials(ns):
    """A wrong credential: the server knows another secret key. Goroutines
    pile up in parkOnBlockedOrders; the goroutine Event names that group;
    its capture's upload is refused: one clear log line, counted retries
    with backoff (no hot loop); the key restored, it is delivered."""
    if not check("the s3 store is installed (install-membudget --s3)", store_installed()):
        return
    out = s3store.ctl("rekey")
    check("the store now knows another key", s3store.ctl("status").startswith("running"), out)
    since = time.time()
    retried0 = sum(replica_metric("membudget_profile_uploads_total", 'result="retried"').values())
    started = start_target(ns, "gor", budget="256Mi", limit="512Mi", mode="idle",
                           ann={"membudget.io/goroutines": "%d/debug/pprof/goroutine?debug=2" % PORT})
    if not started:
        s3store.ctl("restore")
        return
    _, name, ip = started
    control(ip, "goroutines", 20)   # 200 goroutines a second, parked for ever
    gev = wait_until(lambda: [m for m in messages(ns, name, "MemoryBudgetLeakSuspected")
                              if "goroutines" in m], 120, 1)
    check("the goroutine Event names the top group: %s" % (gev and gev[0]),
          gev and PARK_FN in gev[0], reasons(ns, name))
    check("its capture waits: the upload is refused", wait_until(
        lambda: sum(replica_metric("membudget_profile_uploads_total", 'result="retried"').values())
        > retried0, 60, 1))
    time.sleep(20)
    retried = sum(replica_metric("membudget_profile_uploads_total", 'result="retried"').values())
    said = [line for line in membudget_logs() if "refused membudget's credentials" in line and
            json.loads(line).get("ts", "") >= time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(since))]
    check("one clear log line names the credentials (%d)" % len(said), len(said) == 1,
          said[:3])
    check("retried with backoff, not in a hot loop (%d attempts in about 20 s)" % (
        retried - retried0), 2 <= retried - retried0 <= 8, retried - retried0)
    out = s3store.ctl("restore")
    control(ip, "idle")
    check("the key restored, the capture is delivered", wait_until(
        lambda: queued_somewhere() == 0 and s3store.list_keys("%s/%s/gor/%s/" % (
            PREFIX, ns, name)), 120, 2), out)
