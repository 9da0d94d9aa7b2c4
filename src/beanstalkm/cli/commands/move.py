"""``beanstalkm move``: move the jobs of a tube, in some states, into another tube.

beanstalkd has no command for it: each job is copied (same body, priority and TTR)
into the target tube and the original deleted once the copy is stored, so an
interrupted move can leave a job in both tubes but never in neither. Jobs keep their
state: ready jobs arrive ready, delayed ones with the delay they had left, buried
ones buried.

Ready jobs are reserved first, so that no worker takes one while it is being moved
(and an interrupted move gives them back). Delayed and buried jobs are found with
:func:`~.jobscan.scan` and read with ``peek``; a copy is made unreachable to workers
(delayed) until it is buried, and if the original changed hands meanwhile the copy is
deleted again.

With several servers, each server's jobs move within that server (a job stays where
it is); ``--count`` bounds them all together.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ...errors import NotFound
from ...stats import TubeStats
from ..base import EXIT_USAGE, Context, Empty, Failure
from ..jobscan import STATES, scan, scanning_client
from ..options import Subparsers, add_command
from ..output import RawMessage
from ..pool import SERVER_ERRORS, Servers
from ..progress import Progress, count
from .purge import describe

__all__ = ["add_parser", "cmd_move"]

_BATCH: Final = 500
#: Seconds a copy of a buried job waits, delayed, before it is buried: far longer than
#: the two round trips it takes, so that no worker can reserve it in between.
_HOLD: Final = 600


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "move",
        cmd_move,
        "move a tube's jobs into another tube",
        "Move the ready, delayed and buried jobs of SOURCE (all three states unless some "
        "are named) into TARGET. Each job keeps its body, priority, TTR and state "
        "(delayed jobs keep the delay they had left). Reserved jobs are left to their "
        "workers. With several servers, each server's jobs move within it.",
        [
            "beanstalkm move emails emails.retry --buried",
            "beanstalkm move old new",
            "beanstalkm move emails archive --ready --count 1000",
        ],
        pool=True,
    )
    p.add_argument("source", metavar="SOURCE", help="the tube to take jobs from")
    p.add_argument("target", metavar="TARGET", help="the tube to put them into")
    for state in STATES:
        p.add_argument(f"--{state}", action="store_true", help=f"move the {state} jobs")
    p.add_argument("-n", "--count", type=int, default=None, help="move at most this many jobs")


@dataclass
class _Tally:
    moved: dict[str, int]
    #: Copies whose original a worker took meanwhile and that could not be deleted.
    doubled: int = 0
    done: int = 0
    remaining: int | None = None

    def room(self, wanted: int) -> int:
        return wanted if self.remaining is None else min(wanted, self.remaining)

    def add(self, state: str, n: int) -> None:
        self.moved[state] += n
        self.done += n
        if self.remaining is not None:
            self.remaining -= n


class _Mover:
    def __init__(self, ctx: Context, args: argparse.Namespace) -> None:
        self.source: str = args.source
        self.target: str = args.target
        # The reader reserves, peeks at and deletes the originals; the writer puts.
        self.reader = scanning_client(ctx, self.source, watch=[self.source])
        self.writer = ctx.client(use=self.target)
        self.progress = Progress(ctx.stderr_is_terminal)
        self.planned = 0

    def close(self) -> None:
        self.progress.clear()
        self.reader.close()
        self.writer.close()

    def show(self, tally: _Tally) -> None:
        self.progress.show(
            f"moving {self.source} to {self.target}: {count(tally.done)} of "
            f"{count(self.planned)} jobs ({self.progress.rate(tally.done):,.0f}/s)"
        )

    def _put(self, bodies: Sequence[tuple[bytes, int, int, int]]) -> list[int | BaseException]:
        pipeline = self.writer.pipeline()
        for body, priority, delay, ttr in bodies:
            pipeline.put(body, priority, delay, ttr)
        results: list[int | BaseException] = pipeline.execute()
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, NotFound):
                raise Failure(f"cannot put into {self.target}: {result}")
        return results

    def move_ready(self, limit: int, tally: _Tally) -> None:
        """Reserve ready jobs in batches, copy them, delete them."""
        while tally.room(limit - tally.moved["ready"]) > 0:
            wanted = min(_BATCH, tally.room(limit - tally.moved["ready"]))
            pipeline = self.reader.pipeline()
            for _ in range(wanted):
                pipeline.reserve_with_timeout(0)
            held = [m for m in pipeline.execute() if isinstance(m, RawMessage)]
            if not held:
                return
            pipeline = self.reader.pipeline()
            for message in held:
                pipeline.stats_job(message.uid)
            # Raises if a job we hold has no stats; closing the connection then gives
            # every held job back.
            stats: list[dict[str, Any]] = pipeline.execute(raise_on_error=True)
            self._put([(m.raw, s["pri"], 0, s["ttr"]) for m, s in zip(held, stats, strict=True)])
            pipeline = self.reader.pipeline()
            for message in held:
                pipeline.delete(message.uid)
            pipeline.execute()
            tally.add("ready", len(held))
            self.show(tally)

    def move_scanned(self, state: str, limit: int, tally: _Tally) -> None:
        """Copy delayed or buried (or a paused tube's ready) jobs found by a scan."""
        for batch in scan(self.reader, self.source, state, tally.room(limit)):
            pipeline = self.reader.pipeline()
            for job in batch:
                pipeline.peek(job["id"])
            found = [
                (job, message)
                for job, message in zip(batch, pipeline.execute(), strict=True)
                if isinstance(message, RawMessage)
            ]
            if not found:
                continue
            copies = self._put(
                [
                    (
                        message.raw,
                        job["pri"],
                        _HOLD
                        if state == "buried"
                        else job["time-left"]
                        if state == "delayed"
                        else 0,
                        job["ttr"],
                    )
                    for job, message in found
                ]
            )
            new_ids = [c for c in copies if isinstance(c, int)]
            if state == "buried":
                pipeline = self.writer.pipeline()
                for (job, _), uid in zip(found, new_ids, strict=True):
                    pipeline.reserve_job(uid).bury(uid, job["pri"])
                pipeline.execute(raise_on_error=True)
            pipeline = self.reader.pipeline()
            for job, _ in found:
                pipeline.delete(job["id"])
            taken = [
                uid
                for uid, result in zip(new_ids, pipeline.execute(), strict=True)
                if isinstance(result, NotFound)
            ]
            if taken:
                # A worker reserved the original meanwhile: it is being handled there,
                # so the copy goes.
                pipeline = self.writer.pipeline()
                for uid in taken:
                    pipeline.delete(uid)
                tally.doubled += sum(isinstance(r, BaseException) for r in pipeline.execute())
            tally.add(state, len(new_ids) - len(taken))
            self.show(tally)


def cmd_move(ctx: Context, args: argparse.Namespace) -> int:
    """Move the jobs of one tube, in the states asked for, into another tube."""
    if args.source == args.target:
        raise Failure("SOURCE and TARGET are the same tube", EXIT_USAGE)
    if args.count is not None and args.count < 0:
        raise Failure("--count must be 0 or more", EXIT_USAGE)
    states = [s for s in STATES if getattr(args, s)] or list(STATES)
    if ctx.pooled:
        return _move_on_pool(ctx, args, states)
    tally, stats = _move(ctx, args, states, args.count)
    _report(ctx, args, tally, None)
    _notes(ctx, args, tally.doubled, stats["current-jobs-reserved"])
    return 0


def _move(
    ctx: Context, args: argparse.Namespace, states: list[str], remaining: int | None
) -> tuple[_Tally, TubeStats]:
    """Move on the server of ``ctx``, at most ``remaining`` jobs (None: all); Empty
    when it has no such tube."""
    # Before the mover's clients, which use the tube and so would make it exist.
    looker = ctx.client()
    try:
        stats = looker.queue.stats_tube(args.source)
    except NotFound:
        raise Empty(f"tube {args.source} not found") from None
    finally:
        looker.close()
    mover = _Mover(ctx, args)
    tally = _Tally(dict.fromkeys(states, 0), remaining=remaining)
    try:
        limits = {state: int(stats[f"current-jobs-{state}"]) for state in states}  # type: ignore[literal-required]
        mover.planned = tally.room(sum(limits.values()))
        for state, limit in limits.items():
            if not limit or tally.room(limit) <= 0:
                continue
            if state == "ready" and not stats["pause"]:
                mover.move_ready(limit, tally)
            else:
                mover.move_scanned(state, limit, tally)
    finally:
        mover.close()
    return tally, stats


def _report(ctx: Context, args: argparse.Namespace, tally: _Tally, server: str | None) -> None:
    if ctx.out.json:
        where = {} if server is None else {"server": server}
        record = {"from": args.source, "to": args.target, **where, "moved": tally.moved}
        ctx.out.record({**record, "total": tally.done})
    else:
        on = "" if server is None else f" on {server}"
        ctx.out.write(f"moved {describe(tally.moved)} from {args.source} to {args.target}{on}")


def _notes(ctx: Context, args: argparse.Namespace, doubled: int, reserved: int) -> None:
    if doubled:
        ctx.note(
            f"{doubled} job(s) were taken by a worker while being moved and their "
            f"copies in {args.target} could not be deleted: they are in both tubes"
        )
    if reserved:
        ctx.note(f"{count(reserved)} reserved job(s) left alone (held by workers)")


def _move_on_pool(ctx: Context, args: argparse.Namespace, states: list[str]) -> int:
    """Move on each server in turn (``--count`` shared); the servers without the tube
    are passed over, the ones down named, and make the command fail at the end."""
    remaining: int | None = args.count
    doubled = reserved = 0
    found = False
    with Servers(ctx) as servers:  # for its account of the servers down
        for address in ctx.addresses:
            try:
                tally, stats = _move(ctx.on(address), args, states, remaining)
            except Empty:
                continue
            except SERVER_ERRORS as exc:
                servers.failed(address, exc)
                continue
            found = True
            _report(ctx, args, tally, address)
            remaining = tally.remaining
            doubled += tally.doubled
            reserved += stats["current-jobs-reserved"]
    if not found:
        if len(servers.errors) == len(ctx.addresses):
            raise servers.all_down()
        raise Empty(f"tube {args.source} not found on the servers that answered")
    _notes(ctx, args, doubled, reserved)
    if servers.errors:
        raise Failure(f"nothing moved on {', '.join(servers.errors)}: the server is down")
    return 0
