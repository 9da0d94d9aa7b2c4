"""Run the embedded server on a background thread: for tests, scripts and notebooks."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

from .listener import Server
from .state import DEFAULT_MAX_JOB_SIZE

__all__ = ["ServerThread", "run_in_thread"]


class ServerThread:
    """An embedded beanstalkd on its own thread and event loop.

    Mirrors :class:`beanstalkm.testing.BeanstalkdProcess`: :meth:`start` returns the
    ``(host, port)`` address, :meth:`stop` drops every connection and every job,
    :meth:`restart` comes back empty on the same port. Starting takes milliseconds.

    >>> with ServerThread() as (host, port):  # doctest: +SKIP
    ...     ...
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_job_size: int = DEFAULT_MAX_JOB_SIZE,
        verbose: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.max_job_size = max_job_size
        self.verbose = verbose
        self.server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> tuple[str, int]:
        """Start serving and return the address; raises OSError if the bind fails."""
        if self.running:
            return self.address
        ready = threading.Event()
        failure: list[BaseException] = []
        thread = threading.Thread(
            target=self._run, args=(ready, failure), name="beanstalkm-server", daemon=True
        )
        thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("the embedded beanstalkd server did not start in time")
        if failure:
            thread.join(timeout)
            raise failure[0]
        self._thread = thread
        return self.address

    def _run(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        server = Server(self.host, self.port, max_job_size=self.max_job_size, verbose=self.verbose)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:
            failure.append(exc)
            loop.close()
            ready.set()
            return
        self._loop, self.server, self.port = loop, server, server.port
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(server.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: connections are dropped and all jobs are lost."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = self._loop = self.server = None

    def restart(self) -> tuple[str, int]:
        """Stop, then start an empty server on the same port."""
        self.stop()
        return self.start()

    def enter_drain_mode(self) -> None:
        """Refuse new jobs from now on, as beanstalkd does on SIGUSR1."""
        loop, server = self._loop, self.server
        if loop is None or server is None:
            raise RuntimeError("the server is not running")
        done = threading.Event()

        def drain() -> None:
            server.enter_drain_mode()
            done.set()

        loop.call_soon_threadsafe(drain)
        done.wait(10)

    def __enter__(self) -> tuple[str, int]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def run_in_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    max_job_size: int = DEFAULT_MAX_JOB_SIZE,
    verbose: int = 0,
) -> Iterator[tuple[str, int]]:
    """Run an embedded server on a background thread for the ``with`` block.

    Yields its ``(host, port)``; ``port=0`` (the default) picks a free port.

    >>> with run_in_thread() as (host, port):  # doctest: +SKIP
    ...     client = beanstalkm.Client(host, port)
    """
    server = ServerThread(host, port, max_job_size=max_job_size, verbose=verbose)
    server.start()
    try:
        yield server.address
    finally:
        server.stop()
