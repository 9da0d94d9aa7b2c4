"""``beanstalkm kick``: buried (else delayed) jobs back to ready, by tube or by id."""

from __future__ import annotations

import argparse

from ...constants import MAX_U32
from ..base import EXIT_USAGE, CliClient, Context, Failure
from ..jobref import add_server_option, job_ref
from ..options import Subparsers, add_command
from ..patterns import PATTERN_HELP, expand
from ..pool import SERVER_ERRORS, Servers
from .delete import per_job

__all__ = ["add_parser", "cmd_kick"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "kick",
        cmd_kick,
        "kick buried (else delayed) jobs to ready",
        "Kick up to BOUND buried jobs of each tube to ready (delayed ones in a tube "
        "with none buried, as beanstalkd does), or specific jobs with --job. Tubes may "
        "be given as patterns. With several servers, the bound applies on each server, "
        "and --job takes HOST:PORT/ID (or --server).",
        [
            "beanstalkm kick 10 -t emails",
            "beanstalkm kick --all -t emails",
            "beanstalkm kick --all -t 'emails.*'",
            "beanstalkm kick --job 42 --job 43",
        ],
        pool=True,
    )
    p.add_argument("bound", type=int, nargs="?", help="how many jobs at most, per tube")
    p.add_argument("--all", action="store_true", help="every buried (else delayed) job")
    p.add_argument("--job", type=job_ref, action="append", metavar="ID", help="kick this job")
    p.add_argument(
        "-t",
        "--tube",
        action="append",
        metavar="TUBE",
        help=f"{PATTERN_HELP}; repeat for several (default: default)",
    )
    add_server_option(p)


def _kick(client: CliClient, tubes: list[str], bound: int) -> list[int]:
    """Kick up to ``bound`` jobs in each tube, pipelined; how many in each."""
    pipeline = client.pipeline()
    for tube in tubes:
        pipeline.use(tube).kick(bound)
    results: list[int] = pipeline.execute(raise_on_error=True)[1::2]
    return results


def cmd_kick(ctx: Context, args: argparse.Namespace) -> int:
    """Kick buried (else delayed) jobs of tubes to ready, or kick jobs by id."""
    if args.job:
        if args.bound is not None or args.all or args.tube:
            raise Failure("--job kicks jobs by id: give no bound, --all or --tube", EXIT_USAGE)
        return per_job(
            ctx,
            args.job,
            args.server,
            "kicked",
            lambda client, uid: client.queue.kick_job(uid),
            "not found, or not buried or delayed",
        )
    if args.bound is None and not args.all:
        raise Failure("say how many jobs to kick (a number or --all), or --job ID", EXIT_USAGE)
    if args.bound is not None and args.all:
        raise Failure("give a number or --all, not both", EXIT_USAGE)
    bound = MAX_U32 if args.all else args.bound
    if ctx.pooled:
        return _kick_on_pool(ctx, args.tube or ["default"], bound)
    client = ctx.client()
    try:
        tubes = expand(client, args.tube or ["default"])
        results = _kick(client, tubes, bound)
    finally:
        client.close()
    for tube, kicked in zip(tubes, results, strict=True):
        if ctx.out.json:
            ctx.out.record({"tube": tube, "kicked": kicked})
        else:
            ctx.out.write(f"kicked {kicked} job{'' if kicked == 1 else 's'} in {tube}")
    return 0


def _kick_on_pool(ctx: Context, names: list[str], bound: int) -> int:
    """Kick in every server's tubes; report each server's count, and the servers down."""
    with Servers(ctx) as servers:
        tubes = servers.expand(names)
        results = servers.each(lambda client: _kick(client, tubes, bound))
        servers.answered(results)
    for tube_index, tube in enumerate(tubes):
        for address, kicked in results.items():
            if isinstance(kicked, SERVER_ERRORS):
                continue
            n = kicked[tube_index]
            if ctx.out.json:
                ctx.out.record({"tube": tube, "server": address, "kicked": n})
            else:
                ctx.out.write(f"kicked {n} job{'' if n == 1 else 's'} in {tube} on {address}")
    if servers.errors:
        raise Failure(f"nothing kicked on {', '.join(servers.errors)}: the server is down")
    return 0
