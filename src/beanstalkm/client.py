"""The high-level blocking client: JSON messages in envelopes, put and reserved."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from . import operations, tracing
from .base import BaseClient
from .connection import Connection, Message
from .constants import DEFAULT_DELAY, DEFAULT_PRIORITY, DEFAULT_TTR, DEFAULT_TUBE
from .errors import TimedOut

__all__ = ["Client"]


class Client(BaseClient[Message], Connection):
    """A connection that sends and receives JSON messages.

    Takes :class:`Connection`'s arguments, plus:

    :param validate: check each received envelope against ``message.json`` (on first
        use of the message's fields; a few microseconds, no dependency). The result is
        :attr:`Message.valid` and :attr:`Message.validation_error`; the body is never
        changed by it. False skips the check (``valid`` is then None).
    :param strict: reserving a job whose envelope fails validation raises
        :class:`~beanstalkm.InvalidMessage` (the job stays reserved, reachable as
        ``exc.message``); otherwise the failure is only recorded on the message.

    >>> client = Client("127.0.0.1", 11300)              # doctest: +SKIP
    >>> client.put({"to": "ada"}, tube="emails").uid     # doctest: +SKIP
    1
    """

    def __init__(
        self, *args: Any, strict: bool = False, validate: bool = True, **kwargs: Any
    ) -> None:
        self._client_options(strict, validate)
        super().__init__(*args, **kwargs)

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

        Returns the sent :class:`Message` (``uid > 0``). The tube the connection uses
        for :attr:`queue` is left as it was: a put costs one command, plus a ``use``
        when the previous command that needed a tube needed another one. Raises
        TypeError for a body JSON cannot encode, before sending anything. Traced
        with OpenTelemetry when the application records traces (see
        :mod:`beanstalkm.tracing`).
        """
        span = tracing.producer(tube, self)  # does nothing unless traces are recorded
        sender = span.carry(sender)
        message = self(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
        with span.sending(message):
            operations.sent(message, tube, self.execute(*operations.put_request(message, tube)))
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
        return self.drive(operations.put_many(messages, tube))

    def reserve(self, timeout: float | None = None, drop: bool = True) -> Message | None:
        """Reserve a message from the watched tubes.

        Waits forever when ``timeout`` is None, else up to ``timeout`` seconds
        (0 returns at once; fractions round up), and returns None if no job came.
        With ``drop`` (the default) the job is deleted on receipt; otherwise delete,
        release or bury it. Raises :class:`~beanstalkm.DeadlineSoon` when a job this
        connection holds is about to time out.
        """
        try:
            message: Message = self.execute(*operations.reserve_request(timeout))
        except TimedOut:
            return None
        operations.received(message, self.strict)
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
