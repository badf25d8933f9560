"""A big transaction's stores go to the backends while its client is still
sending them (raidcore's --send_stores_early): the translator forwards a
transaction's calls in messages of about 32 KiB, and raidcore begins the
transaction on the backends at the first of them, so that the commit lock
covers only the vote and finish.

Real runzeo backends check what matters here: one transaction at a time on a
ZEO connection, and tids in commit order. So:

- a big transaction goes out before its vote and commits with its early tid
  on both mirrors;
- so do the stores of a client that pauses with less than 32 KiB sent (at
  least 8 KiB): the translator sends what it holds when the client's input
  runs dry;
- a small transaction that votes while a big one is out early aborts that one
  on the backends first; the big one then commits the usual way, after it;
- a client that vanishes after sending a big transaction's stores leaves
  nothing on the backends, and the next big transaction goes early again.
"""

from __future__ import annotations

import time

import pytest
from ZODB.Connection import TransactionMetaData
from ZODB.POSException import POSKeyError
from ZODB.utils import z64

import harness

pytestmark = pytest.mark.raid_only

N_OBJECTS = 300  # ~150 KB of records: several 32 KiB messages
RECORD = b"r" * 500


def early_counts(metrics_addr) -> dict[str, int]:
    return {k: int(v) for k, v in harness.metric_by_label(
        metrics_addr, "zeoraid_early_transactions_total", "outcome").items()}


def wait_started(metrics_addr, n: int) -> None:
    deadline = time.monotonic() + 20
    while early_counts(metrics_addr).get("started", 0) < n:
        assert time.monotonic() < deadline, (
            f"no early transaction started: {early_counts(metrics_addr)}")
        time.sleep(0.05)


def begin_big(storage, n: int = N_OBJECTS
              ) -> tuple[TransactionMetaData, list[bytes]]:
    """Begins a transaction and sends n new records, without voting."""
    t = TransactionMetaData("early", "big transaction")
    storage.tpc_begin(t)
    oids = [storage.new_oid() for _ in range(n)]
    for oid in oids:
        storage.store(oid, z64, RECORD, "", t)
    return t, oids


def commit_small(storage, data: bytes) -> tuple[bytes, bytes]:
    t = TransactionMetaData("small", "small transaction")
    oid = storage.new_oid()
    storage.tpc_begin(t)
    storage.store(oid, z64, data, "", t)
    storage.tpc_vote(t)
    return oid, storage.tpc_finish(t)


def mirrors(cluster) -> list:
    histories = [b.history() for b in cluster.backends]
    assert histories[0] == histories[1], "the mirrors differ"
    return histories[0]


@pytest.fixture
def raid(make_cluster):
    cluster = make_cluster(n_backends=2, raidcore_metrics=True)
    return cluster, cluster.raidcore.metrics_addr


@pytest.mark.parametrize("n_objects", [
    N_OBJECTS,
    # ~20 KB, less than a 32 KiB message: sent when the client pauses
    # (the translator sends what it holds, 8 KiB or more, once the client's
    # input runs dry).
    40,
])
def test_a_big_transaction_goes_to_the_backends_before_its_vote(raid,
                                                                n_objects):
    cluster, metrics = raid
    storage = cluster.client_storage()
    t, oids = begin_big(storage, n_objects)
    wait_started(metrics, 1)  # before the client votes
    storage.tpc_vote(t)
    tid = storage.tpc_finish(t)
    assert early_counts(metrics) == {"started": 1, "voted": 1}
    last = mirrors(cluster)[-1]
    assert last.tid == tid
    assert sorted(r.oid for r in last.records) == sorted(oids)
    assert all(r.data == RECORD for r in last.records)


def test_a_vote_that_overtakes_an_early_transaction_aborts_it_first(raid):
    cluster, metrics = raid
    big = cluster.client_storage()
    small = cluster.client_storage()
    t, oids = begin_big(big)
    wait_started(metrics, 1)
    small_oid, small_tid = commit_small(small, b"small")
    # The big one's early transaction was aborted on the backends; its vote
    # sends it again, with a later tid.
    big.tpc_vote(t)
    big_tid = big.tpc_finish(t)
    assert small_tid < big_tid
    assert early_counts(metrics) == {"started": 1, "voted": 0}
    history = mirrors(cluster)
    assert [h.tid for h in history[-2:]] == [small_tid, big_tid]
    assert sorted(r.oid for r in history[-1].records) == sorted(oids)
    reader = cluster.client_storage()
    assert reader.load(small_oid)[0] == b"small"
    assert reader.load(oids[-1]) == (RECORD, big_tid)


def test_an_early_transaction_whose_client_vanished_leaves_nothing(raid):
    cluster, metrics = raid
    gone = cluster.client_storage()
    t, oids = begin_big(gone)
    wait_started(metrics, 1)
    gone.close()  # without voting or aborting
    # raidcore aborts it on the backends and frees their connections: the
    # next big transaction goes early, with nothing else in between.
    other = cluster.client_storage()
    t2, oids2 = begin_big(other)
    wait_started(metrics, 2)
    other.tpc_vote(t2)
    tid2 = other.tpc_finish(t2)
    assert early_counts(metrics) == {"started": 2, "voted": 1}
    history = mirrors(cluster)
    assert history[-1].tid == tid2
    written = {r.oid for h in history for r in h.records}
    assert set(oids2) <= written
    assert not written & set(oids)
    with pytest.raises(POSKeyError):
        other.load(oids[0])
