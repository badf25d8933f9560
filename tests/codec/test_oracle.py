"""The C++ ZEO codecs (//zeo) checked against Python's own pickle and msgpack.

The oracle is ``zeo_codec`` (//zeo/tools), which decodes each payload with the
project's decoder and re-encodes the value. Python is the reference:

(a) Python writes, C++ decodes and re-encodes, Python reads the C++ bytes back
    and gets the original value (pickle: CPython's fast pickler, which ZEO's
    zodbpickle matches, and the plain memoizing ``pickle.dumps(v, 3)``);
(b) for fast-pickler input the C++ re-encoding equals Python's bytes exactly;
(c) the same for msgpack (``packb(use_bin_type=True)``), byte for byte;
(d) every frame of zeo/testdata/recorded/*.jsonl and zeo/testdata/*.jsonl goes
    through C++ and comes back to the same value, and to the same bytes for
    frames that ZEO's fast pickler or msgpack wrote.

Values come from a seeded generator (``ValueGen``), so failures are
reproducible; each failure message carries a minimal ``ENC HEX`` line to feed
the binary by hand. The binary is $ZEORAID_BIN_DIR/zeo/tools/zeo_codec
(default <repo>/bazel-bin/...); build it with ``bazel build //zeo/tools:zeo_codec``.
"""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import pickletools
import random
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "relay"))
import relay as zrelay  # noqa: E402  (restricted unpickler, typed rendering)

SEED = 20261125
N_PICKLE = 3000
N_MSGPACK = 3000
MAX_DEPTH = 6
RECORDED_DIR = REPO / "zeo" / "testdata" / "recorded"
CAPTURED_DIR = REPO / "zeo" / "testdata"

INT64 = (-(2**63), 2**63 - 1)
MSGPACK_INT = (-(2**63), 2**64 - 1)

try:
    import msgpack
except ImportError:  # only the msgpack checks need it
    msgpack = None

BATCH = 1000  # CPython's pickler writes APPENDS/SETITEMS in batches of 1000


# ---------------------------------------------------------------------------
# The binary.


def codec_path() -> Path:
    bin_dir = os.environ.get("ZEORAID_BIN_DIR")
    base = Path(bin_dir) if bin_dir else REPO / "bazel-bin"
    return base / "zeo" / "tools" / "zeo_codec"


class Codec:
    """Runs zeo_codec over a batch of payloads: one process per batch."""

    def __init__(self, path: Path):
        self.path = path

    def run(self, items: list[tuple[str, bytes]]) -> list[tuple[bool, Any]]:
        """[(encoding, payload)] -> [(True, re-encoded bytes) | (False, error)]."""
        text = "".join(f"{enc} {payload.hex()}\n" for enc, payload in items)
        proc = subprocess.run([str(self.path)], input=text, capture_output=True, text=True,
                              timeout=300, check=False)
        assert proc.returncode == 0, f"zeo_codec exited {proc.returncode}: {proc.stderr[-2000:]}"
        lines = proc.stdout.splitlines()
        assert len(lines) == len(items), f"zeo_codec answered {len(lines)} lines for {len(items)}"
        out = []
        for line in lines:
            status, _, rest = line.partition(" ")
            if status == "OK":
                out.append((True, bytes.fromhex(rest)))
            else:
                assert status == "ERR", f"bad output line {line[:200]!r}"
                out.append((False, rest))
        return out


@pytest.fixture(scope="module")
def need_msgpack() -> None:
    if msgpack is None:
        pytest.skip("msgpack is not installed in this venv (pip install msgpack; ZEO needs it for M5)")


@pytest.fixture(scope="module")
def codec() -> Codec:
    path = codec_path()
    if not os.access(path, os.X_OK):
        pytest.skip(f"{path} is missing: build it with `bazel build //zeo/tools:zeo_codec` "
                    "(or point ZEORAID_BIN_DIR at a bazel-bin)")
    return Codec(path)


