"""Fixtures of the worker tests: ``spawn`` runs ``beanstalkm worker ...`` in a subprocess."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from beanstalkm.testing import BeanstalkdProcess

from ..cli.util import ROOT, cli_env, console_script


class WorkerProcess:
    """``beanstalkm worker ...`` running, its stderr collected as it comes."""

    def __init__(self, server: BeanstalkdProcess, log: Path, *args: str) -> None:
        self.log = log
        log.touch()
        self.proc = subprocess.Popen(
            [*console_script(), "worker", *args, "--json"],
            env=cli_env(server.address, WORKER_LOG=str(log)),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.errors: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.errors.append(line)

    def lines(self, prefix: str) -> list[str]:
        return [x.split()[1] for x in self.log.read_text().splitlines() if x.startswith(prefix)]

    def said(self, text: str) -> bool:
        return any(text in line for line in self.errors)

    def finish(self, timeout: float = 15) -> tuple[int, dict[str, Any]]:
        """Wait for the exit; return the code and the counters it printed."""
        # Not communicate(): stderr belongs to the reader thread.
        self.proc.wait(timeout)
        assert self.proc.stdout is not None
        out = self.proc.stdout.read()
        self._reader.join(5)
        return self.proc.returncode, json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def kind() -> str:
    """The worker tests put jobs and read stats with the blocking client only: the
    workers under test bring their own connections."""
    return "sync"


@pytest.fixture
def spawn(server: BeanstalkdProcess, tmp_path: Path) -> Iterator[Any]:
    started: list[WorkerProcess] = []

    def start(*args: str) -> WorkerProcess:
        worker = WorkerProcess(server, tmp_path / f"log{len(started)}", *args)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()
