"""Delays, TTR expiry, DEADLINE_SOON, reserve timeouts and paused tubes.

All with 1-2 second values; every wait is bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .conftest import Target
from .wire import Wire, wait_until


def elapsed_reply(wire: Wire, request: bytes, expected: bytes, timeout: float = 4.0) -> float:
    """Send ``request``, expect ``expected``, and return how long it took."""
    start = time.monotonic()
    wire.ask(request, expected, timeout=timeout)
    return time.monotonic() - start


def test_delayed_job_becomes_ready(wire: Wire) -> None:
    wire.ask(b"put 0 1 10 1\r\nx\r\n", b"INSERTED 1\r\n")
    wire.ask(b"peek-delayed\r\n", b"FOUND 1 1\r\nx\r\n")
    wire.ask(b"peek-ready\r\n", b"NOT_FOUND\r\n")
    taken = elapsed_reply(wire, b"reserve-with-timeout 3\r\n", b"RESERVED 1 1\r\nx\r\n")
    assert 0.7 < taken < 2.0
    stats = wire.stats(b"stats-job 1\r\n")
    assert (stats["delay"], stats["age"], stats["reserves"]) == ("1", "1", "1")


def test_release_with_delay(wire: Wire) -> None:
    wire.ask(b"put 0 0 10 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    wire.ask(b"release 1 0 1\r\n", b"RELEASED\r\n")
    wire.ask(b"reserve-with-timeout 0\r\n", b"TIMED_OUT\r\n")
    wire.ask(b"peek-delayed\r\n", b"FOUND 1 1\r\nx\r\n")
    taken = elapsed_reply(wire, b"reserve\r\n", b"RESERVED 1 1\r\nx\r\n")
    assert 0.7 < taken < 2.0


def test_ttr_expiry_releases_the_job(connect: Callable[[], Wire]) -> None:
    owner, other = connect(), connect()
    owner.ask(b"put 0 0 1 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    start = time.monotonic()
    other.send(b"reserve-with-timeout 3\r\n")
    # The owner keeps talking. beanstalkd 1.12 can lose an idle connection's TTR timer
    # (it drops it when the timer fires in the same microsecond as the deadline, which
    # its expiry check treats as not yet expired); any command re-arms it.
    expected = b"RESERVED 1 1\r\nx\r\n"
    got = b""
    while not got and time.monotonic() - start < 3.5:
        owner.ask(b"list-tube-used\r\n", b"USING default\r\n")
        got = other.recv_exact(len(expected), 0.1)
    assert got == expected
    assert 0.7 < time.monotonic() - start < 2.0
    owner.ask(b"delete 1\r\n", b"NOT_FOUND\r\n")
    job = other.stats(b"stats-job 1\r\n")
    assert (job["timeouts"], job["reserves"], job["releases"]) == ("1", "2", "0")
    assert other.stats()["job-timeouts"] == "1"


def test_ttr_expiry_of_an_idle_connection_embedded(
    server: Target, connect: Callable[[], Wire]
) -> None:
    if server.kind == "beanstalkd":
        pytest.skip(
            "beanstalkd 1.12 sometimes loses an idle connection's TTR timer (it fires in the "
            "same microsecond as the deadline and is dropped); the embedded server must not"
        )
    owner, other = connect(), connect()
    owner.ask(b"put 0 0 1 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    taken = elapsed_reply(other, b"reserve-with-timeout 3\r\n", b"RESERVED 1 1\r\nx\r\n")
    assert 0.7 < taken < 2.0


def test_deadline_soon_at_once_inside_the_margin(wire: Wire) -> None:
    # With a 1 s TTR the job is inside the 1 s safety margin as soon as it is reserved.
    wire.ask(b"put 0 0 1 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    taken = elapsed_reply(wire, b"reserve\r\n", b"DEADLINE_SOON\r\n")
    assert taken < 0.5
    wire.ask(b"reserve-with-timeout 10\r\n", b"DEADLINE_SOON\r\n")
    # ...unless a job is ready: then it is simply reserved.
    wire.ask(b"put 0 0 1 1\r\ny\r\nreserve\r\n", b"INSERTED 2\r\nRESERVED 2 1\r\ny\r\n")
    # reserve-job never answers DEADLINE_SOON.
    wire.ask(b"put 0 0 10 1\r\nz\r\nreserve-job 3\r\n", b"INSERTED 3\r\nRESERVED 3 1\r\nz\r\n")


def test_deadline_soon_while_waiting(wire: Wire) -> None:
    wire.ask(b"put 0 0 2 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    taken = elapsed_reply(wire, b"reserve\r\n", b"DEADLINE_SOON\r\n")
    assert 0.6 < taken < 1.6
    # The job is still ours until its TTR runs out, then it is ready again.
    assert wire.stats(b"stats-job 1\r\n")["state"] == "reserved"
    assert wait_until(lambda: wire.stats(b"stats-job 1\r\n")["state"] == "ready", timeout=3)
    wire.ask(b"reserve\r\n", b"RESERVED 1 1\r\nx\r\n")


def test_touch_restarts_the_ttr(wire: Wire) -> None:
    wire.ask(b"put 0 0 3 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    assert wire.stats(b"stats-job 1\r\n")["time-left"] == "2"
    assert wait_until(lambda: wire.stats(b"stats-job 1\r\n")["time-left"] == "1", timeout=3)
    wire.ask(b"touch 1\r\n", b"TOUCHED\r\n")
    assert wire.stats(b"stats-job 1\r\n")["time-left"] == "2"


def test_reserve_with_timeout_times_out(wire: Wire) -> None:
    taken = elapsed_reply(wire, b"reserve-with-timeout 1\r\n", b"TIMED_OUT\r\n")
    assert 0.7 < taken < 2.0
    assert wire.stats()["cmd-reserve-with-timeout"] == "1"


def test_paused_tube_holds_jobs_back(connect: Callable[[], Wire]) -> None:
    worker, admin = connect(), connect()
    worker.ask(b"put 0 0 10 1\r\nx\r\n", b"INSERTED 1\r\n")
    admin.ask(b"pause-tube default 1\r\n", b"PAUSED\r\n")
    tube = admin.stats(b"stats-tube default\r\n")
    assert (tube["pause"], tube["pause-time-left"], tube["current-jobs-ready"]) == ("1", "0", "1")
    worker.ask(b"peek-ready\r\n", b"FOUND 1 1\r\nx\r\n")
    taken = elapsed_reply(worker, b"reserve\r\n", b"RESERVED 1 1\r\nx\r\n")
    assert 0.7 < taken < 2.0
    tube = admin.stats(b"stats-tube default\r\n")
    assert (tube["pause"], tube["pause-time-left"], tube["cmd-pause-tube"]) == ("0", "0", "1")


def test_unpausing_wakes_waiting_reserves(connect: Callable[[], Wire]) -> None:
    worker, admin = connect(), connect()
    admin.ask(b"put 0 0 10 1\r\nx\r\npause-tube default 100\r\n", b"INSERTED 1\r\nPAUSED\r\n")
    worker.send(b"reserve\r\n")
    worker.expect_silence(0.2)
    admin.ask(b"pause-tube default 0\r\n", b"PAUSED\r\n")
    worker.expect(b"RESERVED 1 1\r\nx\r\n", timeout=1)


def test_paused_tube_does_not_hide_other_watched_tubes(connect: Callable[[], Wire]) -> None:
    worker, admin = connect(), connect()
    admin.ask(
        b"put 0 0 10 1\r\nx\r\nuse b\r\nput 9 0 10 1\r\ny\r\n",
        b"INSERTED 1\r\nUSING b\r\nINSERTED 2\r\n",
    )
    admin.ask(b"pause-tube default 100\r\n", b"PAUSED\r\n")
    worker.ask(b"watch b\r\nreserve\r\n", b"WATCHING 2\r\nRESERVED 2 1\r\ny\r\n")
