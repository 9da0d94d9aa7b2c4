"""Whether a received job asks for a reply, read from its bytes without decoding the
envelope when they cannot name a reply tube, and never wrongly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.message import BaseMessage

# Never connected: a message only asks it how to read envelopes.
CLIENT = Client("127.0.0.1", 1)


def received(raw: bytes) -> BaseMessage:
    message: BaseMessage = BaseMessage.from_job(CLIENT, 1, raw, True)
    return message


def envelope(subscribe: object, body: object = None, **dumps: Any) -> bytes:
    fields = {"@context": "message", "body": body, "subscribe": subscribe, "errors": []}
    return json.dumps(fields, **dumps).encode()


@pytest.mark.parametrize(
    ("raw", "asks"),
    [
        (envelope(""), False),
        (envelope("replies"), True),
        (envelope("replies", separators=(",", ":")), True),
        (envelope("replies", indent=2), True),
        (envelope("é", ensure_ascii=True), True),  # "\u00e9"
        (envelope("", body={"subscribe": "not the envelope's"}), False),
        (envelope("", body='"subscribe": "in a string"'), False),
        (envelope("", body="\u2603 snow"), False),
        (envelope(None), False),
        (b'{"subscr\\u0069be": "replies", "body": 1}', False),  # not an envelope
        (b"plain text", False),
        (b'{"subscribe": "x"}', False),  # JSON, but no envelope
    ],
)
def test_asks_for_reply(raw: bytes, asks: bool) -> None:
    message = received(raw)
    assert message.asks_for_reply is asks
    # The same answer as reading the envelope.
    assert bool(received(raw).subscribe) is asks


def test_a_job_that_cannot_ask_is_not_decoded() -> None:
    message = received(envelope("", body={"big": "x" * 1000}))
    assert message.asks_for_reply is False
    assert message._raw is not None  # what the shortcut saves
