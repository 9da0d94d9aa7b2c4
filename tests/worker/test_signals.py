"""``beanstalkm worker`` in a subprocess: SIGTERM and SIGINT shutdowns, handler maps."""

from __future__ import annotations

import json
import signal
import time
from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess

from ..cli.util import run_cli, wait_for


def put_jobs(client: Client, count: int, sleep: float, tube: str = "t") -> list[int]:
    client.queue.use(tube)
    return [client.queue.put(json.dumps({"n": n, "sleep": sleep}), ttr=120) for n in range(count)]


SLOW = ("tests.worker.handlers:slow", "--tube", "t", "--concurrency", "2")
#: The same handler as ``async def``: the command line then runs the asyncio worker.
ASLOW = ("tests.worker.handlers:aslow", "--tube", "t", "--concurrency", "2")


@pytest.fixture(params=["threads", "asyncio"])
def slow(request: pytest.FixtureRequest) -> tuple[str, ...]:
    """A slow handler for each worker: threads, or asyncio tasks."""
    return SLOW if request.param == "threads" else ASLOW


def test_sigterm_finishes_in_flight_jobs(spawn: Any, client: Client, slow: tuple[str, ...]) -> None:
    put_jobs(client, 4, sleep=1.0)
    worker = spawn(*slow, "--grace", "20")
    wait_for(lambda: len(worker.lines("start")) == 2)
    worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish()
    assert code == 0
    started = worker.lines("start")
    assert sorted(worker.lines("done")) == sorted(started)  # both finished
    assert counters["processed"] == 2
    assert counters["released"] == 0
    stats = client.queue.stats_tube("t")
    # the other two were never reserved: stopping means no more reserving
    assert (stats["current-jobs-ready"], stats["current-jobs-reserved"]) == (2, 0)
    assert stats["cmd-delete"] == 2
    assert worker.said("SIGTERM: stopping")
    if slow is ASLOW:
        assert worker.said("slot(s) (asyncio tasks)")


def test_sigterm_releases_what_cannot_finish_in_time(
    spawn: Any, client: Client, slow: tuple[str, ...]
) -> None:
    ids = put_jobs(client, 3, sleep=60)
    worker = spawn(*slow, "--grace", "0.5")
    wait_for(lambda: len(worker.lines("start")) == 2)
    began = time.monotonic()
    worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish()
    assert code == 0
    assert time.monotonic() - began < 5
    assert worker.lines("done") == []
    if slow is ASLOW:  # asyncio handlers are cancelled before their jobs are released
        assert sorted(worker.lines("cancelled")) == sorted(worker.lines("start"))
    assert counters["released"] == 2
    for uid in ids:
        assert client.queue.stats_job(uid)["state"] == "ready"
    assert worker.said("released unfinished at shutdown")


def test_second_sigint_stops_at_once(spawn: Any, client: Client, slow: tuple[str, ...]) -> None:
    put_jobs(client, 2, sleep=60)
    worker = spawn(*slow, "--grace", "60")
    wait_for(lambda: len(worker.lines("start")) == 2)
    worker.proc.send_signal(signal.SIGINT)
    wait_for(lambda: worker.said("SIGINT: stopping"))
    assert worker.proc.poll() is None  # waiting for the jobs, up to 60 s
    began = time.monotonic()
    worker.proc.send_signal(signal.SIGINT)
    code, counters = worker.finish()
    assert time.monotonic() - began < 5
    assert code == 0
    assert counters["released"] == 2
    assert worker.said("SIGINT again: stopping now")
    assert client.queue.stats_tube("t")["current-jobs-ready"] == 2


def test_handler_mapping_and_retry_options(spawn: Any, client: Client) -> None:
    put_jobs(client, 1, sleep=0, tube="fail")
    worker = spawn("tests.worker.handlers:HANDLERS", "--max-attempts", "2", "--backoff", "0,1,0")
    wait_for(lambda: client.queue.stats_tube("fail")["current-jobs-buried"] == 1)
    worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish()
    assert code == 0
    assert (counters["failed"], counters["retried"], counters["buried"]) == (2, 1, 1)
    assert worker.said("RuntimeError: cannot handle")  # tracebacks are logged


def test_worker_usage_errors(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "worker", "tests.worker.handlers:slow")
    assert result.returncode == 2
    assert "say which tube(s)" in result.stderr
    result = run_cli(server.address, "worker", "tests.worker.nothing:slow", "-t", "x")
    assert result.returncode == 2
    assert "cannot import tests.worker.nothing" in result.stderr
    result = run_cli(server.address, "worker", "tests.worker.handlers:missing", "-t", "x")
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "beanstalkm worker: tests.worker.handlers has no missing",
    )
    result = run_cli(server.address, "worker", "no_colon", "-t", "x")
    assert result.returncode == 2
    result = run_cli(
        server.address, "worker", "tests.worker.handlers:slow", "-t", "x", "--backoff", "1,2"
    )
    assert result.returncode == 2
    assert "backoff" in result.stderr
