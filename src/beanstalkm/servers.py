"""What a pool of beanstalkd servers decides, without I/O: which server a put goes to,
which servers are down and when to try them again, whose job is handed out next, and
how the servers' stats add up; and :class:`PoolBase`, the part of
:class:`beanstalkm.Pool` and :class:`beanstalkm.aio.Pool` that does no I/O (their
servers, options, connections by server, counters). The pools are this plus how they
wait.
"""

from __future__ import annotations

import os
import random
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

from .errors import CannotConnect, CommandFailed, Draining, SocketError
from .urls import ENV_VAR, format_address, parse_url

__all__ = [
    "AMBIGUOUS",
    "STRATEGIES",
    "Placement",
    "PoolBase",
    "PoolCounters",
    "PoolList",
    "PoolResult",
    "Server",
    "ambiguous_put",
    "put_failed",
    "server_list",
    "sum_stats",
]

#: How puts are spread over the servers.
STRATEGIES: Final = ("round-robin", "hash", "weighted")
#: What a pool does with a put whose reply never came (the job may exist where it was
#: sent): ``"retry"`` puts it on another server (at least once: it may then exist
#: twice), ``"raise"`` raises the SocketError.
AMBIGUOUS: Final = ("retry", "raise")
# Waits before a server that failed is tried again: 0.5 s doubling up to 5 s.
_RETRY_FIRST: Final = 0.5
_RETRY_MAX: Final = 5.0


class Server:
    """One server of a pool: its address, its weight, and whether it is up.

    A server that failed (refused, timed out, reset) is down until a backoff has
    passed (0.5 s, doubling, at most 5 s); then one call may try it again, and a
    success brings it back.
    """

    __slots__ = ("_down_until", "address", "failures", "host", "port", "puts", "weight")

    def __init__(self, host: str, port: int, weight: int = 1) -> None:
        if weight < 1:
            raise ValueError(f"a server's weight is at least 1, got {weight}")
        self.host = host
        self.port = port
        self.weight = weight
        #: ``host:port`` (``[::1]:port``, ``unix:/path``), as messages and output name it.
        self.address = format_address(host, port)
        #: Failures in a row; 0 while the server is up.
        self.failures = 0
        #: Puts this server took.
        self.puts = 0
        self._down_until = 0.0

    def up(self, now: float | None = None) -> bool:
        """True while the server is not known to be down, or its backoff has passed."""
        return self.failures == 0 or (time.monotonic() if now is None else now) >= self._down_until

    @property
    def down(self) -> bool:
        """True while the server is in its backoff after a failure."""
        return not self.up()

    @property
    def retry_in(self) -> float:
        """Seconds until a down server is tried again (0 when it may be tried now)."""
        return max(self._down_until - time.monotonic(), 0.0) if self.failures else 0.0

    def failed(self, now: float | None = None) -> None:
        """A call to the server failed: it is down for a while."""
        self.failures += 1
        wait = min(_RETRY_FIRST * 2 ** (self.failures - 1), _RETRY_MAX)
        self._down_until = (time.monotonic() if now is None else now) + wait

    def succeeded(self) -> None:
        """A call to the server got its reply: it is up."""
        self.failures = 0

    def __repr__(self) -> str:
        state = "up" if self.up() else f"down, retried in {self.retry_in:.1f}s"
        return f"<Server {self.address} {state}>"


def put_failed(server: Server, exc: Exception, ambiguous: str) -> bool:
    """Whether a put (or request) that raised ``exc`` on ``server`` goes to the next
    server, marking this one down; True also means the put was ambiguous when ``exc``
    is a SocketError other than CannotConnect (see :func:`ambiguous_put`). Errors that
    are no server's fault, and ambiguous puts with ``ambiguous="raise"``, are the
    caller's to raise: False."""
    if isinstance(exc, (CannotConnect, Draining)):  # nothing stored
        server.failed()
        return True
    if isinstance(exc, SocketError):
        server.failed()
        return ambiguous != "raise"
    return False


def ambiguous_put(exc: Exception) -> bool:
    """True for a put whose reply never came: the server may have stored it."""
    return isinstance(exc, SocketError) and not isinstance(exc, CannotConnect)


