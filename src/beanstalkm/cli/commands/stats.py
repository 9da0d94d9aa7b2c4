"""``beanstalkm stats``: statistics of the server, a tube or a job."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from ...errors import NotFound
from ..base import Context, Empty
from ..options import JSON, PLAIN, TABLE, Subparsers, add_command

__all__ = ["add_parser", "cmd_stats"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "stats",
        cmd_stats,
        "statistics of the server, a tube or a job",
        examples=[
            "beanstalkm stats",
            "beanstalkm stats --tube emails --json",
            "beanstalkm stats --job 42",
        ],
        output={"json": JSON, "table": TABLE, "plain": PLAIN},
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("-t", "--tube", metavar="TUBE", help="stats of this tube")
    what.add_argument("-j", "--job", type=int, metavar="ID", help="stats of this job")


def cmd_stats(ctx: Context, args: argparse.Namespace) -> int:
    """Statistics of the server, a tube (``--tube``) or a job (``--job``)."""
    client = ctx.client()
    try:
        values: Mapping[str, Any]
        if args.job is not None:
            try:
                values = client.queue.stats_job(args.job)
            except NotFound:
                raise Empty(f"job {args.job} not found") from None
            title = f"job {args.job}"
        elif args.tube is not None:
            try:
                values = client.queue.stats_tube(args.tube)
            except NotFound:
                raise Empty(f"tube {args.tube} not found") from None
            title = f"tube {args.tube}"
        else:
            values = client.queue.stats()
            title = f"beanstalkd {values.get('version', '?')} at {ctx.address}"
    finally:
        client.close()
    if ctx.out.json:
        ctx.out.record(values)
    else:
        ctx.out.mapping(values, title)
    return 0
