"""Records real ZEO sessions through :mod:`relay` into zeo/testdata/recorded/.

Starts real ``runzeo`` servers (FileStorage, loopback, free ports), one speaking
pickle (``Z5``) and one with ``msgpack true`` (``M5``), puts a
:class:`relay.RecordingRelay` in front of each, and drives them with real
``ZODB.DB(ZEO.ClientStorage(...))`` clients: connect, commit, load, write
conflict, server-resolved conflict, POSKeyError, history, loadSerial, undoLog/
undoInfo/undo, transaction extensions carrying unusual values, iteration,
pack, a dropped connection with automatic reconnection, a close/reopen with
cache verification, direct RPCs, close.

    .venv/bin/python tests/relay/record_sessions.py            # both sessions
    .venv/bin/python tests/relay/record_sessions.py msgpack    # one of them
    .venv/bin/python tests/relay/record_sessions.py --out /tmp/rec

Writes NAME.c2s.jsonl, NAME.s2c.jsonl and NAME.timeline.txt per session. Tids,
times and transaction ids differ from run to run. See README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

import relay as zrelay

log = logging.getLogger("zeoraid.record")

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
DEFAULT_OUT = REPO / "zeo" / "testdata" / "recorded"
SESSIONS = ("pickle", "msgpack")
START_TIMEOUT = 30.0
WAIT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind((zrelay.LOOPBACK, 0))
        return s.getsockname()[1]


def wait_until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.05)


class ZeoServer:
    """A real runzeo serving FileStorage "1" on a free loopback port."""

    def __init__(self, rundir: Path, zeo_extra: str = "", blobs: bool = True):
        self.rundir = rundir
        self.port = free_port()
        self.addr = (zrelay.LOOPBACK, self.port)
        blob = f"blob-dir {rundir / 'server-blobs'}" if blobs else ""
        self.conf = rundir / "zeo.conf"
        self.conf.write_text(f"""
<zeo>
  address {zrelay.LOOPBACK}:{self.port}
  {zeo_extra}
</zeo>
<filestorage 1>
  path {rundir / 'Data.fs'}
  {blob}
</filestorage>
<eventlog>
  level INFO
  <logfile>
    path {rundir / 'zeo-server.log'}
  </logfile>
