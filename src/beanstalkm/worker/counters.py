"""What a worker counts: the snapshot users read, and the live tally its slots update."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields
from typing import Protocol

__all__ = ["Sink", "Tally", "WorkerCounters"]


@dataclass(frozen=True)
class WorkerCounters:
    """What a worker has done since it was made (a snapshot; all counts of jobs)."""

    #: Handled successfully and deleted.
    processed: int = 0
    #: Handlers that raised (each is then retried, buried, or lost).
    failed: int = 0
    #: Released with a delay after a failure, to be tried again.
    retried: int = 0
    #: Buried after the last attempt (or a :class:`Bury` from the handler).
    buried: int = 0
    #: Released unfinished at shutdown, or reserved after shutdown began (or while a
    #: handler the worker gave up on still ran on the same job).
    released: int = 0
    #: Reservations lost with the connection (or to an expired time-to-run) before
    #: the job could be deleted, released or buried: the server hands the job out
    #: again, so it is not lost, but it may be handled twice.
    lost: int = 0
    #: Touches of long-running jobs.
    touched: int = 0
    #: Failed attempts to reach the server (each followed by a backoff wait).
    connection_errors: int = 0
    #: Handlers that ran past their time limit (each is also counted as failed).
    time_limits: int = 0


#: The counters' names, in order.
NAMES = tuple(f.name for f in fields(WorkerCounters))


class Sink(Protocol):
    """Where a worker's counts and timings go besides its own tally: metrics (see
    :mod:`beanstalkm.worker.metrics`). ``tube`` is "" when the job's tube is unknown."""

    def count(self, name: str, tube: str, n: int) -> None:
        """Counter ``name`` (a :class:`WorkerCounters` field) went up by ``n``."""

    def started(self, tube: str) -> None:
        """A handler started on a job from ``tube``."""

    def finished(self, tube: str, seconds: float) -> None:
        """A handler that started on a job from ``tube`` ended after ``seconds``."""


class Tally:
    """A worker's counters; safe to update from several threads.

    Counts go to :attr:`sink` too, when the worker has one (its metrics), with the
    job's tube.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(NAMES, 0)
        #: Where counts and timings go besides the tally (None: nowhere).
        self.sink: Sink | None = None

    def add(self, name: str, n: int = 1, tube: str | None = None) -> None:
        with self._lock:
            self._counts[name] += n
        if self.sink is not None:
            self.sink.count(name, tube or "", n)

    def started(self, tube: str) -> None:
        if self.sink is not None:
            self.sink.started(tube)

    def finished(self, tube: str, seconds: float) -> None:
        if self.sink is not None:
            self.sink.finished(tube, seconds)

    def snapshot(self) -> WorkerCounters:
        with self._lock:
            return WorkerCounters(**self._counts)
