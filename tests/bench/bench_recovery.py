"""Recovery (raidcore's RecoveryJob) speed, throttle accuracy, and commit latency
while a recovery runs. Prints figures; asserts nothing about speed (exit status 1
only when something broke: a process, a client, a recovery that failed).

  .venv/bin/python tests/bench/bench_recovery.py [--transactions 2000] [--objects 10]
      [--object-size 200] [--txn-rate 100] [--byte-rate 200000] [--window 30]
      [--latency-window 15] [--commit-interval 0.02] [--quick]

1. Full rebuild: --transactions transactions (each rewriting --objects objects of
   --object-size random bytes) are committed through a 2-backend RAID with a ZODB
   client; backend2 is stopped, its Data.fs* deleted and restarted on its port,
   and auto-recovery rebuilds it. Reported: time from the restart to RAID optimal,
   the job's own time (raidcore's "done" log line), transactions/s and MB/s (the
   job's counts over its time; Status's own figures, read as the RAID turned
   optimal, in brackets). Then the same data is copied between two plain runzeo
   servers with ZODB's ClientStorage.copyTransactionsFrom (the same iterator +
   tpc_begin(tid) + restorea protocol), and the ratio RAID/plain is printed.
2. Throttle accuracy: a second RAID (--auto_recover=false) on copies of that
   database, grown through the RAID until the backlog outlasts the window;
   backend2 is emptied and restarted, the rate set (zeoraid-admin rate), the
   recovery started (zeoraid-admin recover), and after --settle seconds
   transactions_copied / bytes_copied are read from Status at the start and end
   of a --window second window; then the job is cancelled. Once with a
   transaction limit only (--txn-rate), once with a byte limit only (--byte-rate;
   bytes as raidcore counts them: user, description and record data).
3. Commit latency: one ZODB client commits a one-object change every
   --commit-interval seconds through the RAID; p50/p99 of tm.commit() for
   --latency-window seconds with both backends optimal, then while a throttled
   (--txn-rate) full recovery of backend2 runs (afterwards the rate is lifted so
   it finishes, under the same commits), then while an unthrottled full recovery
   runs (for as long as it runs, at most --latency-window). Each recovery's
   longest commit-lock hold (its cutover) is printed. During a recovery the
   commits go to one backend only.

All servers listen on free loopback ports in a temporary directory and are stopped
at the end (tests/system/harness.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "system"))

import harness  # noqa: E402

POOL = 1000  # objects the workload rewrites, round robin
MB = 1e6
DONE_LINE = re.compile(
    r"recovery of (\S+) from (\S+) done \((\w+)\): (\d+) transactions, (\d+) bytes "
    r"in (\S+); commit lock held (\S+)")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|h|m|s)")
_UNIT = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_absl_duration(text: str) -> Optional[float]:
    """Seconds of an absl::FormatDuration string ("1.5s", "2m3.25s", "850ms")."""
    text = text.rstrip(";,")
    if text == "0":
        return 0.0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNIT[u] for n, u in parts)


def say(msg: str = "") -> None:
    print(msg, flush=True)


def dump_logs(cluster, max_bytes: int = 4000) -> None:
    """The processes' log tails, on stderr, when something broke."""
    for title, text in cluster.logs():
        print(f"--- {title}\n{text[-max_bytes:]}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ binaries

BINARIES = [("raidcore", "zeoraid-raidcore"), ("translator", "zeoraid-translator"),
            ("admin", "zeoraid-admin")]


def snapshot_binaries(tmp: Path) -> None:
    """Copies the binaries into ``tmp`` and points the harness there, so that a
    concurrent `bazel build` cannot swap or remove them mid-run. From
    $ZEORAID_BIN_DIR if set, else bazel-bin, else bazel-out/k8-fastbuild/bin (when
    bazel-bin points at another configuration's outputs, e.g. --config=tsan)."""
    if os.environ.get("ZEORAID_BIN_DIR"):
        candidates = [Path(os.environ["ZEORAID_BIN_DIR"])]
    else:
        candidates = [harness.REPO_ROOT / "bazel-bin",
                      harness.REPO_ROOT / "bazel-out" / "k8-fastbuild" / "bin"]
    for src in candidates:
        if all(os.access(src / pkg / name, os.X_OK) for pkg, name in BINARIES):
            break
    else:
        raise harness.StartupError(
            f"zeoraid binaries not found in {', '.join(map(str, candidates))}; build "
            f"them with `bazel build //raidcore:zeoraid-raidcore "
            f"//translator:zeoraid-translator //admin:zeoraid-admin`")
    dst = tmp / "bin"
    for pkg, name in BINARIES:
        (dst / pkg).mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / pkg / name, dst / pkg / name)
    os.environ["ZEORAID_BIN_DIR"] = str(dst)
    raidcore = src / "raidcore" / "zeoraid-raidcore"
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(raidcore.stat().st_mtime))
    sanitized = b"__tsan_init" in raidcore.read_bytes() or \
        b"__asan_init" in raidcore.read_bytes()
    say(f"binaries: {src.resolve()} (raidcore built {built})"
        + ("  [WARNING: a sanitizer build, figures are not representative]"
           if sanitized else ""))


