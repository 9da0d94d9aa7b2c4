"""The envelope's compiled checker says exactly what a JSON Schema library says: valid
or not, for our envelopes and for envelopes broken at random, field by field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beanstalkm.envelope import SCHEMA, encode_envelope, validation_error
from beanstalkm.schema import compile_schema

jsonschema = pytest.importorskip("jsonschema")
REFERENCE = jsonschema.validators.validator_for(SCHEMA)(SCHEMA)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
# Values a field may be replaced with: any JSON, and the ones the schema is picky about.
field_values = (
    json_values
    | st.sampled_from(["message", "", "0" * 32, "a" * 32, "A" * 32, "0" * 31])
    | st.builds(lambda ms: {"$data": ms}, json_values)
    | st.builds(
        lambda host, extra: {"host": host, **extra},
        json_values,
        st.dictionaries(
            st.sampled_from(["pid", "time", "version", "ip", "uid", "ua", "referer", "x"]),
            json_values,
            max_size=3,
        ),
    )
    | st.lists(st.text(max_size=3), max_size=3)
)
FIELDS = ["@context", "body", "created", "sender", "subscribe", "channel", "token", "errors", "x"]


def envelope(body: Any = None) -> dict[str, Any]:
    data, _ = encode_envelope(body, 1_700_000_000_000, {"host": "h", "pid": 1})
    result: dict[str, Any] = json.loads(data)
    return result


@settings(max_examples=600, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(FIELDS), field_values | st.just(...)), max_size=4),
    json_values,
)
def test_agrees_with_jsonschema(changes: list[tuple[str, Any]], body: Any) -> None:
    value = envelope(body)
    for field, new in changes:
        if new is ...:
            value.pop(field, None)
        else:
            value[field] = new
    reason = validation_error(value)
    expected = REFERENCE.is_valid(value)
    assert (reason is None) == expected, (value, reason)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_agrees_on_anything(value: Any) -> None:
    assert (validation_error(value) is None) == REFERENCE.is_valid(value)


def test_json_schema_meanings() -> None:
    check = compile_schema(
        {
            "type": "object",
            "properties": {
                "n": {"type": "integer"},
                "e": {"enum": [1, "a"]},
                "c": {"const": True},
                "any": {"anyOf": [{"type": "string"}, {"type": "null"}]},
                "extra": {"additionalProperties": {"type": "number"}},
            },
        }
    )
    assert check({"n": 1.0}) is None  # an integer with a point is an integer
    assert check({"n": True}) is not None  # a boolean is not a number
    assert check({"e": 1.0}) is None
    assert check({"e": True}) is not None
    assert check({"c": True}) is None
    assert check({"c": 1}) is not None
    assert check({"any": None}) is None
    assert check({"any": 1}) is not None
    assert check({"extra": {"a": 1, "b": 2.5}}) is None
    assert check({"extra": {"a": "x"}}) == "extra/a: 'x' is not of type 'number'"


def test_keywords_it_does_not_know_are_refused() -> None:
    with pytest.raises(ValueError, match="'minimum'"):
        compile_schema({"type": "object", "properties": {"n": {"minimum": 1}}})


def test_reasons_name_the_path() -> None:
    value = envelope()
    value["sender"]["pid"] = "1"
    assert validation_error(value) == "sender/pid: '1' is not of type 'integer'"
    value = envelope()
    value["errors"] = ["ok", 5]
    assert validation_error(value) == "errors/1: 5 is not of type 'string'"
    value = envelope()
    value["created"] = {"$data": 1.5}
    assert validation_error(value) == "created/$data: 1.5 is not of type 'integer'"
