"""The command methods of queues and pipelines: one per command of ``api.json``.

Generated from ``api.json`` by ``scripts/generate_methods.py``; do not edit by hand
(a test fails when this file and the table disagree). Each method validates nothing
itself: it hands its command and arguments to the object it belongs to, whose
connection (or pipeline) encodes them, checking every argument before a byte is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .commands import COMMANDS, Command
from .constants import DEFAULT_DELAY, DEFAULT_PRIORITY, DEFAULT_TTR

if TYPE_CHECKING:
    from .stats import JobStats, ServerStats, TubeStats

__all__ = ["AsyncQueueCommands", "PipelineCommands", "QueueCommands"]

#: The message class a queue returns for job replies.
_M = TypeVar("_M")
_P = TypeVar("_P", bound="PipelineCommands")

_PUT = COMMANDS["put"]
_USE = COMMANDS["use"]
_RESERVE = COMMANDS["reserve"]
_RESERVE_WITH_TIMEOUT = COMMANDS["reserve_with_timeout"]
_RESERVE_JOB = COMMANDS["reserve_job"]
_DELETE = COMMANDS["delete"]
_RELEASE = COMMANDS["release"]
_BURY = COMMANDS["bury"]
_TOUCH = COMMANDS["touch"]
_WATCH = COMMANDS["watch"]
_IGNORE = COMMANDS["ignore"]
_PEEK = COMMANDS["peek"]
_PEEK_READY = COMMANDS["peek_ready"]
_PEEK_DELAYED = COMMANDS["peek_delayed"]
_PEEK_BURIED = COMMANDS["peek_buried"]
_KICK = COMMANDS["kick"]
_KICK_JOB = COMMANDS["kick_job"]
_STATS_JOB = COMMANDS["stats_job"]
_STATS_TUBE = COMMANDS["stats_tube"]
_STATS = COMMANDS["stats"]
_LIST_TUBES = COMMANDS["list_tubes"]
_USING = COMMANDS["using"]
_WATCHING = COMMANDS["watching"]
_PAUSE_TUBE = COMMANDS["pause_tube"]


class QueueCommands(Generic[_M]):
    """The commands of a blocking queue: each runs one request and returns its result."""

    __slots__ = ()
    _execute: Callable[[Command, tuple[Any, ...]], Any]

    def __call__(self, name: str, *args: Any) -> Any:
        """Run a command by its method name: ``queue("reserve_with_timeout", 5)``."""
        if name not in COMMANDS:
            raise AttributeError(f"no beanstalkd command named {name!r}")
        return getattr(self, name)(*args)

    def put(
        self,
        body: bytes | bytearray | memoryview | str,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
    ) -> int:
        """Put a job with this body (bytes, or str sent as UTF-8) into the used tube and return its
        id.

        Sends ``put <priority> <delay> <ttr> <bytes>\r\n<body>``. Raises Buried, ExpectedCrlf,
        JobTooBig, Draining.
        """
        return self._execute(_PUT, (body, priority, delay, ttr))  # type: ignore[no-any-return]

    def use(self, tube: str) -> str:
        """Use this tube for put, kick and peek-ready/delayed/buried; return its name.

        Sends ``use <tube>``.
        """
        return self._execute(_USE, (tube,))  # type: ignore[no-any-return]

    def reserve(self) -> _M:
        """Reserve a job from the watched tubes, waiting for one as long as it takes.

        Sends ``reserve``. Raises DeadlineSoon, TimedOut.
        """
        return self._execute(_RESERVE, ())  # type: ignore[no-any-return]

    def reserve_with_timeout(self, seconds: int) -> _M:
        """Reserve a job from the watched tubes, waiting at most this many seconds (TimedOut if none
        came).

        Sends ``reserve-with-timeout <seconds>``. Raises DeadlineSoon, TimedOut.
        """
        return self._execute(_RESERVE_WITH_TIMEOUT, (seconds,))  # type: ignore[no-any-return]

    def reserve_job(self, id: int) -> _M:
        """Reserve the job with this id, whatever its tube or state (beanstalkd 1.12+).

        Sends ``reserve-job <id>``. Raises NotFound.
        """
        return self._execute(_RESERVE_JOB, (id,))  # type: ignore[no-any-return]

    def delete(self, id: int) -> None:
        """Delete a job: one reserved by this connection, or a ready, delayed or buried one.

        Sends ``delete <id>``. Raises NotFound.
        """
        return self._execute(_DELETE, (id,))  # type: ignore[no-any-return]

    def release(
        self,
        id: int,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
    ) -> None:
        """Put a job reserved by this connection back into its tube, ready or after a delay.

        Sends ``release <id> <priority> <delay>``. Raises Buried, NotFound.
        """
        return self._execute(_RELEASE, (id, priority, delay))  # type: ignore[no-any-return]

    def bury(self, id: int, priority: int = DEFAULT_PRIORITY) -> None:
        """Bury a job reserved by this connection: it stays aside until kicked.

        Sends ``bury <id> <priority>``. Raises NotFound.
        """
        return self._execute(_BURY, (id, priority))  # type: ignore[no-any-return]

    def touch(self, id: int) -> None:
        """Ask for more time to work on a job reserved by this connection: its time-to-run starts
        again.

        Sends ``touch <id>``. Raises NotFound.
        """
        return self._execute(_TOUCH, (id,))  # type: ignore[no-any-return]

    def watch(self, tube: str) -> int:
        """Add this tube to the watch list; return how many tubes are watched.

        Sends ``watch <tube>``.
        """
        return self._execute(_WATCH, (tube,))  # type: ignore[no-any-return]

    def ignore(self, tube: str) -> int:
        """Remove this tube from the watch list; return how many remain (NotIgnored for the last
        one).

        Sends ``ignore <tube>``. Raises NotIgnored.
        """
        return self._execute(_IGNORE, (tube,))  # type: ignore[no-any-return]

    def peek(self, id: int) -> _M | None:
        """Return the job with this id without reserving it, or None.

        Sends ``peek <id>``.
        """
        return self._execute(_PEEK, (id,))  # type: ignore[no-any-return]

    def peek_ready(self) -> _M | None:
        """Return the next ready job of the used tube without reserving it, or None.

        Sends ``peek-ready``.
        """
        return self._execute(_PEEK_READY, ())  # type: ignore[no-any-return]

    def peek_delayed(self) -> _M | None:
        """Return the delayed job of the used tube that is ready soonest, or None.

        Sends ``peek-delayed``.
        """
        return self._execute(_PEEK_DELAYED, ())  # type: ignore[no-any-return]

    def peek_buried(self) -> _M | None:
        """Return the next job to be kicked from the used tube's buried jobs, or None.

        Sends ``peek-buried``.
        """
        return self._execute(_PEEK_BURIED, ())  # type: ignore[no-any-return]

    def kick(self, bound: int) -> int:
        """Kick at most this many buried jobs of the used tube (or delayed ones when none is buried)
        to ready; return how many.

        Sends ``kick <bound>``.
        """
        return self._execute(_KICK, (bound,))  # type: ignore[no-any-return]

    def kick_job(self, id: int) -> None:
        """Kick one buried or delayed job to ready.

        Sends ``kick-job <id>``. Raises NotFound.
        """
        return self._execute(_KICK_JOB, (id,))  # type: ignore[no-any-return]

    def stats_job(self, id: int) -> JobStats:
        """Return a job's statistics (id, tube, state, pri, age, delay, ttr, time-left, counters).

        Sends ``stats-job <id>``. Raises NotFound.
        """
        return self._execute(_STATS_JOB, (id,))  # type: ignore[no-any-return]

    def stats_tube(self, tube: str) -> TubeStats:
        """Return a tube's statistics (job counts by state, connections using and watching it,
        pause).

        Sends ``stats-tube <tube>``. Raises NotFound.
        """
        return self._execute(_STATS_TUBE, (tube,))  # type: ignore[no-any-return]

    def stats(self) -> ServerStats:
        """Return the server's statistics.

        Sends ``stats``.
        """
        return self._execute(_STATS, ())  # type: ignore[no-any-return]

    def list_tubes(self) -> list[str]:
        """Return the names of all existing tubes, in creation order.

        Sends ``list-tubes``.
        """
        return self._execute(_LIST_TUBES, ())  # type: ignore[no-any-return]

    def using(self) -> str:
        """Return the name of the tube this connection uses.

        Sends ``list-tube-used``.
        """
        return self._execute(_USING, ())  # type: ignore[no-any-return]

    def watching(self) -> list[str]:
        """Return the names of the tubes this connection watches.

        Sends ``list-tubes-watched``.
        """
        return self._execute(_WATCHING, ())  # type: ignore[no-any-return]

    def pause_tube(self, tube: str, delay: int) -> None:
        """Hold back reservations from this tube for this many seconds (0 resumes it at once).

        Sends ``pause-tube <tube> <delay>``. Raises NotFound.
        """
        return self._execute(_PAUSE_TUBE, (tube, delay))  # type: ignore[no-any-return]


class AsyncQueueCommands(Generic[_M]):
    """The commands of an asyncio queue: each returns an awaitable of its result."""

    __slots__ = ()
    _execute: Callable[[Command, tuple[Any, ...]], Awaitable[Any]]

    def __call__(self, name: str, *args: Any) -> Any:
        """Run a command by its method name: ``queue("reserve_with_timeout", 5)``."""
        if name not in COMMANDS:
            raise AttributeError(f"no beanstalkd command named {name!r}")
        return getattr(self, name)(*args)

    def put(
        self,
        body: bytes | bytearray | memoryview | str,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
    ) -> Awaitable[int]:
        """Put a job with this body (bytes, or str sent as UTF-8) into the used tube and return its
        id.

        Sends ``put <priority> <delay> <ttr> <bytes>\r\n<body>``. Raises Buried, ExpectedCrlf,
        JobTooBig, Draining.
        """
        return self._execute(_PUT, (body, priority, delay, ttr))

    def use(self, tube: str) -> Awaitable[str]:
        """Use this tube for put, kick and peek-ready/delayed/buried; return its name.

        Sends ``use <tube>``.
        """
        return self._execute(_USE, (tube,))

    def reserve(self) -> Awaitable[_M]:
        """Reserve a job from the watched tubes, waiting for one as long as it takes.

        Sends ``reserve``. Raises DeadlineSoon, TimedOut.
        """
        return self._execute(_RESERVE, ())

    def reserve_with_timeout(self, seconds: int) -> Awaitable[_M]:
        """Reserve a job from the watched tubes, waiting at most this many seconds (TimedOut if none
        came).

        Sends ``reserve-with-timeout <seconds>``. Raises DeadlineSoon, TimedOut.
        """
        return self._execute(_RESERVE_WITH_TIMEOUT, (seconds,))

    def reserve_job(self, id: int) -> Awaitable[_M]:
        """Reserve the job with this id, whatever its tube or state (beanstalkd 1.12+).

        Sends ``reserve-job <id>``. Raises NotFound.
        """
        return self._execute(_RESERVE_JOB, (id,))

    def delete(self, id: int) -> Awaitable[None]:
        """Delete a job: one reserved by this connection, or a ready, delayed or buried one.

        Sends ``delete <id>``. Raises NotFound.
        """
        return self._execute(_DELETE, (id,))

    def release(
        self,
        id: int,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
    ) -> Awaitable[None]:
        """Put a job reserved by this connection back into its tube, ready or after a delay.

        Sends ``release <id> <priority> <delay>``. Raises Buried, NotFound.
        """
        return self._execute(_RELEASE, (id, priority, delay))

    def bury(self, id: int, priority: int = DEFAULT_PRIORITY) -> Awaitable[None]:
        """Bury a job reserved by this connection: it stays aside until kicked.

        Sends ``bury <id> <priority>``. Raises NotFound.
        """
        return self._execute(_BURY, (id, priority))

    def touch(self, id: int) -> Awaitable[None]:
        """Ask for more time to work on a job reserved by this connection: its time-to-run starts
        again.

        Sends ``touch <id>``. Raises NotFound.
        """
        return self._execute(_TOUCH, (id,))

    def watch(self, tube: str) -> Awaitable[int]:
        """Add this tube to the watch list; return how many tubes are watched.

        Sends ``watch <tube>``.
        """
        return self._execute(_WATCH, (tube,))

    def ignore(self, tube: str) -> Awaitable[int]:
        """Remove this tube from the watch list; return how many remain (NotIgnored for the last
        one).

        Sends ``ignore <tube>``. Raises NotIgnored.
        """
        return self._execute(_IGNORE, (tube,))

    def peek(self, id: int) -> Awaitable[_M | None]:
        """Return the job with this id without reserving it, or None.

        Sends ``peek <id>``.
        """
        return self._execute(_PEEK, (id,))

    def peek_ready(self) -> Awaitable[_M | None]:
        """Return the next ready job of the used tube without reserving it, or None.

        Sends ``peek-ready``.
        """
        return self._execute(_PEEK_READY, ())

    def peek_delayed(self) -> Awaitable[_M | None]:
        """Return the delayed job of the used tube that is ready soonest, or None.

        Sends ``peek-delayed``.
        """
        return self._execute(_PEEK_DELAYED, ())

    def peek_buried(self) -> Awaitable[_M | None]:
        """Return the next job to be kicked from the used tube's buried jobs, or None.

        Sends ``peek-buried``.
        """
        return self._execute(_PEEK_BURIED, ())

    def kick(self, bound: int) -> Awaitable[int]:
        """Kick at most this many buried jobs of the used tube (or delayed ones when none is buried)
        to ready; return how many.

        Sends ``kick <bound>``.
        """
        return self._execute(_KICK, (bound,))

    def kick_job(self, id: int) -> Awaitable[None]:
        """Kick one buried or delayed job to ready.

        Sends ``kick-job <id>``. Raises NotFound.
        """
        return self._execute(_KICK_JOB, (id,))

    def stats_job(self, id: int) -> Awaitable[JobStats]:
        """Return a job's statistics (id, tube, state, pri, age, delay, ttr, time-left, counters).

        Sends ``stats-job <id>``. Raises NotFound.
        """
        return self._execute(_STATS_JOB, (id,))

    def stats_tube(self, tube: str) -> Awaitable[TubeStats]:
        """Return a tube's statistics (job counts by state, connections using and watching it,
        pause).

        Sends ``stats-tube <tube>``. Raises NotFound.
        """
        return self._execute(_STATS_TUBE, (tube,))

    def stats(self) -> Awaitable[ServerStats]:
        """Return the server's statistics.

        Sends ``stats``.
        """
        return self._execute(_STATS, ())

    def list_tubes(self) -> Awaitable[list[str]]:
        """Return the names of all existing tubes, in creation order.

        Sends ``list-tubes``.
        """
        return self._execute(_LIST_TUBES, ())

    def using(self) -> Awaitable[str]:
        """Return the name of the tube this connection uses.

        Sends ``list-tube-used``.
        """
        return self._execute(_USING, ())

    def watching(self) -> Awaitable[list[str]]:
        """Return the names of the tubes this connection watches.

        Sends ``list-tubes-watched``.
        """
        return self._execute(_WATCHING, ())

    def pause_tube(self, tube: str, delay: int) -> Awaitable[None]:
        """Hold back reservations from this tube for this many seconds (0 resumes it at once).

        Sends ``pause-tube <tube> <delay>``. Raises NotFound.
        """
        return self._execute(_PAUSE_TUBE, (tube, delay))


class PipelineCommands:
    """The commands of a pipeline: each records its request and returns the pipeline."""

    __slots__ = ()
    _record: Callable[[Command, tuple[Any, ...]], Any]

    def put(
        self: _P,
        body: bytes | bytearray | memoryview | str,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
    ) -> _P:
        """Put a job with this body (bytes, or str sent as UTF-8) into the used tube and return its
        id.

        Sends ``put <priority> <delay> <ttr> <bytes>\r\n<body>``. Raises Buried, ExpectedCrlf,
        JobTooBig, Draining.
        """
        return self._record(_PUT, (body, priority, delay, ttr))  # type: ignore[no-any-return]

    def use(self: _P, tube: str) -> _P:
        """Use this tube for put, kick and peek-ready/delayed/buried; return its name.

        Sends ``use <tube>``.
        """
        return self._record(_USE, (tube,))  # type: ignore[no-any-return]

    def reserve(self: _P) -> _P:
        """Reserve a job from the watched tubes, waiting for one as long as it takes.

        Sends ``reserve``. Raises DeadlineSoon, TimedOut.
        """
        return self._record(_RESERVE, ())  # type: ignore[no-any-return]

    def reserve_with_timeout(self: _P, seconds: int) -> _P:
        """Reserve a job from the watched tubes, waiting at most this many seconds (TimedOut if none
        came).

        Sends ``reserve-with-timeout <seconds>``. Raises DeadlineSoon, TimedOut.
        """
        return self._record(_RESERVE_WITH_TIMEOUT, (seconds,))  # type: ignore[no-any-return]

    def reserve_job(self: _P, id: int) -> _P:
        """Reserve the job with this id, whatever its tube or state (beanstalkd 1.12+).

        Sends ``reserve-job <id>``. Raises NotFound.
        """
        return self._record(_RESERVE_JOB, (id,))  # type: ignore[no-any-return]

    def delete(self: _P, id: int) -> _P:
        """Delete a job: one reserved by this connection, or a ready, delayed or buried one.

        Sends ``delete <id>``. Raises NotFound.
        """
        return self._record(_DELETE, (id,))  # type: ignore[no-any-return]

    def release(
        self: _P,
        id: int,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
    ) -> _P:
        """Put a job reserved by this connection back into its tube, ready or after a delay.

        Sends ``release <id> <priority> <delay>``. Raises Buried, NotFound.
        """
        return self._record(_RELEASE, (id, priority, delay))  # type: ignore[no-any-return]

    def bury(self: _P, id: int, priority: int = DEFAULT_PRIORITY) -> _P:
        """Bury a job reserved by this connection: it stays aside until kicked.

        Sends ``bury <id> <priority>``. Raises NotFound.
        """
        return self._record(_BURY, (id, priority))  # type: ignore[no-any-return]

    def touch(self: _P, id: int) -> _P:
        """Ask for more time to work on a job reserved by this connection: its time-to-run starts
        again.

        Sends ``touch <id>``. Raises NotFound.
        """
        return self._record(_TOUCH, (id,))  # type: ignore[no-any-return]

    def watch(self: _P, tube: str) -> _P:
        """Add this tube to the watch list; return how many tubes are watched.

        Sends ``watch <tube>``.
        """
        return self._record(_WATCH, (tube,))  # type: ignore[no-any-return]

    def ignore(self: _P, tube: str) -> _P:
        """Remove this tube from the watch list; return how many remain (NotIgnored for the last
        one).

        Sends ``ignore <tube>``. Raises NotIgnored.
        """
        return self._record(_IGNORE, (tube,))  # type: ignore[no-any-return]

    def peek(self: _P, id: int) -> _P:
        """Return the job with this id without reserving it, or None.

        Sends ``peek <id>``.
        """
        return self._record(_PEEK, (id,))  # type: ignore[no-any-return]

    def peek_ready(self: _P) -> _P:
        """Return the next ready job of the used tube without reserving it, or None.

        Sends ``peek-ready``.
        """
        return self._record(_PEEK_READY, ())  # type: ignore[no-any-return]

    def peek_delayed(self: _P) -> _P:
        """Return the delayed job of the used tube that is ready soonest, or None.

        Sends ``peek-delayed``.
        """
        return self._record(_PEEK_DELAYED, ())  # type: ignore[no-any-return]

    def peek_buried(self: _P) -> _P:
        """Return the next job to be kicked from the used tube's buried jobs, or None.

        Sends ``peek-buried``.
        """
        return self._record(_PEEK_BURIED, ())  # type: ignore[no-any-return]

    def kick(self: _P, bound: int) -> _P:
        """Kick at most this many buried jobs of the used tube (or delayed ones when none is buried)
        to ready; return how many.

        Sends ``kick <bound>``.
        """
        return self._record(_KICK, (bound,))  # type: ignore[no-any-return]

    def kick_job(self: _P, id: int) -> _P:
        """Kick one buried or delayed job to ready.

        Sends ``kick-job <id>``. Raises NotFound.
        """
        return self._record(_KICK_JOB, (id,))  # type: ignore[no-any-return]

    def stats_job(self: _P, id: int) -> _P:
        """Return a job's statistics (id, tube, state, pri, age, delay, ttr, time-left, counters).

        Sends ``stats-job <id>``. Raises NotFound.
        """
        return self._record(_STATS_JOB, (id,))  # type: ignore[no-any-return]

    def stats_tube(self: _P, tube: str) -> _P:
        """Return a tube's statistics (job counts by state, connections using and watching it,
        pause).

        Sends ``stats-tube <tube>``. Raises NotFound.
        """
        return self._record(_STATS_TUBE, (tube,))  # type: ignore[no-any-return]

    def stats(self: _P) -> _P:
        """Return the server's statistics.

        Sends ``stats``.
        """
        return self._record(_STATS, ())  # type: ignore[no-any-return]

    def list_tubes(self: _P) -> _P:
        """Return the names of all existing tubes, in creation order.

        Sends ``list-tubes``.
        """
        return self._record(_LIST_TUBES, ())  # type: ignore[no-any-return]

    def using(self: _P) -> _P:
        """Return the name of the tube this connection uses.

        Sends ``list-tube-used``.
        """
        return self._record(_USING, ())  # type: ignore[no-any-return]

    def watching(self: _P) -> _P:
        """Return the names of the tubes this connection watches.

        Sends ``list-tubes-watched``.
        """
        return self._record(_WATCHING, ())  # type: ignore[no-any-return]

    def pause_tube(self: _P, tube: str, delay: int) -> _P:
        """Hold back reservations from this tube for this many seconds (0 resumes it at once).

        Sends ``pause-tube <tube> <delay>``. Raises NotFound.
        """
        return self._record(_PAUSE_TUBE, (tube, delay))  # type: ignore[no-any-return]
