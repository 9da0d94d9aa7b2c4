"""greenstalk (sync, blocking socket): bytes bodies (``encoding=None``), no pipelining."""

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
    serve,
    timed,
)

GREENSTALK = OptionalModule("greenstalk")


def _connect(req: Request) -> Any:
    return GREENSTALK.get().Client(
        (req.host, req.port), encoding=None, use=req.tube, watch=req.tube
    )


def put(req: Request) -> Result:
    with _connect(req) as client:
        client_put = client.put

        def step() -> None:
            client_put(BODY, priority=PRIORITY, delay=DELAY, ttr=TTR)

        return timed(step, req.n, req.seconds)


def reserve_delete(req: Request) -> Result:
    with _connect(req) as client:
        reserve, delete = client.reserve, client.delete

        def step() -> None:
            delete(reserve())

        return timed(step, min(req.n, req.prefilled), req.seconds)


def stats_tube(req: Request) -> Result:
    with _connect(req) as client:
        stats, tube = client.stats_tube, req.tube

        def step() -> None:
            stats(tube)

        return timed(step, req.n, req.seconds)


if __name__ == "__main__":
    serve(
        "greenstalk",
        dist_version("greenstalk"),
        {"put": put, "reserve-delete": reserve_delete, "stats-tube": stats_tube},
        unavailable={"put-pipelined": "greenstalk has no pipelining"},
    )
