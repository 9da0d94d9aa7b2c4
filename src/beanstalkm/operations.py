"""What each high-level call does, written once for both clients.

A high-level call that is one request (``client.put``, ``message.delete`` ...) is
written here as the function that builds its request and the one that records its
result; each client sends the request itself, which costs nothing more. One that may
need more than one (a release without a priority first asks for the job's stats,
``put_many`` pipelines a batch) is written as a generator that yields requests and gets
their results back (or has their errors thrown in). The blocking connection and the
asyncio connection each run these generators with one small driver
(``Connection.drive``), so the logic exists once and each client only does I/O.

A yielded request is a :data:`~beanstalkm.protocol.Request`, ``(command, args,
generation, tube)``, whose error is thrown in, or a list of them to pipeline, which
gets back a list of results with :class:`~beanstalkm.CommandFailed` exceptions in the
slots of the commands that failed.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar

from .commands import COMMANDS, check_tube
from .constants import DEFAULT_DELAY, DEFAULT_PRIORITY, MAX_RESERVE_TIMEOUT
from .errors import (
    InvalidArgument,
    NotFound,
    PipelineError,
    first_error,
)
from .protocol import Request

if TYPE_CHECKING:
    from .message import BaseMessage

__all__ = [
    "Operation",
    "Step",
    "bury",
    "delete_request",
    "deleted",
    "kick_request",
    "put_many",
    "put_request",
    "received",
    "release",
    "reserve_request",
    "reserve_seconds",
    "sent",
    "stats",
    "touch_request",
]

_T = TypeVar("_T")
#: What an operation yields: one request, or a batch to pipeline.
Step: TypeAlias = Request | list[Request]
Operation: TypeAlias = Generator[Step, Any, _T]

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


def _put(message: BaseMessage, tube: str) -> Request:
    return (_PUT, (message.encode(), message.priority, message.delay, message.ttr), None, tube)


def put_request(message: BaseMessage, tube: str) -> Request:
    """The request that puts ``message`` into ``tube`` (the connection's used tube is
    the user's still); give its result to :func:`sent`. A put is one request, so the
    clients run it directly rather than as an operation: it is the hot path."""
    check_tube(tube)
    return _put(message, tube)


def sent(message: BaseMessage, tube: str, uid: int) -> int:
    """Record that ``message`` was put into ``tube`` as job ``uid``; return ``uid``."""
    message.uid = uid
    message.tube = tube
    return uid


def put_many(messages: Sequence[BaseMessage], tube: str) -> Operation[list[Any]]:
    """Put ``messages`` into ``tube`` in one batch; PipelineError if some failed."""
    if not messages:
        return []
    check_tube(tube)
    results: list[Any] = yield [_put(message, tube) for message in messages]
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
    return list(messages)


# -- reserving --


def reserve_request(timeout: float | None) -> Request:
    """The request that reserves a job, waiting forever or ``timeout`` seconds; a
    TimedOut answer means none came."""
    if timeout is None:
        return (_RESERVE, (), None, None)
    return (_RESERVE_WITH_TIMEOUT, (reserve_seconds(timeout),), None, None)


def received(message: BaseMessage, strict: bool) -> BaseMessage:
    """A reserved message, checked when ``strict`` (InvalidMessage, the job still
    reserved, when its envelope is invalid)."""
    if strict:
        message.check()
    return message


# -- a message's job --
#
# One request each, given to the connection directly; a command on a job this
# connection reserved carries the generation it was reserved under (message.holding),
# so that nothing is sent if the connection has been replaced since.


def delete_request(message: BaseMessage) -> Request:
    return (_DELETE, (message.require_uid("delete"),), message.holding, None)


def deleted(message: BaseMessage) -> None:
    """Record that the job is deleted."""
    message.reserved = False
    message.deleted = True


def touch_request(message: BaseMessage) -> Request:
    return (_TOUCH, (message.require_uid("touch"),), message.holding, None)


def kick_request(message: BaseMessage) -> Request:
    return (_KICK_JOB, (message.require_uid("kick"),), None, None)


def release(message: BaseMessage, priority: int | None, delay: int | None) -> Operation[None]:
    uid = message.require_uid("release")
    delay = DEFAULT_DELAY if delay is None else delay
    # Every argument checked before anything is sent, the stats-job included.
    _RELEASE.encode((uid, DEFAULT_PRIORITY if priority is None else priority, delay))
    if priority is None:
        priority = yield from current_priority(message)
    yield (_RELEASE, (uid, priority, delay), message.holding, None)
    message.reserved = False
    message.priority = priority


def bury(message: BaseMessage, priority: int | None) -> Operation[None]:
    uid = message.require_uid("bury")
    _BURY.encode((uid, DEFAULT_PRIORITY if priority is None else priority))
    if priority is None:
        priority = yield from current_priority(message)
    yield (_BURY, (uid, priority), message.holding, None)
    message.reserved = False
    message.priority = priority


def stats(message: BaseMessage) -> Operation[Any]:
    """The job's stats; None once deleted, never sent, or gone from the server."""
    if message.deleted or not message.uid:
        return None
    try:
        result = yield (_STATS_JOB, (message.uid,), None, None)
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
