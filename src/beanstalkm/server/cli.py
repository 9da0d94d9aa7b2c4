"""``beanstalkm serve`` / ``python -m beanstalkm.server``: beanstalkd's command line.

Flags are read the way beanstalkd reads them (``-l ADDR``, ``-lADDR``, ``-Vz 1024``),
so the embedded server can replace the ``beanstalkd`` binary in scripts. ``-u``
(change user) is refused with an explanation instead of being ignored.

Start-up is ordered for speed, as clients that start a server and connect a few
milliseconds later expect: the command line is parsed and the socket bound and
listening before anything else is imported, so connections are accepted by the
kernel at once and answered as soon as the rest is loaded (and the binlog, if any,
replayed).
"""

from __future__ import annotations

import sys

from ..constants import DEFAULT_PORT, MAX_JOB_SIZE_LIMIT, __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    import signal
    from collections.abc import Sequence
    from typing import Final, TextIO

    from .runner import Runner
else:
    # signal's C core: the same functions, without the enums that take milliseconds
    # to build at import.
    import _signal as signal

__all__ = ["EXIT_USAGE", "Options", "UsageError", "main", "parse_args"]

PROG: Final = "beanstalkm serve"
#: Exit status for a bad command line; beanstalkd uses the same.
EXIT_USAGE: Final = 5
# The defaults, repeated here so that parsing imports nothing (checked by the tests).
_DEFAULT_MAX_JOB_SIZE: Final = 65535
_DEFAULT_FSYNC_MS: Final = 50
_DEFAULT_FILE_SIZE: Final = 10 << 20

USAGE: Final = f"""\
Usage: {PROG} [OPTIONS]
       python -m beanstalkm.server [OPTIONS]

Run a server that speaks the beanstalkd 1.12 protocol.

Options (the same letters as beanstalkd's):
 -b DIR    binlog directory: jobs are logged there and restored on start
 -f MS     fsync at most once every MS milliseconds (default {_DEFAULT_FSYNC_MS});
           use -f0 for "always fsync"
 -F        never fsync
 -l ADDR   address to listen on (default 127.0.0.1; beanstalkd's is 0.0.0.0);
           unix:PATH listens on a unix socket
 -p PORT   port to listen on (default {DEFAULT_PORT}; 0 picks a free one and prints it)
 -z BYTES  largest job body accepted (default {_DEFAULT_MAX_JOB_SIZE}, at most {MAX_JOB_SIZE_LIMIT})
 -s BYTES  size of each binlog file (default {_DEFAULT_FILE_SIZE});
           rounded up to a multiple of 4096 bytes
 -V        log connections to stderr; twice to log every command
 -v        print the version and exit
 -h        print this help and exit

Not supported, refused: -u (run the process as the user you want).
Send SIGUSR1 to enter drain mode (new puts get DRAINING).
"""

_REFUSED: Final = {
    "u": "-u: the embedded server does not change user; run it as that user",
}
_REMOVED: Final = {
    "c": "-c flag was removed. binlog is always compacted.",
    "n": "-n flag was removed. binlog is always compacted.",
}


class UsageError(Exception):
    """The command line cannot be used; the message says why."""


