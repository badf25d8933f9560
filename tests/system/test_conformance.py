"""Conformance: an application must not be able to tell the translator from ZEO 6.

Every test starts two targets side by side: a plain ``runzeo`` and a RAID (two runzeo
backends + raidcore + translator), both with the same ``<zeo>`` options, and runs the
same scripted scenario of ClientStorage / ZODB operations against each. Each scenario
records *steps* — what a call returned or raised — normalized so that values which
legitimately differ between two servers are compared by their role in the run:

* 8-byte strings (tids and oids) become labels in order of first appearance (``@1``,
  ``@2``, …; ``z64`` and ``maxtid`` stay named), so "the tid of the 2nd commit" on one
  target is compared with "the tid of the 2nd commit" on the other;
* ``time`` in history/undo entries is checked against the entry's tid;
* exceptions become (class path, normalized args, normalized attributes);
* lists and tuples keep their type (pickle distinguishes them; msgpack does not).

The steps of both runs are then compared one by one; the failure message lists every
difference (``plain ZEO`` vs ``RAID``). Besides the active clients, every run has a
passive client that records each ``invalidateTransaction`` it receives; that list is
compared too (as sets of oids per tid: ZODB treats the oids as a set).

Each test runs for both encodings: pickle (``Z5``) and msgpack (``M5``: the plain server
has ``msgpack true``, the translator gets ``--msgpack``). Blobs are not covered (ZEORaid
does not support them yet).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import pickle
import socket
import struct
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import transaction
import ZODB
from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from persistent.mapping import PersistentMapping
from ZODB.Connection import TransactionMetaData
from ZODB.FileStorage import FileStorage
from ZODB.TimeStamp import TimeStamp
from ZODB.utils import maxtid, p64, u64, z64
from zope.interface import providedBy

from harness import STORAGE_NAME, WAIT_TIMEOUT, history_of, wait_until

log = logging.getLogger("zeoraid.tests.conformance")
pytestmark = pytest.mark.raid_only

STEP_TIMEOUT = 30.0  # one client call; ZEO clients wait forever for replies
CATCH_UP_TIMEOUT = 15.0  # an invalidation reaching a passive client

_RAISED = object()  # outcome() of a call that raised


class ScenarioAborted(Exception):
    """A call hung: the rest of the scenario cannot run meaningfully."""


class StepHung(Exception):
    """A call did not return in time."""


def pickle_of(value) -> bytes:
    """A real ZODB record of a ZODB.tests.MinPO.MinPO (class pickle, then state; no
    references), so that packing can read it."""
    f = io.BytesIO()
    p = pickle.Pickler(f, 3)
    p.dump((("ZODB.tests.MinPO", "MinPO"), None))
    p.dump({"value": value})
    return f.getvalue()


def tid_time(tid: bytes) -> float:
    return TimeStamp(tid).timeTime()


def later_tid(tid: bytes, seconds: float = 0.0) -> bytes:
    """A valid tid ``seconds`` after ``tid`` (at least one unit later)."""
    if seconds:
        t = tid_time(tid) + seconds
        ts = TimeStamp(*(time.gmtime(t)[:5] + (t % 60,)))
        return ts.laterThan(TimeStamp(tid)).raw()
    return p64(u64(tid) + 1)


def run_with_timeout(fn: Callable[[], Any], timeout: float, what: str):
    """``fn()`` in a helper thread; StepHung if it does not return in time (the
    thread is left behind: a ZEO call without a reply never returns)."""
    result: dict = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # noqa: B902 - handed to the caller
            result["error"] = e

    thread = threading.Thread(target=target, name=f"step {what}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise StepHung(f"{what} did not return within {timeout:.0f}s")
    if "error" in result:
        raise result["error"]
    return result.get("value")


# -------------------------------------------------------------------- recording


class InvalidationRecorder:
    """Stands in for a ZODB.DB on a ClientStorage: records invalidateTransaction."""

    def __init__(self):
        self.events: list = []
        self._lock = threading.Lock()

    def invalidate(self, tid, oids):
        with self._lock:
            self.events.append((tid, list(oids)))

    def invalidateCache(self):
        with self._lock:
            self.events.append(("invalidateCache", None))

    @staticmethod
    def transform_record_data(data):
        return data

    @staticmethod
    def untransform_record_data(data):
        return data


class ForwardingRecorder(InvalidationRecorder):
    """Records the invalidations a ClientStorage passes to its DB, and passes them on."""

    def __init__(self, db):
        super().__init__()
        self.db = db

    def invalidate(self, tid, oids):
        super().invalidate(tid, oids)
        self.db.invalidate(tid, oids)

    def invalidateCache(self):
        super().invalidateCache()
        self.db.invalidateCache()


class Run:
    """One scenario against one target: its clients and the normalized steps."""

    def __init__(self, cluster, encoding: str, workdir: Path):
        self.cluster = cluster
        self.kind = cluster.kind
        self.encoding = encoding
        self.workdir = workdir
        self.steps: list[tuple[str, Any]] = []
        self.notes: dict[str, Any] = {}  # compared by the test itself, not step-wise
        self.labels: dict[bytes, str] = {}
        self.txn_ids: dict[int, str] = {}  # id(txn) -> name, for StorageTransactionError
        self.votes: list = []  # raw results of every 'vote' call, in order
        self.recorder: Optional[InvalidationRecorder] = None
        self.watcher = None

    # ---- normalization

    def label(self, b: bytes) -> str:
        if b == z64:
            return "z64"
        if b == maxtid:
            return "maxtid"
        if b not in self.labels:
            self.labels[b] = f"@{len(self.labels) + 1}"
        return self.labels[b]

    def norm(self, v):
        if isinstance(v, BaseException):
            return self.norm_exc(v)
        if isinstance(v, bool) or v is None or isinstance(v, (str, float)):
            return v
        if isinstance(v, int):
            return self.txn_ids.get(v, v)
        if isinstance(v, (bytes, bytearray)):
            v = bytes(v)
            return self.label(v) if len(v) == 8 else v
        if isinstance(v, tuple):
            return tuple(self.norm(x) for x in v)
        if isinstance(v, list):
            return [self.norm(x) for x in v]
        if isinstance(v, dict):
            return {self.norm(k): self.norm(x) for k, x in v.items()}
        if isinstance(v, (set, frozenset)):
            return ("set", sorted(map(repr, (self.norm(x) for x in v))))
        return ("object", f"{type(v).__module__}.{type(v).__qualname__}")

    def norm_exc(self, e: BaseException):
        attrs = {k: x for k, x in vars(e).items() if not k.startswith("_")}
        return (f"{type(e).__module__}.{type(e).__qualname__}", self.norm(e.args),
                self.norm(attrs))

    def norm_entries(self, entries):
        """history()/undoLog() entries: ``time`` relative to the tid, ``id`` opaque."""
        if not isinstance(entries, (list, tuple)):
            return self.norm(entries)
        out = []
        for e in entries:
            if not isinstance(e, dict):
                out.append(self.norm(e))
                continue
            e = dict(e)
            tid = e.get("tid")
            undo_id = e.get("id")
            if tid is None and isinstance(undo_id, bytes):
                try:  # FileStorage: base64 of the tid; informational only
                    decoded = base64.decodebytes(undo_id + b"\n")
                    if len(decoded) == 8:
                        tid = decoded
                except Exception:
                    pass
            if isinstance(undo_id, bytes):
                e["id"] = ("undo id", type(undo_id).__name__)
            t = e.get("time")
            if isinstance(t, float) and tid is not None:
                e["time"] = ("time of tid", abs(t - tid_time(tid)) < 1e-3)
            elif "time" in e:
                e["time"] = ("time", type(t).__name__)
            out.append(self.norm(e))
        return type(entries)(out) if isinstance(entries, (list, tuple)) else out

    def norm_votes(self, votes):
        """Raw vote replies: the order of oids / conflict dicts in one reply carries
        no meaning (the client treats them as a set); the container type does."""
        out = []
        for v in votes:
            if isinstance(v, (list, tuple)):
                items = sorted((self.norm(x) for x in v), key=repr)
                out.append((type(v).__name__, items))
            else:
                out.append(self.norm(v))
        return out

    def txn_view(self, info) -> tuple:
        """An iterator's transaction with its records."""
        ext = getattr(info, "extension", None)
        if ext is None:
            ext = getattr(info, "_extension", {})
        records = [(r.oid, r.tid, r.data, r.data_txn) for r in info]
        return (info.tid, info.status, info.user, info.description, dict(ext), records)

    # ---- steps

    def record(self, name: str, value) -> None:
        assert name not in dict(self.steps), f"step name {name!r} used twice"
        self.steps.append((name, value))

    def check(self, name: str, value, view: Optional[Callable] = None) -> None:
        """Record a value the scenario computed."""
        self.record(name, (view or self.norm)(value))

    def outcome(self, name: str, fn: Callable, *args, view: Optional[Callable] = None,
                timeout: float = STEP_TIMEOUT, **kw):
        """Call ``fn``; record what it returned (normalized by ``view``) or raised.
        Returns the raw value, or _RAISED."""
        try:
            value = run_with_timeout(lambda: fn(*args, **kw), timeout, name)
        except StepHung as e:
            self.record(name, ("hung", f"no answer within {timeout:.0f}s"))
            raise ScenarioAborted(str(e)) from None
        except Exception as e:
            self.record(name, ("raised", self.norm_exc(e)))
            log.info("[%s] %s raised %r", self.kind, name, e)
            return _RAISED
        self.record(name, ("returned", (view or self.norm)(value)))
        return value

    def call(self, name: str, storage, method: str, *args, **kw):
        """A raw synchronous ZEO call (numbered msgid), bypassing ClientStorage."""
        return self.outcome(name, storage._call, method, *args, **kw)

    # ---- clients

    def storage(self, **kw):
        """A ClientStorage on the target; every 'vote' reply it gets is kept."""
        storage = self.cluster.client_storage(**kw)
        self._spy_votes(storage)
        version = storage._server.client.protocol_version
        if "negotiated protocol" not in dict(self.steps):
            self.check("negotiated protocol", version)
        assert version[:1] == self.encoding.encode()[:1] or self.kind == "raid", (
            f"plain ZEO spoke {version!r}, the test asked for {self.encoding}")
        return storage

    def restart_server(self) -> None:
        """Restart what holds the invalidation queue: runzeo, or raidcore (its
        translator stays up, loses its watch and disconnects its clients)."""
        if self.cluster.is_raid:
            self.cluster.raidcore.restart()
            self.cluster.wait_raid_state("optimal")
        else:
            self.cluster.backends[0].restart()

    def _spy_votes(self, storage) -> None:
        call = storage._call

        def spy(method, *args, **kw):
            result = call(method, *args, **kw)
            if method == "vote":
                self.votes.append(result)
            return result

        storage._call = spy

    def db(self, **kw):
        storage = self.storage(**kw)
        db = ZODB.DB(storage)
        self.cluster._clients.append(db)
        return db

    def start_watcher(self) -> None:
        self.recorder = InvalidationRecorder()
        self.watcher = self.storage()
        self.watcher.registerDB(self.recorder)

    def finish_watcher(self) -> None:
        """Record the invalidations the passive client received."""
        if self.watcher is None:
            return
        latest = run_with_timeout(lambda: self.watcher._call("lastTransaction"),
                                  STEP_TIMEOUT, "lastTransaction")
        try:
            wait_until(lambda: self.watcher.lastTransaction() >= latest,
                       CATCH_UP_TIMEOUT, "the passive client to catch up")
        except AssertionError as e:
            self.record("passive client caught up", str(e))
        events = []
        for tid, oids in list(self.recorder.events):
            if tid == "invalidateCache":
                events.append(("invalidateCache",))
            else:
                events.append((self.label(tid), sorted({self.norm(o) for o in oids})))
        self.record("invalidations seen by a passive client", events)

    # ---- transactions

    def commit(self, name: str, storage, ops, user=b"", description=b"",
               extension=None, tid=None, status=" "):
        """A two-phase commit through the storage API. ``ops`` are tuples:
        ("store", oid, serial, data), ("check", oid, serial), ("delete", oid, serial),
        ("undo", undo_id), ("restore", oid, serial, data, prev_txn). Records the vote
        and finish outcomes; returns the tid, or _RAISED."""
        txn = TransactionMetaData(user=user, description=description,
                                  extension=extension or {})
        self.txn_ids[id(txn)] = f"<txn {name}>"
        if tid is None and status == " ":
            storage.tpc_begin(txn)
        else:
            storage.tpc_begin(txn, tid, status)

        def data_calls():
            for op in ops:
                kind, *a = op
                if kind == "store":
                    storage.store(a[0], a[1], a[2], "", txn)
                elif kind == "check":
                    storage.checkCurrentSerialInTransaction(a[0], a[1], txn)
                elif kind == "delete":
                    storage.deleteObject(a[0], a[1], txn)
                elif kind == "undo":
                    storage.undo(a[0], txn)
                elif kind == "restore":
                    storage.restore(a[0], a[1], a[2], "", a[3], txn)
                else:
                    raise ValueError(kind)

        if self.outcome(f"{name}: data calls", data_calls) is _RAISED:
            self.outcome(f"{name}: abort", storage.tpc_abort, txn)
            return _RAISED
        voted = self.outcome(f"{name}: vote", storage.tpc_vote, txn,
                             view=lambda v: sorted(self.norm(v)) if v else v)
        if voted is _RAISED:
            self.outcome(f"{name}: abort", storage.tpc_abort, txn)
            return _RAISED
        return self.outcome(f"{name}: finish", storage.tpc_finish, txn)


