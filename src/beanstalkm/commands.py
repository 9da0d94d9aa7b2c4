"""The command table: beanstalkd's commands as data, with argument validation and encoding.

Everything here is pure: no sockets. :data:`COMMANDS` is built once, at import, from the
shipped ``api.json``; each :class:`Command` turns Python arguments into the exact bytes
of one request, or raises :class:`~beanstalkm.errors.InvalidArgument` before anything is
sent.
"""

from __future__ import annotations

import json
import operator
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from . import constants
from .errors import ERROR_CLASSES, UNIVERSAL_ERRORS, InvalidArgument

__all__ = [
    "COMMANDS",
    "REPLY_KINDS",
    "Command",
    "Param",
    "check_tube",
    "encode_body",
]

#: Reply kinds a success status can have, as named in ``api.json``.
REPLY_KINDS: Final = ("none", "int", "str", "job", "yaml")

_TUBE_RE: Final = re.compile(r"[A-Za-z0-9+/;.$_()][A-Za-z0-9\-+/;.$_()]*")
# Valid tube names seen before, mapped to their wire form: most programs use a
# handful of tubes, so the regular expression runs once per name.
_TUBE_CACHE: dict[str, bytes] = {}
_TUBE_CACHE_LIMIT: Final = 4096


def check_tube(value: object, name: str = "tube") -> bytes:
    """Return ``value`` as the bytes of a valid tube name, or raise InvalidArgument.

    Valid names are 1 to 200 bytes of ``A-Za-z0-9-+/;.$_()``, not starting with ``-``.
    """
    if isinstance(value, str):
        cached = _TUBE_CACHE.get(value)
        if cached is not None:
            return cached
        text = value
    elif isinstance(value, (bytes, bytearray)):
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidArgument(f"{name} must be ASCII, got {value!r}") from None
    else:
        raise InvalidArgument(f"{name} must be a str, got {type(value).__name__}")
    if not text:
        raise InvalidArgument(f"{name} must not be empty")
    if len(text) > constants.MAX_TUBE_NAME_BYTES:
        raise InvalidArgument(
            f"{name} must be at most {constants.MAX_TUBE_NAME_BYTES} bytes, got {len(text)}"
        )
    if _TUBE_RE.fullmatch(text) is None:
        raise InvalidArgument(
            f"{name} {text!r} is not a valid tube name: use 1-200 of A-Z a-z 0-9 - + / ; . $ _ ( ),"
            " not starting with '-'"
        )
    wire = text.encode("ascii")
    if len(_TUBE_CACHE) < _TUBE_CACHE_LIMIT:
        _TUBE_CACHE[text] = wire
    return wire


