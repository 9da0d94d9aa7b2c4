"""The high-level Client and Message against a real beanstalkd."""

from __future__ import annotations

import hashlib
import json
import os
import socket

import pytest

import beanstalkm
from beanstalkm import Client
from beanstalkm.message import BaseMessage
from beanstalkm.testing import BeanstalkdProcess

from .conftest import MakeClient, MakeConnection


def test_constants() -> None:
    assert beanstalkm.DEFAULT_HOST == "127.0.0.1"
    assert beanstalkm.DEFAULT_PORT == 11300
    assert beanstalkm.DEFAULT_TUBE == "receive"
    assert beanstalkm.DEFAULT_PRIORITY == 2**31
    assert beanstalkm.DEFAULT_DELAY == 0
    assert beanstalkm.DEFAULT_TTR == 120
    assert isinstance(beanstalkm.__version__, str)
    assert issubclass(Client, beanstalkm.Connection)


def test_exception_hierarchy() -> None:
    base = beanstalkm.BeanstalkmException
    for cls in (
        beanstalkm.UnexpectedResponse,
        beanstalkm.CommandFailed,
        beanstalkm.DeadlineSoon,
        beanstalkm.SocketError,
    ):
        assert issubclass(cls, base)
    for cls in (
        beanstalkm.NotFound,
        beanstalkm.TimedOut,
        beanstalkm.JobTooBig,
        beanstalkm.Draining,
        beanstalkm.Buried,
        beanstalkm.NotIgnored,
        beanstalkm.BadFormat,
        beanstalkm.UnknownCommand,
        beanstalkm.OutOfMemory,
        beanstalkm.InternalError,
        beanstalkm.ExpectedCrlf,
    ):
        assert issubclass(cls, beanstalkm.CommandFailed)
    assert issubclass(beanstalkm.InvalidArgument, base)
    assert issubclass(beanstalkm.InvalidArgument, ValueError)


def test_put_returns_sent_message(client: Client) -> None:
    message = client.put({"to": "ada"})
    assert isinstance(message, BaseMessage)
    assert message.uid > 0
    assert message.body == {"to": "ada"}
    assert message.tube == "receive"
    assert message.priority == beanstalkm.DEFAULT_PRIORITY
    assert not message.reserved
    stats = client.queue.stats_job(message.uid)
    assert (stats["tube"], stats["pri"], stats["ttr"]) == ("receive", 2**31, 120)


def test_put_leaves_used_tube_alone(client: Client) -> None:
    client.queue.use("mine")
    client.put("x", tube="elsewhere")
    assert client.queue.using() == "mine"
    assert client.queue.stats_tube("elsewhere")["current-jobs-ready"] == 1


def test_put_into_used_tube_costs_one_command(
    server: BeanstalkdProcess, make_client: MakeClient
) -> None:
    client = make_client(use="receive")
    client.put("warm up")
    before = client.queue.stats()
    for _ in range(5):
        client.put("x")
    after = client.queue.stats()
    assert after["cmd-put"] - before["cmd-put"] == 5
    assert after["cmd-use"] == before["cmd-use"]
    assert after["cmd-list-tube-used"] == 0
    client.close()


def test_reserve_drop_and_keep(client: Client) -> None:
    client.queue.watch(beanstalkm.DEFAULT_TUBE)
    client.put("hey!")
    message = client.reserve(drop=False)
    assert message is not None
    assert message.body == "hey!"
    assert message.reserved
    message.delete()
    assert message.stats() is None
    client.put("dropped")
    message = client.reserve()
    assert message is not None
    assert message.body == "dropped"
    assert message.deleted
    assert client.queue.stats()["current-jobs-ready"] == 0


def test_reserve_timeout_returns_none(client: Client) -> None:
    assert client.reserve(timeout=0) is None
    with pytest.raises(beanstalkm.InvalidArgument):
        client.reserve(timeout=-1)


def test_client_watch_and_use_arguments(server: BeanstalkdProcess, make_client: MakeClient) -> None:
    client = make_client(use="out", watch=["in1", "in2"])
    assert client.queue.using() == "out"
    # beanstalkd lists watched tubes in its own order
    assert sorted(client.queue.watching()) == ["in1", "in2"]
    client.close()
    single = make_client(watch="only")
    assert single.queue.watching() == ["only"]
    single.close()
    with pytest.raises(beanstalkm.InvalidArgument):
        make_client(use="bad name")


