"""Pipelines and put_many, with both clients, against a real beanstalkd."""

from __future__ import annotations

import pytest

import beanstalkm
from beanstalkm import Client
from beanstalkm.pipeline import PipelineError
from beanstalkm.testing import BeanstalkdProcess

from .conftest import MakeClient


def test_results_in_order_with_errors_in_their_slots(client: Client) -> None:
    with client.pipeline() as p:
        p.use("jobs").put(b"one").put(b"two").delete(999).peek_ready().stats_tube("jobs")
        assert len(p) == 6
        results = p.execute()
    assert results[0] == "jobs"
    assert results[1:3] == [1, 2]
    assert isinstance(results[3], beanstalkm.NotFound)
    assert results[3].args == ("delete", "NOT_FOUND", ())
    assert results[4].uid == 1
    assert results[4].body == "one"
    assert results[5]["current-jobs-ready"] == 2
    # the session follows the pipeline's use, and the connection is in step
    assert client.queue.using() == "jobs"


def test_raise_on_error_after_all_ran(client: Client) -> None:
    pipeline = client.pipeline()
    pipeline.put(b"a").delete(12345).put(b"b")
    with pytest.raises(PipelineError) as info:
        pipeline.execute(raise_on_error=True)
    assert info.value.results[0] == 1
    assert isinstance(info.value.results[1], beanstalkm.NotFound)
    assert info.value.results[2] == 2
    assert client.queue.stats()["current-jobs-ready"] == 2


def test_bad_arguments_fail_when_recorded(client: Client) -> None:
    pipeline = client.pipeline()
    pipeline.put(b"fine")
    with pytest.raises(beanstalkm.InvalidArgument):
        pipeline.use("not valid")
    assert len(pipeline) == 1
    assert pipeline.execute() == [1]
    assert pipeline.execute() == []


def test_large_batch_does_not_deadlock(client: Client) -> None:
    # Far more than the socket buffers hold, both ways: 2 MB of requests whose
    # replies (peeks of 2 kB bodies) are bigger still.
    body = b"x" * 2000
    pipeline = client.pipeline()
    for _ in range(1000):
        pipeline.put(body)
    for uid in range(1, 1001):
        pipeline.peek(uid)
    results = pipeline.execute()
    assert results[:1000] == list(range(1, 1001))
    assert all(job.body == body.decode() for job in results[1000:])
    assert client.queue.stats()["current-jobs-ready"] == 1000


def test_put_many(client: Client) -> None:
    client.queue.use("mine")
    messages = client.put_many(({"n": n} for n in range(500)), tube="bulk", priority=7)
    assert [m.uid for m in messages] == list(range(1, 501))
    assert all(m.tube == "bulk" and m.priority == 7 for m in messages)
    assert client.queue.using() == "mine"
    client.queue.watch("bulk")
    first = client.reserve()
    assert first is not None
    assert first.body == {"n": 0}
    assert client.queue.stats_tube("bulk")["current-jobs-ready"] == 499


def test_put_many_keeps_the_others_when_one_fails(
    small_server: BeanstalkdProcess, make_client: MakeClient
) -> None:
    client = make_client(*small_server.address)
    with pytest.raises(PipelineError) as info:
        client.put_many(["small", "x" * 2000, "also small"], tube="t")
    results = info.value.results
    assert isinstance(results[1], beanstalkm.JobTooBig)
    assert [results[0].body, results[2].body] == ["small", "also small"]
    assert results[0].uid > 0
    assert results[2].uid > 0
    assert client.queue.stats_tube("t")["current-jobs-ready"] == 2
    assert client.queue.using() == "default"


def test_put_many_unserializable_sends_nothing(client: Client) -> None:
    with pytest.raises(TypeError):
        client.put_many([1, object(), 3])
    assert client.queue.stats()["cmd-put"] == 0
    assert client.put_many([]) == []