# ---------------------------------------------------------------------------
# Deterministic values of the types ZEO carries.

_SPECIAL_INTS = [
    0, 1, 127, 128, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
    2**53, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**72, 2**2047, 2**2048,
    -1, -32, -33, -128, -129, -32768, -32769, -(2**31), -(2**31) - 1, -(2**32),
    -(2**63), -(2**63) - 1, -(2**64), -(2**2047), -(2**2047) - 1,
]
_SPECIAL_FLOATS = [
    0.0, -0.0, 1.0, -1.5, 0.1, 1e300, -1e-300, 5e-324, -5e-324, 2.2250738585072014e-308,
    1.7976931348623157e308, math.inf, -math.inf, math.nan, -math.nan,
    struct.unpack(">d", bytes.fromhex("7ff0000000000001"))[0],  # signalling NaN
    struct.unpack(">d", bytes.fromhex("fff8dead00000000"))[0],  # NaN with payload
]
_ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz0123456789 _.-",
    "\x00\x01\t\n\r\x7f\"'\\",
    "\u00e9\u00fc\u00df\u00f8\u00e5\u00c6\u00a0\u00ff",
    "\u0416\u05d0\u0627\u4e2d\u6587\u3042\u2603\u20ac\ufeff\ufffd\uffff",
    "\U0001d11e\U0001f600\U00010000\U0010ffff",
]


class ValueGen:
    """Nested values: None, bool, int (beyond 64 bits, negative), float (inf,
    nan, -0.0), bytes (>255), str (non-ASCII), tuple, list, dict with str/bytes/
    int keys; containers nest at most ``MAX_DEPTH`` deep. ``msgpack`` limits
    ints to what msgpack carries. Some subvalues are shared (same object twice)
    so that the memoizing pickler writes BINGET."""

    def __init__(self, seed: int, msgpack_only: bool = False):
        self.r = random.Random(seed)
        self.msgpack_only = msgpack_only
        self.shared: list = []

    def values(self, n: int) -> list:
        return [self.value() for _ in range(n)]

    def value(self, depth: int = 0) -> Any:
        r = self.r
        if self.shared and r.random() < 0.03:
            v, h = r.choice(self.shared)
            if depth + h <= MAX_DEPTH:
                return v
        kinds = ["none", "bool", "int", "int", "float", "bytes", "str", "str"]
        if depth < MAX_DEPTH:
            weight = 3 if depth == 0 else 1
            kinds += ["tuple", "list", "dict"] * weight
        kind = r.choice(kinds)
        v = getattr(self, "_" + kind)(depth)
        if kind in ("bytes", "str", "tuple", "list", "dict") and r.random() < 0.1:
            self.shared.append((v, height(v)))
            del self.shared[:-50]
        return v

    def _none(self, depth):
        return None

    def _bool(self, depth):
        return self.r.random() < 0.5

    def _int(self, depth=0):
        r = self.r
        x = r.random()
        if x < 0.3:
            v = r.choice(_SPECIAL_INTS)
        elif x < 0.5:
            v = r.randint(-300, 300)
        elif x < 0.9:
            bits = r.choice([7, 8, 15, 16, 31, 32, 33, 53, 62, 63, 64, 65, 100, 200])
            v = r.getrandbits(bits) * r.choice([1, -1])
        else:
            v = r.getrandbits(r.randint(65, 2200)) * r.choice([1, -1])  # LONG1 and LONG4
        if self.msgpack_only:
            lo, hi = MSGPACK_INT
            if not lo <= v <= hi:
                v = v % (hi + 1) if v > 0 else -(-v % (2**63 + 1))
        return v

    def _float(self, depth):
        r = self.r
        x = r.random()
        if x < 0.4:
            return r.choice(_SPECIAL_FLOATS)
        if x < 0.7:
            return struct.unpack(">d", r.randbytes(8))[0]  # any bit pattern
        return r.uniform(-1e6, 1e6)

    def _length(self) -> int:
        r = self.r
        x = r.random()
        if x < 0.8:
            return r.randint(0, 12)
        if x < 0.997:
            return r.choice([15, 16, 17, 31, 32, 33, 255, 256, 257, 300, 1000])
        return r.choice([65535, 65536, 70000])  # 16/32-bit msgpack lengths

    def _bytes(self, depth):
        return self.r.randbytes(self._length())

    def _str(self, depth):
        r = self.r
        n = self._length()
        if n > 1000:
            n //= 3  # still past 65535 UTF-8 bytes when non-ASCII
        alphabet = "".join(r.sample(_ALPHABETS, r.randint(1, len(_ALPHABETS))))
        return "".join(r.choices(alphabet, k=n))

    def _size(self) -> int:
        r = self.r
        x = r.random()
        if x < 0.9:
            return r.randint(0, 5)
        if x < 0.99:
            return r.choice([15, 16, 17])
        return r.choice([999, 1000, 1001, 2001])  # pickle batches of 1000

    def _items(self, depth, n) -> list:
        if n > 20:  # big containers hold small scalars only, to keep the run quick
            return [self._int() if i % 2 else self.r.randbytes(3) for i in range(n)]
        return [self.value(depth + 1) for _ in range(n)]

    def _tuple(self, depth):
        return tuple(self._items(depth, self._size()))

    def _list(self, depth):
        return self._items(depth, self._size())

    def _key(self):
        r = self.r
        kind = r.choice(["str", "str", "bytes", "int"])
        if kind == "int":
            return self._int()
        if kind == "bytes":
            return r.randbytes(r.randint(0, 10))
        return "".join(r.choice(_ALPHABETS[r.randrange(len(_ALPHABETS))]) for _ in range(r.randint(0, 10)))

    def _dict(self, depth):
        n = self._size()
        if n > 20:
            return {f"k{i}": i for i in range(n)}
        return {self._key(): self.value(depth + 1) for _ in range(n)}


