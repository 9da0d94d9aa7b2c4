"""Jobs named on the command line: ``42``, or ``host:port/42`` on several servers.

Job ids are per server: in a pool, job 42 of one server has nothing to do with job 42
of another. A job is named with its server as ``message.ref`` prints it
(``127.0.0.1:11300/42``), or by its id with ``--server host:port``. On one server a
bare id is enough, as it always was.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..urls import format_address, parse_url
from .base import EXIT_USAGE, Context, Failure

__all__ = [
    "SERVER_HELP",
    "JobRef",
    "Resolved",
    "add_server_option",
    "id_fields",
    "job_ref",
    "resolve_jobs",
    "server_address",
]

SERVER_HELP: Final = "the server of the bare job ids (host:port), when several are in play"


@dataclass(frozen=True)
class JobRef:
    """A job as given: its id, and its server's ``host:port`` when it was named."""

    id: int
    server: str | None = None


def job_ref(text: str) -> JobRef:
    """Read ``42`` or ``host:port/42`` (an argparse ``type``)."""
    where, slash, ident = text.rpartition("/")
    try:
        uid = int(ident)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid int value: {text!r} (a job is ID, or HOST:PORT/ID)"
        ) from None
    if not slash:
        return JobRef(uid)
    try:
        host, port = parse_url(where)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: {exc}") from None
    return JobRef(uid, format_address(host, port))


def server_address(text: str) -> str:
    """``host:port`` of a ``--server`` value (an argparse ``type``)."""
    try:
        return format_address(*parse_url(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_server_option(parser: argparse.ArgumentParser) -> None:
    """``--server HOST:PORT``, for subcommands that name jobs by id."""
    parser.add_argument("--server", type=server_address, metavar="HOST:PORT", help=SERVER_HELP)


@dataclass(frozen=True)
class Resolved:
    """A job given on the command line, with the server it is on."""

    id: int
    server: str

    def label(self, ctx: Context) -> str:
        """How output names it: ``host:port/ID`` with several servers, else ``ID``."""
        return f"{self.server}/{self.id}" if ctx.pooled else str(self.id)


def resolve_jobs(ctx: Context, refs: Sequence[JobRef], server: str | None) -> list[Resolved]:
    """Each job with its server: named in the ref, else ``--server``, else the one
    server there is. Failure (usage) for a server not in play, or a bare id when
    several servers are and ``--server`` does not say which."""
    known = ctx.addresses
    listed = ", ".join(known)
    for named in [server] + [ref.server for ref in refs]:
        if named is not None and named not in known:
            which = "the server in use" if len(known) == 1 else "one of the servers"
            raise Failure(f"{named} is not {which} ({listed}): see --url", EXIT_USAGE)
    resolved = []
    for ref in refs:
        address = ref.server or server or (known[0] if len(known) == 1 else None)
        if address is None:
            raise Failure(
                f"job ids are per server: give job {ref.id} as HOST:PORT/{ref.id}, or "
                f"--server HOST:PORT (the servers: {listed})",
                EXIT_USAGE,
            )
        resolved.append(Resolved(ref.id, address))
    return resolved


def id_fields(ctx: Context, address: str, uid: int) -> dict[str, Any]:
    """A job's id in a JSON record: ``{"id": 42}``, and with several servers its
    ``server`` and ``ref`` (``host:port/42``) too."""
    if not ctx.pooled:
        return {"id": uid}
    return {"id": uid, "server": address, "ref": f"{address}/{uid}"}
