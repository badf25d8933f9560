"""Hostile and broken clients against the translator (raid only).

A raw socket client sends garbage: a bad handshake, bad length prefixes, undecodable
pickles, malformed messages, calls before ``register``, unknown methods, pickles with
forbidden globals. Each such connection must be closed cleanly (EOF, no reply: what a
ZEO server does), nothing the client sent may be executed, a real client's
transaction in progress meanwhile must complete, the translator must keep serving new
clients, and its log must name each bad connection.

A raw client that holds the commit lock (voted) and then sends garbage or vanishes in
the middle of a frame must not block the next commit.
"""

from __future__ import annotations

import logging
import socket
import struct
import time
from pathlib import Path

import pytest
import transaction
from persistent.mapping import PersistentMapping
from ZEO.asyncio.marshal import encoder
from ZODB.Connection import TransactionMetaData
from ZODB.utils import maxtid, z64
from zodbpickle import pickle as zpickle

from harness import STORAGE_NAME, recv_frame, wait_until

log = logging.getLogger("zeoraid.tests.hostile")
pytestmark = pytest.mark.raid_only

CLOSE_TIMEOUT = 10.0  # a bad connection must be closed within this
encode = encoder(b"Z5")


# ------------------------------------------------------------------ raw client


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


read_frame = recv_frame


def decode(payload: bytes):
    return zpickle.loads(payload)


class RawClient:
    """A ZEO client speaking the wire protocol by hand."""

    def __init__(self, addr, timeout: float = 10.0):
        if isinstance(addr, str):  # a Unix socket path
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(addr)
            self.port = None
        else:
            self.sock = socket.create_connection(addr, timeout=timeout)
            self.port = self.sock.getsockname()[1]
        self.hello = read_frame(self.sock)
        self.msgid = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def handshake(self, version: bytes = b"Z5") -> None:
        self.send(frame(version))

    def oneway(self, name: str, *args) -> None:
        self.send(frame(encode(0, True, name, args)))

    def call(self, name: str, *args):
        """A synchronous call; returns (flag, result) of its reply (one-way calls from
        the server in between, e.g. invalidations, are skipped)."""
        self.msgid += 1
        self.send(frame(encode(self.msgid, False, name, args)))
        while True:
            msgid, flag, rname, result = decode(read_frame(self.sock))
            if rname == ".reply" and msgid == self.msgid:
                return flag, result

    def register(self) -> bytes:
        flag, result = self.call("register", STORAGE_NAME, False)
        assert not flag, f"register failed: {result!r}"
        return result

    def wait_closed(self, timeout: float = CLOSE_TIMEOUT) -> tuple[bool, bytes]:
        """Read until EOF. Returns (closed, bytes received meanwhile)."""
        self.sock.settimeout(0.2)
        got = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True, got
            if not chunk:
                return True, got
            got += chunk
        return False, got

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


# ----------------------------------------------------------------- the garbage


def _global_call_pickle(module: str, name: str, arg: str) -> bytes:
    """A pickle (protocol 3) of ``module.name(arg)`` via GLOBAL + REDUCE."""
    a = arg.encode()
    return (b"c" + module.encode() + b"\n" + name.encode() + b"\n"
            + b"X" + struct.pack("<I", len(a)) + a + b"\x85R")


def _message_with_arg(msgid: int, name: str, arg_pickle: bytes) -> bytes:
    """(msgid, False, name, (<arg>,)) with a hand-made argument pickle."""
    n = name.encode()
    return (b"\x80\x03(" + b"K" + bytes([msgid]) + b"\x89"
            + b"X" + struct.pack("<I", len(n)) + n
            + arg_pickle + b"\x85t.")


