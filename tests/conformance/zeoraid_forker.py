"""A drop-in replacement for ``ZEO._forker.start_zeo_server`` that serves the
requested storage through ZEORaid.

ZEO's and ZODB's test suites get every server from
``ZEO._forker.start_zeo_server(storage_conf, zeo_conf, port, keep, path, ...)``,
which returns ``(addr, stop)``. :func:`install` rebinds that function everywhere the
suites look it up (``ZEO._forker``, ``ZEO.tests.forker`` and every already imported
test module that imported it by name) with one that starts, for the same arguments:

* ``mode="raid"``: N ``runzeo`` backends (default 2), each with its own copy of the
  storage (every FileStorage ``path`` of the configuration gets a per-mirror suffix;
  a ``blob-dir`` is mirror 1's own, the other mirrors get a suffixed copy of it),
  ``zeoraid-raidcore`` with all of them as ``--backend``, and
  ``zeoraid-translator`` listening on the address the test asked for (port 0: a free
  port). The call returns once raidcore reports the RAID ``optimal``.
* ``mode="runzeo"``: one ``runzeo`` subprocess with the configuration unchanged (a
  diagnostic target: tells artefacts of this replacement apart from RAID bugs).

``keep`` is honoured like ZEO's own forker: the file named in the configuration is
the storage the test sees. At start each mirror is seeded from it (if it exists);
at stop the first mirror is copied back to it when ``keep`` is true, and all the
files are removed when it is false (like ``FileStorage.cleanup``). Blob directories
stay, as with ZEO's forker: the configured ``blob-dir`` is mirror 1's (so a test that
looks for a blob file on the server finds it there); mirrors 2..N get a copy of it
at start (``<dir>.mirrorN``), removed at stop.

Options of the ``<zeo>`` section: ``read-only``, ``invalidation-queue-size``,
``invalidation-age``, ``transaction-timeout``, ``msgpack`` and
``client-conflict-resolution`` go to every backend; ``invalidation-queue-size`` also
becomes raidcore's ``--invalidation_queue_size``, ``invalidation-age`` its
``--invalidation_age`` and ``transaction-timeout`` its ``--commit_lock_timeout``; ``msgpack`` (or ``$ZEO_MSGPACK``, like runzeo) becomes the
translator's ``--msgpack``, and ``<ssl>`` (certificate, key, authenticate,
password-function) its ``--zeo_tls_*`` flags. What the RAID cannot offer is recorded in
:data:`requests` (``unsupported``) so that the runner classifies the test as not
applicable: ``protocol=`` (a server speaking an older protocol),
several storages in one server. Blob directories are served (non-shared: the client
sends blobs with storeBlob* and fetches them with sendBlob; raidcore spools them in
``<log dir>/<n>-spool``); a client with ``shared_blob_dir=True`` is refused by the
RAID by design, which the forker cannot see (the runner's static table knows those
tests).

Environment: ``ZEORAID_BIN_DIR`` (default ``<repo>/bazel-bin``),
``ZEORAID_CONFORMANCE_LOG_DIR`` (where process logs go; default a temp dir),
``ZEORAID_LOG_LEVEL`` (``--log_level`` of the C++ binaries, default ``info``).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
# The system tests' harness: binary lookup and port helpers are shared with it.
sys.path.insert(0, str(REPO_ROOT / "tests" / "system"))
import harness  # noqa: E402

bin_dir = harness.bin_dir
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_SETPRIV = shutil.which("setpriv")

# Every start_zeo_server call since the last reset(): dicts describing the request
# (the runner attaches them to the current test's result).
requests: list[dict] = []
# Called with the request's info once its servers are up (or failed to start).
on_start = None
# Servers started and not yet stopped (stopped at exit or by stop_all()).
_live: list["_Server"] = []
_counter = itertools.count(1)
_lock = threading.Lock()

# <zeo> options passed on to every backend as they are.
BACKEND_ZEO_KEYS = {"read-only", "invalidation-queue-size", "invalidation-age",
                    "transaction-timeout", "msgpack", "client-conflict-resolution"}
TRUE_WORDS = {"true", "yes", "on", "1"}


def reset() -> list[dict]:
    """Forget the recorded requests; returns the old list."""
    global requests
    old, requests = requests, []
    return old


def binary(package: str, name: str) -> str:
    """The system tests' binary lookup (ZEORAID_BIN_DIR or bazel-bin), as a str."""
    return str(harness.binary(package, name))


