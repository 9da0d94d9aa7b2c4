"""``beanstalkm exporter``: its /metrics parsed and checked against the server's own
stats and each tube's stats-tube; a server that goes away reported as down."""

from __future__ import annotations

import signal
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.exporter import metric_name
from beanstalkm.testing import BeanstalkdProcess, free_port

from .util import ROOT, cli_env, console_script, wait_for


@pytest.fixture
def kind() -> str:
    return "sync"


def families(port: int) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """The samples of /metrics: {name: {labels: value}}."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def exporter(server: BeanstalkdProcess) -> Iterator[tuple[subprocess.Popen[str], int]]:
    port = free_port()
    proc = subprocess.Popen(
        [
            *console_script(),
            "exporter",
            "--metrics-port",
            str(port),
            "--metrics-address",
            "127.0.0.1",
        ],
        env=cli_env(server.address),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: _answers(port) or proc.poll() is not None, timeout=15)
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def _answers(port: int) -> bool:
    try:
        families(port)
    except OSError:
        return False
    return True


def test_exporter_serves_stats_and_every_tube(
    exporter: tuple[subprocess.Popen[str], int], server: BeanstalkdProcess, client: Client
) -> None:
    proc, port = exporter
    client.put_many([{"n": n} for n in range(5)], tube="emails", priority=10)
    client.put_many([{"n": n} for n in range(2)], tube="emails", delay=60)
    client.put_many([{"n": n} for n in range(3)], tube="sms")
    client.queue.watch("sms")
    client.queue.ignore("default")
    held = client.reserve(timeout=0, drop=False)
    assert held is not None
    buried = client.reserve(timeout=0, drop=False)
    assert buried is not None
    buried.bury()
    client.queue.pause_tube("sms", 30)
    found = families(port)
    server_label = (("server", f"127.0.0.1:{server.port}"),)

    def in_tube(tube: str) -> tuple[tuple[str, str], ...]:
        return (*server_label, ("tube", tube))

    assert found["beanstalkd_up"][server_label] == 1
    [(info_labels, _)] = found["beanstalkd_info"].items()
    assert dict(info_labels)["version"] == client.queue.stats()["version"]
    checked = 0
    for tube in client.queue.list_tubes():
        stats: dict[str, Any] = dict(client.queue.stats_tube(tube))
        labels = (*server_label, ("tube", tube))
        for key, value in stats.items():
            if key == "name":
                continue
            name = metric_name(key, "beanstalkd_tube")
            # Counters are served with _total.
            samples = found.get(name) or found[name + "_total"]
            if key == "pause-time-left":  # counts down between the two looks
                assert value <= samples[labels] <= value + 1
            else:
                assert samples[labels] == value, key
            checked += 1
    assert checked >= 3 * 13
    assert found["beanstalkd_tube_current_jobs_ready"][in_tube("emails")] == 5
    assert found["beanstalkd_tube_current_jobs_delayed"][in_tube("emails")] == 2
    assert found["beanstalkd_tube_current_jobs_reserved"][in_tube("sms")] == 1
    assert found["beanstalkd_tube_current_jobs_buried"][in_tube("sms")] == 1
    assert found["beanstalkd_tube_pause_seconds"][in_tube("sms")] == 30
    totals: dict[str, Any] = dict(client.queue.stats())
    for key in ("current-jobs-ready", "current-jobs-buried", "total-jobs", "cmd-put"):
        name = metric_name(key)
        samples = found.get(name) or found[name + "_total"]
        assert samples[server_label] == totals[key], key
    # The server goes away: still served, as down.
    server.stop()
    assert families(port)["beanstalkd_up"][server_label] == 0
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"on http://127.0.0.1:{port}/metrics" in err


def test_metric_names() -> None:
    assert metric_name("cmd-put") == "beanstalkd_cmd_put"
    assert metric_name("total-jobs") == "beanstalkd_jobs"
    assert metric_name("uptime") == "beanstalkd_uptime_seconds"
    assert metric_name("pause", "beanstalkd_tube") == "beanstalkd_tube_pause_seconds"
