"""The broker and its helpers, driven directly with a fake clock (no sockets)."""

from __future__ import annotations

import pytest

from beanstalkm.server.commands import CLOSE, WAIT, Dispatcher, ReadBody, Skip
from beanstalkm.server.state import NS_PER_SECOND, Broker, Job, Session, ns_to_seconds
from beanstalkm.server.swapset import SwapSet


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000 * NS_PER_SECOND

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * NS_PER_SECOND)


class Client:
    """A session plus the replies its waiting reserves received."""

    def __init__(self, broker: Broker) -> None:
        self.woken: list[object] = []
        self.session: Session = broker.open_session(self.woken.append)
        self.dispatcher = Dispatcher(broker, self.session)
        self.broker = broker

    def run(self, line: bytes) -> object:
        return self.dispatcher.run(line)

    def put(self, body: bytes, pri: int = 0, delay: int = 0, ttr: int = 60) -> int:
        result = self.run(b"put %d %d %d %d" % (pri, delay, ttr, len(body)))
        assert isinstance(result, ReadBody)
        reply = self.broker.put(result.job, body + b"\r\n")
        assert reply.startswith(b"INSERTED ")
        return int(reply.split()[1])


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def broker(clock: FakeClock) -> Broker:
    return Broker(clock=clock)


def test_swapset_take_order() -> None:
    waiting: SwapSet[str] = SwapSet()
    for name in "abcd":
        waiting.append(name)
    assert [waiting.take() for _ in range(4)] == ["a", "b", "d", "c"]
    assert waiting.take() is None


def test_swapset_remove_moves_the_last_item() -> None:
    items: SwapSet[int] = SwapSet()
    for i in range(5):
        items.append(i)
    assert items.remove(1)
    assert not items.remove(42)
    assert list(items) == [0, 4, 2, 3]


@pytest.mark.parametrize(
    ("ns", "seconds"),
    [(0, 0), (999_999_999, 0), (NS_PER_SECOND, 1), (-1, 0), (-1_500_000_000, -1)],
)
def test_ns_to_seconds_truncates_toward_zero(ns: int, seconds: int) -> None:
    assert ns_to_seconds(ns) == seconds


def test_put_reserve_delete(broker: Broker) -> None:
    client = Client(broker)
    job_id = client.put(b"hello")
    assert client.run(b"reserve") is WAIT
    (job,) = client.woken
    assert isinstance(job, Job)
    assert (job.id, job.body) == (job_id, b"hello\r\n")
    assert client.run(b"delete %d" % job_id) == b"DELETED\r\n"
    assert broker.jobs == {}


def test_waiting_reserve_is_woken_by_put(broker: Broker) -> None:
    worker, producer = Client(broker), Client(broker)
    assert worker.run(b"reserve") is WAIT
    assert worker.woken == []
    assert broker.waiting_count == 1
    producer.put(b"x")
    assert len(worker.woken) == 1
    assert broker.waiting_count == 0


def test_ttr_expiry_on_tick(broker: Broker, clock: FakeClock) -> None:
    client = Client(broker)
    client.put(b"x", ttr=5)
    client.run(b"reserve")
    deadline = clock.now + 5 * NS_PER_SECOND
    assert broker.next_wakeup() == deadline
    clock.advance(4.9)
    broker.tick()
    assert broker.reserved_count == 1
    clock.advance(0.2)
    broker.tick()
    assert (broker.reserved_count, broker.ready_count, broker.timeouts) == (0, 1, 1)
    assert broker.next_wakeup() is None


def test_deadline_soon_wakes_a_waiting_reserve(broker: Broker, clock: FakeClock) -> None:
    client = Client(broker)
    client.put(b"x", ttr=5)
    client.run(b"reserve")
    assert client.run(b"reserve") is WAIT
    # The waiting reserve is told one second before the TTR ends.
    assert broker.next_wakeup() == clock.now + 4 * NS_PER_SECOND
    clock.advance(4)
    broker.tick()
    assert client.woken[-1] == b"DEADLINE_SOON\r\n"
    assert not client.session.waiting


def test_reserve_timeout_on_tick(broker: Broker, clock: FakeClock) -> None:
    client = Client(broker)
    assert client.run(b"reserve-with-timeout 3") is WAIT
    assert broker.next_wakeup() == clock.now + 3 * NS_PER_SECOND
    clock.advance(3)
    broker.tick()
    assert client.woken == [b"TIMED_OUT\r\n"]


