"""What the broker keeps: jobs, tubes and client sessions, and their priority heaps.

Priority queues are ``heapq`` lists of ints, ``key << 64 | job_id`` (the key is the
priority, or the time a delay ends), so they order by key and then by id, and hold
no reference to the job (an int costs less than a tuple, and the garbage collector
never has to look at it). Deletion is lazy: a job keeps the one entry that is live
(``job.entry``, the very int object in the heap); any other entry for it is stale and
skipped when it reaches the top. Heaps that collect too many stale entries are
rebuilt.
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
    "COUNT_BURY",
    "COUNT_KICK",
    "COUNT_RELEASE",
    "COUNT_RESERVE",
    "COUNT_TIMEOUT",
    "DELAYED",
    "ID_MASK",
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
    "heap_entry",
    "heap_top",
    "ns_to_seconds",
    "pack_counts",
]

NS_PER_SECOND: Final = 1_000_000_000
#: Ready jobs with a priority below this count as urgent in the stats.
URGENT_THRESHOLD: Final = 1024
#: Rebuild a heap once it holds this many more entries than live jobs.
_STALE_SLACK: Final = 1024
#: The job id in a heap entry.
ID_MASK: Final = (1 << 64) - 1
_U32: Final = (1 << 32) - 1
# What to add to Job.counts to count one more of each.
COUNT_RESERVE: Final = 1
COUNT_TIMEOUT: Final = 1 << 32
COUNT_RELEASE: Final = 1 << 64
COUNT_BURY: Final = 1 << 96
COUNT_KICK: Final = 1 << 128

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
        "counts",
        "created_at",
        "deadline_at",
        "delay",
        "entry",
        "id",
        "log_file",
        "pri",
        "reserver",
        "state",
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
        self.entry: int | None = None
        #: The five counters of ``stats-job`` in one int, 32 bits each (add
        #: ``COUNT_RESERVE``... to count): most jobs' counts are 0 or 1, which Python
        #: shares, where five separate fields would cost 40 bytes a job. (A counter
        #: past 2**32 - 1 would carry into the next; beanstalkd's wraps to 0.)
        self.counts = 0
        #: With a binlog: the file holding the job's latest full record.
        self.log_file: LogFile | None = None

    @property
    def reserves(self) -> int:
        return self.counts & _U32

    @property
    def timeouts(self) -> int:
        return self.counts >> 32 & _U32

    @property
    def releases(self) -> int:
        return self.counts >> 64 & _U32

    @property
    def buries(self) -> int:
        return self.counts >> 96 & _U32

    @property
    def kicks(self) -> int:
        return self.counts >> 128 & _U32


def pack_counts(reserves: int, timeouts: int, releases: int, buries: int, kicks: int) -> int:
    """:attr:`Job.counts` from the five counters (each kept to 32 bits, as in beanstalkd)."""
    return (
        (reserves & _U32)
        | (timeouts & _U32) << 32
        | (releases & _U32) << 64
        | (buries & _U32) << 96
        | (kicks & _U32) << 128
    )


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
        "jobs",
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

    def __init__(self, name: bytes, jobs: dict[int, Job]) -> None:
        self.name = name
        #: The broker's jobs, by id: heap entries name their job by id.
        self.jobs = jobs
        self.ready: list[int] = []
        self.ready_count = 0
        self.delay: list[int] = []
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
        return heap_top(self.ready, self.jobs)

    def delayed_top(self) -> Job | None:
        """The delayed job that becomes ready first."""
        return heap_top(self.delay, self.jobs)

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


def heap_entry(key: int, job: Job) -> int:
    """The heap entry for ``job`` under ``key``; it becomes the job's live entry."""
    entry = key << 64 | job.id
    job.entry = entry
    return entry


def heap_top(heap: list[int], jobs: dict[int, Job]) -> Job | None:
    """The job of the first live entry; stale entries before it are dropped."""
    while heap:
        entry = heap[0]
        job = jobs.get(entry & ID_MASK)
        if job is not None and job.entry is entry:
            return job
        heapq.heappop(heap)
    return None


def compact_heap(heap: list[int], live: int, jobs: dict[int, Job]) -> None:
    if len(heap) > 2 * live + _STALE_SLACK:
        get = jobs.get
        heap[:] = [e for e in heap if (job := get(e & ID_MASK)) is not None and job.entry is e]
        heapq.heapify(heap)


def ns_to_seconds(ns: int) -> int:
    """Nanoseconds to whole seconds, truncating toward zero as C division does."""
    return ns // NS_PER_SECOND if ns >= 0 else -(-ns // NS_PER_SECOND)
