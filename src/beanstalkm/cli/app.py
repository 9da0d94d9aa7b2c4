"""The command line's parser and what runs a subcommand: the address, the output, the
errors and exit codes (:func:`main`; ``beanstalkm serve`` never comes here, see
:mod:`beanstalkm.cli`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from ..constants import __version__
from ..errors import (
    BeanstalkmException,
    CannotConnect,
    CommandFailed,
    InvalidArgument,
    NotFound,
    SocketError,
)
from .base import (
    EXIT_EMPTY,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    PROG,
    Context,
    Failure,
    resolve_addresses,
)
from .options import (
    JSON,
    OUTPUT_FLAGS,
    PLAIN,
    TABLE,
    Command,
    add_output_options,
    add_server_options,
    refuse_pool,
)
from .output import Output
from .safetext import printable

__all__ = ["build_parser", "main"]

_EPILOG: Final = """\
server address: --host/--port, --url, else $BEANSTALKD_URL (beanstalk://host:port),
else 127.0.0.1:11300. Several URLs separated by commas make a pool of servers.
output: tables on a terminal, JSON lines when piped (--json / --table to choose).
exit codes: 0 ok, 1 error, 2 bad usage, 3 nothing there, 130 interrupted.
"""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command line."""
    from .commands import MODULES

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Work with a beanstalkd server from the shell.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_server_options(parser)
    add_output_options(parser, {"json": JSON, "table": TABLE, "plain": PLAIN})
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in MODULES:
        module.add_parser(subparsers)
    return parser


def _message(exc: BaseException, ctx: Context | None) -> str:
    text = str(exc)
    if isinstance(exc, CannotConnect):
        text += " (is beanstalkd running there? see --host/--port or BEANSTALKD_URL)"
    return text


def _misplaced_output(args: argparse.Namespace) -> str | None:
    """An output option given before a subcommand that has no use for it."""
    accepted: frozenset[str] = getattr(args, "output_flags", frozenset(OUTPUT_FLAGS))
    for flag in OUTPUT_FLAGS:
        if getattr(args, flag, False) and flag not in accepted:
            return flag
    return None


def main(args_list: list[str]) -> int:
    """Run the command line with ``args_list``; return the exit code."""
    from .commands.serve import SERVE, misplaced, refuse_misplaced

    where = misplaced(args_list)
    if where is not None:
        _error(SERVE, str(refuse_misplaced(args_list, where)))
        return EXIT_USAGE
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    command: str = args.command
    flag = _misplaced_output(args)
    if flag is not None:
        _error(command, f"--{flag} does not apply to {command}")
        return EXIT_USAGE
    ctx: Context | None = None
    try:
        servers = resolve_addresses(args)
        out = Output.choose(
            getattr(args, "json", False),
            getattr(args, "table", False),
            getattr(args, "plain", False),
        )
        ctx = Context(*servers[0], out, command, servers)
        refuse_pool(args, ctx.addresses)
        func: Command = args.func
        return func(ctx, args)
    except Failure as exc:
        _error(command, str(exc), exc.detail)
        return exc.code
    except InvalidArgument as exc:
        _error(command, str(exc))
        return EXIT_USAGE
    except NotFound as exc:
        _error(command, str(exc))
        return EXIT_EMPTY
    except (SocketError, CommandFailed, BeanstalkmException) as exc:
        _error(command, _message(exc, ctx))
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED if command != "consume" else 0
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


def _error(command: str, text: str, detail: str | None = None) -> None:
    """One line on stderr (control characters escaped), then ``detail`` if any."""
    print(f"{PROG} {command}: {printable(text, one_line=True)}", file=sys.stderr)
    if detail:
        print(printable(detail), file=sys.stderr)
    sys.stderr.flush()
