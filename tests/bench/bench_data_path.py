"""Data-path throughput and latency of a 2-mirror RAID next to a plain runzeo.

Small commits, uncached loads and pipelined (prefetched) loads; prints each figure for
both and the ratio RAID/plain, and asserts nothing about speed.

  .venv/bin/python tests/bench/bench_data_path.py [--quick] [--seconds 5]
      [--clients 8] [--objects 2000] [--only plain|raid] [--figures commit1,load1,...]

Both setups run one after the other in the same run (plain runzeo, then
zeoraid-raidcore + zeoraid-translator over 2 runzeo backends, from ZEORAID_BIN_DIR or
bazel-bin), each stopped afterwards. Every figure is measured by worker processes
(this script with --worker), which connect a ZEO ClientStorage, warm up, wait until
all of them are ready, then run for --seconds:

  commit1, commitN  one-object commits (raw ClientStorage tpc_begin / store of a new
                    PersistentMapping record / tpc_vote / tpc_finish) from 1 and from
                    --clients processes at once: commits/s and p50 latency.
  tpc1              empty two-phase commits (tpc_begin / tpc_vote / tpc_finish, no
                    store) from 1 process: the fixed cost of a transaction, as
                    zodbshootout's "tpc".
  load1, loadN      uncached loadBefore(oid, lastTransaction+1) of --objects objects
                    written just before, sent straight to the server
                    (ClientStorage._server.call, no client cache) from 1 and from
                    --clients processes: loads/s and p50 latency per load. Through
                    the RAID the translator's record cache holds them (they were
                    committed through it), as it would for an application's hot
                    objects.
  miss1             as load1, but through a second translator started with
                    --cache_mb 0, so that every load reaches a backend (plain:
                    the same as load1): what a load that misses every cache adds.
  miss1unary        as miss1, the translator started with
                    --raidcore_load_stream=false (a unary gRPC call per load, as
                    before the load stream), in the same run.
  prefetch          ClientStorage prefetch of all --objects oids at once (ZEO sends
                    every loadBefore without waiting, then gathers the replies), the
                    client cache cleared before each round: objects/s.

"added p50" is RAID p50 - plain p50. The machine is small (see nproc, load
average): client processes, runzeo backends and the RAID share its cores.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "system"))

ALL_FIGURES = ("commit1", "commitN", "tpc1", "load1", "loadN", "miss1", "miss1unary",
               "prefetch")


# ------------------------------------------------------------------------ workers


def record_bytes(n: int) -> bytes:
    """A ZODB record (class metadata + state pickles) of a small PersistentMapping."""
    from persistent.mapping import PersistentMapping
    from ZODB._compat import Pickler
    f = io.BytesIO()
    p = Pickler(f, 3)
    p.dump((PersistentMapping, None))
    p.dump({"data": {"n": n, "text": "x" * 40}})
    return f.getvalue()


def parse_addr(text: str):
    if "/" in text:
        return text
    host, port = text.rsplit(":", 1)
    return (host, int(port))


def worker_main(args) -> int:
    """One client process: connect, warm up, print 'ready', wait for a line on stdin,
    run for --seconds, print a JSON line with the count and per-operation latencies."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from ZEO.ClientStorage import ClientStorage
    from ZODB.Connection import TransactionMetaData
    from ZODB.utils import z64

    storage = ClientStorage(parse_addr(args.addr), storage="1", wait_timeout=60)
    try:
        if args.worker in ("commit", "tpc"):
            data = record_bytes(args.worker_index)
            empty = args.worker == "tpc"

            def op() -> int:
                txn = TransactionMetaData()
                storage.tpc_begin(txn)
                if not empty:
                    storage.store(storage.new_oid(), z64, data, "", txn)
                storage.tpc_vote(txn)
                storage.tpc_finish(txn)
                return 1
            warmup = 5
        else:
            spec = json.loads(Path(args.oids_file).read_text())
            oids = [bytes.fromhex(o) for o in spec["oids"]]
            before = bytes.fromhex(spec["before"])
            random.Random(args.worker_index).shuffle(oids)
            call = storage._server.call
            if args.worker == "load":
                pos = [0]

                def op() -> int:
                    oid = oids[pos[0] % len(oids)]
                    pos[0] += 1
                    if call("loadBefore", oid, before) is None:
                        raise RuntimeError(f"loadBefore({oid.hex()}) found nothing")
                    return 1
                warmup = 50
            else:  # prefetch: what ClientStorage.prefetch does, waiting for the end
                def op() -> int:
                    storage._cache.clear()
                    storage._server.prefetch(oids, before).result(60)
                    return len(oids)
                warmup = 1
                op()
                missing = [o for o in oids if storage._cache.loadBefore(o, before) is None]
                if missing:
                    raise RuntimeError(f"prefetch left {len(missing)} oids uncached")

        for _ in range(warmup):
            op()
        print("ready", flush=True)
        sys.stdin.readline()
        latencies = []
        count = 0
        clock = time.perf_counter
        t0 = clock()
        end = t0 + args.seconds
        while True:
            s = clock()
            count += op()
            e = clock()
            latencies.append(e - s)
            if e >= end:
                break
        print(json.dumps({"count": count, "elapsed": e - t0, "latencies": latencies}),
              flush=True)
    finally:
        storage.close()
    return 0


