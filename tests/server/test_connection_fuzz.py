"""Random input fed straight into the connection protocol never hits an internal error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from beanstalkm.server.connection import ClientConnection
from beanstalkm.server.state import BURIED, DELAYED, INVALID, READY, RESERVED, Broker

FRAGMENTS = [
    b"put 0 0 1 3\r\nabc\r\n",
    b"put 1 0 1 1\r\n",
    b"put 0 5 1 2\r\n",
    b"reserve\r\n",
    b"reserve-with-timeout 0\r\n",
    b"reserve-job 1\r\n",
    b"delete 1\r\n",
    b"release 1 0 0\r\n",
    b"release 2 0 3\r\n",
    b"bury 1 0\r\n",
    b"kick 5\r\n",
    b"kick-job 2\r\n",
    b"touch 1\r\n",
    b"use a\r\n",
    b"watch a\r\n",
    b"ignore default\r\n",
    b"ignore a\r\n",
    b"peek 1\r\n",
    b"peek-ready\r\n",
    b"peek-delayed\r\n",
    b"peek-buried\r\n",
    b"stats\r\n",
    b"stats-job 1\r\n",
    b"stats-tube a\r\n",
    b"list-tubes\r\n",
    b"list-tubes-watched\r\n",
    b"list-tube-used\r\n",
    b"pause-tube a 0\r\n",
    b"quit\r\n",
    b"\r\n",
    b"\r",
    b"\n",
    b"\x00",
    b" ",
    b"x" * 230,
    b"put 0 0 1 70000\r\n",
    b"put 0 0 1 4294967295 x\r\n",
    b"reserve-with-timeout -1\r\n",
]


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


class ErrorCatcher(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def errors() -> Iterator[ErrorCatcher]:
    handler = ErrorCatcher()
    logger = logging.getLogger("beanstalkm.server")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def check_invariants(broker: Broker) -> None:
    """Counters agree with the jobs, and tubes exist exactly while referenced."""
    jobs = [job for job in broker.jobs.values() if job.state != INVALID]
    by_state = {
        state: [j for j in jobs if j.state == state] for state in (READY, RESERVED, BURIED, DELAYED)
    }
    assert broker.ready_count == len(by_state[READY])
    assert broker.reserved_count == len(by_state[RESERVED])
    assert broker.buried_count == len(by_state[BURIED])
    assert broker.delayed_count == len(by_state[DELAYED])
    assert broker.urgent_count == sum(j.pri < 1024 for j in by_state[READY])
    assert set(broker.tubes_by_name.values()) == set(broker.tubes)
    for tube in broker.tubes:
        mine = [j for j in jobs if j.tube is tube]
        held = tube.using + tube.watching + len(mine) + (tube is broker.default_tube)
        assert tube.refs == held > 0
        assert tube.ready_count == sum(j.state == READY for j in mine)
        assert tube.delay_count == sum(j.state == DELAYED for j in mine)
        assert tube.buried_count == len(tube.buried) == sum(j.state == BURIED for j in mine)
        assert tube.reserved_count == sum(j.state == RESERVED for j in mine)


chunks = st.lists(
    st.one_of(st.sampled_from(FRAGMENTS), st.binary(max_size=40)), min_size=1, max_size=40
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(streams=st.lists(chunks, min_size=1, max_size=3), eof=st.booleans())
def test_random_input_never_breaks_the_server(
    streams: list[list[bytes]], eof: bool, errors: ErrorCatcher
) -> None:
    async def scenario() -> None:
        broker = Broker(max_job_size=100)
        registry: set[ClientConnection] = set()
        conns = []
        for _ in streams:
            conn = ClientConnection(broker, lambda: None, registry)
            conn.connection_made(FakeTransport())
            conns.append(conn)
        for round_ in range(max(len(s) for s in streams)):
            for conn, stream in zip(conns, streams, strict=True):
                if round_ < len(stream):
                    conn.data_received(stream[round_])
            await asyncio.sleep(0)
            broker.tick()
            check_invariants(broker)
        for conn in conns:
            if eof:
                conn.eof_received()
            await asyncio.sleep(0)
            conn.connection_lost(None)
        # Everything is released once all connections are gone.
        assert broker.connections == 0
        assert broker.reserved_count == 0
        assert broker.waiting_count == 0
        check_invariants(broker)

    asyncio.run(scenario())
    assert errors.records == []
