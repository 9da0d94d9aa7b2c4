"""The queue engine of the embedded server: pure state, no sockets.

:class:`Broker` holds everything a beanstalkd instance knows and implements each
command's effect the way beanstalkd 1.12 does, including the orders that leak
through to clients (see :mod:`.swapset`). It reads time only through the clock it
is given, and never waits: whoever runs it calls :meth:`Broker.tick` at
:meth:`Broker.next_wakeup` and delivers the replies it hands to sessions.

Jobs, tubes and sessions themselves are in :mod:`.model`.
"""

from __future__ import annotations

import heapq
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Protocol

from ..constants import MAX_JOB_SIZE_LIMIT
from .model import (
    BURIED,
    COUNT_BURY,
    COUNT_KICK,
    COUNT_RELEASE,
    COUNT_RESERVE,
    COUNT_TIMEOUT,
    DELAYED,
    ID_MASK,
    INVALID,
    NS_PER_SECOND,
    READY,
    RESERVED,
    STATE_NAMES,
    URGENT_THRESHOLD,
    Job,
    Session,
    Tube,
    WakeReply,
    compact_heap,
    heap_entry,
    ns_to_seconds,
    pack_counts,
)
from .swapset import SwapSet

__all__ = [
    "BURIED",
    "DEFAULT_MAX_JOB_SIZE",
    "DELAYED",
    "INVALID",
    "NS_PER_SECOND",
    "READY",
    "RESERVED",
    "STATE_NAMES",
    "Broker",
    "Job",
    "Session",
    "Tube",
    "WakeReply",
    "ns_to_seconds",
]

#: A reserve waits no closer than this to one of its connection's TTR deadlines.
SAFETY_MARGIN_NS: Final = NS_PER_SECOND
DEFAULT_MAX_JOB_SIZE: Final = 65535
#: Rebuild a timer heap once it holds this many more entries than can be live.
_STALE_SLACK: Final = 1024
#: Creation times are shared by the jobs put within this many nanoseconds.
_CREATED_GRAIN: Final = 1_000_000
#: At most this many timer events are handled per tick, so one tick can never spin.
_MAX_EVENTS_PER_TICK: Final = 100_000

# Command counters, indexed like beanstalkd's op table (stats prints a subset).
OP_PUT: Final = 1
OP_PEEKJOB: Final = 2
OP_RESERVE: Final = 3
OP_DELETE: Final = 4
OP_RELEASE: Final = 5
OP_BURY: Final = 6
OP_KICK: Final = 7
OP_STATS: Final = 8
OP_STATSJOB: Final = 9
OP_PEEK_BURIED: Final = 10
OP_USE: Final = 11
OP_WATCH: Final = 12
OP_IGNORE: Final = 13
OP_LIST_TUBES: Final = 14
OP_LIST_TUBE_USED: Final = 15
OP_LIST_TUBES_WATCHED: Final = 16
OP_STATS_TUBE: Final = 17
OP_PEEK_READY: Final = 18
OP_PEEK_DELAYED: Final = 19
OP_RESERVE_TIMEOUT: Final = 20
OP_TOUCH: Final = 21
OP_QUIT: Final = 22
OP_PAUSE_TUBE: Final = 23
OP_KICKJOB: Final = 24
OP_RESERVE_JOB: Final = 25
OP_COUNT: Final = 26

MSG_DEADLINE_SOON: Final = b"DEADLINE_SOON\r\n"
MSG_TIMED_OUT: Final = b"TIMED_OUT\r\n"
MSG_OUT_OF_MEMORY: Final = b"OUT_OF_MEMORY\r\n"
MSG_NOT_FOUND: Final = b"NOT_FOUND\r\n"
MSG_RELEASED: Final = b"RELEASED\r\n"
MSG_BURIED: Final = b"BURIED\r\n"
MSG_KICKED: Final = b"KICKED\r\n"

