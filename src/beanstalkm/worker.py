"""A production worker loop: reserve, handle, delete; retry, bury, touch, shut down.

>>> worker = Worker("127.0.0.1", 11300, concurrency=4)     # doctest: +SKIP
>>> @worker.handler("emails")                               # doctest: +SKIP
... def send(message):
...     send_email(**message.body)
>>> worker.run()                                            # doctest: +SKIP

The parts that decide (:class:`Backoff`, :class:`RetryPolicy`, :func:`touch_interval`)
are pure, so that the asyncio worker can share them; :class:`Worker` is the threaded
loop around them. See ``docs/worker.md`` for the whole story.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from types import FrameType
from typing import Any, Final, Literal, TypeVar

from .client import Client
from .commands import Command, check_tube
from .constants import DEFAULT_HOST, DEFAULT_PORT, MAX_U32
from .errors import (
    BeanstalkmException,
    CommandFailed,
    NotFound,
    ReservationLost,
    SocketError,
)
from .message import Message
from .urls import address_from_env, parse_url

__all__ = [
    "Backoff",
    "Bury",
    "Decision",
    "Handler",
    "Retry",
    "RetryPolicy",
    "Worker",
    "WorkerCounters",
    "handlers_for",
    "touch_interval",
]

logger = logging.getLogger("beanstalkm.worker")

#: A handler takes the reserved message; what it returns is ignored.
Handler = Callable[[Message], object]
_H = TypeVar("_H", bound=Handler)

# How often the supervising thread looks at signals and its threads. Signal handlers
# only set flags (taking a lock inside one can deadlock), so it polls.
_POLL: Final = 0.05


# -- the pure part: shared with the asyncio worker ------------------------------------


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


# -- the threaded worker --------------------------------------------------------------


class _Tally:
    """Counters shared by the worker's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(WorkerCounters)), 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> WorkerCounters:
        with self._lock:
            return WorkerCounters(**self._counts)


class _SharedClient(Client):
    """A Client whose commands may come from two threads.

    A slot's connection is used by the slot's thread (reserve, stats, delete, and
    whatever the handler does with its message) and by the toucher (touch), and at
    shutdown by the supervisor (release). A touch must go on the connection that
    reserved the job, so it cannot have a connection of its own; instead every
    command holds this connection's lock, for one request and its reply.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.lock = threading.RLock()
        super().__init__(*args, **kwargs)

    def _execute(self, command: Command, args: Sequence[object], holder: int | None = None) -> Any:
        with self.lock:
            return super()._execute(command, args, holder)

    def _execute_many(
        self,
        requests: Sequence[tuple[Command, Sequence[object]]],
        payloads: Sequence[bytes] | None = None,
    ) -> list[Any]:
        with self.lock:
            return super()._execute_many(requests, payloads)

    def connect(self) -> None:
        with self.lock:
            super().connect()

    def close(self) -> None:
        with self.lock:
            super().close()

    def holds(self, message: Message) -> bool:
        """Whether the reservation of ``message`` is still this connection's.

        A command reconnects on its own when it finds the connection dead, so a
        command that succeeded does not prove the reservation survived: the
        connection count does.
        """
        return message.reserved and message._epoch == self._epoch


class _SlotEnded(Exception):
    """Ends a slot's thread after its handler raised a BaseException."""


