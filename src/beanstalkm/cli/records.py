"""Jobs as the command line shows them, read from their bytes without ever failing.

A job body is whatever someone put: a beanstalkm envelope, other JSON, text, or
bytes. The command line reads it here, independently of :class:`beanstalkm.Message`,
so that a hostile or broken job (a date in year 10000, a number like ``1e400``, a lone
surrogate, a field of the wrong type) is shown as far as it can be read, with each
part that cannot be read named in :attr:`Job.problems`, instead of stopping
``peek``, ``reserve`` or ``consume`` with a traceback.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final, Literal

from . import jsontext
from .jsontext import Number

__all__ = ["Job", "Kind", "body_text", "job_record", "read_job"]

Kind = Literal["envelope", "json", "text", "binary"]

#: The envelope's ``@context``, as beanstalkm writes it.
ENVELOPE_CONTEXT: Final = "message"

# Envelope fields other than body, created and sender, and the JSON type each has.
_FIELD_TYPES: Final = {
    "subscribe": (str, "a string"),
    "channel": (str, "a string"),
    "token": (str, "a string"),
    "errors": (list, "a list"),
}


@dataclass
class Job:
    """A job read for showing: its body decoded as far as possible.

    ``kind`` says what the body is: a beanstalkm ``envelope`` (then ``body`` is the
    body inside it, and ``created``/``sender`` are read from it), other ``json``,
    UTF-8 ``text``, or ``binary`` (``body`` is then the bytes).
    """

    id: int
    raw: bytes
    kind: Kind
    body: Any
    #: ISO 8601 UTC time the envelope was made, when it can be read.
    created: str | None = None
    sender: Any = None
    #: What could not be read, one readable sentence each.
    problems: list[str] = field(default_factory=list)

    @property
    def is_envelope(self) -> bool:
        return self.kind == "envelope"


def _short(value: Any, limit: int = 60) -> str:
    text = jsontext.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_created(value: Any) -> tuple[str | None, str | None]:
    """``created`` as ISO text, or why it cannot be read."""
    what = _short(value)
    if isinstance(value, Mapping):
        millis = value.get("$data")
    elif isinstance(value, (int, float, Number)) and not isinstance(value, bool):
        # Envelopes written before beanstalkm 2 give seconds.
        millis = value * 1000 if not isinstance(value, Number) else value
    else:
        return None, f'created: expected {{"$data": milliseconds}}, got {what}'
    if isinstance(millis, Number) or (isinstance(millis, float) and not math.isfinite(millis)):
        return None, f"created: {what} is out of range for a date"
    if not isinstance(millis, (int, float)) or isinstance(millis, bool):
        return None, f'created: expected {{"$data": milliseconds}}, got {what}'
    try:
        moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    except ValueError as exc:  # "year 10000 is out of range"
        return None, f"created: {what} is not a date that can be shown ({exc})"
    except (OverflowError, OSError):
        return None, f"created: {what} is out of range for a date"
    return moment.isoformat().replace("+00:00", "Z"), None


def _read_envelope(job: Job, envelope: Mapping[str, Any]) -> None:
    if "created" in envelope:
        job.created, problem = _read_created(envelope["created"])
        if problem:
            job.problems.append(problem)
    else:
        job.problems.append("created: missing")
    sender = envelope.get("sender")
    job.sender = sender
    if not isinstance(sender, Mapping):
        job.problems.append(f"sender: expected an object, got {_short(sender)}")
    for name, (kind, described) in _FIELD_TYPES.items():
        if name in envelope and not isinstance(envelope[name], kind):
            job.problems.append(f"{name}: expected {described}, got {_short(envelope[name])}")


def read_job(uid: int, raw: bytes) -> Job:
    """Read a job's bytes: an envelope, else JSON, else text, else binary. Never raises."""
    raw = bytes(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Job(uid, raw, "binary", raw)
    try:
        value = jsontext.loads(text)
    except (ValueError, RecursionError):
        return Job(uid, raw, "text", text)
    if jsontext.depth(value) > jsontext.MAX_DEPTH:
        job = Job(uid, raw, "text", text)
        job.problems.append(f"body: JSON nested more than {jsontext.MAX_DEPTH} deep, shown as text")
        return job
    if isinstance(value, dict) and value.get("@context") == ENVELOPE_CONTEXT and "body" in value:
        job = Job(uid, raw, "envelope", value["body"])
        _read_envelope(job, value)
        return job
    return Job(uid, raw, "json", value)


def job_record(
    job: Job,
    tube: str | None = None,
    stats: Mapping[str, Any] | None = None,
    server: str | None = None,
) -> dict[str, Any]:
    """A job as a JSON-ready dict: id, tube, body, the envelope's fields, size, and
    ``problems`` when something could not be read.

    ``body`` is the decoded body (the envelope's body, else the JSON value, else the
    text); a body that is not UTF-8 is given in base64 with ``"base64": true``.
    ``server`` (``host:port``, given when several servers are in play) adds
    ``server`` and ``ref`` (``host:port/ID``) after the id.
    """
    record: dict[str, Any] = {"id": job.id}
    if server is not None:
        record["server"] = server
        record["ref"] = f"{server}/{job.id}"
    if tube is not None:
        record["tube"] = tube
    if job.kind == "binary":
        record["body"] = base64.b64encode(job.raw).decode("ascii")
        record["base64"] = True
    else:
        record["body"] = job.body
    record["envelope"] = job.is_envelope
    if job.is_envelope:
        record["created"] = job.created
        record["sender"] = job.sender
    record["size"] = len(job.raw)
    if stats is not None:
        record["stats"] = dict(stats)
    if job.problems:
        record["problems"] = list(job.problems)
    return record


def body_text(job: Job) -> str:
    """The body for people: text as it is, JSON indented, bytes described."""
    if job.kind == "binary":
        encoded = base64.b64encode(job.raw).decode("ascii")
        return f"<{len(job.raw)} bytes, not UTF-8; base64: {encoded}>"
    if isinstance(job.body, str) and not isinstance(job.body, Number):
        return job.body
    return jsontext.dumps(job.body, indent=2)
