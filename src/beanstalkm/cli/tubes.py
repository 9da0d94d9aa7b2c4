"""Subcommands about tubes and the server: tubes, stats, pause, purge."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from ..errors import NotFound
from ..stats import TubeStats
from .base import EXIT_ERROR, EXIT_USAGE, CliClient, Context, Empty, Failure

__all__ = ["cmd_pause", "cmd_purge", "cmd_stats", "cmd_tubes", "tube_stats"]

STATES = ("ready", "delayed", "buried")


def tube_stats(client: CliClient, names: list[str] | None = None) -> list[TubeStats]:
    """``stats-tube`` for each tube (all of them by default), skipping tubes that
    vanish while we look (an empty tube nobody uses or watches goes away)."""
    result: list[TubeStats] = []
    for name in names if names is not None else client.queue.list_tubes():
        try:
            result.append(client.queue.stats_tube(name))
        except NotFound:
            continue
    return result


def cmd_tubes(ctx: Context, args: argparse.Namespace) -> int:
    """List the tubes with their job counts."""
    client = ctx.client()
    try:
        if args.quiet:
            for name in client.queue.list_tubes():
                ctx.out.write(name)
            return 0
        stats = tube_stats(client)
    finally:
        client.close()
    if ctx.out.json:
        for tube in stats:
            ctx.out.record(tube)
        return 0
    headers = [
        "tube",
        "ready",
        "reserved",
        "delayed",
        "buried",
        "urgent",
        "waiting",
        "watching",
        "using",
        "total",
        "paused",
    ]
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
    ctx.out.table(headers, rows)
    return 0


def _show_mapping(ctx: Context, values: Mapping[str, Any], title: str) -> None:
    if ctx.out.json:
        ctx.out.record(values)
    else:
        ctx.out.mapping(values, title)


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
    _show_mapping(ctx, values, title)
    return 0


def cmd_pause(ctx: Context, args: argparse.Namespace) -> int:
    """Pause a tube: no job is reserved from it for SECONDS (0 resumes it)."""
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


def _confirm(question: str) -> bool:
    # The question goes to stderr so that stdout stays data only.
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def _describe(counts: Mapping[str, int]) -> str:
    total = sum(counts.values())
    detail = ", ".join(f"{n} {state}" for state, n in counts.items())
    return f"{total} job{'' if total == 1 else 's'} ({detail})"


def cmd_purge(ctx: Context, args: argparse.Namespace) -> int:
    """Delete every ready, delayed and buried job of a tube (after confirmation).

    Not beanstalkd's drain mode (which stops a server from taking new jobs). Reserved
    jobs belong to their workers and are left alone. The work is bounded: at most
    the jobs counted at the start are deleted, so producers putting into the tube
    meanwhile cannot keep it running for ever.
    """
    states = [s for s in STATES if getattr(args, s)] or list(STATES)
    client = ctx.client()
    try:
        try:
            # Before using the tube: using it would make it exist.
            stats = client.queue.stats_tube(args.tube)
        except NotFound:
            raise Empty(f"tube {args.tube} not found") from None
        counts = {state: int(stats[f"current-jobs-{state}"]) for state in states}  # type: ignore[literal-required]
        if not sum(counts.values()):
            if ctx.out.json:
                ctx.out.record({"tube": args.tube, "deleted": dict.fromkeys(states, 0), "total": 0})
            else:
                ctx.out.write(f"nothing to purge in {args.tube}")
            return 0
        question = f"delete {_describe(counts)} from tube {args.tube}?"
        if not args.yes:
            if not sys.stdin.isatty():
                raise Failure(
                    f"refusing to {question[:-1]} without confirmation: stdin is not a "
                    "terminal (add --yes)",
                    EXIT_USAGE,
                )
            if not _confirm(question.capitalize()):
                raise Failure("nothing deleted", EXIT_ERROR)
        client.queue.use(args.tube)  # the peek commands look into the used tube
        deleted = {state: _purge_state(client, state, counts[state]) for state in states}
        reserved = stats["current-jobs-reserved"]
    finally:
        client.close()
    total = sum(deleted.values())
    if ctx.out.json:
        ctx.out.record({"tube": args.tube, "deleted": deleted, "total": total})
    else:
        ctx.out.write(f"deleted {_describe(deleted)} from {args.tube}")
    if reserved:
        ctx.note(f"{reserved} reserved job(s) left alone (held by workers)")
    return 0


def _purge_state(client: CliClient, state: str, limit: int) -> int:
    peek = getattr(client.queue, f"peek_{state}")
    deleted = 0
    # Each round either deletes a job or finds it reserved by a worker in the
    # meantime; bound the rounds so that a busy tube cannot keep us here.
    for _ in range(2 * limit + 10):
        if deleted >= limit:
            break
        message = peek()
        if message is None:
            break
        try:
            client.queue.delete(message.uid)
        except NotFound:
            continue
        deleted += 1
    return deleted
