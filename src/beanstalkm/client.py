"""The high-level blocking client: JSON messages in envelopes, put and reserved."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Generic, TypeVar

from . import operations
from .connection import Connection
from .constants import DEFAULT_DELAY, DEFAULT_PRIORITY, DEFAULT_TTR, DEFAULT_TUBE
from .message import BaseMessage, Message

__all__ = ["Client", "ClientBase"]

_M = TypeVar("_M", bound=BaseMessage)


class ClientBase(Generic[_M]):
    """What both clients share: making messages, and strict validation."""

    message_class: type[_M]
    strict: bool

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
    ) -> _M:
        """Make a message without sending it; ``message.send(tube)`` sends it.

        ``body`` may be a message received earlier: forwarding it keeps its
        ``subscribe``, ``sender`` and ``channel`` unless new ones are given.
        """
        if isinstance(body, BaseMessage):
            subscribe = body.subscribe if subscribe is None else subscribe
            sender = {**body.sender, **(sender or {})}
            channel = body.channel if channel is None else channel
            body = body.body
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


class Client(ClientBase[Message], Connection):
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
        was; putting into it costs one command, into another tube one round trip of
        three pipelined commands. Raises TypeError for a body JSON cannot encode,
        before sending anything.
        """
        message = self(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
        self._drive(operations.send(message, tube))
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
        body is too big), the others are still sent and
        :class:`~beanstalkm.PipelineError` is raised, its ``results`` holding each
        sent message or its exception.
        """
        messages = [
            self(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
            for body in bodies
        ]
        return self._drive(operations.put_many(messages, tube))

    def reserve(self, timeout: float | None = None, drop: bool = True) -> Message | None:
        """Reserve a message from the watched tubes.

        Waits forever when ``timeout`` is None, else up to ``timeout`` seconds
        (0 returns at once; fractions round up), and returns None if no job came.
        With ``drop`` (the default) the job is deleted on receipt; otherwise delete,
        release or bury it. Raises :class:`~beanstalkm.DeadlineSoon` when a job this
        connection holds is about to time out.
        """
        message: Message | None = self._drive(operations.reserve(self, timeout, drop))
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
