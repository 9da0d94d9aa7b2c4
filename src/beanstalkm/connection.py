"""The blocking connection: a socket driving :class:`~beanstalkm.protocol.ClientProtocol`.

All socket work of the blocking client happens here, and every transport error becomes
a :class:`~beanstalkm.SocketError` at this one boundary. The connection is lazy (the
first command connects), and after a dropped connection the next command reconnects
and restores the used tube and the watch list before it runs. Also here: what a
blocking connection hands out, its :class:`Queue`, :class:`Pipeline` and
:class:`Message`.
"""

from __future__ import annotations

import selectors
import socket
import struct
import sys
import time
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, TypeVar

from . import operations, replies
from .base import IDLE_CHECK_AFTER, BaseConnection
from .command_methods import QueueCommands
from .commands import Command, check_tube
from .constants import DEFAULT_TUBE
from .errors import (
    BeanstalkmException,
    CannotConnect,
    CommandFailed,
    InvalidArgument,
    NotBeanstalkd,
    ReservationLost,
    SocketError,
)
from .message import BaseMessage
from .pipeline import BasePipeline
from .protocol import NEED_DATA, Request, check_request, unanswered
from .sockets import peer_closed
from .urls import unix_path

if TYPE_CHECKING:
    from .stats import JobStats

__all__ = ["Connection", "Message", "Pipeline", "Queue"]

_S = TypeVar("_S", bound="Connection")
_T = TypeVar("_T")
_RECV_SIZE: Final = 65536
# Above this many request bytes at once, writing and reading are interleaved so that a
# big batch cannot deadlock against the server's buffers.
_PLAIN_SEND_LIMIT: Final = 65536
_monotonic = time.monotonic
# Errors a call raises with the connection still in step: an error status, or bad
# arguments refused before anything was recorded.
_CALLERS_ERRORS: Final = (CommandFailed, InvalidArgument, ReservationLost, TypeError)

# Kernel-side timeouts (SO_RCVTIMEO/SO_SNDTIMEO) keep the socket in blocking mode: a
# socket with a Python-level timeout polls before every send and recv, which costs a
# system call per operation on the hot path.
_TIMEVAL: Final = struct.Struct("@ll")
_KERNEL_TIMEOUTS: Final = sys.platform.startswith("linux") or sys.platform == "darwin"


class Message(BaseMessage):
    """A message of the blocking client.

    Attributes: :attr:`body`, :attr:`uid`, :attr:`created`, :attr:`sender`,
    :attr:`subscribe`, :attr:`channel`, :attr:`errors`, :attr:`token`,
    :attr:`priority`, :attr:`delay`, :attr:`ttr`, :attr:`reserved`, :attr:`valid`.
    """

    __slots__ = ()

    if TYPE_CHECKING:
        connection: Connection

    def send(self, tube: str = DEFAULT_TUBE) -> int:
        """Put this message into ``tube`` (the used tube is left as it was); return its id."""
        uid = self.connection.execute(*operations.put_request(self, tube))
        return operations.sent(self, tube, uid)

    def delete(self) -> None:
        """Delete the job."""
        self.connection.execute(*operations.delete_request(self))
        operations.deleted(self)

    def release(self, priority: int | None = None, delay: int | None = None) -> None:
        """Release the reserved job back to ready (or delayed after ``delay`` seconds).

        Keeps the job's priority unless one is given (finding it costs a stats-job
        round trip for a reserved job).
        """
        self.connection.drive(operations.release(self, priority, delay))

    def bury(self, priority: int | None = None) -> None:
        """Bury the reserved job; keeps its priority unless one is given."""
        self.connection.drive(operations.bury(self, priority))

    def kick(self) -> None:
        """Kick the job (buried or delayed) to ready."""
        self.connection.execute(*operations.kick_request(self))

    def touch(self) -> None:
        """Ask for more time to work on the reserved job: its time-to-run starts again."""
        self.connection.execute(*operations.touch_request(self))

    def stats(self) -> JobStats | None:
        """The job's statistics, or None once it is deleted (or gone from the server)."""
        return self.connection.drive(operations.stats(self))  # type: ignore[no-any-return]

    def reply(self, body: Any = None) -> Message:
        """Answer this message, a request: put ``body`` as its reply into the tube its
        ``subscribe`` names, on this message's connection (its server). Returns the
        sent reply. InvalidArgument when the message asks for no reply.

        Replying does not settle the job: delete it as well (a worker does both).
        """
        reply: Message = replies.reply_message(self.connection, self, body)
        reply.send(reply.tube or "")
        self.replied = True
        return reply

    def reply_error(self, error: BaseException | str | list[str]) -> Message:
        """Answer this request with an error: the reply carries ``errors`` (the
        exception as ``"ValueError: text"``, a text, or a list of texts), and the
        requester's :meth:`~beanstalkm.Client.request` raises
        :class:`~beanstalkm.RemoteError` holding them."""
        reply: Message = replies.reply_message(
            self.connection, self, None, replies.error_texts(error)
        )
        reply.send(reply.tube or "")
        self.replied = True
        return reply


