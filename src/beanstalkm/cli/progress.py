"""A progress line on stderr, redrawn in place, for long commands run from a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO, Final

from .safetext import printable

__all__ = ["Progress", "count"]

_ERASE_LINE: Final = "\r\x1b[K"


def count(n: int) -> str:
    """``12345`` -> ``12,345``."""
    return f"{n:,}"


class Progress:
    """One line on a terminal, redrawn at most every ``every`` seconds, from ``after``
    seconds on (work done sooner shows no progress at all).

    Does nothing when ``enabled`` is false (stderr is not a terminal), so callers need
    no conditions. Use as a context manager: the line is erased at the end, leaving
    the terminal as it was for the summary that follows.
    """

    def __init__(
        self,
        enabled: bool,
        stream: IO[str] | None = None,
        every: float = 0.1,
        after: float = 0.3,
    ) -> None:
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.started = time.monotonic()
        self._last = self.started + after - every
        self._shown = False

    def rate(self, done: int) -> float:
        """Items per second since the start."""
        elapsed = time.monotonic() - self.started
        return done / elapsed if elapsed > 0 else 0.0

    def show(self, text: str, force: bool = False) -> None:
        """Draw ``text`` (if the last drawing is old enough, or ``force``)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        self.stream.write(_ERASE_LINE + printable(text, one_line=True))
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Erase the line."""
        if self._shown:
            self.stream.write(_ERASE_LINE)
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()
