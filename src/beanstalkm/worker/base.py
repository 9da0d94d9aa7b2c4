"""What both workers are: configuration, handlers, counters, stopping and signals.

:class:`WorkerBase` is the part of :class:`beanstalkm.Worker` and
:class:`beanstalkm.aio.Worker` that does not depend on how they wait (threads or
tasks); :class:`Reconnects` is one slot's bookkeeping while the server cannot be
reached.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Final, Generic, TypeVar, cast

from ..commands import check_tube
from ..constants import DEFAULT_HOST, DEFAULT_PORT
from ..errors import BeanstalkmException
from ..urls import address_from_env, parse_url
from .counters import Tally, WorkerCounters
from .policy import Backoff, RetryPolicy

__all__ = ["Reconnects", "WorkerBase", "handlers_for", "logger"]

#: Both workers log here.
logger = logging.getLogger("beanstalkm.worker")

_F = TypeVar("_F")
#: Retries of a failed job: 1 s, 2 s, 4 s ... at most 300 s.
DEFAULT_BACKOFF: Final = Backoff()
#: Waits between attempts to reach a server that is down: 0.1 s, 0.2 s ... at most 5 s.
RECONNECT_BACKOFF: Final = Backoff(0.1, 2.0, 5.0)
#: A worker's handler type: a function of the message (sync), or an async one.
_H = TypeVar("_H")


def handlers_for(tubes: Iterable[str], function: _F) -> dict[str, _F]:
    """``{tube: function}`` for each tube: one handler for several tubes."""
    return dict.fromkeys(tubes, function)


class WorkerBase(Generic[_H]):
    """Configuration, handlers, counters and stopping, common to both workers.

    A subclass supplies ``run`` (the loop, threaded or asyncio) and :meth:`_wake`
    (how a stop reaches that loop). See :class:`beanstalkm.Worker` for the arguments.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        url: str | None = None,
        handlers: Mapping[str, _H] | None = None,
        concurrency: int = 1,
        max_attempts: int | None = 5,
        backoff: Backoff | Sequence[float] = DEFAULT_BACKOFF,
        grace: float = 30.0,
        touch_margin: float = 2.0,
        reserve_timeout: int = 1,
        reconnect_backoff: Backoff | Sequence[float] = RECONNECT_BACKOFF,
        socket_timeout: float | None = 10.0,
        install_signal_handlers: bool = True,
    ) -> None:
        if url is not None:
            self.host, self.port = parse_url(url)
        elif host is None and port is None:
            self.host, self.port = address_from_env((DEFAULT_HOST, DEFAULT_PORT)) or (
                DEFAULT_HOST,
                DEFAULT_PORT,
            )
        else:
            self.host, self.port = host or DEFAULT_HOST, DEFAULT_PORT if port is None else port
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if grace < 0 or touch_margin < 0:
            raise ValueError("grace and touch_margin must be >= 0")
        if not 1 <= reserve_timeout <= 3600:
            raise ValueError(f"reserve_timeout must be 1..3600 seconds, got {reserve_timeout}")
        self.concurrency = concurrency
        self.policy = RetryPolicy(max_attempts, Backoff.of(backoff))
        self.grace = grace
        self.touch_margin = touch_margin
        self.reserve_timeout = reserve_timeout
        self.reconnect_backoff = Backoff.of(reconnect_backoff)
        self.socket_timeout = socket_timeout
        self.install_signal_handlers = install_signal_handlers
        self._handlers: dict[str, _H] = {}
        self._tally = Tally()
        # Set by stop(); a thread-safe flag for both workers.
        self._stopping = threading.Event()
        self._deadline = math.inf
        self._running = False
        self._fatal: BaseException | None = None
        for tube, function in (handlers or {}).items():
            self.add_handler(tube, function)

    # -- configuration --

    @property
    def tubes(self) -> list[str]:
        """The tubes with a handler, which the worker reserves from."""
        return list(self._handlers)

    def add_handler(self, tube: str, function: _H) -> None:
        """Handle jobs from ``tube`` with ``function`` (replacing any handler it had)."""
        self._add(tube, function)

    def handler(self, tube: str) -> Callable[[_F], _F]:
        """Decorator: ``@worker.handler("emails")`` handles jobs from ``emails``."""

        def register(function: _F) -> _F:
            self._add(tube, function)
            return function

        return register

    def _add(self, tube: str, function: object) -> None:
        check_tube(tube)
        self._check_handler(tube, function)
        if self._running:
            raise RuntimeError("cannot add handlers to a running worker")
        self._handlers[tube] = cast(_H, function)

    def _check_handler(self, tube: str, function: object) -> None:
        """Raise TypeError for what cannot be this worker's handler."""
        if not callable(function):
            raise TypeError(f"handler for {tube!r} is not callable: {function!r}")

    def handler_for(self, tube: str) -> _H | None:
        """The handler of ``tube``, if it has one."""
        return self._handlers.get(tube)

    @property
    def only_tube(self) -> str | None:
        """The tube, when the worker reserves from one only: then every job is known to
        come from it without asking the server."""
        return next(iter(self._handlers)) if len(self._handlers) == 1 else None

    # -- state --

    @property
    def tally(self) -> Tally:
        """The live counters the slots update (:attr:`counters` is a snapshot of them)."""
        return self._tally

    @property
    def deadline(self) -> float:
        """When (``time.monotonic()``) jobs in flight stop being waited for at shutdown;
        infinite until a stop."""
        return self._deadline

    @property
    def counters(self) -> WorkerCounters:
        """A snapshot of what the worker has done: processed, failed, retried, buried..."""
        return self._tally.snapshot()

    @property
    def running(self) -> bool:
        return self._running

    @property
    def stopping(self) -> bool:
        """True once a shutdown has been asked for."""
        return self._stopping.is_set()

    # -- stopping --

    def stop(self, grace: float | None = None) -> None:
        """Ask the worker to stop (from any thread): stop reserving, give jobs in flight
        ``grace`` seconds (default: the worker's) to finish, release the rest. Calling
        it again with a shorter grace shortens the wait; ``grace=0`` stops at once."""
        seconds = self.grace if grace is None else max(grace, 0.0)
        self._deadline = min(self._deadline, time.monotonic() + seconds)
        self._stopping.set()
        self._wake()

    def _wake(self) -> None:
        """Let the running loop know that :meth:`stop` was called (from any thread)."""

    def _signalled(self, signum: int) -> None:
        """SIGTERM or SIGINT: the first stops gracefully, the next at once."""
        name = signal.Signals(signum).name
        if not self._stopping.is_set():
            logger.warning(
                "%s: stopping; in-flight jobs have %.1fs to finish (send it again to stop at once)",
                name,
                self.grace,
            )
            self.stop()
        else:
            logger.warning("%s again: stopping now", name)
            self.stop(grace=0)

    def _wants_signals(self) -> bool:
        """Whether ``run`` should handle SIGTERM and SIGINT: when asked to, and only
        on the main thread (where Python runs signal handlers)."""
        return self.install_signal_handlers and (
            threading.current_thread() is threading.main_thread()
        )

    def _shutdown_begins(self, in_flight: int) -> None:
        logger.info("stopping: %d job(s) in flight", in_flight)

    def _handler_raised(self, index: int, exc: BaseException) -> None:
        """A handler raised SystemExit, KeyboardInterrupt or the like: not the job's
        fault. Stop at once (before the job is released, so that no other slot runs it);
        ``run`` raises it when the worker has stopped."""
        logger.error("slot %d: handler raised %r; stopping the worker", index, exc)
        if self._fatal is None:
            self._fatal = exc
        self.stop(grace=0)

    # -- the run's beginning and end --

    def _begin(self, slots: str) -> None:
        if not self._handlers:
            raise ValueError("no handlers: add one with @worker.handler(tube)")
        if self._running:
            raise RuntimeError("the worker is already running")
        self._running = True
        self._stopping.clear()
        self._deadline = math.inf
        self._fatal = None
        logger.info(
            "worker: %d %s on %s:%d, tubes %s",
            self.concurrency,
            slots,
            self.host,
            self.port,
            ", ".join(self.tubes),
        )

    def _end(self) -> WorkerCounters:
        """After the run (which sets ``_running`` back, whatever happened): log the
        counters, return them, or raise what a handler raised."""
        counters = self.counters
        logger.info("worker stopped: %s", counters)
        if self._fatal is not None:
            raise self._fatal
        return counters


class Reconnects:
    """One slot's attempts to reach the server: counted, logged, spaced out.

    Reconnecting is the client's job (the next command does it); the slot's is not to
    hammer a server that is down.
    """

    def __init__(self, worker: WorkerBase[Any], index: int) -> None:
        self.worker = worker
        self.index = index
        self.failures = 0

    def failed(self, exc: BeanstalkmException) -> float:
        """A command failed: how long to wait before the next attempt."""
        self.failures += 1
        self.worker.tally.add("connection_errors")
        delay = self.worker.reconnect_backoff.delay(self.failures)
        log = logger.warning if self.failures == 1 else logger.debug
        log("slot %d: %s; retrying in %.2fs", self.index, exc, delay)
        return delay

    def succeeded(self) -> None:
        """A command got its reply: the outage, if any, is over."""
        if self.failures:
            worker = self.worker
            logger.info("slot %d: connected to %s:%d again", self.index, worker.host, worker.port)
            self.failures = 0
