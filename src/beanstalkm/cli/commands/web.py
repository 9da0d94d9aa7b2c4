"""``beanstalkm web``: serve the live web console of one server or several.

The console itself is :mod:`beanstalkm.web` (the ``web`` extra: aiohttp); this module
reads the options, refuses to serve other machines without a token unless told to,
and runs the console until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

from ..base import EXIT_ERROR, EXIT_USAGE, Context, Failure, resolve_addresses
from ..options import Subparsers, add_command

__all__ = ["TOKEN_ENV_VAR", "add_parser", "cmd_web", "parse_listen"]

#: The token, when not given with ``--token`` (which other users can see in ``ps``).
TOKEN_ENV_VAR: Final = "BEANSTALKM_WEB_TOKEN"
DEFAULT_LISTEN: Final = "127.0.0.1:8080"


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "web",
        cmd_web,
        "serve a live web console of the servers",
        "Serve a web console of one beanstalkd server or several (--url a,b,c): server "
        "stats, every tube's counts and charts, updated live; a tube's next jobs; kick, "
        "delete, pause, move and put from the page; search. Listens on 127.0.0.1:8080; "
        "another address needs a token. Needs the web extra: pip install "
        "'beanstalkm[web]'.",
        [
            "beanstalkm web",
            "beanstalkm web --url beanstalk://a:11300,beanstalk://b:11300 --read-only",
            "BEANSTALKM_WEB_TOKEN=... beanstalkm web --listen 0.0.0.0:8080",
        ],
        output={},
        server=False,
    )
    group = p.add_argument_group("servers")
    default = argparse.SUPPRESS
    group.add_argument(
        "--url",
        default=default,
        metavar="URLS",
        help="the servers: beanstalk://host:port, several separated by commas",
    )
    group.add_argument("--host", default=default, help="server host (one server)")
    group.add_argument("--port", type=int, default=default, help="server port (one server)")
    p.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="HOST:PORT",
        help=f"the address to serve the console on (default {DEFAULT_LISTEN})",
    )
    p.add_argument("--read-only", action="store_true", help="offer no action: only look")
    p.add_argument(
        "--token",
        default=None,
        help=f"a secret every request must carry (default: ${TOKEN_ENV_VAR}); needed to "
        "listen on an address other machines can reach",
    )
    p.add_argument(
        "--no-token",
        action="store_true",
        help="listen on such an address without a token: anyone who reaches it can delete jobs",
    )
    p.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between samples of the servers (default 1)",
    )
    p.add_argument(
        "--history",
        type=float,
        default=5.0,
        metavar="MINUTES",
        help="minutes of samples kept for the charts (default 5)",
    )


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[::1]:PORT`` or ``:PORT`` (loopback) as ``(host, port)``."""
    if text.isdigit():
        text = ":" + text
    parts = urlsplit("//" + text)
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None or parts.path or parts.query or parts.username:
        raise ValueError(f"--listen takes HOST:PORT, got {text!r}")
    return parts.hostname or "127.0.0.1", port


def _token(args: argparse.Namespace) -> str | None:
    token: str | None = args.token or os.environ.get(TOKEN_ENV_VAR) or None
    if token is not None and args.no_token:
        raise Failure("--no-token and a token together: choose one", EXIT_USAGE)
    return token


def cmd_web(ctx: Context, args: argparse.Namespace) -> int:
    """Serve the console until Ctrl-C or SIGTERM."""
    addresses = resolve_addresses(args)
    try:
        host, port = parse_listen(args.listen)
    except ValueError as exc:
        raise Failure(str(exc), EXIT_USAGE) from None
    if not args.interval > 0 or not args.history > 0:
        raise Failure("--interval and --history must be above 0", EXIT_USAGE)
    token = _token(args)
    try:
        from ...web import Options, is_loopback, serve
    except ImportError as exc:
        raise Failure(
            f"the web console needs the web extra ({exc.name} is missing): "
            "pip install 'beanstalkm[web]'"
        ) from None
    if not is_loopback(host) and token is None:
        if not args.no_token:
            raise Failure(
                f"{args.listen} can be reached from other machines: give a token "
                f"(--token or ${TOKEN_ENV_VAR}), or --no-token to serve it open",
                EXIT_USAGE,
            )
        ctx.note(
            f"WARNING: serving {args.listen} WITHOUT A TOKEN: anyone who can reach it "
            + ("can look at every job" if args.read_only else "can delete and move jobs")
        )
    options = Options(
        addresses,
        read_only=args.read_only,
        token=token,
        interval=args.interval,
        window=args.history * 60,
    )
    servers = ", ".join(f"[{h}]:{p}" if ":" in h else f"{h}:{p}" for h, p in addresses)

    def ready(url: str) -> None:
        shown = f"{url}?{urlencode({'token': token})}" if token else url
        mode = " (read-only)" if args.read_only else ""
        ctx.note(f"console of {servers}{mode} at {shown} (Ctrl-C to stop)")

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    try:
        asyncio.run(_run(serve(options, host, port, ready)))
    except OSError as exc:
        raise Failure(
            f"cannot listen on {args.listen}: {exc.strerror or exc}", EXIT_ERROR
        ) from None
    return 0


async def _run(console: Coroutine[Any, Any, None]) -> None:
    """Run the console's coroutine until it fails or a stop signal comes."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows' loop
            loop.add_signal_handler(signum, stop.set)
    task = asyncio.ensure_future(console)
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if not task.done():
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