def server_list(
    servers: str | Iterable[str | tuple[str, int]], weights: Mapping[str, int] | None = None
) -> list[Server]:
    """Servers from URLs (``"beanstalk://a:11300,beanstalk://b:11300"``, a list of them,
    or ``(host, port)`` pairs); ``weights`` maps an address or URL to its weight."""
    items: list[str | tuple[str, int]] = (
        [part for part in servers.split(",") if part.strip()]
        if isinstance(servers, str)
        else list(servers)
    )
    found: list[Server] = []
    weights = dict(weights or {})
    by_address: dict[str, int] = {}
    for key, value in weights.items():
        host, port = parse_url(key)
        by_address[format_address(host, port)] = value
    for item in items:
        host, port = parse_url(item) if isinstance(item, str) else item
        server = Server(host, port)
        if any(other.address == server.address for other in found):
            raise ValueError(f"{server.address} is in the pool twice")
        server.weight = by_address.pop(server.address, 1)
        found.append(server)
    if not found:
        raise ValueError("a pool needs at least one server")
    if by_address:
        raise ValueError(f"weights for servers not in the pool: {', '.join(by_address)}")
    return found


class Placement:
    """Chooses the server for each put: the servers to try, in order.

    - ``round-robin`` (the default): each put goes to the next server up, starting
      from a server chosen at random, so that short-lived producers (a put or two
      each, a script, a command line) spread over the servers as well.
    - ``weighted``: like round-robin, each server taking a share of the puts in
      proportion to its weight (smooth: the heavier servers' puts are spread out).
    - ``hash``: by a key given with each put (a crc32 of it): a key's jobs all go to
      one server, in order, while it is up; when it is down they go to the next server
      of the list, and come back when it is up again.

    The servers that are down come last, so that a put tries every server before it
    fails.
    """

    def __init__(self, servers: Sequence[Server], strategy: str = "round-robin") -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
        self.servers = list(servers)
        self.strategy = strategy
        self._next = random.randrange(len(self.servers)) if self.servers else 0
        self._current = [0] * len(self.servers)

    def order(self, key: str | bytes | None = None) -> list[Server]:
        """The servers to try for one put, first choice first."""
        servers = self.servers
        count = len(servers)
        if self.strategy == "hash":
            if key is None:
                raise ValueError("the hash strategy needs a key with each put")
            data = key.encode("utf-8") if isinstance(key, str) else bytes(key)
            start = zlib.crc32(data) % count
        elif self.strategy == "weighted":
            start = self._weighted()
        else:
            start = self._next % count
            self._next = start + 1
        ordered = servers[start:] + servers[:start]
        now = time.monotonic()
        return [s for s in ordered if s.up(now)] + [s for s in ordered if not s.up(now)]

    def _weighted(self) -> int:
        # Smooth weighted round-robin: each server gains its weight, the richest is
        # chosen and pays the total (the servers that are down are left out).
        now = time.monotonic()
        total = 0
        best = -1
        for i, server in enumerate(self.servers):
            if not server.up(now):
                continue
            self._current[i] += server.weight
            total += server.weight
            if best < 0 or self._current[i] > self._current[best]:
                best = i
        if best < 0:
            return 0
        self._current[best] -= total
        return best

    def share(self, count: int, key: str | bytes | None = None) -> list[tuple[Server, int]]:
        """How ``count`` puts of one batch are spread: ``(server, how many)``, each to
        the servers up, by the strategy (a key sends the whole batch to its server)."""
        if self.strategy == "hash" or count == 0:
            return [(self.order(key)[0], count)] if count else []
        shares: dict[int, int] = {}
        for _ in range(count):
            index = self.servers.index(self.order()[0])
            shares[index] = shares.get(index, 0) + 1
        return [(self.servers[i], n) for i, n in sorted(shares.items())]


class PoolCounters:
    """What a pool has done (puts, failovers, servers down): a snapshot."""

    def __init__(self, servers: Sequence[Server], failovers: int, ambiguous: int) -> None:
        #: Puts per server address.
        self.puts = {server.address: server.puts for server in servers}
        #: Puts that went to another server than the first choice, after a failure.
        self.failovers = failovers
        #: Puts whose reply never came (the job may exist on that server).
        self.ambiguous = ambiguous
        #: The addresses of the servers that are down now.
        self.down = [server.address for server in servers if server.down]

    def __repr__(self) -> str:
        return (
            f"PoolCounters(puts={self.puts}, failovers={self.failovers}, "
            f"ambiguous={self.ambiguous}, down={self.down})"
        )


class PoolResult(dict[str, Any]):
    """A command's result over every server: the sum (for stats) or union (for tube
    lists) as a dict, and each server's own in :attr:`servers`.

    :attr:`servers` maps each address to that server's result, or to the exception it
    got; :attr:`errors` has just the exceptions: a server that failed is reported,
    never hidden, and never hides the others.
    """

    def __init__(self, total: Mapping[str, Any], servers: Mapping[str, Any]) -> None:
        super().__init__(total)
        #: Each server's result (or exception), by address.
        self.servers: dict[str, Any] = dict(servers)

    @property
    def errors(self) -> dict[str, BaseException]:
        """The servers that failed, and how."""
        return {a: r for a, r in self.servers.items() if isinstance(r, BaseException)}


