"""The binlog (``-b DIR``): beanstalkd 1.12's write-ahead log, its files and their upkeep.

The :class:`~.state.Broker` tells a :class:`Binlog` about every change beanstalkd logs
(a put, a delete, a bury, a kick, a release with a delay) and asks first whether
there is room for it. Records collect in memory and reach the current file in one
``write`` before the replies they back are sent (:meth:`Binlog.commit`); ``fsync``
follows the ``-f``/``-F`` policy.

Files are named ``binlog.N`` and preallocated to the ``-s`` size, as beanstalkd's
are, so that the records a job will still need (at least its delete) always have
room: every live job keeps one short record's worth of space set aside, in the
current file or in files made ahead of time. A put that would break that promise is
refused (OUT_OF_MEMORY), as beanstalkd refuses it.

Compaction: once the files hold more than three times what the live jobs need, the
full records of the jobs in the oldest file are written again at the end, a few per
write, until the oldest file holds no live job; then it is removed (only once what
replaced it is on disk, as far as the fsync policy allows).

The record format is in :mod:`.binlog_format`, what reading adds up to in
:mod:`.recovery`.
"""

from __future__ import annotations

import os
import sys
import time

from . import binlog_format as fmt
from .model import DELAYED, INVALID, NS_PER_SECOND
from .recovery import Replay

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

    from .model import Job
    from .state import Broker

__all__ = [
    "DEFAULT_FILE_SIZE",
    "DEFAULT_FSYNC_MS",
    "Binlog",
    "BinlogError",
    "BinlogLocked",
    "LogFile",
]

#: beanstalkd's default ``-s``: 10 MiB per file.
DEFAULT_FILE_SIZE: Final = 10 << 20
#: beanstalkd's default ``-f``.
DEFAULT_FSYNC_MS: Final = 50
_PAGE: Final = 4096
_SHORT: Final = fmt.SHORT_RECORD_SIZE
_HEADER: Final = len(fmt.FILE_HEADER)
#: Full records moved out of the oldest file per record written, at most.
_MOVES_PER_WRITE: Final = 2
_FILE_PREFIX: Final = "binlog."
_BINARY: Final = getattr(os, "O_BINARY", 0)
# Directories this process holds (fcntl locks do not keep a process from itself).
_LOCKED: set[str] = set()


class BinlogError(Exception):
    """The binlog directory cannot be used (missing, unreadable, locked...)."""

    #: The exit status of a server that cannot start because of it.
    exit_status = 1


class BinlogLocked(BinlogError):
    """The binlog directory cannot be locked: another server (beanstalkd or embedded)
    uses it, or it cannot be opened. Exit status 10, as with beanstalkd."""

    exit_status = 10


class LogFile:
    """One ``binlog.N`` file."""

    __slots__ = ("capacity", "cursor", "fd", "ids", "path", "refs", "seq", "size")

    def __init__(self, seq: int, path: str, size: int, capacity: int, fd: int | None) -> None:
        self.seq = seq
        self.path = path
        #: Bytes in use (header and records); for files read at start, the file's size.
        self.size = size
        self.capacity = capacity
        #: Open for writing: the current file and files made ahead of it.
        self.fd = fd
        #: Live jobs whose latest full record is here.
        self.refs = 0
        #: Their ids, in the order written (dead ones are skipped when met).
        self.ids: list[int] = []
        self.cursor = 0

    @property
    def free(self) -> int:
        return self.capacity - self.size


