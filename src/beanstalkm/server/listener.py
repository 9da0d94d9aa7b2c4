"""The asyncio TCP server: accepts connections and runs the broker's one timer."""

from __future__ import annotations

import asyncio
import logging

from .connection import ClientConnection
from .state import DEFAULT_MAX_JOB_SIZE, NS_PER_SECOND, Broker

__all__ = ["Server"]

log = logging.getLogger("beanstalkm.server")

#: beanstalkd's listen backlog.
_BACKLOG = 1024


class Server:
    """A beanstalkd-compatible server running in the current asyncio event loop.

    >>> server = Server("127.0.0.1", 0)          # doctest: +SKIP
    >>> host, port = await server.start()        # doctest: +SKIP
    >>> await server.stop()                      # doctest: +SKIP

    ``port=0`` picks a free port; :attr:`address` tells which. Jobs live in memory
    only and are lost when the server stops.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_job_size: int = DEFAULT_MAX_JOB_SIZE,
        verbose: int = 0,
    ) -> None:
        self.host = host
        self.port = port
        self.verbose = verbose
        #: All queue state; read it for introspection, change it only via commands.
        self.broker = Broker(max_job_size=max_job_size)
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: set[ClientConnection] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` clients connect to; the real port once started."""
        return self.host, self.port

    async def start(self) -> tuple[str, int]:
        """Bind and start accepting connections; return :attr:`address`."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            self._new_connection,
            self.host,
            self.port,
            backlog=_BACKLOG,
            reuse_address=True,
        )
        sockets = self._server.sockets
        if sockets and self.port == 0:
            self.port = int(sockets[0].getsockname()[1])
        if self.verbose:
            log.info("listening on %s:%d", self.host, self.port)
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
        """Stop accepting, drop every connection, and forget all jobs' timers."""
        if self._server is not None:
            self._server.close()
            for conn in list(self._connections):
                conn.close()
            await self._server.wait_closed()
            self._server = None
            # Let the aborted transports run connection_lost and close their sockets.
            for _ in range(3):
                await asyncio.sleep(0)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = None

    def enter_drain_mode(self) -> None:
        """Refuse new jobs from now on (``put`` answers DRAINING), like SIGUSR1."""
        self.broker.draining = True

    def _new_connection(self) -> ClientConnection:
        return ClientConnection(self.broker, self._rearm, self._connections, self.verbose)

    def _rearm(self) -> None:
        """Point the single timer at the broker's next deadline."""
        when = self.broker.next_wakeup()
        if when == self._timer_at or self._loop is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = when
        if when is not None:
            delay = max(0.0, (when - self.broker.clock()) / NS_PER_SECOND)
            self._timer = self._loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        try:
            self.broker.tick()
        except Exception:  # pragma: no cover - a bug; keep serving the others
            log.exception("internal error in the timer")
        self._rearm()
