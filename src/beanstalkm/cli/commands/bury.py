"""``beanstalkm bury``: bury jobs by id."""

from __future__ import annotations

import argparse

from ..base import CliClient, Context
from ..jobref import add_server_option, job_ref
from ..options import Subparsers, add_command
from .delete import per_job

__all__ = ["add_parser", "cmd_bury"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "bury",
        cmd_bury,
        "bury jobs by id",
        "Bury jobs by id: each is reserved by its id, then buried (it must not be "
        "reserved by someone else). With several servers, name each job HOST:PORT/ID "
        "(or use --server).",
        ["beanstalkm bury 42"],
        pool=True,
    )
    p.add_argument("ids", type=job_ref, nargs="+", metavar="ID")
    p.add_argument("-p", "--priority", type=int, default=None, help="new priority")
    add_server_option(p)


def cmd_bury(ctx: Context, args: argparse.Namespace) -> int:
    """Bury jobs by id: reserve each by its id (``reserve-job``), then bury it."""

    def bury(client: CliClient, uid: int) -> None:
        message = client.queue.reserve_job(uid)
        message.bury(args.priority)

    return per_job(
        ctx, args.ids, args.server, "buried", bury, "not found (or reserved by a worker)"
    )
