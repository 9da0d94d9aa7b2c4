"""What the console's buttons do: each action on the servers, and a report of it.

Every action returns a report: ``message``, one sentence saying what was done, and
``servers``, what each server did (or why it could not). An action on a tube runs on
every server chosen; a server that is down is reported and the others go on. Bad
input raises :class:`ActionError` before anything is sent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from ..commands import check_tube
from ..errors import BeanstalkmException, CommandFailed, InvalidArgument, JobTooBig, NotFound
from .move import move
from .scan import STATES, scan
from .servers import Server

__all__ = [
    "ActionError",
    "check_tube_name",
    "delete_buried",
    "delete_job",
    "kick",
    "kick_job",
    "move_jobs",
    "pause",
    "put",
]

_T = TypeVar("_T")


class ActionError(Exception):
    """The action cannot be done as asked; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def check_tube_name(name: object) -> str:
    """``name`` if it is a valid tube name; ActionError otherwise."""
    if not isinstance(name, str):
        raise ActionError("a tube name is needed")
    try:
        check_tube(name)
    except InvalidArgument as exc:
        raise ActionError(str(exc)) from None
    return name


def _last(results: list[Any]) -> Any:
    """The last result of a pipeline; the first failure in it raised."""
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results[-1]


def _failure(server: Server, exc: BaseException) -> dict[str, Any]:
    return {"server": server.index, "address": server.address, "error": str(exc)}


async def _each(
    servers: Sequence[Server], run: Callable[[Server], Awaitable[_T]]
) -> list[tuple[Server, _T | BaseException]]:
    """``run`` on each server in turn, failures kept in their slots."""
    results: list[tuple[Server, _T | BaseException]] = []
    for server in servers:
        try:
            results.append((server, await run(server)))
        except (BeanstalkmException, OSError) as exc:
            results.append((server, exc))
    return results


