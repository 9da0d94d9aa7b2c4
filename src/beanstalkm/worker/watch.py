"""A running handler, watched: its job touched while the handler is within its time
limit, the handler interrupted at the limit, and given up on if it will not end.

Pure bookkeeping and flows, for both workers: :class:`Watch` says what is due when;
:func:`keep_alive` is the flow of one touch; each worker keeps the time (a thread, or
timers on the event loop) and does what is due.
"""

from __future__ import annotations

import math
import time
from enum import Enum
from typing import TYPE_CHECKING, Any, Final, Literal

from ..commands import COMMANDS
from ..errors import BeanstalkmException, NotFound, ReservationLost, SocketError
from ..message import BaseMessage
from .log import logger
from .policy import touch_interval
from .routes import Route

if TYPE_CHECKING:
    from .flow import Flow, Rules
    from .hooks import Outcome

__all__ = ["FIRST_LOOK", "WIND_DOWN", "Due", "Watch", "WatchState", "keep_alive"]

_STATS_JOB: Final = COMMANDS["stats_job"]
_TOUCH: Final = COMMANDS["touch"]

#: Seconds a handler runs before the worker first looks at its job's time-to-run (the
#: shortest TTR beanstalkd gives is one second, and a job is touched at half of it).
FIRST_LOOK: Final = 0.5
#: Seconds a handler interrupted at its time limit has to end before the worker gives
#: up on it: settles its job by the retry policy and goes on without it.
WIND_DOWN: Final = 1.0

#: What is due for a watched handler.
Due = Literal["touch", "interrupt", "give up"]


class WatchState(Enum):
    """Where a watched handler stands with its time limit."""

    #: Within its limit (or it has none): its job is kept alive.
    RUNNING = "running"
    #: Past its limit: interrupted, no longer touched, given :data:`WIND_DOWN` to end.
    INTERRUPTED = "interrupted"
    #: It did not end in time: the worker settled its job and went on without it.
    GIVEN_UP = "given up"


class Watch:
    """One running handler: when to look at its job's time-to-run, touch it,
    interrupt the handler, give up on it.

    The times are ``time.monotonic()``. The touches keep to the job's time-to-run,
    counted from ``reserved_at``; the time limit from ``started``, when the handler
    started.
    """

    __slots__ = (
        "due",
        "interval",
        "limit",
        "limit_at",
        "message",
        "outcome",
        "reserved_at",
        "returned",
        "route",
        "started",
        "state",
        "tube",
    )

    def __init__(
        self,
        message: BaseMessage,
        route: Route[Any],
        reserved_at: float,
        ttr: int | None,
        margin: float,
        started: float | None = None,
    ) -> None:
        self.message = message
        #: The handler and its settings.
        self.route = route
        self.tube = route.tube
        self.reserved_at = reserved_at
        self.started = reserved_at if started is None else started
        #: Seconds between touches; None until the job's time-to-run is known.
        self.interval = None if ttr is None else touch_interval(ttr, margin)
        #: When to touch (or first look) next.
        self.due = reserved_at + (FIRST_LOOK if self.interval is None else self.interval)
        #: The handler's time limit in seconds (None: none), and when it is reached.
        self.limit = limit = route.time_limit
        self.limit_at = math.inf if limit is None else self.started + limit
        self.state = WatchState.RUNNING
        #: What the handler returned (the reply's body, when the job is a request).
        self.returned: object = None
        #: The outcome decided when the worker gave up on the handler.
        self.outcome: Outcome | None = None

    @property
    def next_at(self) -> float:
        """When something may next be due."""
        if self.state is WatchState.RUNNING:
            return min(self.due, self.limit_at)
        if self.state is WatchState.INTERRUPTED:
            return self.limit_at + WIND_DOWN
        return math.inf

    def what_now(self, now: float) -> Due | None:
        """What is due at ``now``, if anything; a time limit is acted on once."""
        if self.state is WatchState.RUNNING:
            if now >= self.limit_at:
                self.state = WatchState.INTERRUPTED
                return "interrupt"
            if now >= self.due:
                return "touch"
        elif self.state is WatchState.INTERRUPTED and now >= self.limit_at + WIND_DOWN:
            self.state = WatchState.GIVEN_UP
            return "give up"
        return None

    @property
    def hit_limit(self) -> bool:
        """True once the handler has run past its time limit."""
        return self.state is not WatchState.RUNNING


def time_limit_hit(rules: Rules, watch: Watch) -> None:
    """Count and log a handler that has just run past its time limit."""
    rules.tally.add("time_limits", tube=watch.tube)
    logger.warning(
        "job %d from %r: handler over its time limit of %gs; interrupting it",
        watch.message.uid,
        watch.tube,
        watch.limit,
    )


def keep_alive(rules: Rules, job: Watch) -> Flow[bool]:
    """Touch a job whose handler runs long, learning its time-to-run first if need be;
    False when there is nothing more to keep alive. Never past the handler's time
    limit: touching stops there."""
    message = job.message
    if job.interval is None:
        try:
            stats = yield (_STATS_JOB, (message.uid,), None, None)
        except (NotFound, ReservationLost, SocketError) as exc:
            logger.debug("job %d: stopped touching (%s)", message.uid, exc)
            return False
        except BeanstalkmException as exc:
            logger.warning("job %d: cannot read its stats: %s", message.uid, exc)
            job.due = time.monotonic() + FIRST_LOOK
            return True
        job.interval = touch_interval(stats["ttr"], rules.touch_margin)
        job.due = job.reserved_at + job.interval
        if job.due > time.monotonic():
            return True
    if job.hit_limit or time.monotonic() >= job.limit_at:
        return True  # not touched: the time limit is acted on instead
    try:
        yield (_TOUCH, (message.uid,), message.holding, None)
    except (ReservationLost, NotFound, SocketError) as exc:
        # The job is done (deleted since we looked), or the reservation is gone with
        # the connection.
        logger.debug("job %d: stopped touching (%s)", message.uid, exc)
        return False
    except BeanstalkmException as exc:
        logger.warning("job %d: touch failed: %s", message.uid, exc)
    else:
        rules.tally.add("touched", tube=job.tube)
        logger.debug("job %d: touched", message.uid)
    job.due = time.monotonic() + job.interval
    return True
