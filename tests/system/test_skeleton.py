"""Walking-skeleton system tests: real ZODB/ZEO clients against the target.

Every test gets a fresh target (see conftest.py): with ZEORAID_TARGET=raid (default)
two runzeo backends behind raidcore and a translator, with ZEORAID_TARGET=plain one
runzeo. The same assertions must hold for both: the RAID is invisible to ZEO clients.
"""

from __future__ import annotations

import logging

import persistent
import pytest
from persistent.mapping import PersistentMapping
from ZODB.Connection import TransactionMetaData
from ZODB.POSException import ConflictError, POSKeyError
from ZODB.utils import u64, z64

from harness import describe_history, history_of, open_conn, tid_repr, wait_until

log = logging.getLogger("zeoraid.tests")

# How long an invalidation may take to reach another client.
INVALIDATION_TIMEOUT = 10.0
MISSING_OID = b"\0\0\0\0\0\0\x99\x99"


class Item(persistent.Persistent):
    """A small application class (the servers never need to import it)."""

    def __init__(self, value):
        self.value = value


def commit(tm, obj, note: str = "") -> bytes:
    """Commit the current transaction of ``tm``; return its tid (``obj`` is an object
    the transaction modified, whose serial becomes the new tid)."""
    if note:
        tm.get().note(note)
    tm.commit()
    return obj._p_serial


def wait_last_tid(db, tid: bytes, who: str = "client") -> None:
    """Wait until ``db``'s ClientStorage has learnt ``tid``: only an
    invalidateTransaction (or a reconnect) advances a non-committing client."""
    wait_until(lambda: db.storage.lastTransaction() >= tid, INVALIDATION_TIMEOUT,
               f"{who} to receive the invalidation for tid {tid_repr(tid)} "
               f"(it has {tid_repr(db.storage.lastTransaction())})")
    assert db.storage.lastTransaction() == tid, (
        f"{who} jumped past {tid_repr(tid)} to {tid_repr(db.storage.lastTransaction())}")


def test_commit_is_seen_by_second_client_through_invalidation(cluster):
    db1, db2 = cluster.db(), cluster.db()
    tm1, _, root1 = open_conn(db1)
    tm2, _, root2 = open_conn(db2)
    assert "item" not in root2  # the second client holds the old root in its cache

    root1["item"] = Item(1)
    root1["map"] = PersistentMapping(a=1)
    tid = commit(tm1, root1, "add item and map")
    assert db1.storage.lastTransaction() == tid
    wait_last_tid(db2, tid, "second client")

    tm2.begin()  # same connection, new transaction: applies the invalidations
    assert root2["item"].value == 1
    assert root2["map"]["a"] == 1
    assert root2._p_serial == tid

    # Change an object the second client has now loaded and cached.
    item1 = root1["item"]
    item1.value = 2
    tid2 = commit(tm1, item1, "change item")
    assert tid2 > tid
    wait_last_tid(db2, tid2, "second client")
    tm2.begin()
    assert root2["item"].value == 2
    assert root2["item"]._p_serial == tid2

    # And the other way round.
    root2["map"]["b"] = 2
    tid3 = commit(tm2, root2["map"], "second client writes")
    wait_last_tid(db1, tid3, "first client")
    tm1.begin()
    assert dict(root1["map"]) == {"a": 1, "b": 2}


def test_server_sync_client_sees_commit_without_waiting(cluster):
    """With server_sync=True, ZODB pings the server at each transaction start; a ZEO
    server answers the ping only after the invalidations queued before it, so a commit
    that has returned elsewhere is visible at once."""
    db1, db2 = cluster.db(), cluster.db(server_sync=True)
    tm1, _, root1 = open_conn(db1)
    tm2, _, root2 = open_conn(db2)
    for i in range(50):  # a race in the server shows up within a few rounds
        root1["n"] = i
        tid = commit(tm1, root1, f"n={i}")
        tm2.begin()
        assert root2["n"] == i, f"commit {i} (tid {tid_repr(tid)}) not visible yet"
        assert db2.storage.lastTransaction() == tid


def test_last_transaction_is_equal_on_all_clients(cluster):
    db1, db2 = cluster.db(), cluster.db()
    initial = db1.storage.lastTransaction()
    assert initial != z64, "opening a DB on an empty storage commits the root"
    assert db2.storage.lastTransaction() == initial
    tm1, _, root1 = open_conn(db1)
    tm2, _, root2 = open_conn(db2)
    tids = [initial]
    for i in range(4):
        for name, (tm, root, me, other) in (("a", (tm1, root1, db1, db2)),
                                           ("b", (tm2, root2, db2, db1))):
            tm.begin()
            root[name] = i
            tid = commit(tm, root, f"{name}{i}")
            assert tid > tids[-1], "tids must increase"
            tids.append(tid)
            assert me.storage.lastTransaction() == tid
            wait_last_tid(other, tid)
    # A client that connects now learns the last tid at registration.
    fresh = cluster.client_storage()
    assert fresh.lastTransaction() == tids[-1]
    assert db1.lastTransaction() == db2.lastTransaction() == tids[-1]


