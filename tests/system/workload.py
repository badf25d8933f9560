"""A ZODB client process for the RAID system tests and benchmarks.

Commits ``--commits`` transactions through ``--addr``: each sets this worker's own
object to a new value and bumps a shared ``BTrees.Length`` counter (conflicts on it
are resolved by the backends); every commit is retried on ConflictError. After each
commit it reads its objects back. Writes a JSON report: the tids it committed with
the oid and value each one wrote, and the number of errors seen by the application.

  python workload.py --addr 127.0.0.1:8100 --worker 3 --commits 50 --out report.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import transaction
import ZODB
from BTrees.Length import Length
from persistent.mapping import PersistentMapping
from ZEO.ClientStorage import ClientStorage
from ZODB.POSException import ConflictError


def parse_addr(text: str):
    if "/" in text:
        return text
    host, port = text.rsplit(":", 1)
    return (host, int(port))


def commit_with_retry(tm, change, tries: int = 50) -> None:
    """Run ``change()`` and commit, retrying on ConflictError only: any other error
    (ClientDisconnected included) is one the application would see, and is raised."""
    for attempt in range(tries):
        tm.begin()
        try:
            change()
            tm.commit()
            return
        except ConflictError:
            tm.abort()
            if attempt == tries - 1:
                raise
            time.sleep(0.01 * (attempt + 1))


def setup_root(db) -> None:
    """Create the shared objects once (every worker tries; conflicts are retried)."""
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)

    def create():
        root = conn.root()
        if "counter" not in root:
            root["counter"] = Length()
            root["workers"] = PersistentMapping()

    commit_with_retry(tm, create)
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", required=True)
    parser.add_argument("--worker", type=int, required=True)
    parser.add_argument("--commits", type=int, default=50)
    parser.add_argument("--reads", type=int, default=0,
                        help="extra loads of the worker's object after each commit")
    parser.add_argument("--out", required=True)
    parser.add_argument("--wait-timeout", type=float, default=60.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)

    report = {"worker": args.worker, "commits": [], "errors": [], "reads": 0}
    db = ZODB.DB(ClientStorage(parse_addr(args.addr), wait_timeout=args.wait_timeout))
    try:
        setup_root(db)
        tm = transaction.TransactionManager()
        conn = db.open(transaction_manager=tm)
        key = f"w{args.worker}"
        t0 = time.monotonic()
        for i in range(args.commits):
            def change():
                root = conn.root()
                workers = root["workers"]
                if key not in workers:
                    workers[key] = PersistentMapping()
                workers[key]["value"] = i
                root["counter"].change(1)
                tm.get().note(f"{key} commit {i}")

            commit_with_retry(tm, change)
            obj = conn.root()["workers"][key]
            tid = obj._p_serial
            report["commits"].append({"tid": tid.hex(), "oid": obj._p_oid.hex(),
                                      "value": i})
            for _ in range(1 + args.reads):
                tm.begin()
                if conn.root()["workers"][key]["value"] != i:
                    report["errors"].append(f"read back {key} != {i}")
                report["reads"] += 1
        report["seconds"] = time.monotonic() - t0
    except Exception as e:  # the application must never see one: report it
        report["errors"].append(f"{type(e).__name__}: {e}")
    finally:
        try:
            db.close()
        except Exception as e:
            report["errors"].append(f"close: {type(e).__name__}: {e}")
        with open(args.out, "w") as f:
            json.dump(report, f)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
