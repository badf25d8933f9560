"""Memory and threads of a server holding many idle ZEO clients: the translator
of a 2-mirror RAID next to a plain runzeo, in the same run.

    .venv/bin/python tests/bench/bench_idle_memory.py [--clients 1000]
        [--settle 5] [--translator-args="--park_after=0"]

Opens --clients raw ZEO connections to each server (each reads the hello, sends
the handshake and registers, as a ZEO ClientStorage does when it connects), waits
--settle seconds without a call, then reads VmRSS and Threads from
/proc/PID/status. Prints both, and the translator's figures without clients;
then what parking costs a call: lastTransaction's p50 on a busy connection and
as the first call after the connection was parked. Asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "system"))


def status(pid: int) -> tuple[float, int]:
    rss_kb, threads = 0, 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
        elif line.startswith("Threads:"):
            threads = int(line.split()[1])
    return rss_kb / 1024, threads


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def connect_idle(addr, n: int) -> list[socket.socket]:
    import harness
    from ZEO.asyncio.marshal import encoder
    encode = encoder(b"Z5")
    register = frame(encode(1, False, "register", (harness.STORAGE_NAME, False)))
    socks = []
    for _ in range(n):
        s = socket.create_connection(addr, timeout=30)
        harness.recv_frame(s)  # the server's hello
        s.sendall(frame(b"Z5") + register)
        socks.append(s)
    for s in socks:  # the register replies (invalidation-free: nothing commits)
        harness.recv_frame(s)
    return socks


def measure(name: str, pid: int, addr, n: int, settle: float) -> None:
    rss0, threads0 = status(pid)
    socks = connect_idle(addr, n)
    time.sleep(settle)
    rss1, threads1 = status(pid)
    print(f"  {name:11s} idle: {rss0:6.1f} MB {threads0:5d} threads   "
          f"with {n} idle clients: {rss1:6.1f} MB {threads1:5d} threads   "
          f"({(rss1 - rss0) * 1024 / n:5.1f} KB per client)")
    for s in socks:
        s.close()


def wake_cost(raid, rounds: int) -> None:
    """lastTransaction's p50 on a busy connection, and after 150 ms idle on a
    translator that parks after 50 ms and on one that never parks."""
    import statistics
    import harness
    from test_hostile import RawClient

    def run(name: str, park_after: str) -> tuple[float, float]:
        t = harness.Translator(raid.supervisor, raid.raidcore, name=name,
                               extra_args=["--park_idle_after", park_after])
        t.start()
        try:
            c = RawClient(t.addr)
            c.handshake()
            c.register()

            def timed() -> float:
                t0 = time.perf_counter()
                flag, _ = c.call("lastTransaction")
                assert not flag
                return (time.perf_counter() - t0) * 1e6
            busy = [timed() for _ in range(200)]
            idle = []
            for _ in range(rounds):
                time.sleep(0.15)
                idle.append(timed())
            c.close()
        finally:
            t.stop()
        return statistics.median(busy), statistics.median(idle)
    busy, parked = run("translator-park", "50ms")
    busy0, unparked = run("translator-noparking", "0")
    print(f"  lastTransaction p50 ({rounds} rounds): busy connection {busy:5.0f} / "
          f"{busy0:5.0f} us; after 150 ms idle: parked {parked:5.0f} us, "
          f"never parked {unparked:5.0f} us")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds idle before measuring")
    parser.add_argument("--wake-rounds", type=int, default=40,
                        help="calls timed right after parking")
    parser.add_argument("--translator-args", default="",
                        help="extra translator flags (shell words)")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * args.clients + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    import harness
    print(f"{args.clients} idle clients, {args.settle:g} s settle "
          f"(nproc {os.cpu_count()}, load {os.getloadavg()[0]:.2f}):")
    with tempfile.TemporaryDirectory(prefix="zeoraid-idle-") as tmp:
        plain = harness.Cluster(Path(tmp) / "plain", kind="plain")
        try:
            plain.start()
            measure("plain ZEO", plain.backends[0].process.pid, plain.addr,
                    args.clients, args.settle)
        finally:
            plain.stop()
        raid = harness.Cluster(
            Path(tmp) / "raid", kind="raid",
            translator_args=shlex.split(args.translator_args))
        try:
            raid.start()
            measure("translator", raid.translator.process.pid, raid.addr,
                    args.clients, args.settle)
            wake_cost(raid, args.wake_rounds)
        finally:
            raid.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
