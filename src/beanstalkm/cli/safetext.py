"""Text that is safe to show on a terminal: control characters made visible.

Job bodies, tube names and server replies come from other people. Written to a
terminal as they are, an escape sequence in them can set the window title, clear the
screen, move the cursor or, on some terminals, answer back into the input. Everything
the command line prints for people goes through :func:`printable`; JSON output is
escaped by :mod:`.jsontext`; only ``--raw`` writes bytes as they are.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["UNSAFE", "printable"]

#: C0 controls except tab and newline, DEL, C1 controls, lone surrogates (unprintable
#: and unencodable), and the bidirectional overrides that reorder what a line shows.
UNSAFE: Final = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_UNSAFE_ONE_LINE: Final = re.compile(f"[\n\t{UNSAFE.pattern[1:-1]}]")

_NAMED: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str, one_line: bool = False) -> str:
    """``text`` with every control character written as an escape (``\\x1b``, ``\\u202e``).

    Newlines and tabs are kept, unless ``one_line`` (for error messages and table
    cells, which must stay on one line).
    """
    pattern = _UNSAFE_ONE_LINE if one_line else UNSAFE
    return pattern.sub(_escape, text)
