"""The high-level asyncio client: :class:`beanstalkm.Client`'s twin, every call awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from .. import operations, tracing
from ..base import BaseClient
from ..constants import DEFAULT_DELAY, DEFAULT_PRIORITY, DEFAULT_TTR, DEFAULT_TUBE
from ..errors import TimedOut
from .connection import Connection, Message

__all__ = ["Client"]


class Client(BaseClient[Message], Connection):
    """An asyncio connection that sends and receives JSON messages.

    The twin of :class:`beanstalkm.Client`: the same arguments (``strict`` and
    ``validate`` included), methods and results, awaited.
    """

    def __init__(
        self, *args: Any, strict: bool = False, validate: bool = True, **kwargs: Any
    ) -> None:
        self._client_options(strict, validate)
        super().__init__(*args, **kwargs)

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