def log_dir() -> Path:
    d = os.environ.get("ZEORAID_CONFORMANCE_LOG_DIR")
    if not d:
        d = tempfile.mkdtemp(prefix="zeoraid-conformance-logs-")
        os.environ["ZEORAID_CONFORMANCE_LOG_DIR"] = d
    p = Path(d)
    p.mkdir(parents=True, exist_ok=True)
    return p


# ----------------------------------------------------------------- configuration


class Conf:
    """A ZConfig text split into lines, with what the RAID needs to know about it.

    Line based (ZConfig is): ``%directives``, ``<section args>``, ``</section>``,
    ``<section args/>`` and ``key value`` lines."""

    def __init__(self, text: str):
        self.lines: list[tuple[str, tuple, str, str]] = []  # (kind, stack, a, b)
        self.zeo: dict[str, str] = {}
        self.zeo_has_ssl = False
        self.zeo_ssl: dict[str, str] = {}  # the <ssl> section of <zeo>
        self.storages: list[tuple[str, str]] = []  # (type, name) of top-level storages
        self.storages_all: list[tuple[str, str]] = []  # ... and the storages inside
        stack: list[str] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("%"):
                self.lines.append(("directive", tuple(stack), line, ""))
                continue
            m = re.match(r"^</\s*([^>\s]+)\s*>$", line)
            if m:
                self.lines.append(("close", tuple(stack), m.group(1), ""))
                if stack:
                    stack.pop()
                continue
            m = re.match(r"^<\s*([^>\s/]+)\s*([^>]*?)\s*(/?)>$", line)
            if m:
                typ, args, selfclose = m.group(1).lower(), m.group(2).strip(), m.group(3)
                if not stack and typ not in ("zeo", "eventlog", "runner"):
                    self.storages.append((typ, args or "1"))
                outer = stack[0] if stack else typ
                if outer not in ("zeo", "eventlog", "runner"):
                    self.storages_all.append((typ, args or "1"))
                if stack and stack[-1] == "zeo" and typ == "ssl":
                    self.zeo_has_ssl = True
                self.lines.append(("open", tuple(stack), typ, args))
                if selfclose:
                    self.lines.append(("close", tuple(stack), typ, ""))
                else:
                    stack.append(typ)
                continue
            key, _, value = line.partition(" ")
            key = key.lower().replace("_", "-")
            value = value.strip()
            if stack == ["zeo"]:
                self.zeo[key] = value
            elif stack == ["zeo", "ssl"]:
                self.zeo_ssl[key] = value
            self.lines.append(("key", tuple(stack), key, value))

    def render(self, zeo_address: Optional[str], path_fn, log_fn,
               zeo_keys: Optional[set] = None, mapping_path=None,
               extra_log: Optional[str] = None, blob_fn=None) -> str:
        """The configuration with the ``<zeo>`` address replaced, only ``zeo_keys`` of
        the ``<zeo>`` options kept (all if None), ``<ssl>`` dropped when zeo_keys is
        given, and ``path`` values mapped by ``path_fn``, ``blob-dir`` values by
        ``blob_fn`` (default ``path_fn``). ``mapping_path(name)``: serve every
        ``<mappingstorage>`` by a FileStorage at that path instead."""
        out = []
        skipping = 0
        for kind, stack, a, b in self.lines:
            if mapping_path is not None and (a == "mappingstorage" or
                                             "mappingstorage" in stack):
                indent = "  " * len(stack)
                if kind == "open" and a == "mappingstorage":
                    out.append(f"{indent}<filestorage {b}>".replace(" >", ">"))
                    out.append(f"{indent}  path {mapping_path(b or '1')}")
                elif kind == "close" and a == "mappingstorage":
                    out.append(f"{'  ' * max(0, len(stack) - 1)}</filestorage>")
                continue  # keys of the mapping storage (name) are dropped
            indent = "  " * len(stack)
            in_zeo = stack[:1] == ("zeo",)
            if skipping:
                if kind == "open":
                    skipping += 1
                elif kind == "close":
                    skipping -= 1
                continue
            if kind == "directive":
                out.append(a)
            elif kind == "open":
                if zeo_keys is not None and in_zeo and a == "ssl":
                    skipping = 1
                    continue
                out.append(f"{indent}<{a} {b}>".replace(" >", ">"))
            elif kind == "close":
                if extra_log and a == "eventlog" and len(stack) == 1:
                    # also into our log dir: the test's log file may be deleted
                    out.append(f"  <logfile>\n    path {extra_log}\n  </logfile>")
                out.append(f"{'  ' * max(0, len(stack) - 1)}</{a}>")
            else:
                key, value = a, b
                if stack == ("zeo",):
                    if key == "address":
                        value = zeo_address if zeo_address is not None else value
                    elif zeo_keys is not None and key not in zeo_keys:
                        continue
                elif key == "path" and "logfile" in stack:
                    value = log_fn(value)
                elif key == "path":
                    value = path_fn(value)
                elif key == "blob-dir":
                    value = (blob_fn or path_fn)(value)
                out.append(f"{indent}{key} {value}")
        return "\n".join(out) + "\n"

    def storage_paths(self) -> list[str]:
        return [b for kind, stack, a, b in self.lines
                if kind == "key" and a == "path" and "logfile" not in stack
                and stack and stack[0] not in ("zeo", "eventlog")]

    def blob_dirs(self) -> list[str]:
        return [b for kind, stack, a, b in self.lines if kind == "key" and a == "blob-dir"]

    def truthy(self, key: str) -> Optional[bool]:
        v = self.zeo.get(key)
        if v is None:
            return None
        return v.lower() in TRUE_WORDS


