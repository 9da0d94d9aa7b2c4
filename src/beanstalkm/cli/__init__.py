"""The ``beanstalkm`` command line.

Every subcommand connects to ``--host``/``--port``, ``--url``, ``$BEANSTALKD_URL``
or 127.0.0.1:11300, in that order; ``--url`` (or ``$BEANSTALKD_URL``) naming several
servers, separated by commas, makes a pool of them (for the subcommands that take
one). Output is a table on a terminal and JSON lines otherwise (``--json``/``--table``
choose). Errors print one line on stderr; exit codes: 0 done, 1 error, 2 bad usage, 3
nothing there (no job came, no such job or tube), 130 interrupted. Each subcommand
lives in a module of :mod:`.commands`. See ``docs/cli.md``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit
    code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        # Straight to the embedded server, importing nothing of the command line: it
        # listens as soon as it can (docs/server.md, start-up).
        from ..server import main as serve

        return serve(args_list[1:])
    from .app import main as run

    return run(args_list)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the command line and every subcommand."""
    from .app import build_parser as build

    return build()
