"""Printing a job: a JSON record, its bytes (``--raw``), or a header and body for people.

Whatever the body holds, what reaches the terminal is escaped (see :mod:`.safetext`
and :mod:`.jsontext`); only ``--raw`` writes the bytes as they are, as asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import InvalidMessage
from .base import Context
from .output import RawMessage, format_duration
from .records import Job, body_text, job_record, read_job

__all__ = ["held_message", "job_of", "show_job"]


def job_of(message: RawMessage) -> Job:
    """The job a message holds, read from its bytes (never fails)."""
    return read_job(message.uid, message.raw)


def held_message(exc: InvalidMessage) -> RawMessage | None:
    """The message an :class:`InvalidMessage` carries, when it is one of ours."""
    message = getattr(exc, "message", None)
    return message if isinstance(message, RawMessage) else None


def _number(stats: Mapping[str, Any], key: str) -> int | None:
    value = stats.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _stats_parts(stats: Mapping[str, Any]) -> list[str]:
    parts = [str(stats.get("state", "?"))]
    for key, label in (
        ("pri", "priority"),
        ("age", "age"),
        ("ttr", "ttr"),
        ("reserves", "reserves"),
    ):
        value = _number(stats, key)
        if value is None:
            continue
        if key == "age":
            parts.append(f"age {format_duration(value)}")
        elif key == "ttr":
            parts.append(f"ttr {value}s")
        else:
            parts.append(f"{label} {value}")
    left = _number(stats, "time-left")
    if stats.get("state") == "delayed" and left is not None:
        parts.append(f"ready in {format_duration(left)}")
    return parts


def show_job(
    ctx: Context,
    job: Job,
    tube: str | None,
    stats: Mapping[str, Any] | None = None,
    raw: bool = False,
    server: str | None = None,
) -> None:
    """Print a job: a JSON line, its raw body (``--raw``), or a header and its body.

    ``server`` (``host:port``, when several servers are in play) names the job as
    ``host:port/ID``."""
    out = ctx.out
    if raw:
        stream = getattr(out.stream, "buffer", None)
        if stream is None:  # a text-only stream (tests): best effort
            out.stream.write(job.raw.decode("utf-8", "replace") + "\n")
            out.stream.flush()
        else:
            out.stream.flush()
            stream.write(job.raw + b"\n")
            stream.flush()
        return
    if out.json:
        out.record(job_record(job, tube, stats, server))
        return
    parts = [f"job {job.id}" if server is None else f"job {server}/{job.id}"]
    if tube is not None:
        parts.append(f"tube {tube}")
    if stats is not None:
        parts += _stats_parts(stats)
    parts.append("envelope" if job.is_envelope else f"raw, {len(job.raw)} bytes")
    if job.created is not None:
        parts.append(f"created {job.created[:19].replace('T', ' ')}Z")
    out.write(" | ".join(parts))
    out.write(body_text(job))
    for problem in job.problems:
        out.write(f"problem: {problem}")