def build_config_text(storage_conf, zeo_conf, port, path, blob_dir, log) -> str:
    """The configuration ZEO's own start_zeo_server would write (same rules)."""
    from ZEO._forker import ZEOConfig
    if not storage_conf:
        storage_conf = "<filestorage>\npath %s\n</filestorage>" % path
    if blob_dir:
        storage_conf = (f"<blobstorage>\nblob-dir {blob_dir}\n"
                        f"{storage_conf}\n</blobstorage>")
    if zeo_conf is None or isinstance(zeo_conf, dict):
        if port is None:
            port = 0
        addr = (LOOPBACK, port) if isinstance(port, int) else port
        z = ZEOConfig(addr, log=log)
        if zeo_conf:
            z.__dict__.update(zeo_conf)
        zeo_conf = str(z)
    return str(zeo_conf) + "\n\n" + storage_conf


def parse_address(text: str):
    """``HOST:PORT``, ``:PORT``, ``PORT`` -> (host, port); anything else: a unix path."""
    from ZEO.runzeo import parse_binding_address
    family, address = parse_binding_address(text)
    if isinstance(address, tuple):
        host, port = address
        return (host or "", int(port or 0))
    return address


# --------------------------------------------------------------------- processes


# The system tests' port helpers: a free loopback port (never handed out twice in a
# process), and whether something listens on an address.
free_port = harness.free_port
port_open = harness.port_open


class StartError(RuntimeError):
    pass