def test_zero_timeout_answers_at_once(broker: Broker) -> None:
    client = Client(broker)
    assert client.run(b"reserve-with-timeout 0") is WAIT
    assert client.woken == [b"TIMED_OUT\r\n"]


def test_delayed_job_becomes_ready_on_tick(broker: Broker, clock: FakeClock) -> None:
    client = Client(broker)
    client.put(b"x", delay=2)
    assert (broker.delayed_count, broker.ready_count) == (1, 0)
    assert broker.next_wakeup() == clock.now + 2 * NS_PER_SECOND
    clock.advance(2)
    broker.tick()
    assert (broker.delayed_count, broker.ready_count) == (0, 1)


def test_pause_ends_on_tick(broker: Broker, clock: FakeClock) -> None:
    worker, admin = Client(broker), Client(broker)
    admin.put(b"x")
    assert admin.run(b"pause-tube default 2") == b"PAUSED\r\n"
    worker.run(b"reserve")
    assert worker.woken == []
    clock.advance(2)
    broker.tick()
    assert len(worker.woken) == 1
    assert broker.default_tube.pause_ns == 0


def test_cancelled_wait_times_out(broker: Broker) -> None:
    client = Client(broker)
    client.run(b"reserve")
    broker.cancel_wait(client.session)
    assert client.woken == [b"TIMED_OUT\r\n"]
    assert broker.waiting_count == 0


def test_closing_a_session_releases_its_jobs_and_tubes(broker: Broker) -> None:
    client = Client(broker)
    client.run(b"use temp")
    client.put(b"x")
    client.run(b"reserve-job 1")
    client.run(b"delete 1")
    assert [t.name for t in broker.tubes] == [b"default", b"temp"]
    other = Client(broker)
    other.put(b"y")
    other.run(b"reserve")
    broker.close_session(client.session)
    broker.close_session(other.session)
    broker.close_session(other.session)  # twice is harmless
    assert [t.name for t in broker.tubes] == [b"default"]
    assert (broker.ready_count, broker.reserved_count, broker.connections) == (1, 0, 0)


def test_heaps_do_not_keep_deleted_jobs(broker: Broker) -> None:
    client = Client(broker)
    ids = [client.put(b"x", delay=100) for _ in range(5000)]
    for job_id in ids[:4900]:
        assert client.run(b"delete %d" % job_id) == b"DELETED\r\n"
    tube = broker.default_tube
    assert len(tube.delay) < 2 * 100 + 1100
    ids = [client.put(b"y") for _ in range(5000)]
    for job_id in ids[:4900]:
        client.run(b"delete %d" % job_id)
    assert len(tube.ready) < 2 * 100 + 1100


def test_dispatcher_results(broker: Broker) -> None:
    client = Client(broker)
    assert client.run(b"quit") is CLOSE
    result = client.run(b"put 0 0 1 70000")
    assert isinstance(result, Skip)
    assert (result.count, result.reply) == (70002, b"JOB_TOO_BIG\r\n")
    assert client.run(b"stats-job 1") == b"NOT_FOUND\r\n"
    assert client.run(b"\x00") == b"BAD_FORMAT\r\n"


def test_max_job_size_is_validated() -> None:
    with pytest.raises(ValueError, match="max_job_size"):
        Broker(max_job_size=-1)
    with pytest.raises(ValueError, match="max_job_size"):
        Broker(max_job_size=2**30 + 1)


def test_timer_heaps_stay_bounded(broker: Broker, clock: FakeClock) -> None:
    worker, producer = Client(broker), Client(broker)
    for _ in range(5000):
        producer.put(b"x", ttr=100)
        assert worker.run(b"reserve") is WAIT
        (job,) = worker.woken[-1:]
        assert isinstance(job, Job)
        assert worker.run(b"delete %d" % job.id) == b"DELETED\r\n"
    assert len(broker._tick_heap) < 2 * broker.connections + 1100
    for _ in range(3000):
        producer.run(b"pause-tube default 100")
    assert len(broker._pause_heap) < 2 * len(broker.tubes) + 1100


def test_matured_delayed_jobs_leave_the_tube_heap(broker: Broker, clock: FakeClock) -> None:
    client = Client(broker)
    for _ in range(3000):
        client.put(b"x", delay=1)
        clock.advance(1)
        broker.tick()
    tube = broker.default_tube
    assert (tube.delay_count, tube.ready_count) == (0, 3000)
    assert len(tube.delay) < 10
