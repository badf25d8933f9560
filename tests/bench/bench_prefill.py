"""How long raidcore's start-up takes to fill its invalidation queue from a
backend (undoLog + one iterator round trip per transaction and per record), for
databases whose last transactions touch more or fewer objects. Prints figures;
asserts nothing about speed.

  .venv/bin/python tests/bench/bench_prefill.py [--transactions 1000] [--objects 1 10 100]

Each database gets --transactions transactions (written straight into the
backends' Data.fs before runzeo starts), each changing that many objects; raidcore
runs with its default --invalidation_queue_size (1000). The figure is raidcore's
own log line ("invalidation queue holds the last N transactions ... read in X ms").
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "system"))

import harness  # noqa: E402

LINE = re.compile(r"invalidation queue holds the last (\d+) transactions .* read in (\d+) ms")


def populate(path: Path, transactions: int, objects: int) -> None:
    import transaction
    import ZODB
    from persistent.mapping import PersistentMapping
    from ZODB.FileStorage import FileStorage
    db = ZODB.DB(FileStorage(str(path)))
    tm = transaction.TransactionManager()
    conn = db.open(transaction_manager=tm)
    conn.root()["objs"] = objs = [PersistentMapping(v=0) for _ in range(objects)]
    tm.commit()
    for t in range(transactions):
        for o in objs:
            o["v"] = t
        tm.commit()
    db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1000)
    parser.add_argument("--objects", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for objects in args.objects:
        with tempfile.TemporaryDirectory(prefix="zeoraid-bench-") as tmp:
            cluster = harness.Cluster(Path(tmp), kind="raid", n_backends=2)
            first = cluster.backends[0]
            first.dir.mkdir(parents=True)
            populate(first.data_fs, args.transactions, objects)
            for b in cluster.backends[1:]:
                b.dir.mkdir(parents=True)
                shutil.copy(first.data_fs, b.data_fs)
            try:
                t0 = time.monotonic()
                cluster.start()
                up = time.monotonic() - t0
                log_text = cluster.raidcore.process.log_text()
            finally:
                cluster.stop()
        m = LINE.search(log_text)
        if m is None:
            print(f"{objects:4d} objects/txn: no prefill line in the raidcore log",
                  flush=True)
            continue
        print(f"{objects:4d} objects/txn: {m.group(1)} transactions read in "
              f"{m.group(2)} ms (whole cluster up in {up:.2f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
