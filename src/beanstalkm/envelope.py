"""The JSON message envelope: building it, reading it back, and validating it.

:meth:`Client.put` wraps the producer's body in an envelope (see ``message.json``,
shipped beside this module and loaded at import)::

    {"@context": "message", "body": ..., "created": {"$data": <ms>},
     "sender": {"host": ..., "pid": ..., "time": ..., "version": ...},
     "subscribe": "", "token": "<md5 hex>", "errors": []}

Reading is forgiving: a job that is not an envelope (put by another client) is
delivered as it is. Validation (by a checker compiled from ``message.json`` once, see
:mod:`beanstalkm.schema`) never changes what the body is; it only records whether the
envelope matches the schema. Everything here is pure.
"""

from __future__ import annotations

import importlib
import json
import math
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from .commands import package_text
from .schema import compile_schema

__all__ = [
    "CONTEXT",
    "SCHEMA",
    "Decoded",
    "Sender",
    "canonical_encoder",
    "decode",
    "dumps",
    "encode_envelope",
    "json_default",
    "token",
    "validation_error",
]

#: The ``@context`` that marks a JSON object as an envelope.
CONTEXT: Final = "message"

#: The envelope's JSON Schema, from the shipped ``message.json``.
SCHEMA: Final[dict[str, Any]] = json.loads(package_text("message.json"))

# Compact, and ASCII like the body's canonical form, so any str (a lone surrogate
# included) encodes; no NaN, which is not JSON.
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode


def _unserializable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def canonical_encoder(default: Callable[[Any], Any] | None = None) -> Callable[[Any], str]:
    """The function writing a value as canonical JSON: sorted keys, compact, ASCII.

    The token hashes this form, fixed by beanstalkm 1.0.0. ``default`` turns what
    JSON has no type for into what it has (see :func:`json_default`); without it such
    values raise TypeError. NaN and the infinities raise ValueError: they are not JSON,
    and no reader (beanstalkm's included) would take the job back.
    """
    default = _unserializable if default is None else default
    make = getattr(json.encoder, "c_make_encoder", None)
    encode: Callable[[Any], str]
    if make is None:  # a Python without the C accelerator
        encode = json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), allow_nan=False, default=default
        ).encode
    else:
        # The C encoder called directly is about three times faster than
        # JSONEncoder.encode, which builds a new one on every call.
        iterencode = make(
            None, default, json.encoder.encode_basestring_ascii, None, ":", ",", True, False, False
        )

        def encode(value: Any) -> str:
            return "".join(iterencode(value, 0))

    def canonical(value: Any) -> str:
        try:
            return encode(value)
        except RecursionError:
            raise ValueError("Circular reference detected") from None
        except ValueError as exc:
            if "Out of range float" in str(exc):
                raise ValueError(
                    "the value holds NaN or an infinity, which JSON cannot carry"
                ) from None
            raise

    return canonical


def json_default(value: Any) -> Any:
    """A ``json_default`` for the clients: dates and times as ISO 8601 text, UUIDs and
    decimals as text, enums as their value, sets as lists. Anything else: TypeError.

    ``Client(json_default=beanstalkm.json_default)`` then puts such bodies as they
    are; they come back as the JSON they were written as (text, lists).
    """
    # Imported here: only bodies with such values pay for the modules.
    import datetime
    import decimal
    import enum
    import uuid

    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:
            return list(value)
    return _unserializable(value)


_encode_for_token = canonical_encoder()


def dumps(envelope: dict[str, Any]) -> bytes:
    """Encode an envelope as a job body (raises TypeError for what JSON cannot hold)."""
    return _encode(envelope).encode("utf-8")


def token(body: Any, canonical: Callable[[Any], str] = _encode_for_token) -> str:
    """The envelope token of a body: MD5 hex of ``{"body": body}`` in canonical JSON."""
    return _token_of(canonical(body))


def _token_of(body_json: str) -> str:
    digest: str = _md5(('{"body":' + body_json + "}").encode("utf-8")).hexdigest()
    return digest


_quote = json.encoder.encode_basestring_ascii


def _openssl_md5(data: bytes) -> Any:
    import hashlib  # only here: importing OpenSSL's hashes costs a few milliseconds

    # The token is a checksum, not security: allowed in FIPS mode too.
    return hashlib.md5(data, usedforsecurity=False)


