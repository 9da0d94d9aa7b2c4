"""ClientProtocol and ReplyParser fed exact reply bytes: results, errors, framing, session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beanstalkm import (
    BadFormat,
    Buried,
    CommandFailed,
    DeadlineSoon,
    Draining,
    ExpectedCrlf,
    InternalError,
    JobTooBig,
    NotFound,
    NotIgnored,
    OutOfMemory,
    SocketError,
    TimedOut,
    UnexpectedResponse,
    UnknownCommand,
)
from beanstalkm.commands import COMMANDS
from beanstalkm.protocol import NEED_DATA, ClientProtocol, Job, ReplyParser

# 1.12's exact bytes (PROTOCOL-NOTES.md).
STATS_JOB_BODY = (
    b"---\nid: 1\ntube: jobs.v1\nstate: reserved\npri: 100\nage: 1\ndelay: 0\nttr: 30\n"
    b"time-left: 29\nfile: 0\nreserves: 1\ntimeouts: 0\nreleases: 0\nburies: 0\nkicks: 0\n"
)
STATS_JOB_REPLY = b"OK 150\r\n" + STATS_JOB_BODY + b"\r\n"
STATS_JOB = {
    "id": 1,
    "tube": "jobs.v1",
    "state": "reserved",
    "pri": 100,
    "age": 1,
    "delay": 0,
    "ttr": 30,
    "time-left": 29,
    "file": 0,
    "reserves": 1,
    "timeouts": 0,
    "releases": 0,
    "buries": 0,
    "kicks": 0,
}
LIST_TUBES_BODY = b"---\n- default\n- jobs.v1\n"
LIST_TUBES_REPLY = b"OK 24\r\n" + LIST_TUBES_BODY + b"\r\n"
STATS_TUBE_BODY = (
    b"---\nname: 123\ncurrent-jobs-urgent: 0\ncurrent-jobs-ready: 2\ncurrent-jobs-reserved: 0\n"
    b"current-jobs-delayed: 0\ncurrent-jobs-buried: 0\ntotal-jobs: 2\ncurrent-using: 1\n"
    b"current-watching: 1\ncurrent-waiting: 0\ncmd-delete: 0\ncmd-pause-tube: 0\npause: 0\n"
    b"pause-time-left: 0\n"
)
SERVER_STATS_BODY = b'---\ncurrent-jobs-urgent: 0\npid: 42\nversion: "1.12"\ndraining: false\n'


def ok(body: bytes) -> bytes:
    return b"OK %d\r\n%b\r\n" % (len(body), body)


def fresh(**kwargs: Any) -> ClientProtocol:
    return ClientProtocol(**kwargs)


def result_of(
    name: str, args: Sequence[object], reply: bytes, proto: ClientProtocol | None = None
) -> Any:
    proto = proto if proto is not None else fresh()
    proto.send(COMMANDS[name], args)
    proto.receive_data(reply)
    return proto.next_result()


def test_reply_fixtures_have_the_declared_lengths() -> None:
    assert len(STATS_JOB_BODY) == 150
    assert len(LIST_TUBES_BODY) == 24


# -- success replies --

SUCCESSES: list[tuple[str, tuple[object, ...], bytes, object]] = [
    ("put", (b"x", 0, 0, 1), b"INSERTED 7\r\n", 7),
    ("put", (b"x", 0, 0, 1), b"INSERTED 18446744073709551615\r\n", 2**64 - 1),
    ("use", ("jobs",), b"USING jobs\r\n", "jobs"),
    ("reserve", (), b"RESERVED 5 3\r\nabc\r\n", Job(5, b"abc")),
    ("reserve", (), b"RESERVED 5 0\r\n\r\n", Job(5, b"")),
    # The body is framed by its length, so CRLF and reply-like bytes inside it are data.
    ("reserve", (), b"RESERVED 5 16\r\na\r\nINSERTED 1\r\nb\r\n", Job(5, b"a\r\nINSERTED 1\r\nb")),
    ("reserve", (), b"RESERVED 9 2\r\n\xff\x00\r\n", Job(9, b"\xff\x00")),
    ("reserve_with_timeout", (0,), b"RESERVED 6 2\r\nhi\r\n", Job(6, b"hi")),
    ("reserve_job", (6,), b"RESERVED 6 2\r\nhi\r\n", Job(6, b"hi")),
    ("delete", (1,), b"DELETED\r\n", None),
    ("release", (1, 0, 0), b"RELEASED\r\n", None),
    ("bury", (1, 0), b"BURIED\r\n", None),
    ("touch", (1,), b"TOUCHED\r\n", None),
    ("watch", ("jobs",), b"WATCHING 2\r\n", 2),
    ("ignore", ("jobs",), b"WATCHING 1\r\n", 1),
    ("peek", (3,), b"FOUND 3 2\r\nhi\r\n", Job(3, b"hi")),
    ("peek", (3,), b"NOT_FOUND\r\n", None),
    ("peek_ready", (), b"FOUND 4 1\r\nr\r\n", Job(4, b"r")),
    ("peek_ready", (), b"NOT_FOUND\r\n", None),
    ("peek_delayed", (), b"FOUND 4 1\r\nd\r\n", Job(4, b"d")),
    ("peek_delayed", (), b"NOT_FOUND\r\n", None),
    ("peek_buried", (), b"FOUND 4 1\r\nb\r\n", Job(4, b"b")),
    ("peek_buried", (), b"NOT_FOUND\r\n", None),
    ("kick", (10,), b"KICKED 4\r\n", 4),
    ("kick", (10,), b"KICKED 0\r\n", 0),
    ("kick_job", (4,), b"KICKED\r\n", None),
    ("stats_job", (1,), STATS_JOB_REPLY, STATS_JOB),
    ("stats_tube", ("123",), ok(STATS_TUBE_BODY), None),  # checked below: a dict
    ("stats", (), ok(SERVER_STATS_BODY), None),  # checked below: a dict
    ("list_tubes", (), LIST_TUBES_REPLY, ["default", "jobs.v1"]),
    ("using", (), b"USING default\r\n", "default"),
    ("watching", (), ok(b"---\n- default\n- 123\n"), ["default", "123"]),
    ("pause_tube", ("jobs", 5), b"PAUSED\r\n", None),
]


@pytest.mark.parametrize(
    ("name", "args", "reply", "expected"),
    [pytest.param(*case, id=f"{i}-{case[0]}") for i, case in enumerate(SUCCESSES)],
)
def test_success_reply(name: str, args: tuple[object, ...], reply: bytes, expected: object) -> None:
    result = result_of(name, args, reply)
    if name in ("stats_tube", "stats"):
        assert isinstance(result, dict)
    else:
        assert result == expected
        assert type(result) is type(expected)


def test_every_command_has_a_success_case() -> None:
    assert {case[0] for case in SUCCESSES} == set(COMMANDS)


def test_job_is_id_and_body() -> None:
    job = result_of("reserve", (), b"RESERVED 12 3\r\nabc\r\n")
    assert (job.id, job.body) == (12, b"abc")
    assert type(job.id) is int
    assert type(job.body) is bytes


def test_stats_tube_and_server_stats_are_typed() -> None:
    tube = result_of("stats_tube", ("123",), ok(STATS_TUBE_BODY))
    assert tube["name"] == "123"
    assert tube["current-jobs-ready"] == 2
    server = result_of("stats", (), ok(SERVER_STATS_BODY))
    assert server == {"current-jobs-urgent": 0, "pid": 42, "version": "1.12", "draining": False}


# -- YAML options --


def test_parse_yaml_false_returns_the_text() -> None:
    proto = fresh(parse_yaml=False)
    assert result_of("stats_job", (1,), STATS_JOB_REPLY, proto) == STATS_JOB_BODY.decode()
    assert result_of("list_tubes", (), LIST_TUBES_REPLY, proto) == LIST_TUBES_BODY.decode()


def test_parse_yaml_callable_gets_the_text() -> None:
    seen: list[str] = []

    def loader(text: str) -> object:
        seen.append(text)
        return ("loaded", len(seen))

    proto = fresh(parse_yaml=loader)
    assert result_of("stats_job", (1,), STATS_JOB_REPLY, proto) == ("loaded", 1)
    assert result_of("watching", (), LIST_TUBES_REPLY, proto) == ("loaded", 2)
    assert seen == [STATS_JOB_BODY.decode(), LIST_TUBES_BODY.decode()]


def test_parse_yaml_must_be_bool_or_callable() -> None:
    with pytest.raises(TypeError):
        ClientProtocol(parse_yaml="yes")  # type: ignore[arg-type]


def test_unparsable_yaml_is_an_unexpected_response() -> None:
    with pytest.raises(UnexpectedResponse):
        result_of("stats_job", (1,), ok(b"id: 1\n"))
    with pytest.raises(UnexpectedResponse):
        result_of("list_tubes", (), ok(b"---\ndefault\n"))


def test_unparsable_yaml_as_text_is_returned_as_it_is() -> None:
    assert result_of("stats", (), ok(b"nonsense"), fresh(parse_yaml=False)) == "nonsense"


# -- error replies --

ERROR_CLASS = {
    "BURIED": Buried,
    "DEADLINE_SOON": DeadlineSoon,
    "DRAINING": Draining,
    "EXPECTED_CRLF": ExpectedCrlf,
    "JOB_TOO_BIG": JobTooBig,
    "NOT_FOUND": NotFound,
    "NOT_IGNORED": NotIgnored,
    "TIMED_OUT": TimedOut,
    "BAD_FORMAT": BadFormat,
    "UNKNOWN_COMMAND": UnknownCommand,
    "OUT_OF_MEMORY": OutOfMemory,
    "INTERNAL_ERROR": InternalError,
}
_VALID: dict[str, object] = {"u32": 1, "id": 1, "timeout": 1, "tube": "t", "body": b"x"}
UNIVERSAL = ("BAD_FORMAT", "UNKNOWN_COMMAND", "OUT_OF_MEMORY", "INTERNAL_ERROR")
# Each command's own error replies, from PROTOCOL-NOTES.md (not from api.json).
OWN_ERRORS: list[tuple[str, tuple[object, ...], bytes, str, tuple[str, ...]]] = [
    ("put", (b"x", 0, 0, 1), b"BURIED 7\r\n", "BURIED", ("7",)),
    ("put", (b"x", 0, 0, 1), b"EXPECTED_CRLF\r\n", "EXPECTED_CRLF", ()),
    ("put", (b"x", 0, 0, 1), b"JOB_TOO_BIG\r\n", "JOB_TOO_BIG", ()),
    ("put", (b"x", 0, 0, 1), b"DRAINING\r\n", "DRAINING", ()),
    ("reserve", (), b"DEADLINE_SOON\r\n", "DEADLINE_SOON", ()),
    ("reserve", (), b"TIMED_OUT\r\n", "TIMED_OUT", ()),
    ("reserve_with_timeout", (1,), b"DEADLINE_SOON\r\n", "DEADLINE_SOON", ()),
    ("reserve_with_timeout", (1,), b"TIMED_OUT\r\n", "TIMED_OUT", ()),
    ("reserve_job", (1,), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
    ("delete", (1,), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
    ("release", (1, 0, 0), b"BURIED\r\n", "BURIED", ()),
    ("release", (1, 0, 0), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
    ("bury", (1, 0), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
    ("touch", (1,), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
    ("ignore", ("default",), b"NOT_IGNORED\r\n", "NOT_IGNORED", ()),
    ("kick_job", (1,), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
    ("stats_job", (1,), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
    ("stats_tube", ("t",), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
    ("pause_tube", ("t", 1), b"NOT_FOUND\r\n", "NOT_FOUND", ()),
]


@pytest.mark.parametrize(
    ("name", "args", "reply", "status", "reply_args"),
    [pytest.param(*case, id=f"{case[0]}-{case[3]}") for case in OWN_ERRORS],
)
def test_own_error_status(
    name: str, args: tuple[object, ...], reply: bytes, status: str, reply_args: tuple[str, ...]
) -> None:
    with pytest.raises(CommandFailed) as info:
        result_of(name, args, reply)
    assert type(info.value) is ERROR_CLASS[status]
    assert info.value.args == (name, status, reply_args)
    assert info.value.command == name
    assert info.value.reply_args == reply_args


def test_put_buried_carries_the_job_id() -> None:
    with pytest.raises(Buried) as info:
        result_of("put", (b"x", 0, 0, 1), b"BURIED 7\r\n")
    assert info.value.job_id == 7
    assert str(info.value) == "put: BURIED 7"


def test_release_buried_has_no_job_id() -> None:
    with pytest.raises(Buried) as info:
        result_of("release", (1, 0, 0), b"BURIED\r\n")
    assert info.value.job_id is None


def test_not_ignored() -> None:
    with pytest.raises(NotIgnored) as info:
        result_of("ignore", ("default",), b"NOT_IGNORED\r\n")
    assert info.value.args[1] == "NOT_IGNORED"
    assert str(info.value) == "ignore: NOT_IGNORED (tube default)"


@pytest.mark.parametrize("status", UNIVERSAL)
@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_universal_errors_for_every_command(name: str, status: str) -> None:
    args = [_VALID[p.kind] for p in COMMANDS[name].params]
    with pytest.raises(CommandFailed) as info:
        result_of(name, args, status.encode() + b"\r\n")
    assert type(info.value) is ERROR_CLASS[status]
    assert info.value.args == (name, status, ())


@pytest.mark.parametrize(
    ("name", "args", "reply"),
    [
        # Error statuses that belong to other commands.
        ("use", ("t",), b"NOT_FOUND\r\n"),
        ("put", (b"x", 0, 0, 1), b"NOT_FOUND\r\n"),
        ("peek", (1,), b"TIMED_OUT\r\n"),
        ("reserve", (), b"NOT_IGNORED\r\n"),
        ("reserve_job", (1,), b"DEADLINE_SOON\r\n"),
        ("delete", (1,), b"BURIED\r\n"),
        # Success statuses of other commands.
        ("delete", (1,), b"INSERTED 5\r\n"),
        ("peek", (1,), b"RESERVED 1 1\r\nx\r\n"),
        ("reserve", (), b"FOUND 1 1\r\nx\r\n"),
        ("stats", (), b"USING default\r\n"),
        ("using", (), ok(b"---\n- default\n")),
        # The right status with the wrong arguments.
        ("put", (b"x", 0, 0, 1), b"INSERTED\r\n"),
        ("put", (b"x", 0, 0, 1), b"INSERTED x\r\n"),
        ("put", (b"x", 0, 0, 1), b"INSERTED -1\r\n"),
        ("put", (b"x", 0, 0, 1), b"INSERTED 1 2\r\n"),
        ("put", (b"x", 0, 0, 1), b"INSERTED  1\r\n"),
        ("delete", (1,), b"DELETED 1\r\n"),
        ("delete", (1,), b"DELETED \r\n"),
        ("kick", (1,), b"KICKED\r\n"),
        ("kick_job", (1,), b"KICKED 1\r\n"),
        ("bury", (1, 0), b"BURIED 1\r\n"),
        ("use", ("t",), b"USING\r\n"),
        ("use", ("t",), b"USING a b\r\n"),
        ("watch", ("t",), b"WATCHING\r\n"),
        ("watch", ("t",), b"WATCHING two\r\n"),
        # Not a status at all.
        ("delete", (1,), b"HELLO\r\n"),
        ("delete", (1,), b"\r\n"),
        ("delete", (1,), b"deleted\r\n"),
    ],
)
def test_reply_that_makes_no_sense(name: str, args: tuple[object, ...], reply: bytes) -> None:
    with pytest.raises(UnexpectedResponse):
        result_of(name, args, reply)


def test_unexpected_response_names_command_and_status() -> None:
    with pytest.raises(UnexpectedResponse) as info:
        result_of("delete", (1,), b"HELLO there\r\n")
    assert info.value.args == ("delete", "HELLO", ("there",))


@pytest.mark.parametrize("name", ["put", "delete", "reserve", "ignore", "stats_job"])
def test_connection_stays_in_step_after_an_error(name: str) -> None:
    proto = fresh()
    args = [_VALID[p.kind] for p in COMMANDS[name].params]
    proto.send(COMMANDS[name], args)
    proto.send(COMMANDS["put"], (b"x", 0, 0, 1))
    proto.send(COMMANDS["stats_job"], (1,))
    proto.receive_data(b"INTERNAL_ERROR\r\nINSERTED 8\r\n" + STATS_JOB_REPLY)
    with pytest.raises(InternalError):
        proto.next_result()
    assert proto.next_result() == 8
    assert proto.next_result() == STATS_JOB
    assert proto.next_result() is NEED_DATA
    assert proto.in_flight == 0


def test_own_error_then_success_in_one_read() -> None:
    proto = fresh()
    proto.send(COMMANDS["delete"], (1,))
    proto.send(COMMANDS["reserve"], ())
    proto.receive_data(b"NOT_FOUND\r\nRESERVED 2 2\r\nok\r\n")
    with pytest.raises(NotFound):
        proto.next_result()
    assert proto.next_result() == Job(2, b"ok")


# -- pipelining --

PIPELINE: list[tuple[str, tuple[object, ...], bytes, object]] = [
    ("use", ("jobs",), b"USING jobs\r\n", "jobs"),
    ("put", (b"one", 0, 0, 1), b"INSERTED 1\r\n", 1),
    ("put", (b"two\r\n", 0, 0, 1), b"INSERTED 2\r\n", 2),
    ("watch", ("jobs",), b"WATCHING 2\r\n", 2),
    ("reserve", (), b"RESERVED 1 3\r\none\r\n", Job(1, b"one")),
    ("peek", (2,), b"FOUND 2 5\r\ntwo\r\n\r\n", Job(2, b"two\r\n")),
    ("peek_ready", (), b"NOT_FOUND\r\n", None),
    ("stats_job", (1,), STATS_JOB_REPLY, STATS_JOB),
    ("list_tubes", (), LIST_TUBES_REPLY, ["default", "jobs.v1"]),
    ("delete", (1,), b"DELETED\r\n", None),
    ("kick", (5,), b"KICKED 0\r\n", 0),
    ("ignore", ("default",), b"WATCHING 1\r\n", 1),
]
PIPELINE_BYTES = b"".join(reply for _, _, reply, _ in PIPELINE)
PIPELINE_RESULTS = [expected for *_, expected in PIPELINE]


def send_all(
    proto: ClientProtocol, requests: Sequence[tuple[str, tuple[object, ...], Any, Any]]
) -> bytes:
    return b"".join(proto.send(COMMANDS[name], args) for name, args, *_ in requests)


def drain(proto: ClientProtocol) -> list[Any]:
    """Every result available now, errors as (class, args)."""
    results: list[Any] = []
    while True:
        try:
            result = proto.next_result()
        except CommandFailed as exc:
            result = (type(exc), exc.args)
        if result is NEED_DATA:
            return results
        results.append(result)


def test_pipeline_all_at_once() -> None:
    proto = fresh()
    send_all(proto, PIPELINE)
    assert proto.in_flight == len(PIPELINE)
    proto.receive_data(PIPELINE_BYTES)
    assert drain(proto) == PIPELINE_RESULTS
    assert proto.in_flight == 0
    assert proto.using == "jobs"
    assert proto.watching == ["jobs"]


def test_pipeline_byte_by_byte() -> None:
    proto = fresh()
    send_all(proto, PIPELINE)
    results: list[Any] = []
    for i in range(len(PIPELINE_BYTES)):
        proto.receive_data(PIPELINE_BYTES[i : i + 1])
        results += drain(proto)
    assert results == PIPELINE_RESULTS


def test_pipeline_results_come_only_when_whole() -> None:
    proto = fresh()
    send_all(proto, PIPELINE[:2])
    proto.receive_data(b"USING jobs\r\nINSERTED 1\r")
    assert proto.next_result() == "jobs"
    assert proto.next_result() is NEED_DATA
    proto.receive_data(b"\n")
    assert proto.next_result() == 1


def test_send_takes_a_separately_encoded_request() -> None:
    proto = fresh()
    data = COMMANDS["put"].encode((b"x", 0, 0, 1))
    assert proto.send(COMMANDS["put"], (b"x", 0, 0, 1), data=data) == data
    assert data == b"put 0 0 1 1\r\nx\r\n"
    proto.receive_data(b"INSERTED 3\r\n")
    assert proto.next_result() == 3


def test_memoryview_and_bytearray_input() -> None:
    proto = fresh()
    send_all(proto, PIPELINE[:2])
    proto.receive_data(bytearray(b"USING jobs\r\n"))
    proto.receive_data(memoryview(b"INSERTED 1\r\n"))
    assert drain(proto) == ["jobs", 1]


# -- garbage and framing errors --


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        ("reserve", b"RESERVED x 5\r\n"),
        ("reserve", b"RESERVED 5\r\n"),
        ("reserve", b"RESERVED 5 x\r\n"),
        ("reserve", b"RESERVED 5 -1\r\n"),
        ("reserve", b"RESERVED 5 3 3\r\n"),
        ("reserve", b"RESERVED -5 3\r\n"),
        ("peek", b"FOUND 1\r\n"),
        ("peek", b"FOUND\r\n"),
        ("stats", b"OK -1\r\n"),
        ("stats", b"OK +5\r\n"),
        ("stats", b"OK 1e3\r\n"),
        ("stats", b"OK\r\n"),
        ("stats", b"OK \r\n"),
        ("stats", b"OK 1 2\r\n"),
        ("stats", b"OK 99999999999999\r\n"),
        ("stats", b"OK %d\r\n" % (1024**3 + 1)),
        ("reserve", b"RESERVED 1 99999999999999\r\n"),
    ],
)
def test_malformed_body_header_fails_at_once(name: str, reply: bytes) -> None:
    # Waiting for a body whose length cannot be trusted would wait forever.
    with pytest.raises(UnexpectedResponse):
        result_of(name, (1,) if name == "peek" else (), reply)


def test_body_length_bound_is_configurable() -> None:
    parser = ReplyParser(max_body=10)
    parser.feed(b"OK 10\r\n0123456789\r\n")
    assert parser.next_reply() == (b"OK", (), b"0123456789")
    parser.feed(b"OK 11\r\n")
    with pytest.raises(Exception, match="exceeds"):
        parser.next_reply()


@pytest.mark.parametrize(
    "reply",
    [
        b"RESERVED 1 3\r\nabcXY",
        b"RESERVED 1 3\r\nabc\n\r\n",
        b"RESERVED 1 3\r\nabcd\r\n",
        b"RESERVED 1 3\r\nab\r\n\r\n",
    ],
)
def test_body_not_followed_by_crlf(reply: bytes) -> None:
    with pytest.raises(UnexpectedResponse):
        result_of("reserve", (), reply)


def test_line_too_long_without_crlf() -> None:
    proto = fresh()
    proto.send(COMMANDS["delete"], (1,))
    proto.receive_data(b"X" * 513)
    with pytest.raises(UnexpectedResponse):
        proto.next_result()


def test_line_too_long_arriving_in_pieces() -> None:
    proto = fresh()
    proto.send(COMMANDS["delete"], (1,))
    # 512 bytes may still be the start of a line; one more cannot be.
    for _ in range(8):
        proto.receive_data(b"X" * 64)
        assert proto.next_result() is NEED_DATA
    proto.receive_data(b"X")
    with pytest.raises(UnexpectedResponse):
        proto.next_result()


def test_longest_real_reply_line_arriving_byte_by_byte() -> None:
    tube = "t" * 200
    reply = b"USING " + tube.encode() + b"\r\n"
    proto = fresh()
    proto.send(COMMANDS["use"], (tube,))
    for i in range(len(reply) - 1):
        proto.receive_data(reply[i : i + 1])
        assert proto.next_result() is NEED_DATA
    proto.receive_data(reply[-1:])
    assert proto.next_result() == tube
    assert proto.using == tube


def test_big_body_is_not_a_long_line() -> None:
    body = b"y" * 100_000
    assert result_of("reserve", (), b"RESERVED 1 100000\r\n" + body + b"\r\n") == Job(1, body)


@pytest.mark.parametrize("data", [b"INSERTED 1\r\n", b"x", b"\r\n"])
def test_bytes_with_no_request_in_flight(data: bytes) -> None:
    proto = fresh()
    proto.receive_data(data)
    with pytest.raises(UnexpectedResponse):
        proto.next_result()


def test_extra_bytes_after_the_last_reply() -> None:
    proto = fresh()
    proto.send(COMMANDS["delete"], (1,))
    proto.receive_data(b"DELETED\r\nDELETED\r\n")
    assert proto.next_result() is None
    with pytest.raises(UnexpectedResponse):
        proto.next_result()


def test_nothing_in_flight_and_nothing_received_needs_data() -> None:
    assert fresh().next_result() is NEED_DATA


# -- end of stream --


@pytest.mark.parametrize(
    "received",
    [
        pytest.param(b"", id="before-reply"),
        pytest.param(b"INSERT", id="mid-line"),
        pytest.param(b"INSERTED 1\r", id="before-LF"),
        pytest.param(b"RESERVED 1 5\r\n", id="after-header"),
        pytest.param(b"RESERVED 1 5\r\nab", id="mid-body"),
        pytest.param(b"RESERVED 1 5\r\nabcde", id="before-body-CRLF"),
        pytest.param(b"RESERVED 1 5\r\nabcde\r", id="before-body-LF"),
    ],
)
def test_eof_before_a_whole_reply_is_a_socket_error(received: bytes) -> None:
    proto = fresh()
    proto.send(COMMANDS["reserve"], ())
    if received:
        proto.receive_data(received)
    assert proto.next_result() is NEED_DATA
    proto.receive_data(b"")
    with pytest.raises(SocketError):
        proto.next_result()


def test_eof_in_the_same_feed_as_partial_data() -> None:
    proto = fresh()
    proto.send(COMMANDS["reserve"], ())
    proto.receive_data(b"RESERVED 1 5\r\nab")
    proto.receive_data(b"")
    with pytest.raises(SocketError):
        proto.next_result()


def test_whole_replies_before_eof_are_still_delivered() -> None:
    proto = fresh()
    proto.send(COMMANDS["delete"], (1,))
    proto.send(COMMANDS["delete"], (2,))
    proto.receive_data(b"DELETED\r\n")
    proto.receive_data(b"")
    assert proto.next_result() is None
    with pytest.raises(SocketError):
        proto.next_result()


def test_eof_with_nothing_in_flight() -> None:
    proto = fresh()
    proto.receive_data(b"")
    with pytest.raises(SocketError):
        proto.next_result()


def test_reset_forgets_in_flight_and_eof_but_keeps_the_session() -> None:
    proto = fresh()
    proto.send(COMMANDS["use"], ("a",))
    proto.receive_data(b"USING a\r\n")
    assert proto.next_result() == "a"
    proto.send(COMMANDS["delete"], (1,))
    proto.receive_data(b"DELE")
    proto.receive_data(b"")
    proto.reset()
    assert proto.in_flight == 0
    assert proto.next_result() is NEED_DATA
    assert proto.using == "a"
    proto.send(COMMANDS["delete"], (1,))
    proto.receive_data(b"DELETED\r\n")
    assert proto.next_result() is None


# -- session tracking --


def test_use_is_tracked_from_the_reply() -> None:
    proto = fresh()
    assert proto.using == "default"
    result_of("use", (b"jobs",), b"USING jobs\r\n", proto)
    assert proto.using == "jobs"
    assert type(proto.using) is str


def test_list_tube_used_does_not_change_the_session() -> None:
    proto = fresh()
    result_of("using", (), b"USING other\r\n", proto)
    assert proto.using == "default"


def test_failed_use_does_not_change_the_session() -> None:
    proto = fresh()
    with pytest.raises(BadFormat):
        result_of("use", ("jobs",), b"BAD_FORMAT\r\n", proto)
    assert proto.using == "default"


def test_watch_and_ignore_update_the_watch_list() -> None:
    proto = fresh()
    assert proto.watching == ["default"]
    result_of("watch", ("a",), b"WATCHING 2\r\n", proto)
    result_of("watch", (b"b",), b"WATCHING 3\r\n", proto)
    assert proto.watching == ["default", "a", "b"]
    result_of("watch", ("a",), b"WATCHING 3\r\n", proto)
    assert proto.watching == ["default", "a", "b"]
    result_of("ignore", ("default",), b"WATCHING 2\r\n", proto)
    assert proto.watching == ["a", "b"]
    result_of("ignore", ("nope",), b"WATCHING 2\r\n", proto)
    assert proto.watching == ["a", "b"]
    result_of("ignore", ("a",), b"WATCHING 1\r\n", proto)
    with pytest.raises(NotIgnored):
        result_of("ignore", ("b",), b"NOT_IGNORED\r\n", proto)
    assert proto.watching == ["b"]
    assert all(type(t) is str for t in proto.watching)


def test_session_changes_only_when_the_reply_arrives() -> None:
    proto = fresh()
    proto.send(COMMANDS["use"], ("a",))
    proto.send(COMMANDS["watch"], ("a",))
    assert (proto.using, proto.watching) == ("default", ["default"])
    proto.receive_data(b"USING a\r\nWATCHING 2\r\n")
    drain(proto)
    assert (proto.using, proto.watching) == ("a", ["default", "a"])


def test_failed_watch_does_not_change_the_session() -> None:
    proto = fresh()
    with pytest.raises(OutOfMemory):
        result_of("watch", ("a",), b"OUT_OF_MEMORY\r\n", proto)
    assert proto.watching == ["default"]


def test_initial_session() -> None:
    proto = ClientProtocol(use="u", watch=["a", "b", "a"])
    assert proto.using == "u"
    assert proto.watching == ["a", "b"]
    with pytest.raises(ValueError, match="watched"):
        ClientProtocol(watch=())


# -- restore_requests --


def requests_of(proto: ClientProtocol) -> list[tuple[str, tuple[object, ...]]]:
    return [(command.wire, args) for command, args in proto.restore_requests()]


@pytest.mark.parametrize(
    ("use", "watch", "expected"),
    [
        pytest.param("default", ["default"], [], id="fresh"),
        pytest.param("jobs", ["default"], [("use", ("jobs",))], id="use-only"),
        pytest.param("default", ["default", "a"], [("watch", ("a",))], id="watch-only"),
        pytest.param(
            "default",
            ["a", "default", "b"],
            [("watch", ("a",)), ("watch", ("b",))],
            id="watch-several",
        ),
        # default is ignored last: ignoring it first would be NOT_IGNORED.
        pytest.param(
            "default", ["a"], [("watch", ("a",)), ("ignore", ("default",))], id="without-default"
        ),
        pytest.param(
            "x",
            ["a", "b"],
            [("use", ("x",)), ("watch", ("a",)), ("watch", ("b",)), ("ignore", ("default",))],
            id="everything",
        ),
    ],
)
def test_restore_requests(use: str, watch: list[str], expected: list[Any]) -> None:
    assert requests_of(ClientProtocol(use=use, watch=watch)) == expected


def test_restore_requests_follow_replies() -> None:
    proto = fresh()
    for name, tube, reply in [
        ("use", "u", b"USING u\r\n"),
        ("watch", "w", b"WATCHING 2\r\n"),
        ("ignore", "default", b"WATCHING 1\r\n"),
    ]:
        result_of(name, (tube,), reply, proto)
    assert requests_of(proto) == [("use", ("u",)), ("watch", ("w",)), ("ignore", ("default",))]


def test_restore_requests_encode() -> None:
    proto = ClientProtocol(use="x", watch=["a"])
    data = b"".join(command.encode(args) for command, args in proto.restore_requests())
    assert data == b"use x\r\nwatch a\r\nignore default\r\n"


TUBES = st.sampled_from(["default", "a", "b", "c"])
SESSION_OPS = st.lists(st.tuples(st.sampled_from(["use", "watch", "ignore"]), TUBES), max_size=12)


def apply_with_server_replies(proto: ClientProtocol, ops: list[tuple[str, str]]) -> None:
    """Run ops against a model of the server, feeding the replies it would send."""
    using = proto.using
    watching = list(proto.watching)
    for op, tube in ops:
        if op == "use":
            using = tube
            reply = b"USING %b\r\n" % tube.encode()
        elif op == "watch":
            if tube not in watching:
                watching.append(tube)
            reply = b"WATCHING %d\r\n" % len(watching)
        elif watching == [tube]:
            reply = b"NOT_IGNORED\r\n"
        else:
            if tube in watching:
                watching.remove(tube)
            reply = b"WATCHING %d\r\n" % len(watching)
        proto.send(COMMANDS[op], (tube,))
        proto.receive_data(reply)
        drain(proto)
    assert (proto.using, sorted(proto.watching)) == (using, sorted(watching))


@settings(max_examples=200, deadline=None)
@given(ops=SESSION_OPS)
def test_restore_requests_rebuild_the_session(ops: list[tuple[str, str]]) -> None:
    old = fresh()
    apply_with_server_replies(old, ops)
    new = fresh()
    restore: list[tuple[str, str]] = []
    for command, args in old.restore_requests():
        (tube,) = args
        assert isinstance(tube, str)
        restore.append((command.name, tube))
    apply_with_server_replies(new, restore)
    assert new.using == old.using
    assert sorted(new.watching) == sorted(old.watching)


# -- any chunking gives the same results --

# (command, args, reply bytes, expected outcome); errors as (class, args).
Exchange = tuple[str, tuple[object, ...], bytes, Any]

BODIES = st.binary(max_size=40) | st.sampled_from([b"\r\n", b"a\r\nb", b"RESERVED 1 1\r\n"])
IDS = st.integers(min_value=1, max_value=2**64 - 1)


@st.composite
def exchanges(draw: Callable[..., Any]) -> Exchange:
    kind = draw(st.integers(min_value=0, max_value=10))
    if kind == 0:
        n = draw(IDS)
        return ("put", (b"x", 0, 0, 1), b"INSERTED %d\r\n" % n, n)
    if kind == 1:
        n = draw(IDS)
        return (
            "put",
            (b"x", 0, 0, 1),
            b"BURIED %d\r\n" % n,
            (Buried, ("put", "BURIED", (str(n),))),
        )
    if kind == 2:
        tube = draw(st.sampled_from(["a", "123", "jobs.v1", "t" * 200]))
        return ("use", (tube,), b"USING %b\r\n" % tube.encode(), tube)
    if kind == 3:
        n = draw(st.integers(min_value=1, max_value=1000))
        return ("watch", ("a",), b"WATCHING %d\r\n" % n, n)
    if kind == 4:
        n, body = draw(IDS), draw(BODIES)
        return ("reserve", (), b"RESERVED %d %d\r\n%b\r\n" % (n, len(body), body), Job(n, body))
    if kind == 5:
        n, body = draw(IDS), draw(BODIES)
        return ("peek", (n,), b"FOUND %d %d\r\n%b\r\n" % (n, len(body), body), Job(n, body))
    if kind == 6:
        return ("peek_ready", (), b"NOT_FOUND\r\n", None)
    if kind == 7:
        return ("delete", (1,), b"DELETED\r\n", None)
    if kind == 8:
        return ("delete", (1,), b"NOT_FOUND\r\n", (NotFound, ("delete", "NOT_FOUND", ())))
    if kind == 9:
        return ("stats_job", (1,), STATS_JOB_REPLY, STATS_JOB)
    status = draw(st.sampled_from(UNIVERSAL))
    return (
        "list_tubes",
        (),
        status.encode() + b"\r\n",
        (ERROR_CLASS[status], ("list_tubes", status, ())),
    )


@settings(max_examples=300, deadline=None)
@given(
    stream=st.lists(exchanges(), min_size=1, max_size=12),
    data=st.data(),
)
def test_any_chunking_gives_the_same_results(stream: list[Exchange], data: st.DataObject) -> None:
    replies = b"".join(reply for _, _, reply, _ in stream)
    expected = [outcome for *_, outcome in stream]

    whole = fresh()
    send_all(whole, stream)
    whole.receive_data(replies)
    assert drain(whole) == expected

    cuts = sorted(
        data.draw(st.lists(st.integers(min_value=0, max_value=len(replies)), max_size=20))
    )
    chunked = fresh()
    send_all(chunked, stream)
    results: list[Any] = []
    for start, end in zip([0, *cuts], [*cuts, len(replies)], strict=True):
        if start == end:
            continue  # b"" would mean the server closed the connection
        chunked.receive_data(replies[start:end])
        results += drain(chunked)
    assert results == expected
    assert chunked.in_flight == 0
    assert (chunked.using, chunked.watching) == (whole.using, whole.watching)
