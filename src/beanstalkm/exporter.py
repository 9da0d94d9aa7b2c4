"""beanstalkd's stats for Prometheus: ``stats`` and every tube's ``stats-tube``.

:class:`BeanstalkdCollector` is a prometheus-client collector (``pip install
'beanstalkm[metrics]'``): each scrape asks each server for ``stats`` and
``list-tubes`` in one round trip, then for every tube's ``stats-tube`` in another.
``beanstalkm exporter`` serves it over HTTP, as the Go ``beanstalkd_exporter`` does:

- ``beanstalkd_up{server}``: 1 when the server answered this scrape, else 0;
- ``beanstalkd_info{server, version, hostname, id}``: 1;
- one metric per number of ``stats``: ``current-jobs-ready`` is
  ``beanstalkd_current_jobs_ready``, ``cmd-put`` the counter
  ``beanstalkd_cmd_put_total``, ``total-jobs`` ``beanstalkd_jobs_total``,
  ``rusage-utime`` ``beanstalkd_rusage_utime_seconds_total``, ``draining`` 0 or 1;
- one per number of ``stats-tube``, labelled with the tube:
  ``beanstalkd_tube_current_jobs_ready{server, tube}``, ``beanstalkd_tube_jobs_total``,
  ``beanstalkd_tube_cmd_delete_total``, ``beanstalkd_tube_pause_seconds``...

Every metric has the label ``server`` (``host:port``), so one exporter can serve several
servers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final

from .client import Client
from .errors import BeanstalkmException
from .urls import format_address

__all__ = ["BeanstalkdCollector", "metric_name"]

#: Stats that only grow (Prometheus counters); the others are gauges.
_COUNTER_PREFIXES: Final = ("cmd-", "total-", "binlog-records-", "rusage-")
_COUNTERS: Final = frozenset({"job-timeouts"})
#: Stats in seconds.
_SECONDS: Final = frozenset({"rusage-utime", "rusage-stime", "uptime", "pause", "pause-time-left"})
#: Text stats: labels of ``beanstalkd_info``.
_INFO: Final = ("version", "hostname", "id")
#: Stats left out: the process id says nothing over time; os and platform are in
#: the host's own metrics.
_SKIP: Final = frozenset({"pid", "name", "os", "platform"})


def _is_counter(key: str) -> bool:
    return key in _COUNTERS or key.startswith(_COUNTER_PREFIXES)


def metric_name(key: str, prefix: str = "beanstalkd") -> str:
    """The metric of a stats key: ``cmd-put`` -> ``beanstalkd_cmd_put`` (a counter:
    served with ``_total``), ``total-jobs`` -> ``beanstalkd_jobs``, ``uptime`` ->
    ``beanstalkd_uptime_seconds``."""
    name = key.removeprefix("total-") if key.startswith("total-") else key
    name = f"{prefix}_{name.replace('-', '_')}"
    return name + "_seconds" if key in _SECONDS else name


class BeanstalkdCollector:
    """Collects the stats of the servers at ``addresses`` (``(host, port)`` pairs) on
    each scrape. A server that cannot be reached reports ``beanstalkd_up 0``."""

    def __init__(self, addresses: Sequence[tuple[str, int]], timeout: float = 5.0) -> None:
        self.clients = [Client(host, port, timeout=timeout) for host, port in addresses]
        # Scrapes may come at once (the HTTP server has a thread per request); a
        # client is not to be shared by threads.
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Any]:
        """The metric families of one scrape (prometheus-client's collector protocol)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        families: dict[str, Any] = {}

        def family(name: str, kind: str, help: str, labels: list[str]) -> Any:
            found = families.get(name)
            if found is None:
                made = CounterMetricFamily if kind == "counter" else GaugeMetricFamily
                found = families[name] = made(name, help, labels=labels)
            return found

        with self._lock:
            for client in self.clients:
                server = format_address(client.host, client.port)
                scraped = self._scrape(client)
                family(
                    "beanstalkd_up", "gauge", "1 if the server answered.", ["server"]
                ).add_metric([server], 1 if scraped is not None else 0)
                if scraped is None:
                    continue
                stats, tubes = scraped
                info = family(
                    "beanstalkd_info", "gauge", "Version, host name, id.", ["server", *_INFO]
                )
                info.add_metric([server, *(str(stats.get(k, "")) for k in _INFO)], 1)
                for key, value in stats.items():
                    self._add(family, "beanstalkd", key, value, [server], ["server"], "stats")
                for tube, tube_stats in tubes.items():
                    for key, value in tube_stats.items():
                        self._add(
                            family,
                            "beanstalkd_tube",
                            key,
                            value,
                            [server, tube],
                            ["server", "tube"],
                            "stats-tube",
                        )
        yield from families.values()

    @staticmethod
    def _add(
        family: Any,
        prefix: str,
        key: str,
        value: object,
        labels: list[str],
        label_names: list[str],
        command: str,
    ) -> None:
        if key in _SKIP or isinstance(value, str):
            return
        if not isinstance(value, (int, float)):  # bool is an int: draining
            return
        kind = "counter" if _is_counter(key) else "gauge"
        name = metric_name(key, prefix)
        family(name, kind, f"{key} of beanstalkd's {command}.", label_names).add_metric(
            labels, float(value)
        )

    @staticmethod
    def _scrape(client: Client) -> tuple[dict[str, Any], dict[str, dict[str, Any]]] | None:
        """The server's stats and each tube's, or None when it cannot be reached."""
        try:
            with client.pipeline() as pipeline:
                pipeline.stats().list_tubes()
                stats, names = pipeline.execute(raise_on_error=True)
            with client.pipeline() as pipeline:
                for name in names:
                    pipeline.stats_tube(name)
                results = pipeline.execute() if names else []
        except BeanstalkmException:
            return None
        # A tube that went away between the two round trips has a NotFound here.
        tubes = {
            name: dict(result)
            for name, result in zip(names, results, strict=True)
            if isinstance(result, dict)
        }
        return dict(stats), tubes

    def close(self) -> None:
        """Close the connections."""
        for client in self.clients:
            client.close()
