"""The high-level blocking client: JSON messages in envelopes, put and reserved."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from . import operations, replies, tracing
from .base import BaseClient
from .commands import COMMANDS
from .connection import Connection, Message
from .constants import (
    DEFAULT_DELAY,
    DEFAULT_PRIORITY,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TTR,
    DEFAULT_TUBE,
)
from .errors import NotFound, SocketError, TimedOut

__all__ = ["Client"]

_DELETE: Final = COMMANDS["delete"]


class Client(BaseClient[Message], Connection):
    """A connection that sends and receives JSON messages.

    Takes :class:`Connection`'s arguments, plus:

    :param validate: check each received envelope against ``message.json`` (on first
        use of the message's fields; a few microseconds, no dependency). The result is
        :attr:`Message.valid` and :attr:`Message.validation_error`; the body is never
        changed by it. False skips the check (``valid`` is then None).
    :param json_default: turns what JSON has no type for into what it has, for the
        bodies this client puts (as ``json.dumps``'s ``default``):
        :func:`beanstalkm.json_default` writes dates, times, UUIDs, decimals, enums and
        sets. The token is computed on what is written, as always.
    :param strict: reserving a job whose envelope fails validation raises
        :class:`~beanstalkm.InvalidMessage` (the job stays reserved, reachable as
        ``exc.message``); otherwise the failure is only recorded on the message.

    >>> client = Client("127.0.0.1", 11300)              # doctest: +SKIP
    >>> client.put({"to": "ada"}, tube="emails").uid     # doctest: +SKIP
    1
    """

    # For request(): the connection replies come on, opened on the first request.
    _replies: _Replies | None = None

    def __init__(
        self,
        *args: Any,
        strict: bool = False,
        validate: bool = True,
        json_default: Callable[[Any], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._client_options(strict, validate, json_default)
        super().__init__(*args, **kwargs)

    def close(self) -> None:
        """Close the connection (and the one replies to requests come on)."""
        if self._replies is not None:
            self._replies.close()
        super().close()

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

    # -- request/reply --

    def request(
        self,
        body: Any,
        tube: str = DEFAULT_TUBE,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
    ) -> Message:
        """Put ``body`` as a request into ``tube`` and return the reply (a
        :class:`Message`: ``reply.body`` is what the handler returned).

        The request's ``subscribe`` names a tube private to this client, where a
        :class:`~beanstalkm.Worker` (or ``message.reply()``) puts the reply. Waits up to
        ``timeout`` seconds (whole seconds, fractions rounded up, as beanstalkd's
        reserve counts them). Raises :class:`~beanstalkm.RemoteError` when the reply
        says the handling failed, and :class:`~beanstalkm.NoReply` (a
        :class:`~beanstalkm.TimedOut`) when no reply came: the request was put and may
        still be handled. A reply that comes too late is deleted when this client next
        looks for replies, and :meth:`close` leaves its reply tube empty.

        Costs one round trip to put, then one reserve that waits for the reply on a
        second connection, opened on the first request.
        """
        requester = self._requester()
        message = requester.ids.request(
            self, body, sender, channel, priority=priority, delay=delay, ttr=ttr
        )
        return requester.request(message, tube, timeout)

    def _requester(self) -> _Replies:
        if self._replies is None:
            self._replies = _Replies(self)
        return self._replies

    def reply(self, message: Message, body: Any = None) -> Message:
        """Put ``body`` as the reply to ``message`` (a request) into the tube its
        ``subscribe`` names, on this client's server; see :meth:`Message.reply`."""
        reply: Message = replies.reply_message(self, message, body)
        reply.send(reply.tube or "")
        message.replied = True
        return reply

    def reply_error(self, message: Message, error: BaseException | str | list[str]) -> Message:
        """Answer ``message`` with an error; see :meth:`Message.reply_error`."""
        reply: Message = replies.reply_message(self, message, None, replies.error_texts(error))
        reply.send(reply.tube or "")
        message.replied = True
        return reply


class _Replies:
    """A client's side of request/reply: a second connection, watching only the
    client's reply tube, that puts requests and reserves their replies.

    Requests go out on this connection rather than the client's own so that deleting
    the previous reply shares the put's round trip.
    """

    def __init__(self, client: Client) -> None:
        self.ids = replies.RequestIds()
        self.connection = Client(
            client.host,
            client.port,
            client.timeout,
            watch=self.ids.tube,
            validate=client.validate,
        )
        # The reply last handed out, deleted with the next request (or on close).
        self._done: int | None = None

    def request(self, message: Message, tube: str, timeout: float) -> Message:
        """Put the request ``message`` and wait for its reply. Until it is put,
        ``message.uid`` is 0: a pool tells by it whether another server may take it."""
        operations.reserve_seconds(timeout)  # checked before anything is sent
        with tracing.producer_of(message, tube, self.connection).sending(message):
            self.send(message, tube)
        return self.wait(message, timeout)

    def send(self, message: Message, tube: str) -> None:
        """Put the request (and delete the previous reply in the same round trip)."""
        put = operations.put_request(message, tube)
        done, self._done = self._done, None
        if done is None:
            uid = self.connection.execute(*put)
        else:
            deleted, uid = self.connection.execute_many([(_DELETE, (done,), None, None), put])
            if isinstance(uid, BaseException):
                raise uid
            if isinstance(deleted, BaseException) and not isinstance(deleted, NotFound):
                raise deleted
        operations.sent(message, tube, uid)

    def wait(self, request: Message, timeout: float) -> Message:
        """The reply to ``request``; replies to earlier requests are deleted."""
        rid = replies.request_id(request)
        deadline = time.monotonic() + timeout
        connection = self.connection
        while True:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                reply: Message = connection.execute(*operations.reserve_request(remaining))
            except TimedOut:
                raise replies.no_reply(request, timeout) from None
            if replies.in_reply_to(reply) == rid:
                self._done = reply.uid
                # Handed out as settled: it is deleted with the next request.
                operations.deleted(reply)
                return replies.outcome(reply, request)
            reply.delete()  # too late for its request

    def close(self) -> None:
        """Delete the last reply and any that came too late, then close: the reply
        tube is left empty (and so disappears)."""
        done, self._done = self._done, None
        connection = self.connection
        try:
            # Even when not connected now (a reserve interrupted, a failure): late
            # replies may have come since.
            connection.drive(replies.sweep(done))
        except SocketError:
            pass  # what is left is released with the connection: see docs/request-reply.md
        finally:
            connection.close()
