#!/usr/bin/env python3
"""Fuzzer of the translator's ZEO session state machine (issue 17 item 6).

Starts a real RAID (2 runzeo backends + zeoraid-raidcore + zeoraid-translator, with
the system tests' harness) and lets K raw clients, each in its own process, speak
the ZEO 5 wire protocol to the translator by hand. Every client walks a weighted
grammar of valid and invalid calls:

* the handshake and ``register`` (usually first; sometimes skipped, repeated, with a
  wrong storage name, read-only, a bad protocol version, a ``ruok`` probe);
* reads: ``loadBefore`` (also pipelined), ``loadSerial``, ``history``, ``getTid``,
  ``lastTransaction``, ``new_oids``, ``get_info``, ``ping``, ``server_status``,
  ``getInvalidations``, ``record_iternext``, ``undoLog``/``undoInfo``, ``sendBlob``;
* two-phase commit: ``tpc_begin`` (one-way), ``storea``, ``restorea``,
  ``checkCurrentSerialInTransaction``, ``deleteObject``, ``undoa``, ``storeBlob*``
  with valid and invalid arguments (wrong types and lengths, unknown transaction
  ids, None), then ``vote``/``tpc_finish``/``tpc_abort`` in right and wrong orders
  and with wrong transaction ids;
* iterators (``iterator_start``/``_next``/``_record_start``/``_record_next``/``_gc``)
  with real, exhausted, collected, never issued and garbage ids, interleaved;
* unknown methods, synchronous methods called one-way, heartbeats, garbage frames;
* disconnects at random points: plain close, reset (RST), half-close, half-sent
  frames, also in the middle of a transaction after ``vote`` (holding the lock).

A reply (normal or error) is fine; so is the server closing the connection after
an invalid call (the client reconnects and goes on). Every ``--check-every`` calls
the clients pause at a safe point (none holds the commit lock) and the fuzzer
checks that every process still runs, that the RAID is still optimal, and that a
good ZODB client (ZODB.DB over ZEO.ClientStorage on the translator) commits within
``--commit-deadline`` seconds: a leaked commit lock makes it wait. At the end the
backends' histories must be identical (RAID-1 mirrors).

Findings (exit status 1): a reply that does not come within ``--call-timeout`` (a
hang), a reply a ZEO client cannot decode or rebuild (a real client would hang), a
dead process, a RAID that is not optimal, a good client that cannot commit,
mirrors that differ. The report names the seed, the offending client's last calls
and the tail of every process log.

Anomalies (reported, not fatal): behaviour that differs from what a ZEO server
would do, e.g. the connection closed after a call ZEO answers, a reply where ZEO
closes, an unsolicited reply, an error where ZEO would succeed.

Examples::

    .venv/bin/python tests/fuzz/session_fuzz.py --calls 1000000
    .venv/bin/python tests/fuzz/session_fuzz.py --calls 50000 --seed 7 --workers 2
    .venv/bin/python tests/fuzz/session_fuzz.py --encoding msgpack --calls 100000

The same seed with the same --calls/--workers/--check-every replays the same call
sequences (up to the server's timing: replies, e.g. conflicts, steer the walk).
"""

from __future__ import annotations

import argparse
import base64
import collections
import dataclasses
import json
import multiprocessing
import multiprocessing.connection
import os
import random
import re
import shutil
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SYSTEM_TESTS = REPO / "tests" / "system"
if str(SYSTEM_TESTS) not in sys.path:
    sys.path.insert(0, str(SYSTEM_TESTS))

import harness  # noqa: E402  (tests/system/harness.py)

Z64 = b"\0" * 8
MAXTID = b"\x7f\xff\xff\xff\xff\xff\xff\xff"
STORAGE = harness.STORAGE_NAME
HISTORY_LINES = 60  # calls of a client kept for a report


# ----------------------------------------------------------------------- options


@dataclasses.dataclass
class FuzzOptions:
    calls: int = 1_000_000
    workers: int = 4
    seed: Optional[int] = None
    check_every: int = 20_000
    encoding: str = "pickle"  # what the translator announces: pickle (Z5), msgpack (M5)
    call_timeout: float = 30.0  # a reply slower than this is a hang
    commit_deadline: float = 20.0  # the good client's commit (< raidcore's 30 s lock timeout)
    compare_mirrors: bool = True  # compare the backends' histories at the end
    # Store empty records (b""). Off by default: FileStorage writes one as a data
    # record of length 0, which its own file scan then takes for a backpointer
    # ("data record exceeds transaction record": the Data.fs cannot be reopened
    # without its index) -- on plain ZEO as well, so not the translator's doing.
    empty_records: bool = False
    # tpc_begin with an explicit tid far in the future (2**63 - 5, 0xff..ff). The
    # RAID must refuse them at vote (raidcore --max_tid_ahead): accepted, every later
    # tid lies beyond it and ZEO clients break. Off only to look past that finding.
    far_future_tids: bool = True
    # Data calls (storea, undoa, blobs...) after a successful vote. Together with
    # server_status they lead translators built before this fuzzer to a second
    # Finish() on the transaction's gRPC stream (a SIGABRT). Off only to look past it.
    data_after_vote: bool = True
    verbose: bool = False

    def resolved_seed(self) -> int:
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(1, 2**31)
        return self.seed


def cluster_options(encoding: str = "pickle", blobs: bool = True) -> dict:
    """Keyword arguments for harness.Cluster that fit a fuzz run."""
    kw: dict = {"kind": "raid", "blobs": blobs}
    if encoding == "msgpack":
        kw["translator_args"] = ["--msgpack"]
    return kw


# ------------------------------------------------------------- wire (per process)


class ServerClosed(Exception):
    """The server closed (or reset) the connection."""


class Hang(Exception):
    """No reply (or no progress writing) within the call timeout."""


class Finding(Exception):
    """Something a real client or operator would suffer from; ends the run."""


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def _msgpack_decode(data: bytes):
    import msgpack
    return msgpack.unpackb(data, raw=False, use_list=False)


_CODECS: dict = {}


def codec(letter: str):
    """(encode, decode) for 'Z' (pickle) or 'M' (msgpack), as a ZEO client has."""
    if letter not in _CODECS:
        from ZEO.asyncio.marshal import encoder, pickle_decode
        if letter == "M":
            _CODECS[letter] = (encoder(b"M5"), _msgpack_decode)
        else:
            _CODECS[letter] = (encoder(b"Z5"), pickle_decode)
    return _CODECS[letter]


