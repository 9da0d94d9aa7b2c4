"""JSON in and out for the command line: never invalid, never raw control characters.

Reading keeps what Python's ``json`` would lose or turn into non-JSON: a number too big
for a float (``1e400`` would become ``inf`` and be written back as ``Infinity``) or
too long for an int is kept as its text, a :class:`Number`. ``NaN`` and ``Infinity``
are refused, as they are not JSON.

Writing produces strict JSON: strings escape every control character, C1 controls
(U+0080-U+009F) and lone surrogates included, so a JSON line is safe on a terminal
too; non-ASCII text is kept as it is.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
import threading
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["MAX_DEPTH", "Number", "depth", "dumps", "loads"]

#: Bodies nested deeper than this are shown as text: writing them back would need
#: more recursion than is safe.
MAX_DEPTH: Final = 200

# Longer integer literals are kept as text: int() refuses them (Python 3.11+'s
# limit on integer string conversion is 4300 digits).
_MAX_INT_DIGITS: Final = 4000


class Number:
    """A JSON number kept as the text it was written with (too big for a float or an
    int); written back unchanged."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Number({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Number) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _float(text: str) -> float | Number:
    value = float(text)
    if not math.isfinite(value):
        return Number(text)
    if value == 0.0 and any(c in "123456789" for c in text.partition("e")[0].lower()):
        return Number(text)  # underflowed to 0: keep what was written
    return value


def _int(text: str) -> int | Number:
    return int(text) if len(text) <= _MAX_INT_DIGITS else Number(text)


_decode: Final = json.JSONDecoder(
    parse_constant=_refuse_constant, parse_float=_float, parse_int=_int
).decode


def loads(text: str) -> Any:
    """Parse strict JSON, keeping out-of-range numbers as :class:`Number`.

    Raises ValueError for text that is not JSON (``NaN`` included) and
    RecursionError for absurdly deep nesting.
    """
    return _decode(text)


def depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (0 for a scalar)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, Mapping):
            children: Any = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        stack.extend((child, level) for child in children)
    return deepest


# What json's own escaping leaves raw: DEL, C1 controls, lone surrogates, and the two
# line separators that JavaScript treats as line ends.
_STILL_UNSAFE: Final = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_basestring: Final = json.encoder.encode_basestring


def _string(text: str) -> str:
    return _STILL_UNSAFE.sub(_escape, _basestring(text))


def _scalar(value: Any) -> str | None:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, Number):
        return value.text
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        # Nothing read by loads() is infinite; a computed value that is has no JSON form.
        return float.__repr__(value) if math.isfinite(value) else "null"
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _string(base64.b64encode(value).decode("ascii"))
    return None


# Stands for a Number in the stdlib encoder's output until its text replaces it. It
# is random so that no string in the data can be mistaken for it.
_PLACEHOLDER: Final = "number-" + secrets.token_hex(16) + "-"


class _Encoder(json.JSONEncoder):
    """The stdlib's C encoder, with Numbers written as placeholders to replace."""

    def __init__(self, indent: int | None) -> None:
        super().__init__(
            ensure_ascii=False,
            allow_nan=False,
            indent=indent,
            separators=(",", ":") if indent is None else (",", ": "),
        )
        self.numbers: list[str] = []

    def default(self, o: Any) -> Any:
        if isinstance(o, Number):
            self.numbers.append(o.text)
            return f"{_PLACEHOLDER}{len(self.numbers) - 1}"
        scalar = _scalar(o)
        return json.loads(scalar) if scalar is not None else repr(o)


_encoders: Final = threading.local()


def _encoder(indent: int | None) -> _Encoder:
    # Made once per thread: building a JSONEncoder costs more than a small record.
    encoder: _Encoder | None = getattr(_encoders, str(indent), None)
    if encoder is None:
        encoder = _Encoder(indent)
        setattr(_encoders, str(indent), encoder)
    encoder.numbers.clear()
    return encoder


def dumps(value: Any, indent: int | None = None) -> str:
    """Write ``value`` as strict JSON: one compact line, or indented by ``indent``.

    Bytes are written in base64; other objects JSON has no form for as their repr.
    """
    encoder = _encoder(indent)
    try:
        # The C encoder, when it can: about ten times faster than _write.
        text = encoder.encode(value)
    except (ValueError, TypeError, RecursionError):
        # An infinite float, keys JSON cannot have: the careful way.
        parts: list[str] = []
        _write(value, parts, indent, 0)
        return "".join(parts)
    text = _STILL_UNSAFE.sub(_escape, text)
    for index, number in enumerate(encoder.numbers):
        text = text.replace(f'"{_PLACEHOLDER}{index}"', number, 1)
    return text


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _write(value: Any, parts: list[str], indent: int | None, level: int) -> None:
    scalar = _scalar(value)
    if scalar is not None:
        parts.append(scalar)
        return
    if isinstance(value, Mapping):
        items: list[tuple[str | None, Any]] = [
            (k if isinstance(k, str) else str(k), v) for k, v in value.items()
        ]
        opening, closing = "{", "}"
    elif isinstance(value, (list, tuple)):
        items = [(None, v) for v in value]
        opening, closing = "[", "]"
    else:
        parts.append(_string(repr(value)))
        return
    if not items:
        parts.append(opening + closing)
        return
    if indent is None:
        inner = outer = ""
        separator, colon = ",", ":"
    else:
        inner = "\n" + " " * (indent * (level + 1))
        outer = "\n" + " " * (indent * level)
        separator, colon = ",", ": "
    parts.append(opening)
    for index, (key, item) in enumerate(items):
        if index:
            parts.append(separator)
        parts.append(inner)
        if key is not None:
            parts.append(_string(key))
            parts.append(colon)
        _write(item, parts, indent, level + 1)
    parts.append(outer + closing)
