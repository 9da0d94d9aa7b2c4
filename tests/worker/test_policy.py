"""The pure part of the worker: backoff, retry/bury decisions, touch intervals."""

from __future__ import annotations

import dataclasses

import pytest

from beanstalkm.constants import MAX_U32
from beanstalkm.worker import Backoff, Decision, RetryPolicy, WorkerCounters, touch_interval


def test_backoff_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(1, 2, 10)
    assert [backoff.delay(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_backoff_edge_cases() -> None:
    assert Backoff(0, 2, 10).delay(5) == 0  # immediate retries
    assert Backoff(0, 2, 10).delay(5000) == 0
    assert Backoff(3, 1, 10).delay(9) == 3  # constant
    assert Backoff(1, 2, 10).delay(0) == 1  # n below 1 is the first retry
    assert Backoff(1, 10, 60).delay(10_000) == 60  # no OverflowError
    assert Backoff(1, 2, float("inf")).delay(5000) == float("inf")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1,2,300", Backoff(1, 2, 300)),
        ("1,2,300,0", Backoff(1, 2, 300, 0)),
        ("0.5, 3, 60", Backoff(0.5, 3, 60)),
        ((1, 2, 3, 1), Backoff(1, 2, 3, 1)),
        ((2, 2, 8), Backoff(2, 2, 8)),
        (Backoff(1, 1, 1), Backoff(1, 1, 1)),
    ],
)
def test_backoff_of(value: object, expected: Backoff) -> None:
    assert Backoff.of(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value", ["1,2", "a,b,c", (1, 2, 3, 4, 5), "1,0.5,3", "-1,2,3", "1,2,3,1.5", "1,2,3,-0.1"]
)
def test_backoff_of_rejects(value: object) -> None:
    with pytest.raises(ValueError, match="backoff"):
        Backoff.of(value)  # type: ignore[arg-type]


def test_policy_releases_with_backoff_then_buries() -> None:
    policy = RetryPolicy(max_attempts=4, backoff=Backoff(1, 3, 100, jitter=0))
    assert [policy.decide(n) for n in (1, 2, 3)] == [
        Decision("release", 1),
        Decision("release", 3),
        Decision("release", 9),
    ]
    assert policy.decide(4) == Decision("bury")
    # attempts beyond the limit (e.g. after a kick) bury too
    assert policy.decide(9) == Decision("bury")


def test_policy_one_attempt_buries_at_once() -> None:
    assert RetryPolicy(max_attempts=1).decide(1) == Decision("bury")


def test_policy_without_limit_never_buries() -> None:
    policy = RetryPolicy(max_attempts=None, backoff=Backoff(1, 2, 30, jitter=0))
    assert policy.decide(1000) == Decision("release", 30)


def test_policy_delays_are_whole_seconds_rounded_up() -> None:
    policy = RetryPolicy(backoff=Backoff(0.2, 2, 100, jitter=0))
    assert policy.decide(1) == Decision("release", 1)
    assert policy.decide(3) == Decision("release", 1)  # 0.8 s
    assert policy.decide(4) == Decision("release", 2)  # 1.6 s


def test_policy_delay_override_and_clamp() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.decide(1, delay=7.5) == Decision("release", 8)
    assert policy.decide(1, delay=-3) == Decision("release", 0)
    assert policy.decide(1, delay=1e20) == Decision("release", MAX_U32)
    assert policy.decide(3, delay=5) == Decision("bury")  # the limit still holds
    huge = RetryPolicy(max_attempts=None, backoff=Backoff(1, 2, float("inf")))
    assert huge.decide(5000) == Decision("release", MAX_U32)


def test_jitter_is_on_by_default_and_stays_within_its_bounds() -> None:
    assert Backoff().jitter == 0.5
    policy = RetryPolicy(max_attempts=None, backoff=Backoff(1, 2, 300))
    bounds = {1: (1, 1), 2: (1, 2), 3: (2, 4), 5: (8, 16), 20: (150, 300)}
    for attempt, (low, high) in bounds.items():
        seen = {policy.decide(attempt).delay for _ in range(400)}
        assert min(seen) >= low
        assert max(seen) <= high
        if high - low < 20:
            assert seen == set(range(low, high + 1))  # every whole second in it comes up
    # The edges of the draw: 0 gives the longest wait, just under 1 the shortest.
    backoff = Backoff(10, 1, 10, jitter=0.3)
    assert backoff.whole_seconds(1, lambda: 0.0) == 10
    assert backoff.whole_seconds(1, lambda: 0.999999) == 7
    assert backoff.jittered(1, lambda: 0.0) == 10
    assert backoff.jittered(1, lambda: 0.5) == pytest.approx(8.5)
    # Full jitter may retry at once; none waits exactly the backoff.
    assert Backoff(4, 1, 4, jitter=1).whole_seconds(1, lambda: 0.999) == 0
    assert {Backoff(4, 1, 4, jitter=0).whole_seconds(1) for _ in range(50)} == {4}
    # A delay the handler asked for (Retry(delay=...)) is not jittered.
    assert {policy.decide(3, delay=7).delay for _ in range(50)} == {7}


def test_jitter_spreads_a_burst_of_failures() -> None:
    policy = RetryPolicy(max_attempts=None, backoff=Backoff(1, 2, 300))
    delays = [policy.decide(8).delay for _ in range(1000)]  # 1000 jobs failing together
    assert min(delays) >= 64
    assert max(delays) <= 128
    assert max(delays.count(d) for d in set(delays)) < 60  # none of the 65 seconds takes 6%


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)


@pytest.mark.parametrize(
    ("ttr", "margin", "expected"),
    [(120, 2, 118), (10, 2, 8), (4, 2, 2), (2, 1, 1), (2, 2, 1), (1, 2, 0.5), (3, 0, 3)],
)
def test_touch_interval(ttr: int, margin: float, expected: float) -> None:
    assert touch_interval(ttr, margin) == expected


def test_counters_are_a_frozen_snapshot() -> None:
    counters = WorkerCounters()
    assert dataclasses.asdict(counters) == {
        "processed": 0,
        "failed": 0,
        "retried": 0,
        "buried": 0,
        "released": 0,
        "lost": 0,
        "touched": 0,
        "connection_errors": 0,
        "time_limits": 0,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        counters.processed = 1  # type: ignore[misc]
