"""``beanstalkm kick``: buried (else delayed) jobs back to ready, by tube or by id."""

from __future__ import annotations

import argparse

from ...constants import MAX_U32
from ..base import EXIT_USAGE, Context, Failure
from ..options import Subparsers, add_command
from ..patterns import PATTERN_HELP, expand
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
        "be given as patterns.",
        [
            "beanstalkm kick 10 -t emails",
            "beanstalkm kick --all -t emails",
            "beanstalkm kick --all -t 'emails.*'",
            "beanstalkm kick --job 42 --job 43",
        ],
    )
    p.add_argument("bound", type=int, nargs="?", help="how many jobs at most, per tube")
    p.add_argument("--all", action="store_true", help="every buried (else delayed) job")
    p.add_argument("--job", type=int, action="append", metavar="ID", help="kick this job")
    p.add_argument(
        "-t",
        "--tube",
        action="append",
        metavar="TUBE",
        help=f"{PATTERN_HELP}; repeat for several (default: default)",
    )


def cmd_kick(ctx: Context, args: argparse.Namespace) -> int:
    """Kick buried (else delayed) jobs of tubes to ready, or kick jobs by id."""
    if args.job:
        if args.bound is not None or args.all or args.tube:
            raise Failure("--job kicks jobs by id: give no bound, --all or --tube", EXIT_USAGE)
        client = ctx.client()
        try:
            return per_job(
                ctx,
                args.job,
                "kicked",
                client.queue.kick_job,
                "not found, or not buried or delayed",
            )
        finally:
            client.close()
    if args.bound is None and not args.all:
        raise Failure("say how many jobs to kick (a number or --all), or --job ID", EXIT_USAGE)
    if args.bound is not None and args.all:
        raise Failure("give a number or --all, not both", EXIT_USAGE)
    bound = MAX_U32 if args.all else args.bound
    client = ctx.client()
    try:
        tubes = expand(client, args.tube or ["default"])
        pipeline = client.pipeline()
        for tube in tubes:
            pipeline.use(tube).kick(bound)
        results = pipeline.execute(raise_on_error=True)
    finally:
        client.close()
    for tube, kicked in zip(tubes, results[1::2], strict=True):
        if ctx.out.json:
            ctx.out.record({"tube": tube, "kicked": kicked})
        else:
            ctx.out.write(f"kicked {kicked} job{'' if kicked == 1 else 's'} in {tube}")
    return 0
