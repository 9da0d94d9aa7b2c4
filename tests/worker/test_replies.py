"""Workers answer requests, both kinds, against real beanstalkd: the handler's return
value as the reply, an error reply when the job is buried, none on a retry, none
twice when the handler replied itself, a request naming an impossible tube, a body
JSON cannot encode, a 1.0.0 producer's subscribe, and 200 concurrent asyncio requests
through four workers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

import beanstalkm
from beanstalkm import aio, replies
from beanstalkm.stats import TubeStats
from beanstalkm.testing import BeanstalkdProcess

from ..cli.util import wait_for
from ..test_request_reply import jobs_in, reply_tube
from .kinds import KINDS, make, serving

pytestmark = pytest.mark.parametrize("kind", KINDS)


def returning(kind: str, work: Callable[[Any], object]) -> Any:
    """A handler of ``kind`` returning ``work(message)``."""
    if kind == "threaded":
        return work

    async def handle(message: Any) -> object:
        return work(message)

    return handle


def add(message: Any) -> object:
    body = message.body
    if "fail" in body:
        raise ValueError(body["fail"])
    return body["a"] + body["b"]


def stats_of(server: BeanstalkdProcess, tube: str) -> TubeStats:
    with beanstalkm.Client(*server.address, timeout=5) as client:
        return client.queue.stats_tube(tube)


def test_the_handlers_return_value_is_the_reply(kind: str, server: BeanstalkdProcess) -> None:
    worker = make(kind, server, handlers={"calc": returning(kind, add)})
    with serving(worker), beanstalkm.Client(*server.address, timeout=5) as client:
        bodies = [client.request({"a": n, "b": 1}, tube="calc", timeout=9).body for n in range(20)]
        tube = reply_tube(client)
        # One reply per request: 20 put into the reply tube, none left over.
        assert stats_of(server, tube)["total-jobs"] == 20
        # The last delete went out after its reply.
        wait_for(lambda: worker.counters.processed == 20)
    assert bodies == [n + 1 for n in range(20)]
    assert jobs_in(server.address, tube) == 0
    assert jobs_in(server.address, "calc") == 0


def test_an_asyncio_client_gets_its_reply(kind: str, server: BeanstalkdProcess) -> None:
    async def main() -> Any:
        async with aio.Client(*server.address, timeout=5) as client:
            return (await client.request({"a": 20, "b": 22}, tube="calc", timeout=10)).body

    worker = make(kind, server, handlers={"calc": returning(kind, add)})
    with serving(worker):
        assert asyncio.run(main()) == 42


def test_a_buried_job_is_answered_with_its_error(kind: str, server: BeanstalkdProcess) -> None:
    worker = make(kind, server, handlers={"calc": returning(kind, add)}, max_attempts=2)
    with serving(worker), beanstalkm.Client(*server.address, timeout=5) as client:
        with pytest.raises(beanstalkm.RemoteError) as raised:
            client.request({"fail": "no such user"}, tube="calc", timeout=10)
        # Two attempts, one reply: a retry sends none.
        assert stats_of(server, reply_tube(client))["total-jobs"] == 1
        wait_for(lambda: worker.counters.buried == 1)
    assert raised.value.errors == ["ValueError: no such user"]
    assert stats_of(server, "calc")["current-jobs-buried"] == 1
    assert worker.counters.retried == 1
    assert worker.counters.buried == 1


def test_a_retry_then_success_sends_one_reply(kind: str, server: BeanstalkdProcess) -> None:
    attempts: list[int] = []

    def flaky(message: Any) -> object:
        attempts.append(message.uid)
        if len(attempts) == 1:
            raise RuntimeError("try again")
        return "done"

    worker = make(kind, server, handlers={"calc": returning(kind, flaky)})
    with serving(worker), beanstalkm.Client(*server.address, timeout=5) as client:
        reply = client.request("x", tube="calc", timeout=10)
        assert stats_of(server, reply_tube(client))["total-jobs"] == 1
    assert reply.body == "done"
    assert len(attempts) == 2


def test_a_handler_that_replied_itself_is_not_answered_twice(
    kind: str, server: BeanstalkdProcess
) -> None:
    def by_hand(message: Any) -> object:
        message.reply("by hand")
        return "returned"

    async def by_hand_async(message: Any) -> object:
        await message.reply("by hand")
        return "returned"

    handle = by_hand if kind == "threaded" else by_hand_async
    worker = make(kind, server, handlers={"calc": handle})
    with serving(worker), beanstalkm.Client(*server.address, timeout=5) as client:
        reply = client.request("x", tube="calc", timeout=10)
        assert stats_of(server, reply_tube(client))["total-jobs"] == 1
    assert reply.body == "by hand"


def test_a_reply_json_cannot_encode_is_an_error_reply(kind: str, server: BeanstalkdProcess) -> None:
    worker = make(kind, server, handlers={"calc": returning(kind, lambda m: object())})
    with serving(worker), beanstalkm.Client(*server.address, timeout=5) as client:
        with pytest.raises(beanstalkm.RemoteError) as raised:
            client.request("x", tube="calc", timeout=10)
        wait_for(lambda: worker.counters.processed == 1)
    assert raised.value.errors[0].startswith("cannot encode the reply")
    # The handler did its work: the job is done, not retried.
    assert jobs_in(server.address, "calc") == 0
    assert worker.counters.processed == 1


def test_messages_that_ask_for_no_reply_get_none(kind: str, server: BeanstalkdProcess) -> None:
    worker = make(kind, server, handlers={"calc": returning(kind, lambda m: "ignored")})
    with beanstalkm.Client(*server.address, timeout=5) as client:
        client.put("plain", tube="calc")
        client.queue.use("calc")
        client.queue.put(b"not an envelope")
        before = client.queue.stats()["cmd-put"]
        with serving(worker):
            wait_for(lambda: worker.counters.processed == 2)
        assert client.queue.stats()["cmd-put"] == before


def test_a_request_naming_an_impossible_tube_gets_no_reply(
    kind: str, server: BeanstalkdProcess
) -> None:
    worker = make(kind, server, handlers={"calc": returning(kind, add)})
    with beanstalkm.Client(*server.address, timeout=5) as client:
        envelope = json.loads(client({"a": 1, "b": 1}, subscribe="ok").encode())
        envelope["subscribe"] = "no spaces allowed"
        client.queue.use("calc")
        client.queue.put(json.dumps(envelope).encode())
        client.put({"a": 1, "b": 2}, tube="calc", subscribe="answers")
        before = client.queue.stats()["cmd-put"]
        with serving(worker):
            wait_for(lambda: worker.counters.processed == 2)
        # Both handled; only the sensible one answered.
        assert client.queue.stats()["cmd-put"] == before + 1
        assert jobs_in(server.address, "answers") == 1


def test_a_1_0_0_producer_reads_the_reply_where_it_subscribed(
    kind: str, server: BeanstalkdProcess
) -> None:
    worker = make(kind, server, handlers={"calc": returning(kind, add)})
    with serving(worker), beanstalkm.Client(*server.address, timeout=5, watch="answers") as client:
        client.put({"a": 1, "b": 2}, tube="calc", subscribe="answers")
        reply = client.reserve(timeout=10)
    assert reply is not None
    assert reply.body == 3
    assert reply.valid is True
    assert reply.errors == []


def test_two_hundred_concurrent_requests_through_four_workers(
    kind: str, server: BeanstalkdProcess
) -> None:
    async def main() -> list[Any]:
        async with aio.Client(*server.address, timeout=5) as client:
            results = await asyncio.gather(
                *(client.request({"a": n, "b": 1000}, tube="calc", timeout=30) for n in range(200))
            )
            tube = reply_tube(client)
        assert jobs_in(server.address, tube) == 0
        return [reply.body for reply in results]

    workers = [make(kind, server, handlers={"calc": returning(kind, add)}) for _ in range(4)]
    with serving(workers[0]), serving(workers[1]), serving(workers[2]), serving(workers[3]):
        bodies = asyncio.run(main())
        # The last deletes went out after their replies.
        wait_for(lambda: sum(worker.counters.processed for worker in workers) == 200)
    assert bodies == [n + 1000 for n in range(200)]


def test_request_ids_are_in_the_reply(kind: str, server: BeanstalkdProcess) -> None:
    worker = make(kind, server, handlers={"calc": returning(kind, add)})
    with serving(worker), beanstalkm.Client(*server.address, timeout=5) as client:
        reply = client.request({"a": 1, "b": 1}, tube="calc", timeout=10)
        request_ids = reply_tube(client)[len(replies.REPLY_TUBE_PREFIX) :]
    assert reply.sender[replies.IN_REPLY_TO].startswith(request_ids)
