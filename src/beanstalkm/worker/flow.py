"""The life of a reserved job, written once for both workers, without I/O.

A job's flow is a generator in the manner of :mod:`beanstalkm.operations`: it yields
requests (which the worker's client runs, sending back each result or throwing in its
error) and one :class:`Handle` step (run the handler), and does all the counting and
logging. Each worker drives it with its client's ``drive``, giving it a function for
the :class:`Handle` step.

What it costs the server, per job: a job that succeeds costs its reserve and its
delete, and the delete goes out in the same write as the next reserve (see
:func:`next_job`), so a busy worker spends one round trip per job. ``stats-job`` is
asked only when its answer is needed: the tube, when the worker reserves from several;
the attempt number, when the job failed; the time-to-run, once the handler has run
long enough for it to matter (see :func:`keep_alive`).
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal, Protocol, TypeAlias, TypeVar

from ..commands import COMMANDS
from ..errors import BeanstalkmException, NotFound, ReservationLost, SocketError, TimedOut
from ..message import BaseMessage
from ..operations import delete_request, reserve_request
from ..protocol import Request
from .base import logger
from .counters import Tally
from .policy import Bury, Decision, Retry, RetryPolicy, touch_interval

__all__ = [
    "FIRST_LOOK",
    "Abandoned",
    "Flow",
    "Handle",
    "KeepAlive",
    "Rules",
    "Settle",
    "give_back",
    "handle_job",
    "holds",
    "keep_alive",
    "next_job",
    "settle_now",
    "settled",
]

_T = TypeVar("_T")

_STATS_JOB: Final = COMMANDS["stats_job"]
_RELEASE: Final = COMMANDS["release"]
_BURY: Final = COMMANDS["bury"]
_TOUCH: Final = COMMANDS["touch"]
#: Seconds a handler runs before the worker first looks at its job's time-to-run (the
#: shortest TTR beanstalkd gives is one second, and a job is touched at half of it).
FIRST_LOOK: Final = 0.5


class Rules(Protocol):
    """What a job's flow needs of its worker (:class:`~beanstalkm.worker.base.WorkerBase`)."""

    policy: RetryPolicy
    touch_margin: float

    @property
    def tally(self) -> Tally: ...

    @property
    def deadline(self) -> float: ...

    @property
    def only_tube(self) -> str | None: ...

    def handler_for(self, tube: str) -> Any: ...


@dataclass(frozen=True)
class Handle:
    """Step: run ``handler`` on the message (touching the job while it runs long). The
    driver sends back None (it returned), the Exception it raised, or an
    :class:`Abandoned`. A BaseException that is not an Exception (SystemExit...) is the
    driver's to deal with (see ``WorkerBase._handler_raised``)."""

    handler: Any
    tube: str
    #: The job's time-to-run, when the worker already knows it.
    ttr: int | None = None


class Abandoned(Enum):
    """The result of a :class:`Handle` step when the worker gave up on the job at
    shutdown (its grace period was over)."""

    #: Before the handler started: the job is to be released.
    NOT_STARTED = "not started"
    #: The worker released the job while the handler ran, and the handler ended since:
    #: what it did is ignored (the job will run again).
    FINISHED = "finished"
    #: The worker released the job and cancelled the handler (asyncio).
    CANCELLED = "cancelled"


#: A job flow: yields requests and Handle steps, returns ``_T``.
Flow: TypeAlias = Generator["Request | list[Request] | Handle", Any, _T]

Action = Literal["delete", "retry", "bury", "give back", "release"]


@dataclass(frozen=True)
class Settle:
    """How a job ends: the request that settles it, and what to count and say when it
    is answered (:func:`settled`). A worker sends it with its next reserve."""

    request: Request
    action: Action
    message: BaseMessage
    tube: str | None = None
    attempt: int | None = None
    error: BaseException | None = None


def holds(message: BaseMessage) -> bool:
    """Whether the reservation of ``message`` is still its connection's.

    A command reconnects on its own when it finds the connection dead, so a command
    that succeeded does not prove the reservation survived: the connection count does.
    """
    return message.reserved and message.generation == message.connection.generation


