"""Process harness for the ZEORaid system tests.

Starts real ``runzeo`` backends, ``zeoraid-raidcore`` and ``zeoraid-translator`` on
free loopback ports, waits until each one accepts connections, and stops every process
it started (SIGTERM, then SIGKILL after a grace period), also at interpreter exit.

Two targets share the same client-facing API (:class:`Cluster`):

* ``raid`` (default): N runzeo backends + raidcore + translator; clients connect to the
  translator.
* ``plain``: one runzeo; clients connect to it directly. Running the data-path tests in
  this mode proves the tests themselves describe real ZEO behaviour.

Environment:

* ``ZEORAID_TARGET``         ``raid`` (default) or ``plain``.
* ``ZEORAID_BIN_DIR``        directory holding ``raidcore/zeoraid-raidcore`` etc.
                             (default ``<repo>/bazel-bin``).
* ``ZEORAID_START_TIMEOUT``  seconds a process may take to start listening (30).
* ``ZEORAID_WAIT_TIMEOUT``   ``wait_timeout`` passed to every ClientStorage (30).
* ``ZEORAID_LOG_LEVEL``      ``--log_level`` for the C++ binaries (info).
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import json
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence, Union

log = logging.getLogger("zeoraid.harness")

REPO_ROOT = Path(__file__).resolve().parents[2]
STORAGE_NAME = "1"
LOOPBACK = "127.0.0.1"

Address = Union[tuple, str]  # (host, port) or a unix socket path


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


START_TIMEOUT = _env_float("ZEORAID_START_TIMEOUT", 30.0)
WAIT_TIMEOUT = _env_float("ZEORAID_WAIT_TIMEOUT", 30.0)
STOP_TIMEOUT = 10.0
LOG_TAIL_BYTES = 24_000


def target_kind() -> str:
    kind = os.environ.get("ZEORAID_TARGET", "raid").strip().lower() or "raid"
    if kind not in ("raid", "plain"):
        raise ValueError(f"ZEORAID_TARGET must be 'raid' or 'plain', not {kind!r}")
    return kind


def bin_dir() -> Path:
    return Path(os.environ.get("ZEORAID_BIN_DIR") or REPO_ROOT / "bazel-bin")


def binary(package: str, name: str, root: Optional[Path] = None) -> Path:
    """Path of a Bazel-built binary (under ``root``, else ``bin_dir()``); a clear
    error if it has not been built."""
    path = (root or bin_dir()) / package / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise StartupError(
            f"{path} not found or not executable; build it with "
            f"`bazel build //{package}:{name}` or point ZEORAID_BIN_DIR at it "
            f"(or run the data-path tests against plain ZEO with ZEORAID_TARGET=plain)")
    return path


class StartupError(RuntimeError):
    """A process did not come up; the message carries its log tail."""


class ProcessError(RuntimeError):
    """A process died during a test or crashed while being stopped."""


_CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE,
                  signal.SIGILL, signal.SIGTRAP}


# --------------------------------------------------------------------------- ports


_port_lock = threading.Lock()
_handed_out: set[int] = set()


def free_port() -> int:
    """A loopback TCP port nobody listens on now, never handed out twice per session."""
    with _port_lock:
        for _ in range(100):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((LOOPBACK, 0))
                port = s.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("could not find a free loopback port")


def port_open(addr: Address, timeout: float = 0.5) -> bool:
    try:
        if isinstance(addr, str):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(timeout)
                s.connect(addr)
        else:
            socket.create_connection(addr, timeout=timeout).close()
        return True
    except OSError:
        return False


def recv_frame(sock) -> bytes:
    """One ZEO frame (4-byte big-endian length, then the payload) from a raw socket."""
    def exactly(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError(f"EOF after {len(buf)} of {n} bytes")
            buf += chunk
        return buf

    (n,) = struct.unpack(">I", exactly(4))
    return exactly(n)


def open_conn(db):
    """A connection with its own transaction manager, so that several DBs in one
    thread are independent clients. Returns (transaction manager, connection, root)."""
    import transaction
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    return tm, conn, conn.root()


def format_addr(addr: Address) -> str:
    return addr if isinstance(addr, str) else f"{addr[0]}:{addr[1]}"


def _metric_samples(metrics_addr: Address, name: str, where: dict[str, str]):
    """(line, value) of each sample of ``name`` whose labels include ``where``."""
    text = urllib.request.urlopen(
        f"http://{format_addr(metrics_addr)}/metrics", timeout=5).read().decode()
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in where.items()):
            yield line, float(line.rsplit(" ", 1)[1])


def metric_by_label(metrics_addr: Address, name: str, label: str,
                    **where: str) -> dict[str, float]:
    """The samples of metric ``name`` on a /metrics page whose labels include
    ``where``, summed by their ``label``'s value."""
    values: dict[str, float] = {}
    for line, value in _metric_samples(metrics_addr, name, where):
        if f'{label}="' in line:
            key = line.split(f'{label}="', 1)[1].split('"', 1)[0]
            values[key] = values.get(key, 0.0) + value
    return values


