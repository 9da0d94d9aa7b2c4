"""The stats reply: every key, in order, in 1.12's format, with the right counts."""

from __future__ import annotations

from collections.abc import Callable

from .conftest import BINLOG_SIZE, Target
from .wire import PROCESS_KEYS, STATS_FORMAT, Wire, check_stats_format, parse_yaml_map


def test_stats_layout(wire: Wire) -> None:
    line, body = wire.reply(b"stats\r\n")
    assert line == b"OK %d\r\n" % len(body)
    check_stats_format(body)


def test_stats_of_a_fresh_server(server: Target, wire: Wire) -> None:
    stats = wire.stats()
    expected = {key: "0" for key, _ in STATS_FORMAT}
    expected.update(
        {
            "cmd-stats": "1",
            "max-job-size": "65535",
            "current-tubes": "1",
            "current-connections": "1",
            "binlog-max-size": "10485760",
            "draining": "false",
        }
    )
    if server.binlog:  # a fresh directory: the first file is the oldest and the current one
        expected["binlog-oldest-index"] = expected["binlog-current-index"] = "1"
        expected["binlog-max-size"] = str(BINLOG_SIZE)
    for key in (*PROCESS_KEYS, "hostname", "os", "platform"):
        expected[key] = stats[key]
    assert stats == expected
    assert stats["version"].startswith('"1.12')


def test_stats_count_commands(connect: Callable[[], Wire]) -> None:
    wire, worker = connect(), connect()
    requests = (
        b"put 0 0 10 1\r\na\r\n"  # 1 ready
        b"put 2000 0 10 1\r\nb\r\n"  # 2 ready
        b"put 0 100 10 1\r\nc\r\n"  # 3 delayed
        b"put 0 0 10 1\r\nd\r\n"  # 4 -> reserved, buried
        b"put 0 0 10 1\r\ne\r\n"  # 5 -> reserved
        b"peek 1\r\npeek 99\r\npeek-ready\r\npeek-delayed\r\npeek-buried\r\n"
        b"reserve-job 4\r\nbury 4 0\r\nreserve-job 5\r\n"
        b"delete 99\r\nrelease 99 0 0\r\ntouch 99\r\nkick-job 99\r\n"
        b"use t\r\nwatch t\r\nignore t\r\nkick 0\r\nlist-tubes\r\nlist-tube-used\r\n"
        b"list-tubes-watched\r\nstats-tube default\r\nstats-job 1\r\npause-tube t 0\r\n"
        b"peek-ready x\r\nbogus\r\n"  # neither counts
    )
    wire.send(requests)
    # The replies are not checked here; wait for the last one.
    for _ in range(29):
        wire.read_reply()
    worker.ask(b"reserve-with-timeout 0\r\n", b"RESERVED 1 1\r\na\r\n")
    stats = wire.stats()
    expected = {
        "current-jobs-urgent": "0",
        "current-jobs-ready": "1",
        "current-jobs-reserved": "2",
        "current-jobs-delayed": "1",
        "current-jobs-buried": "1",
        "cmd-put": "5",
        "cmd-peek": "2",
        "cmd-peek-ready": "1",
        "cmd-peek-delayed": "1",
        "cmd-peek-buried": "1",
        "cmd-reserve": "0",
        "cmd-reserve-with-timeout": "1",
        "cmd-delete": "1",
        "cmd-release": "1",
        "cmd-use": "1",
        "cmd-watch": "1",
        "cmd-ignore": "1",
        "cmd-bury": "1",
        "cmd-kick": "1",
        "cmd-touch": "1",
        "cmd-stats": "1",
        "cmd-stats-job": "1",
        "cmd-stats-tube": "1",
        "cmd-list-tubes": "1",
        "cmd-list-tube-used": "1",
        "cmd-list-tubes-watched": "1",
        "cmd-pause-tube": "1",
        "job-timeouts": "0",
        "total-jobs": "5",
        "current-tubes": "2",
        "current-connections": "2",
        "current-producers": "1",
        "current-workers": "2",
        "current-waiting": "0",
    }
    assert {key: stats[key] for key in expected} == expected


def test_stats_in_drain_mode(server: Target, wire: Wire) -> None:
    server.enter_drain_mode()
    _, body = wire.reply(b"stats\r\n")
    check_stats_format(body)
    assert parse_yaml_map(body)["draining"] == "true"


def test_list_tubes_yaml(wire: Wire) -> None:
    wire.ask(b"watch a.b\r\nwatch 123\r\n", b"WATCHING 2\r\nWATCHING 3\r\n")
    wire.ask(b"list-tubes-watched\r\n", b"OK 26\r\n---\n- default\n- a.b\n- 123\n\r\n")