# ---------------------------------------------------------------------- driver


ENCODINGS = [pytest.param("Z5", id="pickle"), pytest.param("M5", id="msgpack")]


@pytest.fixture(params=ENCODINGS)
def encoding(request) -> str:
    return request.param


def start_pair(make_cluster, encoding: str, zeo_conf: str = "",
               raidcore_args=()):
    """A plain runzeo and a RAID with the same <zeo> options and encoding."""
    msgpack = encoding == "M5"
    plain = make_cluster(kind="plain",
                         zeo_conf=zeo_conf + ("msgpack true\n" if msgpack else ""))
    raid = make_cluster(kind="raid", n_backends=2, zeo_conf=zeo_conf,
                        raidcore_args=list(raidcore_args),
                        translator_args=["--msgpack"] if msgpack else [])
    return plain, raid


def compare(plain: Run, raid: Run) -> list[str]:
    diffs = []
    raid_steps = dict(raid.steps)
    plain_names = [n for n, _ in plain.steps]
    for name, want in plain.steps:
        if name not in raid_steps:
            diffs.append(f"{name}: not reached on the RAID")
            continue
        got = raid_steps[name]
        if got != want:
            diffs.append(f"{name}:\n      plain ZEO: {want!r}\n      RAID:      {got!r}")
    for name, got in raid.steps:
        if name not in plain_names:
            diffs.append(f"{name}: only on the RAID: {got!r}")
    return diffs


def run_scenario(make_cluster, encoding: str, scenario: Callable[[Run], None],
                 zeo_conf: str = "", raidcore_args=(), watch: bool = True
                 ) -> tuple[Run, Run, list[str]]:
    """Run ``scenario`` on plain ZEO, then on the RAID; return both runs and the
    differences."""
    clusters = start_pair(make_cluster, encoding, zeo_conf, raidcore_args)
    runs = []
    for cluster in clusters:
        run = Run(cluster, encoding, cluster.workdir / "scenario")
        run.workdir.mkdir()
        t0 = time.monotonic()
        try:
            if watch:
                run.start_watcher()
            scenario(run)
            run.finish_watcher()
        except Exception as e:
            if cluster.kind == "plain":
                raise  # the scenario itself is wrong
            tb = traceback.format_exc(limit=-4)
            log.warning("[raid] scenario aborted: %s", tb)
            run.record("!scenario aborted", f"{type(e).__name__}: {e}")
        steps_file = run.workdir / "steps.txt"
        steps_file.write_text("".join(f"{n}\n    {v!r}\n" for n, v in run.steps))
        log.info("[%s/%s] scenario took %.2fs (%d steps, see %s)", cluster.kind,
                 encoding, time.monotonic() - t0, len(run.steps), steps_file)
        runs.append(run)
    plain, raid = runs
    return plain, raid, compare(plain, raid)


def assert_same(diffs: list[str]) -> None:
    if diffs:
        pytest.fail("the RAID answered differently from plain ZEO "
                    f"({len(diffs)} difference(s)):\n  " + "\n  ".join(diffs),
                    pytrace=False)


def conformance(make_cluster, encoding, scenario, **kw) -> tuple[Run, Run]:
    plain, raid, diffs = run_scenario(make_cluster, encoding, scenario, **kw)
    assert_same(diffs)
    return plain, raid


# --------------------------------------------------------------------- helpers


def new_oids(run: Run, storage, n: int) -> list[bytes]:
    oids = [storage.new_oid() for _ in range(n)]
    for o in oids:
        run.label(o)
    return oids


def populate(run: Run, storage, n_objects: int = 3, revisions: int = 3):
    """Objects with several revisions, committed with user/description/extension.
    Returns (oids, tids per object as lists, all tids in order)."""
    oids = new_oids(run, storage, n_objects)
    serials = {o: z64 for o in oids}
    per_oid = {o: [] for o in oids}
    all_tids = []
    for r in range(revisions):
        ops = [("store", o, serials[o], pickle_of((i, r))) for i, o in enumerate(oids)
               if r == 0 or i <= r]
        tid = run.commit(f"populate r{r}", storage, ops, user=f"/ user{r}",
                         description=f"revision number {r}",
                         extension={"rev": r, "tag": f"t{r}"})
        assert tid is not _RAISED or run.kind == "raid", "populate failed on plain ZEO"
        if tid is _RAISED:
            raise ScenarioAborted(f"populate r{r} failed")
        all_tids.append(tid)
        for op in ops:
            serials[op[1]] = tid
            per_oid[op[1]].append(tid)
    return oids, per_oid, all_tids


def persistent_cache_of_new_objects(run: Run, n: int):
    """A writer, ``n`` new objects created in one commit ("create"), and a client
    with a persistent cache in the run's ``var`` directory that loaded them all
    (left open). Returns (var, writer, oids, the create tid, client)."""
    var = str(run.workdir / "var")
    Path(var).mkdir()
    w = run.storage()
    oids = new_oids(run, w, n)
    base = run.commit("create", w, [("store", o, z64, pickle_of((i, 0)))
                                    for i, o in enumerate(oids)])
    c = run.storage(client="persistent", var=var)
    for o in oids:
        c.load(o)
    return var, w, oids, base, c