# ------------------------------------------------------------------ workload


class Workload:
    """Commits transactions that each rewrite ``objects`` objects of ``size`` random
    bytes (a pool of POOL objects in an OOBTree, round robin), through one DB."""

    def __init__(self, objects: int, size: int):
        self.objects = objects
        self.size = size
        self.next = 0  # index of the next transaction, across databases

    def commit(self, db, count: int) -> float:
        """Commits ``count`` transactions; returns the seconds it took."""
        import transaction
        from BTrees.OOBTree import OOBTree
        from persistent.mapping import PersistentMapping
        tm, conn, root = harness.open_conn(db)
        t0 = time.monotonic()
        try:
            if "pool" not in root:
                root["pool"] = OOBTree()
                tm.commit()
            pool = root["pool"]
            for _ in range(count):
                for j in range(self.objects):
                    k = (self.next * self.objects + j) % POOL
                    obj = pool.get(k)
                    if obj is None:
                        obj = pool[k] = PersistentMapping()
                    obj["v"] = os.urandom(self.size)
                tm.get().note(f"bench {self.next}")
                tm.commit()
                self.next += 1
                if self.next % 500 == 0:
                    conn.cacheMinimize()
        finally:
            tm.abort()
            conn.close()
        return time.monotonic() - t0


class LatencyProbe(threading.Thread):
    """One ZODB client committing a one-object change every ``interval`` seconds;
    records (start time, seconds) of every tm.commit()."""

    def __init__(self, db, interval: float):
        super().__init__(daemon=True, name="latency-probe")
        self.db = db
        self.interval = interval
        self.stop_flag = threading.Event()
        self.samples: list[tuple[float, float]] = []
        self.errors: list[str] = []

    def run(self) -> None:
        from persistent.mapping import PersistentMapping
        tm, conn, root = harness.open_conn(self.db)
        try:
            if "latency" not in root:
                root["latency"] = PersistentMapping(v=0)
                tm.commit()
            obj = root["latency"]
            i = 0
            while not self.stop_flag.is_set():
                try:
                    tm.begin()
                    obj["v"] = i
                    t0 = time.monotonic()
                    tm.commit()
                    self.samples.append((t0, time.monotonic() - t0))
                    i += 1
                except Exception as e:
                    self.errors.append(repr(e))
                    tm.abort()
                    if len(self.errors) > 20:
                        return
                if self.interval > 0:
                    self.stop_flag.wait(self.interval)
        finally:
            tm.abort()
            conn.close()

    def finish(self) -> None:
        self.stop_flag.set()
        self.join(60)
        if self.is_alive():
            raise RuntimeError("the latency probe did not stop (a commit hangs)")
        if self.errors:
            raise RuntimeError(f"commit errors: {self.errors[:5]}")

    def between(self, start: float, end: float) -> list[float]:
        return [d for t, d in self.samples if start <= t < end]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    return s[max(0, math.ceil(p / 100 * len(s)) - 1)]


def ms(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x * 1000:.2f} ms"


# ------------------------------------------------------------------ RAID helpers


