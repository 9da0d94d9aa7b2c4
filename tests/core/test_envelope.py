"""The JSON message envelope: encoding, the 1.0.0-compatible token, decoding, validation."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from beanstalkm import envelope as env
from beanstalkm.envelope import (
    SCHEMA,
    Decoded,
    created_ms,
    decode,
    dumps,
    encode_envelope,
    token,
    validation_error,
)

SENDER: dict[str, Any] = {"host": "worker-1", "pid": 4242, "time": 1700000000.5, "version": "2.0.0"}
CREATED = 1700000000123

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
# Text a sender can hold: anything UTF-8 can encode.
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20)
SENDERS = st.fixed_dictionaries(
    {"host": TEXT},
    optional={"pid": st.integers(0, 2**22), "time": st.floats(0, 2e9), "version": TEXT, "ua": TEXT},
)
SETTINGS = settings(max_examples=300, deadline=None)


def same(a: Any, b: Any) -> bool:
    """Equal with JSON types kept apart: True is not 1, and 1 is not 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


def reference_token(body: Any) -> str:
    """beanstalkm 1.0.0's token."""
    canonical = json.dumps({"body": body}, sort_keys=True, separators=(",", ":"))
    return hashlib.md5(canonical.encode("utf-8")).hexdigest()


def reference_envelope(
    body: Any,
    created: int,
    sender: dict[str, Any],
    subscribe: str | None = None,
    channel: str | None = None,
    errors: list[str] | None = None,
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "@context": "message",
        "body": body,
        "created": {"$data": created},
        "sender": sender,
        "subscribe": subscribe or "",
        "token": reference_token(body),
        "errors": errors or [],
    }
    if channel is not None:
        envelope["channel"] = channel
    return envelope


def roundtrip(value: Any) -> Any:
    return json.loads(json.dumps(value))


# -- encode_envelope --


@SETTINGS
@given(
    body=JSON_VALUES,
    created=st.integers(0, 2**53),
    sender=SENDERS,
    subscribe=st.none() | TEXT,
    channel=st.none() | TEXT,
    errors=st.none() | st.lists(TEXT, max_size=3),
)
def test_encode_envelope_is_json_dumps_of_the_envelope(
    body: Any,
    created: int,
    sender: dict[str, Any],
    subscribe: str | None,
    channel: str | None,
    errors: list[str] | None,
) -> None:
    data, digest = encode_envelope(body, created, sender, subscribe, channel, errors)
    assert type(data) is bytes
    expected = reference_envelope(body, created, sender, subscribe, channel, errors)
    got = json.loads(data)
    assert same(got, roundtrip(expected))
    assert digest == expected["token"] == got["token"]
    # The one-pass builder and dumps() of the dict agree.
    assert same(json.loads(dumps(expected)), got)


@SETTINGS
@given(body=JSON_VALUES)
def test_token_is_beanstalkm_1_0_0s(body: Any) -> None:
    assert token(body) == reference_token(body)


@pytest.mark.parametrize(
    ("body", "digest"),
    [
        # md5 of '{"body":"hello"}'
        ("hello", "c3ecaf30facefdff453580ae69ee1215"),
        # md5 of '{"body":{"a":"\u00e9","b":[1,2.5,null,true]}}': keys sorted, ASCII only
        ({"b": [1, 2.5, None, True], "a": "\u00e9"}, "061904234ec61bd2a39eaa0020cad2f5"),
        # md5 of '{"body":"\ud800"}': a lone surrogate is escaped, never encoded
        ("\ud800", "1ad829c1e8620b0a6f723cb59b08cdba"),
    ],
)
def test_token_known_values(body: Any, digest: str) -> None:
    assert token(body) == digest == reference_token(body)
    assert encode_envelope(body, CREATED, SENDER)[1] == digest


def test_encode_envelope_field_order_and_defaults() -> None:
    data, digest = encode_envelope({"b": 1, "a": 2}, CREATED, {"host": "h"})
    assert data == (
        b'{"@context":"message","body":{"a":2,"b":1},"created":{"$data":1700000000123},'
        b'"sender":{"host":"h"},"subscribe":"","token":"' + digest.encode() + b'","errors":[]}'
    )


def test_encode_envelope_with_channel_subscribe_and_errors() -> None:
    data, _ = encode_envelope("x", CREATED, SENDER, "reply-tube", "news", ["boom"])
    got = json.loads(data)
    assert got["subscribe"] == "reply-tube"
    assert got["channel"] == "news"
    assert got["errors"] == ["boom"]
    assert validation_error(got) is None


def test_non_ascii_sender_is_utf_8() -> None:
    data, _ = encode_envelope("x", CREATED, {"host": "h\u00e9te"})
    assert json.loads(data.decode("utf-8"))["sender"]["host"] == "h\u00e9te"


def test_sender_json_changes_with_the_sender() -> None:
    first = json.loads(encode_envelope("x", CREATED, {"host": "a"})[0])
    second = json.loads(encode_envelope("x", CREATED, {"host": "b"})[0])
    assert (first["sender"], second["sender"]) == ({"host": "a"}, {"host": "b"})


