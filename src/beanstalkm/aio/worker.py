"""The asyncio worker loop: :class:`beanstalkm.Worker`'s twin, with tasks for threads.

::

    import asyncio
    from beanstalkm import aio

    worker = aio.Worker("127.0.0.1", 11300, concurrency=4)

    @worker.handler("emails")
    async def send(message):
        await send_email(**message.body)

    asyncio.run(worker.run())

Everything it decides, counts and logs (retries, burying, lost reservations, time
limits...) comes from :mod:`beanstalkm.worker.flow` and :mod:`beanstalkm.worker.policy`,
shared with the threaded worker. This module is only how it waits: a task and an
:class:`beanstalkm.aio.Client` per slot, a task per handler (so that a shutdown or a
time limit can cancel the handler and not the slot), and a timer per job in flight
that touches it when its time-to-run runs low, cancels its handler at its time limit,
and gives up on a handler that will not end.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from ..errors import BeanstalkmException, SocketError
from ..protocol import Request
from ..worker.base import Reconnects, WorkerBase, handlers_for, logger
from ..worker.counters import WorkerCounters
from ..worker.flow import (
    Abandoned,
    Handle,
    Settle,
    answered,
    give_back,
    give_up,
    handle_job,
    keep_alive,
    next_job,
    settle_now,
    settled,
    time_limit_hit,
)
from ..worker.hooks import Hook, hook_failed
from ..worker.policy import Backoff, Bury, Retry, TimeLimitExceeded
from ..worker.watch import Watch
from .client import Client
from .connection import Message

__all__ = [
    "AsyncHandler",
    "Backoff",
    "Bury",
    "Retry",
    "Worker",
    "WorkerCounters",
    "handlers_for",
    "is_async_handler",
]

#: A handler of the asyncio worker: an ``async def`` function of the reserved message.
AsyncHandler = Callable[[Message], Awaitable[object]]

# At shutdown: how long a release of an unfinished job may take, and how long the
# slots then get to end before they are cancelled.
_RELEASE_WAIT: Final = 2.0
_END_WAIT: Final = 2.0


def is_async_handler(function: object) -> bool:
    """Whether ``function`` is an ``async def`` function (or a partial of one, or an
    object whose ``__call__`` is one): a handler for :class:`Worker`."""
    return inspect.iscoroutinefunction(function) or inspect.iscoroutinefunction(
        type(function).__call__
    )


async def _run_hook(hook: Hook) -> None:
    """Run a Hook step's functions in order, awaiting those that are coroutines."""
    for function in hook.functions:
        try:
            result = function(*hook.args)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            hook_failed(hook, function, exc)


async def _call(handler: AsyncHandler, message: Message, watch: Watch) -> BaseException | None:
    """Run a handler; return what it raised, if anything (what it returned goes in
    ``watch.returned``).

    SystemExit, KeyboardInterrupt and the like are returned too: raised out of a task,
    they would stop the event loop then and there, with jobs in flight.
    """
    try:
        watch.returned = await handler(message)
    except Exception as exc:
        return exc
    except asyncio.CancelledError:
        raise
    except BaseException as exc:
        return exc
    return None


class _SlotEnded(Exception):
    """Ends a slot's task after its handler raised a BaseException."""


