"""Dropped connections, timeouts and nonsense from the server."""

from __future__ import annotations

import socket
import time

import pytest

import beanstalkm
from beanstalkm import Client, Connection
from beanstalkm.testing import BeanstalkdProcess, free_port

from .conftest import MakeClient, MakeConnection
from .fakeserver import FakeServer, replies


def test_restart_restores_used_and_watched_tubes(
    server: BeanstalkdProcess, make_client: MakeClient
) -> None:
    client = make_client(timeout=5)
    client.queue.use("out")
    client.queue.watch("in")
    client.queue.ignore("default")
    server.restart()
    # the very next call reconnects and restores the session before it runs
    assert client.queue.using() == "out"
    assert client.queue.watching() == ["in"]
    message = client.put("after restart", tube="in")
    assert client.queue.using() == "out"
    got = client.reserve(timeout=0)
    assert got is not None
    assert got.uid == message.uid
    client.close()


def test_restart_with_default_session(server: BeanstalkdProcess, make_client: MakeClient) -> None:
    client = make_client(timeout=5)
    client.put("before")
    server.restart()
    message = client.put("after")
    assert message.uid == 1  # a fresh server
    assert client.queue.watching() == ["default"]
    client.close()


def test_message_of_lost_connection_raises(
    server: BeanstalkdProcess, make_client: MakeClient
) -> None:
    client = make_client(timeout=5, watch="receive")
    client.put("job")
    message = client.reserve(drop=False)
    assert message is not None
    client.reconnect()
    for action in (message.delete, message.release, message.bury, message.touch):
        with pytest.raises(beanstalkm.ReservationLost, match="connection that reserved it"):
            action()
        message.reserved = True  # as it was, for the next action
    assert isinstance(beanstalkm.ReservationLost("x"), beanstalkm.SocketError)
    # the server released the job when the connection went
    stats = client.queue.stats_job(message.uid)
    assert stats["state"] == "ready"
    client.close()


def test_server_down_raises_socket_error_with_address(make_client: MakeClient) -> None:
    port = free_port()
    client = make_client("127.0.0.1", port, timeout=1)
    with pytest.raises(beanstalkm.SocketError, match=f"127.0.0.1:{port}"):
        client.put("x")


def test_reply_timeout_then_reconnect(make_connection: MakeConnection) -> None:
    def stall_first(request: bytes, conn: socket.socket, count: int) -> None:
        if request.startswith(b"stats-tube") and count == 1:
            return  # never answer the first
        conn.sendall(b"USING default\r\n")

    with FakeServer(stall_first) as fake:
        conn = make_connection(*fake.address, timeout=0.3)
        start = time.monotonic()
        with pytest.raises(beanstalkm.SocketError, match="timed out"):
            conn.queue.stats_tube("x")
        assert time.monotonic() - start < 3
        assert not conn.connected
        assert conn.queue.using() == "default"
        assert fake.connections == 2
        conn.close()


def test_blocking_reserve_waits_past_the_reply_timeout(
    connection: Connection, make_connection: MakeConnection
) -> None:
    short = make_connection(timeout=0.2)
    start = time.monotonic()
    with pytest.raises(beanstalkm.TimedOut):
        short.queue.reserve_with_timeout(1)
    assert time.monotonic() - start >= 0.9
    assert short.queue.using() == "default"
    short.close()


def test_reserve_without_timeout_waits_for_a_job(
    server: BeanstalkdProcess, make_client: MakeClient
) -> None:
    import threading

    waiting = make_client(timeout=0.2, watch="receive")
    producer = Client(*server.address)  # a blocking one: it runs in another thread
    timer = threading.Timer(0.5, lambda: producer.put("late"))
    timer.start()
    try:
        message = waiting.reserve()
    finally:
        timer.join()
    assert message is not None
    assert message.body == "late"
    waiting.close()
    producer.close()


def test_socket_options(connection: Connection) -> None:
    connection.connect()
    # the blocking connection's socket, or the asyncio one's view of its socket
    sock = getattr(connection, "_sock", None) or getattr(connection, "_socket", None)
    assert isinstance(sock, socket.socket)
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE)


