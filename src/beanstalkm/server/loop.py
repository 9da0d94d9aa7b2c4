"""The event loop the embedded server runs on: sockets, timers and wake-ups, nothing else.

A server process spends its first milliseconds importing, and asyncio alone takes
longer to import than beanstalkd takes to start. This loop needs only ``selectors``,
and it gives the server what asyncio does not: every event is handled to the end
before the next one starts, so a connection that goes away is gone before any other
connection's next command is read (as in beanstalkd, which takes one event at a
time). The asyncio :class:`~beanstalkm.server.listener.Server` runs the same
connections in an asyncio loop instead.

Its API is the subset of asyncio's that the server uses (``call_soon``,
``call_later``, ``call_soon_threadsafe``, ``time``), so the code that schedules work
runs on either.
"""

from __future__ import annotations

import _thread
import heapq
import selectors
import socket
import time
from collections import deque

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Loop", "TimerHandle"]

#: The longest single wait in select(), in seconds (beanstalkd's longest is an hour).
_MAX_WAIT = 3600.0


class TimerHandle:
    """A call scheduled with :meth:`Loop.call_later`; :meth:`cancel` drops it."""

    __slots__ = ("_callback", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self._callback: Callable[[], None] | None = callback

    def cancel(self) -> None:
        self._callback = None

    def cancelled(self) -> bool:
        return self._callback is None

    def __lt__(self, other: TimerHandle) -> bool:
        return self.when < other.when


class Loop:
    """A single-threaded loop over a selector.

    Each pass waits for sockets (or the next timer), runs the callbacks of the ready
    sockets one after another, then the due timers, then the calls queued with
    :meth:`call_soon` before the pass began. A callback that wants to continue later
    (a connection with more pipelined input than it handles per turn) queues itself
    with :meth:`call_soon`, which lets every other socket be served in between.
    """

    def __init__(self) -> None:
        self._selector = selectors.DefaultSelector()
        self._ready: deque[Callable[[], None]] = deque()
        self._timers: list[TimerHandle] = []
        self._stopping = False
        self._closed = False
        self._lock = _thread.allocate_lock()
        self._from_threads: list[Callable[[], None]] = []
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._readers: dict[int, Callable[[int], None]] = {}
        self._writers: dict[int, Callable[[int], None]] = {}
        self._selector.register(self._wake_r.fileno(), selectors.EVENT_READ, None)

    @property
    def wakeup_fd(self) -> int:
        """A non-blocking descriptor for :func:`signal.set_wakeup_fd`."""
        return self._wake_w.fileno()

    def time(self) -> float:
        """The loop's clock (``time.monotonic``)."""
        return time.monotonic()

    # ---------------------------------------------------------------- calls

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on a later pass, after the sockets ready by then."""
        self._ready.append(callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run ``callback`` in ``delay`` seconds (or on the next pass if due)."""
        handle = TimerHandle(time.monotonic() + max(0.0, delay), callback)
        heapq.heappush(self._timers, handle)
        return handle

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the loop's thread; callable from any thread."""
        with self._lock:
            self._from_threads.append(callback)
        self._wake()

    def stop(self) -> None:
        """Make :meth:`run` return after the current pass (safe from signal handlers)."""
        self._stopping = True
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"\0")
        except OSError:
            # The buffer is full (so a wake-up is pending anyway), or the loop closed.
            return

    # -------------------------------------------------------------- sockets

    def add_reader(self, fd: int, callback: Callable[[int], None]) -> None:
        self._readers[fd] = callback
        self._update(fd)

    def remove_reader(self, fd: int) -> None:
        if self._readers.pop(fd, None) is not None:
            self._update(fd)

    def add_writer(self, fd: int, callback: Callable[[int], None]) -> None:
        self._writers[fd] = callback
        self._update(fd)

    def remove_writer(self, fd: int) -> None:
        if self._writers.pop(fd, None) is not None:
            self._update(fd)

    def _update(self, fd: int) -> None:
        mask = (selectors.EVENT_READ if fd in self._readers else 0) | (
            selectors.EVENT_WRITE if fd in self._writers else 0
        )
        selector = self._selector
        try:
            key = selector.get_key(fd)
        except KeyError:
            if mask:
                selector.register(fd, mask, fd)
            return
        if not mask:
            selector.unregister(fd)
        elif key.events != mask:
            selector.modify(fd, mask, fd)

    # ------------------------------------------------------------------ run

    def run(self) -> None:
        """Run until :meth:`stop`."""
        self._stopping = False
        select = self._selector.select
        ready = self._ready
        timers = self._timers
        readers = self._readers
        writers = self._writers
        while not self._stopping:
            if ready:
                timeout: float | None = 0.0
            elif timers:
                # Bounded: select() refuses timeouts of years (a delay may be 2**32 s).
                timeout = min(_MAX_WAIT, max(0.0, timers[0].when - time.monotonic()))
            else:
                timeout = None
            for key, events in select(timeout):
                fd = key.data
                if fd is None:
                    self._drain_wakeups()
                    continue
                # A callback may close another socket; look each one up afresh.
                if events & selectors.EVENT_READ and (reader := readers.get(fd)) is not None:
                    reader(events)
                if events & selectors.EVENT_WRITE and (writer := writers.get(fd)) is not None:
                    writer(events)
            if timers:
                now = time.monotonic()
                while timers and timers[0].when <= now:
                    handle = heapq.heappop(timers)
                    callback = handle._callback
                    if callback is not None:
                        handle._callback = None
                        callback()
            for _ in range(len(ready)):
                ready.popleft()()

    def _drain_wakeups(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass
        if self._from_threads:
            with self._lock:
                calls, self._from_threads = self._from_threads, []
            self._ready.extend(calls)

    def close(self) -> None:
        """Release the selector and the wake-up sockets; the loop cannot run again."""
        if self._closed:
            return
        self._closed = True
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self._ready.clear()
        self._timers.clear()
