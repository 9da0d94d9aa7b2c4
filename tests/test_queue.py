"""The low-level layer against a real beanstalkd: every command, success and errors."""

from __future__ import annotations

import time

import pytest

import beanstalkm
from beanstalkm import Connection
from beanstalkm.commands import COMMANDS
from beanstalkm.testing import BeanstalkdProcess

from .conftest import MakeConnection


def test_every_command_is_a_queue_method(connection: Connection) -> None:
    for name, command in COMMANDS.items():
        method = getattr(connection.queue.__class__, name)
        summary, wire = method.__doc__.split("\n\n")
        assert " ".join(summary.split()) == command.doc
        assert f"``{command.wire}" in wire
        assert method.__name__ == name


def test_use_and_using(connection: Connection) -> None:
    q = connection.queue
    assert q.using() == "default"
    assert q.use("foo") == "foo"
    assert q.using() == "foo"


def test_watch_ignore_watching(connection: Connection) -> None:
    q = connection.queue
    assert q.watching() == ["default"]
    assert q.watch("bar") == 2
    assert q.watch("bar") == 2
    assert q.watching() == ["default", "bar"]
    assert q.ignore("nothing") == 2
    assert q.ignore("default") == 1
    with pytest.raises(beanstalkm.NotIgnored) as info:
        q.ignore("bar")
    assert info.value.args == ("ignore", "NOT_IGNORED", ())
    assert isinstance(info.value, beanstalkm.CommandFailed)
    assert q.watching() == ["bar"]


def test_list_tubes_follow_tube_lifetime(connection: Connection, other: beanstalkm.Client) -> None:
    q = connection.queue
    q.use("foo")
    assert q.list_tubes() == ["default", "foo"]
    q.use("default")
    assert q.list_tubes() == ["default"]
    other.queue.watch("123")
    other.queue.watch("true")
    assert q.list_tubes() == ["default", "123", "true"]


def test_put_reserve_delete_raw_bodies(connection: Connection) -> None:
    q = connection.queue
    first = q.put(b"\x00\x01\xfe\xff\r\n", priority=5, delay=0, ttr=30)
    second = q.put("héllo")
    assert second == first + 1
    job = q.reserve()
    assert (job.uid, job.reserved) == (first, True)
    assert job.body == b"\x00\x01\xfe\xff\r\n"
    q.delete(job.uid)
    job = q.reserve_with_timeout(0)
    assert job.uid == second
    assert job.body == "héllo"
    q.delete(second)
    with pytest.raises(beanstalkm.NotFound) as info:
        q.delete(second)
    assert info.value.args == ("delete", "NOT_FOUND", ())


def test_empty_body(connection: Connection) -> None:
    q = connection.queue
    uid = q.put(b"")
    job = q.peek(uid)
    assert job is not None
    assert job.body == ""


def test_reserve_with_timeout_times_out(connection: Connection) -> None:
    start = time.monotonic()
    with pytest.raises(beanstalkm.TimedOut) as info:
        connection.queue.reserve_with_timeout(1)
    assert time.monotonic() - start >= 0.9
    assert info.value.args[1] == "TIMED_OUT"
    assert connection.queue.using() == "default"  # still in step


def test_reserve_job(connection: Connection) -> None:
    q = connection.queue
    q.use("elsewhere")
    uid = q.put(b"x", delay=100)
    job = q.reserve_job(uid)
    assert job.uid == uid
    assert job.reserved
    assert q.stats_job(uid)["state"] == "reserved"
    with pytest.raises(beanstalkm.NotFound):
        q.reserve_job(uid + 100)


def test_release_bury_kick_touch(connection: Connection) -> None:
    q = connection.queue
    uid = q.put(b"job", priority=10)
    q.reserve()
    q.touch(uid)
    q.release(uid, priority=20, delay=0)
    stats = q.stats_job(uid)
    assert (stats["state"], stats["pri"], stats["releases"]) == ("ready", 20, 1)
    q.reserve()
    q.bury(uid, 30)
    assert q.stats_job(uid)["state"] == "buried"
    assert q.stats_job(uid)["pri"] == 30
    assert q.kick(5) == 1
    assert q.stats_job(uid)["state"] == "ready"
    assert q.kick(5) == 0
    q.reserve()
    q.bury(uid)
    q.kick_job(uid)
    assert q.stats_job(uid)["state"] == "ready"
    for method in (q.touch, q.bury):
        with pytest.raises(beanstalkm.NotFound):
            method(uid)  # not reserved by this connection
    with pytest.raises(beanstalkm.NotFound):
        q.release(uid)
    with pytest.raises(beanstalkm.NotFound):
        q.kick_job(uid)  # ready jobs cannot be kicked


def test_kick_moves_delayed_when_none_buried(connection: Connection) -> None:
    q = connection.queue
    uid = q.put(b"later", delay=100)
    assert q.stats_job(uid)["state"] == "delayed"
    assert q.kick(10) == 1
    assert q.stats_job(uid)["state"] == "ready"


def test_peek_commands(connection: Connection) -> None:
    q = connection.queue
    assert q.peek_ready() is None
    assert q.peek_delayed() is None
    assert q.peek_buried() is None
    assert q.peek(1) is None
    ready = q.put(b"ready")
    delayed = q.put(b"delayed", delay=100)
    buried = q.put(b"buried")
    job = q.reserve_job(buried)
    q.bury(job.uid)
    peeked = q.peek_ready()
    assert peeked is not None
    assert (peeked.uid, peeked.body, peeked.reserved) == (ready, "ready", False)
    peeked = q.peek_delayed()
    assert peeked is not None
    assert (peeked.uid, peeked.body) == (delayed, "delayed")
    peeked = q.peek_buried()
    assert peeked is not None
    assert (peeked.uid, peeked.body) == (buried, "buried")
    peeked = q.peek(delayed)
    assert peeked is not None
    assert peeked.body == "delayed"
    stats = peeked.stats()
    assert stats is not None
    assert stats["state"] == "delayed"


