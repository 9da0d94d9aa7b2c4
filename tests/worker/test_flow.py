"""The workers' shared job flow (beanstalkm.worker.flow), driven by hand: no server,
no threads, no event loop. Each test plays the driver: it answers each step the flow
yields, as the threaded and asyncio workers do with real commands."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Any

import pytest

from beanstalkm.errors import NotFound, ReservationLost, SocketError, TimedOut
from beanstalkm.message import BaseMessage
from beanstalkm.worker.base import WorkerBase
from beanstalkm.worker.counters import WorkerCounters
from beanstalkm.worker.flow import (
    FIRST_LOOK,
    Abandoned,
    Flow,
    Handle,
    Settle,
    handle_job,
    keep_alive,
    next_job,
    settled,
)
from beanstalkm.worker.policy import Bury, Retry
from beanstalkm.worker.watch import Watch


def handler(message: Any) -> None:
    pass


def make_worker(tubes: tuple[str, ...] = ("t",), **kwargs: Any) -> WorkerBase[Any]:
    kwargs.setdefault("backoff", (1, 2, 300, 0))  # no jitter: delays to compare
    return WorkerBase("127.0.0.1", 1, handlers=dict.fromkeys(tubes, handler), **kwargs)


def handles(step: Any, tube: str, ttr: int | None = None) -> bool:
    """Whether ``step`` runs the test's handler on a job of ``tube`` whose time-to-run
    is ``ttr`` (None: not known)."""
    if not isinstance(step, Handle):
        return False
    interval = step.watch.interval
    return (step.handler, step.tube) == (handler, tube) and (
        interval is None if ttr is None else interval is not None
    )


def watch(worker: WorkerBase[Any], reserved_at: float, ttr: int | None) -> Watch:
    route = worker.handler_for("t")
    assert route is not None
    return Watch(job(), route, reserved_at, ttr, worker.touch_margin)


def job(uid: int = 7, priority: int | None = None) -> Any:
    """A message reserved on a connection's first generation (the connection a stub)."""
    connection = SimpleNamespace(generation=1, validate=True)
    message = BaseMessage.from_job(connection, uid, b"{}", True, 1)
    message.priority = priority
    return message


def stats(attempt: int = 1, ttr: int = 60, tube: str = "t", pri: int = 100) -> dict[str, Any]:
    return {"tube": tube, "reserves": attempt, "ttr": ttr, "pri": pri}


def wire(step: Any) -> tuple[str, tuple[Any, ...]]:
    """A request step as (command word, arguments)."""
    command, args, _, _ = step
    return command.wire, tuple(args)


class Driver:
    """Steps the flow through a script of answers, recording what it asked for."""

    def __init__(self, flow: Flow[Any]) -> None:
        self.flow = flow
        self.steps: list[Any] = []
        self.result: Any = None
        self.done = False
        self._advance(lambda: next(flow))

    def _advance(self, go: Any) -> None:
        try:
            self.steps.append(go())
        except StopIteration as stop:
            self.result, self.done = stop.value, True

    def step(self) -> Any:
        return self.steps[-1]

    def answer(self, value: Any = None, error: BaseException | None = None) -> Driver:
        if error is not None:
            self._advance(lambda: self.flow.throw(error))
        else:
            self._advance(lambda: self.flow.send(value))
        return self


def start(worker: WorkerBase[Any], message: Any, abandoned: bool = False) -> Driver:
    return Driver(handle_job(worker, message, time.monotonic(), abandoned))


def test_success_on_one_tube_asks_nothing_and_returns_the_delete() -> None:
    worker = make_worker()
    message = job()
    drive = start(worker, message)
    assert handles(drive.step(), "t")  # no stats-job: the tube is known
    drive.answer(None)
    assert drive.done
    settle: Settle = drive.result
    assert (settle.action, wire(settle.request)) == ("delete", ("delete", (7,)))
    assert settle.request[2] == 1  # only on the connection that reserved it
    assert worker.counters == WorkerCounters()  # counted when the delete is answered
    settled(worker, settle, None)
    assert (message.reserved, message.deleted) == (False, True)
    assert worker.counters == WorkerCounters(processed=1)


def test_several_tubes_ask_the_tube_first() -> None:
    worker = make_worker(("a", "b"))
    drive = start(worker, job())
    assert wire(drive.step()) == ("stats-job", (7,))
    drive.answer(stats(tube="b", ttr=10))
    assert handles(drive.step(), "b", 10)
    assert drive.answer(None).result.action == "delete"


def test_failure_asks_the_attempt_then_releases_with_backoff_or_buries() -> None:
    worker = make_worker(max_attempts=3, backoff=(2, 3, 100, 0))
    for attempt, expected in [(1, ("release", (7, 100, 2))), (2, ("release", (7, 100, 6)))]:
        drive = start(worker, job()).answer(RuntimeError("boom"))
        assert wire(drive.step()) == ("stats-job", (7,))
        settle = drive.answer(stats(attempt)).result
        assert (settle.action, wire(settle.request)) == ("retry", expected)
        settled(worker, settle, None)
    drive = start(worker, job()).answer(RuntimeError("boom")).answer(stats(3))
    assert (drive.result.action, wire(drive.result.request)) == ("bury", ("bury", (7, 100)))
    settled(worker, drive.result, None)
    assert worker.counters == WorkerCounters(failed=3, retried=2, buried=1)


