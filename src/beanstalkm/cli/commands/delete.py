"""``beanstalkm delete``: delete jobs by id."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ...errors import NotFound
from ..base import Context, Empty
from ..options import Subparsers, add_command

__all__ = ["add_parser", "cmd_delete", "per_job"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "delete",
        cmd_delete,
        "delete jobs by id",
        "Delete jobs by id: ready, delayed and buried jobs (a job reserved by a worker "
        "is not found).",
        ["beanstalkm delete 42 43"],
    )
    p.add_argument("ids", type=int, nargs="+", metavar="ID")


def per_job(ctx: Context, ids: list[int], verb: str, act: Callable[[int], object], why: str) -> int:
    """Run ``act`` on each id; print each done; if some were not found, say which
    (exit 3) once all were tried."""
    missing: list[str] = []
    for uid in ids:
        try:
            act(uid)
        except NotFound:
            missing.append(str(uid))
            continue
        if ctx.out.json:
            ctx.out.record({"id": uid, verb: True})
        else:
            ctx.out.write(f"{verb} job {uid}")
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise Empty(f"job{plural} {', '.join(missing)} {why}")
    return 0


def cmd_delete(ctx: Context, args: argparse.Namespace) -> int:
    """Delete jobs by id (ready, delayed or buried; not reserved by someone else)."""
    client = ctx.client()
    try:
        return per_job(
            ctx, args.ids, "deleted", client.queue.delete, "not found (or reserved by a worker)"
        )
    finally:
        client.close()
