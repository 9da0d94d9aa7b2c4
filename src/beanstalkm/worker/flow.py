"""The life of a reserved job, written once for both workers, without I/O.

A job's flow is a generator in the manner of :mod:`beanstalkm.operations`: it yields
requests (which the worker's client runs, sending back each result or throwing in its
error), one :class:`Handle` step (run the handler) and :class:`~.hooks.Hook` steps
(run the hooks), and does all the counting and logging. Each worker drives it with
its client's ``drive``, giving it a function for the steps that are not requests.

What it costs the server, per job: a job that succeeds costs its reserve and its
delete, and the delete goes out in the same write as the next reserve (see
:func:`next_job`), so a busy worker spends one round trip per job. A request (a job
whose envelope has ``subscribe``) is answered in that write as well: the put of its
reply goes first (see :func:`reply_request`). ``stats-job`` is
asked only when its answer is needed: the tube, when the worker reserves from several;
the attempt number, when the job failed; the time-to-run, once the handler has run
long enough for it to matter (see :func:`~.watch.keep_alive`).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Set
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal, Protocol, TypeAlias, TypeVar

from .. import replies
from ..commands import COMMANDS, check_tube
from ..errors import (
    BeanstalkmException,
    InvalidArgument,
    NotFound,
    ReservationLost,
    SocketError,
    TimedOut,
)
from ..message import BaseMessage
from ..operations import delete_request, put_request, reserve_request
from ..protocol import Request
from .counters import Tally
from .hooks import Hook, Hooks, Outcome
from .log import logger
from .policy import Bury, Decision, Retry, RetryPolicy, TimeLimitExceeded
from .routes import Route
from .watch import FIRST_LOOK, Watch, keep_alive, time_limit_hit

__all__ = [
    "FIRST_LOOK",
    "Abandoned",
    "Flow",
    "Handle",
    "Rules",
    "Settle",
    "answered",
    "give_back",
    "give_up",
    "handle_job",
    "holds",
    "keep_alive",
    "next_job",
    "settle_now",
    "settled",
    "time_limit_hit",
]

_T = TypeVar("_T")

_STATS_JOB: Final = COMMANDS["stats_job"]
_RELEASE: Final = COMMANDS["release"]
_BURY: Final = COMMANDS["bury"]


class Rules(Protocol):
    """What a job's flow needs of its worker (:class:`~beanstalkm.worker.base.WorkerBase`)."""

    policy: RetryPolicy
    touch_margin: float

    @property
    def tally(self) -> Tally: ...

    @property
    def hooks(self) -> Hooks: ...

    @property
    def deadline(self) -> float: ...

    @property
    def only_tube(self) -> str | None: ...

    @property
    def running_refs(self) -> Set[str]:
        """Jobs whose handlers the worker gave up on at their time limit, still running,
        by ``message.ref`` (job ids are per server, and a worker may be on several)."""
        ...

    def handler_for(self, tube: str) -> Route[Any] | None: ...


@dataclass(frozen=True)
class Handle:
    """Step: run ``handler`` on the message, touching the job while the handler is
    within its time limit (``watch`` keeps the times). The driver sends back None (it
    returned), the exception it raised (an Exception, or a
    :class:`~.policy.TimeLimitExceeded`), or an :class:`Abandoned`. Another
    BaseException (SystemExit...) is the driver's to deal with (see
    ``WorkerBase._handler_raised``)."""

    handler: Any
    tube: str
    watch: Watch


class Abandoned(Enum):
    """The result of a :class:`Handle` step when the worker gave up on the job: at
    shutdown (its grace period was over), or at the handler's time limit."""

    #: Before the handler started: the job is to be released.
    NOT_STARTED = "not started"
    #: The worker released the job while the handler ran, and the handler ended since:
    #: what it did is ignored (the job will run again).
    FINISHED = "finished"
    #: The worker released the job and cancelled the handler (asyncio).
    CANCELLED = "cancelled"
    #: The handler did not end after its time limit: the worker settled the job by
    #: the retry policy (:func:`give_up`), and the handler ended since (threads) or
    #: runs on unwatched (asyncio).
    GIVEN_UP = "given up"


#: A job flow: yields requests, Handle and Hook steps, returns ``_T``.
Flow: TypeAlias = Generator["Request | list[Request] | Handle | Hook", Any, _T]

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
    #: The handler's max_attempts, for the log.
    max_attempts: int | None = None
    #: The put of the reply, when the job is a request: sent just before ``request``
    #: (a reply put and then lost to a crash is sent again; one never sent is not).
    reply: Request | None = None

    @property
    def requests(self) -> list[Request]:
        """What to send: the reply's put, if any, then the settling request."""
        if self.reply is None:
            return [self.request]
        return [self.reply, self.request]


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
    return Settle(_release(message, priority, 0), "give back", message, message.tube)