def backend_state(cluster, name: str) -> str:
    return {b["name"]: b for b in cluster.raidcore.status()["backends"]}[name]["state"]


def remove_data(backend) -> None:
    for f in backend.dir.glob("Data.fs*"):
        f.unlink()


def empty_and_restart(cluster, backend) -> float:
    """Stops ``backend``, waits until raidcore no longer counts it optimal, deletes its
    Data.fs*, starts it on its port. Returns the monotonic time of the restart."""
    backend.stop()
    harness.wait_until(lambda: backend_state(cluster, backend.name) == "degraded", 60,
                       f"{backend.name} degraded", interval=0.1)
    remove_data(backend)
    t = time.monotonic()
    backend.start(fixed_port=True)
    return t


def set_rate(cluster, bytes_per_second: float, transactions_per_second: float) -> None:
    cluster.raidcore.admin("rate", "--bytes_per_second", f"{bytes_per_second:g}",
                           "--transactions_per_second", f"{transactions_per_second:g}")


def timed_status(cluster) -> tuple[float, dict]:
    """Status and the monotonic time it describes (the middle of the call)."""
    t0 = time.monotonic()
    s = cluster.raidcore.status()
    return (t0 + time.monotonic()) / 2, s


def recovery_of(status: dict) -> dict:
    return status.get("recovery") or {}


def wait_optimal(cluster, timeout: float, what: str) -> tuple[float, dict]:
    """Polls Status until the RAID is optimal; fails at once when the recovery
    failed or was cancelled. Returns (time, first optimal Status)."""
    deadline = time.monotonic() + timeout
    while True:
        t, s = timed_status(cluster)
        if s.get("state") == "optimal":
            return t, s
        rec = recovery_of(s)
        if rec.get("phase") in ("failed", "cancelled") and not any(
                b["state"] == "recovering" for b in s["backends"]):
            raise RuntimeError(f"{what}: recovery {rec.get('phase')}: "
                               f"{json.dumps(rec)}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: RAID not optimal after {timeout:.0f}s: "
                               f"{json.dumps(s)}")
        time.sleep(0.05)


def done_line(cluster, backend: str, nth: int = -1) -> Optional[dict]:
    """raidcore's log line for a finished recovery of ``backend`` (the last by default)."""
    lines = [m for m in DONE_LINE.finditer(cluster.raidcore.process.log_text(10**7))
             if m.group(1) == backend]
    if not lines:
        return None
    m = lines[nth]
    return {"mode": m.group(3), "transactions": int(m.group(4)),
            "bytes": int(m.group(5)), "seconds": parse_absl_duration(m.group(6)),
            "lock_hold": parse_absl_duration(m.group(7))}


# ------------------------------------------------------------------ part 1


