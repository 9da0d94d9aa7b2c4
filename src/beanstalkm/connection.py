"""The blocking connection: a socket driving :class:`~beanstalkm.protocol.ClientProtocol`.

All socket work happens here, and every transport error becomes a
:class:`~beanstalkm.SocketError` at this one boundary. The connection is lazy (the first
command connects), and after a dropped connection the next command reconnects and
restores the used tube and the watch list before it runs.
"""

from __future__ import annotations

import os
import selectors
import socket
import struct
import sys
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from .commands import Command
from .constants import DEFAULT_HOST, DEFAULT_PORT, SERVER_DEFAULT_TUBE, __version__
from .envelope import Sender
from .errors import (
    BeanstalkmException,
    CommandFailed,
    ReservationLost,
    SocketError,
    UnexpectedResponse,
)
from .message import Message
from .operations import Operation
from .pipeline import Pipeline
from .protocol import NEED_DATA, ClientProtocol, Job, YamlOption
from .queue import BaseQueue, install_commands
from .urls import parse_url

if TYPE_CHECKING:
    from .stats import JobStats, ServerStats, TubeStats

__all__ = ["BaseConnection", "Connection", "Queue"]

_C = TypeVar("_C", bound="BaseConnection")
_S = TypeVar("_S", bound="Connection")
_T = TypeVar("_T")
_RECV_SIZE: Final = 65536
# Above this many request bytes at once, writing and reading are interleaved so that a
# big batch cannot deadlock against the server's buffers.
_PLAIN_SEND_LIMIT: Final = 65536
_DEFAULT_TIMEOUT: Final[Any] = object()
# Between commands issued back to back the connection cannot have been seen to close;
# after a pause this long, check before sending.
IDLE_CHECK_AFTER: Final = 0.001
_monotonic = time.monotonic

# Kernel-side timeouts (SO_RCVTIMEO/SO_SNDTIMEO) keep the socket in blocking mode: a
# socket with a Python-level timeout polls before every send and recv, which costs a
# system call per operation on the hot path.
_TIMEVAL: Final = struct.Struct("@ll")
_KERNEL_TIMEOUTS: Final = sys.platform.startswith("linux") or sys.platform == "darwin"


def _tube_list(watch: str | Iterable[str] | None) -> list[str]:
    if watch is None:
        return [SERVER_DEFAULT_TUBE]
    if isinstance(watch, str):
        return [watch]
    return list(watch)


