"""beanstalkm sync, protocol level: ``Client.queue`` with bytes bodies, and ``Client.pipeline``.

Written against the planned API; whatever beanstalkm does not have yet is reported n/a.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

import _beanstalkm
from _worker import (
    BODY,
    DELAY,
    PRIORITY,
    TTR,
    Request,
    Result,
    batches,
    need,
    serve,
    timed,
)


def _connect(req: Request) -> Any:
    client_class = need(_beanstalkm.module(), "Client")
    client = client_class(req.host, req.port, use=req.tube)
    need(client, "queue")
    return client


def put(req: Request) -> Result:
    client = _connect(req)
    try:
        queue_put = need(client.queue, "put")

        def step() -> None:
            queue_put(BODY, priority=PRIORITY, delay=DELAY, ttr=TTR)

        return timed(step, req.n, req.seconds)
    finally:
        _beanstalkm.close(client)


def reserve_delete(req: Request) -> Result:
    client = _connect(req)
    try:
        queue = client.queue
        need(queue, "watch")(req.tube)
        reserve, delete = need(queue, "reserve"), need(queue, "delete")

        def step() -> None:
            delete(reserve().uid)

        return timed(step, min(req.n, req.prefilled), req.seconds)
    finally:
        _beanstalkm.close(client)


def stats_tube(req: Request) -> Result:
    client = _connect(req)
    try:
        stats, tube = need(client.queue, "stats_tube"), req.tube

        def step() -> None:
            stats(tube)

        return timed(step, req.n, req.seconds)
    finally:
        _beanstalkm.close(client)


def put_pipelined(req: Request) -> Result:
    client = _connect(req)
    try:
        pipeline, size = need(client, "pipeline"), req.batch

        def step() -> None:
            with pipeline() as pipe:
                pipe_put = pipe.put
                for _ in repeat(None, size):
                    pipe_put(BODY, priority=PRIORITY, delay=DELAY, ttr=TTR)
                pipe.execute()

        return timed(step, batches(req), req.seconds, per_step=size)
    finally:
        _beanstalkm.close(client)


if __name__ == "__main__":
    serve(
        "beanstalkm queue (raw)",
        _beanstalkm.version(),
        {
            "put": put,
            "reserve-delete": reserve_delete,
            "stats-tube": stats_tube,
            "put-pipelined": put_pipelined,
        },
    )
