"""The sans-IO core of beanstalkm's two workers, the threaded :class:`beanstalkm.Worker`
and the asyncio :class:`beanstalkm.aio.Worker`.

Everything that decides is written here, once:

- the pure decisions: :class:`Backoff`, :class:`RetryPolicy`, :func:`touch_interval`;
- :class:`WorkerBase`: configuration, handler registration, counters, stopping, and
  what a signal means;
- the life of a reserved job, written as generators in the manner of
  :mod:`beanstalkm.operations`: :func:`handle_job`, :func:`release_unfinished` and
  :func:`touch_job` yield :class:`Call` steps (a command on the job's message) and a
  :class:`Handle` step (run the handler), and do all the counting and logging. Each
  worker drives them in a few lines of its own, calling or awaiting each step;
- :class:`Reconnects`: one slot's bookkeeping while the server cannot be reached.

What is left to each worker is how it waits and runs things: threads and locks, or
tasks. The public names are re-exported by :mod:`beanstalkm.worker`.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, TypeAlias, TypeVar, cast

from .commands import check_tube
from .constants import DEFAULT_HOST, DEFAULT_PORT, MAX_U32
from .errors import BeanstalkmException, CommandFailed, NotFound, ReservationLost, SocketError
from .urls import address_from_env, parse_url

if TYPE_CHECKING:
    from .message import BaseMessage

__all__ = [
    "Abandoned",
    "Backoff",
    "Bury",
    "Call",
    "Decision",
    "Flow",
    "Handle",
    "Reconnects",
    "Retry",
    "RetryPolicy",
    "WorkerBase",
    "WorkerCounters",
    "handle_job",
    "handlers_for",
    "holds",
    "release_unfinished",
    "touch_interval",
    "touch_job",
]

#: Both workers log here.
logger = logging.getLogger("beanstalkm.worker")

_T = TypeVar("_T")
_F = TypeVar("_F")
#: A worker's handler type: a function of the message (sync), or an async one.
_H = TypeVar("_H")


# -- the pure decisions ---------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base * factor ** (n - 1)`` seconds, at most ``maximum``.

    ``Backoff(1, 2, 300).delay(n)`` for n = 1, 2, 3, ... is 1, 2, 4, ... up to 300.
    """

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0

    def __post_init__(self) -> None:
        if not (self.base >= 0 and self.factor >= 1 and self.maximum >= 0):
            raise ValueError(f"backoff needs base >= 0, factor >= 1 and maximum >= 0, got {self}")

    def delay(self, n: int) -> float:
        """The delay before the ``n``-th retry (``n`` counts from 1)."""
        exponent = max(n, 1) - 1
        if self.base == 0:
            return 0.0
        try:
            # Floats: integer arguments would make huge exact ints, slowly.
            value = float(self.base) * float(self.factor) ** exponent
        except OverflowError:
            value = math.inf
        return min(value, self.maximum)

    @classmethod
    def of(cls, value: Backoff | Sequence[float] | str) -> Backoff:
        """A Backoff from itself, a ``(base, factor, maximum)`` sequence or ``"1,2,300"``."""
        if isinstance(value, Backoff):
            return value
        if isinstance(value, str):
            try:
                parts = [float(p) for p in value.split(",")]
            except ValueError:
                raise ValueError(f"backoff is BASE,FACTOR,MAX in seconds, got {value!r}") from None
        else:
            parts = [float(p) for p in value]
        if len(parts) != 3:
            raise ValueError(f"backoff is (base, factor, maximum), got {value!r}")
        return cls(*parts)


