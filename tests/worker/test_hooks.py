"""Hooks and per-handler settings against a real beanstalkd, both workers: hooks
called in order with the outcome at hand, a failing hook losing nothing; settings of
a handler overriding the worker's; an intended Retry logged in one line."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess
from beanstalkm.worker import (
    WORKER_DEFAULT,
    Backoff,
    Middleware,
    Outcome,
    Retry,
    RetryPolicy,
    Route,
    Worker,
    WorkerCounters,
)

from ..cli.util import wait_for
from .kinds import KINDS, handler, make, serving, sleeper
from .test_worker import put_raw


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class Recorder(Middleware):
    """Notes each hook as (hook, job body, action, error type, time limit hit)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str, str, bool]] = []
        self.threads: set[str] = set()
        self.lock = threading.Lock()

    def note(self, name: str, message: Any, outcome: Outcome | None = None) -> None:
        error = "" if outcome is None or outcome.error is None else type(outcome.error).__name__
        with self.lock:
            self.calls.append(
                (
                    name,
                    message.body,
                    "" if outcome is None else outcome.action,
                    error,
                    False if outcome is None else outcome.time_limit,
                )
            )

    def before(self, message: Any) -> None:
        self.note("before", message)
        self.threads.add(threading.current_thread().name)

    def after(self, message: Any, outcome: Outcome) -> None:
        self.note("after", message, outcome)

    def on_success(self, message: Any, outcome: Outcome) -> None:
        self.note("on_success", message, outcome)

    def on_retry(self, message: Any, outcome: Outcome) -> None:
        assert outcome.delay == 0  # the test's backoff
        self.note("on_retry", message, outcome)

    def on_bury(self, message: Any, outcome: Outcome) -> None:
        self.note("on_bury", message, outcome)

    def on_error(self, message: Any, outcome: Outcome) -> None:
        self.note("on_error", message, outcome)

    def on_time_limit(self, message: Any, outcome: Outcome) -> None:
        self.note("on_time_limit", message, outcome)

    def of(self, body: Any) -> list[tuple[str, str, str, bool]]:
        return [
            (name, action, error, limit)
            for name, b, action, error, limit in self.calls
            if b == body
        ]


class Broken(Middleware):
    """Every hook raises."""

    def before(self, message: Any) -> None:
        raise RuntimeError("before is broken")

    def after(self, message: Any, outcome: Outcome) -> None:
        raise RuntimeError("after is broken")

    def on_success(self, message: Any, outcome: Outcome) -> None:
        raise RuntimeError("on_success is broken")

    def on_retry(self, message: Any, outcome: Outcome) -> None:
        raise RuntimeError("on_retry is broken")


def test_hooks_run_in_order_with_each_outcome(
    kind: str, server: BeanstalkdProcess, client: Client
) -> None:
    recorder = Recorder()

    def work(message: Any) -> None:
        if message.body == "fail":
            raise RuntimeError("cannot")

    worker = make(kind, server, max_attempts=2, concurrency=1)
    worker.add_handler("t", handler(kind, work))
    worker.add_handler("slow", sleeper(kind, 30), time_limit=0.3, max_attempts=1)
    worker.add_middleware(recorder)
    put_raw(client, "t", [b"ok", b"fail"])
    put_raw(client, "slow", [b"slow"])
    with serving(worker):
        wait_for(lambda: worker.counters.processed == 1 and worker.counters.buried == 2)
    assert recorder.of("ok") == [
        ("before", "", "", False),
        ("on_success", "delete", "", False),
        ("after", "delete", "", False),
    ]
    attempt = [("before", "", "", False), ("on_error", "retry", "RuntimeError", False)]
    assert recorder.of("fail") == [
        *attempt,
        ("on_retry", "retry", "RuntimeError", False),
        ("after", "retry", "RuntimeError", False),
        ("before", "", "", False),
        ("on_error", "bury", "RuntimeError", False),
        ("on_bury", "bury", "RuntimeError", False),
        ("after", "bury", "RuntimeError", False),
    ]
    limit = ("bury", "TimeLimitExceeded", True)
    assert recorder.of("slow") == [
        ("before", "", "", False),
        ("on_time_limit", *limit),
        ("on_error", *limit),
        ("on_bury", *limit),
        ("after", *limit),
    ]
    if kind == "threaded":  # before runs in the handler's thread
        assert all(name.startswith("beanstalkm-worker-") for name in recorder.threads)


