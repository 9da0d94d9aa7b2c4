"""beanstalkm sync, high level: ``Client.put`` of a dict in the JSON envelope, ``put_many``.

The client uses the server's ``default`` tube, and puts into the measurement's tube by
name (``Client.put(body, tube=...)``), as an application putting into named tubes does.
reserve-delete fills its own tube with ``put_many`` (or ``Client.put``), since only the
client knows how to make an envelope, then times ``Client.reserve`` + ``Message.delete``.
With ``BENCH_READ_BODY=1`` (the "validated" row) each reserved message's body is read
too, which decodes the envelope and checks it against ``message.json``.
stats-tube is the same call as in the raw row, so it is measured there only.
Written against the planned API; whatever beanstalkm does not have yet is reported n/a.
"""

from __future__ import annotations

import os
from typing import Any

import _beanstalkm
from _worker import BODY_OBJ, Request, Result, batches, need, serve, timed

READ_BODY = os.environ.get("BENCH_READ_BODY") == "1"


def _connect(req: Request) -> Any:
    client_class = need(_beanstalkm.module(), "Client")
    return client_class(req.host, req.port)


def put(req: Request) -> Result:
    client = _connect(req)
    try:
        client_put, tube, body = need(client, "put"), req.tube, BODY_OBJ

        def step() -> None:
            client_put(body, tube=tube)

        return timed(step, req.n, req.seconds)
    finally:
        _beanstalkm.close(client)


def _fill(client: Any, tube: str, count: int) -> None:
    """Put ``count`` envelope jobs into ``tube`` (not timed)."""
    put_many = getattr(client, "put_many", None)
    if put_many is not None:
        for start in range(0, count, 1000):
            put_many([BODY_OBJ] * min(1000, count - start), tube=tube)
    else:
        client_put = need(client, "put")
        for _ in range(count):
            client_put(BODY_OBJ, tube=tube)


def reserve_delete(req: Request) -> Result:
    client = _connect(req)
    try:
        reserve = need(client, "reserve")
        need(client, "queue", "watch")(req.tube)
        _fill(client, req.tube, req.n)

        if READ_BODY:

            def step() -> None:
                message = reserve(drop=False)
                if message.valid is not True:  # reads the body: decodes and validates
                    raise RuntimeError(f"envelope not validated: {message.validation_error}")
                message.delete()

        else:

            def step() -> None:
                reserve(drop=False).delete()

        return timed(step, req.n, req.seconds)
    finally:
        _beanstalkm.close(client)


def put_pipelined(req: Request) -> Result:
    client = _connect(req)
    try:
        put_many, tube = need(client, "put_many"), req.tube
        bodies = [BODY_OBJ] * req.batch

        def step() -> None:
            put_many(bodies, tube=tube)

        return timed(step, batches(req), req.seconds, per_step=req.batch)
    finally:
        _beanstalkm.close(client)


if __name__ == "__main__":
    if READ_BODY:
        serve(
            "beanstalkm Client (envelope, body read and validated)",
            _beanstalkm.version(),
            {"reserve-delete": reserve_delete},
            unavailable={
                "put": "same call as the envelope row",
                "stats-tube": "same call as the raw row (Client.queue.stats_tube)",
                "put-pipelined": "same call as the envelope row",
            },
            self_prefill=True,
        )
    else:
        serve(
            "beanstalkm Client (envelope)",
            _beanstalkm.version(),
            {"put": put, "reserve-delete": reserve_delete, "put-pipelined": put_pipelined},
            unavailable={"stats-tube": "same call as the raw row (Client.queue.stats_tube)"},
            self_prefill=True,
        )
