"""ZEORaid's recording relay for the ZEO protocol (loopback only).

A TCP proxy placed between a real ZEO client and a real ZEO server. Bytes are
forwarded unchanged in both directions; on the side, each direction is split
into ZEO sized frames (4-byte big-endian length + payload) and every frame is
written as one JSON object per line, in the format of the shared capture files
(``shared/zeo-vectors/*.jsonl``, see its README):

``PREFIX.c2s.jsonl`` / ``PREFIX.s2c.jsonl``
    one record per frame: ``seq``, ``conn``, ``conn_name``, ``dir``,
    ``index_in_dir``, ``t``, ``payload_len``, ``frame_hex``, ``kind``
    (``handshake``, ``message`` or ``ruok-json``), ``encoding`` (``pickle`` or
    ``msgpack``), and for decodable messages ``msgid``, ``flag``, ``method``,
    ``decoded`` (a repr), ``value`` (typed JSON, see :func:`typed`) and, for
    pickle, ``opcodes``; ``decode_error`` when a payload does not decode.
``PREFIX.timeline.txt``
    both directions merged in capture order, with ``STEP:`` markers.

Pickle payloads are decoded by :class:`StubUnpickler`, which never imports
anything: every global becomes a :class:`Global` stub. Non-finite floats are
written as ``"v": "nan"`` / ``"inf"`` / ``"-inf"`` (strict JSON has no such
numbers); ``hex`` holds the exact bits of every float.

Library use::

    with RecordingRelay(("127.0.0.1", server_port), "out/session") as relay:
        ClientStorage(relay.addr)  # ...
        relay.marker("step two")

CLI: ``python relay.py --upstream 127.0.0.1:8100 --out out/session``
(listens on a free loopback port, prints it, runs until SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import pickle
import pickletools
import signal
import socket
import struct
import sys
import threading
import time
from typing import Any, Optional

log = logging.getLogger("zeoraid.relay")

LOOPBACK = "127.0.0.1"
Address = tuple  # (host, port)

# Opcodes only memoizing picklers write; ZEO's fast pickler never does.
MEMO_OPCODES = frozenset(
    {"BINPUT", "LONG_BINPUT", "MEMOIZE", "BINGET", "LONG_BINGET", "PUT", "GET", "FRAME"})


# ---------------------------------------------------------------------------
# Decoding (no imports of pickled globals, ever).


class Global:
    """Stand-in for a pickle global ``module.name``; calling it (REDUCE) or
    ``__new__`` on it (NEWOBJ) gives an :class:`Obj`."""

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name
        # NEWOBJ calls cls.__new__(cls, *args): an instance attribute shadows
        # type.__new__ for that lookup.
        self.__new__ = lambda _cls, *args: Obj(self, args, reduce=False)

    def __call__(self, *args):
        return Obj(self, args, reduce=True)

    @property
    def path(self) -> str:
        return f"{self.module}.{self.name}"

    def __repr__(self) -> str:
        return f"<global {self.path}>"

    def __eq__(self, other) -> bool:
        return isinstance(other, Global) and self.path == other.path

    def __hash__(self) -> int:
        return hash(self.path)


class Obj:
    """An object built from a stub global; BUILD stores its state."""

    def __init__(self, cls: Global, args: tuple, reduce: bool):
        self.cls, self.args, self.reduce, self.state = cls, args, reduce, None

    def __setstate__(self, state) -> None:
        self.state = state

    def __repr__(self) -> str:
        r = f"{self.cls!r}{self.args!r}"
        return r if self.state is None else f"{r} state={self.state!r}"


class StubUnpickler(pickle._Unpickler):  # the pure-Python one: NEWOBJ on stubs
    """Unpickler that resolves every global to a :class:`Global` stub and
    refuses persistent ids; it imports nothing."""

    def find_class(self, module, name):
        return Global(module, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def loads_restricted(payload: bytes) -> Any:
    """Decodes a pickle without importing anything (globals become stubs)."""
    return StubUnpickler(io.BytesIO(payload)).load()


def loads_msgpack(payload: bytes) -> Any:
    """Decodes msgpack as a ZEO peer does (arrays as tuples), int keys allowed."""
    import msgpack  # ZEO imports it lazily too; only needed for M5 traffic

    return msgpack.unpackb(payload, raw=False, use_list=False, strict_map_key=False)


def decode_payload(payload: bytes, encoding: str) -> Any:
    if encoding == "pickle":
        return loads_restricted(payload)
    if encoding == "msgpack":
        return loads_msgpack(payload)
    raise ValueError(f"unknown encoding {encoding!r}")


def pickle_opcodes(payload: bytes) -> list[str]:
    return sorted({op.name for op, _arg, _pos in pickletools.genops(payload)})


def _float_node(v: float) -> dict:
    shown: Any = v if math.isfinite(v) else ("nan" if math.isnan(v) else ("inf" if v > 0 else "-inf"))
    return {"t": "float", "v": shown, "hex": struct.pack(">d", v).hex()}


def typed(v: Any, msgpack: bool = False) -> dict:
    """Language-neutral typed JSON rendering of a decoded value (the README's
    ``value`` form). With ``msgpack``, sequences are ``array`` and dicts ``map``."""
    if v is None:
        return {"t": "none"}
    if isinstance(v, bool):
        return {"t": "bool", "v": v}
    if isinstance(v, int):
        return {"t": "int", "v": str(v) if abs(v) >= 2**53 else v}
    if isinstance(v, float):
        return _float_node(v)
    if isinstance(v, bytes):
        return {"t": "bytes", "hex": v.hex()}
    if isinstance(v, str):
        return {"t": "str", "v": v}  # json.dumps escapes lone surrogates
    if isinstance(v, (tuple, list)):
        t = "array" if msgpack else ("tuple" if isinstance(v, tuple) else "list")
        return {"t": t, "v": [typed(x, msgpack) for x in v]}
    if isinstance(v, dict):
        return {"t": "map" if msgpack else "dict",
                "v": [[typed(k, msgpack), typed(x, msgpack)] for k, x in v.items()]}
    if isinstance(v, Obj):
        node = {"t": "object", "global": v.cls.path, "args": typed(v.args), "state": typed(v.state)}
        if v.reduce:
            node["reduce"] = True
        return node
    if isinstance(v, Global):  # a bare global (e.g. a class passed as a value)
        return {"t": "object", "global": v.path, "args": {"t": "none"}, "state": {"t": "none"}}
    return {"t": "unknown", "repr": repr(v)}


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------
# Recording.


class Recorder:
    """Writes frame records (JSONL per direction) and a merged timeline."""

    def __init__(self, prefix: str, decoded_limit: int = 2000, dis: bool = False):
        self.prefix = prefix
        self.decoded_limit = decoded_limit
        self.dis = dis
        self.conn_names: dict[int, str] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._t0 = time.monotonic()
        self._closed = False
        self._files = {d: open(f"{prefix}.{d}.jsonl", "w", encoding="utf-8") for d in ("c2s", "s2c")}
        self._timeline = open(f"{prefix}.timeline.txt", "w", encoding="utf-8")
        self.counts = {"c2s": 0, "s2c": 0, "decode_errors": 0}

    def _elapsed(self) -> float:
        return time.monotonic() - self._t0

    def marker(self, text: str) -> None:
        with self._lock:
            if self._closed:
                return
            self._seq += 1
            self._timeline.write(f"\n#### [{self._seq:04d} t={self._elapsed():8.3f}] STEP: {text}\n")
            self._timeline.flush()
        log.info("step: %s", text)

    def note(self, text: str) -> None:
        with self._lock:
            if not self._closed:
                self._timeline.write(f"     -- {text}\n")
                self._timeline.flush()

    def frame(self, conn: int, direction: str, index: int, payload: bytes,
              kind: str, encoding: Optional[str]) -> None:
        rec: dict[str, Any] = {
            "seq": 0, "conn": conn, "conn_name": self.conn_names.get(conn),
            "dir": direction, "index_in_dir": index, "t": 0.0,
            "payload_len": len(payload),
            "frame_hex": (struct.pack(">I", len(payload)) + payload).hex(),
            "kind": kind,
        }
        if encoding:
            rec["encoding"] = encoding
        if kind == "handshake":
            rec["decoded"] = repr(payload)
            summary = f"HANDSHAKE {payload!r}"
        elif kind == "ruok-json":
            rec["decoded"] = payload.decode("ascii", "replace")
            summary = "RUOK-JSON " + _short(rec["decoded"], 200)
        else:
            summary = self._decode_message(rec, payload, encoding)
        with self._lock:
            if self._closed:
                return
            self._seq += 1
            rec["seq"] = self._seq
            rec["t"] = round(self._elapsed(), 6)
            self.counts[direction] += 1
            self.counts["decode_errors"] += "decode_error" in rec
            self._files[direction].write(json.dumps(rec) + "\n")
            self._files[direction].flush()
            arrow = "-->" if direction == "c2s" else "<--"
            name = self.conn_names.get(conn, f"conn{conn}")
            self._timeline.write(f"[{self._seq:04d} t={rec['t']:8.3f}] {name:>14} {arrow} "
                                 f"len={len(payload):<7} {summary}\n")
            self._timeline.flush()

    def _decode_message(self, rec: dict, payload: bytes, encoding: Optional[str]) -> str:
        try:
            msg = decode_payload(payload, encoding or "pickle")
            if encoding == "pickle":
                rec["opcodes"] = pickle_opcodes(payload)
                if self.dis:
                    out = io.StringIO()
                    pickletools.dis(payload, out)
                    rec["pickle_dis"] = out.getvalue()
            rec["value"] = typed(msg, msgpack=encoding == "msgpack")
            msgid, flag, name, args = msg
        except Exception as e:  # undecodable or not a 4-sequence: record, go on
            rec["decode_error"] = repr(e)
            log.warning("undecodable %s frame: %r", encoding, e)
            return f"UNDECODABLE {e!r}"
        rec["msgid"] = msgid if isinstance(msgid, int) else repr(msgid)
        rec["flag"] = flag if isinstance(flag, (int, bool)) else repr(flag)
        rec["method"] = name
        rec["decoded"] = _short(repr(msg), self.decoded_limit)
        return f"msgid={msgid!r} flag={flag!r} {name} {_short(repr(args), 300)}"

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for f in self._files.values():
                f.close()
            self._timeline.close()


class _Connection:
    """One proxied client connection: two pump threads and their sockets."""

    def __init__(self, number: int, client: socket.socket, server: socket.socket):
        self.number = number
        self.client, self.server = client, server
        self.encoding: Optional[str] = None  # set by the client's handshake
        self.threads: list[threading.Thread] = []
        self.open_pumps = 2

    def close(self) -> None:
        for s in (self.client, self.server):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class RecordingRelay:
    """Loopback TCP relay in front of ``upstream`` that records every frame.

    ``out_prefix`` names the output files (see the module docstring); pass a
    :class:`Recorder` as ``recorder`` instead to share one between relays.
    """

    def __init__(self, upstream: Address, out_prefix: Optional[str] = None, *,
                 recorder: Optional[Recorder] = None, listen_port: int = 0,
                 max_frame_bytes: int = 256 << 20):
        if recorder is None:
            if out_prefix is None:
                raise ValueError("need out_prefix or recorder")
            recorder = Recorder(out_prefix)
        self.upstream = tuple(upstream)
        self.recorder = recorder
        self.max_frame_bytes = max_frame_bytes
        self._listen_port = listen_port
        self._sock: Optional[socket.socket] = None
        self._accept_thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self._conns: dict[int, _Connection] = {}
        self._nconn = 0
        self._next_names: list[str] = []
        self._stopping = False
        self.addr: Optional[Address] = None

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> "RecordingRelay":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, self._listen_port))
        sock.listen(16)
        self._sock = sock
        self.addr = sock.getsockname()
        self._accept_thread = threading.Thread(target=self._accept_loop, name="relay-accept", daemon=True)
        self._accept_thread.start()
        log.info("relay %s:%d -> %s:%d", *self.addr, *self.upstream)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stops accepting, closes every proxied connection, waits for the
        pump threads, and closes the recorder."""
        with self._lock:
            self._stopping = True
            conns = list(self._conns.values())
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        for c in conns:
            c.close()
        deadline = time.monotonic() + timeout
        threads = [t for c in conns for t in c.threads]
        if self._accept_thread is not None:
            threads.append(self._accept_thread)
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self.recorder.close()

    def __enter__(self) -> "RecordingRelay":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- control -------------------------------------------------------------

    def name_next(self, name: str) -> None:
        """Labels the next accepted connection (``conn_name`` / timeline)."""
        with self._lock:
            self._next_names.append(name)

    def marker(self, text: str) -> None:
        self.recorder.marker(text)

    def drop_connections(self) -> int:
        """Closes every open proxied connection (both sides), as a network
        failure would; returns how many were closed. Clients may reconnect."""
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            self.recorder.note(f"conn {c.number} dropped by the relay")
            c.close()
        return len(conns)

    def open_connections(self) -> int:
        with self._lock:
            return len(self._conns)

    @property
    def accepted(self) -> int:
        """Connections accepted so far (reconnections included)."""
        with self._lock:
            return self._nconn

    # -- threads -------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=10)
                server.settimeout(None)
            except OSError as e:
                log.warning("relay: upstream %s unreachable: %s", self.upstream, e)
                client.close()
                continue
            with self._lock:
                if self._stopping:
                    client.close()
                    server.close()
                    return
                self._nconn += 1
                conn = _Connection(self._nconn, client, server)
                if self._next_names:
                    self.recorder.conn_names[conn.number] = self._next_names.pop(0)
                self._conns[conn.number] = conn
            self.recorder.note(f"conn {conn.number} ({self.recorder.conn_names.get(conn.number)}) accepted")
            for src, dst, d in ((client, server, "c2s"), (server, client, "s2c")):
                t = threading.Thread(target=self._pump, args=(conn, src, dst, d),
                                     name=f"relay-{conn.number}-{d}", daemon=True)
                conn.threads.append(t)
                t.start()

    def _classify(self, conn: _Connection, direction: str, index: int,
                  payload: bytes) -> tuple[str, Optional[str]]:
        if index == 0:
            if direction == "c2s":
                # The server uses the encoding named by the client's answer.
                if payload == b"ruok":
                    conn.encoding = "json"
                else:
                    conn.encoding = "msgpack" if payload[:1] == b"M" else "pickle"
                return "handshake", None if conn.encoding == "json" else conn.encoding
            return "handshake", "msgpack" if payload[:1] == b"M" else "pickle"
        if conn.encoding == "json":
            return "ruok-json", None
        return "message", conn.encoding or "pickle"

    def _pump(self, conn: _Connection, src: socket.socket, dst: socket.socket, direction: str) -> None:
        buf = bytearray()
        index = 0
        broken = False
        while True:
            try:
                data = src.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            if not broken:
                # Record before forwarding, so the log follows the wire order.
                buf += data
                while len(buf) >= 4:
                    n = struct.unpack(">I", buf[:4])[0]
                    if n > self.max_frame_bytes:
                        log.warning("conn %d %s: frame of %d bytes, recording stops", conn.number, direction, n)
                        self.recorder.note(f"conn {conn.number} {direction}: oversized frame ({n} bytes)")
                        broken = True
                        buf.clear()
                        break
                    if len(buf) < 4 + n:
                        break
                    payload = bytes(buf[4:4 + n])
                    del buf[:4 + n]
                    kind, encoding = self._classify(conn, direction, index, payload)
                    self.recorder.frame(conn.number, direction, index, payload, kind, encoding)
                    index += 1
            try:
                dst.sendall(data)
            except OSError:
                break
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        if buf:
            self.recorder.note(f"conn {conn.number} {direction}: {len(buf)} bytes of a partial frame at EOF")
        self.recorder.note(f"conn {conn.number} {direction} EOF")
        with self._lock:
            conn.open_pumps -= 1
            finished = conn.open_pumps == 0
            if finished:
                self._conns.pop(conn.number, None)
        if finished:
            conn.close()


# ---------------------------------------------------------------------------
# CLI.


def _parse_addr(text: str) -> Address:
    host, _, port = text.rpartition(":")
    return (host or LOOPBACK, int(port))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, type=_parse_addr, help="ZEO server HOST:PORT")
    parser.add_argument("--out", required=True, help="output prefix (PREFIX.c2s.jsonl, ...)")
    parser.add_argument("--listen-port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--dis", action="store_true", help="add pickletools listings (pickle_dis)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    relay = RecordingRelay(args.upstream, recorder=Recorder(args.out, dis=args.dis),
                           listen_port=args.listen_port).start()
    print(f"{relay.addr[0]}:{relay.addr[1]}", flush=True)  # CLI output: where to connect
    try:
        stop.wait()
    finally:
        relay.stop()
        log.info("recorded %s", relay.recorder.counts)
    return 0


if __name__ == "__main__":
    sys.exit(main())
