"""What each high-level call does, written once for both clients.

A high-level call (``client.put``, ``message.release`` ...) may need more than one
request: a release without a priority first asks for the job's stats, a put into
another tube wraps the put in two ``use`` commands. Each is written here as a
generator that yields requests and gets their results back (or has their errors
thrown in). The blocking connection and the asyncio connection each run these
generators with a small driver (``_drive``), so the logic exists once and each client
only does I/O.

A yielded request is ``(command, args)`` (or ``(command, args, epoch)``, see
``_as_holder``) for one command, whose error is thrown in,
or a list of them to pipeline, which gets back a list of results with
:class:`~beanstalkm.CommandFailed` exceptions in the slots of the commands that failed.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

from .commands import COMMANDS, Command
from .constants import DEFAULT_DELAY, DEFAULT_PRIORITY, MAX_RESERVE_TIMEOUT
from .errors import CommandFailed, InvalidArgument, NotFound, ReservationLost, TimedOut
from .pipeline import PipelineError, first_error

if TYPE_CHECKING:
    from .message import BaseMessage
    from .protocol import ClientProtocol

__all__ = ["Operation", "Request", "put_batch", "put_many", "reserve", "reserve_seconds", "send"]

_T = TypeVar("_T")
Call: TypeAlias = tuple[Command, Sequence[object]]
#: One command (with, for a command on a reserved job, the connection count under
#: which it was reserved), or a batch of commands to pipeline.
Request: TypeAlias = Call | tuple[Command, Sequence[object], int | None] | list[Call]
Operation: TypeAlias = Generator[Request, Any, _T]

_PUT: Final = COMMANDS["put"]
_DELETE: Final = COMMANDS["delete"]
_RELEASE: Final = COMMANDS["release"]
_BURY: Final = COMMANDS["bury"]
_TOUCH: Final = COMMANDS["touch"]
_KICK_JOB: Final = COMMANDS["kick_job"]
_STATS_JOB: Final = COMMANDS["stats_job"]
_RESERVE: Final = COMMANDS["reserve"]
_RESERVE_WITH_TIMEOUT: Final = COMMANDS["reserve_with_timeout"]


def reserve_seconds(timeout: float) -> int:
    """Whole seconds for ``reserve-with-timeout``: fractions round up, never early."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidArgument(f"timeout must be a number of seconds, got {timeout!r}")
    if not 0 <= timeout <= MAX_RESERVE_TIMEOUT:
        raise InvalidArgument(f"timeout must be in 0..{MAX_RESERVE_TIMEOUT} seconds, got {timeout}")
    return math.ceil(timeout)


# -- puts --


def put_batch(
    proto: ClientProtocol,
    tube: str,
    puts: Sequence[tuple[object, ...]],
    raise_on_error: bool = False,
) -> Operation[list[Any]]:
    """Put each ``(body, priority, delay, ttr)`` into ``tube``, pipelined, leaving the
    used tube as it was. Returns ids, or exceptions in the slots of failed puts."""
    requests, mine = proto.in_tube(tube, [(_PUT, args) for args in puts])
    if len(requests) == 1:
        try:
            uid = yield requests[0]
        except CommandFailed as exc:
            if raise_on_error:
                raise
            return [exc]
        return [uid]
    results: list[Any] = yield requests
    error = first_error(results)
    if error is not None and (raise_on_error or first_error(results[mine]) is not error):
        # Either a put failed and the caller wants it raised, or a use around the puts
        # failed, which leaves the session unknown.
        raise error
    return results[mine]


def send(message: BaseMessage, tube: str) -> Operation[int]:
    """Put ``message`` into ``tube``."""
    args = (message.encode(), message.priority, message.delay, message.ttr)
    proto = message._conn._proto
    if tube == proto.using:
        uid = yield (_PUT, args)
    else:
        [uid] = yield from put_batch(proto, tube, [args], raise_on_error=True)
    message.uid = uid
    message.tube = tube
    return uid  # type: ignore[no-any-return]


def put_many(messages: list[Any], tube: str) -> Operation[list[Any]]:
    """Send ``messages`` in one batch; PipelineError if some failed."""
    if not messages:
        return []
    puts = [(m.encode(), m.priority, m.delay, m.ttr) for m in messages]
    results = yield from put_batch(messages[0]._conn._proto, tube, puts)
    outcome: list[Any] = []
    for message, result in zip(messages, results, strict=True):
        if isinstance(result, BaseException):
            outcome.append(result)
        else:
            message.uid = result
            message.tube = tube
            outcome.append(message)
    if first_error(results) is not None:
        raise PipelineError(outcome)
    return messages


# -- reserving --


def reserve(client: Any, timeout: float | None, drop: bool) -> Operation[Any]:
    """Reserve a message; None when ``timeout`` passes without one."""
    if timeout is None:
        request: Call = (_RESERVE, ())
    else:
        request = (_RESERVE_WITH_TIMEOUT, (reserve_seconds(timeout),))
    try:
        message = yield request
    except TimedOut:
        return None
    if client.strict:
        message.check()
    if drop:
        yield from delete(message)
    return message


# -- a message's job --


def _as_holder(message: BaseMessage, command: Command, args: Sequence[object]) -> Operation[Any]:
    """Run a command for a job this connection reserved, if it still holds it.

    The connection checks, once it knows whether it is alive, that it is the one that
    reserved the job; if it was replaced meanwhile it raises ReservationLost and sends
    nothing (the server released the job when the old connection went).
    """
    epoch = message._epoch if message.reserved else None
    try:
        return (yield (command, args, epoch))
    except ReservationLost:
        message.reserved = False
        raise


def delete(message: BaseMessage) -> Operation[None]:
    uid = message._require_uid("delete")
    yield from _as_holder(message, _DELETE, (uid,))
    message.reserved = False
    message.deleted = True


def release(message: BaseMessage, priority: int | None, delay: int | None) -> Operation[None]:
    uid = message._require_uid("release")
    if priority is None:
        priority = yield from current_priority(message)
    delay = DEFAULT_DELAY if delay is None else delay
    yield from _as_holder(message, _RELEASE, (uid, priority, delay))
    message.reserved = False
    message.priority = priority


def bury(message: BaseMessage, priority: int | None) -> Operation[None]:
    uid = message._require_uid("bury")
    if priority is None:
        priority = yield from current_priority(message)
    yield from _as_holder(message, _BURY, (uid, priority))
    message.reserved = False
    message.priority = priority


def kick(message: BaseMessage) -> Operation[None]:
    yield (_KICK_JOB, (message._require_uid("kick"),))


def touch(message: BaseMessage) -> Operation[None]:
    yield from _as_holder(message, _TOUCH, (message._require_uid("touch"),))


def stats(message: BaseMessage) -> Operation[Any]:
    """The job's stats; None once deleted, never sent, or gone from the server."""
    if message.deleted or not message.uid:
        return None
    try:
        result = yield (_STATS_JOB, (message.uid,))
    except NotFound:
        return None
    if isinstance(result, dict):
        message.priority = result.get("pri", message.priority)
        message.tube = result.get("tube", message.tube)
    return result


def current_priority(message: BaseMessage) -> Operation[int]:
    """The job's priority: known, or read from its stats (a reserve does not say)."""
    if message.priority is None:
        result = yield from stats(message)
        if result is None:
            raise NotFound("stats_job", "NOT_FOUND", (str(message.uid),))
    return message.priority if message.priority is not None else DEFAULT_PRIORITY