class _Slot:
    """One unit of concurrency: a thread and its own connection."""

    def __init__(self, worker: Worker, index: int) -> None:
        self.worker = worker
        self.index = index
        self.client = _SharedClient(
            worker.host, worker.port, timeout=worker.socket_timeout, watch=list(worker.tubes)
        )
        # Guards message/settling/abandoned between this slot's thread and the
        # supervisor, which may give up on the job at shutdown.
        self.state = threading.Lock()
        self.message: Message | None = None
        self.settling = False
        self.abandoned = False
        self.thread = threading.Thread(
            target=self.run, name=f"beanstalkm-worker-{index}", daemon=True
        )

    # -- the loop --

    def run(self) -> None:
        worker = self.worker
        failures = 0
        try:
            while not worker._stopping.is_set():
                try:
                    message = self.client.reserve(timeout=worker.reserve_timeout, drop=False)
                except BeanstalkmException as exc:
                    # Reconnecting is the Client's job (the next command does it); ours
                    # is not to hammer a server that is down.
                    failures += 1
                    worker._tally.add("connection_errors")
                    delay = worker.reconnect_backoff.delay(failures)
                    log = logger.warning if failures == 1 else logger.debug
                    log("slot %d: %s; retrying in %.2fs", self.index, exc, delay)
                    if worker._stopping.wait(delay):
                        break
                    continue
                if failures:
                    logger.info(
                        "slot %d: connected to %s:%d again", self.index, worker.host, worker.port
                    )
                    failures = 0
                if message is None:
                    continue
                try:
                    self.handle(message)
                except _SlotEnded:
                    raise
                except Exception:
                    # A bug here must not take a slot away for good: say so, go on.
                    logger.exception(
                        "slot %d: unexpected error with job %d", self.index, message.uid
                    )
        except _SlotEnded:
            pass
        finally:
            self._close()

    def _close(self) -> None:
        # The supervisor may be releasing on this connection; don't wait for ever.
        if self.client.lock.acquire(timeout=5):
            try:
                self.client.close()
            finally:
                self.client.lock.release()

    def handle(self, message: Message) -> None:
        worker = self.worker
        reserved_at = time.monotonic()
        if self.abandoned or worker._deadline <= reserved_at:
            # Reserved after the grace period (or a stop at once): hand it straight back.
            self._release_unfinished(message)
            return
        try:
            # One round trip for all we need: the tube (to pick the handler), the
            # attempt number, and the time-to-run (to keep the job alive).
            stats = message.stats()
        except BeanstalkmException as exc:
            worker._tally.add("lost")
            logger.warning(
                "job %d: cannot read its stats (%s); leaving it to the server", message.uid, exc
            )
            return
        if stats is None or not self.client.holds(message):
            worker._tally.add("lost")
            logger.warning("job %d: reservation lost before it could be handled", message.uid)
            return
        tube, attempt, ttr = stats["tube"], stats["reserves"], stats["ttr"]
        handler = worker._handlers.get(tube)
        if handler is None:  # only if someone changed the watch list under us
            logger.error("job %d: no handler for tube %r; releasing it", message.uid, tube)
            self._settle(message, message.release)
            return
        with self.state:
            self.message, self.settling = message, False
        interval = touch_interval(ttr, worker.touch_margin)
        worker._toucher.track(self, message, reserved_at + interval, interval)
        logger.debug("job %d from %r: attempt %d", message.uid, tube, attempt)
        error: Exception | None = None
        try:
            handler(message)
        except Exception as exc:
            error = exc
        except BaseException as exc:
            # KeyboardInterrupt, SystemExit and the like: not the job's fault. Give it
            # back, stop the worker, and let run() raise it in the caller's thread.
            worker._toucher.forget(self)
            self._give_up(message, exc)
            raise _SlotEnded from exc
        worker._toucher.forget(self)
        with self.state:
            if self.abandoned:
                logger.warning(
                    "job %d in %r finished after the worker released it at shutdown; "
                    "it will run again",
                    message.uid,
                    tube,
                )
                self.message = None
                return
            self.settling = True
        try:
            if error is None:
                self._succeed(message, tube)
            else:
                self._fail(message, tube, attempt, error)
        finally:
            with self.state:
                self.message, self.settling = None, False

    def _succeed(self, message: Message, tube: str) -> None:
        if message.deleted:
            self.worker._tally.add("processed")  # the handler deleted it itself
            return
        if not message.reserved:
            logger.debug("job %d: the handler released or buried it itself", message.uid)
            return
        if self._settle(message, message.delete):
            self.worker._tally.add("processed")
            logger.debug("job %d from %r done", message.uid, tube)

    def _fail(self, message: Message, tube: str, attempt: int, error: Exception) -> None:
        worker = self.worker
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
            if self._settle(message, message.bury):
                worker._tally.add("buried")
                logger.error(
                    "job %d from %r failed (attempt %d of %s); burying it",
                    message.uid,
                    tube,
                    attempt,
                    limit or "unlimited",
                    exc_info=error,
                )
        elif self._settle(message, lambda: message.release(delay=decision.delay)):
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

    def _settle(self, message: Message, action: Callable[[], None]) -> bool:
        """Delete, release or bury; False (counted as lost) when the reservation is gone."""
        try:
            action()
        except (ReservationLost, NotFound, SocketError) as exc:
            # Never retried on a new connection: the job is no longer ours (the server
            # released it when the connection went, or its time-to-run ran out) and
            # another worker may hold it now. The server hands it out again.
            self.worker._tally.add("lost")
            logger.warning(
                "job %d: reservation lost before it could be settled (%s); "
                "the server will hand it out again",
                message.uid,
                exc,
            )
            return False
        except CommandFailed as exc:
            self.worker._tally.add("lost")
            logger.error("job %d: cannot settle it: %s", message.uid, exc)
            return False
        return True

    # -- shutdown --

    def abandon(self) -> None:
        """Called by the supervisor when the grace period is over: release the job
        still being handled, and make sure nothing more is handled by this slot."""
        with self.state:
            self.abandoned = True
            message = None if self.settling else self.message
        if message is not None:
            self.worker._toucher.forget(self)
            self._release_unfinished(message)

    def _release_unfinished(self, message: Message) -> None:
        if not self.client.lock.acquire(timeout=2):
            logger.warning(
                "job %d: its connection is busy, cannot release it; the server "
                "will when its time-to-run ends or the process exits",
                message.uid,
            )
            return
        try:
            message.release(delay=0)
        except BeanstalkmException as exc:
            logger.warning("job %d: cannot release it (%s)", message.uid, exc)
        else:
            self.worker._tally.add("released")
            logger.warning("job %d: released unfinished at shutdown", message.uid)
        finally:
            self.client.lock.release()

    def _give_up(self, message: Message, exc: BaseException) -> None:
        logger.error("slot %d: handler raised %r; stopping the worker", self.index, exc)
        if self.worker._fatal is None:
            self.worker._fatal = exc
        # Stop first, so that no other slot runs the job once it is released.
        self.worker.stop(grace=0)
        with self.state:
            self.abandoned = True
            settle = not self.settling and message.reserved
        if settle:
            self._release_unfinished(message)


