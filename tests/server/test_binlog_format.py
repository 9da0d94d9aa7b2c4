"""Binlog records as bytes: written, read back, and refused when damaged (no I/O)."""

from __future__ import annotations

import struct

import pytest

from beanstalkm.server.binlog_format import (
    FILE_HEADER,
    JOBREC,
    SHORT_RECORD_SIZE,
    encode_full,
    encode_short,
    parse_file,
)
from beanstalkm.server.model import BURIED, INVALID, READY

NS = 1_000_000_000
CREATED = 1_700_000_000 * NS
#: id, pri, delay, ttr, created_at, deadline_at, (reserves, timeouts, releases, buries,
#: kicks), state
FIELDS = (7, 100, 0, 60 * NS, CREATED, 0, (1, 0, 2, 0, 3), READY)


Fields = tuple[int, int, int, int, int, int, tuple[int, int, int, int, int], int]


def beanstalkd_record(name: bytes, body: bytes, fields: Fields, size: int | None = None) -> bytes:
    """A record as beanstalkd 1.12 writes it: zero padding, no checks. A short one
    (no ``name``) gives the body ``size``."""
    job_id, pri, delay, ttr, created, deadline, (res, tmo, rel, bur, kic), state = fields
    size = len(body) if size is None else size
    jobrec = JOBREC.pack(
        job_id, pri, 0, delay, ttr, size, 0, created, deadline, res, tmo, rel, bur, kic,
        state, b"\0\0\0",
    )  # fmt: skip
    return struct.pack("=i", len(name)) + name + jobrec + (body if name else b"")


def test_full_and_short_records_read_back() -> None:
    data = (
        FILE_HEADER
        + encode_full(b"emails", b"hello\r\n", *FIELDS)
        + encode_short(7, *FIELDS[:-1], BURIED)
    )
    records, problem = parse_file(data + bytes(1000))  # preallocated zeros end it
    assert problem is None
    full, short = records
    assert (full.name, full.body, full.id, full.pri, full.ttr) == (
        b"emails",
        b"hello\r\n",
        7,
        100,
        60 * NS,
    )
    assert (full.reserves, full.releases, full.kicks, full.state) == (1, 2, 3, READY)
    assert full.marked
    assert short.marked
    assert (short.name, short.body, short.state, short.offset) == (
        None,
        None,
        BURIED,
        len(data) - 84,
    )


def test_records_without_checks_as_beanstalkd_writes_them_are_read() -> None:
    data = FILE_HEADER + beanstalkd_record(b"t", b"x\r\n", FIELDS)
    data += beanstalkd_record(b"", b"", (*FIELDS[:-1], INVALID), size=3)
    records, problem = parse_file(data)
    assert problem is None
    assert [(r.id, r.state, r.marked) for r in records] == [(7, READY, False), (7, INVALID, False)]


def test_the_layout_is_beanstalkds_jobrec() -> None:
    # 80 bytes: C's struct with its padding; the fields at beanstalkd's offsets.
    record = encode_short(3, *FIELDS)
    assert len(record) == SHORT_RECORD_SIZE == 84
    jobrec = record[4:]
    assert struct.unpack_from("=Q", jobrec, 0) == (7,)
    assert struct.unpack_from("=I", jobrec, 8) == (100,)
    assert struct.unpack_from("=q", jobrec, 24) == (60 * NS,)
    assert struct.unpack_from("=i", jobrec, 32) == (3,)
    assert struct.unpack_from("=q", jobrec, 40) == (CREATED,)
    assert struct.unpack_from("=5I", jobrec, 56) == (1, 0, 2, 0, 3)
    assert jobrec[76] == READY


def damage(data: bytes, offset: int, value: int) -> bytes:
    return data[:offset] + bytes([value]) + data[offset + 1 :]


GOOD = encode_full(b"t", b"body\r\n", *FIELDS)
JOBREC_AT = 4 + 4 + 1  # header, name length, name


@pytest.mark.parametrize(
    ("offset", "value", "reason"),
    [
        (4, 0xFF, "bad tube name length"),
        (8, ord("*"), "bad tube name"),
        (JOBREC_AT + 32, 0x20, "fields do not match"),  # body size
        (JOBREC_AT + 76, 9, "unknown state 9"),
        (JOBREC_AT + 78, 0, "unknown padding"),  # a mark half written
        (JOBREC_AT + 80 + 2, ord("D"), "does not match its checksum"),  # body
        (JOBREC_AT + 80 + 5, ord("x"), "does not end in CRLF"),
    ],
)
def test_damage_is_found(offset: int, value: int, reason: str) -> None:
    data = FILE_HEADER + GOOD + GOOD
    records, problem = parse_file(damage(data, offset, value))
    assert records == []
    assert problem is not None
    assert problem.offset == 4
    assert reason in problem.reason


def test_damage_ends_the_file_but_keeps_what_came_before() -> None:
    data = FILE_HEADER + GOOD + damage(GOOD, 4 + 1 + 76, 7) + GOOD
    records, problem = parse_file(data)
    assert len(records) == 1
    assert problem is not None
    assert problem.offset == 4 + len(GOOD)


def test_beanstalkd_records_are_checked_for_what_cannot_be() -> None:
    bad = [
        (b"t", b"x\r\n", (*FIELDS[:3], 0, *FIELDS[4:]), "impossible times"),  # TTR 0
        (b"t", b"xx", FIELDS, "does not end in CRLF"),
        (b"t", b"x\r\n", (*FIELDS[:-1], INVALID), "a full record of a deleted job"),
        (b"-t", b"x\r\n", FIELDS, "bad tube name"),
    ]
    for name, body, fields, reason in bad:
        _, problem = parse_file(FILE_HEADER + beanstalkd_record(name, body, fields))
        assert problem is not None
        assert reason in problem.reason, (name, body, fields)


@pytest.mark.parametrize("cut", range(1, len(GOOD)))
def test_a_record_cut_short(cut: int) -> None:
    records, problem = parse_file(FILE_HEADER + GOOD + GOOD[:cut])
    assert len(records) == 1
    assert problem is not None
    assert problem.offset == 4 + len(GOOD)


def test_what_is_not_a_binlog() -> None:
    assert parse_file(b"") == ([], None)
    _, problem = parse_file(b"\x05\0\0\0")
    assert problem is not None
    assert problem.reason == "unknown binlog version 5"
    _, problem = parse_file(FILE_HEADER + bytes(84) + b"junk")
    assert problem is not None
    assert problem.reason == "record with job id 0"
