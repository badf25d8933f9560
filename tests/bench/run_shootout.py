"""zodbshootout (the ZODB community's benchmark) against a plain runzeo and a
2-mirror RAID started in the same run, with a table of RAID/plain ratios.

zodbshootout needs its own venv (its pins clash with ours; see
docs/performance.md):

    python3 -m venv /work/shootout-venv
    /work/shootout-venv/bin/pip install zodbshootout==0.8.0 ZODB==6.4 ZEO==6.2 \\
        pyperf==2.3.1 six
    .venv/bin/python tests/bench/run_shootout.py -c 1      # and -c 4

Each figure is the mean time of one operation (1000 objects per transaction);
the ratio is RAID time / plain time, so <= 1.11 is ">= 0.9x of plain ZEO".
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "system"))

BENCHMARKS = ["add", "update", "cold", "prefetch_cold", "warm", "tpc"]


def mean_by_name(path: Path) -> dict[str, float]:
    suite = json.loads(path.read_text())
    common = suite.get("metadata", {})
    out = {}
    for bench in suite["benchmarks"]:
        name = bench.get("metadata", {}).get("name") or common.get("name")
        values = [v for run in bench["runs"] for v in run.get("values", [])]
        if name and values:
            out[name] = sum(values) / len(values)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    parser.add_argument("--shootout", default="/work/shootout-venv/bin/zodbshootout")
    parser.add_argument("--values", type=int, default=3, help="zodbshootout -n")
    parser.add_argument("--json", help="also keep zodbshootout's results here")
    parser.add_argument("--raid-b", metavar="FLAGS",
                        help="also run a second RAID whose raidcore gets these "
                             "extra flags (shell words), e.g. "
                             "'--send_stores_early=false': an A/B in the same run")
    parser.add_argument("--raid-b-translator", metavar="FLAGS", default="",
                        help="extra translator flags of that second RAID")
    parser.add_argument("--raid-b-bin-dir", metavar="DIR",
                        help="binaries of that second RAID (a directory holding "
                             "raidcore/, translator/, admin/ as bazel-bin does): "
                             "two builds in the same run")
    parser.add_argument("benchmarks", nargs="*", default=BENCHMARKS)
    args = parser.parse_args()
    if not Path(args.shootout).exists():
        parser.error(f"{args.shootout} not found: see this script's docstring")
    import harness
    with tempfile.TemporaryDirectory(prefix="zeoraid-shootout-") as tmp:
        tmp = Path(tmp)
        (tmp / "plain").mkdir()
        (tmp / "raid").mkdir()
        # Each RAID's raidcore serves metrics, read at the end.
        metrics = {"raid": (harness.LOOPBACK, harness.free_port())}
        clusters = {
            "plain": harness.Cluster(tmp / "plain", kind="plain"),
            "raid": harness.Cluster(
                tmp / "raid", kind="raid", n_backends=2,
                raidcore_args=["--metrics_listen",
                               harness.format_addr(metrics["raid"])]),
        }
        if (args.raid_b is not None or args.raid_b_translator
                or args.raid_b_bin_dir):
            (tmp / "raidb").mkdir()
            metrics["raidb"] = (harness.LOOPBACK, harness.free_port())
            clusters["raidb"] = harness.Cluster(
                tmp / "raidb", kind="raid", n_backends=2,
                raidcore_args=["--metrics_listen",
                               harness.format_addr(metrics["raidb"]),
                               *shlex.split(args.raid_b or "")],
                translator_args=shlex.split(args.raid_b_translator),
                bin_dir=Path(args.raid_b_bin_dir) if args.raid_b_bin_dir else None)
        try:
            for c in clusters.values():
                c.start()
            conf = tmp / "zodb.conf"
            conf.write_text("".join(
                f"<zodb {name}>\n  <zeoclient>\n    server "
                f"{harness.format_addr(c.addr)}\n    storage 1\n  </zeoclient>\n"
                f"</zodb>\n" for name, c in clusters.items()))
            out = tmp / "out.json"
            t0 = time.monotonic()
            subprocess.run(
                [args.shootout, "--include-mapping", "no", "-p", "1", "-n",
                 str(args.values), "-w", "1", "-c", str(args.concurrency), "-o",
                 str(out), str(conf), *args.benchmarks],
                check=True, cwd=tmp, stdout=subprocess.DEVNULL)
            took = time.monotonic() - t0
            early = {name: harness.metric_by_label(
                addr, "zeoraid_early_transactions_total", "outcome")
                for name, addr in metrics.items()}
        finally:
            for c in reversed(list(clusters.values())):
                c.stop()
        means = mean_by_name(out)
        if args.json:
            Path(args.json).write_text(out.read_text())
    rows = {}
    for name, value in means.items():
        # "{c=1 processes, o=1000} plain: tpc"
        db, _, what = name.split("} ", 1)[-1].partition(": ")
        rows.setdefault(what, {})[db] = value
    print(f"zodbshootout -c {args.concurrency}, {took:.0f} s; "
          f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    for name, counts in early.items():
        print(f"{name}: transactions sent to the backends before their vote: "
              f"{counts.get('started', 0):.0f}, of which their vote used "
              f"{counts.get('voted', 0):.0f}")
    b_head = f" {'RAID-B':>10s} {'B/plain':>8s}" if "raidb" in metrics else ""
    print(f"{'benchmark':40s} {'plain':>10s} {'RAID':>10s} {'RAID/plain':>11s}"
          + b_head)

    def fmt(s: float) -> str:
        return f"{s * 1e3:8.2f} ms" if s < 1 else f"{s:8.2f} s "

    for what, by_db in rows.items():
        if "plain" in by_db and "raid" in by_db:
            b_cols = (f" {fmt(by_db['raidb'])} {by_db['raidb'] / by_db['plain']:8.2f}"
                      if "raidb" in by_db else "")
            print(f"{what:40s} {fmt(by_db['plain'])} {fmt(by_db['raid'])} "
                  f"{by_db['raid'] / by_db['plain']:10.2f}" + b_cols)
    return 0


if __name__ == "__main__":
    sys.exit(main())
