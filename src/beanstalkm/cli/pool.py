"""The command line on several servers: a pool, each server's answer, the servers down.

With ``--url`` (or ``$BEANSTALKD_URL``) naming several servers, a subcommand works on
each of them through a :class:`~beanstalkm.Pool` and reports per server. A server
that is down is named once on stderr, and never hides what the others answered; only
when every server is down does the command fail as it does on one server.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, TypeAlias, TypeVar, cast

from ..errors import CannotConnect, PoolError, SocketError, UnexpectedResponse
from ..servers import PoolResult, sum_stats
from .base import EXIT_ERROR, CliClient, Context, Failure
from .patterns import is_pattern, match

__all__ = [
    "SERVER_ERRORS",
    "ServerError",
    "Servers",
    "error_row",
    "server_row",
    "servers_of",
    "sum_tubes",
]

_T = TypeVar("_T")

#: What makes a server count as down: no connection, or no sensible reply.
ServerError: TypeAlias = SocketError | UnexpectedResponse
SERVER_ERRORS: Final = (SocketError, UnexpectedResponse)


class Servers:
    """A command's servers, as a pool: each one's client, each one's answer or error.

    A server that failed is not asked again while the pool counts it down (its
    backoff), so that a server that hangs costs one timeout, not one per question.
    """

    def __init__(self, ctx: Context, **options: Any) -> None:
        self.ctx = ctx
        self.pool = ctx.pool(**options)
        #: The servers that failed, and how (the last failure of each).
        self.errors: dict[str, ServerError] = {}
        self._noted: set[str] = set()

    @property
    def addresses(self) -> list[str]:
        return self.pool.addresses

    def client(self, address: str) -> CliClient:
        """The pool's connection to one server (for what names a job by its id)."""
        # The pool of a CliPool makes CliClients.
        return cast("CliClient", self.pool.server(address))

    def each(self, act: Callable[[CliClient], _T]) -> dict[str, _T | ServerError]:
        """``act`` on every server, in order: each one's result, or the error of a
        server that is down (named on stderr, once)."""
        results: dict[str, _T | ServerError] = {}
        for server in self.pool.servers:
            address = server.address
            known = self.errors.get(address)
            if known is not None and server.down:
                results[address] = known
                continue
            try:
                results[address] = act(self.client(address))
            except SERVER_ERRORS as exc:
                server.failed()
                self.failed(address, exc)
                results[address] = exc
            else:
                server.succeeded()
                self.errors.pop(address, None)
        return results

    def failed(self, address: str, exc: ServerError) -> None:
        """Record that ``address`` is down, and say so on stderr (once per server)."""
        self.errors[address] = exc
        if address not in self._noted:
            self._noted.add(address)
            self.ctx.note(f"server {address} is down: {exc}")

    def down(self, address: str) -> None:
        """Say on stderr (once per server) that ``address`` is down, for a failure the
        pool found on its own (while reserving)."""
        if address not in self._noted and address not in self.errors:
            self._noted.add(address)
            self.ctx.note(f"server {address} is down")

    def record(self, results: Mapping[str, Any]) -> None:
        """Note the servers that failed among a pool command's ``results``."""
        for address, result in results.items():
            if isinstance(result, SERVER_ERRORS):
                self.failed(address, result)

    def tubes(self) -> list[str]:
        """Every tube of every server that answered (``list-tubes``, their union)."""
        try:
            tubes = self.pool.list_tubes()
        except PoolError as exc:
            self.record(exc.results)
            raise self.all_down() from None
        self.record(tubes.servers)
        return list(tubes)

    def expand(self, names: Sequence[str]) -> list[str]:
        """The tubes ``names`` stand for, patterns matched against every server's
        tubes (see :func:`.patterns.match`)."""
        return match(names, self.tubes() if any(is_pattern(n) for n in names) else [])

    def answered(self, results: Mapping[str, Any]) -> dict[str, Any]:
        """The results of the servers that answered; Failure when none did."""
        good = {a: r for a, r in results.items() if not isinstance(r, SERVER_ERRORS)}
        if not good:
            raise self.all_down()
        return good

    def all_down(self, what: str | None = None) -> Failure:
        """The failure of a command that no server could answer (``what``: what was
        left undone, said first)."""
        reasons = "; ".join(str(exc) for exc in self.errors.values())
        hint = ""
        if any(isinstance(exc, CannotConnect) for exc in self.errors.values()):
            hint = " (is beanstalkd running there? see --url or BEANSTALKD_URL)"
        first = f"{what}: " if what else ""
        return Failure(f"{first}every server is down: {reasons}{hint}", EXIT_ERROR)

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def error_row(exc: BaseException) -> dict[str, str]:
    """A server that failed, in JSON output: ``{"error": "what happened"}``."""
    return {"error": str(exc)}


def server_row(result: Any) -> Any:
    """One server's result for JSON output: as it is, ``null`` when it had nothing (a
    tube it does not have), ``{"error": ...}`` when it failed."""
    if isinstance(result, BaseException):
        return error_row(result)
    return None if result is None else dict(result) if isinstance(result, Mapping) else result


def sum_tubes(per_server: Mapping[str, Mapping[str, Any]]) -> dict[str, PoolResult]:
    """Each tube's stats added up over the servers that have it (``per_server``: each
    answering server's stats by tube name), tubes in order of first appearance; each
    total's ``servers`` holds the rows it adds up."""
    names: dict[str, None] = {}
    for tubes in per_server.values():
        names.update(dict.fromkeys(tubes))
    return {
        name: sum_stats({a: tubes[name] for a, tubes in per_server.items() if name in tubes})
        for name in names
    }


def servers_of(total: PoolResult, addresses: Sequence[str], errors: Mapping[str, Any]) -> Any:
    """The per-server rows of a total for JSON output, every server in order: its
    row, ``null`` where it has none, ``{"error": ...}`` where it is down."""
    return {
        address: error_row(errors[address])
        if address in errors
        else server_row(total.servers.get(address))
        for address in addresses
    }