if TYPE_CHECKING:

    class Journal(Protocol):
        """Where the broker logs the changes beanstalkd logs (see :mod:`.binlog`).

        The broker asks for room before each change and refuses the command if there
        is none; then it hands over the job once the change is made.
        """

        #: Records not yet written out (see :meth:`commit`).
        pending: bool
        #: Writing failed: nothing may be acknowledged any more.
        failed: bool
        # What ``stats`` reports as binlog-*.
        migrated: int
        written: int
        max_size: int

        @property
        def oldest_index(self) -> int: ...
        @property
        def current_index(self) -> int: ...

        def reserve_put(self, job: Job, body_size: int) -> bool: ...
        def reserve_update(self) -> bool: ...
        def write(self, job: Job) -> None: ...
        def commit(self) -> None: ...


class Broker:
    """The state of one server and the effect of every command on it."""

    def __init__(
        self,
        max_job_size: int = DEFAULT_MAX_JOB_SIZE,
        clock: Callable[[], int] = time.monotonic_ns,
    ) -> None:
        if not 0 <= max_job_size <= MAX_JOB_SIZE_LIMIT:
            raise ValueError(f"max_job_size must be 0..{MAX_JOB_SIZE_LIMIT}")
        self.max_job_size = max_job_size
        self.clock = clock
        self.started_at = clock()
        self.instance_id = os.urandom(8).hex()
        self.draining = False
        #: The binlog, if any: told of every change beanstalkd logs.
        self.journal: Journal | None = None
        #: ``-s``, reported by ``stats`` even without a binlog (as beanstalkd does).
        self.binlog_max_size = 10 << 20

        self.tubes: SwapSet[Tube] = SwapSet()
        self.tubes_by_name: dict[bytes, Tube] = {}
        self.jobs: dict[int, Job] = {}
        self.next_id = 1
        self._created = -_CREATED_GRAIN
        #: Declared body sizes of jobs whose bodies are still arriving.
        self._incoming_sizes: dict[int, int] = {}

        self.ops = [0] * OP_COUNT
        self.urgent_count = 0
        self.ready_count = 0
        self.reserved_count = 0
        self.delayed_count = 0
        self.buried_count = 0
        self.total_jobs = 0
        self.timeouts = 0
        self.waiting_count = 0
        self.connections = 0
        self.producers = 0
        self.workers = 0
        self.total_connections = 0

        # Timers: delayed jobs across all tubes, tube unpauses, connection ticks.
        self._delay_heap: list[int] = []
        self._pause_heap: list[tuple[int, int, Tube]] = []
        self._tick_heap: list[tuple[int, int, Session]] = []
        self._seq = 0
        #: Tubes with at least one waiting reserve, the only ones a new job can go to.
        self._waited_tubes: dict[Tube, None] = {}

        self.default_tube = self._find_or_make_tube(b"default")
        self.default_tube.refs += 1  # beanstalkd holds it forever

    # ----------------------------------------------------------------- tubes

    def _find_or_make_tube(self, name: bytes) -> Tube:
        tube = self.tubes_by_name.get(name)
        if tube is None:
            tube = Tube(name, self.jobs)
            self.tubes_by_name[name] = tube
            self.tubes.append(tube)
        return tube

    def _deref(self, tube: Tube) -> None:
        tube.refs -= 1
        if tube.refs < 1:
            # Nothing uses, watches or holds a job in it: it vanishes, and the last
            # tube in list-tubes order takes its place.
            self.tubes.remove(tube)
            del self.tubes_by_name[tube.name]
            self._waited_tubes.pop(tube, None)
            tube.pause_entry = None

    def find_tube(self, name: bytes) -> Tube | None:
        return self.tubes_by_name.get(name)

    # -------------------------------------------------------------- sessions

    def open_session(self, on_wake: Callable[[WakeReply], None]) -> Session:
        """A new connection: it uses and watches ``default``."""
        tube = self.default_tube
        session = Session(tube, on_wake)
        session.watch.append(tube)
        tube.refs += 1
        tube.watching += 1
        tube.refs += 1
        tube.using += 1
        self.connections += 1
        self.total_connections += 1
        return session

    def close_session(self, session: Session) -> None:
        """The connection is gone: its reserved jobs go back to ready."""
        if session.closed:
            return
        session.closed = True
        if session.producer:
            self.producers -= 1
        if session.worker:
            self.workers -= 1
        self.connections -= 1
        self._remove_waiting(session)
        reserved = session.reserved
        while reserved:
            job = reserved.pop(next(iter(reserved)))
            self._enqueue(job, 0)
            self.reserved_count -= 1
            job.tube.reserved_count -= 1
            session.soonest = None
        watch = session.watch
        while len(watch):
            tube = watch.delete_at(0)
            tube.watching -= 1
            self._deref(tube)
        session.use.using -= 1
        self._deref(session.use)
        session.tick_entry = None
        session.tick_at = None

    def set_producer(self, session: Session) -> None:
        if not session.producer:
            session.producer = True
            self.producers += 1

    def set_worker(self, session: Session) -> None:
        if not session.worker:
            session.worker = True
            self.workers += 1

    def use(self, session: Session, name: bytes) -> Tube:
        tube = self._find_or_make_tube(name)
        tube.refs += 1  # held while the old tube is let go, which may delete it
        old = session.use
        old.using -= 1
        self._deref(old)
        session.use = tube
        tube.using += 1
        return tube

    def watch(self, session: Session, name: bytes) -> int:
        tube = self._find_or_make_tube(name)
        tube.refs += 1
        if tube not in session.watch:
            session.watch.append(tube)
            tube.refs += 1
            tube.watching += 1
        self._deref(tube)
        return len(session.watch)

    def ignore(self, session: Session, name: bytes) -> int | None:
        """Stop watching ``name``; None when it is the last watched tube."""
        watch = session.watch
        for index, tube in enumerate(watch.items):
            if tube.name == name:
                if len(watch) < 2:
                    return None
                watch.delete_at(index)
                tube.watching -= 1
                self._deref(tube)
                break
        return len(watch)

    # ------------------------------------------------------------------ jobs

    def new_job(self, session: Session, pri: int, delay: int, ttr: int) -> Job:
        """Allocate the job for a ``put`` whose body is about to be read.

        The id is used up now, even if the put then fails (EXPECTED_CRLF, DRAINING).
        """
        if not session.producer:
            self.set_producer(session)
        now = self.clock()
        created = self._created
        if not 0 <= now - created < _CREATED_GRAIN:
            created = self._created = now
        # Jobs put within the same millisecond share one creation time: one int
        # object for all of them (``age`` is whole seconds anyway).
        job = Job(self.next_id, pri, delay, max(ttr, 1), session.use, created)
        self.next_id += 1
        return job

    def register_incoming(self, job: Job, size: int) -> None:
        """Make a job whose body is still arriving visible to peek and stats-job."""
        self.jobs[job.id] = job
        self._incoming_sizes[job.id] = size

    def discard_incoming(self, job: Job) -> None:
        self._incoming_sizes.pop(job.id, None)
        if job.state == INVALID and self.jobs.get(job.id) is job:
            del self.jobs[job.id]

    def peek_body(self, job: Job) -> bytes:
        """The body ``peek`` shows: for a job still arriving, zeros of its size."""
        if job.state == INVALID:
            return bytes(self._incoming_sizes.get(job.id, 0) + 2)
        return job.body

    def put(self, job: Job, body: bytes) -> bytes:
        """Store the job once its body has been read; returns the reply line."""
        if self._incoming_sizes:
            self._incoming_sizes.pop(job.id, None)
        if body[-2:] != b"\r\n":
            self.discard_incoming(job)
            return b"EXPECTED_CRLF\r\n"
        if self.draining:
            self.discard_incoming(job)
            return b"DRAINING\r\n"
        journal = self.journal
        if journal is not None and not journal.reserve_put(job, len(body)):
            self.discard_incoming(job)
            return MSG_OUT_OF_MEMORY
        job.body = body
        self.jobs[job.id] = job
        tube = job.tube
        tube.refs += 1
        self._enqueue(job, job.delay * NS_PER_SECOND, True)
        self.total_jobs += 1
        tube.total_jobs += 1
        return b"INSERTED %d\r\n" % job.id

    def restore_tube(self, name: bytes) -> Tube:
        """Bring back a tube from the binlog; tubes come back in ``list-tubes`` order."""
        return self._find_or_make_tube(name)

    def restore_job(
        self,
        job_id: int,
        tube_name: bytes,
        body: bytes,
        *,
        pri: int,
        delay: int,
        ttr: int,
        created_at: int,
        counters: tuple[int, int, int, int, int],
        state: int,
        delay_left: int,
    ) -> Job:
        """Bring back a job from the binlog the way beanstalkd 1.12 does.

        A buried job is buried again (which counts one more bury, as in beanstalkd),
        a delayed one waits out ``delay_left`` nanoseconds (ready if none is left),
        any other is ready. ``created_at`` is on this broker's clock.
        """
        tube = self._find_or_make_tube(tube_name)
        job = Job(job_id, pri, delay, max(ttr, 1), tube, created_at)
        job.body = body
        job.counts = pack_counts(*counters)
        self.jobs[job_id] = job
        tube.refs += 1
        if state == BURIED:
            self._bury(job)
        else:
            self._enqueue(job, delay_left if state == DELAYED else 0)
        if job_id >= self.next_id:
            self.next_id = job_id + 1
        return job

    def _enqueue(self, job: Job, delay_ns: int, log: bool = False) -> None:
        job.reserver = None
        tube = job.tube
        if delay_ns:
            deadline = self.clock() + delay_ns
            job.deadline_at = deadline
            entry = heap_entry(deadline, job)
            heapq.heappush(tube.delay, entry)
            heapq.heappush(self._delay_heap, entry)
            job.state = DELAYED
            tube.delay_count += 1
            self.delayed_count += 1
        else:
            heapq.heappush(tube.ready, heap_entry(job.pri, job))
            job.state = READY
            tube.ready_count += 1
            self.ready_count += 1
            if job.pri < URGENT_THRESHOLD:
                tube.urgent_count += 1
                self.urgent_count += 1
        if log and self.journal is not None:
            # Logged in the state it was enqueued in, before a waiting reserve takes it.
            self.journal.write(job)
        if self._waited_tubes:
            self._process_queue()

    def _bury(self, job: Job) -> None:
        tube = job.tube
        tube.buried[job.id] = job
        tube.buried_count += 1
        self.buried_count += 1
        job.state = BURIED
        job.reserver = None
        job.counts += COUNT_BURY

    def _remove_ready(self, job: Job) -> None:
        tube = job.tube
        job.entry = None
        tube.ready_count -= 1
        self.ready_count -= 1
        if job.pri < URGENT_THRESHOLD:
            tube.urgent_count -= 1
            self.urgent_count -= 1
        compact_heap(tube.ready, tube.ready_count, self.jobs)

    def _remove_buried(self, job: Job) -> None:
        tube = job.tube
        del tube.buried[job.id]
        tube.buried_count -= 1
        self.buried_count -= 1

    def _remove_delayed(self, job: Job) -> None:
        tube = job.tube
        job.entry = None
        tube.delay_count -= 1
        self.delayed_count -= 1
        compact_heap(tube.delay, tube.delay_count, self.jobs)
        compact_heap(self._delay_heap, self.delayed_count, self.jobs)

    def _take_out(self, job: Job) -> bool:
        """Remove a ready, buried or delayed job from its queue; False otherwise."""
        state = job.state
        if state == READY:
            self._remove_ready(job)
        elif state == BURIED:
            self._remove_buried(job)
        elif state == DELAYED:
            self._remove_delayed(job)
        else:
            return False
        return True

    def _remove_reserved(self, session: Session, job: Job) -> None:
        del session.reserved[job.id]
        self.reserved_count -= 1
        job.tube.reserved_count -= 1
        job.reserver = None
        session.soonest = None

    def _reserved_by(self, session: Session, job_id: int) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None and job.reserver is session and job.state == RESERVED:
            return job
        return None

    def _reserve_for(self, session: Session, job: Job, now: int) -> None:
        job.tube.reserved_count += 1
        job.counts += COUNT_RESERVE
        job.deadline_at = now + job.ttr * NS_PER_SECOND
        job.state = RESERVED
        session.reserved[job.id] = job
        job.reserver = session
        session.wait_until = None
        soonest = session.soonest
        if soonest is None or job.deadline_at < soonest.deadline_at:
            session.soonest = job

    def peek(self, job_id: int) -> Job | None:
        return self.jobs.get(job_id)

    def delete(self, session: Session, job_id: int) -> bool:
        job = self.jobs.get(job_id)
        if job is None:
            return False
        if job.reserver is session and job.state == RESERVED:
            self._remove_reserved(session, job)
            self.reschedule(session)
        elif not self._take_out(job):
            return False
        tube = job.tube
        tube.deletes += 1
        job.state = INVALID
        job.entry = None
        del self.jobs[job_id]
        if self.journal is not None:
            self.journal.write(job)
        self._deref(tube)
        return True

    def release(self, session: Session, job_id: int, pri: int, delay: int) -> bytes:
        """Returns the reply: RELEASED, NOT_FOUND, or OUT_OF_MEMORY when a delayed
        release cannot be logged."""
        job = self._reserved_by(session, job_id)
        if job is None:
            return MSG_NOT_FOUND
        # Only a release with a delay is logged, as in beanstalkd.
        journal = self.journal
        if delay and journal is not None and not journal.reserve_update():
            return MSG_OUT_OF_MEMORY
        self._remove_reserved(session, job)
        job.pri = pri
        job.delay = delay
        job.counts += COUNT_RELEASE
        self._enqueue(job, delay * NS_PER_SECOND, bool(delay))
        self.reschedule(session)
        return MSG_RELEASED

    def bury(self, session: Session, job_id: int, pri: int) -> bytes:
        """Returns the reply: BURIED, NOT_FOUND or OUT_OF_MEMORY."""
        job = self._reserved_by(session, job_id)
        if job is None:
            return MSG_NOT_FOUND
        journal = self.journal
        if journal is not None and not journal.reserve_update():
            return MSG_OUT_OF_MEMORY
        self._remove_reserved(session, job)
        job.pri = pri
        self._bury(job)
        if journal is not None:
            journal.write(job)
        self.reschedule(session)
        return MSG_BURIED

    def touch(self, session: Session, job_id: int) -> bool:
        job = self._reserved_by(session, job_id)
        if job is None:
            return False
        job.deadline_at = self.clock() + job.ttr * NS_PER_SECOND
        session.soonest = None
        self.reschedule(session)
        return True

    def _kick_one(self, job: Job) -> bool:
        journal = self.journal
        if journal is not None and not journal.reserve_update():
            return False
        if job.state == BURIED:
            self._remove_buried(job)
        else:
            self._remove_delayed(job)
        job.counts += COUNT_KICK
        self._enqueue(job, 0, True)
        return True

    def kick(self, session: Session, bound: int) -> int:
        """Kick up to ``bound`` buried jobs of the used tube, or if none, delayed ones."""
        tube = session.use
        kicked = 0
        if tube.buried:
            while kicked < bound and tube.buried:
                if not self._kick_one(next(iter(tube.buried.values()))):
                    break
                kicked += 1
        else:
            while kicked < bound:
                job = tube.delayed_top()
                if job is None or not self._kick_one(job):
                    break
                kicked += 1
        return kicked

    def kick_job(self, job_id: int) -> bytes:
        """Returns the reply: KICKED, NOT_FOUND, or OUT_OF_MEMORY when it cannot be logged."""
        job = self.jobs.get(job_id)
        if job is None or job.state not in (BURIED, DELAYED):
            return MSG_NOT_FOUND
        return MSG_KICKED if self._kick_one(job) else MSG_OUT_OF_MEMORY

    def reserve_job(self, session: Session, job_id: int) -> Job | None:
        job = self.jobs.get(job_id)
        if job is None or not self._take_out(job):
            return None
        self.set_worker(session)
        self.reserved_count += 1
        self._reserve_for(session, job, self.clock())
        self.reschedule(session)
        return job

    def pause_tube(self, name: bytes, delay: int) -> bool:
        tube = self.tubes_by_name.get(name)
        if tube is None:
            return False
        # A pause of 0 still lasts 1 ns, so waiting reserves are woken when it ends.
        delay_ns = delay * NS_PER_SECOND or 1
        tube.unpause_at = self.clock() + delay_ns
        tube.pause_ns = delay_ns
        tube.pauses += 1
        self._seq += 1
        entry = (tube.unpause_at, self._seq, tube)
        tube.pause_entry = entry
        pauses = self._pause_heap
        heapq.heappush(pauses, entry)
        if len(pauses) > 2 * len(self.tubes) + _STALE_SLACK:
            pauses[:] = [e for e in pauses if e[2].pause_entry is e]
            heapq.heapify(pauses)
        return True

    # ------------------------------------------------------------- reserving

    def reserve(self, session: Session, timeout: int | None) -> bytes | None:
        """Start a reserve; ``timeout`` is seconds, None (or negative) for none.

        Returns DEADLINE_SOON at once, or None: the outcome then reaches
        ``session.on_wake``, possibly before this returns.
        """
        self.set_worker(session)
        now = self.clock()
        if self._deadline_soon(session, now) and not self._has_ready(session):
            return MSG_DEADLINE_SOON
        session.waiting = True
        self.waiting_count += 1
        for tube in session.watch:
            tube.waiting.append(session)
            self._waited_tubes[tube] = None
        session.wait_until = (
            now + timeout * NS_PER_SECOND if timeout is not None and timeout >= 0 else None
        )
        self._process_queue()
        if session.waiting:
            self.reschedule(session)
            if session.tick_at is not None and session.tick_at <= now:
                self._conn_timeout(session, now)
        return None

    def cancel_wait(self, session: Session) -> None:
        """The client half-closed while waiting: the reserve times out."""
        if session.waiting:
            session.wait_until = None
            self._remove_waiting(session)
            session.on_wake(MSG_TIMED_OUT)
            self.reschedule(session)

    def _remove_waiting(self, session: Session) -> None:
        if not session.waiting:
            return
        session.waiting = False
        self.waiting_count -= 1
        waited = self._waited_tubes
        for tube in session.watch:
            tube.waiting.remove(session)
            if not tube.waiting:
                waited.pop(tube, None)

    def _has_ready(self, session: Session) -> bool:
        return any(tube.ready_count for tube in session.watch)

    def _soonest(self, session: Session) -> Job | None:
        job = session.soonest
        if job is None and session.reserved:
            for candidate in session.reserved.values():
                if job is None or candidate.deadline_at < job.deadline_at:
                    job = candidate
            session.soonest = job
        return job

    def _deadline_soon(self, session: Session, now: int) -> bool:
        job = self._soonest(session)
        return job is not None and now >= job.deadline_at - SAFETY_MARGIN_NS

    def _process_queue(self) -> None:
        """Hand ready jobs to waiting reserves, best job first."""
        now = self.clock()
        waited = self._waited_tubes
        jobs = self.jobs
        while waited:
            best: int | None = None
            best_tube: Tube | None = None
            job: Job | None = None
            for tube in waited:
                if tube.pause_ns:
                    if tube.unpause_at > now:
                        continue
                    self._unpause(tube)
                heap = tube.ready
                while heap:
                    entry = heap[0]
                    candidate = jobs.get(entry & ID_MASK)
                    if candidate is not None and candidate.entry is entry:
                        if best is None or entry < best:
                            best, best_tube, job = entry, tube, candidate
                        break
                    heapq.heappop(heap)
            if best_tube is None or job is None:
                return
            heapq.heappop(best_tube.ready)
            job.entry = None
            best_tube.ready_count -= 1
            self.ready_count -= 1
            if job.pri < URGENT_THRESHOLD:
                best_tube.urgent_count -= 1
                self.urgent_count -= 1
            session = best_tube.waiting.take()
            if session is None:  # pragma: no cover - waited tubes always have waiters
                waited.pop(best_tube, None)
                continue
            self.reserved_count += 1
            self._remove_waiting(session)
            self._reserve_for(session, job, now)
            session.on_wake(job)
            self.reschedule(session)

    def _unpause(self, tube: Tube) -> None:
        tube.pause_ns = 0
        tube.pause_entry = None

    # ----------------------------------------------------------------- timers

    def reschedule(self, session: Session) -> None:
        """Recompute when this connection next needs attention (TTR, timeout)."""
        if session.closed:
            return
        tick: int | None = None
        job = self._soonest(session)
        if job is not None:
            tick = job.deadline_at - (SAFETY_MARGIN_NS if session.waiting else 0)
        if session.wait_until is not None and (tick is None or session.wait_until < tick):
            tick = session.wait_until
        if tick == session.tick_at:
            return
        session.tick_at = tick
        if tick is None:
            session.tick_entry = None
            return
        self._seq += 1
        entry = (tick, self._seq, session)
        session.tick_entry = entry
        ticks = self._tick_heap
        heapq.heappush(ticks, entry)
        # Every reserve, touch or delete can leave a stale entry behind: rebuild the
        # heap once those outnumber the sessions (each has at most one live entry).
        if len(ticks) > 2 * self.connections + _STALE_SLACK:
            ticks[:] = [e for e in ticks if e[2].tick_entry is e]
            heapq.heapify(ticks)

    def _conn_timeout(self, session: Session, now: int) -> None:
        should_time_out = session.waiting and self._deadline_soon(session, now)
        while (job := self._soonest(session)) is not None:
            if job.deadline_at > now:
                break
            self.timeouts += 1
            job.counts += COUNT_TIMEOUT
            self._remove_reserved(session, job)
            self._enqueue(job, 0)
        if should_time_out and session.waiting:
            self._remove_waiting(session)
            session.on_wake(MSG_DEADLINE_SOON)
        elif session.waiting and session.wait_until is not None:
            session.wait_until = None
            self._remove_waiting(session)
            session.on_wake(MSG_TIMED_OUT)
        self.reschedule(session)

    def next_wakeup(self) -> int | None:
        """The clock value at which :meth:`tick` next has work, or None."""
        soonest: int | None = None
        heap = self._delay_heap
        jobs = self.jobs
        while heap:
            entry = heap[0]
            job = jobs.get(entry & ID_MASK)
            if job is not None and job.entry is entry:
                soonest = entry >> 64
                break
            heapq.heappop(heap)
        pauses = self._pause_heap
        while pauses:
            pause = pauses[0]
            if pause[2].pause_entry is pause:
                if soonest is None or pause[0] < soonest:
                    soonest = pause[0]
                break
            heapq.heappop(pauses)
        ticks = self._tick_heap
        while ticks:
            tick = ticks[0]
            if tick[2].tick_entry is tick:
                if soonest is None or tick[0] < soonest:
                    soonest = tick[0]
                break
            heapq.heappop(ticks)
        return soonest

    def tick(self) -> None:
        """Do everything that is due: delayed jobs, pauses ending, TTRs, timeouts."""
        now = self.clock()
        budget = _MAX_EVENTS_PER_TICK
        heap = self._delay_heap
        jobs = self.jobs
        while heap and budget:
            entry = heap[0]
            job = jobs.get(entry & ID_MASK)
            if job is None or job.entry is not entry:
                heapq.heappop(heap)
                continue
            if entry >> 64 > now:
                break
            heapq.heappop(heap)
            budget -= 1
            tube = job.tube
            job.entry = None
            tube.delay_count -= 1
            self.delayed_count -= 1
            tube.delayed_top()  # drops the now stale entry at the top of the tube's heap
            self._enqueue(job, 0)
        pauses = self._pause_heap
        while pauses and budget:
            pause = pauses[0]
            tube = pause[2]
            if tube.pause_entry is not pause:
                heapq.heappop(pauses)
                continue
            if pause[0] > now:
                break
            heapq.heappop(pauses)
            budget -= 1
            self._unpause(tube)
            self._process_queue()
        ticks = self._tick_heap
        while ticks and budget:
            tick = ticks[0]
            session = tick[2]
            if session.tick_entry is not tick:
                heapq.heappop(ticks)
                continue
            if tick[0] > now:
                break
            heapq.heappop(ticks)
            budget -= 1
            session.tick_entry = None
            session.tick_at = None
            self._conn_timeout(session, now)

    # ------------------------------------------------------------------ stats

    @property
    def uptime(self) -> int:
        return (self.clock() - self.started_at) // NS_PER_SECOND
