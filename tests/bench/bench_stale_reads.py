"""Stale reads right after a commit, plain runzeo next to ZEORaid (2 mirrors).

  .venv/bin/python tests/bench/bench_stale_reads.py [--commits 300] [--runs 2]

Client A commits a new value; right after its commit returns, client B (another
ClientStorage, without server_sync) opens a connection, calls sync() and reads the
object. A plain ZEO server sends the other clients' invalidations before it answers
the committer's tpc_finish, so B rarely reads the old value; the RAID must not do
worse. Prints the stale-read rate of each; asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "system"))

import harness  # noqa: E402


def stale_rate(kind: str, commits: int) -> tuple[int, int]:
    import transaction
    from persistent.mapping import PersistentMapping
    with tempfile.TemporaryDirectory(prefix=f"stale-{kind}-") as tmp:
        cluster = harness.Cluster(Path(tmp), kind=kind, n_backends=2)
        cluster.start()
        try:
            db_a, db_b = cluster.db(), cluster.db()
            tm_a = transaction.TransactionManager()
            conn_a = db_a.open(transaction_manager=tm_a)
            conn_a.root()["x"] = PersistentMapping(v=0)
            tm_a.commit()
            stale = 0
            for i in range(1, commits + 1):
                conn_a.root()["x"]["v"] = i
                tm_a.commit()
                tm_b = transaction.TransactionManager()
                conn_b = db_b.open(transaction_manager=tm_b)
                conn_b.sync()
                if conn_b.root()["x"]["v"] != i:
                    stale += 1
                conn_b.close()
            return stale, commits
        finally:
            cluster.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commits", type=int, default=300)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    print(f"{'run':>4} {'plain ZEO stale':>16} {'ZEORaid stale':>15}")
    for run in range(1, args.runs + 1):
        plain = stale_rate("plain", args.commits)
        raid = stale_rate("raid", args.commits)
        print(f"{run:>4} {plain[0] / plain[1]:>15.1%} {raid[0] / raid[1]:>15.1%}"
              f"   ({plain[0]} and {raid[0]} of {args.commits})")


if __name__ == "__main__":
    main()
