#!/usr/bin/env python3
"""Request/reply through one worker: requests per second and latency, beside a
hand-written request/reply loop on the raw commands.

Usage: python bench/request_reply.py [--requests N] [--delay MS] [--slow-requests N]

Starts beanstalkd on a free loopback port. The answering side runs in a process of its
own, as it would in production. Each scenario sends ``--requests`` requests
(``{"a": n, "b": 1}``, answered with their sum) one after another, except the last
two, which keep 32 in flight from one asyncio client. The table shows the requests per
second, the latency of one request (p50 and p99, from the call to the reply in hand),
and the commands the server counted per request (its ``cmd-*`` stats, read on a
direct connection). The first row is the floor: the same exchange written by hand on
the raw layer (put the request, reserve it, put the answer, delete, reserve the
answer, delete), with no envelope and no correlation.

With ``--delay MS`` the sequential scenarios run again through a proxy that holds
every chunk ``MS`` milliseconds each way, and the latency is shown in round trips of
that link as well: over a real network round trips dominate. Only the standard
library and the project's ``src/`` are needed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import shutil
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from bench import LOOPBACK, Admin, Server  # noqa: E402
from slow_link import SlowProxy, measure_rtt  # noqa: E402

import beanstalkm  # noqa: E402
from beanstalkm import aio  # noqa: E402

COUNTERS = ("put", "use", "reserve", "reserve-with-timeout", "delete", "watch", "stats-job")
TUBE = "bench.calc"
Address = tuple[str, int]


def add(message: Any) -> int:
    body = message.body
    return int(body["a"]) + int(body["b"])


async def add_async(message: Any) -> int:
    return add(message)


# -- the answering side, in a process of its own (as it would be) ----------------------


def _respond_raw(address: Address, stop: Any) -> None:
    """The floor's responder: reserve, put the answer, delete, by hand."""
    with beanstalkm.Client(*address, timeout=10, watch=TUBE) as client:
        queue = client.queue
        queue.use("bench.answers")
        while not stop.is_set():
            try:
                job = queue.reserve_with_timeout(1)
            except beanstalkm.TimedOut:
                continue
            a, b = str(job.body).split()
            queue.put(str(int(a) + int(b)).encode())
            queue.delete(job.uid)


def _run_worker(address: Address, kind: str, concurrency: int, stop: Any) -> None:
    worker: Any
    if kind == "threaded":
        worker = beanstalkm.Worker(
            *address, handlers={TUBE: add}, concurrency=concurrency, install_signal_handlers=False
        )
        threading.Thread(target=lambda: (stop.wait(), worker.stop(grace=5))).start()
        worker.run()
    else:
        worker = aio.Worker(
            *address,
            handlers={TUBE: add_async},
            concurrency=concurrency,
            install_signal_handlers=False,
        )
        threading.Thread(target=lambda: (stop.wait(), worker.stop(grace=5))).start()
        asyncio.run(worker.run())