def test_conflicting_writes_raise_conflict_error(cluster):
    db1, db2 = cluster.db(), cluster.db()
    tm1, _, root1 = open_conn(db1)
    root1["m"] = PersistentMapping(n=0)
    base = commit(tm1, root1, "create m")
    wait_last_tid(db2, base)
    tm2, _, root2 = open_conn(db2)

    m1, m2 = root1["m"], root2["m"]
    assert m1["n"] == m2["n"] == 0
    assert m1._p_serial == m2._p_serial == base
    m1["n"] = 1
    m2["n"] = 2
    winner = commit(tm1, m1, "first writer")
    with pytest.raises(ConflictError) as info:
        tm2.commit()
    tm2.abort()
    err = info.value
    log.info("second writer got %s: %s", type(err).__name__, err)
    assert err.oid == m1._p_oid
    assert err.serials == (winner, base)

    # The loser wrote nothing: the winner's tid is the last one and its value stays.
    wait_last_tid(db2, winner)
    tm2.begin()
    assert root2["m"]["n"] == 1
    assert cluster.client_storage().lastTransaction() == winner
    for name, history in cluster.backend_histories().items():
        assert history and history[-1].tid == winner, (
            f"{name}:\n{describe_history(history)}")


def test_stale_store_fails_at_vote_with_conflict_error(cluster):
    """The same conflict through the storage API: the error comes from vote and
    nothing is committed."""
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["item"] = Item(0)
    first = commit(tm, root, "create item")
    oid = root["item"]._p_oid
    item = root["item"]
    item.value = 1
    second = commit(tm, item, "change item")

    storage = cluster.client_storage()
    data, serial = storage.load(oid)
    assert serial == second
    txn = TransactionMetaData(description="stale store")
    storage.tpc_begin(txn)
    storage.store(oid, first, data, "", txn)  # based on an old revision
    with pytest.raises(ConflictError) as info:
        storage.tpc_vote(txn)
    storage.tpc_abort(txn)
    assert info.value.oid == oid
    assert info.value.serials == (second, first)
    assert storage.lastTransaction() == second

    # The storage is still usable: a correct store commits.
    txn = TransactionMetaData(description="good store")
    storage.tpc_begin(txn)
    storage.store(oid, second, data, "", txn)
    storage.tpc_vote(txn)
    tid = storage.tpc_finish(txn)
    assert tid > second
    assert storage.lastTransaction() == tid
    assert [t.description for t in cluster.backends[0].history()][-2:] == [
        b"change item", b"good store"]


def test_missing_oid_raises_poskeyerror(cluster):
    db = cluster.db()
    storage = db.storage
    with pytest.raises(POSKeyError):
        storage.load(MISSING_OID)
    with pytest.raises(POSKeyError):
        storage.loadSerial(MISSING_OID, db.lastTransaction())
    with pytest.raises(POSKeyError):
        storage.history(MISSING_OID)
    # An application-level error leaves the connection working.
    data, serial = storage.load(z64)
    assert serial == db.lastTransaction()
    tm, _, root = open_conn(db)
    root["after"] = True
    assert commit(tm, root) > serial


def test_history_of_an_object(cluster):
    db = cluster.db()
    tm, conn, root = open_conn(db)
    root["item"] = item = Item(0)
    tids = [commit(tm, root, "value 0")]
    for value in (1, 2, 3):
        item.value = value
        tm.get().setUser("alice")
        tids.append(commit(tm, item, f"value {value}"))
    oid = item._p_oid

    storage = cluster.client_storage()  # a second client, nothing cached
    entries = storage.history(oid, size=10)
    assert [e["tid"] for e in entries] == tids[::-1]
    assert [e["description"] for e in entries] == [
        b"value 3", b"value 2", b"value 1", b"value 0"]
    assert all(e["user_name"] == b"/ alice" for e in entries[:3])  # "path user"
    assert all(e["size"] > 0 for e in entries)
    assert [e["tid"] for e in storage.history(oid, size=2)] == tids[:1:-1]

    # Old revisions stay readable.
    for value, tid in enumerate(tids):
        assert conn.oldstate(item, tid)["value"] == value
    data, start, end = storage.loadBefore(oid, tids[2])
    assert (start, end) == (tids[1], tids[2])
    assert storage.loadSerial(oid, tids[1]) == data
    assert storage.loadBefore(oid, tids[0]) is None  # did not exist yet