def run_workers(addr: str, mode: str, n: int, seconds: float, workdir: Path,
                oids_file: Path | None = None) -> dict:
    """Start n workers, release them together; ops/s summed over the workers and the
    p50 latency over all their operations (seconds)."""
    procs = []
    try:
        for i in range(n):
            argv = [sys.executable, str(Path(__file__).resolve()), "--worker", mode,
                    "--worker-index", str(i), "--addr", addr, "--seconds", str(seconds)]
            if oids_file is not None:
                argv += ["--oids-file", str(oids_file)]
            errlog = open(workdir / f"worker-{mode}-{n}-{i}.log", "wb")
            procs.append((subprocess.Popen(argv, stdin=subprocess.PIPE,
                                           stdout=subprocess.PIPE, stderr=errlog,
                                           text=True), errlog))
        for proc, errlog in procs:
            if proc.stdout.readline().strip() != "ready":
                proc.wait(30)
                raise RuntimeError(f"{mode} worker failed before starting:\n"
                                   + Path(errlog.name).read_text()[-4000:])
        for proc, _ in procs:  # release them all
            proc.stdin.write("go\n")
            proc.stdin.flush()
        results = []
        for proc, errlog in procs:
            line = proc.stdout.readline()
            if proc.wait(60) != 0 or not line:
                raise RuntimeError(f"{mode} worker failed:\n"
                                   + Path(errlog.name).read_text()[-4000:])
            results.append(json.loads(line))
    finally:
        for proc, errlog in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            errlog.close()
    latencies = sorted(x for r in results for x in r["latencies"])
    return {"rate": sum(r["count"] / r["elapsed"] for r in results),
            "p50": statistics.median(latencies),
            "p99": latencies[int(0.99 * (len(latencies) - 1))]}


def write_objects(cluster, n: int, path: Path) -> None:
    """Commit n new small objects (200 per transaction) and write their oids and
    before = lastTransaction + 1 to ``path`` for the load workers."""
    from ZODB.Connection import TransactionMetaData
    from ZODB.utils import p64, u64, z64
    storage = cluster.client_storage()
    oids = []
    for start in range(0, n, 200):
        txn = TransactionMetaData()
        storage.tpc_begin(txn)
        for i in range(start, min(n, start + 200)):
            oid = storage.new_oid()
            storage.store(oid, z64, record_bytes(i), "", txn)
            oids.append(oid)
        storage.tpc_vote(txn)
        storage.tpc_finish(txn)
    before = p64(u64(storage.lastTransaction()) + 1)
    path.write_text(json.dumps({"oids": [o.hex() for o in oids],
                                "before": before.hex()}))


