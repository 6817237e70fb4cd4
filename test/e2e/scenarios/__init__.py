"""The end-to-end scenarios, grouped by what they prove: admission, breaker,
failover, hostile (a hostile API server or pods), config, resize, forensics.

A scenario is a function sc_NAME(ns) in one of these files, marked
@scenario(RANK): RANK is its place in the run (the scenarios share one node
and one eviction rate limit, so the order is part of the suite). all()
imports every group and returns them in that order.
"""
import importlib

GROUPS = ["admission", "breaker", "failover", "hostile", "config", "resize", "forensics"]
_ALL = []


def scenario(rank, unsettled=False):
    """Register fn as a scenario run at place `rank` (unsettled: only when
    named, E2E_ONLY=...)."""
    def mark(fn):
        fn.rank = rank
        fn.unsettled = unsettled
        _ALL.append(fn)
        return fn
    return mark


def all():
    """Every scenario, in run order."""
    for g in GROUPS:
        importlib.import_module("scenarios." + g)
    ranks = sorted(fn.rank for fn in _ALL)
    assert len(set(ranks)) == len(ranks), "two scenarios at one rank"
    return sorted(_ALL, key=lambda fn: fn.rank)