class PoolList(list[str]):
    """Names over every server (their union, in order of first appearance), with each
    server's own list, or the exception it got, in :attr:`servers`."""

    def __init__(self, servers: Mapping[str, Any]) -> None:
        names: dict[str, None] = {}
        for result in servers.values():
            if not isinstance(result, BaseException):
                names.update(dict.fromkeys(result))
        super().__init__(names)
        #: Each server's list (or exception), by address.
        self.servers: dict[str, Any] = dict(servers)

    @property
    def errors(self) -> dict[str, BaseException]:
        """The servers that failed, and how."""
        return {a: r for a, r in self.servers.items() if isinstance(r, BaseException)}


# What is not summed when stats are added up: the same for every server, or not a count.
_NOT_SUMMED: Final = frozenset(
    {"name", "pause", "pause-time-left", "pid", "version", "uptime", "max-job-size", "id"}
    | {"hostname", "os", "platform", "draining", "binlog-max-size"}
)


def sum_stats(results: Mapping[str, Any]) -> PoolResult:
    """Add up per-server stats (a dict each, or an exception): counters are summed;
    ``pause`` and ``pause-time-left`` are the largest; the rest (names, versions) kept
    from the first server that answered."""
    total: dict[str, Any] = {}
    for result in results.values():
        if isinstance(result, BaseException):
            continue
        for key, value in result.items():
            if key not in total:
                total[key] = value
            elif key in ("pause", "pause-time-left") and isinstance(value, int):
                total[key] = max(total[key], value)
            elif key == "draining":
                total[key] = total[key] or value
            elif (
                key not in _NOT_SUMMED
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            ):
                total[key] += value
    return PoolResult(total, results)


class Reserving:
    """A pool consumer's reserves over its servers, without I/O.

    Each server's consumer connection has at most one reserve in flight. A server is
    asked (:meth:`to_arm`) when it is up, has no reserve in flight, and holds no job
    this consumer handed out and that is still reserved: a command on a job goes on
    the connection that reserved it, and would wait behind a reserve there. A job that
    comes while another is being handed out is kept (:attr:`ready`) for the next call,
    and jobs are handed out in turn across the servers (:meth:`take`).
    """

    def __init__(self, servers: Sequence[Server]) -> None:
        self.servers = list(servers)
        #: Server address -> when the reserve in flight there ends (``time.monotonic()``
        #: when it was written, plus its wait): its reply is due then.
        self.armed: dict[str, float] = {}
        #: Jobs reserved and not handed out yet: (server, message).
        self.ready: list[tuple[Server, Any]] = []
        self._held: dict[str, list[Any]] = {server.address: [] for server in servers}
        self._turn = 0

    def holding(self, server: Server) -> bool:
        """Whether a job handed out from ``server`` is still reserved by this consumer."""
        held = self._held[server.address]
        held[:] = [message for message in held if message.reserved]
        return bool(held)

    def to_arm(self, now: float | None = None) -> list[Server]:
        """The servers to send a reserve to now, in turn order."""
        now = time.monotonic() if now is None else now
        start = self._turn % len(self.servers)
        ordered = self.servers[start:] + self.servers[:start]
        return [
            server
            for server in ordered
            if server.address not in self.armed
            and server.up(now)
            and not self.holding(server)
            and not any(s is server for s, _ in self.ready)
        ]

    def answered(self, server: Server, message: Any | None) -> None:
        """A server's reserve was answered: a job, or None (none came in time)."""
        self.armed.pop(server.address, None)
        server.succeeded()
        if message is not None:
            self.ready.append((server, message))

    def outcome(self, server: Server, result: Any) -> bool:
        """Record what a server's reserve got: a message, or the exception it raised
        (TimedOut or another error status: nothing came; anything else: the server
        failed). Returns False when the server failed (its connection must be reset)."""
        if isinstance(result, CommandFailed):  # TimedOut, DeadlineSoon...
            self.answered(server, None)
        elif isinstance(result, BaseException):
            self.lost(server)
            return False
        else:
            self.answered(server, result)
        return True

    def lost(self, server: Server) -> None:
        """A server failed while its reserve was in flight (its connection is reset,
        which releases anything it reserved)."""
        self.armed.pop(server.address, None)
        self.ready = [(s, m) for s, m in self.ready if s is not server]
        # Its connection is reset: whatever it reserved went back to the server.
        for message in self._held[server.address]:
            message.reserved = False
        self._held[server.address] = []
        server.failed()

    def take(self) -> Any | None:
        """The next job to hand out, taking the servers in turn; None when none is in.
        A job whose reservation was lost meanwhile (its connection reset) is dropped."""
        self.ready = [(s, m) for s, m in self.ready if m.reserved]
        if not self.ready:
            return None
        count = len(self.servers)
        position = {s.address: (self.servers.index(s) - self._turn) % count for s, _ in self.ready}
        server, message = min(self.ready, key=lambda item: position[item[0].address])
        self.ready.remove((server, message))
        self._turn = self.servers.index(server) + 1
        self._held[server.address].append(message)
        return message

    def earliest_retry(self) -> float:
        """Seconds until the first server that is down may be tried again."""
        waits = [server.retry_in for server in self.servers if server.down]
        return min(waits) if waits else 0.0


