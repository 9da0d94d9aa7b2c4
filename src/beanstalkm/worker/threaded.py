"""The threaded worker: reserve, handle, delete; retry, bury, touch, shut down.

>>> worker = Worker("127.0.0.1", 11300, concurrency=4)     # doctest: +SKIP
>>> @worker.handler("emails")                               # doctest: +SKIP
... def send(message):
...     send_email(**message.body)
>>> worker.run()                                            # doctest: +SKIP

What the worker decides and logs is in :mod:`beanstalkm.worker.flow` and
:mod:`beanstalkm.worker.policy`, shared with the asyncio worker
(:class:`beanstalkm.aio.Worker`). This module is how it waits: a thread and a
connection per slot, and one thread that watches long-running handlers (touches their
jobs, interrupts them at their time limit, gives up on those that will not end).
"""

from __future__ import annotations

import inspect
import math
import signal
import threading
import time
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, Final

from ..client import Client
from ..commands import Command
from ..connection import Message
from ..errors import BeanstalkmException
from ..protocol import Request
from .base import Reconnects, WorkerBase, logger
from .counters import WorkerCounters
from .flow import (
    Abandoned,
    Handle,
    Settle,
    give_back,
    give_up,
    handle_job,
    keep_alive,
    next_job,
    settle_now,
    time_limit_hit,
)
from .hooks import Hook, run_hook
from .policy import TimeLimitExceeded
from .watch import Watch

__all__ = ["Handler", "Worker"]

#: A handler takes the reserved message; what it returns is ignored.
Handler = Callable[[Message], object]

# How often the supervising thread looks at signals and its threads. Signal handlers
# only set flags (taking a lock inside one can deadlock), so it polls.
_POLL: Final = 0.05


