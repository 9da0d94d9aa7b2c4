"""One connection pipelining thousands of commands does not hold up the others."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from beanstalkm.server.connection import TURN_COMMANDS, ClientConnection
from beanstalkm.server.state import Broker
from beanstalkm.testing import EMBEDDED, BeanstalkdProcess

PUT = b"put 0 0 120 5\r\nhello\r\n"


class Transport:
    """Records what the connection writes and whether it reads."""

    def __init__(self) -> None:
        self.written = bytearray()
        self.reading = True

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default


def test_a_turn_handles_a_bounded_number_of_commands() -> None:
    broker = Broker()
    turns: list[Callable[[], None]] = []
    conn = ClientConnection(broker, lambda: None, set(), call_soon=turns.append)
    transport = Transport()
    conn.connection_made(transport)
    conn.data_received(PUT * 1000)
    replies = [transport.written.count(b"\r\n")]
    while turns:
        turns.pop(0)()
        replies.append(transport.written.count(b"\r\n"))
    assert replies == list(range(TURN_COMMANDS, 1001, TURN_COMMANDS))
    assert broker.total_jobs == 1000


def test_a_connection_with_much_unhandled_input_stops_reading() -> None:
    turns: list[Callable[[], None]] = []
    conn = ClientConnection(Broker(), lambda: None, set(), call_soon=turns.append)
    transport = Transport()
    conn.connection_made(transport)
    conn.data_received(PUT * 10_000)  # about 220 KB
    assert not transport.reading
    while turns:
        turns.pop(0)()
    assert transport.reading
    assert transport.written.count(b"\r\n") == 10_000


@pytest.fixture
def embedded() -> Iterator[tuple[str, int]]:
    server = BeanstalkdProcess(binary=EMBEDDED)
    try:
        yield server.start()
    finally:
        server.stop()


def test_another_client_is_answered_while_one_pipelines(embedded: tuple[str, int]) -> None:
    """The latency bound is loose for a shared, noisy machine; answering only after
    the flood (as before turns were bounded) takes hundreds of milliseconds.
    bench/fairness_bench.py measures it properly."""
    puts = 50_000
    flood = socket.create_connection(embedded)
    done = threading.Event()

    def read_replies() -> None:
        seen = 0
        while seen < puts:
            chunk = flood.recv(1 << 20)
            assert chunk
            seen += chunk.count(b"\r\n")
        done.set()

    reader = threading.Thread(target=read_replies, daemon=True)
    reader.start()
    latencies: list[float] = []
    with socket.create_connection(embedded, timeout=10) as probe:
        probe.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sender = threading.Thread(target=flood.sendall, args=(PUT * puts,), daemon=True)
        sender.start()
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            start = time.perf_counter()
            probe.sendall(b"list-tube-used\r\n")
            assert probe.recv(64) == b"USING default\r\n"
            latencies.append(time.perf_counter() - start)
            time.sleep(0.002)
    reader.join(60)
    sender.join(10)
    flood.close()
    assert done.is_set()
    assert len(latencies) >= 20, "the flood ended before the other client could ask much"
    latencies.sort()
    p90 = latencies[int(len(latencies) * 0.9)]
    assert p90 < 0.05, f"90th percentile {p90 * 1000:.1f} ms over {len(latencies)} requests"