class Queue(BaseQueue):
    """The low-level layer: one method per beanstalkd command, from ``api.json``.

    Methods return plain values (ids, counts, names, dicts) or a
    :class:`~beanstalkm.Message` for jobs; error statuses raise the matching
    :class:`~beanstalkm.CommandFailed` subclass.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        # Declarations for type checkers; the methods are made from api.json below.
        def put(
            self, body: bytes | str, priority: int = ..., delay: int = ..., ttr: int = ...
        ) -> int: ...
        def use(self, tube: str) -> str: ...
        def reserve(self) -> Message: ...
        def reserve_with_timeout(self, seconds: int) -> Message: ...
        def reserve_job(self, id: int) -> Message: ...
        def delete(self, id: int) -> None: ...
        def release(self, id: int, priority: int = ..., delay: int = ...) -> None: ...
        def bury(self, id: int, priority: int = ...) -> None: ...
        def touch(self, id: int) -> None: ...
        def watch(self, tube: str) -> int: ...
        def ignore(self, tube: str) -> int: ...
        def peek(self, id: int) -> Message | None: ...
        def peek_ready(self) -> Message | None: ...
        def peek_delayed(self) -> Message | None: ...
        def peek_buried(self) -> Message | None: ...
        def kick(self, bound: int) -> int: ...
        def kick_job(self, id: int) -> None: ...
        def stats_job(self, id: int) -> JobStats: ...
        def stats_tube(self, tube: str) -> TubeStats: ...
        def stats(self) -> ServerStats: ...
        def list_tubes(self) -> list[str]: ...
        def using(self) -> str: ...
        def watching(self) -> list[str]: ...
        def pause_tube(self, tube: str, delay: int) -> None: ...


install_commands(Queue)


class BaseConnection:
    """What the blocking and the asyncio connection share: arguments, session, sender.

    :param host: server address (default ``127.0.0.1``).
    :param port: server port (default 11300).
    :param timeout: seconds to wait for connecting and for each reply; None waits
        forever. Defaults to :func:`socket.getdefaulttimeout`. A blocking reserve waits
        as long as it was asked to, plus this margin.
    :param parse_yaml: True parses stats and tube lists into dicts and lists; False
        returns the YAML text; a callable is called with the text.
    :param use: the tube to use once connected (default: the server's, ``default``).
    :param watch: the tube or tubes to watch once connected, instead of ``default``.
    """

    queue_class: type[Any]
    pipeline_class: type[Any]

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        timeout: float | None = _DEFAULT_TIMEOUT,
        *,
        parse_yaml: YamlOption = True,
        use: str | None = None,
        watch: str | Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.timeout: float | None = (
            socket.getdefaulttimeout() if timeout is _DEFAULT_TIMEOUT else timeout
        )
        if self.timeout is not None and self.timeout < 0:
            raise ValueError("timeout must be None or >= 0")
        self._proto = ClientProtocol(parse_yaml, use or SERVER_DEFAULT_TUBE, _tube_list(watch))
        # Validate the session's tubes now rather than on the first command.
        for request, args in self._proto.restore_requests():
            request.encode(args)
        # Counts connections made; a message reserved under another count was lost.
        self._epoch = 0
        #: Describes this client in the envelopes it sends (``sender``).
        self.sender: dict[str, Any] = Sender(
            host=socket.gethostname(), pid=os.getpid(), time=time.time(), version=__version__
        )
        self._init_io()
        self.queue = self.queue_class(self)

    def _init_io(self) -> None:
        """Set up the transport's state (no connecting: that happens on first use)."""
        raise NotImplementedError

    @classmethod
    def from_url(cls: type[_C], url: str, **kwargs: Any) -> _C:
        """Make a connection to ``beanstalk://host:port`` (other arguments as usual)."""
        host, port = parse_url(url)
        return cls(host, port, **kwargs)

    @property
    def connected(self) -> bool:
        """True while a connection to the server is open."""
        raise NotImplementedError

    def pipeline(self) -> Any:
        """Record commands to send at once; see :mod:`beanstalkm.pipeline`."""
        return self.pipeline_class(self)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<{type(self).__module__}.{type(self).__name__} {self.host}:{self.port} {state}>"


class Connection(BaseConnection):
    """A connection to one beanstalkd server.

    Takes :class:`BaseConnection`'s arguments: ``host``, ``port``, ``timeout``,
    ``parse_yaml``, ``use`` and ``watch``. The connection opens on the first command
    (or :meth:`connect`). It is not thread-safe: give each thread its own.
    """

    message_class: type[Message] = Message
    queue_class = Queue
    pipeline_class = Pipeline
    if TYPE_CHECKING:
        queue: Queue

        def pipeline(self) -> Pipeline: ...

    def _init_io(self) -> None:
        self._sock: socket.socket | None = None
        self._last_used = 0.0

    # -- lifecycle --

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Connect now (commands connect on their own when needed)."""
        if self._sock is None:
            self._open()

    def close(self) -> None:
        """Send ``quit`` and close the connection; a later command reconnects."""
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        try:
            sock.sendall(b"quit\r\n")
        except OSError:
            pass
        finally:
            sock.close()
            self._proto.reset()

    def reconnect(self) -> None:
        """Close the connection and open a new one with the same tubes."""
        self.close()
        self._open()

    def __enter__(self: _S) -> _S:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> socket.socket:
        self._drop()
        try:
            sock = socket.create_connection((self.host, self.port), self.timeout)
        except OSError as exc:
            raise SocketError(f"cannot connect to {self.host}:{self.port}: {exc}") from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if _KERNEL_TIMEOUTS:
                sock.settimeout(None)
                _set_kernel_timeout(sock, self.timeout)
        except OSError as exc:
            sock.close()
            raise SocketError(f"cannot set up {self.host}:{self.port}: {exc}") from exc
        self._sock = sock
        self._last_used = _monotonic()
        self._epoch += 1
        self._proto.reset()
        restore = self._proto.restore_requests()
        if restore:
            for result in self._exchange(sock, restore):
                if isinstance(result, BaseException):
                    self._drop()
                    raise result
        return sock

    def _drop(self) -> None:
        """Forget the socket after a failure; the next command reconnects."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
        self._proto.reset()

    def _live_socket(self) -> socket.socket:
        sock = self._sock
        if sock is None:
            return self._open()
        now = _monotonic()
        idle = now - self._last_used
        self._last_used = now
        if idle < IDLE_CHECK_AFTER or not peer_closed(sock):
            return sock
        return self._open()

    # -- running commands --

    def _execute(self, command: Command, args: Sequence[object], holder: int | None = None) -> Any:
        """Run one command and return its result (the queue methods all end here).

        ``holder``: the connection count under which the job the command is about was
        reserved; if this is no longer that connection, ReservationLost, nothing sent.
        """
        data = command.pack(*args)
        sock = self._sock
        now = _monotonic()
        if sock is None or now - self._last_used >= IDLE_CHECK_AFTER:
            sock = self._live_socket()
        self._last_used = now
        if holder is not None and holder != self._epoch:
            raise reservation_lost(command, args)
        proto = self._proto
        proto.expect(command, args)
        # The reply to a reserve comes when a job does: it may take as long as the
        # reserve asked for, plus the usual margin for the reply itself.
        timeout = self.timeout
        wait = timeout
        if command.blocking and timeout is not None:
            wait = None if not args else args[0] + timeout  # type: ignore[operator]
            self._set_recv_timeout(sock, wait)
        try:
            sock.sendall(data)
            # Nothing is buffered between commands, so read before parsing.
            proto.receive_data(sock.recv(_RECV_SIZE))
            result = proto.next_result()
            while result is NEED_DATA:
                proto.receive_data(sock.recv(_RECV_SIZE))
                result = proto.next_result()
        except OSError as exc:
            self._drop()
            raise self._socket_error(command, exc) from exc
        except (UnexpectedResponse, SocketError):
            self._drop()
            raise
        finally:
            if wait != timeout and self._sock is sock:
                self._set_recv_timeout(sock, timeout)
        if type(result) is Job:
            return self._message(result, command.reserves)
        return result

    def _set_recv_timeout(self, sock: socket.socket, seconds: float | None) -> None:
        if _KERNEL_TIMEOUTS:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
        else:
            sock.settimeout(seconds)

    def _execute_many(
        self,
        requests: Sequence[tuple[Command, Sequence[object]]],
        payloads: Sequence[bytes] | None = None,
    ) -> list[Any]:
        """Run commands pipelined; return each result or CommandFailed, in order.

        Every request is validated before anything is sent (``payloads`` are the
        requests already encoded, when the caller has them).
        """
        if payloads is None:
            payloads = [command.encode(args) for command, args in requests]
        sock = self._live_socket()
        results = self._exchange(sock, requests, payloads)
        return [
            self._message(r, command.reserves) if type(r) is Job else r
            for r, (command, _) in zip(results, requests, strict=True)
        ]

    def _exchange(
        self,
        sock: socket.socket,
        requests: Sequence[tuple[Command, Sequence[object]]],
        payloads: Sequence[bytes] | None = None,
    ) -> list[Any]:
        proto = self._proto
        if payloads is None:
            payloads = [command.encode(args) for command, args in requests]
        for command, args in requests:
            proto.expect(command, args)
        data = b"".join(payloads)
        results: list[Any] = []
        blocking = any(command.blocking for command, _ in requests)
        try:
            if blocking:
                self._set_recv_timeout(sock, None)
            if len(data) <= _PLAIN_SEND_LIMIT:
                sock.sendall(data)
            else:
                self._send_while_reading(sock, data)
            while len(results) < len(requests):
                try:
                    result = proto.next_result()
                except CommandFailed as exc:
                    results.append(exc)
                    continue
                if result is NEED_DATA:
                    proto.receive_data(sock.recv(_RECV_SIZE))
                else:
                    results.append(result)
        except OSError as exc:
            self._drop()
            raise self._socket_error(requests[len(results)][0], exc) from exc
        except (UnexpectedResponse, SocketError):
            self._drop()
            raise
        finally:
            if blocking and self._sock is sock:
                self._set_recv_timeout(sock, self.timeout)
        return results

    def _send_while_reading(self, sock: socket.socket, data: bytes) -> None:
        # beanstalkd stops reading requests while its replies are not read; reading
        # replies as they come while writing keeps both sides moving.
        proto = self._proto
        view = memoryview(data)
        sent = 0
        sock.setblocking(False)
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
                while sent < len(view):
                    events = selector.select(self.timeout)
                    if not events:
                        raise TimeoutError("timed out writing requests")
                    for _, mask in events:
                        if mask & selectors.EVENT_READ:
                            chunk = sock.recv(_RECV_SIZE)
                            proto.receive_data(chunk)
                            if not chunk:
                                raise ConnectionResetError("connection closed by the server")
                        if mask & selectors.EVENT_WRITE:
                            sent += sock.send(view[sent : sent + _RECV_SIZE])
        finally:
            sock.setblocking(True)
            if not _KERNEL_TIMEOUTS:
                sock.settimeout(self.timeout)

    def _socket_error(self, command: Command, exc: OSError) -> SocketError:
        if isinstance(exc, (BlockingIOError, TimeoutError)):
            reason = "timed out waiting for the server"
        else:
            reason = str(exc) or type(exc).__name__
        return SocketError(f"{command.wire}: {reason} ({self.host}:{self.port})")

    def _message(self, job: Job, reserved: bool) -> Message:
        return self.message_class.from_job(self, job.id, job.body, reserved)  # type: ignore[no-any-return]

    # -- helpers for Client and Message --

    def _drive(self, operation: Operation[_T]) -> _T:
        """Run a high-level operation (see :mod:`beanstalkm.operations`) to its end."""
        try:
            request = next(operation)
            while True:
                try:
                    if isinstance(request, tuple):
                        result = self._execute(*request)
                    else:
                        result = self._execute_many(request)
                except BeanstalkmException as exc:
                    request = operation.throw(exc)
                else:
                    request = operation.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def reservation_lost(command: Command, args: Sequence[object]) -> ReservationLost:
    return ReservationLost(
        f"cannot {command.wire} job {args[0]}: the connection that reserved it was lost, "
        "and the server released the job"
    )


def peer_closed(sock: socket.socket) -> bool:
    """True when the server has closed (or reset) the connection, or sent bytes no
    request asked for: either way the connection must be replaced before use.

    A server that went away while the connection was idle has left an end-of-file
    waiting; checking before sending keeps the next command from being lost with it.
    """
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def _timeval(seconds: float | None) -> bytes:
    if seconds is None:
        return _TIMEVAL.pack(0, 0)
    whole = int(seconds)
    micro = int((seconds - whole) * 1_000_000)
    if whole == 0 and micro == 0:
        micro = 1  # zero would mean "no timeout" to the kernel
    return _TIMEVAL.pack(whole, micro)


def _set_kernel_timeout(sock: socket.socket, seconds: float | None) -> None:
    value = _timeval(seconds)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