def full_rebuild(args, tmp: Path, workload: Workload, results: dict) -> Path:
    """Builds the database through a RAID, rebuilds backend2 from nothing. Returns
    the directory holding a copy of the database (Data.fs + index)."""
    say(f"== 1. full rebuild: {args.transactions} transactions of {args.objects} x "
        f"{args.object_size} bytes")
    cluster = harness.Cluster(tmp / "raid1", kind="raid", n_backends=2)
    saved = tmp / "saved"
    try:
        cluster.start()
        db = cluster.db()
        secs = workload.commit(db, args.transactions)
        say(f"   built through the RAID in {secs:.1f} s "
            f"({args.transactions / secs:.0f} commits/s from one client)")
        cluster.close_clients()
        b1, b2 = cluster.backends
        t_restart = empty_and_restart(cluster, b2)
        t_optimal, status = wait_optimal(cluster, args.timeout, "full rebuild")
        rec = recovery_of(status)
        line = done_line(cluster, "backend2")
        if rec.get("mode") != "full" or rec.get("backend") != "backend2":
            raise RuntimeError(f"expected a full recovery of backend2: {json.dumps(rec)}")
        txns = int(rec["transactions_copied"])
        nbytes = int(rec["bytes_copied"])
        job_secs = line["seconds"] if line and line["seconds"] else float(
            rec["elapsed_seconds"])
        r = results["raid_rebuild"] = {
            "transactions": txns, "bytes": nbytes,
            "restart_to_optimal": t_optimal - t_restart, "job_seconds": job_secs,
            "txn_per_s": txns / job_secs, "mb_per_s": nbytes / job_secs / MB,
            "status_txn_per_s": float(rec.get("transactions_per_second", 0)),
            "status_mb_per_s": float(rec.get("bytes_per_second", 0)) / MB,
            "status_elapsed": float(rec.get("elapsed_seconds", 0)),
            "lock_hold": float(rec.get("longest_lock_hold_seconds", 0)),
        }
        say(f"   RAID: {txns} transactions, {nbytes / MB:.2f} MB; restart -> optimal "
            f"{r['restart_to_optimal']:.2f} s, job {job_secs:.2f} s: "
            f"{r['txn_per_s']:.0f} txn/s, {r['mb_per_s']:.2f} MB/s "
            f"(Status: {r['status_txn_per_s']:.0f} txn/s, {r['status_mb_per_s']:.2f} MB/s "
            f"over {r['status_elapsed']:.2f} s); commit lock held "
            f"{r['lock_hold'] * 1000:.2f} ms")
        cluster.stop()  # clean shutdown: Data.fs.index is written
        saved.mkdir()
        for f in ("Data.fs", "Data.fs.index"):
            if (b1.dir / f).exists():
                shutil.copy(b1.dir / f, saved / f)
    except Exception:
        dump_logs(cluster)
        raise
    finally:
        cluster.stop()  # idempotent: processes already stopped are skipped
    plain_copy(args, tmp, saved, results)
    return saved


def plain_copy(args, tmp: Path, saved: Path, results: dict) -> None:
    from ZEO.ClientStorage import ClientStorage
    sup = harness.Supervisor(tmp / "plain")
    src = harness.ZeoBackend(sup, "plain-src")
    dst = harness.ZeoBackend(sup, "plain-dst")
    src.dir.mkdir(parents=True)
    for f in saved.iterdir():
        shutil.copy(f, src.dir / f.name)
    storages = []
    try:
        for b in (src, dst):
            b.spawn()
        for b in (src, dst):
            b.wait_ready()
        source = ClientStorage(src.addr, storage=harness.STORAGE_NAME, read_only=True,
                               wait_timeout=harness.WAIT_TIMEOUT)
        storages.append(source)
        target = ClientStorage(dst.addr, storage=harness.STORAGE_NAME,
                               wait_timeout=harness.WAIT_TIMEOUT)
        storages.append(target)
        t0 = time.monotonic()
        target.copyTransactionsFrom(source)
        secs = time.monotonic() - t0
        if target.lastTransaction() != source.lastTransaction():
            raise RuntimeError("plain copy: the target's last transaction is not the "
                               "source's")
    finally:
        for s in storages:
            s.close()
        sup.stop_all()
    raid = results["raid_rebuild"]
    p = results["plain_copy"] = {
        "seconds": secs, "txn_per_s": raid["transactions"] / secs,
        "mb_per_s": raid["bytes"] / secs / MB}
    say(f"   plain runzeo -> runzeo copyTransactionsFrom: {secs:.2f} s: "
        f"{p['txn_per_s']:.0f} txn/s, {p['mb_per_s']:.2f} MB/s")
    say(f"   RAID/plain: {raid['txn_per_s'] / p['txn_per_s']:.2f} (job), "
        f"{raid['transactions'] / raid['restart_to_optimal'] / p['txn_per_s']:.2f} "
        f"(restart -> optimal)")


# ------------------------------------------------------------------ parts 2, 3