def height(v: Any) -> int:
    """Containers on the longest path down from ``v`` (0 for a scalar)."""
    if isinstance(v, (tuple, list)):
        return 1 + max((height(x) for x in v), default=0)
    if isinstance(v, dict):
        return 1 + max((height(x) for x in v.values()), default=0)
    return 0


def fast_pickle(v: Any) -> bytes:
    """What ZEO writes: protocol 3, fast mode (no memo)."""
    f = io.BytesIO()
    p = pickle.Pickler(f, 3)
    p.fast = 1
    p.dump(v)
    return f.getvalue()


def packb(v: Any) -> bytes:
    return msgpack.packb(v, use_bin_type=True)


def unpackb(data: bytes) -> Any:
    return msgpack.unpackb(data, raw=False, use_list=False, strict_map_key=False)


def as_msgpack_reads(v: Any) -> Any:
    """``v`` as msgpack.unpackb(use_list=False) gives it back: lists are tuples."""
    if isinstance(v, (list, tuple)):
        return tuple(as_msgpack_reads(x) for x in v)
    if isinstance(v, dict):
        return {as_msgpack_reads(k): as_msgpack_reads(x) for k, x in v.items()}
    return v


def diff(a: Any, b: Any, path: str = "v") -> Optional[str]:
    """First difference between two decoded values, or None. Strict: types
    must match exactly (bool is not int, tuple is not list), floats compare by
    bit pattern (nan == nan, 0.0 != -0.0), dicts item by item in order."""
    if type(a) is not type(b):
        return f"{path}: {type(a).__name__} {_r(a)} != {type(b).__name__} {_r(b)}"
    if isinstance(a, float):
        if struct.pack(">d", a) != struct.pack(">d", b):
            return f"{path}: float {a!r} ({struct.pack('>d', a).hex()}) != {b!r} ({struct.pack('>d', b).hex()})"
        return None
    if isinstance(a, (tuple, list)):
        if len(a) != len(b):
            return f"{path}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            d = diff(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(a, dict):
        if len(a) != len(b):
            return f"{path}: dict of {len(a)} != {len(b)} items"
        for i, ((ka, va), (kb, vb)) in enumerate(zip(a.items(), b.items())):
            d = diff(ka, kb, f"{path}.key#{i}") or diff(va, vb, f"{path}[{ka!r}]")
            if d:
                return d
        return None
    if isinstance(a, zrelay.Obj):
        return (None if a.cls == b.cls and a.reduce == b.reduce else f"{path}: {a!r} != {b!r}") \
            or diff(a.args, b.args, f"{path}.args") or diff(a.state, b.state, f"{path}.state")
    if a != b:
        return f"{path}: {_r(a)} != {_r(b)}"
    return None


