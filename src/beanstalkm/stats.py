"""A parser for exactly the YAML beanstalkd emits, and the shapes of its stats.

beanstalkd's replies to ``stats``, ``stats-tube``, ``stats-job``, ``list-tubes`` and
``list-tubes-watched`` are a tiny YAML subset: ``---`` then either ``- item`` lines or
``key: value`` lines. A general YAML loader gets them wrong (a tube named ``123``,
``true`` or ``null`` turns into a number, a boolean or None; ``os: #1 SMP`` turns
into a comment), so values are typed by what each key is known to hold. Both 1.12
(bare strings) and 1.13+ (double-quoted strings) are read the same.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypedDict

__all__ = ["JobStats", "ServerStats", "StatsParseError", "TubeStats", "parse_yaml"]


class StatsParseError(ValueError):
    """The text is not the YAML beanstalkd emits."""


JobStats = TypedDict(
    "JobStats",
    {
        "id": int,
        "tube": str,
        "state": str,
        "pri": int,
        "age": int,
        "delay": int,
        "ttr": int,
        "time-left": int,
        "file": int,
        "reserves": int,
        "timeouts": int,
        "releases": int,
        "buries": int,
        "kicks": int,
    },
)

TubeStats = TypedDict(
    "TubeStats",
    {
        "name": str,
        "current-jobs-urgent": int,
        "current-jobs-ready": int,
        "current-jobs-reserved": int,
        "current-jobs-delayed": int,
        "current-jobs-buried": int,
        "total-jobs": int,
        "current-using": int,
        "current-watching": int,
        "current-waiting": int,
        "cmd-delete": int,
        "cmd-pause-tube": int,
        "pause": int,
        "pause-time-left": int,
    },
)

ServerStats = TypedDict(
    "ServerStats",
    {
        "current-jobs-urgent": int,
        "current-jobs-ready": int,
        "current-jobs-reserved": int,
        "current-jobs-delayed": int,
        "current-jobs-buried": int,
        "cmd-put": int,
        "cmd-peek": int,
        "cmd-peek-ready": int,
        "cmd-peek-delayed": int,
        "cmd-peek-buried": int,
        "cmd-reserve": int,
        "cmd-reserve-with-timeout": int,
        "cmd-delete": int,
        "cmd-release": int,
        "cmd-use": int,
        "cmd-watch": int,
        "cmd-ignore": int,
        "cmd-bury": int,
        "cmd-kick": int,
        "cmd-touch": int,
        "cmd-stats": int,
        "cmd-stats-job": int,
        "cmd-stats-tube": int,
        "cmd-list-tubes": int,
        "cmd-list-tube-used": int,
        "cmd-list-tubes-watched": int,
        "cmd-pause-tube": int,
        "job-timeouts": int,
        "total-jobs": int,
        "max-job-size": int,
        "current-tubes": int,
        "current-connections": int,
        "current-producers": int,
        "current-workers": int,
        "current-waiting": int,
        "total-connections": int,
        "pid": int,
        "version": str,
        "rusage-utime": float,
        "rusage-stime": float,
        "uptime": int,
        "binlog-oldest-index": int,
        "binlog-current-index": int,
        "binlog-records-migrated": int,
        "binlog-records-written": int,
        "binlog-max-size": int,
        "draining": bool,
        "id": str,
        "hostname": str,
        "os": str,
        "platform": str,
    },
)

# How each known key is typed, per kind of reply; keys a newer server adds are inferred.
_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    "server": ServerStats.__annotations__,
    "tube": TubeStats.__annotations__,
    "job": JobStats.__annotations__,
}

_INT_RE: Final = re.compile(r"-?[0-9]+")
_FLOAT_RE: Final = re.compile(r"-?[0-9]+\.[0-9]+")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


def _convert(key: str, raw: str, kind: type | None) -> Any:
    if kind is str:
        return _unquote(raw)
    if kind is bool:
        if raw in ("true", "false"):
            return raw == "true"
        raise StatsParseError(f"{key}: expected true or false, got {raw!r}")
    if kind is float:
        if _FLOAT_RE.fullmatch(raw) or _INT_RE.fullmatch(raw):
            return float(raw)
        raise StatsParseError(f"{key}: expected a number, got {raw!r}")
    if kind is int:
        if _INT_RE.fullmatch(raw):
            return int(raw)
        raise StatsParseError(f"{key}: expected an integer, got {raw!r}")
    # A key this parser was not told about (a newer server): infer, never guess a
    # string into anything but what it plainly is.
    if _INT_RE.fullmatch(raw):
        return int(raw)
    if _FLOAT_RE.fullmatch(raw):
        return float(raw)
    if raw in ("true", "false"):
        return raw == "true"
    return _unquote(raw)


def parse_yaml(data: bytes | str, shape: str) -> Any:
    """Parse one beanstalkd YAML reply body.

    ``shape`` is ``"list"`` (list-tubes, list-tubes-watched: a list of str), or
    ``"server"``, ``"tube"`` or ``"job"`` (a dict typed per key). Raises
    :class:`StatsParseError` on anything beanstalkd would not send.
    """
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data
    lines = text.split("\n")
    if lines[0].rstrip("\r") != "---":
        raise StatsParseError(f"expected '---' at the start, got {lines[0][:40]!r}")
    lines = [line.rstrip("\r") for line in lines[1:]]
    while lines and not lines[-1]:
        lines.pop()
    if shape == "list":
        items = []
        for line in lines:
            if not line.startswith("- "):
                raise StatsParseError(f"expected a '- ' list item, got {line[:40]!r}")
            items.append(_unquote(line[2:]))
        return items
    try:
        schema = _SCHEMAS[shape]
    except KeyError:
        raise ValueError(f"unknown YAML shape {shape!r}") from None
    result: dict[str, Any] = {}
    for line in lines:
        key, sep, raw = line.partition(":")
        if not sep or not key or key != key.strip():
            raise StatsParseError(f"expected 'key: value', got {line[:40]!r}")
        raw = raw[1:] if raw.startswith(" ") else raw
        result[key] = _convert(key, raw, schema.get(key))
    return result