@dataclass(frozen=True)
class Decision:
    """What to do with a job whose handler failed."""

    action: Literal["release", "bury"]
    #: Whole seconds to delay a released job (beanstalkd counts delays in seconds).
    delay: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed job and when to bury it.

    ``attempt`` is the job's ``reserves`` counter from ``stats-job``: it counts every
    reservation of the job, by any worker, so attempts survive worker restarts. A job
    whose ``attempt`` has reached ``max_attempts`` is buried; before that it is
    released with ``backoff.delay(attempt)`` seconds of delay. ``max_attempts=None``
    retries forever.
    """

    max_attempts: int | None = 5
    backoff: Backoff = Backoff()

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be None or >= 1, got {self.max_attempts}")

    def decide(self, attempt: int, delay: float | None = None) -> Decision:
        """The decision after failed attempt number ``attempt``; ``delay`` overrides
        the backoff (a handler's :class:`Retry`)."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return Decision("bury")
        seconds = self.backoff.delay(attempt) if delay is None else max(delay, 0.0)
        # Whole seconds, rounded up (a retry never comes earlier than asked), at most
        # what beanstalkd accepts.
        return Decision("release", MAX_U32 if seconds >= MAX_U32 else math.ceil(seconds))


def touch_interval(ttr: int, margin: float) -> float:
    """Seconds between touches of a job with time-to-run ``ttr``: ``margin`` seconds
    before the deadline, but never less than half the time-to-run (a margin as long
    as the TTR itself would mean touching in a busy loop)."""
    return max(ttr - margin, ttr / 2, 0.05)


@dataclass(frozen=True)
class WorkerCounters:
    """What a worker has done since it was made (a snapshot; all counts of jobs)."""

    #: Handled successfully and deleted.
    processed: int = 0
    #: Handlers that raised (each is then retried, buried, or lost).
    failed: int = 0
    #: Released with a delay after a failure, to be tried again.
    retried: int = 0
    #: Buried after the last attempt (or a :class:`Bury` from the handler).
    buried: int = 0
    #: Released unfinished at shutdown, or reserved after shutdown began.
    released: int = 0
    #: Reservations lost with the connection (or to an expired time-to-run) before
    #: the job could be deleted, released or buried: the server hands the job out
    #: again, so it is not lost, but it may be handled twice.
    lost: int = 0
    #: Touches of long-running jobs.
    touched: int = 0
    #: Failed attempts to reach the server (each followed by a backoff wait).
    connection_errors: int = 0


class Retry(Exception):
    """Raise from a handler to retry the job after ``delay`` seconds (default: the
    worker's backoff). It counts as a failed attempt."""

    def __init__(self, delay: float | None = None) -> None:
        super().__init__(delay)
        self.delay = delay


class Bury(Exception):
    """Raise from a handler to bury the job now, whatever attempt it is (e.g. bad input
    that no retry will fix)."""


class Tally:
    """A worker's counters; safe to update from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(WorkerCounters)), 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> WorkerCounters:
        with self._lock:
            return WorkerCounters(**self._counts)


def handlers_for(tubes: Iterable[str], function: _F) -> dict[str, _F]:
    """``{tube: function}`` for each tube: one handler for several tubes."""
    return dict.fromkeys(tubes, function)


# -- what both workers are ------------------------------------------------------------


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
        backoff: Backoff | Sequence[float] = Backoff(),
        grace: float = 30.0,
        touch_margin: float = 2.0,
        reserve_timeout: int = 1,
        reconnect_backoff: Backoff | Sequence[float] = Backoff(0.1, 2.0, 5.0),
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

    # -- state --

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
        self.worker._tally.add("connection_errors")
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


# -- the life of a job, for both workers to drive -------------------------------------


@dataclass(frozen=True)
class Call:
    """Step: ``message.<method>(**kwargs)`` on the job's message (awaited by the
    asyncio worker). The driver sends back its result, or throws in the
    :class:`~beanstalkm.BeanstalkmException` it raised."""

    method: Literal["stats", "delete", "release", "bury", "touch"]
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Handle:
    """Step: run ``handler`` on the message, touching the job every ``touch_every``
    seconds while it runs. The driver sends back None (it returned), the Exception it
    raised, or an :class:`Abandoned`. A BaseException that is not an Exception
    (SystemExit...) is the driver's to deal with (see ``WorkerBase._handler_raised``)."""

    handler: Any
    tube: str
    touch_every: float


class Abandoned(Enum):
    """The result of a :class:`Handle` step when the worker gave up on the job at
    shutdown (its grace period was over)."""

    #: Before the handler started: the job is to be released.
    NOT_STARTED = "not started"
    #: The worker released the job while the handler ran, and the handler ended since:
    #: what it did is ignored (the job will run again).
    FINISHED = "finished"
    #: The worker released the job and cancelled the handler (asyncio).
    CANCELLED = "cancelled"


Step: TypeAlias = "Call | Handle"
#: A generator of steps returning ``_T``, run by a worker's driver.
Flow: TypeAlias = Generator[Step, Any, _T]

_STATS: Final = Call("stats")
_DELETE: Final = Call("delete")
_BURY: Final = Call("bury")
_TOUCH: Final = Call("touch")
_RELEASE: Final = Call("release")
_RELEASE_NOW: Final = Call("release", {"delay": 0})


def holds(message: BaseMessage) -> bool:
    """Whether the reservation of ``message`` is still its connection's.

    A command reconnects on its own when it finds the connection dead, so a command
    that succeeded does not prove the reservation survived: the connection count does.
    """
    return message.reserved and message.generation == message.connection.generation


