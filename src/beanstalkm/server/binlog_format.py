"""beanstalkd 1.12's binlog records: their layout, and turning them into bytes and back.

No I/O here. A binlog file (``binlog.N``) is a 4-byte version (7), then records, then
possibly zeros up to the end of the preallocated file. A record is

* the tube name's length, a 4-byte int; 0 makes it a *short* record;
* the tube name (full records only);
* the job record: 80 bytes, the C struct ``Jobrec`` with its padding;
* the body with its trailing CRLF (full records only).

A full record carries everything about a job; a short one updates a job seen before
(its state, priority, counters...). State 0 (invalid) means the job was deleted. Ints
are in the machine's byte order, as beanstalkd writes them, so a directory moves
between the two servers on the same kind of machine.

beanstalkd leaves the struct's 11 padding bytes zero and ignores them when it reads.
The embedded server puts checks there, which beanstalkd carries along unchanged
when it rewrites the job:

* ``check_a`` (after the priority): CRC-32 of the fields that never change for a job
  (id, TTR, body size, creation time);
* ``check_b`` (after the body size): CRC-32 of tube name and body in full records, 0
  in short ones (0 means "not checked");
* ``MARK`` (after the state): says the checks are there.

With them a record cut short by a crash, or damaged later, is told from a real one.
"""

from __future__ import annotations

import struct
import zlib

from .model import BURIED, DELAYED, INVALID, READY, RESERVED

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Final

__all__ = [
    "FILE_HEADER",
    "JOBREC_SIZE",
    "MARK",
    "NAME_LENGTH_SIZE",
    "SHORT_RECORD_SIZE",
    "VERSION",
    "Problem",
    "Record",
    "encode_full",
    "encode_short",
    "full_record_size",
    "immutable_check",
    "parse_file",
]

#: The format version beanstalkd 1.12 writes (``Walver``).
VERSION: Final = 7
FILE_HEADER: Final = struct.pack("=i", VERSION)
NAME_LENGTH = struct.Struct("=i")
NAME_LENGTH_SIZE: Final = NAME_LENGTH.size
#: id, pri, check_a, delay, ttr, body_size, check_b, created_at, deadline_at, reserve_ct,
#: timeout_ct, release_ct, bury_ct, kick_ct, state, mark: the layout of C's Jobrec on
#: the platforms beanstalkd runs on (8-byte alignment of its int64 fields).
JOBREC = struct.Struct("=QIIqqiIqqIIIIIB3s")
JOBREC_SIZE: Final = JOBREC.size
SHORT_RECORD_SIZE: Final = NAME_LENGTH_SIZE + JOBREC_SIZE
_IMMUTABLE = struct.Struct("=Qqiq")
MARK: Final = b"bm\x01"
_SHORT_PREFIX: Final = NAME_LENGTH.pack(0)
_NO_MARK: Final = b"\0\0\0"
#: beanstalkd's MAX_TUBE_NAME_LEN - 1.
_MAX_NAME: Final = 200
_NAME_BYTES: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-+/;.$_()"
)
_LIVE_STATES: Final = (READY, RESERVED, BURIED, DELAYED)
_NS_PER_SECOND: Final = 1_000_000_000

assert JOBREC_SIZE == 80

#: A job record as unpacked: the ints of :data:`JOBREC`, then the mark.
Fields = tuple[int, int, int, int, int, int, int, int, int, int, int, int, int, int, int, bytes]


def immutable_check(job_id: int, ttr_ns: int, body_size: int, created_at: int) -> int:
    """``check_a``: CRC-32 of the fields a job keeps for life."""
    return zlib.crc32(_IMMUTABLE.pack(job_id, ttr_ns, body_size, created_at))


def full_record_size(name: bytes, body: bytes) -> int:
    return SHORT_RECORD_SIZE + len(name) + len(body)


def encode_full(
    name: bytes,
    body: bytes,
    job_id: int,
    pri: int,
    delay: int,
    ttr: int,
    created_at: int,
    deadline_at: int,
    counts: tuple[int, int, int, int, int],
    state: int,
) -> bytes:
    """A full record. Times in nanoseconds; ``counts``: reserves, timeouts,
    releases, buries, kicks."""
    size = len(body)
    jobrec = JOBREC.pack(
        job_id,
        pri,
        zlib.crc32(_IMMUTABLE.pack(job_id, ttr, size, created_at)),
        delay,
        ttr,
        size,
        zlib.crc32(body, zlib.crc32(name)),
        created_at,
        deadline_at,
        *counts,
        state,
        MARK,
    )
    return b"".join((NAME_LENGTH.pack(len(name)), name, jobrec, body))


def encode_short(
    body_size: int,
    job_id: int,
    pri: int,
    delay: int,
    ttr: int,
    created_at: int,
    deadline_at: int,
    counts: tuple[int, int, int, int, int],
    state: int,
) -> bytes:
    """A short record (the same fields as :func:`encode_full`, no tube or body)."""
    return _SHORT_PREFIX + JOBREC.pack(
        job_id,
        pri,
        zlib.crc32(_IMMUTABLE.pack(job_id, ttr, body_size, created_at)),
        delay,
        ttr,
        body_size,
        0,
        created_at,
        deadline_at,
        *counts,
        state,
        MARK,
    )