def _priority(rules: Rules, message: BaseMessage, when: str) -> Flow[int | None]:
    # Releasing or burying a job sets its priority: keep the one it has. A reserve
    # does not say it; the job's stats do (None: the job is lost).
    if message.priority is not None:
        return message.priority
    stats = yield from _stats(rules, message, when)
    return None if stats is None else message.priority


def _release(message: BaseMessage, priority: int, delay: int) -> Request:
    return (_RELEASE, (message.uid, priority, delay), message.holding, None)


def _hook(rules: Rules, name: str, *args: Any) -> Flow[None]:
    """Run the hooks called ``name``, if there are any."""
    step = rules.hooks.step(name, *args)
    if step is not None:
        yield step


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
    route = rules.handler_for(tube)
    if route is None:  # only if someone changed the watch list under us
        logger.error("job %d: no handler for tube %r; releasing it", message.uid, tube)
        priority = yield from _priority(rules, message, "before it could be released")
        if priority is None:
            return None
        return Settle(_release(message, priority, 0), "release", message, tube)
    running = rules.running_refs
    if running and message.ref in running:
        return (yield from _not_now(rules, route, message, attempt))
    hooks = rules.hooks
    step = hooks.step("before", message)
    if step is not None:
        yield step
    started = time.monotonic()
    watch = Watch(message, route, reserved_at, ttr, rules.touch_margin, started)
    tally = rules.tally
    tally.started(tube)
    result = yield Handle(route.handler, tube, watch)
    duration = time.monotonic() - started
    tally.finished(tube, duration)
    if isinstance(result, Abandoned):
        return (yield from _abandoned(rules, message, tube, result, watch, duration))
    if result is not None:
        settle, outcome = yield from _failure(
            rules, route, message, result, attempt, duration, watch.hit_limit
        )
        yield from _hook(rules, "after", message, outcome)
        return settle
    settle = None
    reply = reply_request(message, watch.returned)
    if message.deleted:
        tally.add("processed", tube=tube)  # the handler deleted it itself
    elif not message.reserved:
        logger.debug("job %d: the handler released or buried it itself", message.uid)
    else:
        settle = Settle(delete_request(message), "delete", message, tube, reply=reply)
    if settle is None and reply is not None:
        yield from _send_reply(message, reply)
    if hooks.has("after", "on_success", "on_time_limit"):
        outcome = Outcome(
            "none" if settle is None else "delete",
            tube,
            attempt=attempt,
            duration=duration,
            time_limit=watch.hit_limit,
        )
        if outcome.time_limit:
            yield from _hook(rules, "on_time_limit", message, outcome)
        yield from _hook(rules, "on_success", message, outcome)
        yield from _hook(rules, "after", message, outcome)
    return settle


def _abandoned(
    rules: Rules,
    message: BaseMessage,
    tube: str,
    result: Abandoned,
    watch: Watch,
    duration: float,
) -> Flow[Settle | None]:
    """The worker gave up on the job while (or before) its handler ran."""
    settle = None
    outcome = Outcome("release", tube, duration=duration)
    if result is Abandoned.NOT_STARTED:
        settle = yield from give_back(rules, message)
    elif result is Abandoned.FINISHED:
        logger.warning(
            "job %d in %r finished after the worker released it at shutdown; it will run again",
            message.uid,
            tube,
        )
    elif result is Abandoned.CANCELLED:
        logger.debug("job %d in %r: handler cancelled at shutdown", message.uid, tube)
    else:
        logger.debug("job %d in %r: the worker no longer waits for its handler", message.uid, tube)
        if watch.outcome is not None:
            outcome = watch.outcome
    yield from _hook(rules, "after", message, outcome)
    return settle


def _failure(
    rules: Rules,
    route: Route[Any],
    message: BaseMessage,
    error: BaseException,
    attempt: int | None,
    duration: float,
    limited: bool,
) -> Flow[tuple[Settle | None, Outcome]]:
    """A handler that raised (or ran past its time limit): count it, decide, and run
    the hooks on the way. Returns the settle (None: nothing to send) and the outcome."""
    tube = route.tube
    rules.tally.add("failed", tube=tube)
    settle = yield from _decide(rules, route, message, error, attempt)
    if settle is None:
        outcome = Outcome("none", tube, error, attempt, None, duration, limited)
    elif settle.action == "bury":
        outcome = Outcome("bury", tube, error, settle.attempt, None, duration, limited)
    else:
        delay = int(settle.request[1][2])  # type: ignore[call-overload]
        outcome = Outcome("retry", tube, error, settle.attempt, delay, duration, limited)
    if limited:
        yield from _hook(rules, "on_time_limit", message, outcome)
    yield from _hook(rules, "on_error", message, outcome)
    if outcome.action in ("retry", "bury"):
        yield from _hook(rules, f"on_{outcome.action}", message, outcome)
    return settle, outcome