def _r(v: Any, limit: int = 120) -> str:
    s = repr(v)
    return s if len(s) <= limit else s[:limit] + "..."


def repro(enc: str, payload: bytes, limit: int = 400) -> str:
    h = payload.hex()
    return f"reproduce: echo '{enc} {h}' | zeo_codec" if len(h) <= limit else \
        f"reproduce: {enc} payload of {len(payload)} bytes starting {h[:80]}..."


class Failures:
    """Collects failures so one test reports counts and the first few cases."""

    def __init__(self, what: str):
        self.what = what
        self.items: list[str] = []
        self.checked = 0

    def add(self, text: str) -> None:
        self.items.append(text)

    def check(self) -> None:
        if self.items:
            shown = "\n\n".join(self.items[:8])
            pytest.fail(f"{self.what}: {len(self.items)} failure(s) in {self.checked} checks\n\n{shown}",
                        pytrace=False)


# ---------------------------------------------------------------------------
# (a), (b): pickle.


@pytest.fixture(scope="module")
def pickle_values() -> list:
    return ValueGen(SEED).values(N_PICKLE)


def test_generator_covers_the_types(pickle_values):
    seen: set[str] = set()

    def walk(v, depth=0):
        seen.add(type(v).__name__)
        if isinstance(v, int) and not isinstance(v, bool):
            seen.add("bigint" if not INT64[0] <= v <= INT64[1] else "int64")
            seen.add("negative" if v < 0 else "nonneg")
            if len(v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)) >= 256:
                seen.add("long4")
        if isinstance(v, float):
            seen.add("nan" if math.isnan(v) else "inf" if math.isinf(v) else
                     "-0.0" if struct.pack(">d", v) == struct.pack(">d", -0.0) else "finite")
        if isinstance(v, bytes) and len(v) > 255:
            seen.add("bytes>255")
        if isinstance(v, str) and not v.isascii():
            seen.add("non-ascii")
        if isinstance(v, (tuple, list)):
            seen.add(f"depth{depth + 1}")
            for x in v:
                walk(x, depth + 1)
        if isinstance(v, dict):
            seen.add(f"depth{depth + 1}")
            for k, x in v.items():
                seen.add(f"key:{type(k).__name__}")
                walk(x, depth + 1)

    for v in pickle_values:
        walk(v)
    want = {"NoneType", "bool", "int", "float", "bytes", "str", "tuple", "list", "dict", "bigint",
            "int64", "negative", "long4", "nan", "inf", "-0.0", "bytes>255", "non-ascii",
            "key:str", "key:bytes", "key:int", "depth6"}
    assert want <= seen, f"generator never produced {sorted(want - seen)}"
    assert "depth7" not in seen


def test_zodbpickle_matches_cpython_fast_pickler(pickle_values):
    """The premise of (b): ZEO's own encoder writes CPython's fast-pickler bytes."""
    zp = pytest.importorskip("zodbpickle.pickle")
    bad = []
    for v in pickle_values[:1000]:
        f = io.BytesIO()
        p = zp.Pickler(f, 3)
        p.fast = 1
        p.dump(v)
        if f.getvalue() != fast_pickle(v):
            bad.append(_r(v))
    assert not bad, f"zodbpickle and CPython differ for {len(bad)} values, e.g. {bad[:3]}"


