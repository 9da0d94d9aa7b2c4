"""Request/reply against real beanstalkd, both clients: a round trip, an error reply,
no reply in time, late replies cleaned up, the reply tube empty after close, replying
by hand, a 1.0.0 producer's subscribe, requests over a pool, many concurrent asyncio
requests routed to their callers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import beanstalkm
from beanstalkm import aio, replies
from beanstalkm.envelope import validation_error
from beanstalkm.testing import BeanstalkdProcess

from .conftest import MakeClient

Answer = Callable[[beanstalkm.Message], None]


def add(message: beanstalkm.Message) -> None:
    """A handler answering by hand: the sum of ``a`` and ``b``, or an error."""
    body = message.body
    if "fail" in body:
        message.reply_error(ValueError(body["fail"]))
    else:
        message.reply(body["a"] + body["b"])


@contextlib.contextmanager
def responders(
    address: tuple[str, int], tube: str = "calc", answer: Answer = add, count: int = 1
) -> Iterator[list[int]]:
    """Threads answering requests in ``tube`` until the block ends; yields the list of
    job ids they handled."""
    stop = threading.Event()
    handled: list[int] = []

    def run() -> None:
        with beanstalkm.Client(*address, watch=tube, timeout=5) as client:
            while not stop.is_set():
                try:
                    message = client.reserve(timeout=0, drop=False)
                    if message is None:
                        time.sleep(0.005)
                        continue
                    answer(message)
                    message.delete()
                except beanstalkm.SocketError:  # its server was stopped
                    time.sleep(0.05)
                    continue
                handled.append(message.uid)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    try:
        yield handled
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)


def jobs_in(address: tuple[str, int], tube: str) -> int:
    with beanstalkm.Client(*address, timeout=5) as client:
        try:
            stats = client.queue.stats_tube(tube)
        except beanstalkm.NotFound:
            return 0
    return (
        stats["current-jobs-ready"]
        + stats["current-jobs-reserved"]
        + stats["current-jobs-delayed"]
        + stats["current-jobs-buried"]
    )


def reply_tube(client: Any) -> str:
    tube: str = client._requester().ids.tube
    return tube


# -- a round trip --


def test_a_request_gets_its_reply(make_client: MakeClient, server: BeanstalkdProcess) -> None:
    client = make_client()
    with responders(server.address):
        reply = client.request({"a": 2, "b": 3}, tube="calc", timeout=5)
    assert reply.body == 5
    assert reply.errors == []
    assert reply.valid is True
    assert reply.sender[replies.IN_REPLY_TO].startswith(reply_tube(client)[-16:])
    assert reply.reserved is False


def test_many_requests_one_after_another(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    client = make_client()
    with responders(server.address):
        bodies = [client.request({"a": n, "b": 1}, tube="calc", timeout=5).body for n in range(50)]
    assert bodies == [n + 1 for n in range(50)]
    client.close()
    assert jobs_in(server.address, reply_tube(client)) == 0


def test_the_request_envelope_is_one_1_0_0_reads(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    client = make_client()
    seen: list[dict[str, Any]] = []

    def record(message: beanstalkm.Message) -> None:
        seen.append(json.loads(message.encode()))
        add(message)

    with responders(server.address, answer=record):
        client.request({"a": 1, "b": 1}, tube="calc", timeout=5)
    (envelope,) = seen
    assert validation_error(envelope) is None
    assert envelope["subscribe"] == reply_tube(client)
    assert envelope["sender"][replies.REQUEST_ID].count(".") == 1


def test_an_error_reply_raises_remote_error(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    client = make_client()
    with responders(server.address), pytest.raises(beanstalkm.RemoteError) as caught:
        client.request({"fail": "no such user"}, tube="calc", timeout=5)
    assert caught.value.errors == ["ValueError: no such user"]
    assert "ValueError: no such user" in str(caught.value)
    assert caught.value.reply.errors == ["ValueError: no such user"]
    assert caught.value.request.body == {"fail": "no such user"}
    # the connection goes on
    with responders(server.address):
        assert client.request({"a": 1, "b": 2}, tube="calc", timeout=5).body == 3


# -- no reply --


def test_no_reply_in_time_raises_no_reply(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    client = make_client()
    started = time.monotonic()
    with pytest.raises(beanstalkm.NoReply) as caught:
        client.request({"a": 1, "b": 1}, tube="nobody", timeout=1)
    assert 0.9 <= time.monotonic() - started < 4
    error = caught.value
    assert isinstance(error, beanstalkm.TimedOut)
    assert "may still be handled" in str(error)
    assert error.request.tube == "nobody"
    assert jobs_in(server.address, "nobody") == 1  # the request is there, for a worker


def test_a_late_reply_is_deleted_when_the_client_next_looks(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    client = make_client()
    with pytest.raises(beanstalkm.NoReply):
        client.request({"a": 1, "b": 1}, tube="calc", timeout=1)
    with responders(server.address):  # answers the old request, then the new one
        reply = client.request({"a": 10, "b": 20}, tube="calc", timeout=5)
    assert reply.body == 30
    time.sleep(0.05)
    assert jobs_in(server.address, reply_tube(client)) <= 1  # the last reply, until next
    client.close()
    assert jobs_in(server.address, reply_tube(client)) == 0


def test_close_empties_the_reply_tube_of_late_replies(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    client = make_client()
    with pytest.raises(beanstalkm.NoReply):
        client.request({"a": 1, "b": 1}, tube="calc", timeout=1)
    with responders(server.address) as handled:
        deadline = time.monotonic() + 10
        while not handled and time.monotonic() < deadline:
            time.sleep(0.01)
    assert jobs_in(server.address, reply_tube(client)) == 1  # the late reply
    client.close()
    assert jobs_in(server.address, reply_tube(client)) == 0


def test_bad_arguments_send_nothing(make_client: MakeClient, server: BeanstalkdProcess) -> None:
    client = make_client()
    with pytest.raises(beanstalkm.InvalidArgument):
        client.request({"a": 1}, tube="calc", timeout=-1)
    with pytest.raises(beanstalkm.InvalidArgument):
        client.request({"a": 1}, tube="bad tube", timeout=1)
    assert jobs_in(server.address, "calc") == 0


# -- replying by hand --


def test_replying_to_a_message_without_subscribe_is_refused(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    client = make_client(watch="plain")
    client.put({"x": 1}, tube="plain")
    message = client.reserve(timeout=1, drop=False)
    assert message is not None
    with pytest.raises(beanstalkm.InvalidArgument, match="asks for no reply"):
        message.reply("anything")
    with pytest.raises(beanstalkm.InvalidArgument, match="asks for no reply"):
        client.reply(message, "anything")
    assert message.reserved  # still usable
    message.delete()


def test_client_reply_answers_a_request_from_elsewhere(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    requester = make_client()

    def by_client(message: beanstalkm.Message) -> None:
        with beanstalkm.Client(*server.address, timeout=5) as other:
            other.reply(message, {"echo": message.body})

    with responders(server.address, answer=by_client):
        assert requester.request("hi", tube="calc", timeout=5).body == {"echo": "hi"}

    def error_by_client(message: beanstalkm.Message) -> None:
        with beanstalkm.Client(*server.address, timeout=5) as other:
            other.reply_error(message, ["first", "second"])

    with (
        responders(server.address, answer=error_by_client),
        pytest.raises(beanstalkm.RemoteError) as caught,
    ):
        requester.request("hi", tube="calc", timeout=5)
    assert caught.value.errors == ["first", "second"]


def test_a_1_0_0_producer_gets_its_reply_where_it_subscribed(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    """A producer that sets subscribe by hand (as with 1.0.0) and reads the tube."""
    producer = make_client(watch="my-replies")
    producer.put({"a": 4, "b": 5}, tube="calc", subscribe="my-replies")
    with responders(server.address):
        reply = producer.reserve(timeout=5)
    assert reply is not None
    assert reply.body == 9
    assert reply.valid is True  # an envelope 1.0.0's schema accepts
    assert replies.IN_REPLY_TO not in reply.sender  # the request had no id
    assert reply.subscribe is None


def test_error_texts() -> None:
    assert replies.error_texts(KeyError("x")) == ["KeyError: 'x'"]
    assert replies.error_texts(RuntimeError()) == ["RuntimeError"]
    assert replies.error_texts("text") == ["text"]
    assert replies.error_texts(["a", "b"]) == ["a", "b"]
    with pytest.raises(TypeError):
        replies.error_texts(["a", 1])  # type: ignore[list-item]


def test_reply_tubes_and_ids_are_unique() -> None:
    first, second = replies.RequestIds(), replies.RequestIds()
    assert first.tube != second.tube
    assert first.tube.startswith(replies.REPLY_TUBE_PREFIX)
    ids = {first.next() for _ in range(100)} | {second.next() for _ in range(100)}
    assert len(ids) == 200


# -- asyncio: concurrent requests on one client --


def test_two_hundred_concurrent_requests_through_four_responders(
    server: BeanstalkdProcess,
) -> None:
    async def main() -> list[Any]:
        async with aio.Client(*server.address, timeout=5) as client:
            results = await asyncio.gather(
                *(client.request({"a": n, "b": 1000}, tube="calc", timeout=20) for n in range(200))
            )
            return [reply.body for reply in results]

    with responders(server.address, count=4) as handled:
        bodies = asyncio.run(main())
    assert bodies == [n + 1000 for n in range(200)]
    assert len(handled) == 200


def test_cancelling_one_request_leaves_the_others_be(server: BeanstalkdProcess) -> None:
    def slow_for_one(message: beanstalkm.Message) -> None:
        if message.body["a"] == 0:
            time.sleep(0.5)
        add(message)

    async def main() -> tuple[list[Any], Any]:
        async with aio.Client(*server.address, timeout=5) as client:
            doomed = asyncio.ensure_future(client.request({"a": 0, "b": 0}, tube="calc"))
            others = [
                asyncio.ensure_future(client.request({"a": n, "b": 0}, tube="calc", timeout=10))
                for n in range(1, 20)
            ]
            await asyncio.sleep(0.1)
            doomed.cancel()
            bodies = [reply.body for reply in await asyncio.gather(*others)]
            after = await client.request({"a": 7, "b": 7}, tube="calc", timeout=10)
            tube = reply_tube(client)
        return bodies, (after.body, tube)

    with responders(server.address, answer=slow_for_one, count=2):
        bodies, (after, tube) = asyncio.run(main())
        time.sleep(0.6)  # the cancelled request's reply comes, to a closed client
    assert bodies == list(range(1, 20))
    assert after == 14
    # Its reply came after close: it is the one thing that may be left (see the docs).
    assert jobs_in(server.address, tube) <= 1


def test_a_timed_out_asyncio_request_is_exact_and_leaves_others(
    server: BeanstalkdProcess,
) -> None:
    async def main() -> tuple[float, Any]:
        async with aio.Client(*server.address, timeout=5) as client:
            started = time.monotonic()
            with pytest.raises(beanstalkm.NoReply):
                await client.request({"a": 1, "b": 1}, tube="nobody", timeout=0.2)
            took = time.monotonic() - started
            with responders(server.address):
                reply = await client.request({"a": 1, "b": 1}, tube="calc", timeout=5)
            return took, reply.body

    took, body = asyncio.run(main())
    assert took < 1  # a fraction of a second, not rounded up
    assert body == 2


def test_a_lost_reply_connection_fails_the_waiting_requests_and_recovers(
    server: BeanstalkdProcess,
) -> None:
    async def main() -> Any:
        async with aio.Client(*server.address, timeout=5) as client:
            waiting = asyncio.ensure_future(client.request("x", tube="nobody", timeout=10))
            await asyncio.sleep(0.2)
            requester = client._requester()
            requester.connection._reset(beanstalkm.SocketError("cut"))
            with pytest.raises(beanstalkm.SocketError):
                await waiting
            with responders(server.address):
                return (await client.request({"a": 2, "b": 2}, tube="calc", timeout=5)).body

    assert asyncio.run(main()) == 4


# -- a pool --


@pytest.fixture
def two_servers() -> Iterator[list[BeanstalkdProcess]]:
    processes = [BeanstalkdProcess() for _ in range(2)]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            process.stop()


def test_requests_over_a_pool(
    make: Callable[..., Any], two_servers: list[BeanstalkdProcess]
) -> None:
    addresses = [f"beanstalk://{h}:{p}" for h, p in (s.address for s in two_servers)]
    pool = make("Pool", addresses, timeout=2)
    with responders(two_servers[0].address), responders(two_servers[1].address):
        bodies = [pool.request({"a": n, "b": 1}, tube="calc", timeout=5).body for n in range(10)]
        assert bodies == [n + 1 for n in range(10)]
        assert sorted(pool.counters.puts.values()) == [5, 5]  # spread as puts are
        two_servers[0].stop()
        bodies = [pool.request({"a": n, "b": 2}, tube="calc", timeout=5).body for n in range(4)]
    assert bodies == [n + 2 for n in range(4)]
    assert pool.counters.failovers >= 1