def give_back(rules: Rules, message: BaseMessage) -> Flow[Settle | None]:
    """Shutdown: hand the job back at once, for another worker to take."""
    priority = yield from _priority(rules, message, "before it could be given back")
    if priority is None:
        return None
    return Settle(_release(message, priority, 0), "give back", message)


def _priority(rules: Rules, message: BaseMessage, when: str) -> Flow[int | None]:
    # Releasing or burying a job sets its priority: keep the one it has. A reserve
    # does not say it; the job's stats do (None: the job is lost).
    if message.priority is not None:
        return message.priority
    stats = yield from _stats(rules, message, when)
    return None if stats is None else message.priority


def _release(message: BaseMessage, priority: int, delay: int) -> Request:
    return (_RELEASE, (message.uid, priority, delay), message.holding, None)


def handle_job(
    rules: Rules, message: BaseMessage, reserved_at: float, abandoned: bool
) -> Flow[Settle | None]:
    """A reserved job, to the request that settles it: delete, retry, bury, or give
    back; None when there is nothing left to send (lost, or settled by the handler).

    ``reserved_at``: when it was reserved (``time.monotonic()``); ``abandoned``: the
    worker gave up on the slot at shutdown. A job reserved after the grace period (or a
    stop at once), or by an abandoned slot, is handed straight back, unhandled.
    """
    if abandoned or rules.deadline <= reserved_at:
        return (yield from give_back(rules, message))
    tube = rules.only_tube
    attempt = ttr = None
    if tube is None:
        # The tube picks the handler, and only the server knows it.
        stats = yield from _stats(rules, message, "before it could be handled")
        if stats is None:
            return None
        tube, attempt, ttr = stats["tube"], stats["reserves"], stats["ttr"]
    message.tube = tube
    handler = rules.handler_for(tube)
    if handler is None:  # only if someone changed the watch list under us
        logger.error("job %d: no handler for tube %r; releasing it", message.uid, tube)
        priority = yield from _priority(rules, message, "before it could be released")
        if priority is None:
            return None
        return Settle(_release(message, priority, 0), "release", message, tube)
    outcome = yield Handle(handler, tube, ttr)
    if outcome is Abandoned.NOT_STARTED:
        return (yield from give_back(rules, message))
    if outcome is Abandoned.FINISHED:
        logger.warning(
            "job %d in %r finished after the worker released it at shutdown; it will run again",
            message.uid,
            tube,
        )
        return None
    if outcome is Abandoned.CANCELLED:
        logger.debug("job %d in %r: handler cancelled at shutdown", message.uid, tube)
        return None
    if outcome is None:
        if message.deleted:
            rules.tally.add("processed")  # the handler deleted it itself
            return None
        if not message.reserved:
            logger.debug("job %d: the handler released or buried it itself", message.uid)
            return None
        return Settle(delete_request(message), "delete", message, tube)
    rules.tally.add("failed")
    if not message.reserved:
        logger.warning(
            "job %d from %r failed after its handler released, buried or deleted it",
            message.uid,
            tube,
            exc_info=outcome,
        )
        return None
    if attempt is None:
        # How many times it was tried: counted by the server, across workers.
        stats = yield from _stats(rules, message, "after it failed")
        if stats is None:
            return None
        attempt = stats["reserves"]
    if isinstance(outcome, Bury):
        decision = Decision("bury")
    else:
        delay = outcome.delay if isinstance(outcome, Retry) else None
        decision = rules.policy.decide(attempt, delay)
    priority = yield from _priority(rules, message, "after it failed")
    if priority is None:
        return None
    if decision.action == "bury":
        bury: Request = (_BURY, (message.uid, priority), message.holding, None)
        return Settle(bury, "bury", message, tube, attempt, outcome)
    release = _release(message, priority, decision.delay)
    return Settle(release, "retry", message, tube, attempt, outcome)


def _stats(rules: Rules, message: BaseMessage, when: str) -> Flow[dict[str, Any] | None]:
    """The job's stats, with its priority noted; None (counted lost) when the job is
    no longer this connection's."""
    try:
        stats: dict[str, Any] | None = yield (_STATS_JOB, (message.uid,), None, None)
    except NotFound:
        stats = None
    except BeanstalkmException as exc:
        rules.tally.add("lost")
        logger.warning(
            "job %d: cannot read its stats (%s); leaving it to the server", message.uid, exc
        )
        return None
    if stats is None or not holds(message):
        rules.tally.add("lost")
        logger.warning("job %d: reservation lost %s", message.uid, when)
        return None
    message.priority = stats["pri"]
    return stats