def invalidations_view(run: Run):
    """getInvalidations' answer, (tid, oids) or None, with the oids sorted."""
    return lambda v: ((run.norm(v[0]), sorted(map(run.norm, v[1])))
                      if isinstance(v, (tuple, list)) else run.norm(v))


def open_conn(db):
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    return tm, conn, conn.root()


def wait_seen(storage, tid: bytes) -> None:
    wait_until(lambda: storage.lastTransaction() >= tid, CATCH_UP_TIMEOUT,
               f"{storage} to learn of {tid.hex()}")


# ======================================================================= tests


def test_register_get_info_and_status(make_cluster, encoding):
    """register's tid, get_info (keys, types; interfaces: RAID ⊆ ZEO), the info
    callback after a commit, server_status keys, ping, lastTransaction."""

    def scenario(run: Run):
        s = run.storage()
        run.check("register: lastTransaction of an empty storage", s.lastTransaction())
        run.call("lastTransaction() on an empty storage", s, "lastTransaction")
        info = run.call("get_info", s, "get_info",
                        view=lambda i: sorted((k, type(v).__name__) for k, v in i.items()))
        if info is not _RAISED:
            run.notes["interfaces"] = {tuple(x) for x in info.get("interfaces", ())}
            for key in ("length", "size", "supportsUndo", "supports_record_iternext"):
                run.check(f"get_info[{key!r}]", info.get(key, "<missing>"))
            run.check("get_info['interfaces'] container",
                      (type(info.get("interfaces")).__name__,
                       sorted({type(x).__name__ for x in info.get("interfaces", ())})))
        run.notes["client interfaces"] = {i.__identifier__ for i in providedBy(s)}
        run.check("len(storage), getSize(), supportsUndo(), isReadOnly()",
                  (len(s), s.getSize(), s.supportsUndo(), s.isReadOnly()))

        oid = new_oids(run, s, 1)[0]
        tid = run.commit("first commit", s, [("store", oid, z64, pickle_of(1))])
        run.check("lastTransaction after own commit", s.lastTransaction())
        run.check("len/getSize after own commit (info callback)", (len(s), s.getSize()))
        run.call("lastTransaction() after a commit", s, "lastTransaction")
        fresh = run.storage()
        run.check("register of a new client returns the last tid", fresh.lastTransaction())
        run.check("new client: len/getSize", (len(fresh), fresh.getSize()))
        ro = run.storage(read_only=True)
        run.check("read-only client: register tid, isReadOnly",
                  (ro.lastTransaction(), ro.isReadOnly()))

        status = run.call("server_status", s, "server_status",
                          view=lambda d: sorted((k, type(v).__name__) for k, v in d.items()))
        if status is not _RAISED:
            lt = status.get("last-transaction")
            run.check("server_status['last-transaction']",
                      bytes.fromhex(lt) if isinstance(lt, str) else lt)
            run.check("server_status counters are ints",
                      {k: type(status.get(k)).__name__ for k in
                       ("connections", "loads", "stores", "commits", "aborts",
                        "active_txns", "conflicts", "conflicts_resolved", "waiting")})
        run.outcome("storage.server_status() keys", s.server_status,
                    view=lambda d: sorted(d))
        run.call("ping", s, "ping")
        run.call("getTid(oid)", s, "getTid", oid)
        run.call("getTid(missing oid)", s, "getTid", p64(0x9999))
        s._async("set_client_label", "a label")  # one-way: no reply, no close
        run.call("ping after set_client_label", s, "ping")
        run.check("connected after set_client_label", s.is_connected())

    # raidcore always enforces a transaction timeout, so server_status's
    # timeout-thread-is-alive compares with a ZEO server that has one.
    plain, raid, diffs = run_scenario(make_cluster, encoding, scenario,
                                      zeo_conf="transaction-timeout 30\n")
    # The RAID may advertise fewer interfaces; never one ZEO does not.
    p_if, r_if = plain.notes.get("interfaces"), raid.notes.get("interfaces")
    if p_if is not None and r_if is not None:
        missing = sorted(p_if - r_if)
        if missing:
            log.warning("RAID does not advertise %s", missing)
        assert r_if <= p_if, f"RAID advertises interfaces ZEO does not: {r_if - p_if}"
        pc, rc = plain.notes["client interfaces"], raid.notes["client interfaces"]
        assert rc <= pc, f"ClientStorage on the RAID provides more: {rc - pc}"
    assert_same(diffs)


def test_loads_current_historic_and_serial(make_cluster, encoding):
    """loadBefore (raw, both msgid forms) and load: current, historic, before the
    creation, unknown oid; loadSerial of every revision and of a wrong serial."""

    def scenario(run: Run):
        w = run.storage()
        oids, per_oid, tids = populate(run, w, n_objects=3, revisions=3)
        r = run.storage()  # nothing cached
        for i, oid in enumerate(oids):
            for j, tid in enumerate(per_oid[oid]):
                run.call(f"loadSerial(o{i}, rev{j})", r, "loadSerial", oid, tid)
            run.call(f"loadBefore(o{i}, maxtid) with a numbered msgid", r,
                     "loadBefore", oid, maxtid)
            for j, tid in enumerate(tids):
                r._cache.clear()
                run.outcome(f"loadBefore(o{i}, tid{j}) (tuple msgid)",
                            r._server.load_before, oid, tid)
                r._cache.clear()
                run.outcome(f"loadBefore(o{i}, tid{j}+1)", r._server.load_before, oid,
                            later_tid(tid))
            r._cache.clear()
            run.outcome(f"load(o{i})", r.load, oid)
        missing = p64(0x99999)
        run.check("a missing oid", missing)
        run.call("loadBefore(missing, maxtid)", r, "loadBefore", missing, maxtid)
        run.outcome("load(missing)", r.load, missing)
        run.call("loadSerial(missing, last tid)", r, "loadSerial", missing, tids[-1])
        run.call("loadSerial(o0, a tid where o0 has no revision)", r, "loadSerial",
                 oids[0], later_tid(tids[0]))
        run.call("loadSerial(o0, z64)", r, "loadSerial", oids[0], z64)
        # The cache of the writer: loads served from it (no call) must agree too.
        run.outcome("writer: load(o2) from its cache", w.load, oids[2])

    conformance(make_cluster, encoding, scenario)


def test_new_oids(make_cluster, encoding):
    """new_oids: batch sizes (default, n, >100 capped, 0 -> 1), container type,
    consecutive ascending values, uniqueness across clients; new_oid (ZEO: not
    implemented, AttributeError)."""

    def scenario(run: Run):
        s1, s2 = run.storage(), run.storage()

        def shape(oids):
            if not isinstance(oids, (list, tuple)):
                return run.norm(oids)
            ints = [u64(o) for o in oids]
            return (type(oids).__name__, len(oids), sorted({type(o).__name__ for o in oids}),
                    [i - ints[0] for i in ints] if ints else [])

        batches = []
        for n in (None, 5, 1000, 0, 1):
            args = () if n is None else (n,)
            got = run.call(f"new_oids({'' if n is None else n})", s1, "new_oids", *args,
                           view=shape)
            if got is not _RAISED:
                batches.extend(got)
        got = run.call("new_oids() from a second client", s2, "new_oids", view=shape)
        if got is not _RAISED:
            batches.extend(got)
        run.check("first oid handed out on an empty storage",
                  u64(batches[0]) if batches else None)
        run.check("all new oids unique, none z64",
                  (len(set(batches)) == len(batches), z64 in batches))
        run.call("new_oid (listed, not implemented by ZEO)", s1, "new_oid")
        a = [s1.new_oid() for _ in range(150)]
        b = [s2.new_oid() for _ in range(150)]
        run.check("ClientStorage.new_oid: ascending per client, unique across",
                  (a == sorted(a), b == sorted(b), len(set(a + b + batches)) == 300 +
                   len(batches)))

    conformance(make_cluster, encoding, scenario)


def test_history(make_cluster, encoding):
    """history(oid, size) for sizes 1 (default), 2, many; entry keys, types, time
    matching the tid, user/description/extension keys; unknown oid."""

    def scenario(run: Run):
        w = run.storage()
        oids, per_oid, tids = populate(run, w, n_objects=3, revisions=4)
        r = run.storage()
        for i, oid in enumerate(oids):
            run.call(f"history(o{i}) default size", r, "history", oid,
                     view=run.norm_entries)
            for size in (1, 2, 100):
                run.call(f"history(o{i}, {size})", r, "history", oid, size,
                         view=run.norm_entries)
        run.outcome("storage.history(o2, size=3)", r.history, oids[2], size=3,
                    view=run.norm_entries)
        run.call("history(missing, 5)", r, "history", p64(0x99999), 5)
        run.call("history(o0, 0)", r, "history", oids[0], 0, view=run.norm_entries)

    conformance(make_cluster, encoding, scenario)


def test_record_iternext(make_cluster, encoding):
    """record_iternext walks the current records in oid order."""

    def scenario(run: Run):
        w = run.storage()
        populate(run, w, n_objects=4, revisions=2)
        r = run.storage()
        nxt, walked = None, 0
        while walked < 20:
            got = run.call(f"record_iternext #{walked}", r, "record_iternext", nxt)
            walked += 1
            if got is _RAISED or not isinstance(got, (tuple, list)) or got[3] is None:
                break
            nxt = got[3]
        run.outcome("storage.record_iternext()", r.record_iternext)

    conformance(make_cluster, encoding, scenario)


