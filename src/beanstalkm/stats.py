"""A parser for exactly the YAML beanstalkd emits, and the shapes of its stats.

beanstalkd's replies to ``stats``, ``stats-tube``, ``stats-job``, ``list-tubes`` and
``list-tubes-watched`` are a tiny YAML subset: ``---`` then either ``- item`` lines or
``key: value`` lines. A general YAML loader gets them wrong (a tube named ``123``,
``true`` or ``null`` turns into a number, a boolean or None; ``os: #1 SMP`` turns
into a comment), so values are typed by what each key is known to hold. Both 1.12
(bare strings) and 1.13+ (double-quoted strings) are read the same.
"""

from __future__ import annotations

import operator
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


def _float(raw: str) -> float:
    if _FLOAT_RE.fullmatch(raw) or _INT_RE.fullmatch(raw):
        return float(raw)
    raise ValueError("expected a number")


def _bool(raw: str) -> bool:
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise ValueError("expected true or false")


def _inferred(raw: str) -> Any:
    # A key this parser was not told about (a newer server): never guess a string
    # into anything but what it plainly is.
    if _INT_RE.fullmatch(raw):
        return int(raw)
    if _FLOAT_RE.fullmatch(raw):
        return float(raw)
    if raw in ("true", "false"):
        return raw == "true"
    return _unquote(raw)


# Values come from printf in beanstalkd: the builtin int and float are strict enough
# for them, and much faster than a check of our own per value.
_CONVERTERS: Final[dict[Any, Any]] = {int: int, float: float, bool: _bool, str: _unquote}


class _Shape:
    """How one kind of reply is typed, prepared once from its TypedDict (whose keys
    are in the order beanstalkd sends them)."""

    __slots__ = ("converters", "int_keys", "ints", "keys", "known", "others", "wire_keys")

    def __init__(self, schema: dict[str, Any]) -> None:
        self.known = frozenset(schema)
        self.keys = list(schema)
        self.wire_keys = [key.encode("ascii") for key in self.keys]
        positions = [i for i, key in enumerate(self.keys) if schema[key] is int]
        self.int_keys = [self.keys[i] for i in positions]
        #: The counters' values, picked out of the list of values in one call.
        self.ints = operator.itemgetter(*positions)
        #: (key, position, converter from bytes) of the values that are not counters.
        self.others = [
            (key, i, _BYTES_CONVERTERS[schema[key]])
            for i, key in enumerate(self.keys)
            if schema[key] is not int
        ]
        self.converters = {k: _CONVERTERS[v] for k, v in schema.items() if v is not int}


def _text(raw: bytes) -> str:
    return _unquote(raw.decode("utf-8", "replace"))


_BYTES_CONVERTERS: Final[dict[Any, Any]] = {
    float: float,
    bool: lambda raw: _bool(raw.decode("ascii", "replace")),
    str: _text,
}

_SHAPES: Final = {shape: _Shape(schema) for shape, schema in _SCHEMAS.items()}


def parse_yaml(data: bytes | str, shape: str) -> Any:
    """Parse one beanstalkd YAML reply body.

    ``shape`` is ``"list"`` (list-tubes, list-tubes-watched: a list of str), or
    ``"server"``, ``"tube"`` or ``"job"`` (a dict typed per key). Raises
    :class:`StatsParseError` on anything beanstalkd would not send.
    """
    spec = _SHAPES.get(shape)
    if spec is not None:
        result = _parse_known(data if type(data) is bytes else _as_bytes(data), spec)
        if result is not None:
            return result
    text = data.decode("utf-8", "replace") if isinstance(data, (bytes, bytearray)) else data
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    if lines[0] != "---":
        raise StatsParseError(f"expected '---' at the start, got {lines[0][:40]!r}")
    del lines[0]
    while lines and not lines[-1]:
        lines.pop()
    if shape == "list":
        items = []
        for line in lines:
            if not line.startswith("- "):
                raise StatsParseError(f"expected a '- ' list item, got {line[:40]!r}")
            items.append(_unquote(line[2:]))
        return items
    if spec is None:
        raise ValueError(f"unknown YAML shape {shape!r}")
    try:
        return _parse_other(lines, spec)
    except ValueError as exc:
        raise StatsParseError(str(exc)) from None


def _as_bytes(data: bytes | bytearray | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def _parse_known(data: bytes, spec: _Shape) -> dict[str, Any] | None:
    """What beanstalkd sends: exactly the known keys, in its order, one ``key: value``
    a line. Read with a handful of calls that stay in C; None for anything else."""
    parts = data.replace(b": ", b"\n").split(b"\n")
    # ["---", key, value, key, value, ..., ""]: a value holding ": " shifts the keys.
    if parts[1:-1:2] != spec.wire_keys or parts[0] != b"---" or parts[-1]:
        return None
    values = parts[2:-1:2]
    result: dict[str, Any] = dict(zip(spec.keys, values, strict=True))
    try:
        result.update(zip(spec.int_keys, map(int, spec.ints(values)), strict=True))
        for key, i, convert in spec.others:
            result[key] = convert(values[i])
    except ValueError:
        return None  # the slow path says what is wrong
    return result


def _parse_other(lines: list[str], spec: _Shape) -> dict[str, Any]:
    """Keys missing, unknown (a newer server) or malformed: line by line."""
    result = _pairs_one_by_one(lines)
    if len(result) != len(lines):
        raise StatsParseError("a key is repeated")
    for key, raw in result.items():
        if key in spec.known:
            result[key] = spec.converters.get(key, int)(raw)
        else:
            result[key] = _inferred(raw)
    return result


def _pairs_one_by_one(lines: list[str]) -> dict[str, Any]:
    # The slow path, for a line without ": " (an empty value is "key:") or a bad one.
    result: dict[str, Any] = {}
    for line in lines:
        key, sep, raw = line.partition(": ")
        if not sep:
            key, sep, raw = line.partition(":")
        if not sep or not key or key != key.strip():
            raise StatsParseError(f"expected 'key: value', got {line[:40]!r}")
        result[key] = raw
    return result