class Options:
    """What the command line asks for."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        #: None when ``-p`` was not given (the command line then uses 11300).
        self.port: int | None = None
        self.max_job_size = _DEFAULT_MAX_JOB_SIZE
        self.verbose = 0
        self.show_help = False
        self.show_version = False
        #: ``-b``: the binlog directory, or None for no binlog.
        self.binlog_dir: str | None = None
        #: ``-f``: fsync at most every so many ms; None for ``-F`` (never).
        self.fsync_ms: int | None = _DEFAULT_FSYNC_MS
        #: ``-s``: bytes per binlog file.
        self.binlog_size = _DEFAULT_FILE_SIZE
        self.warnings: tuple[str, ...] = ()


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
            if flag in _REFUSED:
                raise UsageError(_REFUSED[flag])
            if flag in _REMOVED:
                warnings.append(_REMOVED[flag])
            elif flag in "lpzbfs":
                # The value is the rest of this word, or else the next word.
                if j < len(letters):
                    value, j = letters[j:], len(letters)
                elif i < len(args):
                    value = args[i]
                    i += 1
                else:
                    raise UsageError(f"flag requires an argument: -{flag}")
                _set_value(opts, flag, value, warnings)
            elif flag == "F":
                opts.fsync_ms = None
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


def _set_value(opts: Options, flag: str, value: str, warnings: list[str]) -> None:
    if flag == "l":
        opts.host = value
    elif flag == "p":
        opts.port = _parse_int(value, "port", "-p")
        if opts.port > 65535:
            raise UsageError(f"invalid port for -p: {value!r}")
    elif flag == "z":
        size = _parse_int(value, "size", "-z")
        if size > MAX_JOB_SIZE_LIMIT:
            warnings.append(f"maximum job size was set to {MAX_JOB_SIZE_LIMIT}")
            size = MAX_JOB_SIZE_LIMIT
        opts.max_job_size = size
    elif flag == "b":
        opts.binlog_dir = value
    elif flag == "f":
        opts.fsync_ms = _parse_int(value, "size", "-f")
    else:  # s
        opts.binlog_size = _parse_int(value, "size", "-s")
        if opts.binlog_size > 2**31 - 1:
            raise UsageError(f"invalid size for -s: {value!r} (at most {2**31 - 1})")


def _serve(opts: Options, err: TextIO) -> int:
    from .sockets import as_socket, bind_listener, unix_path

    # Signals before listening: a client may signal the server once it can connect.
    signals = _Signals()
    try:
        port = DEFAULT_PORT if opts.port is None else opts.port
        where = opts.host if unix_path(opts.host) is not None else f"{opts.host}:{port}"

        def warn(line: str) -> None:
            print(f"{PROG}: {line}", file=err, flush=True)

        try:
            raw = bind_listener(opts.host, port, warn)
        except OSError as exc:
            print(f"{PROG}: cannot listen on {where}: {exc}", file=err)
            return 1
        if port == 0 and unix_path(opts.host) is None:  # otherwise nobody would know where
            where = f"{opts.host}:{raw.getsockname()[1]}"
            print(f"{PROG}: listening on {where}", file=err, flush=True)
        # Listening: clients can connect while the rest loads.
        listener = as_socket(raw)
        from .binlog import Binlog, BinlogError
        from .runner import Runner

        if opts.verbose:
            import logging

            logging.basicConfig(
                level=logging.DEBUG if opts.verbose > 1 else logging.INFO,
                format="%(asctime)s %(name)s: %(message)s",
                stream=err,
            )
            logging.getLogger("beanstalkm.server").info("listening on %s", where)
        binlog = None
        if opts.binlog_dir is not None:
            binlog = Binlog(
                opts.binlog_dir, file_size=opts.binlog_size, fsync_ms=opts.fsync_ms, report=warn
            )
        runner = Runner(
            listener,
            max_job_size=opts.max_job_size,
            verbose=opts.verbose,
            binlog=binlog,
            binlog_max_size=opts.binlog_size,
        )
        try:
            try:
                runner.open()
            except BinlogError as exc:
                warn(str(exc))
                return exc.exit_status
            signals.attach(runner)
            if not signals.stopping:
                runner.run()
        finally:
            runner.close()
        return 1 if runner.failed else 0
    finally:
        signals.restore()


class _Signals:
    """SIGTERM and SIGINT stop the server, SIGUSR1 drains it.

    Installed before the socket is opened, and remembered until the server exists.
    The handlers run between two bytecodes of the main thread; the loop's wake-up fd
    makes its ``select()`` return so that it notices.
    """

    def __init__(self) -> None:
        self.stopping = False
        self.draining = False
        self._runner: Runner | None = None
        self._old: dict[int, object] = {}
        self._old_fd: int | None = None
        handlers = {signal.SIGTERM: self._stop, signal.SIGINT: self._stop}
        usr1 = getattr(signal, "SIGUSR1", None)
        if usr1 is not None:
            handlers[usr1] = self._drain
        try:
            for signum, handler in handlers.items():
                self._old[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: the caller handles signals
            self.restore()

    def attach(self, runner: Runner) -> None:
        self._runner = runner
        if self._old:
            self._old_fd = signal.set_wakeup_fd(runner.loop.wakeup_fd, warn_on_full_buffer=False)
        if self.draining:
            runner.broker.draining = True

    def _stop(self, signum: int, frame: object) -> None:
        self.stopping = True
        if self._runner is not None:
            self._runner.loop.stop()

    def _drain(self, signum: int, frame: object) -> None:
        self.draining = True
        if self._runner is not None:
            self._runner.broker.draining = True

    def restore(self) -> None:
        if self._old_fd is not None:
            signal.set_wakeup_fd(self._old_fd)
            self._old_fd = None
        for signum, handler in self._old.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self._old.clear()


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
        # beanstalkd prints "beanstalkd 1.12": the same words first, then who we are.
        print(f"beanstalkd 1.12 (beanstalkm {__version__} embedded server)")
        return 0
    for warning in opts.warnings:
        print(f"{PROG}: {warning}", file=err)
    return _serve(opts, err)
