"""The translator's record cache answers loadBefore exactly as a backend does.

Every client's loadBefore is sent straight to the server (``ClientStorage._call``,
past the client's own cache) and compared with the answer of a backend asked
directly. Commits come from clients of two translators, so a cache learns
records both from its own committers (write-through) and from loads, and the
other translator's commits reach it only as invalidations, which end them.
"""

from __future__ import annotations

import random
import threading

import harness
import pytest
from ZODB.Connection import TransactionMetaData
from ZODB.utils import p64, u64, z64

pytestmark = pytest.mark.raid_only


def commit(storage, records: dict, serials: dict) -> bytes:
    """Stores {oid: data} in one transaction; returns its tid."""
    txn = TransactionMetaData()
    storage.tpc_begin(txn)
    for oid, data in records.items():
        storage.store(oid, serials.get(oid, z64), data, "", txn)
    storage.tpc_vote(txn)
    tid = storage.tpc_finish(txn)
    for oid in records:
        serials[oid] = tid
    return tid


def backend_loads(cluster) -> int:
    """The backends' own count of loads (their server_status)."""
    total = 0
    for b in cluster.backends:
        direct = cluster.client_storage(addr=b.addr, read_only=True)
        total += direct._call("server_status")["loads"]
        direct.close()
    return total


def second_translator(cluster):
    """Another translator on the same raidcore: its clients' commits reach the
    first translator only as invalidations."""
    other = harness.Translator(cluster.supervisor, cluster.raidcore,
                               name="translator2")
    other.start()
    return other


def test_loads_at_old_snapshots_equal_a_backends_answers(make_cluster):
    cluster = make_cluster(n_backends=2)
    a = cluster.client_storage()
    b = cluster.client_storage(addr=second_translator(cluster).addr)
    backend = cluster.client_storage(addr=cluster.backends[0].addr, read_only=True)
    rng = random.Random(5)
    oids = [a.new_oid() for _ in range(12)]
    serials: dict = {}
    tids = [commit(a, {oid: b"first %d" % i for i, oid in enumerate(oids)},
                   serials)]
    for round_ in range(25):
        committer = (a, b)[round_ % 2]
        chosen = rng.sample(oids, 4)
        tids.append(commit(committer, {oid: b"%s at %d" % (oid.hex().encode(),
                                                           round_)
                                       for oid in chosen}, serials))
        befores = [p64(u64(t) + 1) for t in tids] + [tids[0]]
        for reader in (a, b):
            for oid in oids:
                for before in rng.sample(befores, min(5, len(befores))) + [
                        befores[-1]]:
                    want = backend._call("loadBefore", oid, before)
                    got = reader._call("loadBefore", oid, before)
                    assert got == want, (round_, oid.hex(), before.hex())


def test_loads_racing_commits_never_see_a_later_snapshot(make_cluster):
    cluster = make_cluster(n_backends=2)
    writer = cluster.client_storage(addr=second_translator(cluster).addr)
    reader = cluster.client_storage()
    backend = cluster.client_storage(addr=cluster.backends[1].addr, read_only=True)
    oids = [writer.new_oid() for _ in range(6)]
    serials: dict = {}
    committed = [commit(writer, {oid: b"v0" for oid in oids}, serials)]
    done = threading.Event()
    errors = []

    def write():
        try:
            for i in range(1, 120):
                committed.append(commit(writer, {oids[i % 6]: b"v%d" % i,
                                                 oids[(i * 5) % 6]: b"w%d" % i},
                                        serials))
        except Exception as e:  # reported by the main thread
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=write)
    thread.start()
    rng = random.Random(9)
    checked = 0
    try:
        while not done.is_set() or checked < 200:
            tid = rng.choice(committed[-10:])
            before = p64(u64(tid) + 1)
            oid = rng.choice(oids)
            got = reader._call("loadBefore", oid, before)
            want = backend._call("loadBefore", oid, before)
            data, start, end = got
            assert u64(start) <= u64(tid), "a revision newer than the snapshot"
            assert (data, start) == want[:2], (oid.hex(), before.hex())
            if end is None:
                # Current when it was read; the backend may know a later one
                # since, but never one within the snapshot.
                assert want[2] is None or u64(want[2]) > u64(tid)
            else:
                assert end == want[2]
            checked += 1
    finally:
        thread.join()
    assert not errors, errors


