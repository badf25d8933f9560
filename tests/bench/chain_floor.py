"""What the RAID's extra processes cost before they do any work: a plain runzeo
reached directly, through one and through two bare relays, and the RAID.

A ZEO call through the RAID passes two processes more than a call to plain ZEO
(client -> translator -> raidcore -> backend). This puts one or two
`tcp_relay` processes (tests/bench/tcp_relay.cc: they pass bytes on and do
nothing else, a blocking thread per direction) between the client and one plain
runzeo, and measures the same figures as bench_data_path.py through each, then
through the RAID (2 mirrors, its translator without a record cache, so every load
reaches a backend), all in the same run:

  .venv/bin/python tests/bench/chain_floor.py [--seconds 5] [--clients 8]
      [--figures commit1,commitN,tpc1,miss1] [--no-raid]

"two relays" is the floor of any design with the RAID's shape on this machine:
what the translator and raidcore would add if they cost nothing but their hops,
and with one mirror instead of two. Prints rates, p50 latencies, the p50 added
over plain and the ratio to plain; asserts nothing. Build the relay first:
`bazel build //tests/bench:tcp_relay` (ZEORAID_BIN_DIR or bazel-bin).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "system"))

import bench_data_path  # noqa: E402  (its workers measure every figure)
import harness  # noqa: E402

FIGURES = ("commit1", "commitN", "tpc1", "miss1")


def start_relay(target: str, log_path: Path) -> tuple[subprocess.Popen, str]:
    relay = harness.binary("tests/bench", "tcp_relay")
    log = open(log_path, "wb")
    proc = subprocess.Popen([str(relay), "--target", target],
                            stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"tcp_relay did not start: {line!r}, "
                           f"{log_path.read_text()[-2000:]}")
    return proc, line.removeprefix("listening on ")


def measure(addr: str, figures, args, tmp: Path, oids_file: Path) -> dict:
    out = {}
    if "commit1" in figures:
        out["commit1"] = bench_data_path.run_workers(addr, "commit", 1, args.seconds,
                                                     tmp)
    if "commitN" in figures:
        out["commitN"] = bench_data_path.run_workers(addr, "commit", args.clients,
                                                     args.seconds, tmp)
    if "tpc1" in figures:
        out["tpc1"] = bench_data_path.run_workers(addr, "tpc", 1, args.seconds, tmp)
    if "miss1" in figures:
        out["miss1"] = bench_data_path.run_workers(addr, "load", 1, args.seconds, tmp,
                                                   oids_file)
    return out


def plain_through_relays(figures, args) -> dict:
    """Plain runzeo directly, through one relay and through two."""
    results = {}
    with tempfile.TemporaryDirectory(prefix="zeoraid-chain-") as tmp:
        tmp = Path(tmp)
        cluster = harness.Cluster(tmp, kind="plain")
        relays = []
        try:
            cluster.start()
            oids_file = tmp / "oids.json"
            bench_data_path.write_objects(cluster, args.objects, oids_file)
            addr = harness.format_addr(cluster.addr)
            for hops in range(3):
                if hops:
                    proc, addr = start_relay(addr, tmp / f"relay{hops}.log")
                    relays.append(proc)
                label = ("plain", "1 relay", "2 relays")[hops]
                results[label] = measure(addr, figures, args, tmp, oids_file)
                print(f"[{label}] done", flush=True)
        finally:
            for proc in relays:
                proc.kill()
                proc.wait()
            cluster.stop()
    return results


def raid(figures, args) -> dict:
    """The RAID (2 mirrors), through a translator without a record cache."""
    with tempfile.TemporaryDirectory(prefix="zeoraid-chain-") as tmp:
        tmp = Path(tmp)
        cluster = harness.Cluster(tmp, kind="raid", n_backends=2,
                                  translator_args=["--cache_mb", "0"])
        try:
            cluster.start()
            oids_file = tmp / "oids.json"
            bench_data_path.write_objects(cluster, args.objects, oids_file)
            out = measure(harness.format_addr(cluster.addr), figures, args, tmp,
                          oids_file)
            print("[RAID] done", flush=True)
            return out
        finally:
            cluster.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per figure (5)")
    parser.add_argument("--clients", type=int, default=8,
                        help="processes of commitN (8)")
    parser.add_argument("--objects", type=int, default=2000,
                        help="objects written for the load figure (2000)")
    parser.add_argument("--figures", default=",".join(FIGURES),
                        help=f"comma-separated subset of {','.join(FIGURES)}")
    parser.add_argument("--no-raid", action="store_true",
                        help="only plain runzeo and the relays")
    args = parser.parse_args()
    figures = [f for f in args.figures.split(",") if f]
    unknown = set(figures) - set(FIGURES)
    if unknown:
        parser.error(f"unknown figures: {', '.join(sorted(unknown))}")

    results = plain_through_relays(figures, args)
    if not args.no_raid:
        results["RAID"] = raid(figures, args)

    names = {"commit1": ("1-object commits/s, 1 client", "ms"),
             "commitN": (f"1-object commits/s, {args.clients} clients", "ms"),
             "tpc1": ("empty 2PCs/s, 1 client", "ms"),
             "miss1": ("uncached loads/s, 1 client", "us")}
    setups = list(results)
    print()
    print(f"{'figure':34s}" + "".join(f"{s:>12s}" for s in setups))
    for figure in figures:
        label, unit = names[figure]
        scale = 1e3 if unit == "ms" else 1e6
        base = results["plain"][figure]
        print(f"{label:34s}" + "".join(
            f"{results[s][figure]['rate']:12.1f}" for s in setups))
        print(f"{'  ratio to plain':34s}" + "".join(
            f"{results[s][figure]['rate'] / base['rate']:12.2f}" for s in setups))
        print(f"{'  p50 (' + unit + ')':34s}" + "".join(
            f"{results[s][figure]['p50'] * scale:12.2f}" for s in setups))
        print(f"{'  added p50 (' + unit + ')':34s}" + "".join(
            f"{(results[s][figure]['p50'] - base['p50']) * scale:12.2f}"
            for s in setups))
    print(f"\n{bench_data_path.machine()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