def test_envelope_on_the_wire(client: Client, make_connection: MakeConnection) -> None:
    message = client.put({"n": 1}, subscribe="replies", channel="chan", sender={"ua": "test"})
    job = client.queue.peek(message.uid)
    assert job is not None
    raw = client.queue.stats_job(message.uid)
    assert raw["state"] == "ready"
    raw_conn = make_connection()
    raw_conn.queue.use("receive")
    peeked = raw_conn.queue.peek_ready()
    assert peeked is not None
    envelope = json.loads(json.dumps(peeked.as_dict()))
    assert envelope["@context"] == "message"
    assert envelope["body"] == {"n": 1}
    assert envelope["subscribe"] == "replies"
    assert envelope["channel"] == "chan"
    assert envelope["sender"]["ua"] == "test"
    assert envelope["sender"]["pid"] == os.getpid()
    assert envelope["sender"]["host"] == socket.gethostname()
    assert envelope["sender"]["version"] == beanstalkm.__version__
    assert isinstance(envelope["created"]["$data"], int)
    expected = hashlib.md5(
        json.dumps({"body": {"n": 1}}, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert envelope["token"] == expected == message.token
    assert envelope["errors"] == []
    assert peeked.valid is True
    assert peeked.validation_error is None
    raw_conn.close()


@pytest.mark.parametrize(
    "body",
    [{"a": [1, 2]}, [1, "two"], "text", 42, 1.5, True, False, None, {"data": "\x00\x01\xfe\xff"}],
)
def test_body_round_trips_unchanged(client: Client, body: object) -> None:
    client.queue.watch(beanstalkm.DEFAULT_TUBE)
    client.put(body)
    message = client.reserve()
    assert message is not None
    assert message.body == body
    assert type(message.body) is type(body)
    assert message.is_envelope


def test_invalid_envelope_keeps_body(
    client: Client, server: BeanstalkdProcess, make_client: MakeClient
) -> None:
    client.queue.watch(beanstalkm.DEFAULT_TUBE)
    client.queue.use(beanstalkm.DEFAULT_TUBE)
    bad = {"@context": "message", "body": {"x": 1}, "created": "yesterday", "sender": {}}
    client.queue.put(json.dumps(bad))
    message = client.reserve(drop=False)
    assert message is not None
    assert message.body == {"x": 1}
    assert message.valid is False
    assert message.validation_error
    message.delete()
    strict = make_client(watch=beanstalkm.DEFAULT_TUBE, strict=True)
    client.queue.put(json.dumps(bad))
    with pytest.raises(beanstalkm.InvalidMessage) as info:
        strict.reserve()
    assert isinstance(info.value.message, BaseMessage)
    held: beanstalkm.Message = info.value.message  # type: ignore[assignment]
    assert held.reserved
    assert held.body == {"x": 1}
    held.bury()
    assert client.queue.stats()["current-jobs-buried"] == 1
    strict.close()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b"[1, 2]", [1, 2]),
        (b"17", 17),
        (b"plain text", "plain text"),
        ("caf\u00e9".encode(), "caf\u00e9"),
        (b"\xff\xfe\x00", b"\xff\xfe\x00"),
        (b'{"@context": "message"}', {"@context": "message"}),
    ],
)
def test_foreign_jobs_are_delivered_as_they_are(
    client: Client, raw: bytes, expected: object
) -> None:
    client.queue.watch("foreign")
    client.queue.use("foreign")
    client.queue.put(raw)
    message = client.reserve()
    assert message is not None
    assert message.body == expected
    assert not message.is_envelope
    assert message.valid is None


def test_reads_beanstalkm_1_0_envelopes(client: Client) -> None:
    # As beanstalkm 1.0.0 wrote them: json.dumps defaults, "created" in ms or seconds.
    old = {
        "@context": "message",
        "body": {"v": 1},
        "created": {"$data": 1500000000123},
        "sender": {"host": "h", "pid": 1, "time": 1500000000.5, "version": "1.0.0"},
        "subscribe": "s",
        "token": hashlib.md5(b'{"body":{"v":1}}').hexdigest(),
        "errors": [],
    }
    seconds = dict(old, created=1500000000.25)
    client.queue.watch("old")
    client.queue.use("old")
    client.queue.put(json.dumps(old))
    client.queue.put(json.dumps(seconds))
    first = client.reserve()
    second = client.reserve()
    assert first is not None
    assert second is not None
    for message in (first, second):
        assert message.body == {"v": 1}
        assert message.subscribe == "s"
        assert message.sender["version"] == "1.0.0"
        assert message.valid is True
    assert first.created == {"$data": 1500000000123}
    assert second.created == {"$data": 1500000000250}
    assert second.timestamp == 1500000000.25


