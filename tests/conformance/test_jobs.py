"""The job lifecycle on one connection: reserve order, peek, delete, release, bury,
kick, touch, reserve-job and stats-job."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import Target
from .wire import Wire, parse_yaml_map


def put(wire: Wire, pri: int, body: bytes, delay: int = 0, ttr: int = 60) -> int:
    line, _ = wire.reply(b"put %d %d %d %d\r\n%s\r\n" % (pri, delay, ttr, len(body), body))
    assert line.startswith(b"INSERTED "), line
    return int(line.split()[1])


def job_stats(wire: Wire, job_id: int) -> dict[str, str]:
    return wire.stats(b"stats-job %d\r\n" % job_id)


def test_reserve_takes_lowest_priority_then_lowest_id(wire: Wire) -> None:
    for pri, body in ((5, b"a"), (1, b"b"), (5, b"c"), (1, b"d"), (0xFFFFFFFF, b"e"), (0, b"f")):
        put(wire, pri, body)
    order = [wire.reply(b"reserve\r\n")[1] for _ in range(6)]
    assert order == [b"f", b"b", b"d", b"a", b"c", b"e"]


def test_released_job_goes_back_ahead_of_newer_ones(wire: Wire) -> None:
    put(wire, 10, b"old")
    wire.ask(b"reserve\r\n", b"RESERVED 1 3\r\nold\r\n")
    put(wire, 10, b"new")
    wire.ask(b"release 1 10 0\r\n", b"RELEASED\r\n")
    wire.ask(b"reserve\r\n", b"RESERVED 1 3\r\nold\r\n")


def test_reserve_across_watched_tubes(wire: Wire) -> None:
    wire.ask(b"use a\r\n", b"USING a\r\n")
    put(wire, 5, b"a5")
    wire.ask(b"use b\r\n", b"USING b\r\n")
    put(wire, 3, b"b3")
    put(wire, 5, b"b5")
    wire.ask(b"use c\r\n", b"USING c\r\n")
    put(wire, 1, b"c1")
    wire.ask(
        b"watch a\r\nwatch b\r\nignore default\r\n", b"WATCHING 2\r\nWATCHING 3\r\nWATCHING 2\r\n"
    )
    order = [wire.reply(b"reserve-with-timeout 0\r\n")[1] for _ in range(3)]
    assert order == [b"b3", b"a5", b"b5"]
    wire.ask(b"reserve-with-timeout 0\r\n", b"TIMED_OUT\r\n")


def test_peek_commands(wire: Wire) -> None:
    for command in (b"peek-ready", b"peek-delayed", b"peek-buried", b"peek 1"):
        wire.ask(command + b"\r\n", b"NOT_FOUND\r\n")
    put(wire, 5, b"r5")
    put(wire, 2, b"r2")
    put(wire, 1, b"d30", delay=30)
    put(wire, 1, b"d20", delay=20)
    wire.ask(b"peek-ready\r\n", b"FOUND 2 2\r\nr2\r\n")
    wire.ask(b"peek-delayed\r\n", b"FOUND 4 3\r\nd20\r\n")
    wire.ask(b"peek 3\r\n", b"FOUND 3 3\r\nd30\r\n")
    wire.ask(b"reserve\r\n", b"RESERVED 2 2\r\nr2\r\n")
    wire.ask(b"peek 2\r\n", b"FOUND 2 2\r\nr2\r\n")  # peek sees reserved jobs too
    wire.ask(b"bury 2 9\r\n", b"BURIED\r\n")
    wire.ask(b"reserve\r\nbury 1 0\r\n", b"RESERVED 1 2\r\nr5\r\nBURIED\r\n")
    wire.ask(b"peek-buried\r\n", b"FOUND 2 2\r\nr2\r\n")  # buried longest ago
    wire.ask(b"peek-ready\r\n", b"NOT_FOUND\r\n")


def test_peek_acts_on_the_used_tube(wire: Wire) -> None:
    put(wire, 0, b"x")
    wire.ask(b"use other\r\n", b"USING other\r\n")
    wire.ask(b"peek-ready\r\n", b"NOT_FOUND\r\n")
    wire.ask(b"peek 1\r\n", b"FOUND 1 1\r\nx\r\n")  # but peek <id> looks everywhere


def test_delete_in_every_state(wire: Wire) -> None:
    ready, delayed, buried, reserved = (put(wire, i, b"j%d" % i) for i in range(4))
    wire.ask(b"release 99 0 0\r\n", b"NOT_FOUND\r\n")
    wire.ask(
        b"reserve-job %d\r\nrelease %d 0 100\r\n" % (delayed, delayed),
        b"RESERVED 2 2\r\nj1\r\nRELEASED\r\n",
    )
    wire.ask(
        b"reserve-job %d\r\nbury %d 0\r\n" % (buried, buried), b"RESERVED 3 2\r\nj2\r\nBURIED\r\n"
    )
    wire.ask(b"reserve-job %d\r\n" % reserved, b"RESERVED 4 2\r\nj3\r\n")
    for job_id in (ready, delayed, buried, reserved):
        wire.ask(b"delete %d\r\n" % job_id, b"DELETED\r\n")
        wire.ask(b"delete %d\r\n" % job_id, b"NOT_FOUND\r\n")
        wire.ask(b"peek %d\r\n" % job_id, b"NOT_FOUND\r\n")
    stats = wire.stats()
    assert stats["cmd-delete"] == "8"
    assert wire.stats(b"stats-tube default\r\n")["cmd-delete"] == "4"


def test_release_with_priority_and_delay(wire: Wire) -> None:
    put(wire, 5, b"x")
    wire.ask(b"reserve\r\nrelease 1 77 100\r\n", b"RESERVED 1 1\r\nx\r\nRELEASED\r\n")
    stats = job_stats(wire, 1)
    assert (stats["state"], stats["pri"], stats["delay"], stats["releases"]) == (
        "delayed",
        "77",
        "100",
        "1",
    )
    wire.ask(b"release 1 0 0\r\n", b"NOT_FOUND\r\n")  # not reserved any more


def test_bury_and_kick(wire: Wire) -> None:
    for i in range(3):
        put(wire, 0, b"b%d" % i)
    for i in (1, 2, 3):
        wire.ask(
            b"reserve\r\nbury %d %d\r\n" % (i, 10 - i),
            b"RESERVED %d 2\r\nb%d\r\nBURIED\r\n" % (i, i - 1),
        )
    put(wire, 0, b"d", delay=100)
    wire.ask(b"kick 2\r\n", b"KICKED 2\r\n")  # buried first, oldest first
    wire.ask(b"peek-buried\r\n", b"FOUND 3 2\r\nb2\r\n")
    wire.ask(b"kick 10\r\n", b"KICKED 1\r\n")  # only buried jobs while there are some
    wire.ask(b"peek-delayed\r\n", b"FOUND 4 1\r\nd\r\n")
    wire.ask(b"kick 10\r\n", b"KICKED 1\r\n")  # then delayed ones
    wire.ask(b"kick 10\r\n", b"KICKED 0\r\n")
    stats = job_stats(wire, 1)
    assert (stats["state"], stats["pri"]) == ("ready", "9")
    assert (stats["buries"], stats["kicks"]) == ("1", "1")
    wire.ask(b"reserve\r\n", b"RESERVED 4 1\r\nd\r\n")  # priority 0 beats the kicked 7..9


def test_kick_minus_one_kicks_everything(wire: Wire) -> None:
    for _ in range(5):
        put(wire, 0, b"x", delay=100)
    wire.ask(b"kick -1\r\n", b"KICKED 5\r\n")


def test_kick_bound_wraps_at_2_32(wire: Wire) -> None:
    for _ in range(3):
        put(wire, 0, b"x", delay=100)
    wire.ask(b"kick 4294967298\r\n", b"KICKED 2\r\n")


def test_kick_acts_on_the_used_tube(wire: Wire) -> None:
    put(wire, 0, b"x", delay=100)
    wire.ask(b"use other\r\nkick 10\r\n", b"USING other\r\nKICKED 0\r\n")
    wire.ask(b"use default\r\nkick 10\r\n", b"USING default\r\nKICKED 1\r\n")


def test_kick_job(wire: Wire) -> None:
    put(wire, 0, b"ready")
    put(wire, 0, b"delayed", delay=100)
    wire.ask(b"kick-job 1\r\n", b"NOT_FOUND\r\n")  # ready
    wire.ask(b"kick-job 99\r\n", b"NOT_FOUND\r\n")
    wire.ask(b"use elsewhere\r\nkick-job 2\r\n", b"USING elsewhere\r\nKICKED\r\n")  # any tube
    wire.ask(b"reserve\r\n", b"RESERVED 1 5\r\nready\r\n")
    wire.ask(b"kick-job 1\r\n", b"NOT_FOUND\r\n")  # reserved
    wire.ask(b"bury 1 0\r\nkick-job 1\r\n", b"BURIED\r\nKICKED\r\n")
    stats = job_stats(wire, 1)
    assert (stats["state"], stats["kicks"]) == ("ready", "1")


def test_touch(wire: Wire) -> None:
    put(wire, 0, b"x")
    wire.ask(b"touch 1\r\n", b"NOT_FOUND\r\n")  # not reserved
    wire.ask(b"reserve\r\ntouch 1\r\n", b"RESERVED 1 1\r\nx\r\nTOUCHED\r\n")
    wire.ask(b"touch 2\r\n", b"NOT_FOUND\r\n")
    assert wire.stats()["cmd-touch"] == "3"


def test_reserve_job_takes_ready_delayed_and_buried_jobs(wire: Wire) -> None:
    put(wire, 0, b"a")
    put(wire, 0, b"b", delay=100)
    wire.ask(b"reserve-job 2\r\n", b"RESERVED 2 1\r\nb\r\n")
    wire.ask(b"reserve-job 2\r\n", b"NOT_FOUND\r\n")  # already reserved, even by us
    wire.ask(b"bury 2 0\r\nreserve-job 2\r\n", b"BURIED\r\nRESERVED 2 1\r\nb\r\n")
    wire.ask(b"use x\r\nwatch x\r\nignore default\r\n", b"USING x\r\nWATCHING 2\r\nWATCHING 1\r\n")
    wire.ask(b"reserve-job 1\r\n", b"RESERVED 1 1\r\na\r\n")  # ignores watches
    wire.ask(b"reserve-job 3\r\n", b"NOT_FOUND\r\n")
    stats = job_stats(wire, 2)
    assert (stats["state"], stats["reserves"], stats["buries"]) == ("reserved", "2", "1")
    assert wire.stats()["current-jobs-reserved"] == "2"


def test_reserve_job_ignores_pause(wire: Wire) -> None:
    put(wire, 0, b"a")
    wire.ask(b"pause-tube default 100\r\nreserve-job 1\r\n", b"PAUSED\r\nRESERVED 1 1\r\na\r\n")


def test_stats_job_layout(server: Target, wire: Wire) -> None:
    wire.ask(b"use jobs.v1\r\n", b"USING jobs.v1\r\n")
    put(wire, 100, b"payload", ttr=30)
    wire.ask(b"watch jobs.v1\r\nreserve\r\n", b"WATCHING 2\r\nRESERVED 1 7\r\npayload\r\n")
    # "file" is the binlog file holding the job: the first one, or none without -b.
    file = b"1" if server.binlog else b"0"
    body = (
        b"---\nid: 1\ntube: jobs.v1\nstate: reserved\npri: 100\nage: 0\ndelay: 0\nttr: 30\n"
        b"time-left: 29\nfile: %s\nreserves: 1\ntimeouts: 0\nreleases: 0\nburies: 0\nkicks: 0\n"
    ) % file
    wire.ask(b"stats-job 1\r\n", b"OK %d\r\n%s\r\n" % (len(body), body))
    wire.ask(b"stats-job 2\r\n", b"NOT_FOUND\r\n")


@pytest.mark.parametrize(
    ("delay", "state", "time_left"), [(0, "ready", "0"), (50, "delayed", "49")]
)
def test_stats_job_time_left(wire: Wire, delay: int, state: str, time_left: str) -> None:
    put(wire, 0, b"x", delay=delay)
    stats = job_stats(wire, 1)
    assert (stats["state"], stats["time-left"], stats["delay"]) == (state, time_left, str(delay))


def test_stats_job_of_a_buried_job(wire: Wire) -> None:
    put(wire, 0, b"x")
    wire.ask(b"reserve\r\nbury 1 7\r\n", b"RESERVED 1 1\r\nx\r\nBURIED\r\n")
    _, body = wire.reply(b"stats-job 1\r\n")
    stats = parse_yaml_map(body)
    assert (stats["state"], stats["pri"], stats["time-left"]) == ("buried", "7", "0")


def test_bury_release_touch_need_your_own_reservation(connect: Callable[[], Wire]) -> None:
    owner, other = connect(), connect()
    put(owner, 0, b"x")
    owner.ask(b"reserve\r\n", b"RESERVED 1 1\r\nx\r\n")
    for command in (
        b"release 1 0 0",
        b"bury 1 0",
        b"touch 1",
        b"delete 1",
        b"kick-job 1",
        b"reserve-job 1",
    ):
        other.ask(command + b"\r\n", b"NOT_FOUND\r\n")
    other.ask(b"peek 1\r\n", b"FOUND 1 1\r\nx\r\n")
    owner.ask(b"delete 1\r\n", b"DELETED\r\n")
