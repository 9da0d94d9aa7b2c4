"""``beanstalkm peek``: show a job without reserving it."""

from __future__ import annotations

import argparse
from typing import cast

from ...errors import InvalidMessage
from ..base import EXIT_USAGE, CliClient, Context, Empty, Failure
from ..jobref import add_server_option, job_ref, resolve_jobs
from ..options import Subparsers, add_command, add_tube
from ..output import RawMessage
from ..pool import SERVER_ERRORS, Servers
from ..show import held_message, job_of, show_job

__all__ = ["add_parser", "cmd_peek"]

STATES = ("ready", "delayed", "buried")


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "peek",
        cmd_peek,
        "show a job without reserving it",
        "Show a job by id, or the next ready (default), delayed or buried job of a tube "
        "(of each server, when there are several). With several servers, name the job "
        "HOST:PORT/ID (or use --server).",
        ["beanstalkm peek --buried -t emails", "beanstalkm peek 42 --json"],
        pool=True,
    )
    p.add_argument("id", type=job_ref, nargs="?", help="job id (HOST:PORT/ID on a pool)")
    which = p.add_mutually_exclusive_group()
    for state in STATES:
        which.add_argument(
            f"--{state}",
            dest="state",
            action="store_const",
            const=state,
            help=f"the next {state} job of the tube",
        )
    add_tube(p)
    p.add_argument("--raw", action="store_true", help="print the body as it is")
    add_server_option(p)


def _peek(client: CliClient, args: argparse.Namespace, uid: int | None) -> RawMessage | None:
    """The job by id, or the next of the tube in the state asked (None: no such job)."""
    try:
        if uid is not None:
            return cast("RawMessage | None", client.queue.peek(uid))
        return cast("RawMessage | None", getattr(client.queue, f"peek_{args.state or 'ready'}")())
    except InvalidMessage as exc:
        message = held_message(exc)
        if message is None:
            raise
        return message


def _show(ctx: Context, message: RawMessage, raw: bool, server: str | None) -> None:
    stats = message.stats()
    tube = stats["tube"] if stats else None
    show_job(ctx, job_of(message), tube, stats, raw=raw, server=server)


def cmd_peek(ctx: Context, args: argparse.Namespace) -> int:
    """Show a job without reserving it: by id, or the next ready/delayed/buried one."""
    if args.id is not None and args.state is not None:
        raise Failure("give a job id or a state, not both", EXIT_USAGE)
    if args.server is not None and args.id is None:
        raise Failure("--server names the server of a job id: give the id", EXIT_USAGE)
    if ctx.pooled:
        return _peek_on_pool(ctx, args)
    job = resolve_jobs(ctx, [args.id], args.server)[0] if args.id is not None else None
    client = ctx.client(use=args.tube)
    try:
        message = _peek(client, args, None if job is None else job.id)
        if message is None:
            if job is not None:
                raise Empty(f"job {job.id} not found")
            raise Empty(f"no {args.state or 'ready'} job in tube {args.tube}")
        _show(ctx, message, args.raw, None)
    finally:
        client.close()
    return 0


def _peek_on_pool(ctx: Context, args: argparse.Namespace) -> int:
    """A job by ``host:port/ID`` on its server; else the next job of the tube on each
    server that has one."""
    with Servers(ctx, use=args.tube) as servers:
        if args.id is not None:
            [job] = resolve_jobs(ctx, [args.id], args.server)
            message = _peek(servers.client(job.server), args, job.id)
            if message is None:
                raise Empty(f"job {job.label(ctx)} not found")
            _show(ctx, message, args.raw, job.server)
            return 0
        found = servers.answered(servers.each(lambda client: _peek(client, args, None)))
        shown = 0
        for address, message in found.items():
            if message is None:
                continue
            try:
                _show(ctx, message, args.raw, address)
            except SERVER_ERRORS as exc:  # gone since it answered the peek
                servers.failed(address, exc)
                continue
            shown += 1
    if not shown:
        raise Empty(f"no {args.state or 'ready'} job in tube {args.tube} on any server")
    return 0