def test_pickle_fast_roundtrip_and_byte_exact(codec, pickle_values):
    """(a) + (b) with the fast pickler: C++ reproduces Python's bytes exactly."""
    payloads = [fast_pickle(v) for v in pickle_values]
    results = codec.run([("pickle", p) for p in payloads])
    failures = Failures("pickle (fast) round trip")
    for v, payload, (ok, out) in zip(pickle_values, payloads, results):
        failures.checked += 1
        if not ok:
            failures.add(f"C++ refused {_r(v)}: {out}\n{repro('pickle', payload)}")
            continue
        if out != payload:
            failures.add(f"bytes differ for {_r(v)}\n python {payload.hex()[:300]}\n c++    {out.hex()[:300]}\n"
                         f"{repro('pickle', payload)}")
            continue
        d = diff(v, pickle.loads(out))
        if d:
            failures.add(f"value differs: {d}\n{repro('pickle', payload)}")
    failures.check()


def test_pickle_memo_roundtrip(codec, pickle_values):
    """(a) with plain pickle.dumps(v, 3) (BINPUT/BINGET, shared subvalues):
    Python reads the C++ bytes back equal, and they are the canonical fast form."""
    payloads = [pickle.dumps(v, 3) for v in pickle_values]
    assert sum(b"h" in p or b"j" in p for p in payloads) > 0  # some BINGETs at least
    results = codec.run([("pickle", p) for p in payloads])
    failures = Failures("pickle (memoizing) round trip")
    memo_gets = 0
    for v, payload, (ok, out) in zip(pickle_values, payloads, results):
        failures.checked += 1
        if not ok:
            failures.add(f"C++ refused {_r(v)}: {out}\n{repro('pickle', payload)}")
            continue
        d = diff(v, pickle.loads(out))
        if d:
            failures.add(f"value differs: {d}\n{repro('pickle', payload)}")
        elif out != fast_pickle(v):
            failures.add(f"re-encoding is not the fast pickler's form for {_r(v)}\n{repro('pickle', payload)}")
        memo_gets += any(op.name in ("BINGET", "LONG_BINGET") for op, _, _ in pickletools.genops(payload))
    failures.check()
    assert memo_gets > 50, f"only {memo_gets} payloads used BINGET; the generator should share more"


# ---------------------------------------------------------------------------
# (c): msgpack.


@pytest.fixture(scope="module")
def msgpack_values(need_msgpack) -> list:
    return ValueGen(SEED + 1, msgpack_only=True).values(N_MSGPACK)


def test_msgpack_roundtrip_and_byte_exact(need_msgpack, codec, msgpack_values):
    payloads = [packb(v) for v in msgpack_values]
    results = codec.run([("msgpack", p) for p in payloads])
    failures = Failures("msgpack round trip")
    for v, payload, (ok, out) in zip(msgpack_values, payloads, results):
        failures.checked += 1
        if not ok:
            failures.add(f"C++ refused {_r(v)}: {out}\n{repro('msgpack', payload)}")
            continue
        if out != payload:
            failures.add(f"bytes differ for {_r(v)}\n python {payload.hex()[:300]}\n c++    {out.hex()[:300]}\n"
                         f"{repro('msgpack', payload)}")
            continue
        d = diff(as_msgpack_reads(v), unpackb(out))
        if d:
            failures.add(f"value differs: {d}\n{repro('msgpack', payload)}")
    failures.check()


# ---------------------------------------------------------------------------
# (d): captured and recorded frames.


def frame_files() -> list[Path]:
    return sorted(RECORDED_DIR.glob("*.jsonl")) + sorted(CAPTURED_DIR.glob("*.jsonl"))


def test_recorded_sessions_exist():
    names = {p.name for p in RECORDED_DIR.glob("*.jsonl")}
    for session in ("pickle", "msgpack"):
        for d in ("c2s", "s2c"):
            assert f"{session}.{d}.jsonl" in names, "re-record with tests/relay/record_sessions.py"
    total = sum(p.stat().st_size for p in RECORDED_DIR.iterdir())
    assert total < 1 << 20, f"recorded vectors take {total} bytes; keep them under 1 MB"


