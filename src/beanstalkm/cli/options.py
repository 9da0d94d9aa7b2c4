"""Options the subcommands share, and how each subcommand joins the parser.

Every subcommand module has an ``add_parser(subparsers)`` that calls
:func:`add_command`; the output options (``--json``, ``--table``, ``--plain``) are
offered only by the subcommands on which they change something.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from ..constants import DEFAULT_PRIORITY, DEFAULT_TTR
from .base import EXIT_USAGE, Context, Failure

__all__ = [
    "JSON",
    "OUTPUT_FLAGS",
    "PLAIN",
    "TABLE",
    "Command",
    "Subparsers",
    "add_command",
    "add_job_options",
    "add_output_options",
    "add_server_options",
    "add_tube",
    "refuse_pool",
]

Command = Callable[[Context, argparse.Namespace], int]
Subparsers = Any  # argparse's _SubParsersAction, private in typeshed

#: The output options, in the order --help lists them.
OUTPUT_FLAGS: Final = ("json", "table", "plain")
JSON: Final = "print JSON lines (the default when the output is not a terminal)"
TABLE: Final = "print for people (tables and text), even when the output is not a terminal"
PLAIN: Final = "plain text, not drawn with rich, even on a terminal"


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """``--host``, ``--port``, ``--url``: accepted before or after the subcommand.

    Defaults are suppressed so that an option given before the subcommand is not
    overwritten by the subcommand's default; absent options are read with getattr.
    """
    group = parser.add_argument_group("server")
    default = argparse.SUPPRESS
    group.add_argument("--host", default=default, help="server host (default 127.0.0.1)")
    group.add_argument("--port", type=int, default=default, help="server port (default 11300)")
    group.add_argument(
        "--url",
        default=default,
        metavar="URL",
        help="server as beanstalk://host:port; several separated by commas make a pool",
    )


def refuse_pool(args: argparse.Namespace, addresses: Sequence[str]) -> None:
    """Refuse several servers to a subcommand that works on one (usage error)."""
    if len(addresses) > 1 and not getattr(args, "pool", True):
        raise Failure(
            f"{args.command} works on one server, and several are named "
            f"({', '.join(addresses)}): give it one with --url",
            EXIT_USAGE,
        )


def add_output_options(parser: argparse.ArgumentParser, helps: Mapping[str, str]) -> None:
    """The output options named in ``helps`` (flag -> help text), defaults suppressed."""
    group = parser.add_argument_group("output")
    for flag in OUTPUT_FLAGS:
        if flag in helps:
            group.add_argument(
                f"--{flag}", action="store_true", default=argparse.SUPPRESS, help=helps[flag]
            )


def add_command(
    subparsers: Subparsers,
    name: str,
    func: Command,
    help: str,
    description: str | None = None,
    examples: Sequence[str] = (),
    output: Mapping[str, str] | None = None,
    server: bool = True,
    pool: bool = False,
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` running ``func``.

    ``output`` maps the output options it takes to their help (default: ``--json``
    and ``--table``); ``server=False`` leaves out the server options. ``pool=True``
    says that it works on several servers; the others refuse them (see
    :func:`refuse_pool`), rather than quietly work on the first alone.
    """
    helps = {"json": JSON, "table": TABLE} if output is None else output
    epilog = None
    if examples:
        label = "examples:" if len(examples) > 1 else "example:"
        epilog = "\n".join([label, *(f"  {line}" for line in examples)])
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # A subcommand without the server options reads its addresses itself, if at all.
    parser.set_defaults(func=func, output_flags=frozenset(helps), pool=pool or not server)
    if server:
        add_server_options(parser)
    add_output_options(parser, helps)
    return parser


def add_tube(
    parser: argparse.ArgumentParser, help: str = "tube (default: default)", repeat: bool = False
) -> None:
    """``-t/--tube``: one tube (default ``default``), or a list when ``repeat``."""
    if repeat:
        parser.add_argument("-t", "--tube", action="append", metavar="TUBE", help=help)
    else:
        parser.add_argument("-t", "--tube", default="default", metavar="TUBE", help=help)


def add_job_options(parser: argparse.ArgumentParser) -> None:
    """``--priority``, ``--delay`` and ``--ttr`` of a new job."""
    parser.add_argument(
        "-p",
        "--priority",
        type=int,
        default=DEFAULT_PRIORITY,
        help=f"0 is most urgent (default {DEFAULT_PRIORITY})",
    )
    parser.add_argument(
        "-d", "--delay", type=int, default=0, help="seconds before it is ready (default 0)"
    )
    parser.add_argument(
        "--ttr",
        type=int,
        default=DEFAULT_TTR,
        help=f"seconds a worker has before the job is handed out again (default {DEFAULT_TTR})",
    )