class Queue(QueueCommands[Message]):
    """The low-level layer: one method per beanstalkd command, from ``api.json``.

    Methods return plain values (ids, counts, names, dicts) or a
    :class:`~beanstalkm.Message` for jobs; error statuses raise the matching
    :class:`~beanstalkm.CommandFailed` subclass.
    """

    __slots__ = ("_execute", "connection")

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._execute = connection.execute


class Pipeline(BasePipeline):
    """Commands of a blocking connection, run together by :meth:`execute`.

    >>> with client.pipeline() as p:                          # doctest: +SKIP
    ...     p.use("emails").put(b"one").put(b"two").stats_tube("emails")
    ...     uid1, uid2, stats = p.execute()[1:]
    """

    __slots__ = ()

    def execute(self, raise_on_error: bool = False) -> list[Any]:
        """Send every recorded command at once; return their results in order.

        A command that failed has its exception in its slot (or, with
        ``raise_on_error``, :class:`PipelineError` is raised once all have run).
        """
        requests, payloads = self._take()
        if not requests:
            return []
        return self._finish(self._connection.execute_many(requests, payloads), raise_on_error)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()


class Connection(BaseConnection):
    """A connection to one beanstalkd server.

    Takes :class:`~beanstalkm.base.BaseConnection`'s arguments: ``host``, ``port``,
    ``timeout``, ``parse_yaml``, ``use`` and ``watch``. The connection opens on the
    first command (or :meth:`connect`). It is not thread-safe: give each thread its own
    (or serialize its use, see ``lock``).
    """

    message_class = Message
    queue_class = Queue
    pipeline_class = Pipeline
    if TYPE_CHECKING:
        queue: Queue

        def pipeline(self) -> Pipeline: ...

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._sock: socket.socket | None = None
        self._last_used = 0.0
        # The receive timeout the socket has now (the kernel's, see _set_recv_timeout).
        self._recv_timeout: float | None = None
        super().__init__(*args, **kwargs)

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
        path = unix_path(self.host)
        try:
            if path is None:
                sock = socket.create_connection((self.host, self.port), self.timeout)
            else:
                sock = _unix_socket(path, self.timeout)
        except OSError as exc:
            raise CannotConnect(f"cannot connect to {self.address}: {exc}", self.address) from exc
        try:
            if path is None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if _KERNEL_TIMEOUTS:
                sock.settimeout(None)
                value = _timeval(self.timeout)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, value)
        except OSError as exc:
            sock.close()
            raise SocketError(f"cannot set up {self.address}: {exc}") from exc
        self._sock = sock
        self._recv_timeout = self.timeout
        self._last_used = _monotonic()
        restore = self._proto.connected()
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

    def _usable_socket(self, check: Callable[[], object]) -> socket.socket:
        """The socket, after a pause or a failure: checked, or replaced. ``check``
        validates the request first, so bad arguments never cost a connection."""
        if self._proto.in_flight:
            # A call was interrupted (KeyboardInterrupt, a signal handler's exception)
            # after its request went out: its reply would be taken for the next one's.
            self._drop()
        sock = self._sock
        if sock is not None and not peer_closed(sock):
            return sock
        check()
        return self._open()

    # -- running commands --

    def execute(
        self,
        command: Command,
        args: Sequence[object],
        generation: int | None = None,
        tube: str | None = None,
    ) -> Any:
        """Run one command and return its result (the queue's methods all end here).

        ``generation``: for a command on a reserved job, the connection generation it
        was reserved under (ReservationLost if this is no longer that connection);
        ``tube``: the tube a command acting on the used tube runs in, instead of the
        used one (see :meth:`~beanstalkm.protocol.ClientProtocol.send`).
        """
        sock = self._sock
        now = _monotonic()
        if sock is None or now - self._last_used >= IDLE_CHECK_AFTER:
            sock = self._usable_socket(lambda: check_request(command, args, tube))
        self._last_used = now
        if command.blocking:
            return self._wait_for(sock, command, args)
        proto = self._proto
        try:
            # Inside the try: an interrupt between recording the request and reading
            # its reply must not leave the reply to be taken for the next call's.
            data = proto.send(command, args, generation, tube)
            sock.sendall(data)
            # Nothing is buffered between commands, so read before parsing.
            proto.receive_data(sock.recv(_RECV_SIZE))
            result = proto.next_result()
            if result is NEED_DATA:
                result = self._rest_of_reply(sock, now)
        except _CALLERS_ERRORS:
            raise  # an error status, or bad arguments: nothing out of step
        except NotBeanstalkd as exc:
            self._drop()
            raise exc.at(self.address) from None
        except OSError as exc:
            self._drop()
            raise unanswered(command, self._socket_error(command, exc)) from exc
        except SocketError as exc:
            self._drop()
            raise unanswered(command, exc) from None
        except BaseException:
            # UnexpectedResponse, and anything raised while waiting (KeyboardInterrupt,
            # a signal handler's exception): the connection is out of step, or may be.
            self._drop()
            raise
        return result

    def _wait_for(self, sock: socket.socket, command: Command, args: Sequence[object]) -> Any:
        """A reserve: its reply may take as long as it asked for, plus the timeout."""
        proto = self._proto
        since = _monotonic()
        try:
            data = proto.send(command, args)
            self._set_recv_timeout(sock, proto.allowance())
            sock.sendall(data)
            proto.receive_data(sock.recv(_RECV_SIZE))
            result = proto.next_result()
            if result is NEED_DATA:
                result = self._rest_of_reply(sock, since)
        except _CALLERS_ERRORS:
            raise
        except NotBeanstalkd as exc:
            self._drop()
            raise exc.at(self.address) from None
        except OSError as exc:
            self._drop()
            raise self._socket_error(command, exc) from exc
        except BaseException:
            self._drop()
            raise
        finally:
            if self._sock is sock:
                self._set_recv_timeout(sock, self.timeout)
        return result

    def _rest_of_reply(self, sock: socket.socket, since: float) -> Any:
        """Read the rest of a reply that did not come whole, within what remains of its
        allowance (counted from ``since``): a server dripping its reply cannot stretch
        the timeout."""
        proto = self._proto
        try:
            while True:
                allowance = proto.allowance()
                if allowance is not None:
                    remaining = since + allowance - _monotonic()
                    if remaining <= 0:
                        raise TimeoutError("the reply took too long")
                    self._set_recv_timeout(sock, remaining)
                proto.receive_data(sock.recv(_RECV_SIZE))
                result = proto.next_result()
                if result is not NEED_DATA:
                    return result
        finally:
            if self._sock is sock:
                self._set_recv_timeout(sock, self.timeout)

    def start(
        self,
        command: Command,
        args: Sequence[object],
        generation: int | None = None,
        tube: str | None = None,
    ) -> socket.socket:
        """Write one request now and return the socket its reply will come on, without
        waiting for the reply: :meth:`finish` reads it. For waiting on several
        connections at once (a pool of servers reserving from all of them); the
        connection takes no other command until the reply is read."""
        sock = self._sock
        now = _monotonic()
        if sock is None or now - self._last_used >= IDLE_CHECK_AFTER:
            sock = self._usable_socket(lambda: check_request(command, args, tube))
        self._last_used = now
        try:
            data = self._proto.send(command, args, generation, tube)
            sock.sendall(data)
            # Until finish() reads the reply, a command sent here would take it for its
            # own: the next one goes the slow way, which sees the reply pending.
            self._last_used = -IDLE_CHECK_AFTER
        except _CALLERS_ERRORS:
            raise
        except OSError as exc:
            self._drop()
            raise unanswered(command, self._socket_error(command, exc)) from exc
        except BaseException:
            self._drop()
            raise
        return sock

    def finish(self, block: bool = True) -> Any:
        """The result of the request :meth:`start` wrote, or, with ``block=False``,
        :data:`~beanstalkm.protocol.NEED_DATA` when it has not all come yet (what came
        is kept). Raises as :meth:`execute` does."""
        sock = self._sock
        proto = self._proto
        if sock is None:
            raise SocketError(f"connection to {self.address} lost")
        try:
            result = proto.next_result()
            while result is NEED_DATA:
                if block:
                    data = sock.recv(_RECV_SIZE)
                else:
                    try:
                        data = sock.recv(_RECV_SIZE, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        return NEED_DATA
                proto.receive_data(data)
                result = proto.next_result()
                if result is NEED_DATA and not block:
                    return NEED_DATA
        except _CALLERS_ERRORS:
            raise
        except NotBeanstalkd as exc:
            self._drop()
            raise exc.at(self.address) from None
        except OSError as exc:
            self._drop()
            raise SocketError(f"{exc} ({self.address})") from exc
        except BaseException:
            self._drop()
            raise
        self._last_used = _monotonic()
        return result

    def execute_many(
        self, requests: Sequence[Request], payloads: Sequence[bytes] | None = None
    ) -> list[Any]:
        """Run requests pipelined; return each result or CommandFailed, in order.

        Every request is validated before anything is sent (``payloads`` are the
        requests already encoded, when the caller has them).
        """
        if payloads is None:
            payloads = [command.encode(args) for command, args, _, _ in requests]
        for _, _, _, tube in requests:
            if tube is not None:
                check_tube(tube)
        sock = self._sock
        if (
            sock is None
            or self._proto.in_flight
            or _monotonic() - self._last_used >= IDLE_CHECK_AFTER
        ):
            sock = self._usable_socket(lambda: None)
        return self._exchange(sock, requests, payloads)

    def _exchange(
        self,
        sock: socket.socket,
        requests: Sequence[Request],
        payloads: Sequence[bytes] | None = None,
    ) -> list[Any]:
        proto = self._proto
        results: list[Any] = []
        try:
            data = proto.send_many(requests, payloads)
            if len(data) <= _PLAIN_SEND_LIMIT:
                sock.sendall(data)
            else:
                self._send_while_reading(sock, data)
            since = _monotonic()
            while len(results) < len(requests):
                try:
                    result = proto.next_result()
                except CommandFailed as exc:
                    result = exc
                if result is NEED_DATA:
                    # Each reply gets its own allowance (a reserve's wait, or the
                    # timeout), counted from the reply before it.
                    allowance = proto.allowance()
                    if allowance is not None:
                        allowance += since - _monotonic()
                        if allowance <= 0:
                            raise TimeoutError("the reply took too long")
                    self._set_recv_timeout(sock, allowance)
                    proto.receive_data(sock.recv(_RECV_SIZE))
                else:
                    results.append(result)
                    since = _monotonic()
        except _CALLERS_ERRORS:
            raise  # refused before anything was recorded
        except NotBeanstalkd as exc:
            self._drop()
            raise exc.at(self.address) from None
        except OSError as exc:
            self._drop()
            raise self._socket_error(requests[len(results)][0], exc) from exc
        except BaseException:
            self._drop()
            raise
        finally:
            if self._sock is sock:
                self._set_recv_timeout(sock, self.timeout)
        self._last_used = _monotonic()
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
                sock.settimeout(self._recv_timeout)

    def _set_recv_timeout(self, sock: socket.socket, seconds: float | None) -> None:
        if seconds == self._recv_timeout:
            return
        self._recv_timeout = seconds
        if _KERNEL_TIMEOUTS:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
        else:
            sock.settimeout(seconds)

    def _socket_error(self, command: Command, exc: OSError) -> SocketError:
        if isinstance(exc, (BlockingIOError, TimeoutError)):
            reason = "timed out waiting for the server"
        else:
            reason = str(exc) or type(exc).__name__
        return SocketError(f"{command.wire}: {reason} ({self.address})")

    # -- high-level operations --

    def drive(
        self, operation: Generator[Any, Any, _T], other: Callable[[Any], Any] | None = None
    ) -> _T:
        """Run a high-level operation (see :mod:`beanstalkm.operations`) to its end.

        ``other`` runs the steps that are not requests (a worker's job flow yields one
        to run the handler) and returns what to send back.
        """
        try:
            step: Any = next(operation)
            while True:
                if isinstance(step, tuple):
                    try:
                        result = self.execute(*step)
                    except BeanstalkmException as exc:
                        step = operation.throw(exc)
                        continue
                elif isinstance(step, list):
                    try:
                        result = self.execute_many(step)
                    except BeanstalkmException as exc:
                        step = operation.throw(exc)
                        continue
                elif other is None:
                    raise TypeError(f"not a request: {step!r}")
                else:
                    result = other(step)
                step = operation.send(result)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]


def _unix_socket(path: str, timeout: float | None) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
    except BaseException:
        sock.close()
        raise
    return sock


def _timeval(seconds: float | None) -> bytes:
    if seconds is None:
        return _TIMEVAL.pack(0, 0)
    whole = int(seconds)
    micro = int((seconds - whole) * 1_000_000)
    if whole == 0 and micro == 0:
        micro = 1  # zero would mean "no timeout" to the kernel
    return _TIMEVAL.pack(whole, micro)