# ------------------------------------------------------------------------ driver


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"nproc {os.cpu_count()}, load average {load}"


def bench(kind: str, args, figures: list[str]) -> dict:
    import harness
    out = {}
    with tempfile.TemporaryDirectory(prefix="zeoraid-bench-") as tmp:
        tmp = Path(tmp)
        cluster = harness.Cluster(tmp, kind=kind, n_backends=2)
        try:
            cluster.start()
            pids = ", ".join(f"{p.name} {p.pid}" for p in cluster.supervisor.processes)
            print(f"[{kind}] up at {harness.format_addr(cluster.addr)} ({pids})",
                  flush=True)
            addr = harness.format_addr(cluster.addr)
            n = args.clients
            if "commit1" in figures:
                out["commit1"] = run_workers(addr, "commit", 1, args.seconds, tmp)
                report(kind, "commits/s, 1 client", out["commit1"], "ms")
            if "commitN" in figures:
                out["commitN"] = run_workers(addr, "commit", n, args.seconds, tmp)
                report(kind, f"commits/s, {n} clients", out["commitN"], "ms")
            if "tpc1" in figures:
                out["tpc1"] = run_workers(addr, "tpc", 1, args.seconds, tmp)
                report(kind, "empty 2PCs/s, 1 client", out["tpc1"], "ms")
            oids_file = tmp / "oids.json"
            if {"load1", "loadN", "miss1", "miss1unary", "prefetch"} & set(figures):
                write_objects(cluster, args.objects, oids_file)
            if "load1" in figures:
                out["load1"] = run_workers(addr, "load", 1, args.seconds, tmp, oids_file)
                report(kind, "loads/s, 1 client", out["load1"], "us")
            if "loadN" in figures:
                out["loadN"] = run_workers(addr, "load", n, args.seconds, tmp, oids_file)
                report(kind, f"loads/s, {n} clients", out["loadN"], "us")
            if "miss1" in figures:
                # Through the RAID: a second translator without a record
                # cache, so every load reaches a backend (plain: as load1).
                miss_addr = addr
                if kind == "raid":
                    uncached = harness.Translator(
                        cluster.supervisor, cluster.raidcore,
                        name="translator-nocache", extra_args=["--cache_mb", "0"])
                    uncached.start()
                    miss_addr = harness.format_addr(uncached.addr)
                out["miss1"] = run_workers(miss_addr, "load", 1, args.seconds, tmp,
                                           oids_file)
                report(kind, "loads/s, no cache, 1 client", out["miss1"], "us")
            if "miss1unary" in figures:
                # As miss1, with the translator's loads sent to raidcore as
                # one unary gRPC call each instead of on its load stream
                # (plain: the same as miss1).
                if kind == "raid":
                    unary = harness.Translator(
                        cluster.supervisor, cluster.raidcore,
                        name="translator-unary",
                        extra_args=["--cache_mb", "0", "--raidcore_load_stream=false"])
                    unary.start()
                    out["miss1unary"] = run_workers(harness.format_addr(unary.addr),
                                                    "load", 1, args.seconds, tmp,
                                                    oids_file)
                else:
                    out["miss1unary"] = out.get("miss1") or run_workers(
                        addr, "load", 1, args.seconds, tmp, oids_file)
                report(kind, "loads/s, no cache, unary, 1 client", out["miss1unary"],
                       "us")
            if "prefetch" in figures:
                out["prefetch"] = run_workers(addr, "prefetch", 1, args.seconds, tmp,
                                              oids_file)
                report(kind, "prefetch objects/s, 1 client", out["prefetch"], None)
        finally:
            cluster.stop()
    return out