def test_iterator_full_and_ranged(make_cluster, encoding):
    """iterator(): transactions with status/user/description/extension and records
    (oid, tid, data, data_txn — including an undo's backpointers); ranged with start
    and/or stop; empty ranges; two iterators interleaved on one connection."""

    def scenario(run: Run):
        w = run.storage()
        oids, per_oid, tids = populate(run, w, n_objects=3, revisions=3)
        undo_id = w.undoLog(0, 1)[0]["id"]
        tids.append(run.commit("undo of the last", w, [("undo", undo_id)],
                               description="undo it"))
        r = run.storage()

        def txns(it):
            return [run.txn_view(t) for t in it]

        run.outcome("iterator() full", lambda: txns(r.iterator()))
        run.outcome("iterator(tid1, tid2)", lambda: txns(r.iterator(tids[1], tids[2])))
        run.outcome("iterator(tid2)", lambda: txns(r.iterator(tids[2])))
        run.outcome("iterator(None, tid1)", lambda: txns(r.iterator(None, tids[1])))
        run.outcome("iterator(tid1+1, tid2-1) (bounds between tids)",
                    lambda: txns(r.iterator(later_tid(tids[1]),
                                            p64(u64(tids[2]) - 1))))
        run.outcome("iterator(after the last)", lambda: txns(r.iterator(
            later_tid(tids[-1]))))
        run.outcome("iterator(tid2, tid1) (reversed)",
                    lambda: txns(r.iterator(tids[2], tids[1])))

        def interleaved():
            a, b = iter(r.iterator()), iter(r.iterator(tids[1]))
            out = []
            for _ in range(3):
                out.append(("a", next(a).tid))
                out.append(("b", next(b).tid))
            return out

        run.outcome("two iterators interleaved", interleaved)

        def raw_protocol():
            iid = r._call("iterator_start", tids[0], tids[1])
            t1 = r._call("iterator_next", iid)
            rid = r._call("iterator_record_start", iid, t1[0])
            recs = []
            while True:
                rec = r._call("iterator_record_next", rid)
                if rec is None:
                    break
                recs.append(rec)
            return (type(iid).__name__, type(rid).__name__, t1, recs,
                    r._call("iterator_next", iid), r._call("iterator_next", iid))

        run.outcome("raw iterator_start/next/record_start/record_next", raw_protocol)

    conformance(make_cluster, encoding, scenario)


def test_undo_log_info_and_undo(make_cluster, encoding):
    """undoLog/undoInfo (ranges, negative last, a specification), undo (vote returns
    the undone oids), undoing an undo, an impossible undo (UndoError)."""

    def scenario(run: Run):
        w = run.storage()
        oids, per_oid, tids = populate(run, w, n_objects=3, revisions=4)
        ne = run.norm_entries
        run.call("undoLog(0, -20)", w, "undoLog", 0, -20, view=ne)
        run.call("undoLog(0, 2)", w, "undoLog", 0, 2, view=ne)
        run.call("undoLog(1, 3)", w, "undoLog", 1, 3, view=ne)
        run.call("undoLog(10, 20) (past the end)", w, "undoLog", 10, 20, view=ne)
        run.outcome("storage.undoLog()", w.undoLog, view=ne)
        run.call("undoInfo(0, 20, None)", w, "undoInfo", 0, 20, None, view=ne)
        run.call("undoInfo(0, 20, {'description': b'revision number 2'})", w, "undoInfo",
                 0, 20, {"description": b"revision number 2"}, view=ne)
        run.call("undoInfo(0, 20, {'user_name': b'/ user1'})", w, "undoInfo", 0, 20,
                 {"user_name": b"/ user1"}, view=ne)
        run.call("undoInfo(0, 20, {'rev': 3}) (extension key)", w, "undoInfo", 0, 20,
                 {"rev": 3}, view=ne)
        run.call("undoInfo(0, 20, {'rev': 99}) (no match)", w, "undoInfo", 0, 20,
                 {"rev": 99}, view=ne)
        log_ = w.undoLog(0, 20)
        ids = [e["id"] for e in log_]
        run.check("undo ids unique", len(set(ids)) == len(ids))
        run.notes["undo ids are base64 tids"] = all(
            base64.decodebytes(i + b"\n") == t for i, t in zip(ids, reversed(tids)))

        # Undo the last transaction: its objects go back to revision 2.
        u1 = run.commit("undo last", w, [("undo", ids[0])], description="undo last")
        r = run.storage()
        for i, oid in enumerate(oids):
            run.call(f"after undo: loadBefore(o{i}, maxtid)", r, "loadBefore", oid, maxtid)
        run.call("undoLog after undo", w, "undoLog", 0, 3, view=ne)
        # Undo the undo.
        redo_id = w.undoLog(0, 1)[0]["id"]
        run.commit("undo the undo", w, [("undo", redo_id)], description="redo")
        for i, oid in enumerate(oids):
            run.call(f"after redo: loadBefore(o{i}, maxtid)", r, "loadBefore", oid, maxtid)
        # Undoing revision 1 now conflicts with later changes of the same objects.
        run.commit("undo an overwritten revision", w, [("undo", ids[2])],
                   description="impossible")
        run.commit("undo of an unknown id", w, [("undo", base64.encodebytes(
            later_tid(tids[-1]))[:-1])], description="unknown")
        # A DB-level undo through ZODB.DB.
        db = run.db()
        tm, conn, root = open_conn(db)
        root["x"] = PersistentMapping(v=1)
        tm.commit()
        root["x"]["v"] = 2
        tm.get().note("set v 2")
        tm.commit()
        entry = db.undoLog(0, 1)[0]
        run.check("DB.undoLog()[0] description", entry["description"])
        db.undo(entry["id"], tm.get())
        run.outcome("DB.undo commit", tm.commit)
        tm.begin()
        run.check("after DB.undo: x.v", root["x"]["v"])

    plain, raid = conformance(make_cluster, encoding, scenario)
    log.info("undo ids are base64 tids: plain %s, raid %s",
             plain.notes.get("undo ids are base64 tids"),
             raid.notes.get("undo ids are base64 tids"))


def test_pack(make_cluster, encoding):
    """pack(t) between two commits: old revisions gone (loadSerial → POSKeyError),
    unreachable objects collected, history and undoLog shortened, iterator statuses,
    the info callback (size/length) to every client, pack from a read-only client."""

    def scenario(run: Run):
        db = run.db()
        other = run.storage()
        tm, conn, root = open_conn(db)
        root["keep"] = keep = PersistentMapping(v=0)
        root["drop"] = drop = PersistentMapping(v="garbage soon")
        tm.get().note("create")
        tm.commit()
        run.check("oids: keep, drop", (keep._p_oid, drop._p_oid))
        tids = [keep._p_serial]
        for v in (1, 2, 3):
            time.sleep(0.05)
            keep["v"] = v
            if v == 2:
                del root["drop"]
            tm.get().note(f"v{v}")
            tm.commit()
            tids.append(keep._p_serial)
        run.check("commit tids", tids)
        s = db.storage
        before = (len(s), s.getSize())
        run.check("len/size before pack > 0", tuple(x > 0 for x in before))
        pack_time = (tid_time(tids[2]) + tid_time(tids[3])) / 2
        run.outcome("pack(between v2 and v3)", s.pack, pack_time)

        def informed(storage):
            try:
                wait_until(lambda: (len(storage), storage.getSize()) != before, 5,
                           "an info callback after pack")
                return (len(storage) < before[0], storage.getSize() < before[1])
            except AssertionError:
                return "no info callback within 5s"

        run.check("committer: len/getSize shrank (info callback)", informed(s))
        run.check("other client: len/getSize shrank (info callback)", informed(other))
        def agree() -> bool:
            # Each client may still have an info callback of an earlier commit
            # in flight: what matters is that they end up with the same stats.
            try:
                wait_until(lambda: (len(other), other.getSize()) == (len(s), s.getSize()),
                           5, "both clients to agree on len/getSize")
                return True
            except AssertionError:
                return False

        run.check("both clients agree on len/getSize", agree())
        r = run.storage()
        run.call("history(keep, 10) after pack", r, "history", keep._p_oid, 10,
                 view=run.norm_entries)
        for j, tid in enumerate(tids):
            run.call(f"loadSerial(keep, v{j}) after pack", r, "loadSerial",
                     keep._p_oid, tid)
        run.call("loadBefore(drop, maxtid) after pack (collected)", r, "loadBefore",
                 drop._p_oid, maxtid)
        run.outcome("iterator after pack", lambda: [
            (t.tid, t.status, t.description, sorted(rec.oid for rec in t))
            for t in r.iterator()])
        run.call("undoLog after pack", r, "undoLog", 0, 20, view=run.norm_entries)
        tm.begin()
        run.check("application sees v after pack", root["keep"]["v"])
        ro = run.storage(read_only=True)
        run.outcome("pack from a read-only client (allowed)", ro.pack, time.time())
        run.call("pack(t, 0) (no wait)", s, "pack", time.time(), 0)
        run.call("pack(0) (before the first transaction)", s, "pack", 0.0, 1)

    conformance(make_cluster, encoding, scenario)


