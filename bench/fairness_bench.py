#!/usr/bin/env python3
"""How long one client waits while another pipelines a flood of puts (stdlib only).

    python bench/fairness_bench.py [--puts 100000] [--rounds 3]

One connection (in a process of its own) sends ``--puts`` puts in one go and reads
the replies; meanwhile another connection sends ``stats-tube default`` and waits for
each reply, over and over. The table gives that second client's latency for the
embedded server (as a process) and beanstalkd, each round a fresh server.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from beanstalkm.testing import EMBEDDED, BeanstalkdProcess

FLOOD = """
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
put = b"put 0 0 120 100\\r\\n" + b"x" * 100 + b"\\r\\n"
sock = socket.create_connection((host, port))
print("ready", flush=True)
sys.stdin.readline()
start = time.perf_counter()
sock.sendall(put * n)
seen = 0
while seen < n:
    seen += sock.recv(1 << 20).count(b"\\r\\n")
print(n / (time.perf_counter() - start), flush=True)
"""


def probe(address: tuple[str, int], stop: threading.Event, samples: list[float]) -> None:
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while not stop.is_set():
            start = time.perf_counter()
            sock.sendall(b"stats-tube default\r\n")
            data = b""
            while not (data.startswith(b"OK") and data.endswith(b"\n\r\n")):
                data += sock.recv(4096)
            samples.append(time.perf_counter() - start)
            time.sleep(0.001)


def one_round(address: tuple[str, int], puts: int) -> tuple[float, list[float]]:
    flood = subprocess.Popen(
        [sys.executable, "-c", FLOOD, address[0], str(address[1]), str(puts)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert flood.stdin is not None
    assert flood.stdout is not None
    assert flood.stdout.readline().strip() == "ready"
    samples: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe, args=(address, stop, samples))
    prober.start()
    time.sleep(0.05)  # the prober is connected and measuring
    flood.stdin.write("go\n")
    flood.stdin.flush()
    rate = float(flood.stdout.readline())
    flood.wait(60)
    stop.set()
    prober.join(10)
    return rate, samples


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--puts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    servers: list[tuple[str, str | list[str] | None]] = [("embedded (process)", list(EMBEDDED))]
    if os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd"):
        servers.append(("beanstalkd", None))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.puts:,} puts per flood")
    columns = ("flood puts/s", "probes", "p50 ms", "p99 ms", "max ms")
    widths = (13, 7, 8, 8, 8)
    print(f"{'server':<20} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True)))
    for name, binary in servers:
        for _ in range(args.rounds):
            server = BeanstalkdProcess(binary=binary)
            address = server.start()
            try:
                rate, samples = one_round(address, args.puts)
            finally:
                server.stop()
            ms = [s * 1000 for s in samples]
            print(
                f"{name:<20} {rate:>13,.0f} {len(ms):>7} {statistics.median(ms):>8.2f} "
                f"{percentile(ms, 0.99):>8.2f} {max(ms):>8.2f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