def metric_sum(metrics_addr: Address, name: str, **where: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``where``."""
    return sum(value for _, value in _metric_samples(metrics_addr, name, where))


def wait_until(predicate: Callable[[], bool], timeout: float, what: str,
               interval: float = 0.02) -> None:
    """Poll ``predicate`` until it is true; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.1f}s waiting for {what}")
        time.sleep(interval)


def first_success(attempt: Callable[[], "T"], timeout: float, what: str,
                  interval: float = 0.5) -> "T":
    """What ``attempt()`` returns the first time it raises nothing (after a restart,
    say); AssertionError naming ``what`` when it still raises after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return attempt()
        except Exception as e:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {timeout:.0f}s: "
                                     f"{e!r}") from e
            time.sleep(interval)


def wait_connected(storage, timeout: float = WAIT_TIMEOUT) -> None:
    """Wait until a ClientStorage is connected again (after a server restart its
    asynchronous calls, tpc_begin included, raise ClientDisconnected at once)."""
    wait_until(storage.is_connected, timeout, f"{storage} to reconnect", interval=0.05)


# ----------------------------------------------------------------------- processes


_SETPRIV = shutil.which("setpriv")


class ManagedProcess:
    """One child process whose stdout+stderr go to a log file."""

    def __init__(self, name: str, argv: Sequence[str], cwd: Path, log_path: Path,
                 env: Optional[dict] = None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.cwd = cwd
        self.log_path = log_path
        self.env = env
        self.proc: Optional[subprocess.Popen] = None
        # False while the process may only end because the harness stops it.
        self.exit_expected = True
        self._signalled = False  # a stop signal was sent to the current process

    def __repr__(self) -> str:
        pid = self.proc.pid if self.proc else None
        return f"<ManagedProcess {self.name} pid={pid}>"

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc else None

    @property
    def returncode(self) -> Optional[int]:
        return self.proc.poll() if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        assert not self.running(), f"{self.name} already running"
        self.cwd.mkdir(parents=True, exist_ok=True)
        argv = self.argv
        if _SETPRIV and threading.current_thread() is threading.main_thread():
            # The child gets SIGKILL if the test process dies without cleaning up
            # (kill -9, OOM). Only from the main thread: the signal follows the
            # thread that forked, not the process.
            argv = [_SETPRIV, "--pdeathsig", "KILL", "--", *argv]
        with open(self.log_path, "ab") as logf:
            logf.write(f"=== start: {' '.join(self.argv)}\n".encode())
            logf.flush()
            self.proc = subprocess.Popen(
                argv, cwd=self.cwd, stdin=subprocess.DEVNULL, stdout=logf,
                stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        self.exit_expected = False
        self._signalled = False
        _live.add(self)
        log.info("started %s pid=%d: %s", self.name, self.proc.pid, " ".join(self.argv))

    def send_stop(self, sig: int = signal.SIGTERM) -> None:
        """Ask the process to stop without waiting (see :meth:`stop`)."""
        if self.proc is not None:
            self.exit_expected = True
            if self.proc.poll() is None and not self._signalled:
                self.proc.send_signal(sig)
                self._signalled = True

    def stop(self, timeout: float = STOP_TIMEOUT, sig: int = signal.SIGTERM) -> Optional[int]:
        """Signal the process, then SIGKILL it if it has not exited after ``timeout``."""
        proc = self.proc
        if proc is None:
            return None
        self.exit_expected = True
        try:
            if proc.poll() is None:
                if not self._signalled or sig != signal.SIGTERM:
                    proc.send_signal(sig)
                    self._signalled = True
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning("%s pid=%d ignored signal %d for %.0fs; killing",
                                self.name, proc.pid, sig, timeout)
                    proc.kill()
                    proc.wait(timeout)
            log.info("stopped %s pid=%d rc=%s", self.name, proc.pid, proc.returncode)
            return proc.returncode
        finally:
            _live.discard(self)

    def kill(self) -> None:
        """SIGKILL at once (crash simulation)."""
        self.stop(timeout=STOP_TIMEOUT, sig=signal.SIGKILL)

    def log_text(self, max_bytes: int = LOG_TAIL_BYTES) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                size = f.tell()
                f.seek(max(0, size - max_bytes))
                data = f.read()
        except OSError as e:
            return f"<no log: {e}>"
        text = data.decode("utf-8", errors="replace")
        if size > max_bytes:
            text = f"[... {size - max_bytes} earlier bytes in {self.log_path}]\n" + text
        return text

    def wait_listening(self, addr: Address, timeout: float = START_TIMEOUT) -> None:
        """Block until ``addr`` accepts connections; StartupError with the log if the
        process exits first or the deadline passes."""
        deadline = time.monotonic() + timeout
        while True:
            rc = self.returncode
            if rc is not None:
                _live.discard(self)
                self.exit_expected = True  # reported here, not again at teardown
                raise StartupError(
                    f"{self.name} exited with status {rc} before listening on "
                    f"{format_addr(addr)}\n--- {self.log_path}\n{self.log_text()}")
            if port_open(addr):
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{self.name} pid={self.pid} not listening on {format_addr(addr)} "
                    f"after {timeout:.0f}s\n--- {self.log_path}\n{self.log_text()}")
            time.sleep(0.05)


_live: set[ManagedProcess] = set()


def stop_all_live() -> None:
    """Stop every process the harness started that is still running (session end)."""
    for p in list(_live):
        try:
            p.stop()
        except Exception:  # keep going: the others must still be stopped
            log.exception("stopping %s", p.name)


atexit.register(stop_all_live)


class Supervisor:
    """Owns the processes of one cluster and stops them all."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.processes: list[ManagedProcess] = []

    def spawn(self, name: str, argv: Sequence[str], cwd: Optional[Path] = None,
              env: Optional[dict] = None) -> ManagedProcess:
        cwd = cwd or self.workdir / name
        p = ManagedProcess(name, argv, cwd, self.workdir / f"{name}.log", env)
        self.processes.append(p)
        p.start()
        return p

    def stop_all(self) -> None:
        """Stop everything; then fail if a process had died on its own or crashed
        while stopping (a test must not pass over a crash)."""
        errors = []
        died_on_its_own = {p for p in self.processes
                           if not p.exit_expected and p.returncode is not None}
        for p in self.processes:  # all at once: stopping one by one is slow
            p.send_stop()
        for p in reversed(self.processes):
            died = p in died_on_its_own
            try:
                rc = p.stop()
            except Exception as e:
                errors.append(f"could not stop {p.name}: {e!r}")
                continue
            if died:
                errors.append(f"{p.name} pid={p.pid} exited on its own during the test "
                              f"({_describe_status(rc)})")
            elif rc is not None and rc < 0 and -rc in _CRASH_SIGNALS:
                errors.append(f"{p.name} pid={p.pid} crashed while stopping "
                              f"({_describe_status(rc)})")
        if errors:
            raise ProcessError("; ".join(errors))

    def logs(self) -> list[tuple[str, str]]:
        """(title, log tail) for every process, for failure reports."""
        out = []
        for p in self.processes:
            state = "running" if p.running() else f"exit {p.returncode}"
            out.append((f"{p.name} pid={p.pid} ({state}) {p.log_path}", p.log_text()))
        return out


