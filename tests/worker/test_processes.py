"""``beanstalkm worker --processes N`` against a real beanstalkd: a supervisor and its
children. 3,000 jobs exactly once with a child killed by SIGKILL midway, recycling
after --max-jobs, SIGTERM draining every child (async handlers too), and the
children's metrics served summed by the supervisor."""

from __future__ import annotations

import os
import signal
import urllib.request
from collections import Counter
from typing import Any

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess, free_port

from ..cli.util import wait_for
from .conftest import WorkerProcess


def done(worker: WorkerProcess) -> list[tuple[int, int]]:
    """(job number, process id) of each job handled, in order."""
    lines = worker.log.read_text().splitlines()
    return [
        (int(n), int(pid)) for word, n, pid in (line.split() for line in lines) if word == "done"
    ]


def scrape(port: int) -> dict[str, float]:
    """The samples of /metrics, by name and labels."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def test_3000_jobs_once_with_a_child_killed_midway(
    spawn: Any, server: BeanstalkdProcess, client: Client
) -> None:
    jobs = 3000
    client.put_many([{"n": n, "sleep": 0.001} for n in range(jobs)], tube="work", ttr=2)
    port = free_port()
    worker: WorkerProcess = spawn(
        "tests.worker.handlers:record", "-t", "work", "--processes", "3", "-c", "2",
        "--metrics-port", str(port), "--metrics-address", "127.0.0.1",
    )  # fmt: skip
    wait_for(lambda: len(done(worker)) >= jobs // 3, timeout=30)
    victim = Counter(pid for _, pid in done(worker)).most_common(1)[0][0]
    assert victim != worker.proc.pid
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: {n for n, _ in done(worker)} == set(range(jobs)), timeout=60)
    wait_for(lambda: client.queue.stats_tube("work")["current-jobs-ready"] == 0)
    wait_for(lambda: client.queue.stats_tube("work")["current-jobs-reserved"] == 0)
    records = done(worker)
    deleted = client.queue.stats_tube("work")["cmd-delete"]
    assert deleted == jobs  # nothing lost, none deleted twice
    # A job is handled twice only if the killed child had it in flight: handling it,
    # or handled with its delete still to go out with the next reserve (2 slots).
    handled_twice = [n for n, times in Counter(n for n, _ in records).items() if times > 1]
    assert len(handled_twice) <= 2 * 2
    assert all({pid for m, pid in records if m == n} & {victim} for n in handled_twice), (
        "only the killed child's jobs come back"
    )
    pids = {pid for _, pid in records}
    assert len(pids) == 4  # three children, and the one that replaced the killed one
    # The metrics of every child, the killed one's included, summed. A delete is
    # counted when its reply comes (with the next reserve's, within 1 s); the killed
    # child never read the replies to the deletes it had sent (one per slot).
    processed = "beanstalkm_worker_processed_total{tube=work}"
    wait_for(lambda: scrape(port)[processed] >= deleted - 2)
    samples = scrape(port)
    assert samples[processed] <= deleted
    assert samples["beanstalkm_worker_jobs_in_flight{tube=work}"] == 0
    assert samples["beanstalkm_worker_handling_seconds_count{tube=work}"] >= jobs
    worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish(timeout=20)
    assert code == 0
    assert worker.said("killed by SIGKILL")
    # The counters of the children that exited (the killed one reported none).
    assert 0 < counters["processed"] <= jobs
    assert counters["lost"] == 0


def test_a_child_is_recycled_after_max_jobs(
    spawn: Any, server: BeanstalkdProcess, client: Client
) -> None:
    client.put_many([{"n": n} for n in range(200)], tube="work")
    worker: WorkerProcess = spawn(
        "tests.worker.handlers:record", "-t", "work", "--processes", "1", "--max-jobs", "50"
    )
    wait_for(lambda: len(done(worker)) == 200, timeout=30)
    worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish()
    assert code == 0
    assert counters["processed"] == 200
    per_child = Counter(pid for _, pid in done(worker))
    assert len(per_child) >= 4
    # Each stops reserving at its 50th job: the one it reserved meanwhile is handled too.
    full = sorted(per_child.values())[1:]  # all but the last, which found the queue empty
    assert all(50 <= n <= 51 for n in full), per_child
    assert worker.said("jobs handled (max_jobs 50); finishing its jobs, to be replaced")


def test_sigterm_drains_every_child_async_handlers_too(
    spawn: Any, server: BeanstalkdProcess, client: Client
) -> None:
    client.put_many([{"n": n, "sleep": 1.0} for n in range(4)], tube="slow")
    worker: WorkerProcess = spawn(
        "tests.worker.handlers:AHANDLERS", "-t", "slow", "--processes", "2", "-c", "2"
    )
    wait_for(lambda: len(worker.lines("start")) == 4, timeout=20)
    worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish(timeout=20)
    assert code == 0
    assert sorted(worker.lines("done")) == ["0", "1", "2", "3"]  # finished, not cut short
    assert counters["processed"] == 4
    assert counters["released"] == 0
    assert client.queue.stats_tube("slow")["total-jobs"] == 4
    assert client.queue.stats()["cmd-delete"] == 4


def test_a_second_sigterm_stops_the_children_at_once(
    spawn: Any, server: BeanstalkdProcess, client: Client
) -> None:
    client.put_many([{"n": n, "sleep": 30} for n in range(2)], tube="slow")
    worker: WorkerProcess = spawn("tests.worker.handlers:slow", "-t", "slow", "--processes", "2")
    wait_for(lambda: len(worker.lines("start")) == 2, timeout=20)
    worker.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: worker.said("stopping 2 worker process(es)"))
    worker.proc.send_signal(signal.SIGTERM)
    code, counters = worker.finish(timeout=15)
    assert code == 0
    assert counters["released"] == 2  # given back at once for another worker
    assert client.queue.stats_tube("slow")["current-jobs-ready"] == 2
