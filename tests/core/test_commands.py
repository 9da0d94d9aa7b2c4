"""The command table: every beanstalkd 1.12 command, its exact bytes, and its validation.

Nothing here opens a socket: ``Command.encode`` is pure, so every rule is checked on
the bytes it returns (or on the exception it raises instead of returning any).
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beanstalkm import BeanstalkmException, InvalidArgument
from beanstalkm import constants as C
from beanstalkm.commands import COMMANDS, check_tube, encode_body, load_commands
from beanstalkm.protocol import ClientProtocol

# The command words of beanstalkd 1.12 (doc/protocol.txt), written out here rather
# than read from api.json so that a command dropped from the table is noticed.
BEANSTALKD_1_12 = {
    "put",
    "use",
    "reserve",
    "reserve-with-timeout",
    "reserve-job",
    "delete",
    "release",
    "bury",
    "touch",
    "watch",
    "ignore",
    "peek",
    "peek-ready",
    "peek-delayed",
    "peek-buried",
    "kick",
    "kick-job",
    "stats-job",
    "stats-tube",
    "stats",
    "list-tubes",
    "list-tube-used",
    "list-tubes-watched",
    "pause-tube",
}

TUBE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-+/;.$_()"
SETTINGS = settings(max_examples=300, deadline=None)


class Priority(enum.IntEnum):
    HIGH = 0
    LOW = 2**32 - 1


class MyInt(int):
    pass


# A valid argument for each kind of parameter, to build a full call around the one
# argument a test varies.
VALID_BY_KIND: dict[str, object] = {
    "u32": 5,
    "id": 7,
    "timeout": 3,
    "tube": "t",
    "body": b"x",
}


def valid_args(name: str) -> list[object]:
    return [VALID_BY_KIND[p.kind] for p in COMMANDS[name].params]


def params_of_kind(*kinds: str) -> list[Any]:
    """(command, index) of every parameter of these kinds, as pytest params with ids."""
    return [
        pytest.param(name, i, id=f"{name}.{p.name}")
        for name, command in COMMANDS.items()
        for i, p in enumerate(command.params)
        if p.kind in kinds
    ]


def encode_with(name: str, index: int, value: object) -> bytes:
    args = valid_args(name)
    args[index] = value
    return COMMANDS[name].encode(args)


def line_word(out: bytes, name: str, index: int) -> bytes:
    """The word of the request line that carries parameter ``index``."""
    words = out.partition(b"\r\n")[0].split(b" ")
    # A body is not on the line (its length is, last), so it shifts nothing before it.
    before = sum(p.kind != "body" for p in COMMANDS[name].params[:index])
    return words[1 + before]


# -- the table --


def test_every_1_12_command_is_in_the_table() -> None:
    assert {c.wire for c in COMMANDS.values()} == BEANSTALKD_1_12


def test_method_names_are_unique_per_wire_word() -> None:
    wires = [c.wire for c in COMMANDS.values()]
    assert len(wires) == len(set(wires))


# Parameter names and kinds, written out so that the parametrized validation tests
# below (which walk the table) cannot lose a parameter silently.
@pytest.mark.parametrize(
    ("wire", "params"),
    [
        ("put", "body:body priority:u32 delay:u32 ttr:u32"),
        ("use", "tube:tube"),
        ("reserve", ""),
        ("reserve-with-timeout", "seconds:timeout"),
        ("reserve-job", "id:id"),
        ("delete", "id:id"),
        ("release", "id:id priority:u32 delay:u32"),
        ("bury", "id:id priority:u32"),
        ("touch", "id:id"),
        ("watch", "tube:tube"),
        ("ignore", "tube:tube"),
        ("peek", "id:id"),
        ("peek-ready", ""),
        ("peek-delayed", ""),
        ("peek-buried", ""),
        ("kick", "bound:u32"),
        ("kick-job", "id:id"),
        ("stats-job", "id:id"),
        ("stats-tube", "tube:tube"),
        ("stats", ""),
        ("list-tubes", ""),
        ("list-tube-used", ""),
        ("list-tubes-watched", ""),
        ("pause-tube", "tube:tube delay:u32"),
    ],
)
def test_parameters_in_wire_order(wire: str, params: str) -> None:
    (command,) = [c for c in COMMANDS.values() if c.wire == wire]
    assert " ".join(f"{p.name}:{p.kind}" for p in command.params) == params


def test_defaults_are_the_documented_constants() -> None:
    put = {p.name: p for p in COMMANDS["put"].params}
    assert put["body"].required
    assert put["priority"].default == C.DEFAULT_PRIORITY == 2**31
    assert put["delay"].default == C.DEFAULT_DELAY == 0
    assert put["ttr"].default == C.DEFAULT_TTR
    release = {p.name: p for p in COMMANDS["release"].params}
    assert release["id"].required
    assert release["priority"].default == C.DEFAULT_PRIORITY
    assert release["delay"].default == C.DEFAULT_DELAY


def test_blocking_reserving_and_session_flags() -> None:
    assert {n for n, c in COMMANDS.items() if c.blocking} == {"reserve", "reserve_with_timeout"}
    assert {n for n, c in COMMANDS.items() if c.reserves} == {
        "reserve",
        "reserve_with_timeout",
        "reserve_job",
    }
    assert {n: c.session for n, c in COMMANDS.items() if c.session} == {
        "use": "use",
        "watch": "watch",
        "ignore": "ignore",
    }


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_accepts_the_universal_errors(name: str) -> None:
    universal = {b"OUT_OF_MEMORY", b"INTERNAL_ERROR", b"BAD_FORMAT", b"UNKNOWN_COMMAND"}
    assert universal <= COMMANDS[name].errors


# -- exact bytes --

ENCODINGS = [
    ("put", (b"hello", 100, 0, 30), b"put 100 0 30 5\r\nhello\r\n"),
    ("put", (b"", 0, 0, 1), b"put 0 0 1 0\r\n\r\n"),
    (
        "put",
        (b"x", 2**32 - 1, 2**32 - 1, 2**32 - 1),
        b"put 4294967295 4294967295 4294967295 1\r\nx\r\n",
    ),
    # A body may hold CRLF and anything that looks like a command: only its length counts.
    ("put", (b"a\r\nput 0 0 1 1\r\nb", 1, 2, 3), b"put 1 2 3 17\r\na\r\nput 0 0 1 1\r\nb\r\n"),
    ("put", ("h\u00e9llo", 1, 2, 3), b"put 1 2 3 6\r\nh\xc3\xa9llo\r\n"),
    ("put", ("\u20ac", 1, 2, 3), b"put 1 2 3 3\r\n\xe2\x82\xac\r\n"),
    ("put", ("", 1, 2, 3), b"put 1 2 3 0\r\n\r\n"),
    ("put", (bytearray(b"abc"), 1, 2, 3), b"put 1 2 3 3\r\nabc\r\n"),
    ("put", (memoryview(b"abcd"), 1, 2, 3), b"put 1 2 3 4\r\nabcd\r\n"),
    ("put", (memoryview(b"abcdef")[1:3], 1, 2, 3), b"put 1 2 3 2\r\nbc\r\n"),
    ("put", (b"\x00\xff\r\n", 1, 2, 3), b"put 1 2 3 4\r\n\x00\xff\r\n\r\n"),
    ("use", ("jobs.v1",), b"use jobs.v1\r\n"),
    ("use", (b"jobs",), b"use jobs\r\n"),
    ("use", (bytearray(b"jobs"),), b"use jobs\r\n"),
    ("reserve", (), b"reserve\r\n"),
    ("reserve_with_timeout", (0,), b"reserve-with-timeout 0\r\n"),
    ("reserve_with_timeout", (2**31 - 1,), b"reserve-with-timeout 2147483647\r\n"),
    ("reserve_job", (1,), b"reserve-job 1\r\n"),
    ("reserve_job", (2**64 - 1,), b"reserve-job 18446744073709551615\r\n"),
    ("delete", (42,), b"delete 42\r\n"),
    ("release", (42, 10, 5), b"release 42 10 5\r\n"),
    ("bury", (42, 7), b"bury 42 7\r\n"),
    ("touch", (42,), b"touch 42\r\n"),
    ("watch", ("jobs",), b"watch jobs\r\n"),
    ("ignore", ("default",), b"ignore default\r\n"),
    ("peek", (3,), b"peek 3\r\n"),
    ("peek_ready", (), b"peek-ready\r\n"),
    ("peek_delayed", (), b"peek-delayed\r\n"),
    ("peek_buried", (), b"peek-buried\r\n"),
    ("kick", (0,), b"kick 0\r\n"),
    ("kick", (10,), b"kick 10\r\n"),
    ("kick_job", (5,), b"kick-job 5\r\n"),
    ("stats_job", (5,), b"stats-job 5\r\n"),
    ("stats_tube", ("default",), b"stats-tube default\r\n"),
    ("stats", (), b"stats\r\n"),
    ("list_tubes", (), b"list-tubes\r\n"),
    ("using", (), b"list-tube-used\r\n"),
    ("watching", (), b"list-tubes-watched\r\n"),
    # The tube once went out twice ("pause-tube jobs jobs 30").
    ("pause_tube", ("jobs", 30), b"pause-tube jobs 30\r\n"),
    ("pause_tube", ("jobs", 0), b"pause-tube jobs 0\r\n"),
    # Priority and friends are ints of any subclass, written as plain decimals.
    ("put", (b"x", Priority.LOW, MyInt(2), MyInt(3)), b"put 4294967295 2 3 1\r\nx\r\n"),
    ("release", (MyInt(9), Priority.HIGH, MyInt(0)), b"release 9 0 0\r\n"),
]


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [pytest.param(n, a, e, id=f"{i}-{n}") for i, (n, a, e) in enumerate(ENCODINGS)],
)
def test_exact_bytes(name: str, args: tuple[object, ...], expected: bytes) -> None:
    assert COMMANDS[name].encode(args) == expected


def test_every_command_has_an_exact_bytes_case() -> None:
    assert {name for name, _, _ in ENCODINGS} == set(COMMANDS)


def test_longest_request_line_fits_the_server_limit() -> None:
    line = COMMANDS["pause_tube"].encode(("t" * 200, 2**32 - 1))
    assert line == b"pause-tube " + b"t" * 200 + b" 4294967295\r\n"
    assert len(line) == C.MAX_LINE_BYTES


def test_multibyte_str_body_length_is_in_bytes() -> None:
    body = "\U0001f600" * 3  # 3 characters, 12 bytes of UTF-8
    out = COMMANDS["put"].encode((body, 0, 0, 1))
    assert out == b"put 0 0 1 12\r\n" + body.encode("utf-8") + b"\r\n"


def test_memoryview_of_wider_items_is_sent_as_its_bytes() -> None:
    view = memoryview(b"\x01\x00\x02\x00").cast("H")
    assert len(view) == 2
    assert COMMANDS["put"].encode((view, 0, 0, 1)) == b"put 0 0 1 4\r\n\x01\x00\x02\x00\r\n"


def test_non_contiguous_memoryview_body() -> None:
    view = memoryview(b"abcdef")[::2]
    assert COMMANDS["put"].encode((view, 0, 0, 1)) == b"put 0 0 1 3\r\nace\r\n"


def test_strided_memoryview_of_wider_items() -> None:
    view = memoryview(b"\x01\x00\x02\x00\x03\x00").cast("H")[::2]
    try:
        out = COMMANDS["put"].encode((view, 0, 0, 1))
    except InvalidArgument:
        return  # refusing it is fine too; a TypeError from deep inside is not
    assert out == b"put 0 0 1 4\r\n\x01\x00\x03\x00\r\n"


def test_encode_body_and_check_tube_directly() -> None:
    assert encode_body("\u00e9") == b"\xc3\xa9"
    assert encode_body(b"x") == b"x"
    assert check_tube("jobs") == b"jobs"
    assert check_tube(b"jobs") == b"jobs"
    # Checked twice so a cached name gives the same answer as a fresh one.
    assert check_tube("jobs") == b"jobs"


# -- validation: tubes --

VALID_TUBES = [
    "123",
    "true",
    "null",
    "a-b",
    "a-",
    "$x",
    "(y)",
    "+",
    "/",
    ";",
    ".",
    "_",
    "x" * 200,
    TUBE_CHARS,
]
INVALID_TUBES: list[Any] = [
    pytest.param("", id="empty"),
    pytest.param("x" * 201, id="201-bytes"),
    pytest.param(" ", id="space"),
    pytest.param("a b", id="inner-space"),
    pytest.param("a\r", id="CR"),
    pytest.param("a\n", id="LF"),
    pytest.param("a\r\nstats", id="CRLF-command"),
    pytest.param("a\t", id="tab"),
    pytest.param("a\x00", id="NUL"),
    pytest.param("*", id="star"),
    pytest.param("a*", id="inner-star"),
    pytest.param("a,b", id="comma"),
    pytest.param("a:b", id="colon"),
    pytest.param("a#b", id="hash"),
    pytest.param('a"b', id="quote"),
    pytest.param("\u00e9", id="non-ASCII"),
    pytest.param("\uff41", id="fullwidth-a"),
    pytest.param("\u0661", id="arabic-digit"),
    pytest.param("-", id="dash"),
    pytest.param("-a", id="leading-dash"),
    pytest.param(b"", id="bytes-empty"),
    pytest.param(b"a b", id="bytes-space"),
    pytest.param(b"\xff", id="bytes-non-ASCII"),
    pytest.param(b"-a", id="bytes-leading-dash"),
    pytest.param(None, id="None"),
    pytest.param(5, id="int"),
    pytest.param(["a"], id="list"),
    pytest.param(memoryview(b"a"), id="memoryview"),
]


@pytest.mark.parametrize(("name", "index"), params_of_kind("tube"))
@pytest.mark.parametrize("tube", VALID_TUBES)
def test_valid_tube_names(name: str, index: int, tube: str) -> None:
    assert line_word(encode_with(name, index, tube), name, index) == tube.encode()


@pytest.mark.parametrize(("name", "index"), params_of_kind("tube"))
@pytest.mark.parametrize("tube", INVALID_TUBES)
def test_invalid_tube_names(name: str, index: int, tube: object) -> None:
    with pytest.raises(InvalidArgument):
        encode_with(name, index, tube)


def test_invalid_argument_is_a_value_error_and_a_beanstalkm_exception() -> None:
    with pytest.raises(InvalidArgument) as info:
        COMMANDS["use"].encode(("a b",))
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, BeanstalkmException)


def test_tube_error_message_names_the_parameter() -> None:
    with pytest.raises(InvalidArgument, match="tube"):
        COMMANDS["watch"].encode(("a b",))


# -- validation: numbers --

BAD_NUMBERS: list[Any] = [
    pytest.param(True, id="True"),
    pytest.param(False, id="False"),
    pytest.param(1.5, id="float"),
    pytest.param(5.0, id="integral-float"),
    pytest.param("5", id="str"),
    pytest.param(b"5", id="bytes"),
    pytest.param(None, id="None"),
    pytest.param([5], id="list"),
]


@pytest.mark.parametrize(("name", "index"), params_of_kind("u32"))
@pytest.mark.parametrize("value", [0, 1, 2**31, 2**32 - 1, Priority.LOW, MyInt(7)])
def test_u32_in_range_accepted(name: str, index: int, value: int) -> None:
    assert line_word(encode_with(name, index, value), name, index) == b"%d" % int(value)


@pytest.mark.parametrize(("name", "index"), params_of_kind("u32"))
@pytest.mark.parametrize("value", [-1, 2**32, 2**64, MyInt(-1), *BAD_NUMBERS])
def test_u32_rejected(name: str, index: int, value: object) -> None:
    with pytest.raises(InvalidArgument):
        encode_with(name, index, value)


@pytest.mark.parametrize(("name", "index"), params_of_kind("id"))
@pytest.mark.parametrize("value", [1, 2**32, 2**64 - 1, MyInt(3)])
def test_id_in_range_accepted(name: str, index: int, value: int) -> None:
    assert line_word(encode_with(name, index, value), name, index) == b"%d" % value


@pytest.mark.parametrize(("name", "index"), params_of_kind("id"))
@pytest.mark.parametrize("value", [0, -1, 2**64, MyInt(0), *BAD_NUMBERS])
def test_id_rejected(name: str, index: int, value: object) -> None:
    with pytest.raises(InvalidArgument):
        encode_with(name, index, value)


@pytest.mark.parametrize("value", [0, 1, 2**31 - 1])
def test_reserve_timeout_in_range_accepted(value: int) -> None:
    assert COMMANDS["reserve_with_timeout"].encode((value,)) == (
        b"reserve-with-timeout %d\r\n" % value
    )


@pytest.mark.parametrize("value", [-1, 2**31, 2**32 - 1, *BAD_NUMBERS])
def test_reserve_timeout_rejected(value: object) -> None:
    with pytest.raises(InvalidArgument):
        COMMANDS["reserve_with_timeout"].encode((value,))


@pytest.mark.parametrize("value", [-1, -(2**32)])
def test_kick_bound_must_not_be_negative(value: int) -> None:
    # beanstalkd reads "kick -1" as kick everything: the client must refuse it.
    with pytest.raises(InvalidArgument):
        COMMANDS["kick"].encode((value,))


def test_int_enum_out_of_range_rejected() -> None:
    class Big(enum.IntEnum):
        TOO_BIG = 2**32

    with pytest.raises(InvalidArgument):
        COMMANDS["kick"].encode((Big.TOO_BIG,))


# -- validation: bodies and argument counts --


@pytest.mark.parametrize("body", [None, 5, 1.5, ["a"], {"a": 1}, object()])
def test_put_body_must_be_bytes_or_str(body: object) -> None:
    with pytest.raises(InvalidArgument):
        COMMANDS["put"].encode((body, 0, 0, 1))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_wrong_argument_count_is_a_type_error(name: str) -> None:
    args = valid_args(name)
    with pytest.raises(TypeError):
        COMMANDS[name].encode([*args, 1])
    if args:
        with pytest.raises(TypeError):
            COMMANDS[name].encode(args[:-1])


def test_put_defaults_are_not_filled_in_by_encode() -> None:
    # Defaults belong to the caller (Connection); encode takes every argument.
    with pytest.raises(TypeError):
        COMMANDS["put"].encode((b"x",))


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("put", (b"x", -1, 0, 1)),
        ("put", (None, 0, 0, 1)),
        ("put", (b"x", 0, 0)),
        ("use", ("a b",)),
        ("pause_tube", ("jobs", -1)),
        ("delete", (0,)),
    ],
)
def test_a_bad_request_is_never_expected(name: str, args: tuple[object, ...]) -> None:
    proto = ClientProtocol()
    with pytest.raises((InvalidArgument, TypeError)):
        proto.send(COMMANDS[name], args)
    assert proto.in_flight == 0
    # The protocol is still usable, and the next reply goes to the next request.
    assert proto.send(COMMANDS["delete"], (1,)) == b"delete 1\r\n"
    proto.receive_data(b"DELETED\r\n")
    assert proto.next_result() is None


# -- injection --

TUBE_COMMANDS = params_of_kind("tube")
INT_COMMANDS = params_of_kind("u32", "id", "timeout")
SEPARATORS = re.compile(rb"[\r\n\x00-\x1f\x7f-\xff]")


def assert_one_line(out: bytes, words: int) -> None:
    assert out.endswith(b"\r\n")
    line = out[:-2]
    assert SEPARATORS.search(line) is None, out
    assert len(line.split(b" ")) == words, out
    assert len(out) <= C.MAX_LINE_BYTES


@pytest.mark.parametrize(("name", "index"), TUBE_COMMANDS)
@SETTINGS
@given(tube=st.one_of(st.text(), st.text(alphabet=TUBE_CHARS + " \r\n*"), st.binary()))
def test_no_tube_name_can_add_a_command_line(name: str, index: int, tube: str | bytes) -> None:
    try:
        out = encode_with(name, index, tube)
    except InvalidArgument:
        return
    assert_one_line(out, 1 + len(COMMANDS[name].params))
    assert line_word(out, name, index) == (tube if isinstance(tube, bytes) else tube.encode())


ANYTHING = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.booleans(),
    st.none(),
    st.text(),
    st.binary(),
)


@pytest.mark.parametrize(("name", "index"), INT_COMMANDS)
@SETTINGS
@given(value=ANYTHING)
def test_no_number_can_add_a_command_line(name: str, index: int, value: object) -> None:
    try:
        out = encode_with(name, index, value)
    except InvalidArgument:
        return
    if name == "put":
        out, _, body = out.partition(b"\r\n")
        assert body == b"x\r\n"
        out += b"\r\n"
    # A body's length takes the body's place on the line, so the count is the same.
    assert_one_line(out, 1 + len(COMMANDS[name].params))
    assert type(value) is int
    assert line_word(out, name, index) == b"%d" % value


@SETTINGS
@given(body=st.one_of(st.binary(), st.text()), prio=ANYTHING)
def test_put_line_is_one_line_then_exactly_the_body(body: bytes | str, prio: object) -> None:
    try:
        out = COMMANDS["put"].encode((body, prio, 0, 1))
    except InvalidArgument:
        assert not (type(prio) is int and 0 <= prio < 2**32)
        return
    raw = body.encode("utf-8") if isinstance(body, str) else body
    head, sep, rest = out.partition(b"\r\n")
    assert sep
    assert_one_line(head + b"\r\n", 5)
    assert head.split(b" ")[-1] == b"%d" % len(raw)
    assert rest == raw + b"\r\n"


# -- load_commands rejects a bad table --


def spec(**entry: Any) -> str:
    base: dict[str, Any] = {"wire": "x", "params": [], "ok": {"DONE": "none"}, "errors": []}
    base.update(entry)
    return json.dumps({"$comment": "test", "x": base})


def test_minimal_spec_loads() -> None:
    table = load_commands(spec())
    assert set(table) == {"x"}
    assert table["x"].encode(()) == b"x\r\n"


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(spec(ok={"DONE": "float"}), id="unknown-reply-kind"),
        pytest.param(spec(params=[["n", "u64"]]), id="unknown-param-kind"),
        pytest.param(spec(ok={"NOT_FOUND": "none"}, errors=["NOT_FOUND"]), id="ok-and-error"),
        pytest.param(spec(ok={"BAD_FORMAT": "none"}), id="ok-and-universal-error"),
        pytest.param(spec(errors=["NO_SUCH_STATUS"]), id="error-without-exception"),
        pytest.param(spec(ok={"OK": "yaml"}), id="yaml-without-shape"),
        pytest.param(spec(params=[["a", "body"], ["b", "body"]]), id="two-bodies"),
    ],
)
def test_load_commands_rejects_bad_specs(text: str) -> None:
    with pytest.raises(ValueError, match=r"api\.json"):
        load_commands(text)
