"""Helpers shared by the CLI and worker tests: bounded polling, the console script."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, every: float = 0.01) -> None:
    """Poll until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(every)


def console_script() -> list[str]:
    """The installed ``beanstalkm`` script beside this Python, else ``-m beanstalkm.cli``."""
    script = Path(sys.executable).parent / "beanstalkm"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "beanstalkm.cli"]


def cli_env(address: tuple[str, int], **extra: str) -> dict[str, str]:
    """The environment for a CLI run against ``address`` (via BEANSTALKD_URL)."""
    env = dict(os.environ)
    env["BEANSTALKD_URL"] = f"beanstalk://{address[0]}:{address[1]}"
    env.pop("COLUMNS", None)
    env.update(extra)
    return env


def run_cli(
    address: tuple[str, int] | None,
    *args: str,
    input: bytes | str | None = None,
    module: bool = False,
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real command line (text in and out), stdin a pipe unless ``input``."""
    command: Sequence[str] = (
        [sys.executable, "-m", "beanstalkm.cli"] if module else console_script()
    )
    if isinstance(input, bytes):
        input = input.decode("utf-8", "surrogateescape")
    return subprocess.run(
        [*command, *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else cli_env(address) if address else None,
        cwd=ROOT,
    )
