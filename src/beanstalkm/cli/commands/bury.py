"""``beanstalkm bury``: bury jobs by id."""

from __future__ import annotations

import argparse

from ..base import Context
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
        "reserved by someone else).",
        ["beanstalkm bury 42"],
    )
    p.add_argument("ids", type=int, nargs="+", metavar="ID")
    p.add_argument("-p", "--priority", type=int, default=None, help="new priority")


def cmd_bury(ctx: Context, args: argparse.Namespace) -> int:
    """Bury jobs by id: reserve each by its id (``reserve-job``), then bury it."""
    client = ctx.client()

    def bury(uid: int) -> None:
        message = client.queue.reserve_job(uid)
        message.bury(args.priority)

    try:
        return per_job(ctx, args.ids, "buried", bury, "not found (or reserved by a worker)")
    finally:
        client.close()
