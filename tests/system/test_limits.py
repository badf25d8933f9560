"""Hostile and careless peers against the translator's resource bounds (raid only).

* Memory: a length prefix announces a frame, the peer sends nothing more. The
  translator must not allocate what was announced (before: 60 MiB per connection,
  2.4 GB for 40 connections); 1,000 such connections keep it under 200 MB RSS while a
  real client keeps committing. Set ZEORAID_HOSTILE_CONNECTIONS to try another count.
* Connections: beyond ``--max_connections`` new connections are closed at once; a
  connection that does not register within ``--handshake_timeout`` is closed; one
  that stops in the middle of a frame is cut after ``--client_read_timeout``; a
  registered client may stay idle.
* Head-of-line: a client that stops reading must not delay other clients'
  invalidations (its writes queue; it is cut after ``--client_write_timeout``).
"""

from __future__ import annotations

import logging
import os
import resource
import socket
import struct
import threading
import time

import pytest
import transaction
from persistent.mapping import PersistentMapping

from harness import wait_until
from test_hostile import RawClient, decode, encode, frame, read_frame

log = logging.getLogger("zeoraid.tests.limits")
pytestmark = pytest.mark.raid_only


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def commit_some(db, n: int, tag: str) -> None:
    conn = db.open()
    try:
        root = conn.root()
        for i in range(n):
            root[f"{tag}{i}"] = PersistentMapping(v=i)
            transaction.commit()
    finally:
        transaction.abort()
        conn.close()