def test_invalidations_on_reconnect_with_persistent_cache(make_cluster, encoding):
    """A client with a persistent cache closes; another client commits; the first
    reopens: getInvalidations must invalidate exactly the changed objects and keep the
    others ("quick verification"). After more commits than the invalidation queue
    holds, the cache must be dropped. Raw getInvalidations for several tids too.
    (raidcore gets --invalidation_queue_size 100, ZEO's default.)"""

    def scenario(run: Run):
        var, w, oids, base, c = persistent_cache_of_new_objects(run, 4)
        run.check("cached before close", [c._cache.load(o) is not None for o in oids])
        run.check("cache last tid before close", c._cache.getLastTid())
        c.close()

        t1 = run.commit("change o0 and o2", w, [("store", oids[0], base, pickle_of("o0 v1")),
                                                ("store", oids[2], base, pickle_of("o2 v1"))])
        t2 = run.commit("change o2 again", w, [("store", oids[2], t1, pickle_of("o2 v2"))])
        run.call("getInvalidations(base)", w, "getInvalidations", base,
                 view=invalidations_view(run))
        run.call("getInvalidations(t1)", w, "getInvalidations", t1,
                 view=invalidations_view(run))
        run.call("getInvalidations(t2) (up to date)", w, "getInvalidations", t2)
        run.call("getInvalidations(z64)", w, "getInvalidations", z64)
        run.call("getInvalidations(a future tid)", w, "getInvalidations",
                 later_tid(t2, 3600))

        c = run.storage(client="persistent", var=var)
        run.check("reconnect: verification", c._server.client.verify_result)
        run.check("reconnect: cache last tid", c._cache.getLastTid())
        run.check("reconnect: still cached (o0..o3)",
                  [c._cache.load(o) is not None for o in oids])
        run.outcome("reconnect: load all", lambda: [c.load(o) for o in oids])
        c.close()

        # Reopen with nothing changed: the cache is up to date.
        c = run.storage(client="persistent", var=var)
        run.check("reopen, nothing changed: verification", c._server.client.verify_result)
        run.check("reopen, nothing changed: cached",
                  [c._cache.load(o) is not None for o in oids])
        c.close()

        # More commits than the invalidation queue holds: the cache is too old.
        serial = t1
        for k in range(105):
            serial = run.outcome(f"filler commit {k}", _commit_one, w, oids[1], serial
                                 if k else base, pickle_of(("o1", k)))
            if serial is _RAISED:
                raise ScenarioAborted("filler commit failed")
        c = run.storage(client="persistent", var=var)
        run.check("after 105 commits: verification", c._server.client.verify_result)
        run.check("after 105 commits: cached",
                  [c._cache.load(o) is not None for o in oids])
        run.outcome("after 105 commits: load all", lambda: [c.load(o) for o in oids])
        run.call("getInvalidations(base) after 105 commits", w, "getInvalidations", base)

    conformance(make_cluster, encoding, scenario,
                raidcore_args=["--invalidation_queue_size", "100"])


def test_invalidations_after_a_server_restart(make_cluster, encoding):
    """A ZEO server fills its invalidation queue at start-up from the storage's
    last transactions; raidcore does the same from a backend. A client whose
    persistent cache predates commits made before the restart then verifies
    quickly: exactly the changed objects are invalidated, the others kept."""

    def scenario(run: Run):
        var, w, oids, base, c = persistent_cache_of_new_objects(run, 3)
        c.close()
        t1 = run.commit("change o1", w, [("store", oids[1], base, pickle_of("o1 v1"))])
        t2 = run.commit("change o2", w, [("store", oids[2], base, pickle_of("o2 v1"))])
        w.close()

        run.restart_server()
        w = run.storage()
        view = invalidations_view(run)
        run.call("after restart: getInvalidations(base)", w, "getInvalidations",
                 base, view=view)
        run.call("after restart: getInvalidations(t1)", w, "getInvalidations", t1,
                 view=view)
        run.call("after restart: getInvalidations(t2)", w, "getInvalidations", t2,
                 view=view)
        c = run.storage(client="persistent", var=var)
        run.check("after restart: verification", c._server.client.verify_result)
        run.check("after restart: still cached (o0..o2)",
                  [c._cache.load(o) is not None for o in oids])
        run.outcome("after restart: load all", lambda: [c.load(o) for o in oids])
        c.close()

    conformance(make_cluster, encoding, scenario, watch=False)


def _commit_one(storage, oid, serial, data):
    txn = TransactionMetaData()
    storage.tpc_begin(txn)
    storage.store(oid, serial, data, "", txn)
    storage.tpc_vote(txn)
    return storage.tpc_finish(txn)


def test_invalidations_reach_other_clients(make_cluster, encoding):
    """Every commit produces one invalidateTransaction to every other client, none to
    the committer; ZODB-level: a second DB sees the change after its next
    transaction begins."""

    def scenario(run: Run):
        db1, db2 = run.db(), run.db()
        tm1, c1, root1 = open_conn(db1)
        tm2, c2, root2 = open_conn(db2)
        own = ForwardingRecorder(db1.storage._db)  # ZODB's MVCC adapter
        db1.storage._db = own  # the committer must get none of its own
        root1["a"] = PersistentMapping(n=1)
        tm1.commit()
        tid = root1["a"]._p_serial
        wait_seen(db2.storage, tid)
        tm2.begin()
        run.check("second DB sees the new object", dict(root2["a"]))
        root2["a"]["n"] = 2
        tm2.commit()
        wait_seen(db1.storage, root2["a"]._p_serial)
        run.check("committer's own invalidations", [(run.norm(t), sorted(map(run.norm, o)))
                                                    for t, o in own.events])
        tm1.begin()
        run.check("first DB sees the change", dict(root1["a"]))

    conformance(make_cluster, encoding, scenario)


def test_read_conflict_error(make_cluster, encoding):
    """checkCurrentSerialInTransaction with a stale serial → ReadConflictError at
    vote, with oid/serials/message/class_name; through ZODB with readCurrent too."""

    def scenario(run: Run):
        w = run.storage()
        oids = new_oids(run, w, 2)
        t0 = run.commit("create", w, [("store", o, z64, pickle_of(i))
                                      for i, o in enumerate(oids)])
        t1 = run.commit("change o0", w, [("store", oids[0], t0, pickle_of("changed"))])
        run.commit("check stale o0", w, [("check", oids[0], t0),
                                         ("store", oids[1], t0, pickle_of("x"))])
        run.commit("check current o0", w, [("check", oids[0], t1),
                                           ("store", oids[1], t0, pickle_of("y"))])
        run.call("loadBefore(o1) after", w, "loadBefore", oids[1], maxtid)

        db1, db2 = run.db(), run.db()
        tm1, _, root1 = open_conn(db1)
        root1["a"] = PersistentMapping(v=1)
        root1["b"] = PersistentMapping(v=1)
        tm1.commit()
        wait_seen(db2.storage, root1["a"]._p_serial)
        tm2, c2, root2 = open_conn(db2)
        root2["a"]._p_activate()  # readCurrent ignores ghosts
        c2.readCurrent(root2["a"])
        root2["b"]["v"] = 2
        root1["a"]["v"] = 3
        tm1.commit()
        run.outcome("ZODB readCurrent conflict", tm2.commit)
        tm2.abort()

    conformance(make_cluster, encoding, scenario)


def test_conflict_error(make_cluster, encoding):
    """A stale store → ConflictError with oid, serials, class_name, message
    identical in shape; the storage stays usable. Through ZODB with two DBs too."""

    def scenario(run: Run):
        w = run.storage()
        oids = new_oids(run, w, 2)
        t0 = run.commit("create", w, [("store", o, z64, pickle_of(i))
                                      for i, o in enumerate(oids)])
        t1 = run.commit("change o0", w, [("store", oids[0], t0, pickle_of("v1"))])
        run.commit("stale store of o0", w, [("store", oids[0], t0, pickle_of("stale")),
                                            ("store", oids[1], t0, pickle_of("other"))])
        run.commit("store of o0 with a made-up serial", w,
                   [("store", oids[0], later_tid(t1), pickle_of("made up"))])
        run.commit("new object stored with serial z64 twice", w,
                   [("store", oids[1], z64, pickle_of("again"))])
        run.commit("good store", w, [("store", oids[0], t1, pickle_of("v2"))])
        run.call("o1 unchanged", w, "loadBefore", oids[1], maxtid)

        db1, db2 = run.db(), run.db()
        tm1, _, root1 = open_conn(db1)
        root1["m"] = PersistentMapping(n=0)
        tm1.commit()
        wait_seen(db2.storage, root1["m"]._p_serial)
        tm2, _, root2 = open_conn(db2)
        root1["m"]["n"] = 1
        root2["m"]["n"] = 2
        tm1.commit()
        run.outcome("ZODB conflicting commit", tm2.commit)
        tm2.abort()
        wait_seen(db2.storage, root1["m"]._p_serial)
        tm2.begin()
        run.check("value after the conflict", root2["m"]["n"])

    conformance(make_cluster, encoding, scenario)


def test_poskeyerror(make_cluster, encoding):
    """POSKeyError and its args for every read of a missing oid; the connection
    keeps working afterwards."""

    def scenario(run: Run):
        s = run.storage()
        oid = new_oids(run, s, 1)[0]
        tid = run.commit("create", s, [("store", oid, z64, pickle_of(1))])
        missing = p64(0xDEADBEEF)
        run.check("missing oid", missing)
        run.call("loadBefore(missing, maxtid)", s, "loadBefore", missing, maxtid)
        run.outcome("loadBefore(missing) (tuple msgid)", s._server.load_before,
                    missing, maxtid)
        run.outcome("load(missing)", s.load, missing)
        run.call("loadSerial(missing, tid)", s, "loadSerial", missing, tid)
        run.call("history(missing)", s, "history", missing)
        run.call("getTid(missing)", s, "getTid", missing)
        run.call("loadBefore(z64) on a storage without root", s, "loadBefore", z64, maxtid)
        run.call("loadBefore(oid, tid) (no earlier revision → None)", s, "loadBefore",
                 oid, tid)
        run.outcome("load still works", s.load, oid)

    conformance(make_cluster, encoding, scenario)


