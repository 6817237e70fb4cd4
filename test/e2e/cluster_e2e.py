#!/usr/bin/env python3
"""End-to-end scenarios on the real test cluster (test/cluster/up): membudget
installed as a user installs it (test/cluster/install-membudget), real Go
targets (test/targets/leaky) in real pods with real memory cgroups, and every
check asserting what the real components did: the ReplicaSet's FailedCreate,
the EndpointSlice's ready flag, the disruption controller's PDB status, the
kubelet's OOMKilled, the process's own environment.

    usage: test/e2e/cluster_e2e.py --dir DIR [SCENARIO...]

DIR holds a running cluster with membudget installed and the leaky image
loaded (make e2e-cluster does all of it). Each scenario works in namespaces
of its own and deletes them at the end.

The suite is a package: kube.py (kubectl, the API server, the cluster's
environment), targets.py (the leaky target, kwok's pods, membudget on this
machine, the fault proxy), scenarios/ (the scenarios, by group; the list
is built from those files), harness.py (checks and their counts). This
file runs them.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kube  # noqa: E402
import scenarios  # noqa: E402
from harness import check, finish  # noqa: E402

# (the helpers, for those who import this file as before: test/demo)
from kube import *  # noqa: E402,F401,F403
from targets import *  # noqa: E402,F401,F403


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("scenarios", nargs="*")
    a = ap.parse_args()
    kube.use_dir(a.dir)
    every = scenarios.all()
    names = a.scenarios or [s.__name__[3:] for s in every if not s.unsettled]
    unknown = set(names) - {s.__name__[3:] for s in every}
    if unknown:  # (a typo must not pass as "nothing to run")
        check("the scenarios named exist", False, " ".join(sorted(unknown)))
    for sc in every:
        if sc.__name__[3:] not in names:
            continue
        print("# " + sc.__name__[3:])
        ns = kube.namespace("e2e-" + sc.__name__[3:].replace("_", "-"))
        try:
            sc(ns)
        except Exception as e:  # a scenario that crashes is a failure, not a stop
            check(sc.__name__ + " ran to the end", False, repr(e))
        finally:
            if not os.environ.get("E2E_KEEP"):
                kube.delete_namespace(ns)
    return finish("cluster e2e")


if __name__ == "__main__":
    sys.exit(main())
