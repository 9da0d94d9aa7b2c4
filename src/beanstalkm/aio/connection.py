"""The asyncio connection: a transport driving :class:`~beanstalkm.protocol.ClientProtocol`.

The twin of :mod:`beanstalkm.connection`: the same session, operations and errors, with
every call awaitable. Calls made concurrently on one connection are pipelined: each
request is written at once, and the protocol hands each reply to the request's future
(its tag), in order. A connection runs its commands one after the other on the server,
so while a reserve waits for a job, later commands on that connection wait too: give
consumers and producers connections of their own.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .. import operations, replies
from ..base import IDLE_CHECK_AFTER, BaseConnection
from ..command_methods import AsyncQueueCommands
from ..commands import Command, check_tube
from ..constants import DEFAULT_TUBE
from ..errors import (
    BeanstalkmException,
    CannotConnect,
    CommandFailed,
    NotBeanstalkd,
    SocketError,
    first_error,
)
from ..message import BaseMessage
from ..pipeline import BasePipeline
from ..protocol import NEED_DATA, Request, check_request, unanswered
from ..sockets import peer_closed
from ..urls import unix_path

if TYPE_CHECKING:
    from ..stats import JobStats

__all__ = ["Connection", "Message", "Pipeline", "Queue"]

_C = TypeVar("_C", bound="Connection")
_T = TypeVar("_T")
# Write big batches in pieces, waiting while the transport's buffer is full.
_WRITE_CHUNK: Final = 256 * 1024


class Message(BaseMessage):
    """A message of the asyncio client: :class:`beanstalkm.Message` with awaitable
    job operations."""

    __slots__ = ()

    if TYPE_CHECKING:
        connection: Connection

    async def send(self, tube: str = DEFAULT_TUBE) -> int:
        """Put this message into ``tube`` (the used tube is left as it was); return its id."""
        uid = await self.connection.execute(*operations.put_request(self, tube))
        return operations.sent(self, tube, uid)

    async def delete(self) -> None:
        """Delete the job."""
        await self.connection.execute(*operations.delete_request(self))
        operations.deleted(self)

    async def release(self, priority: int | None = None, delay: int | None = None) -> None:
        """Release the reserved job; keeps its priority unless one is given."""
        await self.connection.drive(operations.release(self, priority, delay))

    async def bury(self, priority: int | None = None) -> None:
        """Bury the reserved job; keeps its priority unless one is given."""
        await self.connection.drive(operations.bury(self, priority))

    async def kick(self) -> None:
        """Kick the job (buried or delayed) to ready."""
        await self.connection.execute(*operations.kick_request(self))

    async def touch(self) -> None:
        """Ask for more time to work on the reserved job."""
        await self.connection.execute(*operations.touch_request(self))

    async def stats(self) -> JobStats | None:
        """The job's statistics, or None once it is deleted (or gone from the server)."""
        return await self.connection.drive(operations.stats(self))

    async def reply(self, body: Any = None) -> Message:
        """Answer this request; see :meth:`beanstalkm.Message.reply`."""
        reply: Message = replies.reply_message(self.connection, self, body)
        await reply.send(reply.tube or "")
        self.replied = True
        return reply

    async def reply_error(self, error: BaseException | str | list[str]) -> Message:
        """Answer this request with an error; see :meth:`beanstalkm.Message.reply_error`."""
        reply: Message = replies.reply_message(
            self.connection, self, None, replies.error_texts(error)
        )
        await reply.send(reply.tube or "")
        self.replied = True
        return reply


class Queue(AsyncQueueCommands[Message]):
    """The low-level layer of the asyncio client: one awaitable method per command."""

    __slots__ = ("_execute", "connection")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        # The methods return the coroutine of Connection.execute: awaitable as is.
        self._execute = connection.execute


class Pipeline(BasePipeline):
    """Commands of an asyncio connection, run together by :meth:`execute`."""

    __slots__ = ()

    async def execute(self, raise_on_error: bool = False) -> list[Any]:
        """Send every recorded command at once; return their results in order
        (see :meth:`beanstalkm.Pipeline.execute`)."""
        requests, payloads = self._take()
        if not requests:
            return []
        results = await self._connection.execute_many(requests, payloads)
        return self._finish(results, raise_on_error)

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reset()


