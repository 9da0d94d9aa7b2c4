"""Subcommands that run something: ``worker`` (the worker loop) and ``serve``."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..worker import Backoff, Worker
from .base import EXIT_USAGE, Context, Failure

__all__ = ["cmd_worker", "load_target", "run_serve"]


def load_target(spec: str, app_dir: str | None = ".") -> Any:
    """Import ``package.module:name`` (``name`` may be dotted) and return the object.

    ``app_dir`` goes first on ``sys.path``, so that a module beside the caller can be
    named, as with other Python application runners.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise Failure(f"worker target must be package.module:handler, got {spec!r}", EXIT_USAGE)
    if app_dir is not None:
        path = os.path.abspath(app_dir)
        if path not in sys.path:
            sys.path.insert(0, path)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise Failure(f"cannot import {module_name}: {exc}", EXIT_USAGE) from None
    value: Any = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise Failure(f"{module_name} has no {attribute}", EXIT_USAGE) from None
    return value


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

    from ..aio.worker import Worker as AsyncWorker
    from ..aio.worker import is_async_handler

    target = load_target(args.target, args.app_dir)
    handlers = _handlers(target, args.target, args.tube)
    kinds = {is_async_handler(function) for function in handlers.values()}
    if len(kinds) > 1:
        raise Failure(
            f"{args.target} mixes async def handlers and plain ones; "
            "a worker runs one kind (start one worker for each)",
            EXIT_USAGE,
        )
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    kind = AsyncWorker if kinds == {True} else Worker
    try:
        worker: Worker | AsyncWorker = kind(
            ctx.host,
            ctx.port,
            handlers=handlers,
            concurrency=args.concurrency,
            max_attempts=args.max_attempts or None,
            backoff=Backoff.of(args.backoff),
            grace=args.grace,
            touch_margin=args.touch_margin,
        )
    except ValueError as exc:
        raise Failure(str(exc), EXIT_USAGE) from None
    counters = asyncio.run(worker.run()) if isinstance(worker, AsyncWorker) else worker.run()
    if ctx.out.json:
        ctx.out.record(dataclasses.asdict(counters))
    else:
        ctx.out.mapping(dataclasses.asdict(counters), "worker counters")
    return 0


def run_serve(argv: list[str]) -> int:
    """Run the embedded server (``beanstalkm.server``) with beanstalkd's flags."""
    from ..server import main as serve

    return serve(argv)
