"""The threaded worker loop: reserve, handle, delete; retry, bury, touch, shut down.

>>> worker = Worker("127.0.0.1", 11300, concurrency=4)     # doctest: +SKIP
>>> @worker.handler("emails")                               # doctest: +SKIP
... def send(message):
...     send_email(**message.body)
>>> worker.run()                                            # doctest: +SKIP

What the worker decides and logs is in :mod:`beanstalkm.worker_core`, shared with the
asyncio worker (:class:`beanstalkm.aio.Worker`); its public names (:class:`Backoff`,
:class:`RetryPolicy`, :func:`touch_interval`, :class:`Retry`, :class:`Bury`...) are
re-exported here. :class:`Worker` is the threaded loop around them. See
``docs/worker.md`` for the whole story.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Final, TypeVar

from .client import Client
from .commands import Command
from .connection import Message
from .errors import BeanstalkmException
from .protocol import Request
from .worker_core import (
    Abandoned,
    Backoff,
    Bury,
    Call,
    Decision,
    Flow,
    Handle,
    Reconnects,
    Retry,
    RetryPolicy,
    WorkerBase,
    WorkerCounters,
    handle_job,
    handlers_for,
    logger,
    release_unfinished,
    touch_interval,
    touch_job,
)

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

#: A handler takes the reserved message; what it returns is ignored.
Handler = Callable[[Message], object]
_T = TypeVar("_T")

# How often the supervising thread looks at signals and its threads. Signal handlers
# only set flags (taking a lock inside one can deadlock), so it polls.
_POLL: Final = 0.05


def _drive(
    flow: Flow[_T], message: Message, handle: Callable[[Handle], object] | None = None
) -> _T:
    """Run a job's flow (see :mod:`beanstalkm.worker_core`): call each step and send
    back what it returned, or throw in what it raised."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Call):
                try:
                    result = getattr(message, step.method)(**step.kwargs)
                except BeanstalkmException as exc:
                    step = flow.throw(exc)
                    continue
            else:
                assert handle is not None
                result = handle(step)
            step = flow.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


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

    def execute(
        self,
        command: Command,
        args: Sequence[object],
        generation: int | None = None,
        tube: str | None = None,
    ) -> Any:
        with self.lock:
            return super().execute(command, args, generation, tube)

    def execute_many(
        self, requests: Sequence[Request], payloads: Sequence[bytes] | None = None
    ) -> list[Any]:
        with self.lock:
            return super().execute_many(requests, payloads)

    def connect(self) -> None:
        with self.lock:
            super().connect()

    def close(self) -> None:
        with self.lock:
            super().close()


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
        reconnects = Reconnects(worker, self.index)
        try:
            while not worker._stopping.is_set():
                try:
                    message = self.client.reserve(timeout=worker.reserve_timeout, drop=False)
                except BeanstalkmException as exc:
                    if worker._stopping.wait(reconnects.failed(exc)):
                        break
                    continue
                reconnects.succeeded()
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
        reserved_at = time.monotonic()
        try:
            _drive(
                handle_job(self.worker, message, reserved_at, self.abandoned),
                message,
                lambda step: self._run(message, step, reserved_at),
            )
        finally:
            with self.state:
                self.message, self.settling = None, False

    def _run(self, message: Message, step: Handle, reserved_at: float) -> object:
        """The Handle step: run the handler while the toucher keeps the job alive."""
        worker = self.worker
        with self.state:
            if self.abandoned:
                return Abandoned.NOT_STARTED
            self.message, self.settling = message, False
        worker._toucher.track(self, message, reserved_at + step.touch_every, step.touch_every)
        error: Exception | None = None
        try:
            step.handler(message)
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
                self.message = None
                return Abandoned.FINISHED
            self.settling = True
        return error

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
            _drive(release_unfinished(self.worker, message), message)
        finally:
            self.client.lock.release()

    def _give_up(self, message: Message, exc: BaseException) -> None:
        self.worker._handler_raised(self.index, exc)
        with self.state:
            self.abandoned = True
            settle = not self.settling and message.reserved
            self.message = None  # released here, not (again) by abandon()
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
        if not _drive(touch_job(self.worker, message), message):
            self.forget(slot, message)


class Worker(WorkerBase[Handler]):
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

    _signals: list[int]
    _toucher: _Toucher

    # -- running --

    def run(self) -> WorkerCounters:
        """Work until :meth:`stop` (or SIGTERM/SIGINT); return the counters.

        Blocks. On a stop: no more reserving; jobs in flight get ``grace`` seconds to
        finish, then are released. A second stop with ``grace=0`` (or a second signal)
        releases them at once.
        """
        self._begin("slot(s) (threads)")
        self._signals = []
        self._toucher = _Toucher(self)
        slots = [_Slot(self, i) for i in range(self.concurrency)]
        previous = self._install_signals()
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
        return self._end()

    def _install_signals(self) -> dict[int, Any]:
        if not self._wants_signals():
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
            self._signalled(self._signals.pop(0))

    def _supervise(self, slots: list[_Slot]) -> None:
        while not self._stopping.is_set():
            self._take_signals()
            if not any(slot.thread.is_alive() for slot in slots):
                logger.error("worker: every slot has ended")
                return
            self._stopping.wait(_POLL)
        self._shutdown_begins(sum(slot.message is not None for slot in slots))
        while any(slot.thread.is_alive() for slot in slots):
            self._take_signals()
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, _POLL))
        for slot in slots:
            slot.abandon()