class Record:
    """One record read back. Times are nanoseconds of the wall clock, as written."""

    __slots__ = (
        "body",
        "body_size",
        "buries",
        "created_at",
        "deadline_at",
        "delay",
        "id",
        "kicks",
        "marked",
        "name",
        "offset",
        "pri",
        "releases",
        "reserves",
        "state",
        "timeouts",
        "ttr",
    )

    def __init__(self, offset: int, name: bytes | None, fields: Fields) -> None:
        self.offset = offset
        #: The tube name of a full record; None for a short one.
        self.name = name
        self.body: bytes | None = None
        self.id: int = fields[0]
        self.pri: int = fields[1]
        self.delay: int = fields[3]
        self.ttr: int = fields[4]
        self.body_size: int = fields[5]
        self.created_at: int = fields[7]
        self.deadline_at: int = fields[8]
        self.reserves: int = fields[9]
        self.timeouts: int = fields[10]
        self.releases: int = fields[11]
        self.buries: int = fields[12]
        self.kicks: int = fields[13]
        self.state: int = fields[14]
        self.marked = fields[15] == MARK

    @property
    def full(self) -> bool:
        return self.name is not None


class Problem:
    """Why reading a file stopped before its end, and how much data (not counting
    the zeros at the end of a preallocated file) was left unread."""

    __slots__ = ("offset", "reason", "skipped")

    def __init__(self, offset: int, reason: str, skipped: int) -> None:
        self.offset = offset
        self.reason = reason
        self.skipped = skipped

    def __str__(self) -> str:
        return f"offset {self.offset}: {self.reason}; {self.skipped} bytes of data skipped"


def parse_file(data: bytes) -> tuple[list[Record], Problem | None]:
    """Every intact record of one file, in order, and what stopped the reading if
    not the end of the data (zeros after the last record count as the end).

    A record that fails a check ends the file: its length cannot be trusted, so
    nothing after it can be framed. Checks that need the records before it (is this
    the job's first full record? do the fixed fields agree?) are left to the replay.
    """
    if len(data) < NAME_LENGTH_SIZE:
        return [], (Problem(0, "no version header", len(data)) if data else None)
    (version,) = NAME_LENGTH.unpack_from(data, 0)
    if version != VERSION:
        return [], Problem(0, f"unknown binlog version {version}", len(data))
    records: list[Record] = []
    end = len(data)
    pos = NAME_LENGTH_SIZE
    unpack_jobrec = JOBREC.unpack_from
    while pos < end:
        start = pos
        if end - pos < SHORT_RECORD_SIZE:
            if data.count(0, pos) == end - pos:
                return records, None
            return records, Problem(start, "record cut short", end - start)
        (name_len,) = NAME_LENGTH.unpack_from(data, pos)
        pos += NAME_LENGTH_SIZE
        if not 0 <= name_len <= _MAX_NAME:
            return records, Problem(start, f"bad tube name length {name_len}", end - start)
        name: bytes | None = None
        if name_len:
            name = data[pos : pos + name_len]
            pos += name_len
            if end - pos < JOBREC_SIZE:
                return records, Problem(start, "record cut short", end - start)
        fields: Fields = unpack_jobrec(data, pos)
        pos += JOBREC_SIZE
        if fields[0] == 0:
            # Job ids start at 1: this is the zero-filled end of a preallocated file.
            if name is None and data.count(0, start) == end - start:
                return records, None
            return records, Problem(start, "record with job id 0", end - start)
        record = Record(start, name, fields)
        reason = _check(record, fields)
        if reason is None and name is not None:
            if end - pos < record.body_size:
                return records, Problem(start, "record cut short", end - start)
            body = data[pos : pos + record.body_size]
            pos += record.body_size
            if body[-2:] != b"\r\n":
                reason = "job body does not end in CRLF"
            elif record.marked and fields[6] and zlib.crc32(body, zlib.crc32(name)) != fields[6]:
                reason = "tube name or body does not match its checksum"
            record.body = body
        if reason is not None:
            return records, Problem(start, f"job {record.id}: {reason}", end - start)
        records.append(record)
    return records, None


def _check(record: Record, fields: Fields) -> str | None:
    """What is wrong with a record's fixed-size part, if anything."""
    if record.marked:
        expected = immutable_check(record.id, record.ttr, record.body_size, record.created_at)
        if fields[2] != expected:
            return "fields do not match their checksum"
    elif fields[15] != _NO_MARK or fields[2] or fields[6]:
        return "unknown padding"
    if record.state not in _LIVE_STATES and record.state != INVALID:
        return f"unknown state {record.state}"
    if record.ttr < _NS_PER_SECOND or record.delay < 0 or record.created_at <= 0:
        return "impossible times"
    if record.body_size < 2:
        return f"impossible body size {record.body_size}"
    name = record.name
    if name is not None:
        if record.state == INVALID:
            return "a full record of a deleted job"
        if name[:1] == b"-" or not _NAME_BYTES.issuperset(name):
            return "bad tube name"
    return None
