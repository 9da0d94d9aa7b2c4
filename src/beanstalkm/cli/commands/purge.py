"""``beanstalkm purge``: delete the ready, delayed and buried jobs of tubes.

With several servers: the tubes of every server, after one question for them all;
what was deleted is reported per server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

from ...errors import NotFound
from ...stats import TubeStats
from ..base import EXIT_ERROR, EXIT_USAGE, CliClient, Context, Empty, Failure
from ..jobscan import STATES, scan, scanning_client
from ..options import Subparsers, add_command
from ..patterns import PATTERN_HELP, expand, is_pattern
from ..pool import SERVER_ERRORS, Servers
from ..progress import Progress, count
from ..safetext import printable

__all__ = ["add_parser", "cmd_purge", "confirm", "describe"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "purge",
        cmd_purge,
        "delete every ready, delayed and buried job of tubes",
        "Delete the ready, delayed and buried jobs of tubes (all three states unless "
        "some are named), after asking. Reserved jobs are left to their workers. This "
        "is not beanstalkd's drain mode. With several servers, on each of them.",
        [
            "beanstalkm purge emails",
            "beanstalkm purge emails --buried --yes",
            "beanstalkm purge 'tmp.*' --yes",
            "beanstalkm purge 'beanstalkm.reply.*' --unwatched --yes",
        ],
        pool=True,
    )
    p.add_argument("tubes", nargs="+", metavar="TUBE", help=PATTERN_HELP)
    for state in STATES:
        p.add_argument(f"--{state}", action="store_true", help=f"delete the {state} jobs")
    p.add_argument(
        "--unwatched",
        action="store_true",
        help="only tubes no connection watches (reply tubes whose requester is gone)",
    )
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")


def confirm(question: str) -> bool:
    """Ask on the terminal; True for yes. The question goes to stderr, so that stdout
    stays data only."""
    sys.stderr.write(f"{printable(question, one_line=True)} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def describe(counts: Mapping[str, int]) -> str:
    """``13 jobs (12 ready, 0 delayed, 1 buried)``."""
    total = sum(counts.values())
    detail = ", ".join(f"{count(n)} {state}" for state, n in counts.items())
    return f"{count(total)} job{'' if total == 1 else 's'} ({detail})"


def _tube_stats(client: CliClient, names: list[str], given: list[str]) -> list[TubeStats]:
    pipeline = client.pipeline()
    for name in names:
        pipeline.stats_tube(name)
    found: list[TubeStats] = []
    for name, stats in zip(names, pipeline.execute(), strict=True):
        if isinstance(stats, NotFound):
            if name in given:  # named, not matched by a pattern
                raise Empty(f"tube {name} not found")
            continue  # matched, then emptied and gone meanwhile
        if isinstance(stats, BaseException):
            raise stats
        found.append(stats)
    return found


def _counts(stats: list[TubeStats], states: list[str]) -> dict[str, dict[str, int]]:
    """How many jobs of each tube are to go, by state."""
    return {
        t["name"]: {state: int(t[f"current-jobs-{state}"]) for state in states}  # type: ignore[literal-required]
        for t in stats
    }


def _unwatched(ctx: Context, stats: list[TubeStats], where: str = "") -> list[TubeStats]:
    """The tubes no connection watches (``--unwatched``): one someone watches is in
    use, a requester's reply tube while it waits for replies."""
    watched = [t["name"] for t in stats if t["current-watching"]]
    if watched:
        ctx.note(f"left alone, watched{where}: {', '.join(watched)}")
    return [t for t in stats if not t["current-watching"]]


def _ask(args: argparse.Namespace, question: str) -> None:
    """Go on only with --yes, or a yes typed on the terminal."""
    if args.yes:
        return
    if not sys.stdin.isatty():
        raise Failure(
            f"refusing to {question[:-1]} without confirmation: stdin is not a "
            "terminal (add --yes)",
            EXIT_USAGE,
        )
    if not confirm(question.capitalize()):
        raise Failure("nothing deleted", EXIT_ERROR)


def _question(counts: dict[str, dict[str, int]]) -> str:
    total = dict.fromkeys(next(iter(counts.values())), 0)
    for per_state in counts.values():
        for state, n in per_state.items():
            total[state] += n
    if len(counts) == 1:
        return f"delete {describe(total)} from tube {next(iter(counts))}?"
    return f"delete {describe(total)} from {len(counts)} tubes ({', '.join(counts)})?"


