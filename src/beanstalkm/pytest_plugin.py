"""pytest plugin: a fresh beanstalkd for every test that asks for one.

Installed with beanstalkm (entry point ``pytest11``), it offers:

``beanstalkd``
    The ``(host, port)`` of a fresh server, stopped after the test.
``beanstalk_client``
    A :class:`beanstalkm.Client` connected to that server, watching ``default`` and
    ``receive``, closed after the test.
``beanstalkd_factory``
    ``beanstalkd_factory(args=["-z", "1024"], kind=None)`` starts more servers and
    returns :class:`BeanstalkdServer` handles (address, stop, restart, drain).

Which server: ``--beanstalkd=auto|real|embedded`` or ``BEANSTALKM_SERVER``; ``auto``
(the default) runs the real ``beanstalkd`` when it is on PATH (or at
``$BEANSTALKD_BIN``) and the embedded pure-Python server otherwise. Extra flags for
one test: ``@pytest.mark.beanstalkd("-z", "1024")``.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .client import Client
    from .server import ServerThread
    from .testing import BeanstalkdProcess

__all__ = ["KINDS", "BeanstalkdServer", "resolve_kind"]

#: The values of ``--beanstalkd`` / ``BEANSTALKM_SERVER``.
KINDS = ("auto", "real", "embedded")
ENV_VAR = "BEANSTALKM_SERVER"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("beanstalkm", "beanstalkd servers for tests (beanstalkm)")
    group.addoption(
        "--beanstalkd",
        choices=KINDS,
        default=None,
        help=(
            "server behind the beanstalkd fixture: 'real' (the beanstalkd binary), "
            "'embedded' (beanstalkm's pure-Python server) or 'auto' (real if installed); "
            f"default: ${ENV_VAR} or auto"
        ),
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "beanstalkd(*flags, kind=None): beanstalkd command-line flags (e.g. '-z', '1024') "
        "and optionally the server kind for this test's beanstalkd fixture",
    )
    if config.getoption("help", False) or config.getoption("version", False):
        return
    # A bad choice fails the run once, at start-up, rather than every test that
    # asks for a server.
    requested = config.getoption("beanstalkd", None)
    if resolve_kind(requested) == "real" and not _real_binary():
        how = "--beanstalkd=real" if requested else f"{ENV_VAR}=real"
        raise pytest.UsageError(
            f"{how}, but beanstalkd is not installed (not on PATH, no $BEANSTALKD_BIN); "
            "install it, or choose --beanstalkd=embedded or auto"
        )


def _real_binary() -> str | None:
    return os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd")


def resolve_kind(requested: str | None) -> str:
    """Turn ``auto``/``real``/``embedded`` (None: the env var, else auto) into real/embedded."""
    kind = requested or os.environ.get(ENV_VAR) or "auto"
    if kind not in KINDS:
        raise pytest.UsageError(f"{ENV_VAR}={kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "auto":
        return "real" if _real_binary() else "embedded"
    return kind


class BeanstalkdServer:
    """A running server from :func:`beanstalkd_factory`, real or embedded."""

    def __init__(self, kind: str, args: Sequence[str] = ()) -> None:
        self.kind = kind
        self.args = list(args)
        self._real: BeanstalkdProcess | None = None
        self._embedded: ServerThread | None = None
        if kind == "real":
            from .testing import UNIX_PREFIX, BeanstalkdNotFound, BeanstalkdProcess

            # A unix socket asked for with -l: the process must be told, to wait for it.
            unix = [a for a in self.args if a.startswith(UNIX_PREFIX)]
            try:
                if unix:
                    self._real = BeanstalkdProcess(self.args, host=unix[-1])
                else:
                    self._real = BeanstalkdProcess(self.args)
            except BeanstalkdNotFound as exc:
                pytest.fail(f"--beanstalkd=real, but {exc}", pytrace=False)
        else:
            from .server import ServerThread
            from .server.cli import UsageError

            try:
                self._embedded = ServerThread.from_args(self.args)
            except UsageError as exc:
                pytest.fail(f"embedded beanstalkd: {exc}", pytrace=False)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` to connect to."""
        server = self._real or self._embedded
        assert server is not None
        return server.address

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    def start(self) -> tuple[str, int]:
        server = self._real or self._embedded
        assert server is not None
        return server.start()

    def stop(self) -> None:
        """Stop the server; without ``-b``, every job is lost."""
        server = self._real or self._embedded
        if server is not None:
            server.stop()

    def restart(self) -> tuple[str, int]:
        """Stop and start again on the same address: empty, or with ``-b`` the jobs
        the binlog restores."""
        server = self._real or self._embedded
        assert server is not None
        return server.restart()

    def enter_drain_mode(self) -> None:
        """From now on ``put`` answers DRAINING (SIGUSR1 for the real server)."""
        if self._real is not None:
            self._real.signal(signal.SIGUSR1)
        elif self._embedded is not None:
            self._embedded.enter_drain_mode()

    def __repr__(self) -> str:
        return f"<BeanstalkdServer {self.kind} {self.host}:{self.port}>"


@pytest.fixture
def beanstalkd_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[..., BeanstalkdServer]]:
    """Start servers on free loopback ports: ``beanstalkd_factory(args=[...], kind=None)``.

    ``kind`` is ``"real"``, ``"embedded"`` or ``"auto"``; by default the one chosen with
    ``--beanstalkd`` / ``BEANSTALKM_SERVER``. All are stopped after the test.
    """
    default = request.config.getoption("beanstalkd", None)
    started: list[BeanstalkdServer] = []

    def factory(args: Sequence[str] = (), kind: str | None = None) -> BeanstalkdServer:
        server = BeanstalkdServer(resolve_kind(kind or default), args)
        started.append(server)
        server.start()
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture
def beanstalkd(
    request: pytest.FixtureRequest, beanstalkd_factory: Callable[..., BeanstalkdServer]
) -> tuple[str, int]:
    """``(host, port)`` of a fresh beanstalkd, stopped after the test.

    Flags and kind come from ``@pytest.mark.beanstalkd(*flags, kind=...)`` if present.
    """
    marker = request.node.get_closest_marker("beanstalkd")
    args: Sequence[str] = marker.args if marker else ()
    kind: str | None = marker.kwargs.get("kind") if marker else None
    return beanstalkd_factory([str(arg) for arg in args], kind=kind).address


@pytest.fixture
def beanstalk_client(beanstalkd: tuple[str, int]) -> Iterator[Client]:
    """A :class:`beanstalkm.Client` connected to :func:`beanstalkd`, closed afterwards.

    It watches both ``default`` (where raw puts go) and ``receive`` (where
    :meth:`Client.put` puts by default), so what a test puts it can reserve.
    """
    from . import DEFAULT_TUBE, Client

    client = Client(*beanstalkd, timeout=10, watch=["default", DEFAULT_TUBE])
    try:
        yield client
    finally:
        client.close()