def _report(message: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    failed = [p for p in parts if "error" in p]
    if failed:
        message += "; " + "; ".join(f"{p['address']}: {p['error']}" for p in failed)
    return {"message": message, "servers": parts}


async def kick(servers: Sequence[Server], tube: object, bound: object) -> dict[str, Any]:
    """Kick up to ``bound`` buried jobs of ``tube`` (delayed ones where none is
    buried, as beanstalkd does), across the servers in turn."""
    tube = check_tube_name(tube)
    if not isinstance(bound, int) or isinstance(bound, bool) or not 1 <= bound <= 2**32 - 1:
        raise ActionError("kick how many? a whole number from 1")
    remaining = bound
    parts: list[dict[str, Any]] = []
    for server in servers:
        if remaining <= 0:
            break
        try:
            pipeline = server.client.pipeline().use(tube).kick(remaining)
            kicked: int = _last(await pipeline.execute())
        except (BeanstalkmException, OSError) as exc:
            parts.append(_failure(server, exc))
            continue
        remaining -= kicked
        parts.append({"server": server.index, "address": server.address, "kicked": kicked})
    total = sum(p.get("kicked", 0) for p in parts)
    return _report(f"kicked {_plural(total, 'job')} in {tube}", parts)


def _job_id(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value < 2**64:
        raise ActionError("a job id is a whole number from 1")
    return value


async def kick_job(server: Server, uid: object) -> dict[str, Any]:
    """Kick one buried or delayed job to ready."""
    uid = _job_id(uid)
    try:
        await server.client.queue.kick_job(uid)
    except NotFound:
        raise ActionError(
            f"job {uid} on {server.address} is not buried or delayed (or is gone)", 404
        ) from None
    return _report(
        f"kicked job {uid} on {server.address}",
        [{"server": server.index, "address": server.address, "kicked": 1}],
    )


async def delete_job(server: Server, uid: object) -> dict[str, Any]:
    """Delete one job (ready, delayed or buried: a reserved job is its worker's)."""
    uid = _job_id(uid)
    try:
        await server.client.queue.delete(uid)
    except NotFound:
        raise ActionError(
            f"job {uid} on {server.address} is gone, or reserved by a worker", 404
        ) from None
    return _report(
        f"deleted job {uid} on {server.address}",
        [{"server": server.index, "address": server.address, "deleted": 1}],
    )


async def _delete_buried_on(server: Server, tube: str) -> int:
    try:
        stats = await server.client.queue.stats_tube(tube)
    except NotFound:
        return 0
    client = server.connect()
    deleted = 0
    try:
        async for batch in scan(client, tube, "buried", stats["current-jobs-buried"]):
            pipeline = client.pipeline()
            for job in batch:
                pipeline.delete(job["id"])
            deleted += sum(r is None for r in await pipeline.execute())
    finally:
        await client.close()
    return deleted


async def delete_buried(servers: Sequence[Server], tube: object) -> dict[str, Any]:
    """Delete every buried job of ``tube`` (those counted when it started)."""
    tube = check_tube_name(tube)
    parts = []
    for server, result in await _each(servers, lambda s: _delete_buried_on(s, tube)):
        if isinstance(result, BaseException):
            parts.append(_failure(server, result))
        else:
            parts.append({"server": server.index, "address": server.address, "deleted": result})
    total = sum(p.get("deleted", 0) for p in parts)
    return _report(f"deleted {_plural(total, 'buried job')} of {tube}", parts)


async def pause(servers: Sequence[Server], tube: object, seconds: object) -> dict[str, Any]:
    """Pause ``tube`` for ``seconds`` (0 resumes it) on every server that has it."""
    tube = check_tube_name(tube)
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 <= seconds < 2**32:
        raise ActionError("pause for how long? a whole number of seconds, 0 to resume")
    parts = []
    for server, result in await _each(servers, lambda s: s.client.queue.pause_tube(tube, seconds)):
        if isinstance(result, NotFound):
            parts.append({"server": server.index, "address": server.address, "paused": 0})
        elif isinstance(result, BaseException):
            parts.append(_failure(server, result))
        else:
            parts.append({"server": server.index, "address": server.address, "paused": 1})
    if not any(p.get("paused") for p in parts) and not any("error" in p for p in parts):
        raise ActionError(f"tube {tube} not found", 404)
    done = f"paused {tube} for {_plural(seconds, 'second')}" if seconds else f"resumed {tube}"
    return _report(done, parts)


async def put(
    server: Server,
    tube: object,
    body: object,
    envelope: bool = False,
    priority: object = 2**31,
    delay: object = 0,
    ttr: object = 120,
) -> dict[str, Any]:
    """Put a job: ``body`` as it is, or parsed as JSON and sent in beanstalkm's
    envelope (as :meth:`beanstalkm.aio.Client.put` does)."""
    tube = check_tube_name(tube)
    if not isinstance(body, str):
        raise ActionError("a body is needed")
    numbers = {"priority": priority, "delay": delay, "ttr": ttr}
    for name, value in numbers.items():
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
            raise ActionError(f"{name} is a whole number from 0 to 4294967295")
    args: dict[str, Any] = numbers
    try:
        if envelope:
            try:
                value = json.loads(body)
            except ValueError as exc:
                raise ActionError(f"the body is not JSON: {exc}") from None
            message = await server.client.put(value, tube=tube, **args)
            uid = message.uid
        else:
            pipeline = server.client.pipeline().use(tube)
            pipeline.put(body.encode("utf-8"), args["priority"], args["delay"], args["ttr"])
            uid = _last(await pipeline.execute())
    except JobTooBig:
        raise ActionError(f"the job is bigger than {server.address} accepts") from None
    except CommandFailed as exc:
        raise ActionError(f"{server.address} refused the job: {exc}") from None
    return _report(
        f"put job {uid} into {tube} on {server.address}",
        [{"server": server.index, "address": server.address, "id": uid}],
    )


async def move_jobs(
    servers: Sequence[Server],
    source: object,
    target: object,
    states: object = STATES,
    count: object = None,
) -> dict[str, Any]:
    """Move the jobs of ``source`` in ``states`` into ``target`` on each server, at
    most ``count`` in all."""
    source, target = check_tube_name(source), check_tube_name(target)
    if source == target:
        raise ActionError("the source and the target are the same tube")
    if not isinstance(states, (list, tuple)) or not states or not set(states) <= set(STATES):
        raise ActionError(f"states to move: some of {', '.join(STATES)}")
    chosen = [s for s in STATES if s in states]
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise ActionError("move how many? a whole number from 1, or every job")
    remaining: int | None = count
    parts: list[dict[str, Any]] = []
    found = False
    for server in servers:
        if remaining is not None and remaining <= 0:
            break
        try:
            tally = await move(server, source, target, chosen, remaining)
        except NotFound:
            continue
        except (BeanstalkmException, OSError) as exc:
            parts.append(_failure(server, exc))
            continue
        found = True
        if remaining is not None:
            remaining -= tally.done
        parts.append(
            {
                "server": server.index,
                "address": server.address,
                "moved": tally.moved,
                "doubled": tally.doubled,
                "reserved": tally.reserved,
            }
        )
    if not found and not parts:
        raise ActionError(f"tube {source} not found", 404)
    total = sum(sum(p["moved"].values()) for p in parts if "moved" in p)
    message = f"moved {_plural(total, 'job')} from {source} to {target}"
    reserved = sum(p.get("reserved", 0) for p in parts)
    if reserved:
        message += f" ({_plural(reserved, 'reserved job')} left to their workers)"
    doubled = sum(p.get("doubled", 0) for p in parts)
    if doubled:
        message += f"; {_plural(doubled, 'job')} taken by a worker meanwhile are in both tubes"
    return _report(message, parts)
