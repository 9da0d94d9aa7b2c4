"""Time limits against a real beanstalkd, both workers: a handler past its limit is
interrupted and its job retried or buried; one that will not end is given up on,
its job settled, and the worker serves others meanwhile, never running that job twice
at once; touching stops at the limit."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess
from beanstalkm.worker import TimeLimitExceeded, WorkerCounters
from beanstalkm.worker.watch import WIND_DOWN

from ..cli.util import wait_for
from .kinds import KINDS, handler, make, serving, sleeper, stuck
from .test_worker import put_raw


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_handler_past_its_limit_is_interrupted_and_its_job_retried_then_buried(
    kind: str, server: BeanstalkdProcess, client: Client
) -> None:
    ends: list[float] = []
    fast: list[Any] = []
    worker = make(kind, server, max_attempts=2)
    worker.add_handler("slow", sleeper(kind, 30, lambda m: ends.append(0)), time_limit=0.5)
    worker.add_handler("fast", handler(kind, lambda m: fast.append(m.body)))
    [uid] = put_raw(client, "slow", [b"forever"])
    put_raw(client, "fast", [b"1", b"2", b"3"])
    started = time.monotonic()
    with serving(worker):
        wait_for(lambda: worker.counters.buried == 1 and worker.counters.processed == 3)
    # Interrupted at the limit each time, not given up on a second later.
    assert time.monotonic() - started < 2 * (0.5 + WIND_DOWN)
    assert ends == []  # never ran to its end
    assert sorted(fast) == [1, 2, 3]  # the slot went on to the others
    assert worker.counters == WorkerCounters(
        processed=3, failed=2, retried=1, buried=1, time_limits=2
    )
    stats = client.queue.stats_job(uid)
    assert (stats["state"], stats["reserves"], stats["releases"]) == ("buried", 2, 1)


def test_a_handler_that_will_not_end_is_given_up_and_its_job_never_run_twice_at_once(
    kind: str, server: BeanstalkdProcess, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    release = threading.Event()
    calls: list[int] = []
    at_once: list[int] = []
    fast: list[Any] = []
    # One slot: the others' jobs are served only if the stuck handler is left behind.
    worker = make(kind, server, backoff=(1, 1, 1, 0), max_attempts=10)
    worker.add_handler("stuck", stuck(kind, release, calls, at_once), time_limit=0.3)
    worker.add_handler("fast", handler(kind, lambda m: fast.append(m.body)))
    [uid] = put_raw(client, "stuck", [b"job"], ttr=5)
    with caplog.at_level(logging.INFO, logger="beanstalkm.worker"), serving(worker):
        wait_for(lambda: worker.counters.retried == 1)  # given up: released by the policy
        put_raw(client, "fast", [b"1", b"2", b"3"])
        wait_for(lambda: len(fast) == 3)
        # The job comes back after its 1 s delay while its handler still runs: it is
        # released again, not handled.
        wait_for(lambda: worker.counters.released >= 1)
        assert calls == [uid]
        assert uid in worker.running_jobs
        release.set()
        wait_for(lambda: worker.counters.processed == 4)  # then handled: it returns now
    assert calls == [uid, uid]
    assert max(at_once) == 1
    assert not worker.running_jobs
    counters = worker.counters
    assert (counters.time_limits, counters.failed, counters.retried) == (1, 1, 1)
    assert client.queue.stats()["cmd-touch"] == 0  # its limit came before any touch
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "over its time limit of 0.3s" in text
    assert "giving up on it" in text
    assert "the handler the worker gave up on still runs it" in text
    if kind == "threaded":
        assert "a new slot takes its place" in text


def test_touching_stops_at_the_time_limit(
    kind: str, server: BeanstalkdProcess, client: Client
) -> None:
    """beanstalkd's own protection against a hung handler holds again: a job with a
    2 s time-to-run is touched while its handler is within its 2.6 s limit, and not
    after."""
    worker = make(kind, server, touch_margin=1, max_attempts=1)
    worker.add_handler("t", sleeper(kind, 30), time_limit=2.6)
    [uid] = put_raw(client, "t", [b"long"], ttr=2)
    with serving(worker):
        wait_for(lambda: worker.counters.buried == 1)
    stats = client.queue.stats()
    assert stats["cmd-touch"] == worker.counters.touched == 2  # at 1 s and 2 s
    assert stats["job-timeouts"] == 0
    assert client.queue.stats_job(uid)["state"] == "buried"
    assert worker.counters.time_limits == 1


def test_time_limit_exceeded_is_not_an_exception_handlers_swallow() -> None:
    assert not issubclass(TimeLimitExceeded, Exception)
    assert str(TimeLimitExceeded(2.5)) == "time limit of 2.5s exceeded"
    with pytest.raises(ValueError, match="time_limit"):
        make("threaded", BeanstalkdProcess(), time_limit=0)
