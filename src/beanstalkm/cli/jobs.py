"""Subcommands about jobs: put, reserve, consume, peek, kick, delete, bury."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, cast

from ..constants import MAX_U32
from ..errors import (
    BeanstalkmException,
    DeadlineSoon,
    Draining,
    JobTooBig,
    NotFound,
)
from .base import EXIT_USAGE, CliClient, Context, Empty, Failure
from .output import RawMessage, format_duration, message_record

__all__ = [
    "cmd_bury",
    "cmd_delete",
    "cmd_kick",
    "cmd_peek",
    "cmd_put",
    "cmd_reserve",
    "read_bodies",
    "show_message",
]


# -- put ------------------------------------------------------------------------------


def read_bodies(args: argparse.Namespace) -> list[bytes]:
    """The job bodies to put: the argument, else stdin byte for byte; ``--lines``
    makes each non-empty line a job."""
    if args.body is None or args.body == "-":
        if sys.stdin.isatty():
            print("beanstalkm put: reading the body from stdin (end with Ctrl-D)", file=sys.stderr)
        data = sys.stdin.buffer.read()
    else:
        # What the shell gave us, as bytes again (undecodable bytes survive via
        # surrogateescape).
        data = os.fsencode(args.body)
    if args.lines:
        return [line for line in data.splitlines() if line.strip()]
    return [data]


def cmd_put(ctx: Context, args: argparse.Namespace) -> int:
    """Put one job (or one per line) into a tube; print the new ids."""
    bodies = read_bodies(args)
    values: list[Any] = []
    if args.envelope:
        for number, data in enumerate(bodies, 1):
            try:
                values.append(json.loads(data))
            except ValueError as exc:
                where = f"line {number}" if args.lines else "the body"
                raise Failure(
                    f"{where} is not JSON ({exc}); --envelope sends JSON values, "
                    "leave it out to send the bytes as they are",
                    EXIT_USAGE,
                ) from None
    client = ctx.client(use=args.tube)
    try:
        for index, data in enumerate(bodies):
            try:
                if args.envelope:
                    uid = client.put(
                        values[index], args.tube, args.priority, args.delay, args.ttr
                    ).uid
                else:
                    uid = client.queue.put(data, args.priority, args.delay, args.ttr)
            except JobTooBig:
                raise Failure(
                    f"job of {len(data)} bytes is bigger than the server's max-job-size "
                    f"(see: beanstalkm stats)"
                ) from None
            except Draining:
                raise Failure("the server is in drain mode and accepts no new jobs") from None
            if ctx.out.json:
                ctx.out.record({"id": uid, "tube": args.tube})
            else:
                ctx.out.write(f"put job {uid} into {args.tube}")
    finally:
        client.close()
    return 0


# -- showing jobs ---------------------------------------------------------------------


def _body_text(message: RawMessage) -> str:
    body = message.body
    if isinstance(body, str):
        return body
    if isinstance(body, (bytes, bytearray)):
        record = message_record(message)
        return f"<{len(body)} bytes, not UTF-8; base64: {record['body']}>"
    return json.dumps(body, indent=2, ensure_ascii=False)


def show_message(
    ctx: Context,
    message: RawMessage,
    tube: str | None,
    stats: Mapping[str, Any] | None = None,
    raw: bool = False,
) -> None:
    """Print a job: a JSON line, its raw body (``--raw``), or a header and its body."""
    out = ctx.out
    if raw:
        stream = getattr(out.stream, "buffer", None)
        if stream is None:  # a text-only stream (tests): best effort
            out.write(message.raw.decode("utf-8", "replace"))
        else:
            out.stream.flush()
            stream.write(message.raw + b"\n")
            stream.flush()
        return
    if out.json:
        out.record(message_record(message, tube, stats))
        return
    parts = [f"job {message.uid}"]
    if tube is not None:
        parts.append(f"tube {tube}")
    if stats is not None:
        parts += [
            str(stats["state"]),
            f"priority {stats['pri']}",
            f"age {format_duration(stats['age'])}",
            f"ttr {stats['ttr']}s",
            f"reserves {stats['reserves']}",
        ]
        if stats["state"] == "delayed":
            parts.append(f"ready in {format_duration(stats['time-left'])}")
    parts.append("envelope" if message.is_envelope else f"raw, {len(message.raw)} bytes")
    if message.is_envelope:
        parts.append(f"created {message.utc:%Y-%m-%d %H:%M:%S}Z")
    out.write(" | ".join(parts))
    out.write(_body_text(message))


# -- reserve and consume --------------------------------------------------------------


def _reserve(client: CliClient, timeout: float | None) -> RawMessage | None:
    # CliClient makes RawMessages.
    return cast("RawMessage | None", client.reserve(timeout=timeout, drop=False))


def cmd_reserve(ctx: Context, args: argparse.Namespace) -> int:
    """Reserve jobs and print them; then delete, bury, or release them.

    ``reserve`` takes one job and releases it at the end unless told otherwise;
    ``consume`` streams jobs, deleting each once printed. Jobs kept (not deleted or
    buried) stay reserved until the end, so that each is printed once, and are
    released then.
    """
    tubes: list[str] = args.tube or ["default"]
    client = ctx.client(watch=tubes)
    count: int | None = args.count
    held: list[RawMessage] = []
    got = 0
    interrupted = True
    try:
        while count is None or got < count:
            try:
                message = _reserve(client, args.timeout)
            except DeadlineSoon:
                # A job we keep is about to reach its time-to-run: keep it ours.
                for kept in held:
                    kept.touch()
                continue
            if message is None:
                break
            got += 1
            tube = tubes[0] if len(tubes) == 1 else None
            if tube is None:
                stats = message.stats()
                tube = stats["tube"] if stats else None
            show_message(ctx, message, tube, raw=args.raw)
            if args.bury:
                message.bury()
            elif args.delete:
                message.delete()
            else:
                held.append(message)
        interrupted = False
    finally:
        # After Ctrl-C the connection may be in the middle of a reply: send nothing
        # more; closing it makes the server release what we hold.
        if not interrupted:
            for kept in held:
                try:
                    kept.release()
                except BeanstalkmException:
                    break
        client.close()
    if got == 0:
        waited = f"within {args.timeout:g}s " if args.timeout is not None else ""
        raise Empty(f"no job came {waited}from {', '.join(tubes)}")
    return 0


# -- peek -----------------------------------------------------------------------------


def cmd_peek(ctx: Context, args: argparse.Namespace) -> int:
    """Show a job without reserving it: by id, or the next ready/delayed/buried one."""
    if args.id is not None and args.state is not None:
        raise Failure("give a job id or a state, not both", EXIT_USAGE)
    client = ctx.client(use=args.tube)
    try:
        message: RawMessage | None
        if args.id is not None:
            message = cast("RawMessage | None", client.queue.peek(args.id))
            if message is None:
                raise Empty(f"job {args.id} not found")
        else:
            state = args.state or "ready"
            message = getattr(client.queue, f"peek_{state}")()
            if message is None:
                raise Empty(f"no {state} job in tube {args.tube}")
        stats = message.stats()
        tube = stats["tube"] if stats else None
        show_message(ctx, message, tube, stats, raw=args.raw)
    finally:
        client.close()
    return 0


# -- kick, delete, bury ---------------------------------------------------------------


def _per_job(
    ctx: Context, ids: list[int], verb: str, act: Callable[[int], object], why: str
) -> int:
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


def cmd_kick(ctx: Context, args: argparse.Namespace) -> int:
    """Kick buried (else delayed) jobs of a tube to ready, or kick jobs by id."""
    if args.job:
        client = ctx.client()
        try:
            return _per_job(
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
    bound = MAX_U32 if args.all else args.bound
    client = ctx.client(use=args.tube)
    try:
        kicked = client.queue.kick(bound)
    finally:
        client.close()
    if ctx.out.json:
        ctx.out.record({"tube": args.tube, "kicked": kicked})
    else:
        ctx.out.write(f"kicked {kicked} job{'' if kicked == 1 else 's'} in {args.tube}")
    return 0


def cmd_delete(ctx: Context, args: argparse.Namespace) -> int:
    """Delete jobs by id (ready, delayed or buried; not reserved by someone else)."""
    client = ctx.client()
    try:
        return _per_job(
            ctx, args.ids, "deleted", client.queue.delete, "not found (or reserved by a worker)"
        )
    finally:
        client.close()


def cmd_bury(ctx: Context, args: argparse.Namespace) -> int:
    """Bury jobs by id: reserve each by its id (``reserve-job``), then bury it."""
    client = ctx.client()

    def bury(uid: int) -> None:
        message = client.queue.reserve_job(uid)
        message.bury(args.priority)

    try:
        return _per_job(ctx, args.ids, "buried", bury, "not found (or reserved by a worker)")
    finally:
        client.close()