class Binlog:
    """A binlog directory in use by one server.

    ``fsync_ms`` is ``-f``: fsync at most every so many milliseconds (0: before every
    reply that depends on a record), or None for ``-F`` (never). ``report`` receives
    one line per problem found while reading.
    """

    def __init__(
        self,
        directory: str,
        *,
        file_size: int = DEFAULT_FILE_SIZE,
        fsync_ms: int | None = DEFAULT_FSYNC_MS,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.directory = directory
        #: ``-s`` as given; ``stats`` reports it as binlog-max-size.
        self.max_size = file_size
        # beanstalkd's help: "rounded up to a multiple of 4096 bytes".
        self._capacity = max(_PAGE, -(-file_size // _PAGE) * _PAGE)
        self.fsync_ms = fsync_ms
        self._report = report or (lambda line: None)
        #: Records written since start (binlog-records-written), moved by compaction.
        self.written = 0
        self.migrated = 0
        #: Records waiting for :meth:`commit`.
        self.pending = False
        #: True once a write failed: nothing more is logged or acknowledged.
        self.failed = False
        #: Called once if writing fails (the server then stops).
        self.on_failure: Callable[[OSError], None] | None = None
        self._buf = bytearray()
        self._files: list[LogFile] = []
        self._cur: LogFile | None = None
        #: Files made ahead of the current one: their free space, in whole short records.
        self._ahead_units = 0
        #: Bytes set aside for the deletes of the live jobs (one short record each).
        self._owed = 0
        #: Bytes the live jobs need: their latest full record and their delete.
        self._alive = 0
        #: Bytes in all files, made-ahead ones included.
        self._total = 0
        self._next_seq = 1
        self._jobs: dict[int, Job] = {}
        self._lock_fd: int | None = None
        self._last_sync = 0.0
        self._unsynced = False
        #: Files whose jobs moved on; removed once the moves are on disk.
        self._doomed: list[LogFile] = []
        self._wall_offset = 0
        #: Every file read at start, by number (damaged ones included).
        self._kept: dict[int, LogFile] = {}

    # ------------------------------------------------------------ statistics

    @property
    def oldest_index(self) -> int:
        return self._files[0].seq if self._files else 0

    @property
    def current_index(self) -> int:
        return self._cur.seq if self._cur is not None else 0

    # --------------------------------------------------------------- opening

    def open(self, broker: Broker) -> None:
        """Lock the directory, restore the jobs it holds into ``broker``, and start a
        new file. Raises :class:`BinlogError` when the directory cannot be used."""
        self._lock()
        try:
            self._wall_offset = time.time_ns() - broker.clock()
            self._jobs = broker.jobs
            replay = self._read()
            self._restore(replay, broker)
            self._collect()
            cur = self._make_file()
            if cur is None:
                raise BinlogError(f"cannot create a binlog file in {self.directory}")
            self._cur = cur
            self._ahead_units = 0
            self._ensure(0, 0)
            self._last_sync = time.monotonic()
        except BaseException:
            self.close()
            raise
        broker.journal = self

    def _lock(self) -> None:
        directory = self.directory
        key = os.path.realpath(directory)
        if key in _LOCKED:
            raise BinlogLocked(f"failed to lock binlog directory {directory}: in use")
        try:
            fd = os.open(os.path.join(directory, "lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        except OSError as exc:
            raise BinlogLocked(f"failed to lock binlog directory {directory}: {exc}") from None
        try:
            _lock_file(fd)
        except OSError as exc:
            os.close(fd)
            raise BinlogLocked(
                f"failed to lock binlog directory {directory}: in use by another server ({exc})"
            ) from None
        self._lock_fd = fd
        _LOCKED.add(key)

    def _read(self) -> Replay:
        """Read every file in order; say what could not be read.

        A crash can only cut short the file being written, the newest one with
        records: a problem there is the end of the log. A problem in an older file is
        damage: that file is read as far as it goes and then left alone for good
        (never compacted or removed), so nothing in it is thrown away.
        """
        seqs: list[int] = []
        for name in os.listdir(self.directory):
            if name.startswith(_FILE_PREFIX):
                digits = name[len(_FILE_PREFIX) :]
                if digits.isdigit() and digits.isascii():
                    seqs.append(int(digits))
        seqs.sort()
        self._next_seq = seqs[-1] + 1 if seqs else 1
        parsed: list[tuple[int, str, int, list[fmt.Record], fmt.Problem | None, int]] = []
        for seq in seqs:
            path = self._path(seq)
            try:
                with open(path, "rb") as file:
                    data = file.read()
            except OSError as exc:
                self._report(f"{path}: cannot read, left alone: {exc}")
                continue
            records, problem = fmt.parse_file(data)
            if problem is not None and not records and problem.offset == 0:
                self._report(f"{path}: {problem.reason}; not a binlog file, left alone")
                continue
            # Where the data ends, before the zeros of preallocation.
            end = len(data.rstrip(b"\0"))
            parsed.append((seq, path, len(data), records, problem, end))
        newest = max(
            (seq for seq, _, _, records, problem, _ in parsed if records or problem), default=0
        )
        replay = Replay()
        for seq, path, size, records, problem, end in parsed:
            problem = replay.add_file(seq, records) or problem
            log_file = LogFile(seq, path, size, size, None)
            self._kept[seq] = log_file
            if problem is not None:
                problem.skipped = max(0, end - problem.offset)
                if seq == newest:
                    # Where a crash in the middle of a write leaves the log.
                    self._report(f"{path}: {problem}; the newest file ends there")
                else:
                    self._report(f"{path}: {problem}; the file is damaged and left alone")
                    continue
            self._files.append(log_file)
            self._total += size
        return replay

    def _restore(self, replay: Replay, broker: Broker) -> None:
        by_seq = self._kept
        offset = self._wall_offset
        now_wall = time.time_ns()
        for name in replay.tubes:
            broker.restore_tube(name)
        for rec in replay.jobs.values():
            delay_left = rec.deadline_at - now_wall if rec.state == DELAYED else 0
            job = broker.restore_job(
                rec.id,
                rec.tube,
                rec.body,
                pri=rec.pri,
                delay=rec.delay // NS_PER_SECOND,
                ttr=rec.ttr // NS_PER_SECOND,
                created_at=rec.created_at - offset,
                counters=(rec.reserves, rec.timeouts, rec.releases, rec.buries, rec.kicks),
                state=rec.state,
                delay_left=max(0, delay_left),
            )
            log_file = by_seq[rec.file_seq]
            job.log_file = log_file
            log_file.refs += 1
            log_file.ids.append(rec.id)
            self._alive += fmt.full_record_size(rec.tube, rec.body) + _SHORT
            self._owed += _SHORT
        broker.next_id = max(broker.next_id, replay.next_id)

    # ------------------------------------------------------ the Journal side

    def reserve_put(self, job: Job, body_size: int) -> bool:
        """Room for a new job's full record now and its delete later?"""
        if self.failed:
            return False
        need = _SHORT + len(job.tube.name) + body_size
        return self._ensure(need, _SHORT)

    def reserve_update(self) -> bool:
        """Room for one more short record (bury, kick, release with a delay)?"""
        if self.failed:
            return False
        return self._ensure(_SHORT, 0)

    def write(self, job: Job) -> None:
        """Log the job as it is now: a full record the first time, else a short one."""
        if self.failed:
            return
        self._log(job)
        if self._total > 3 * self._alive:
            self._compact()

    def _log(self, job: Job) -> None:
        offset = self._wall_offset
        deadline = job.deadline_at
        log_file = job.log_file
        if log_file is None:
            name = job.tube.name
            record = fmt.encode_full(
                name,
                job.body,
                job.id,
                job.pri,
                job.delay * NS_PER_SECOND,
                job.ttr * NS_PER_SECOND,
                job.created_at + offset,
                deadline + offset if deadline else 0,
                _counts(job),
                job.state,
            )
            self._append(record)
            cur = self._cur
            assert cur is not None
            job.log_file = cur
            cur.refs += 1
            cur.ids.append(job.id)
            self._owed += _SHORT
            self._alive += len(record) + _SHORT
        else:
            self._append(
                fmt.encode_short(
                    len(job.body),
                    job.id,
                    job.pri,
                    job.delay * NS_PER_SECOND,
                    job.ttr * NS_PER_SECOND,
                    job.created_at + offset,
                    deadline + offset if deadline else 0,
                    _counts(job),
                    job.state,
                )
            )
            if job.state == INVALID:
                job.log_file = None
                self._owed -= _SHORT
                self._alive -= fmt.full_record_size(job.tube.name, job.body) + _SHORT
                log_file.refs -= 1
                if log_file.refs == 0 and log_file is self._files[0]:
                    self._collect()

    def _append(self, record: bytes) -> None:
        cur = self._cur
        assert cur is not None
        if len(record) > cur.free and cur.size > _HEADER:
            self._roll()
            cur = self._cur
            assert cur is not None
        self._buf += record
        cur.size += len(record)
        if cur.size > cur.capacity:  # a record bigger than a whole file
            self._total += cur.size - cur.capacity
            cur.capacity = cur.size
        self.pending = True
        self.written += 1

    # ----------------------------------------------------------------- space

    def _units(self, free: int) -> int:
        return free // _SHORT * _SHORT if free > 0 else 0

    def _ensure(self, need: int, more_owed: int) -> bool:
        """Make sure that after writing ``need`` bytes now, the space set aside still
        covers every live job's delete (plus ``more_owed``); make files ahead if not."""
        while True:
            cur = self._cur
            assert cur is not None
            if need <= cur.free or cur.size == _HEADER:
                room = self._units(cur.free - need) + self._ahead_units
            else:
                # The record opens the next file; what is left in this one is lost.
                ahead = self._files[self._files.index(cur) + 1 :] if self._ahead_units else []
                if ahead:
                    room = self._units(ahead[0].free - need) + self._ahead_units
                    room -= self._units(ahead[0].free)
                else:
                    room = -1  # make the next file first
            if room >= self._owed + more_owed:
                return True
            if not self._make_ahead():
                return False

    def _make_ahead(self) -> bool:
        made = self._make_file()
        if made is None:
            return False
        self._ahead_units += self._units(made.free)
        return True

    def _make_file(self) -> LogFile | None:
        """A new preallocated file with its header, at the end; None if the disk is full."""
        seq = self._next_seq
        path = self._path(seq)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o400)
        except FileExistsError:
            self._next_seq += 1
            return self._make_file()
        except OSError as exc:
            self._fail(exc)
            return None
        try:
            _preallocate(fd, self._capacity)
            os.write(fd, fmt.FILE_HEADER)
        except OSError:
            os.close(fd)
            os.unlink(path)
            return None
        self._next_seq = seq + 1
        made = LogFile(seq, path, _HEADER, self._capacity, fd)
        self._files.append(made)
        self._total += self._capacity
        if self.fsync_ms is not None:
            _sync_directory(self.directory)
        return made

    def _roll(self) -> None:
        """Close the current file and go on in the next one."""
        cur = self._cur
        assert cur is not None
        self.commit()
        if self.failed:
            return
        index = self._files.index(cur)
        if index + 1 < len(self._files):
            nxt = self._files[index + 1]
            self._ahead_units -= self._units(nxt.free)
        else:
            made = self._make_file()
            if made is None:
                # Out of disk, with no space set aside: ``_ensure`` makes sure it is not
                # reached, unless the disk failed under us.
                self._fail(OSError("no room for a new binlog file"))
                return
            nxt = made
        self._close_file(cur, sync=True)
        self._cur = nxt

    def _close_file(self, log_file: LogFile, sync: bool) -> None:
        fd = log_file.fd
        if fd is None:
            return
        log_file.fd = None
        try:
            if sync and self.fsync_ms is not None:
                _fdatasync(fd)
            # Give back the preallocated tail, as beanstalkd does when it moves on.
            os.ftruncate(fd, log_file.size)
            self._total -= log_file.capacity - log_file.size
            log_file.capacity = log_file.size
        except OSError as exc:
            self._fail(exc)
        finally:
            os.close(fd)

    # ------------------------------------------------------------ compaction

    def _compact(self) -> None:
        files = self._files
        moves = _MOVES_PER_WRITE
        while moves and self._total - self._alive > 2 * self._alive:
            head = files[0]
            if head is self._cur or files[1] is self._cur:
                return  # beanstalkd too leaves the last two files alone
            job = self._next_live(head)
            if job is None:
                self._collect()
                if files[0] is head:
                    return
                continue
            size = fmt.full_record_size(job.tube.name, job.body)
            if not self._ensure(size, 0):
                return
            head.refs -= 1
            self._alive -= size + _SHORT
            self._owed -= _SHORT
            job.log_file = None  # written again in full, in the current file
            self._log(job)
            self.migrated += 1
            moves -= 1
            if head.refs == 0:
                self._collect()

    def _next_live(self, log_file: LogFile) -> Job | None:
        ids = log_file.ids
        jobs = self._jobs
        while log_file.cursor < len(ids):
            job = jobs.get(ids[log_file.cursor])
            log_file.cursor += 1
            if job is not None and job.log_file is log_file:
                return job
        return None

    def _collect(self) -> None:
        """Retire the oldest files while no live job needs them."""
        files = self._files
        while files and files[0].refs == 0 and files[0] is not self._cur and files[0].fd is None:
            doomed = files.pop(0)
            doomed.ids = []
            self._total -= doomed.capacity
            self._doomed.append(doomed)
        if self._doomed and (self.fsync_ms is None or not self._unsynced) and not self.pending:
            self._remove_doomed()

    def _remove_doomed(self) -> None:
        for doomed in self._doomed:
            try:
                os.unlink(doomed.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                self._report(f"{doomed.path}: cannot remove: {exc}")
        self._doomed.clear()

    # ------------------------------------------------------------- the edge

    def commit(self) -> None:
        """Write what was logged; fsync if the policy says it is time."""
        if not self.pending or self.failed:
            return
        cur = self._cur
        assert cur is not None
        assert cur.fd is not None
        data = self._buf
        try:
            # A regular file takes it all in one write; a short one goes on.
            while data:
                del data[: os.write(cur.fd, data)]
        except OSError as exc:
            self._fail(exc)
            return
        self.pending = False
        self._unsynced = True
        if self.fsync_ms is not None and (
            self.fsync_ms == 0 or time.monotonic() - self._last_sync >= self.fsync_ms / 1000
        ):
            self.sync()
        elif self._doomed and self.fsync_ms is None:
            self._remove_doomed()

    def sync_due(self) -> float | None:
        """When (``time.monotonic``) the written records must be fsynced, or None."""
        if not self._unsynced or self.fsync_ms is None or self.failed:
            return None
        return self._last_sync + self.fsync_ms / 1000

    def sync(self) -> None:
        """fsync the current file now; then remove files whose jobs moved on."""
        if self.pending:
            self.commit()
            return  # commit syncs when due; a sync called by the timer is due
        cur = self._cur
        if cur is None or cur.fd is None or self.failed:
            return
        try:
            _fdatasync(cur.fd)
        except OSError as exc:
            self._fail(exc)
            return
        self._last_sync = time.monotonic()
        self._unsynced = False
        if self._doomed:
            self._remove_doomed()

    def _fail(self, exc: OSError) -> None:
        if self.failed:
            return
        self.failed = True
        self.pending = False
        self._buf.clear()
        self._report(f"{self.directory}: binlog write failed: {exc}")
        if self.on_failure is not None:
            self.on_failure(exc)

    def close(self) -> None:
        """Write and fsync what is pending, close the files and release the lock."""
        if not self.failed:
            self.commit()
            if self._unsynced and self.fsync_ms is not None:
                self.sync()
        for log_file in self._files:
            if log_file.fd is not None:
                os.close(log_file.fd)
                log_file.fd = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
            _LOCKED.discard(os.path.realpath(self.directory))

    def _path(self, seq: int) -> str:
        return os.path.join(self.directory, f"{_FILE_PREFIX}{seq}")


def _counts(job: Job) -> tuple[int, int, int, int, int]:
    """reserves, timeouts, releases, buries, kicks."""
    counts = job.counts
    if not counts:
        return _NO_COUNTS
    return job.reserves, job.timeouts, job.releases, job.buries, job.kicks


_NO_COUNTS: Final = (0, 0, 0, 0, 0)


def _lock_file(fd: int) -> None:
    """Take the lock beanstalkd takes (``fcntl`` F_SETLK on the whole file)."""
    if sys.platform == "win32":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def _preallocate(fd: int, size: int) -> None:
    """Write ``size`` zeros, as beanstalkd does: the space is really taken, so later
    records cannot meet a full disk. (``posix_fallocate`` is quicker here, but leaves
    extents that every fdatasync then has to convert: a third fewer puts per second
    with ``-f0``.)"""
    zeros = bytes(min(size, 1 << 16))
    left = size
    while left > 0:
        left -= os.write(fd, zeros[: min(left, len(zeros))])
    os.lseek(fd, 0, os.SEEK_SET)


def _fdatasync(fd: int) -> None:
    getattr(os, "fdatasync", os.fsync)(fd)


def _sync_directory(directory: str) -> None:
    """Make a new file's name durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