def _decide(
    rules: Rules,
    route: Route[Any],
    message: BaseMessage,
    error: BaseException,
    attempt: int | None,
) -> Flow[Settle | None]:
    tube = route.tube
    if not message.reserved:
        logger.warning(
            "job %d from %r failed after its handler released, buried or deleted it",
            message.uid,
            tube,
            exc_info=error,
        )
        return None
    if attempt is None:
        # How many times it was tried: counted by the server, across workers.
        stats = yield from _stats(rules, message, "after it failed")
        if stats is None:
            return None
        attempt = int(stats["reserves"])
    policy = route.policy
    if isinstance(error, Bury):
        decision = Decision("bury")
    else:
        delay = error.delay if isinstance(error, Retry) else None
        decision = policy.decide(attempt, delay)
    priority = yield from _priority(rules, message, "after it failed")
    if priority is None:
        return None
    if decision.action == "bury":
        # Its last attempt: a request is answered with the error (a retry is not: the
        # requester waits on for the next attempt's reply).
        bury: Request = (_BURY, (message.uid, priority), message.holding, None)
        # Bury("no such user") says why in its own words; other errors name their type.
        text = str(error) if isinstance(error, Bury) else ""
        reply = reply_request(message, None, [text] if text else replies.error_texts(error))
        return Settle(bury, "bury", message, tube, attempt, error, policy.max_attempts, reply)
    release = _release(message, priority, decision.delay)
    return Settle(release, "retry", message, tube, attempt, error, policy.max_attempts)


def _not_now(
    rules: Rules, route: Route[Any], message: BaseMessage, attempt: int | None
) -> Flow[Settle | None]:
    """A job whose earlier handler, given up on at its time limit, still runs in this
    worker: not handled again while it does. Released with its backoff delay."""
    if attempt is None or message.priority is None:
        stats = yield from _stats(rules, message, "before it could be released")
        if stats is None:
            return None
        attempt = int(stats["reserves"])
    assert message.priority is not None  # read with the stats
    delay = route.policy.backoff.whole_seconds(attempt)
    logger.warning(
        "job %d from %r: the handler the worker gave up on still runs it; releasing it for %ds",
        message.uid,
        route.tube,
        delay,
    )
    return Settle(_release(message, message.priority, delay), "release", message, route.tube)


def give_up(rules: Rules, watch: Watch) -> Flow[None]:
    """A handler interrupted at its time limit has not ended: settle its job now, by
    the retry policy, as a failed attempt. The outcome is kept in ``watch.outcome``
    (the handler's ``after`` hooks get it when the worker is done with the handler)."""
    message = watch.message
    route = watch.route
    duration = time.monotonic() - watch.started
    logger.warning(
        "job %d from %r: handler still running %.1fs after its time limit; giving up on it",
        message.uid,
        route.tube,
        duration - (watch.limit or 0),
    )
    error = TimeLimitExceeded(watch.limit)
    settle, outcome = yield from _failure(rules, route, message, error, None, duration, True)
    watch.outcome = outcome
    if settle is not None:
        yield from settle_now(rules, settle)


def _stats(rules: Rules, message: BaseMessage, when: str) -> Flow[dict[str, Any] | None]:
    """The job's stats, with its priority noted; None (counted lost) when the job is
    no longer this connection's."""
    try:
        stats: dict[str, Any] | None = yield (_STATS_JOB, (message.uid,), None, None)
    except NotFound:
        stats = None
    except BeanstalkmException as exc:
        rules.tally.add("lost", tube=message.tube)
        logger.warning(
            "job %d: cannot read its stats (%s); leaving it to the server", message.uid, exc
        )
        return None
    if stats is None or not holds(message):
        rules.tally.add("lost", tube=message.tube)
        logger.warning("job %d: reservation lost %s", message.uid, when)
        return None
    message.priority = stats["pri"]
    return stats


def settled(rules: Rules, settle: Settle, outcome: object) -> None:
    """Count and log a settle's ``outcome``: its result, or the exception it got."""
    message = settle.message
    tube = settle.tube
    if isinstance(outcome, BaseException):
        if settle.action == "give back":
            logger.warning("job %d: cannot release it (%s)", message.uid, outcome)
            return
        rules.tally.add("lost", tube=tube)
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
    if action == "delete":
        message.deleted = True
        rules.tally.add("processed", tube=tube)
        logger.debug("job %d from %r done", message.uid, tube)
    elif action == "retry":
        rules.tally.add("retried", tube=tube)
        _log_retry(settle)
    elif action == "bury":
        rules.tally.add("buried", tube=tube)
        _log_bury(settle)
    else:  # "give back", "release"
        rules.tally.add("released", tube=tube)
        if action == "give back":
            logger.warning("job %d: released unfinished at shutdown", message.uid)