class _Stream(asyncio.BufferedProtocol):
    """The transport's callbacks, handed to the connection that owns it.

    Reads go into one buffer kept for the connection's life: a plain Protocol gets a
    new 256 kB bytes object per read, which costs page faults on every reply.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.writable: asyncio.Event | None = None
        self._view = memoryview(bytearray(65536))

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        self.connection._received(self, self._view[:nbytes])

    def eof_received(self) -> bool:
        self.connection._received(self, b"")
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.connection._lost(self, exc)
        if self.writable is not None:
            self.writable.set()

    def pause_writing(self) -> None:
        self.writable = asyncio.Event()

    def resume_writing(self) -> None:
        if self.writable is not None:
            self.writable.set()
            self.writable = None


class Connection(BaseConnection):
    """An asyncio connection to one beanstalkd server.

    Takes the same arguments as :class:`beanstalkm.Connection` and behaves the same:
    lazy connection, a ``timeout`` bounding connecting and each reply (a waiting
    reserve gets as long as it asked for, plus the timeout), reconnection with the
    used and watched tubes restored, and the same exceptions. Cancelling a call that
    holds a reserve (a reserve, or a pipeline with one) resets the connection, so the
    server releases anything it reserved for it; the next command reconnects.
    """

    message_class = Message
    queue_class = Queue
    pipeline_class = Pipeline
    if TYPE_CHECKING:
        queue: Queue

        def pipeline(self) -> Pipeline: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._transport: asyncio.Transport | None = None
        self._stream: _Stream | None = None
        self._socket: socket.socket | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        # When bytes last came, and since when the reply now awaited has been awaited.
        self._last_activity = 0.0
        self._waiting_since = 0.0
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set on connect
        super().__init__(*args, **kwargs)

    # -- lifecycle --

    @property
    def connected(self) -> bool:
        return self._transport is not None

    async def connect(self) -> None:
        """Connect now (commands connect on their own when needed)."""
        if self._transport is None:
            await self._open()

    async def close(self) -> None:
        """Send ``quit`` and close the connection; a later command reconnects."""
        transport = self._transport
        if transport is None:
            return
        transport.write(b"quit\r\n")
        self._reset(SocketError(f"connection to {self.address} closed"), graceful=True)

    async def reconnect(self) -> None:
        """Close the connection and open a new one with the same tubes."""
        await self.close()
        await self._open()

    async def __aenter__(self: _C) -> _C:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _open(self) -> None:
        if self._connect_lock is None:
            self._connect_lock = asyncio.Lock()
        async with self._connect_lock:
            if self._transport is not None:
                return  # another task connected while this one waited
            loop = asyncio.get_running_loop()
            path = unix_path(self.host)
            try:
                if path is None:
                    opening = loop.create_connection(lambda: _Stream(self), self.host, self.port)
                else:
                    opening = loop.create_unix_connection(lambda: _Stream(self), path)
                transport, stream = await asyncio.wait_for(opening, self.timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else exc
                raise CannotConnect(
                    f"cannot connect to {self.address}: {reason}", self.address
                ) from exc
            wrapped = transport.get_extra_info("socket")
            if path is None:
                wrapped.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                wrapped.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            # The transport's socket cannot be peeked at through its wrapper; a
            # duplicate descriptor of the same connection can (see _ensure_open).
            probe = socket.socket(fileno=os.dup(wrapped.fileno()))
            self._transport, self._stream, self._socket = transport, stream, probe
            self._loop = loop
            self._last_activity = loop.time()
            restore = self._proto.connected()
            if restore:
                results = await self._gather(self._submit(restore), restore)
                error = first_error(results)
                if error is not None:
                    self._reset(SocketError("could not restore the session"))
                    raise error

    async def _ensure_open(self, check: Callable[[], object]) -> None:
        """After a pause or a failure: check the connection, or open a new one.
        ``check`` validates the request first, so bad arguments never cost a
        connection."""
        if self._transport is not None:
            if self._proto.in_flight:
                return
            if self._socket is None or not peer_closed(self._socket):
                return
            # The event loop may not have seen the end-of-file yet (it was busy, or
            # not running): do not send into a dead connection.
            self._reset(SocketError(f"connection to {self.address} closed by the server"))
        check()
        await self._open()

    def _reset(self, error: BeanstalkmException, graceful: bool = False) -> None:
        """Drop the transport and fail every request in flight with ``error``."""
        transport, self._transport, self._stream = self._transport, None, None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if transport is not None:
            if graceful:
                transport.close()
            else:
                transport.abort()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        for future in self._proto.reset():
            if not future.done():
                future.set_exception(error)

    # -- the transport's side --

    def _received(self, stream: _Stream, data: bytes | memoryview) -> None:
        if stream is not self._stream:
            return
        proto = self._proto
        proto.receive_data(data)
        now = self._last_activity = self._loop.time()
        try:
            while True:
                try:
                    result = proto.next_result()
                except CommandFailed as exc:
                    self._waiting_since = now
                    future = proto.tag
                    if not future.done():
                        future.set_exception(exc)
                    continue
                if result is NEED_DATA:
                    break
                self._waiting_since = now
                future = proto.tag
                if not future.done():
                    future.set_result(result)
        except BeanstalkmException as exc:  # garbage, or the server closed the connection
            if isinstance(exc, NotBeanstalkd):
                exc = exc.at(self.address)
            future = proto.tag
            if future is not None and not future.done():
                future.set_exception(exc)  # the request whose reply made no sense
            self._reset(exc)
            return
        if self._watchdog is None and proto.in_flight and self.timeout is not None:
            # The reply awaited may have been a reserve's, which waits unwatched: the
            # ones behind it get their allowance from now.
            self._check_timeout()

    def _lost(self, stream: _Stream, exc: Exception | None) -> None:
        if stream is self._stream:
            reason = f": {exc}" if exc else ""
            self._reset(SocketError(f"connection to {self.address} lost{reason}"))

    def _check_timeout(self) -> None:
        self._watchdog = None
        proto = self._proto
        if not proto.in_flight:
            return
        allowance = proto.allowance()
        if allowance is None:
            return  # a reserve waiting for as long as it takes; re-armed by the reply
        # The whole reply within its allowance, however slowly its bytes come.
        deadline = self._waiting_since + allowance
        if self._loop.time() >= deadline:
            self._reset(SocketError(f"timed out waiting for {self.address}"))
        else:
            self._watchdog = self._loop.call_at(deadline, self._check_timeout)

    # -- running commands --

    def _submit(
        self, requests: Sequence[Request], payloads: Sequence[bytes] | None = None
    ) -> list[asyncio.Future[Any]]:
        """Write requests now; one future per request, for its result."""
        # No await between recording the requests and writing them: the order of the
        # requests in the protocol is their order on the wire, whatever other tasks do.
        transport = self._transport
        if transport is None:  # lost again while this task waited to run
            raise SocketError(f"connection to {self.address} lost")
        loop = self._loop
        futures = [loop.create_future() for _ in requests]
        idle = not self._proto.in_flight
        transport.write(self._proto.send_many(requests, payloads, futures))
        if idle:
            self._waiting_since = loop.time()
        if self._watchdog is None and self.timeout is not None:
            self._check_timeout()
        return futures

    async def execute(
        self,
        command: Command,
        args: Sequence[object],
        generation: int | None = None,
        tube: str | None = None,
    ) -> Any:
        """Run one command and return its result (the queue's methods all end here);
        ``generation`` and ``tube`` as for :meth:`beanstalkm.Connection.execute`."""
        if self._transport is None or (
            not self._proto.in_flight
            and self._loop.time() - self._last_activity >= IDLE_CHECK_AFTER
        ):
            await self._ensure_open(lambda: check_request(command, args, tube))
        future = self.submit(command, args, generation, tube)
        try:
            return await future
        except SocketError as exc:
            raise unanswered(command, exc) from None
        except asyncio.CancelledError:
            if command.blocking:
                # The server would still reserve a job for this connection (or has,
                # and nobody will see it): closing the connection releases it.
                self._reset(SocketError("a waiting reserve was cancelled"))
            raise

    def submit(
        self,
        command: Command,
        args: Sequence[object],
        generation: int | None = None,
        tube: str | None = None,
    ) -> asyncio.Future[Any]:
        """Write one request now and return the future of its result, without waiting
        (:meth:`execute` waits for it). The connection must be open: SocketError
        otherwise. Lets a request share a round trip with the one written after it;
        the worker sends a job's delete this way, ahead of its next reserve."""
        transport = self._transport
        if transport is None:  # lost again while this task waited to run
            raise SocketError(f"connection to {self.address} lost")
        proto = self._proto
        loop = self._loop
        future: asyncio.Future[Any] = loop.create_future()
        idle = not proto.in_flight
        transport.write(proto.send(command, args, generation, tube, future))
        if idle:
            self._waiting_since = loop.time()
        if self._watchdog is None and self.timeout is not None:
            self._check_timeout()
        return future

    async def execute_many(
        self, requests: Sequence[Request], payloads: Sequence[bytes] | None = None
    ) -> list[Any]:
        """Run requests pipelined; return each result or CommandFailed, in order."""
        if payloads is None:
            payloads = [command.encode(args) for command, args, _, _ in requests]
        for _, _, _, tube in requests:
            if tube is not None:
                check_tube(tube)
        if self._transport is None or not self._proto.in_flight:
            await self._ensure_open(lambda: None)
        futures: list[asyncio.Future[Any]] = []
        start = 0
        size = 0
        for end, payload in enumerate(payloads, 1):
            size += len(payload)
            if size >= _WRITE_CHUNK or end == len(payloads):
                futures += self._submit(requests[start:end], payloads[start:end])
                start, size = end, 0
                stream = self._stream
                if stream is not None and stream.writable is not None and end < len(payloads):
                    await stream.writable.wait()
                if self._transport is None and end < len(payloads):
                    break  # the connection failed; the futures say how
        results = await self._gather(futures, requests)
        if len(results) < len(requests):
            raise first_error(results) or SocketError("connection lost")
        return results

    async def _gather(
        self, futures: list[asyncio.Future[Any]], requests: Sequence[Request]
    ) -> list[Any]:
        # Replies come in order: once the last is in, so is every other.
        try:
            if futures:
                await asyncio.wait((futures[-1],))
        except asyncio.CancelledError:
            if any(
                command.blocking and not future.done()
                for future, (command, _, _, _) in zip(futures, requests, strict=False)
            ):
                # A reserve of the batch may still get a job: release it with the
                # connection rather than leave it reserved out of sight.
                self._reset(SocketError("a pipeline holding a reserve was cancelled"))
            for future in futures:
                if future.done() and not future.cancelled():
                    future.exception()
            raise
        results: list[Any] = []
        for future in futures:
            if not future.done():
                await asyncio.wait((future,))
            error = future.exception()
            if isinstance(error, CommandFailed):
                results.append(error)
            elif error is not None:
                for other in futures:
                    if other.done():
                        other.exception()
                raise error
            else:
                results.append(future.result())
        return results

    async def drive(
        self,
        operation: Generator[Any, Any, _T],
        other: Callable[[Any], Any] | None = None,
    ) -> _T:
        """Run a high-level operation (see :mod:`beanstalkm.operations`) to its end.

        ``other`` is called with each step that is not a request (a worker's job flow
        yields one to run the handler); what it returns is awaited and sent back.
        """
        try:
            step: Any = next(operation)
            while True:
                if isinstance(step, tuple):
                    try:
                        result = await self.execute(*step)
                    except BeanstalkmException as exc:
                        step = operation.throw(exc)
                        continue
                elif isinstance(step, list):
                    try:
                        result = await self.execute_many(step)
                    except BeanstalkmException as exc:
                        step = operation.throw(exc)
                        continue
                elif other is None:
                    raise TypeError(f"not a request: {step!r}")
                else:
                    result = await other(step)
                step = operation.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
