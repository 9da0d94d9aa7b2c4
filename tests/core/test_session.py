"""The session the protocol keeps, bytes only: the used tube switched lazily, the
connection generation reserved jobs belong to, request tags, reply allowances, and a
new connection's restore."""

from __future__ import annotations

from typing import Any

import pytest

from beanstalkm.commands import COMMANDS
from beanstalkm.errors import (
    InvalidArgument,
    NotFound,
    ReservationLost,
    TimedOut,
    UnexpectedResponse,
)
from beanstalkm.protocol import NEED_DATA, ClientProtocol, Job

PUT, USE, KICK, USING = COMMANDS["put"], COMMANDS["use"], COMMANDS["kick"], COMMANDS["using"]
DELETE, RESERVE = COMMANDS["delete"], COMMANDS["reserve"]
RESERVE_WITH_TIMEOUT, STATS = COMMANDS["reserve_with_timeout"], COMMANDS["stats"]


def answer(proto: ClientProtocol, data: bytes) -> list[Any]:
    proto.receive_data(data)
    results = []
    while (result := proto.next_result()) is not NEED_DATA:
        results.append(result)
    return results


def test_a_put_into_another_tube_switches_once() -> None:
    proto = ClientProtocol()
    assert proto.send(PUT, (b"a", 1, 0, 60), tube="emails") == (
        b"use emails\r\nput 1 0 60 1\r\na\r\n"
    )
    assert proto.in_flight == 2
    assert answer(proto, b"USING emails\r\nINSERTED 5\r\n") == [5]  # the use is the protocol's
    # the same tube again: nothing in front
    assert proto.send(PUT, (b"b", 1, 0, 60), tube="emails") == b"put 1 0 60 1\r\nb\r\n"
    assert answer(proto, b"INSERTED 6\r\n") == [6]
    assert proto.using == "default"  # the user's used tube did not change


def test_commands_on_the_used_tube_switch_back_first() -> None:
    proto = ClientProtocol(use="orders")
    assert proto.send(PUT, (b"a", 1, 0, 60)) == b"use orders\r\nput 1 0 60 1\r\na\r\n"
    answer(proto, b"USING orders\r\nINSERTED 1\r\n")
    proto.send(PUT, (b"a", 1, 0, 60), tube="emails")
    answer(proto, b"USING emails\r\nINSERTED 2\r\n")
    for command, args in ((KICK, (5,)), (USING, ()), (PUT, (b"x", 0, 0, 1))):
        data = proto.send(command, args)
        assert data.startswith(b"use orders\r\n"), command
        assert proto.send(command, args) == data[len(b"use orders\r\n") :]
        proto.reset()
        proto.connected()
    # commands that name their tube or job never switch
    assert proto.send(COMMANDS["stats_tube"], ("x",)) == b"stats-tube x\r\n"


def test_a_use_in_a_pipeline_counts_for_what_follows() -> None:
    proto = ClientProtocol()
    data = proto.send_many([(USE, ("jobs",), None, None), (PUT, (b"a", 0, 0, 1), None, None)])
    assert data == b"use jobs\r\nput 0 0 1 1\r\na\r\n"
    assert answer(proto, b"USING jobs\r\nINSERTED 3\r\n") == ["jobs", 3]
    assert proto.using == "jobs"


def test_a_failed_internal_use_is_not_passed_off_as_the_commands_reply() -> None:
    proto = ClientProtocol()
    proto.send(PUT, (b"a", 0, 0, 1), tube="t")
    proto.receive_data(b"OUT_OF_MEMORY\r\nINSERTED 1\r\n")
    with pytest.raises(UnexpectedResponse, match="switching to tube t failed"):
        proto.next_result()


def test_a_bad_tube_sends_and_records_nothing() -> None:
    proto = ClientProtocol()
    with pytest.raises(InvalidArgument):
        proto.send(PUT, (b"a", 0, 0, 1), tube="no spaces")
    assert proto.in_flight == 0
    with pytest.raises(InvalidArgument):
        proto.send_many([(PUT, (b"a", 0, 0, 1), None, "ok"), (USE, ("bad tube",), None, None)])
    assert proto.in_flight == 0
    # and the switch it did not send is not assumed either
    assert proto.send(PUT, (b"a", 0, 0, 1), tube="ok").startswith(b"use ok\r\n")


def test_generation_guards_commands_on_reserved_jobs() -> None:
    proto = ClientProtocol()
    proto.connected()
    assert proto.generation == 1
    proto.send(RESERVE, ())
    [job] = answer(proto, b"RESERVED 7 1\r\nx\r\n")
    assert job == Job(7, b"x")
    assert proto.send(DELETE, (7,), generation=1) == b"delete 7\r\n"
    answer(proto, b"DELETED\r\n")
    proto.connected()  # the connection was replaced
    with pytest.raises(ReservationLost, match="delete job 7"):
        proto.send(DELETE, (7,), generation=1)
    assert proto.in_flight == 0


def test_job_replies_go_through_the_factory_with_the_generation() -> None:
    made: list[tuple[int, bytes, bool, int]] = []

    def make(job_id: int, body: bytes, reserved: bool, generation: int) -> str:
        made.append((job_id, body, reserved, generation))
        return "message"

    proto = ClientProtocol(make_job=make)
    proto.connected()
    proto.connected()
    proto.send(RESERVE, ())
    proto.send(COMMANDS["peek"], (3,))
    assert answer(proto, b"RESERVED 7 1\r\nx\r\nFOUND 3 2\r\nyz\r\n") == ["message"] * 2
    assert made == [(7, b"x", True, 2), (3, b"yz", False, 2)]


def test_tags_come_back_with_results_and_on_reset() -> None:
    proto = ClientProtocol()
    proto.send(PUT, (b"a", 0, 0, 1), tag="first")
    proto.send(COMMANDS["delete"], (9,), tag="second")
    proto.send(STATS, (), tag="third")
    proto.receive_data(b"INSERTED 1\r\nNOT_FOUND\r\n")
    assert proto.next_result() == 1
    assert proto.tag == "first"
    with pytest.raises(NotFound):
        proto.next_result()
    assert proto.tag == "second"
    assert proto.reset() == ["third"]


def test_allowance_of_each_reply() -> None:
    proto = ClientProtocol(timeout=2.0)
    assert proto.allowance() == 2.0
    proto.send(STATS, ())
    proto.send(RESERVE_WITH_TIMEOUT, (10,))
    proto.send(RESERVE, ())
    assert proto.allowance() == 2.0
    answer(proto, b"OK 4\r\n---\n\r\n")
    assert proto.allowance() == 12.0  # the reserve's wait, plus the margin
    proto.receive_data(b"TIMED_OUT\r\n")
    with pytest.raises(TimedOut):
        proto.next_result()
    assert proto.allowance() is None  # a reserve that waits for as long as it takes
    assert proto.blocking_in_flight()


def test_connected_restores_the_session_and_starts_on_default() -> None:
    proto = ClientProtocol(use="u", watch=["a", "b"])
    restore = proto.connected()
    assert [(c.wire, tuple(a)) for c, a, _, _ in restore] == [
        ("use", ("u",)),
        ("watch", ("a",)),
        ("watch", ("b",)),
        ("ignore", ("default",)),
    ]
    data = proto.send_many(restore)
    assert data.startswith(b"use u\r\n")
    answer(proto, b"USING u\r\nWATCHING 2\r\nWATCHING 3\r\nWATCHING 2\r\n")
    # the server now uses u: a put needs no switch
    assert proto.send(PUT, (b"a", 0, 0, 1)) == b"put 0 0 1 1\r\na\r\n"
