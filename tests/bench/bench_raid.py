"""Commit and read throughput through the RAID with 1, 2 and 3 backends, and of a plain
runzeo for reference. Prints figures; asserts nothing about speed.

  .venv/bin/python tests/bench/bench_raid.py [--clients 4] [--commits 100] [--loads 2000]
      [--writers 2] [--only plain|raid]

Commits: --clients worker processes (tests/system/workload.py) each commit --commits
small transactions (one object + a shared BTrees.Length). Loads: one client loads
--loads objects with its cache cleared before each load, so every load crosses the wire.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "system"))

import harness  # noqa: E402

WORKLOAD = HERE.parent / "system" / "workload.py"


def run_commits(cluster, clients: int, commits: int, workdir: Path) -> float:
    cluster.db().close()  # create the root before the workers race for it
    procs = []
    t0 = time.monotonic()
    for i in range(clients):
        out = workdir / f"w{i}.json"
        procs.append((subprocess.Popen(
            [sys.executable, str(WORKLOAD), "--addr", harness.format_addr(cluster.addr),
             "--worker", str(i), "--commits", str(commits), "--out", str(out)],
            stdin=subprocess.DEVNULL), out))
    total = 0
    for proc, out in procs:
        proc.wait()
        report = json.loads(out.read_text())
        if report["errors"]:
            raise RuntimeError(f"worker errors: {report['errors']}")
        total += len(report["commits"])
    return total / (time.monotonic() - t0)


def run_loads(cluster, loads: int) -> float:
    import transaction
    from persistent.mapping import PersistentMapping
    db = cluster.db()
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    conn.root()["bench"] = objs = [PersistentMapping(i=i) for i in range(100)]
    tm.commit()
    oids = [o._p_oid for o in objs]
    storage = db.storage
    t0 = time.monotonic()
    for i in range(loads):
        storage._cache.clear()
        storage.load(oids[i % len(oids)])
    return loads / (time.monotonic() - t0)


def run_loads_under_commits(cluster, loads: int, writers: int, workdir: Path) -> float:
    """Uncached loads from one client while ``writers`` processes keep committing:
    loads race invalidations, which is where the translator may have to re-read."""
    procs = [subprocess.Popen(
        [sys.executable, str(WORKLOAD), "--addr", harness.format_addr(cluster.addr),
         "--worker", str(100 + i), "--commits", "1000000",
         "--out", str(workdir / f"busy{i}.json")],
        stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(writers)]
    try:
        time.sleep(2.0)  # let the writers connect and get going
        return run_loads(cluster, loads)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--loads", type=int, default=2000)
    parser.add_argument("--writers", type=int, default=2,
                        help="committing processes during the loads-under-writes run")
    parser.add_argument("--only", choices=["plain", "raid"],
                        help="bench only plain runzeo or only the RAID setups")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows = []
    setups = [("plain runzeo", "plain", 1)] + [
        (f"RAID, {n} backend{'s' if n > 1 else ''}", "raid", n) for n in (1, 2, 3)]
    for label, kind, n in setups:
        if args.only and kind != args.only:
            continue
        with tempfile.TemporaryDirectory(prefix="zeoraid-bench-") as tmp:
            cluster = harness.Cluster(Path(tmp), kind=kind, n_backends=n)
            try:
                cluster.start()
                commits = run_commits(cluster, args.clients, args.commits, Path(tmp))
                loads = run_loads(cluster, args.loads)
                busy = run_loads_under_commits(cluster, args.loads, args.writers,
                                               Path(tmp))
            finally:
                cluster.stop()
        rows.append((label, commits, loads, busy))
        print(f"{label:18s} commits/s {commits:8.1f}   loads/s {loads:8.1f}   "
              f"loads/s under writes {busy:8.1f}", flush=True)
    print(f"\n{args.clients} client processes x {args.commits} commits; "
          f"{args.loads} uncached loads from one client, alone and while "
          f"{args.writers} processes commit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