def garbage_cases(marker_dir: Path):
    """(name, action(raw client), must the log name it?). The action runs right after
    the server's handshake frame has been read."""
    touch = marker_dir / "executed"

    def after_handshake(data: bytes):
        def action(c: RawClient):
            c.handshake()
            c.send(data)
        return action

    def after_register(data: bytes):
        def action(c: RawClient):
            c.handshake()
            c.register()
            c.send(data)
        return action

    def then_eof(data: bytes):
        def action(c: RawClient):
            c.handshake()
            c.send(data)
            c.sock.shutdown(socket.SHUT_WR)
        return action

    def msg(msgid, flag, name, args) -> bytes:
        return frame(encode(msgid, flag, name, args))

    os_system = _global_call_pickle("os", "system", f"touch {touch}")
    posix_system = _global_call_pickle("posix", "system", f"touch {touch}")
    builtins_eval = _global_call_pickle(
        "builtins", "eval", f"__import__('os').system('touch {touch}')")
    return [
        ("bad handshake version", lambda c: c.handshake(b"Z4"), True),
        ("handshake of garbage bytes",
         lambda c: c.send(frame(b"\xff\xfe\x00garbage")), True),
        ("zero-length frame", after_handshake(frame(b"")), True),
        ("huge length prefix (4 GiB)",
         after_handshake(b"\xff\xff\xff\xff" + b"\x80\x03" * 512), True),
        ("length prefix over 64 MiB",
         after_handshake(struct.pack(">I", 80 << 20) + b"x" * 4096), True),
        ("truncated length prefix then EOF", then_eof(b"\x00\x00"), False),
        ("frame cut short then EOF",
         then_eof(struct.pack(">I", 1000) + b"\x80\x03(K\x01"), False),
        ("undecodable pickle", after_handshake(frame(
            b"\x80\x03(K\x01\x89X\x08\x00\x00\x00register\xff\xfe\xfd")), True),
        ("not a pickle at all", after_handshake(frame(bytes(range(256)) * 4)), True),
        ("pickle of an int", after_handshake(frame(zpickle.dumps(42, 3))), True),
        ("message of three elements",
         after_handshake(frame(zpickle.dumps((1, False, "register"), 3))), True),
        ("call before register",
         after_handshake(msg(1, False, "loadBefore", (z64, maxtid))), True),
        ("one-way call before register",
         after_handshake(msg(0, True, "tpc_begin", (1, b"", b"", {}, None, " "))), True),
        ("unknown method", after_register(msg(7, False, "no_such_method", ())), True),
        ("second register",
         after_register(msg(7, False, "register", (STORAGE_NAME, False))), True),
        ("a reply sent by the client", after_register(msg(7, 0, ".reply", None)), True),
        ("storea outside a transaction",
         after_register(msg(0, True, "storea", (z64, z64, b"data", 1))), True),
        ("forbidden global os.system in register",
         after_handshake(frame(_message_with_arg(1, "register", os_system))), True),
        ("forbidden global posix.system after register",
         after_register(frame(_message_with_arg(7, "loadBefore", posix_system))), True),
        ("builtins.eval in register",
         after_handshake(frame(_message_with_arg(1, "register", builtins_eval))), True),
    ]


# ----------------------------------------------------------------------- tests


def test_raw_client_sanity(cluster):
    """The raw client itself speaks ZEO: heartbeat before register is ignored,
    register answers the last tid, get_info and loadBefore answer."""
    c = RawClient(cluster.addr)
    try:
        assert c.hello == b"Z5"
        c.handshake()
        c.send(frame(encode(-1, 0, ".reply", None)))  # heartbeat
        tid = c.register()
        assert isinstance(tid, bytes) and len(tid) == 8
        flag, info = c.call("get_info")
        assert not flag and "interfaces" in info, info
        flag, result = c.call("loadBefore", b"\0" * 7 + b"\x42", maxtid)
        assert flag == 2 and result[0] == "ZODB.POSException.POSKeyError", result
    finally:
        c.close()


def _new_value_txn(storage, description: str):
    """tpc_begin + store of a new object, not voted yet."""
    oid = storage.new_oid()
    txn = TransactionMetaData(description=description)
    storage.tpc_begin(txn)
    storage.store(oid, z64, _record(description), "", txn)
    return oid, txn


def _record(value) -> bytes:
    return (zpickle.dumps((("persistent.mapping", "PersistentMapping"), None), 3)
            + zpickle.dumps({"data": {"v": value}}, 3))


