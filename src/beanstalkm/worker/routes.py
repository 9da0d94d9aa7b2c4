"""A handler with its settings: what a worker runs for each tube."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Generic, TypeVar

from .policy import Backoff, RetryPolicy

__all__ = ["WORKER_DEFAULT", "Route", "WorkerDefault", "check_time_limit"]

_H = TypeVar("_H")


class WorkerDefault(Enum):
    """The type of :data:`WORKER_DEFAULT`."""

    WORKER_DEFAULT = "the worker's"


#: A per-handler setting left to the worker's value (``None`` means something else:
#: ``max_attempts=None`` never buries, ``time_limit=None`` has no limit).
WORKER_DEFAULT: Final = WorkerDefault.WORKER_DEFAULT


def check_time_limit(seconds: float | None) -> float | None:
    """A time limit as given (None: none), checked: a positive number of seconds."""
    if seconds is None:
        return None
    if not (isinstance(seconds, (int, float)) and seconds > 0 and not math.isnan(seconds)):
        raise ValueError(f"time_limit must be None or seconds > 0, got {seconds!r}")
    return None if seconds == math.inf else float(seconds)


@dataclass(frozen=True)
class Route(Generic[_H]):
    """The handler of a tube, with the settings it runs under."""

    tube: str
    handler: _H
    #: When to retry its failed jobs and when to bury them.
    policy: RetryPolicy
    #: Seconds it may run on a job; None: no limit.
    time_limit: float | None

    @classmethod
    def make(
        cls,
        tube: str,
        handler: _H,
        defaults: Route[Any] | None,
        max_attempts: int | WorkerDefault | None,
        backoff: Backoff | Sequence[float] | str | WorkerDefault,
        time_limit: float | WorkerDefault | None,
    ) -> Route[_H]:
        """A route whose settings left to :data:`WORKER_DEFAULT` come from ``defaults``
        (the worker's, as a route of no tube)."""
        base = defaults.policy if defaults is not None else RetryPolicy()
        policy = RetryPolicy(
            base.max_attempts if max_attempts is WORKER_DEFAULT else max_attempts,
            base.backoff if backoff is WORKER_DEFAULT else Backoff.of(backoff),
        )
        if time_limit is WORKER_DEFAULT:
            limit = defaults.time_limit if defaults is not None else None
        else:
            limit = check_time_limit(time_limit)
        return cls(tube, handler, policy, limit)
