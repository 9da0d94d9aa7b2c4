"""``beanstalkm tubes``: the tubes and their job counts."""

from __future__ import annotations

import argparse

from ...errors import InvalidArgument, NotFound
from ...stats import TubeStats
from ..base import CliClient, Context, Empty
from ..options import JSON, PLAIN, TABLE, Subparsers, add_command
from ..patterns import expand, is_pattern

__all__ = ["add_parser", "cmd_tubes", "tube_stats"]

HEADERS = [
    "tube", "ready", "reserved", "delayed", "buried", "urgent", "waiting", "watching",
    "using", "total", "paused",
]  # fmt: skip


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "tubes",
        cmd_tubes,
        "list tubes with their job counts",
        "List the tubes (all, or those named or matching a pattern) with their job counts.",
        ["beanstalkm tubes", "beanstalkm tubes -q", "beanstalkm tubes 'emails.*'"],
        output={"json": JSON, "table": TABLE, "plain": PLAIN},
    )
    p.add_argument("names", nargs="*", metavar="TUBE", help="tube names or patterns")
    p.add_argument("-q", "--quiet", action="store_true", help="names only, one per line")


def tube_stats(client: CliClient, names: list[str] | None = None) -> list[TubeStats]:
    """``stats-tube`` for each tube (all of them by default), pipelined, skipping tubes
    that vanish while we look (an empty tube nobody uses or watches goes away) and
    names listed by the server that no tube can have (nothing could be asked about
    them)."""
    tubes = names if names is not None else client.queue.list_tubes()
    pipeline = client.pipeline()
    for name in tubes:
        try:
            pipeline.stats_tube(name)
        except InvalidArgument:
            continue
    if not len(pipeline):
        return []
    result: list[TubeStats] = []
    for stats in pipeline.execute():
        if isinstance(stats, NotFound):
            continue
        if isinstance(stats, BaseException):
            raise stats
        result.append(stats)
    return result


def cmd_tubes(ctx: Context, args: argparse.Namespace) -> int:
    """List the tubes with their job counts."""
    client = ctx.client()
    try:
        names = expand(client, args.names) if args.names else None
        if args.quiet:
            for name in names if names is not None else client.queue.list_tubes():
                ctx.out.write(name)
            return 0
        stats = tube_stats(client, names)
    finally:
        client.close()
    shown = {t["name"] for t in stats}
    for name in args.names:
        if not is_pattern(name) and name not in shown:
            raise Empty(f"tube {name} not found")
    if ctx.out.json:
        for tube in stats:
            ctx.out.record(tube)
        return 0
    rows = [
        [
            t["name"],
            t["current-jobs-ready"],
            t["current-jobs-reserved"],
            t["current-jobs-delayed"],
            t["current-jobs-buried"],
            t["current-jobs-urgent"],
            t["current-waiting"],
            t["current-watching"],
            t["current-using"],
            t["total-jobs"],
            f"{t['pause-time-left']}s" if t["pause"] else "-",
        ]
        for t in stats
    ]
    ctx.out.table(HEADERS, rows)
    return 0