def test_garbage_clients_are_disconnected_and_others_unaffected(make_cluster, tmp_path):
    """Every case of garbage_cases() on its own connection: closed within 10 s with no
    reply, a WARNING in the translator log, nothing executed; meanwhile a real
    client's transaction (tpc_begin + store before the garbage, vote + finish after)
    commits, and new clients are served afterwards."""
    cluster = make_cluster(kind="raid")
    marker_dir = tmp_path / "marker"
    marker_dir.mkdir()
    # A real client in the middle of a transaction while the garbage arrives.
    db = cluster.db()
    storage = db.storage
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    conn.root()["before"] = PersistentMapping(v=0)
    tm.commit()
    writer = cluster.client_storage()
    oid, txn = _new_value_txn(writer, "in progress during the garbage")

    log_path = cluster.translator.process.log_path
    results = {}
    problems = []
    for name, action, must_log in garbage_cases(marker_dir):
        mark = log_path.stat().st_size
        c = RawClient(cluster.addr)
        t0 = time.monotonic()
        try:
            action(c)
            closed, got = c.wait_closed()
        except (ConnectionResetError, BrokenPipeError):
            closed, got = True, b""
        finally:
            c.close()
        took = time.monotonic() - t0
        logged = _log_lines_since(log_path, mark, wait=3.0 if must_log else 0.2)
        results[name] = (c.port, closed, got, took, logged)
        log.info("%-45s closed=%s after %.2fs, %d bytes back; log: %s", name, closed,
                 took, len(got), logged)
        if not closed:
            problems.append(f"{name}: connection still open after {CLOSE_TIMEOUT:.0f}s")
        if got:
            problems.append(f"{name}: the server answered {got[:120]!r} before closing "
                            "(ZEO closes without a reply)")
        if must_log and not logged:
            problems.append(f"{name}: nothing in the translator log about it")
    assert not (marker_dir / "executed").exists(), "a pickled global was executed!"

    # The transaction in progress completes.
    writer.tpc_vote(txn)
    tid = writer.tpc_finish(txn)
    reader = cluster.client_storage()
    data, serial = reader.load(oid)
    assert (data, serial) == (_record("in progress during the garbage"), tid)

    # New clients are served.
    fresh = cluster.db()
    ftm = transaction.TransactionManager()
    fconn = fresh.open(transaction_manager=ftm)
    assert fconn.root()["before"]["v"] == 0
    fconn.root()["after"] = PersistentMapping(v=1)
    ftm.commit()
    wait_until(lambda: storage.lastTransaction() >= fconn.root()["after"]._p_serial, 10,
               "the first client to hear of the new commit")
    tm.begin()
    assert conn.root()["after"]["v"] == 1
    assert cluster.translator.process.running()
    assert not problems, "\n".join(problems)