class _Entry:
    __slots__ = ("due", "interval", "message")

    def __init__(self, message: Message, due: float, interval: float) -> None:
        self.message, self.due, self.interval = message, due, interval


class _Toucher:
    """One thread that touches every slot's job before its time-to-run runs out."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._cond = threading.Condition()
        self._jobs: dict[_Slot, _Entry] = {}
        self._stopped = False
        self._next_wake = math.inf
        self.thread = threading.Thread(target=self.run, name="beanstalkm-toucher", daemon=True)

    def track(self, slot: _Slot, message: Message, due: float, interval: float) -> None:
        with self._cond:
            self._jobs[slot] = _Entry(message, due, interval)
            # Most jobs end long before their first touch: wake the thread only when it
            # would otherwise sleep past this one.
            if due < self._next_wake:
                self._cond.notify()

    def forget(self, slot: _Slot, message: Message | None = None) -> None:
        with self._cond:
            entry = self._jobs.get(slot)
            if entry is not None and (message is None or entry.message is message):
                del self._jobs[slot]

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def run(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                due = [(slot, e) for slot, e in self._jobs.items() if e.due <= now]
                if not due:
                    self._next_wake = min((e.due for e in self._jobs.values()), default=math.inf)
                    self._cond.wait(None if self._next_wake == math.inf else self._next_wake - now)
                    self._next_wake = math.inf
                    continue
                for _, entry in due:
                    entry.due = now + entry.interval
                # Touch without holding the schedule lock: a touch waits for the
                # slot's connection, and the slot may be tracking its next job.
                self._cond.release()
                try:
                    for slot, entry in due:
                        self._touch(slot, entry.message)
                finally:
                    self._cond.acquire()

    def _touch(self, slot: _Slot, message: Message) -> None:
        try:
            message.touch()
        except (ReservationLost, NotFound, SocketError) as exc:
            # The job is done (deleted since we looked), or the reservation is gone
            # with the connection: nothing more to keep alive.
            self.forget(slot, message)
            logger.debug("job %d: stopped touching (%s)", message.uid, exc)
        except BeanstalkmException as exc:
            logger.warning("job %d: touch failed: %s", message.uid, exc)
        else:
            self.worker._tally.add("touched")
            logger.debug("job %d: touched", message.uid)


class Worker:
    """Reserve jobs from the handlers' tubes and run each through its handler.

    :param host: server host; :param port: server port. Without them (and without
        ``url``) the address comes from ``$BEANSTALKD_URL``, else 127.0.0.1:11300.
    :param url: ``beanstalk://host:port`` instead of host and port.
    :param handlers: ``{tube: handler}``; more can be added with :meth:`handler`.
    :param concurrency: number of slots: threads, each with its own connection.
    :param max_attempts: reservations of a job before a failure buries it (its
        ``reserves`` counter, so they survive restarts); None never buries.
    :param backoff: delay before retry n: ``Backoff(base, factor, maximum)`` or a
        ``(base, factor, maximum)`` tuple, in seconds.
    :param grace: seconds that in-flight jobs get to finish at shutdown; after that
        they are released.
    :param touch_margin: touch a long-running job this many seconds before its
        time-to-run ends.
    :param reserve_timeout: each reserve waits this long (whole seconds) so that a
        shutdown stops reserving within it.
    :param reconnect_backoff: waits between attempts to reach a server that is down.
    :param socket_timeout: seconds to wait to connect and for each reply.
    :param install_signal_handlers: stop on SIGTERM/SIGINT when :meth:`run` is
        called from the main thread.

    Handlers get the reserved :class:`~beanstalkm.Message`. Returning deletes the job;
    raising releases it with a delay or, at the last attempt, buries it (see
    :class:`RetryPolicy`, :class:`Retry`, :class:`Bury`). A handler may settle the job
    itself (``message.delete()``, ``release()``, ``bury()``); the worker then leaves it.
    """

    def __init__(
        self,
        host: str | None = None,
        port: int | None = None,
        *,
        url: str | None = None,
        handlers: Mapping[str, Handler] | None = None,
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
        self._handlers: dict[str, Handler] = {}
        self._tally = _Tally()
        self._stopping = threading.Event()
        self._deadline = math.inf
        self._signals: list[int] = []
        self._running = False
        self._fatal: BaseException | None = None
        self._toucher = _Toucher(self)
        for tube, function in (handlers or {}).items():
            self.add_handler(tube, function)

    # -- configuration --

    @property
    def tubes(self) -> list[str]:
        """The tubes with a handler, which the worker reserves from."""
        return list(self._handlers)

    def add_handler(self, tube: str, function: Handler) -> None:
        """Handle jobs from ``tube`` with ``function`` (replacing any handler it had)."""
        check_tube(tube)
        if not callable(function):
            raise TypeError(f"handler for {tube!r} is not callable: {function!r}")
        if self._running:
            raise RuntimeError("cannot add handlers to a running worker")
        self._handlers[tube] = function

    def handler(self, tube: str) -> Callable[[_H], _H]:
        """Decorator: ``@worker.handler("emails")`` handles jobs from ``emails``."""

        def register(function: _H) -> _H:
            self.add_handler(tube, function)
            return function

        return register

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

    # -- running --

    def run(self) -> WorkerCounters:
        """Work until :meth:`stop` (or SIGTERM/SIGINT); return the counters.

        Blocks. On a stop: no more reserving; jobs in flight get ``grace`` seconds to
        finish, then are released. A second stop with ``grace=0`` (or a second signal)
        releases them at once.
        """
        if not self._handlers:
            raise ValueError("no handlers: add one with @worker.handler(tube)")
        if self._running:
            raise RuntimeError("the worker is already running")
        self._running = True
        self._stopping.clear()
        self._deadline = math.inf
        self._signals.clear()
        self._fatal = None
        self._toucher = _Toucher(self)
        slots = [_Slot(self, i) for i in range(self.concurrency)]
        previous = self._install_signals()
        logger.info(
            "worker: %d slot(s) on %s:%d, tubes %s",
            len(slots),
            self.host,
            self.port,
            ", ".join(self.tubes),
        )
        self._toucher.thread.start()
        try:
            for slot in slots:
                slot.thread.start()
            self._supervise(slots)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            self._toucher.stop()
            self._running = False
        counters = self.counters
        logger.info("worker stopped: %s", counters)
        if self._fatal is not None:
            raise self._fatal
        return counters

    def stop(self, grace: float | None = None) -> None:
        """Ask the worker to stop (from any thread): stop reserving, give jobs in flight
        ``grace`` seconds (default: the worker's) to finish, release the rest. Calling
        it again with a shorter grace shortens the wait; ``grace=0`` stops at once."""
        seconds = self.grace if grace is None else max(grace, 0.0)
        self._deadline = min(self._deadline, time.monotonic() + seconds)
        self._stopping.set()

    def _install_signals(self) -> dict[int, Any]:
        if not self.install_signal_handlers or threading.current_thread() is not (
            threading.main_thread()
        ):
            return {}
        previous: dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only record it: the supervising loop acts on it (locks are not safe here).
        self._signals.append(signum)

    def _take_signals(self) -> None:
        while self._signals:
            signum = self._signals.pop(0)
            name = signal.Signals(signum).name
            if not self._stopping.is_set():
                logger.warning(
                    "%s: stopping; in-flight jobs have %.1fs to finish "
                    "(send it again to stop at once)",
                    name,
                    self.grace,
                )
                self.stop()
            else:
                logger.warning("%s again: stopping now", name)
                self.stop(grace=0)

    def _supervise(self, slots: list[_Slot]) -> None:
        while not self._stopping.is_set():
            self._take_signals()
            if not any(slot.thread.is_alive() for slot in slots):
                logger.error("worker: every slot has ended")
                return
            self._stopping.wait(_POLL)
        busy = sum(1 for slot in slots if slot.message is not None)
        logger.info("stopping: %d job(s) in flight", busy)
        while any(slot.thread.is_alive() for slot in slots):
            self._take_signals()
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, _POLL))
        for slot in slots:
            slot.abandon()


def handlers_for(tubes: Iterable[str], function: Handler) -> dict[str, Handler]:
    """``{tube: function}`` for each tube: one handler for several tubes."""
    return dict.fromkeys(tubes, function)
