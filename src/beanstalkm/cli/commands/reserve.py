"""``beanstalkm reserve`` and ``beanstalkm consume``: take jobs and print them.

With several servers, jobs are reserved through a :class:`beanstalkm.Pool`: from
whichever server has one first, each printed as ``host:port/ID``.
"""

from __future__ import annotations

import argparse
from typing import cast

from ...errors import BeanstalkmException, DeadlineSoon, InvalidMessage
from ..base import CliClient, CliPool, Context, Empty
from ..options import Subparsers, add_command
from ..output import RawMessage
from ..pool import Servers
from ..show import held_message, job_of, show_job

__all__ = ["add_parser", "cmd_reserve"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "reserve",
        cmd_reserve,
        "reserve jobs and print them",
        "Reserve a job (or --count of them) and print it. Without --delete or --bury "
        "the jobs are released when done, so they stay in the queue.",
        [
            "beanstalkm reserve -t emails --timeout 5",
            "beanstalkm reserve -t emails --count 10 --delete > done.jsonl",
        ],
        pool=True,
    )
    _reserve_options(p, consume=False)
    p = add_command(
        subparsers,
        "consume",
        cmd_reserve,
        "stream jobs out of tubes, deleting them",
        "Reserve jobs one after another, print each and delete it (--no-delete keeps "
        "them reserved until the end, then releases them). Stops after --count jobs, "
        "when --timeout passes with no job, or on Ctrl-C.",
        [
            "beanstalkm consume -t emails --timeout 1 > emails.jsonl",
            "beanstalkm consume -t logs --raw | grep ERROR",
        ],
        pool=True,
    )
    _reserve_options(p, consume=True)


def _reserve_options(parser: argparse.ArgumentParser, consume: bool) -> None:
    parser.add_argument(
        "-t",
        "--tube",
        action="append",
        metavar="TUBE",
        help="tube to reserve from (repeat for several; default: default)",
    )
    parser.add_argument(
        "-n",
        "--count",
        type=int,
        default=None if consume else 1,
        help="stop after this many jobs" + ("" if consume else " (default 1)"),
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wait at most this long for each job (default: for ever); 0: only jobs ready now",
    )
    settle = parser.add_mutually_exclusive_group()
    settle.add_argument(
        "--delete",
        action=argparse.BooleanOptionalAction,
        default=consume,
        help="delete each job once printed"
        + (" (default)" if consume else "; without it, jobs are released at the end"),
    )
    settle.add_argument("--bury", action="store_true", help="bury each job once printed")
    parser.add_argument(
        "--raw", action="store_true", help="print each body as it is (one per line)"
    )


def _reserve(client: CliClient | CliPool, timeout: float | None) -> RawMessage | None:
    try:
        # CliClient makes RawMessages.
        return cast("RawMessage | None", client.reserve(timeout=timeout, drop=False))
    except InvalidMessage as exc:
        # Strict decoding refused the job; it is still ours to show and settle.
        message = held_message(exc)
        if message is None:
            raise
        return message


class _Waiting:
    """Says "waiting for a job in TUBE..." on a terminal when a reserve has to wait.

    Said once: the first time no job is ready at once. Finding that out costs a
    ``reserve-with-timeout 0`` before the waiting reserve, only on a terminal.
    """

    def __init__(self, ctx: Context, tubes: list[str], timeout: float | None) -> None:
        self.ctx = ctx
        self.tubes = tubes
        self.timeout = timeout
        self.pending = ctx.stderr_is_terminal and timeout != 0

    def reserve(self, client: CliClient | CliPool) -> RawMessage | None:
        if self.pending:
            message = _reserve(client, 0)
            if message is not None:
                return message
            self.pending = False
            within = f" for up to {self.timeout:g}s" if self.timeout is not None else ""
            self.ctx.note(
                f"waiting{within} for a job in {', '.join(self.tubes)}... (Ctrl-C to stop)"
            )
        return _reserve(client, self.timeout)


def cmd_reserve(ctx: Context, args: argparse.Namespace) -> int:
    """Reserve jobs and print them; then delete, bury, or release them.

    ``reserve`` takes one job and releases it at the end unless told otherwise;
    ``consume`` streams jobs, deleting each once printed. Jobs kept (not deleted or
    buried) stay reserved until the end, so that each is printed once, and are
    released then. A job whose body cannot be fully read is printed as far as it can
    be, with its problems, and settled like any other.
    """
    tubes: list[str] = args.tube or ["default"]
    servers: Servers | None = None
    client: CliClient | CliPool
    if ctx.pooled:
        servers = Servers(ctx, watch=tubes)
        client = servers.pool
        _check_servers(servers)
    else:
        client = ctx.client(watch=tubes)
    count: int | None = args.count
    held: list[RawMessage] = []
    waiting = _Waiting(ctx, tubes, args.timeout)
    got = 0
    interrupted = True
    try:
        while count is None or got < count:
            if servers is not None and _all_holding(servers, held):
                ctx.note(
                    "each server holds a job kept until the end, and a pool reserves no "
                    "more from a server that does: add --delete or --bury to take more"
                )
                break
            try:
                message = waiting.reserve(client)
            except DeadlineSoon:
                # A job we keep is about to reach its time-to-run: keep it ours.
                for kept in held:
                    kept.touch()
                continue
            if servers is not None:
                _note_down(servers)
            if message is None:
                break
            got += 1
            tube = tubes[0] if len(tubes) == 1 else None
            if tube is None:
                stats = message.stats()
                tube = stats["tube"] if stats else None
            server = message.server if servers is not None else None
            show_job(ctx, job_of(message), tube, raw=args.raw, server=server)
            if args.bury:
                message.bury()
            elif args.delete:
                message.delete()
            else:
                held.append(message)
        interrupted = False
    finally:
        # After Ctrl-C the connection may be in the middle of a reply: send nothing
        # more; closing it makes the server release what we hold.
        if not interrupted:
            for kept in held:
                try:
                    kept.release()
                except BeanstalkmException:
                    if servers is None:
                        break
        client.close()
    if got == 0:
        waited = f"within {args.timeout:g}s " if args.timeout is not None else ""
        raise Empty(f"no job came {waited}from {', '.join(tubes)}")
    return 0


def _check_servers(servers: Servers) -> None:
    """Ask each server once before reserving: name the ones that are down, and fail as
    on one server when every one is (a pool's reserve would wait for them for ever)."""
    servers.answered(servers.each(lambda client: client.queue.using()))


def _note_down(servers: Servers) -> None:
    """Name on stderr (once each) the servers the pool found down while reserving."""
    for address in servers.pool.counters.down:
        servers.down(address)


def _all_holding(servers: Servers, held: list[RawMessage]) -> bool:
    """Whether every server has a job this run keeps: a pool reserves nothing more from
    a server while a job it handed out from there is reserved."""
    return {message.server for message in held} >= set(servers.addresses)
