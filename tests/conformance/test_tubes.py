"""use, watch, ignore, the tube lists, tube names, and when tubes exist."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .wire import Wire, parse_yaml_map

NAME_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-+/;.$_()"


def tube_list(names: list[bytes]) -> bytes:
    body = b"---\n" + b"".join(b"- " + name + b"\n" for name in names)
    return b"OK %d\r\n%s\r\n" % (len(body), body)


def test_new_connection_uses_and_watches_default(wire: Wire) -> None:
    wire.ask(b"list-tube-used\r\n", b"USING default\r\n")
    wire.ask(b"list-tubes-watched\r\n", b"OK 14\r\n---\n- default\n\r\n")
    wire.ask(b"list-tubes\r\n", b"OK 14\r\n---\n- default\n\r\n")


@pytest.mark.parametrize(
    "name",
    [b"a", b"t" * 200, b"a-", b"()$_;./+", b"123", b"true", b"null", b"0x1F", NAME_CHARS[26:]],
)
def test_valid_tube_names(wire: Wire, name: bytes) -> None:
    wire.ask(b"use " + name + b"\r\n", b"USING " + name + b"\r\n")
    wire.ask(b"watch " + name + b"\r\n", b"WATCHING 2\r\n")
    wire.ask(b"ignore " + name + b"\r\n", b"WATCHING 1\r\n")
    line, _ = wire.reply(b"stats-tube " + name + b"\r\n")
    assert line.startswith(b"OK ")
    wire.ask(b"pause-tube " + name + b" 0\r\n", b"PAUSED\r\n")


@pytest.mark.parametrize(
    "name",
    [
        b"t" * 201,
        b"-a",
        b"a b",
        b"a*",
        b"caf\xc3\xa9",
        b"a\tb",
        b" a",
        b"a ",
        b"",
        b"a,b",
        b"a:b",
        b"a#",
        b"a\\b",
    ],
)
@pytest.mark.parametrize("command", [b"use", b"watch", b"ignore", b"stats-tube"])
def test_invalid_tube_names(wire: Wire, command: bytes, name: bytes) -> None:
    wire.ask(command + b" " + name + b"\r\n", b"BAD_FORMAT\r\n")


@pytest.mark.parametrize("name", [b"t" * 201, b"-a", b"a*"])
def test_invalid_pause_tube_names(wire: Wire, name: bytes) -> None:
    wire.ask(b"pause-tube " + name + b" 1\r\n", b"BAD_FORMAT\r\n")


def test_watch_counts_without_duplicates(wire: Wire) -> None:
    wire.ask(b"watch a\r\n", b"WATCHING 2\r\n")
    wire.ask(b"watch a\r\n", b"WATCHING 2\r\n")
    wire.ask(b"watch default\r\n", b"WATCHING 2\r\n")
    wire.ask(b"watch b\r\n", b"WATCHING 3\r\n")
    wire.ask(b"list-tubes-watched\r\n", tube_list([b"default", b"a", b"b"]))


def test_ignore(wire: Wire) -> None:
    wire.ask(b"ignore default\r\n", b"NOT_IGNORED\r\n")
    wire.ask(b"ignore nosuch\r\n", b"WATCHING 1\r\n")
    wire.ask(b"list-tubes\r\n", tube_list([b"default"]))  # ignore does not create
    wire.ask(b"watch a\r\n", b"WATCHING 2\r\n")
    wire.ask(b"ignore default\r\n", b"WATCHING 1\r\n")
    wire.ask(b"ignore a\r\n", b"NOT_IGNORED\r\n")
    wire.ask(b"list-tubes-watched\r\n", tube_list([b"a"]))


def test_ignore_moves_the_last_watched_tube_into_the_gap(wire: Wire) -> None:
    for count, name in enumerate((b"a", b"b", b"c"), start=2):
        wire.ask(b"watch " + name + b"\r\n", b"WATCHING %d\r\n" % count)
    wire.ask(b"ignore a\r\n", b"WATCHING 3\r\n")
    wire.ask(b"list-tubes-watched\r\n", tube_list([b"default", b"c", b"b"]))


def test_list_tubes_in_creation_order(wire: Wire) -> None:
    wire.ask(b"use zeta\r\n", b"USING zeta\r\n")
    wire.ask(b"watch alpha\r\n", b"WATCHING 2\r\n")
    wire.ask(b"list-tubes\r\n", tube_list([b"default", b"zeta", b"alpha"]))


def test_vanished_tube_is_replaced_by_the_last_one(connect: Callable[[], Wire]) -> None:
    holders = {}
    for name in (b"a", b"b", b"c"):
        holders[name] = connect()
        holders[name].ask(b"use " + name + b"\r\n", b"USING " + name + b"\r\n")
    observer = connect()
    observer.ask(b"list-tubes\r\n", tube_list([b"default", b"a", b"b", b"c"]))
    holders[b"a"].ask(b"use default\r\n", b"USING default\r\n")
    observer.ask(b"list-tubes\r\n", tube_list([b"default", b"c", b"b"]))


def test_switching_use_creates_the_new_tube_before_dropping_the_old(wire: Wire) -> None:
    observer_names = [b"default", b"x", b"keep"]
    wire.ask(b"use x\r\n", b"USING x\r\n")
    wire.ask(b"watch keep\r\n", b"WATCHING 2\r\n")
    wire.ask(b"list-tubes\r\n", tube_list(observer_names))
    # "y" is appended, then "x" goes and "y" (the last) takes its place.
    wire.ask(b"use y\r\n", b"USING y\r\n")
    wire.ask(b"list-tubes\r\n", tube_list([b"default", b"y", b"keep"]))


def test_tube_lives_while_it_holds_jobs(connect: Callable[[], Wire]) -> None:
    producer, observer = connect(), connect()
    producer.ask(b"use jobs\r\nput 0 0 10 1\r\nx\r\n", b"USING jobs\r\nINSERTED 1\r\n")
    producer.ask(b"use default\r\n", b"USING default\r\n")
    observer.ask(b"list-tubes\r\n", tube_list([b"default", b"jobs"]))
    observer.ask(b"delete 1\r\n", b"DELETED\r\n")
    observer.ask(b"list-tubes\r\n", tube_list([b"default"]))
    observer.ask(b"stats-tube jobs\r\n", b"NOT_FOUND\r\n")


def test_tube_of_a_closed_connection_vanishes(connect: Callable[[], Wire]) -> None:
    user, observer = connect(), connect()
    user.ask(b"use gone\r\nwatch gone2\r\n", b"USING gone\r\nWATCHING 2\r\n")
    observer.ask(b"list-tubes\r\n", tube_list([b"default", b"gone", b"gone2"]))
    user.ask(b"quit\r\n", b"")
    user.expect_closed()
    observer.send(b"list-tubes\r\n")
    assert observer.read_reply()[0] == b"OK 14\r\n"


def test_default_tube_never_vanishes(wire: Wire) -> None:
    wire.ask(
        b"use other\r\nwatch other\r\nignore default\r\n",
        b"USING other\r\nWATCHING 2\r\nWATCHING 1\r\n",
    )
    wire.ask(b"list-tubes\r\n", tube_list([b"default", b"other"]))
    line, _ = wire.reply(b"stats-tube default\r\n")
    assert line.startswith(b"OK ")


def test_stats_tube(connect: Callable[[], Wire]) -> None:
    a, b = connect(), connect()
    a.ask(
        b"use t\r\nput 5 0 10 1\r\nx\r\nput 2000 0 10 1\r\ny\r\n",
        b"USING t\r\nINSERTED 1\r\nINSERTED 2\r\n",
    )
    a.ask(b"put 0 100 10 1\r\nz\r\n", b"INSERTED 3\r\n")
    b.ask(b"watch t\r\nreserve\r\n", b"WATCHING 2\r\nRESERVED 1 1\r\nx\r\n")
    b.ask(b"reserve\r\nbury 2 0\r\n", b"RESERVED 2 1\r\ny\r\nBURIED\r\n")
    a.ask(b"put 1 0 10 1\r\nw\r\ndelete 4\r\n", b"INSERTED 4\r\nDELETED\r\n")
    body = (
        b"---\nname: t\ncurrent-jobs-urgent: 0\ncurrent-jobs-ready: 0\n"
        b"current-jobs-reserved: 1\ncurrent-jobs-delayed: 1\ncurrent-jobs-buried: 1\n"
        b"total-jobs: 4\ncurrent-using: 1\ncurrent-watching: 1\ncurrent-waiting: 0\n"
        b"cmd-delete: 1\ncmd-pause-tube: 0\npause: 0\npause-time-left: 0\n"
    )
    a.ask(b"stats-tube t\r\n", b"OK %d\r\n%s\r\n" % (len(body), body))


def test_stats_tube_counts_urgent_ready_jobs(wire: Wire) -> None:
    wire.ask(b"put 1023 0 10 1\r\na\r\nput 1024 0 10 1\r\nb\r\n", b"INSERTED 1\r\nINSERTED 2\r\n")
    stats = wire.stats(b"stats-tube default\r\n")
    assert (stats["current-jobs-urgent"], stats["current-jobs-ready"]) == ("1", "2")
    assert wire.stats()["current-jobs-urgent"] == "1"


def test_stats_tube_counts_waiting_reserves(connect: Callable[[], Wire]) -> None:
    waiter, observer = connect(), connect()
    waiter.send(b"reserve\r\n")
    waiter.expect_silence(0.1)
    stats = observer.stats(b"stats-tube default\r\n")
    assert stats["current-waiting"] == "1"
    assert observer.stats()["current-waiting"] == "1"


def test_pause_tube(wire: Wire) -> None:
    wire.ask(b"pause-tube nosuch 1\r\n", b"NOT_FOUND\r\n")
    wire.ask(b"pause-tube default 10\r\n", b"PAUSED\r\n")
    _, body = wire.reply(b"stats-tube default\r\n")
    stats = parse_yaml_map(body)
    assert (stats["cmd-pause-tube"], stats["pause"], stats["pause-time-left"]) == ("1", "10", "9")
    wire.ask(b"pause-tube default 0\r\n", b"PAUSED\r\n")
    stats = wire.stats(b"stats-tube default\r\n")
    assert (stats["cmd-pause-tube"], stats["pause"], stats["pause-time-left"]) == ("2", "0", "0")


def test_pause_tube_counts_even_when_the_name_is_bad(wire: Wire) -> None:
    wire.ask(b"pause-tube -x 1\r\n", b"BAD_FORMAT\r\n")
    wire.ask(b"pause-tube nosuch 1\r\n", b"NOT_FOUND\r\n")
    assert wire.stats()["cmd-pause-tube"] == "2"


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"pause-tube default 4294967295", b"PAUSED\r\n"),
        (b"pause-tube  default  1", b"PAUSED\r\n"),
        (b"pause-tube default 4294967296", b"BAD_FORMAT\r\n"),
        (b"pause-tube default -1", b"BAD_FORMAT\r\n"),
        (b"pause-tube default", b"BAD_FORMAT\r\n"),
        (b"pause-tube default1", b"BAD_FORMAT\r\n"),
        (b"pause-tube default 1 ", b"BAD_FORMAT\r\n"),
        (b"pause-tube default x", b"BAD_FORMAT\r\n"),
    ],
)
def test_pause_tube_parsing(wire: Wire, line: bytes, reply: bytes) -> None:
    wire.ask(line + b"\r\n", reply)
