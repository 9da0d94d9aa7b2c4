"""Run the embedded server on a background thread: for tests, scripts and notebooks."""

from __future__ import annotations

import contextlib
import threading

from .binlog import DEFAULT_FILE_SIZE, DEFAULT_FSYNC_MS, Binlog
from .runner import Runner
from .sockets import open_listener, unix_path
from .state import DEFAULT_MAX_JOB_SIZE

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = ["ServerThread", "run_in_thread"]


def _warn(line: str) -> None:
    import logging

    logging.getLogger("beanstalkm.server").warning("%s", line)


class ServerThread:
    """An embedded beanstalkd on its own thread.

    Mirrors :class:`beanstalkm.testing.BeanstalkdProcess`: :meth:`start` returns the
    ``(host, port)`` address, :meth:`stop` drops every connection, :meth:`restart`
    comes back on the same address. Without a binlog, jobs are lost when it stops;
    with ``binlog_dir`` (beanstalkd's ``-b``) they come back on :meth:`restart`.
    ``host`` may be ``unix:/path/to/socket`` (the port is then 0). Starting takes
    milliseconds.

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
        binlog_dir: str | None = None,
        fsync_ms: int | None = DEFAULT_FSYNC_MS,
        binlog_size: int = DEFAULT_FILE_SIZE,
    ) -> None:
        self.host = host
        self.port = 0 if unix_path(host) is not None else port
        self.max_job_size = max_job_size
        self.verbose = verbose
        self.binlog_dir = binlog_dir
        self.fsync_ms = fsync_ms
        self.binlog_size = binlog_size
        #: The running server (its broker holds all state), or None.
        self.runner: Runner | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_args(cls, args: Sequence[str]) -> ServerThread:
        """A server configured with beanstalkd's flags (``-l``, ``-p``, ``-z``, ``-b``,
        ``-f``, ``-F``, ``-s``, ``-V``); raises :class:`~.cli.UsageError`."""
        from .cli import parse_args

        opts = parse_args(args)
        return cls(
            opts.host,
            opts.port or 0,
            max_job_size=opts.max_job_size,
            verbose=opts.verbose,
            binlog_dir=opts.binlog_dir,
            fsync_ms=opts.fsync_ms,
            binlog_size=opts.binlog_size,
        )

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> tuple[str, int]:
        """Start serving and return the address.

        Raises OSError if the address cannot be bound, and
        :class:`~.binlog.BinlogError` if the binlog directory cannot be used.
        """
        if self.running:
            return self.address
        listener = open_listener(self.host, self.port)
        binlog = None
        if self.binlog_dir is not None:
            binlog = Binlog(
                self.binlog_dir, file_size=self.binlog_size, fsync_ms=self.fsync_ms, report=_warn
            )
        runner = Runner(
            listener,
            max_job_size=self.max_job_size,
            verbose=self.verbose,
            binlog=binlog,
            binlog_max_size=self.binlog_size,
        )
        try:
            runner.open()
        except BaseException:
            runner.close()
            raise
        if unix_path(self.host) is None:
            self.port = int(listener.getsockname()[1])
        thread = threading.Thread(target=runner.run, name="beanstalkm-server", daemon=True)
        thread.start()
        self.runner, self._thread = runner, thread
        return self.address

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server: connections are dropped; without a binlog, jobs are lost."""
        thread, runner = self._thread, self.runner
        if thread is None or runner is None:
            return
        runner.stop()
        thread.join(timeout)
        runner.close()
        self._thread = self.runner = None

    def restart(self) -> tuple[str, int]:
        """Stop, then start again on the same address (with the binlog's jobs, if any)."""
        self.stop()
        return self.start()

    def enter_drain_mode(self) -> None:
        """Refuse new jobs from now on, as beanstalkd does on SIGUSR1."""
        runner = self.runner
        if runner is None or not self.running:
            raise RuntimeError("the server is not running")
        done = threading.Event()

        def drain() -> None:
            runner.broker.draining = True
            done.set()

        runner.call(drain)
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
    binlog_dir: str | None = None,
) -> Iterator[tuple[str, int]]:
    """Run an embedded server on a background thread for the ``with`` block.

    Yields its ``(host, port)``; ``port=0`` (the default) picks a free port.

    >>> with run_in_thread() as (host, port):  # doctest: +SKIP
    ...     client = beanstalkm.Client(host, port)
    """
    server = ServerThread(
        host, port, max_job_size=max_job_size, verbose=verbose, binlog_dir=binlog_dir
    )
    server.start()
    try:
        yield server.address
    finally:
        server.stop()