class _SharedClient(Client):
    """A Client whose commands may come from two threads.

    A slot's connection is used by the slot's thread (reserve, delete, and whatever
    the handler does with its message), by the toucher (touch), and at shutdown by the
    supervisor (release). A touch must go on the connection that reserved the job, so
    it cannot have a connection of its own; instead every command holds this
    connection's lock, for one request (or batch) and its reply.
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


def _raise_in_thread(ident: int | None, exc: type[BaseException] | None) -> bool:
    """Have thread ``ident`` raise ``exc`` at its next Python instruction (None: take
    back one not raised yet); False where the interpreter cannot (not CPython)."""
    if ident is None:
        return False
    try:
        import ctypes

        set_async_exc = ctypes.pythonapi.PyThreadState_SetAsyncExc
    except (ImportError, AttributeError):
        return False
    changed = int(
        set_async_exc(ctypes.c_ulong(ident), None if exc is None else ctypes.py_object(exc))
    )
    return changed == 1


class _Slot:
    """One unit of concurrency: a thread and its own connection."""

    def __init__(self, worker: Worker, index: int) -> None:
        self.worker = worker
        self.index = index
        #: The server this slot works on (one of the worker's, for good: see
        #: ``WorkerBase.slot_server``).
        self.host, self.port = worker.slot_server(index)
        self.client = _SharedClient(
            self.host, self.port, timeout=worker.socket_timeout, watch=list(worker.tubes)
        )
        # Guards message/settling/abandoned between this slot's thread and the
        # supervisor, which may give up on the job at shutdown.
        self.state = threading.Lock()
        self.message: Message | None = None
        self.settling = False
        self.abandoned = False
        # The handler runs (an interrupt may be sent to it), its watch, and whether an
        # interrupt was sent and may not have been raised yet.
        self.handling = False
        self.watch: Watch | None = None
        self.interrupt_sent = False
        # The worker gave up on its handler at its time limit: the slot is replaced
        # and ends when (if ever) the handler does.
        self.given_up = False
        self.thread = threading.Thread(
            target=self.run, name=f"beanstalkm-worker-{index}", daemon=True
        )

    # -- the loop --

    def run(self) -> None:
        worker = self.worker
        reconnects = Reconnects(worker, self.index)
        # The last job's settle: it goes out with the next reserve.
        settle: Settle | None = None
        try:
            while not worker.stopping and not self.given_up:
                try:
                    message = self.client.drive(next_job(worker, settle, worker.reserve_timeout))
                except BeanstalkmException as exc:
                    settle = None  # settled (as lost) by next_job
                    if worker._stopping.wait(reconnects.failed(exc)):
                        break
                    continue
                settle = None
                reconnects.succeeded()
                if message is None:
                    continue
                try:
                    settle = self.handle(message)  # type: ignore[arg-type]
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
            try:
                if settle is not None:
                    self.client.drive(settle_now(worker, settle))
            finally:
                self._close()

    def _close(self) -> None:
        # The supervisor may be releasing on this connection; don't wait for ever.
        if self.client.lock.acquire(timeout=5):
            try:
                self.client.close()
            finally:
                self.client.lock.release()

    def handle(self, message: Message) -> Settle | None:
        reserved_at = time.monotonic()
        try:
            settle: Settle | None = self.client.drive(
                handle_job(self.worker, message, reserved_at, self.abandoned), self._step
            )
            return settle
        finally:
            with self.state:
                self.message, self.settling, self.watch = None, False, None

    def _step(self, step: Handle | Hook) -> object:
        if isinstance(step, Hook):
            run_hook(step)
            return None
        return self._run(step)

    def _run(self, step: Handle) -> object:
        """The Handle step: run the handler while the toucher watches it."""
        worker = self.worker
        watch = step.watch
        message: Message = watch.message  # type: ignore[assignment]
        with self.state:
            if self.abandoned:
                return Abandoned.NOT_STARTED
            self.message, self.settling, self.watch = message, False, watch
            self.handling = True
        worker._toucher.track(self, watch)
        error: BaseException | None = None
        try:
            try:
                watch.returned = step.handler(message)
            except Exception as exc:
                error = exc
            finally:
                self._handler_ended()
        except TimeLimitExceeded as exc:
            # Raised in this thread at the time limit: in the handler, or as it ended
            # (before _handler_ended could take it back).
            self._handler_ended()
            exc.limit = watch.limit
            error = exc
        except BaseException as exc:
            # KeyboardInterrupt, SystemExit and the like: not the job's fault. Give it
            # back, stop the worker, and let run() raise it in the caller's thread.
            worker._toucher.forget(self)
            self._give_up(message, exc)
            raise _SlotEnded from exc
        worker._toucher.forget(self, watch)
        with self.state:
            if self.abandoned:
                self.message = None
                if self.given_up:
                    worker.running_refs.discard(message.ref)
                    return Abandoned.GIVEN_UP
                return Abandoned.FINISHED
            self.settling = True
        return error

    # -- time limits --

    def _handler_ended(self) -> None:
        with self.state:
            self.handling = False
            if self.interrupt_sent:
                self.interrupt_sent = False
                _raise_in_thread(self.thread.ident, None)

    def interrupt(self, watch: Watch) -> None:
        """The handler is past its time limit: raise TimeLimitExceeded in its thread
        (only while it runs: never in the worker's own code around it)."""
        with self.state:
            if self.handling and self.watch is watch and not self.interrupt_sent:
                self.interrupt_sent = _raise_in_thread(self.thread.ident, TimeLimitExceeded)

    def give_up_on(self, watch: Watch) -> bool:
        """The interrupted handler has not ended: settle its job by the retry policy
        and leave the thread to it; the supervisor starts a slot in its place. False if
        the handler has ended meanwhile."""
        worker = self.worker
        with self.state:
            if self.settling or self.watch is not watch or self.abandoned:
                return False
            self.abandoned = self.given_up = True
            self.message = None
        worker.running_refs.add(watch.message.ref)
        if self.client.lock.acquire(timeout=2):
            try:
                self.client.drive(give_up(worker, watch), self._step)
            finally:
                self.client.lock.release()
        else:
            logger.warning(
                "job %d: its connection is busy, cannot settle it; it goes back to the "
                "queue when its time-to-run ends",
                watch.message.uid,
            )
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
            settle = self.client.drive(give_back(self.worker, message))
            if settle is not None:
                self.client.drive(settle_now(self.worker, settle))
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


class _Toucher:
    """One thread that watches every slot's long-running handler: touches its job,
    interrupts it at its time limit, gives up on it if it will not end."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._cond = threading.Condition()
        self._jobs: dict[_Slot, Watch] = {}
        self._stopped = False
        self._next_wake = math.inf
        self.thread = threading.Thread(target=self.run, name="beanstalkm-toucher", daemon=True)

    def track(self, slot: _Slot, job: Watch) -> None:
        with self._cond:
            self._jobs[slot] = job
            # Most jobs end long before their first look: wake the thread only when it
            # would otherwise sleep past this one.
            if job.next_at < self._next_wake:
                self._cond.notify()

    def forget(self, slot: _Slot, job: Watch | None = None) -> None:
        with self._cond:
            if job is None or self._jobs.get(slot) is job:
                self._jobs.pop(slot, None)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()

    def run(self) -> None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                due = [
                    (slot, job, what)
                    for slot, job in self._jobs.items()
                    if job.next_at <= now and (what := job.what_now(now)) is not None
                ]
                if not due:
                    self._next_wake = min(
                        (job.next_at for job in self._jobs.values()), default=math.inf
                    )
                    self._cond.wait(None if self._next_wake == math.inf else self._next_wake - now)
                    self._next_wake = math.inf
                    continue
                # Act without holding the schedule lock: a touch waits for the slot's
                # connection, and the slot may be tracking its next job.
                self._cond.release()
                try:
                    for slot, job, what in due:
                        self._act(slot, job, what)
                finally:
                    self._cond.acquire()

    def _act(self, slot: _Slot, job: Watch, what: str) -> None:
        worker = self.worker
        if what == "touch":
            if not slot.client.drive(keep_alive(worker, job)):
                self.forget(slot, job)
        elif what == "interrupt":
            time_limit_hit(worker, job)
            slot.interrupt(job)
        else:
            self.forget(slot, job)
            if slot.give_up_on(job):
                worker._replace(slot)


class Worker(WorkerBase[Handler]):
    """Reserve jobs from the handlers' tubes and run each through its handler.

    :param host: server host; :param port: server port. Without them (and without
        ``url`` or ``pool``) the address comes from ``$BEANSTALKD_URL``, else
        127.0.0.1:11300.
    :param url: ``beanstalk://host:port`` instead of host and port; several,
        comma-separated, for a worker on several servers (as ``$BEANSTALKD_URL``).
    :param pool: a :class:`~beanstalkm.Pool` (or :class:`~beanstalkm.aio.Pool`): work
        on its servers, with its ``timeout`` as ``socket_timeout`` when it has one. Its
        connections are not used: each slot has its own.
    :param handlers: ``{tube: handler}``; more can be added with :meth:`handler`.
    :param concurrency: number of slots on each server: threads, each with its own
        connection to its server, which everything about its jobs goes to.
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
    _given_up: list[_Slot]
    _orphans: list[_Slot]

    # -- running --

    def run(self) -> WorkerCounters:
        """Work until :meth:`stop` (or SIGTERM/SIGINT); return the counters.

        Blocks. On a stop: no more reserving; jobs in flight get ``grace`` seconds to
        finish, then are released. A second stop with ``grace=0`` (or a second signal)
        releases them at once. With ``processes``, runs that many child processes of
        this worker and returns their counters, summed (see
        :mod:`beanstalkm.worker.processes`).
        """
        if self._in_processes():
            counters: WorkerCounters = self._supervisor(self._work).run()
            return counters
        return self._work()

    def _work(self) -> WorkerCounters:
        """Run the slots in this process."""
        self._begin("slot(s) (threads)")
        self._signals = []
        self._given_up = []
        self._orphans = []
        self._toucher = _Toucher(self)
        slots = [_Slot(self, i) for i in range(self.slot_count)]
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
            self._close_metrics()
            self._running = False
        return self._end()

    def _check_hook(self, name: str, function: object) -> None:
        super()._check_hook(name, function)
        if inspect.iscoroutinefunction(function):
            raise TypeError(
                f"hook {name!r} is an async function: beanstalkm.Worker runs hooks in "
                "its threads (beanstalkm.aio.Worker awaits them)"
            )

    def _replace(self, slot: _Slot) -> None:
        """A slot given up on (its handler would not end): the supervisor starts
        another in its place."""
        self._given_up.append(slot)

    def _start_replacements(self, slots: list[_Slot]) -> None:
        while self._given_up:
            old = self._given_up.pop(0)
            if old not in slots:
                continue
            self._orphans = [s for s in self._orphans if s.thread.is_alive()] + [old]
            logger.warning(
                "slot %d: its handler would not end; a new slot takes its place "
                "(%d thread(s) left to handlers given up on)",
                old.index,
                len(self._orphans),
            )
            new = _Slot(self, old.index)
            slots[slots.index(old)] = new
            if not self._stopping.is_set():
                new.thread.start()

    def _install_signals(self) -> dict[int, Any]:
        if not self._wants_signals():
            return {}
        previous: dict[int, Any] = {}
        for signum in self._stop_signals:
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
            self._start_replacements(slots)
            if not any(slot.thread.is_alive() for slot in slots):
                logger.error("worker: every slot has ended")
                return
            self._stopping.wait(_POLL)
        self._shutdown_begins(sum(slot.message is not None for slot in slots))
        while any(slot.thread.is_alive() and not slot.given_up for slot in slots):
            self._take_signals()
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(remaining, _POLL))
        for slot in slots:
            slot.abandon()
