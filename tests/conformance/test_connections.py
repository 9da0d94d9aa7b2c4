"""Several connections: waking reserves, who gets which job, closing, half-closing."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

import pytest

from .wire import Wire, first_to_receive, wait_until


def test_reserve_wakes_on_put(connect: Callable[[], Wire]) -> None:
    worker, producer = connect(), connect()
    worker.send(b"reserve\r\n")
    worker.expect_silence(0.1)
    producer.ask(b"put 0 0 10 5\r\nhello\r\n", b"INSERTED 1\r\n")
    worker.expect(b"RESERVED 1 5\r\nhello\r\n")


def test_reserve_with_timeout_wakes_on_put_in_a_watched_tube(connect: Callable[[], Wire]) -> None:
    worker, producer = connect(), connect()
    worker.ask(b"watch t\r\n", b"WATCHING 2\r\n")
    worker.send(b"reserve-with-timeout 10\r\n")
    producer.ask(b"use other\r\nput 0 0 10 1\r\nx\r\n", b"USING other\r\nINSERTED 1\r\n")
    worker.expect_silence(0.1)
    producer.ask(b"use t\r\nput 0 0 10 1\r\ny\r\n", b"USING t\r\nINSERTED 2\r\n")
    worker.expect(b"RESERVED 2 1\r\ny\r\n")


def test_waiting_reserve_holds_back_pipelined_commands(connect: Callable[[], Wire]) -> None:
    worker, producer = connect(), connect()
    worker.send(b"reserve\r\nlist-tube-used\r\n")
    worker.expect_silence(0.1)
    producer.ask(b"put 0 0 10 1\r\nx\r\n", b"INSERTED 1\r\n")
    worker.expect(b"RESERVED 1 1\r\nx\r\nUSING default\r\n")


def test_waiters_are_served_in_beanstalkd_order(connect: Callable[[], Wire]) -> None:
    # beanstalkd hands jobs to waiting connections from a rotating cursor over an
    # array with swap-remove: four waiters get four jobs in the order 1, 2, 4, 3.
    waiters = [connect() for _ in range(4)]
    for waiter in waiters:
        waiter.send(b"reserve\r\n")
        waiter.expect_silence(0.05)
    producer = connect()
    served = []
    for job_id in range(1, 5):
        producer.ask(b"put 0 0 10 1\r\nx\r\n", b"INSERTED %d\r\n" % job_id)
        served.append(first_to_receive(waiters, b"RESERVED %d 1\r\nx\r\n" % job_id))
    assert served == [0, 1, 3, 2]


def test_two_waiters_are_served_in_arrival_order(connect: Callable[[], Wire]) -> None:
    first, second, producer = connect(), connect(), connect()
    first.send(b"reserve\r\n")
    first.expect_silence(0.05)
    second.send(b"reserve\r\n")
    second.expect_silence(0.05)
    producer.ask(b"put 0 0 10 1\r\na\r\n", b"INSERTED 1\r\n")
    first.expect(b"RESERVED 1 1\r\na\r\n")
    producer.ask(b"put 0 0 10 1\r\nb\r\n", b"INSERTED 2\r\n")
    second.expect(b"RESERVED 2 1\r\nb\r\n")


def test_delete_of_another_connections_reservation(connect: Callable[[], Wire]) -> None:
    owner, other = connect(), connect()
    owner.ask(b"put 0 0 10 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    other.ask(b"delete 1\r\n", b"NOT_FOUND\r\n")
    owner.ask(b"delete 1\r\n", b"DELETED\r\n")


def test_closing_releases_reserved_jobs(connect: Callable[[], Wire]) -> None:
    owner, other = connect(), connect()
    owner.ask(b"put 0 0 100 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    owner.close()
    other.ask(b"reserve-with-timeout 2\r\n", b"RESERVED 1 1\r\nx\r\n")
    stats = other.stats(b"stats-job 1\r\n")
    assert (stats["reserves"], stats["releases"], stats["timeouts"]) == ("2", "0", "0")


@pytest.mark.parametrize("how", ["close", "quit", "reset"])
def test_a_finished_connection_is_gone_before_the_next_command_is_answered(
    connect: Callable[[], Wire], how: str
) -> None:
    """Its tubes and reservations go before anything another connection sends after
    it finished is answered, every time (clients' own test suites rely on it)."""
    observer = connect()
    observer.ask(b"put 0 0 100 1\r\nx\r\n", b"INSERTED 1\r\n")
    for round_ in range(30):
        tube = b"gone%d" % round_
        client = connect()
        client.ask(b"use %s\r\nreserve\r\n" % tube, b"USING %s\r\nRESERVED 1 1\r\nx\r\n" % tube)
        if how == "quit":
            client.send(b"quit\r\n")
            client.expect_closed()
        elif how == "reset":
            client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        else:
            client.close()
        observer.ask(b"list-tubes\r\n", b"OK 14\r\n---\n- default\n\r\n")
        observer.ask(b"peek-ready\r\n", b"FOUND 1 1\r\nx\r\n")


def test_quit_releases_reserved_jobs_to_a_waiting_worker(connect: Callable[[], Wire]) -> None:
    owner, waiter = connect(), connect()
    owner.ask(b"put 0 0 100 1\r\nx\r\nreserve\r\n", b"INSERTED 1\r\nRESERVED 1 1\r\nx\r\n")
    waiter.send(b"reserve\r\n")
    waiter.expect_silence(0.1)
    owner.send(b"quit\r\n")
    waiter.expect(b"RESERVED 1 1\r\nx\r\n")


def test_half_close_while_waiting_times_out(connect: Callable[[], Wire]) -> None:
    worker = connect()
    worker.send(b"reserve\r\nlist-tube-used\r\n")
    worker.expect_silence(0.1)
    worker.shutdown_write()
    # The reserve gives up, the pipelined command is still answered, then close.
    worker.expect(b"TIMED_OUT\r\nUSING default\r\n")
    worker.expect_closed()


def test_half_close_after_commands_answers_them_then_closes(connect: Callable[[], Wire]) -> None:
    client = connect()
    client.send(b"put 0 0 10 1\r\nx\r\nlist-tube-used\r\n")
    client.shutdown_write()
    client.expect(b"INSERTED 1\r\nUSING default\r\n")
    client.expect_closed()
    observer = connect()
    observer.ask(b"peek 1\r\n", b"FOUND 1 1\r\nx\r\n")


def test_close_in_the_middle_of_a_body_drops_the_job(connect: Callable[[], Wire]) -> None:
    client, observer = connect(), connect()
    client.send(b"put 0 0 10 10\r\nabc")
    client.expect_silence(0.1)
    client.close()
    observer.ask(b"put 0 0 10 1\r\nx\r\n", b"INSERTED 2\r\n")
    observer.ask(b"peek 1\r\n", b"NOT_FOUND\r\n")
    stats = observer.stats()
    assert (stats["total-jobs"], stats["current-jobs-ready"]) == ("1", "1")


def test_connection_counters(connect: Callable[[], Wire]) -> None:
    producer, worker, idle, observer = connect(), connect(), connect(), connect()
    producer.ask(b"put 0 0 10 1\r\nx\r\n", b"INSERTED 1\r\n")
    worker.ask(b"reserve\r\n", b"RESERVED 1 1\r\nx\r\n")
    idle.ask(b"list-tube-used\r\n", b"USING default\r\n")
    first = observer.stats()
    assert (first["current-connections"], first["current-producers"], first["current-workers"]) == (
        "4",
        "1",
        "1",
    )
    producer.close()
    worker.close()
    assert wait_until(lambda: observer.stats()["current-connections"] == "2")
    second = observer.stats()
    assert (
        second["current-connections"],
        second["current-producers"],
        second["current-workers"],
    ) == ("2", "0", "0")
    assert int(second["total-connections"]) == int(first["total-connections"])
    assert second["current-jobs-ready"] == "1"


def test_one_connection_reserves_many_jobs(connect: Callable[[], Wire]) -> None:
    worker = connect()
    for i in range(1, 11):
        worker.ask(b"put 0 0 100 1\r\nx\r\n", b"INSERTED %d\r\n" % i)
    for i in range(1, 11):
        worker.ask(b"reserve\r\n", b"RESERVED %d 1\r\nx\r\n" % i)
    assert worker.stats()["current-jobs-reserved"] == "10"
    worker.close()
    observer = connect()
    assert wait_until(lambda: observer.stats()["current-jobs-ready"] == "10")