class _Slot:
    """One unit of concurrency: a task and its own connection."""

    def __init__(self, worker: Worker, index: int) -> None:
        self.worker = worker
        self.index = index
        #: The server this slot works on (one of the worker's, for good: see
        #: ``WorkerBase.slot_server``).
        self.host, self.port = worker.slot_server(index)
        self.client = Client(
            self.host, self.port, timeout=worker.socket_timeout, watch=list(worker.tubes)
        )
        self.task: asyncio.Task[None] | None = None
        # True while the slot waits for a job (or between attempts to reach the
        # server): then a stop cancels it, and the server releases whatever it might
        # just have reserved when the connection resets.
        self.reserving = False
        # The job whose handler runs, and the handler's task.
        self.message: Message | None = None
        self.handler_task: asyncio.Task[BaseException | None] | None = None
        self.settling = False
        self.abandoned = False
        self._touch_timer: asyncio.TimerHandle | None = None
        self._touch_task: asyncio.Task[None] | None = None
        # The watch of the handler running, and, when the worker gives up on it at its
        # time limit, the future set once its job is settled.
        self.watch: Watch | None = None
        self._giving_up: asyncio.Future[None] | None = None
        # The last settle sent ahead of the reserve now waiting.
        self._ahead: asyncio.Future[Any] | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(
            self.run(), name=f"beanstalkm-worker-{self.index}"
        )

    # -- the loop --

    async def run(self) -> None:
        worker = self.worker
        reconnects = Reconnects(worker, self.index)
        # The last job's settle: it goes out just ahead of the next reserve.
        settle: Settle | None = None
        try:
            while not worker.stopping:
                self._send_ahead(settle)
                settle = None
                self.reserving = True
                try:
                    message = await self.client.drive(
                        next_job(worker, None, worker.reserve_timeout)
                    )
                except BeanstalkmException as exc:
                    await asyncio.sleep(reconnects.failed(exc))
                    continue
                finally:
                    self.reserving = False
                reconnects.succeeded()
                if message is None:
                    continue
                try:
                    settle = await self.handle(message)  # type: ignore[arg-type]
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
            self.reserving = False
            if settle is not None:
                await self.client.drive(settle_now(worker, settle))

    def _send_ahead(self, settle: Settle | None) -> None:
        """Write a job's settle now, so that the reserve written next shares its round
        trip; it is counted when its reply comes (a stop that cancels the reserve
        does not lose it: the reset that follows fails it if it had none)."""
        if settle is None:
            return
        if not self.client.connected:
            settled(self.worker, settle, SocketError("the connection was lost"))
            return
        try:
            if settle.reply is not None:
                self._reply_ahead(settle, settle.reply)
            future = self.client.submit(*settle.request)
        except BeanstalkmException as exc:  # ReservationLost: nothing sent
            settled(self.worker, settle, exc)
            return

        def done(future: asyncio.Future[Any]) -> None:
            outcome = SocketError("cancelled") if future.cancelled() else future.exception()
            settled(self.worker, settle, outcome or future.result())

        future.add_done_callback(done)
        self._ahead = future

    def _reply_ahead(self, settle: Settle, reply: Request) -> None:
        """Write the put of a request's reply, just ahead of the job's delete or bury."""

        def done(future: asyncio.Future[Any]) -> None:
            answered(settle, SocketError("cancelled") if future.cancelled() else future.exception())

        self.client.submit(*reply).add_done_callback(done)

    async def handle(self, message: Message) -> Settle | None:
        reserved_at = time.monotonic()
        try:
            settle: Settle | None = await self.client.drive(
                handle_job(self.worker, message, reserved_at, self.abandoned), self._step
            )
            return settle
        finally:
            self.message, self.settling, self.watch = None, False, None

    async def _step(self, step: Handle | Hook) -> object:
        if isinstance(step, Hook):
            await _run_hook(step)
            return None
        return await self._run(step)

    async def _run(self, step: Handle) -> object:
        """The Handle step: run the handler in a task of its own, watched."""
        if self.abandoned:
            return Abandoned.NOT_STARTED
        watch = step.watch
        message: Message = watch.message  # type: ignore[assignment]
        self.message, self.settling, self.watch = message, False, watch
        self._watch_at(watch)
        loop = asyncio.get_running_loop()
        task = loop.create_task(_call(step.handler, message, watch))
        self.handler_task = task
        giving_up = self._giving_up = loop.create_future()
        try:
            await asyncio.wait((task, giving_up), return_when=asyncio.FIRST_COMPLETED)
            if self._give_up_task is not None:
                await giving_up  # its job is being settled: let that finish
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._stop_touching()
            self.handler_task = None
            self._giving_up = None
        if giving_up.done() and not giving_up.cancelled():
            # Given up on at its time limit (it may run on, cancelled but not ending).
            self.worker._orphans.add(task)
            task.add_done_callback(self.worker._orphans.discard)
            return Abandoned.GIVEN_UP
        giving_up.cancel()
        outcome = None if task.cancelled() else task.result()
        if outcome is not None and not isinstance(outcome, Exception):
            # KeyboardInterrupt, SystemExit and the like: not the job's fault. Give it
            # back, stop the worker, and let run() raise it.
            await self._fatal(message, outcome)
            raise _SlotEnded from outcome
        if self.abandoned:
            self.message = None
            return Abandoned.CANCELLED if task.cancelled() else Abandoned.FINISHED
        self.settling = True
        if task.cancelled():
            if watch.hit_limit:
                return TimeLimitExceeded(watch.limit)  # cancelled by the worker, at its limit
            # Not by the worker: the handler let a CancelledError out of its own.
            return RuntimeError(f"the handler of job {message.uid} raised CancelledError")
        return outcome

    # -- watching the handler: touches, time limit --

    _give_up_task: asyncio.Task[None] | None = None

    def _watch_at(self, watch: Watch) -> None:
        at = watch.next_at
        if at == math.inf:
            return
        self._touch_timer = asyncio.get_running_loop().call_later(
            max(at - time.monotonic(), 0.0), self._watch_due, watch
        )

    def _watch_due(self, watch: Watch) -> None:
        self._touch_timer = None
        if self.watch is not watch or self.settling:
            return
        loop = asyncio.get_running_loop()
        what = watch.what_now(time.monotonic())
        if what == "touch":
            self._touch_task = loop.create_task(self._touch(watch))
            return
        if what == "interrupt":
            time_limit_hit(self.worker, watch)
            if self.handler_task is not None:
                self.handler_task.cancel()
        elif what == "give up":
            task = self.handler_task
            if task is not None and not task.done():
                self._give_up_task = loop.create_task(self._give_up(watch))
                return
        self._watch_at(watch)

    async def _touch(self, job: Watch) -> None:
        keep = await self.client.drive(keep_alive(self.worker, job))
        if self._touch_task is asyncio.current_task():
            self._touch_task = None
        if keep and self.watch is job and not self.settling:
            self._watch_at(job)

    async def _give_up(self, watch: Watch) -> None:
        """The handler, cancelled at its time limit, has not ended: settle its job by
        the retry policy, and let the slot go on without it."""
        giving_up = self._giving_up
        worker = self.worker
        ref = watch.message.ref
        task = self.handler_task
        worker.running_refs.add(ref)
        if task is not None:
            task.add_done_callback(lambda _: worker.running_refs.discard(ref))
        try:
            await self.client.drive(give_up(worker, watch), self._step)
        finally:
            self._give_up_task = None
            if giving_up is not None and not giving_up.done():
                giving_up.set_result(None)

    def _stop_touching(self) -> None:
        # A touch under way is left to end: it does not schedule another.
        if self._touch_timer is not None:
            self._touch_timer.cancel()
            self._touch_timer = None

    # -- shutdown --

    def stop_reserving(self) -> None:
        """A stop: a slot waiting for a job stops now (the job in flight, if any,
        goes on); one whose last job's settle is still unanswered, once it is (the
        cancel resets the connection, which would leave the settle's fate unknown)."""
        ahead = self._ahead
        if ahead is not None and not ahead.done():
            ahead.add_done_callback(lambda _: self.stop_reserving())
        elif self.reserving and self.task is not None:
            self.task.cancel()

    async def abandon(self) -> None:
        """Called when the grace period is over: cancel the handler still running,
        release its job, and make sure nothing more is handled by this slot."""
        self.abandoned = True
        self.stop_reserving()
        message = None if self.settling or self._give_up_task is not None else self.message
        if message is None:
            return
        self.message = None
        self._stop_touching()
        if self.handler_task is not None:
            self.handler_task.cancel()
        await self._release_unfinished(message)

    async def _release_unfinished(self, message: Message) -> None:
        async def release() -> None:
            settle = await self.client.drive(give_back(self.worker, message))
            if settle is not None:
                await self.client.drive(settle_now(self.worker, settle))

        try:
            await asyncio.wait_for(release(), _RELEASE_WAIT)
        except asyncio.TimeoutError:
            logger.warning(
                "job %d: no reply to its release; the server releases it when the "
                "connection closes",
                message.uid,
            )

    async def _fatal(self, message: Message, exc: BaseException) -> None:
        self.worker._handler_raised(self.index, exc)
        self.abandoned = True
        settle = not self.settling and message.reserved
        self.message = None  # released here, not by abandon()
        if settle:
            await self._release_unfinished(message)

    async def close(self) -> None:
        """After the slot's task: nothing of it left running, the connection closed
        (which makes the server release anything still reserved on it)."""
        self._stop_touching()
        for task in (self._touch_task, self.handler_task, self._give_up_task):
            if task is not None and not task.done():
                task.cancel()
        await self.client.close()


