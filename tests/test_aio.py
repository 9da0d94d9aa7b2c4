"""What only the asyncio client has: concurrency on one connection, cancellation."""

from __future__ import annotations

import asyncio
import time

import pytest

import beanstalkm
from beanstalkm import aio
from beanstalkm.testing import BeanstalkdProcess


def run(coroutine: object) -> object:
    return asyncio.run(coroutine)  # type: ignore[arg-type]


def test_concurrent_calls_are_pipelined_in_order(server: BeanstalkdProcess) -> None:
    async def main() -> None:
        async with aio.Client(*server.address, timeout=5, use="t") as client:
            ids = await asyncio.gather(*(client.queue.put(str(n)) for n in range(300)))
            assert ids == list(range(1, 301))
            stats, tubes, missing = await asyncio.gather(
                client.queue.stats_tube("t"),
                client.queue.list_tubes(),
                client.queue.delete(10_000),
                return_exceptions=True,
            )
            assert stats["current-jobs-ready"] == 300  # type: ignore[index]
            assert tubes == ["default", "t"]
            assert isinstance(missing, beanstalkm.NotFound)

    run(main())


def test_waiting_reserve_does_not_stall_the_loop(server: BeanstalkdProcess) -> None:
    async def main() -> None:
        consumer = aio.Client(*server.address, timeout=5, watch="w")
        producer = aio.Client(*server.address, timeout=5)
        waiting = asyncio.ensure_future(consumer.reserve(timeout=5))
        ticks = 0
        start = time.monotonic()
        while time.monotonic() - start < 0.3:
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks > 10
        assert not waiting.done()
        await producer.put("wake up", tube="w")
        message = await asyncio.wait_for(waiting, 5)
        assert message is not None
        assert message.body == "wake up"
        await consumer.close()
        await producer.close()

    run(main())


def test_cancelled_reserve_leaves_connection_usable(server: BeanstalkdProcess) -> None:
    async def main() -> None:
        client = aio.Client(*server.address, timeout=5, watch=["w"], use="u")
        waiting = asyncio.ensure_future(client.reserve())
        await asyncio.sleep(0.2)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        # a job put now must not be swallowed by the cancelled reserve
        other = beanstalkm.Client(*server.address)
        uid = other.put("for someone else", tube="w").uid
        assert await client.queue.using() == "u"
        assert await client.queue.watching() == ["w"]
        message = await client.reserve(timeout=1, drop=False)
        assert message is not None
        assert message.uid == uid
        await message.delete()
        other.close()
        await client.close()

    run(main())


def test_cancelled_quick_command_keeps_connection(server: BeanstalkdProcess) -> None:
    async def main() -> None:
        client = aio.Client(*server.address, timeout=5)
        await client.connect()
        task = asyncio.ensure_future(client.queue.put(b"x"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await client.queue.use("after") == "after"
        await client.close()

    run(main())


def test_messages_iterator(server: BeanstalkdProcess) -> None:
    async def main() -> list[object]:
        async with aio.Client(*server.address, timeout=5, watch="in") as client:
            await client.put_many([1, 2, 3], tube="in")
            bodies = []
            async for message in client.messages(timeout=0):
                bodies.append(message.body)
                await message.delete()
            return bodies

    assert run(main()) == [1, 2, 3]


def test_sync_messages_iterator(server: BeanstalkdProcess) -> None:
    client = beanstalkm.Client(*server.address, watch="in")
    client.put_many(["a", "b"], tube="in")
    assert [m.body for m in client.messages(timeout=0, drop=True)] == ["a", "b"]
    assert client.queue.stats()["current-jobs-ready"] == 0
    client.close()
