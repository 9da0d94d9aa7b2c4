"""``beanstalkm delete``: delete jobs by id."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from ...errors import NotFound
from ..base import CliClient, Context, Empty, Failure
from ..jobref import JobRef, Resolved, add_server_option, id_fields, job_ref, resolve_jobs
from ..options import Subparsers, add_command
from ..pool import SERVER_ERRORS, Servers

__all__ = ["add_parser", "cmd_delete", "per_job"]

#: What a command does to one job, on the client of the job's server.
Act = Callable[[CliClient, int], object]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "delete",
        cmd_delete,
        "delete jobs by id",
        "Delete jobs by id: ready, delayed and buried jobs (a job reserved by a worker "
        "is not found). With several servers, name each job HOST:PORT/ID (or use "
        "--server).",
        ["beanstalkm delete 42 43", "beanstalkm delete 127.0.0.1:11300/42"],
        pool=True,
    )
    p.add_argument("ids", type=job_ref, nargs="+", metavar="ID")
    add_server_option(p)


def per_job(
    ctx: Context, refs: Sequence[JobRef], server: str | None, verb: str, act: Act, why: str
) -> int:
    """Run ``act`` on each job (on its server); print each done; if some were not
    found, say which (exit 3) once all were tried. With several servers, the jobs of
    a server that is down are reported (exit 1) and the others still done."""
    jobs = resolve_jobs(ctx, refs, server)
    if not ctx.pooled:
        client = ctx.client()
        try:
            return _each_job(ctx, jobs, lambda address: client, verb, act, why, None)
        finally:
            client.close()
    with Servers(ctx) as servers:
        return _each_job(ctx, jobs, servers.client, verb, act, why, servers)


def _each_job(
    ctx: Context,
    jobs: list[Resolved],
    client_of: Callable[[str], CliClient],
    verb: str,
    act: Act,
    why: str,
    servers: Servers | None,
) -> int:
    missing: list[str] = []
    undone: list[str] = []
    for job in jobs:
        if servers is not None and job.server in servers.errors:
            undone.append(job.label(ctx))
            continue
        try:
            act(client_of(job.server), job.id)
        except NotFound:
            missing.append(job.label(ctx))
            continue
        except SERVER_ERRORS as exc:
            if servers is None:
                raise
            servers.failed(job.server, exc)
            undone.append(job.label(ctx))
            continue
        if ctx.out.json:
            ctx.out.record({**id_fields(ctx, job.server, job.id), verb: True})
        else:
            ctx.out.write(f"{verb} job {job.label(ctx)}")
    if missing:
        plural = "s" if len(missing) > 1 else ""
        gone = Empty(f"job{plural} {', '.join(missing)} {why}")
        if not undone:
            raise gone
        ctx.note(str(gone))
    if undone:
        plural = "s" if len(undone) > 1 else ""
        raise Failure(f"job{plural} {', '.join(undone)} not {verb}: the server is down")
    return 0


def cmd_delete(ctx: Context, args: argparse.Namespace) -> int:
    """Delete jobs by id (ready, delayed or buried; not reserved by someone else)."""
    return per_job(
        ctx,
        args.ids,
        args.server,
        "deleted",
        lambda client, uid: client.queue.delete(uid),
        "not found (or reserved by a worker)",
    )
