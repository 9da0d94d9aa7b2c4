"""The ``beanstalkm`` command line.

Every subcommand connects to ``--host``/``--port``, ``--url``, ``$BEANSTALKD_URL``
or 127.0.0.1:11300, in that order. Output is a table on a terminal and JSON lines
otherwise (``--json``/``--table`` choose). Errors print one line on stderr; exit
codes: 0 done, 1 error, 2 bad usage, 3 nothing there (no job came, no such job or
tube), 130 interrupted. See ``docs/cli.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Final

from ..constants import DEFAULT_PRIORITY, DEFAULT_TTR, __version__
from ..errors import (
    BeanstalkmException,
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
    Context,
    Failure,
    resolve_address,
)
from .output import Output

__all__ = ["build_parser", "main"]

PROG: Final = "beanstalkm"
Command = Callable[[Context, argparse.Namespace], int]

_EPILOG: Final = """\
server address: --host/--port, --url, else $BEANSTALKD_URL (beanstalk://host:port),
else 127.0.0.1:11300.
output: tables on a terminal, JSON lines when piped (--json / --table to choose).
exit codes: 0 ok, 1 error, 2 bad usage, 3 nothing there, 130 interrupted.
"""


def _common() -> argparse.ArgumentParser:
    """Options every subcommand takes (also accepted before the subcommand).

    Defaults are suppressed so that an option given before the subcommand is not
    overwritten by the subcommand's default; absent options are read with getattr.
    """
    default = argparse.SUPPRESS
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("server and output")
    group.add_argument("--host", default=default, help="server host (default 127.0.0.1)")
    group.add_argument("--port", type=int, default=default, help="server port (default 11300)")
    group.add_argument(
        "--url", default=default, metavar="URL", help="server as beanstalk://host:port"
    )
    group.add_argument("--json", action="store_true", default=default, help="print JSON lines")
    group.add_argument(
        "--table", action="store_true", default=default, help="print tables, even when piped"
    )
    group.add_argument(
        "--plain", action="store_true", default=default, help="plain text, even with rich"
    )
    return parser


def _tube(parser: argparse.ArgumentParser, help: str = "tube (default: default)") -> None:
    parser.add_argument("-t", "--tube", default="default", help=help)


def _job_options(parser: argparse.ArgumentParser) -> None:
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


def _reserve_options(parser: argparse.ArgumentParser, consume: bool) -> None:
    parser.add_argument(
        "-t",
        "--tube",
        action="append",
        metavar="TUBE",
        help="tube to reserve from (repeat for several; default: default)",
    )
    parser.add_argument(
        "-n",
        "--count",
        type=int,
        default=None if consume else 1,
        help="stop after this many jobs" + ("" if consume else " (default 1)"),
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help="wait at most this long for each job (default: for ever); 0: only jobs ready now",
    )
    settle = parser.add_mutually_exclusive_group()
    settle.add_argument(
        "--delete",
        action=argparse.BooleanOptionalAction,
        default=consume,
        help="delete each job once printed"
        + (" (default)" if consume else "; without it, jobs are released at the end"),
    )
    settle.add_argument("--bury", action="store_true", help="bury each job once printed")
    parser.add_argument(
        "--raw", action="store_true", help="print each body as it is (one per line)"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the whole command line."""
    from . import jobs, run, top, tubes

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Work with a beanstalkd server from the shell.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[_common()],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = [_common()]

    def add(
        name: str,
        function: Command,
        help: str,
        description: str | None = None,
        epilog: str | None = None,
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=description or help,
            epilog=epilog,
            parents=common,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=function)
        return p

    p = add(
        "put",
        jobs.cmd_put,
        "put a job into a tube",
        "Put a job: the BODY argument, or stdin byte for byte. Bodies are sent as they "
        "are (raw); --envelope parses them as JSON and sends beanstalkm's envelope, as "
        "beanstalkm.Client.put does. Prints the new job id.",
        "examples:\n  beanstalkm put 'hello' --tube emails\n"
        '  beanstalkm put --envelope \'{"to": "ada"}\' -t emails\n'
        "  beanstalkm put --lines < jobs.txt",
    )
    p.add_argument("body", nargs="?", help="the job body ('-' or nothing: read stdin)")
    _tube(p)
    _job_options(p)
    p.add_argument("--lines", action="store_true", help="one job per non-empty line")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument(
        "--envelope", action="store_true", help="body is JSON: send it in a beanstalkm envelope"
    )
    kind.add_argument("--raw", action="store_true", help="send the bytes as they are (default)")

    p = add(
        "reserve",
        jobs.cmd_reserve,
        "reserve jobs and print them",
        "Reserve a job (or --count of them) and print it. Without --delete or --bury "
        "the jobs are released when done, so they stay in the queue.",
        "examples:\n  beanstalkm reserve -t emails --timeout 5\n"
        "  beanstalkm reserve -t emails --count 10 --delete > done.jsonl",
    )
    _reserve_options(p, consume=False)

    p = add(
        "consume",
        jobs.cmd_reserve,
        "stream jobs out of tubes, deleting them",
        "Reserve jobs one after another, print each and delete it (--no-delete keeps "
        "them reserved until the end, then releases them). Stops after --count jobs, "
        "when --timeout passes with no job, or on Ctrl-C.",
        "examples:\n  beanstalkm consume -t emails --timeout 1 > emails.jsonl\n"
        "  beanstalkm consume -t logs --raw | grep ERROR",
    )
    _reserve_options(p, consume=True)

    p = add(
        "peek",
        jobs.cmd_peek,
        "show a job without reserving it",
        "Show a job by id, or the next ready (default), delayed or buried job of a tube.",
        "examples:\n  beanstalkm peek --buried -t emails\n  beanstalkm peek 42 --json",
    )
    p.add_argument("id", type=int, nargs="?", help="job id")
    which = p.add_mutually_exclusive_group()
    for state in ("ready", "delayed", "buried"):
        which.add_argument(
            f"--{state}",
            dest="state",
            action="store_const",
            const=state,
            help=f"the next {state} job of the tube",
        )
    _tube(p)
    p.add_argument("--raw", action="store_true", help="print the body as it is")

    p = add(
        "kick",
        jobs.cmd_kick,
        "kick buried (else delayed) jobs to ready",
        "Kick up to BOUND buried jobs of a tube to ready (delayed ones when none is "
        "buried), or specific jobs with --job.",
        "examples:\n  beanstalkm kick 10 -t emails\n  beanstalkm kick --all -t emails\n"
        "  beanstalkm kick --job 42 --job 43",
    )
    p.add_argument("bound", type=int, nargs="?", help="how many jobs at most")
    p.add_argument("--all", action="store_true", help="every buried (else delayed) job")
    p.add_argument("--job", type=int, action="append", metavar="ID", help="kick this job")
    _tube(p)

    p = add(
        "delete", jobs.cmd_delete, "delete jobs by id", epilog="example:\n  beanstalkm delete 42 43"
    )
    p.add_argument("ids", type=int, nargs="+", metavar="ID")

    p = add(
        "bury",
        jobs.cmd_bury,
        "bury jobs by id",
        "Bury jobs by id: each is reserved by its id, then buried (it must not be "
        "reserved by someone else).",
        "example:\n  beanstalkm bury 42",
    )
    p.add_argument("ids", type=int, nargs="+", metavar="ID")
    p.add_argument("-p", "--priority", type=int, default=None, help="new priority")

    p = add(
        "tubes",
        tubes.cmd_tubes,
        "list tubes with their job counts",
        epilog="examples:\n  beanstalkm tubes\n  beanstalkm tubes -q",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="names only, one per line")

    p = add(
        "stats",
        tubes.cmd_stats,
        "statistics of the server, a tube or a job",
        epilog="examples:\n  beanstalkm stats\n  beanstalkm stats --tube emails --json\n"
        "  beanstalkm stats --job 42",
    )
    what = p.add_mutually_exclusive_group()
    what.add_argument("-t", "--tube", help="stats of this tube")
    what.add_argument("-j", "--job", type=int, metavar="ID", help="stats of this job")

    p = add(
        "pause",
        tubes.cmd_pause,
        "pause a tube for some seconds (0 resumes it)",
        epilog="example:\n  beanstalkm pause emails 60",
    )
    p.add_argument("tube")
    p.add_argument("seconds", type=int)

    p = add(
        "purge",
        tubes.cmd_purge,
        "delete every ready, delayed and buried job of a tube",
        "Delete the ready, delayed and buried jobs of a tube (all three unless some are "
        "named), after asking. Reserved jobs are left to their workers. This is not "
        "beanstalkd's drain mode.",
        "examples:\n  beanstalkm purge emails\n  beanstalkm purge emails --buried --yes",
    )
    p.add_argument("tube")
    for state in ("ready", "delayed", "buried"):
        p.add_argument(f"--{state}", action="store_true", help=f"delete the {state} jobs")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask")

    p = add(
        "top",
        top.cmd_top,
        "live view of every tube",
        "A live view of every tube: ready, reserved, delayed, buried, waiting, and puts "
        "and deletes per second, refreshed every --interval seconds. Ctrl-C quits.",
        "examples:\n  beanstalkm top\n  beanstalkm top --once --json\n"
        "  beanstalkm top --interval 5 --iterations 12 --table > load.txt",
    )
    p.add_argument("-i", "--interval", type=float, default=1.0, help="seconds (default 1)")
    p.add_argument("-n", "--iterations", type=int, default=None, help="stop after N frames")
    p.add_argument("--once", action="store_true", help="one frame (after one interval)")
    p.add_argument("-t", "--tube", action="append", metavar="TUBE", help="only these tubes")
    p.add_argument(
        "--sort",
        default="name",
        choices=[*top.SORT_KEYS, "put", "delete"],
        help="order of the rows (counts and rates: largest first)",
    )

    p = add(
        "worker",
        run.cmd_worker,
        "run a worker: handlers from a module",
        "Run beanstalkm.Worker with a handler (package.module:function, for --tube) or "
        "a mapping of tubes to handlers (package.module:HANDLERS); async def handlers "
        "run in the asyncio worker, beanstalkm.aio.Worker. SIGTERM or Ctrl-C stops it "
        "gracefully; a second one at once.",
        "example:\n  beanstalkm worker myapp.tasks:send_email --tube emails --concurrency 4",
    )
    p.add_argument("target", metavar="MODULE:HANDLER")
    p.add_argument("-t", "--tube", action="append", metavar="TUBE", help="tube to handle")
    p.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=1,
        help="threads, or asyncio tasks for async handlers (default 1)",
    )
    p.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        help="bury a job after this many attempts (default 5; 0: never)",
    )
    p.add_argument(
        "--backoff",
        default="1,2,300",
        metavar="BASE,FACTOR,MAX",
        help="retry n waits BASE*FACTOR^(n-1) seconds, at most MAX (default 1,2,300)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=30.0,
        help="seconds for in-flight jobs to finish at shutdown (default 30)",
    )
    p.add_argument(
        "--touch-margin",
        type=float,
        default=2.0,
        help="touch long jobs this many seconds before their TTR ends (default 2)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
    )
    p.add_argument("--app-dir", default=".", help="directory put first on sys.path (default: .)")

    # Listed for --help; main() hands the arguments after it to the server untouched
    # when it comes first. Reached only when it does not.
    p = sub.add_parser(
        "serve",
        help="run the embedded beanstalkd-compatible server (beanstalkd's flags)",
        add_help=False,
    )
    p.set_defaults(func=_serve_not_first)
    return parser