def load_frames(path: Path) -> list[dict]:
    frames = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            rec = json.loads(line)
            if rec.get("kind") == "message" and "frame_hex" in rec:
                rec["_line"] = number
                frames.append(rec)
    return frames


def written_by_fast_pickler(payload: bytes) -> bool:
    return not any(op.name in zrelay.MEMO_OPCODES for op, _, _ in pickletools.genops(payload))


@pytest.mark.parametrize("path", frame_files(), ids=lambda p: p.relative_to(CAPTURED_DIR).as_posix())
def test_frames(codec, path):
    frames = load_frames(path)
    assert frames, f"{path} holds no message frames"
    if msgpack is None and any(rec["encoding"] == "msgpack" for rec in frames):
        pytest.skip("msgpack is not installed in this venv (pip install msgpack)")
    items = []
    for rec in frames:
        frame = bytes.fromhex(rec["frame_hex"])
        assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4, f"line {rec['_line']}: bad length prefix"
        items.append((rec["encoding"], frame[4:]))
    results = codec.run(items)
    failures = Failures(path.name)
    exact = 0
    for rec, (enc, payload), (ok, out) in zip(frames, items, results):
        failures.checked += 1
        where = f"{path.name}:{rec['_line']} ({rec.get('method')})"
        if not ok:
            failures.add(f"{where}: C++ refused: {out}\n{repro(enc, payload)}")
            continue
        want = zrelay.decode_payload(payload, enc)
        got = zrelay.decode_payload(out, enc)
        d = diff(want, got)
        if d:
            failures.add(f"{where}: value differs: {d}\n{repro(enc, payload)}")
            continue
        if "value" in rec and _json_roundtrip(zrelay.typed(want, msgpack=enc == "msgpack")) != rec["value"]:
            failures.add(f"{where}: the recorded `value` does not match the payload")
        if enc == "msgpack" or written_by_fast_pickler(payload):
            exact += 1
            if out != payload:
                failures.add(f"{where}: bytes differ\n python {payload.hex()[:300]}\n c++    {out.hex()[:300]}\n"
                             f"{repro(enc, payload)}")
    failures.check()
    if path.parent == RECORDED_DIR or path.name != "raw.c2s.jsonl":
        # Only the hand-made client frames of `raw` came from a memoizing pickler.
        assert exact == len(frames), f"{len(frames) - exact} frames carry memo opcodes"


def _json_roundtrip(node: Any) -> Any:
    return json.loads(json.dumps(node))


# ---------------------------------------------------------------------------
# Edge cases the property tests found.


@pytest.mark.parametrize("n", [1000, 2000])
def test_dict_of_1000_items_ends_with_an_empty_batch(codec, n):
    """CPython's C pickler (and so ZEO's zodbpickle) writes an empty MARK SETITEMS
    after a dict of 1000*k items; lists have no such group."""
    v = {i: None for i in range(n)}
    payload = fast_pickle(v)
    assert payload.endswith(b"(u.")  # CPython: ... MARK SETITEMS (empty) STOP
    [(ok, out)] = codec.run([("pickle", payload)])
    assert ok, out
    assert diff(v, pickle.loads(out)) is None  # the value survives either way
    assert out == payload, f"C++ ends with {out[-6:].hex()}, CPython with {payload[-6:].hex()}"


def test_lone_surrogates_pass_through_pickle(codec):
    """Python pickles str with "surrogatepass" (e.g. os.fsdecode'd file names in a
    transaction extension): a ZEO peer may send them, so they must round-trip."""
    v = ("\udcff", {"name": "caf\udce9"})
    payload = fast_pickle(v)
    [(ok, out)] = codec.run([("pickle", payload)])
    assert ok, out
    assert out == payload
    assert pickle.loads(out) == v