def _describe_status(rc: Optional[int]) -> str:
    if rc is not None and rc < 0:
        return f"killed by {signal.Signals(-rc).name}"
    return f"exit status {rc}"


def _address_in_use(p: ManagedProcess) -> bool:
    text = p.log_text().lower()
    return "address already in use" in text or "eaddrinuse" in text


# ------------------------------------------------------------------------ services


class Service:
    """A listening process started on a fresh port, restartable on the same port."""

    name: str
    addr: tuple

    def __init__(self, supervisor: Supervisor, name: str):
        self.supervisor = supervisor
        self.name = name
        self.process: Optional[ManagedProcess] = None
        self.addr = None

    def argv(self) -> list[str]:
        raise NotImplementedError

    def prepare(self) -> None:
        """Write config files etc. before each start."""

    def spawn(self) -> None:
        """Start the process without waiting for it (see :meth:`wait_ready`)."""
        if self.addr is None:
            self.addr = (LOOPBACK, free_port())
        self.prepare()
        if self.process is None:
            self.process = self.supervisor.spawn(self.name, self.argv())
        else:
            self.process.argv = self.argv()
            self.process.start()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        assert self.process is not None
        self.process.wait_listening(self.addr, timeout)

    def start(self, timeout: float = START_TIMEOUT, fixed_port: bool = False) -> None:
        """Spawn and wait; on 'address in use' retry on a new port (unless fixed)."""
        for attempt in range(3):
            self.spawn()
            try:
                self.wait_ready(timeout)
                return
            except StartupError:
                if (fixed_port or isinstance(self.addr, str) or attempt == 2
                        or not _address_in_use(self.process)):
                    raise
                log.warning("%s: port %s taken, retrying on another", self.name,
                            self.addr[1])
                self.addr = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        self.stop()
        self.start(timeout, fixed_port=True)


