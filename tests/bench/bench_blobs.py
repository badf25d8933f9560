"""Blob throughput through a 2-mirror RAID next to a plain runzeo (both with a
blob-dir): MB/s for storing and for loading blobs, and the ratio RAID/plain. Asserts
nothing about speed.

  .venv/bin/python tests/bench/bench_blobs.py [--mb 20] [--count 5] [--only plain|raid]

Each setup (plain runzeo, then zeoraid-raidcore + zeoraid-translator over 2 runzeo
backends, from ZEORAID_BIN_DIR or bazel-bin) is started, measured and stopped in the
same run:

  store  a ZODB client commits --count blobs of --mb MB each, one transaction each
         (ClientStorage with a private blob_dir: storeBlobStart/Chunk/End); MB/s over
         the commits.
  load   a second client with an empty blob cache reads them all (sendBlob, the
         server answering with receiveBlobStart/Chunk/Stop); MB/s.

Through the RAID a stored blob is spooled by raidcore and sent to both mirrors; a
loaded one is spooled from one mirror and streamed to the translator.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "system"))


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, load average {load}"


def bench(kind: str, mb: int, count: int) -> dict:
    import transaction
    import harness
    from ZODB.blob import Blob
    with tempfile.TemporaryDirectory(prefix="zeoraid-bench-blobs-") as tmp:
        tmp = Path(tmp)
        cluster = harness.Cluster(tmp / "cluster", kind=kind, n_backends=2, blobs=True)
        (tmp / "cluster").mkdir()
        try:
            cluster.start()
            payload = os.urandom(1 << 20) * mb
            writer = cluster.db(blob_dir=str(tmp / "blobs-w"))
            conn = writer.open()
            root = conn.root()
            t0 = time.perf_counter()
            for i in range(count):
                blob = Blob()
                with blob.open("w") as f:
                    f.write(payload)
                root[f"b{i}"] = blob
                transaction.commit()
            stored = time.perf_counter() - t0
            conn.close()
            reader = cluster.db(blob_dir=str(tmp / "blobs-r"))
            conn = reader.open()
            root = conn.root()
            t0 = time.perf_counter()
            for i in range(count):
                with root[f"b{i}"].open("r") as f:
                    if len(f.read()) != len(payload):
                        raise RuntimeError(f"blob b{i} came back short")
            loaded = time.perf_counter() - t0
            conn.close()
            total = mb * count
            out = {"store": total / stored, "load": total / loaded}
            print(f"[{kind}] store {out['store']:.1f} MB/s, load {out['load']:.1f} MB/s",
                  flush=True)
            return out
        finally:
            cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mb", type=int, default=20, help="MB per blob (20)")
    parser.add_argument("--count", type=int, default=5, help="blobs (5)")
    parser.add_argument("--only", choices=["plain", "raid"])
    args = parser.parse_args()
    import harness
    print(f"{machine()}; binaries {harness.bin_dir()}; {args.count} blobs of "
          f"{args.mb} MB", flush=True)
    results = {}
    for kind in ("plain", "raid"):
        if args.only and kind != args.only:
            continue
        results[kind] = bench(kind, args.mb, args.count)
    if len(results) == 2:
        print()
        print(f"{'figure':24s}{'plain':>10s}{'raid':>10s}   RAID/plain")
        for key, label in (("store", "blob store MB/s"), ("load", "blob load MB/s")):
            p, r = results["plain"][key], results["raid"][key]
            print(f"{label:24s}{p:10.1f}{r:10.1f}   {r / p:10.2f}")
    print(f"\n{machine()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