def throttle_window(args, cluster, label: str, bytes_per_second: float,
                    transactions_per_second: float) -> dict:
    b2 = cluster.backends[1]
    if backend_state(cluster, "backend2") != "degraded":
        raise RuntimeError("backend2 should be degraded before a throttle run")
    b2.stop()
    remove_data(b2)
    b2.start(fixed_port=True)
    set_rate(cluster, bytes_per_second, transactions_per_second)
    cluster.raidcore.admin("recover", "backend2")
    time.sleep(args.settle)
    t0, s0 = timed_status(cluster)
    time.sleep(args.window)
    t1, s1 = timed_status(cluster)
    r0, r1 = recovery_of(s0), recovery_of(s1)
    still_copying = r1.get("phase") == "copying"
    cluster.raidcore.admin("cancel", check=False)
    harness.wait_until(lambda: backend_state(cluster, "backend2") == "degraded", 60,
                       "the cancelled recovery to end", interval=0.1)
    dt = t1 - t0
    txn_rate = (int(r1["transactions_copied"]) - int(r0["transactions_copied"])) / dt
    byte_rate = (int(r1["bytes_copied"]) - int(r0["bytes_copied"])) / dt
    if transactions_per_second:
        limit, measured, unit = transactions_per_second, txn_rate, "txn/s"
    else:
        limit, measured, unit = bytes_per_second, byte_rate, "B/s"
    err = (measured - limit) / limit * 100
    res = {"label": label, "limit": limit, "measured": measured, "unit": unit,
           "error_pct": err, "window": dt, "txn_rate": txn_rate,
           "byte_rate": byte_rate, "valid": still_copying,
           "copied_before": int(r0["transactions_copied"])}
    say(f"   {label}: limit {limit:g} {unit}, measured {measured:.1f} {unit} over "
        f"{dt:.1f} s ({err:+.2f} %); {txn_rate:.1f} txn/s, {byte_rate / 1000:.1f} kB/s"
        + ("" if still_copying else
           f"  [INVALID: phase {r1.get('phase')!r} at the window's end]"))
    return res


def latency_runs(args, cluster, results: dict) -> None:
    b2 = cluster.backends[1]
    db = cluster.db()
    rows = results["latency"] = []

    # Both optimal (a full unthrottled recovery first: backend2 was left degraded).
    b2.stop()
    remove_data(b2)
    b2.start(fixed_port=True)
    set_rate(cluster, 0, 0)
    cluster.raidcore.admin("recover", "backend2")
    wait_optimal(cluster, args.timeout, "recovery before the latency baseline")
    probe = LatencyProbe(db, args.commit_interval)
    probe.start()
    try:
        time.sleep(1.0)  # connected, warm
        t0 = time.monotonic()
        time.sleep(args.latency_window)
        t1 = time.monotonic()
    finally:
        probe.finish()
    lat = probe.between(t0, t1)
    rows.append({"label": "no recovery", "lat": lat, "seconds": t1 - t0,
                 "lock_hold": None, "note": "both backends optimal"})
    say(f"   no recovery: p50 {ms(percentile(lat, 50))}, p99 {ms(percentile(lat, 99))}"
        f" ({len(lat)} commits in {t1 - t0:.1f} s)")

    # Throttled full recovery: the window while it copies at --txn-rate, then the
    # rate is lifted and the commits go on until it has cut over.
    probe = LatencyProbe(db, args.commit_interval)
    probe.start()
    try:
        empty_and_restart(cluster, b2)
        set_rate(cluster, 0, args.txn_rate)
        time.sleep(1.0)
        cluster.raidcore.admin("recover", "backend2")
        t0 = time.monotonic()
        time.sleep(args.latency_window)
        t1, s = timed_status(cluster)
        rec = recovery_of(s)
        if rec.get("phase") != "copying":
            say(f"   [throttled recovery no longer copying at the window's end: "
                f"{rec.get('phase')!r}]")
        set_rate(cluster, 0, 0)
        t_opt, s = wait_optimal(cluster, args.timeout, "throttled recovery")
    finally:
        probe.finish()
    lat = probe.between(t0, t1)
    tail = probe.between(t1, t_opt)
    hold = float(recovery_of(s).get("longest_lock_hold_seconds", 0))
    rows.append({"label": f"throttled recovery ({args.txn_rate:g} txn/s)", "lat": lat,
                 "seconds": t1 - t0, "lock_hold": hold,
                 "note": f"{int(rec.get('transactions_copied', 0))} txn copied in the "
                         f"window"})
    say(f"   throttled ({args.txn_rate:g} txn/s) full recovery: "
        f"p50 {ms(percentile(lat, 50))}, p99 {ms(percentile(lat, 99))} "
        f"({len(lat)} commits in {t1 - t0:.1f} s); then unthrottled to the end "
        f"({t_opt - t1:.1f} s, {len(tail)} commits, max {ms(max(tail, default=math.nan))});"
        f" longest commit-lock hold {hold * 1000:.2f} ms")

    # Unthrottled full recovery, for as long as it runs (at most the window).
    probe = LatencyProbe(db, args.commit_interval)
    probe.start()
    try:
        empty_and_restart(cluster, b2)
        set_rate(cluster, 0, 0)
        time.sleep(1.0)
        cluster.raidcore.admin("recover", "backend2")
        t0 = time.monotonic()
        t_opt, s = wait_optimal(cluster, args.timeout, "unthrottled recovery")
    finally:
        probe.finish()
    rec = recovery_of(s)
    t1 = min(t_opt, t0 + args.latency_window)
    lat = probe.between(t0, t1)
    hold = float(rec.get("longest_lock_hold_seconds", 0))
    rows.append({"label": "unthrottled recovery", "lat": lat, "seconds": t1 - t0,
                 "lock_hold": hold,
                 "note": f"{int(rec.get('transactions_copied', 0))} txn copied in "
                         f"{t_opt - t0:.1f} s"})
    say(f"   unthrottled full recovery ({int(rec.get('transactions_copied', 0))} txn "
        f"in {t_opt - t0:.1f} s): p50 {ms(percentile(lat, 50))}, "
        f"p99 {ms(percentile(lat, 99))} ({len(lat)} commits in {t1 - t0:.1f} s); "
        f"longest commit-lock hold {hold * 1000:.2f} ms")


