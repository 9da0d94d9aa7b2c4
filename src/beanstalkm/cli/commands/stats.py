"""``beanstalkm stats``: statistics of the server, a tube or a job.

With several servers: the servers' (or the tube's) statistics added up, beside each
server's own, the servers that are down marked.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from ...errors import CommandFailed, NotFound, PoolError
from ...servers import PoolResult
from ..base import EXIT_USAGE, Context, Empty, Failure
from ..jobref import add_server_option, id_fields, job_ref, resolve_jobs
from ..options import JSON, PLAIN, TABLE, Subparsers, add_command
from ..pool import SERVER_ERRORS, Servers, server_row

__all__ = ["add_parser", "breakdown", "cmd_stats"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "stats",
        cmd_stats,
        "statistics of the server, a tube or a job",
        "Statistics of the server, a tube or a job. With several servers: the sum, and "
        "each server's own.",
        examples=[
            "beanstalkm stats",
            "beanstalkm stats --tube emails --json",
            "beanstalkm stats --job 42",
        ],
        output={"json": JSON, "table": TABLE, "plain": PLAIN},
        pool=True,
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("-t", "--tube", metavar="TUBE", help="stats of this tube")
    what.add_argument(
        "-j", "--job", type=job_ref, metavar="ID", help="stats of this job (HOST:PORT/ID on a pool)"
    )
    add_server_option(p)


def cmd_stats(ctx: Context, args: argparse.Namespace) -> int:
    """Statistics of the server, a tube (``--tube``) or a job (``--job``)."""
    if args.server is not None and args.job is None:
        raise Failure("--server names the server of a job id: give --job", EXIT_USAGE)
    if ctx.pooled and args.job is None:
        return _pool_stats(ctx, args.tube)
    job = resolve_jobs(ctx, [args.job], args.server)[0] if args.job is not None else None
    client = ctx.on(job.server).client() if job is not None else ctx.client()
    try:
        values: Mapping[str, Any]
        if job is not None:
            try:
                values = client.queue.stats_job(job.id)
            except NotFound:
                raise Empty(f"job {job.label(ctx)} not found") from None
            title = f"job {job.label(ctx)}"
            if ctx.pooled:
                values = {**values, **id_fields(ctx, job.server, job.id)}
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


def _pool_stats(ctx: Context, tube: str | None) -> int:
    """The servers' or a tube's stats, added up, with each server's."""
    with Servers(ctx) as servers:
        try:
            values = servers.pool.stats() if tube is None else servers.pool.stats_tube(tube)
        except PoolError as exc:  # every server down, or down where the tube is not
            servers.record(exc.results)
            if tube is not None and len(servers.errors) < len(exc.results):
                raise Empty(f"tube {tube} not found on the servers that answered") from None
            raise servers.all_down() from None
        except NotFound:
            raise Empty(f"tube {tube} not found") from None
        servers.record(values.servers)
    if ctx.out.json:
        rows = {
            a: None if isinstance(r, NotFound) else server_row(r) for a, r in values.servers.items()
        }
        ctx.out.record({**values, "servers": rows})
        return 0
    where = f"on {len(values.servers)} servers"
    title = f"tube {tube} {where}" if tube else f"beanstalkd {values.get('version', '?')} {where}"
    headers, rows_ = breakdown(values)
    ctx.out.table(headers, rows_, title)
    return 0


def breakdown(values: PoolResult) -> tuple[list[str], list[list[Any]]]:
    """A table of stats: a row per key, the pool's total (where adding up means
    something) and each server's value; a server that is down is marked in its
    column's header, one without the tube shows ``-``."""
    headers = ["key", "all"]
    for address, result in values.servers.items():
        if isinstance(result, SERVER_ERRORS):
            headers.append(f"{address} (down)")
        elif isinstance(result, CommandFailed):
            headers.append(f"{address} (no such tube)" if isinstance(result, NotFound) else address)
        else:
            headers.append(address)
    answered = [r for r in values.servers.values() if isinstance(r, Mapping)]
    table = []
    for key, total in values.items():
        each = [r.get(key) for r in answered]
        if not _is_total(total, each):
            total = None  # a pid, an uptime: the first server's, not a total
        cells = [
            result.get(key) if isinstance(result, Mapping) else None
            for result in values.servers.values()
        ]
        table.append([key, total, *cells])
    return headers, table


def _is_total(total: Any, each: list[Any]) -> bool:
    if all(value == total for value in each):
        return True
    numbers = [v for v in each if isinstance(v, int) and not isinstance(v, bool)]
    return len(numbers) == len(each) and sum(numbers) == total
