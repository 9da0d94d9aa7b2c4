"""Tube patterns: ``emails.*`` names every tube that matches, as a shell glob.

Tube names cannot contain ``*``, ``?`` or ``[``, so a name with one of them is always
a pattern and never a tube. Patterns match the tubes that exist now (``list-tubes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from fnmatch import fnmatchcase
from typing import Final

from .base import CliClient, Empty

__all__ = ["PATTERN_HELP", "expand", "is_pattern", "match"]

PATTERN_HELP: Final = "a tube name or a pattern such as 'emails.*' (quote it for the shell)"


def is_pattern(name: str) -> bool:
    """Whether ``name`` is a glob pattern rather than a tube name."""
    return any(c in name for c in "*?[")


def expand(client: CliClient, names: Sequence[str]) -> list[str]:
    """The tubes that ``names`` stand for: names as they are, patterns matched against
    the server's tubes (in the server's order), each tube once.

    Raises :class:`Empty` when a pattern matches no tube.
    """
    existing: list[str] = []
    if any(is_pattern(name) for name in names):
        existing = client.queue.list_tubes()
    return match(names, existing)


def match(names: Sequence[str], existing: Sequence[str]) -> list[str]:
    """The tubes that ``names`` stand for among ``existing`` (see :func:`expand`)."""
    tubes: list[str] = []
    for name in names:
        if not is_pattern(name):
            matched = [name]
        else:
            matched = [tube for tube in existing if fnmatchcase(tube, name)]
            if not matched:
                raise Empty(f"no tube matches {name!r}")
        tubes.extend(tube for tube in matched if tube not in tubes)
    return tubes