def _serve_not_first(ctx: Context, args: argparse.Namespace) -> int:
    raise Failure(
        "serve takes beanstalkd's flags only: beanstalkm serve [-l ADDR] [-p PORT] ...", EXIT_USAGE
    )


def _message(exc: BaseException) -> str:
    if isinstance(exc, SocketError) and "cannot connect" in str(exc):
        return f"{exc} (is beanstalkd running there? see --host/--port or BEANSTALKD_URL)"
    return str(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit
    code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["serve"]:
        from .run import run_serve

        return run_serve(args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code or 0) if not isinstance(exc.code, str) else EXIT_USAGE
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    command: str = args.command
    try:
        host, port = resolve_address(args)
        out = Output.choose(
            getattr(args, "json", False),
            getattr(args, "table", False),
            getattr(args, "plain", False),
        )
        ctx = Context(host, port, out, command)
        func: Command = args.func
        return func(ctx, args)
    except Failure as exc:
        _error(command, str(exc))
        return exc.code
    except InvalidArgument as exc:
        _error(command, str(exc))
        return EXIT_USAGE
    except NotFound as exc:
        _error(command, str(exc))
        return EXIT_EMPTY
    except (SocketError, CommandFailed, BeanstalkmException) as exc:
        _error(command, _message(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        sys.stderr.write("\n")
        return EXIT_INTERRUPTED if command != "consume" else 0
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as other tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR


def _error(command: str, text: str) -> None:
    print(f"{PROG} {command}: {text}", file=sys.stderr, flush=True)