_md5: Callable[[bytes], Any]
try:
    # The interpreter's own MD5 costs about half of OpenSSL's for a short text.
    _md5 = importlib.import_module("_md5").md5
except ImportError:  # a Python built without it
    _md5 = _openssl_md5


class Sender(dict[str, Any]):
    """A client's ``sender``: a dict that keeps its own JSON until it is changed.

    Every message of a client carries the same sender, so its JSON is made once.
    """

    __slots__ = ("_json",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._json: str | None = None

    def json(self) -> str:
        text = self._json
        if text is None:
            text = self._json = _encode(self)
        return text

    def __setitem__(self, key: str, value: Any) -> None:
        self._json = None
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self._json = None
        super().__delitem__(key)

    def __ior__(self, other: Any) -> Sender:  # type: ignore[override,misc]
        self._json = None
        return super().__ior__(other)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self._json = None
        super().update(*args, **kwargs)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self._json = None
        return super().setdefault(key, default)

    def pop(self, key: str, *default: Any) -> Any:
        self._json = None
        return super().pop(key, *default)

    def popitem(self) -> tuple[str, Any]:
        self._json = None
        return super().popitem()

    def clear(self) -> None:
        self._json = None
        super().clear()


def _sender_json(sender: dict[str, Any]) -> str:
    return sender.json() if type(sender) is Sender else _encode(sender)


def _text(value: Any) -> str:
    return _quote(value) if type(value) is str else _encode(value)


def encode_envelope(
    body: Any,
    created: int,
    sender: dict[str, Any],
    subscribe: str | None = None,
    channel: str | None = None,
    errors: list[str] | None = None,
    canonical: Callable[[Any], str] = _encode_for_token,
) -> tuple[bytes, str]:
    """Build an envelope's JSON bytes directly, and return them with its token.

    Equivalent to ``dumps`` of the envelope dict, but the body is serialized once
    (the token hashes the same canonical JSON that goes into the envelope) and the
    sender's JSON is reused across messages. ``canonical`` writes the body (see
    :func:`canonical_encoder`). Raises TypeError for a body JSON cannot hold, and
    ValueError for NaN or an infinity in it.
    """
    body_json = canonical(body)
    digest = _token_of(body_json)
    extra = "" if channel is None else ',"channel":' + _text(channel)
    text = (
        f'{{"@context":"message","body":{body_json},"created":{{"$data":{int(created)}}},'
        f'"sender":{_sender_json(sender)},"subscribe":{_text(subscribe or "")}{extra},'
        f'"token":"{digest}","errors":{_encode(errors) if errors else "[]"}}}'
    )
    return text.encode("utf-8"), digest


def created_ms(value: Any) -> dict[str, int] | None:
    """Normalize ``created`` to ``{"$data": ms}``; older writers sent seconds. None for
    what is not a time (a string, NaN, ``1e400``...): never an exception."""
    if isinstance(value, dict):
        data = value.get("$data")
        if type(data) is float and math.isfinite(data):
            data = int(data)
    elif type(value) is int or (type(value) is float and math.isfinite(value)):
        data = round(value * 1000)
    else:
        return None
    # Past what a 64-bit count of milliseconds holds, it is no time of this world.
    if type(data) is int and -_MAX_MS <= data <= _MAX_MS:
        return {"$data": data}
    return None


_MAX_MS: Final = 2**63 - 1


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


# Python's json reads NaN and Infinity, which are not JSON: a job saying "NaN" is text.
_decode_json = json.JSONDecoder(parse_constant=_not_json).decode


class Decoded(NamedTuple):
    """A job body read back: the producer's body, and the envelope around it if any."""

    body: Any
    #: The envelope (a dict) when the job is one, else None.
    envelope: dict[str, Any] | None


def decode(raw: bytes) -> Decoded:
    """Read a job body: an envelope, else JSON, else text, else the bytes themselves."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Decoded(raw, None)
    try:
        value = _decode_json(text)
    except (ValueError, RecursionError):
        return Decoded(text, None)
    if isinstance(value, dict) and value.get("@context") == CONTEXT and "body" in value:
        return Decoded(value["body"], value)
    return Decoded(value, None)


_check: Final = compile_schema(SCHEMA)


def validation_error(envelope: dict[str, Any]) -> str | None:
    """Check an envelope against ``message.json``: None when it is valid, else a
    readable reason (``"token: 'xyz' does not match ..."``)."""
    return _check(envelope)