</eventlog>
""")
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> None:
        out = open(self.rundir / "runzeo.out", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "ZEO.runzeo", "-C", str(self.conf)],
                                     cwd=self.rundir, stdout=out, stderr=subprocess.STDOUT)
        out.close()

        def listening() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runzeo exited with {self.proc.returncode}: "
                                   + (self.rundir / "runzeo.out").read_text()[-2000:])
            with socket.socket() as s:
                s.settimeout(0.5)
                return s.connect_ex(self.addr) == 0

        wait_until(listening, START_TIMEOUT, "runzeo to listen")
        log.info("runzeo pid %d on %s:%d", self.proc.pid, *self.addr)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()  # our own child, by its handle
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


# Transaction extensions are sent as-is in tpc_begin and come back merged into
# history/undoLog results and in iterator_next: a way to make real ZEO code
# put unusual values on the wire. msgpack peers need str map keys and ints
# within 64 bits.
def extension_values(encoding: str) -> dict:
    common = {
        "text": "h\u00e9llo \u2603 \U0001d11e",
        "long_text": "\u00e9" * 200,
        "blob": bytes(range(256)) + b"tail",
        "empty": b"",
        "floats": (0.1, -0.0, 1e308, 5e-324, float("inf"), float("-inf"), float("nan")),
        "ints": [0, 255, 256, 65535, 65536, -1, -129, 2**31 - 1, -2**31, 2**31, 2**63 - 1, -2**63],
        "u64": 2**64 - 1,
        "nested": {"a": [1, (2, [3, {"b": None}])], "t": True, "f": False},
        "many": list(range(40)),
    }
    if encoding == "pickle":
        common.update({
            "big": 2**100 + 12345,
            "neg_big": -(2**80) - 1,
            "huge": 3**700,
            7: "int key",
            b"bk": "bytes key",
            "int_keys": {1: "one", -2: "minus two", 2**70: "big"},
        })
    return common


@contextlib.contextmanager
def recording(name: str, out: Path, work: Path, zeo_extra: str = "",
              blobs: bool = True) -> Iterator[tuple[ZeoServer, zrelay.RecordingRelay]]:
    rundir = work / name
    if rundir.exists():
        shutil.rmtree(rundir)
    rundir.mkdir(parents=True)
    server = ZeoServer(rundir, zeo_extra=zeo_extra, blobs=blobs)
    server.start()
    relay = zrelay.RecordingRelay(server.addr, str(out / name)).start()
    try:
        yield server, relay
    finally:
        relay.stop()
        server.stop()
        log.info("%s: recorded %s", name, relay.recorder.counts)


def run_session(name: str, encoding: str, out: Path, work: Path) -> dict:
    import transaction
    import ZODB
    import ZODB.POSException
    from BTrees.Length import Length
    from persistent.mapping import PersistentMapping
    from ZEO.ClientStorage import ClientStorage
    from ZODB.utils import p64, u64

    results: dict = {}
    blobs = encoding == "pickle"
    zeo_extra = "msgpack true" if encoding == "msgpack" else ""
    with recording(name, out, work, zeo_extra=zeo_extra, blobs=blobs) as (server, relay):
        rundir = server.rundir
        step = relay.marker

        def client(label: str, cache: Optional[str] = None) -> ClientStorage:
            relay.name_next(label)
            kw = {"blob_dir": str(rundir / f"{cache or label}-blobs")} if blobs else {}
            return ClientStorage(relay.addr, client=cache or label, var=str(rundir),
                                 client_label=label, wait_timeout=WAIT, **kw)

        step("client1: ClientStorage + DB on an empty storage (handshake, register, "
             "get_info, root creation)")
        cs1 = client("client1")
        db1 = ZODB.DB(cs1)
        step("client2 connects")
        cs2 = client("client2")
        db2 = ZODB.DB(cs2)
        tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
        c1 = db1.open(transaction_manager=tm1)
        c2 = db2.open(transaction_manager=tm2)

        step("client1 commits obj/len/big (user, note, extension); client2 invalidated")
        r1 = c1.root()
        r1["obj"] = PersistentMapping({"v": 1})
        r1["len"] = Length(0)
        r1["big"] = PersistentMapping({"data": "x" * 600})  # record > 255 bytes
        t = tm1.get()
        t.note("first commit \u2713")
        t.setUser("alice")
        t.setExtendedInfo("app", "record_sessions")
        tm1.commit()

        step("client2 loads root, obj, big (loadBefore)")
        tm2.begin()
        r2 = c2.root()
        results["v_seen_by_client2"] = r2["obj"]["v"]
        results["big_len"] = len(r2["big"]["data"])
        r2["len"].value

        step("write conflict: client1 commits first, client2 vote -> ConflictError, tpc_abort")
        tm1.begin()
        tm2.begin()
        c1.root()["obj"]["v"] = 2
        c2.root()["obj"]["v"] = 3
        tm1.commit()
        try:
            tm2.commit()
            results["conflict"] = None
        except ZODB.POSException.ConflictError as e:
            results["conflict"] = type(e).__name__
            tm2.abort()

        step("resolvable conflict on BTrees.Length: resolved by the server (vote returns [oid])")
        tm1.begin()
        tm2.begin()
        c1.root()["len"].change(1)
        c2.root()["len"].change(5)
        tm1.commit()
        tm2.commit()
        tm2.begin()
        results["len_after_resolution"] = c2.root()["len"].value

        step("POSKeyError: load of oid 0xdeadbeef")
        try:
            cs1.load(p64(0xDEADBEEF))
            results["poskeyerror"] = None
        except ZODB.POSException.POSKeyError as e:
            results["poskeyerror"] = type(e).__name__

        step("commit with a transaction extension carrying unusual values")
        tm1.begin()
        c1.root()["obj"]["v"] = 4
        t = tm1.get()
        t.note("extension values")
        for k, v in extension_values(encoding).items():
            t.extension[k] = v
        tm1.commit()

        obj_oid = c1.root()["obj"]._p_oid
        step("history(obj, 10): extension values come back merged")
        results["history_len"] = len(cs1.history(obj_oid, 10))

        step("loadSerial(obj, current serial)")
        _data, serial = cs1.load(obj_oid)
        results["loadSerial_len"] = len(cs1.loadSerial(obj_oid, serial))

        if blobs:
            from ZODB.blob import Blob

            step("blob: client1 commits a small Blob (storeBlob*), client2 reads it (sendBlob)")
            tm1.begin()
            c1.root()["blob"] = Blob(b"blob data " * 8)
            tm1.commit()
            tm2.begin()
            with c2.root()["blob"].open("r") as f:
                results["blob_len"] = len(f.read())

        step("undoLog(0, -20), undoInfo(0, -20), then undo of the last obj change")
        tm1.begin()
        c1.root()["obj"]["v"] = 99
        tm1.get().note("to be undone")
        tm1.commit()
        undo_log = db1.undoLog(0, -20)
        db1.undoInfo(0, -20)
        tm1.begin()
        db1.undo(undo_log[0]["id"], tm1.get())
        tm1.commit()
        tm1.begin()
        results["v_after_undo"] = c1.root()["obj"]["v"]

        step("iterator: every transaction and record (iterator_start/next, iterator_record_*)")
        ntx = nrec = 0
        for txn in cs1.iterator():
            ntx += 1
            nrec += sum(1 for _ in txn)
        results["iterator"] = (ntx, nrec)

        step("pack (info broadcast to both clients)")
        db1.pack()
        time.sleep(0.3)

        step("relay drops both connections; both clients reconnect (register, "
             "lastTransaction/getInvalidations), then client1 commits")
        accepted = relay.accepted
        relay.name_next("reconnect")
        relay.name_next("reconnect")
        assert relay.drop_connections() == 2
        wait_until(lambda: relay.accepted >= accepted + 2 and cs1.is_connected() and cs2.is_connected(),
                   WAIT, "reconnection of both clients")
        tm1.begin()
        c1.root()["obj"]["v"] = 5
        tm1.commit()
        tm2.begin()
        results["v_after_reconnect"] = c2.root()["obj"]["v"]

        step("client2 closes; client1 commits; client2 reopens with its persistent "
             "cache (cache verification via getInvalidations)")
        c2.close()
        db2.close()
        tm1.begin()
        c1.root()["obj"]["v"] = 6
        tm1.commit()
        cs2 = client("client2-reopen", cache="client2")
        db2 = ZODB.DB(cs2)
        c2 = db2.open(transaction_manager=tm2)
        tm2.begin()
        results["v_after_reopen"] = c2.root()["obj"]["v"]

        step("direct RPCs: ping, lastTransaction, getInvalidations, new_oids, server_status")
        cs1.ping()
        last = cs1._call("lastTransaction")
        cs1._call("getInvalidations", p64(u64(last) - 1))
        results["new_oids"] = len(cs1._call("new_oids", 3))
        cs1.server_status()

        step("close both clients")
        c2.close()
        db2.close()
        c1.close()
        db1.close()
        time.sleep(0.2)
    return results


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Record real ZEO sessions through the relay.")
    parser.add_argument("sessions", nargs="*", metavar="SESSION",
                        help=f"which sessions ({', '.join(SESSIONS)}; default all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    parser.add_argument("--workdir", type=Path, help="server/cache files (default: a temporary folder)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    unknown = set(args.sessions) - set(SESSIONS)
    if unknown:
        parser.error(f"unknown session(s): {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("ZEO").setLevel(logging.WARNING)  # reconnect chatter
    args.out.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        work = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="zeo-record-")))
        for name in args.sessions or SESSIONS:
            results = run_session(name, name, args.out, work)
            log.info("%s results: %s", name, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
