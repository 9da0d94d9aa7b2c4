"""A pool of real beanstalkd servers (three, started per test), both clients: spreading
puts, failing over, reserving from every server at once, commands on every server."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import beanstalkm
from beanstalkm import aio
from beanstalkm.servers import Placement, server_list
from beanstalkm.testing import BeanstalkdProcess

MakePool = Callable[..., beanstalkm.Pool]


@pytest.fixture
def servers() -> Iterator[list[BeanstalkdProcess]]:
    processes = [BeanstalkdProcess() for _ in range(3)]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            process.stop()


def urls(servers: list[BeanstalkdProcess]) -> list[str]:
    return [f"beanstalk://{host}:{port}" for host, port in (s.address for s in servers)]


@pytest.fixture
def make_pool(make: Callable[..., Any], servers: list[BeanstalkdProcess]) -> MakePool:
    def factory(**kwargs: Any) -> beanstalkm.Pool:
        kwargs.setdefault("timeout", 2)
        pool: beanstalkm.Pool = make("Pool", urls(servers), **kwargs)
        return pool

    return factory


def direct(server: BeanstalkdProcess) -> beanstalkm.Client:
    return beanstalkm.Client(*server.address, timeout=5)


def ready(server: BeanstalkdProcess, tube: str) -> int:
    with direct(server) as client:
        try:
            return client.queue.stats_tube(tube)["current-jobs-ready"]
        except beanstalkm.NotFound:
            return 0


def test_puts_are_spread_and_every_job_is_reserved(
    make_pool: MakePool, servers: list[BeanstalkdProcess]
) -> None:
    pool = make_pool(watch="t")
    sent = [pool.put({"n": n}, tube="t") for n in range(30)]
    assert [ready(s, "t") for s in servers] == [10, 10, 10]
    assert Counter(m.server for m in sent) == dict.fromkeys(pool.addresses, 10)
    assert all(m.ref == f"{m.server}/{m.uid}" for m in sent)
    got = []
    while (message := pool.reserve(timeout=0)) is not None:
        got.append(message.body["n"])
    assert sorted(got) == list(range(30))
    assert pool.counters.puts == dict.fromkeys(pool.addresses, 10)


def test_strategies(make_pool: MakePool, servers: list[BeanstalkdProcess]) -> None:
    by_key = make_pool(strategy="hash")
    places = {by_key.put({"n": n}, tube="h", key=f"user-{n % 4}").server for n in range(20)}
    assert len(places) <= 4
    for n in range(5):  # a key's jobs all on one server
        assert len({by_key.put({}, tube="h", key=f"key-{n}").server for _ in range(3)}) == 1
    with pytest.raises(ValueError, match="key"):
        by_key.put({}, tube="h")
    weights = dict(zip(urls(servers), (2, 1, 1), strict=True))
    weighted = make_pool(strategy="weighted", weights=weights)
    counts = Counter(weighted.put({}, tube="w").server for _ in range(40))
    assert [counts[a] for a in weighted.addresses] == [20, 10, 10]


def test_put_many_is_one_batch_per_server(
    make_pool: MakePool, servers: list[BeanstalkdProcess]
) -> None:
    pool = make_pool()
    messages = pool.put_many([{"n": n} for n in range(300)], tube="b")
    assert all(m.uid > 0 for m in messages)
    assert [ready(s, "b") for s in servers] == [100, 100, 100]
    for server in servers:
        with direct(server) as client:
            stats = client.queue.stats()
            assert stats["cmd-put"] == 100


def test_a_reserve_waits_on_every_server_at_once(
    make_pool: MakePool, servers: list[BeanstalkdProcess]
) -> None:
    pool = make_pool(watch="late")

    def put_later() -> None:
        time.sleep(0.5)
        with direct(servers[2]) as client:
            client.put({"late": True}, tube="late")

    thread = threading.Thread(target=put_later)
    began = time.monotonic()
    thread.start()
    message = pool.reserve(timeout=5)
    thread.join()
    assert message is not None
    assert message.body == {"late": True}
    assert time.monotonic() - began < 1.5  # as soon as it came, not at the next poll
    asked = 0
    for server in servers:
        with direct(server) as client:
            asked += client.queue.stats()["cmd-reserve-with-timeout"]
    assert asked <= 6  # one reserve per server per second of waiting, not a busy loop


def test_a_held_job_keeps_its_server_out_of_the_next_reserves(
    make_pool: MakePool, servers: list[BeanstalkdProcess]
) -> None:
    pool = make_pool(watch="k")
    for server in servers:
        with direct(server) as client:
            client.put_many([{"at": server.port}] * 2, tube="k")
    held = pool.reserve(timeout=0, drop=False)
    assert held is not None
    others = [pool.reserve(timeout=0, drop=False) for _ in range(2)]
    assert others[0] is not None
    assert others[1] is not None
    assert len({held.server, others[0].server, others[1].server}) == 3  # one each
    assert pool.reserve(timeout=0) is None  # every server holds a job handed out
    held.delete()  # settled on its own connection at once: no reserve in its way
    again = pool.reserve(timeout=0, drop=False)
    assert again is not None
    assert again.server == held.server
    for message in (others[0], others[1], again):
        message.delete()


def test_a_killed_server_is_skipped_and_counted(
    make_pool: MakePool, servers: list[BeanstalkdProcess]
) -> None:
    pool = make_pool(watch="f")
    servers[1].kill()
    sent = [pool.put({"n": n}, tube="f") for n in range(20)]
    assert all(m.uid > 0 for m in sent)
    down = f"{servers[1].address[0]}:{servers[1].address[1]}"
    assert down not in {m.server for m in sent}
    assert pool.counters.down == [down]
    assert pool.counters.failovers >= 1
    got = [m.body["n"] for m in iter(lambda: pool.reserve(timeout=0), None)]
    assert sorted(got) == list(range(20))
    stats = pool.stats()
    assert stats["current-jobs-ready"] == 0
    assert set(stats.errors) == {down}
    assert isinstance(stats.servers[down], beanstalkm.SocketError)


def test_a_server_that_never_answers_costs_one_timeout(
    make_pool: MakePool, servers: list[BeanstalkdProcess]
) -> None:
    pool = make_pool(watch="s", timeout=0.5)
    with direct(servers[0]) as client:
        client.put_many([{"n": n} for n in range(3)], tube="s")
    servers[1].signal(signal.SIGSTOP)
    try:
        began = time.monotonic()
        sent = [pool.put({"n": n}, tube="s") for n in range(6)]
        assert time.monotonic() - began < 3  # one timeout, then the server is down
        assert all(m.uid for m in sent)
        got = [m.body for m in iter(lambda: pool.reserve(timeout=0), None)]
        assert len(got) >= 3 + 4  # the stopped server's share went elsewhere
        assert time.monotonic() - began < 6
    finally:
        servers[1].signal(signal.SIGCONT)


def test_ambiguous_puts_can_raise(make_pool: MakePool, servers: list[BeanstalkdProcess]) -> None:
    pool = make_pool(ambiguous="raise", timeout=0.5)
    for server in servers:  # whichever the put goes to first
        server.signal(signal.SIGSTOP)
    try:
        with pytest.raises(beanstalkm.SocketError, match="may have stored"):
            pool.put({"n": 1}, tube="a")
        assert pool.counters.ambiguous == 1
    finally:
        for server in servers:
            server.signal(signal.SIGCONT)


def test_commands_on_every_server(make_pool: MakePool, servers: list[BeanstalkdProcess]) -> None:
    pool = make_pool(watch="c")
    pool.put_many([{"n": n} for n in range(9)], tube="c")
    for server in servers[1:]:
        with direct(server) as client:
            client.put({"only": "here"}, tube=f"own-{server.port}")
    stats = pool.stats_tube("c")
    assert stats["current-jobs-ready"] == 9
    assert stats["name"] == "c"
    assert [row["current-jobs-ready"] for row in stats.servers.values()] == [3, 3, 3]
    tubes = pool.list_tubes()
    assert set(tubes) >= {"default", "c", *(f"own-{s.port}" for s in servers[1:])}
    with pytest.raises(beanstalkm.NotFound):
        pool.stats_tube("nowhere")
    for _ in range(3):
        message = pool.reserve(timeout=0, drop=False)
        assert message is not None
        message.bury()
    assert pool.kick(10, tube="c") == 3
    pool.pause_tube("c", 2)
    assert all(row["pause"] == 2 for row in pool.stats_tube("c").servers.values())
    # Paused everywhere. (Another pool: this one may hold a job its reserves on the
    # other servers took while one was handed out, for its next reserve.)
    assert make_pool(watch="c").reserve(timeout=0) is None
    pool.pause_tube("c", 0)
    assert pool.each("stats_tube", "c").keys() == set(pool.addresses)
    first = pool.server(pool.addresses[0])
    assert first.queue.stats()["pid"] > 0
    with pytest.raises(KeyError):
        pool.server("nowhere:1")


def test_pool_addresses(servers: list[BeanstalkdProcess], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BEANSTALKD_URL", ",".join(urls(servers)))
    pool = beanstalkm.Pool.from_env()
    assert len(pool.servers) == 3
    with pytest.raises(ValueError, match="twice"):
        beanstalkm.Pool([urls(servers)[0]] * 2)
    with pytest.raises(ValueError, match="at least one"):
        beanstalkm.Pool([])
    with pytest.raises(ValueError, match="not in the pool"):
        beanstalkm.Pool(urls(servers), weights={"beanstalk://127.0.0.1:1": 2})


def test_round_robin_starts_at_a_random_server() -> None:
    servers = server_list(["beanstalk://127.0.0.1:1", "beanstalk://127.0.0.1:2"])
    firsts = {Placement(servers).order()[0].address for _ in range(64)}
    assert len(firsts) == 2  # one pool per short-lived producer: they spread too


def test_a_dropped_job_whose_delete_got_no_reply_is_still_handed_out(
    kind: str,
    make_pool: MakePool,
    servers: list[BeanstalkdProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The server may have deleted it: dropping it too would lose it. (When the delete
    is never sent, ReservationLost, the job is the server's to hand out again.)"""
    pool = make_pool(watch="cut", timeout=2)
    with direct(servers[0]) as client:
        client.put({"n": 1}, tube="cut")
    cls: Any = beanstalkm.Message if kind == "sync" else aio.Message
    delete = cls.delete

    def cut(self: Any) -> None:
        delete(self)
        raise beanstalkm.SocketError("cut after the delete was sent")

    async def acut(self: Any) -> None:
        await delete(self)
        raise beanstalkm.SocketError("cut after the delete was sent")

    monkeypatch.setattr(cls, "delete", cut if kind == "sync" else acut)
    message = pool.reserve(timeout=2)
    assert message is not None
    assert message.body == {"n": 1}
    monkeypatch.undo()
    assert pool.reserve(timeout=0) is None  # deleted: it does not come back
    assert ready(servers[0], "cut") == 0
