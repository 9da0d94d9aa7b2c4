"""What the broker keeps: jobs, tubes and client sessions, and their priority heaps.

Priority queues are ``heapq`` lists of ``(key, job_id, job)`` tuples with lazy
deletion: a job points at the one entry that is live (``job.entry``); any other
entry for it is stale and skipped when it reaches the top. Heaps that collect too
many stale entries are rebuilt.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Final

from .swapset import SwapSet

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .binlog import LogFile

__all__ = [
    "BURIED",
    "DELAYED",
    "INVALID",
    "NS_PER_SECOND",
    "READY",
    "RESERVED",
    "STATE_NAMES",
    "URGENT_THRESHOLD",
    "Job",
    "Session",
    "Tube",
    "WakeReply",
    "compact_heap",
    "heap_top",
    "ns_to_seconds",
]

NS_PER_SECOND: Final = 1_000_000_000
#: Ready jobs with a priority below this count as urgent in the stats.
URGENT_THRESHOLD: Final = 1024
#: Rebuild a heap once it holds this many more entries than live jobs.
_STALE_SLACK: Final = 1024

# Job states, numbered as in beanstalkd; an incoming job (body still arriving) is INVALID.
INVALID: Final = 0
READY: Final = 1
RESERVED: Final = 2
BURIED: Final = 3
DELAYED: Final = 4
STATE_NAMES: Final = (b"invalid", b"ready", b"reserved", b"buried", b"delayed")


class Job:
    """One job. ``body`` includes the trailing CRLF, exactly as it is sent back."""

    __slots__ = (
        "body",
        "buries",
        "created_at",
        "deadline_at",
        "delay",
        "entry",
        "id",
        "kicks",
        "log_file",
        "pri",
        "releases",
        "reserver",
        "reserves",
        "state",
        "timeouts",
        "ttr",
        "tube",
    )

    def __init__(self, job_id: int, pri: int, delay: int, ttr: int, tube: Tube, now: int) -> None:
        self.id = job_id
        self.pri = pri
        #: Seconds, as given to put or the last release.
        self.delay = delay
        #: Seconds, at least 1.
        self.ttr = ttr
        self.body: bytes = b""
        self.tube = tube
        self.state = INVALID
        self.created_at = now
        #: Nanoseconds: when a delayed job becomes ready, or a reserved job's TTR ends.
        self.deadline_at = 0
        self.reserver: Session | None = None
        #: The live heap entry while READY or DELAYED, else None.
        self.entry: tuple[int, int, Job] | None = None
        self.reserves = 0
        self.timeouts = 0
        self.releases = 0
        self.buries = 0
        self.kicks = 0
        #: With a binlog: the file holding the job's latest full record.
        self.log_file: LogFile | None = None

    def __lt__(self, other: Job) -> bool:
        # Reached only when a stale and a live entry of the same job tie on their key;
        # either order is fine.
        return False


#: What a waiting reserve ends with: a job, or a status line such as DEADLINE_SOON.
WakeReply = Job | bytes


class Tube:
    """A named queue: ready and delayed heaps, the buried list and its counters."""

    __slots__ = (
        "buried",
        "buried_count",
        "delay",
        "delay_count",
        "deletes",
        "name",
        "pause_entry",
        "pause_ns",
        "pauses",
        "ready",
        "ready_count",
        "refs",
        "reserved_count",
        "total_jobs",
        "unpause_at",
        "urgent_count",
        "using",
        "waiting",
        "watching",
    )

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.ready: list[tuple[int, int, Job]] = []
        self.ready_count = 0
        self.delay: list[tuple[int, int, Job]] = []
        self.delay_count = 0
        #: Buried jobs in the order they were buried (kick takes the oldest).
        self.buried: dict[int, Job] = {}
        self.buried_count = 0
        self.waiting: SwapSet[Session] = SwapSet()
        self.refs = 0
        self.urgent_count = 0
        self.reserved_count = 0
        self.total_jobs = 0
        self.using = 0
        self.watching = 0
        self.deletes = 0
        self.pauses = 0
        #: Length of the current pause in nanoseconds, 0 when not paused.
        self.pause_ns = 0
        self.unpause_at = 0
        self.pause_entry: tuple[int, int, Tube] | None = None

    def ready_top(self) -> Job | None:
        """The ready job a reserve would get next (lowest priority, then id)."""
        return heap_top(self.ready)

    def delayed_top(self) -> Job | None:
        """The delayed job that becomes ready first."""
        return heap_top(self.delay)

    def buried_head(self) -> Job | None:
        """The job buried longest ago."""
        for job in self.buried.values():
            return job
        return None


class Session:
    """What the broker knows of one client connection."""

    __slots__ = (
        "closed",
        "on_wake",
        "producer",
        "reserved",
        "soonest",
        "tick_at",
        "tick_entry",
        "use",
        "wait_until",
        "waiting",
        "watch",
        "worker",
    )

    def __init__(self, tube: Tube, on_wake: Callable[[WakeReply], None]) -> None:
        self.use = tube
        self.watch: SwapSet[Tube] = SwapSet()
        #: Jobs reserved by this connection, in the order reserved.
        self.reserved: dict[int, Job] = {}
        self.waiting = False
        #: Nanosecond deadline of a pending reserve-with-timeout, or None.
        self.wait_until: int | None = None
        self.producer = False
        self.worker = False
        #: beanstalkd's cached "reserved job with the earliest deadline". Like the
        #: original it is only recomputed after being cleared, not on every reserve.
        self.soonest: Job | None = None
        self.tick_at: int | None = None
        self.tick_entry: tuple[int, int, Session] | None = None
        #: Called with the outcome when a waiting reserve completes.
        self.on_wake = on_wake
        self.closed = False


def heap_top(heap: list[tuple[int, int, Job]]) -> Job | None:
    while heap:
        entry = heap[0]
        job = entry[2]
        if job.entry is entry:
            return job
        heapq.heappop(heap)
    return None


def compact_heap(heap: list[tuple[int, int, Job]], live: int) -> None:
    if len(heap) > 2 * live + _STALE_SLACK:
        heap[:] = [e for e in heap if e[2].entry is e]
        heapq.heapify(heap)


def ns_to_seconds(ns: int) -> int:
    """Nanoseconds to whole seconds, truncating toward zero as C division does."""
    return ns // NS_PER_SECOND if ns >= 0 else -(-ns // NS_PER_SECOND)
