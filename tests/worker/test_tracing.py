"""Traces recorded with the OpenTelemetry SDK's in-memory exporter: a put's producer
span, carried in the envelope's sender, and the worker's consumer span (both workers)
a child of it and linked to it; the envelope still valid by its schema."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once

from beanstalkm import Client, tracing
from beanstalkm.envelope import validation_error
from beanstalkm.testing import BeanstalkdProcess

from ..cli.util import wait_for
from .kinds import KINDS, handler, make, serving


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans recorded during the test, by a tracer provider set for it alone.

    OpenTelemetry lets a process set its provider once; its own tests put the API's
    globals back afterwards (opentelemetry-test-utils' reset_trace_globals), and so
    does this fixture, so that the other tests run untraced."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        provider.shutdown()
        trace._TRACER_PROVIDER_SET_ONCE = Once()
        trace._TRACER_PROVIDER = None
        assert not tracing.recording()


def attributes(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_the_consumer_span_is_linked_to_the_producer_span(
    kind: str, spans: InMemorySpanExporter, server: BeanstalkdProcess, client: Client
) -> None:
    inner: list[Any] = []

    def work(message: Any) -> None:
        # The consumer span is current while the handler runs.
        inner.append(trace.get_current_span().get_span_context())
        if message.body == "fail":
            raise RuntimeError("no")

    sent = client.put({"to": "ada"}, tube="emails")
    failed = client.put("fail", tube="emails")
    # What travels: a traceparent in the envelope's sender, the envelope still valid.
    raw = client.queue.peek(sent.uid)
    assert raw is not None
    assert raw.sender["traceparent"].startswith("00-")
    assert raw.valid
    assert validation_error(raw.as_dict()) is None
    worker = make(kind, server, max_attempts=1)
    worker.add_handler("emails", handler(kind, work))
    with serving(worker):
        wait_for(lambda: worker.counters.processed == 1 and worker.counters.buried == 1)
    recorded = spans.get_finished_spans()
    producers = {
        attributes(s)["messaging.message.id"]: s for s in recorded if s.kind.name == "PRODUCER"
    }
    consumers = {
        attributes(s)["messaging.message.id"]: s for s in recorded if s.kind.name == "CONSUMER"
    }
    assert set(producers) == set(consumers) == {str(sent.uid), str(failed.uid)}
    for uid in producers:
        producer, consumer = producers[uid], consumers[uid]
        assert producer.name == "send emails"
        assert consumer.name == "process emails"
        assert consumer.parent is not None
        assert consumer.parent.span_id == producer.context.span_id
        assert consumer.context.trace_id == producer.context.trace_id
        [link] = consumer.links
        assert link.context.span_id == producer.context.span_id
        assert attributes(consumer)["messaging.system"] == "beanstalkd"
        assert attributes(consumer)["messaging.destination.name"] == "emails"
    assert consumers[str(sent.uid)].status.is_ok
    assert attributes(consumers[str(sent.uid)])["beanstalkm.outcome"] == "delete"
    bad = consumers[str(failed.uid)]
    assert bad.status.status_code.name == "ERROR"
    assert attributes(bad)["beanstalkm.outcome"] == "bury"
    assert [event.name for event in bad.events] == ["exception"]
    assert {ctx.span_id for ctx in inner} == {s.context.span_id for s in consumers.values()}


def test_a_job_put_without_a_trace_starts_one(
    spans: InMemorySpanExporter, server: BeanstalkdProcess, client: Client
) -> None:
    client.queue.use("raw")
    client.queue.put(b"not an envelope")
    worker = make("threaded", server)
    worker.add_handler("raw", lambda m: None)
    with serving(worker):
        wait_for(lambda: worker.counters.processed == 1)
    [consumer] = spans.get_finished_spans()
    assert consumer.kind.name == "CONSUMER"
    assert consumer.parent is None
    assert consumer.links == ()


def test_on_a_pool_each_span_names_its_jobs_server(
    spans: InMemorySpanExporter, server: BeanstalkdProcess
) -> None:
    """Two jobs with one id (1), on two servers, handled at once: two spans, each with
    its job's server."""
    import threading

    import beanstalkm

    with BeanstalkdProcess() as other:
        both = [server.address, other]
        for address in both:
            with Client(*address) as each:
                assert each.put({"n": 1}, tube="t").uid == 1
        together = threading.Barrier(2, timeout=5)
        worker = beanstalkm.Worker(pool=beanstalkm.Pool(both, timeout=5))
        worker.add_handler("t", lambda m: together.wait())
        with serving(worker):
            wait_for(lambda: worker.counters.processed == 2)
    consumers = [s for s in spans.get_finished_spans() if s.kind.name == "CONSUMER"]
    assert sorted(
        (attributes(s)["server.address"], attributes(s)["server.port"]) for s in consumers
    ) == sorted(both)
    assert {attributes(s)["messaging.message.id"] for s in consumers} == {"1"}


def test_a_failed_put_is_an_error_span(
    spans: InMemorySpanExporter, small_server: BeanstalkdProcess
) -> None:
    from beanstalkm import JobTooBig

    with Client(*small_server.address) as small, pytest.raises(JobTooBig):
        small.put("x" * 2000, tube="big")
    [producer] = spans.get_finished_spans()
    assert producer.status.status_code.name == "ERROR"
    assert "messaging.message.id" not in attributes(producer)


def test_nothing_is_carried_when_traces_are_not_recorded(client: Client) -> None:
    assert not tracing.recording()  # the API installed, no SDK set up
    assert tracing.producer("t", client) is tracing.NOT_TRACED
    message = client.put({"n": 1}, tube="t")
    assert "traceparent" not in message.sender


def test_a_request_is_traced_into_the_worker_that_answers_it(
    kind: str, spans: InMemorySpanExporter, server: BeanstalkdProcess, client: Client
) -> None:
    def work(message: Any) -> object:
        return message.body * 2

    async def awork(message: Any) -> object:
        return message.body * 2

    worker = make(kind, server, handlers={"double": work if kind == "threaded" else awork})
    with serving(worker):
        assert client.request(21, tube="double", timeout=10).body == 42
        wait_for(lambda: worker.counters.processed == 1)
    recorded = spans.get_finished_spans()
    [producer] = [s for s in recorded if s.kind.name == "PRODUCER"]
    [consumer] = [s for s in recorded if s.kind.name == "CONSUMER"]
    assert producer.name == "send double"
    assert consumer.parent is not None
    assert consumer.parent.span_id == producer.context.span_id
