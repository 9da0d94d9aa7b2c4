"""beanstalkm.aio.Worker against a real beanstalkd: handling, retries, burying,
touching, shutdown (stop(), cancellation, real signals in and out of process),
reconnecting, and 10,000 messages through 4 tasks.

The worker runs on an event loop of its own in a thread (``Running``), or on the
test's loop (``asyncio.run``); the test looks at the server with a blocking client.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import signal
import tempfile
import threading
import time
from collections import Counter
from typing import Any

import pytest

import beanstalkm
from beanstalkm import Client, aio
from beanstalkm.aio import Worker
from beanstalkm.testing import BeanstalkdProcess
from beanstalkm.worker import Bury, Retry, WorkerCounters

from ..cli.util import run_cli, wait_for
from ..test_parity import _public
from .test_signals import put_jobs

# Fast enough for tests: no backoff between retries, quick reconnects.
FAST: dict[str, Any] = {"backoff": (0, 1, 0), "reconnect_backoff": (0.02, 2, 0.2)}


class Running:
    """The worker running on an event loop of its own, in a thread."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.counters: WorkerCounters | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run)
        self.thread.start()
        wait_for(lambda: worker.running or not self.thread.is_alive())

    def _run(self) -> None:
        try:
            self.counters = asyncio.run(self.worker.run())
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float = 10) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the worker did not stop"

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.stop(grace=0)
        self.join(15)


def make_worker(server: BeanstalkdProcess, **kwargs: Any) -> Worker:
    return Worker(*server.address, **{**FAST, **kwargs})


def put_raw(client: Client, tube: str, bodies: list[bytes], **kwargs: Any) -> list[int]:
    client.queue.use(tube)
    return [client.queue.put(body, **kwargs) for body in bodies]


async def until(event: threading.Event, timeout: float = 10) -> None:
    """Wait on the loop for an event set by the test's thread."""
    deadline = time.monotonic() + timeout
    while not event.is_set():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


# -- configuration --------------------------------------------------------------------


def test_handlers_must_be_async_functions() -> None:
    async def handle(message: aio.Message) -> None:
        pass

    class Handler:
        async def __call__(self, message: aio.Message) -> None:
            pass

    worker = Worker("127.0.0.1", 1, handlers={"a": handle})

    @worker.handler("b")
    async def handle_b(message: aio.Message) -> None:
        pass

    assert handle_b.__name__ == "handle_b"  # the decorator gives the function back
    worker.add_handler("c", functools.partial(handle))
    worker.add_handler("d", Handler())
    assert worker.tubes == ["a", "b", "c", "d"]
    with pytest.raises(TypeError, match="must be an async function"):
        worker.add_handler("e", print)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"async def.*asyncio\.to_thread"):

        @worker.handler("f")
        def plain(message: aio.Message) -> None:
            pass

    with pytest.raises(TypeError, match="not callable"):
        worker.add_handler("g", "print")  # type: ignore[arg-type]
    with pytest.raises(beanstalkm.InvalidArgument):
        worker.add_handler("no spaces", handle)
    assert worker.tubes == ["a", "b", "c", "d"]
    assert aio.Worker is Worker


def test_same_interface_as_the_threaded_worker() -> None:
    assert _public(Worker) == _public(beanstalkm.Worker)
    assert inspect.iscoroutinefunction(Worker.run)
    with pytest.raises(ValueError, match="concurrency"):
        Worker(concurrency=0)
    with pytest.raises(ValueError, match="reserve_timeout"):
        Worker(reserve_timeout=0)
    with pytest.raises(ValueError, match="no handlers"):
        asyncio.run(Worker().run())


# -- the happy path -------------------------------------------------------------------


def test_handles_and_deletes_from_several_tubes(server: BeanstalkdProcess, client: Client) -> None:
    seen: list[tuple[str, Any]] = []
    worker = make_worker(server, concurrency=2)

    @worker.handler("emails")
    async def email(message: aio.Message) -> None:
        await asyncio.sleep(0)
        seen.append(("emails", message.body))

    async def sms(message: aio.Message) -> None:
        seen.append(("sms", message.body))

    worker.add_handler("sms", sms)
    for n in range(10):
        client.put({"n": n}, tube="emails")
    put_raw(client, "sms", [b"text %d" % n for n in range(5)])
    put_raw(client, "default", [b"not ours"])  # the worker does not watch default
    with Running(worker) as run:
        wait_for(lambda: worker.counters.processed == 15)
    assert run.error is None
    assert run.counters == WorkerCounters(processed=15)
    assert sorted(b["n"] for t, b in seen if t == "emails") == list(range(10))
    assert sorted(b for t, b in seen if t == "sms") == [f"text {n}" for n in range(5)]
    assert client.queue.stats_tube("default")["current-jobs-ready"] == 1
    stats = client.queue.stats()
    assert stats["current-jobs-reserved"] == 0
    assert stats["cmd-delete"] == 15