def is_closed(sock: socket.socket, timeout: float) -> bool:
    """Whether the peer closes `sock` within `timeout` (data received is ignored)."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def test_announced_frames_allocate_nothing(make_cluster):
    count = int(os.environ.get("ZEORAID_HOSTILE_CONNECTIONS", "1000"))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 500), hard))
    cap = ["--max_connections", str(count + 50)] if count > 1000 else []
    cluster = make_cluster(translator_args=cap)
    pid = cluster.translator.process.pid
    base = rss_mb(pid)
    db = cluster.db()
    commit_some(db, 3, "warm")

    hostile = []
    try:
        for i in range(count):
            c = RawClient(cluster.addr)
            c.handshake()
            c.register()
            # Announce 60 MiB; send a few bytes of it, then nothing.
            c.send(struct.pack(">I", 60 << 20) + b"\x80\x03(K\x01")
            hostile.append(c)
        time.sleep(1.0)
        peak = rss_mb(pid)
        # A good client keeps committing meanwhile.
        t0 = time.monotonic()
        commit_some(db, 20, "good")
        took = time.monotonic() - t0
        peak = max(peak, rss_mb(pid))
        log.info("%d connections announcing 60 MiB: translator RSS %.0f MB -> %.0f MB; "
                 "20 commits by a good client took %.2fs", count, base, peak, took)
        assert peak < 200, f"translator RSS {peak:.0f} MB with {count} hostile peers"
        # Every hostile connection is still open (nothing was cut for announcing).
        assert all(not is_closed(c.sock, 0.01) for c in hostile[:20])
    finally:
        for c in hostile:
            c.close()
    conn = db.open()
    assert conn.root()["good19"]["v"] == 19
    conn.close()


def test_connections_beyond_the_cap_are_refused(make_cluster):
    cluster = make_cluster(translator_args=["--max_connections", "4",
                                            "--metrics_listen", "127.0.0.1:0"])
    clients = [RawClient(cluster.addr) for _ in range(4)]
    for c in clients:
        c.handshake()
        c.register()
    # The fifth: closed at once, without the server's hello.
    extra = socket.create_connection(cluster.addr, timeout=5)
    assert is_closed(extra, 5.0), "a connection beyond the cap was served"
    extra.close()
    wait_until(lambda: "refused 1 connection(s)" in cluster.translator.process.log_text(),
               5, "the refusal is logged")
    # Those within the cap still work.
    flag, _ = clients[0].call("lastTransaction")
    assert not flag
    # Once one leaves, a new client gets in.
    clients.pop().close()
    deadline = time.monotonic() + 5
    # The translator notices the close asynchronously: until it has, a new
    # connection is still beyond the cap and closed before the hello.
    while True:
        c = None
        try:
            c = RawClient(cluster.addr)  # reads the hello (EOF if refused)
            c.handshake()
            c.register()
            break
        except (ConnectionError, EOFError, struct.error, OSError):
            if c is not None:
                c.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    clients.append(c)
    for c in clients:
        c.close()


def test_handshake_timeout_but_no_idle_timeout(make_cluster):
    cluster = make_cluster(translator_args=["--handshake_timeout", "1s"])
    silent = RawClient(cluster.addr)  # reads the hello, then says nothing
    handshaked = RawClient(cluster.addr)
    handshaked.handshake()  # protocol, but no register
    registered = RawClient(cluster.addr)
    registered.handshake()
    registered.register()
    t0 = time.monotonic()
    assert is_closed(silent.sock, 5.0)
    assert is_closed(handshaked.sock, 5.0)
    assert time.monotonic() - t0 < 5.0
    time.sleep(1.5)
    # A registered client may idle as long as it likes.
    flag, _ = registered.call("lastTransaction")
    assert not flag
    for c in (silent, handshaked, registered):
        c.close()


def test_a_peer_stalled_mid_frame_is_cut(make_cluster):
    cluster = make_cluster(translator_args=["--client_read_timeout", "1s"])
    db = cluster.db()
    staller = RawClient(cluster.addr)
    staller.handshake()
    staller.register()
    staller.send(struct.pack(">I", 1000) + b"\x80\x03(K\x01")  # 6 of 1000 bytes
    t0 = time.monotonic()
    commit_some(db, 3, "meanwhile")
    assert is_closed(staller.sock, 5.0), "a stalled peer was not cut"
    assert time.monotonic() - t0 < 5.0
    wait_until(lambda: "stalled mid-frame" in cluster.translator.process.log_text(),
               5, "the stall is logged")
    staller.close()


class InvalidationListener:
    """A raw registered client that reads everything and notes when each
    invalidateTransaction arrives."""

    def __init__(self, addr):
        self.client = RawClient(addr)
        self.client.handshake()
        self.client.register()
        self.arrivals: dict[bytes, float] = {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        self.client.sock.settimeout(None)
        try:
            while True:
                msgid, flag, name, args = decode(read_frame(self.client.sock))
                if name == "invalidateTransaction":
                    self.arrivals[bytes(args[0])] = time.monotonic()
        except (OSError, struct.error, EOFError, ValueError):
            pass

    def close(self):
        self.client.close()


def test_a_client_that_stops_reading_delays_nobody(make_cluster):
    write_timeout = 3.0
    # A Unix socket: its small kernel buffers back up after a few hundred KB.
    cluster = make_cluster(unix_socket=True, translator_args=[
        "--client_write_timeout", f"{write_timeout}s"])
    sleeper = RawClient(cluster.addr)  # registers, then never reads
    sleeper.handshake()
    sleeper.register()
    listener = InvalidationListener(cluster.addr)

    db = cluster.db()
    conn = db.open()
    root = conn.root()
    # Many objects per transaction: each invalidation is ~13 KB.
    objs = [PersistentMapping() for _ in range(1000)]
    root["objs"] = objs
    transaction.commit()
    commits: dict[bytes, float] = {}
    t0 = time.monotonic()
    i = 0
    # Until well past the sleeper's write timeout, and until it was cut (on a
    # busy host the commits may need longer to fill its buffers).
    log_text = cluster.translator.process.log_text
    while (time.monotonic() - t0 < 2 * write_timeout or
           ("cannot write to it" not in log_text() and time.monotonic() - t0 < 60)):
        for o in objs:
            o["v"] = i
        started = time.monotonic()
        transaction.commit()
        # From the start of the commit: the committer's own reply waits for
        # the others' invalidations (ZEO's order), so it would hide a delay.
        commits[db.storage.lastTransaction()] = started
        i += 1
    took = time.monotonic() - t0
    conn.close()
    wait_until(lambda: all(t in listener.arrivals for t in commits), 10,
               "the listener got every invalidation")
    delays = sorted(listener.arrivals[t] - c for t, c in commits.items())
    log.info("%d transactions in %.1fs; listener's "
             "invalidation delay: median %.3fs, max %.3fs", len(delays), took,
             delays[len(delays) // 2], delays[-1])
    assert delays[-1] < 1.0, (
        f"a client that stopped reading delayed another's invalidations by "
        f"{delays[-1]:.2f}s")
    # The sleeper itself was cut: its stream ends (after what was sent).
    assert is_closed(sleeper.sock, 10.0)
    assert "cannot write to it" in cluster.translator.process.log_text()
    listener.close()
    sleeper.close()


def _tid_in(seconds: float) -> bytes:
    from ZODB.TimeStamp import TimeStamp
    t = time.gmtime(time.time() + seconds)
    return TimeStamp(*t[:5], t[5]).raw()


def test_a_tid_far_in_the_future_is_refused(cluster):
    from ZODB.Connection import TransactionMetaData
    from ZODB.POSException import StorageError
    from ZODB.utils import p64, u64

    storage = cluster.client_storage()
    before = storage.lastTransaction()

    def commit_at(tid: bytes) -> None:
        t = TransactionMetaData()
        storage.tpc_begin(t, tid, " ")
        storage.store(storage.new_oid(), None, b"x" * 10, "", t)
        try:
            storage.tpc_vote(t)
        except Exception:
            storage.tpc_abort(t)
            raise
        storage.tpc_finish(t)

    # A day ahead: refused at vote, nothing committed.
    with pytest.raises(StorageError, match="ahead of the clock"):
        commit_at(_tid_in(24 * 3600))
    assert storage.lastTransaction() == before
    # A minute ahead (clock skew between hosts): accepted.
    soon = _tid_in(60)
    commit_at(soon)
    assert u64(storage.lastTransaction()) >= u64(soon) - u64(p64(1 << 32))
    # And the RAID goes on with ordinary commits after it.
    db = cluster.db()
    commit_some(db, 2, "after")
    assert "ahead of the clock" in cluster.raidcore.process.log_text()


def test_a_huge_transaction_is_spooled_to_disk(make_cluster, tmp_path):
    spool = tmp_path / "spool"
    spool.mkdir()
    cluster = make_cluster(raidcore_args=["--transaction_memory_mb", "1",
                                          "--spool_dir", str(spool)])
    db = cluster.db()
    conn = db.open()
    root = conn.root()
    blobs = {f"big{i}": PersistentMapping(data=bytes([i]) * 300_000) for i in range(12)}
    root.update(blobs)
    transaction.commit()  # ~3.6 MB of records: most of it spooled
    conn.close()
    assert "spooling the rest" in cluster.raidcore.process.log_text()
    assert list(spool.iterdir()) == [], "the spool file was left behind"
    # Every mirror has every record.
    for b in cluster.backends:
        from ZODB import DB
        from ZEO.ClientStorage import ClientStorage
        st = ClientStorage(b.addr, wait_timeout=10, read_only=True)
        other = DB(st)
        c = other.open()
        for i in range(12):
            assert c.root()[f"big{i}"]["data"] == bytes([i]) * 300_000
        c.close()
        other.close()


def test_one_client_cannot_push_out_anothers_iterators(cluster):
    """raidcore keeps at most 10,000 open iterators for all clients together; a
    client that opens more than 256 loses its own oldest, never another's."""
    db = cluster.db()
    commit_some(db, 3, "it")
    b = RawClient(cluster.addr)
    b.handshake()
    b.register()
    flag, b_iter = b.call("iterator_start", None, None)
    assert not flag
    a = RawClient(cluster.addr)
    a.handshake()
    a.register()
    first = None
    for i in range(10050):
        a.msgid += 1
        a.send(frame(encode(a.msgid, False, "iterator_start", (None, None))))
    # Replies in order; the first id is the one that was dropped.
    for i in range(10050):
        msgid, flag, name, result = decode(read_frame(a.sock))
        assert not flag, result
        if first is None:
            first = result
    flag, result = a.call("iterator_next", first)
    assert flag and "KeyError" in type(result).__name__ + repr(result), result
    # b's iterator still works.
    flag, txn = b.call("iterator_next", b_iter)
    assert not flag, txn
    assert txn is not None
    a.close()
    b.close()


def test_a_tid_from_2_63_on_is_refused_even_without_a_bound(make_cluster):
    """ZEO's client cache fails on tids >= 2^63 (signed): raidcore refuses them
    whatever --max_tid_ahead says (found by tests/fuzz/session_fuzz.py)."""
    from ZODB.Connection import TransactionMetaData
    from ZODB.POSException import StorageError
    from ZODB.utils import p64

    cluster = make_cluster(raidcore_args=["--max_tid_ahead", "0"])
    storage = cluster.client_storage()
    t = TransactionMetaData()
    storage.tpc_begin(t, p64(0xFFFFFFFFFFFFFFFF), " ")
    storage.store(storage.new_oid(), None, b"x", "", t)
    with pytest.raises(StorageError, match="2\\^63"):
        storage.tpc_vote(t)
    storage.tpc_abort(t)
    commit_some(cluster.db(), 1, "after")