def _integer_check(name: str, low: int, high: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if type(value) is int and low <= value <= high:
            return value
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise InvalidArgument(f"{name} must be an int in {low}..{high}, got {value!r}")
        number = operator.index(value)
        if not low <= number <= high:
            raise InvalidArgument(f"{name} must be in {low}..{high}, got {number}")
        return number

    return check


def encode_body(value: object, name: str = "body") -> bytes | bytearray | memoryview:
    """Return a job body in a form that can be sent: bytes as they are, str as UTF-8."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytearray):
        return value
    if isinstance(value, memoryview):
        try:
            if value.c_contiguous:
                return value.cast("B") if value.format != "B" or value.ndim != 1 else value
            return value.tobytes()
        except ValueError as exc:  # a released view
            raise InvalidArgument(f"{name}: {exc}") from None
    raise InvalidArgument(f"{name} must be bytes or str, got {type(value).__name__}")


def _check_body(value: object) -> bytes | bytearray | memoryview:
    return encode_body(value)


def _tube_check(name: str) -> Callable[[object], bytes]:
    return lambda value: check_tube(value, name)


_INT_RANGES: Final = {
    "u32": (0, constants.MAX_U32),
    "id": (1, constants.MAX_U64),
    "timeout": (0, constants.MAX_RESERVE_TIMEOUT),
}


def _range_check(kind: str) -> Callable[[str], Callable[[object], int]]:
    low, high = _INT_RANGES[kind]
    return lambda name: _integer_check(name, low, high)


_CHECK_FACTORIES: Final[Mapping[str, Callable[[str], Callable[[object], Any]]]] = {
    **{kind: _range_check(kind) for kind in _INT_RANGES},
    "tube": _tube_check,
    "body": lambda name: _check_body,
}
# How each kind of checked value is written into the request line.
_FORMATS: Final = {"u32": b"%d", "id": b"%d", "timeout": b"%d", "tube": b"%b"}

_REQUIRED: Final = object()


class Param:
    """One argument of a command: its name, kind (u32, id, timeout, tube, body) and default."""

    __slots__ = ("default", "kind", "name")

    def __init__(self, name: str, kind: str, default: object = _REQUIRED) -> None:
        self.name = name
        self.kind = kind
        self.default = default

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def __repr__(self) -> str:
        return f"Param({self.name!r}, {self.kind!r})"


class Command:
    """One beanstalkd command: wire format, statuses and reply kinds, from ``api.json``."""

    __slots__ = (
        "_line_format",
        "blocking",
        "doc",
        "errors",
        "name",
        "ok",
        "pack",
        "params",
        "reserves",
        "session",
        "special",
        "subject",
        "used",
        "wire",
        "yaml",
    )

    def __init__(self, name: str, spec: Mapping[str, Any]) -> None:
        #: The method name, e.g. ``"reserve_with_timeout"``.
        self.name: str = name
        #: The command word on the wire, e.g. ``"reserve-with-timeout"``.
        self.wire: str = spec["wire"]
        self.params: tuple[Param, ...] = tuple(_param(p) for p in spec["params"])
        #: Success status (bytes) -> reply kind.
        self.ok: dict[bytes, str] = {s.encode(): k for s, k in spec["ok"].items()}
        #: Error statuses (bytes) this command can get, universal ones included.
        self.errors: frozenset[bytes] = frozenset(
            s.encode() for s in (*spec["errors"], *UNIVERSAL_ERRORS)
        )
        #: How the YAML reply is typed: ``"server"``, ``"tube"``, ``"job"`` or ``"list"``.
        self.yaml: str | None = spec.get("yaml")
        #: ``"use"``, ``"watch"`` or ``"ignore"``: the command changes the session's tubes.
        self.session: str | None = spec.get("session")
        #: The command acts on the used tube (put, kick, peek-ready ...): the
        #: connection must be using the right tube when it runs.
        self.used: bool = bool(spec.get("used", False))
        #: The server may hold the reply back while it waits for a job.
        self.blocking: bool = bool(spec.get("blocking", False))
        #: A success reply means this connection now holds the job.
        self.reserves: bool = b"RESERVED" in self.ok
        #: The session must look at this command when it is sent (it acts on or
        #: changes the used tube, or waits): the others go straight through.
        self.special: bool = self.used or self.session == "use" or self.blocking
        self.doc: str = spec.get("doc", "")
        #: Where the job or tube the command is about is among its arguments, and
        #: what it is: for error messages (``"job 42"``).
        self.subject: tuple[int, str] | None = next(
            (
                (i, "job" if p.kind == "id" else "tube")
                for i, p in enumerate(self.params)
                if p.kind in ("id", "tube")
            ),
            None,
        )
        self._validate_spec()

        parts = [self.wire.encode()]
        parts += [_FORMATS[p.kind] for p in self.params if p.kind != "body"]
        if any(p.kind == "body" for p in self.params):
            # The body's length ends the line; the body follows it.
            parts.append(b"%d\r\n%b")
        self._line_format: bytes = b" ".join(parts) + b"\r\n"
        #: ``pack(*args)``: :meth:`encode` for callers whose argument count is right by
        #: construction (the generated methods), one call cheaper.
        self.pack: Callable[..., bytes] = _compile_encoder(self)

    def _validate_spec(self) -> None:
        for status, kind in self.ok.items():
            if kind not in REPLY_KINDS:
                raise ValueError(f"api.json: {self.name}: unknown reply kind {kind!r}")
            if kind == "yaml" and self.yaml is None:
                raise ValueError(f"api.json: {self.name}: yaml reply without 'yaml' typing")
            if status in self.errors:
                raise ValueError(f"api.json: {self.name}: {status!r} is both ok and error")
        for status in self.errors:
            if status.decode() not in ERROR_CLASSES:
                raise ValueError(f"api.json: {self.name}: no exception for {status!r}")
        if sum(p.kind == "body" for p in self.params) > 1:
            raise ValueError(f"api.json: {self.name}: more than one body")

    def encode(self, args: Sequence[object]) -> bytes:
        """Validate ``args`` (in :attr:`params` order) and return the request bytes."""
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}() takes {len(self.params)} arguments, got {len(args)}")
        return self.pack(*args)

    def __repr__(self) -> str:
        return f"<Command {self.wire}>"


def _compile_encoder(command: Command) -> Callable[..., bytes]:
    """Make ``command``'s encoder: its checks and format inlined in one function.

    Built from source once per command at import, so that encoding a request is one
    call and one ``%`` format; the common case of a plain in-range int is checked
    inline, anything else goes to the full check with its error message.
    """
    namespace: dict[str, Any] = {"_format": command._line_format}
    line: list[str] = []
    body = ""
    for i, param in enumerate(command.params):
        arg = f"a{i}"
        check = f"_check{i}"
        namespace[check] = _CHECK_FACTORIES[param.kind](param.name)
        if param.kind == "body":
            body = f"b = {arg} if type({arg}) is bytes else {check}({arg})"
        elif param.kind in _INT_RANGES:
            low, high = _INT_RANGES[param.kind]
            line.append(
                f"({arg} if type({arg}) is int and {low} <= {arg} <= {high} else {check}({arg}))"
            )
        else:
            line.append(f"{check}({arg})")
    if body:
        line += ["(len(b) if type(b) is not memoryview else b.nbytes)", "b"]
    params = ", ".join(f"a{i}" for i in range(len(command.params)))
    source = f"def encode({params}):\n"
    if body:
        source += f"    {body}\n"
    source += f"    return _format % ({''.join(item + ', ' for item in line)})\n"
    exec(source, namespace)
    encode: Callable[..., bytes] = namespace["encode"]
    return encode


def _param(spec: Sequence[Any]) -> Param:
    name, kind, *default = spec
    if kind not in _CHECK_FACTORIES:
        raise ValueError(f"api.json: parameter {name!r} has unknown kind {kind!r}")
    if not default:
        return Param(name, kind)
    value = default[0]
    if isinstance(value, str):
        value = getattr(constants, value)
    return Param(name, kind, value)


def package_text(name: str) -> str:
    """The text of a file shipped in the package (``api.json``, ``message.json``)."""
    try:
        with open(os.path.join(os.path.dirname(__file__), name), encoding="utf-8") as file:
            return file.read()
    except OSError:
        # Not a directory on disk (a zip archive, say): ask the package's loader.
        from importlib import resources

        return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def load_commands(text: str) -> dict[str, Command]:
    """Build the command table from the text of an ``api.json``."""
    table = json.loads(text)
    return {name: Command(name, spec) for name, spec in table.items() if not name.startswith("$")}


#: Every command, by method name, from the shipped ``api.json``.
COMMANDS: Final[Mapping[str, Command]] = load_commands(package_text("api.json"))
