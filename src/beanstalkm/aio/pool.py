"""Several beanstalkd servers as one queue, for asyncio: :class:`Pool`.

The twin of :class:`beanstalkm.Pool`: the same arguments, strategies, failover and
results, every call awaited. A reserve waits on every server at once with a reserve in
flight on each (their futures, not a selector). What it decides is in
:mod:`beanstalkm.servers`, shared with the blocking pool.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any, Final

from .. import operations
from ..commands import COMMANDS
from ..constants import (
    DEFAULT_DELAY,
    DEFAULT_PRIORITY,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TTR,
    DEFAULT_TUBE,
)
from ..errors import (
    BeanstalkmException,
    CannotConnect,
    CommandFailed,
    Draining,
    PipelineError,
    PoolError,
    ReservationLost,
    SocketError,
    first_error,
)
from ..servers import (
    PoolBase,
    PoolList,
    PoolResult,
    Reserving,
    Server,
    sum_stats,
)
from .client import Client
from .connection import Message

__all__ = ["Pool"]

# Longest a reserve stays in flight on a server (see beanstalkm.pool).
_HOLD: Final = 1
_RESERVE_WITH_TIMEOUT: Final = COMMANDS["reserve_with_timeout"]
_KICK: Final = COMMANDS["kick"]


class Pool(PoolBase[Client]):
    """Several beanstalkd servers used as one queue, for asyncio; see
    :class:`beanstalkm.Pool` for the arguments and behaviour."""

    client_class: type[Client] = Client
    _kind = "beanstalkm.aio.Pool"

    def __init__(
        self,
        servers: str | Iterable[str | tuple[str, int]],
        *,
        strategy: str = "round-robin",
        weights: Mapping[str, int] | None = None,
        ambiguous: str = "retry",
        **client_options: Any,
    ) -> None:
        super().__init__(
            servers, strategy=strategy, weights=weights, ambiguous=ambiguous, **client_options
        )
        # The futures of the reserves in flight, by server address.
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._make(self.servers[0], consumer=True)  # bad options fail here, at once

    async def close(self) -> None:
        """Close every connection (the servers release whatever this pool reserved)."""
        for client in (*self._producers.values(), *self._consumers.values()):
            await client.close()
        for future in self._pending.values():
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: closing failed it
        self._pending.clear()
        self._reserving = Reserving(self.servers)

    async def __aenter__(self) -> Pool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- putting --

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
        key: str | bytes | None = None,
    ) -> Message:
        """Put ``body`` on one server, failing over; see :meth:`beanstalkm.Pool.put`."""
        message: Message | None = None
        errors: list[str] = []
        for attempt, server in enumerate(self.placement.order(key)):
            client = self._producer(server)
            if message is None:
                message = client(
                    body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr
                )
            else:
                message.connection = client
            request = operations.put_request(message, tube)
            try:
                uid = await client.execute(*request)
            except (SocketError, Draining) as exc:
                self._put_failed(server, exc, errors)
                continue
            self._placed(server, attempt)
            operations.sent(message, tube, uid)
            return message
        raise SocketError("no server of the pool took the put: " + "; ".join(errors))

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
        key: str | bytes | None = None,
    ) -> Message:
        """Put ``body`` as a request on one server (placed and failed over as a put)
        and return its reply, which comes on that server; see
        :meth:`beanstalkm.Client.request`. A request whose put got no answer is tried
        on another server only with ``ambiguous="retry"``."""
        errors: list[str] = []
        for attempt, server in enumerate(self.placement.order(key)):
            client = self._producer(server)
            requester = client._requester()
            message = requester.ids.request(
                client, body, sender, channel, priority=priority, delay=delay, ttr=ttr
            )
            try:
                reply: Message = await requester.request(message, tube, timeout)
            except (SocketError, Draining) as exc:
                if message.uid:  # it was put: what failed is the wait for its reply
                    raise
                self._put_failed(server, exc, errors)
                continue
            self._placed(server, attempt)
            return reply
        raise SocketError("no server of the pool took the request: " + "; ".join(errors))

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
        key: str | bytes | None = None,
    ) -> list[Message]:
        """Put many messages spread over the servers, one batch per server, the
        batches at once; see :meth:`beanstalkm.Pool.put_many`."""
        bodies = list(bodies)
        first = self._producer(self.servers[0])
        messages = [
            first(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
            for body in bodies
        ]
        results: list[Any] = [None] * len(messages)
        todo = list(range(len(messages)))
        tried: set[str] = set()
        while todo:
            shares = self.placement.share(len(todo), key)
            shares = [(s, n) for s, n in shares if s.address not in tried]
            if not shares:
                shares = [
                    (s, len(todo)) for s in self.placement.order(key) if s.address not in tried
                ][:1]
            if not shares:
                raise SocketError(f"no server of the pool took the batch ({len(todo)} puts left)")
            batches: list[tuple[Server, list[int]]] = []
            start = 0
            for server, count in shares:
                batches.append((server, todo[start : start + count]))
                start += count
            outcomes = await asyncio.gather(
                *(self._put_batch(server, batch, messages, tube) for server, batch in batches),
                return_exceptions=True,
            )
            failed: list[int] = []
            for (server, batch), outcome in zip(batches, outcomes, strict=True):
                if isinstance(outcome, SocketError):
                    server.failed()
                    tried.add(server.address)
                    if not isinstance(outcome, CannotConnect):
                        self._ambiguous_puts += len(batch)
                        if self.ambiguous == "raise":
                            raise outcome
                    failed += batch
                    continue
                if isinstance(outcome, BaseException):
                    raise outcome
                server.succeeded()
                for i, answer in zip(batch, outcome, strict=True):
                    if isinstance(answer, Draining):
                        failed.append(i)
                        tried.add(server.address)
                    elif isinstance(answer, BaseException):
                        results[i] = answer
                    else:
                        server.puts += 1
                        results[i] = operations.sent(messages[i], tube, answer)
            self._failovers += len(failed)
            todo = failed
        if first_error(results) is not None:
            raise PipelineError(results)
        return messages

    async def _put_batch(
        self, server: Server, batch: list[int], messages: list[Message], tube: str
    ) -> list[Any]:
        client = self._producer(server)
        for i in batch:
            messages[i].connection = client
        return await client.execute_many([operations.put_request(messages[i], tube) for i in batch])

    # -- reserving --

    async def reserve(self, timeout: float | None = None, drop: bool = True) -> Message | None:
        """Reserve a message from whichever server has one first; see
        :meth:`beanstalkm.Pool.reserve`. Cancelling it leaves the reserves in flight:
        the next call takes what they got."""
        deadline = None if timeout is None else time.monotonic() + timeout
        reserving = self._reserving
        first = True
        while True:
            message: Message | None = reserving.take()
            if message is not None:
                operations.received(message, bool(self._options.get("strict")))
                if not drop:
                    return message
                try:
                    await message.delete()
                except ReservationLost:  # nothing sent: the server hands it out again
                    await self._lost(message.server)
                    continue
                except SocketError:
                    # Sent, no reply: it may be deleted, so it is handed out (see the
                    # blocking twin).
                    await self._lost(message.server)
                return message
            now = time.monotonic()
            remaining = None if deadline is None else deadline - now
            if remaining is not None and remaining <= 0 and not first and not reserving.armed:
                return None
            wait = _HOLD if remaining is None else max(0, min(_HOLD, math.ceil(remaining)))
            if first or remaining is None or remaining > 0:
                for server in reserving.to_arm(now):
                    await self._arm(server, wait)
            first = False
            if self._pending:
                done, _ = await asyncio.wait(
                    self._pending.values(), return_when=asyncio.FIRST_COMPLETED
                )
                for server in self.servers:
                    future = self._pending.get(server.address)
                    if future is not None and future in done:
                        del self._pending[server.address]
                        result = future.exception() or future.result()
                        if not reserving.outcome(server, result):
                            await self._consumers[server.address].close()
            elif remaining is not None and remaining <= 0:
                return None
            else:  # every server down, or holding a job handed out: wait for one
                pause = max(reserving.earliest_retry(), 0.05)
                await asyncio.sleep(pause if remaining is None else min(pause, remaining))

    async def _arm(self, server: Server, wait: int) -> None:
        client = self._consumer(server)
        try:
            if not client.connected:
                await client.connect()
            future = client.submit(_RESERVE_WITH_TIMEOUT, (wait,))
        except SocketError:
            self._reserving.lost(server)
            return
        # The connection's watchdog fails the future if the reply is overdue.
        self._pending[server.address] = future
        self._reserving.armed[server.address] = time.monotonic() + wait

    async def _lost(self, address: str) -> None:
        for server in self.servers:
            if server.address == address:
                self._pending.pop(address, None)
                await self._consumers[address].close()
                self._reserving.lost(server)

    async def messages(
        self, timeout: float | None = None, drop: bool = False
    ) -> AsyncIterator[Message]:
        """Reserve messages one after another: ``async for message in pool.messages()``."""
        while True:
            message = await self.reserve(timeout, drop)
            if message is None:
                return
            yield message

    # -- commands on every server --

    async def each(self, name: str, *args: Any) -> dict[str, Any]:
        """Run a command of the queue on every server at once; each server's result,
        or the exception it got, by address."""

        async def one(server: Server) -> Any:
            try:
                result = await self._producer(server).queue(name, *args)
            except BeanstalkmException as exc:
                if isinstance(exc, SocketError):
                    server.failed()
                return exc
            server.succeeded()
            return result

        results = await asyncio.gather(*(one(server) for server in self.servers))
        return dict(zip(self.addresses, results, strict=True))

    async def stats(self) -> PoolResult:
        """The servers' stats added up; see :meth:`beanstalkm.Pool.stats`."""
        results = await self.each("stats")
        if all(isinstance(r, BaseException) for r in results.values()):
            raise PoolError("stats", results)
        return sum_stats(results)

    async def stats_tube(self, tube: str) -> PoolResult:
        """A tube's stats over every server, added up; see :meth:`beanstalkm.Pool.stats_tube`."""
        results = await self.each("stats_tube", tube)
        if all(isinstance(r, BaseException) for r in results.values()):
            error = first_error(list(results.values()))
            if all(isinstance(r, CommandFailed) for r in results.values()) and error:
                raise error
            raise PoolError("stats_tube", results)
        return sum_stats(results)

    async def list_tubes(self) -> PoolList:
        """Every tube on any server; see :meth:`beanstalkm.Pool.list_tubes`."""
        results = await self.each("list_tubes")
        if all(isinstance(r, BaseException) for r in results.values()):
            raise PoolError("list_tubes", results)
        return PoolList(results)

    async def kick(self, bound: int, tube: str | None = None) -> int:
        """Kick up to ``bound`` jobs on each server; see :meth:`beanstalkm.Pool.kick`."""

        async def one(server: Server) -> Any:
            try:
                return await self._producer(server).execute(_KICK, (bound,), None, tube)
            except BeanstalkmException as exc:
                return exc

        results = dict(
            zip(
                self.addresses,
                await asyncio.gather(*(one(s) for s in self.servers)),
                strict=True,
            )
        )
        if any(isinstance(r, BaseException) for r in results.values()):
            raise PoolError("kick", results)
        return sum(results.values())

    async def pause_tube(self, tube: str, delay: int) -> None:
        """Pause ``tube`` on every server that has it; see :meth:`beanstalkm.Pool.pause_tube`."""
        results = await self.each("pause_tube", tube, delay)
        failed = {
            a: r
            for a, r in results.items()
            if isinstance(r, BaseException) and not isinstance(r, CommandFailed)
        }
        if failed or all(isinstance(r, BaseException) for r in results.values()):
            raise PoolError("pause_tube", results)
