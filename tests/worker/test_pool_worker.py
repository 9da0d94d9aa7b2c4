"""Workers on a pool of real beanstalkd servers, threaded and asyncio (one test body
for both): where their slots work, 30,000 messages through four workers on three
servers, and a server killed midway that stalls none of the others."""

from __future__ import annotations

import contextlib
import dataclasses
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
from beanstalkm import Client, aio
from beanstalkm.testing import BeanstalkdProcess
from beanstalkm.worker import WorkerCounters

from ..cli.util import wait_for
from .conftest import WorkerProcess
from .kinds import FAST, KINDS, handler, serving, stuck
from .test_processes import done


@contextlib.contextmanager
def beanstalkds(n: int, *args: list[str]) -> Iterator[list[BeanstalkdProcess]]:
    """``n`` servers on free loopback ports; ``args[i]``, if given, flags of server i."""
    processes = [BeanstalkdProcess(args[i] if i < len(args) else []) for i in range(n)]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            process.stop()


@pytest.fixture
def servers() -> Iterator[list[BeanstalkdProcess]]:
    with beanstalkds(3) as processes:
        yield processes


def urls(servers: list[BeanstalkdProcess]) -> list[str]:
    return [f"beanstalk://{host}:{port}" for host, port in (s.address for s in servers)]


def address(server: BeanstalkdProcess) -> str:
    return f"{server.address[0]}:{server.address[1]}"


def on_pool(kind: str, servers: list[BeanstalkdProcess], **kwargs: Any) -> Any:
    """A worker of ``kind`` on a pool of ``servers``."""
    cls: Any = beanstalkm.Worker if kind == "threaded" else aio.Worker
    pool = beanstalkm.Pool(urls(servers), timeout=2)
    return cls(pool=pool, **{**FAST, **kwargs})


def left(server: BeanstalkdProcess, tube: str) -> int:
    """Jobs of ``tube`` still on ``server``: ready, reserved or delayed."""
    with Client(*server.address, timeout=5) as client:
        try:
            stats = client.queue.stats_tube(tube)
        except beanstalkm.NotFound:  # a tube no one watches and holds no job goes away
            return 0
    return (
        stats["current-jobs-ready"] + stats["current-jobs-reserved"] + stats["current-jobs-delayed"]
    )


