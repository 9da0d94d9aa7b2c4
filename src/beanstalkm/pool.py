"""Several beanstalkd servers as one queue: the blocking :class:`Pool`.

A pool puts each job on one healthy server (round-robin, by a key's hash, or by
weight), fails over to the next when a server is down, reserves from every server at
once (a reserve in flight on each, waited on with one selector: no polling), and runs
the tube and stats commands on every server, adding up the answers. What it decides is
in :mod:`beanstalkm.servers`, shared with :class:`beanstalkm.aio.Pool`. See
``docs/pool.md``.
"""

from __future__ import annotations

import math
import selectors
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Final

from . import operations
from .client import Client
from .commands import COMMANDS
from .connection import Message
from .constants import (
    DEFAULT_DELAY,
    DEFAULT_PRIORITY,
    DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_TTR,
    DEFAULT_TUBE,
)
from .errors import (
    BeanstalkmException,
    CannotConnect,
    CommandFailed,
    Draining,
    PipelineError,
    PoolError,
    ReservationLost,
    SocketError,
    first_error,
)
from .protocol import NEED_DATA
from .servers import (
    AMBIGUOUS,
    PoolBase,
    PoolList,
    PoolResult,
    Reserving,
    Server,
    sum_stats,
)

__all__ = ["AMBIGUOUS", "Pool"]

# Longest a reserve stays in flight on a server: a job reserved for a consumer that
# stopped asking waits for it no longer than this (the next call hands it out).
_HOLD: Final = 1
_RESERVE_WITH_TIMEOUT: Final = COMMANDS["reserve_with_timeout"]
_KICK: Final = COMMANDS["kick"]