def test_a_failing_hook_loses_nothing(
    kind: str, server: BeanstalkdProcess, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    calls: list[Any] = []

    def work(message: Any) -> None:
        calls.append(message.body)
        if message.body == "fail" and calls.count("fail") == 1:
            raise RuntimeError("first time")

    worker = make(kind, server)
    worker.add_handler("t", handler(kind, work))
    worker.add_middleware(Broken())  # first: its failures must not stop the next hooks
    worker.add_middleware(recorder)
    put_raw(client, "t", [b"ok", b"fail"])
    with caplog.at_level(logging.ERROR, logger="beanstalkm.worker"), serving(worker):
        wait_for(lambda: worker.counters.processed == 2)
    assert sorted(calls) == ["fail", "fail", "ok"]
    assert worker.counters == WorkerCounters(processed=2, failed=1, retried=1)
    assert [name for name, *_ in recorder.of("ok")] == ["before", "on_success", "after"]
    assert client.queue.stats_tube("t")["current-jobs-ready"] == 0
    broken = [r for r in caplog.records if "hook" in r.getMessage()]
    assert {r.getMessage().split(" hook ")[1].split(" ")[0] for r in broken} == {
        "before",
        "after",
        "on_success",
        "on_retry",
    }
    assert all(r.exc_info and r.exc_info[0] is RuntimeError for r in broken)


def test_hooks_by_name_and_async_hooks(server: BeanstalkdProcess, client: Client) -> None:
    from beanstalkm import aio

    seen: list[str] = []

    async def handle(message: aio.Message) -> None:
        seen.append("handler")

    async def before(message: aio.Message) -> None:
        await asyncio.sleep(0)
        seen.append("before")

    worker: aio.Worker = make("asyncio", server, handlers={"t": handle})
    worker.add_hook("before", before)

    @worker.hook("after")
    def after(message: aio.Message, outcome: Outcome) -> None:
        seen.append(f"after {outcome.action}")

    put_raw(client, "t", [b"1"])
    with serving(worker):
        wait_for(lambda: worker.counters.processed == 1)
    assert seen == ["before", "handler", "after delete"]


def test_hooks_are_checked() -> None:
    worker = Worker("127.0.0.1", 1)
    with pytest.raises(ValueError, match="no hook called 'befor'"):
        worker.add_hook("befor", print)
    with pytest.raises(TypeError, match="async function"):

        @worker.hook("before")
        async def before(message: Any) -> None:
            pass

    with pytest.raises(TypeError, match="none of the hook methods"):
        worker.add_middleware(Middleware())


# -- per-handler settings ----------------------------------------------------------------


def test_route_settings_default_to_the_workers() -> None:
    worker = Worker("127.0.0.1", 1, max_attempts=3, backoff=(2, 2, 60), time_limit=30)
    worker.add_handler("plain", print)
    worker.add_handler("own", print, max_attempts=None, backoff="5,1,5,0", time_limit=None)
    worker.add_handler("some", print, time_limit=2.5)
    plain, own, some = (worker.handler_for(t) for t in ("plain", "own", "some"))
    assert plain == Route("plain", print, RetryPolicy(3, Backoff(2, 2, 60)), 30.0)
    assert own == Route("own", print, RetryPolicy(None, Backoff(5, 1, 5, 0)), None)
    assert some == Route("some", print, RetryPolicy(3, Backoff(2, 2, 60)), 2.5)
    assert WORKER_DEFAULT.value == "the worker's"
    with pytest.raises(ValueError, match="max_attempts"):
        worker.add_handler("bad", print, max_attempts=0)


def test_handler_settings_override_the_workers(
    kind: str, server: BeanstalkdProcess, client: Client
) -> None:
    def fail(message: Any) -> None:
        raise RuntimeError("always")

    worker = make(kind, server, max_attempts=3)
    worker.add_handler("once", handler(kind, fail), max_attempts=1)
    worker.add_handler("default", handler(kind, fail))
    worker.add_handler("later", handler(kind, fail), backoff=(7, 1, 7, 0))
    [once] = put_raw(client, "once", [b"x"])
    [default] = put_raw(client, "default", [b"x"])
    [later] = put_raw(client, "later", [b"x"])
    with serving(worker):
        wait_for(lambda: worker.counters.buried == 2 and worker.counters.retried >= 3)
    assert client.queue.stats_job(once)["reserves"] == 1  # buried at its first failure
    assert client.queue.stats_job(default)["reserves"] == 3  # the worker's 3 attempts
    stats = client.queue.stats_job(later)
    assert (stats["state"], stats["delay"]) == ("delayed", 7)  # its own backoff


# -- logging ----------------------------------------------------------------------------


def test_an_intended_retry_is_logged_in_one_line(
    kind: str, server: BeanstalkdProcess, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    def work(message: Any) -> None:
        raise Retry(delay=3)

    worker = make(kind, server, max_attempts=1 if kind == "asyncio" else 5)
    worker.add_handler("t", handler(kind, work))
    put_raw(client, "t", [b"x"])
    with caplog.at_level(logging.INFO, logger="beanstalkm.worker"), serving(worker):
        wait_for(lambda: worker.counters.retried + worker.counters.buried == 1)
    [record] = [r for r in caplog.records if "asked for by its handler" in r.getMessage()]
    assert record.exc_info is None
    assert "\n" not in record.getMessage()
    if kind == "threaded":
        assert record.levelno == logging.INFO
        assert record.getMessage().endswith("retry in 3s asked for by its handler (attempt 1 of 5)")
    else:  # at the last attempt: buried, said in one line too
        assert record.getMessage().endswith(
            "retry asked for by its handler at attempt 1 of 1; burying it"
        )
