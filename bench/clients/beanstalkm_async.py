"""beanstalkm asyncio, protocol level: ``aio.Client.queue`` with bytes bodies.

The asyncio twin of the raw row, to compare with aiostalk. Written against the planned
API (``from beanstalkm import aio``); whatever does not exist yet is reported n/a.
"""

from __future__ import annotations

import inspect
from itertools import repeat
from typing import Any

import _beanstalkm
from _worker import (
    BODY,
    DELAY,
    PRIORITY,
    TTR,
    NotAvailable,
    Request,
    Result,
    batches,
    need,
    run_async,
    serve,
    timed_async,
)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _connect(req: Request) -> Any:
    try:
        from beanstalkm import aio
    except ImportError as exc:
        _beanstalkm.module()  # the package itself missing is the better reason
        raise NotAvailable(f"beanstalkm.aio does not exist (yet): {exc}") from None
    client = await _maybe_await(need(aio, "Client")(req.host, req.port, use=req.tube))
    connect = getattr(client, "connect", None)
    if connect is not None:
        await _maybe_await(connect())
    need(client, "queue")
    return client


async def _close(client: Any) -> None:
    closer = getattr(client, "close", None)
    if closer is not None:
        await _maybe_await(closer())


async def put(req: Request) -> Result:
    client = await _connect(req)
    try:
        queue_put = need(client.queue, "put")

        async def step() -> None:
            await queue_put(BODY, priority=PRIORITY, delay=DELAY, ttr=TTR)

        return await timed_async(step, req.n, req.seconds)
    finally:
        await _close(client)


async def reserve_delete(req: Request) -> Result:
    client = await _connect(req)
    try:
        queue = client.queue
        await need(queue, "watch")(req.tube)
        reserve, delete = need(queue, "reserve"), need(queue, "delete")

        async def step() -> None:
            await delete((await reserve()).uid)

        return await timed_async(step, min(req.n, req.prefilled), req.seconds)
    finally:
        await _close(client)


async def stats_tube(req: Request) -> Result:
    client = await _connect(req)
    try:
        stats, tube = need(client.queue, "stats_tube"), req.tube

        async def step() -> None:
            await stats(tube)

        return await timed_async(step, req.n, req.seconds)
    finally:
        await _close(client)


async def put_pipelined(req: Request) -> Result:
    client = await _connect(req)
    try:
        pipeline, size = need(client, "pipeline"), req.batch

        async def step() -> None:
            pipe = pipeline()
            pipe_put = pipe.put
            for _ in repeat(None, size):
                pipe_put(BODY, priority=PRIORITY, delay=DELAY, ttr=TTR)
            await pipe.execute()

        return await timed_async(step, batches(req), req.seconds, per_step=size)
    finally:
        await _close(client)


if __name__ == "__main__":
    serve(
        "beanstalkm aio (raw)",
        _beanstalkm.version(),
        {
            "put": run_async(put),
            "reserve-delete": run_async(reserve_delete),
            "stats-tube": run_async(stats_tube),
            "put-pipelined": run_async(put_pipelined),
        },
    )
