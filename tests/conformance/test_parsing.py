"""How request lines are cut, matched and parsed: lengths, prefixes, numbers."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from .wire import Wire, first_to_receive


def test_line_of_224_bytes_is_accepted(wire: Wire) -> None:
    name = b"t" * 200
    line = b"use " + name + b"\r\n"
    wire.ask(line, b"USING " + name + b"\r\n")
    # 224 bytes including CRLF: the longest line the server reads.
    long_line = b"stats-tube " + name + b"x" * 11 + b"\r\n"
    assert len(long_line) == 224
    wire.ask(long_line, b"BAD_FORMAT\r\n")
    wire.ask(b"list-tube-used\r\n", b"USING " + name + b"\r\n")


def test_line_of_225_bytes_eats_the_next_command(wire: Wire) -> None:
    # The CR is the 224th byte, the buffer's last: the line is thrown away, and so is
    # everything up to the next CRLF, which ends the *following* command.
    wire.ask(b"A" * 223 + b"\r\nstats\r\nlist-tube-used\r\n", b"BAD_FORMAT\r\nUSING default\r\n")


def test_line_of_226_bytes_is_bad_format(wire: Wire) -> None:
    wire.ask(b"A" * 224 + b"\r\nlist-tube-used\r\n", b"BAD_FORMAT\r\nUSING default\r\n")


def test_very_long_line_is_one_bad_format(wire: Wire) -> None:
    wire.ask(b"B" * 10_000 + b"\r\nlist-tube-used\r\n", b"BAD_FORMAT\r\nUSING default\r\n")


def test_long_line_in_pieces(wire: Wire) -> None:
    wire.send(b"C" * 300)
    wire.expect_silence(0.1)
    wire.send(b"C" * 300)
    wire.expect_silence(0.1)
    wire.ask(b"\r\nlist-tube-used\r\n", b"BAD_FORMAT\r\nUSING default\r\n")


def test_bare_cr_stalls_the_line_until_the_buffer_fills(wire: Wire) -> None:
    wire.send(b"a\rb\r\n")
    wire.expect_silence(0.2)
    # 224 bytes without a usable line end are dropped, then up to the next CRLF.
    wire.send(b"x" * 220)
    wire.expect_silence(0.1)
    wire.ask(b"\r\nlist-tube-used\r\n", b"BAD_FORMAT\r\nUSING default\r\n")


def test_bare_lf_is_part_of_the_line(wire: Wire) -> None:
    wire.ask(b"list-tube-used\n\r\n", b"BAD_FORMAT\r\n")


def test_nul_byte_is_bad_format(wire: Wire) -> None:
    wire.ask(b"use a\x00b\r\n", b"BAD_FORMAT\r\n")
    wire.ask(b"\x00\r\n", b"BAD_FORMAT\r\n")
    wire.ask(b"nonsense\x00\r\n", b"BAD_FORMAT\r\n")


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b" ",
        b"PUT 0 0 1 0",
        b"Stats",
        b"  stats",
        b"use",
        b"put",
        b"kick",
        b"peek",
        b"touch",
        b"delete",
        b"release",
        b"bury",
        b"watch",
        b"ignore",
        b"quiet",
        b"list",
        b"pause",
        b"\xff\xfe",
    ],
)
def test_unknown_command(wire: Wire, line: bytes) -> None:
    wire.ask(line + b"\r\n", b"UNKNOWN_COMMAND\r\n")


@pytest.mark.parametrize(
    "line",
    [
        b"stats ",
        b"statsx",
        b"stats-job",
        b"stats-jobs 1",
        b"list-tubes ",
        b"list-tubesx",
        b"list-tube-used ",
        b"list-tubes-watched ",
        b"peek-ready ",
        b"peek-readyx",
        b"peek-delayed ",
        b"peek-buried ",
        b"reserve ",
        b"reservex",
        b"reserve-job",
        b"reserve-with-timeout",
        b"pause-tube",
        b"pause-tube ",
        b"pause-tube x",
        b"stats-tub default",
    ],
)
def test_prefix_match_then_bad_format(wire: Wire, line: bytes) -> None:
    wire.ask(line + b"\r\n", b"BAD_FORMAT\r\n")


def test_quit_matches_by_prefix(wire: Wire) -> None:
    wire.send(b"quitter\r\n")
    wire.expect_closed()


def test_quit_drops_everything_after_it(wire: Wire) -> None:
    wire.send(b"list-tube-used\r\nquit\r\nlist-tube-used\r\n")
    wire.expect(b"USING default\r\n")
    wire.expect_closed()


def test_pause_tube_needs_no_space_after_the_name(wire: Wire) -> None:
    wire.ask(b"pause-tubedefault 0\r\n", b"PAUSED\r\n")


@pytest.mark.parametrize(
    "command", [b"peek", b"delete", b"touch", b"kick-job", b"stats-job", b"reserve-job"]
)
@pytest.mark.parametrize(
    ("argument", "reply"),
    [
        (b"18446744073709551615", b"NOT_FOUND\r\n"),
        (b"  5", b"NOT_FOUND\r\n"),
        (b"0005", b"NOT_FOUND\r\n"),
        (b"18446744073709551616", b"BAD_FORMAT\r\n"),
        (b"-1", b"BAD_FORMAT\r\n"),
        (b"+1", b"BAD_FORMAT\r\n"),
        (b"0x1", b"BAD_FORMAT\r\n"),
        (b"1 ", b"BAD_FORMAT\r\n"),
        (b"1 2", b"BAD_FORMAT\r\n"),
        (b"", b"BAD_FORMAT\r\n"),
        (b"\t1", b"BAD_FORMAT\r\n"),
    ],
)
def test_job_id_parsing(wire: Wire, command: bytes, argument: bytes, reply: bytes) -> None:
    wire.ask(command + b" " + argument + b"\r\n", reply)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"release 1 2 3", b"NOT_FOUND\r\n"),
        (b"release  1  2  3", b"NOT_FOUND\r\n"),
        (b"release 1 4294967295 4294967295", b"NOT_FOUND\r\n"),
        (b"release 1 4294967296 0", b"BAD_FORMAT\r\n"),
        (b"release 1 0 4294967296", b"BAD_FORMAT\r\n"),
        (b"release 1 2", b"BAD_FORMAT\r\n"),
        (b"release 1 2 3 ", b"BAD_FORMAT\r\n"),
        (b"release 1 -2 3", b"BAD_FORMAT\r\n"),
        (b"bury 1 2", b"NOT_FOUND\r\n"),
        (b"bury 1", b"BAD_FORMAT\r\n"),
        (b"bury 1 4294967296", b"BAD_FORMAT\r\n"),
        (b"bury 1 2 ", b"BAD_FORMAT\r\n"),
    ],
)
def test_release_and_bury_parsing(wire: Wire, line: bytes, reply: bytes) -> None:
    wire.ask(line + b"\r\n", reply)


@pytest.mark.parametrize(
    ("argument", "reply"),
    [
        (b"0", b"KICKED 0\r\n"),
        (b"5abc", b"KICKED 0\r\n"),
        (b"-1", b"KICKED 0\r\n"),
        (b"  3", b"KICKED 0\r\n"),
        (b"\t3", b"KICKED 0\r\n"),
        (b"+3", b"KICKED 0\r\n"),
        (b"18446744073709551615", b"KICKED 0\r\n"),
        (b"18446744073709551616", b"BAD_FORMAT\r\n"),
        (b"abc", b"BAD_FORMAT\r\n"),
        (b"", b"BAD_FORMAT\r\n"),
        (b"-", b"BAD_FORMAT\r\n"),
    ],
)
def test_kick_parses_loosely(wire: Wire, argument: bytes, reply: bytes) -> None:
    wire.ask(b"kick " + argument + b"\r\n", reply)


@pytest.mark.parametrize(
    ("argument", "reply"),
    [
        (b"0", b"TIMED_OUT\r\n"),
        (b"abc", b"TIMED_OUT\r\n"),
        (b"", b"TIMED_OUT\r\n"),
        (b"0junk", b"TIMED_OUT\r\n"),
        (b"4294967296", b"TIMED_OUT\r\n"),  # truncated to a C int: 0
        (b"9223372036854775808", b"BAD_FORMAT\r\n"),  # overflows a C long
        (b"-9223372036854775809", b"BAD_FORMAT\r\n"),
    ],
)
def test_reserve_with_timeout_parses_like_strtol(wire: Wire, argument: bytes, reply: bytes) -> None:
    wire.ask(b"reserve-with-timeout " + argument + b"\r\n", reply)


def test_negative_reserve_timeout_waits_forever(connect: Callable[[], Wire]) -> None:
    # These all become a negative C int, which means "no timeout".
    waiters = []
    for argument in (b"-1", b"-3", b"4294967295", b"2147483648"):
        waiter = connect()
        waiter.send(b"reserve-with-timeout " + argument + b"\r\n")
        waiters.append(waiter)
    waiters[0].expect_silence(1.2)
    for waiter in waiters[1:]:
        waiter.expect_silence(0)
    producer = connect()
    producer.ask(b"put 0 0 10 1\r\nx\r\n", b"INSERTED 1\r\n")
    first_to_receive(waiters, b"RESERVED 1 1\r\nx\r\n")


def test_reserve_with_timeout_accepts_sign_and_whitespace(wire: Wire) -> None:
    wire.send(b"reserve-with-timeout \t+1 and junk\r\n")
    wire.expect_silence(0.5)
    wire.expect(b"TIMED_OUT\r\n", timeout=3)


def test_pipelined_commands_are_answered_in_order(wire: Wire) -> None:
    wire.ask(
        b"use a\r\nput 1 0 10 1\r\nx\r\nlist-tube-used\r\nbogus\r\npeek 1\r\nuse b\r\n",
        b"USING a\r\nINSERTED 1\r\nUSING a\r\nUNKNOWN_COMMAND\r\nFOUND 1 1\r\nx\r\nUSING b\r\n",
    )


def test_command_split_byte_by_byte(wire: Wire) -> None:
    for byte in b"put 0 0 10 2\r\nhi\r\n":
        wire.send(bytes([byte]))
    wire.expect(b"INSERTED 1\r\n")
