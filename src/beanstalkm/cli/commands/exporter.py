"""``beanstalkm exporter``: serve beanstalkd's stats to Prometheus over HTTP."""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any

from ...urls import format_address, parse_url
from ..base import EXIT_USAGE, Context, Failure, socket_timeout
from ..options import Subparsers, add_command

__all__ = ["add_parser", "cmd_exporter"]

#: The port served by default.
DEFAULT_PORT = 9127


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "exporter",
        cmd_exporter,
        "serve the servers' stats to Prometheus",
        "Serve /metrics for Prometheus: on each scrape, the stats of the server (or of "
        "each SERVER given, or each of --url's) and the stats-tube of each of its tubes, as the Go "
        "beanstalkd_exporter does. Needs prometheus-client (pip install "
        "'beanstalkm[metrics]'). Runs until SIGTERM or Ctrl-C.",
        ["beanstalkm exporter --metrics-port 9127"],
        output={},
        pool=True,
    )
    p.add_argument(
        "servers",
        nargs="*",
        metavar="SERVER",
        help="beanstalk://host:port of each server (default: the server options' ones)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"HTTP port to serve /metrics on (default {DEFAULT_PORT}; 0: any free one)",
    )
    p.add_argument(
        "--metrics-address",
        default="0.0.0.0",
        metavar="ADDRESS",
        help="address to listen on (default 0.0.0.0: every interface)",
    )


def cmd_exporter(ctx: Context, args: argparse.Namespace) -> int:
    """Serve /metrics until SIGTERM or Ctrl-C."""
    from ...exporter import BeanstalkdCollector
    from ...worker.metrics import MetricsServer, require_prometheus

    try:
        prometheus = require_prometheus()
    except RuntimeError as exc:
        raise Failure(str(exc)) from None
    try:
        addresses = [parse_url(url) for url in args.servers] or list(ctx.servers)
    except ValueError as exc:
        raise Failure(str(exc), EXIT_USAGE) from None
    registry = prometheus.CollectorRegistry()
    collector = BeanstalkdCollector(addresses, timeout=socket_timeout())
    registry.register(collector)
    try:
        server = MetricsServer.bind(args.metrics_address, args.metrics_port, registry)
    except OSError as exc:
        raise Failure(exc.strerror or str(exc)) from None
    stop = threading.Event()
    previous: Any = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, name="beanstalkm-exporter", daemon=True)
    thread.start()
    where = format_address(args.metrics_address, server.port)
    names = ", ".join(format_address(host, port) for host, port in addresses)
    ctx.note(f"serving the stats of {names} on http://{where}/metrics")
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass  # Ctrl-C is the way to stop it
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.httpd.shutdown()
        server.httpd.server_close()
        collector.close()
    return 0
