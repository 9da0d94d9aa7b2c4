"""Every conformance test runs against real beanstalkd 1.12 and the embedded server,
each without and with a binlog (``-b``, in a fresh directory).

Each test gets a fresh server. Tests send bytes and compare the exact bytes that come
back, so anything that passes here behaves the same on both servers.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from beanstalkm.server import ServerThread
from beanstalkm.testing import BeanstalkdNotFound, BeanstalkdProcess

from .wire import Wire, wait_until

SERVER_KINDS = ["beanstalkd", "embedded", "beanstalkd-b", "embedded-b"]
#: The binlog file size the ``-b`` runs use: beanstalkd writes every file out in full.
BINLOG_SIZE = 65536


class Target:
    """A running server under test."""

    def __init__(self, kind: str, args: Sequence[str], binlog_dir: Path | None = None) -> None:
        self.kind = kind
        #: The server logs to a binlog (``-b``).
        self.binlog = binlog_dir is not None
        if binlog_dir is not None:
            args = [*args, "-b", str(binlog_dir), "-s", str(BINLOG_SIZE)]
        self._real: BeanstalkdProcess | None = None
        self._embedded: ServerThread | None = None
        if kind == "beanstalkd":
            try:
                self._real = BeanstalkdProcess(args)
            except BeanstalkdNotFound as exc:
                pytest.skip(f"real server not available: {exc}")
            self.address = self._real.start()
        else:
            self._embedded = ServerThread.from_args(args)
            self.address = self._embedded.start()

    def enter_drain_mode(self) -> None:
        """SIGUSR1 for beanstalkd, the method for the embedded server; waits for it."""
        if self._real is not None:
            self._real.signal(signal.SIGUSR1)
        elif self._embedded is not None:
            self._embedded.enter_drain_mode()
        with Wire(self.address) as wire:
            assert wait_until(lambda: wire.stats()["draining"] == "true", timeout=5)

    def stop(self) -> None:
        if self._real is not None:
            self._real.stop()
        if self._embedded is not None:
            self._embedded.stop()


@pytest.fixture(params=SERVER_KINDS)
def start_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Target]]:
    """Start a server of this run's kind with beanstalkd flags, e.g. ``["-z", "10"]``."""
    started: list[Target] = []
    kind, _, binlog = str(request.param).partition("-")

    def start(args: Sequence[str] = ()) -> Target:
        directory = tmp_path_factory.mktemp("binlog") if binlog else None
        target = Target(kind, args, directory)
        started.append(target)
        return target

    yield start
    for target in started:
        target.stop()


@pytest.fixture
def server(start_server: Callable[..., Target]) -> Target:
    """A fresh server with default flags."""
    return start_server()


@pytest.fixture
def connect(server: Target) -> Iterator[Callable[[], Wire]]:
    """Open raw connections to :func:`server`; all are closed afterwards."""
    wires: list[Wire] = []

    def open_wire() -> Wire:
        wire = Wire(server.address)
        wires.append(wire)
        return wire

    yield open_wire
    for wire in wires:
        wire.close()


@pytest.fixture
def wire(connect: Callable[[], Wire]) -> Wire:
    """One raw connection to :func:`server`."""
    return connect()
