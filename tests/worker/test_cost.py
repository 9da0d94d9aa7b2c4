"""What a worker asks of the server, counted by the server (both workers): a job that
succeeds costs its reserve and its delete, sent together; ``stats-job`` only when its
answer is needed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

import beanstalkm
from beanstalkm import Client, aio
from beanstalkm.testing import BeanstalkdProcess

from ..cli.util import wait_for
from .test_aioworker import Running
from .test_worker import running

FAST: dict[str, Any] = {"backoff": (0, 1, 0), "reconnect_backoff": (0.02, 2, 0.2)}


def run_worker(
    kind: str,
    server: BeanstalkdProcess,
    tubes: list[str],
    handle: Callable[[Any], None],
    until: Callable[[], bool],
    sleep: float = 0,
    **kwargs: Any,
) -> None:
    """Run a worker of ``kind`` on ``tubes`` until ``until()``; ``handle`` runs per job,
    after ``sleep`` seconds of work."""
    if kind == "threaded":

        def work(message: Any) -> None:
            time.sleep(sleep)
            handle(message)

        worker: Any = beanstalkm.Worker(*server.address, **{**FAST, **kwargs})
        for tube in tubes:
            worker.add_handler(tube, work)
        with running(worker):
            wait_for(until)
    else:

        async def handler(message: aio.Message) -> None:
            await asyncio.sleep(sleep)
            handle(message)

        worker = aio.Worker(*server.address, **{**FAST, **kwargs})
        for tube in tubes:
            worker.add_handler(tube, handler)
        with Running(worker):
            wait_for(until)


def stats(client: Client) -> dict[str, int]:
    raw = client.queue.stats()
    return {
        "cmd-stats-job": raw["cmd-stats-job"],
        "cmd-delete": raw["cmd-delete"],
        "cmd-release": raw["cmd-release"],
        "cmd-bury": raw["cmd-bury"],
    }


@pytest.fixture(params=["threaded", "asyncio"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_successful_job_costs_no_stats_job(
    kind: str, server: BeanstalkdProcess, client: Client
) -> None:
    client.put_many([{"n": n} for n in range(20)], tube="one")
    run_worker(kind, server, ["one"], lambda m: None, lambda: stats(client)["cmd-delete"] == 20)
    assert stats(client) == {"cmd-stats-job": 0, "cmd-delete": 20, "cmd-release": 0, "cmd-bury": 0}


def test_several_tubes_ask_each_jobs_tube(
    kind: str, server: BeanstalkdProcess, client: Client
) -> None:
    client.put_many([{"n": n} for n in range(5)], tube="a")
    client.put_many([{"n": n} for n in range(5)], tube="b")
    seen: list[str] = []
    run_worker(
        kind,
        server,
        ["a", "b"],
        lambda m: seen.append(str(m.tube)),
        lambda: stats(client)["cmd-delete"] == 10,
    )
    assert stats(client)["cmd-stats-job"] == 10
    assert sorted(seen) == ["a"] * 5 + ["b"] * 5


def test_a_failure_asks_its_attempt_once(
    kind: str, server: BeanstalkdProcess, client: Client
) -> None:
    client.put_many([{"n": 1}], tube="f", priority=7)

    def fail(message: Any) -> None:
        raise ValueError("no")

    run_worker(kind, server, ["f"], fail, lambda: stats(client)["cmd-bury"] == 1, max_attempts=2)
    assert stats(client) == {"cmd-stats-job": 2, "cmd-delete": 0, "cmd-release": 1, "cmd-bury": 1}
    client.queue.use("f")
    buried = client.queue.peek_buried()
    assert buried is not None
    assert client.queue.stats_job(buried.uid)["pri"] == 7  # kept through release and bury


def test_a_long_job_is_looked_at_then_touched(
    kind: str, server: BeanstalkdProcess, client: Client
) -> None:
    client.put_many([{"n": 1}], tube="long", ttr=1)
    run_worker(
        kind, server, ["long"], lambda m: None, lambda: stats(client)["cmd-delete"] == 1, sleep=1.8
    )
    final = client.queue.stats()
    assert final["cmd-stats-job"] == 1  # its time-to-run learned once
    assert final["cmd-touch"] >= 2
    assert final["job-timeouts"] == 0
