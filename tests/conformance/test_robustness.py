"""Bad clients never take the server down or disturb the other connections."""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from .conftest import Target
from .wire import Wire, wait_until

MANY = 500


def worker_round(wire: Wire, n: int) -> None:
    """A well-behaved client's put/reserve/delete cycle, checked byte for byte."""
    body = b"job-%d" % n
    line, _ = wire.reply(b"put 0 0 60 %d\r\n%s\r\n" % (len(body), body))
    assert line.startswith(b"INSERTED ")
    job_id = int(line.split()[1])
    reserved = b"RESERVED %d %d\r\n%s\r\n" % (job_id, len(body), body)
    wire.ask(b"reserve-job %d\r\n" % job_id, reserved)
    wire.ask(b"delete %d\r\n" % job_id, b"DELETED\r\n")


@contextlib.contextmanager
def keeps_working(address: tuple[str, int]) -> Iterator[list[int]]:
    """Run a healthy client on a thread during the block; it must never fail."""
    rounds = [0]
    errors: list[BaseException] = []
    stop = threading.Event()

    def run() -> None:
        try:
            with Wire(address) as wire:
                wire.ask(b"use healthy\r\n", b"USING healthy\r\n")
                while not stop.is_set():
                    worker_round(wire, rounds[0])
                    rounds[0] += 1
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield rounds
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive(), "the healthy client hung"
    if errors:
        raise errors[0]


def reset(sock: socket.socket) -> None:
    """Close with RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_garbage_does_not_disturb_others(server: Target) -> None:
    rng = random.Random(1234)
    with keeps_working(server.address) as rounds:
        for i in range(20):
            with socket.create_connection(server.address, timeout=5) as sock:
                sock.sendall(rng.randbytes(rng.randrange(1, 20_000)))
                if i % 2:
                    sock.shutdown(socket.SHUT_WR)
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"x" * 1_000_000)  # one enormous line
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"\r" * 100_000 + b"\n" * 100_000)
        with socket.create_connection(server.address, timeout=5) as sock:
            sock.sendall(b"put 0 0 10 4294967295\r\n" + b"z" * 100_000)  # a huge skip
        half = socket.create_connection(server.address, timeout=5)
        half.sendall(b"put 0 0 10 100\r\nonly part of the body")
        half.shutdown(socket.SHUT_WR)
        rude = socket.create_connection(server.address, timeout=5)
        rude.sendall(b"put 0 0 10 100\r\nabc")
        reset(rude)
        waiting = socket.create_connection(server.address, timeout=5)
        waiting.sendall(b"watch nothing\r\nignore default\r\nreserve\r\n")
        reset(waiting)
        assert wait_until(lambda: rounds[0] > 20, timeout=10)
        half.close()
    with Wire(server.address) as wire:
        worker_round(wire, -1)
        assert wait_until(lambda: wire.stats()["current-connections"] == "1", timeout=5)
        assert wire.stats()["current-jobs-reserved"] == "0"


def test_client_that_never_reads_does_not_block_others(server: Target) -> None:
    body = b"b" * 60_000
    with Wire(server.address) as wire:
        wire.ask(b"put 0 0 10 60000\r\n" + body + b"\r\n", b"INSERTED 1\r\n")
    hog = socket.create_connection(server.address, timeout=5)
    try:
        with keeps_working(server.address) as rounds:
            hog.settimeout(0.5)
            # ~60 MB of replies that are never read: the server must stop reading
            # from this client instead of buffering without bound, and serve others.
            with contextlib.suppress(OSError):
                for _ in range(1000):
                    hog.sendall(b"peek 1\r\n" * 10)
            assert wait_until(lambda: rounds[0] > 20, timeout=10)
    finally:
        reset(hog)


def test_many_concurrent_connections(server: Target) -> None:
    _raise_fd_limit(4 * MANY + 200)
    wires: list[Wire] = []
    try:
        for _ in range(MANY):
            wires.append(Wire(server.address))
        for i, wire in enumerate(wires):
            wire.send(b"put 0 0 60 %d\r\n%d\r\n" % (len(str(i)), i))
        for i, wire in enumerate(wires):
            wire.expect(b"INSERTED %d\r\n" % (i + 1))
        for wire in wires:
            wire.send(b"reserve\r\n")
        seen = set()
        for wire in wires:
            line, body = wire.read_reply()
            assert line.startswith(b"RESERVED ")
            seen.add(body)
        assert seen == {b"%d" % i for i in range(MANY)}
        with Wire(server.address) as observer:
            stats = observer.stats()
            assert stats["current-connections"] == str(MANY + 1)
            assert stats["current-jobs-reserved"] == str(MANY)
    finally:
        for wire in wires:
            wire.close()


def test_many_waiting_reserves(server: Target) -> None:
    _raise_fd_limit(4 * MANY + 200)
    wires: list[Wire] = []
    try:
        for _ in range(MANY):
            wire = Wire(server.address)
            wire.send(b"reserve\r\n")
            wires.append(wire)
        with Wire(server.address) as producer:
            assert wait_until(lambda: producer.stats()["current-waiting"] == str(MANY), timeout=10)
            producer.send(b"put 0 0 60 1\r\nx\r\n" * MANY)
            for i in range(1, MANY + 1):
                producer.expect(b"INSERTED %d\r\n" % i)
        ids = set()
        for wire in wires:
            line, body = wire.read_reply()
            assert line.startswith(b"RESERVED ")
            assert body == b"x"
            ids.add(int(line.split()[1]))
        assert ids == set(range(1, MANY + 1))
    finally:
        for wire in wires:
            wire.close()


def _raise_fd_limit(wanted: int) -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} file descriptors, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