def test_peek_acts_on_used_tube(connection: Connection) -> None:
    q = connection.queue
    q.use("a")
    q.put(b"in a")
    q.use("b")
    assert q.peek_ready() is None
    q.use("a")
    job = q.peek_ready()
    assert job is not None
    assert job.body == "in a"


def test_stats_types(connection: Connection) -> None:
    q = connection.queue
    q.use("123")
    uid = q.put(b"x")
    stats = q.stats()
    assert stats["version"] == "1.12"
    assert isinstance(stats["rusage-utime"], float)
    assert stats["draining"] is False
    assert isinstance(stats["id"], str)
    assert isinstance(stats["os"], str)
    assert stats["os"]
    assert stats["current-jobs-ready"] == 1
    assert stats["max-job-size"] == 65535
    tube = q.stats_tube("123")
    assert tube["name"] == "123"
    assert tube["current-jobs-ready"] == 1
    assert tube["current-using"] == 1
    job = q.stats_job(uid)
    assert job["id"] == uid
    assert job["tube"] == "123"
    assert job["state"] == "ready"
    with pytest.raises(beanstalkm.NotFound):
        q.stats_job(uid + 1)
    with pytest.raises(beanstalkm.NotFound):
        q.stats_tube("missing")
    assert q.list_tubes() == ["default", "123"]


@pytest.mark.parametrize("name", ["123", "true", "null", "1.5", "0x1F", "yes", "$x", "(a)"])
def test_tube_names_stay_strings(connection: Connection, name: str) -> None:
    q = connection.queue
    assert q.use(name) == name
    assert q.using() == name
    assert q.watch(name) == 2
    assert q.watching() == ["default", name]
    assert q.list_tubes() == ["default", name]
    assert q.stats_tube(name)["name"] == name


def test_raw_yaml_and_custom_parser(
    server: BeanstalkdProcess, make_connection: MakeConnection
) -> None:
    raw = make_connection(parse_yaml=False)
    text: object = raw.queue.list_tubes()
    assert text == "---\n- default\n"
    text = raw.queue.stats_tube("default")
    assert isinstance(text, str)
    assert text.startswith("---\nname: default\n")
    # the reply body was consumed: the connection is in step
    assert raw.queue.using() == "default"
    lines = make_connection(parse_yaml=str.splitlines)
    assert lines.queue.watching() == ["---", "- default"]
    raw.close()
    lines.close()


def test_pause_tube(connection: Connection, other: beanstalkm.Client) -> None:
    q = connection.queue
    q.use("slow")
    q.put(b"x")
    q.pause_tube("slow", 1)
    stats = q.stats_tube("slow")
    assert stats["pause"] == 1
    assert stats["cmd-pause-tube"] == 1
    other.queue.watch("slow")
    start = time.monotonic()
    job = other.queue.reserve_with_timeout(3)
    assert time.monotonic() - start >= 0.5
    job.delete()
    q.pause_tube("slow", 0)
    assert q.stats_tube("slow")["pause"] == 0
    with pytest.raises(beanstalkm.NotFound):
        q.pause_tube("missing", 1)


def test_delete_of_another_connections_reservation(
    connection: Connection, other: beanstalkm.Client
) -> None:
    uid = connection.queue.put(b"x")
    other.queue.reserve()
    with pytest.raises(beanstalkm.NotFound):
        connection.queue.delete(uid)
    other.queue.delete(uid)


def test_deadline_soon(connection: Connection) -> None:
    q = connection.queue
    q.put(b"short", ttr=1)
    q.reserve()
    with pytest.raises(beanstalkm.DeadlineSoon) as info:
        q.reserve_with_timeout(2)
    assert isinstance(info.value, beanstalkm.BeanstalkmException)
    assert info.value.args[1] == "DEADLINE_SOON"


def test_job_too_big_keeps_connection_usable(
    small_server: BeanstalkdProcess, make_connection: MakeConnection
) -> None:
    conn = make_connection(*small_server.address, timeout=5)
    q = conn.queue
    assert q.put(b"x" * 1024) > 0
    with pytest.raises(beanstalkm.JobTooBig) as info:
        q.put(b"x" * 1025)
    assert info.value.args == ("put", "JOB_TOO_BIG", ())
    uid = q.put(b"fits")
    job = q.peek(uid)
    assert job is not None
    assert job.body == "fits"
    conn.close()


def test_max_size_body_is_accepted(connection: Connection) -> None:
    body = bytes(range(256)) * 255 + b"\r\n\r\n" + b"x" * 251
    assert len(body) == 65535
    uid = connection.queue.put(body)
    job = connection.queue.reserve()
    assert job.uid == uid
    assert job.body == body


def test_generic_call(connection: Connection) -> None:
    assert connection.queue("use", "t") == "t"
    with pytest.raises(AttributeError):
        connection.queue("nope")


def test_drain_mode(server: BeanstalkdProcess, connection: Connection) -> None:
    import signal

    connection.queue.put(b"before")
    server.signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while not connection.queue.stats()["draining"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with pytest.raises(beanstalkm.Draining):
        connection.queue.put(b"during")
    assert connection.queue.stats()["current-jobs-ready"] == 1
