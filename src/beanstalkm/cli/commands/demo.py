"""``beanstalkm demo``: run beanstalkm's main job, on an embedded server by default."""

from __future__ import annotations

import argparse
import os

from ... import demo
from ...urls import ENV_VAR
from ..base import Context
from ..options import Subparsers, add_command

__all__ = ["add_parser", "cmd_demo"]


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "demo",
        cmd_demo,
        "run the main job: a producer and workers pass messages",
        "A producer puts orders, emails and reports into three tubes while worker "
        "threads reserve, process and delete them; then a summary: throughput, latency, "
        "and that nothing was lost or handled twice. It starts an embedded server "
        "unless one is named (--url, --host/--port or $BEANSTALKD_URL).",
        ["beanstalkm demo", "beanstalkm demo --messages 20000 --workers 8"],
        output={},
    )
    demo.add_arguments(p)


def _named(args: argparse.Namespace) -> bool:
    given = any(getattr(args, name, None) for name in ("url", "host", "port"))
    return given or bool(os.environ.get(ENV_VAR))


def cmd_demo(ctx: Context, args: argparse.Namespace) -> int:
    """Run the demo; exit 0 when every message was handled exactly once."""
    return demo.run(args, (ctx.host, ctx.port) if _named(args) else None)
