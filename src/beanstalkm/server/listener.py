"""The server in an asyncio event loop of your own: :class:`Server`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from .binlog import DEFAULT_FILE_SIZE, DEFAULT_FSYNC_MS, Binlog
from .service import Service
from .sockets import UnixSocketFile, open_listener, unix_path, unix_socket_file
from .state import DEFAULT_MAX_JOB_SIZE, Broker

__all__ = ["Server"]


def _warn(line: str) -> None:
    import logging

    logging.getLogger("beanstalkm.server").warning("%s", line)


class Server:
    """A beanstalkd-compatible server running in the current asyncio event loop.

    >>> server = Server("127.0.0.1", 0)          # doctest: +SKIP
    >>> host, port = await server.start()        # doctest: +SKIP
    >>> await server.stop()                      # doctest: +SKIP

    ``port=0`` picks a free port; :attr:`address` tells which. ``host`` may be
    ``unix:/path/to/socket``. Without ``binlog_dir`` jobs live in memory only and
    are lost when the server stops; with it (beanstalkd's ``-b``) they are logged
    and restored by the next :meth:`start`.

    ``beanstalkm serve`` and :class:`~.thread.ServerThread` run the same server on a
    loop of its own, which also guarantees that a closed connection's tubes are gone
    before another connection is served; here that holds for connections that close
    normally, not for those reset by the peer (asyncio reports those later).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_job_size: int = DEFAULT_MAX_JOB_SIZE,
        verbose: int = 0,
        binlog_dir: str | None = None,
        fsync_ms: int | None = DEFAULT_FSYNC_MS,
        binlog_size: int = DEFAULT_FILE_SIZE,
    ) -> None:
        self.host = host
        self.port = 0 if unix_path(host) is not None else port
        self.verbose = verbose
        self.binlog_dir = binlog_dir
        self.fsync_ms = fsync_ms
        self.binlog_size = binlog_size
        self.max_job_size = max_job_size
        #: All queue state; read it for introspection, change it only via commands.
        self.broker = Broker(max_job_size=max_job_size)
        self.broker.binlog_max_size = binlog_size
        self._server: asyncio.Server | None = None
        self._service: Service | None = None
        self._socket_file: UnixSocketFile | None = None

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` clients connect to; the real port once started."""
        return self.host, self.port

    async def start(self) -> tuple[str, int]:
        """Bind, restore the binlog's jobs if any, and start accepting; return :attr:`address`.

        Raises OSError if the address cannot be bound, and
        :class:`~.binlog.BinlogError` if the binlog directory cannot be used.
        """
        loop = asyncio.get_running_loop()
        listener = open_listener(self.host, self.port)
        self._socket_file = unix_socket_file(listener)
        binlog = None
        if self.binlog_dir is not None:
            binlog = Binlog(
                self.binlog_dir, file_size=self.binlog_size, fsync_ms=self.fsync_ms, report=_warn
            )
        if self._service is not None and binlog is not None:
            # Started again after stop(): the jobs come back from the binlog.
            self.broker = Broker(max_job_size=self.max_job_size)
            self.broker.binlog_max_size = self.binlog_size
        service = Service(self.broker, loop, binlog=binlog, verbose=self.verbose)
        try:
            if binlog is not None:
                binlog.open(self.broker)
            factory = cast("Callable[[], asyncio.BaseProtocol]", service.new_connection)
            self._server = await loop.create_server(factory, sock=listener)
        except BaseException:
            listener.close()
            service.close()
            raise
        self._service = service
        if unix_path(self.host) is None:
            self.port = int(listener.getsockname()[1])
        if self.verbose:
            import logging

            logging.getLogger("beanstalkm.server").info("listening on %s:%d", *self.address)
        service.rearm()
        return self.address

    async def serve_forever(self) -> None:
        """Start if needed, then serve until cancelled."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.stop()

    async def stop(self) -> None:
        """Stop accepting, drop every connection, write and close the binlog."""
        service = self._service
        if self._server is not None:
            self._server.close()
            if service is not None:
                service.drop_connections()
            await self._server.wait_closed()
            self._server = None
            # Let the aborted transports run connection_lost and close their sockets.
            for _ in range(3):
                await asyncio.sleep(0)
            if self._socket_file is not None:
                self._socket_file.remove()
        if service is not None:
            service.close()

    def enter_drain_mode(self) -> None:
        """Refuse new jobs from now on (``put`` answers DRAINING), like SIGUSR1."""
        self.broker.draining = True