def test_storage_transaction_error(make_cluster, encoding):
    """vote/tpc_finish/tpc_abort for an unknown transaction id (raw calls): vote →
    StorageTransactionError((None, id)) / ((current, id)); finish → None; abort →
    None; the real transaction still commits."""

    def scenario(run: Run):
        s = run.storage()
        oid = new_oids(run, s, 1)[0]
        run.call("vote(12345) without a transaction", s, "vote", 12345)
        run.call("tpc_finish(12345) without a transaction", s, "tpc_finish", 12345)
        run.call("tpc_abort(12345) without a transaction", s, "tpc_abort", 12345)
        run.call("vote(2**40) (big id)", s, "vote", 2 ** 40)
        txn = TransactionMetaData(description="real")
        run.txn_ids[id(txn)] = "<current txn id>"
        s.tpc_begin(txn)
        s.store(oid, z64, pickle_of("real"), "", txn)
        run.call("vote(999) during another transaction", s, "vote", 999)
        run.call("tpc_finish(999) during another transaction", s, "tpc_finish", 999)
        run.call("tpc_abort(999) during another transaction", s, "tpc_abort", 999)
        run.outcome("real vote", s.tpc_vote, txn)
        tid = run.outcome("real finish", s.tpc_finish, txn)
        run.call("loadBefore after", s, "loadBefore", oid, maxtid)
        run.call("vote of the finished transaction id", s, "vote", id(txn))
        run.call("tpc_finish of the finished transaction id", s, "tpc_finish", id(txn))
        run.check("still connected", s.is_connected())

    conformance(make_cluster, encoding, scenario)


def closes_connection(storage, method: str, *args) -> bool:
    """Whether the server closes the connection on this one-way call (seen as
    the client reconnecting within 5 s)."""
    generation = storage._connection_generation  # counts (re)connections
    storage._async(method, *args)
    try:
        wait_until(lambda: storage._connection_generation != generation, 5,
                   "the server to disconnect (and the client to reconnect)")
        return True
    except AssertionError:
        return False


def test_read_only_client(make_cluster, encoding):
    """A read_only=True client: writes fail with ReadOnlyError (locally for
    tpc_begin/new_oid; from the server for raw new_oids; a raw one-way tpc_begin makes
    the server close the connection); reads and pack work."""

    def scenario(run: Run):
        w = run.storage()
        oid = new_oids(run, w, 1)[0]
        tid = run.commit("create", w, [("store", oid, z64, pickle_of(1))])
        ro = run.storage(read_only=True)
        run.check("isReadOnly, lastTransaction", (ro.isReadOnly(), ro.lastTransaction()))
        run.outcome("ro.tpc_begin", ro.tpc_begin, TransactionMetaData())
        run.outcome("ro.new_oid", ro.new_oid)
        run.call("raw new_oids on a read-only connection", ro, "new_oids")
        run.call("raw vote on a read-only connection", ro, "vote", 1)
        run.call("raw tpc_abort on a read-only connection", ro, "tpc_abort", 1)
        run.call("raw loadBefore", ro, "loadBefore", oid, maxtid)
        run.check("raw one-way tpc_begin on a read-only connection closes it",
                  closes_connection(ro, "tpc_begin", 4242, b"", b"sneaky", {},
                                    None, " "))
        run.outcome("reconnects", lambda: (wait_until(ro.is_connected, WAIT_TIMEOUT,
                                                      "reconnect"), True)[1])
        run.call("vote(4242) after that", ro, "vote", 4242)
        run.call("tpc_abort(4242)", ro, "tpc_abort", 4242)
        run.check("nothing was committed", w.lastTransaction() == tid)
        run.call("lastTransaction (server)", ro, "lastTransaction")
        run.outcome("pack from the read-only client (no root object: ZEO fails)",
                    ro.pack, time.time())

    conformance(make_cluster, encoding, scenario)


def _source_filestorage(path: Path) -> FileStorage:
    """A FileStorage with user/description/extension, an undo (backpointers), a
    deletion via undo of a creation, and a pack (status 'p')."""
    fs = FileStorage(str(path))
    db = ZODB.DB(fs)
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    root = conn.root()
    root["a"] = PersistentMapping(v=1)
    tm.get().setUser("alice")
    tm.get().note("one")
    tm.get().setExtendedInfo("k", "v")
    tm.commit()
    time.sleep(0.02)
    root["a"]["v"] = 2
    root["b"] = PersistentMapping(v="b")
    tm.get().note("two")
    tm.commit()
    time.sleep(0.02)
    pack_at = time.time()
    time.sleep(0.02)
    root["a"]["v"] = 3
    tm.get().note("three")
    tm.commit()
    time.sleep(0.02)
    db.undo(db.undoLog(0, 1)[0]["id"], tm.get())
    tm.get().note("undo three")
    tm.commit()
    db.pack(pack_at)
    root["c"] = PersistentMapping(v="c")
    tm.get().note("after pack")
    tm.commit()
    conn.close()
    db.close()
    return FileStorage(str(path), read_only=True)


def test_restore_and_copy_transactions_from(make_cluster, encoding, tmp_path):
    """copyTransactionsFrom a FileStorage (explicit tids, status 'p', backpointers,
    extension) into the empty target: the target's history equals the source's;
    other clients get an (empty) invalidation per restored transaction; then a
    single storage.restore with an explicit later tid."""
    source = _source_filestorage(tmp_path / "source.fs")
    source_history = history_of(source)
    source.close()

    def scenario(run: Run):
        src = FileStorage(str(tmp_path / "source.fs"), read_only=True)
        try:
            target = run.storage()
            run.check("target empty", target.lastTransaction())
            run.outcome("copyTransactionsFrom", target.copyTransactionsFrom, src)
        finally:
            src.close()
        r = run.storage()
        got = run.outcome("history after copy", history_of, r,
                          view=lambda h: run.norm([
                              (t.tid, t.status, t.user, t.description, t.extension,
                               [(x.oid, x.data, x.data_txn) for x in t.records])
                              for t in h]))
        if got is not _RAISED:
            run.check("history after copy == source history (exact tids)",
                      got == source_history)
        run.check("lastTransaction after copy == source's last",
                  target.lastTransaction() == source_history[-1].tid)
        db = run.db()
        tm, conn, root = open_conn(db)
        run.check("application values after copy",
                  {k: dict(v) for k, v in root.items()})
        # A single restore with an explicit tid later than the last.
        last = source_history[-1].tid
        new_tid = later_tid(last, 1.0)
        oid_a = root["a"]._p_oid
        data = target.loadSerial(oid_a, target.loadBefore(oid_a, maxtid)[1])
        run.commit("restore with explicit tid", target,
                   [("restore", oid_a, new_tid, data, None)], tid=new_tid,
                   description="restored")
        run.check("lastTransaction after restore == explicit tid",
                  target.lastTransaction() == new_tid)
        run.call("loadBefore(a) after restore", r, "loadBefore", oid_a, maxtid)

    plain, raid = conformance(make_cluster, encoding, scenario)
    for b in raid.cluster.backends:
        assert b.history()[:len(source_history)] == source_history, b.name


def _read_only_scenario(run: Run):
    """What read-only, read_only_fallback and read-write clients get from a
    read-only server."""
    ro = run.storage(read_only=True)
    run.check("read_only client: isReadOnly, lastTransaction",
              (ro.isReadOnly(), ro.lastTransaction()))
    run.call("read_only client: loadBefore(oid 0)", ro, "loadBefore", z64, maxtid)
    run.call("read_only client: new_oids", ro, "new_oids", 1)
    fallback = run.storage(read_only_fallback=True)
    run.check("read_only_fallback client: connected, isReadOnly",
              (fallback.is_connected(), fallback.isReadOnly()))
    run.outcome("read_only_fallback client: tpc_begin",
                fallback.tpc_begin, TransactionMetaData())
    rw = run.cluster.client_storage(wait=False)
    time.sleep(1)
    run.check("read-write client: connected after 1 s", rw.is_connected())


def test_read_only_backends(make_cluster, encoding):
    """A RAID over read-only ZEO servers (`read-only true`) serves read-only and
    read_only_fallback clients and refuses read-write registers, as the server
    itself does (before: raidcore could not register, the client timed out)."""
    conformance(make_cluster, encoding, _read_only_scenario,
                zeo_conf="read-only true\n", watch=False)


def test_read_only_translator(make_cluster):
    """zeoraid-translator --read_only is ZEO's `read-only true` in front of a
    writable RAID."""
    plain = make_cluster(kind="plain", zeo_conf="read-only true\n")
    raid = make_cluster(kind="raid", n_backends=2, translator_args=["--read_only"])
    runs = []
    for cluster in (plain, raid):
        run = Run(cluster, "Z5", cluster.workdir / "scenario")
        run.workdir.mkdir()
        _read_only_scenario(run)
        runs.append(run)
    assert_same(compare(*runs))


