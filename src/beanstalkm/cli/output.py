"""How the command line prints: tables for people, JSON lines for programs.

A terminal gets tables (drawn by ``rich`` when it is installed, plain text otherwise);
a pipe or a file gets one JSON object per line. ``--json`` and ``--table`` choose
explicitly. Nothing here talks to a server.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import IO, Any, Literal

from ..connection import Message
from . import jsontext
from .safetext import printable

__all__ = [
    "Output",
    "RawMessage",
    "dumps",
    "format_duration",
    "have_rich",
    "plain_table",
    "rich_table",
]

Mode = Literal["json", "table"]


def have_rich() -> bool:
    """Whether the optional ``rich`` package can be imported."""
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


class RawMessage(Message):
    """A Message that also keeps the job body exactly as the server sent it.

    The command line reads bodies itself (:mod:`.records`) from these bytes, and
    ``--raw`` prints them unchanged.
    """

    __slots__ = ("raw",)

    raw: bytes

    @classmethod
    def from_job(
        cls, connection: Any, uid: int, raw: bytes, reserved: bool, generation: int | None = None
    ) -> Any:
        message = super().from_job(connection, uid, raw, reserved, generation)
        message.raw = bytes(raw)
        return message


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1h2m5s``: short, for tables."""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in parts if n] or ["0s"]
    return "".join(shown[:2])


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if value is None:
        return "-"
    return printable(str(value), one_line=True)


def _numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plain_table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> str:
    """A plain-text table: columns padded, numbers right-aligned, no colors."""
    rows = [list(row) for row in rows]
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    # A column is right-aligned when everything in it is a number.
    right = [
        bool(rows) and all(_numeric(row[i]) or row[i] is None for row in rows)
        for i in range(len(headers))
    ]

    def line(texts: Sequence[str]) -> str:
        out = [t.rjust(widths[i]) if right[i] else t.ljust(widths[i]) for i, t in enumerate(texts)]
        return "  ".join(out).rstrip()

    lines = [printable(title, one_line=True)] if title else []
    lines.append(line([h.upper() if h.islower() else h for h in headers]))
    lines.extend(line(row) for row in cells)
    return "\n".join(lines)


def dumps(record: Any) -> str:
    """One compact line of strict JSON, safe on a terminal (see :mod:`.jsontext`)."""
    return jsontext.dumps(record)


class Output:
    """Where and how a command prints.

    :param mode: ``"json"`` for JSON lines, ``"table"`` for people.
    :param fancy: draw tables with ``rich`` (only for a terminal, only if installed).
    """

    def __init__(self, mode: Mode, fancy: bool = False, stream: IO[str] | None = None) -> None:
        self.mode: Mode = mode
        self.stream = stream if stream is not None else sys.stdout
        self.fancy = fancy and have_rich()

    @classmethod
    def choose(
        cls, json_flag: bool, table_flag: bool, plain: bool, stream: IO[str] | None = None
    ) -> Output:
        """The usual conventions: tables on a terminal, JSON lines otherwise, unless
        a flag says which."""
        out = stream if stream is not None else sys.stdout
        tty = _isatty(out)
        mode: Mode = "json" if json_flag else "table" if table_flag else "table" if tty else "json"
        return cls(mode, fancy=tty and not plain, stream=out)

    @property
    def json(self) -> bool:
        return self.mode == "json"

    def write(self, text: str, flush: bool = True) -> None:
        """Print a line of text, control characters escaped (tabs and newlines kept)."""
        self.stream.write(printable(text) + "\n")
        if flush:
            self.stream.flush()

    def record(self, record: Mapping[str, Any], flush: bool = True) -> None:
        """Print one JSON line."""
        self.stream.write(dumps(record) + "\n")
        if flush:
            self.stream.flush()

    def table(
        self, headers: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
    ) -> None:
        """Print a table (rich when available and on a terminal, else plain text)."""
        if self.fancy:
            self._rich_print(rich_table(headers, list(rows), title))
        else:
            self.write(plain_table(headers, rows, title))

    def mapping(self, values: Mapping[str, Any], title: str | None = None) -> None:
        """Print key/value pairs as a two-column table."""
        self.table(["key", "value"], list(values.items()), title)

    def _rich_print(self, renderable: Any) -> None:
        from rich.console import Console

        Console(file=self.stream).print(renderable)


def rich_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None) -> Any:
    """The same table as :func:`plain_table`, as a ``rich`` Table."""
    from rich.table import Table
    from rich.text import Text

    # Text, not str: rich would read "[...]" in a cell as markup.
    table = Table(
        title=Text(_cell(title)) if title else None,
        title_justify="left",
        box=None,
        header_style="bold",
    )
    for i, header in enumerate(headers):
        numeric = bool(rows) and all(_numeric(row[i]) or row[i] is None for row in rows)
        # Names are folded rather than cut short when the terminal is narrow.
        table.add_column(header.upper(), justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(Text(_cell(v)) for v in row))
    return table


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
