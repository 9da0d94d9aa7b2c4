"""The high-level blocking client: JSON messages in envelopes, put and reserved."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

from .connection import Connection
from .constants import (
    DEFAULT_DELAY,
    DEFAULT_PRIORITY,
    DEFAULT_TTR,
    DEFAULT_TUBE,
    MAX_RESERVE_TIMEOUT,
)
from .errors import InvalidArgument, TimedOut
from .message import BaseMessage, Message
from .pipeline import PipelineError, first_error

__all__ = ["Client", "reserve_seconds"]


def reserve_seconds(timeout: float) -> int:
    """Whole seconds for ``reserve-with-timeout``: fractions round up, never early."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise InvalidArgument(f"timeout must be a number of seconds, got {timeout!r}")
    if not 0 <= timeout <= MAX_RESERVE_TIMEOUT:
        raise InvalidArgument(f"timeout must be in 0..{MAX_RESERVE_TIMEOUT}, got {timeout}")
    return math.ceil(timeout)


def message_fields(
    body: Any, subscribe: str | None, sender: dict[str, Any] | None, channel: str | None
) -> tuple[Any, str | None, dict[str, Any] | None, str | None]:
    """Forwarding a message keeps its envelope fields unless new ones are given."""
    if isinstance(body, BaseMessage):
        return (
            body.body,
            body.subscribe if subscribe is None else subscribe,
            {**body.sender, **(sender or {})},
            body.channel if channel is None else channel,
        )
    return body, subscribe, sender, channel


class Client(Connection):
    """A connection that sends and receives JSON messages.

    Takes :class:`Connection`'s arguments, plus ``strict``: when True, reserving a
    job whose envelope fails schema validation raises
    :class:`~beanstalkm.InvalidMessage` (the job stays reserved, reachable as
    ``exc.message``); otherwise the failure is only recorded on the message.

    >>> client = Client("127.0.0.1", 11300)              # doctest: +SKIP
    >>> client.put({"to": "ada"}, tube="emails").uid     # doctest: +SKIP
    1
    """

    def __init__(self, *args: Any, strict: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strict = strict

    def put(
        self,
        body: Any,
        tube: str = DEFAULT_TUBE,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
        subscribe: str | None = None,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> Message:
        """Send ``body`` (anything JSON can hold) in an envelope to ``tube``.

        Returns the sent :class:`Message` (``uid > 0``). The used tube is left as it
        was. Raises TypeError for a body JSON cannot encode, before sending anything.
        """
        message = self(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
        message.send(tube)
        return message

    def put_many(
        self,
        bodies: Iterable[Any],
        tube: str = DEFAULT_TUBE,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
        subscribe: str | None = None,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> list[Message]:
        """Send many messages to ``tube`` in one pipelined batch; return them, sent.

        Every body is encoded before anything is sent. If some puts fail (say, one
        body is too big), the others are still sent and :class:`PipelineError` is
        raised, its ``results`` holding each sent message or its exception.
        """
        messages = [
            self(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
            for body in bodies
        ]
        puts = [(m.encode(), priority, delay, ttr) for m in messages]
        results = self._put_batch(tube, puts)
        for message, result in zip(messages, results, strict=True):
            if not isinstance(result, BaseException):
                message.uid = result
                message.tube = tube
        if first_error(results) is not None:
            raise PipelineError(
                [
                    r if isinstance(r, BaseException) else m
                    for m, r in zip(messages, results, strict=True)
                ]
            )
        return messages

    def reserve(self, timeout: float | None = None, drop: bool = True) -> Message | None:
        """Reserve a message from the watched tubes.

        Waits forever when ``timeout`` is None, else up to ``timeout`` seconds
        (0 returns at once), and returns None if no job came. With ``drop`` (the
        default) the job is deleted on receipt; otherwise delete, release or bury it.
        Raises :class:`~beanstalkm.DeadlineSoon` when a job this connection holds is
        about to time out.
        """
        try:
            if timeout is None:
                message = self.queue.reserve()
            else:
                message = self.queue.reserve_with_timeout(reserve_seconds(timeout))
        except TimedOut:
            return None
        if self.strict:
            message.check()
        if drop:
            message.delete()
        return message

    def messages(self, timeout: float | None = None, drop: bool = False) -> Iterator[Message]:
        """Reserve messages one after another, for a consumer loop.

        Runs until a reserve with ``timeout`` finds nothing (forever when None).
        With ``drop=False`` (the default here) each message is yours to delete.
        """
        while True:
            message = self.reserve(timeout, drop)
            if message is None:
                return
            yield message

    def __call__(
        self,
        body: Any,
        subscribe: str | None = None,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
        *,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
    ) -> Message:
        """Make a message without sending it; ``message.send(tube)`` sends it."""
        body, subscribe, sender, channel = message_fields(body, subscribe, sender, channel)
        return self.message_class(
            self,
            body,
            subscribe=subscribe,
            sender=sender,
            channel=channel,
            priority=priority,
            delay=delay,
            ttr=ttr,
        )