def test_one_way_stores_the_fast_path_leaves_alone(make_cluster, encoding):
    """One-way storea frames the translator's fast path declines (a str serial,
    a record that is not bytes, another transaction's id) get ZEO's answers: the
    first two at vote, the last by closing the connection."""

    def scenario(run: Run):
        s = run.storage()
        oids = new_oids(run, s, 2)
        s._async("tpc_begin", 4201, b"u", b"d", {}, None, " ")
        s._async("storea", oids[0], "\0" * 8, pickle_of(1), 4201)
        run.call("vote after a storea with a str serial", s, "vote", 4201)
        run.call("tpc_finish", s, "tpc_finish", 4201)
        s._async("tpc_begin", 4202, b"u", b"d", {}, None, " ")
        s._async("storea", oids[1], z64, "a str record", 4202)
        run.call("vote after a storea of a str", s, "vote", 4202)
        run.call("tpc_abort", s, "tpc_abort", 4202)
        s._async("tpc_begin", 4203, b"u", b"d", {}, None, " ")
        run.check("a storea of another transaction closes the connection",
                  closes_connection(s, "storea", oids[1], z64, pickle_of(2),
                                    42031))
        run.outcome("reconnects", lambda: (wait_until(s.is_connected, WAIT_TIMEOUT,
                                                      "reconnect"), True)[1])
        run.call("vote after that", s, "vote", 4203)
        run.call("loadBefore of the first", s, "loadBefore", oids[0], maxtid)

    conformance(make_cluster, encoding, scenario)


def test_one_way_methods_called_synchronously(make_cluster, encoding):
    """A ZEO server answers a method clients usually call one-way when it is
    called synchronously (ZEO's IterationTests call iterator_gc so): None, or the
    error instead of closing the connection. Through the RAID the client waited
    forever."""

    def scenario(run: Run):
        s = run.storage()
        iid = run.call("iterator_start", s, "iterator_start", None, None)
        run.call("iterator_gc([iid]) called synchronously", s, "iterator_gc", [iid])
        run.call("iterator_next(iid) after it", s, "iterator_next", iid)
        run.call("iterator_gc([unknown]) called synchronously", s, "iterator_gc",
                 [12345])
        txn = TransactionMetaData()
        run.call("tpc_begin called synchronously", s, "tpc_begin", id(txn), b"u",
                 b"d", {}, None, " ")
        oid = s.new_oid()
        run.call("storea called synchronously", s, "storea", oid, z64, pickle_of(1),
                 id(txn))
        run.call("vote", s, "vote", id(txn))
        run.call("tpc_abort", s, "tpc_abort", id(txn))
        run.call("storea outside its transaction, synchronously", s, "storea", oid,
                 z64, pickle_of(1), 999)
        run.check("still connected", s.is_connected())

    conformance(make_cluster, encoding, scenario, watch=False)


def test_invalidation_age(make_cluster, encoding):
    """ZEO's invalidation-age: getInvalidations for a tid older than the queue
    but younger than the age is answered from the storage (quick verification)
    instead of None (a full verification)."""

    def scenario(run: Run):
        s = run.storage()
        oids = new_oids(run, s, 10)
        tids = [run.commit(f"commit {i}", s, [("store", oids[i], z64, pickle_of(i))])
                for i in range(10)]
        run.call("getInvalidations(commit 1) beyond the queue", s,
                 "getInvalidations", tids[1],
                 view=lambda r: r if r is None else (run.norm(r[0]),
                                                     sorted(run.norm(r[1]))))
        run.call("getInvalidations(commit 8) in the queue", s, "getInvalidations",
                 tids[8], view=lambda r: r if r is None else (
                     run.norm(r[0]), sorted(run.norm(r[1]))))
        run.call("getInvalidations(z64) (older than the age)", s,
                 "getInvalidations", z64)

    conformance(make_cluster, encoding, scenario, watch=False,
                zeo_conf="invalidation-queue-size 5\ninvalidation-age 60\n",
                raidcore_args=["--invalidation_queue_size", "5",
                               "--invalidation_age", "60s"])


def test_server_status_counts_like_one_zeo_server(make_cluster, encoding):
    """server_status: raidcore's own counters, as one ZEO server keeps them for
    its clients (they were one backend's: loads 0 after loads)."""
    counters = ("connections", "loads", "stores", "commits", "aborts", "active_txns",
                "conflicts", "conflicts_resolved", "waiting", "lock_time",
                "timeout-thread-is-alive")

    def scenario(run: Run):
        s = run.storage()
        run.storage()  # a second connection
        oids = new_oids(run, s, 2)
        t0 = run.commit("create two", s, [("store", oids[0], z64, pickle_of(1)),
                                          ("store", oids[1], z64, pickle_of(2))])
        for i in range(3):
            run.call(f"loadBefore {i}", s, "loadBefore", oids[i % 2], maxtid)
        run.commit("conflict", s, [("store", oids[0], z64, pickle_of(3))])
        txn = TransactionMetaData()
        s.tpc_begin(txn)
        run.call("server_status with a transaction open", s, "server_status",
                 view=lambda d: {k: d.get(k) for k in ("active_txns", "stores")})
        s.tpc_abort(txn)
        run.commit("update", s, [("store", oids[1], t0, pickle_of(4))])
        run.call("server_status", s, "server_status",
                 view=lambda d: {k: d.get(k) for k in counters})
        run.outcome("storage.server_status() start and last-transaction types",
                    s.server_status,
                    view=lambda d: (type(d["start"]).__name__, len(d["start"]),
                                    d["last-transaction"] == s.lastTransaction().hex()))

    # raidcore always enforces a transaction timeout (--commit_lock_timeout),
    # so it compares with a ZEO server that has one.
    conformance(make_cluster, encoding, scenario, watch=False,
                zeo_conf="transaction-timeout 30\n")


def test_calls_zodb_storage_tests_make(make_cluster, encoding):
    """Legal calls of ZODB's own storage tests that the RAID closed the connection
    on as "malformed": a store with serial None (a new object, and over an
    existing one) or a str serial, a deleteObject with serial None, and a transaction.Transaction
    (str user and description, not bytes) in tpc_begin."""

    def scenario(run: Run):
        w = run.storage()
        oids = new_oids(run, w, 3)
        run.commit("create with serial None", w,
                   [("store", oids[0], None, pickle_of(1)),
                    ("store", oids[2], None, pickle_of("x"))])
        run.commit("store over an existing object with serial None", w,
                   [("store", oids[0], None, pickle_of(2))])
        run.commit("delete with serial None", w, [("delete", oids[2], None)])
        oid3 = new_oids(run, w, 1)[0]
        run.commit("create with a str serial '\\0' * 8 (ZEO's ThreadTests)", w,
                   [("store", oid3, "\0" * 8, pickle_of(5))])
        txn = transaction.Transaction()
        txn.user = "alice"
        txn.description = "str métadonnées"
        txn.setExtendedInfo("k", "v")
        run.txn_ids[id(txn)] = "<transaction.Transaction>"

        def two_phase():
            w.tpc_begin(txn)
            w.store(oids[1], z64, pickle_of(3), "", txn)
            w.tpc_vote(txn)
            return w.tpc_finish(txn)

        tid = run.outcome("transaction.Transaction in tpc_begin", two_phase)
        run.outcome("its metadata as stored", lambda: [
            (i.user, i.description, dict(i.extension)) for i in w.iterator(tid, tid)]
            if tid is not _RAISED else None)
        run.call("loadBefore(o1) after it", w, "loadBefore", oids[1], maxtid)

    conformance(make_cluster, encoding, scenario)


def test_delete_object(make_cluster, encoding):
    """deleteObject (external GC): the object becomes a POSKeyError, its history
    stays readable; a wrong serial → ConflictError at vote; a missing oid →
    POSKeyError at vote; deletions are not in the invalidation list."""

    def scenario(run: Run):
        w = run.storage()
        oids = new_oids(run, w, 3)
        t0 = run.commit("create", w, [("store", o, z64, pickle_of(i))
                                      for i, o in enumerate(oids)])
        t1 = run.commit("delete o0", w, [("delete", oids[0], t0)], description="gc")
        r = run.storage()
        run.call("loadBefore(o0, maxtid) after delete", r, "loadBefore", oids[0], maxtid)
        if t1 is not _RAISED:
            run.call("loadBefore(o0, deletion tid) (the old revision)", r, "loadBefore",
                     oids[0], t1)
        run.call("loadSerial(o0, t0)", r, "loadSerial", oids[0], t0)
        run.call("history(o0, 5)", r, "history", oids[0], 5, view=run.norm_entries)
        run.commit("delete o1 with a wrong serial", w,
                   [("delete", oids[1], later_tid(t0))])
        run.commit("delete a missing oid", w, [("delete", p64(0x99999), t0)])
        run.commit("delete o2 and store o1", w, [("delete", oids[2], t0),
                                                 ("store", oids[1], t0, pickle_of("o1"))])
        run.outcome("iterator records of the deletions", lambda: [
            [(rec.oid, rec.data) for rec in t] for t in r.iterator(t1)]
            if t1 is not _RAISED else None)
        run.call("record_iternext after deletes", r, "record_iternext", None)

    conformance(make_cluster, encoding, scenario)


