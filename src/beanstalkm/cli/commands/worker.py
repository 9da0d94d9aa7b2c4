"""``beanstalkm worker``: run a worker with handlers from the user's module."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ...urls import format_address
from ...worker import Backoff, Worker
from ..base import EXIT_USAGE, Context, Failure, resolve_addresses
from ..imports import load_target
from ..options import Subparsers, add_command
from ..safetext import printable

__all__ = ["add_parser", "cmd_worker"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "worker",
        cmd_worker,
        "run a worker: handlers from a module",
        "Run beanstalkm.Worker with a handler (package.module:function, for --tube) or "
        "a mapping of tubes to handlers (package.module:HANDLERS); async def handlers "
        "run in the asyncio worker, beanstalkm.aio.Worker. SIGTERM or Ctrl-C stops it "
        "gracefully; a second one at once. Logs go to stderr; the counters are printed "
        "at the end.",
        [
            "beanstalkm worker myapp.tasks:send_email --tube emails --concurrency 4",
            "beanstalkm worker myapp.tasks:HANDLERS --processes 4 --max-jobs 10000 "
            "--metrics-port 9100",
        ],
        output={
            "json": "print the counters at the end as a JSON line "
            "(the default when the output is not a terminal)"
        },
        # --url (or $BEANSTALKD_URL) may name several servers, comma-separated: a
        # worker on a pool, with --concurrency slots on each.
        pool=True,
    )
    p.add_argument("target", metavar="MODULE:HANDLER")
    p.add_argument("-t", "--tube", action="append", metavar="TUBE", help="tube to handle")
    p.add_argument(
        "-c",
        "--concurrency",
        type=int,
        default=1,
        help="threads, or asyncio tasks for async handlers (default 1); on each server "
        "when --url names several",
    )
    p.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        help="bury a job after this many attempts (default 5; 0: never)",
    )
    p.add_argument(
        "--backoff",
        default="1,2,300,0.5",
        metavar="BASE,FACTOR,MAX[,JITTER]",
        help="retry n waits BASE*FACTOR^(n-1) seconds, at most MAX, less up to JITTER "
        "of it, drawn at random (default 1,2,300,0.5)",
    )
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="interrupt a handler after this long; the job is retried or buried "
        "(default: no limit)",
    )
    p.add_argument(
        "--processes",
        type=int,
        default=None,
        metavar="N",
        help="run N worker processes under a supervisor that replaces those that die "
        "(default: this process alone)",
    )
    p.add_argument(
        "--max-jobs",
        type=int,
        default=None,
        metavar="N",
        help="with --processes: replace a process after N jobs",
    )
    p.add_argument(
        "--max-memory",
        default=None,
        metavar="SIZE",
        help="with --processes: replace a process using more memory than SIZE (512M, 2G)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve Prometheus metrics on this port (needs beanstalkm[metrics])",
    )
    p.add_argument(
        "--metrics-address",
        default="0.0.0.0",
        metavar="ADDRESS",
        help="address the metrics are served on (default 0.0.0.0: every interface)",
    )
    p.add_argument(
        "--grace",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds for in-flight jobs to finish at shutdown (default 30)",
    )
    p.add_argument(
        "--touch-margin",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="touch long jobs this many seconds before their TTR ends (default 2)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="the least severe messages logged (default info)",
    )
    p.add_argument(
        "--app-dir",
        default=".",
        metavar="DIR",
        help="directory put first on sys.path to find MODULE (default: the current one)",
    )


class _SafeFormatter(logging.Formatter):
    """Log lines with control characters escaped: they quote job bodies, tube names
    and exceptions raised by handlers, which may hold anything."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


def _handlers(target: Any, spec: str, tubes: Sequence[str] | None) -> dict[str, Any]:
    if isinstance(target, Mapping):
        handlers = dict(target)
        if tubes:
            missing = [t for t in tubes if t not in handlers]
            if missing:
                raise Failure(f"{spec} has no handler for {', '.join(missing)}", EXIT_USAGE)
            handlers = {t: handlers[t] for t in tubes}
        return handlers
    if callable(target):
        if not tubes:
            raise Failure(f"say which tube(s) {spec} handles: --tube NAME", EXIT_USAGE)
        return dict.fromkeys(tubes, target)
    raise Failure(
        f"{spec} is neither a handler (a callable) nor a mapping of tubes to handlers",
        EXIT_USAGE,
    )


def cmd_worker(ctx: Context, args: argparse.Namespace) -> int:
    """Run handlers from a module until SIGTERM or Ctrl-C (twice: at once).

    ``async def`` handlers run in the asyncio worker (beanstalkm.aio.Worker), others
    in the threaded one; one worker runs one kind.
    """
    # Here, not at the top: the other subcommands have no use for asyncio.
    import asyncio

    from ...aio.worker import Worker as AsyncWorker
    from ...aio.worker import is_async_handler

    target = load_target(args.target, args.app_dir)
    handlers = _handlers(target, args.target, args.tube)
    kinds = {is_async_handler(function) for function in handlers.values()}
    if len(kinds) > 1:
        raise Failure(
            f"{args.target} mixes async def handlers and plain ones; "
            "a worker runs one kind (start one worker for each)",
            EXIT_USAGE,
        )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    kind = AsyncWorker if kinds == {True} else Worker
    addresses = resolve_addresses(args)
    # Several servers go to the worker as its url: host:port (or unix:/path) each,
    # which it parses back.
    where: dict[str, Any] = (
        {"url": ",".join(format_address(*address) for address in addresses)}
        if len(addresses) > 1
        else {"host": ctx.host, "port": ctx.port}
    )
    try:
        worker: Worker | AsyncWorker = kind(
            **where,
            handlers=handlers,
            concurrency=args.concurrency,
            max_attempts=args.max_attempts or None,
            backoff=Backoff.of(args.backoff),
            grace=args.grace,
            touch_margin=args.touch_margin,
            time_limit=args.time_limit,
            processes=args.processes,
            max_jobs=args.max_jobs,
            max_memory=args.max_memory,
            metrics_port=args.metrics_port,
            metrics_address=args.metrics_address,
        )
    except ValueError as exc:
        raise Failure(str(exc), EXIT_USAGE) from None
    if args.metrics_port is not None:
        from ...worker.metrics import require_prometheus

        try:
            require_prometheus()
        except RuntimeError as exc:
            raise Failure(str(exc)) from None
    try:
        counters = asyncio.run(worker.run()) if isinstance(worker, AsyncWorker) else worker.run()
    except OSError as exc:  # the metrics port is taken, say
        raise Failure(exc.strerror or str(exc)) from None
    if ctx.out.json:
        ctx.out.record(dataclasses.asdict(counters))
    else:
        ctx.out.mapping(dataclasses.asdict(counters), "worker counters")
    return 0