def test_retry_and_bury_from_the_handler() -> None:
    worker = make_worker(max_attempts=5)
    drive = start(worker, job()).answer(Retry(delay=30)).answer(stats(1))
    assert wire(drive.result.request) == ("release", (7, 100, 30))
    drive = start(worker, job()).answer(Bury()).answer(stats(1))
    assert drive.result.action == "bury"


def test_a_job_the_handler_settled_is_left_alone() -> None:
    worker = make_worker()
    message = job()
    drive = start(worker, message)
    message.reserved, message.deleted = False, True  # the handler deleted it
    assert drive.answer(None).done
    assert drive.result is None
    assert worker.counters == WorkerCounters(processed=1)


def test_a_reservation_lost_before_the_handler_is_not_handled() -> None:
    worker = make_worker(("a", "b"))
    message = job()
    message.connection.generation = 2  # the connection was replaced since the reserve
    assert start(worker, message).answer(stats()).result is None
    assert start(worker, job()).answer(error=SocketError("gone")).result is None
    assert start(worker, job()).answer(error=NotFound("stats_job", "NOT_FOUND", ())).done
    assert worker.counters == WorkerCounters(lost=3)


@pytest.mark.parametrize("error", [ReservationLost("x"), NotFound("delete", "NOT_FOUND", ())])
def test_a_settle_that_fails_is_counted_lost_and_never_repeated(error: Exception) -> None:
    worker = make_worker()
    settle = start(worker, job()).answer(None).result
    settled(worker, settle, error)
    assert worker.counters == WorkerCounters(lost=1)


def test_shutdown_gives_jobs_back_with_their_priority() -> None:
    worker = make_worker()
    # reserved by a slot given up on: released at once, unhandled, priority kept
    drive = start(worker, job(), abandoned=True)
    assert wire(drive.step()) == ("stats-job", (7,))
    settle = drive.answer(stats(pri=5)).result
    assert (settle.action, wire(settle.request)) == ("give back", ("release", (7, 5, 0)))
    settled(worker, settle, None)
    # reserved after the grace period; priority already known
    worker._deadline = time.monotonic() - 1
    assert wire(start(worker, job(priority=9)).result.request) == ("release", (7, 9, 0))
    worker._deadline = math.inf
    # given up on before its handler started
    drive = start(worker, job(priority=9)).answer(Abandoned.NOT_STARTED)
    settled(worker, drive.result, SocketError("gone"))  # logged, not counted
    # released (by the worker) while the handler ran: nothing more to do
    for outcome in (Abandoned.FINISHED, Abandoned.CANCELLED):
        assert start(worker, job()).answer(outcome).result is None
    assert worker.counters == WorkerCounters(released=1)


def test_next_job_sends_the_settle_with_the_reserve() -> None:
    worker = make_worker()
    settle = start(worker, job()).answer(None).result
    drive = Driver(next_job(worker, settle, 1))
    assert [wire(step) for step in drive.step()] == [
        ("delete", (7,)),
        ("reserve-with-timeout", (1,)),
    ]
    message = object()
    assert drive.answer([None, message]).result is message
    assert worker.counters == WorkerCounters(processed=1)
    # no job came: None, the delete counted all the same
    settle = start(worker, job()).answer(None).result
    assert Driver(next_job(worker, settle, 1)).answer([None, TimedOut("", "", ())]).done
    assert worker.counters == WorkerCounters(processed=2)


def test_next_job_after_a_lost_connection_reserves_alone() -> None:
    worker = make_worker()
    settle = start(worker, job()).answer(None).result
    drive = Driver(next_job(worker, settle, 1)).answer(error=ReservationLost("gone"))
    assert wire(drive.step()) == ("reserve-with-timeout", (1,))
    assert drive.answer(error=TimedOut("", "", ())).result is None
    assert worker.counters == WorkerCounters(lost=1)


def test_keep_alive_learns_the_ttr_then_touches() -> None:
    worker = make_worker(touch_margin=2)
    reserved_at = time.monotonic() - 5  # the handler has run 5 s
    alive = watch(worker, reserved_at, None)
    assert alive.due == pytest.approx(reserved_at + FIRST_LOOK)
    drive = Driver(keep_alive(worker, alive))
    assert wire(drive.step()) == ("stats-job", (7,))
    drive.answer(stats(ttr=4))  # due at reserved_at + 2: overdue, so touched now
    assert wire(drive.step()) == ("touch", (7,))
    assert drive.answer(None).result is True
    assert alive.interval == 2
    assert alive.due > time.monotonic() + 1.5
    # a long TTR: only looked at, touched later
    alive = watch(worker, time.monotonic(), None)
    drive = Driver(keep_alive(worker, alive)).answer(stats(ttr=120))
    assert drive.result is True
    assert alive.due == pytest.approx(alive.reserved_at + 118)
    # the job went away: stop
    alive = watch(worker, time.monotonic(), 10)
    drive = Driver(keep_alive(worker, alive))
    assert wire(drive.step()) == ("touch", (7,))
    assert drive.answer(error=NotFound("touch", "NOT_FOUND", ())).result is False
    assert worker.counters == WorkerCounters(touched=1)


def test_stop_and_signals() -> None:
    worker = make_worker(grace=30)
    assert not worker.stopping
    worker._signalled(15)
    assert worker.stopping
    assert 29 < worker.deadline - time.monotonic() <= 30
    worker._signalled(15)  # the second: at once
    assert worker.deadline <= time.monotonic()