def _btree_conflicts(run: Run):
    """Two clients change a BTrees.Length and an OOBTree concurrently (resolvable),
    then the same OOBTree key (unresolvable). Records the raw vote replies and the
    final values."""
    db1, db2 = run.db(), run.db()
    tm1, c1, root1 = open_conn(db1)
    root1["len"] = Length(0)
    root1["tree"] = OOBTree()
    root1["tree"]["base"] = 0
    tm1.commit()
    run.check("oids: len, tree", (root1["len"]._p_oid, root1["tree"]._p_oid))
    wait_seen(db2.storage, root1["len"]._p_serial)
    tm2, c2, root2 = open_conn(db2)
    run.check("second client sees", (root2["len"](), dict(root2["tree"])))

    run.votes.clear()
    root1["len"].change(1)
    root1["tree"]["a"] = 1
    run.outcome("first writer commits", tm1.commit)
    root2["len"].change(2)
    root2["tree"]["b"] = 2
    run.outcome("second writer commits (conflicts resolved)", tm2.commit)
    run.check("vote replies of the two commits", run.votes, view=run.norm_votes)
    run.check("second writer's objects after commit",
              (root2["len"](), dict(root2["tree"])))

    reader = run.db()
    rtm, _, rroot = open_conn(reader)
    run.check("fresh client reads the merged values",
              (rroot["len"](), dict(rroot["tree"])))
    wait_seen(db1.storage, root2["len"]._p_serial)
    tm1.begin()
    run.check("first writer after sync", (root1["len"](), dict(root1["tree"])))

    # Both change the same key: not resolvable.
    wait_seen(db2.storage, root2["len"]._p_serial)
    tm2.begin()
    run.votes.clear()
    root1["tree"]["k"] = "one"
    root2["tree"]["k"] = "two"
    root1["len"].change(10)
    root2["len"].change(20)
    run.outcome("first writer sets k", tm1.commit)
    run.outcome("second writer sets k (unresolvable)", tm2.commit)
    tm2.abort()
    run.check("vote replies of the unresolvable pair", run.votes, view=run.norm_votes)
    rtm.begin()
    wait_seen(reader.storage, root1["tree"]._p_serial)
    rtm.begin()
    run.check("final values", (rroot["len"](), dict(rroot["tree"])))

    # Many concurrent increments from both, retried on conflict.
    run.votes.clear()
    for i in range(5):
        for who, tm, root in (("c1", tm1, root1), ("c2", tm2, root2)):
            for attempt in range(5):
                tm.begin()
                root["len"].change(1)
                root["tree"][f"k{i}-{who}"] = i
                try:
                    tm.commit()
                    break
                except Exception as e:
                    tm.abort()
                    run.notes.setdefault("retries", []).append(type(e).__name__)
    wait_seen(reader.storage, max(db1.storage.lastTransaction(),
                                  db2.storage.lastTransaction()))
    rtm.begin()
    run.check("Length after increments", rroot["len"]())
    run.check("tree size after increments", len(rroot["tree"]))


def test_conflict_resolution_server_side(make_cluster, encoding):
    """Default backends resolve BTrees.Length/OOBTree conflicts themselves: vote
    returns the resolved oids; the final values are identical."""
    conformance(make_cluster, encoding, _btree_conflicts)


def test_conflict_resolution_client_side(make_cluster, encoding):
    """Backends with client-conflict-resolution: vote returns conflict dicts
    ({oid, serials, data}); the client resolves with loadSerial and votes again."""
    conformance(make_cluster, encoding, _btree_conflicts,
                zeo_conf="client-conflict-resolution true\n")


def test_ruok_status_probe(make_cluster, encoding):
    """The 'ruok' probe (zeo-nagios): after the server's handshake the client sends
    ``ruok`` and gets one JSON frame {storage: status} and EOF."""

    def probe(addr):
        with socket.create_connection(addr, timeout=10) as sock:
            hello = _read_frame(sock)
            sock.sendall(struct.pack(">I", 4) + b"ruok")
            body = _read_frame(sock)
            rest = sock.recv(1)
        return hello, body, rest

    def scenario(run: Run):
        w = run.storage()
        oid = new_oids(run, w, 1)[0]
        run.commit("create", w, [("store", oid, z64, pickle_of(1))])
        result = run.outcome("ruok", probe, run.cluster.addr,
                             view=lambda v: "answered")
        if result is not _RAISED:
            hello, body, rest = result
            run.check("ruok: handshake before", hello)
            try:
                status = json.loads(body)
            except ValueError:
                run.check("ruok: JSON", ("not JSON", body[:80]))
                return
            run.check("ruok: storages", sorted(status))
            st = status.get(STORAGE_NAME, {})
            run.check("ruok: status keys and types",
                      sorted((k, type(v).__name__) for k, v in st.items()))
            run.check("ruok: last-transaction",
                      bytes.fromhex(st["last-transaction"])
                      if "last-transaction" in st else None)
            run.check("ruok: then EOF", rest)

    # raidcore always enforces a transaction timeout (timeout-thread-is-alive).
    conformance(make_cluster, encoding, scenario, watch=False,
                zeo_conf="transaction-timeout 30\n")


def _read_frame(sock) -> bytes:
    def exactly(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"EOF after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    (n,) = struct.unpack(">I", exactly(4))
    return exactly(n)


def test_transaction_timeout_disconnects_the_client(make_cluster, encoding):
    """ZEO's transaction-timeout: a client that voted and does not finish in time
    has its transaction aborted and its connection closed (it reconnects; its
    tpc_finish raises ClientDisconnected). raidcore's --commit_lock_timeout did
    abort, but the client stayed connected, as if it could still finish."""
    from ZEO.Exceptions import ClientDisconnected

    def scenario(run: Run):
        s = run.storage()
        oid = s.new_oid()
        txn = TransactionMetaData()
        disconnects = []
        notify = s.notify_disconnected
        s.notify_disconnected = lambda *a: (disconnects.append(1), notify(*a))
        s.tpc_begin(txn)
        s.store(oid, z64, pickle_of(1), "", txn)
        s.tpc_vote(txn)
        time.sleep(3)
        run.check("disconnected after the timeout", len(disconnects) > 0)
        s._wait()
        run.outcome("tpc_finish after the timeout", s.tpc_finish, txn)
        s.tpc_abort(txn)
        run.call("loadBefore of the object", s, "loadBefore", oid, maxtid)

    conformance(make_cluster, encoding, scenario, watch=False,
                zeo_conf="transaction-timeout 1\n",
                raidcore_args=["--commit_lock_timeout", "1s"])


def test_pack_beside_a_voted_transaction_of_the_same_client(make_cluster, encoding):
    """A client that packs from one thread while another of its threads holds a
    voted transaction: ZEO packs in a thread, so the tpc_finish is served and the
    pack (which waits for the storage's commit lock) completes. Through the RAID
    the pack blocked the connection, the finish never came, and the transaction
    was aborted by the commit lock timeout (ZODB's testPackWhileWriting)."""
    from ZODB.serialize import referencesf

    def scenario(run: Run):
        s = run.storage()
        oids = new_oids(run, s, 1)
        run.commit("root", s, [("store", z64, z64, pickle_of("root"))])
        serial = z64
        for i in range(3):  # old revisions, so that the pack has work to do
            serial = run.commit(f"revision {i}", s,
                                [("store", oids[0], serial, pickle_of(i))])
        time.sleep(0.1)
        txn = TransactionMetaData()
        s.tpc_begin(txn)
        s.store(oids[0], serial, pickle_of("voted"), "", txn)
        s.tpc_vote(txn)
        packed = []
        packer = threading.Thread(
            target=lambda: packed.append(s.pack(time.time(), referencesf)))
        packer.start()
        time.sleep(0.5)
        started = time.monotonic()
        run.outcome("tpc_finish while the same client packs", s.tpc_finish, txn)
        run.check("tpc_finish answered within 10 s", time.monotonic() - started < 10)
        packer.join(60)
        run.check("pack returned", (not packer.is_alive(), packed))
        run.call("loadBefore after both", s, "loadBefore", oids[0], maxtid)

    conformance(make_cluster, encoding, scenario, watch=False)


def test_history_with_odd_arguments(make_cluster, encoding):
    """history with a size or oid of None gets the storage's own error, as from
    ZEO (TypeError, POSKeyError); the RAID answered a size of None as 1
    (ZEO's checkExceptionLogsAtError)."""

    def scenario(run: Run):
        s = run.storage()
        oids = new_oids(run, s, 1)
        run.commit("create", s, [("store", oids[0], z64, pickle_of(1))])
        run.call("history(oid, None)", s, "history", oids[0], None,
                 view=lambda r: r)
        run.call("history(None, None)", s, "history", None, None)
        run.call("history(oid, 2) still works", s, "history", oids[0], 2,
                 view=run.norm_entries)

    conformance(make_cluster, encoding, scenario, watch=False)


def test_len_right_after_pack(make_cluster, encoding):
    """The packing client knows the new storage statistics when its pack returns,
    as from ZEO, whose info callback precedes the pack reply (ZODB's
    testPackWithMultiDatabaseReferences read len() right after the pack)."""
    from ZODB.serialize import referencesf

    def scenario(run: Run):
        s = run.storage()
        oids = new_oids(run, s, 3)
        run.commit("root", s, [("store", z64, z64, pickle_of("root"))])
        for i, oid in enumerate(oids):  # unreachable: the pack removes them
            run.commit(f"garbage {i}", s, [("store", oid, z64, pickle_of(i))])
        run.check("len before the pack", len(s))
        for attempt in range(5):
            s.pack(time.time(), referencesf)
            run.check(f"len right after pack {attempt}", len(s))

    conformance(make_cluster, encoding, scenario, watch=False)
