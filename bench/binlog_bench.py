#!/usr/bin/env python3
"""What the binlog costs, and how big it gets (stdlib only).

    python bench/binlog_bench.py [--puts 5000] [--churn 1000000]

For the embedded server (as a process) and beanstalkd, each with a fresh ``-b``
directory:

* puts per second, one at a time, without a binlog and with ``-b`` under each fsync
  policy (``-f 50``, the default; ``-f 0``, fsync before every reply; ``-F``, never);
* the size of the directory while ``--churn`` jobs are put and deleted (pipelined,
  100 pairs per write) with 10 long-lived jobs kept throughout: the largest it got,
  and at the end, with the time it took.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from beanstalkm.testing import EMBEDDED, BeanstalkdProcess

BODY = b"x" * 100


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_lines(sock: socket.socket, count: int, pending: bytes = b"") -> tuple[list[bytes], bytes]:
    data = pending
    while data.count(b"\r\n") < count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    lines = data.split(b"\r\n")
    return lines[:count], b"\r\n".join(lines[count:])


def puts_one_at_a_time(address: tuple[str, int], n: int) -> float:
    put = b"put 0 0 120 %d\r\n%s\r\n" % (len(BODY), BODY)
    with connect(address) as sock:
        start = time.perf_counter()
        for _ in range(n):
            sock.sendall(put)
            reply = sock.recv(64)
            while not reply.endswith(b"\r\n"):
                reply += sock.recv(64)
        return n / (time.perf_counter() - start)


def directory_size(directory: Path) -> int:
    return sum(entry.stat().st_size for entry in os.scandir(directory))


def churn(address: tuple[str, int], directory: Path, pairs: int) -> tuple[float, int, int]:
    """Put and delete ``pairs`` jobs; (seconds, largest directory size, final size)."""
    put = b"put 0 0 120 %d\r\n%s\r\n" % (len(BODY), BODY)
    batch = 100
    largest = 0
    with connect(address) as sock:
        sock.sendall(put * 10)  # long-lived jobs
        _, pending = read_lines(sock, 10)
        start = time.perf_counter()
        for done in range(0, pairs, batch):
            sock.sendall(put * batch)
            lines, pending = read_lines(sock, batch, pending)
            ids = [line.split()[1] for line in lines]
            sock.sendall(b"".join(b"delete %s\r\n" % job for job in ids))
            lines, pending = read_lines(sock, batch, pending)
            assert all(line == b"DELETED" for line in lines), lines[:3]
            if done % 10_000 == 0:
                largest = max(largest, directory_size(directory))
        seconds = time.perf_counter() - start
    final = directory_size(directory)
    return seconds, max(largest, final), final


def server(binary: str | Sequence[str] | None, args: Sequence[str]) -> BeanstalkdProcess:
    process = BeanstalkdProcess(args, binary=binary)
    process.start()
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--puts", type=int, default=5_000)
    parser.add_argument("--churn", type=int, default=1_000_000)
    args = parser.parse_args()
    kinds: dict[str, str | list[str] | None] = {"embedded (process)": list(EMBEDDED)}
    if os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd"):
        kinds["beanstalkd"] = None
    rows: dict[str, dict[str, str]] = {}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs", flush=True)
    for name, binary in kinds.items():
        for label, flags in (
            ("puts/s one at a time, no binlog", []),
            ("puts/s one at a time, -b (fsync at most every 50 ms)", ["-f", "50"]),
            ("puts/s one at a time, -b -f0 (fsync every reply)", ["-f", "0"]),
            ("puts/s one at a time, -b -F (never fsync)", ["-F"]),
        ):
            with tempfile.TemporaryDirectory() as directory:
                extra = ["-b", directory, *flags] if flags else []
                process = server(binary, extra)
                try:
                    rate = puts_one_at_a_time(process.address, args.puts)
                finally:
                    process.stop()
            rows.setdefault(label, {})[name] = f"{rate:,.0f}"
        with tempfile.TemporaryDirectory() as directory:
            process = server(binary, ["-b", directory])
            try:
                seconds, largest, final = churn(process.address, Path(directory), args.churn)
            finally:
                process.stop()
        rows.setdefault(f"{args.churn:,} puts+deletes, seconds", {})[name] = f"{seconds:,.1f}"
        rows.setdefault("  largest directory size", {})[name] = f"{largest / 2**20:,.1f} MiB"
        rows.setdefault("  directory size at the end", {})[name] = f"{final / 2**20:,.1f} MiB"
        print(f"{name}: done", flush=True)
    names = list(kinds)
    width = max(len(row) for row in rows)
    print(f"{'':{width}}  " + "  ".join(f"{name:>20}" for name in names))
    for row, cells in rows.items():
        print(f"{row:{width}}  " + "  ".join(f"{cells.get(n, '-'):>20}" for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
