#!/usr/bin/env python3
"""Time the command line's bulk work against a real beanstalkd, and print a table.

Usage: python bench/cli_bench.py [--jobs N] [--rounds N] [--src DIR] [--beanstalkd PATH]

Measures, with N jobs (default 50,000):

* ``put --lines``: N lines on stdin into a tube, through the real console script;
* ``purge``: deleting N ready jobs, and N buried ones;
* ``move``: moving N ready jobs into another tube, and N buried ones;

and, as the floor to compare with, the library doing the put directly: ``N`` puts
pipelined in batches of 1000 on one connection (no process start, no output).
Each figure is the median over the rounds; every round starts a fresh beanstalkd.
The command line runs as ``python -m beanstalkm.cli`` with the checkout's ``src/``
(or ``--src DIR``, e.g. an older version, to compare) first on ``PYTHONPATH``; a
subcommand that version does not have is shown as n/a.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
sys.path.insert(0, str(SRC))

import beanstalkm  # noqa: E402
from beanstalkm.testing import BeanstalkdProcess  # noqa: E402

BODY_FORMAT = b'{"line": %d, "text": "a line of a log, about fifty bytes"}\n'


def fill(address: tuple[str, int], tube: str, jobs: int, buried: bool = False) -> None:
    """Put ``jobs`` jobs into ``tube`` (and bury them), pipelined; not timed."""
    with beanstalkm.Client(*address, timeout=30, use=tube, watch=tube) as client:
        for start in range(0, jobs, 1000):
            pipeline = client.pipeline()
            for number in range(start, min(start + 1000, jobs)):
                pipeline.put(BODY_FORMAT % number)
            pipeline.execute(raise_on_error=True)
        if not buried:
            return
        left = jobs
        while left:
            pipeline = client.pipeline()
            for _ in range(min(1000, left)):
                pipeline.reserve_with_timeout(0)
            held = pipeline.execute(raise_on_error=True)
            pipeline = client.pipeline()
            for message in held:
                pipeline.bury(message.uid)
            pipeline.execute(raise_on_error=True)
            left -= len(held)


def library_put(address: tuple[str, int], jobs: int) -> float:
    with beanstalkm.Client(*address, timeout=30, use="floor") as client:
        client.connect()
        start = time.perf_counter()
        for first in range(0, jobs, 1000):
            pipeline = client.pipeline()
            for number in range(first, min(first + 1000, jobs)):
                pipeline.put(BODY_FORMAT % number)
            pipeline.execute(raise_on_error=True)
        return time.perf_counter() - start


class Missing(Exception):
    """The beanstalkm being measured has no such subcommand."""


def cli(address: tuple[str, int], src: Path, *args: str, stdin: bytes = b"") -> float:
    env = dict(
        os.environ, PYTHONPATH=str(src), BEANSTALKD_URL=f"beanstalk://{address[0]}:{address[1]}"
    )
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "beanstalkm.cli", *args],
        input=stdin,
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0 and b"invalid choice" in result.stderr:
        raise Missing(args[0])
    if result.returncode != 0:
        raise SystemExit(f"beanstalkm {' '.join(args)} failed:\n{result.stderr.decode()}")
    return elapsed


def count_in(address: tuple[str, int], tube: str, state: str) -> int:
    with beanstalkm.Client(*address, timeout=30) as client:
        try:
            return int(client.queue.stats_tube(tube)[f"current-jobs-{state}"])  # type: ignore[literal-required]
        except beanstalkm.NotFound:
            return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50_000, help="jobs per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the table shows medians")
    parser.add_argument("--src", type=Path, default=SRC, help="the beanstalkm to run (src dir)")
    parser.add_argument("--beanstalkd", default=None, help="the beanstalkd binary")
    args = parser.parse_args(argv)
    jobs: int = args.jobs
    lines = b"".join(BODY_FORMAT % number for number in range(jobs))
    results: dict[str, list[float]] = {}

    def measure(name: str, run: Callable[[tuple[str, int]], float], check: str = "") -> None:
        with BeanstalkdProcess(binary=args.beanstalkd) as address:
            try:
                seconds = run(address)
            except Missing:
                results.setdefault(name, [])
                return
            results.setdefault(name, []).append(seconds)
            if check:
                tube, state, expected = check.split(":")
                got = count_in(address, tube, state)
                if got != int(expected):
                    raise SystemExit(f"{name}: {tube} has {got} {state} jobs, not {expected}")

    src: Path = args.src
    for _ in range(args.rounds):
        measure("library: put, pipelined (floor)", lambda a: library_put(a, jobs))
        measure(
            "put --lines",
            lambda a: cli(a, src, "put", "--lines", "-t", "logs", stdin=lines),
            f"logs:ready:{jobs}",
        )

        def purge(address: tuple[str, int], buried: bool = False) -> float:
            fill(address, "big", jobs, buried)
            return cli(address, src, "purge", "big", "--yes")

        measure("purge (ready)", purge, "big:ready:0")
        measure("purge (buried)", lambda a: purge(a, buried=True), "big:buried:0")

        def move(address: tuple[str, int], buried: bool = False) -> float:
            fill(address, "from", jobs, buried)
            return cli(address, src, "move", "from", "to")

        measure("move (ready)", move, f"to:ready:{jobs}")
        measure("move (buried)", lambda a: move(a, buried=True), f"to:buried:{jobs}")

    floor = statistics.median(results["library: put, pipelined (floor)"])
    print(f"beanstalkm command line, {jobs:,} jobs, median of {args.rounds} rounds ({src})")
    print()
    print(f"{'operation':<34} {'seconds':>8} {'jobs/s':>9} {'x floor':>8}")
    for name, times in results.items():
        if not times:
            print(f"{name:<34} {'n/a':>8}")
            continue
        seconds = statistics.median(times)
        print(f"{name:<34} {seconds:>8.2f} {jobs / seconds:>9,.0f} {seconds / floor:>8.1f}")
    print()
    print("Command-line rows include starting Python (about 0.1 s) and printing each id.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
