"""Reading jobs for display (records.py) and writing JSON (jsontext.py): hostile input
is shown as far as it can be read, never raises, and never yields invalid JSON."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import pytest

from beanstalkm.cli.jsontext import Number, dumps, loads
from beanstalkm.cli.records import body_text, job_record, read_job
from beanstalkm.cli.safetext import printable


def strict_json(text: str) -> Any:
    """Parse as JSON, refusing NaN and Infinity (Python's json accepts them); integers
    longer than Python reads (4300 digits) stay text."""

    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in {text!r}")

    def integer(digits: str) -> Any:
        return int(digits) if len(digits) < 4000 else digits

    return json.loads(text, parse_constant=refuse, parse_int=integer)


def no_raw_controls(text: str) -> bool:
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


def test_numbers_out_of_range_are_kept_as_written() -> None:
    value = loads('{"big": 1e400, "small": -1e400, "tiny": 1e-400, "long": 1' + "0" * 5000 + "}")
    assert value["big"] == Number("1e400")
    assert value["tiny"] == Number("1e-400")
    assert isinstance(value["long"], Number)
    text = dumps(value)
    assert "Infinity" not in text
    assert text.startswith('{"big":1e400,"small":-1e400,"tiny":1e-400,"long":1000')
    assert math.isinf(strict_json(text)["big"])  # valid JSON, the same number


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity", "[1, NaN]"])
def test_non_json_constants_are_refused(constant: str) -> None:
    with pytest.raises(ValueError, match="not JSON"):
        loads(constant)


def test_strings_escape_every_control_character() -> None:
    value = "a\x1b]0;x\x07 \x7f \x85 \x9b2J \u2028 \ud800 é"
    text = dumps({"s": value})
    assert no_raw_controls(text)
    assert "\\u009b" in text and "\\ud800" in text and "é" in text  # noqa: PT018
    assert json.loads(text)["s"] == value  # the same string once read back
    pretty = dumps({"s": [value]}, indent=2)
    assert no_raw_controls(pretty.replace("\n", ""))
    assert json.loads(pretty) == {"s": [value]}


def test_values_json_cannot_hold_still_give_json() -> None:
    text = dumps({"inf": math.inf, "nan": math.nan, "bytes": b"\x00\xff", "obj": object(), 1: 2})
    parsed = strict_json(text)
    assert parsed["inf"] is None and parsed["nan"] is None  # noqa: PT018
    assert parsed["bytes"] == "AP8="
    assert parsed["obj"].startswith("<object")
    assert parsed["1"] == 2


def test_printable_escapes_controls_and_bidi_overrides() -> None:
    assert printable("a\x1b[2Jb\tc\nd\x9b\u202e\ud800") == "a\\x1b[2Jb\tc\nd\\x9b\\u202e\\ud800"
    assert printable("line\nnext\r", one_line=True) == "line\\nnext\\r"


ENVELOPE_FIELDS = ["body", "created", "sender", "subscribe", "channel", "token", "errors"]
HOSTILE_VALUES: list[str] = [
    "1e400", "-1e400", "1" + "0" * 5000, "-5", "0", "true", "null", "[]", "{}",
    '"\\ud800"', '"\\u001b]0;PWNED\\u0007"', '{"$data": 1e400}', '{"$data": 253402300800000}',
    '{"$data": -1e20}', '{"$data": "soon"}', '{"$data": true}', "[[[[[1]]]]]",
]  # fmt: skip


@pytest.mark.parametrize(
    ("field", "value"), list(itertools.product(ENVELOPE_FIELDS, HOSTILE_VALUES))
)
def test_a_hostile_field_never_stops_the_reading(field: str, value: str) -> None:
    fields = {
        "@context": '"message"',
        "body": '{"to": "ada"}',
        "created": '{"$data": 1714557600123}',
        "sender": '{"host": "web1"}',
        "subscribe": '""',
        "token": '"abc"',
        "errors": "[]",
    }
    fields[field] = value
    raw = ("{" + ",".join(f'"{k}": {v}' for k, v in fields.items()) + "}").encode()
    job = read_job(7, raw)
    assert job.kind == "envelope"
    record = job_record(job, "t", {"state": "ready"})
    text = dumps(record)
    assert no_raw_controls(text)
    assert strict_json(text)["id"] == 7
    assert no_raw_controls(printable(body_text(job)).replace("\n", ""))
    if field == "created" and job.created is None:
        assert any(p.startswith("created:") for p in job.problems)
    if field == "sender" and not value.startswith("{"):
        assert any(p.startswith("sender:") for p in job.problems)
    if field in ("subscribe", "channel", "token") and not value.startswith('"'):
        assert any(p.startswith(f"{field}:") for p in job.problems)


def test_envelope_fields_read_back() -> None:
    raw = (
        b'{"@context": "message", "body": {"to": "ada"}, "created": {"$data": 1714557600123},'
        b' "sender": {"host": "web1"}, "subscribe": "", "token": "x", "errors": []}'
    )
    job = read_job(1, raw)
    assert (job.kind, job.body, job.problems) == ("envelope", {"to": "ada"}, [])
    assert job.created == "2024-05-01T10:00:00.123000Z"
    old = read_job(2, b'{"@context": "message", "body": 1, "created": 1714557600.5, "sender": {}}')
    assert old.created == "2024-05-01T10:00:00.500000Z"  # 1.0.0 wrote seconds


@pytest.mark.parametrize(
    ("created", "problem"),
    [
        ('{"$data": 1e400}', 'created: {"$data":1e400} is out of range for a date'),
        ('{"$data": 253402300800000}', "year 10000 is out of range"),
        ('{"$data": -1e20}', "out of range for a date"),
        ('"yesterday"', 'created: expected {"$data": milliseconds}, got "yesterday"'),
    ],
)
def test_unreadable_dates_are_named(created: str, problem: str) -> None:
    raw = f'{{"@context": "message", "body": 1, "created": {created}, "sender": {{}}}}'
    job = read_job(1, raw.encode())
    assert job.created is None
    assert any(problem in p for p in job.problems), job.problems


def test_kinds_of_bodies() -> None:
    assert read_job(1, b"plain text").kind == "text"
    assert read_job(1, b"NaN").kind == "text"  # not JSON
    assert read_job(1, b"[1, 2]").body == [1, 2]
    binary = read_job(1, b"\xff\xfe")
    assert binary.kind == "binary"
    assert job_record(binary)["base64"] is True
    assert body_text(binary) == "<2 bytes, not UTF-8; base64: //4=>"
    deep = read_job(1, b"[" * 300 + b"]" * 300)
    assert deep.kind == "text"
    assert "nested more than" in deep.problems[0]
    very_deep = read_job(1, b"[" * 100_000 + b"]" * 100_000)
    assert very_deep.kind == "text"