def _log_lines_since(path: Path, offset: int, wait: float) -> list[str]:
    """Warning/error lines appended to a log after ``offset`` (waiting up to ``wait``
    seconds for the first one)."""
    deadline = time.monotonic() + wait
    while True:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", errors="replace")
        lines = [line for line in text.splitlines()
                 if " WARNING " in line or " ERROR " in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_bad_frame_log_names_the_client_address(make_cluster):
    """An operator must be able to tell who sent garbage: the log line about a bad
    frame names the client's address (ZEO logs the peer address of every connection)."""
    cluster = make_cluster(kind="raid")
    log_path = cluster.translator.process.log_path
    mark = log_path.stat().st_size
    c = RawClient(cluster.addr)
    try:
        c.handshake()
        c.send(frame(b"\x80\x03garbage"))
        closed, _ = c.wait_closed()
    finally:
        c.close()
    assert closed
    lines = _log_lines_since(log_path, mark, wait=3.0)
    assert lines, "nothing logged about the bad frame"
    assert any(f"127.0.0.1:{c.port}" in line for line in lines), (
        f"client address 127.0.0.1:{c.port} not in {lines}")


def _voting_raw_client(cluster, description: bytes) -> tuple[RawClient, bytes]:
    """A raw client that has voted (holds the commit lock)."""
    c = RawClient(cluster.addr)
    c.handshake()
    c.register()
    flag, oids = c.call("new_oids", 1)
    assert not flag, oids
    oid = oids[0]
    txn_id = 77
    c.oneway("tpc_begin", txn_id, b"", description, {}, None, " ")
    c.oneway("storea", oid, z64, _record(description.decode()), txn_id)
    flag, result = c.call("vote", txn_id)
    assert not flag, f"vote failed: {result!r}"
    return c, oid


def _commit_after(cluster, what: str) -> float:
    db = cluster.db()
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    t0 = time.monotonic()
    conn.root()[what] = 1
    tm.commit()
    return time.monotonic() - t0


@pytest.mark.parametrize("how", ["garbage frame", "undecodable pickle",
                                 "unknown method", "cut mid-frame then gone"])
def test_lock_holder_sending_garbage_does_not_block_next_commit(make_cluster, how):
    """A client that voted (holds the commit lock) and then sends garbage (or dies in
    the middle of a frame) is disconnected, its transaction aborted and the lock freed
    at once — well before raidcore's --commit_lock_timeout (30 s)."""
    cluster = make_cluster(kind="raid")
    cluster.db().close()  # the root exists: the next DB commits only our change
    c, oid = _voting_raw_client(cluster, b"voted, then garbage")
    try:
        if how == "garbage frame":
            c.send(frame(b"\x00garbage\x00"))
        elif how == "undecodable pickle":
            c.send(frame(b"\x80\x03(K\x09\x89\xff\xff"))
        elif how == "unknown method":
            c.send(frame(encode(9, False, "no_such_method", ())))
        else:
            c.send(struct.pack(">I", 5000) + b"\x80\x03(K\x09")
            c.sock.shutdown(socket.SHUT_WR)
        closed, got = c.wait_closed()
    finally:
        c.close()
    assert closed, "the translator kept the connection of the garbage sender"
    assert got == b"", f"unexpected answer {got[:120]!r}"
    waited = run_commit_with_deadline(cluster, how)
    assert waited < 10, f"the next commit waited {waited:.1f}s for the lock"
    for name, history in cluster.backend_histories().items():
        assert all(oid not in t.oids for t in history), f"{name} holds the aborted store"
        assert all(t.description != b"voted, then garbage" for t in history), name
    assert cluster.raidcore.status()["state"] == "optimal"


def run_commit_with_deadline(cluster, what: str) -> float:
    waited = _commit_after(cluster, what)
    log.info("next commit took %.2fs after %s", waited, what)
    return waited


@pytest.mark.parametrize("ending", ["tpc_abort", "tpc_finish", "disconnect"])
def test_data_call_after_vote_then_more_calls(make_cluster, ending):
    """storea after the vote (raidcore ends that transaction's stream), then a call
    that ignores the failure, then the transaction's end: the translator crashed
    (gRPC Finish called twice on the stream; found by tests/fuzz/session_fuzz.py).
    Now the client gets errors, the translator lives and others commit."""
    cluster = make_cluster()
    c, oid = _voting_raw_client(cluster, b"late store")
    c.oneway("storea", oid, z64, _record("after the vote"), 77)
    flag, status = c.call("server_status")
    assert not flag, status
    if ending == "disconnect":
        c.close()
    else:
        try:
            c.call(ending, 77)  # an error reply, or the connection closed
        except (ConnectionError, struct.error, OSError):
            pass
        c.close()
    assert _commit_after(cluster, f"after {ending}") < 30
    assert cluster.translator.process.running(), "the translator died"
    other = RawClient(cluster.addr)
    other.handshake()
    other.register()
    other.close()


def test_answering_methods_called_one_way_get_no_reply(cluster):
    """As a ZEO server: a method that answers, called one-way, runs and sends
    nothing back (a reply the client never asked for breaks a ZEO client)."""
    c = RawClient(cluster.addr)
    c.handshake()
    c.register()
    for name, args in (("lastTransaction", ()), ("new_oids", (1,)),
                       ("get_info", ()), ("ping", ()), ("loadBefore", (z64, maxtid)),
                       ("server_status", ())):
        c.oneway(name, *args)
    c.msgid = 41
    c.send(frame(encode(42, False, "lastTransaction", ())))
    c.sock.settimeout(10)
    msgid, flag, name, result = decode(read_frame(c.sock))
    assert (msgid, name) == (42, ".reply"), (msgid, flag, name, result)
    c.close()
