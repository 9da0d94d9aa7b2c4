"""The asyncio client: the blocking client's API, every call awaitable.

::

    from beanstalkm import aio

    async with aio.Client("127.0.0.1", 11300, watch="emails") as client:
        await client.put({"to": "ada"}, tube="emails")
        async for message in client.messages():
            await handle(message.body)
            await message.delete()

It drives the same sans-IO :class:`~beanstalkm.protocol.ClientProtocol` and the same
command table as the blocking client: one parser, one set of checks. Calls made
concurrently on one connection are pipelined: each request is written at once and the
replies, which beanstalkd sends in order, are matched to them in order. A connection
runs its commands one after the other on the server, so while a reserve waits for a
job, later commands on that connection wait too: give consumers and producers
connections of their own.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from . import message as _message
from . import operations
from .client import ClientBase
from .commands import Command
from .connection import IDLE_CHECK_AFTER, BaseConnection, peer_closed, reservation_lost
from .constants import (
    DEFAULT_DELAY,
    DEFAULT_PRIORITY,
    DEFAULT_TTR,
    DEFAULT_TUBE,
)
from .errors import BeanstalkmException, CommandFailed, SocketError
from .operations import Operation
from .pipeline import BasePipeline, first_error
from .protocol import NEED_DATA, Job
from .queue import BaseQueue, install_commands

if TYPE_CHECKING:
    from .aioworker import Worker as Worker
    from .stats import JobStats, ServerStats, TubeStats

__all__ = ["Client", "Connection", "Message", "Pipeline", "Queue", "Worker"]

_C = TypeVar("_C", bound="Connection")
_T = TypeVar("_T")
# Write big batches in pieces, waiting while the transport's buffer is full.
_WRITE_CHUNK: Final = 256 * 1024


class Message(_message.BaseMessage):
    """A message of the asyncio client: :class:`beanstalkm.Message` with awaitable
    job operations."""

    __slots__ = ()

    if TYPE_CHECKING:
        _conn: Connection

    async def send(self, tube: str = DEFAULT_TUBE) -> int:
        """Put this message into ``tube`` (the used tube is left as it was); return its id."""
        return await self._conn._drive(operations.send(self, tube))

    async def delete(self) -> None:
        """Delete the job."""
        await self._conn._drive(operations.delete(self))

    async def release(self, priority: int | None = None, delay: int | None = None) -> None:
        """Release the reserved job; keeps its priority unless one is given."""
        await self._conn._drive(operations.release(self, priority, delay))

    async def bury(self, priority: int | None = None) -> None:
        """Bury the reserved job; keeps its priority unless one is given."""
        await self._conn._drive(operations.bury(self, priority))

    async def kick(self) -> None:
        """Kick the job (buried or delayed) to ready."""
        await self._conn._drive(operations.kick(self))

    async def touch(self) -> None:
        """Ask for more time to work on the reserved job."""
        await self._conn._drive(operations.touch(self))

    async def stats(self) -> JobStats | None:
        """The job's statistics, or None once it is deleted (or gone from the server)."""
        return await self._conn._drive(operations.stats(self))


class Queue(BaseQueue):
    """The low-level layer of the asyncio client: one awaitable method per command."""

    __slots__ = ()

    if TYPE_CHECKING:

        async def put(
            self, body: bytes | str, priority: int = ..., delay: int = ..., ttr: int = ...
        ) -> int: ...
        async def use(self, tube: str) -> str: ...
        async def reserve(self) -> Message: ...
        async def reserve_with_timeout(self, seconds: int) -> Message: ...
        async def reserve_job(self, id: int) -> Message: ...
        async def delete(self, id: int) -> None: ...
        async def release(self, id: int, priority: int = ..., delay: int = ...) -> None: ...
        async def bury(self, id: int, priority: int = ...) -> None: ...
        async def touch(self, id: int) -> None: ...
        async def watch(self, tube: str) -> int: ...
        async def ignore(self, tube: str) -> int: ...
        async def peek(self, id: int) -> Message | None: ...
        async def peek_ready(self) -> Message | None: ...
        async def peek_delayed(self) -> Message | None: ...
        async def peek_buried(self) -> Message | None: ...
        async def kick(self, bound: int) -> int: ...
        async def kick_job(self, id: int) -> None: ...
        async def stats_job(self, id: int) -> JobStats: ...
        async def stats_tube(self, tube: str) -> TubeStats: ...
        async def stats(self) -> ServerStats: ...
        async def list_tubes(self) -> list[str]: ...
        async def using(self) -> str: ...
        async def watching(self) -> list[str]: ...
        async def pause_tube(self, tube: str, delay: int) -> None: ...


# The generated methods return the coroutine of Connection._execute: awaitable as is.
install_commands(Queue)


