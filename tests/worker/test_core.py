"""The workers' shared job flow (beanstalkm.worker_core), driven by hand: no server,
no threads, no event loop. Each test plays the driver: it answers each step the flow
yields, as the threaded and asyncio workers do with real commands."""

from __future__ import annotations

import math
import time
from types import SimpleNamespace
from typing import Any

import pytest

from beanstalkm.errors import NotFound, ReservationLost, SocketError
from beanstalkm.worker_core import (
    Abandoned,
    Bury,
    Call,
    Flow,
    Handle,
    Retry,
    WorkerBase,
    WorkerCounters,
    handle_job,
    touch_job,
)


def handler(message: Any) -> None:
    pass


def make_worker(**kwargs: Any) -> WorkerBase[Any]:
    return WorkerBase("127.0.0.1", 1, handlers={"t": handler}, **kwargs)


def job(uid: int = 7) -> Any:
    """A reserved message, as far as the flow looks at one."""
    return SimpleNamespace(
        uid=uid, reserved=True, deleted=False, generation=1, connection=SimpleNamespace(generation=1)
    )


def stats(attempt: int = 1, ttr: int = 60, tube: str = "t") -> dict[str, Any]:
    return {"tube": tube, "reserves": attempt, "ttr": ttr}


class Driver:
    """Steps the flow through a script of answers, recording what it asked for."""

    def __init__(self, flow: Flow[Any]) -> None:
        self.flow = flow
        self.steps: list[Call | Handle] = [next(flow)]
        self.result: Any = None
        self.done = False

    def step(self) -> Call | Handle:
        return self.steps[-1]

    def answer(self, value: Any = None, error: BaseException | None = None) -> Driver:
        try:
            step = self.flow.throw(error) if error is not None else self.flow.send(value)
        except StopIteration as stop:
            self.result, self.done = stop.value, True
        else:
            self.steps.append(step)
        return self


def start(worker: WorkerBase[Any], message: Any, abandoned: bool = False) -> Driver:
    return Driver(handle_job(worker, message, time.monotonic(), abandoned))


def test_success_reads_stats_runs_the_handler_and_deletes() -> None:
    worker = make_worker(touch_margin=2)
    drive = start(worker, job())
    assert drive.step() == Call("stats")
    drive.answer(stats(ttr=10))
    assert drive.step() == Handle(handler, "t", 8.0)  # touched every ttr - margin
    drive.answer(None)
    assert drive.step() == Call("delete")
    drive.answer(None)
    assert drive.done
    assert worker.counters == WorkerCounters(processed=1)


def test_failure_releases_with_backoff_then_buries() -> None:
    worker = make_worker(max_attempts=3, backoff=(2, 3, 100))
    for attempt, expected in [
        (1, Call("release", {"delay": 2})),
        (2, Call("release", {"delay": 6})),
    ]:
        drive = start(worker, job()).answer(stats(attempt)).answer(RuntimeError("boom"))
        assert drive.step() == expected
        assert drive.answer(None).done
    drive = start(worker, job()).answer(stats(3)).answer(RuntimeError("boom"))
    assert drive.step() == Call("bury")
    assert drive.answer(None).done
    assert worker.counters == WorkerCounters(failed=3, retried=2, buried=1)


def test_retry_and_bury_from_the_handler() -> None:
    worker = make_worker(max_attempts=5)
    drive = start(worker, job()).answer(stats(1)).answer(Retry(delay=30))
    assert drive.step() == Call("release", {"delay": 30})
    drive = start(worker, job()).answer(stats(1)).answer(Bury())
    assert drive.step() == Call("bury")


def test_a_job_the_handler_settled_is_left_alone() -> None:
    worker = make_worker()
    message = job()
    drive = start(worker, message).answer(stats())
    message.reserved, message.deleted = False, True  # the handler deleted it
    assert drive.answer(None).done
    assert len(drive.steps) == 2  # stats, handle: no delete
    assert worker.counters == WorkerCounters(processed=1)


def test_a_reservation_lost_before_the_handler_is_not_handled() -> None:
    worker = make_worker()
    message = job()
    message.connection.generation = 2  # the connection was replaced since the reserve
    assert start(worker, message).answer(stats()).done
    drive = start(worker, job())
    assert drive.answer(error=SocketError("gone")).done
    assert worker.counters == WorkerCounters(lost=2)


@pytest.mark.parametrize("error", [ReservationLost("x"), NotFound("delete", "NOT_FOUND", ())])
def test_a_settle_that_fails_is_counted_lost_and_never_repeated(error: Exception) -> None:
    worker = make_worker()
    drive = start(worker, job()).answer(stats()).answer(None)
    assert drive.step() == Call("delete")
    assert drive.answer(error=error).done
    assert worker.counters == WorkerCounters(lost=1)


def test_shutdown_gives_jobs_back() -> None:
    worker = make_worker()
    # reserved by a slot given up on: released at once, unhandled
    drive = start(worker, job(), abandoned=True)
    assert drive.step() == Call("release", {"delay": 0})
    assert drive.answer(None).done
    # reserved after the grace period
    worker._deadline = time.monotonic() - 1
    assert start(worker, job()).step() == Call("release", {"delay": 0})
    worker._deadline = math.inf
    # given up on before its handler started
    drive = start(worker, job()).answer(stats()).answer(Abandoned.NOT_STARTED)
    assert drive.step() == Call("release", {"delay": 0})
    assert drive.answer(error=SocketError("gone")).done  # logged, not counted
    # released (by the worker) while the handler ran: nothing more to do
    for outcome in (Abandoned.FINISHED, Abandoned.CANCELLED):
        assert start(worker, job()).answer(stats()).answer(outcome).done
    assert worker.counters == WorkerCounters(released=1)


def test_touching() -> None:
    worker = make_worker()
    drive = Driver(touch_job(worker, job()))
    assert drive.step() == Call("touch")
    assert drive.answer(None).result is True
    assert (
        Driver(touch_job(worker, job())).answer(error=NotFound("touch", "NOT_FOUND", ())).result
        is False
    )
    assert worker.counters == WorkerCounters(touched=1)


def test_stop_and_signals() -> None:
    worker = make_worker(grace=30)
    assert not worker.stopping
    worker._signalled(15)
    assert worker.stopping
    assert 29 < worker._deadline - time.monotonic() <= 30
    worker._signalled(15)  # the second: at once
    assert worker._deadline <= time.monotonic()
