"""The high-level asyncio client: :class:`beanstalkm.Client`'s twin, every call awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Final

from .. import operations, replies, tracing
from ..base import BaseClient
from ..commands import COMMANDS
from ..constants import (
    DEFAULT_DELAY,
    DEFAULT_PRIORITY,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TTR,
    DEFAULT_TUBE,
)
from ..errors import BeanstalkmException, NotFound, SocketError, TimedOut
from .connection import Connection, Message

__all__ = ["Client"]

logger = logging.getLogger("beanstalkm.replies")
_DELETE: Final = COMMANDS["delete"]
# Longest a reserve for replies stays in flight: once no request waits, the reader
# stops within this many seconds.
_REPLY_WAIT: Final = 1


class Client(BaseClient[Message], Connection):
    """An asyncio connection that sends and receives JSON messages.

    The twin of :class:`beanstalkm.Client`: the same arguments (``strict`` and
    ``validate`` included), methods and results, awaited.
    """

    # For request(): replies come on a connection of their own, opened on the first.
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

    async def close(self) -> None:
        """Close the connection (and the one replies to requests come on)."""
        if self._replies is not None:
            await self._replies.close()
        await super().close()

    async def put(
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
        """Send ``body`` in an envelope to ``tube``; see :meth:`beanstalkm.Client.put`."""
        span = tracing.producer(tube, self)  # does nothing unless traces are recorded
        sender = span.carry(sender)
        message = self(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
        with span.sending(message):
            request = operations.put_request(message, tube)
            operations.sent(message, tube, await self.execute(*request))
        return message

    async def put_many(
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
        """Send many messages in one pipelined batch; see :meth:`beanstalkm.Client.put_many`."""
        messages = [
            self(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
            for body in bodies
        ]
        return await self.drive(operations.put_many(messages, tube))

    async def reserve(self, timeout: float | None = None, drop: bool = True) -> Message | None:
        """Reserve a message; see :meth:`beanstalkm.Client.reserve`."""
        try:
            message: Message = await self.execute(*operations.reserve_request(timeout))
        except TimedOut:
            return None
        operations.received(message, self.strict)
        if drop:
            await message.delete()
        return message

    async def messages(
        self, timeout: float | None = None, drop: bool = False
    ) -> AsyncIterator[Message]:
        """Reserve messages one after another: ``async for message in client.messages()``.

        Runs until a reserve with ``timeout`` finds nothing (forever when None).
        """
        while True:
            message = await self.reserve(timeout, drop)
            if message is None:
                return
            yield message

    # -- request/reply --

    async def request(
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
        """Put ``body`` as a request and return its reply; see
        :meth:`beanstalkm.Client.request`.

        Concurrent requests share one reply tube and one waiting reserve, on a second
        connection; each reply goes to the request it answers. ``timeout`` is kept to
        the fraction of a second here. Cancelling one request leaves the others be.
        """
        requester = self._requester()
        message = requester.ids.request(
            self, body, sender, channel, priority=priority, delay=delay, ttr=ttr
        )
        return await requester.request(message, tube, timeout)

    def _requester(self) -> _Replies:
        if self._replies is None:
            self._replies = _Replies(self)
        return self._replies

    async def reply(self, message: Message, body: Any = None) -> Message:
        """Put ``body`` as the reply to ``message``; see :meth:`beanstalkm.Client.reply`."""
        reply: Message = replies.reply_message(self, message, body)
        await reply.send(reply.tube or "")
        message.replied = True
        return reply

    async def reply_error(
        self, message: Message, error: BaseException | str | list[str]
    ) -> Message:
        """Answer ``message`` with an error; see :meth:`beanstalkm.Message.reply_error`."""
        reply: Message = replies.reply_message(self, message, None, replies.error_texts(error))
        await reply.send(reply.tube or "")
        message.replied = True
        return reply


class _Replies:
    """An asyncio client's side of request/reply: one connection watching the client's
    reply tube, and one task (while requests wait) reserving from it and handing each
    reply to the request it answers."""

    def __init__(self, client: Client) -> None:
        self.ids = replies.RequestIds()
        self.connection = Client(
            client.host,
            client.port,
            client.timeout,
            watch=self.ids.tube,
            validate=client.validate,
        )
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def request(self, message: Message, tube: str, timeout: float) -> Message:
        """Put the request ``message`` (on its client's connection) and wait for its
        reply. Until it is put, ``message.uid`` is 0 (see the blocking twin)."""
        operations.reserve_seconds(timeout)
        rid = replies.request_id(message)
        assert rid is not None
        # Waited for before it is sent: a quick reply may come before the put's answer.
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[rid] = future
        try:
            with tracing.producer_of(message, tube, self.connection).sending(message):
                await message.send(tube)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read())
            try:
                reply = await asyncio.wait_for(future, timeout)
            except asyncio.TimeoutError:
                raise replies.no_reply(message, timeout) from None
        finally:
            del self._waiting[rid]
        return replies.outcome(reply, message)

    async def _read(self) -> None:
        """Reserve replies while requests wait; delete each, hand it to its request."""
        connection = self.connection
        settling: list[asyncio.Future[Any]] = []
        try:
            while self._waiting:
                try:
                    reply: Message = await connection.execute(
                        *operations.reserve_request(_REPLY_WAIT)
                    )
                except TimedOut:
                    continue
                # The delete goes out now and is answered before the next reserve.
                settling.append(connection.submit(_DELETE, (reply.uid,)))
                operations.deleted(reply)
                future = self._waiting.get(replies.in_reply_to(reply) or "")
                if future is None:
                    logger.debug("deleted reply job %s: no request waits for it", reply.uid)
                elif not future.done():
                    future.set_result(reply)
                settling = [f for f in settling if not _settled(f)]
        except BeanstalkmException as exc:
            # The requests waiting now may have had their replies released with the
            # connection: they fail, and the next request starts afresh.
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(exc)
        finally:
            for future in settling:
                if future.done() and not future.cancelled():
                    future.exception()

    async def close(self) -> None:
        reader = self._reader
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.wait((reader,))  # not `await reader`: its CancelledError is not ours
        connection = self.connection
        try:
            # Even when not connected now (the reader's reserve was cancelled with
            # its connection): late replies may have come.
            await connection.drive(replies.sweep(None))
        except SocketError:
            pass  # what is left is released with the connection: see docs/request-reply.md
        finally:
            await connection.close()


def _settled(future: asyncio.Future[Any]) -> bool:
    if not future.done():
        return False
    error = future.exception()
    if error is not None and not isinstance(error, NotFound):
        logger.debug("deleting a reply failed: %s", error)
    return True
