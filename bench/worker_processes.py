#!/usr/bin/env python3
"""Worker throughput with processes: ``beanstalkm worker --processes N`` against threads.

Usage: python bench/worker_processes.py [--jobs N] [--beanstalkd PATH]

Starts beanstalkd on a free loopback port; for each configuration fills a tube with
``--jobs`` jobs, starts ``beanstalkm worker`` on it, and times the jobs from the first
delete to the last (so that start-up is not counted), as the server counts deletes.
Two handlers: ``noop`` (what the worker costs) and ``cpu`` (about 2 ms of pure Python
per job, which threads cannot spread over cores and processes can). Prints a table.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import Admin, Server  # noqa: E402

CONFIGS = [
    # (handler, processes or None, concurrency)
    ("noop", None, 4),
    ("noop", 2, 2),
    ("anoop", None, 4),
    ("anoop", 2, 2),
    ("cpu", None, 1),
    ("cpu", None, 4),
    ("cpu", 2, 1),
    ("cpu", 4, 1),
]


def run(
    port: int, admin: Admin, handler: str, processes: int | None, concurrency: int, jobs: int
) -> float:
    """Jobs per second of one configuration."""
    tube = f"bench-{handler}-{processes}-{concurrency}"
    admin.fill(tube, jobs, b'{"n": 1}')
    env = dict(os.environ, PYTHONPATH=f"{HERE.parent / 'src'}{os.pathsep}{HERE}")
    command = [
        sys.executable, "-m", "beanstalkm.cli", "--port", str(port), "worker",
        f"worker_handlers:{handler}", "-t", tube, "-c", str(concurrency), "--log-level", "error",
    ]  # fmt: skip
    if processes is not None:
        command += ["--processes", str(processes)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        first = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            deleted = int(admin.yaml_dict(f"stats-tube {tube}")["cmd-delete"])
            if deleted and first is None:
                first, at_first = time.monotonic(), deleted
            if deleted >= jobs:
                assert first is not None
                return (deleted - at_first) / max(time.monotonic() - first, 1e-9)
            time.sleep(0.005)
        raise RuntimeError(f"{tube}: not done in time")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3000, help="jobs per configuration")
    parser.add_argument(
        "--beanstalkd",
        default=os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd"),
        help="the beanstalkd binary (default: $BEANSTALKD_BIN or PATH)",
    )
    args = parser.parse_args()
    if not args.beanstalkd:
        sys.exit("beanstalkd not found: install it or pass --beanstalkd")
    server = Server(args.beanstalkd)
    server.start()
    admin = Admin(server.port)
    try:
        print(f"{args.jobs} jobs per configuration, {os.cpu_count()} CPU(s)\n")
        print(f"{'handler':<8} {'processes':>9} {'slots each':>10} {'jobs/s':>9}")
        for handler, processes, concurrency in CONFIGS:
            rate = run(server.port, admin, handler, processes, concurrency, args.jobs)
            shown = "-" if processes is None else str(processes)
            print(f"{handler:<8} {shown:>9} {concurrency:>10} {rate:>9.0f}", flush=True)
    finally:
        admin.close()
        server.stop()


if __name__ == "__main__":
    main()
