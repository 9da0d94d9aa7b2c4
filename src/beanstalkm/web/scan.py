"""Finding a tube's jobs in one state, many per round trip: the command line's scan
(:mod:`beanstalkm.cli.jobscan`) for the asyncio client.

beanstalkd shows only the first ready, delayed or buried job of a tube. From each
job ``peek`` finds, the scan asks for the stats of the ids after it, pipelined, and
keeps those of the tube and state it looks for; the window grows while it finds
jobs and shrinks when it finds few. Nothing here changes a job: the caller takes
each batch out of the state (deletes or moves it) before asking for the next.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

from .servers import ConsoleClient

__all__ = ["STATES", "peek_first", "scan"]

#: The states a job can be found in without reserving it.
STATES: Final = ("ready", "delayed", "buried")

_FIRST_WINDOW: Final = 256
_MAX_WINDOW: Final = 1000


async def peek_first(client: ConsoleClient, tube: str, state: str) -> Any:
    """The first job of ``tube`` in ``state`` (a RawMessage), or None.

    The ``use`` goes in the same write as the peek, so that other requests on the
    same client cannot change the tube in between.
    """
    pipeline = client.pipeline().use(tube)
    getattr(pipeline, f"peek_{state}")()
    _, message = await pipeline.execute(raise_on_error=True)
    return message


async def scan(
    client: ConsoleClient, tube: str, state: str, limit: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """Yield batches of the stats of jobs of ``tube`` in ``state``, ``limit`` in all.

    A job that the caller could not take out of the state is not yielded again, and
    the scan stops when peek finds nothing new.
    """
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    window = _FIRST_WINDOW
    yielded: set[int] = set()
    # Jobs peek found whose stats then did not match: seen twice, the scan is stuck.
    missed: set[int] = set()
    found = 0
    while found < limit:
        first = await peek_first(client, tube, state)
        if first is None or first.uid in yielded or first.uid in missed:
            return
        pipeline = client.pipeline()
        for uid in range(first.uid, first.uid + window):
            pipeline.stats_job(uid)
        batch = [
            stats
            for stats in await pipeline.execute()
            if isinstance(stats, dict)
            and stats.get("tube") == tube
            and stats.get("state") == state
            and stats["id"] not in yielded
        ][: limit - found]
        if len(batch) * 2 >= window:
            window = min(window * 2, _MAX_WINDOW)
        elif len(batch) * 10 < window:
            window = max(window // 4, 1)
        if not batch:
            missed.add(first.uid)  # it changed state meanwhile: peek again
            continue
        found += len(batch)
        yielded.update(stats["id"] for stats in batch)
        yield batch