def throttle_and_latency(args, tmp: Path, saved: Path, workload: Workload,
                         results: dict) -> None:
    raid = results["raid_rebuild"]
    per_txn = raid["bytes"] / raid["transactions"]
    span = args.window + args.settle
    # Each run is a fresh full recovery: the database must outlast the longest.
    need = math.ceil(1.3 * max(span * max(args.txn_rate, args.byte_rate / per_txn),
                               args.latency_window * args.txn_rate) + 100)
    cluster = harness.Cluster(tmp / "raid2", kind="raid", n_backends=2,
                              raidcore_args=["--auto_recover=false"])
    for b in cluster.backends:
        b.dir.mkdir(parents=True)
        for f in saved.iterdir():
            shutil.copy(f, b.dir / f.name)
    try:
        cluster.start()
        have = raid["transactions"]
        if have < need:
            secs = workload.commit(cluster.db(), need - have)
            cluster.close_clients()
            say(f"   grown by {need - have} transactions through the RAID in "
                f"{secs:.1f} s")
        total = max(have, need)
        results["db_transactions"] = total
        say(f"== 2. throttle accuracy: database of ~{total} transactions "
            f"(~{total * per_txn / MB:.1f} MB), settle {args.settle:g} s, "
            f"window {args.window:g} s")
        cluster.backends[1].stop()
        harness.wait_until(lambda: backend_state(cluster, "backend2") == "degraded", 60,
                           "backend2 degraded", interval=0.1)
        results["throttle"] = [
            throttle_window(args, cluster, "transaction limit", 0, args.txn_rate),
            throttle_window(args, cluster, "byte limit", args.byte_rate, 0),
        ]
        say(f"== 3. commit latency: one client, a one-object commit every "
            f"{args.commit_interval:g} s, window {args.latency_window:g} s")
        latency_runs(args, cluster, results)
    except Exception:
        dump_logs(cluster)
        raise
    finally:
        cluster.stop()


# ------------------------------------------------------------------ summary


