"""A job as the page shows it: the body as JSON, text or hex, the envelope apart.

Bodies are whatever someone put. They are read with the command line's reader
(:func:`beanstalkm.cli.records.read_job`), which never raises, then turned into text
for the page here: JSON indented, text as it is, anything else as a hex dump, each
with its control and bidirectional characters written as escapes
(:func:`~beanstalkm.cli.safetext.printable`). The page puts that text into the
document as text, never as HTML. A long body is cut at :data:`SHOWN` characters (or
:data:`HEX_SHOWN` bytes in hex); the whole is one request away.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..cli import jsontext
from ..cli.records import Job, read_job
from ..cli.safetext import printable

__all__ = ["HEX_SHOWN", "SHOWN", "hex_dump", "job_view"]

#: Characters of a body shown before it is cut.
SHOWN: Final = 4096
#: Bytes of a binary body shown in hex before it is cut.
HEX_SHOWN: Final = 1024

_ENVELOPE_FIELDS: Final = ("subscribe", "channel", "token", "errors")


def hex_dump(data: bytes) -> str:
    """``data`` as lines of 16 bytes: offset, hex, and the printable ASCII."""
    lines = []
    for offset in range(0, len(data), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  |{text}|")
    return "\n".join(lines)


def _body(job: Job, full: bool) -> tuple[str, str, bool]:
    """The body's format (json, text or hex), its text, and whether it was cut."""
    if job.kind == "binary":
        data = job.raw if full else job.raw[:HEX_SHOWN]
        return "hex", hex_dump(data), len(data) < len(job.raw)
    if job.kind == "text":
        text, form = str(job.body), "text"
    else:  # JSON, or the JSON body of an envelope
        text, form = jsontext.dumps(job.body, indent=2), "json"
    text = printable(text)
    if not full and len(text) > SHOWN:
        return form, text[:SHOWN], True
    return form, text, False


def _envelope(job: Job) -> dict[str, Any] | None:
    if not job.is_envelope:
        return None
    decoded = jsontext.loads(job.raw.decode("utf-8"))
    fields: dict[str, Any] = {"created": job.created}
    fields["sender"] = printable(jsontext.dumps(job.sender)) if job.sender is not None else None
    for name in _ENVELOPE_FIELDS:
        if name in decoded:
            fields[name] = printable(jsontext.dumps(decoded[name]))
    return fields


def job_view(
    server: int,
    uid: int,
    raw: bytes,
    stats: Mapping[str, Any] | None = None,
    full: bool = False,
) -> dict[str, Any]:
    """A job as the page shows it: ids, size, the body's ``format`` (``json``,
    ``text`` or ``hex``) and ``body`` text (cut unless ``full``; ``truncated`` says so),
    the envelope's fields apart (or None), what could not be read (``problems``) and
    the job's ``stats-job``. Every string in it is safe to show as text."""
    job = read_job(uid, raw)
    form, body, truncated = _body(job, full)
    return {
        "server": server,
        "id": uid,
        "size": len(job.raw),
        "kind": job.kind,
        "format": form,
        "body": body,
        "truncated": truncated,
        "envelope": _envelope(job),
        "problems": [printable(p) for p in job.problems],
        "stats": {printable(str(k)): _safe(v) for k, v in (stats or {}).items()},
    }


def _safe(value: Any) -> Any:
    return printable(value) if isinstance(value, str) else value