def settled(rules: Rules, settle: Settle, outcome: object) -> None:
    """Count and log a settle's ``outcome``: its result, or the exception it got."""
    message = settle.message
    if isinstance(outcome, BaseException):
        if settle.action == "give back":
            logger.warning("job %d: cannot release it (%s)", message.uid, outcome)
            return
        rules.tally.add("lost")
        message.reserved = False
        if isinstance(outcome, (ReservationLost, NotFound, SocketError)):
            # Never retried on a new connection: the job is no longer ours (the server
            # released it when the connection went, or its time-to-run ran out) and
            # another worker may hold it now. The server hands it out again.
            logger.warning(
                "job %d: reservation lost before it could be settled (%s); "
                "the server will hand it out again",
                message.uid,
                outcome,
            )
        else:
            logger.error("job %d: cannot settle it: %s", message.uid, outcome)
        return
    message.reserved = False
    action = settle.action
    limit = rules.policy.max_attempts or "unlimited"
    if action == "delete":
        message.deleted = True
        rules.tally.add("processed")
        logger.debug("job %d from %r done", message.uid, settle.tube)
    elif action == "retry":
        rules.tally.add("retried")
        logger.warning(
            "job %d from %r failed (attempt %d of %s); retrying in %ds",
            message.uid,
            settle.tube,
            settle.attempt,
            limit,
            settle.request[1][2],
            exc_info=settle.error,
        )
    elif action == "bury":
        rules.tally.add("buried")
        logger.error(
            "job %d from %r failed (attempt %d of %s); burying it",
            message.uid,
            settle.tube,
            settle.attempt,
            limit,
            exc_info=settle.error,
        )
    elif action == "give back":
        rules.tally.add("released")
        logger.warning("job %d: released unfinished at shutdown", message.uid)


def settle_now(rules: Rules, settle: Settle) -> Flow[None]:
    """Send a settle on its own (at shutdown, or when no reserve follows)."""
    try:
        result = yield settle.request
    except BeanstalkmException as exc:
        settled(rules, settle, exc)
    else:
        settled(rules, settle, result)


def next_job(
    rules: Rules, settle: Settle | None, reserve_timeout: float
) -> Flow[BaseMessage | None]:
    """Settle the last job and reserve the next in one round trip; the message, or
    None when ``reserve_timeout`` passed without one."""
    reserve = reserve_request(reserve_timeout)
    if settle is not None:
        try:
            results = yield [settle.request, reserve]
        except ReservationLost as exc:
            # Nothing was sent: the job's connection is gone. Reserve on the new one.
            settled(rules, settle, exc)
        except BeanstalkmException as exc:
            settled(rules, settle, exc)
            raise
        else:
            settled(rules, settle, results[0])
            result = results[1]
            if isinstance(result, TimedOut):
                return None
            if isinstance(result, BaseException):
                raise result
            return result  # type: ignore[no-any-return]
    try:
        message: BaseMessage = yield reserve
    except TimedOut:
        return None
    return message


class KeepAlive:
    """The touching of one job whose handler runs long: when to look at it next."""

    __slots__ = ("due", "interval", "message", "reserved_at")

    def __init__(self, message: BaseMessage, reserved_at: float, ttr: int | None, margin: float):
        self.message = message
        self.reserved_at = reserved_at
        #: Seconds between touches; None until the job's time-to-run is known.
        self.interval = None if ttr is None else touch_interval(ttr, margin)
        #: When to look next (``time.monotonic()``).
        self.due = reserved_at + (FIRST_LOOK if self.interval is None else self.interval)


def keep_alive(rules: Rules, job: KeepAlive) -> Flow[bool]:
    """Touch a job whose handler runs long, learning its time-to-run first if need be;
    False when there is nothing more to keep alive."""
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
        rules.tally.add("touched")
        logger.debug("job %d: touched", message.uid)
    job.due = time.monotonic() + job.interval
    return True
