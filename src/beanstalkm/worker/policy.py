"""The worker's decisions, pure: retry or bury, how long to wait, when to touch.

Nothing here does I/O or keeps state (the jitter draws from :mod:`random`); both
workers (:class:`beanstalkm.Worker` and :class:`beanstalkm.aio.Worker`) ask these.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ..constants import MAX_U32

__all__ = [
    "Backoff",
    "Bury",
    "Decision",
    "Retry",
    "RetryPolicy",
    "TimeLimitExceeded",
    "touch_interval",
]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base * factor ** (n - 1)`` seconds, at most ``maximum``,
    with jitter.

    ``Backoff(1, 2, 300).delay(n)`` for n = 1, 2, 3, ... is 1, 2, 4, ... up to 300: the
    longest wait. With ``jitter`` (a fraction, 0.5 by default) the wait actually taken
    (:meth:`jittered`) is drawn uniformly between ``(1 - jitter) * delay(n)`` and
    ``delay(n)``, so that jobs that failed together do not all come back together.
    ``jitter=0`` waits exactly ``delay(n)``; ``jitter=1`` anywhere from 0 to it.
    """

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not (self.base >= 0 and self.factor >= 1 and self.maximum >= 0):
            raise ValueError(f"backoff needs base >= 0, factor >= 1 and maximum >= 0, got {self}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"backoff jitter is a fraction from 0 to 1, got {self.jitter}")

    def delay(self, n: int) -> float:
        """The delay before the ``n``-th retry (``n`` counts from 1)."""
        exponent = max(n, 1) - 1
        if self.base == 0:
            return 0.0
        try:
            # Floats: integer arguments would make huge exact ints, slowly.
            value = float(self.base) * float(self.factor) ** exponent
        except OverflowError:
            value = math.inf
        return min(value, self.maximum)

    def jittered(self, n: int, draw: Callable[[], float] = random.random) -> float:
        """A wait before the ``n``-th retry, in seconds: :meth:`delay` less up to
        ``jitter`` of it. ``draw`` gives a number in [0, 1)."""
        longest = self.delay(n)
        if not self.jitter or longest == math.inf:
            return longest
        return longest * (1 - self.jitter * draw())

    def whole_seconds(self, n: int, draw: Callable[[], float] = random.random) -> int:
        """A wait before the ``n``-th retry in whole seconds (beanstalkd counts delays
        in seconds): a whole number drawn uniformly from ``ceil((1 - jitter) *
        delay(n))`` to ``ceil(delay(n))``, at most what beanstalkd accepts.

        Whole numbers drawn from that range, rather than :meth:`jittered` rounded up,
        because rounding up would make most short waits the same (anything in (1, 2]
        rounds to 2)."""
        longest = self.delay(n)
        if longest >= MAX_U32:
            return MAX_U32
        high = math.ceil(longest)
        low = math.ceil(longest * (1 - self.jitter))
        return high - min(int(draw() * (high - low + 1)), high - low)

    @classmethod
    def of(cls, value: Backoff | Sequence[float] | str) -> Backoff:
        """A Backoff from itself, a ``(base, factor, maximum[, jitter])`` sequence or
        ``"1,2,300"`` (``"1,2,300,0.5"``). Without a jitter, the default's (0.5)."""
        if isinstance(value, Backoff):
            return value
        if isinstance(value, str):
            try:
                parts = [float(p) for p in value.split(",")]
            except ValueError:
                raise ValueError(
                    f"backoff is BASE,FACTOR,MAX[,JITTER] in seconds, got {value!r}"
                ) from None
        else:
            parts = [float(p) for p in value]
        if len(parts) not in (3, 4):
            raise ValueError(f"backoff is (base, factor, maximum[, jitter]), got {value!r}")
        return cls(*parts)


@dataclass(frozen=True)
class Decision:
    """What to do with a job whose handler failed."""

    action: Literal["release", "bury"]
    #: Whole seconds to delay a released job (beanstalkd counts delays in seconds).
    delay: int = 0


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a failed job and when to bury it.

    ``attempt`` is the job's ``reserves`` counter from ``stats-job``: it counts every
    reservation of the job, by any worker, so attempts survive worker restarts. A job
    whose ``attempt`` has reached ``max_attempts`` is buried; before that it is
    released with a delay of ``backoff.whole_seconds(attempt)`` (at most
    ``backoff.delay(attempt)`` rounded up, less the jitter). ``max_attempts=None``
    retries forever.
    """

    max_attempts: int | None = 5
    backoff: Backoff = Backoff()

    def __post_init__(self) -> None:
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be None or >= 1, got {self.max_attempts}")

    def decide(self, attempt: int, delay: float | None = None) -> Decision:
        """The decision after failed attempt number ``attempt``; ``delay`` overrides
        the backoff (a handler's :class:`Retry`)."""
        if self.max_attempts is not None and attempt >= self.max_attempts:
            return Decision("bury")
        if delay is None:
            return Decision("release", self.backoff.whole_seconds(attempt))
        # Asked for: whole seconds, rounded up (never earlier than asked), at most what
        # beanstalkd accepts; no jitter.
        seconds = max(delay, 0.0)
        return Decision("release", MAX_U32 if seconds >= MAX_U32 else math.ceil(seconds))


def touch_interval(ttr: int, margin: float) -> float:
    """Seconds between touches of a job with time-to-run ``ttr``: ``margin`` seconds
    before the deadline, but never less than half the time-to-run (a margin as long
    as the TTR itself would mean touching in a busy loop)."""
    return max(ttr - margin, ttr / 2, 0.05)


class Retry(Exception):
    """Raise from a handler to retry the job after ``delay`` seconds (default: the
    worker's backoff). It counts as a failed attempt."""

    def __init__(self, delay: float | None = None) -> None:
        super().__init__(delay)
        self.delay = delay


class Bury(Exception):
    """Raise from a handler to bury the job now, whatever attempt it is (e.g. bad input
    that no retry will fix)."""


class TimeLimitExceeded(BaseException):
    """A handler ran past its time limit.

    The threaded worker raises it inside the handler's thread (at its next Python
    instruction: a call blocked in C, such as ``time.sleep`` or a socket read, ends
    first); the asyncio worker cancels the handler and reports this instead. It counts
    as a failed attempt. A BaseException, like ``CancelledError``, so that a handler's
    ``except Exception`` does not swallow it.
    """

    def __init__(self, limit: float | None = None) -> None:
        super().__init__(limit)
        #: The time limit, in seconds.
        self.limit = limit

    def __str__(self) -> str:
        return (
            "time limit exceeded"
            if self.limit is None
            else f"time limit of {self.limit:g}s exceeded"
        )