def summary(args, results: dict) -> None:
    say("\n== summary")
    rows = []
    r, p = results.get("raid_rebuild"), results.get("plain_copy")
    if r:
        rows.append((f"full rebuild, RAID ({r['transactions']} txn, "
                     f"{r['bytes'] / MB:.1f} MB)",
                     f"{r['txn_per_s']:.0f} txn/s  {r['mb_per_s']:.2f} MB/s",
                     f"job {r['job_seconds']:.2f} s; restart->optimal "
                     f"{r['restart_to_optimal']:.2f} s; Status "
                     f"{r['status_txn_per_s']:.0f} txn/s {r['status_mb_per_s']:.2f} MB/s"))
    if p:
        rows.append(("full copy, plain copyTransactionsFrom",
                     f"{p['txn_per_s']:.0f} txn/s  {p['mb_per_s']:.2f} MB/s",
                     f"{p['seconds']:.2f} s"))
    if r and p:
        rows.append(("ratio RAID/plain", f"{r['txn_per_s'] / p['txn_per_s']:.2f}",
                     f"{r['transactions'] / r['restart_to_optimal'] / p['txn_per_s']:.2f}"
                     " counting restart->optimal"))
    for t in results.get("throttle", []):
        if t["unit"] == "B/s":
            lim, got = f"{t['limit'] / 1000:g} kB/s", f"{t['measured'] / 1000:.1f} kB/s"
        else:
            lim, got = f"{t['limit']:g} txn/s", f"{t['measured']:.1f} txn/s"
        rows.append((f"throttle, {t['label']} {lim}", f"{got}  {t['error_pct']:+.2f} %",
                     f"{t['window']:.1f} s window"
                     + ("" if t["valid"] else "; INVALID (job ended in the window)")))
    for row in results.get("latency", []):
        lat = row["lat"]
        hold = ("" if row["lock_hold"] is None
                else f"; lock hold {row['lock_hold'] * 1000:.2f} ms")
        rows.append((f"commit latency, {row['label']}",
                     f"p50 {ms(percentile(lat, 50))}  p99 {ms(percentile(lat, 99))}",
                     f"n={len(lat)} in {row['seconds']:.1f} s; {row['note']}{hold}"))
    w0 = max(len(a) for a, _, _ in rows)
    w1 = max(len(b) for _, b, _ in rows)
    for a, b, c in rows:
        say(f"{a:<{w0}}  {b:<{w1}}  {c}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("--transactions", type=int, default=2000,
                        help="transactions in the full-rebuild database (2000)")
    parser.add_argument("--objects", type=int, default=10,
                        help="objects each transaction rewrites (10)")
    parser.add_argument("--object-size", type=int, default=200,
                        help="random bytes per object (200)")
    parser.add_argument("--txn-rate", type=float, default=100,
                        help="transaction limit of the throttle runs, txn/s (100)")
    parser.add_argument("--byte-rate", type=float, default=200_000,
                        help="byte limit of the throttle run, bytes/s (200000)")
    parser.add_argument("--window", type=float, default=30,
                        help="throttle measurement window, seconds (30)")
    parser.add_argument("--settle", type=float, default=2,
                        help="seconds between starting a throttled recovery and the "
                             "window's start (2)")
    parser.add_argument("--latency-window", type=float, default=15,
                        help="commit latency window, seconds (15)")
    parser.add_argument("--commit-interval", type=float, default=0.02,
                        help="pause between the latency client's commits, s (0.02)")
    parser.add_argument("--timeout", type=float, default=300,
                        help="longest wait for a recovery to finish, seconds (300)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: --transactions 300 --window 5 --settle 1 "
                             "--latency-window 3")
    args = parser.parse_args()
    if args.quick:
        args.transactions, args.window = 300, 5
        args.settle, args.latency_window = 1, 3
    logging.basicConfig(level=logging.WARNING)

    results: dict = {}
    workload = Workload(args.objects, args.object_size)
    t0 = time.monotonic()
    status = 0
    with tempfile.TemporaryDirectory(prefix="zeoraid-bench-recovery-") as tmp:
        try:
            snapshot_binaries(Path(tmp))
            saved = full_rebuild(args, Path(tmp), workload, results)
            throttle_and_latency(args, Path(tmp), saved, workload, results)
        except Exception:
            traceback.print_exc()
            status = 1
        finally:
            harness.stop_all_live()
    if results:
        summary(args, results)
    say(f"\n(total {time.monotonic() - t0:.0f} s{'; FAILED' if status else ''})")
    return status


if __name__ == "__main__":
    sys.exit(main())