class Seen:
    """The jobs handlers saw, from any thread: (server, number) of each."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: Counter[tuple[str, int]] = Counter()

    def note(self, message: Any) -> None:
        with self.lock:
            self.jobs[message.server, message.body["n"]] += 1

    def count(self) -> int:
        with self.lock:
            return sum(self.jobs.values())

    def numbers(self) -> Counter[int]:
        with self.lock:
            return Counter(n for (_, n), times in self.jobs.items() for _ in range(times))


# -- where the slots work ---------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_the_servers_of_a_worker(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls: Any = beanstalkm.Worker if kind == "threaded" else aio.Worker
    pool_cls: Any = beanstalkm.Pool if kind == "threaded" else aio.Pool
    pool = pool_cls(["beanstalk://10.0.0.1:11300", "beanstalk://10.0.0.2:11301"], timeout=3)
    worker = cls(pool=pool, concurrency=2)
    assert worker.servers == [("10.0.0.1", 11300), ("10.0.0.2", 11301)]
    assert (worker.host, worker.port) == ("10.0.0.1", 11300)
    assert worker.socket_timeout == 3  # the pool's
    assert worker.slot_count == 4
    assert [worker.slot_server(i)[1] for i in range(4)] == [11300, 11300, 11301, 11301]
    assert worker.where == "each of 2 servers (10.0.0.1:11300, 10.0.0.2:11301)"

    worker = cls(url="beanstalk://a:1,b:2,beanstalk+unix:///tmp/s.sock")
    assert worker.servers == [("a", 1), ("b", 2), ("unix:/tmp/s.sock", 0)]
    assert worker.socket_timeout == 10.0
    monkeypatch.setenv("BEANSTALKD_URL", "beanstalk://c:3, beanstalk://d:4")
    assert cls().servers == [("c", 3), ("d", 4)]
    monkeypatch.setenv("BEANSTALKD_URL", "beanstalk://e:5")
    assert cls().servers == [("e", 5)]
    assert cls().where == "e:5"
    assert cls("f", 6).servers == [("f", 6)]
    with pytest.raises(ValueError, match="once"):
        cls("f", pool=pool)
    with pytest.raises(ValueError, match="twice"):
        cls(url="beanstalk://a:1,a:1")


@pytest.mark.parametrize("kind", KINDS)
def test_jobs_of_one_id_on_two_servers_are_two_jobs(kind: str) -> None:
    """A handler given up on at its time limit holds job 1 of server A: job 1 of
    server B is another job, handled as usual; A's comes back to A's new slot, which
    releases it unhandled until that handler ends."""
    release = threading.Event()
    calls: list[int] = []
    at_once: list[int] = []
    fast: list[str] = []
    with beanstalkds(2) as servers:
        a, b = (address(s) for s in servers)
        stuck_on_a = stuck(kind, release, calls, at_once)
        others = handler(kind, lambda m: fast.append(m.ref))

        def dispatch(message: Any) -> Any:
            return (stuck_on_a if message.server == a else others)(message)

        async def adispatch(message: Any) -> Any:
            return await dispatch(message)

        worker = on_pool(kind, servers, backoff=(1, 1, 1, 0), max_attempts=10)
        worker.add_handler("t", dispatch if kind == "threaded" else adispatch, time_limit=0.3)
        with Client(*servers[0].address, timeout=5) as client:
            assert client.put({"n": 0}, tube="t").uid == 1
        with serving(worker):
            wait_for(lambda: worker.running_refs == {f"{a}/1"})
            assert worker.running_jobs == {1}
            with Client(*servers[1].address, timeout=5) as client:
                assert client.put({"n": 1}, tube="t").uid == 1
            wait_for(lambda: fast == [f"{b}/1"])
            # A's job is back after its 1 s delay, on A: released again, not handled.
            wait_for(lambda: worker.counters.released >= 1)
            assert calls == [1]
            release.set()
            wait_for(lambda: worker.counters.processed == 2)
    assert max(at_once) == 1
    assert not worker.running_refs


# -- volume -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_thirty_thousand_messages_through_four_workers_on_three_servers(
    kind: str, servers: list[BeanstalkdProcess]
) -> None:
    total, tube = 30_000, "bulk"
    began = time.monotonic()
    with beanstalkm.Pool(urls(servers), timeout=10) as pool:
        for start in range(0, total, 5000):
            pool.put_many([{"n": n} for n in range(start, start + 5000)], tube=tube, ttr=3600)
        put_time = time.monotonic() - began
        seen = Seen()
        workers = [
            on_pool(kind, servers, handlers={tube: handler(kind, seen.note)}) for _ in range(4)
        ]
    began = time.monotonic()
    with contextlib.ExitStack() as stack:
        for worker in workers:
            stack.enter_context(serving(worker))
        wait_for(lambda: sum(w.counters.processed for w in workers) == total, timeout=120)
        elapsed = time.monotonic() - began
    print(
        f"\n{kind}: 30,000 messages put in {put_time:.2f}s, through 4 workers on 3 servers "
        f"in {elapsed:.2f}s ({total / elapsed:,.0f} jobs/s)"
    )
    numbers = seen.numbers()
    assert set(numbers) == set(range(total))  # every message processed...
    assert set(numbers.values()) == {1}  # ...none twice
    per_server = Counter(server for server, _ in seen.jobs)
    assert set(per_server) == {address(s) for s in servers}
    for server in servers:
        count = per_server[address(server)]
        assert abs(count - total / 3) <= total / 3 * 0.1, per_server  # spread within 10%
        with Client(*server.address, timeout=5) as client:
            stats = client.queue.stats()  # the server's: a tube no one watches goes away
        assert (stats["total-jobs"], stats["cmd-delete"]) == (count, count)
        assert stats["current-jobs-ready"] == stats["current-jobs-reserved"] == 0
    assert all(w.counters.processed > 0 for w in workers), "every worker took its share"
    assert summed([w.counters for w in workers]) == WorkerCounters(processed=total)


def summed(counters: list[WorkerCounters]) -> WorkerCounters:
    names = [f.name for f in dataclasses.fields(WorkerCounters)]
    return WorkerCounters(**{name: sum(getattr(c, name) for c in counters) for name in names})


# -- a server killed midway -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_killed_server_stalls_none_of_the_others(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Server 1 (with a binlog) is killed with SIGKILL midway: the slots on the other
    two go on at full speed while its own wait between attempts to reach it (2 to
    5 s); when it is back, its slots reconnect and its jobs are handled."""
    caplog.set_level(logging.INFO, logger="beanstalkm.worker")
    jobs, tube = 3000, "work"
    with tempfile.TemporaryDirectory() as binlog, beanstalkds(3, [], ["-b", binlog]) as servers:
        victim, others = servers[1], [servers[0], servers[2]]
        with beanstalkm.Pool(urls(servers), timeout=5) as pool:
            pool.put_many([{"n": n} for n in range(jobs)], tube=tube, ttr=60)
        seen = Seen()

        def slowly(message: Any) -> None:
            time.sleep(0.001)
            seen.note(message)

        # Slow reconnects, as in production: a stall would show.
        workers = [
            on_pool(
                kind,
                servers,
                handlers={tube: handler(kind, slowly)},
                concurrency=2,
                reconnect_backoff=(2, 2, 5, 0),
            )
            for _ in range(2)
        ]
        with contextlib.ExitStack() as stack:
            for worker in workers:
                stack.enter_context(serving(worker))
            wait_for(lambda: seen.count() >= jobs // 4, timeout=30)
            victim.kill()
            killed_at = time.monotonic()
            # The others' jobs are all handled while the victim is down...
            wait_for(lambda: all(left(s, tube) == 0 for s in others), timeout=30)
            # ...and new ones at once (the victim's slots are in a 2 to 5 s wait).
            before = seen.count()
            for i, server in enumerate(others):
                with Client(*server.address, timeout=5) as client:
                    client.put_many([{"n": jobs + 100 * i + n} for n in range(100)], tube=tube)
            began = time.monotonic()
            wait_for(lambda: seen.count() >= before + 200, timeout=10)
            fresh = time.monotonic() - began
            down_for = time.monotonic() - killed_at
            assert sum(w.counters.connection_errors for w in workers) >= 4  # 4 slots on it
            victim.start()  # from its binlog, on the same port
            wait_for(lambda: left(victim, tube) == 0, timeout=30)
    print(f"\n{kind}: 200 fresh jobs in {fresh:.2f}s while a server was down {down_for:.1f}s")
    assert fresh < 1.5
    numbers = seen.numbers()
    assert set(numbers) == set(range(jobs + 200))  # nothing lost
    twice = {(server, n) for (server, n), times in seen.jobs.items() if times > 1}
    # Only the victim's jobs in flight when it died come back: at most one per slot on
    # it (handling it, or its delete still to go out with the next reserve).
    assert {server for server, _ in twice} <= {address(victim)}
    assert len(twice) <= 4
    again = [r.getMessage() for r in caplog.records if "again" in r.getMessage()]
    assert any(f"connected to {address(victim)} again" in line for line in again), again
    assert not any(address(s) in line for s in others for line in again)


# -- the command line ---------------------------------------------------------------------


def test_beanstalkm_worker_on_several_servers_in_processes(
    spawn: Any, servers: list[BeanstalkdProcess]
) -> None:
    """``--url a,b,c`` with ``--processes 2``: each child works on every server."""
    jobs = 300
    with beanstalkm.Pool(urls(servers), timeout=5) as pool:
        pool.put_many([{"n": n} for n in range(jobs)], tube="work")
    worker: WorkerProcess = spawn(
        "tests.worker.handlers:record", "-t", "work", "--url", ",".join(urls(servers)),
        "--processes", "2", "-c", "1",
    )  # fmt: skip
    try:
        wait_for(lambda: {n for n, _ in done(worker)} == set(range(jobs)), timeout=30)
        wait_for(lambda: all(left(s, "work") == 0 for s in servers))
    finally:
        worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish(timeout=20)
    assert code == 0, worker.errors
    assert counters["processed"] == jobs
    for server in servers:
        with Client(*server.address, timeout=5) as client:
            assert client.queue.stats()["cmd-delete"] == jobs // 3
    assert len({pid for _, pid in done(worker)}) == 2
    where = f"each of 3 servers ({', '.join(address(s) for s in servers)})"
    assert worker.said(f"2 worker process(es) on {where}")
    assert sum(f"worker: 1 slot(s) (threads) on {where}" in line for line in worker.errors) == 2
