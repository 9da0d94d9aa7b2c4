"""Replaying binlog records into the jobs and tubes beanstalkd 1.12 would restore.

No I/O here: :class:`Replay` takes each file's records (from
:func:`~.binlog_format.parse_file`) in order and keeps what they add up to,
following beanstalkd's own replay wherever clients can see the result:

* a job's first full record creates it (and its tube); later records replace its
  fields; a record in state 0 deletes it; a short record of a job not seen is
  ignored (its full record was in a file that was removed since);
* a reserved job comes back ready;
* jobs are restored in the order they were first created, tubes come and go in
  ``list-tubes`` order as jobs appear and are deleted (``default`` first), and the
  next job id follows the highest id created.

Unlike beanstalkd, a record that fails a check is skipped without touching the job
it names, so a damaged update never costs a job its last good state.
"""

from __future__ import annotations

from .binlog_format import Problem, Record
from .model import INVALID, READY, RESERVED
from .swapset import SwapSet

__all__ = ["RecoveredJob", "Replay"]

DEFAULT_TUBE = b"default"


class RecoveredJob:
    """A job as the log leaves it. Times are wall-clock nanoseconds."""

    __slots__ = (
        "body",
        "buries",
        "created_at",
        "deadline_at",
        "delay",
        "file_seq",
        "id",
        "kicks",
        "marked",
        "pri",
        "releases",
        "reserves",
        "state",
        "timeouts",
        "ttr",
        "tube",
    )

    def __init__(self, record: Record, tube: bytes, body: bytes, file_seq: int) -> None:
        self.id = record.id
        self.tube = tube
        self.body = body
        #: The file that holds the job's latest full record.
        self.file_seq = file_seq
        self.marked = record.marked
        self.update(record)

    def update(self, record: Record) -> None:
        self.pri = record.pri
        self.delay = record.delay
        self.ttr = record.ttr
        self.created_at = record.created_at
        self.deadline_at = record.deadline_at
        self.reserves = record.reserves
        self.timeouts = record.timeouts
        self.releases = record.releases
        self.buries = record.buries
        self.kicks = record.kicks
        self.state = READY if record.state == RESERVED else record.state
        self.marked = self.marked or record.marked


class Replay:
    """The state the records read so far add up to."""

    def __init__(self) -> None:
        #: Live jobs in the order they were created.
        self.jobs: dict[int, RecoveredJob] = {}
        #: Tube names in ``list-tubes`` order.
        self.tubes: SwapSet[bytes] = SwapSet()
        self._refs: dict[bytes, int] = {DEFAULT_TUBE: 1}
        self.tubes.append(DEFAULT_TUBE)
        self.next_id = 1
        #: Records read and applied, and short records of unknown jobs passed over.
        self.applied = 0
        self.ignored = 0

    def add_file(self, seq: int, records: list[Record]) -> Problem | None:
        """Apply one file's records; stop at the first that contradicts the job it
        names, and say so."""
        jobs = self.jobs
        for record in records:
            job = jobs.get(record.id)
            if job is None:
                if record.name is None:
                    self.ignored += 1
                    continue
                assert record.body is not None
                self._tube_ref(record.name)
                jobs[record.id] = RecoveredJob(record, record.name, record.body, seq)
                if record.id >= self.next_id:
                    self.next_id = record.id + 1
                self.applied += 1
                continue
            reason = _contradiction(job, record)
            if reason is not None:
                return Problem(record.offset, f"job {record.id}: {reason}", -1)
            self.applied += 1
            if record.state == INVALID:
                del jobs[record.id]
                self._tube_unref(job.tube)
                continue
            job.update(record)
            if record.name is not None:
                assert record.body is not None
                job.body = record.body
                job.file_seq = seq
        return None

    def _tube_ref(self, name: bytes) -> None:
        refs = self._refs.get(name)
        if refs is None:
            self.tubes.append(name)
            refs = 0
        self._refs[name] = refs + 1

    def _tube_unref(self, name: bytes) -> None:
        refs = self._refs[name] - 1
        if refs:
            self._refs[name] = refs
        else:
            del self._refs[name]
            self.tubes.remove(name)


def _contradiction(job: RecoveredJob, record: Record) -> str | None:
    """Why a later record cannot be about this job, if it cannot.

    A job's fixed fields never change, and every record written after one that
    carries the embedded server's checks carries them too (beanstalkd copies them
    along): a record without them, after one with them, was cut short.
    """
    if job.marked and not record.marked:
        return "record cut short (its checks are missing)"
    if record.ttr != job.ttr or record.created_at != job.created_at:
        return "fields differ from the job's first record"
    if len(job.body) != record.body_size:
        return "body size differs from the job's first record"
    if record.name is not None and record.name != job.tube:
        return "tube differs from the job's first record"
    return None