def test_our_envelopes_satisfy_beanstalkm_1_0_schema(client: Client) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    # beanstalkm 1.0.0's schema: these fields required, nothing else allowed.
    old_schema = {
        "type": "object",
        "required": ["@context", "body", "created", "sender", "subscribe", "token"],
        "properties": {
            "@context": {"type": "string"},
            "body": {"type": "object"},
            "created": {"type": "object", "required": ["$data"]},
            "sender": {"type": "object", "required": ["host"]},
            "subscribe": {"type": "string"},
            "channel": {"type": "string"},
            "token": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    message = client.put({"k": "v"})
    peeked = client.queue.peek(message.uid)
    assert peeked is not None
    jsonschema.validate(json.loads(str(peeked)), old_schema)


def test_put_unserializable_sends_nothing(client: Client) -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        client.put(object())
    assert client.queue.stats()["cmd-put"] == 0


def test_bad_arguments_send_nothing(client: Client) -> None:
    for call in (
        lambda: client.put("x", tube="bad tube"),
        lambda: client.put("x", tube="evil\r\nkick 100"),
        lambda: client.put("x", priority=-1),
        lambda: client.put("x", delay=2**32),
        lambda: client.put("x", ttr=1.5),  # type: ignore[arg-type]
        lambda: client.queue.delete(0),
        lambda: client.queue.kick(-1),
        lambda: client.queue.watch("-x"),
        lambda: client.queue.use("a" * 201),
    ):
        with pytest.raises(beanstalkm.InvalidArgument):
            call()
    stats = client.queue.stats()
    assert stats["cmd-put"] == stats["cmd-use"] == stats["cmd-delete"] == 0
    assert stats["cmd-kick"] == stats["cmd-watch"] == 0
    assert client.queue.list_tubes() == ["default"]


def test_call_makes_unsent_message(client: Client) -> None:
    message = client({"draft": True}, subscribe="back")
    assert message.uid == 0
    assert message.stats() is None
    uid = message.send(tube="drafts")
    assert uid == message.uid > 0
    assert client.queue.stats_tube("drafts")["current-jobs-ready"] == 1
    forwarded = client.put(message, tube="copies")
    assert forwarded.body == {"draft": True}
    assert forwarded.subscribe == "back"


def test_message_str_and_as_dict(client: Client) -> None:
    message = client.put({"a": 1}, channel="c")
    as_json = json.loads(str(message))
    assert as_json == message.as_dict()
    assert as_json["channel"] == "c"
    assert repr(message).startswith("<Message uid=")


def test_release_and_bury_keep_priority(client: Client) -> None:
    client.queue.watch(beanstalkm.DEFAULT_TUBE)
    client.put("job", priority=42)
    message = client.reserve(drop=False)
    assert message is not None
    assert message.priority is None  # the reserve reply does not say
    message.release()
    assert client.queue.stats_job(message.uid)["pri"] == 42
    message = client.reserve(drop=False)
    assert message is not None
    message.bury()
    stats = message.stats()
    assert stats is not None
    assert (stats["state"], stats["pri"]) == ("buried", 42)
    message.kick()
    message = client.reserve(drop=False)
    assert message is not None
    message.release(priority=7, delay=1)
    stats = message.stats()
    assert stats is not None
    assert (stats["state"], stats["pri"]) == ("delayed", 7)


def test_touch_extends_ttr(client: Client) -> None:
    client.queue.watch(beanstalkm.DEFAULT_TUBE)
    client.put("job", ttr=30)
    message = client.reserve(drop=False)
    assert message is not None
    message.touch()
    stats = message.stats()
    assert stats is not None
    assert stats["time-left"] >= 28


def test_fifo_and_priorities(client: Client) -> None:
    client.queue.watch(beanstalkm.DEFAULT_TUBE)
    for value, priority in (("foo", 42), ("bar", 21), ("qux", 21), ("low", 2**32 - 1), ("top", 0)):
        client.put({"v": value}, priority=priority)
    order = []
    for _ in range(5):
        message = client.reserve(timeout=0)
        assert message is not None
        order.append(message.body["v"])
    assert order == ["top", "bar", "qux", "foo", "low"]


def test_context_manager_closes(server: BeanstalkdProcess, make_client: MakeClient) -> None:
    with make_client() as client:
        assert client.connected
        client.put("x")
    assert not client.connected
    # a closed client reconnects on the next command
    assert client.queue.using() == "default"
    client.close()


def test_changing_one_messages_sender_leaves_the_clients(client: Client) -> None:
    message = client({"a": 1})
    message.sender["ua"] = "only this one"
    message.send()
    assert "ua" not in client.sender
    later = client.put({"a": 2})
    peeked = client.queue.peek(later.uid)
    assert peeked is not None
    assert "ua" not in peeked.sender
    first = client.queue.peek(message.uid)
    assert first is not None
    assert first.sender["ua"] == "only this one"
