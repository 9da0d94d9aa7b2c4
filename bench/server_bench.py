#!/usr/bin/env python3
"""Benchmark the embedded server against real beanstalkd (stdlib only).

    python bench/server_bench.py [--puts 20000] [--jobs 100000] [--connections 1000]

Measures, for the embedded server (as its own process, and on a thread of this
process) and for ``beanstalkd`` when it is installed:

* puts per second, one at a time on one connection (send, wait for INSERTED);
* puts per second pipelined, 100 per write;
* many concurrent connections: each puts a job, then each reserves one;
* memory per job: RSS growth of the server process for ``--jobs`` 100-byte jobs,
  and (embedded only) Python heap per job measured with tracemalloc.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from beanstalkm.server import ServerThread
from beanstalkm.server.commands import Dispatcher, ReadBody
from beanstalkm.server.state import Broker
from beanstalkm.testing import free_port

BODY = b"x" * 100
PUT = b"put 0 0 120 %d\r\n%s\r\n" % (len(BODY), BODY)


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_lines(sock: socket.socket, count: int) -> bytes:
    data = b""
    while data.count(b"\r\n") < count:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
    return data


def puts_one_at_a_time(address: tuple[str, int], n: int) -> float:
    with connect(address) as sock:
        start = time.perf_counter()
        for _ in range(n):
            sock.sendall(PUT)
            reply = sock.recv(64)
            while not reply.endswith(b"\r\n"):
                reply += sock.recv(64)
        return n / (time.perf_counter() - start)


def puts_pipelined(address: tuple[str, int], n: int, batch: int = 100) -> float:
    with connect(address) as sock:
        start = time.perf_counter()
        for _ in range(n // batch):
            sock.sendall(PUT * batch)
            recv_lines(sock, batch)
        return (n // batch) * batch / (time.perf_counter() - start)


def many_connections(address: tuple[str, int], count: int) -> float:
    """Seconds for ``count`` connections to each put a job and then each reserve one."""
    start = time.perf_counter()
    socks = [connect(address) for _ in range(count)]
    try:
        for sock in socks:
            sock.sendall(PUT)
        for sock in socks:
            assert recv_lines(sock, 1).startswith(b"INSERTED")
        for sock in socks:
            sock.sendall(b"reserve\r\n")
        for sock in socks:
            data = b""
            while len(data) < len(b"RESERVED 1 100\r\n") + len(BODY) + 2 or not data.endswith(
                b"\r\n"
            ):
                data += sock.recv(4096)
            assert data.startswith(b"RESERVED")
        return time.perf_counter() - start
    finally:
        for sock in socks:
            sock.close()


def rss_bytes(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


def rss_per_job(address: tuple[str, int], pid: int, jobs: int) -> float | None:
    before = rss_bytes(pid)
    if before is None:
        return None
    with connect(address) as sock:
        for _ in range(jobs // 1000):
            sock.sendall(PUT * 1000)
            recv_lines(sock, 1000)
    time.sleep(0.2)
    after = rss_bytes(pid)
    assert after is not None
    return (after - before) / jobs


def tracemalloc_per_job(jobs: int) -> float:
    """Python heap growth per stored 100-byte job, measured on the broker directly."""
    broker = Broker()
    session = broker.open_session(lambda reply: None)
    dispatcher = Dispatcher(broker, session)
    header = b"put 0 0 120 %d" % len(BODY)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(jobs):
        result = dispatcher.run(header)
        assert isinstance(result, ReadBody)
        broker.put(result.job, bytes(BODY + b"\r\n"))
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / jobs


@contextlib.contextmanager
def process(cmd: list[str], port: int) -> Iterator[tuple[tuple[str, int], int]]:
    proc = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_pin_server
    )
    address = ("127.0.0.1", port)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(address, timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"{cmd[0]} did not start") from None
            time.sleep(0.02)
    try:
        yield address, proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def _cpus() -> list[int]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return []


def _pin_server() -> None:
    # Server and client on different CPUs: latency numbers vary far less.
    cpus = _cpus()
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[-1]})


def _pin_client() -> None:
    cpus = _cpus()
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[0]})


def raise_fd_limit(wanted: int) -> None:
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < wanted:
            limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--puts", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--connections", type=int, default=1000)
    args = parser.parse_args()
    raise_fd_limit(2 * args.connections + 100)
    _pin_client()

    columns: dict[str, dict[str, str]] = {}

    def measure(name: str, address: tuple[str, int], pid: int | None) -> None:
        col = columns.setdefault(name, {})
        # Latency-bound numbers vary run to run with scheduling: report the median of 3.
        one = statistics.median(puts_one_at_a_time(address, args.puts) for _ in range(3))
        col["puts/s, one at a time (median of 3)"] = f"{one:,.0f}"
        piped = statistics.median(puts_pipelined(address, args.puts * 5) for _ in range(3))
        col["puts/s, pipelined x100 (median of 3)"] = f"{piped:,.0f}"
        seconds = many_connections(address, args.connections)
        col[f"{args.connections} connections put+reserve"] = f"{seconds:.2f} s"
        if pid is not None:
            per_job = rss_per_job(address, pid, args.jobs)
            col[f"RSS per job ({args.jobs:,} x 100 B)"] = (
                "n/a" if per_job is None else f"{per_job:,.0f} B"
            )

    env_python = sys.executable
    print(f"python {sys.version.split()[0]} ({env_python}), {os.cpu_count()} CPUs", flush=True)
    python_port = free_port()
    cmd = [env_python, "-m", "beanstalkm.server", "-l", "127.0.0.1", "-p", str(python_port)]
    os.environ["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent / "src")
    with process(cmd, python_port) as (address, pid):
        measure("embedded (process)", address, pid)
    with ServerThread() as address:
        # Shares this process (and its CPU and GIL) with the benchmark client.
        measure("embedded (thread)", address, None)
    binary = os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd")
    if binary:
        port = free_port()
        with process([binary, "-l", "127.0.0.1", "-p", str(port)], port) as (address, pid):
            measure("beanstalkd", address, pid)
    heap = tracemalloc_per_job(args.jobs)
    columns["embedded (process)"]["Python heap per job (tracemalloc)"] = f"{heap:,.0f} B"

    rows: list[str] = []
    for col in columns.values():
        rows.extend(key for key in col if key not in rows)
    names = list(columns)
    width = max(len(row) for row in rows)
    print(f"{'':{width}}  " + "  ".join(f"{name:>20}" for name in names))
    for row in rows:
        cells = "  ".join(f"{columns[name].get(row, '-'):>20}" for name in names)
        print(f"{row:{width}}  {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
