"""What a worker counts: the snapshot users read, and the live tally its slots update."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

__all__ = ["Tally", "WorkerCounters"]


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
    #: Released unfinished at shutdown, or reserved after shutdown began.
    released: int = 0
    #: Reservations lost with the connection (or to an expired time-to-run) before
    #: the job could be deleted, released or buried: the server hands the job out
    #: again, so it is not lost, but it may be handled twice.
    lost: int = 0
    #: Touches of long-running jobs.
    touched: int = 0
    #: Failed attempts to reach the server (each followed by a backoff wait).
    connection_errors: int = 0


class Tally:
    """A worker's counters; safe to update from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(WorkerCounters)), 0)

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def snapshot(self) -> WorkerCounters:
        with self._lock:
            return WorkerCounters(**self._counts)
