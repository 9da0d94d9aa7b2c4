"""``beanstalkm tubes``: the tubes and their job counts.

With several servers: each tube's counts added up over the servers, then a table of
the servers (the down ones marked); in JSON each tube carries its per-server rows.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any

from ...errors import InvalidArgument, NotFound
from ...stats import TubeStats
from ..base import CliClient, Context, Empty
from ..options import JSON, PLAIN, TABLE, Subparsers, add_command
from ..patterns import expand, is_pattern
from ..pool import Servers, servers_of, sum_tubes

__all__ = ["SERVER_HEADERS", "add_parser", "cmd_tubes", "tube_stats"]

HEADERS = [
    "tube", "ready", "reserved", "delayed", "buried", "urgent", "waiting", "watching",
    "using", "total", "paused",
]  # fmt: skip
#: The table of servers under the tubes, when there are several.
SERVER_HEADERS = ["server", "state", "tubes", "ready", "reserved", "delayed", "buried", "total"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "tubes",
        cmd_tubes,
        "list tubes with their job counts",
        "List the tubes (all, or those named or matching a pattern) with their job counts. "
        "With several servers: the counts added up, and a table of the servers.",
        ["beanstalkm tubes", "beanstalkm tubes -q", "beanstalkm tubes 'emails.*'"],
        output={"json": JSON, "table": TABLE, "plain": PLAIN},
        pool=True,
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


def _check_named(names: Sequence[str], shown: Sequence[str]) -> None:
    for name in names:
        if not is_pattern(name) and name not in shown:
            raise Empty(f"tube {name} not found")


def _row(t: Mapping[str, Any]) -> list[Any]:
    return [
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


def cmd_tubes(ctx: Context, args: argparse.Namespace) -> int:
    """List the tubes with their job counts."""
    if ctx.pooled:
        return _tubes_on_pool(ctx, args)
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
    _check_named(args.names, [t["name"] for t in stats])
    if ctx.out.json:
        for tube in stats:
            ctx.out.record(tube)
        return 0
    ctx.out.table(HEADERS, [_row(t) for t in stats])
    return 0


def _tubes_on_pool(ctx: Context, args: argparse.Namespace) -> int:
    """Each tube's counts added up over the servers, and each server's."""
    with Servers(ctx) as servers:
        names = servers.expand(args.names) if args.names else None
        if args.quiet:
            for name in names if names is not None else servers.tubes():
                ctx.out.write(name)
            return 0
        results = servers.each(lambda client: tube_stats(client, names))
        answered = servers.answered(results)
        errors = servers.errors
    totals = sum_tubes({a: {t["name"]: t for t in tubes} for a, tubes in answered.items()})
    _check_named(args.names, list(totals))
    if ctx.out.json:
        for total in totals.values():
            ctx.out.record({**total, "servers": servers_of(total, list(results), errors)})
        return 0
    ctx.out.table(HEADERS, [_row(total) for total in totals.values()])
    ctx.out.write("")
    ctx.out.table(SERVER_HEADERS, [_server_row(a, r) for a, r in results.items()])
    return 0


def _server_row(address: str, tubes: list[TubeStats] | Exception) -> list[Any]:
    if isinstance(tubes, Exception):
        return [address, "down", None, None, None, None, None, None]
    return [
        address,
        "up",
        len(tubes),
        *(
            sum(t[key] for t in tubes)
            for key in (
                "current-jobs-ready",
                "current-jobs-reserved",
                "current-jobs-delayed",
                "current-jobs-buried",
                "total-jobs",
            )
        ),
    ]