def _log_retry(settle: Settle) -> None:
    limit = settle.max_attempts or "unlimited"
    uid, tube, attempt, delay = (
        settle.message.uid,
        settle.tube,
        settle.attempt,
        settle.request[1][2],
    )
    if isinstance(settle.error, Retry):
        # Asked for by the handler: what it meant, in one line.
        logger.info(
            "job %d from %r: retry in %ds asked for by its handler (attempt %d of %s)",
            uid,
            tube,
            delay,
            attempt,
            limit,
        )
        return
    logger.warning(
        "job %d from %r failed (attempt %d of %s); retrying in %ds",
        uid,
        tube,
        attempt,
        limit,
        delay,
        exc_info=settle.error,
    )


def _log_bury(settle: Settle) -> None:
    limit = settle.max_attempts or "unlimited"
    uid, tube, attempt, error = settle.message.uid, settle.tube, settle.attempt, settle.error
    if isinstance(error, Bury):
        reason = f" ({error})" if str(error) else ""
        logger.warning("job %d from %r: buried by its handler%s", uid, tube, reason)
    elif isinstance(error, Retry):
        logger.error(
            "job %d from %r: retry asked for by its handler at attempt %d of %s; burying it",
            uid,
            tube,
            attempt,
            limit,
        )
    else:
        logger.error(
            "job %d from %r failed (attempt %d of %s); burying it",
            uid,
            tube,
            attempt,
            limit,
            exc_info=error,
        )


def reply_request(
    message: BaseMessage, body: object, errors: list[str] | None = None
) -> Request | None:
    """The put of the reply ``message`` asks for, if it is a request (its envelope
    has ``subscribe``) that its handler has not answered itself: ``body`` (what the
    handler returned), or ``errors``. None when there is nothing to send.

    The reply tube comes from the job, so it is checked like any tube name: a request
    naming an impossible one gets no reply (and a warning). A body JSON cannot encode
    is answered with that error instead.
    """
    if message.replied or not message.asks_for_reply:
        return None
    tube = message.subscribe or ""
    try:
        check_tube(tube)
    except InvalidArgument as exc:
        logger.warning("job %d: no reply sent: %s", message.uid, exc)
        return None
    reply = replies.reply_message(message.connection, message, body, errors)
    try:
        request = put_request(reply, tube)
    except (TypeError, ValueError) as exc:  # what the handler returned
        logger.error("job %d: cannot send its handler's reply: %s", message.uid, exc)
        reply = replies.reply_message(
            message.connection, message, None, [f"cannot encode the reply: {exc}"]
        )
        request = put_request(reply, tube)
    message.replied = True
    return request


def answered(settle: Settle, result: object) -> None:
    """Say so when the put of a settle's reply failed (``result``: its result); the
    job is settled all the same."""
    if isinstance(result, BaseException):
        logger.warning(
            "job %d: cannot put the reply in %r: %s",
            settle.message.uid,
            settle.message.subscribe,
            result,
        )


def _send_reply(message: BaseMessage, reply: Request) -> Flow[None]:
    """Put a reply on its own: the job was settled by its handler."""
    try:
        yield reply
    except BeanstalkmException as exc:
        logger.warning(
            "job %d: cannot put the reply in %r: %s", message.uid, message.subscribe, exc
        )


def settle_now(rules: Rules, settle: Settle) -> Flow[None]:
    """Send a settle on its own (at shutdown, or when no reserve follows)."""
    try:
        results = yield settle.requests
    except BeanstalkmException as exc:
        settled(rules, settle, exc)
    else:
        if settle.reply is not None:
            answered(settle, results[0])
        settled(rules, settle, results[-1])


def next_job(
    rules: Rules, settle: Settle | None, reserve_timeout: float
) -> Flow[BaseMessage | None]:
    """Settle the last job and reserve the next in one round trip; the message, or
    None when ``reserve_timeout`` passed without one."""
    reserve = reserve_request(reserve_timeout)
    if settle is not None:
        try:
            results = yield [*settle.requests, reserve]
        except ReservationLost as exc:
            # Nothing was sent: the job's connection is gone. Reserve on the new one.
            settled(rules, settle, exc)
        except BeanstalkmException as exc:
            settled(rules, settle, exc)
            raise
        else:
            if settle.reply is not None:
                answered(settle, results[0])
            settled(rules, settle, results[-2])
            result = results[-1]
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