class ZeoBackend(Service):
    """A real ``runzeo`` serving one FileStorage named "1"."""

    def __init__(self, supervisor: Supervisor, name: str, extra_zeo_conf: str = "",
                 blobs: bool = False):
        super().__init__(supervisor, name)
        self.dir = supervisor.workdir / name
        self.data_fs = self.dir / "Data.fs"
        self.conf = self.dir / "zeo.conf"
        self.extra_zeo_conf = extra_zeo_conf
        # A FileStorage with a blob directory (ZODB's default "bushy" layout).
        self.blob_dir = self.dir / "blobs" if blobs else None

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            "<zeo>\n"
            f"  address {format_addr(self.addr)}\n"
            f"{self.extra_zeo_conf}"
            "</zeo>\n"
            f"<filestorage {STORAGE_NAME}>\n"
            f"  path {self.data_fs}\n"
            + (f"  blob-dir {self.blob_dir}\n" if self.blob_dir else "")
            + "</filestorage>\n")

    def argv(self) -> list[str]:
        return [sys.executable, "-m", "ZEO.runzeo", "-C", str(self.conf)]

    def history(self) -> list["Txn"]:
        """The backend's full history, read over ZEO straight from the backend."""
        return read_history(self.addr)

    def history_offline(self) -> list["Txn"]:
        """The history read from Data.fs (the backend must be stopped)."""
        return read_history_from_file(self.data_fs)


