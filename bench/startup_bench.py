#!/usr/bin/env python3
"""How soon a freshly started server accepts a connection and answers it (stdlib only).

    python bench/startup_bench.py [--runs 10]

For ``python -m beanstalkm.server``, ``beanstalkm serve`` (if installed) and
``beanstalkd``: the time from starting the process to the first accepted connection
(the socket is listening) and to the first reply (the server is serving), median
and worst of ``--runs``; then what the imports cost (``python -X importtime``): the
``beanstalkm`` package itself, and what the server adds to it.

Python's compiled bytecode is cached (in a temporary directory, as after ``pip
install``), whatever ``PYTHONDONTWRITEBYTECODE`` says: compiling the sources on every
start would be measured otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parent.parent / "src")
sys.path.insert(0, SRC)

from beanstalkm.testing import free_port  # noqa: E402

CACHE = tempfile.mkdtemp(prefix="startup-bench-pycache")
ENV = {
    **{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    "PYTHONPATH": SRC,
    "PYTHONPYCACHEPREFIX": CACHE,
}


WITHOUT_PACKAGE_INIT = f"""
import sys, types
package = types.ModuleType("beanstalkm")
package.__path__ = [{os.path.join(SRC, "beanstalkm")!r}]
sys.modules["beanstalkm"] = package
from beanstalkm.server.cli import main
sys.exit(main(sys.argv[1:]))
"""


def time_start(command: list[str]) -> tuple[float, float]:
    """Seconds from exec to an accepted connection, and to the first reply."""
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*command, "-l", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    try:
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - start > 10:
                    raise RuntimeError(f"{command} did not start") from None
                time.sleep(0.0005)
        accepted = time.perf_counter() - start
        with sock:
            sock.sendall(b"list-tube-used\r\n")
            assert sock.recv(64) == b"USING default\r\n"
        answered = time.perf_counter() - start
        return accepted, answered
    finally:
        proc.terminate()
        proc.wait(10)


def import_ms(statement: str) -> dict[str, float]:
    """Cumulative import time (ms) of each module imported at the top level by
    ``statement`` (its own imports are inside its time)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    )
    top: dict[str, float] = {}
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S+)$", line)
        if match:  # no indentation: imported by the statement itself
            top[match[2]] = int(match[1]) / 1000
    return top


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    commands = {"python -m beanstalkm.server": [sys.executable, "-m", "beanstalkm.server"]}
    # The same with the package's __init__ left out: the server's own share.
    commands["  without beanstalkm/__init__"] = [sys.executable, "-c", WITHOUT_PACKAGE_INIT]
    serve = shutil.which("beanstalkm", path=os.path.dirname(sys.executable))
    if serve:
        commands["beanstalkm serve"] = [serve, "serve"]
    binary = os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd")
    if binary:
        commands["beanstalkd"] = [binary]
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {args.runs} runs each")
    print(f"{'':<28} {'accepts (median/max ms)':>24} {'answers (median/max ms)':>24}")
    for name, command in commands.items():
        time_start(command)  # fills the bytecode cache
        accepts, answers = zip(*(time_start(command) for _ in range(args.runs)), strict=True)
        print(
            f"{name:<28} {statistics.median(accepts) * 1000:>14.1f} / {max(accepts) * 1000:<7.1f}"
            f" {statistics.median(answers) * 1000:>14.1f} / {max(answers) * 1000:<7.1f}"
        )
    print()
    print("imports (python -X importtime, cumulative ms; one run):")
    import_ms("import beanstalkm.server.runner, beanstalkm.server.binlog")  # cache
    package = import_ms("import beanstalkm")["beanstalkm"]
    print(f"  {'beanstalkm (the package, before any server code)':<52} {package:7.1f}")
    for label, statement in (
        (
            "+ server code until the socket listens",
            "beanstalkm.server.cli, beanstalkm.server.sockets",
        ),
        (
            "+ server code to serve (loop, broker, binlog)",
            "beanstalkm.server.cli, beanstalkm.server.runner, beanstalkm.server.binlog",
        ),
    ):
        times = import_ms(f"import beanstalkm; import {statement}")
        extra = sum(ms for name, ms in times.items() if name != "beanstalkm")
        print(f"  {label:<52} {extra:7.1f}")
    shutil.rmtree(CACHE, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
