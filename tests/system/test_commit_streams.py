"""Commit streams kept between transactions: a translator gives a Commit stream
back to its pool once raidcore has answered Finish or Abort with
stream_reusable, and the next transaction starts on it, instead of opening a
stream per transaction.

- many commits, sequential and concurrent, use a handful of streams; the
  mirrors stay identical;
- a kept stream that died while idle (raidcore restarted) is replaced: the
  next commit does not fail;
- an open stream holds no raidcore thread (raidcore serves them on its
  completion-queue thread).
"""

from __future__ import annotations

import threading
import time

import pytest
import transaction
from persistent.mapping import PersistentMapping

import harness

pytestmark = pytest.mark.raid_only


def commit_rpcs(metrics_addr) -> int:
    return int(harness.metric_sum(metrics_addr, "zeoraid_rpcs_total",
                                  method="/zeoraid.v1.Storage/Commit"))


def commit_n(db, n: int, key: str, errors: list | None = None) -> None:
    """n transactions, each changing the mapping root[key] (no conflicts with
    other keys' writers)."""
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    try:
        root = conn.root()
        if key not in root:
            root[key] = PersistentMapping()
            tm.commit()
        for i in range(n):
            root[key][i] = i
            tm.commit()
    except Exception as e:
        if errors is None:
            raise
        errors.append(e)
    finally:
        conn.close()


def test_many_commits_use_a_few_streams(make_cluster):
    cluster = make_cluster(n_backends=2, raidcore_metrics=True)
    metrics = cluster.raidcore.metrics_addr
    db = cluster.db()
    try:
        commit_n(db, 30, "seq")
        for t in range(4):
            commit_n(db, 0, f"c{t}")
        errors: list = []
        threads = [threading.Thread(target=commit_n, args=(db, 10, f"c{t}", errors))
                   for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
    finally:
        db.close()
    # Streams are counted when they end: the translator ends its idle ones
    # when it stops.
    cluster.translator.stop()
    rpcs = commit_rpcs(metrics)
    assert 1 <= rpcs <= 12, f"{rpcs} Commit streams for 70 transactions"
    tids = [set(t.tid for t in b.history()) for b in cluster.backends]
    assert tids[0] == tids[1] and len(tids[0]) >= 70


def test_a_kept_stream_that_died_while_idle_is_replaced(make_cluster):
    cluster = make_cluster(n_backends=2)
    db = cluster.db()
    try:
        commit_n(db, 3, "before")
    finally:
        db.close()
    cluster.raidcore.stop()
    cluster.raidcore.start()
    # The translator's kept streams are dead now. A client that connects
    # after the restart commits at its first try.
    db = harness.first_success(cluster.db, 60, "connecting after the restart")
    try:
        commit_n(db, 3, "after")
    finally:
        db.close()


def test_open_commit_streams_hold_no_raidcore_thread(make_cluster):
    """raidcore serves Commit streams on its completion-queue thread: six
    transactions whose data already went out (a store past the translator's
    1 MB batch opens their streams) hold no raidcore thread each, as the
    synchronous server's handler threads did."""
    from ZODB.Connection import TransactionMetaData
    from ZODB.utils import z64
    from test_idle_parking import thread_count
    cluster = make_cluster(n_backends=2)
    storages = [cluster.client_storage() for _ in range(6)]
    pid = cluster.raidcore.process.pid
    base = thread_count(pid)
    txns = []
    for storage in storages:
        txn = TransactionMetaData()
        storage.tpc_begin(txn)
        storage.store(storage.new_oid(), z64, b"x" * (1200 << 10), "", txn)
        txns.append(txn)
    # Each stream is open in raidcore once raidcore counts its transaction
    # active (it applied the Begin that went out with the store).
    deadline = time.monotonic() + 10
    while storages[0].server_status()["active_txns"] < 6:
        assert time.monotonic() < deadline, storages[0].server_status()
        time.sleep(0.05)
    during = thread_count(pid)
    for storage, txn in zip(storages, txns):
        storage.tpc_abort(txn)
    assert during - base <= 2, (
        f"raidcore went from {base} to {during} threads with 6 open Commit streams")