class Responder:
    """A process answering requests in TUBE while the block runs."""

    def __init__(self, target: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self.stop = context.Event()
        self.process = context.Process(target=target, args=(*args, self.stop))

    def __enter__(self) -> Responder:
        self.process.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.process.join(15)
        if self.process.is_alive():
            self.process.kill()


# -- scenarios: each answers `count` requests sent to `address` ------------------------
# Each returns the seconds the requests took (not counting the responder's start and
# stop) and the latency of each.

Measured = tuple[float, list[float]]


def raw_loop(address: Address, count: int) -> Measured:
    """The floor: request/reply written by hand on the raw commands."""
    latencies = []
    with (
        Responder(_respond_raw, address),
        beanstalkm.Client(*address, timeout=10, watch="bench.answers") as client,
    ):
        queue = client.queue
        queue.use(TUBE)
        queue.put(b"0 1")  # the responder has started once this is answered
        queue.delete(queue.reserve_with_timeout(30).uid)
        first = time.perf_counter()
        for n in range(count):
            began = time.perf_counter()
            queue.put(b"%d 1" % n)
            answer = queue.reserve_with_timeout(10)
            queue.delete(answer.uid)
            latencies.append(time.perf_counter() - began)
            assert int(answer.body) == n + 1
        return time.perf_counter() - first, latencies


def _sequential(address: Address, count: int, kind: str) -> Measured:
    latencies = []
    with (
        Responder(_run_worker, address, kind, 1),
        beanstalkm.Client(*address, timeout=10) as client,
    ):
        client.request({"a": 0, "b": 1}, tube=TUBE, timeout=30)  # the worker has started
        first = time.perf_counter()
        for n in range(count):
            began = time.perf_counter()
            reply = client.request({"a": n, "b": 1}, tube=TUBE, timeout=10)
            latencies.append(time.perf_counter() - began)
            assert reply.body == n + 1
        return time.perf_counter() - first, latencies


def threaded_worker(address: Address, count: int) -> Measured:
    return _sequential(address, count, "threaded")


def asyncio_worker(address: Address, count: int) -> Measured:
    return _sequential(address, count, "asyncio")


def _concurrent(address: Address, count: int, kind: str) -> Measured:
    """32 requests in flight from one asyncio client, a worker of 4 slots."""

    async def main() -> Measured:
        latencies: list[float] = []
        async with aio.Client(*address, timeout=10) as client:
            await client.request({"a": 0, "b": 1}, tube=TUBE, timeout=30)
            numbers = iter(range(count))

            async def one_at_a_time() -> None:
                for n in numbers:
                    began = time.perf_counter()
                    reply = await client.request({"a": n, "b": 1}, tube=TUBE, timeout=10)
                    latencies.append(time.perf_counter() - began)
                    assert reply.body == n + 1

            first = time.perf_counter()
            await asyncio.gather(*(one_at_a_time() for _ in range(32)))
            return time.perf_counter() - first, latencies

    with Responder(_run_worker, address, kind, 4):
        return asyncio.run(main())


def concurrent_threads(address: Address, count: int) -> Measured:
    return _concurrent(address, count, "threaded")


def concurrent_tasks(address: Address, count: int) -> Measured:
    return _concurrent(address, count, "asyncio")


SCENARIOS: dict[str, tuple[str, Callable[[Address, int], Measured], bool]] = {
    "raw": ("raw commands by hand (the floor)", raw_loop, True),
    "worker": ("Client.request -> Worker", threaded_worker, True),
    "aio-worker": ("Client.request -> aio.Worker", asyncio_worker, True),
    "threads": ("aio.Client.request x32 -> Worker(4 threads)", concurrent_threads, False),
    "tasks": ("aio.Client.request x32 -> aio.Worker(4 tasks)", concurrent_tasks, False),
}


def run(admin: Admin, address: Address, count: int, rtt: float | None, names: list[str]) -> None:
    unit = "" if rtt is None else "  p50 RTs"
    print(f"{'scenario':46} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}{unit}  commands per request")
    for name in names:
        label, scenario, _ = SCENARIOS[name]
        before = admin.yaml_dict("stats")
        elapsed, latencies = scenario(address, count)
        after = admin.yaml_dict("stats")
        # The first request (which waits for the worker to start) counts too.
        counts = {key: int(after[f"cmd-{key}"]) - int(before[f"cmd-{key}"]) for key in COUNTERS}
        shown = ", ".join(f"{key} {n / count:.2f}" for key, n in counts.items() if n)
        latencies.sort()
        p50 = statistics.median(latencies)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        in_rts = "" if rtt is None else f"  {p50 / rtt:>8.2f}"
        print(
            f"{label:46} {count / elapsed:>8.0f} {p50 * 1000:>8.3f} {p99 * 1000:>8.3f}"
            f"{in_rts}  {shown}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=2.0, help="ms each way; 0: loopback only")
    parser.add_argument("--slow-requests", type=int, default=100)
    parser.add_argument(
        "--beanstalkd", default=os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd")
    )
    args = parser.parse_args()
    if not args.beanstalkd:
        parser.error("no beanstalkd: install it, or give --beanstalkd PATH")
    server = Server(args.beanstalkd)
    server.start()
    try:
        admin = Admin(server.port)
        print(f"loopback, {args.requests} requests per scenario, {os.cpu_count()} CPUs shared")
        print()
        run(admin, (LOOPBACK, server.port), args.requests, None, list(SCENARIOS))
        if args.delay > 0:
            with SlowProxy((LOOPBACK, server.port), args.delay / 1000) as proxy:
                address = (LOOPBACK, proxy.port)
                rtt = measure_rtt(address)
                print()
                print(
                    f"slow link: {args.delay:g} ms each way, measured round trip "
                    f"{rtt * 1000:.2f} ms; {args.slow_requests} requests per scenario"
                )
                print()
                names = [name for name, (_, _, sequential) in SCENARIOS.items() if sequential]
                run(admin, address, args.slow_requests, rtt, names)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