@pytest.mark.parametrize(
    ("chunks", "error"),
    [
        ((b"WHAT IS THIS\r\n",), beanstalkm.UnexpectedResponse),
        ((b"\x00\xff\xfe garbage\r\n",), beanstalkm.UnexpectedResponse),
        ((b"x" * 2000,), beanstalkm.UnexpectedResponse),
        ((b"OK 99999999999999\r\n",), beanstalkm.UnexpectedResponse),
        ((b"OK -5\r\n",), beanstalkm.UnexpectedResponse),
        ((b"OK 5\r\n---\nabcdefgh",), beanstalkm.UnexpectedResponse),
        ((b"OK 20\r\n---\n- de",), beanstalkm.SocketError),
        ((b"OK 8\r\n---\n: x\n\r\n",), beanstalkm.UnexpectedResponse),
        ((b"INSERTED 5\r\n",), beanstalkm.UnexpectedResponse),
        ((b"",), beanstalkm.SocketError),
        ((b"OK 1",), beanstalkm.SocketError),
    ],
    ids=[
        "unknown-status",
        "binary",
        "endless-line",
        "oversize-length",
        "negative-length",
        "body-without-crlf",
        "cut-mid-body",
        "bad-yaml",
        "wrong-reply",
        "closed-at-once",
        "cut-mid-line",
    ],
)
def test_nonsense_never_hangs_and_resets(
    chunks: tuple[bytes, ...], error: type[Exception], make_connection: MakeConnection
) -> None:
    with FakeServer(replies(*chunks, close=True)) as fake:
        conn = make_connection(*fake.address, timeout=2)
        start = time.monotonic()
        with pytest.raises(error):
            conn.queue.list_tubes()
        assert time.monotonic() - start < 1.5
        assert not conn.connected
        conn.close()


def test_unexpected_response_carries_what_was_received(make_connection: MakeConnection) -> None:
    with FakeServer(replies(b"SURPRISE 1 2\r\n")) as fake:
        conn = make_connection(*fake.address, timeout=2)
        with pytest.raises(beanstalkm.UnexpectedResponse) as info:
            conn.queue.delete(1)
        assert info.value.args == ("delete", "SURPRISE", ("1", "2"))
        conn.close()


def test_reply_split_byte_by_byte(make_connection: MakeConnection) -> None:
    body = b"---\n- default\n- x\n"

    def dribble(request: bytes, conn: socket.socket, count: int) -> None:
        for byte in b"OK %d\r\n%b\r\n" % (len(body), body):
            conn.sendall(bytes([byte]))

    with FakeServer(dribble) as fake:
        conn = make_connection(*fake.address, timeout=2)
        assert conn.queue.list_tubes() == ["default", "x"]
        assert conn.queue.list_tubes() == ["default", "x"]
        conn.close()


def test_error_statuses_from_any_command(make_connection: MakeConnection) -> None:
    with FakeServer(replies(b"OUT_OF_MEMORY\r\n")) as fake:
        conn = make_connection(*fake.address, timeout=2)
        with pytest.raises(beanstalkm.OutOfMemory):
            conn.queue.put(b"x")
        with pytest.raises(beanstalkm.OutOfMemory):
            conn.queue.stats()
        assert conn.connected  # an error status leaves the connection in step
        conn.close()


def test_put_buried_reports_the_job_id(make_connection: MakeConnection) -> None:
    with FakeServer(replies(b"BURIED 77\r\n")) as fake:
        conn = make_connection(*fake.address, timeout=2)
        with pytest.raises(beanstalkm.Buried) as info:
            conn.queue.put(b"x")
        assert info.value.job_id == 77
        assert info.value.args == ("put", "BURIED", ("77",))
        conn.close()


@pytest.mark.parametrize("action", ["delete", "release", "bury", "touch"])
def test_message_of_silently_lost_connection_raises(
    server: BeanstalkdProcess, make_client: MakeClient, action: str
) -> None:
    client = make_client(watch="receive")
    client.put("job")
    message = client.reserve(drop=False)
    assert message is not None
    # The server goes away and comes back without the client noticing: the next
    # command reconnects, and must not act on a job this connection no longer holds.
    server.restart()
    other = beanstalkm.Client(*server.address)
    other.put("job again")  # a fresh server: this job has the same id
    with pytest.raises(beanstalkm.ReservationLost):
        getattr(message, action)()
    assert not message.reserved
    assert other.queue.stats_job(message.uid)["state"] == "ready"
    other.close()
