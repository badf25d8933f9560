"""The translator answers new_oids from a reserve of oids it holds for its
clients (translator/oid_reserve.h), refilled from raidcore after its reply,
so that a client adding objects does not wait for raidcore and a backend on
every hundredth object.

- a new_oids is answered while raidcore cannot answer (stopped with SIGSTOP);
- so is a burst of ten new_oids(100), as ZODB makes when a commit adds 1,000
  objects (the reserve holds 1,000 by default);
- oids stay unique across the clients of two translators;
- 2,000 oids cost raidcore a few calls, not twenty, and its backends' calls
  go to one backend (raidcore/read/oid_allocator.h).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

import harness

pytestmark = pytest.mark.raid_only


def test_new_oids_are_answered_from_the_translators_reserve(make_cluster):
    cluster = make_cluster(n_backends=2)
    storage = cluster.client_storage()
    first = storage._server.call("new_oids", 10)
    time.sleep(1)  # the refill after that reply is done
    raidcore = cluster.raidcore.process.pid
    os.kill(raidcore, signal.SIGSTOP)
    try:
        future = storage._server.call("new_oids", 10, wait=False)
        second = future.result(timeout=10)
    finally:
        os.kill(raidcore, signal.SIGCONT)
    assert len(first) == len(second) == 10
    assert len(set(first) | set(second)) == 20
    assert max(first) < min(second)


def test_a_burst_of_new_oids_is_answered_from_the_reserve(make_cluster):
    cluster = make_cluster(n_backends=2)
    storage = cluster.client_storage()
    first = storage._server.call("new_oids", 100)
    time.sleep(2)  # the reserve is topped up after that reply
    raidcore = cluster.raidcore.process.pid
    os.kill(raidcore, signal.SIGSTOP)
    try:
        burst = []
        for _ in range(9):
            future = storage._server.call("new_oids", 100, wait=False)
            burst += future.result(timeout=10)
    finally:
        os.kill(raidcore, signal.SIGCONT)
    assert len(burst) == 900
    assert burst == sorted(burst) and len(set(burst)) == 900
    assert max(first) < min(burst)


def test_oids_are_unique_across_translators(make_cluster):
    cluster = make_cluster(n_backends=2)
    other = harness.Translator(cluster.supervisor, cluster.raidcore,
                               name="translator2")
    other.start()
    try:
        a = cluster.client_storage()
        b = cluster.client_storage(other.addr)
        seen: list[bytes] = []
        for _ in range(5):
            for storage in (a, b):
                seen += storage._server.call("new_oids", 37)
        assert len(seen) == len(set(seen)) == 370
    finally:
        other.stop()


def test_thousands_of_new_oids_take_a_few_raidcore_calls(make_cluster):
    cluster = make_cluster(n_backends=2, raidcore_metrics=True)
    metrics = cluster.raidcore.metrics_addr
    storage = cluster.client_storage()

    def raidcore_new_oids() -> float:
        return harness.metric_sum(metrics, "zeoraid_rpcs_total",
                                  method="/zeoraid.v1.Storage/NewOids")

    storage._server.call("new_oids", 100)
    time.sleep(2)  # the reserve is topped up after that reply
    before = raidcore_new_oids()
    oids = []
    for _ in range(20):  # as two commits adding 1,000 objects each
        oids += storage._server.call("new_oids", 100)
        time.sleep(0.02)
    time.sleep(2)
    assert len(set(oids)) == 2000 and oids == sorted(oids)
    # One fetch tops the reserve up to twice its 1,000: two or three fetches
    # for 2,000 oids (one per hundred before).
    assert raidcore_new_oids() - before <= 4
    # From one backend: asked in turn, every other backend's oids were ones
    # its peer had handed out already.
    calls = harness.metric_by_label(metrics, "zeoraid_backend_calls_total",
                                    "backend", method="new_oids")
    assert len([b for b, n in calls.items() if n > 0]) == 1, calls
