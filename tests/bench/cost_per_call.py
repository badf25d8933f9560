"""CPU and context switches that each process of a 2-mirror RAID spends per call.

Runs N uncached loads (translator --cache_mb 0, so every load reaches a backend)
and N empty two-phase commits from one ZEO client, and reads each process's
/proc/PID/task/*/{stat,status} before and after: CPU time (utime+stime) and
voluntary+involuntary context switches of all its threads (threads that ended
during the run are missed: gRPC's synchronous server starts and ends some).

    .venv/bin/python tests/bench/cost_per_call.py [--loads 3000] [--commits 1000]
        [--stores 0 (objects stored by each commit; 1000 is zodbshootout's)]
        [--translator-args="--raidcore_load_stream=false"] [--raidcore-args=...]
        [--plain (the same calls against one plain runzeo, for comparison)]

Absolute CPU figures move with the host's noise; switch counts are stable.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "system"))

TICK = os.sysconf("SC_CLK_TCK")


def sample(pid: int) -> tuple[float, int]:
    cpu, switches = 0.0, 0
    task_dir = Path(f"/proc/{pid}/task")
    for task in task_dir.iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            for line in (task / "status").read_text().splitlines():
                if "ctxt_switches" in line:
                    switches += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return cpu, switches


def threads(pid: int) -> dict[int, tuple[str, int]]:
    """Thread id -> (name, context switches so far)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            switches = sum(int(line.split()[1]) for line in
                           (task / "status").read_text().splitlines()
                           if "ctxt_switches" in line)
            out[int(task.name)] = (name, switches)
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


PER_THREAD = False


def measure(procs, n, op) -> list[str]:
    before = {p.name: sample(p.pid) for p in procs}
    tbefore = {p.name: threads(p.pid) for p in procs}
    t0 = time.monotonic()
    c0 = time.process_time()
    for i in range(n):
        op(i)
    client_cpu = time.process_time() - c0
    wall = time.monotonic() - t0
    lines = [f"  {n / wall:8.0f}/s from one client, {wall / n * 1e6:6.0f} us each",
             f"  {'client (Python ZEO)':22s} {client_cpu / n * 1e6:7.0f} us CPU"]
    for p in procs:
        c0, s0 = before[p.name]
        c1, s1 = sample(p.pid)
        lines.append(f"  {p.name:22s} {(c1 - c0) / n * 1e6:7.0f} us CPU  "
                     f"{(s1 - s0) / n:6.1f} switches")
        if PER_THREAD:
            for tid, (name, sw) in sorted(threads(p.pid).items()):
                delta = (sw - tbefore[p.name].get(tid, (name, 0))[1]) / n
                if delta >= 0.05:
                    lines.append(f"      thread {tid} {name:16s} {delta:5.2f} switches")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=3000)
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--stores", type=int, default=0,
                        help="objects each commit stores (0: empty commits)")
    parser.add_argument("--per-thread", action="store_true",
                        help="also the switches of each thread (>= 0.05 per call)")
    parser.add_argument("--translator-args", default="",
                        help="extra translator flags (shell words)")
    parser.add_argument("--raidcore-args", default="",
                        help="extra raidcore flags (shell words)")
    parser.add_argument("--new-objects", action="store_true",
                        help="each commit stores new objects (new oids, as "
                             "zodbshootout's add), not new revisions")
    parser.add_argument("--plain", action="store_true",
                        help="the same calls against one plain runzeo (no "
                             "cache hits): what the client and the server "
                             "spend without the RAID")
    args = parser.parse_args()
    global PER_THREAD
    PER_THREAD = args.per_thread
    import harness
    from ZODB.Connection import TransactionMetaData
    from ZODB.utils import p64, u64, z64
    with tempfile.TemporaryDirectory(prefix="zeoraid-cost-") as tmp:
        cluster = harness.Cluster(
            Path(tmp), kind="plain" if args.plain else "raid", n_backends=2,
            raidcore_args=shlex.split(args.raidcore_args),
            translator_args=["--cache_mb", "0", *shlex.split(args.translator_args)])
        try:
            cluster.start()
            storage = cluster.client_storage()
            txn = TransactionMetaData()
            storage.tpc_begin(txn)
            oids = [storage.new_oid() for _ in range(200)]
            for oid in oids:
                storage.store(oid, z64, b"x" * 100, "", txn)
            storage.tpc_vote(txn)
            storage.tpc_finish(txn)
            before = p64(u64(storage.lastTransaction()) + 1)
            call = storage._server.call
            if not args.plain:
                cached = harness.Translator(cluster.supervisor, cluster.raidcore,
                                            name="translator-cached")
                cached.start()
            procs = [p for p in cluster.supervisor.processes
                     if p.name.startswith(("raidcore", "translator", "backend"))]
            for i in range(200):  # warm up
                call("loadBefore", oids[i % len(oids)], before)
            print(f"uncached loads (nproc {os.cpu_count()}, "
                  f"load {os.getloadavg()[0]:.2f}):")
            print("\n".join(measure(
                procs, args.loads,
                lambda i: call("loadBefore", oids[i % len(oids)], before))))

            if not args.plain:
                hits = cluster.client_storage(cached.addr)
                hit_call = hits._server.call
                for i in range(400):  # warm up, and fill the translator's cache
                    hit_call("loadBefore", oids[i % len(oids)], before)
                print("loads answered from the translator's record cache:")
                print("\n".join(measure(
                    procs, args.loads,
                    lambda i: hit_call("loadBefore", oids[i % len(oids)], before))))
                hits.close()

            stored = [storage.new_oid() for _ in range(args.stores)]
            serials = {oid: z64 for oid in stored}
            record = b"y" * 100

            def commit(i):
                if args.new_objects:
                    stored[:] = [storage.new_oid() for _ in stored]
                    serials.clear()
                    serials.update((oid, z64) for oid in stored)
                t = TransactionMetaData()
                storage.tpc_begin(t)
                for oid in stored:
                    storage.store(oid, serials[oid], record, "", t)
                storage.tpc_vote(t)
                tid = storage.tpc_finish(t)
                for oid in stored:
                    serials[oid] = tid
            print("empty two-phase commits:" if not stored else
                  f"two-phase commits of {len(stored)} stores:")
            print("\n".join(measure(procs, args.commits, commit)))
            storage.close()
        finally:
            cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