class Worker(WorkerBase[AsyncHandler]):
    """The asyncio twin of :class:`beanstalkm.Worker`: the same arguments, handlers,
    retries, touching, shutdown and counters, with ``async def`` handlers and ``await
    worker.run()``.

    ``concurrency=N`` runs N slots, each a task with its own
    :class:`~beanstalkm.aio.Client`; each handler runs in a task of its own. Handlers
    get the reserved :class:`beanstalkm.aio.Message` (``await message.touch()``...).

    Differences from the threaded worker:

    - a handler must be an ``async def`` function (TypeError otherwise): the message
      it gets has awaitable methods. Run blocking code with ``asyncio.to_thread``
      from inside it, or use :class:`beanstalkm.Worker`;
    - a stop does not wait for ``reserve_timeout``: slots waiting for a job are
      cancelled at once;
    - handlers still running when the grace period is over are cancelled
      (``CancelledError`` at their next ``await``), and their jobs released;
    - :meth:`run` installs its SIGTERM/SIGINT handlers with
      ``loop.add_signal_handler`` (main thread only), and puts the previous ones back.
    """

    _loop: asyncio.AbstractEventLoop | None = None
    _loop_thread: int | None = None
    _wakeup: asyncio.Event | None = None
    _slots: tuple[_Slot, ...] = ()
    # Handlers given up on at their time limit that have not ended yet.
    _orphans: set[asyncio.Task[Any]]

    def _check_handler(self, tube: str, function: object) -> None:
        super()._check_handler(tube, function)
        if not is_async_handler(function):
            raise TypeError(
                f"handler for {tube!r} must be an async function (async def), got "
                f"{function!r}: use beanstalkm.Worker for plain functions, or call "
                "blocking code with asyncio.to_thread from an async handler"
            )

    # -- running --

    async def run(self) -> WorkerCounters:
        """Work until :meth:`stop` (or SIGTERM/SIGINT); return the counters.

        On a stop: no more reserving; jobs in flight get ``grace`` seconds to finish,
        then their handlers are cancelled and the jobs released. A second stop with
        ``grace=0`` (or a second signal) does that at once. Cancelling the task that
        runs it stops it at once too (the jobs in flight are released by the server
        when the worker's connections close), and raises CancelledError. With
        ``processes``, runs that many child processes of this worker (each with an
        event loop of its own) and returns their counters, summed (see
        :mod:`beanstalkm.worker.processes`).
        """
        if self._in_processes():
            counters: WorkerCounters = await self._supervisor(
                lambda: asyncio.run(self._work())
            ).run_async()
            return counters
        return await self._work()

    async def _work(self) -> WorkerCounters:
        """Run the slots in this process."""
        self._begin("slot(s) (asyncio tasks)")
        loop = asyncio.get_running_loop()
        self._loop, self._loop_thread = loop, threading.get_ident()
        self._wakeup = asyncio.Event()
        self._orphans = set()
        slots = [_Slot(self, i) for i in range(self.slot_count)]
        self._slots = tuple(slots)
        previous = self._install_signals(loop)
        try:
            for slot in slots:
                slot.start()
            await self._supervise(slots)
        finally:
            try:
                await self._clean_up(slots)
            finally:
                self._restore_signals(loop, previous)
                self._loop = self._wakeup = None
                self._slots = ()
                self._running = False
        return self._end()

    def _wake(self) -> None:
        loop = self._loop
        if loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._stop_now()
        else:
            with contextlib.suppress(RuntimeError):  # a closed loop: nothing left to stop
                loop.call_soon_threadsafe(self._stop_now)

    def _stop_now(self) -> None:
        # Slots waiting for a job stop at once, before anything else runs: a job that
        # is being released (a handler raised SystemExit) is not reserved again here.
        for slot in self._slots:
            slot.stop_reserving()
        if self._wakeup is not None:
            self._wakeup.set()

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> dict[int, Any]:
        if not self._wants_signals():
            return {}
        previous: dict[int, Any] = {}
        for signum in self._stop_signals:
            handler = signal.getsignal(signum)
            try:
                loop.add_signal_handler(signum, self._signalled, signum)
            except (NotImplementedError, RuntimeError):  # not on this platform or loop
                continue
            previous[signum] = handler
        return previous

    def _restore_signals(self, loop: asyncio.AbstractEventLoop, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            loop.remove_signal_handler(signum)
            if handler is not None:
                signal.signal(signum, handler)

    async def _wait(self, slots: list[_Slot], timeout: float | None) -> None:
        """Until a slot's task ends, :meth:`stop` is called, or ``timeout`` passes."""
        wakeup = self._wakeup
        assert wakeup is not None
        wakeup.clear()
        waiter = asyncio.ensure_future(wakeup.wait())
        try:
            await asyncio.wait(
                [waiter, *_tasks(slots)], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()

    async def _supervise(self, slots: list[_Slot]) -> None:
        while not self._stopping.is_set():
            if not _tasks(slots):
                logger.error("worker: every slot has ended")
                return
            await self._wait(slots, None)
        self._shutdown_begins(sum(slot.message is not None for slot in slots))
        for slot in slots:
            slot.stop_reserving()
        while _tasks(slots):
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                break
            await self._wait(slots, remaining)
        await asyncio.gather(*(slot.abandon() for slot in slots))
        live = _tasks(slots)
        if live:
            await asyncio.wait(live, timeout=_END_WAIT)
        for task in _tasks(slots):
            logger.warning("%s: did not end; cancelling it", task.get_name())

    async def _clean_up(self, slots: list[_Slot]) -> None:
        """Cancel what is left (everything, when run() itself was cancelled), close
        the connections."""
        started = [(slot, slot.task) for slot in slots if slot.task is not None]
        for _, task in started:
            task.cancel()
        results = await asyncio.gather(*(task for _, task in started), return_exceptions=True)
        for (slot, _), result in zip(started, results, strict=True):
            if isinstance(result, Exception):
                logger.error("slot %d ended with an error", slot.index, exc_info=result)
        for slot in slots:
            if slot.handler_task is not None and not slot.handler_task.done():
                logger.warning("slot %d: its handler ignored cancellation", slot.index)
            await slot.close()
        for task in list(self._orphans):
            task.cancel()


def _tasks(slots: list[_Slot]) -> list[asyncio.Task[None]]:
    """The slots' tasks still running."""
    return [slot.task for slot in slots if slot.task is not None and not slot.task.done()]
