"""The connection never lies (both clients where both apply): interrupted and cancelled
calls, stopped and dripping servers, cuts, hostile envelopes, NaN, what is not
beanstalkd, errors that say what they were about, unix sockets."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest

import beanstalkm
from beanstalkm import Client, aio
from beanstalkm.testing import BeanstalkdProcess

from .conftest import MakeClient, MakeConnection
from .fakeserver import FakeServer, replies


class Interrupted(Exception):
    """What a signal handler raises here (a time limit, say)."""


@pytest.fixture
def alarm() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise Interrupted

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# -- 1. an interrupted blocking call ---------------------------------------------------


def test_an_interrupted_reserve_leaves_no_reply_for_the_next_call(
    alarm: None, server: BeanstalkdProcess
) -> None:
    consumer = Client(*server.address, watch="jobs", timeout=5)
    producer = Client(*server.address, timeout=5)
    signal.setitimer(signal.ITIMER_REAL, 0.3)
    with pytest.raises(Interrupted):
        consumer.reserve()
    producer.put({"for": "someone"}, tube="jobs")
    job_id = consumer.queue.put(b"mine")
    assert isinstance(job_id, int)  # its own reply, not the other's job
    assert consumer.queue.stats_job(job_id)["tube"] == "default"
    stats = producer.queue.stats()
    assert stats["current-jobs-reserved"] == 0  # nothing held out of sight
    assert stats["current-jobs-ready"] == 2
    message = consumer.reserve(timeout=0)
    assert message is not None
    assert message.body == {"for": "someone"}
    consumer.close()
    producer.close()


def test_cancelled_pipeline_with_a_reserve_holds_nothing(server: BeanstalkdProcess) -> None:
    async def main() -> None:
        async with aio.Client(*server.address, watch="jobs", timeout=5) as consumer:
            pipeline = consumer.pipeline().stats().reserve_with_timeout(5)
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(pipeline.execute(), 0.3)
            async with aio.Client(*server.address, timeout=5) as producer:
                await producer.put({"n": 1}, tube="jobs")
                assert isinstance(await consumer.queue.put(b"mine"), int)
                stats = await producer.queue.stats()
                assert stats["current-jobs-reserved"] == 0

    asyncio.run(main())


# -- 2, 7, 10. bounded waits -------------------------------------------------------------


def test_a_pipeline_with_a_reserve_is_bounded_when_the_server_stops(
    make_connection: MakeConnection, server: BeanstalkdProcess
) -> None:
    conn = make_connection(timeout=0.5)
    conn.queue.stats()
    server.signal(signal.SIGSTOP)
    try:
        began = time.monotonic()
        with pytest.raises(beanstalkm.SocketError):
            conn.pipeline().stats().reserve_with_timeout(1).execute()
        assert time.monotonic() - began < 4  # the reserve's 1 s + 0.5 s, and slack
    finally:
        server.signal(signal.SIGCONT)
    assert conn.queue.stats()["cmd-reserve-with-timeout"] == 1  # reconnected, in step


def dripping(reply: bytes, every: float) -> Any:
    def script(request: bytes, conn: socket.socket, count: int) -> None:
        for i in range(0, len(reply), 4):
            conn.sendall(reply[i : i + 4])
            time.sleep(every)

    return script


def test_a_dripping_reply_is_bounded_as_a_whole(make_connection: MakeConnection) -> None:
    with FakeServer(dripping(b"OK 20\r\n---\n- default\n- x\n\r\n", 0.25)) as fake:
        conn = make_connection(*fake.address, timeout=1)
        began = time.monotonic()
        with pytest.raises(beanstalkm.SocketError):
            conn.queue.list_tubes()  # 8 chunks of 4 bytes, 0.25 s apart: 2 s in all
        assert time.monotonic() - began < 1.8
        conn.close()


def test_a_command_behind_a_reserve_keeps_its_timeout() -> None:
    def script(request: bytes, conn: socket.socket, count: int) -> None:
        if request.startswith(b"reserve-with-timeout"):
            time.sleep(0.3)
            conn.sendall(b"TIMED_OUT\r\n")
        # and nothing, ever, for what comes after it

    async def main(address: tuple[str, int]) -> None:
        client = aio.Client(*address, timeout=0.5)
        reserve = asyncio.ensure_future(client.queue.reserve_with_timeout(1))
        await asyncio.sleep(0.05)
        began = time.monotonic()
        with pytest.raises(beanstalkm.SocketError):
            await asyncio.wait_for(client.queue.stats(), 5)
        assert time.monotonic() - began < 2
        with pytest.raises(beanstalkm.TimedOut):
            await reserve
        await client.close()

    with FakeServer(script) as fake:
        asyncio.run(main(fake.address))


def test_the_default_timeout_is_finite() -> None:
    assert beanstalkm.Client().timeout == beanstalkm.DEFAULT_TIMEOUT == 10.0
    assert aio.Client().timeout == 10.0
    assert beanstalkm.Client(timeout=None).timeout is None
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(3)
    try:
        assert beanstalkm.Client().timeout == 3
    finally:
        socket.setdefaulttimeout(previous)


# -- 3. a cut after a put into another tube -------------------------------------------------


def test_after_a_cut_the_used_tube_is_the_users(
    make_client: MakeClient, server: BeanstalkdProcess
) -> None:
    client = make_client(use="orders")
    message = client.put({"n": 1}, tube="emails")
    assert message.uid > 0  # the put was answered: it is not repeated
    server.restart()  # every connection cut
    client.queue.put(b"raw")
    other = make_client()
    assert other.queue.stats_tube("orders")["current-jobs-ready"] == 1
    assert client.queue.using() == "orders"


# -- 4, 9. hostile envelopes, NaN ----------------------------------------------------------


HOSTILE = [
    # (fields replaced, whether a field cannot be read)
    ({"created": {"$data": 1e400}}, True),
    ({"created": {"$data": 10**30}}, True),
    ({"created": 1e400}, True),
    ({"created": {"$data": 253402300800000 + 1}}, False),  # year 10000: a time, no datetime
    ({"created": "yesterday"}, True),
    ({"sender": "me"}, True),
    ({"subscribe": 5, "channel": ["x"], "token": {"a": 1}}, True),
    ({"errors": "boom"}, True),
    ({"errors": ["fine", 5]}, True),
    ({"body": "\ud800"}, False),
]


@pytest.mark.parametrize(("fields", "unreadable"), HOSTILE, ids=repr)
def test_a_hostile_envelope_is_read_without_raising(
    fields: dict[str, Any], unreadable: bool, make_client: MakeClient
) -> None:
    envelope = {
        "@context": "message",
        "body": {"x": 1},
        "created": {"$data": 1},
        "sender": {"host": "h"},
        "subscribe": "",
        "token": "0" * 32,
        "errors": [],
        **fields,
    }
    writer = make_client(use="h")
    writer.queue.put(json.dumps(envelope).replace("Infinity", "1e400"))
    reader = make_client(watch="h")
    message = reader.reserve(timeout=0, drop=False)
    assert message is not None
    assert message.body == fields.get("body", {"x": 1})
    for name in ("created", "timestamp", "utc", "sender", "subscribe", "channel", "token"):
        getattr(message, name)  # none of them raises
    assert all(isinstance(e, str) for e in message.errors)
    assert str(message)
    assert bool(message.problems) == unreadable, message.problems
    if unreadable:
        message.release()
        strict = make_client(watch="h", strict=True)
        with pytest.raises(beanstalkm.InvalidMessage) as info:
            strict.reserve(timeout=0)
        held = info.value.message
        assert held.reserved  # type: ignore[attr-defined]
        held.bury()  # type: ignore[attr-defined]


def test_year_10000_has_no_datetime(make_client: MakeClient) -> None:
    client = make_client(watch="d", use="d")
    client.queue.put(json.dumps({"@context": "message", "body": 1, "created": 253402300800.5}))
    message = client.reserve(timeout=0)
    assert message is not None
    assert message.timestamp == 253402300800.5
    assert message.utc is None


def test_nan_is_refused_before_sending(client: Client) -> None:
    for body in ({"p": float("nan")}, [math.inf], -math.inf):
        with pytest.raises(ValueError, match="NaN or an infinity"):
            client.put(body)
    assert client.queue.stats()["cmd-put"] == 0


# -- what is not beanstalkd; errors that say what they were about ---------------------------


def test_an_http_server_is_recognised(make_connection: MakeConnection) -> None:
    answer = b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    with FakeServer(replies(answer, close=True)) as fake:
        conn = make_connection(*fake.address, timeout=2)
        with pytest.raises(beanstalkm.NotBeanstalkd) as info:
            conn.queue.stats()
        assert isinstance(info.value, beanstalkm.UnexpectedResponse)
        text = str(info.value)
        assert f"127.0.0.1:{fake.address[1]}" in text
        assert "'HTTP/1.0 400 Bad Request', which is not beanstalkd" in text
        assert "right port" in text
        conn.close()


def test_errors_name_what_they_were_about(client: Client, small_server: BeanstalkdProcess) -> None:
    with pytest.raises(beanstalkm.NotFound) as info:
        client.queue.delete(999999)
    assert info.value.args == ("delete", "NOT_FOUND", ())
    assert str(info.value) == "delete: NOT_FOUND (job 999999)"
    with pytest.raises(beanstalkm.NotFound, match="tube nope"):
        client.queue.stats_tube("nope")
    small = Client(*small_server.address, timeout=5)
    with pytest.raises(beanstalkm.JobTooBig, match="a body of 2000 bytes is more than"):
        small.queue.put(b"x" * 2000)
    small.close()


def test_arguments_are_checked_before_anything_is_sent(client: Client) -> None:
    with pytest.raises(TypeError, match="sender must be a dict, got str"):
        client.put({"n": 1}, sender="me")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="subscribe must be a str"):
        client.put({"n": 1}, subscribe=5)  # type: ignore[arg-type]
    client.queue.watch("a")
    client.put({"n": 1}, tube="a")
    message = client.reserve(timeout=0, drop=False)
    assert message is not None
    with pytest.raises(beanstalkm.InvalidArgument, match="delay"):
        message.release(delay=-1)
    with pytest.raises(beanstalkm.InvalidArgument, match="priority"):
        message.bury(priority=2**40)
    assert client.queue.stats()["cmd-stats-job"] == 0  # refused before asking anything
    message.delete()


def test_json_default_writes_what_json_has_no_type_for(make_client: MakeClient) -> None:
    client = make_client(json_default=beanstalkm.json_default, watch="j")
    when = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)
    key = uuid.UUID(int=7)
    sent = client.put(
        {"when": when, "id": key, "amount": Decimal("1.10"), "tags": {"b", "a"}}, tube="j"
    )
    received = client.reserve(timeout=0)
    assert received is not None
    expected = {
        "when": "2026-11-28T12:00:00+00:00",
        "id": str(key),
        "amount": "1.10",
        "tags": ["a", "b"],
    }
    assert received.body == expected
    assert received.valid is True
    assert received.token == sent.token == beanstalkm.envelope.token(expected)
    with pytest.raises(TypeError, match="object"):
        client.put(object())


# -- unix sockets --------------------------------------------------------------------------


@pytest.fixture
def unix_server() -> Iterator[BeanstalkdProcess]:
    directory = tempfile.mkdtemp(prefix="bs")  # short: a socket path has at most 107 bytes
    process = BeanstalkdProcess(host=f"unix:{directory}/b.sock")
    process.start()
    try:
        yield process
    finally:
        process.stop()
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


def test_unix_sockets(unix_server: BeanstalkdProcess, make_client: MakeClient) -> None:
    host, port = unix_server.address
    assert host.startswith("unix:/")
    assert port == 0
    client = make_client(host, port, watch="u")
    client.put({"n": 1}, tube="u")
    message = client.reserve(timeout=0)
    assert message is not None
    assert message.body == {"n": 1}
    assert client.address == host
    via_url = beanstalkm.Client.from_url("beanstalk+unix://" + host[len("unix:") :])
    assert via_url.queue.stats()["cmd-put"] == 1
    via_url.close()


def test_a_unix_socket_nobody_listens_on(tmp_path: Any) -> None:
    client = beanstalkm.Client(f"unix:{tmp_path}/none.sock", 0, timeout=1)
    with pytest.raises(beanstalkm.CannotConnect) as info:
        client.queue.stats()
    assert info.value.address == f"unix:{tmp_path}/none.sock"


def test_a_put_without_a_reply_says_the_job_may_exist(make_client: MakeClient) -> None:
    def script(request: bytes, conn: socket.socket, count: int) -> None:
        conn.shutdown(socket.SHUT_RDWR)  # the put arrived; its reply never leaves

    with FakeServer(script) as fake:
        client = make_client(*fake.address, timeout=2)
        with pytest.raises(beanstalkm.SocketError) as info:
            client.put({"n": 1}, tube="emails")
        text = str(info.value)
        assert "may have stored the job" in text
        assert not text.startswith("use")
        client.close()
