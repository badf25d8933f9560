"""Where a big commit's time goes, seen from the client: plain runzeo and a
2-mirror RAID started in the same run, the same ZEO client calls on each.

Each commit asks for N new oids (ten new_oids(100) in a row, as ZODB does when
it pickles an object that refers to 1,000 new ones), stores N records of 100
bytes, votes and finishes; the median of each phase over the commits (the
first 10 are warm-up) is printed per target.

    .venv/bin/python tests/bench/commit_phases.py [--objects 1000]
        [--commits 60] [--pause 0.05 (seconds the client waits before its
        vote: what is left once the servers caught up)] [plain raid ...]

Binaries from ZEORAID_BIN_DIR or bazel-bin. Absolute times move with the host;
compare targets within one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "system"))

PHASES = ("new_oids", "stores", "vote", "finish", "total")


def run(kind: str, objects: int, commits: int, pause: float) -> list[float]:
    import harness
    from ZODB.Connection import TransactionMetaData
    from ZODB.utils import z64
    with tempfile.TemporaryDirectory(prefix="zeoraid-phases-") as tmp:
        cluster = harness.Cluster(Path(tmp), kind=kind, n_backends=2)
        try:
            cluster.start()
            storage = cluster.client_storage()
            rows = []
            for _ in range(commits):
                t0 = time.monotonic()
                oids = [storage.new_oid() for _ in range(objects)]
                t1 = time.monotonic()
                txn = TransactionMetaData()
                storage.tpc_begin(txn)
                for oid in oids:
                    storage.store(oid, z64, b"y" * 100, "", txn)
                if pause:
                    time.sleep(pause)
                t2 = time.monotonic()
                storage.tpc_vote(txn)
                t3 = time.monotonic()
                storage.tpc_finish(txn)
                t4 = time.monotonic()
                rows.append((t1 - t0, t2 - t1 - pause, t3 - t2, t4 - t3,
                             t4 - t0 - pause))
            storage.close()
        finally:
            cluster.stop()
    rows = rows[10:] if len(rows) > 20 else rows
    return [statistics.median(r[k] for r in rows) * 1e3
            for k in range(len(PHASES))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=1000)
    parser.add_argument("--commits", type=int, default=60)
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds the client waits before voting")
    parser.add_argument("targets", nargs="*", metavar="plain|raid",
                        help="what to measure (default: plain raid)")
    args = parser.parse_args()
    args.targets = args.targets or ["plain", "raid"]
    for target in args.targets:
        if target not in ("plain", "raid"):
            parser.error(f"unknown target {target!r}: plain or raid")
    print(f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; "
          f"{args.objects} new objects a commit, median of {args.commits} "
          f"commits, pause {args.pause * 1e3:.0f} ms before the vote (ms):")
    print(f"{'target':8s}" + "".join(f"{p:>10s}" for p in PHASES))
    for kind in args.targets:
        medians = run(kind, args.objects, args.commits, args.pause)
        print(f"{kind:8s}" + "".join(f"{m:10.2f}" for m in medians))
    return 0


if __name__ == "__main__":
    sys.exit(main())