_C = TypeVar("_C")
_P = TypeVar("_P", bound="PoolBase[Any]")


class PoolBase(Generic[_C]):
    """What both pools are, besides waiting: their servers, placement and options, a
    connection for puts and one for reserves on each server (made when first needed),
    and their counters. See :class:`beanstalkm.Pool` for the arguments."""

    #: Makes a server's connection: the pool's client class.
    client_class: Callable[..., _C]
    _kind = "beanstalkm.Pool"

    def __init__(
        self,
        servers: str | Iterable[str | tuple[str, int]],
        *,
        strategy: str = "round-robin",
        weights: Mapping[str, int] | None = None,
        ambiguous: str = "retry",
        **client_options: Any,
    ) -> None:
        if ambiguous not in AMBIGUOUS:
            raise ValueError(f"ambiguous must be one of {', '.join(AMBIGUOUS)}, got {ambiguous!r}")
        self.servers: list[Server] = server_list(servers, weights)
        self.placement = Placement(self.servers, strategy)
        self.ambiguous = ambiguous
        self._options = client_options
        # Each server: a connection for puts and commands, and one for reserves.
        self._producers: dict[str, _C] = {}
        self._consumers: dict[str, _C] = {}
        self._reserving = Reserving(self.servers)
        self._failovers = 0
        self._ambiguous_puts = 0

    @classmethod
    def from_env(cls: type[_P], **kwargs: Any) -> _P:
        """A pool of the servers in ``$BEANSTALKD_URL`` (comma-separated)."""
        value = os.environ.get(ENV_VAR)
        if not value:
            raise ValueError(f"${ENV_VAR} is not set")
        return cls(value, **kwargs)

    # -- connections --

    def _make(self, server: Server, consumer: bool) -> _C:
        options = dict(self._options)
        if not consumer:
            options.pop("watch", None)
        return self.client_class(server.host, server.port, **options)

    def _producer(self, server: Server) -> _C:
        client = self._producers.get(server.address)
        if client is None:
            client = self._producers[server.address] = self._make(server, consumer=False)
        return client

    def _consumer(self, server: Server) -> _C:
        client = self._consumers.get(server.address)
        if client is None:
            client = self._consumers[server.address] = self._make(server, consumer=True)
        return client

    def server(self, address: str) -> _C:
        """The connection to one server of the pool (``host:port``, as in
        ``message.server``), for what names a job by id: ids are per server."""
        for server in self.servers:
            if server.address == address:
                return self._producer(server)
        raise KeyError(f"{address} is not in the pool ({', '.join(self.addresses)})")

    @property
    def addresses(self) -> list[str]:
        """The servers' addresses, in the pool's order."""
        return [server.address for server in self.servers]

    @property
    def client_options(self) -> Mapping[str, Any]:
        """The options each server's connection is made with (``timeout``, ``watch``...),
        read-only: what a worker on this pool takes its socket timeout from."""
        return MappingProxyType(self._options)

    @property
    def counters(self) -> PoolCounters:
        """Puts per server, failovers, puts without a reply, servers down now."""
        return PoolCounters(self.servers, self._failovers, self._ambiguous_puts)

    def __repr__(self) -> str:
        up = sum(server.up() for server in self.servers)
        servers = ", ".join(self.addresses)
        return f"<{self._kind} {up} of {len(self.servers)} servers up: {servers}>"

    # -- putting --

    def _put_failed(self, server: Server, exc: Exception, errors: list[str]) -> None:
        """A put failed on ``server``: note it for the next server, or raise."""
        if ambiguous_put(exc):
            self._ambiguous_puts += 1
        if not put_failed(server, exc, self.ambiguous):
            raise exc
        errors.append(f"{server.address}: {exc}")

    def _placed(self, server: Server, attempt: int) -> None:
        """A put landed on ``server`` (its ``attempt``-th choice)."""
        server.succeeded()
        server.puts += 1
        if attempt:
            self._failovers += 1