def test_hot_records_are_served_without_the_backends(make_cluster):
    cluster = make_cluster(n_backends=2)
    writer = cluster.client_storage()
    reader = cluster.client_storage()
    oids = [writer.new_oid() for _ in range(20)]
    serials: dict = {}
    tid = commit(writer, {oid: b"data %d" % i for i, oid in enumerate(oids)},
                 serials)
    before = p64(u64(tid) + 1)
    loads = backend_loads(cluster)
    # Committed through this translator: the cache has them already.
    for oid in oids:
        assert reader._call("loadBefore", oid, before)[0].startswith(b"data")
    assert backend_loads(cluster) == loads
    # After a restart the cache is empty: a record is read from a backend
    # once, then served from the cache.
    cluster.translator.restart()
    fresh = cluster.client_storage()
    loads = backend_loads(cluster)
    for _ in range(5):
        assert fresh._call("loadBefore", oids[0], before)[0] == b"data 0"
    assert backend_loads(cluster) == loads + 1


def answer(storage, *args):
    """What loadBefore answered: the value, or the exception's class and args."""
    try:
        return storage._call("loadBefore", *args)
    except Exception as e:
        return (type(e).__name__, e.args)


def test_deleted_and_restored_objects_leave_the_cache(make_cluster):
    """ZEO announces neither deleteObject nor restorea to clients; a cache on
    another translator must still stop serving what they replaced."""
    cluster = make_cluster(n_backends=2)
    a = cluster.client_storage()
    b = cluster.client_storage(addr=second_translator(cluster).addr)
    backend = cluster.client_storage(addr=cluster.backends[0].addr, read_only=True)
    x, y = a.new_oid(), a.new_oid()
    serials: dict = {}
    commit(a, {x: b"x1", y: b"y1"}, serials)
    latest = p64(u64(a.lastTransaction()) + 1000)
    assert answer(a, x, latest)[0] == b"x1"  # cached by now
    assert answer(a, y, latest)[0] == b"y1"

    txn = TransactionMetaData()
    b.tpc_begin(txn)
    b.deleteObject(x, serials[x], txn)
    b.tpc_vote(txn)
    deleted = b.tpc_finish(txn)
    restored = p64(u64(deleted) + 1)
    txn = TransactionMetaData()
    b.tpc_begin(txn, restored, " ")
    b.restore(y, restored, b"y restored", "", None, txn)
    b.tpc_vote(txn)
    b.tpc_finish(txn)
    a.sync() if hasattr(a, "sync") else None
    latest = p64(u64(restored) + 1)
    for oid in (x, y):
        for before in (deleted, restored, latest):
            assert answer(a, oid, before) == answer(backend, oid, before), (
                oid.hex(), before.hex())
    assert answer(a, y, latest)[0] == b"y restored"


def test_a_record_stored_twice_in_a_transaction_is_cached_as_its_last(
        make_cluster):
    """The write-through cache keeps what the backends keep: a transaction's
    last store of an oid."""
    cluster = make_cluster(n_backends=2)
    writer = cluster.client_storage()
    backend = cluster.client_storage(addr=cluster.backends[0].addr,
                                     read_only=True)
    oids = [writer.new_oid() for _ in range(3)]
    txn = TransactionMetaData()
    writer.tpc_begin(txn)
    for oid in oids:
        writer.store(oid, z64, b"first " + oid, "", txn)
    for oid in oids[:2]:
        writer.store(oid, z64, b"second " + oid, "", txn)
    writer.tpc_vote(txn)
    tid = writer.tpc_finish(txn)
    before = p64(u64(tid) + 1)
    loads = backend_loads(cluster)
    got = {oid: writer._call("loadBefore", oid, before) for oid in oids}
    assert backend_loads(cluster) == loads  # all from the translator's cache
    for oid in oids:
        assert got[oid] == backend._call("loadBefore", oid, before)
    assert got[oids[0]][0] == b"second " + oids[0]
    assert got[oids[2]][0] == b"first " + oids[2]