# -- failures: retry, backoff, bury ---------------------------------------------------


def test_failures_are_retried_then_buried(
    server: BeanstalkdProcess, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    async def fail(message: aio.Message) -> None:
        calls.append(message.uid)
        raise RuntimeError("boom")

    worker = make_worker(server, handlers={"t": fail}, max_attempts=3)
    [uid] = put_raw(client, "t", [b"job"])
    with caplog.at_level(logging.WARNING, logger="beanstalkm.worker"), Running(worker):
        wait_for(lambda: worker.counters.buried == 1)
    assert calls == [uid, uid, uid]
    stats = client.queue.stats_job(uid)
    assert stats["state"] == "buried"
    assert (stats["reserves"], stats["releases"], stats["buries"]) == (3, 2, 1)
    assert worker.counters == WorkerCounters(failed=3, retried=2, buried=1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("attempt 1 of 3); retrying in 0s" in m for m in messages)
    assert any("attempt 3 of 3); burying it" in m for m in messages)
    assert all(
        r.exc_info and r.exc_info[0] is RuntimeError
        for r in caplog.records
        if "failed" in r.getMessage()
    )


def test_backoff_delays_the_retry(server: BeanstalkdProcess, client: Client) -> None:
    attempts: list[float] = []
    seen: list[tuple[int, int]] = []

    async def flaky(message: aio.Message) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise ValueError("first time fails")
        stats = await message.stats()
        assert stats is not None
        seen.append((stats["releases"], stats["delay"]))

    worker = make_worker(server, handlers={"t": flaky}, backoff=(1, 2, 60))
    put_raw(client, "t", [b"job"])
    with Running(worker):
        wait_for(lambda: worker.counters.processed == 1)
    assert attempts[1] - attempts[0] >= 0.9
    assert seen == [(1, 1)]  # released once, with a delay of 1 s
    assert worker.counters == WorkerCounters(processed=1, failed=1, retried=1)


def test_attempts_survive_worker_restarts(server: BeanstalkdProcess, client: Client) -> None:
    """The attempt number is the job's reserves counter, kept by the server: a job that
    failed once in a worker that was then stopped is buried by the next worker after
    two more attempts, with max_attempts=3."""

    async def fail(message: aio.Message) -> None:
        raise RuntimeError("still broken")

    [uid] = put_raw(client, "t", [b"job"])
    first = make_worker(server, handlers={"t": fail}, max_attempts=3, backoff=(1, 1, 1))
    with Running(first):
        wait_for(lambda: first.counters.retried == 1)
    assert first.counters == WorkerCounters(failed=1, retried=1)
    second = make_worker(server, handlers={"t": fail}, max_attempts=3, backoff=(0, 1, 0))
    with Running(second):
        wait_for(lambda: second.counters.buried == 1)
    assert second.counters == WorkerCounters(failed=2, retried=1, buried=1)
    stats = client.queue.stats_job(uid)
    assert (stats["state"], stats["reserves"]) == ("buried", 3)


def test_retry_and_bury_from_the_handler(server: BeanstalkdProcess, client: Client) -> None:
    async def handle(message: aio.Message) -> None:
        if message.body == "retry":
            raise Retry(delay=30)
        raise Bury("bad input")

    worker = make_worker(server, handlers={"t": handle}, max_attempts=5)
    retry, bury = put_raw(client, "t", [b"retry", b"bury"])
    with Running(worker):
        wait_for(lambda: worker.counters.retried + worker.counters.buried == 2)
    stats = client.queue.stats_job(retry)
    assert (stats["state"], stats["delay"]) == ("delayed", 30)
    assert client.queue.stats_job(bury)["state"] == "buried"  # on its first attempt
    assert worker.counters == WorkerCounters(failed=2, retried=1, buried=1)


def test_handler_may_settle_the_job_itself(server: BeanstalkdProcess, client: Client) -> None:
    async def handle(message: aio.Message) -> None:
        if message.body == "delete":
            await message.delete()
        elif message.body == "bury":
            await message.bury()
        else:
            await message.release(delay=60)
            raise RuntimeError("and then fails")

    worker = make_worker(server, handlers={"t": handle})
    deleted, buried, released = put_raw(client, "t", [b"delete", b"bury", b"release"])
    with Running(worker):
        wait_for(lambda: worker.counters.processed == 1 and worker.counters.failed == 1)
        wait_for(lambda: client.queue.stats_tube("t")["current-jobs-reserved"] == 0)
    assert client.queue.peek(deleted) is None
    assert client.queue.stats_job(buried)["state"] == "buried"
    assert client.queue.stats_job(released)["state"] == "delayed"
    stats = client.queue.stats()
    assert (stats["cmd-delete"], stats["cmd-bury"], stats["cmd-release"]) == (1, 1, 1)
    assert worker.counters == WorkerCounters(processed=1, failed=1)


def test_a_handlers_own_cancellation_is_a_failure(
    server: BeanstalkdProcess, client: Client
) -> None:
    """A CancelledError that the handler lets out (not the worker's, at shutdown) is a
    failed attempt, and the slot goes on."""

    async def handle(message: aio.Message) -> None:
        if message.body == "cancel":
            raise asyncio.CancelledError

    worker = make_worker(server, handlers={"t": handle}, max_attempts=1)
    cancelled, fine = put_raw(client, "t", [b"cancel", b"fine"])
    with Running(worker):
        wait_for(lambda: worker.counters.buried == 1 and worker.counters.processed == 1)
    assert client.queue.stats_job(cancelled)["state"] == "buried"
    assert client.queue.peek(fine) is None
    assert worker.counters == WorkerCounters(processed=1, failed=1, buried=1)


def test_run_twice_at_once(server: BeanstalkdProcess) -> None:
    async def handle(message: aio.Message) -> None:
        pass

    async def main() -> None:
        worker = make_worker(server, handlers={"t": handle})
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(0.05)
        with pytest.raises(RuntimeError, match="already running"):
            await worker.run()
        with pytest.raises(RuntimeError, match="running worker"):
            worker.add_handler("u", handle)
        worker.stop()
        assert await asyncio.wait_for(task, 5) == WorkerCounters()

    asyncio.run(main())


# -- keeping long jobs alive ----------------------------------------------------------


def test_long_jobs_are_touched(server: BeanstalkdProcess, client: Client) -> None:
    """A job with a 2 s time-to-run survives a handler of 3 s; a second slot is there
    to steal it if its time-to-run ran out."""
    calls: list[int] = []
    left: list[int] = []

    async def slow(message: aio.Message) -> None:
        calls.append(message.uid)
        await asyncio.sleep(3)
        stats = await message.stats()  # the handler may use the connection too
        assert stats is not None
        left.append(stats["timeouts"])

    worker = make_worker(server, handlers={"t": slow}, concurrency=2, touch_margin=1)
    client.queue.use("t")
    uid = client.queue.put(b"long", ttr=2)
    with Running(worker):
        wait_for(lambda: worker.counters.processed == 1, timeout=15)
    assert calls == [uid]
    assert left == [0]
    assert client.queue.stats()["job-timeouts"] == 0
    assert worker.counters.touched >= 2
    assert client.queue.stats()["cmd-touch"] == worker.counters.touched


# -- shutdown ------------------------------------------------------------------------


def test_stop_lets_in_flight_jobs_finish(server: BeanstalkdProcess, client: Client) -> None:
    started = threading.Event()
    finish = threading.Event()

    async def handle(message: aio.Message) -> None:
        started.set()
        await until(finish)

    worker = make_worker(server, handlers={"t": handle}, grace=10, concurrency=2)
    [first] = put_raw(client, "t", [b"1"])
    run = Running(worker)
    try:
        assert started.wait(10)
        worker.stop()  # from another thread
        assert worker.stopping
        time.sleep(0.2)
        assert run.thread.is_alive()  # waiting for the job in flight
        finish.set()
        run.join()
    finally:
        finish.set()
        worker.stop(grace=0)
        run.join()
    assert run.counters == WorkerCounters(processed=1)
    assert client.queue.peek(first) is None


def test_a_stop_does_not_wait_for_a_reserve(server: BeanstalkdProcess, client: Client) -> None:
    """Slots waiting in a reserve are cancelled (a long reserve_timeout or not)."""

    async def handle(message: aio.Message) -> None:
        pass

    worker = make_worker(server, handlers={"t": handle}, concurrency=3, reserve_timeout=60)
    run = Running(worker)
    wait_for(lambda: client.queue.stats()["current-waiting"] == 3)
    began = time.monotonic()
    worker.stop()
    run.join()
    assert time.monotonic() - began < 1
    assert run.counters == WorkerCounters()
    wait_for(lambda: client.queue.stats()["current-connections"] == 1)  # ours


def test_jobs_not_done_within_grace_are_released_and_cancelled(
    server: BeanstalkdProcess, client: Client
) -> None:
    started = threading.Event()
    outcome: list[str] = []

    async def handle(message: aio.Message) -> None:
        started.set()
        try:
            await asyncio.sleep(20)
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")

    worker = make_worker(server, handlers={"t": handle}, grace=0.3)
    [uid] = put_raw(client, "t", [b"long"])
    run = Running(worker)
    assert started.wait(10)
    began = time.monotonic()
    worker.stop()
    run.join()
    assert 0.25 < time.monotonic() - began < 3
    assert outcome == ["cancelled"]
    stats = client.queue.stats_job(uid)
    assert (stats["state"], stats["releases"]) == ("ready", 1)
    assert run.counters == WorkerCounters(released=1)
    assert client.queue.stats()["cmd-delete"] == 0


def test_second_stop_is_immediate(server: BeanstalkdProcess, client: Client) -> None:
    started = threading.Event()

    async def handle(message: aio.Message) -> None:
        started.set()
        await asyncio.sleep(20)

    worker = make_worker(server, handlers={"t": handle}, grace=60)
    [uid] = put_raw(client, "t", [b"long"])
    run = Running(worker)
    assert started.wait(10)
    worker.stop()
    time.sleep(0.1)
    assert run.thread.is_alive()
    began = time.monotonic()
    worker.stop(grace=0)
    run.join()
    assert time.monotonic() - began < 1
    assert client.queue.stats_job(uid)["state"] == "ready"
    assert run.counters == WorkerCounters(released=1)


def test_base_exception_in_handler_releases_and_stops(
    server: BeanstalkdProcess, client: Client
) -> None:
    calls: list[int] = []

    async def handle(message: aio.Message) -> None:
        calls.append(message.uid)
        raise SystemExit(3)

    worker = make_worker(server, handlers={"t": handle}, concurrency=2)
    [uid] = put_raw(client, "t", [b"x"])
    run = Running(worker)
    run.join()
    # run() raises it (out of asyncio.run), as if the handler ran there
    assert isinstance(run.error, SystemExit)
    assert run.error.code == 3
    assert calls == [uid]  # the worker stopped before another slot could run it
    assert worker.counters.released == 1
    wait_for(lambda: client.queue.stats_job(uid)["state"] == "ready")
    assert not worker.running


def test_stop_from_a_handler_and_cancelling_run(server: BeanstalkdProcess, client: Client) -> None:
    """On the worker's own loop: stop() from a handler; then a run() cancelled outright
    stops at once, and the server releases the job in flight with the connection."""
    put_raw(client, "t", [b"%d" % n for n in range(5)])

    async def main() -> tuple[WorkerCounters, list[int]]:
        worker = make_worker(server)
        done: list[int] = []

        @worker.handler("t")
        async def handle(message: aio.Message) -> None:
            done.append(message.body)
            if len(done) == 3:
                worker.stop()

        counters = await asyncio.wait_for(worker.run(), 10)

        blocked = asyncio.Event()
        hung = make_worker(server, grace=60)

        @hung.handler("t")
        async def hang(message: aio.Message) -> None:
            blocked.set()
            await asyncio.sleep(60)

        task = asyncio.create_task(hung.run())
        await asyncio.wait_for(blocked.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
        assert not hung.running
        return counters, done

    counters, done = asyncio.run(main())
    assert counters == WorkerCounters(processed=3)
    assert done == [0, 1, 2]
    wait_for(lambda: client.queue.stats_tube("t")["current-jobs-reserved"] == 0)
    assert client.queue.stats_tube("t")["current-jobs-ready"] == 2


def test_signals_on_the_main_thread(server: BeanstalkdProcess, client: Client) -> None:
    """run() on the main thread handles SIGTERM (a graceful stop) and puts the previous
    handler back."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are for the main thread")
    before = signal.getsignal(signal.SIGTERM)
    put_raw(client, "t", [b"1"])

    async def main() -> WorkerCounters:
        started = asyncio.Event()
        worker = make_worker(server, grace=10)

        @worker.handler("t")
        async def handle(message: aio.Message) -> None:
            started.set()
            await asyncio.sleep(0.3)

        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(started.wait(), 10)
        # the loop's handler: without it the signal would end the test run
        assert signal.getsignal(signal.SIGTERM) is not before
        signal.raise_signal(signal.SIGTERM)
        return await asyncio.wait_for(task, 10)

    assert asyncio.run(main()) == WorkerCounters(processed=1)
    assert signal.getsignal(signal.SIGTERM) is before


def test_signals_are_left_alone_off_the_main_thread(server: BeanstalkdProcess) -> None:
    async def handle(message: aio.Message) -> None:
        pass

    before = signal.getsignal(signal.SIGTERM)
    worker = make_worker(server, handlers={"t": handle})
    with Running(worker):
        assert signal.getsignal(signal.SIGTERM) is before


# -- beanstalkm worker with async handlers (signals: test_signals.py, both workers) --


def test_cli_async_mapping_and_mixed_handlers(
    spawn: Any, client: Client, server: BeanstalkdProcess
) -> None:
    put_jobs(client, 1, sleep=0, tube="fail")
    worker = spawn("tests.worker.handlers:AHANDLERS", "--max-attempts", "2", "--backoff", "0,1,0")
    wait_for(lambda: client.queue.stats_tube("fail")["current-jobs-buried"] == 1)
    worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish()
    assert code == 0
    assert (counters["failed"], counters["retried"], counters["buried"]) == (2, 1, 1)
    assert worker.said("RuntimeError: cannot handle")
    result = run_cli(server.address, "worker", "tests.worker.handlers:MIXED")
    assert result.returncode == 2
    assert "mixes async def handlers and plain ones" in result.stderr


# -- the server going away ------------------------------------------------------------


def test_waits_for_a_server_that_is_down(server: BeanstalkdProcess, client: Client) -> None:
    async def handle(message: aio.Message) -> None:
        pass

    server.stop()
    worker = make_worker(server, handlers={"t": handle})
    with Running(worker):
        wait_for(lambda: worker.counters.connection_errors >= 2)
        server.start()
        put_raw(client, "t", [b"after"])
        wait_for(lambda: worker.counters.processed == 1)


@pytest.mark.parametrize("how", ["kill", "stop"])
def test_server_killed_mid_run_and_restarted(how: str) -> None:
    """With a binlog the jobs outlive the server: every job is handled at least once
    and deleted once, whatever was in flight when the server went."""
    total = 400
    with tempfile.TemporaryDirectory() as binlog:
        server = BeanstalkdProcess(["-b", binlog])
        server.start()
        try:
            client = Client(*server.address, timeout=5)
            put_raw(client, "t", [b"%d" % n for n in range(total)])
            seen: Counter[int] = Counter()

            async def handle(message: aio.Message) -> None:
                await asyncio.sleep(0.002)
                seen[int(message.body)] += 1

            worker = make_worker(server, handlers={"t": handle}, concurrency=4)
            with Running(worker):
                wait_for(lambda: worker.counters.processed >= 100)
                if how == "kill":
                    server.signal(signal.SIGKILL)
                server.stop()
                wait_for(lambda: worker.counters.connection_errors >= 1)
                server.start()

                def drained() -> bool:
                    stats = client.queue.stats_tube("t")
                    busy = stats["current-jobs-ready"] + stats["current-jobs-reserved"]
                    return busy == 0 and stats["current-jobs-delayed"] == 0

                wait_for(drained, timeout=30)
            counters = worker.counters
            client.close()
        finally:
            server.stop()
    print(f"\n{how}: {counters}, handled twice: {sum(1 for n in seen.values() if n > 1)}")
    assert set(seen) == set(range(total))  # nothing lost
    # handled twice: at most the jobs in flight when the server went (4 slots)
    assert sum(n - 1 for n in seen.values()) <= 4
    # Every job was deleted once by the server. A delete whose reply was cut off by
    # the kill counts as lost, not processed: so never more than `total` processed.
    assert counters.processed <= total
    assert counters.processed + counters.lost >= total
    assert counters.failed == counters.buried == 0


# -- volume ---------------------------------------------------------------------------


def test_ten_thousand_messages_through_four_tasks(
    server: BeanstalkdProcess, client: Client
) -> None:
    total = 10_000
    began = time.monotonic()
    put_raw(client, "bulk", [b"%d" % n for n in range(total)], ttr=3600)
    put_time = time.monotonic() - began
    seen: Counter[int] = Counter()

    async def handle(message: aio.Message) -> None:
        seen[message.body] += 1

    worker = make_worker(server, handlers={"bulk": handle}, concurrency=4)
    began = time.monotonic()
    with Running(worker):
        wait_for(lambda: worker.counters.processed == total, timeout=60)
        elapsed = time.monotonic() - began
    print(f"\n10,000 messages: put in {put_time:.2f}s, through 4 tasks in {elapsed:.2f}s")
    assert set(seen) == set(range(total))
    assert all(n == 1 for n in seen.values())
    stats = client.queue.stats()
    assert stats["cmd-delete"] == total  # not one delete more: none twice
    assert stats["current-jobs-ready"] == stats["current-jobs-reserved"] == 0
    assert worker.counters == WorkerCounters(processed=total)