class Pool(PoolBase[Client]):
    """Several beanstalkd servers used as one queue.

    :param servers: the servers: a list of URLs or ``(host, port)`` pairs, or one string
        of comma-separated URLs (``"beanstalk://a:11300,beanstalk://b:11300"``).
        :meth:`from_env` reads ``$BEANSTALKD_URL``.
    :param strategy: how puts are spread: ``"round-robin"`` (default), ``"hash"`` (by
        the ``key`` of each put: a key's jobs on one server, in order) or
        ``"weighted"`` (by ``weights``, ``{url: weight}``).
    :param ambiguous: a put whose reply never came: ``"retry"`` (default) puts it on
        another server, at least once; ``"raise"`` raises (see ``docs/pool.md``).
    :param timeout, use, watch, parse_yaml, validate, strict, json_default: as for
        :class:`~beanstalkm.Client`, for the pool's connection to each server.

    Not thread-safe, as a Client: give each thread (or worker slot) its own pool.
    """

    client_class: type[Client] = Client

    def __init__(
        self,
        servers: str | Iterable[str | tuple[str, int]],
        *,
        strategy: str = "round-robin",
        weights: Mapping[str, int] | None = None,
        ambiguous: str = "retry",
        **client_options: Any,
    ) -> None:
        super().__init__(
            servers, strategy=strategy, weights=weights, ambiguous=ambiguous, **client_options
        )
        self._selector: selectors.BaseSelector | None = None
        # Fail at once on bad options (a bad tube name, say), not at the first call.
        self._make(self.servers[0], consumer=True).close()

    def close(self) -> None:
        """Close every connection (the servers release whatever this pool reserved)."""
        for client in (*self._producers.values(), *self._consumers.values()):
            client.close()
        self._reserving = Reserving(self.servers)
        if self._selector is not None:
            self._selector.close()
            self._selector = None

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- putting --

    def put(
        self,
        body: Any,
        tube: str = DEFAULT_TUBE,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
        subscribe: str | None = None,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
        key: str | bytes | None = None,
    ) -> Message:
        """Put ``body`` in an envelope on one server (see the ``strategy``); when that
        server is down, on the next. Returns the sent message (``message.server`` says
        where). Raises what :meth:`beanstalkm.Client.put` raises, and SocketError when
        no server takes it."""
        message: Message | None = None
        errors: list[str] = []
        for attempt, server in enumerate(self.placement.order(key)):
            client = self._producer(server)
            if message is None:
                message = client(
                    body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr
                )
            else:
                message.connection = client
            request = operations.put_request(message, tube)
            try:
                uid = client.execute(*request)
            except (SocketError, Draining) as exc:
                self._put_failed(server, exc, errors)
                continue
            self._placed(server, attempt)
            operations.sent(message, tube, uid)
            return message
        raise SocketError("no server of the pool took the put: " + "; ".join(errors))

    def request(
        self,
        body: Any,
        tube: str = DEFAULT_TUBE,
        timeout: float = DEFAULT_REQUEST_TIMEOUT,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
        key: str | bytes | None = None,
    ) -> Message:
        """Put ``body`` as a request on one server (placed and failed over as a put)
        and return its reply, which comes on that server; see
        :meth:`beanstalkm.Client.request`. A request whose put got no answer is tried
        on another server only with ``ambiguous="retry"``."""
        errors: list[str] = []
        for attempt, server in enumerate(self.placement.order(key)):
            client = self._producer(server)
            requester = client._requester()
            message = requester.ids.request(
                client, body, sender, channel, priority=priority, delay=delay, ttr=ttr
            )
            try:
                reply: Message = requester.request(message, tube, timeout)
            except (SocketError, Draining) as exc:
                if message.uid:  # it was put: what failed is the wait for its reply
                    raise
                self._put_failed(server, exc, errors)
                continue
            self._placed(server, attempt)
            return reply
        raise SocketError("no server of the pool took the request: " + "; ".join(errors))

    def put_many(
        self,
        bodies: Iterable[Any],
        tube: str = DEFAULT_TUBE,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
        subscribe: str | None = None,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
        key: str | bytes | None = None,
    ) -> list[Message]:
        """Put many messages, spread over the servers as single puts would be, and
        pipelined: one batch (one round trip) per server. A server that fails has its
        share put on the others. PipelineError if some puts failed (``results``
        holds each sent message or its exception, in order)."""
        bodies = list(bodies)
        first = self._producer(self.servers[0])
        messages = [
            first(body, subscribe, sender, channel, priority=priority, delay=delay, ttr=ttr)
            for body in bodies
        ]
        results: list[Any] = [None] * len(messages)
        todo = list(range(len(messages)))
        tried: set[str] = set()
        while todo:
            shares = self.placement.share(len(todo), key)
            shares = [(s, n) for s, n in shares if s.address not in tried] or [
                (s, len(todo)) for s in self.placement.order(key) if s.address not in tried
            ][:1]
            if not shares:
                raise SocketError(f"no server of the pool took the batch ({len(todo)} puts left)")
            start = 0
            failed: list[int] = []
            for server, count in shares:
                batch, start = todo[start : start + count], start + count
                client = self._producer(server)
                for i in batch:
                    messages[i].connection = client
                requests = [operations.put_request(messages[i], tube) for i in batch]
                try:
                    answers = client.execute_many(requests)
                except SocketError as exc:
                    server.failed()
                    tried.add(server.address)
                    if not isinstance(exc, CannotConnect):
                        self._ambiguous_puts += len(batch)
                        if self.ambiguous == "raise":
                            raise
                    failed += batch
                    continue
                server.succeeded()
                for i, answer in zip(batch, answers, strict=True):
                    if isinstance(answer, Draining):
                        failed.append(i)
                    elif isinstance(answer, BaseException):
                        results[i] = answer
                    else:
                        server.puts += 1
                        results[i] = operations.sent(messages[i], tube, answer)
                if any(isinstance(a, Draining) for a in answers):
                    tried.add(server.address)
            if failed:
                self._failovers += len(failed)
            todo = failed
        if first_error(results) is not None:
            raise PipelineError(results)
        return messages

    # -- reserving --

    def reserve(self, timeout: float | None = None, drop: bool = True) -> Message | None:
        """Reserve a message from whichever server has one first: a reserve waits on
        every server that is up, at once. None when ``timeout`` passes without one.
        With ``drop`` the job is deleted on receipt; otherwise settle it (it goes to
        its own server) before this pool reserves from that server again."""
        deadline = None if timeout is None else time.monotonic() + timeout
        reserving = self._reserving
        first = True
        while True:
            message: Message | None = reserving.take()
            if message is not None:
                operations.received(message, bool(self._options.get("strict")))
                if not drop:
                    return message
                try:
                    message.delete()
                except ReservationLost:
                    # Its server went away before the delete was sent: the job is not
                    # ours any more (the server hands it out again). Reserve on.
                    self._lost(message)
                    continue
                except SocketError:
                    # Sent, and no reply: the server may have deleted it. Handed out
                    # all the same, or it could be lost; if it was not deleted, the
                    # server hands it out again (at least once).
                    self._lost(message)
                return message
            now = time.monotonic()
            remaining = None if deadline is None else deadline - now
            if remaining is not None and remaining <= 0 and not first and not reserving.armed:
                return None
            # Each reserve waits at most _HOLD: a job is not kept for a consumer that
            # has stopped asking for longer than that.
            wait = _HOLD if remaining is None else max(0, min(_HOLD, math.ceil(remaining)))
            if first or remaining is None or remaining > 0:
                for server in reserving.to_arm(now):
                    self._arm(server, wait)
            first = False
            if reserving.armed:
                self._wait(wait + self._allowance())
            elif remaining is not None and remaining <= 0:
                return None
            else:  # every server down, or holding a job handed out: wait for one
                pause = max(reserving.earliest_retry(), 0.05)
                time.sleep(pause if remaining is None else min(pause, remaining))

    def _lost(self, message: Message) -> None:
        for server in self.servers:
            if server.address == message.server:
                self._forget(server)
                self._consumers[server.address].close()
                self._reserving.lost(server)

    def messages(self, timeout: float | None = None, drop: bool = False) -> Iterator[Message]:
        """Reserve messages one after another, until a reserve with ``timeout`` finds
        none (forever when None)."""
        while True:
            message = self.reserve(timeout, drop)
            if message is None:
                return
            yield message

    def _allowance(self) -> float:
        timeout = self._options.get("timeout", 10.0)
        return 10.0 if timeout is None else float(timeout)

    def _arm(self, server: Server, wait: int) -> None:
        client = self._consumer(server)
        try:
            sock = client.start(_RESERVE_WITH_TIMEOUT, (wait,))
        except SocketError:
            self._reserving.lost(server)
            return
        selector = self._selector
        if selector is None:
            selector = self._selector = selectors.DefaultSelector()
        try:
            selector.modify(sock, selectors.EVENT_READ, server)
        except KeyError:
            selector.register(sock, selectors.EVENT_READ, server)
        self._reserving.armed[server.address] = time.monotonic() + wait

    def _wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for the servers' replies; record what came."""
        selector = self._selector
        assert selector is not None
        reserving = self._reserving
        for key, _ in selector.select(max(seconds, 0.0)):
            server: Server = key.data
            if server.address not in reserving.armed:
                continue
            self._read(server, key.fileobj)  # type: ignore[arg-type]
        # A server whose reply is overdue (its wait plus the timeout) is down.
        now = time.monotonic()
        for server in self.servers:
            due = reserving.armed.get(server.address)
            if due is not None and now > due + self._allowance():
                self._forget(server)
                self._consumers[server.address].close()  # releases what it reserved
                reserving.lost(server)

    def _read(self, server: Server, sock: socket.socket) -> None:
        client = self._consumers[server.address]
        try:
            result = client.finish(block=False)
        except BeanstalkmException as exc:
            result = exc
        if result is NEED_DATA:
            return
        self._forget(server)
        self._reserving.outcome(server, result)

    def _forget(self, server: Server, sock: Any = None) -> None:
        selector = self._selector
        if selector is None:
            return
        for key in list(selector.get_map().values()):
            if key.data is server:
                selector.unregister(key.fileobj)

    # -- commands on every server --

    def each(self, name: str, *args: Any) -> dict[str, Any]:
        """Run a command of the queue (``"stats_tube"``, ``"kick"`` ...) on every
        server; each server's result, or the exception it got, by address."""
        results: dict[str, Any] = {}
        for server in self.servers:
            try:
                results[server.address] = self._producer(server).queue(name, *args)
            except BeanstalkmException as exc:
                if isinstance(exc, SocketError):
                    server.failed()
                results[server.address] = exc
            else:
                server.succeeded()
        return results

    def _all_failed(self, name: str, results: dict[str, Any]) -> None:
        if all(isinstance(r, BaseException) for r in results.values()):
            raise PoolError(name, results)

    def stats(self) -> PoolResult:
        """The servers' stats added up (``.servers`` has each one's, or its error)."""
        results = self.each("stats")
        self._all_failed("stats", results)
        return sum_stats(results)

    def stats_tube(self, tube: str) -> PoolResult:
        """A tube's stats over every server, added up; NotFound when no server has it
        (``.servers`` has each one's stats, or its error: NotFound where it has not)."""
        results = self.each("stats_tube", tube)
        found = [r for r in results.values() if not isinstance(r, BaseException)]
        if not found:
            error = first_error(list(results.values()))
            if all(isinstance(r, CommandFailed) for r in results.values()) and error:
                raise error
            raise PoolError("stats_tube", results)
        return sum_stats(results)

    def list_tubes(self) -> PoolList:
        """Every tube on any server (``.servers`` has each one's list, or its error)."""
        results = self.each("list_tubes")
        self._all_failed("list_tubes", results)
        return PoolList(results)

    def kick(self, bound: int, tube: str | None = None) -> int:
        """Kick up to ``bound`` jobs on each server (in ``tube``, else the used tube);
        return how many were kicked in all. PoolError if a server failed (with the
        others' results)."""
        results: dict[str, Any] = {}
        for server in self.servers:
            try:
                results[server.address] = self._producer(server).execute(
                    _KICK, (bound,), None, tube
                )
            except BeanstalkmException as exc:
                results[server.address] = exc
        if any(isinstance(r, BaseException) for r in results.values()):
            raise PoolError("kick", results)
        return sum(results.values())

    def pause_tube(self, tube: str, delay: int) -> None:
        """Pause ``tube`` on every server that has it. PoolError if a server failed."""
        results = self.each("pause_tube", tube, delay)
        failed = {
            a: r
            for a, r in results.items()
            if isinstance(r, BaseException) and not isinstance(r, CommandFailed)
        }
        if failed or all(isinstance(r, BaseException) for r in results.values()):
            raise PoolError("pause_tube", results)
