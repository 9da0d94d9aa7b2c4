"""beanstalkm.Worker against a real beanstalkd: handling, retries, burying, touching,
shutdown, reconnecting, and 10,000 messages through 4 slots."""

from __future__ import annotations

import contextlib
import logging
import signal
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

import beanstalkm
from beanstalkm import Client, Message, Worker
from beanstalkm.testing import BeanstalkdProcess
from beanstalkm.worker import Bury, Retry, WorkerCounters, handlers_for

from ..cli.util import wait_for

# Fast enough for tests: no backoff between retries, quick reconnects.
FAST: dict[str, Any] = {"backoff": (0, 1, 0), "reconnect_backoff": (0.02, 2, 0.2)}


@contextlib.contextmanager
def running(worker: Worker) -> Iterator[dict[str, WorkerCounters]]:
    """Run the worker in a thread for the block; stop it (at once) afterwards."""
    result: dict[str, WorkerCounters] = {}
    thread = threading.Thread(target=lambda: result.update(counters=worker.run()))
    thread.start()
    try:
        wait_for(lambda: worker.running)
        yield result
    finally:
        worker.stop(grace=0)
        thread.join(15)
        assert not thread.is_alive(), "the worker did not stop"


def make_worker(server: BeanstalkdProcess, **kwargs: Any) -> Worker:
    return Worker(*server.address, **{**FAST, **kwargs})


def put_raw(client: Client, tube: str, bodies: list[bytes], **kwargs: Any) -> list[int]:
    client.queue.use(tube)
    return [client.queue.put(body, **kwargs) for body in bodies]


# -- configuration --------------------------------------------------------------------


def test_handler_registration() -> None:
    worker = Worker("127.0.0.1", 1, handlers={"a": print})

    @worker.handler("b")
    def handle_b(message: Message) -> None:
        pass

    assert handle_b.__name__ == "handle_b"  # the decorator gives the function back
    assert worker.tubes == ["a", "b"]
    with pytest.raises(beanstalkm.InvalidArgument):
        worker.add_handler("no spaces", print)
    with pytest.raises(TypeError, match="not callable"):
        worker.add_handler("c", "print")  # type: ignore[arg-type]
    assert handlers_for(["x", "y"], print) == {"x": print, "y": print}


def test_bad_configuration() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Worker(concurrency=0)
    with pytest.raises(ValueError, match="reserve_timeout"):
        Worker(reserve_timeout=0)
    with pytest.raises(ValueError, match="no handlers"):
        Worker().run()


def test_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEANSTALKD_URL", raising=False)
    assert (Worker().host, Worker().port) == ("127.0.0.1", 11300)
    monkeypatch.setenv("BEANSTALKD_URL", "beanstalk://10.1.2.3:4567")
    assert (Worker().host, Worker().port) == ("10.1.2.3", 4567)
    assert (Worker("h").host, Worker("h").port) == ("h", 11300)
    assert Worker(url="beanstalk://x:12").port == 12


# -- the happy path -------------------------------------------------------------------


def test_handles_and_deletes_from_several_tubes(server: BeanstalkdProcess, client: Client) -> None:
    seen: list[tuple[str, Any]] = []
    lock = threading.Lock()
    worker = make_worker(server, concurrency=2)

    @worker.handler("emails")
    def email(message: Message) -> None:
        with lock:
            seen.append(("emails", message.body))

    worker.add_handler("sms", lambda m: seen.append(("sms", m.body)))
    for n in range(10):
        client.put({"n": n}, tube="emails")
    put_raw(client, "sms", [b"text %d" % n for n in range(5)])
    put_raw(client, "default", [b"not ours"])  # the worker does not watch default
    with running(worker):
        wait_for(lambda: worker.counters.processed == 15)
    assert sorted(b["n"] for t, b in seen if t == "emails") == list(range(10))
    assert sorted(b for t, b in seen if t == "sms") == [f"text {n}" for n in range(5)]
    assert client.queue.stats_tube("default")["current-jobs-ready"] == 1
    stats = client.queue.stats()
    assert stats["current-jobs-reserved"] == 0
    assert stats["cmd-delete"] == 15
    assert worker.counters == WorkerCounters(processed=15)


