"""aiostalk (asyncio streams, built on greenstalk's parsers): bytes bodies, no pipelining."""

from __future__ import annotations

from typing import Any

from _worker import (
    BODY,
    DELAY,
    PRIORITY,
    TTR,
    OptionalModule,
    Request,
    Result,
    dist_version,
    run_async,
    serve,
    timed_async,
)

AIOSTALK = OptionalModule("aiostalk")


async def _connect(req: Request) -> Any:
    client = AIOSTALK.get().Client(
        (req.host, req.port), encoding=None, use=req.tube, watch=req.tube
    )
    await client.connect()
    return client


async def put(req: Request) -> Result:
    client = await _connect(req)
    try:
        client_put = client.put

        async def step() -> None:
            await client_put(BODY, priority=PRIORITY, delay=DELAY, ttr=TTR)

        return await timed_async(step, req.n, req.seconds)
    finally:
        await client.close()


async def reserve_delete(req: Request) -> Result:
    client = await _connect(req)
    try:
        reserve, delete = client.reserve, client.delete

        async def step() -> None:
            await delete(await reserve())

        return await timed_async(step, min(req.n, req.prefilled), req.seconds)
    finally:
        await client.close()


async def stats_tube(req: Request) -> Result:
    client = await _connect(req)
    try:
        stats, tube = client.stats_tube, req.tube

        async def step() -> None:
            await stats(tube)

        return await timed_async(step, req.n, req.seconds)
    finally:
        await client.close()


if __name__ == "__main__":
    serve(
        "aiostalk",
        dist_version("aiostalk"),
        {
            "put": run_async(put),
            "reserve-delete": run_async(reserve_delete),
            "stats-tube": run_async(stats_tube),
        },
        unavailable={"put-pipelined": "aiostalk has no pipelining"},
    )
