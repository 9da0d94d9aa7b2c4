"""A worker's Prometheus metrics, scraped over HTTP, against the work done (both
workers; with processes, see test_processes.py)."""

from __future__ import annotations

from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess, free_port
from beanstalkm.worker.metrics import PrometheusSink

from ..cli.util import wait_for
from .kinds import KINDS, handler, make, serving
from .test_processes import scrape
from .test_worker import put_raw


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_metrics_match_the_work_done(kind: str, server: BeanstalkdProcess, client: Client) -> None:
    # Workers of one process share prometheus-client's registry: a tube of the test's own.
    tube = f"metrics-{kind}"

    def work(message: Any) -> None:
        if message.body == "fail":
            raise RuntimeError("no")

    port = free_port()
    worker = make(kind, server, max_attempts=1, metrics_port=port, metrics_address="127.0.0.1")
    worker.add_handler(tube, handler(kind, work))
    put_raw(client, tube, [b"ok"] * 5 + [b"fail"] * 2)
    with serving(worker):
        wait_for(lambda: worker.counters.processed == 5 and worker.counters.buried == 2)
        samples = scrape(port)
    label = f"{{tube={tube}}}"
    expected = {"processed": 5, "failed": 2, "buried": 2, "retried": 0, "time_limits": 0}
    for name, value in expected.items():
        assert samples[f"beanstalkm_worker_{name}_total{label}"] == value, name
    assert samples[f"beanstalkm_worker_handling_seconds_count{label}"] == 7
    assert samples[f"beanstalkm_worker_jobs_in_flight{label}"] == 0
    assert "beanstalkm_worker_connection_errors_total{}" in samples
    # The server is closed with the run.
    with pytest.raises(OSError, match="refused"):
        scrape(port)


def test_workers_of_one_process_share_their_metrics() -> None:
    assert PrometheusSink.for_registry() is PrometheusSink.for_registry()


def test_a_port_in_use_is_said(server: BeanstalkdProcess) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        worker = make("threaded", server, metrics_port=port, metrics_address="127.0.0.1")
        worker.add_handler("t", print)
        with pytest.raises(OSError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
            worker.run()
    assert not worker.running
