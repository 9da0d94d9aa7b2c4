"""The worker's decisions, pure: retry or bury, how long to wait, when to touch.

Nothing here does I/O or keeps state; both workers (:class:`beanstalkm.Worker` and
:class:`beanstalkm.aio.Worker`) ask these.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..constants import MAX_U32

__all__ = ["Backoff", "Bury", "Decision", "Retry", "RetryPolicy", "touch_interval"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``base * factor ** (n - 1)`` seconds, at most ``maximum``.

    ``Backoff(1, 2, 300).delay(n)`` for n = 1, 2, 3, ... is 1, 2, 4, ... up to 300.
    """

    base: float = 1.0
    factor: float = 2.0
    maximum: float = 300.0

    def __post_init__(self) -> None:
        if not (self.base >= 0 and self.factor >= 1 and self.maximum >= 0):
            raise ValueError(f"backoff needs base >= 0, factor >= 1 and maximum >= 0, got {self}")

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

    @classmethod
    def of(cls, value: Backoff | Sequence[float] | str) -> Backoff:
        """A Backoff from itself, a ``(base, factor, maximum)`` sequence or ``"1,2,300"``."""
        if isinstance(value, Backoff):
            return value
        if isinstance(value, str):
            try:
                parts = [float(p) for p in value.split(",")]
            except ValueError:
                raise ValueError(f"backoff is BASE,FACTOR,MAX in seconds, got {value!r}") from None
        else:
            parts = [float(p) for p in value]
        if len(parts) != 3:
            raise ValueError(f"backoff is (base, factor, maximum), got {value!r}")
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
    released with ``backoff.delay(attempt)`` seconds of delay. ``max_attempts=None``
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
        seconds = self.backoff.delay(attempt) if delay is None else max(delay, 0.0)
        # Whole seconds, rounded up (a retry never comes earlier than asked), at most
        # what beanstalkd accepts.
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
