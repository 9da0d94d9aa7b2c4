"""Request/reply over the envelope: what a request and its reply carry, for both clients.

A request is a message whose ``subscribe`` names the tube its reply should go to (a
tube private to the requesting client) and whose ``sender`` carries a ``request-id``.
Whoever handles it puts the reply into that tube, with ``in-reply-to`` in the reply's
``sender`` set to the request's id; a reply holding ``errors`` says the request failed.
Both fields live in ``sender``, the one object of the envelope whose schema takes
fields of its own, so beanstalkm 1.0.0 reads requests and replies as valid envelopes.

Everything here is pure: the clients do the I/O (:meth:`beanstalkm.Client.request`,
:meth:`beanstalkm.aio.Client.request`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any, Final, TypeVar

from .commands import COMMANDS
from .constants import DEFAULT_PRIORITY, DEFAULT_TTR
from .errors import InvalidArgument, NoReply, RemoteError, TimedOut
from .message import BaseMessage
from .operations import Operation
from .protocol import Request

__all__ = [
    "IN_REPLY_TO",
    "REPLY_TUBE_PREFIX",
    "REQUEST_ID",
    "RequestIds",
    "error_texts",
    "in_reply_to",
    "no_reply",
    "outcome",
    "reply_message",
    "request_id",
    "sweep",
]

_M = TypeVar("_M", bound=BaseMessage)
_DELETE: Final = COMMANDS["delete"]
_RESERVE_WITH_TIMEOUT: Final = COMMANDS["reserve_with_timeout"]
# A reply tube swept on close holds at most what came too late; past this many, the
# rest is left (and said so in the docs) rather than keep a closing client busy.
_SWEEP_LIMIT: Final = 1000

#: The ``sender`` field of a request holding its id.
REQUEST_ID: Final = "request-id"
#: The ``sender`` field of a reply holding the id of the request it answers.
IN_REPLY_TO: Final = "in-reply-to"
#: Reply tubes are named this and a random part: ``beanstalkm.reply.3f9c0e6a1b2d4c5e``
#: (``beanstalkm purge 'beanstalkm.reply.*' --unwatched`` clears those left behind).
REPLY_TUBE_PREFIX: Final = "beanstalkm.reply."


class RequestIds:
    """A requesting client's reply tube and the ids of its requests.

    The tube's name is random (64 bits), so two clients never share one; ids are the
    random part and a counter, unique across clients as well.
    """

    __slots__ = ("_counter", "_prefix", "tube")

    def __init__(self) -> None:
        random_part = os.urandom(8).hex()
        #: The tube replies to this client's requests go to.
        self.tube = REPLY_TUBE_PREFIX + random_part
        self._prefix = random_part + "."
        self._counter: Iterator[int] = itertools.count(1)

    def next(self) -> str:
        """A new request id."""
        return self._prefix + str(next(self._counter))

    def request(
        self, client: Any, body: Any, sender: dict[str, Any] | None, channel: str | None, **job: Any
    ) -> Any:
        """A request made by ``client`` (not sent): ``subscribe`` is this reply tube, and
        ``sender`` carries a new request id beside the caller's fields."""
        sender = {**(sender or {}), REQUEST_ID: self.next()}
        return client(body, self.tube, sender, channel, **job)


def request_id(message: BaseMessage) -> str | None:
    """The id of the request ``message`` is, if it carries one (as text)."""
    value = message.sender.get(REQUEST_ID)
    return value if isinstance(value, str) else None


def in_reply_to(message: BaseMessage) -> str | None:
    """The id of the request ``message`` answers, if it says."""
    value = message.sender.get(IN_REPLY_TO)
    return value if isinstance(value, str) else None


def error_texts(error: BaseException | str | list[str]) -> list[str]:
    """What an error reply carries: ``["ValueError: no such user"]`` for an exception,
    a text as one item, a list of texts as it is."""
    if isinstance(error, BaseException):
        text = str(error)
        return [f"{type(error).__name__}: {text}" if text else type(error).__name__]
    if isinstance(error, str):
        return [error]
    if isinstance(error, list) and all(isinstance(item, str) for item in error):
        return list(error)
    raise TypeError(f"an error reply takes an exception, a str or a list of str, got {error!r}")


def reply_message(
    connection: Any, request: BaseMessage, body: Any, errors: list[str] | None = None
) -> Any:
    """The reply to ``request``, made on ``connection`` (which puts it), or
    InvalidArgument when the request asked for none (no ``subscribe``).

    The reply's ``sender`` is the replier's, with ``in-reply-to`` set when the request
    had an id; its ``subscribe`` is empty, so nobody replies to a reply.
    """
    tube = request.subscribe
    if not tube:
        raise InvalidArgument(
            f"job {request.uid} asks for no reply: its envelope has no subscribe "
            "(request() sets it, or put(..., subscribe=tube))"
        )
    rid = request_id(request)
    return connection.message_class(
        connection,
        body,
        sender=None if rid is None else {IN_REPLY_TO: rid},
        errors=errors,
        priority=DEFAULT_PRIORITY,
        ttr=DEFAULT_TTR,
        tube=tube,
    )


def outcome(reply: _M, request: BaseMessage) -> _M:
    """``reply``, or RemoteError when it says the request failed."""
    if reply.errors:
        raise RemoteError(reply.errors, reply, request)
    return reply


def no_reply(request: BaseMessage, timeout: float) -> NoReply:
    """The error of a request whose reply did not come within ``timeout`` seconds."""
    return NoReply(
        f"no reply to request {request_id(request)} within {timeout:g} s; the request "
        f"is job {request.uid} in tube {request.tube} and may still be handled",
        request,
    )


def sweep(done: int | None) -> Operation[int]:
    """Empty a reply connection's tube before it closes: delete job ``done`` (the last
    reply handed out) and every reply that came too late. Returns how many were
    deleted. One round trip when nothing came late."""
    deleted = 0
    for _ in range(_SWEEP_LIMIT):
        steps: list[Request] = [] if done is None else [(_DELETE, (done,), None, None)]
        steps.append((_RESERVE_WITH_TIMEOUT, (0,), None, None))
        results = yield steps
        job = results[-1]
        if isinstance(job, TimedOut):
            break
        if isinstance(job, BaseException):
            raise job
        done = job.uid
        deleted += 1
    return deleted
