"""``beanstalkm serve`` / ``python -m beanstalkm.server``: beanstalkd's command line.

Flags are read the way beanstalkd reads them (``-l ADDR``, ``-lADDR``, ``-Vz 1024``),
so the embedded server can replace the ``beanstalkd`` binary in scripts. Flags for
features it does not have (the binlog, changing user) are refused with an
explanation instead of being ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TextIO

from ..constants import DEFAULT_PORT, MAX_JOB_SIZE_LIMIT
from .listener import Server
from .state import DEFAULT_MAX_JOB_SIZE
from .stats import SERVER_VERSION

__all__ = ["EXIT_USAGE", "Options", "UsageError", "main", "parse_args"]

PROG: Final = "beanstalkm serve"
#: Exit status for a bad command line; beanstalkd uses the same.
EXIT_USAGE: Final = 5

USAGE: Final = f"""\
Usage: {PROG} [OPTIONS]
       python -m beanstalkm.server [OPTIONS]

Run an in-memory server that speaks the beanstalkd 1.12 protocol.

Options (the same letters as beanstalkd's):
 -l ADDR   address to listen on (default 127.0.0.1; beanstalkd's is 0.0.0.0)
 -p PORT   port to listen on (default {DEFAULT_PORT}; 0 picks a free one and prints it)
 -z BYTES  largest job body accepted (default {DEFAULT_MAX_JOB_SIZE}, at most {MAX_JOB_SIZE_LIMIT})
 -V        log connections to stderr; twice to log every command
 -v        print the version and exit
 -h        print this help and exit

Not supported, refused: -b, -f, -F, -s (no binlog: jobs live in memory only), -u.
Send SIGUSR1 to enter drain mode (new puts get DRAINING).
"""

_UNSUPPORTED: Final = {
    "b": "-b: no binlog in the embedded server; jobs live in memory only",
    "f": "-f: no binlog in the embedded server, so nothing to fsync",
    "F": "-F: no binlog in the embedded server, so nothing to fsync",
    "s": "-s: no binlog in the embedded server, so no binlog file size",
    "u": "-u: the embedded server does not change user; run it as that user",
    "c": "-c: removed from beanstalkd long ago, and never supported here",
    "n": "-n: removed from beanstalkd long ago, and never supported here",
}


class UsageError(Exception):
    """The command line cannot be used; the message says why."""


@dataclass
class Options:
    """What the command line asks for."""

    host: str = "127.0.0.1"
    #: None when ``-p`` was not given (the command line then uses 11300).
    port: int | None = None
    max_job_size: int = DEFAULT_MAX_JOB_SIZE
    verbose: int = 0
    show_help: bool = False
    show_version: bool = False
    warnings: tuple[str, ...] = ()


def _parse_int(text: str, what: str, flag: str) -> int:
    stripped = text.strip()
    if not stripped.isdigit() or not stripped.isascii():
        raise UsageError(f"invalid {what} for {flag}: {text!r}")
    return int(stripped)


def parse_args(argv: Sequence[str]) -> Options:
    """Parse beanstalkd-style flags; raises :class:`UsageError`."""
    opts = Options()
    warnings: list[str] = []
    args = list(argv)
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg in ("--help", "--version"):
            opts.show_help = opts.show_help or arg == "--help"
            opts.show_version = opts.show_version or arg == "--version"
            continue
        if not arg.startswith("-") or arg == "-":
            raise UsageError(f"unknown argument: {arg}")
        letters = arg[1:]
        j = 0
        while j < len(letters):
            flag = letters[j]
            j += 1
            if flag in _UNSUPPORTED:
                raise UsageError(_UNSUPPORTED[flag])
            if flag in "lpz":
                # The value is the rest of this word, or else the next word.
                if j < len(letters):
                    value, j = letters[j:], len(letters)
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    raise UsageError(f"flag requires an argument: -{flag}")
                if flag == "l":
                    opts.host = value
                elif flag == "p":
                    opts.port = _parse_int(value, "port", "-p")
                    if opts.port > 65535:
                        raise UsageError(f"invalid port for -p: {value!r}")
                else:
                    size = _parse_int(value, "size", "-z")
                    if size > MAX_JOB_SIZE_LIMIT:
                        warnings.append(f"maximum job size was set to {MAX_JOB_SIZE_LIMIT}")
                        size = MAX_JOB_SIZE_LIMIT
                    opts.max_job_size = size
            elif flag == "V":
                opts.verbose += 1
            elif flag == "v":
                opts.show_version = True
            elif flag == "h":
                opts.show_help = True
            else:
                raise UsageError(f"unknown flag: -{flag}")
    opts.warnings = tuple(warnings)
    return opts


async def _serve(opts: Options, err: TextIO) -> int:
    port = DEFAULT_PORT if opts.port is None else opts.port
    server = Server(opts.host, port, max_job_size=opts.max_job_size, verbose=opts.verbose)
    try:
        await server.start()
    except OSError as exc:
        print(f"{PROG}: cannot listen on {opts.host}:{port}: {exc}", file=err)
        return 1
    if port == 0:  # otherwise nobody would know where to connect
        print(f"{PROG}: listening on {server.host}:{server.port}", file=err, flush=True)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum, handler in (
        (getattr(signal, "SIGUSR1", None), server.enter_drain_mode),
        (signal.SIGTERM, stopping.set),
        (signal.SIGINT, stopping.set),
    ):
        if signum is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, handler)
    try:
        await stopping.wait()
    finally:
        await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the server until SIGTERM or SIGINT; return the exit status."""
    err = sys.stderr
    try:
        opts = parse_args(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"{PROG}: {exc}\n", file=err)
        print(USAGE, end="", file=err)
        return EXIT_USAGE
    if opts.show_help:
        print(USAGE, end="")
        return 0
    if opts.show_version:
        print(f"beanstalkm-server {SERVER_VERSION}")
        return 0
    for warning in opts.warnings:
        print(f"{PROG}: {warning}", file=err)
    if opts.verbose:
        logging.basicConfig(
            level=logging.DEBUG if opts.verbose > 1 else logging.INFO,
            format="%(asctime)s %(name)s: %(message)s",
            stream=err,
        )
    try:
        return asyncio.run(_serve(opts, err))
    except KeyboardInterrupt:  # pragma: no cover - platforms without signal handlers
        return 0
