"""Moving the jobs of a tube into another tube on the same server: ``beanstalkm
move`` (:mod:`beanstalkm.cli.commands.move`) for the asyncio client.

beanstalkd has no such command: each job is copied (same body, priority and TTR)
into the target tube and the original deleted once the copy is stored, so an
interrupted move can leave a job in both tubes but never in neither. Jobs keep their
state: ready jobs arrive ready, delayed ones with the delay they had left, buried
ones buried. Ready jobs are reserved while they are moved, so that no worker takes
one halfway; delayed and buried ones are found by :func:`~.scan.scan`, and the copy
of a buried job is held delayed until it is buried, out of every worker's reach.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import NotFound
from .scan import STATES, scan
from .servers import ConsoleClient, RawMessage, Server

__all__ = ["Moved", "move"]

_BATCH: Final = 500
#: Seconds a copy of a buried job waits, delayed, before it is buried: far longer
#: than the two round trips it takes.
_HOLD: Final = 600


@dataclass
class Moved:
    """What a move did on one server."""

    moved: dict[str, int]
    #: Copies whose original a worker took meanwhile and that could not be deleted.
    doubled: int = 0
    #: Reserved jobs of the source, left to their workers.
    reserved: int = 0
    remaining: int | None = None
    done: int = field(default=0)

    def room(self, wanted: int) -> int:
        return wanted if self.remaining is None else min(wanted, self.remaining)

    def add(self, state: str, n: int) -> None:
        self.moved[state] += n
        self.done += n
        if self.remaining is not None:
            self.remaining -= n


def _delay(state: str, job: dict[str, Any]) -> int:
    """The delay of a job's copy: a buried job's is held until buried."""
    if state == "buried":
        return _HOLD
    return int(job["time-left"]) if state == "delayed" else 0


class _Mover:
    def __init__(self, server: Server, source: str, target: str) -> None:
        self.source = source
        self.target = target
        # The reader reserves, peeks at and deletes the originals; the writer puts.
        self.reader = server.connect(watch=[source])
        self.writer = server.connect(use=target)

    async def close(self) -> None:
        await self.reader.close()
        await self.writer.close()

    async def _put(self, bodies: Sequence[tuple[bytes, int, int, int]]) -> list[Any]:
        pipeline = self.writer.pipeline().use(self.target)
        for body, priority, delay, ttr in bodies:
            pipeline.put(body, priority, delay, ttr)
        results: list[Any] = (await pipeline.execute())[1:]
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results

    async def move_ready(self, limit: int, tally: Moved) -> None:
        """Reserve ready jobs in batches, copy them, delete them."""
        reader = self.reader
        while tally.room(limit - tally.moved["ready"]) > 0:
            wanted = min(_BATCH, tally.room(limit - tally.moved["ready"]))
            pipeline = reader.pipeline()
            for _ in range(wanted):
                pipeline.reserve_with_timeout(0)
            held = [m for m in await pipeline.execute() if isinstance(m, RawMessage)]
            if not held:
                return
            pipeline = reader.pipeline()
            for message in held:
                pipeline.stats_job(message.uid)
            # Raises if a job we hold has no stats; closing the connection then gives
            # every held job back.
            stats = await pipeline.execute(raise_on_error=True)
            await self._put(
                [(m.raw, s["pri"], 0, s["ttr"]) for m, s in zip(held, stats, strict=True)]
            )
            pipeline = reader.pipeline()
            for message in held:
                pipeline.delete(message.uid)
            await pipeline.execute()
            tally.add("ready", len(held))

    async def move_scanned(self, state: str, limit: int, tally: Moved) -> None:
        """Copy delayed or buried (or a paused tube's ready) jobs found by a scan."""
        reader, writer = self.reader, self.writer
        async for batch in scan(reader, self.source, state, tally.room(limit)):
            pipeline = reader.pipeline()
            for job in batch:
                pipeline.peek(job["id"])
            found = [
                (job, message)
                for job, message in zip(batch, await pipeline.execute(), strict=True)
                if isinstance(message, RawMessage)
            ]
            if not found:
                continue
            new_ids: list[int] = await self._put(
                [
                    (message.raw, job["pri"], _delay(state, job), job["ttr"])
                    for job, message in found
                ]
            )
            if state == "buried":
                pipeline = writer.pipeline()
                for (job, _), uid in zip(found, new_ids, strict=True):
                    pipeline.reserve_job(uid).bury(uid, job["pri"])
                await pipeline.execute(raise_on_error=True)
            pipeline = reader.pipeline()
            for job, _ in found:
                pipeline.delete(job["id"])
            taken = [
                uid
                for uid, result in zip(new_ids, await pipeline.execute(), strict=True)
                if isinstance(result, NotFound)
            ]
            if taken:
                # A worker reserved the original meanwhile: it is being handled there,
                # so the copy goes.
                pipeline = writer.pipeline()
                for uid in taken:
                    pipeline.delete(uid)
                tally.doubled += sum(isinstance(r, BaseException) for r in await pipeline.execute())
            tally.add(state, len(new_ids) - len(taken))


async def move(
    server: Server,
    source: str,
    target: str,
    states: Sequence[str] = STATES,
    count: int | None = None,
) -> Moved:
    """Move the jobs of ``source`` in ``states`` into ``target`` on ``server``, at most
    ``count``. Raises NotFound when ``source`` does not exist, ValueError when the
    tubes are the same."""
    if source == target:
        raise ValueError("the source and the target are the same tube")
    client: ConsoleClient = server.client
    stats = await client.queue.stats_tube(source)
    tally = Moved(dict.fromkeys(states, 0), reserved=stats["current-jobs-reserved"])
    tally.remaining = count
    mover = _Mover(server, source, target)
    try:
        for state in states:
            limit = int(stats[f"current-jobs-{state}"])  # type: ignore[literal-required]
            if not limit or tally.room(limit) <= 0:
                continue
            if state == "ready" and not stats["pause"]:
                await mover.move_ready(limit, tally)
            else:
                await mover.move_scanned(state, limit, tally)
    finally:
        await mover.close()
    return tally