def test_sender_mutated_in_place_is_seen() -> None:
    sender: dict[str, Any] = {"host": "a"}
    encode_envelope("x", CREATED, sender)
    sender["host"] = "b"
    assert json.loads(encode_envelope("x", CREATED, sender)[0])["sender"] == {"host": "b"}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({"host": "h", "debug": 1}, {"host": "h", "debug": True}, id="1-then-True"),
        pytest.param({"host": "h", "weight": 1}, {"host": "h", "weight": 1.0}, id="1-then-1.0"),
        pytest.param({"host": "h", "t": 0.0}, {"host": "h", "t": -0.0}, id="0.0-then--0.0"),
    ],
)
def test_sender_cache_keeps_json_types_apart(first: dict[str, Any], second: dict[str, Any]) -> None:
    encode_envelope("x", CREATED, first)
    data, _ = encode_envelope("x", CREATED, second)
    assert same(json.loads(data)["sender"], second)


@pytest.mark.parametrize(
    ("body", "type_name"),
    [
        pytest.param(object(), "object", id="object"),
        pytest.param({"a": object()}, "object", id="nested"),
        pytest.param([1, {2, 3}], "set", id="set"),
        pytest.param(b"bytes", "bytes", id="bytes"),
    ],
)
def test_unserializable_body_is_a_type_error(body: Any, type_name: str) -> None:
    with pytest.raises(TypeError) as info:
        encode_envelope(body, CREATED, SENDER)
    assert str(info.value) == f"Object of type {type_name} is not JSON serializable"


def test_put_object_message_is_the_json_modules() -> None:
    with pytest.raises(TypeError) as info:
        encode_envelope(object(), CREATED, SENDER)
    assert str(info.value) == "Object of type object is not JSON serializable"


def test_circular_body_is_a_value_error() -> None:
    body: list[Any] = []
    body.append(body)
    with pytest.raises(ValueError, match="Circular reference"):
        encode_envelope(body, CREATED, SENDER)


def test_tuple_body_is_a_list() -> None:
    data, digest = encode_envelope((1, "a"), CREATED, SENDER)
    assert json.loads(data)["body"] == [1, "a"]
    assert digest == reference_token([1, "a"])


# -- decode --


@SETTINGS
@given(body=JSON_VALUES, sender=SENDERS)
def test_decode_our_envelope(body: Any, sender: dict[str, Any]) -> None:
    data, _ = encode_envelope(body, CREATED, sender)
    decoded = decode(data)
    assert isinstance(decoded, Decoded)
    assert same(decoded.body, roundtrip(body))
    assert decoded.envelope is not None
    assert same(decoded.envelope, json.loads(data))
    assert validation_error(decoded.envelope) is None


def old_envelope(body: Any, created: Any) -> bytes:
    """As beanstalkm 1.0.0 wrote it: json.dumps with default separators."""
    return json.dumps(
        {
            "@context": "message",
            "body": body,
            "created": created,
            "sender": {"host": "old", "pid": 1, "time": 1500000000.25, "version": "1.0.0"},
            "subscribe": "",
            "token": reference_token(body),
            "errors": [],
        }
    ).encode()


@pytest.mark.parametrize(
    ("created", "ms"),
    [
        pytest.param({"$data": 1500000000250}, 1500000000250, id="ms"),
        pytest.param(1500000000.25, 1500000000250, id="float-seconds"),
        pytest.param(1500000000, 1500000000000, id="int-seconds"),
    ],
)
def test_decode_1_0_0_envelope(created: Any, ms: int) -> None:
    data = old_envelope({"job": [1, 2]}, created)
    assert b'", "' in data  # the default separators, as 1.0.0 wrote them
    decoded = decode(data)
    assert decoded.body == {"job": [1, 2]}
    assert decoded.envelope is not None
    assert decoded.envelope["token"] == reference_token({"job": [1, 2]})
    assert created_ms(decoded.envelope["created"]) == {"$data": ms}
    assert validation_error(decoded.envelope) is None


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b"[1]", [1]),
        (b"5", 5),
        (b"1.5", 1.5),
        (b'"s"', "s"),
        (b"true", True),
        (b"null", None),
        (b" [1] \n", [1]),
        # Marked as a message but without a body: not an envelope.
        (b'{"@context": "message"}', {"@context": "message"}),
        (b'{"@context": "message", "token": "x"}', {"@context": "message", "token": "x"}),
        # A body but another context: not ours.
        (b'{"@context": "other", "body": 1}', {"@context": "other", "body": 1}),
        (b'{"body": 1}', {"body": 1}),
        (b'[{"@context": "message", "body": 1}]', [{"@context": "message", "body": 1}]),
    ],
)
def test_decode_json_that_is_not_an_envelope(raw: bytes, body: Any) -> None:
    decoded = decode(raw)
    assert same(decoded.body, body)
    assert decoded.envelope is None