def cmd_purge(ctx: Context, args: argparse.Namespace) -> int:
    """Delete every ready, delayed and buried job of tubes (after confirmation).

    Not beanstalkd's drain mode (which stops a server from taking new jobs). Reserved
    jobs belong to their workers and are left alone. The work is bounded: at most
    the jobs counted at the start are deleted, so producers putting into a tube
    meanwhile cannot keep it running for ever.
    """
    states = [s for s in STATES if getattr(args, s)] or list(STATES)
    if ctx.pooled:
        return _purge_on_pool(ctx, args, states)
    client = ctx.client()
    try:
        tubes = expand(client, args.tubes)
        given = [name for name in args.tubes if not is_pattern(name)]
        stats = _tube_stats(client, tubes, given)
        if args.unwatched:
            stats = _unwatched(ctx, stats)
            if not stats:
                if not ctx.out.json:
                    ctx.out.write("nothing to purge: every tube named is watched")
                return 0
        counts = _counts(stats, states)
        if not any(sum(per_state.values()) for per_state in counts.values()):
            for tube, per_state in counts.items():
                if ctx.out.json:
                    ctx.out.record(
                        {"tube": tube, "deleted": dict.fromkeys(per_state, 0), "total": 0}
                    )
                else:
                    ctx.out.write(f"nothing to purge in {tube}")
            return 0
        _ask(args, _question(counts))
    finally:
        client.close()
    deleted = _purge(ctx, counts)
    for tube, per_state in deleted.items():
        total = sum(per_state.values())
        if ctx.out.json:
            ctx.out.record({"tube": tube, "deleted": per_state, "total": total})
        else:
            ctx.out.write(f"deleted {describe(per_state)} from {tube}")
    reserved = sum(t["current-jobs-reserved"] for t in stats)
    if reserved:
        ctx.note(f"{count(reserved)} reserved job(s) left alone (held by workers)")
    return 0


def _purge(ctx: Context, counts: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    planned = sum(sum(per_state.values()) for per_state in counts.values())
    done = 0
    deleted: dict[str, dict[str, int]] = {}
    with Progress(ctx.stderr_is_terminal) as progress:
        for tube, per_state in counts.items():
            deleted[tube] = dict.fromkeys(per_state, 0)
            if not sum(per_state.values()):
                continue
            client = scanning_client(ctx, tube)
            try:
                for state, limit in per_state.items():
                    if not limit:
                        continue
                    for batch in scan(client, tube, state, limit):
                        pipeline = client.pipeline()
                        for job in batch:
                            pipeline.delete(job["id"])
                        results = pipeline.execute()
                        # A job a worker reserved meanwhile is not found: it is its now.
                        gone = sum(not isinstance(r, BaseException) for r in results)
                        deleted[tube][state] += gone
                        done += gone
                        progress.show(
                            f"deleting from {tube}: {count(done)} of {count(planned)} jobs "
                            f"({progress.rate(done):,.0f}/s)"
                        )
            finally:
                client.close()
    return deleted


def _purge_on_pool(ctx: Context, args: argparse.Namespace, states: list[str]) -> int:
    """Purge on every server: count on each, ask once for them all, purge each; a
    server that is down is named, and makes the command fail once the others are done."""
    with Servers(ctx) as servers:
        tubes = servers.expand(args.tubes)
        # A tube need not be on every server: missing here is no error (given=[]).
        found = servers.answered(servers.each(lambda client: _tube_stats(client, tubes, [])))
    named = {t["name"] for stats in found.values() for t in stats}
    if args.unwatched:
        found = {
            address: _unwatched(ctx, stats, f" on {address}") for address, stats in found.items()
        }
        if not any(found.values()):
            if not ctx.out.json:
                ctx.out.write("nothing to purge: every tube named is watched")
            return 0
    by_server = {address: _counts(stats, states) for address, stats in found.items()}
    every: dict[str, dict[str, int]] = {}
    for counts in by_server.values():
        for tube, per_state in counts.items():
            into = every.setdefault(tube, dict.fromkeys(per_state, 0))
            for state, n in per_state.items():
                into[state] += n
    for name in args.tubes:
        if not is_pattern(name) and name not in named:
            raise Empty(f"tube {name} not found on the servers that answered")
    if not any(sum(per_state.values()) for per_state in every.values()):
        for tube, per_state in every.items():
            if ctx.out.json:
                ctx.out.record({"tube": tube, "deleted": dict.fromkeys(per_state, 0), "total": 0})
            else:
                ctx.out.write(f"nothing to purge in {tube}")
    else:
        # Each server's tubes that have something to delete, no others.
        todo = {
            address: {tube: states for tube, states in counts.items() if sum(states.values())}
            for address, counts in by_server.items()
        }
        todo = {address: counts for address, counts in todo.items() if counts}
        where = f" on {len(todo)} server{'' if len(todo) == 1 else 's'}?"
        _ask(args, _question(every)[:-1] + where)
        for address, counts in todo.items():
            try:
                deleted = _purge(ctx.on(address), counts)
            except SERVER_ERRORS as exc:  # gone since it was counted
                servers.failed(address, exc)
                continue
            for tube, per_state in deleted.items():
                total = sum(per_state.values())
                if ctx.out.json:
                    record = {"tube": tube, "server": address, "deleted": per_state}
                    ctx.out.record({**record, "total": total})
                else:
                    ctx.out.write(f"deleted {describe(per_state)} from {tube} on {address}")
    reserved = sum(t["current-jobs-reserved"] for stats in found.values() for t in stats)
    if reserved:
        ctx.note(f"{count(reserved)} reserved job(s) left alone (held by workers)")
    if servers.errors:
        raise Failure(f"nothing purged on {', '.join(servers.errors)}: the server is down")
    return 0
