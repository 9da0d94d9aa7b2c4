"""Prometheus metrics of a worker: counters and timings per tube, served over HTTP.

Needs the optional ``prometheus-client`` (``pip install 'beanstalkm[metrics]'``);
nothing here is imported unless a worker is made with ``metrics=True`` or a
``metrics_port``. With processes, each child counts into files in
``$PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess mode) and the
supervisor serves their sum (see :mod:`beanstalkm.worker.processes`).
"""

from __future__ import annotations

import socket
import threading
from socketserver import ThreadingMixIn
from typing import Any, ClassVar, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from .counters import NAMES

__all__ = [
    "BUCKETS",
    "PREFIX",
    "MetricsServer",
    "PrometheusSink",
    "multiprocess_registry",
    "require_prometheus",
]

#: Every metric of a worker starts with this.
PREFIX: Final = "beanstalkm_worker"
#: Buckets of the handling-time histogram, in seconds: milliseconds to minutes.
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

_HELP: Final = {
    "processed": "Jobs handled successfully and deleted.",
    "failed": "Handlers that raised (or ran past their time limit).",
    "retried": "Jobs released with a delay after a failure.",
    "buried": "Jobs buried after their last attempt, or by Bury.",
    "released": "Jobs released unfinished at shutdown, or unhandled.",
    "lost": "Reservations lost (connection or time-to-run) before the job was settled.",
    "touched": "Touches of long-running jobs.",
    "connection_errors": "Failed attempts to reach the server.",
    "time_limits": "Handlers that ran past their time limit.",
}


def require_prometheus() -> Any:
    """The ``prometheus_client`` module, or a RuntimeError saying how to install it."""
    try:
        import prometheus_client
    except ImportError:
        raise RuntimeError(
            "metrics need prometheus-client: pip install 'beanstalkm[metrics]'"
        ) from None
    return prometheus_client


class PrometheusSink:
    """A worker's counts and timings as Prometheus metrics (a
    :class:`~beanstalkm.worker.counters.Sink`):

    - ``beanstalkm_worker_<counter>_total{tube}``, one per
      :class:`~beanstalkm.worker.WorkerCounters` field (``connection_errors`` has no
      tube);
    - ``beanstalkm_worker_handling_seconds{tube}``, a histogram of handlers' times;
    - ``beanstalkm_worker_jobs_in_flight{tube}``, handlers running now.
    """

    _by_registry: ClassVar[dict[int, PrometheusSink]] = {}
    _lock: ClassVar = threading.Lock()

    def __init__(self, registry: Any) -> None:
        prometheus = require_prometheus()
        self.counters = {
            name: prometheus.Counter(
                f"{PREFIX}_{name}",
                _HELP[name],
                [] if name == "connection_errors" else ["tube"],
                registry=registry,
            )
            for name in NAMES
        }
        self.handling = prometheus.Histogram(
            f"{PREFIX}_handling_seconds",
            "Seconds handlers ran, per job.",
            ["tube"],
            registry=registry,
            buckets=BUCKETS,
        )
        self.in_flight = prometheus.Gauge(
            f"{PREFIX}_jobs_in_flight",
            "Handlers running now.",
            ["tube"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        # Labelled children by (metric, tube): looked up once each.
        self._children: dict[tuple[str, str], Any] = {}

    @classmethod
    def for_registry(cls, registry: Any = None) -> PrometheusSink:
        """The sink of ``registry`` (default: prometheus-client's global one), made on
        first use: several workers in one process share it."""
        if registry is None:
            registry = require_prometheus().REGISTRY
        with cls._lock:
            sink = cls._by_registry.get(id(registry))
            if sink is None:
                sink = cls._by_registry[id(registry)] = cls(registry)
        return sink

    def show(self, tubes: list[str]) -> None:
        """Make each metric of each tube now, so that a scrape shows it (at 0) before
        anything has happened to it."""
        for tube in tubes:
            for name in (*NAMES, "handling", "in_flight"):
                self._child(name, tube)

    def _child(self, name: str, tube: str) -> Any:
        key = (name, tube)
        child = self._children.get(key)
        if child is None:
            if name == "connection_errors":
                child = self.counters[name]
            elif name in self.counters:
                child = self.counters[name].labels(tube)
            elif name == "handling":
                child = self.handling.labels(tube)
            else:
                child = self.in_flight.labels(tube)
            self._children[key] = child
        return child

    def count(self, name: str, tube: str, n: int) -> None:
        self._child(name, tube).inc(n)

    def started(self, tube: str) -> None:
        self._child("in_flight", tube).inc()

    def finished(self, tube: str, seconds: float) -> None:
        self._child("in_flight", tube).dec()
        self._child("handling", tube).observe(seconds)


def multiprocess_registry() -> Any:
    """A registry that reads every process's metrics from ``$PROMETHEUS_MULTIPROC_DIR``."""
    prometheus = require_prometheus()
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = prometheus.CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a line each."""


class MetricsServer:
    """An HTTP server of ``/metrics`` (any path, as prometheus-client serves them)."""

    def __init__(self, httpd: WSGIServer) -> None:
        self.httpd = httpd
        self._thread: threading.Thread | None = None

    @classmethod
    def bind(cls, address: str, port: int, registry: Any = None) -> MetricsServer:
        """Listen on ``address``:``port`` (0: any free port); serve nothing yet.
        Raises OSError (saying where) when it cannot."""
        prometheus = require_prometheus()
        app = prometheus.make_wsgi_app(prometheus.REGISTRY if registry is None else registry)
        try:
            infos = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM)
            server_class = type("_MetricsHTTPServer", (_Server,), {"address_family": infos[0][0]})
            httpd = server_class((address, port), _Quiet)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OSError(exc.errno, f"cannot serve metrics on {address}:{port}: {reason}") from exc
        httpd.set_app(app)
        return cls(httpd)

    @classmethod
    def start(cls, address: str, port: int, registry: Any = None) -> MetricsServer:
        """Listen and serve in a thread of this process."""
        server = cls.bind(address, port, registry)
        server._thread = threading.Thread(
            target=server.httpd.serve_forever, name="beanstalkm-metrics", daemon=True
        )
        server._thread.start()
        return server

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self.httpd.server_address[1])

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`shutdown` (from another thread)."""
        self.httpd.serve_forever(poll_interval=0.2)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(5)
        self.httpd.server_close()