def test_decode_envelope_with_null_body() -> None:
    decoded = decode(b'{"@context": "message", "body": null}')
    assert decoded.body is None
    assert decoded.envelope == {"@context": "message", "body": None}


@pytest.mark.parametrize(
    "raw",
    [b"hello", "h\u00e9llo w\u00f6rld".encode(), b"", b"{not json", b"\xef\xbb\xbf[1]", b"1 2"],
    ids=["ascii", "utf-8", "empty", "broken-json", "bom", "two-values"],
)
def test_decode_utf_8_that_is_not_json_is_text(raw: bytes) -> None:
    assert decode(raw) == Decoded(raw.decode("utf-8"), None)


@pytest.mark.parametrize("raw", [b"\xff\xfe", b"\x80", b'{"a": "\xff"}', b"\xed\xa0\x80"])
def test_decode_invalid_utf_8_is_the_bytes(raw: bytes) -> None:
    decoded = decode(raw)
    assert decoded == Decoded(raw, None)
    assert type(decoded.body) is bytes


def test_decode_never_raises_on_deep_nesting() -> None:
    raw = b"[" * 100_000
    assert decode(raw) == Decoded(raw.decode(), None)


@SETTINGS
@given(raw=st.binary(max_size=64))
def test_decode_never_raises(raw: bytes) -> None:
    decoded = decode(raw)
    assert isinstance(decoded, Decoded)


# -- created_ms --


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"$data": 1700000000123}, {"$data": 1700000000123}),
        ({"$data": 1700000000123.0}, {"$data": 1700000000123}),
        (1700000000.123, {"$data": 1700000000123}),
        (1700000000, {"$data": 1700000000000}),
        (0, {"$data": 0}),
        (True, None),
        ("1700000000", None),
        (None, None),
        ({"$data": "1700000000123"}, None),
        ({}, None),
        ([1], None),
    ],
)
def test_created_ms(value: Any, expected: dict[str, int] | None) -> None:
    assert created_ms(value) == expected


def test_created_ms_bool_data_is_not_a_time() -> None:
    assert created_ms({"$data": True}) is None


# -- validation_error --


def our_envelope(body: Any, **extra: Any) -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads(encode_envelope(body, CREATED, SENDER)[0])
    envelope.update(extra)
    return envelope


@pytest.mark.parametrize("body", [{"a": 1}, "text", [1, "two"], None, 5, 1.5, True, {}], ids=repr)
def test_our_envelope_is_valid(body: Any) -> None:
    assert validation_error(our_envelope(body)) is None


def test_schema_is_the_shipped_message_json() -> None:
    assert SCHEMA["title"] == "beanstalkm message envelope"
    assert set(SCHEMA["required"]) == {"@context", "body", "created", "sender", "token"}


def without(envelope: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in envelope.items() if k != key}


@pytest.mark.parametrize(
    ("envelope", "field"),
    [
        pytest.param(without(our_envelope(1), "token"), "token", id="missing-token"),
        pytest.param(without(our_envelope(1), "sender"), "sender", id="missing-sender"),
        pytest.param(without(our_envelope(1), "created"), "created", id="missing-created"),
        pytest.param(our_envelope(1, token="xyz"), "token", id="token-not-md5-hex"),
        pytest.param(our_envelope(1, token=5), "token", id="token-not-str"),
        pytest.param(our_envelope(1, created="yesterday"), "created", id="created-str"),
        pytest.param(our_envelope(1, created={"$data": "x"}), "created", id="created-data-str"),
        pytest.param(our_envelope(1, created={"ms": 5}), "created", id="created-other-key"),
        pytest.param(our_envelope(1, created={"$data": 5, "x": 1}), "created", id="created-extra"),
        pytest.param(our_envelope(1, extra_field=1), "extra_field", id="extra-key"),
        pytest.param(our_envelope(1, errors=5), "errors", id="errors-not-list"),
        pytest.param(our_envelope(1, errors="boom"), "errors", id="errors-str"),
        pytest.param(our_envelope(1, errors=[1]), "errors", id="errors-item-not-str"),
        pytest.param(our_envelope(1, subscribe=None), "subscribe", id="subscribe-null"),
        pytest.param(our_envelope(1, channel=5), "channel", id="channel-not-str"),
        pytest.param(our_envelope(1, sender={"pid": 1}), "host", id="sender-without-host"),
        pytest.param(our_envelope(1, sender={"host": "h", "pid": "1"}), "pid", id="sender-pid-str"),
        pytest.param(our_envelope(1, **{"@context": "msg"}), "@context", id="wrong-context"),
    ],
)
def test_invalid_envelope_reason_names_the_field(envelope: dict[str, Any], field: str) -> None:
    reason = validation_error(envelope)
    assert isinstance(reason, str)
    assert field in reason, reason


def test_validation_does_not_change_the_envelope() -> None:
    envelope = our_envelope({"a": [1]}, extra_field=1)
    before = json.dumps(envelope, sort_keys=True)
    validation_error(envelope)
    assert json.dumps(envelope, sort_keys=True) == before


def test_context_constant() -> None:
    assert env.CONTEXT == "message"