def handle_job(
    worker: WorkerBase[Any], message: BaseMessage, reserved_at: float, abandoned: bool
) -> Flow[None]:
    """A reserved job, from its stats to its end: deleted, retried, buried or lost.

    ``reserved_at``: when it was reserved (``time.monotonic()``); ``abandoned``: the
    worker gave up on the slot at shutdown. A job reserved after the grace period (or a
    stop at once), or by an abandoned slot, is handed straight back, unhandled.
    """
    if abandoned or worker._deadline <= reserved_at:
        yield from release_unfinished(worker, message)
        return
    try:
        # One round trip for all we need: the tube (to pick the handler), the attempt
        # number, and the time-to-run (to keep the job alive).
        stats = yield _STATS
    except BeanstalkmException as exc:
        worker._tally.add("lost")
        logger.warning(
            "job %d: cannot read its stats (%s); leaving it to the server", message.uid, exc
        )
        return
    if stats is None or not holds(message):
        worker._tally.add("lost")
        logger.warning("job %d: reservation lost before it could be handled", message.uid)
        return
    tube, attempt, ttr = stats["tube"], stats["reserves"], stats["ttr"]
    handler = worker._handlers.get(tube)
    if handler is None:  # only if someone changed the watch list under us
        logger.error("job %d: no handler for tube %r; releasing it", message.uid, tube)
        yield from settle(worker, message, _RELEASE)
        return
    logger.debug("job %d from %r: attempt %d", message.uid, tube, attempt)
    outcome = yield Handle(handler, tube, touch_interval(ttr, worker.touch_margin))
    if outcome is Abandoned.NOT_STARTED:
        yield from release_unfinished(worker, message)
    elif outcome is Abandoned.FINISHED:
        logger.warning(
            "job %d in %r finished after the worker released it at shutdown; it will run again",
            message.uid,
            tube,
        )
    elif outcome is Abandoned.CANCELLED:
        logger.debug("job %d in %r: handler cancelled at shutdown", message.uid, tube)
    elif outcome is None:
        yield from _succeed(worker, message, tube)
    else:
        yield from _fail(worker, message, tube, attempt, outcome)


def _succeed(worker: WorkerBase[Any], message: BaseMessage, tube: str) -> Flow[None]:
    if message.deleted:
        worker._tally.add("processed")  # the handler deleted it itself
        return
    if not message.reserved:
        logger.debug("job %d: the handler released or buried it itself", message.uid)
        return
    if (yield from settle(worker, message, _DELETE)):
        worker._tally.add("processed")
        logger.debug("job %d from %r done", message.uid, tube)


def _fail(
    worker: WorkerBase[Any], message: BaseMessage, tube: str, attempt: int, error: Exception
) -> Flow[None]:
    worker._tally.add("failed")
    if isinstance(error, Bury):
        decision = Decision("bury")
    else:
        delay = error.delay if isinstance(error, Retry) else None
        decision = worker.policy.decide(attempt, delay)
    if not message.reserved:
        logger.warning(
            "job %d from %r failed after its handler released, buried or deleted it",
            message.uid,
            tube,
            exc_info=error,
        )
        return
    limit = worker.policy.max_attempts
    if decision.action == "bury":
        if (yield from settle(worker, message, _BURY)):
            worker._tally.add("buried")
            logger.error(
                "job %d from %r failed (attempt %d of %s); burying it",
                message.uid,
                tube,
                attempt,
                limit or "unlimited",
                exc_info=error,
            )
    elif (yield from settle(worker, message, Call("release", {"delay": decision.delay}))):
        worker._tally.add("retried")
        logger.warning(
            "job %d from %r failed (attempt %d of %s); retrying in %ds",
            message.uid,
            tube,
            attempt,
            limit or "unlimited",
            decision.delay,
            exc_info=error,
        )


def settle(worker: WorkerBase[Any], message: BaseMessage, call: Call) -> Flow[bool]:
    """Delete, release or bury; False (counted as lost) when the reservation is gone."""
    try:
        yield call
    except (ReservationLost, NotFound, SocketError) as exc:
        # Never retried on a new connection: the job is no longer ours (the server
        # released it when the connection went, or its time-to-run ran out) and
        # another worker may hold it now. The server hands it out again.
        worker._tally.add("lost")
        logger.warning(
            "job %d: reservation lost before it could be settled (%s); "
            "the server will hand it out again",
            message.uid,
            exc,
        )
        return False
    except CommandFailed as exc:
        worker._tally.add("lost")
        logger.error("job %d: cannot settle it: %s", message.uid, exc)
        return False
    return True


def release_unfinished(worker: WorkerBase[Any], message: BaseMessage) -> Flow[None]:
    """Shutdown: hand the job back, at once, for another worker to take."""
    try:
        yield _RELEASE_NOW
    except BeanstalkmException as exc:
        logger.warning("job %d: cannot release it (%s)", message.uid, exc)
    else:
        worker._tally.add("released")
        logger.warning("job %d: released unfinished at shutdown", message.uid)


def touch_job(worker: WorkerBase[Any], message: BaseMessage) -> Flow[bool]:
    """Touch a job whose handler runs long; False when there is nothing more to keep
    alive."""
    try:
        yield _TOUCH
    except (ReservationLost, NotFound, SocketError) as exc:
        # The job is done (deleted since we looked), or the reservation is gone with
        # the connection.
        logger.debug("job %d: stopped touching (%s)", message.uid, exc)
        return False
    except BeanstalkmException as exc:
        logger.warning("job %d: touch failed: %s", message.uid, exc)
    else:
        worker._tally.add("touched")
        logger.debug("job %d: touched", message.uid)
    return True
