"""pystalk (sync, blocking socket): ``put_job``/``reserve_job``/``delete_job``, bytes bodies.

pystalk reserves with ``reserve-with-timeout`` (it has no plain ``reserve``); the jobs are
already there, so the timeout never comes into play. It parses stats with PyYAML.
"""

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

PYSTALK = OptionalModule("pystalk")


def _connect(req: Request) -> Any:
    client = PYSTALK.get().BeanstalkClient(req.host, req.port)
    client.use(req.tube)
    client.watch(req.tube)
    return client


def put(req: Request) -> Result:
    client = _connect(req)
    try:
        put_job = client.put_job

        def step() -> None:
            put_job(BODY, pri=PRIORITY, delay=DELAY, ttr=TTR)

        return timed(step, req.n, req.seconds)
    finally:
        client.close()


def reserve_delete(req: Request) -> Result:
    client = _connect(req)
    try:
        reserve_job, delete_job = client.reserve_job, client.delete_job

        def step() -> None:
            delete_job(reserve_job(timeout=10).job_id)

        return timed(step, min(req.n, req.prefilled), req.seconds)
    finally:
        client.close()


def stats_tube(req: Request) -> Result:
    client = _connect(req)
    try:
        stats, tube = client.stats_tube, req.tube

        def step() -> None:
            stats(tube)

        return timed(step, req.n, req.seconds)
    finally:
        client.close()


if __name__ == "__main__":
    serve(
        "pystalk",
        dist_version("pystalk"),
        {"put": put, "reserve-delete": reserve_delete, "stats-tube": stats_tube},
        unavailable={"put-pipelined": "pystalk has no pipelining"},
    )