class Wire:
    """A socket with a frame reader."""

    def __init__(self, addr, timeout: float):
        if isinstance(addr, str):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(addr)
        else:
            self.sock = socket.create_connection(tuple(addr), timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def send(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except socket.timeout:
            raise Hang("the server took none of our bytes") from None
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            raise ServerClosed("while sending") from None

    def read_frame(self) -> bytes:
        while True:
            if len(self.buf) >= 4:
                (n,) = struct.unpack_from(">I", self.buf)
                if len(self.buf) >= 4 + n:
                    payload = bytes(self.buf[4:4 + n])
                    del self.buf[:4 + n]
                    return payload
            try:
                chunk = self.sock.recv(1 << 18)
            except socket.timeout:
                raise Hang("no reply") from None
            except (ConnectionResetError, ConnectionAbortedError):
                raise ServerClosed("reset") from None
            if not chunk:
                raise ServerClosed("EOF" + (f" ({len(self.buf)} bytes of a frame)"
                                            if self.buf else ""))
            self.buf += chunk

    def close(self, how: str = "close") -> None:
        try:
            if how == "rst":
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     struct.pack("ii", 1, 0))
            self.sock.close()
        except OSError:
            pass


# ------------------------------------------------------------------ data helpers


def _record(value) -> bytes:
    """An object record: a PersistentMapping pickle, as ZODB writes it."""
    from zodbpickle import pickle as zpickle
    return (zpickle.dumps((("persistent.mapping", "PersistentMapping"), None), 3)
            + zpickle.dumps({"data": {"v": value}}, 3))


def _short(v: Any, limit: int = 40) -> str:
    if isinstance(v, (bytes, bytearray)):
        if len(v) == 8:
            return "0x" + bytes(v).hex()
        text = bytes(v[:12]).hex()
        return f"b<{len(v)}:{text}{'..' if len(v) > 12 else ''}>"
    if isinstance(v, tuple):
        return "(" + ", ".join(_short(x, limit) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        inner = ", ".join(_short(x, limit) for x in v[:6])
        return "[" + inner + (", ..." if len(v) > 6 else "") + "]"
    text = repr(v)
    return text if len(text) <= limit else text[:limit] + "..."


def p64(n: int) -> bytes:
    return struct.pack(">Q", n)


def u64(b: bytes) -> int:
    return struct.unpack(">Q", b)[0]


def _tid_in(seconds: float) -> bytes:
    """The tid of the wall clock `seconds` from now."""
    from ZODB.TimeStamp import TimeStamp
    t = time.gmtime(time.time() + seconds)
    return TimeStamp(*t[:5], min(t[5], 59)).raw()


def _exc_factories():
    from ZEO.asyncio.client import exc_factories
    return exc_factories


@dataclasses.dataclass
class Sent:
    seq: int
    name: str
    label: str
    expect: str  # 'reply' (answered), 'open' (one-way, connection stays), 'close', 'maybe'
    msgid: Any = None
    want: Optional[str] = None  # 'ok', an error class path, or None (anything)
    started: float = 0.0


class Txn:
    def __init__(self, tid_id):
        self.id = tid_id
        self.state = "open"  # open | voted | failed | confused
        self.stored: dict = {}  # oid -> data (valid stores)
        self.deleted: set = set()
        self.blobs: set = set()
        self.refused = False  # a non-bytes record: vote must fail (TypeError)
        self.blob_open = False
        self.ops = 0
        self.maybe_voted = False  # a vote of it succeeded (the server may hold it voted)


# ------------------------------------------------------------------ the client


class SessionFuzzer:
    """One raw ZEO client walking the call grammar. Runs inside a worker process."""

    def __init__(self, index: int, addr, seed: int, encoding: str, call_timeout: float,
                 empty_records: bool = False, far_future_tids: bool = True,
                 data_after_vote: bool = True):
        self.index = index
        self.data_after_vote = data_after_vote
        self.empty_records = empty_records
        self.far_future_tids = far_future_tids
        self.addr = addr
        self.rng = random.Random(f"{seed}/{index}")
        self.letter = "M" if encoding == "msgpack" else "Z"
        self.call_timeout = call_timeout
        self.wire: Optional[Wire] = None
        self.seq = 0
        self.calls = 0
        self.stats = {
            "calls": collections.Counter(),  # by method (", oneway")
            "replies": collections.Counter(),  # "ok" or error class path
            "error_examples": {},  # class path -> first "call [label]: payload"
            "closes": collections.Counter(),  # server closed after <call:label>
            "client_disconnects": collections.Counter(),
            "connections": 0,
            "max_latency": {},
        }
        self.anomalies: dict = {}  # signature -> {"count": n, "example": text}
        self.history: collections.deque = collections.deque(maxlen=HISTORY_LINES)
        # What this client knows (survives reconnects).
        self.writable: dict = {}  # oid -> serial (bytes) or None (unknown/new)
        self.readable: list = [Z64]
        self.tids: collections.deque = collections.deque([Z64], maxlen=64)
        self.own_tids: collections.deque = collections.deque(maxlen=32)
        self.stale_iters: set = set()
        self.blob_serials: collections.deque = collections.deque(maxlen=16)
        self.records = [_record(i) for i in range(8)]
        self._reset_connection_state()

    # -- connection state ------------------------------------------------------

    def _reset_connection_state(self) -> None:
        self.conn_letter = self.letter
        self.encode = None
        self.decode = None
        self.handshaken = False
        self.registered = False
        self.read_only = False
        self.txn: Optional[Txn] = None
        self.msgid = 0
        self.pending: dict = {}  # msgid -> Sent (sync calls awaiting a reply)
        self.replies: dict = {}  # msgid -> (flag, result) received early
        self.unconfirmed: list = []  # Sent since the last reply
        # Iterators of this connection: id -> {"kind": "txn"/"rec", "tid": last}
        self.iters: dict = {}

    def _drop_connection(self, how: str) -> None:
        if self.wire is not None:
            self.wire.close(how)
        self.wire = None
        # Ids of a previous connection are "foreign" to the next one.
        self.stale_iters.update(self.iters)
        if len(self.stale_iters) > 200:
            self.stale_iters = set(list(self.stale_iters)[-100:])
        self._reset_connection_state()

    def note(self, text: str) -> None:
        self.history.append(f"[w{self.index} #{self.seq}] {text}")

    def anomaly(self, signature: str, text: str) -> None:
        entry = self.anomalies.get(signature)
        if entry is None:
            self.anomalies[signature] = {
                "count": 1, "example": text + "\n" + "\n".join(self.history)}
        else:
            entry["count"] += 1
        self.note(f"ANOMALY {signature}: {text}")

    # -- sending -------------------------------------------------------------

    def _next_msgid(self) -> int:
        self.msgid += 1
        if self.rng.random() < 0.01:
            return self.msgid + (1 << 40)  # big msgids must round-trip (LONG1)
        return self.msgid

    def _send_message(self, msgid, oneway: bool, name: str, args: tuple, label: str,
                      expect: str, want: Optional[str] = None) -> Sent:
        self.seq += 1
        sent = Sent(self.seq, name, label, expect, msgid, want, time.monotonic())
        payload = self.encode(msgid, oneway, name, args)
        self.calls += 1
        self.stats["calls"][name + (" (one-way)" if oneway and expect != "reply" else "")] += 1
        if self.read_only:
            label += ", read-only"
            sent.label = label
        self.note(f"{'->' if oneway else '=>'} {name}{_short(args, 60)} [{label}] "
                  f"expect={expect}{'' if want is None else ' want=' + want}")
        self.unconfirmed.append(sent)
        if not oneway:
            self.pending[msgid] = sent
        self.wire.send(frame(payload))
        return sent

    def oneway(self, name: str, args: tuple, label: str, expect: str = "open") -> None:
        self._send_message(0, True, name, args, label, expect)

    def call(self, name: str, args: tuple = (), label: str = "valid",
             expect: str = "reply", want: Optional[str] = None, msgid=None):
        """A synchronous call; returns (flag, result). Raises ServerClosed."""
        if msgid is None:
            msgid = self._next_msgid()
        self._send_message(msgid, False, name, args, label, expect, want)
        return self.await_reply(msgid)

    def raw(self, data: bytes, name: str, label: str, expect: str) -> None:
        """Bytes that are not a well-formed message (counted as a call)."""
        self.seq += 1
        self.calls += 1
        self.stats["calls"][name] += 1
        self.note(f"~> {name} {len(data)} bytes [{label}] expect={expect}")
        self.unconfirmed.append(Sent(self.seq, name, label, expect))
        self.wire.send(data)

    # -- receiving ------------------------------------------------------------

    def await_reply(self, msgid):
        while msgid not in self.replies:
            try:
                payload = self.wire.read_frame()
            except Hang:
                sent = self.pending.get(msgid)
                what = f"{sent.name} [{sent.label}]" if sent else repr(msgid)
                raise Finding(f"HANG: no reply to {what} within {self.call_timeout:.0f}s "
                              f"(worker {self.index}, call #{sent.seq if sent else '?'})")
            self._handle_frame(payload)
        return self.replies.pop(msgid)

    def _handle_frame(self, payload: bytes) -> None:
        try:
            message = self.decode(payload)
        except Exception as e:
            raise Finding(f"UNDECODABLE message from the server ({e!r}): a ZEO client "
                          f"would drop it and its call would hang: {payload[:200]!r}")
        if not (isinstance(message, tuple) and len(message) == 4):
            raise Finding(f"MALFORMED message from the server: {_short(message, 200)}")
        msgid, flag, name, args = message
        if name == ".reply":
            self._handle_reply(msgid, flag, args)
        elif name == "invalidateTransaction" and flag:
            tid, oids = args
            self.tids.append(tid)
            for oid in oids:
                if oid != Z64 and (oid in self.writable or len(self.writable) < 400):
                    self.writable[oid] = tid
        elif name in ("info", "receiveBlobStart", "receiveBlobChunk", "receiveBlobStop") \
                and flag:
            pass
        else:
            self.anomaly(f"unexpected server message {name!r}",
                         f"the server sent {_short(message, 120)}; a ZEO client raises "
                         "in its IO thread")

    def _handle_reply(self, msgid, flag, result) -> None:
        try:
            sent = self.pending.pop(msgid)
        except (KeyError, TypeError):
            oneways = [s for s in self.unconfirmed if s.msgid == 0]
            # Most likely a synchronous method sent one-way (ZEO sends nothing back).
            sync_ones = [s for s in oneways if "sync method one-way" in s.label]
            culprit = (sync_ones or oneways or [None])[-1]
            cause = f" after one-way {culprit.name} [{culprit.label}]" if culprit else ""
            self.anomaly(f"unsolicited reply{cause}",
                         f"reply with msgid {_short(msgid)} that no call is waiting for "
                         f"(flag={flag!r}, {_short(result, 80)}); a ZEO client raises "
                         "KeyError in its IO thread")
            return
        latency = time.monotonic() - sent.started
        ml = self.stats["max_latency"]
        if latency > ml.get(sent.name, 0.0):
            ml[sent.name] = latency
        if flag:
            if not (isinstance(result, tuple) and len(result) == 2
                    and isinstance(result[0], str)):
                raise Finding(f"MALFORMED error reply to {sent.name}: {_short(result, 200)}"
                              " (a ZEO client cannot unpack it: the call hangs)")
            class_path, payload = result
            factory = _exc_factories().get(class_path)
            if factory is not None:
                try:
                    factory(class_path, payload)
                except Exception as e:
                    raise Finding(f"UNREBUILDABLE error reply to {sent.name}: {class_path} "
                                  f"{_short(payload, 200)} ({e!r}): a ZEO client's call "
                                  "would hang")
            self.stats["replies"][class_path] += 1
            self.stats["error_examples"].setdefault(
                class_path, f"{sent.name} [{sent.label}]: {_short(payload, 160)}")
            self.note(f"<= {sent.name} ERROR {class_path} {_short(payload, 90)}")
            if sent.want == "ok":
                self.anomaly(f"error reply to {sent.name} [{sent.label}]: {class_path}",
                             f"{sent.name} [{sent.label}] got {class_path} "
                             f"{_short(payload, 120)}; ZEO answers it normally")
            elif sent.want is not None and sent.want != class_path:
                self.anomaly(f"{sent.name} [{sent.label}]: {class_path} instead of {sent.want}",
                             f"got {class_path} {_short(payload, 120)}")
        else:
            self.stats["replies"]["ok"] += 1
            self.note(f"<= {sent.name} {_short(result, 90)}")
            if sent.want is not None and sent.want != "ok":
                self.anomaly(f"{sent.name} [{sent.label}]: success instead of {sent.want}",
                             f"got {_short(result, 120)}")
        # Calls before this one that ZEO would have closed the connection for.
        for s in self.unconfirmed:
            if s.seq < sent.seq and s.expect == "close":
                self.anomaly(f"not closed after {s.name} [{s.label}]",
                             f"ZEO closes the connection after {s.name} [{s.label}]; "
                             f"the translator answered the later {sent.name}")
        self.unconfirmed = [s for s in self.unconfirmed
                            if s.seq > sent.seq or s.msgid in self.pending]
        self.replies[msgid] = (flag, result)

    def _on_server_closed(self, why: str) -> None:
        expected = [s for s in self.unconfirmed if s.expect in ("close", "maybe")]
        if expected:
            s = expected[0]
            self.stats["closes"][f"{s.name} [{s.label}]"] += 1
            self.note(f"server closed the connection ({why}) after {s.name} [{s.label}]")
        else:
            last = self.unconfirmed[-1] if self.unconfirmed else None
            sig = f"{last.name} [{last.label}]" if last else "(no call outstanding)"
            self.stats["closes"]["UNEXPECTED " + sig] += 1
            self.anomaly(f"unexpected close after {sig}",
                         f"the server closed the connection ({why}) although ZEO would "
                         f"not have: calls since the last reply: "
                         f"{[f'{s.name} [{s.label}]' for s in self.unconfirmed]}")
        self._drop_connection("close")

    # -- the walk -------------------------------------------------------------

    def run(self, quota: int) -> None:
        """Make `quota` calls, then pause at a safe point (no lock held)."""
        target = self.calls + quota
        while self.calls < target:
            try:
                if self.wire is None:
                    self.connect()
                self.step()
                if self.wire is not None and self.rng.random() < 0.004:
                    self.disconnect(self.rng.choice(["close", "rst", "close", "shutdown"]))
            except ServerClosed as e:
                self._on_server_closed(str(e))
        self.quiesce()

    def quiesce(self) -> None:
        """End of a round: nobody may hold the commit lock while the checks run."""
        try:
            if self.wire is None:
                return
            if self.pending:
                for msgid in list(self.pending):
                    self.await_reply(msgid)
            if self.txn is not None and self.txn.state in ("voted", "confused"):
                r = self.rng.random()
                if r < 0.4:
                    self.call("tpc_abort", (self.txn.id,), "quiesce", want="ok")
                    self.txn = None
                elif r < 0.7 and self.txn.state == "voted":
                    self._finish(self.txn.id, "quiesce")
                else:
                    self.disconnect("rst" if r > 0.85 else "close")
                    return
            if self.rng.random() < 0.3:
                self.disconnect("close")
            elif self.registered:
                # Confirm the connection is usable (and drain what was sent to us).
                self.call("lastTransaction", (), "quiesce", want="ok")
        except ServerClosed as e:
            self._on_server_closed(str(e))

    def connect(self) -> None:
        self.wire = Wire(self.addr, self.call_timeout)
        self.stats["connections"] += 1
        try:
            hello = self.wire.read_frame()
        except Hang:
            raise Finding("HANG: the translator sent no handshake within "
                          f"{self.call_timeout:.0f}s of a connect")
        if hello not in (b"Z5", b"M5"):
            raise Finding(f"bad server handshake {hello!r}")
        letter = hello[:1].decode()
        # As a ZEO client: answer with the server's letter; sometimes the other one
        # (the client's letter chooses the encoding, as on a ZEO server).
        if self.rng.random() < 0.1:
            letter = "M" if letter == "Z" else "Z"
        self.conn_letter = letter
        self.encode, self.decode = codec(letter)
        self.note(f"connected ({hello!r}, speaking {letter}5)")

    def disconnect(self, how: str) -> None:
        self.stats["client_disconnects"][
            how + (f" ({self.txn.state} txn)" if self.txn else "")] += 1
        self.note(f"client disconnects ({how})"
                  + (f" with a {self.txn.state} transaction" if self.txn else ""))
        if how == "shutdown" and self.wire is not None:
            # Half-close, then the server must close its side (after answering
            # whatever is pending).
            try:
                self.wire.sock.shutdown(socket.SHUT_WR)
                deadline = time.monotonic() + self.call_timeout
                while time.monotonic() < deadline:
                    self.wire.read_frame()
            except ServerClosed:
                pass
            except Hang:
                raise Finding("HANG: the translator kept a half-closed connection open "
                              f"for {self.call_timeout:.0f}s")
            except OSError:
                pass
        self._drop_connection("rst" if how == "rst" else "close")

    def step(self) -> None:
        if not self.handshaken:
            return self.step_handshake()
        if not self.registered:
            return self.step_register()
        txn = self.txn
        if txn is None:
            actions = self.IDLE
        elif txn.state == "open":
            actions = self.IN_TXN
        elif txn.state == "voted":
            actions = self.VOTED
        else:
            actions = self.AFTER_FAILURE
        method = self.rng.choices(actions[0], weights=actions[1])[0]
        method(self)

    # -- handshake and register ----------------------------------------------

    def step_handshake(self) -> None:
        r = self.rng.random()
        version = (self.conn_letter + "5").encode()
        if r < 0.004:
            self.raw(frame(b"Z4"), "<handshake>", "version Z4", "close")
            self.await_close()
        elif r < 0.008:
            self.raw(frame(b"ruok"), "<handshake>", "ruok probe", "close")
            status = self.wire.read_frame()
            try:
                json.loads(status)
            except ValueError:
                self.anomaly("ruok answer is not JSON", repr(status[:200]))
            self.await_close()
        else:
            self.raw(frame(version), "<handshake>", "valid", "open")
            self.handshaken = True
            if self.rng.random() < 0.05:
                self.raw(frame(self.encode(-1, 0, ".reply", None)), "<heartbeat>",
                         "before register", "open")

    def await_close(self) -> None:
        """The server must close now (raises ServerClosed)."""
        while True:
            try:
                self.wire.read_frame()
            except Hang:
                raise Finding("HANG: the translator did not close a connection it "
                              f"must close within {self.call_timeout:.0f}s")

    def step_register(self) -> None:
        r = self.rng.random()
        if r < 0.02:  # calls before register: ZEO closes
            name, args = self.rng.choice([
                ("loadBefore", (Z64, MAXTID)), ("lastTransaction", ()),
                ("get_info", ()), ("vote", (1,))])
            self.call(name, args, "before register", expect="close")
        elif r < 0.03:
            self.oneway("tpc_begin", (1, b"", b"", {}, None, " "), "before register",
                        expect="close")
            self.call("ping", (), "after one-way before register", expect="close")
        elif r < 0.05:
            flag, result = self.call("register", ("no such storage", False),
                                     "unknown storage", want="builtins.ValueError")
            # still unregistered: the next step registers (or not)
        elif r < 0.06:
            self.call("register", self.rng.choice([(), (1, False), (None,)]),
                      "malformed", expect="close")
        else:
            read_only = self.rng.random() < 0.05
            ro_arg = self.rng.choice([True, 1]) if read_only else self.rng.choice(
                [False, 0, False])
            flag, result = self.call("register", (STORAGE, ro_arg),
                                     "read-only" if read_only else "valid", want="ok")
            if not flag:
                if not (isinstance(result, bytes) and len(result) == 8):
                    self.anomaly("register result is not a tid", _short(result))
                else:
                    self.tids.append(result)
                self.registered = True
                self.read_only = read_only

    # -- value generators ------------------------------------------------------

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def some_oid(self) -> bytes:
        r = self.rng.random()
        if r < 0.6 and self.writable:
            return self.rng.choice(list(self.writable)[-64:])
        if r < 0.85:
            return self.rng.choice(self.readable[-64:])
        return p64(self.rng.choice([1, 2, 3, 0xdeadbeef, 2**40, 2**63 - 1]))

    def write_oid(self) -> Optional[bytes]:
        if not self.writable:
            return None
        return self.rng.choice(list(self.writable)[-48:])

    def some_tid(self) -> bytes:
        r = self.rng.random()
        if r < 0.7:
            return self.rng.choice(self.tids)
        if r < 0.8:
            return MAXTID
        if r < 0.9:
            return Z64
        return p64(self.rng.randrange(1, 2**62))

    def bad_value(self):
        """A value of the wrong type or length for an oid, tid or serial."""
        return self.rng.choice([
            None, b"", b"\x01" * 7, b"\x01" * 9, "abcdefgh", "", 12345, -1, 2**62,
            1.5, True, [], (), {}, [Z64], (Z64,), {"oid": Z64}, b"\xff" * 64])

    def bad_int(self):
        return self.rng.choice([None, "1", b"1", 1.5, [], {}, (1,), -(2**62), 2**62])

    def record(self) -> Any:
        r = self.rng.random()
        if r < 0.85:
            return self.rng.choice(self.records)
        if r < 0.92:
            n = self.rng.randrange(0 if self.empty_records else 1, 64)
            return bytes(self.rng.getrandbits(8) for _ in range(n))
        if r < 0.95:
            return b"" if self.empty_records else self.rng.choice(self.records)
        if r < 0.97:
            return self.rng.choice(self.records) + b"x" * self.rng.choice([300, 70000])
        return self.rng.choice([None, "a str record", 42, [b"x"], {"a": 1}])  # refused at vote

    def new_txn_id(self):
        if self.chance(0.7):
            return self.rng.randrange(2**40, 2**47)  # like id(txn)
        return self.rng.choice([self.rng.randrange(1, 1000), self.rng.randrange(-10**6, 0),
                                self.rng.randrange(2**47, 2**62)])

    def wrong_txn_id(self, current):
        while True:
            v = self.rng.choice([None, self.rng.randrange(1, 2**47), "txn", b"txn", 0,
                                 (1, 2), [current] if current is not None else 7])
            if v != current:
                return v

    # -- reads -----------------------------------------------------------------

    def act_load(self) -> None:
        r = self.rng.random()
        if r < 0.85:
            oid = self.some_oid()
            before = self.rng.choice([MAXTID, MAXTID, self.some_tid(),
                                      p64(min(u64(self.some_tid()) + 1, 2**64 - 1))])
            # As ClientStorage: the msgid of a load is (oid, before).
            msgid = (oid, before) if self.chance(0.8) else None
            if msgid is not None and (msgid in self.pending or msgid in self.replies):
                msgid = None
            flag, result = self.call("loadBefore", (oid, before), "valid", msgid=msgid)
            if not flag and result is not None:
                if not (isinstance(result, tuple) and len(result) == 3):
                    self.anomaly("loadBefore result shape", _short(result))
                elif result[2] is None and oid in self.writable:
                    self.writable[oid] = result[1]
        else:
            args = self.rng.choice([
                (self.bad_value(), MAXTID), (Z64, self.bad_value()), (Z64,), (),
                (Z64, MAXTID, 1)])
            self.call("loadBefore", args, "bad args")

    def act_pipeline(self) -> None:
        """Loads sent without waiting (prefetch), answered in any order."""
        n = self.rng.randrange(2, 12)
        ids = []
        for i in range(n):
            oid = self.some_oid()
            before = self.rng.choice([MAXTID, self.some_tid()])
            msgid = (oid, before)
            if msgid in self.pending or msgid in self.replies or msgid in ids:
                continue
            self._send_message(msgid, False, "loadBefore", (oid, before), "pipelined",
                               "reply")
            ids.append(msgid)
            if self.chance(0.15):
                m = self._next_msgid()
                self._send_message(m, False, self.rng.choice(["ping", "lastTransaction"]),
                                   (), "pipelined", "reply", want="ok")
                ids.append(m)
        for msgid in self.rng.sample(ids, len(ids)):
            self.await_reply(msgid)

    def act_read_misc(self) -> None:
        r = self.rng.random()
        if r < 0.10:
            self.call("lastTransaction", (), want="ok")
        elif r < 0.20:
            self.call("ping", (), want="ok")
        elif r < 0.27:
            flag, info = self.call("get_info", (), want="ok")
            if not flag and not isinstance(info, dict):
                self.anomaly("get_info result is not a dict", _short(info))
        elif r < 0.32:
            self.call("server_status", (), want="ok")
        elif r < 0.40:
            self.act_new_oids()
        elif r < 0.50:
            if self.chance(0.85):
                self.call("loadSerial", (self.some_oid(), self.some_tid()))
            else:
                self.call("loadSerial", self.rng.choice(
                    [(self.bad_value(), Z64), (Z64,), (Z64, self.bad_value())]), "bad args")
        elif r < 0.60:
            if self.chance(0.85):
                args = (self.some_oid(),) if self.chance(0.3) else (
                    self.some_oid(), self.rng.choice([1, 2, 5, 100, 0, -1]))
                self.call("history", args)
            else:
                self.call("history", self.rng.choice(
                    [(self.bad_value(),), (Z64, self.bad_int()), (), (Z64, 1, 2)]),
                    "bad args")
        elif r < 0.68:
            if self.chance(0.85):
                self.call("getTid", (self.some_oid(),))
            else:
                self.call("getTid", self.rng.choice([(self.bad_value(),), ()]), "bad args")
        elif r < 0.78:
            if self.chance(0.85):
                flag, result = self.call("getInvalidations", (self.some_tid(),))
                if not flag and result is not None and not (
                        isinstance(result, tuple) and len(result) == 2):
                    self.anomaly("getInvalidations result shape", _short(result))
            else:
                self.call("getInvalidations", self.rng.choice([(self.bad_value(),), ()]),
                          "bad args")
        elif r < 0.88:
            self.act_record_iternext()
        elif r < 0.92:
            if self.chance(0.5):
                self.call("undoLog", self.rng.choice([(0, -20), (0, 5), (3, 1)]))
            else:
                self.call("undoInfo", (0, -5, self.rng.choice([None, {}])))
        elif r < 0.94:
            self.call(self.rng.choice(["undoLog", "undoInfo"]),
                      self.rng.choice([(), (None, None), ("a", 1)]), "bad args")
        elif r < 0.97:
            if self.blob_serials and self.chance(0.6):
                oid, serial = self.rng.choice(self.blob_serials)
                label = "committed blob"
            else:
                oid, serial, label = self.some_oid(), self.some_tid(), "any"
            self.call("sendBlob", (oid, serial), label)
        elif r < 0.985:
            self.call("new_oid", (), "unimplemented")
        else:
            self.oneway("set_client_label", (self.rng.choice(["fuzz", "", 42]),), "label")

    def act_new_oids(self) -> None:
        if self.chance(0.9):
            n = self.rng.choice([None, 1, 5, 100, 0, -3, 1000])
            args = () if n is None else (n,)
            flag, oids = self.call(
                "new_oids", args, "valid",
                want="ZODB.POSException.ReadOnlyError" if self.read_only else "ok")
            if not flag:
                if not isinstance(oids, (list, tuple)) or not all(
                        isinstance(o, bytes) and len(o) == 8 for o in oids):
                    self.anomaly("new_oids result shape", _short(oids))
                    return
                for o in oids[:8]:
                    if o != Z64 and len(self.writable) < 400:
                        self.writable[o] = None
                        self.readable.append(o)
                if len(self.readable) > 256:
                    self.readable = [Z64] + self.readable[-200:]
        else:
            self.call("new_oids", (self.bad_int(),), "bad args")

    def act_record_iternext(self) -> None:
        if self.chance(0.9):
            nxt = None if self.chance(0.4) else self.some_oid()
            flag, result = self.call("record_iternext", (nxt,))
            if not flag and isinstance(result, tuple) and len(result) == 4:
                oid = result[0]
                if isinstance(oid, bytes) and oid not in self.readable:
                    self.readable.append(oid)
                    del self.readable[1:-200]
        else:
            self.call("record_iternext", self.rng.choice([(self.bad_value(),), ()]),
                      "bad args")

    def act_server_status(self) -> None:
        """server_status inside a transaction: the translator first syncs the
        transaction's stream to raidcore (its one-way calls must count)."""
        self.call("server_status", (), "in a transaction" if self.txn else "valid",
                  want="ok")

    def act_heartbeat(self) -> None:
        self.raw(frame(self.encode(-1, 0, ".reply", None)), "<heartbeat>", "valid", "open")

    # -- iterators ---------------------------------------------------------------

    def _iter_id(self, kind: str):
        """A real id of `kind`, or a stale, never issued, or garbage one."""
        mine = [i for i, it in self.iters.items() if it["kind"] == kind]
        r = self.rng.random()
        if r < 0.7 and mine:
            return self.rng.choice(mine), "real"
        if r < 0.8 and self.stale_iters:
            return self.rng.choice(list(self.stale_iters)[-50:]), "stale/foreign"
        if r < 0.9:
            return self.rng.choice([max(self.iters, default=-1) + 1 + self.rng.randrange(5),
                                    10**9, -1]), "never issued"
        return self.bad_value(), "garbage"

    def act_iterator(self) -> None:
        r = self.rng.random()
        n_txn = sum(1 for it in self.iters.values() if it["kind"] == "txn")
        if r < 0.18 or (n_txn == 0 and r < 0.5):
            start = self.rng.choice([None, None, self.some_tid(), self.bad_value()])
            stop = self.rng.choice([None, None, self.some_tid(), MAXTID])
            flag, iid = self.call("iterator_start", (start, stop),
                                  "valid" if start is None or isinstance(start, bytes)
                                  else "odd start")
            if not flag:
                if isinstance(iid, int):
                    self.iters[iid] = {"kind": "txn", "tid": None}
                else:
                    self.anomaly("iterator_start result is not an int", _short(iid))
        elif r < 0.55:
            iid, how = self._iter_id("txn")
            want = "builtins.KeyError" if how in ("never issued",) else None
            flag, result = self.call("iterator_next", (iid,), how, want=want)
            if how == "real" and not flag:
                if result is None:
                    self.iters.pop(iid, None)
                    self.stale_iters.add(iid)
                elif isinstance(result, tuple) and result and isinstance(result[0], bytes):
                    self.iters[iid]["tid"] = result[0]
                    self.tids.append(result[0])
        elif r < 0.70:
            iid, how = self._iter_id("txn")
            it = self.iters.get(iid) if how == "real" else None
            if it is not None and it["tid"] is not None and self.chance(0.8):
                tid, label = it["tid"], f"{how}, last tid"
            else:
                tid, label = self.rng.choice([self.some_tid(), self.bad_value()]), f"{how}, other tid"
            flag, rid = self.call("iterator_record_start", (iid, tid), label)
            if not flag and isinstance(rid, int):
                self.iters[rid] = {"kind": "rec", "tid": None}
        elif r < 0.90:
            rid, how = self._iter_id("rec")
            flag, result = self.call("iterator_record_next", (rid,), how)
            if how == "real" and not flag:
                if result is None:
                    self.iters.pop(rid, None)
                    self.stale_iters.add(rid)
                elif isinstance(result, tuple) and result and isinstance(result[0], bytes):
                    if result[0] not in self.readable:
                        self.readable.append(result[0])
                        del self.readable[1:-200]
        elif r < 0.97:
            ids = []
            for _ in range(self.rng.randrange(1, 4)):
                iid, how = self._iter_id(self.rng.choice(["txn", "rec"]))
                ids.append(iid)
            self.oneway("iterator_gc", (ids,), "mixed ids")
            for iid in ids:
                try:
                    if iid in self.iters:
                        del self.iters[iid]
                        self.stale_iters.add(iid)
                except TypeError:
                    pass
        else:
            self.oneway("iterator_gc", (self.rng.choice([5, None, b"x"]),), "not a list",
                        expect="close")

    # -- two-phase commit ------------------------------------------------------

    def act_begin(self) -> None:
        txn = self.txn
        ext = self.rng.choice([{}, {}, {"user": "fuzz", "n": 1}, {"nested": {"a": [1, 2]}},
                               {"x": b"bytes"}])
        user = self.rng.choice([b"", b"/ fuzz", "str user"])
        desc = self.rng.choice([b"fuzz", b"", "str desc \u00e9"])
        if txn is not None:
            # tpc_begin again: ZEO ignores the same id and closes for another one
            # (after a failed vote ZEO has no transaction any more: it accepts).
            same = self.chance(0.5)
            tid_id = txn.id if same else self.wrong_txn_id(txn.id)
            if self.read_only:
                expect = "close"
            elif txn.state in ("failed", "confused"):
                expect = "maybe"
            else:
                expect = "open" if same else "close"
            self.oneway("tpc_begin", (tid_id, user, desc, ext, None, " "),
                        ("same id again" if same else "another id while active")
                        + f" ({txn.state})", expect)
            if expect == "maybe" and not same:
                self.txn = Txn(tid_id)
                self.txn.state = "confused"
            return
        if self.chance(0.9):
            tid = None
            label = "valid"
            rr = self.rng.random()
            refused = False
            if rr < 0.03:
                tid, label, refused = self.rng.choice(self.tids), "explicit old tid", True
            elif rr < 0.05:
                from ZODB.TimeStamp import TimeStamp
                t = time.time() + self.rng.choice([1, 3])
                now = time.gmtime(t)
                tid = TimeStamp(*now[:5], min(now[5], 59) + (t % 1) * 0.99).raw()
                label = "explicit future tid"
            elif rr < 0.06 and self.far_future_tids:
                tid, label, refused = self.rng.choice(
                    [p64(2**63 - 5), b"\xff" * 8]), "explicit far-future tid", True
            elif rr < 0.07:
                tid, label = self.bad_value(), "odd tid"
                if isinstance(tid, bytes) and len(tid) == 8:
                    tid = None
            args = [self.new_txn_id(), user, desc, ext, tid, " "]
            if self.chance(0.03):
                args[5] = self.rng.choice(["p", None, 1])
                label += ", odd status"
            if self.chance(0.1):
                args = args[:4]
                label += ", 4 args"
                refused = False  # the tid went with the dropped arguments
            if self.chance(0.02):
                args[3] = self.rng.choice([None, [1, 2], "ext"])
                label += ", extension not a dict"
            odd = "odd" in label or "not a dict" in label
            expect = "close" if self.read_only else ("maybe" if odd else "open")
            self.oneway("tpc_begin", tuple(args), label, expect)
            if not self.read_only:
                self.txn = Txn(args[0])
                self.txn.refused = refused
                if odd:
                    self.txn.state = "confused"  # ZEO fails its vote; we may not
        else:
            args = self.rng.choice([
                (), (1,), (1, b""), (1, b"", b""), (1, 7, b"", {}), (1, b"", None, {}),
                (1, b"", b"", {}, None, " ", "extra")])
            self.oneway("tpc_begin", args,
                        "malformed, 7 args" if len(args) == 7 else "malformed", "close")
            if len(args) == 7 and not self.read_only:
                # ZEO closes (too many arguments); if the server took it instead, a
                # transaction with id 1 is open: be lenient about what follows.
                self.txn = Txn(1)
                self.txn.state = "confused"

    def act_data(self) -> None:
        """storea / restorea / checkCurrentSerialInTransaction / deleteObject / undoa.

        Variants: valid; "type" (a wrong type or length: ZEO logs the call and fails
        the vote, the translator may close at once); "arity" (a wrong number of
        arguments: ZEO closes)."""
        txn = self.txn
        if txn is not None and txn.maybe_voted and not self.data_after_vote:
            return self.act_read_misc()
        r = self.rng.random()
        cur = txn.id if txn is not None else self.new_txn_id()
        good_id = txn is not None and self.chance(0.92)
        tid_id = cur if good_id else self.wrong_txn_id(cur)
        oid = self.write_oid()
        if oid is None:
            return self.act_new_oids()
        serial = self.writable.get(oid)
        valid_serial = serial if serial is not None else Z64
        if self.chance(0.2):
            valid_serial = self.rng.choice([Z64, None, self.rng.choice(self.tids)])  # may conflict
        variant = self.rng.choices(["valid", "type", "arity"], [90, 6, 4])[0]
        label = "valid"
        data = b""
        if r < 0.55:
            name = "storea"
            data = self.record()
            if not isinstance(data, bytes):
                label = "record not bytes"
            args = {"valid": (oid, valid_serial, data, tid_id),
                    "type": self.rng.choice([(self.bad_value(), valid_serial, data, tid_id),
                                             (oid, self.bad_value(), data, tid_id)]),
                    "arity": self.rng.choice([(oid, valid_serial, tid_id),
                                              (oid, valid_serial, data, b"", tid_id)])}[variant]
        elif r < 0.65:
            name = "checkCurrentSerialInTransaction"
            args = {"valid": (oid, valid_serial, tid_id),
                    "type": (self.bad_value(), Z64, tid_id),
                    "arity": (oid, tid_id)}[variant]
        elif r < 0.75:
            name = "deleteObject"
            args = {"valid": (oid, valid_serial, tid_id),
                    "type": (oid, self.bad_value(), tid_id),
                    "arity": (oid, Z64, Z64, tid_id)}[variant]
        elif r < 0.85:
            name = "restorea"
            rdata = self.rng.choice([self.rng.choice(self.records), None])
            prev = None if self.chance(0.8) else self.rng.choice(self.tids)
            args = {"valid": (oid, self.rng.choice(self.tids), rdata, prev, tid_id),
                    "type": self.rng.choice([(oid, Z64, 5, None, tid_id),
                                             (oid, Z64, rdata, b"bad", tid_id)]),
                    "arity": (oid, Z64, rdata, tid_id)}[variant]
        else:
            name = "undoa"
            if self.own_tids and self.chance(0.8):
                undo_id = base64.encodebytes(self.rng.choice(self.own_tids))[:-1]
                label = "own tid"
            else:
                undo_id = self.rng.choice([b"garbage", b"", base64.encodebytes(MAXTID)[:-1]])
                label = "garbage id"
            args = {"valid": (undo_id, tid_id),
                    "type": (self.rng.choice([None, 5, "str"]), tid_id),
                    "arity": (undo_id,)}[variant]
        if variant != "valid":
            label = variant
        if not good_id:
            label += ", wrong txn id" if txn is not None else ", no transaction"
        if self.read_only:
            expect = "close"
        elif txn is None or not good_id or variant == "arity":
            expect = "close"  # ZEO's _check_tid raises, or the call raises TypeError
        elif txn.state in ("failed", "confused", "voted") or variant == "type":
            # after vote ZEO logs it and ignores it at finish; a type error fails
            # ZEO's vote, the translator refuses it at once
            expect = "maybe"
        else:
            expect = "open"
        if self.chance(0.05):
            # Synchronous data calls are answered (ZEO's own tests call them so).
            self.call(name, args, label + ", sync")
        else:
            self.oneway(name, args, label, expect)
        if txn is not None and good_id and expect != "close":
            txn.ops += 1
            if expect == "maybe":
                txn.state = "confused"
            elif name == "storea":
                if isinstance(data, bytes):
                    txn.stored[oid] = data
                else:
                    txn.refused = True
            elif name == "deleteObject":
                txn.deleted.add(oid)

    def act_blob(self) -> None:
        """storeBlobStart, chunks, storeBlobEnd (sometimes out of order)."""
        txn = self.txn
        if txn is not None and txn.maybe_voted and not self.data_after_vote:
            return self.act_read_misc()
        oid = self.write_oid()
        if oid is None:
            return self.act_new_oids()
        r = self.rng.random()
        clean = txn is not None and txn.state == "open" and not self.read_only
        if r < 0.75 and clean and not txn.blob_open:
            self.oneway("storeBlobStart", (), "valid", "open")
            txn.blob_open = True
            for _ in range(self.rng.randrange(0, 4)):
                chunk = bytes(self.rng.getrandbits(8)
                              for _ in range(self.rng.choice([0, 10, 500])))
                self.oneway("storeBlobChunk", (chunk,), "valid", "open")
            if self.chance(0.9):
                serial = self.writable.get(oid) or Z64
                good = self.chance(0.9)
                tid_id = txn.id if good else self.wrong_txn_id(txn.id)
                self.oneway("storeBlobEnd", (oid, serial, self.rng.choice(self.records),
                                             tid_id),
                            "valid" if good else "wrong txn id", "open" if good else "close")
                if good:
                    txn.blob_open = False
                    txn.stored[oid] = b"blob"
                    txn.blobs.add(oid)
                    txn.ops += 1
        elif r < 0.85:
            choice = self.rng.choice(["chunk", "end", "start"])
            if choice == "chunk":
                # ZEO closes (no temp file); the translator drops a chunk outside a
                # transaction and closes inside one.
                self.oneway("storeBlobChunk", (b"orphan",), "without start",
                            "close" if clean and not txn.blob_open else "maybe")
            elif choice == "end":
                if clean and not txn.blob_open:
                    self.oneway("storeBlobEnd", (oid, Z64, self.records[0], txn.id),
                                "without start", "close")
                elif txn is None:
                    self.oneway("storeBlobEnd", (oid, Z64, self.records[0],
                                                 self.new_txn_id()),
                                "no transaction", "close")
            else:
                if clean and txn.blob_open:
                    self.oneway("storeBlobStart", (), "twice", "close")
                elif txn is None and not self.read_only:
                    # ZEO opens a temp file even outside a transaction.
                    self.oneway("storeBlobStart", (), "outside txn", "maybe")
        elif r < 0.92:
            self.oneway("storeBlobChunk", (self.rng.choice([None, 5, "str", [b"x"]]),),
                        "chunk not bytes", "close" if clean and txn.blob_open else "maybe")
        else:
            tid_id = txn.id if txn is not None else self.new_txn_id()
            self.oneway("storeBlobShared", (oid, Z64, self.records[0], "x.tmp", tid_id),
                        "shared blob dir" if txn is not None else "no transaction",
                        "open" if clean else ("close" if txn is None else "maybe"))
            if clean:
                txn.refused = True

    def _txn_want(self, default: Optional[str]) -> Optional[str]:
        return "ZODB.POSException.ReadOnlyError" if self.read_only else default

    def _pick_txn_id(self):
        """The current transaction's id (mostly), or a wrong one; with a label."""
        txn = self.txn
        if txn is not None and self.chance(0.9):
            return txn.id, f"valid ({txn.state})"
        return (self.wrong_txn_id(txn.id if txn else None),
                "wrong txn id" if txn else "no transaction")

    def act_vote(self) -> None:
        txn = self.txn
        tid_id, label = self._pick_txn_id()
        if txn is not None and txn.blob_open and tid_id == txn.id:
            label += ", blob open"
        want = None
        must_fail = False
        if txn is None or txn.state in ("open", "voted"):
            if txn is None or tid_id != txn.id:
                want = "ZODB.POSException.StorageTransactionError"
            elif txn.state == "open" and txn.refused:
                must_fail = True
        flag, result = self.call("vote", (tid_id,), label, want=self._txn_want(want))
        if must_fail and not flag:
            self.anomaly("vote of a refused transaction succeeded",
                         "a record that is not bytes, a shared blob or a refused tid "
                         "must fail the vote")
        if txn is None or tid_id != txn.id:
            return
        if not flag:
            txn.maybe_voted = True
        if flag:
            txn.state = "failed"
        elif txn.state == "open":
            if not isinstance(result, (list, tuple)):
                self.anomaly("vote result is not a list", _short(result))
            txn.state = "voted"
        else:
            txn.state = "confused"  # a second vote

    def _finish(self, tid_id, label: str, want: Optional[str] = None) -> None:
        txn = self.txn
        flag, result = self.call("tpc_finish", (tid_id,), label, want=self._txn_want(want))
        if txn is None or tid_id != txn.id:
            return
        if txn.state == "voted" and not flag:
            if not (isinstance(result, bytes) and len(result) == 8):
                self.anomaly("tpc_finish after a good vote returned no tid", _short(result))
            else:
                if result > _tid_in(86400):
                    raise Finding(
                        f"FUTURE TID: tpc_finish committed tid {result.hex()}, more than a "
                        "day ahead of the clock; every later tid must be larger (ZEO "
                        "clients break once tids pass 2**63: their cache cannot hold them)")
                self.tids.append(result)
                self.own_tids.append(result)
                for oid in txn.stored:
                    if oid in self.writable:
                        self.writable[oid] = result
                for oid in txn.blobs:
                    self.blob_serials.append((oid, result))
                for oid in txn.deleted:
                    self.writable.pop(oid, None)
            self.txn = None
        elif txn.state == "open":
            # ZEO: AssertionError, the transaction stays; translator: None, ended.
            txn.state = "confused"
        else:
            self.txn = None

    def act_finish(self) -> None:
        txn = self.txn
        if txn is not None and self.chance(0.9):
            return self._finish(txn.id, f"valid ({txn.state})",
                                "ok" if txn.state == "voted" else None)
        tid_id = self.wrong_txn_id(txn.id if txn else None)
        flag, result = self.call(
            "tpc_finish", (tid_id,), "wrong txn id" if txn else "no transaction",
            want=self._txn_want("ok" if txn is None or txn.state in ("open", "voted")
                                else None))
        if not flag and result is not None and (txn is None or txn.state != "confused"):
            self.anomaly("tpc_finish of an unknown transaction returned a tid",
                         _short(result))

    def act_abort(self) -> None:
        txn = self.txn
        tid_id, label = self._pick_txn_id()
        self.call("tpc_abort", (tid_id,), label, want=self._txn_want("ok"))
        if txn is not None and tid_id == txn.id:
            self.txn = None

    def act_disconnect_in_txn(self) -> None:
        """Vanish mid-transaction (after vote: holding the commit lock)."""
        if self.chance(0.3) and self.wire is not None:
            # Half a frame, then gone.
            payload = self.encode(self._next_msgid(), False, "tpc_finish",
                                  (self.txn.id if self.txn else 1,))
            cut = self.rng.randrange(0, len(payload) + 4)
            self.raw(frame(payload)[:cut], "<half frame>",
                     f"{cut} of {len(payload) + 4} bytes, then gone", "maybe")
            self.disconnect(self.rng.choice(["close", "rst"]))
        else:
            self.disconnect(self.rng.choice(["close", "rst", "shutdown"]))

    # -- garbage ------------------------------------------------------------------

    def act_garbage(self) -> None:
        r = self.rng.random()
        if r < 0.3:
            name = self.rng.choice(["no_such_method", "load", "store", "__init__",
                                    "_vote", "lock_storage", "close", ""])
            if self.chance(0.5):
                self.call(name, (), "unknown method", expect="close")
            else:
                self.oneway(name, (), "unknown method", expect="close")
        elif r < 0.45:
            self.call("register", (STORAGE, False), "second register", expect="close")
        elif r < 0.65:
            # A synchronous method called one-way: ZEO runs it, sends nothing.
            name, args = self.rng.choice([("ping", ()), ("lastTransaction", ()),
                                          ("get_info", ()), ("new_oids", (1,)),
                                          ("loadBefore", (Z64, MAXTID)),
                                          ("vote", (12345,)), ("tpc_abort", (12345,))])
            expect = "close" if name == "vote" else "open"
            if self.read_only and name in ("new_oids", "tpc_abort"):
                expect = "close"
            self.oneway(name, args, "sync method one-way", expect)
        elif r < 0.72:
            self.raw(frame(self.encode(0, 0, ".reply", None)), ".reply", "sent by the client",
                     "close")
        elif r < 0.80:
            self.raw(frame(b"\x80\x03garbage" if self.conn_letter == "Z" else b"\xc1\xc1"),
                     "<garbage frame>", "undecodable", "close")
        elif r < 0.85:
            # ZEO answers a TypeError; the translator may close instead.
            self.call("ping", 5, "args not a tuple", expect="maybe")
        elif r < 0.9:
            self.raw(struct.pack(">I", 80 << 20) + b"x" * 16, "<oversized frame>",
                     "80 MiB length", "close")
            self.call("ping", (), "after oversized", expect="close")
        else:
            payload = self.encode(self._next_msgid(), False, "lastTransaction", ())
            cut = self.rng.randrange(1, len(payload) + 4)
            self.raw(frame(payload)[:cut], "<half frame>", "then gone", "maybe")
            self.disconnect(self.rng.choice(["close", "rst", "shutdown"]))

    # -- weights per state ----------------------------------------------------------

    IDLE = ([act_load, act_pipeline, act_read_misc, act_new_oids, act_iterator, act_begin,
             act_data, act_blob, act_vote, act_finish, act_abort, act_garbage,
             act_heartbeat],
            [22, 3, 22, 4, 12, 18, 1.5, 0.5, 1.5, 1.5, 2, 1.2, 0.5])
    IN_TXN = ([act_data, act_blob, act_load, act_read_misc, act_iterator, act_vote,
               act_finish, act_abort, act_begin, act_disconnect_in_txn, act_garbage,
               act_new_oids, act_server_status],
              [34, 4, 8, 4, 2, 22, 2, 5, 2, 1, 0.5, 3, 1])
    VOTED = ([act_finish, act_abort, act_vote, act_data, act_load, act_read_misc,
              act_iterator, act_begin, act_disconnect_in_txn, act_garbage,
              act_server_status],
             [50, 12, 2, 2, 6, 3, 1, 1, 5, 0.5, 2])
    AFTER_FAILURE = ([act_abort, act_finish, act_vote, act_data, act_begin, act_load,
                      act_read_misc, act_disconnect_in_txn, act_server_status],
                     [50, 8, 5, 4, 4, 4, 2, 2, 3])

    # -- reporting -------------------------------------------------------------------

    def take_stats(self) -> dict:
        out = {
            "calls": dict(self.stats["calls"]),
            "replies": dict(self.stats["replies"]),
            "closes": dict(self.stats["closes"]),
            "client_disconnects": dict(self.stats["client_disconnects"]),
            "connections": self.stats["connections"],
            "max_latency": dict(self.stats["max_latency"]),
            "error_examples": dict(self.stats["error_examples"]),
            "anomalies": self.anomalies,
        }
        for k in ("calls", "replies", "closes", "client_disconnects"):
            self.stats[k] = collections.Counter()
        self.stats["connections"] = 0
        self.stats["max_latency"] = {}
        self.stats["error_examples"] = {}
        self.anomalies = {}
        return out


# ----------------------------------------------------------------- worker process


def worker_main(pipe, index: int, addr, seed: int, encoding: str, call_timeout: float,
                empty_records: bool = False, far_future_tids: bool = True,
                data_after_vote: bool = True):
    """Runs in a child process: obeys ("run", n) and ("stop",) from the pipe."""
    fuzzer = SessionFuzzer(index, addr, seed, encoding, call_timeout, empty_records,
                           far_future_tids, data_after_vote)
    while True:
        try:
            command = pipe.recv()
        except EOFError:
            return
        if command[0] == "stop":
            if fuzzer.wire is not None:
                fuzzer.wire.close()
            return
        finding = None
        t0 = time.monotonic()
        calls0 = fuzzer.calls
        try:
            fuzzer.run(command[1])
        except Finding as e:
            finding = str(e)
        except Hang as e:
            finding = f"HANG: {e} within {call_timeout:.0f}s (worker {index})"
        except OSError as e:
            finding = f"CONNECT/SOCKET FAILURE in worker {index}: {e!r}"
        except Exception as e:  # a bug of the fuzzer itself, or a socket error
            finding = f"FUZZER ERROR in worker {index}: {e!r}\n{traceback.format_exc()}"
        pipe.send({
            "worker": index,
            "calls": fuzzer.calls - calls0,
            "seconds": time.monotonic() - t0,
            "stats": fuzzer.take_stats(),
            "finding": finding,
            "history": list(fuzzer.history),
        })
        if finding:
            return


# ------------------------------------------------------------------ health checks


def good_client_commits(cluster, deadline: float, value) -> tuple[bool, float, str]:
    """A real ZODB client (ZODB.DB over ZEO.ClientStorage on the translator) commits
    a change to the root within `deadline` seconds. Returns (ok, seconds, error)."""
    import transaction
    outcome: dict = {}

    def run():
        t0 = time.monotonic()
        try:
            db = cluster.db(wait_timeout=deadline)
            try:
                tm = transaction.TransactionManager()
                conn = db.open(transaction_manager=tm)
                root = conn.root()
                root["session_fuzz_check"] = value
                tm.get().note("session_fuzz: good client")
                tm.commit()
                committed = root._p_serial
                conn.close()
                # And a second connection of the same DB reads it back.
                tm2 = transaction.TransactionManager()
                conn2 = db.open(transaction_manager=tm2)
                if conn2.root()["session_fuzz_check"] != value:
                    raise AssertionError("the committed value does not read back")
                conn2.close()
                outcome["tid"] = committed
            finally:
                db.close()
            outcome["ok"] = time.monotonic() - t0
        except BaseException:
            outcome["error"] = traceback.format_exc()

    t0 = time.monotonic()
    thread = threading.Thread(target=run, name="good-client", daemon=True)
    thread.start()
    thread.join(deadline)
    took = time.monotonic() - t0
    if thread.is_alive():
        return False, took, (f"the good client did not commit within {deadline:.0f}s "
                             "(a leaked commit lock, or a hung translator/raidcore)")
    if "error" in outcome:
        return False, took, "the good client failed:\n" + outcome["error"]
    return True, took, ""


def _exit_status(rc) -> str:
    if rc is not None and rc < 0:
        try:
            return f"killed by {signal.Signals(-rc).name}"
        except ValueError:
            return f"killed by signal {-rc}"
    return f"exit status {rc}"


def health_check(cluster, deadline: float, value) -> tuple[list, float]:
    """([problems], seconds the good client took)."""
    problems = []
    for p in cluster.supervisor.processes:
        if not p.running():
            problems.append(f"PROCESS DIED: {p.name} pid={p.pid} "
                            f"({_exit_status(p.returncode)})")
    if problems:
        return problems, 0.0
    ok, took, error = good_client_commits(cluster, deadline, value)
    if not ok:
        problems.append("GOOD CLIENT: " + error)
    try:
        status = cluster.raidcore.status()
        state = status.get("state")
        if state != "optimal":
            problems.append(f"RAID STATE is {state!r}, not optimal: "
                            f"{json.dumps(status, indent=1)[:3000]}")
    except Exception as e:
        problems.append(f"RAID STATE could not be read: {e!r}")
    for p in cluster.supervisor.processes:
        if not p.running():
            problems.append(f"PROCESS DIED: {p.name} pid={p.pid} "
                            f"({_exit_status(p.returncode)})")
    return problems, took


def _storage_history(storage) -> list:
    """(tid, status, user, description, extension, records) of every transaction."""
    out = []
    it = storage.iterator()
    try:
        for info in it:
            ext = getattr(info, "extension", None)
            if ext is None:
                ext = getattr(info, "_extension", None)
            records = tuple((r.oid, r.data, r.data_txn) for r in info)
            out.append((info.tid, info.status, info.user, info.description,
                        repr(ext), records))
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()
    return out


def _backend_history(backend) -> list:
    """A backend's history, from its file (fast; nothing writes once the fuzzing
    stopped), else over ZEO (a file with an empty record cannot be scanned)."""
    from ZODB.FileStorage import FileStorage
    try:
        storage = FileStorage(str(backend.data_fs), read_only=True)
    except Exception:
        from ZEO.ClientStorage import ClientStorage
        storage = ClientStorage(backend.addr, storage=STORAGE, read_only=True,
                                wait_timeout=30)
    try:
        return _storage_history(storage)
    finally:
        storage.close()


def compare_mirrors(cluster) -> tuple[list, int]:
    """The backends' histories must be identical (same tids, same records).
    Returns (problems, transactions compared)."""
    import logging
    fs_log = logging.getLogger("ZODB.FileStorage")
    level = fs_log.level
    fs_log.setLevel(logging.ERROR)  # "records N seconds in the future" etc.
    try:
        histories = {b.name: _backend_history(b) for b in cluster.backends}
    finally:
        fs_log.setLevel(level)
    names = list(histories)
    first = histories[names[0]]
    problems = []
    for name in names[1:]:
        other = histories[name]
        if other == first:
            continue
        if len(other) != len(first):
            problems.append(f"MIRRORS DIFFER: {names[0]} has {len(first)} transactions, "
                            f"{name} has {len(other)}")
        for a, b in zip(first, other):
            if a != b:
                problems.append(f"MIRRORS DIFFER at {harness.tid_repr(a[0])} / "
                                f"{harness.tid_repr(b[0])}:\n  {names[0]}: {_short(a, 400)}"
                                f"\n  {name}: {_short(b, 400)}")
                break
    return problems, len(first)


# ----------------------------------------------------------------------- the run


def _merge(total: dict, stats: dict) -> None:
    for k in ("calls", "replies", "closes", "client_disconnects"):
        total[k].update(stats[k])
    total["connections"] += stats["connections"]
    for name, v in stats["max_latency"].items():
        if v > total["max_latency"].get(name, 0.0):
            total["max_latency"][name] = v
    for cls, text in stats["error_examples"].items():
        total["error_examples"].setdefault(cls, text)
    for sig, entry in stats["anomalies"].items():
        mine = total["anomalies"].get(sig)
        if mine is None:
            total["anomalies"][sig] = dict(entry)
        else:
            mine["count"] += entry["count"]


LOG_NOISE = re.compile(r"0x[0-9a-f]+|[0-9a-f]{16}|\b\d+(\.\d+)?\b|127\.0\.0\.1:\d+|'[^']*'")


def summarize_logs(cluster, max_patterns: int = 25) -> str:
    """WARNING/ERROR lines of the translator's and raidcore's logs, ERROR lines of the
    backends' (runzeo logs the errors of the calls it fails), by pattern."""
    out = []
    for p in cluster.supervisor.processes:
        ours = p.name in ("translator", "raidcore")
        levels = (" WARNING ", " ERROR ", " FATAL ", " CRITICAL ") if ours else (
            " ERROR ", " CRITICAL ")
        counts: collections.Counter = collections.Counter()
        examples: dict = {}
        try:
            with open(p.log_path, "r", errors="replace") as f:
                for line in f:
                    if not any(level in line for level in levels) and not (
                            ours and line[:1] in "EF" and "] " in line):
                        continue
                    body = line.split(" ", 1)[1] if " " in line else line
                    key = LOG_NOISE.sub("N", body.strip())[:160]
                    counts[key] += 1
                    examples.setdefault(key, line.strip()[:400])
        except OSError as e:
            out.append(f"{p.name}: cannot read {p.log_path}: {e}")
            continue
        out.append(f"{p.name} ({p.log_path}): {sum(counts.values())} "
                   f"{'WARNING/ERROR' if ours else 'ERROR'} lines, {len(counts)} patterns")
        for key, n in counts.most_common(max_patterns if ours else 12):
            out.append(f"  {n:8d}  {examples[key]}")
    return "\n".join(out)


@dataclasses.dataclass
class FuzzResult:
    seed: int
    calls: int = 0
    seconds: float = 0.0
    fuzz_seconds: float = 0.0
    checks: int = 0
    max_check_seconds: float = 0.0
    findings: list = dataclasses.field(default_factory=list)
    totals: dict = dataclasses.field(default_factory=dict)
    log_summary: str = ""

    @property
    def anomalies(self) -> dict:
        return self.totals.get("anomalies", {})

    def summary(self, examples: bool = True) -> str:
        t = self.totals
        lines = [
            f"seed {self.seed}: {self.calls} calls in {self.seconds:.1f}s "
            f"({self.calls / max(self.seconds, 1e-9):.0f} calls/s overall, "
            f"{self.calls / max(self.fuzz_seconds, 1e-9):.0f} calls/s while fuzzing), "
            f"{self.checks} health checks (slowest good-client commit "
            f"{self.max_check_seconds:.2f}s), {t.get('connections', 0)} connections",
        ]
        calls = t.get("calls", {})
        lines.append("calls by kind:")
        for name, n in sorted(calls.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:9d}  {name}")
        replies = t.get("replies", {})
        lines.append(f"replies: {sum(replies.values())}, by class:")
        examples_of = t.get("error_examples", {})
        for name, n in sorted(replies.items(), key=lambda kv: -kv[1]):
            example = examples_of.get(name)
            lines.append(f"  {n:9d}  {name}" + (f"  (e.g. {example})" if example else ""))
        closes = t.get("closes", {})
        lines.append(f"server-closed connections: {sum(closes.values())}, after:")
        for name, n in sorted(closes.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {n:9d}  {name}")
        disc = t.get("client_disconnects", {})
        lines.append(f"client disconnects: {sum(disc.values())}, "
                     + ", ".join(f"{k}: {v}" for k, v in sorted(disc.items())))
        ml = t.get("max_latency", {})
        slow = sorted(ml.items(), key=lambda kv: -kv[1])[:8]
        lines.append("slowest replies: " + ", ".join(f"{k} {v:.2f}s" for k, v in slow))
        an = self.anomalies
        lines.append(f"anomalies (differences from a ZEO server; not fatal): "
                     f"{sum(e['count'] for e in an.values())} in {len(an)} kinds")
        for sig, entry in sorted(an.items(), key=lambda kv: -kv[1]["count"]):
            lines.append(f"  {entry['count']:7d}  {sig}")
        if examples and an:
            lines.append("first example of each anomaly (with the client's previous calls):")
            for sig, entry in sorted(an.items(), key=lambda kv: -kv[1]["count"]):
                lines.append(f"--- {sig}\n{entry['example']}")
        if self.findings:
            lines.append(f"FINDINGS: {len(self.findings)}")
            for f in self.findings:
                lines.append(f)
        else:
            lines.append("no findings")
        return "\n".join(lines)


def run_fuzz(cluster, options: FuzzOptions, log=print) -> FuzzResult:
    """Fuzz the translator of a started raid `cluster`; returns the result (its
    `findings` list is empty when nothing went wrong)."""
    seed = options.resolved_seed()
    result = FuzzResult(seed=seed)
    totals = {"calls": collections.Counter(), "replies": collections.Counter(),
              "closes": collections.Counter(), "client_disconnects": collections.Counter(),
              "connections": 0, "max_latency": {}, "error_examples": {}, "anomalies": {}}
    result.totals = totals
    addr = cluster.addr
    ctx = multiprocessing.get_context("spawn")
    workers = []
    for i in range(options.workers):
        parent, child = ctx.Pipe()
        p = ctx.Process(target=worker_main, name=f"session-fuzz-{i}",
                        args=(child, i, addr, seed, options.encoding, options.call_timeout,
                              options.empty_records, options.far_future_tids,
                              options.data_after_vote),
                        daemon=True)
        p.start()
        child.close()
        workers.append((p, parent))
    log(f"session_fuzz: seed {seed}, {options.calls} calls, {options.workers} workers, "
        f"check every {options.check_every}, encoding {options.encoding}, far-future tids "
        f"{'on' if options.far_future_tids else 'off'}, data after vote "
        f"{'on' if options.data_after_vote else 'off'}, translator at "
        f"{harness.format_addr(addr)}")
    t_start = time.monotonic()
    check_no = 0
    # A worker that reports nothing for this long is stuck (its calls time out alone).
    stall = options.call_timeout * 4 + 120
    try:
        while result.calls < options.calls and not result.findings:
            quota = min(options.check_every, options.calls - result.calls)
            per = [quota // options.workers + (1 if i < quota % options.workers else 0)
                   for i in range(options.workers)]
            t0 = time.monotonic()
            waiting = {}
            for (p, pipe), n in zip(workers, per):
                if n > 0:
                    pipe.send(("run", n))
                    waiting[pipe] = p
            while waiting:
                ready = multiprocessing.connection.wait(list(waiting), timeout=stall)
                if not ready:
                    result.findings.append(
                        f"STUCK: workers {[p.name for p in waiting.values()]} reported "
                        f"nothing for {stall:.0f}s")
                    break
                for pipe in ready:
                    p = waiting.pop(pipe)
                    try:
                        report = pipe.recv()
                    except EOFError:
                        result.findings.append(f"FUZZER ERROR: worker {p.name} died "
                                               f"(exit {p.exitcode})")
                        continue
                    result.calls += report["calls"]
                    _merge(totals, report["stats"])
                    if report["finding"]:
                        result.findings.append(
                            f"{report['finding']}\nseed {seed}; last calls of worker "
                            f"{report['worker']}:\n" + "\n".join(report["history"]))
            result.fuzz_seconds += time.monotonic() - t0
            if result.findings:
                # Name a process that died first: the workers only saw it go away.
                time.sleep(0.5)
                dead = [f"PROCESS DIED: {p.name} pid={p.pid} ({_exit_status(p.returncode)})"
                        f"; seed {seed}, after about {result.calls} calls"
                        for p in cluster.supervisor.processes if not p.running()]
                result.findings[:0] = dead
                break
            check_no += 1
            problems, took = health_check(cluster, options.commit_deadline, check_no)
            result.checks += 1
            result.max_check_seconds = max(result.max_check_seconds, took)
            if problems:
                result.findings.extend(f"{p}\nseed {seed}, after {result.calls} calls"
                                       for p in problems)
                break
            elapsed = time.monotonic() - t_start
            log(f"  {result.calls:9d}/{options.calls} calls  "
                f"{result.calls / max(elapsed, 1e-9):6.0f} calls/s  "
                f"closes {sum(totals['closes'].values())}  "
                f"anomalies {sum(e['count'] for e in totals['anomalies'].values())}  "
                f"check {check_no} ok (good commit {took:.2f}s)")
        if not result.findings and options.compare_mirrors:
            t0 = time.monotonic()
            problems, n = compare_mirrors(cluster)
            result.findings.extend(problems)
            log(f"  mirrors compared ({n} transactions) in {time.monotonic() - t0:.1f}s: "
                f"{'identical' if not problems else 'DIFFERENT'}")
    finally:
        for p, pipe in workers:
            try:
                pipe.send(("stop",))
            except (OSError, BrokenPipeError):
                pass
        for p, pipe in workers:
            p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(5)
        result.seconds = time.monotonic() - t_start
        try:
            result.log_summary = summarize_logs(cluster)
        except Exception as e:
            result.log_summary = f"(log summary failed: {e!r})"
    if result.findings:
        tails = []
        for title, text in cluster.logs():
            tails.append(f"--- {title} (tail)\n{text[-6000:]}")
        result.findings.append("process logs:\n" + "\n".join(tails))
    return result


def raidcore_refuses_future_tids() -> bool:
    """Whether the raidcore binary has --max_tid_ahead (refuses explicit tids far
    ahead of the clock). Older builds commit them (see FuzzOptions.far_future_tids)."""
    import subprocess
    try:
        out = subprocess.run([str(harness.binary("raidcore", "zeoraid-raidcore")),
                              "--helpfull"], capture_output=True, text=True, timeout=30,
                             stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError, harness.StartupError):
        return False
    return "max_tid_ahead" in out.stdout + out.stderr


# -------------------------------------------------------------------------- CLI


def _wait_for_binaries(timeout: float = 600.0) -> None:
    """The binaries may be rebuilt under us: wait until they are all there."""
    deadline = time.monotonic() + timeout
    names = [("raidcore", "zeoraid-raidcore"), ("translator", "zeoraid-translator"),
             ("admin", "zeoraid-admin")]
    while True:
        missing = [n for pkg, n in names
                   if not os.access(harness.bin_dir() / pkg / n, os.X_OK)]
        if not missing or time.monotonic() > deadline:
            return
        print(f"waiting for {missing} in {harness.bin_dir()} (being rebuilt?)", flush=True)
        time.sleep(5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="session_fuzz.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 no finding, 1 findings (details printed), 2 usage "
               "or start-up error. Environment: ZEORAID_BIN_DIR (binaries, default "
               "bazel-bin), ZEORAID_LOG_LEVEL (info).")
    parser.add_argument("--calls", type=int, default=1_000_000,
                        help="total calls (frames) to send over all clients (default "
                             "1000000)")
    parser.add_argument("--workers", type=int, default=4,
                        help="raw clients, each in its own process with one connection at "
                             "a time (default 4)")
    parser.add_argument("--seed", type=int, default=None,
                        help="random seed for reproducibility (default: a random one, "
                             "printed)")
    parser.add_argument("--check-every", type=int, default=20_000, metavar="M",
                        help="calls between health checks: processes alive, RAID "
                             "optimal, a good client commits (default 20000)")
    parser.add_argument("--encoding", choices=["pickle", "msgpack"], default="pickle",
                        help="what the translator announces: Z5 (pickle) or M5 (msgpack, "
                             "translator --msgpack); clients answer with the other letter "
                             "on 10%% of connections (default pickle)")
    parser.add_argument("--call-timeout", type=float, default=30.0, metavar="S",
                        help="a reply slower than this is a hang (default 30)")
    parser.add_argument("--commit-deadline", type=float, default=20.0, metavar="S",
                        help="the good client's commit must finish within this (default "
                             "20; below raidcore's 30 s --commit_lock_timeout)")
    parser.add_argument("--no-blobs", action="store_true",
                        help="backends without blob directories")
    parser.add_argument("--empty-records", action="store_true",
                        help="also store empty records (b''); off by default since "
                             "FileStorage cannot rescan a file holding one (ZODB's "
                             "limitation, on plain ZEO too)")
    parser.add_argument("--no-far-future-tids", action="store_true",
                        help="do not send tpc_begin with explicit tids far in the future "
                             "(only to look past a RAID that accepts them)")
    parser.add_argument("--no-data-after-vote", action="store_true",
                        help="no data calls after a successful vote (only to look past "
                             "a translator that crashes on them)")
    parser.add_argument("--no-compare", action="store_true",
                        help="skip comparing the backends' histories at the end")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="directory for the cluster's data and logs (default: a new "
                             "temporary one, deleted after a run without findings)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory even without findings")
    parser.add_argument("--examples", action="store_true",
                        help="print an example call sequence for every anomaly kind")
    args = parser.parse_args(argv)
    if args.calls <= 0 or args.workers <= 0 or args.check_every <= 0:
        parser.error("--calls, --workers and --check-every must be positive")
    options = FuzzOptions(calls=args.calls, workers=args.workers, seed=args.seed,
                          check_every=args.check_every, encoding=args.encoding,
                          call_timeout=args.call_timeout,
                          commit_deadline=args.commit_deadline,
                          compare_mirrors=not args.no_compare,
                          empty_records=args.empty_records,
                          far_future_tids=not args.no_far_future_tids,
                          data_after_vote=not args.no_data_after_vote)
    seed = options.resolved_seed()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="session_fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"session_fuzz: seed {seed}; work directory {workdir}", flush=True)
    _wait_for_binaries()
    cluster = harness.Cluster(workdir, **cluster_options(args.encoding,
                                                         blobs=not args.no_blobs))
    result = None
    stop_error = None
    try:
        try:
            cluster.start()
        except harness.StartupError as e:
            print(f"could not start the RAID: {e}", file=sys.stderr)
            return 2
        result = run_fuzz(cluster, options, log=lambda m: print(m, flush=True))
    finally:
        try:
            cluster.stop()
        except Exception as e:  # a process that died or crashed while stopping
            stop_error = e
    print(result.summary(examples=args.examples or bool(result.findings)))
    print("log lines by pattern (translator/raidcore: WARNING and ERROR; backends: ERROR):")
    print(result.log_summary)
    if stop_error is not None:
        print(f"FINDING at shutdown: {stop_error}")
    failed = bool(result.findings) or stop_error is not None
    print(f"session_fuzz: seed {seed}: {'FAILED' if failed else 'passed'}; "
          f"logs in {workdir}" if failed or args.keep else
          f"session_fuzz: seed {seed}: passed")
    if not failed and not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