def report(kind: str, label: str, r: dict, unit) -> None:
    line = f"[{kind}] {label:28s} {r['rate']:9.1f}/s"
    if unit == "ms":
        line += f"   p50 {r['p50'] * 1e3:7.2f} ms   p99 {r['p99'] * 1e3:7.2f} ms"
    elif unit == "us":
        line += f"   p50 {r['p50'] * 1e6:7.0f} us   p99 {r['p99'] * 1e6:7.0f} us"
    print(line, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="2 s per figure, 500 objects (a smoke run)")
    parser.add_argument("--seconds", type=float, help="per measurement (5; quick 2)")
    parser.add_argument("--clients", type=int, default=8,
                        help="processes of the concurrent figures (8)")
    parser.add_argument("--objects", type=int,
                        help="objects written for the load figures (2000; quick 500)")
    parser.add_argument("--only", choices=["plain", "raid"])
    parser.add_argument("--figures", default=",".join(ALL_FIGURES),
                        help=f"comma-separated subset of {','.join(ALL_FIGURES)}")
    parser.add_argument("--worker", choices=["commit", "tpc", "load", "prefetch"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--addr", help=argparse.SUPPRESS)
    parser.add_argument("--oids-file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seconds is None:
        args.seconds = 2.0 if args.quick else 5.0
    if args.objects is None:
        args.objects = 500 if args.quick else 2000
    if args.worker:
        return worker_main(args)
    figures = [f.strip() for f in args.figures.split(",") if f.strip()]
    unknown = set(figures) - set(ALL_FIGURES)
    if unknown:
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")
    logging.basicConfig(level=logging.WARNING)

    import harness
    from importlib.metadata import version
    print(f"{machine()}; ZODB {version('ZODB')}, ZEO {version('ZEO')}; "
          f"binaries {harness.bin_dir()}; {args.seconds:g} s per figure, "
          f"{args.clients} concurrent clients, {args.objects} objects", flush=True)
    t0 = time.monotonic()
    results = {}
    for kind in ("plain", "raid"):
        if args.only and kind != args.only:
            continue
        results[kind] = bench(kind, args, figures)

    n = args.clients
    rows = [("commit1", "commits/s, 1 client", "ms"),
            ("commitN", f"commits/s, {n} clients", "ms"),
            ("tpc1", "empty 2PCs/s, 1 client", "ms"),
            ("load1", "loads/s, 1 client", "us"),
            ("loadN", f"loads/s, {n} clients", "us"),
            ("miss1", "loads/s, no cache, 1 client", "us"),
            ("miss1unary", "loads/s, no cache, unary RPCs", "us"),
            ("prefetch", "prefetch objects/s, 1 client", None)]
    kinds = list(results)
    print()
    print(f"{'figure':34s}" + "".join(f"{k:>12s}" for k in kinds)
          + ("   RAID/plain" if len(kinds) == 2 else ""))

    def row(label, values, fmt):
        line = f"{label:34s}" + "".join(format(v, fmt).rjust(12) for v in values)
        if len(values) == 2 and values[0]:
            line += f"   {values[1] / values[0]:10.2f}"
        print(line)

    for key, label, unit in rows:
        if not all(key in results[k] for k in kinds):
            continue
        row(label, [results[k][key]["rate"] for k in kinds], ".1f")
        if unit == "ms":
            row("  p50 commit latency (ms)", [results[k][key]["p50"] * 1e3 for k in kinds],
                ".2f")
        elif unit == "us":
            row("  p50 load latency (us)", [results[k][key]["p50"] * 1e6 for k in kinds],
                ".0f")
    if len(kinds) == 2:
        for key, label, scale, unit in (("load1", "load, 1 client", 1e6, "us"),
                                        ("miss1", "load missing every cache", 1e6,
                                         "us"),
                                        ("miss1unary", "same, unary RPCs", 1e6, "us"),
                                        ("commit1", "commit, 1 client", 1e3, "ms"),
                                        ("tpc1", "empty 2PC, 1 client", 1e3, "ms")):
            if key in results["plain"] and key in results["raid"]:
                added = (results["raid"][key]["p50"] - results["plain"][key]["p50"]) * scale
                print(f"added p50 ({label}): {added:.0f} {unit}" if unit == "us"
                      else f"added p50 ({label}): {added:.2f} {unit}")
    print(f"\n{machine()} at the end; {time.monotonic() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