class Pipeline(BasePipeline):
    """Commands of an asyncio connection, run together by :meth:`execute`."""

    async def execute(self, raise_on_error: bool = False) -> list[Any]:
        """Send every recorded command at once; return their results in order
        (see :meth:`beanstalkm.pipeline.Pipeline.execute`)."""
        requests, payloads = self._take()
        if not requests:
            return []
        results = await self._connection._execute_many(requests, payloads)
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
    used and watched tubes restored, and the same exceptions. Cancelling a waiting
    reserve resets the connection (the server then releases anything it reserved
    for it); the next command reconnects.
    """

    message_class: type[Message] = Message
    queue_class = Queue
    pipeline_class = Pipeline
    if TYPE_CHECKING:
        queue: Queue

        def pipeline(self) -> Pipeline: ...

    def _init_io(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._stream: _Stream | None = None
        self._socket: socket.socket | None = None
        # One future per request in flight, in the order of the requests; with each,
        # how long its reply may take (None: as long as it takes).
        self._waiters: deque[tuple[asyncio.Future[Any], float | None]] = deque()
        self._connect_lock: asyncio.Lock | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._loop: asyncio.AbstractEventLoop = None  # type: ignore[assignment]  # set on connect

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
        self._reset(SocketError(f"connection to {self.host}:{self.port} closed"), graceful=True)

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
            try:
                transport, stream = await asyncio.wait_for(
                    loop.create_connection(lambda: _Stream(self), self.host, self.port),
                    self.timeout,
                )
            except (OSError, asyncio.TimeoutError) as exc:
                reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else exc
                raise SocketError(f"cannot connect to {self.host}:{self.port}: {reason}") from exc
            wrapped = transport.get_extra_info("socket")
            wrapped.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            wrapped.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            # The transport's socket cannot be peeked at through its wrapper; a
            # duplicate descriptor of the same connection can (see _ensure_open).
            probe = socket.socket(fileno=os.dup(wrapped.fileno()))
            self._transport, self._stream, self._socket = transport, stream, probe
            self._loop = loop
            self._last_activity = loop.time()
            self._epoch += 1
            self._proto.reset()
            restore = self._proto.restore_requests()
            if restore:
                futures = self._send_many(restore, [c.encode(a) for c, a in restore])
                results = await self._gather(futures)
                error = first_error(results)
                if error is not None:
                    self._reset(SocketError("could not restore the session"))
                    raise error

    async def _ensure_open(self) -> None:
        if self._transport is None:
            await self._open()
            return
        if self._waiters:
            return
        idle = self._loop.time() - self._last_activity
        if idle >= IDLE_CHECK_AFTER and self._socket is not None and peer_closed(self._socket):
            # The event loop may not have seen the end-of-file yet (it was busy, or
            # not running): do not send into a dead connection.
            self._reset(SocketError(f"connection to {self.host}:{self.port} closed by the server"))
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
        waiters, self._waiters = self._waiters, deque()
        for future, _ in waiters:
            if not future.done():
                future.set_exception(error)
        self._proto.reset()

    # -- the transport's side --

    def _received(self, stream: _Stream, data: bytes | memoryview) -> None:
        if stream is not self._stream:
            return
        proto = self._proto
        proto.receive_data(data)
        waiters = self._waiters
        self._last_activity = self._loop.time()
        try:
            while waiters:
                try:
                    result = proto.next_result()
                except CommandFailed as exc:
                    future = waiters.popleft()[0]
                    if not future.done():
                        future.set_exception(exc)
                    continue
                if result is NEED_DATA:
                    return
                future = waiters.popleft()[0]
                if not future.done():
                    future.set_result(result)
            proto.next_result()  # raises for bytes no request asked for, or an EOF
        except BeanstalkmException as exc:
            self._reset(exc)

    def _lost(self, stream: _Stream, exc: Exception | None) -> None:
        if stream is self._stream:
            reason = f": {exc}" if exc else ""
            self._reset(SocketError(f"connection to {self.host}:{self.port} lost{reason}"))

    def _check_timeout(self) -> None:
        self._watchdog = None
        if not self._waiters:
            return
        allowance = self._waiters[0][1]
        if allowance is None:
            return  # a reserve waiting for as long as it takes; re-armed by the reply
        loop = asyncio.get_running_loop()
        deadline = self._last_activity + allowance
        if loop.time() >= deadline:
            self._reset(SocketError(f"timed out waiting for {self.host}:{self.port}"))
        else:
            self._watchdog = loop.call_at(deadline, self._check_timeout)

    # -- running commands --

    def _send_many(
        self, requests: Sequence[tuple[Command, Sequence[object]]], payloads: Sequence[bytes]
    ) -> list[asyncio.Future[Any]]:
        # No await between recording the waiters and writing: the order of the waiters
        # is the order of the requests on the wire, whatever other tasks do.
        transport = self._transport
        if transport is None:  # lost again while this task waited to run
            raise SocketError(f"connection to {self.host}:{self.port} lost")
        loop = asyncio.get_running_loop()
        if not self._waiters:
            self._last_activity = loop.time()
        futures = []
        for command, args in requests:
            self._proto.expect(command, args)
            future: asyncio.Future[Any] = loop.create_future()
            self._waiters.append((future, self._allowance(command, args)))
            futures.append(future)
        transport.write(b"".join(payloads))
        if self.timeout is not None and self._watchdog is None:
            self._check_timeout()
        return futures

    def _allowance(self, command: Command, args: Sequence[object]) -> float | None:
        if self.timeout is None:
            return None
        if not command.blocking:
            return self.timeout
        if not args:
            return None
        seconds: float = args[0]  # type: ignore[assignment]
        return seconds + self.timeout

    async def _execute(
        self, command: Command, args: Sequence[object], holder: int | None = None
    ) -> Any:
        """Run one command and return its result (the queue methods all end here);
        ``holder`` as for :meth:`beanstalkm.Connection._execute`."""
        data = command.pack(*args)
        if self._transport is None or (
            not self._waiters and self._loop.time() - self._last_activity >= IDLE_CHECK_AFTER
        ):
            await self._ensure_open()
        if holder is not None and holder != self._epoch:
            raise reservation_lost(command, args)
        transport = self._transport
        if transport is None:  # lost again while this task waited to run
            raise SocketError(f"connection to {self.host}:{self.port} lost")
        # _send_many for one request, without its lists: this is the hot path.
        self._proto.expect(command, args)
        future: asyncio.Future[Any] = self._loop.create_future()
        waiters = self._waiters
        if not waiters:
            self._last_activity = self._loop.time()
        waiters.append(
            (future, self.timeout if not command.blocking else self._allowance(command, args))
        )
        transport.write(data)
        if self._watchdog is None and self.timeout is not None:
            self._check_timeout()
        try:
            result = await future
        except asyncio.CancelledError:
            if command.blocking:
                # The server would still reserve a job for this connection; closing
                # the connection makes it release whatever it reserved.
                self._reset(SocketError("a waiting reserve was cancelled"))
            raise
        if type(result) is Job:
            return self._message(result, command.reserves)
        return result

    async def _execute_many(
        self,
        requests: Sequence[tuple[Command, Sequence[object]]],
        payloads: Sequence[bytes] | None = None,
    ) -> list[Any]:
        """Run commands pipelined; return each result or CommandFailed, in order."""
        if payloads is None:
            payloads = [command.encode(args) for command, args in requests]
        await self._ensure_open()
        futures: list[asyncio.Future[Any]] = []
        start = 0
        size = 0
        for end, payload in enumerate(payloads, 1):
            size += len(payload)
            if size >= _WRITE_CHUNK or end == len(payloads):
                futures += self._send_many(requests[start:end], payloads[start:end])
                start, size = end, 0
                stream = self._stream
                if stream is not None and stream.writable is not None and end < len(payloads):
                    await stream.writable.wait()
                if self._transport is None and end < len(payloads):
                    break  # the connection failed; the futures say how
        results = await self._gather(futures)
        if len(results) < len(requests):
            raise first_error(results) or SocketError("connection lost")
        return [
            self._message(r, command.reserves) if type(r) is Job else r
            for r, (command, _) in zip(results, requests, strict=True)
        ]

    async def _gather(self, futures: list[asyncio.Future[Any]]) -> list[Any]:
        # Replies come in order: once the last is in, so is every other.
        try:
            if futures:
                await asyncio.wait((futures[-1],))
        except asyncio.CancelledError:
            for future in futures:
                if future.done() and not future.cancelled():
                    future.exception()
            raise
        results: list[Any] = []
        for future in futures:
            if not future.done():
                await asyncio.wait((future,))
            error = future.exception()
            if isinstance(error, (CommandFailed,)):
                results.append(error)
            elif error is not None:
                for other in futures:
                    if other.done():
                        other.exception()
                raise error
            else:
                results.append(future.result())
        return results

    def _message(self, job: Job, reserved: bool) -> Message:
        return self.message_class.from_job(self, job.id, job.body, reserved)  # type: ignore[no-any-return]

    async def _drive(self, operation: Operation[_T]) -> _T:
        """Run a high-level operation (see :mod:`beanstalkm.operations`) to its end."""
        try:
            request = next(operation)
            while True:
                try:
                    if isinstance(request, tuple):
                        result = await self._execute(*request)
                    else:
                        result = await self._execute_many(request)
                except BeanstalkmException as exc:
                    request = operation.throw(exc)
                else:
                    request = operation.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


class Client(ClientBase[Message], Connection):
    """An asyncio connection that sends and receives JSON messages.

    The twin of :class:`beanstalkm.Client`: the same arguments (``strict`` included),
    methods and results, awaited.
    """

    def __init__(self, *args: Any, strict: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strict = strict

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
        message = self(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
        await self._drive(operations.send(message, tube))
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
        return await self._drive(operations.put_many(messages, tube))

    async def reserve(self, timeout: float | None = None, drop: bool = True) -> Message | None:
        """Reserve a message; see :meth:`beanstalkm.Client.reserve`."""
        message: Message | None = await self._drive(operations.reserve(self, timeout, drop))
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


def __getattr__(name: str) -> Any:
    # The worker (beanstalkm.aioworker) imports this module: it is loaded on first use.
    if name == "Worker":
        from .aioworker import Worker

        return Worker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
