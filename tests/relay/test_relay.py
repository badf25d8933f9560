"""The recording relay (relay.py) in front of a real runzeo, used as a library."""

from __future__ import annotations

import json
import pickle
import socket
import struct
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import relay as zrelay  # noqa: E402
from record_sessions import ZeoServer, wait_until  # noqa: E402


def read_records(prefix: Path) -> list[dict]:
    records = []
    for d in ("c2s", "s2c"):
        with open(f"{prefix}.{d}.jsonl", encoding="utf-8") as f:
            records += [json.loads(line) for line in f if line.strip()]
    return sorted(records, key=lambda r: r["seq"])


def ruok(addr) -> dict:
    """The status probe: read the server's handshake, send `ruok`, read JSON."""
    with socket.create_connection(addr, timeout=10) as s:
        f = s.makefile("rb")

        def frame() -> bytes:
            (n,) = struct.unpack(">I", f.read(4))
            return f.read(n)

        frame()  # Z5 / M5
        s.sendall(struct.pack(">I", 4) + b"ruok")
        return json.loads(frame())


@pytest.mark.parametrize("encoding", ["pickle", "msgpack"])
def test_relay_records_a_real_session(tmp_path, encoding):
    if encoding == "msgpack":
        pytest.importorskip("msgpack", reason="msgpack is not installed in this venv")
    import transaction
    import ZODB
    from ZEO.ClientStorage import ClientStorage

    rundir = tmp_path / "server"
    rundir.mkdir()
    server = ZeoServer(rundir, zeo_extra="msgpack true" if encoding == "msgpack" else "", blobs=False)
    server.start()
    prefix = tmp_path / "rec"
    try:
        with zrelay.RecordingRelay(server.addr, str(prefix)) as relay:
            relay.name_next("client")
            relay.marker("connect and commit")
            cs = ClientStorage(relay.addr, wait_timeout=30)
            db = ZODB.DB(cs)
            tm = transaction.TransactionManager()
            conn = db.open(transaction_manager=tm)
            conn.root()["x"] = {"big": 2**70 if encoding == "pickle" else 2**63, "f": -0.0}
            tm.commit()
            relay.marker("drop, reconnect, ping")
            assert relay.drop_connections() == 1
            wait_until(lambda: relay.accepted >= 2 and cs.is_connected(), 30, "reconnection")
            cs.ping()
            db.close()
            wait_until(lambda: relay.open_connections() == 0, 30, "client close")
            status = ruok(relay.addr)
            assert "1" in status
    finally:
        server.stop()

    records = read_records(prefix)
    seqs = [r["seq"] for r in records]
    assert len(set(seqs)) == len(seqs)  # unique; STEP markers take numbers too
    by_stream: dict = {}
    for r in records:
        frame = bytes.fromhex(r["frame_hex"])
        assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4 == r["payload_len"]
        by_stream.setdefault((r["conn"], r["dir"]), []).append(r["index_in_dir"])
    for indexes in by_stream.values():
        assert indexes == list(range(len(indexes)))
    conns = sorted({r["conn"] for r in records})
    assert len(conns) >= 3  # first connection, reconnection, ruok probe

    letter = "M5" if encoding == "msgpack" else "Z5"
    first = [r for r in records if r["conn"] == 1]
    assert first[0]["conn_name"] == "client"
    assert [r["kind"] for r in first[:2]] == ["handshake", "handshake"]
    assert all(bytes.fromhex(r["frame_hex"])[4:] == letter.encode() for r in first[:2])
    messages = [r for r in records if r["kind"] == "message"]
    assert not [r for r in messages if "decode_error" in r]
    assert {r["encoding"] for r in messages} == {encoding}
    register = next(r for r in messages if r["dir"] == "c2s")
    assert (register["msgid"], register["flag"], register["method"]) == (1, False, "register")
    seq_type = "array" if encoding == "msgpack" else "tuple"
    assert register["value"]["t"] == seq_type
    assert register["value"]["v"][2] == {"t": "str", "v": "register"}
    methods = {r["method"] for r in messages}
    assert {"register", "tpc_begin", "storea", "vote", "tpc_finish", "ping", ".reply"} <= methods
    assert any(r["method"] == "register" and r["conn"] > 1 for r in messages), "no reconnection recorded"
    if encoding == "pickle":
        assert all("opcodes" in r for r in messages)
    assert [r["kind"] for r in records if r["conn"] == conns[-1]] == ["handshake", "handshake", "ruok-json"]
    timeline = Path(f"{prefix}.timeline.txt").read_text(encoding="utf-8")
    assert "STEP: drop, reconnect, ping" in timeline and "dropped by the relay" in timeline


def test_stub_unpickler_imports_nothing():
    module = "zeoraid_no_such_module"
    # Hand-made: GLOBAL zeoraid_no_such_module.cls, EMPTY_TUPLE, NEWOBJ,
    # state dict, BUILD; then a REDUCE and a bare global.
    payload = (b"\x80\x03(c" + module.encode() + b"\ncls\n)\x81}X\x01\x00\x00\x00kK\x01sb"
               b"c" + module.encode() + b"\nf\nK\x01\x85R"
               b"cos\nsystem\nt.")
    v = zrelay.loads_restricted(payload)
    assert module not in sys.modules
    assert zrelay.typed(v) == {"t": "tuple", "v": [
        {"t": "object", "global": f"{module}.cls", "args": {"t": "tuple", "v": []},
         "state": {"t": "dict", "v": [[{"t": "str", "v": "k"}, {"t": "int", "v": 1}]]}},
        {"t": "object", "global": f"{module}.f", "args": {"t": "tuple", "v": [{"t": "int", "v": 1}]},
         "state": {"t": "none"}, "reduce": True},
        {"t": "object", "global": "os.system", "args": {"t": "none"}, "state": {"t": "none"}},
    ]}
    with pytest.raises(pickle.UnpicklingError):
        zrelay.loads_restricted(b"\x80\x03X\x01\x00\x00\x00pQ.")  # BINPERSID


def test_typed_values():
    nan = float("nan")
    assert zrelay.typed(nan) == {"t": "float", "v": "nan", "hex": "7ff8000000000000"}
    assert zrelay.typed(-0.0) == {"t": "float", "v": -0.0, "hex": "8000000000000000"}
    assert zrelay.typed(2**53) == {"t": "int", "v": "9007199254740992"}
    assert zrelay.typed(-(2**53) + 1) == {"t": "int", "v": -(2**53) + 1}
    assert zrelay.typed([1, (b"\x00",)], msgpack=True) == {"t": "array", "v": [
        {"t": "int", "v": 1}, {"t": "array", "v": [{"t": "bytes", "hex": "00"}]}]}
    assert zrelay.typed({True: None}) == {"t": "dict", "v": [[{"t": "bool", "v": True}, {"t": "none"}]]}
    json.dumps(zrelay.typed(["\udcff", float("inf")]), allow_nan=False)  # strict JSON
