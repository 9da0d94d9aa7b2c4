"""``beanstalkm pause``: pause a tube, or resume it (on every server that has it)."""

from __future__ import annotations

import argparse

from ...errors import NotFound
from ..base import CliClient, Context, Empty, Failure
from ..options import Subparsers, add_command
from ..pool import Servers, server_row

__all__ = ["add_parser", "cmd_pause"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "pause",
        cmd_pause,
        "pause a tube for some seconds (0 resumes it)",
        "Pause a tube: no job is reserved from it for SECONDS; 0 resumes it. With "
        "several servers, on every server that has the tube.",
        ["beanstalkm pause emails 60", "beanstalkm pause emails 0"],
        pool=True,
    )
    p.add_argument("tube")
    p.add_argument("seconds", type=int)


def cmd_pause(ctx: Context, args: argparse.Namespace) -> int:
    """Pause a tube: no job is reserved from it for SECONDS (0 resumes it)."""
    if ctx.pooled:
        return _pause_on_pool(ctx, args)
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


def _pause_one(client: CliClient, tube: str, seconds: int) -> bool:
    """Pause ``tube`` on one server: False where it has no such tube."""
    try:
        client.queue.pause_tube(tube, seconds)
    except NotFound:
        return False
    return True


def _pause_on_pool(ctx: Context, args: argparse.Namespace) -> int:
    """Pause the tube on every server that has it; the servers down are named, and
    make the command fail once the others are done."""
    tube: str = args.tube
    with Servers(ctx) as servers:
        results = servers.each(lambda client: _pause_one(client, tube, args.seconds))
        answered = servers.answered(results)
    done = [address for address, paused in answered.items() if paused]
    if not done:
        raise Empty(f"tube {tube} not found on the servers that answered")
    if ctx.out.json:
        rows = {address: server_row(result) for address, result in results.items()}
        ctx.out.record({"tube": tube, "paused": args.seconds, "servers": rows})
    else:
        what = f"paused {tube} for {args.seconds}s" if args.seconds else f"resumed {tube}"
        ctx.out.write(f"{what} on {', '.join(done)}")
    if servers.errors:
        raise Failure(f"{tube} not paused on {', '.join(servers.errors)}: the server is down")
    return 0