def test_run_returns_the_counters(server: BeanstalkdProcess, client: Client) -> None:
    worker = make_worker(server, handlers={"t": lambda m: None})
    put_raw(client, "t", [b"1"])
    with running(worker) as result:
        wait_for(lambda: worker.counters.processed == 1)
        assert worker.running
    assert not worker.running
    assert result["counters"].processed == 1


# -- failures: retry, backoff, bury ---------------------------------------------------


def test_failures_are_retried_then_buried(
    server: BeanstalkdProcess, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[int] = []

    def fail(message: Message) -> None:
        calls.append(message.uid)
        raise RuntimeError("boom")

    worker = make_worker(server, handlers={"t": fail}, max_attempts=3)
    [uid] = put_raw(client, "t", [b"job"])
    with caplog.at_level(logging.WARNING, logger="beanstalkm.worker"), running(worker):
        wait_for(lambda: worker.counters.buried == 1)
    assert calls == [uid, uid, uid]
    stats = client.queue.stats_job(uid)
    assert stats["state"] == "buried"
    assert (stats["reserves"], stats["releases"], stats["buries"]) == (3, 2, 1)
    assert worker.counters == WorkerCounters(failed=3, retried=2, buried=1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("attempt 1 of 3); retrying in 0s" in m for m in messages)
    assert any("attempt 3 of 3); burying it" in m for m in messages)
    # the traceback goes with the log record
    assert all(
        r.exc_info and r.exc_info[0] is RuntimeError
        for r in caplog.records
        if "failed" in r.getMessage()
    )


def test_backoff_delays_the_retry(server: BeanstalkdProcess, client: Client) -> None:
    attempts: list[float] = []
    seen: list[tuple[int, int]] = []

    def flaky(message: Message) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 1:
            raise ValueError("first time fails")
        stats = message.stats()
        assert stats is not None
        seen.append((stats["releases"], stats["delay"]))

    worker = make_worker(server, handlers={"t": flaky}, backoff=(1, 2, 60))
    put_raw(client, "t", [b"job"])
    with running(worker):
        wait_for(lambda: worker.counters.processed == 1)
    assert attempts[1] - attempts[0] >= 0.9
    assert seen == [(1, 1)]  # released once, with a delay of 1 s
    assert worker.counters == WorkerCounters(processed=1, failed=1, retried=1)


def test_attempts_survive_worker_restarts(server: BeanstalkdProcess, client: Client) -> None:
    """The attempt number is the job's reserves counter, kept by the server: a job
    that already failed twice elsewhere gets one more try with max_attempts=3."""
    [uid] = put_raw(client, "t", [b"job"])
    client.queue.watch("t")
    for _ in range(2):  # two earlier attempts, by "another worker"
        client.queue.reserve_job(uid).release()

    def fail(message: Message) -> None:
        raise RuntimeError("still broken")

    worker = make_worker(server, handlers={"t": fail}, max_attempts=3)
    with running(worker):
        wait_for(lambda: worker.counters.buried == 1)
    assert worker.counters == WorkerCounters(failed=1, buried=1)
    assert client.queue.stats_job(uid)["reserves"] == 3


def test_retry_and_bury_from_the_handler(server: BeanstalkdProcess, client: Client) -> None:
    def handle(message: Message) -> None:
        if message.body == "retry":
            raise Retry(delay=30)
        raise Bury("bad input")

    worker = make_worker(server, handlers={"t": handle}, max_attempts=5)
    retry, bury = put_raw(client, "t", [b"retry", b"bury"])
    with running(worker):
        wait_for(lambda: worker.counters.failed == 2)
        wait_for(lambda: worker.counters.retried + worker.counters.buried == 2)
    stats = client.queue.stats_job(retry)
    assert (stats["state"], stats["delay"]) == ("delayed", 30)
    assert client.queue.stats_job(bury)["state"] == "buried"  # on its first attempt
    assert worker.counters == WorkerCounters(failed=2, retried=1, buried=1)


def test_handler_may_settle_the_job_itself(server: BeanstalkdProcess, client: Client) -> None:
    def handle(message: Message) -> None:
        if message.body == "delete":
            message.delete()
        elif message.body == "bury":
            message.bury()
        else:
            message.release(delay=60)
            raise RuntimeError("and then fails")

    worker = make_worker(server, handlers={"t": handle})
    deleted, buried, released = put_raw(client, "t", [b"delete", b"bury", b"release"])
    with running(worker):
        wait_for(lambda: worker.counters.processed == 1 and worker.counters.failed == 1)
        wait_for(lambda: client.queue.stats_tube("t")["current-jobs-reserved"] == 0)
    assert client.queue.peek(deleted) is None
    assert client.queue.stats_job(buried)["state"] == "buried"
    assert client.queue.stats_job(released)["state"] == "delayed"
    # nothing settled twice: one delete, one bury, one release
    stats = client.queue.stats()
    assert (stats["cmd-delete"], stats["cmd-bury"], stats["cmd-release"]) == (1, 1, 1)
    assert worker.counters == WorkerCounters(processed=1, failed=1)


# -- keeping long jobs alive ----------------------------------------------------------


def test_long_jobs_are_touched(server: BeanstalkdProcess, client: Client) -> None:
    """A job with a 2 s time-to-run survives a handler of 3.5 s; a second slot is
    there to steal it if its time-to-run ran out."""
    calls: list[int] = []
    left: list[int] = []

    def slow(message: Message) -> None:
        calls.append(message.uid)
        time.sleep(3.5)
        stats = message.stats()  # the handler may use the connection too
        assert stats is not None
        left.append(stats["timeouts"])

    worker = make_worker(server, handlers={"t": slow}, concurrency=2, touch_margin=1)
    client.queue.use("t")
    uid = client.queue.put(b"long", ttr=2)
    with running(worker):
        wait_for(lambda: worker.counters.processed == 1, timeout=15)
    assert calls == [uid]
    assert left == [0]
    assert client.queue.stats()["job-timeouts"] == 0
    assert worker.counters.touched >= 2


# -- shutdown ------------------------------------------------------------------------


def test_stop_lets_in_flight_jobs_finish(server: BeanstalkdProcess, client: Client) -> None:
    started = threading.Event()
    finish = threading.Event()

    def handle(message: Message) -> None:
        started.set()
        assert finish.wait(10)

    worker = make_worker(server, handlers={"t": handle}, grace=10)
    first, *rest = put_raw(client, "t", [b"1", b"2", b"3"])
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert started.wait(10)
        worker.stop()
        assert worker.stopping
        time.sleep(0.2)
        assert thread.is_alive()  # waiting for the job in flight
        finish.set()
        thread.join(10)
        assert not thread.is_alive()
    finally:
        finish.set()
        worker.stop(grace=0)
        thread.join(10)
    assert worker.counters == WorkerCounters(processed=1)
    assert client.queue.peek(first) is None
    for uid in rest:  # never reserved: stopping means no more reserving
        assert client.queue.stats_job(uid)["reserves"] == 0


def test_jobs_not_done_within_grace_are_released(server: BeanstalkdProcess, client: Client) -> None:
    started = threading.Event()
    finish = threading.Event()

    def handle(message: Message) -> None:
        started.set()
        finish.wait(20)

    worker = make_worker(server, handlers={"t": handle}, grace=0.3)
    [uid] = put_raw(client, "t", [b"long"])
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert started.wait(10)
        began = time.monotonic()
        worker.stop()
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - began < 3
        stats = client.queue.stats_job(uid)
        assert (stats["state"], stats["releases"]) == ("ready", 1)
        assert worker.counters == WorkerCounters(released=1)
    finally:
        finish.set()
    # the handler ends later; the released job is left alone (not deleted)
    time.sleep(0.2)
    assert client.queue.stats_job(uid)["state"] == "ready"
    assert client.queue.stats()["cmd-delete"] == 0


def test_second_stop_is_immediate(server: BeanstalkdProcess, client: Client) -> None:
    started = threading.Event()
    finish = threading.Event()

    def handle(message: Message) -> None:
        started.set()
        finish.wait(20)

    worker = make_worker(server, handlers={"t": handle}, grace=60)
    [uid] = put_raw(client, "t", [b"long"])
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        assert started.wait(10)
        worker.stop()
        time.sleep(0.1)
        assert thread.is_alive()
        began = time.monotonic()
        worker.stop(grace=0)
        thread.join(10)
        assert time.monotonic() - began < 2
        assert client.queue.stats_job(uid)["state"] == "ready"
    finally:
        finish.set()


def test_base_exception_in_handler_releases_and_stops(
    server: BeanstalkdProcess, client: Client
) -> None:
    calls: list[int] = []

    def handle(message: Message) -> None:
        calls.append(message.uid)
        raise SystemExit(3)

    worker = make_worker(server, handlers={"t": handle}, concurrency=2)
    [uid] = put_raw(client, "t", [b"x"])
    raised: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    # run() raises it in the caller's thread, as if the handler ran there
    assert len(raised) == 1
    assert isinstance(raised[0], SystemExit)
    assert raised[0].code == 3
    assert calls == [uid]  # the worker stopped before another slot could run it
    # Released by the slot that ran it, and by any other that reserved it meanwhile:
    # a stop at once does not wait for that slot's reserve to end, so a slot that was
    # late to send its reserve may take the job (and give it back) after run()
    # returned. Wait for the slot threads to end.
    wait_for(
        lambda: not any(t.name.startswith("beanstalkm-worker-") for t in threading.enumerate())
    )
    stats = client.queue.stats_job(uid)
    assert (stats["state"], stats["reserves"]) == ("ready", worker.counters.released)


def test_signals_are_left_alone_off_the_main_thread(server: BeanstalkdProcess) -> None:
    before = signal.getsignal(signal.SIGTERM)
    worker = make_worker(server, handlers={"t": print})
    with running(worker):
        assert signal.getsignal(signal.SIGTERM) is before


# -- the server going away ------------------------------------------------------------


def test_waits_for_a_server_that_is_down(server: BeanstalkdProcess, client: Client) -> None:
    server.stop()
    worker = make_worker(server, handlers={"t": lambda m: None})
    with running(worker):
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
            lock = threading.Lock()

            def handle(message: Message) -> None:
                time.sleep(0.002)
                with lock:
                    seen[int(message.body)] += 1

            worker = make_worker(server, handlers={"t": handle}, concurrency=4)
            with running(worker):
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
                # The last deletes' replies are read with the reserves sent with them
                # (within reserve_timeout): counted then, not before.
                wait_for(lambda: worker.counters.processed + worker.counters.lost >= total)
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


def test_ten_thousand_messages_through_four_slots(
    server: BeanstalkdProcess, client: Client
) -> None:
    total = 10_000
    began = time.monotonic()
    put_raw(client, "bulk", [b"%d" % n for n in range(total)], ttr=3600)
    put_time = time.monotonic() - began
    seen: Counter[int] = Counter()
    lock = threading.Lock()

    def handle(message: Message) -> None:
        with lock:
            seen[message.body] += 1

    worker = make_worker(server, handlers={"bulk": handle}, concurrency=4)
    began = time.monotonic()
    with running(worker):
        wait_for(lambda: worker.counters.processed == total, timeout=60)
        elapsed = time.monotonic() - began
    print(f"\n10,000 messages: put in {put_time:.2f}s, through 4 slots in {elapsed:.2f}s")
    assert set(seen) == set(range(total))
    assert all(n == 1 for n in seen.values())
    stats = client.queue.stats()
    assert stats["cmd-delete"] == total  # not one delete more: none twice
    assert stats["current-jobs-ready"] == stats["current-jobs-reserved"] == 0
    assert worker.counters == WorkerCounters(processed=total)
