"""put: replies, body framing, size limits and the ways a client falls out of step."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .conftest import Target
from .wire import Wire


def test_put_returns_increasing_ids(wire: Wire) -> None:
    wire.ask(b"put 0 0 10 5\r\nhello\r\n", b"INSERTED 1\r\n")
    wire.ask(b"put 0 0 10 5\r\nworld\r\n", b"INSERTED 2\r\n")


def test_put_empty_body(wire: Wire) -> None:
    wire.ask(b"put 0 0 10 0\r\n\r\n", b"INSERTED 1\r\n")
    wire.ask(b"peek 1\r\n", b"FOUND 1 0\r\n\r\n")


def test_body_may_hold_any_bytes_including_crlf(wire: Wire) -> None:
    body = bytes(range(256)) + b"\r\nput 0 0 1 1\r\n"
    wire.ask(b"put 0 0 10 %d\r\n%s\r\n" % (len(body), body), b"INSERTED 1\r\n")
    wire.ask(b"peek 1\r\n", b"FOUND 1 %d\r\n%s\r\n" % (len(body), body))


def test_header_and_body_in_separate_packets(wire: Wire) -> None:
    wire.send(b"put 0 0 10 4\r\n")
    wire.expect_silence(0.1)
    wire.send(b"ab")
    wire.expect_silence(0.1)
    wire.ask(b"cd\r\n", b"INSERTED 1\r\n")
    wire.ask(b"peek 1\r\n", b"FOUND 1 4\r\nabcd\r\n")


def test_many_puts_in_one_packet(wire: Wire) -> None:
    wire.ask(b"put 0 0 10 1\r\na\r\n" * 50, b"".join(b"INSERTED %d\r\n" % i for i in range(1, 51)))


def test_numbers_accept_extra_spaces_and_leading_zeros(wire: Wire) -> None:
    wire.ask(b"put  00  0   0  0\r\n\r\n", b"INSERTED 1\r\n")


def test_limits_are_u32(wire: Wire) -> None:
    wire.ask(b"put 4294967295 4294967295 4294967295 0\r\n\r\n", b"INSERTED 1\r\n")
    _, body = wire.reply(b"stats-job 1\r\n")
    assert b"\npri: 4294967295\n" in body
    assert b"\ndelay: 4294967295\n" in body
    assert b"\nttr: 4294967295\n" in body


@pytest.mark.parametrize(
    "header",
    [
        b"put 4294967296 0 10 1",
        b"put 0 4294967296 10 1",
        b"put 0 0 4294967296 1",
        b"put 0 0 10 4294967296",
        b"put 0 0 10 99999999999999999999999",
        b"put -1 0 10 1",
        b"put +1 0 10 1",
        b"put 0 0 10",
        b"put 0 0 10 1 ",
        b"put 0 0 10 1x",
        b"put 0x1 0 10 1",
        b"put 1.5 0 10 1",
        b"put 0\t0 10 1",
        b"put",
    ],
)
def test_bad_format_does_not_consume_the_body(wire: Wire, header: bytes) -> None:
    # The body is then read as a command: "a" is unknown.
    expected = b"BAD_FORMAT\r\n" if header != b"put" else b"UNKNOWN_COMMAND\r\n"
    wire.ask(header + b"\r\na\r\n", expected + b"UNKNOWN_COMMAND\r\n")
    wire.ask(b"put 0 0 10 1\r\nb\r\n", b"INSERTED 1\r\n")


def test_ttr_below_one_second_becomes_one(wire: Wire) -> None:
    wire.ask(b"put 0 0 0 1\r\na\r\n", b"INSERTED 1\r\n")
    _, body = wire.reply(b"stats-job 1\r\n")
    assert b"\nttr: 1\n" in body


def test_expected_crlf_reads_exactly_size_plus_two(wire: Wire) -> None:
    # "ab" + "cX" are the body and its bad trailer; "\r\n" is then an empty command.
    wire.ask(b"put 0 0 10 2\r\nabcX\r\n", b"EXPECTED_CRLF\r\nUNKNOWN_COMMAND\r\n")


def test_expected_crlf_leftover_is_read_as_commands(wire: Wire) -> None:
    wire.ask(
        b"put 0 0 10 2\r\nabc\r\nput 0 0 10 1\r\nx\r\n",
        b"EXPECTED_CRLF\r\nUNKNOWN_COMMAND\r\nUNKNOWN_COMMAND\r\n",
    )


def test_failed_put_still_uses_up_an_id(wire: Wire) -> None:
    wire.ask(b"put 0 0 10 1\r\na\r\n", b"INSERTED 1\r\n")
    wire.ask(b"put 0 0 10 1\r\nabc", b"EXPECTED_CRLF\r\n")
    wire.ask(b"put 0 0 10 1\r\na\r\n", b"INSERTED 3\r\n")
    wire.ask(b"peek 2\r\n", b"NOT_FOUND\r\n")


def test_largest_default_body_is_accepted(wire: Wire) -> None:
    body = b"x" * 65535
    wire.ask(b"put 0 0 10 65535\r\n" + body + b"\r\n", b"INSERTED 1\r\n")
    wire.ask(b"peek 1\r\n", b"FOUND 1 65535\r\n" + body + b"\r\n", timeout=5)


def test_job_too_big_comes_after_the_body_is_skipped(wire: Wire) -> None:
    wire.send(b"put 0 0 10 65536\r\n")
    wire.send(b"x" * 65536)
    wire.expect_silence(0.2)  # still waiting for the trailer
    wire.ask(b"\r\n", b"JOB_TOO_BIG\r\n")
    wire.ask(b"put 0 0 10 1\r\na\r\n", b"INSERTED 1\r\n")


def test_job_too_big_skips_whatever_bytes_come(wire: Wire) -> None:
    # No trailer check: exactly size + 2 bytes are thrown away.
    wire.ask(
        b"put 0 0 10 65536\r\n" + b"y" * 65538 + b"list-tube-used\r\n",
        b"JOB_TOO_BIG\r\nUSING default\r\n",
    )


def test_job_too_big_is_checked_before_trailing_text(wire: Wire) -> None:
    wire.ask(b"put 0 0 10 65536 junk\r\n" + b"z" * 65538, b"JOB_TOO_BIG\r\n")
    wire.ask(b"put 0 0 10 1 junk\r\na\r\n", b"BAD_FORMAT\r\nUNKNOWN_COMMAND\r\n")


def test_max_job_size_flag(start_server: Callable[..., Target]) -> None:
    target = start_server(["-z", "10"])
    with Wire(target.address) as wire:
        wire.ask(b"put 0 0 10 10\r\n0123456789\r\n", b"INSERTED 1\r\n")
        wire.ask(b"put 0 0 10 11\r\n01234567890\r\n", b"JOB_TOO_BIG\r\n")
        assert wire.stats()["max-job-size"] == "10"


def test_max_job_size_zero(start_server: Callable[..., Target]) -> None:
    target = start_server(["-z", "0"])
    with Wire(target.address) as wire:
        wire.ask(b"put 0 0 10 0\r\n\r\n", b"INSERTED 1\r\n")
        wire.ask(b"put 0 0 10 1\r\na\r\n", b"JOB_TOO_BIG\r\n")


def test_job_too_big_counts_as_put_but_not_as_job(wire: Wire) -> None:
    wire.ask(b"put 0 0 10 65536\r\n" + b"y" * 65538, b"JOB_TOO_BIG\r\n")
    stats = wire.stats()
    assert stats["cmd-put"] == "1"
    assert stats["total-jobs"] == "0"
    assert stats["current-producers"] == "0"


def test_put_uses_the_used_tube(wire: Wire) -> None:
    wire.ask(b"use jobs\r\n", b"USING jobs\r\n")
    wire.ask(b"put 0 0 10 1\r\na\r\n", b"INSERTED 1\r\n")
    _, body = wire.reply(b"stats-job 1\r\n")
    assert b"\ntube: jobs\n" in body


def test_draining_reads_the_body_then_refuses(server: Target, wire: Wire) -> None:
    wire.ask(b"put 0 0 10 1\r\na\r\n", b"INSERTED 1\r\n")
    server.enter_drain_mode()
    wire.ask(b"put 0 0 10 1\r\nb\r\n", b"DRAINING\r\n")
    # The body was consumed, other commands still work, and the id was used up.
    wire.ask(b"peek 1\r\n", b"FOUND 1 1\r\na\r\n")
    wire.ask(b"put 0 0 10 1\r\nbcd", b"EXPECTED_CRLF\r\n")  # trailer is checked first
    stats = wire.stats()
    assert stats["draining"] == "true"
    assert stats["total-jobs"] == "1"


def test_incoming_job_is_visible_but_invalid(connect: Callable[[], Wire]) -> None:
    producer, other = connect(), connect()
    producer.send(b"put 5 0 10 4\r\nab")
    producer.expect_silence(0.1)
    _, body = other.reply(b"stats-job 1\r\n")
    assert b"\nstate: invalid\n" in body
    assert b"\npri: 5\n" in body
    other.ask(b"delete 1\r\n", b"NOT_FOUND\r\n")
    other.ask(b"reserve-job 1\r\n", b"NOT_FOUND\r\n")
    other.ask(b"kick-job 1\r\n", b"NOT_FOUND\r\n")
    other.send(b"peek 1\r\n")
    other.expect(b"FOUND 1 4\r\n")
    assert len(other.recv_exact(6)) == 6  # whatever has arrived so far, then filler
    producer.ask(b"cd\r\n", b"INSERTED 1\r\n")
    other.ask(b"peek 1\r\n", b"FOUND 1 4\r\nabcd\r\n")


def test_large_body_in_many_packets(start_server: Callable[..., Target]) -> None:
    target = start_server(["-z", "2000000"])
    body = bytes(range(256)) * 6000  # 1.5 MB
    with Wire(target.address) as wire:
        wire.send(b"put 0 0 10 %d\r\n" % len(body))
        for start in range(0, len(body), 100_000):
            wire.send(body[start : start + 100_000])
        wire.ask(b"\r\n", b"INSERTED 1\r\n")
        wire.ask(b"reserve\r\n", b"RESERVED 1 %d\r\n%s\r\n" % (len(body), body), timeout=10)


def test_max_job_size_is_capped_at_one_gigabyte(start_server: Callable[..., Target]) -> None:
    target = start_server(["-z", "2000000000"])
    with Wire(target.address) as wire:
        assert wire.stats()["max-job-size"] == "1073741824"