def test_backend_history_holds_exactly_the_committed_transactions(cluster):
    db1, db2 = cluster.db(), cluster.db()
    initial = db1.lastTransaction()
    tm1, _, root1 = open_conn(db1)
    tm2, _, root2 = open_conn(db2)

    expected = []  # (tid, description, user, extension, oids), in commit order
    for i in range(3):
        tm, db, root, other = ((tm1, db1, root1, db2), (tm2, db2, root2, db1))[i % 2]
        tm.begin()
        root[f"k{i}"] = item = Item(i)
        txn = tm.get()
        txn.setUser(f"user{i}")
        txn.setExtendedInfo("step", i)
        tid = commit(tm, root, f"commit {i}")
        expected.append((tid, f"commit {i}".encode(), f"/ user{i}".encode(), {"step": i},
                         {z64, item._p_oid}))
        wait_last_tid(other, tid)
    # One transaction changing an existing object and adding a batch of new ones.
    tm1.begin()
    root1["k0"].value = "changed"
    root1["many"] = many = PersistentMapping(
        {str(i): Item(i) for i in range(20)})
    tid = commit(tm1, root1, "batch")
    expected.append((tid, b"batch", b"", {},
                     {z64, root1["k0"]._p_oid, many._p_oid}
                     | {o._p_oid for o in many.values()}))

    want_tids = [initial] + [e[0] for e in expected]
    histories = cluster.backend_histories()
    reader = cluster.client_storage()
    for name, history in histories.items():
        where = f"{name} history:\n{describe_history(history)}"
        assert [t.tid for t in history] == want_tids, where
        first = history[0]
        assert first.description == b"initial database creation", where
        assert first.oids == [z64], where
        for txn, (tid, description, user, extension, oids) in zip(history[1:], expected):
            assert txn.status == " "
            assert txn.description == description, where
            assert txn.user == user, where
            assert txn.extension == extension, where
            assert set(txn.oids) == oids, where
            assert len(txn.oids) == len(oids), f"an oid stored twice in {where}"
            for record in txn.records:
                assert record.data == reader.loadSerial(record.oid, tid), (
                    f"{name}: {record.oid.hex()}@{tid.hex()} differs from the target")
    if cluster.is_raid:
        reference_name = cluster.backends[0].name
        for name, history in histories.items():
            assert history == histories[reference_name], (
                f"mirrors differ: {reference_name} vs {name}")


def test_iterator_through_target_matches_backend(cluster):
    db = cluster.db()
    tm, _, root = open_conn(db)
    for i in range(3):
        root[i] = Item(i)
        commit(tm, root, f"t{i}")
    through_target = history_of(cluster.client_storage())
    assert len(through_target) == 4
    assert through_target == cluster.backends[0].history()
    # A bounded range.
    tids = [t.tid for t in through_target]
    ranged = cluster.client_storage().iterator(tids[1], tids[2])
    assert [t.tid for t in ranged] == tids[1:3]


def test_large_transaction_roundtrip(cluster):
    """More new objects than one new_oids batch (100) and a multi-megabyte record."""
    db1, db2 = cluster.db(), cluster.db()
    tm1, _, root1 = open_conn(db1)
    tm2, _, root2 = open_conn(db2)
    big = bytes(range(256)) * (3 * 4096)  # 3 MiB
    root1["items"] = items = PersistentMapping({i: Item(i) for i in range(250)})
    root1["big"] = Item(big)
    tid = commit(tm1, root1, "large")
    wait_last_tid(db2, tid)
    tm2.begin()
    assert sorted(root2["items"]) == list(range(250))
    assert all(root2["items"][i].value == i for i in range(250))
    assert root2["big"].value == big
    oids = {o._p_oid for o in items.values()}
    assert len(oids) == 250
    history = cluster.backends[0].history()
    assert history[-1].tid == tid
    assert len(history[-1].records) == 253  # root, mapping, big, 250 items


def test_unix_socket_client(make_cluster):
    cluster = make_cluster(unix_socket=True)
    assert isinstance(cluster.addr, str)
    db1, db2 = cluster.db(), cluster.db()
    tm1, _, root1 = open_conn(db1)
    tm2, _, root2 = open_conn(db2)
    root1["x"] = Item("over a unix socket")
    tid = commit(tm1, root1)
    wait_last_tid(db2, tid)
    tm2.begin()
    assert root2["x"].value == "over a unix socket"


def test_new_oids_are_unique_across_clients(cluster):
    s1, s2 = cluster.client_storage(), cluster.client_storage()
    oids = [s1.new_oid() for _ in range(150)] + [s2.new_oid() for _ in range(150)]
    assert len(set(oids)) == len(oids)
    assert z64 not in oids
    assert all(u64(o) > 0 for o in oids)
