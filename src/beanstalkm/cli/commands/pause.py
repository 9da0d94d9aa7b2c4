"""``beanstalkm pause``: pause a tube, or resume it."""

from __future__ import annotations

import argparse

from ...errors import NotFound
from ..base import Context, Empty
from ..options import Subparsers, add_command

__all__ = ["add_parser", "cmd_pause"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "pause",
        cmd_pause,
        "pause a tube for some seconds (0 resumes it)",
        "Pause a tube: no job is reserved from it for SECONDS; 0 resumes it.",
        ["beanstalkm pause emails 60", "beanstalkm pause emails 0"],
    )
    p.add_argument("tube")
    p.add_argument("seconds", type=int)


def cmd_pause(ctx: Context, args: argparse.Namespace) -> int:
    """Pause a tube: no job is reserved from it for SECONDS (0 resumes it)."""
    client = ctx.client()
    try:
        client.queue.pause_tube(args.tube, args.seconds)
    except NotFound:
        raise Empty(f"tube {args.tube} not found") from None
    finally:
        client.close()
    if ctx.out.json:
        ctx.out.record({"tube": args.tube, "paused": args.seconds})
    elif args.seconds:
        ctx.out.write(f"paused {args.tube} for {args.seconds}s")
    else:
        ctx.out.write(f"resumed {args.tube}")
    return 0
