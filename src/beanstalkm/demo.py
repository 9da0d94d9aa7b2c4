"""beanstalkm's main job: a producer and a pool of workers passing JSON messages.

A producer puts a stream of orders, emails and reports into three tubes; workers
reserve them from all three, process them and delete them. Live progress goes to the
terminal, and a summary at the end shows throughput, latency and that nothing was
lost or handled twice. Run it with ``beanstalkm demo`` (or ``python -m beanstalkm
demo``)::

    beanstalkm demo                          # an embedded server, started here
    beanstalkm demo --url beanstalk://127.0.0.1:11300
    beanstalkm demo --messages 20000 --workers 8
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator

from .client import Client
from .connection import Message
from .constants import __version__
from .urls import format_address

__all__ = ["TUBES", "add_arguments", "run"]

TUBES = ("orders", "emails", "reports")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's options: how many messages, workers, and the time limit."""
    parser.add_argument(
        "--messages", type=int, default=5000, help="how many to send (default 5000)"
    )
    parser.add_argument("--workers", type=int, default=4, help="worker threads (default 4)")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=120,
        metavar="SECONDS",
        help="give up after this long (default 120)",
    )


@contextlib.contextmanager
def server_address(named: tuple[str, int] | None) -> Iterator[tuple[str, int]]:
    """The server to use: the one named, else an embedded one started for the demo.

    The embedded server runs in a process of its own, as beanstalkd would: in a thread
    it would share the interpreter's lock with the workers.
    """
    if named:
        yield named
        return
    from .testing import EMBEDDED, BeanstalkdProcess

    server = BeanstalkdProcess(binary=EMBEDDED)
    try:
        yield server.start()
    finally:
        server.stop()


def make_job(number: int) -> tuple[str, dict[str, object]]:
    tube = TUBES[number % len(TUBES)]
    if tube == "orders":
        body: dict[str, object] = {"order": number, "items": random.randint(1, 5)}
    elif tube == "emails":
        body = {"to": f"user{number}@example.com", "subject": "Your order"}
    else:
        body = {"report": number, "rows": random.randint(10, 1000)}
    body["kind"] = tube
    body["sent_at"] = time.time()
    return tube, body


def process(tube: str, body: dict[str, object]) -> None:
    """Stand-in for real work: a little CPU, now and then a short wait."""
    if tube == "reports":
        sum(range(int(str(body["rows"]))))
    elif random.random() < 0.01:
        time.sleep(0.001)


class Tally:
    """What the workers did, shared between threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done: Counter[str] = Counter()
        self.seen: set[int] = set()
        self.duplicates = 0
        self.latencies: list[float] = []

    def record(self, message: Message, tube: str, latency: float) -> None:
        with self.lock:
            if message.uid in self.seen:
                self.duplicates += 1
            self.seen.add(message.uid)
            self.done[tube] += 1
            self.latencies.append(latency)

    @property
    def total(self) -> int:
        return sum(self.done.values())


def producer(address: tuple[str, int], count: int, put: Counter[str]) -> None:
    with Client(*address, timeout=10) as client:
        for number in range(count):
            tube, body = make_job(number)
            client.put(body, tube=tube, ttr=30)
            put[tube] += 1


def worker(address: tuple[str, int], tally: Tally, stop: threading.Event) -> None:
    with Client(*address, timeout=10, watch=TUBES) as client:
        while not stop.is_set():
            message = client.reserve(timeout=1, drop=False)
            if message is None:
                continue
            body = message.body
            tube = str(body["kind"])
            process(tube, body)
            message.delete()
            tally.record(message, tube, time.time() - float(body["sent_at"]))


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def run(args: argparse.Namespace, named: tuple[str, int] | None = None) -> int:
    """Run the demo on the server ``named`` (else an embedded one); 0 if every message
    was handled exactly once."""
    with server_address(named) as address:
        print(
            f"beanstalkm {__version__} demo on {format_address(*address)}: "
            f"{args.messages} messages, {len(TUBES)} tubes, {args.workers} workers",
            flush=True,
        )
        tally, put, stop = Tally(), Counter[str](), threading.Event()
        workers = [
            threading.Thread(target=worker, args=(address, tally, stop), daemon=True)
            for _ in range(args.workers)
        ]
        for thread in workers:
            thread.start()
        start = time.monotonic()
        feeder = threading.Thread(target=producer, args=(address, args.messages, put), daemon=True)
        feeder.start()
        deadline = start + args.time_limit
        while tally.total < args.messages and time.monotonic() < deadline:
            if not feeder.is_alive() and sum(put.values()) < args.messages:
                break  # the producer failed; its traceback is above
            elapsed = time.monotonic() - start
            line = (
                f"\r  put {sum(put.values()):>7}  processed {tally.total:>7}  "
                f"{tally.total / max(elapsed, 1e-9):>8.0f} msg/s"
            )
            if sys.stdout.isatty():
                print(line, end="", flush=True)
            time.sleep(0.2)
        elapsed = time.monotonic() - start
        stop.set()
        for thread in workers:
            thread.join(5)
        feeder.join(5)

    sent = sum(put.values())
    lost = sent - len(tally.seen)
    ms = [value * 1000 for value in tally.latencies]
    erase = "\r" if sys.stdout.isatty() else ""
    print(f"{erase}  put {sent:>7}  processed {tally.total:>7}" + " " * 20)
    print()
    print(
        f"  messages     {tally.total} processed of {sent} put in {elapsed:.2f} s "
        f"({tally.total / elapsed:.0f} msg/s)"
    )
    print("  per tube     " + ", ".join(f"{tube} {tally.done[tube]}" for tube in TUBES))
    print(
        f"  latency ms   p50 {percentile(ms, 0.5):.1f}  p90 {percentile(ms, 0.9):.1f}  "
        f"p99 {percentile(ms, 0.99):.1f}  max {max(ms, default=0):.1f}"
    )
    print(f"  lost {lost}, handled twice {tally.duplicates}  (pid {os.getpid()})")
    return 0 if lost == 0 and sent == args.messages and tally.duplicates == 0 else 1
