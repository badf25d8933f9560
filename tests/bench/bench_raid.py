"""Commit and read throughput through the RAID with 1, 2 and 3 backends, and of a plain
runzeo for reference. Prints figures; asserts nothing about speed.

  .venv/bin/python tests/bench/bench_raid.py [--clients 4] [--commits 100] [--loads 2000]

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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--loads", type=int, default=2000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    rows = []
    setups = [("plain runzeo", "plain", 1)] + [
        (f"RAID, {n} backend{'s' if n > 1 else ''}", "raid", n) for n in (1, 2, 3)]
    for label, kind, n in setups:
        with tempfile.TemporaryDirectory(prefix="zeoraid-bench-") as tmp:
            cluster = harness.Cluster(Path(tmp), kind=kind, n_backends=n)
            try:
                cluster.start()
                commits = run_commits(cluster, args.clients, args.commits, Path(tmp))
                loads = run_loads(cluster, args.loads)
            finally:
                cluster.stop()
        rows.append((label, commits, loads))
        print(f"{label:18s} commits/s {commits:8.1f}   loads/s {loads:8.1f}", flush=True)
    print(f"\n{args.clients} client processes x {args.commits} commits; "
          f"{args.loads} uncached loads from one client")
    return 0


if __name__ == "__main__":
    sys.exit(main())