class Raidcore(Service):
    def __init__(self, supervisor: Supervisor, backends: Sequence[ZeoBackend],
                 name: str = "raidcore", extra_args: Sequence[str] = (),
                 metrics: bool = False, admin_args: Sequence[str] = (),
                 bin_dir: Optional[Path] = None):
        super().__init__(supervisor, name)
        self.backends = list(backends)
        self.bin_dir = bin_dir  # None: bin_dir()
        self.metrics_addr: Optional[tuple] = (LOOPBACK, free_port()) if metrics else None
        self.extra_args = list(extra_args)
        # Flags every zeoraid-admin call gets (e.g. TLS certificates).
        self.admin_args = list(admin_args)

    def argv(self) -> list[str]:
        argv = [str(binary("raidcore", "zeoraid-raidcore", self.bin_dir)),
                "--listen", format_addr(self.addr),
                "--storage", STORAGE_NAME,
                "--log_level", os.environ.get("ZEORAID_LOG_LEVEL", "info")]
        if self.metrics_addr is not None:
            argv += ["--metrics_listen", format_addr(self.metrics_addr)]
        for b in self.backends:
            argv += ["--backend", f"{b.name}={format_addr(b.addr)}"]
        return argv + self.extra_args

    def admin(self, *args: str, check: bool = True, timeout: float = 30.0
              ) -> subprocess.CompletedProcess:
        """Run ``zeoraid-admin --raidcore ADDR ARGS...``."""
        argv = [str(binary("admin", "zeoraid-admin", self.bin_dir)), "--raidcore",
                format_addr(self.addr), *self.admin_args, *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                stdin=subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} exited {result.returncode}\n"
                               f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def status(self) -> dict:
        """``zeoraid-admin status --json`` as a dict.

        ``status`` exits like a monitoring check: 0 optimal, 1 degraded or
        recovering, 2 failed, each with the status on stdout; 3 means raidcore
        could not be asked.
        """
        result = self.admin("status", "--json", check=False)
        if result.returncode not in (0, 1, 2):
            raise RuntimeError(f"zeoraid-admin status --json exited {result.returncode}\n"
                               f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        out = result.stdout
        try:
            return json.loads(out)
        except ValueError as e:
            raise RuntimeError(f"zeoraid-admin status --json printed no JSON ({e}):\n"
                               f"{out}\nstderr:\n{result.stderr}") from None


class Translator(Service):
    def __init__(self, supervisor: Supervisor, raidcore: Raidcore,
                 name: str = "translator", listen: Optional[str] = None,
                 extra_args: Sequence[str] = (), bin_dir: Optional[Path] = None):
        super().__init__(supervisor, name)
        self.raidcore = raidcore
        self.bin_dir = bin_dir  # None: bin_dir()
        self.extra_args = list(extra_args)
        if listen is not None:  # unix socket path
            self.addr = listen

    def argv(self) -> list[str]:
        return [str(binary("translator", "zeoraid-translator", self.bin_dir)),
                "--listen", format_addr(self.addr),
                "--raidcore", format_addr(self.raidcore.addr),
                "--name", self.name,
                "--log_level", os.environ.get("ZEORAID_LOG_LEVEL", "info"),
                *self.extra_args]


# ------------------------------------------------------------------------- history


@dataclasses.dataclass(frozen=True)
class Record:
    oid: bytes
    data: Optional[bytes]
    data_txn: Optional[bytes]


@dataclasses.dataclass(frozen=True)
class Txn:
    tid: bytes
    status: str
    user: bytes
    description: bytes
    extension: dict
    records: tuple[Record, ...]

    @property
    def oids(self) -> list[bytes]:
        return [r.oid for r in self.records]


def _as_bytes(v) -> bytes:
    return v.encode("utf-8") if isinstance(v, str) else bytes(v or b"")


def _txn_from(info) -> Txn:
    ext = getattr(info, "extension", None)
    if ext is None:
        ext = getattr(info, "_extension", {}) or {}
    records = tuple(Record(r.oid, r.data, r.data_txn) for r in info)
    return Txn(info.tid, info.status, _as_bytes(info.user),
               _as_bytes(info.description), dict(ext), records)


def history_of(storage) -> list[Txn]:
    """Every transaction of an open storage (ClientStorage or FileStorage)."""
    it = storage.iterator()
    try:
        return [_txn_from(info) for info in it]
    finally:
        close = getattr(it, "close", None)
        if close is not None:
            close()


def read_history(addr: Address, timeout: float = WAIT_TIMEOUT) -> list[Txn]:
    """Connect a read-only ClientStorage to ``addr`` and read its whole history."""
    from ZEO.ClientStorage import ClientStorage
    storage = ClientStorage(addr, storage=STORAGE_NAME, read_only=True,
                            wait_timeout=timeout)
    try:
        return history_of(storage)
    finally:
        storage.close()


def read_history_from_file(path: Path) -> list[Txn]:
    from ZODB.FileStorage import FileStorage
    storage = FileStorage(str(path), read_only=True)
    try:
        return history_of(storage)
    finally:
        storage.close()


def tid_repr(tid: Optional[bytes]) -> str:
    if tid is None:
        return "None"
    from ZODB.TimeStamp import TimeStamp
    return f"{tid.hex()} ({TimeStamp(tid)})"


# ------------------------------------------------------------------------- cluster


def _conf_lines(text: str) -> str:
    """Extra ``<zeo>`` lines, indented, each ending in a newline."""
    return "".join(f"  {line.strip()}\n" for line in text.splitlines() if line.strip())


class Cluster:
    """What a test talks to: the RAID (or a plain ZEO server) plus its clients."""

    def __init__(self, workdir: Path, kind: Optional[str] = None, n_backends: int = 2,
                 unix_socket: bool = False, raidcore_args: Sequence[str] = (),
                 zeo_conf: str = "", translator_args: Sequence[str] = (),
                 blobs=False, admin_args: Sequence[str] = (),
                 bin_dir: Optional[Path] = None, raidcore_metrics: bool = False):
        """``zeo_conf``: extra lines for the ``<zeo>`` section of every runzeo (e.g.
        ``"msgpack true\n"``, ``"client-conflict-resolution true\n"``);
        ``translator_args``: extra command-line flags of the translator;
        ``admin_args``: flags of every zeoraid-admin call (e.g. certificates);
        ``bin_dir``: where this RAID's binaries are (default: ``bin_dir()``);
        ``raidcore_metrics``: raidcore serves /metrics at ``raidcore.metrics_addr``;
        ``blobs``: every runzeo's FileStorage gets a blob directory (True), or
        one bool per backend."""
        self.kind = kind or target_kind()
        self.workdir = workdir
        self.supervisor = Supervisor(workdir)
        self.backends: list[ZeoBackend] = []
        self.raidcore: Optional[Raidcore] = None
        self.translator: Optional[Translator] = None
        self._clients: list = []  # DBs and ClientStorages to close, in order
        n = n_backends if self.kind == "raid" else 1
        for i in range(1, n + 1):
            self.backends.append(ZeoBackend(self.supervisor, f"backend{i}",
                                            extra_zeo_conf=_conf_lines(zeo_conf),
                                            blobs=(blobs[i - 1]
                                                   if isinstance(blobs, (list, tuple))
                                                   else blobs)))
        if self.kind == "raid":
            self.raidcore = Raidcore(self.supervisor, self.backends,
                                     extra_args=raidcore_args, admin_args=admin_args,
                                     bin_dir=bin_dir, metrics=raidcore_metrics)
            sock = str(workdir / "translator.sock") if unix_socket else None
            self.translator = Translator(self.supervisor, self.raidcore, listen=sock,
                                         extra_args=translator_args, bin_dir=bin_dir)
        elif unix_socket:
            self.backends[0].addr = str(workdir / "zeo.sock")

    @property
    def is_raid(self) -> bool:
        return self.kind == "raid"

    @property
    def addr(self) -> Address:
        """Where ZEO clients connect."""
        return self.translator.addr if self.is_raid else self.backends[0].addr

    def start(self) -> "Cluster":
        t0 = time.monotonic()
        if self.is_raid:
            # Checked before anything starts: a missing build fails with one message.
            binary("raidcore", "zeoraid-raidcore", self.raidcore.bin_dir)
            binary("translator", "zeoraid-translator", self.translator.bin_dir)
        for b in self.backends:  # runzeo takes ~0.4 s: start them side by side
            b.spawn()
        for b in self.backends:
            b.wait_ready()
        if self.is_raid:
            self.raidcore.start()
            self.translator.start()
            self.wait_raid_state("optimal")
        log.info("%s target up at %s in %.2fs", self.kind, format_addr(self.addr),
                 time.monotonic() - t0)
        return self

    def wait_raid_state(self, want: str, timeout: float = START_TIMEOUT) -> Optional[dict]:
        """Wait until ``zeoraid-admin status`` reports ``want``. Returns the status, or
        None when the admin CLI is unusable (missing or broken: logged, not fatal, so
        that the data-path tests still say what works)."""
        try:
            admin = binary("admin", "zeoraid-admin", self.raidcore.bin_dir)
        except StartupError as e:
            log.warning("not checking RAID state: %s", e)
            return None
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = self.raidcore.status()
            except Exception as e:
                log.warning("not checking RAID state: %s failed: %s", admin, e)
                return None
            if last.get("state") == want:
                return last
            if time.monotonic() > deadline:
                raise StartupError(f"RAID state is not {want!r} after {timeout:.0f}s: "
                                   f"{json.dumps(last, indent=1)}")
            time.sleep(0.1)

    # clients ---------------------------------------------------------------

    def client_storage(self, addr: Optional[Address] = None, **kw):
        """A ClientStorage on the target (closed at teardown)."""
        from ZEO.ClientStorage import ClientStorage
        kw.setdefault("wait_timeout", WAIT_TIMEOUT)
        kw.setdefault("storage", STORAGE_NAME)
        storage = ClientStorage(addr or self.addr, **kw)
        self._clients.append(storage)
        return storage

    def db(self, **kw):
        """A ZODB.DB over a fresh ClientStorage on the target (closed at teardown)."""
        import ZODB
        db = ZODB.DB(self.client_storage(**kw))
        self._clients.append(db)
        return db

    def close_clients(self) -> None:
        errors = []
        for c in reversed(self._clients):
            try:
                c.close()
            except Exception as e:
                errors.append(repr(e))
        self._clients.clear()
        if errors:
            log.warning("errors closing clients: %s", "; ".join(errors))

    def stop(self) -> None:
        try:
            self.close_clients()
            # Collect the closed clients now, so that asyncio's complaints about
            # futures a dead server never answered are logged with this test, not
            # printed after pytest's summary at interpreter exit.
            gc.collect()
        finally:
            self.supervisor.stop_all()

    def backend_histories(self) -> dict[str, list[Txn]]:
        return {b.name: b.history() for b in self.backends}

    def logs(self) -> list[tuple[str, str]]:
        return self.supervisor.logs()


def describe_history(history: Iterable[Txn]) -> str:
    lines = []
    for t in history:
        lines.append(f"  {tid_repr(t.tid)} {t.description!r} "
                     f"oids={[o.hex() for o in t.oids]}")
    return "\n".join(lines)
