"""``beanstalkm peek``: show a job without reserving it."""

from __future__ import annotations

import argparse
from typing import cast

from ...errors import InvalidMessage
from ..base import EXIT_USAGE, Context, Empty, Failure
from ..options import Subparsers, add_command, add_tube
from ..output import RawMessage
from ..show import held_message, job_of, show_job

__all__ = ["add_parser", "cmd_peek"]

STATES = ("ready", "delayed", "buried")


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "peek",
        cmd_peek,
        "show a job without reserving it",
        "Show a job by id, or the next ready (default), delayed or buried job of a tube.",
        ["beanstalkm peek --buried -t emails", "beanstalkm peek 42 --json"],
    )
    p.add_argument("id", type=int, nargs="?", help="job id")
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


def cmd_peek(ctx: Context, args: argparse.Namespace) -> int:
    """Show a job without reserving it: by id, or the next ready/delayed/buried one."""
    if args.id is not None and args.state is not None:
        raise Failure("give a job id or a state, not both", EXIT_USAGE)
    client = ctx.client(use=args.tube)
    try:
        message: RawMessage | None
        try:
            if args.id is not None:
                message = cast("RawMessage | None", client.queue.peek(args.id))
            else:
                message = getattr(client.queue, f"peek_{args.state or 'ready'}")()
        except InvalidMessage as exc:
            message = held_message(exc)
            if message is None:
                raise
        if message is None:
            if args.id is not None:
                raise Empty(f"job {args.id} not found")
            raise Empty(f"no {args.state or 'ready'} job in tube {args.tube}")
        stats = message.stats()
        tube = stats["tube"] if stats else None
        show_job(ctx, job_of(message), tube, stats, raw=args.raw)
    finally:
        client.close()
    return 0
