"""OpenTelemetry traces: a producer span per put, a consumer span per job handled.

With ``opentelemetry-api`` installed (``pip install 'beanstalkm[tracing]'``) and an
OpenTelemetry SDK set up by the application, :meth:`beanstalkm.Client.put` records a
``send <tube>`` span (kind PRODUCER) and carries its context in the envelope, and
both workers record a ``process <tube>`` span (kind CONSUMER) around each handler,
a child of the producer's span and linked to it. Without the API, or until the
application sets a tracer provider, nothing is recorded and a put costs a few calls
of nothing; until the application imports OpenTelemetry, beanstalkm does not either.

The context travels as W3C Trace Context (``traceparent``, and ``tracestate`` when
there is one), in the envelope's ``sender`` object: ``{"sender": {"host": ...,
"traceparent": "00-<trace id>-<span id>-01"}}``. Not a new top-level field: the
envelope's schema (``message.json``, the same in beanstalkm 1.0.0) allows no other
top-level field, so 1.0.0 readers, which validate with it, would call such an
envelope invalid; ``sender`` is the one object it leaves open ("the producer may add
fields of its own"). The token covers only the body, so it does not change. Any
propagator the application set (``OTEL_PROPAGATORS``) is used: its fields go into
``sender`` beside the producer's own, which they never replace.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any, Final

__all__ = ["NOT_TRACED", "ProducerSpan", "TracingHooks", "producer", "producer_of", "recording"]

# The OpenTelemetry API, imported once traces are found to be recorded: an
# application that records traces has imported it already, and one that does not
# pays nothing for it, not even the import (see :func:`recording`).
_context: Any = None
_propagate: Any = None
_trace: Any = None

#: ``messaging.system``: not one of OpenTelemetry's well-known values, which have no
#: beanstalkd; the name people search for.
SYSTEM: Final = "beanstalkd"
_NAME: Final = "beanstalkm"


def recording() -> bool:
    """Whether spans are recorded: the application has set a tracer provider (an
    SDK's). Setting one imports ``opentelemetry.trace``, so until something has
    imported it nothing is recorded and nothing is asked."""
    global _context, _propagate, _trace
    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return False
    provider = trace.get_tracer_provider()
    if isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider)):
        return False
    if _trace is None:
        from opentelemetry import context, propagate

        _context, _propagate, _trace = context, propagate, trace
    return True


def _tracer() -> Any:
    from .constants import __version__

    return _trace.get_tracer(_NAME, __version__)


class _NotTraced:
    """The producer span when nothing is recorded: every method does nothing."""

    __slots__ = ()

    def carry(self, sender: dict[str, Any] | None) -> dict[str, Any] | None:
        return sender

    def sending(self, message: Any) -> _NotTraced:
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


#: The producer span of a put that is not traced.
NOT_TRACED: Final = _NotTraced()


class ProducerSpan:
    """The span of one put (kind PRODUCER): :meth:`carry` puts its context in the
    envelope's sender; ``with span.sending(message):`` around the put ends it, with
    the job id or the error."""

    __slots__ = ("_message", "span")

    def __init__(self, tube: str, host: str, port: int) -> None:
        self.span = _tracer().start_span(
            f"send {tube}",
            kind=_trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.operation.type": "send",
                "messaging.operation.name": "put",
                "messaging.destination.name": tube,
                "server.address": host,
                "server.port": port,
            },
        )
        self._message: Any = None

    def carry(self, sender: dict[str, Any] | None) -> dict[str, Any]:
        """``sender`` with this span's context added (W3C ``traceparent``...)."""
        carrier: dict[str, str] = {}
        _propagate.inject(carrier, context=_trace.set_span_in_context(self.span))
        return {**carrier, **(sender or {})}

    def sending(self, message: Any) -> ProducerSpan:
        self._message = message
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        span = self.span
        if exc is not None:
            span.record_exception(exc)
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, str(exc)))
        elif self._message is not None:
            span.set_attribute("messaging.message.id", str(self._message.uid))
        span.end()


def producer(tube: str, connection: Any) -> ProducerSpan | _NotTraced:
    """The span of a put into ``tube`` on ``connection``; :data:`NOT_TRACED` when
    nothing is recorded."""
    if not recording():
        return NOT_TRACED
    return ProducerSpan(tube, connection.host, connection.port)


def producer_of(message: Any, tube: str, connection: Any) -> ProducerSpan | _NotTraced:
    """The span of a put of ``message``, made already, into ``tube``: its context is
    added to the message's sender (a field the producer set is kept). For requests,
    whose sender is made before the tube they go to is known (a pool's)."""
    span = producer(tube, connection)
    carried = span.carry(None)
    if carried:
        sender = message.sender
        for key, value in carried.items():
            sender.setdefault(key, value)
    return span


class TracingHooks:
    """A worker's consumer spans, as hooks (``before`` and ``after``): one span per
    job handled, current while the handler runs (so that spans the handler makes are
    its children), a child of the producer's span and linked to it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.tracer = _tracer()
        # The span and context token of each job in flight, by connection and job id
        # (a worker on several servers may have two jobs of one id in flight).
        self._open: dict[tuple[int, int], tuple[Any, Any]] = {}

    def before(self, message: Any) -> None:
        sender = message.sender if message.is_envelope else {}
        carrier = {k: v for k, v in sender.items() if isinstance(v, str)}
        parent = _propagate.extract(carrier) if carrier else None
        links = []
        if parent is not None:
            producer_context = _trace.get_current_span(parent).get_span_context()
            if producer_context.is_valid:
                links.append(_trace.Link(producer_context))
        tube = message.tube or ""
        # The job's own server: a worker on a pool has one per slot.
        connection = getattr(message, "connection", None)
        host = getattr(connection, "host", self.host)
        port = getattr(connection, "port", self.port)
        span = self.tracer.start_span(
            f"process {tube}",
            context=parent,
            kind=_trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": SYSTEM,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": tube,
                "messaging.message.id": str(message.uid),
                "server.address": host,
                "server.port": port,
            },
        )
        token = _context.attach(_trace.set_span_in_context(span))
        self._open[_key(message)] = (span, token)

    def after(self, message: Any, outcome: Any) -> None:
        opened = self._open.pop(_key(message), None)
        if opened is None:
            return
        span, token = opened
        span.set_attribute("beanstalkm.outcome", outcome.action)
        if outcome.attempt is not None:
            span.set_attribute("beanstalkm.attempt", outcome.attempt)
        if outcome.error is not None:
            span.record_exception(outcome.error)
            span.set_status(_trace.Status(_trace.StatusCode.ERROR, str(outcome.error)))
        span.end()
        # before and after run in the same thread (or asyncio task), so the token is
        # this context's.
        _context.detach(token)


def _key(message: Any) -> tuple[int, int]:
    """A job in flight, for the spans of a worker: its connection and its id."""
    return id(getattr(message, "connection", None)), message.uid
