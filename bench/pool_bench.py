#!/usr/bin/env python3
"""Throughput of a pool on 1, 2 and 3 local beanstalkd servers.

Usage: python bench/pool_bench.py [--jobs N] [--consumers K]

For each number of servers: the jobs per second of ``Pool.put_many`` (batches of 1000,
one pipelined batch per server) from one producer, and of ``Pool.reserve`` with
``drop=True`` (reserve, then delete on the job's server) from K consumer processes
(default: one per server), each with its own pool. The servers and clients share this
machine's CPUs: read the scaling with that in mind (see docs/pool.md). Only the
standard library and the project's ``src/`` are needed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from bench import Server  # noqa: E402

import beanstalkm  # noqa: E402

BODY = {"id": 1234567, "kind": "bench.job", "values": [1, 2, 3, 4, 5]}


def _consume(addresses: list[str], count: int, results: multiprocessing.Queue[float]) -> None:
    with beanstalkm.Pool(addresses, watch="pool.bench", timeout=10) as pool:
        done = 0
        began = time.perf_counter()
        while done < count and pool.reserve(timeout=2) is not None:
            done += 1
        results.put(done / (time.perf_counter() - began))


def measure(servers: list[Server], jobs: int, consumers: int) -> tuple[float, float]:
    addresses = [f"beanstalk://127.0.0.1:{server.port}" for server in servers]
    with beanstalkm.Pool(addresses, timeout=10) as pool:
        began = time.perf_counter()
        for start in range(0, jobs, 1000):
            pool.put_many([BODY] * min(1000, jobs - start), tube="pool.bench")
        put_rate = jobs / (time.perf_counter() - began)
    results: multiprocessing.Queue[float] = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_consume, args=(addresses, jobs // consumers, results))
        for _ in range(consumers)
    ]
    for worker in workers:
        worker.start()
    rates = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(30)
    return put_rate, sum(rates)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--consumers", type=int, default=0, help="default: one per server")
    parser.add_argument(
        "--beanstalkd",
        default=os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd"),
    )
    args = parser.parse_args()
    if not args.beanstalkd:
        parser.error("no beanstalkd: install it, or give --beanstalkd PATH")
    print(f"{args.jobs} jobs a measurement, {os.cpu_count()} CPUs shared by servers and clients")
    print()
    print(f"{'servers':>7}  {'put_many jobs/s':>15}  {'reserve+delete jobs/s':>21}  consumers")
    for count in (1, 2, 3):
        servers = [Server(args.beanstalkd) for _ in range(count)]
        try:
            for server in servers:
                server.start()
            consumers = args.consumers or count
            put_rate, take_rate = measure(servers, args.jobs, consumers)
            print(f"{count:>7}  {put_rate:>15,.0f}  {take_rate:>21,.0f}  {consumers}")
        finally:
            for server in servers:
                server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
