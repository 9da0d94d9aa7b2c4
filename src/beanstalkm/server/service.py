"""What every way of running the server shares: the broker, the binlog, the timers
and the set of connections, on whichever loop runs them (the server's own
:class:`~.loop.Loop` or asyncio's: both offer ``call_soon`` and ``call_later``)."""

from __future__ import annotations

import time

from .connection import ClientConnection
from .state import NS_PER_SECOND, Broker

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    from .binlog import Binlog

    class Cancellable(Protocol):
        def cancel(self) -> None: ...

    class LoopLike(Protocol):
        """The part of a loop the service uses (asyncio's loops and :class:`~.loop.Loop`)."""

        def call_soon(self, callback: Callable[[], None]) -> object: ...
        def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable: ...


__all__ = ["Service"]


def _log_error(message: str) -> None:
    import logging

    logging.getLogger("beanstalkm.server").exception(message)


class Service:
    """A broker, its optional binlog, and the connections being served.

    ``on_fatal`` is called (once) when the binlog cannot be written: every
    connection has then been dropped unanswered and the server must stop.
    """

    def __init__(
        self,
        broker: Broker,
        loop: LoopLike,
        *,
        binlog: Binlog | None = None,
        verbose: int = 0,
        on_fatal: Callable[[], None] | None = None,
    ) -> None:
        self.broker = broker
        self.binlog = binlog
        self.verbose = verbose
        self.connections: set[ClientConnection] = set()
        self._loop = loop
        self._call_soon = loop.call_soon
        self._timer: Cancellable | None = None
        self._timer_at: int | None = None
        self._sync_timer: Cancellable | None = None
        self._sync_at: float | None = None
        self._on_fatal = on_fatal
        if binlog is not None:
            binlog.on_failure = self._binlog_failed

    def new_connection(self) -> ClientConnection:
        """The protocol object for a client that just connected."""
        return ClientConnection(
            self.broker, self.rearm, self.connections, self.verbose, self._call_soon
        )

    def drop_connections(self) -> None:
        """Drop every connection (the server is stopping)."""
        for conn in list(self.connections):
            conn.close()

    def close(self) -> None:
        """Cancel the timers and close the binlog (after writing what is pending)."""
        for timer in (self._timer, self._sync_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self._sync_timer = None
        self._timer_at = self._sync_at = None
        if self.binlog is not None:
            self.binlog.close()

    # --------------------------------------------------------------- timers

    def rearm(self) -> None:
        """Point the timers at the broker's next deadline and the binlog's next fsync."""
        broker = self.broker
        when = broker.next_wakeup()
        if when != self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._timer_at = when
            if when is not None:
                delay = max(0.0, (when - broker.clock()) / NS_PER_SECOND)
                self._timer = self._loop.call_later(delay, self._on_timer)
        binlog = self.binlog
        if binlog is not None:
            if binlog.pending:
                binlog.commit()
            due = binlog.sync_due()
            if due != self._sync_at:
                if self._sync_timer is not None:
                    self._sync_timer.cancel()
                    self._sync_timer = None
                self._sync_at = due
                if due is not None:
                    delay = max(0.0, due - time.monotonic())
                    self._sync_timer = self._loop.call_later(delay, self._on_sync)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        try:
            self.broker.tick()
        except Exception:  # pragma: no cover - a bug; keep serving the others
            _log_error("internal error in the timer")
        self.rearm()

    def _on_sync(self) -> None:
        self._sync_timer = None
        self._sync_at = None
        if self.binlog is not None:
            self.binlog.sync()
        self.rearm()

    def _binlog_failed(self, exc: OSError) -> None:
        # Replies not yet sent may acknowledge what could not be logged: drop them.
        self.drop_connections()
        if self._on_fatal is not None:
            self._call_soon(self._on_fatal)
