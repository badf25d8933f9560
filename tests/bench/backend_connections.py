"""What a second connection to a ZEO server costs and buys: the case for (or
against) a pool of connections from raidcore to each backend.

Everything runs against one plain runzeo (a backend as raidcore sees it); the
ZEO clients stand in for raidcore's connections to it.

  cost   1-object commits from one connection while N other connections are
         open and idle (N = 0, 1, 3, in a helper process): commits/s and the
         server's CPU per commit. ZEO's server sends every commit's
         invalidateTransaction to every other connection of its storage, so a
         pool of N+1 connections per backend makes each commit cost the
         backend N of those.
  share  uncached loadBefore latency (p50, p99) while another thread commits
         transactions of --stores records as fast as it can: loads on the
         committing connection (one connection per backend, as raidcore has
         today) against loads on a connection of their own (a pool).

    .venv/bin/python tests/bench/backend_connections.py [--seconds 4]
        [--stores 1000] [cost] [share]

Absolute times move with the host; compare the rows of one run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "system"))


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def commit_one(storage, oid: bytes, serial: bytes, data: bytes) -> bytes:
    from ZODB.Connection import TransactionMetaData
    txn = TransactionMetaData()
    storage.tpc_begin(txn)
    storage.store(oid, serial, data, "", txn)
    storage.tpc_vote(txn)
    tid = None

    def got(t):
        nonlocal tid
        tid = t
    storage.tpc_finish(txn, got)
    return tid


IDLE_HELPER = r"""
import sys, time
from ZEO.ClientStorage import ClientStorage
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = [ClientStorage((host, port), storage="1", wait=True) for _ in range(n)]
print("ready", flush=True)
sys.stdin.read()
for c in conns:
    c.close()
"""


def measure_cost(cluster, seconds: float, idle: int) -> tuple[float, float]:
    host, port = cluster.addr
    helper = None
    if idle:
        helper = subprocess.Popen(
            [sys.executable, "-c", IDLE_HELPER, host, str(port), str(idle)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert helper.stdout.readline().strip() == "ready"
    try:
        storage = cluster.client_storage()
        oid = storage.new_oid()
        serial = b"\0" * 8
        for _ in range(50):
            serial = commit_one(storage, oid, serial, b"x" * 100)
        pid = cluster.backends[0].process.pid
        cpu0, t0, n = server_cpu(pid), time.monotonic(), 0
        while time.monotonic() - t0 < seconds:
            serial = commit_one(storage, oid, serial, b"x" * 100)
            n += 1
        elapsed, cpu = time.monotonic() - t0, server_cpu(pid) - cpu0
        storage.close()
        return n / elapsed, cpu / n * 1e6
    finally:
        if helper is not None:
            helper.stdin.close()
            helper.wait(timeout=30)


def measure_share(cluster, seconds: float, stores: int,
                  own_connection: bool) -> tuple[float, float, int]:
    from ZODB.Connection import TransactionMetaData
    from ZODB.utils import p64, z64
    committer = cluster.client_storage()
    loader = cluster.client_storage() if own_connection else committer
    oids = [committer.new_oid() for _ in range(stores)]
    # Something to load: the first version of every record.
    txn = TransactionMetaData()
    committer.tpc_begin(txn)
    for oid in oids:
        committer.store(oid, z64, b"y" * 100, "", txn)
    committer.tpc_vote(txn)
    committer.tpc_finish(txn)
    stop = threading.Event()
    commits = 0

    def commit_loop():
        nonlocal commits
        while not stop.is_set():
            txn = TransactionMetaData()
            committer.tpc_begin(txn)
            for oid in oids:
                committer.store(oid, committer.load(oid)[1], b"z" * 100, "",
                                txn)
            committer.tpc_vote(txn)
            committer.tpc_finish(txn)
            commits += 1

    thread = threading.Thread(target=commit_loop)
    thread.start()
    latencies = []
    t0 = time.monotonic()
    i = 0
    try:
        while time.monotonic() - t0 < seconds:
            oid = oids[i % len(oids)]
            i += 1
            start = time.monotonic()
            # Straight to the server: no client cache.
            loader._server.call("loadBefore", oid, p64(2**62))
            latencies.append(time.monotonic() - start)
    finally:
        stop.set()
        thread.join()
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1e6
    p99 = latencies[int(len(latencies) * 0.99)] * 1e6
    if loader is not committer:
        loader.close()
    committer.close()
    return p50, p99, commits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--stores", type=int, default=1000,
                        help="records each commit of `share` stores")
    parser.add_argument("parts", nargs="*", metavar="cost|share",
                        help="what to measure (default: both)")
    args = parser.parse_args()
    parts = args.parts or ["cost", "share"]
    for part in parts:
        if part not in ("cost", "share"):
            parser.error(f"unknown part {part!r}: cost or share")
    import harness
    print(f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="zeoraid-conns-") as tmp:
        cluster = harness.Cluster(Path(tmp), kind="plain")
        try:
            cluster.start()
            if "cost" in parts:
                print("1-object commits, other connections open and idle:")
                for idle in (0, 1, 3, 0, 1, 3):
                    rate, cpu = measure_cost(cluster, args.seconds, idle)
                    print(f"  {idle} other connection(s): {rate:7.1f} commits/s,"
                          f" server {cpu:5.0f} us CPU per commit")
            if "share" in parts:
                print(f"uncached loads while commits of {args.stores} records "
                      "run:")
                for own in (False, True, False, True):
                    p50, p99, commits = measure_share(
                        cluster, args.seconds, args.stores, own)
                    where = ("own connection" if own else
                             "the committing connection")
                    print(f"  loads on {where:26s} p50 {p50:6.0f} us, "
                          f"p99 {p99:7.0f} us ({commits} commits)")
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
