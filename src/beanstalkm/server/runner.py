"""The server on its own loop: accepts connections on a listening socket and serves
them until stopped. ``beanstalkm serve`` and :class:`~.thread.ServerThread` run it."""

from __future__ import annotations

import errno
import socket

from .loop import Loop
from .service import Service
from .sockets import unix_socket_file
from .state import Broker
from .transport import SocketTransport

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from .binlog import Binlog

__all__ = ["Runner"]

#: Connections accepted per turn, so a flood of new ones does not starve the others.
_ACCEPTS_PER_TURN = 64
#: After running out of file descriptors, wait this long before accepting again.
_ACCEPT_PAUSE = 1.0
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Runner:
    """A broker served on ``listener`` (a bound, listening, non-blocking socket).

    ``binlog``, if given, is opened by :meth:`open` (which restores its jobs) before
    any connection is accepted; connections that arrive meanwhile wait in the
    listen backlog, as with beanstalkd.
    """

    def __init__(
        self,
        listener: socket.socket,
        *,
        max_job_size: int,
        verbose: int = 0,
        binlog: Binlog | None = None,
        binlog_max_size: int | None = None,
    ) -> None:
        self.loop = Loop()
        self.listener = listener
        self.broker = Broker(max_job_size=max_job_size)
        if binlog_max_size is not None:
            self.broker.binlog_max_size = binlog_max_size
        self.service = Service(
            self.broker, self.loop, binlog=binlog, verbose=verbose, on_fatal=self.loop.stop
        )
        self._tcp = listener.family in (socket.AF_INET, socket.AF_INET6)
        self._socket_file = unix_socket_file(listener)
        self._closed = False
        #: True if the loop stopped because the binlog could not be written.
        self.failed = False

    def open(self) -> None:
        """Restore the binlog's jobs, if there is a binlog; raises BinlogError."""
        binlog = self.service.binlog
        if binlog is not None:
            binlog.open(self.broker)

    def run(self) -> None:
        """Serve until :meth:`stop` (or :meth:`Loop.stop`)."""
        self.loop.add_reader(self.listener.fileno(), self._accept)
        self.service.rearm()
        try:
            self.loop.run()
        finally:
            binlog = self.service.binlog
            self.failed = binlog is not None and binlog.failed

    def stop(self) -> None:
        """Make :meth:`run` return; callable from any thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)

    def call(self, function: Callable[[], None]) -> None:
        """Run ``function`` on the server's thread."""
        self.loop.call_soon_threadsafe(function)

    def close(self) -> None:
        """Drop every connection, stop listening, write and close the binlog."""
        if self._closed:
            return
        self._closed = True
        self.service.drop_connections()
        self.loop.remove_reader(self.listener.fileno())
        self.listener.close()
        if self._socket_file is not None:
            self._socket_file.remove()
        self.service.close()
        self.loop.close()

    def _accept(self, events: int) -> None:
        listener = self.listener
        service = self.service
        loop = self.loop
        for _ in range(_ACCEPTS_PER_TURN):
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    loop.remove_reader(listener.fileno())
                    loop.call_later(_ACCEPT_PAUSE, self._resume_accepting)
                    return
                continue  # the client gave up before we got to it (ECONNABORTED...)
            sock.setblocking(False)
            if self._tcp:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            SocketTransport(loop, sock, service.new_connection())

    def _resume_accepting(self) -> None:
        if not self._closed:
            self.loop.add_reader(self.listener.fileno(), self._accept)