class _Proc:
    def __init__(self, name: str, argv: list, cwd: str, log_path: Path):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = log_path
        argv = self.argv
        if _SETPRIV and threading.current_thread() is threading.main_thread():
            # SIGKILL if the worker dies (only from the main thread: the signal
            # follows the thread that forked).
            argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
        with open(log_path, "ab") as f:
            f.write(f"=== {time.strftime('%H:%M:%S')} start: {' '.join(self.argv)}\n"
                    .encode())
            f.flush()
            # Same process group as the worker, so the runner's killpg on a hang
            # reaches the servers too.
            self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL,
                                         stdout=f, stderr=subprocess.STDOUT)

    def log_tail(self, n: int = 4000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-n:].decode("utf-8", "replace")

    def wait_listening(self, addr, deadline: float) -> None:
        while not port_open(addr):
            if self.proc.poll() is not None:
                raise StartError(f"{self.name} exited with status {self.proc.returncode} "
                                 f"before listening on {addr}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise StartError(f"{self.name} not listening on {addr} in time:\n"
                                 f"{self.log_tail()}")
            time.sleep(0.03)

    def signal(self, sig=signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def wait(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _rm_storage_files(path: str) -> None:
    for ext in ("", ".old", ".tmp", ".lock", ".index", ".pack"):
        try:
            os.remove(path + ext)
        except OSError:
            pass


def _addr_text(addr) -> str:
    return addr if isinstance(addr, str) else f"{addr[0] or LOOPBACK}:{addr[1]}"


class _Server:
    """One start_zeo_server call: its processes and its stop()."""

    def __init__(self, mode: str, mirrors: int, text: str, keep: bool, info: dict,
                 substitute_mapping: bool = True):
        self.mode = mode
        self.n = mirrors if mode == "raid" else 1
        self.conf = Conf(text)
        self.keep = keep
        self.info = info
        self.cwd = os.getcwd()
        self.seq = next(_counter)
        self.procs: list[_Proc] = []
        self.stopped = False
        self.logs = log_dir()
        self.substitute_mapping = substitute_mapping
        self.scratch: list[str] = []  # storage files to remove at stop

    # file mapping ------------------------------------------------------------

    def _abs(self, p: str) -> str:
        return os.path.normpath(os.path.join(self.cwd, p))

    def mirror_path(self, p: str, i: int) -> str:
        return f"{self._abs(p)}.mirror{i}"

    def blob_path(self, p: str, i: int) -> str:
        """Mirror i's blob directory: mirror 1 uses the configured one."""
        return self._abs(p) if i == 1 else self.mirror_path(p, i)

    def _log_name(self, i: int):
        return lambda p: self._abs(p) if i == 1 else f"{self._abs(p)}.mirror{i}"

    # start/stop --------------------------------------------------------------

    def start(self, requested):
        deadline = time.monotonic() + START_TIMEOUT
        tag = f"{self.seq:04d}"
        if self.mode == "runzeo":
            addr = self._translator_addr(requested)
            mapping_path = None
            if (self.info.get("mode") == "runzeo" and self.substitute_mapping
                    and any(t == "mappingstorage" for t, _ in self.conf.storages_all)):
                # the same substitution as the raid target, so that a test failing
                # only because of it fails on the runzeo target too
                self.info["substituted"] = "MappingStorage served by a FileStorage"

                def mapping_path(name):
                    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
                    path = str(self.logs / f"{tag}-mapping-{safe}.fs")
                    self.scratch.append(path)
                    return path
            conf_text = self.conf.render(_addr_text(addr), lambda p: p, lambda p: p,
                                         mapping_path=mapping_path,
                                         extra_log=str(self.logs / f"{tag}-runzeo.log"))
            self._spawn_runzeo(f"{tag}-runzeo", conf_text, addr, deadline)
            return self._client_addr(requested, addr)

        for p in self.conf.storage_paths():
            for i in range(1, self.n + 1):
                m = self.mirror_path(p, i)
                _rm_storage_files(m)
                if os.path.exists(self._abs(p)):
                    shutil.copyfile(self._abs(p), m)
        for p in self.conf.blob_dirs():
            for i in range(2, self.n + 1):
                m = self.blob_path(p, i)
                shutil.rmtree(m, ignore_errors=True)
                if os.path.isdir(self._abs(p)):
                    shutil.copytree(self._abs(p), m, symlinks=True)
        backend_addrs = []
        procs = []
        substitute = self.substitute_mapping and any(
            t == "mappingstorage" for t, _ in self.conf.storages_all)
        if substitute:
            self.info["substituted"] = "MappingStorage served by FileStorage mirrors"
        for i in range(1, self.n + 1):
            addr = (LOOPBACK, free_port())
            backend_addrs.append(addr)
            mapping_path = None
            if substitute:
                def mapping_path(name, i=i):
                    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
                    path = str(self.logs / f"{tag}-mapping-{safe}-{i}.fs")
                    self.scratch.append(path)
                    return path
            text = self.conf.render(_addr_text(addr), lambda p, i=i: self.mirror_path(p, i),
                                    self._log_name(i), zeo_keys=BACKEND_ZEO_KEYS,
                                    mapping_path=mapping_path,
                                    extra_log=str(self.logs / f"{tag}-backend{i}.log"),
                                    blob_fn=lambda p, i=i: self.blob_path(p, i))
            procs.append((f"{tag}-backend{i}", text, addr))
        for name, text, addr in procs:  # side by side: runzeo takes ~0.5 s
            self._spawn_runzeo(name, text, addr, None)
        for proc, (_, _, addr) in zip(self.procs, procs):
            proc.wait_listening(addr, deadline)

        rc_addr = (LOOPBACK, free_port())
        # blobs on their way through raidcore: kept apart per server, removed at stop
        self.spool = self.logs / f"{tag}-spool"
        self.spool.mkdir(parents=True, exist_ok=True)
        argv = [binary("raidcore", "zeoraid-raidcore"), "--listen", _addr_text(rc_addr),
                "--storage", self.storage_name(), "--spool_dir", str(self.spool),
                "--log_level", os.environ.get("ZEORAID_LOG_LEVEL", "info")]
        for i, a in enumerate(backend_addrs, 1):
            argv += ["--backend", f"b{i}={_addr_text(a)}"]
        iqs = self.conf.zeo.get("invalidation-queue-size")
        if iqs:
            argv += ["--invalidation_queue_size", iqs]
        tt = self.conf.zeo.get("transaction-timeout")
        if tt:
            argv += ["--commit_lock_timeout", f"{float(tt):g}s"]
        age = self.conf.zeo.get("invalidation-age")
        if age:
            argv += ["--invalidation_age", f"{float(age):g}s"]
        self.raidcore = self._spawn(f"{tag}-raidcore", argv)
        self.raidcore.wait_listening(rc_addr, deadline)
        self.raidcore_addr = rc_addr

        addr = self._translator_addr(requested)
        targv = [binary("translator", "zeoraid-translator"), "--listen", _addr_text(addr),
                 "--raidcore", _addr_text(rc_addr), "--name", f"t{self.seq}",
                 "--log_level", os.environ.get("ZEORAID_LOG_LEVEL", "info")]
        if self.msgpack():
            targv.append("--msgpack")
        targv += self._tls_args(tag)
        for attempt in range(40):
            t = self._spawn(f"{tag}-translator", targv)
            try:
                t.wait_listening(addr, deadline)
                break
            except StartError as e:
                if ("in use" not in str(e).lower() or time.monotonic() > deadline):
                    raise
                self.procs.remove(t)
                time.sleep(0.25)  # the port the test asked for is still taken
        self._wait_optimal(rc_addr, deadline)
        return self._client_addr(requested, addr)

    def storage_name(self) -> str:
        return self.conf.storages[0][1] if self.conf.storages else "1"

    def _tls_args(self, tag: str) -> list[str]:
        """The translator's TLS flags for the ``<ssl>`` section of ``<zeo>`` (ZEO's
        server options: certificate, key, authenticate, password-function)."""
        if not self.conf.zeo_has_ssl:
            return []
        ssl = self.conf.zeo_ssl
        args = ["--zeo_tls_certificate", ssl["certificate"],
                "--zeo_tls_key", ssl.get("key") or ssl["certificate"]]
        auth = ssl.get("authenticate")
        if auth and auth != "DYNAMIC":
            args += ["--zeo_tls_authenticate", auth]
        password_function = ssl.get("password-function")
        if password_function:
            import importlib
            module, name = password_function.rsplit(".", 1)
            password = getattr(importlib.import_module(module), name)()
            path = log_dir() / f"{tag}-key-password"
            path.write_text(f"{password}\n")
            path.chmod(0o600)
            args += ["--zeo_tls_key_password_file", str(path)]
        return args

    def msgpack(self) -> bool:
        v = self.conf.truthy("msgpack")
        if v is None:
            return bool(os.environ.get("ZEO_MSGPACK"))
        return v

    def _translator_addr(self, requested):
        if isinstance(requested, str):
            return self._abs(requested)
        host, port = requested
        host = host or LOOPBACK
        if host == "localhost":
            host = LOOPBACK
        return (host, port or free_port())

    def _client_addr(self, requested, addr):
        if isinstance(requested, str):
            return requested
        return (addr[0], addr[1])

    def _spawn(self, name: str, argv: list) -> _Proc:
        p = _Proc(name, argv, self.cwd, self.logs / f"{name}.log")
        self.procs.append(p)
        logs = self.info.setdefault("logs", [])
        if str(p.log_path) not in logs:
            logs.append(str(p.log_path))
        return p

    def _spawn_runzeo(self, name, conf_text, addr, deadline) -> _Proc:
        conf_path = self.logs / f"{name}.conf"
        conf_path.write_text(conf_text)
        p = self._spawn(name, [sys.executable, "-m", "ZEO.runzeo", "-C", str(conf_path)])
        if deadline is not None:
            p.wait_listening(addr, deadline)
        return p

    def _wait_optimal(self, rc_addr, deadline: float) -> None:
        admin = binary("admin", "zeoraid-admin")
        last = ""
        while True:
            r = subprocess.run([admin, "--raidcore", _addr_text(rc_addr), "status",
                                "--json"], capture_output=True, text=True, timeout=30,
                               stdin=subprocess.DEVNULL)
            last = (r.stdout + r.stderr).strip()
            try:
                status = json.loads(r.stdout)
                if status.get("state") == "optimal":
                    return
                reasons = sorted({b.get("reason", "") for b in status.get("backends", [])
                                  if b.get("reason")})
                last = (f"state {status.get('state')}, waiting for: "
                        f"{status.get('waiting_for', '-')}; backends: "
                        f"{'; '.join(reasons) or '-'}")
            except ValueError:
                pass
            if time.monotonic() > deadline:
                raise StartError(f"RAID not optimal {START_TIMEOUT:.0f}s after start: "
                                 f"{last}")
            for p in self.procs:
                if p.proc.poll() is not None:
                    raise StartError(f"{p.name} exited with status {p.proc.returncode}:"
                                     f"\n{p.log_tail()}")
            time.sleep(0.05)

    def stop(self, stop_timeout=None) -> None:
        if self.stopped:
            return
        self.stopped = True
        for p in reversed(self.procs):
            p.signal()
        for p in reversed(self.procs):
            p.wait(STOP_TIMEOUT)
        for p in self.procs:
            rc = p.proc.returncode
            if rc is not None and rc < 0 and -rc in (signal.SIGSEGV, signal.SIGABRT,
                                                     signal.SIGBUS):
                self.info.setdefault("crashes", []).append(
                    f"{p.name} crashed ({signal.Signals(-rc).name})")
        with _lock:
            if self in _live:
                _live.remove(self)
        for p in self.scratch:
            _rm_storage_files(p)
        if self.mode == "raid":
            if getattr(self, "spool", None) is not None:
                shutil.rmtree(self.spool, ignore_errors=True)
            for p in self.conf.blob_dirs():
                for i in range(2, self.n + 1):
                    shutil.rmtree(self.blob_path(p, i), ignore_errors=True)
            for p in self.conf.storage_paths():
                canonical = self._abs(p)
                if self.keep:
                    m1 = self.mirror_path(p, 1)
                    if os.path.exists(m1):
                        shutil.copyfile(m1, canonical)
                        for ext in (".index", ".lock", ".tmp"):
                            _rm(canonical + ext)
                else:
                    for i in range(1, self.n + 1):
                        _rm_storage_files(self.mirror_path(p, i))
                    _rm_storage_files(canonical)
        elif not self.keep:
            for p in self.conf.storage_paths():
                _rm_storage_files(self._abs(p))


def _rm(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


def stop_all() -> None:
    for s in list(_live):
        try:
            s.stop()
        except Exception:
            pass


import atexit  # noqa: E402

atexit.register(stop_all)


# ------------------------------------------------------------------- entry point


def make_start_zeo_server(mode: str, mirrors: int = 2, substitute_mapping: bool = True):
    """A function with start_zeo_server's signature serving through ``mode``."""

    def start_zeo_server(storage_conf=None, zeo_conf=None, port=None, keep=False,
                         path='Data.fs', protocol=None, blob_dir=None, suicide=True,
                         debug=False, threaded=False, start_timeout=33, name=None,
                         log=None, show_config=False):
        text = build_config_text(storage_conf, zeo_conf, port, path, blob_dir, log)
        if show_config:
            print(text)
        conf = Conf(text)
        requested = parse_address(conf.zeo.get("address", "127.0.0.1:0"))
        unsupported = []
        if protocol:
            unsupported.append(f"protocol={protocol!r}")
        if len(conf.storages) > 1:
            unsupported.append("several storages in one server")
        info = {"mode": mode, "address": requested, "keep": bool(keep),
                "threaded": bool(threaded), "name": name,
                "zeo": dict(conf.zeo), "storages": conf.storages,
                "blob_dirs": conf.blob_dirs(), "unsupported": unsupported}
        requests.append(info)
        if (not substitute_mapping and mode == "raid"
                and any(t == "mappingstorage" for t, _ in conf.storages_all)):
            unsupported.append("MappingStorage backend (no tpc_begin(tid, status))")
        server_mode = mode
        if mode == "raid" and any(t == "zeoclient" for t, _ in conf.storages_all):
            # A fan-out server (its storage is a ZEO client of another server): its
            # mirrors would all write to that one server. It runs as one runzeo; the
            # server it is a client of is the RAID.
            server_mode = "runzeo"
            info["substituted"] = ("fan-out server (<zeoclient> storage) run as one "
                                   "runzeo; its upstream is the RAID")
        server = _Server(server_mode, mirrors, text, bool(keep), info,
                         substitute_mapping)
        with _lock:
            _live.append(server)
        try:
            addr = server.start(requested)
        except BaseException as e:
            info["start_error"] = str(e)[:2000]
            server.stop()
            if on_start:
                on_start(info)
            raise
        info["served_at"] = addr
        if on_start:
            on_start(info)

        def stop(stop_timeout=99):
            server.stop(stop_timeout)

        return addr, stop

    start_zeo_server.zeoraid_mode = mode
    return start_zeo_server


def make_recording_wrapper(original):
    """For the plain target: ZEO's own start_zeo_server, with each call recorded."""

    def start_zeo_server(storage_conf=None, zeo_conf=None, port=None, keep=False,
                         path='Data.fs', protocol=None, blob_dir=None, **kw):
        info = {"mode": "plain", "keep": bool(keep), "unsupported": []}
        try:
            text = build_config_text(storage_conf, zeo_conf, port, path, blob_dir,
                                     kw.get("log"))
            conf = Conf(text)
            info.update(zeo=dict(conf.zeo), storages=conf.storages,
                        blob_dirs=conf.blob_dirs(),
                        threaded=bool(kw.get("threaded")), name=kw.get("name"))
            if protocol:
                info["unsupported"].append(f"protocol={protocol!r}")
            if len(conf.storages) > 1:
                info["unsupported"].append("several storages in one server")
        except Exception as e:  # recording must never change the test
            info["parse_error"] = repr(e)
        requests.append(info)
        return original(storage_conf, zeo_conf, port, keep, path, protocol, blob_dir,
                        **kw)

    start_zeo_server.zeoraid_mode = "plain"
    return start_zeo_server


def install(replacement) -> list[str]:
    """Rebind start_zeo_server in ZEO._forker, ZEO.tests.forker and every loaded
    module that holds ZEO's original function. Returns the rebound places."""
    import ZEO._forker
    original = getattr(ZEO._forker, "_zeoraid_original", ZEO._forker.start_zeo_server)
    ZEO._forker._zeoraid_original = original
    places = []
    for modname, mod in list(sys.modules.items()):
        if mod is None:
            continue
        try:
            current = mod.__dict__.get("start_zeo_server")
        except Exception:
            continue
        if current is original or getattr(current, "zeoraid_mode", None):
            mod.start_zeo_server = replacement
            places.append(modname)
    ZEO._forker.start_zeo_server = replacement
    return places


def warnings_of(info: dict, limit: int = 3) -> list[str]:
    """The first WARNING/ERROR lines of the translator's and raidcore's logs (the C++
    binaries), shortened: what the RAID said about the test's failure."""
    out = []
    for path in info.get("logs", []):
        if not re.search(r"-(translator|raidcore)\.log$", path):
            continue
        try:
            lines = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if re.search(r" (WARNING|ERROR|FATAL) ", line):
                text = re.sub(r"^\S+ (WARNING|ERROR|FATAL) ", r"\1 ", line)
                out.append(f"{Path(path).name.split('-', 1)[1][:-4]}: {text[:240]}")
                if len(out) >= limit:
                    return out
    return out
