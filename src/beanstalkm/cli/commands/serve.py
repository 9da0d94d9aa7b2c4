"""``beanstalkm serve``: the embedded beanstalkd-compatible server, with beanstalkd's flags.

``main`` hands everything after ``serve`` to :func:`beanstalkm.server.main` untouched
when ``serve`` comes first, so that ``-p``, ``-l``, ``-z``, ``-V`` and ``-h`` mean
what they mean to beanstalkd; the parser only lists it for ``--help``.
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from typing import Final

from ..base import EXIT_USAGE, Context, Failure
from ..options import Subparsers

__all__ = ["SERVE", "add_parser", "misplaced", "refuse_misplaced"]

SERVE: Final = "serve"
# Options of the command line as a whole that may come before a subcommand.
_VALUED: Final = ("--host", "--port", "--url")
_FLAGS: Final = ("--json", "--table", "--plain")


def add_parser(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        SERVE,
        help="run the embedded beanstalkd-compatible server (first, with beanstalkd's flags)",
        add_help=False,
    )
    p.add_argument("flags", nargs=argparse.REMAINDER)
    p.set_defaults(func=_not_first, output_flags=frozenset())


def misplaced(argv: Sequence[str]) -> int | None:
    """Where ``serve`` is when it comes after options of the command line, else None."""
    index = 0
    while index < len(argv):
        token = argv[index]
        if token == SERVE:
            return index if index else None
        if token in _VALUED:
            index += 2
            continue
        if token in _FLAGS or token.startswith(tuple(f"{o}=" for o in _VALUED)):
            index += 1
            continue
        return None
    return None


def refuse_misplaced(argv: Sequence[str], index: int) -> Failure:
    """The error for options given before ``serve``."""
    before = " ".join(argv[:index])
    command = shlex.join(["beanstalkm", SERVE, *argv[index + 1 :]])
    return Failure(
        f"serve takes beanstalkd's flags and must come first ({before} does not apply "
        f"to it): {command}",
        EXIT_USAGE,
    )


def _not_first(ctx: Context, args: argparse.Namespace) -> int:
    raise Failure(
        "serve takes beanstalkd's flags and must come first: beanstalkm serve -p PORT", EXIT_USAGE
    )
