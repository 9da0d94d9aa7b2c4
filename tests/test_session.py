"""What the session costs and keeps, counted by a real beanstalkd (both clients): a
put into a named tube switches the used tube only when it must, and the tube the user
uses stays theirs."""

from __future__ import annotations

import pytest

import beanstalkm
from beanstalkm import Client

from .conftest import MakeClient


def counts(client: Client) -> tuple[int, int]:
    stats = client.queue.stats()
    return stats["cmd-use"], stats["cmd-put"]


def test_puts_into_a_named_tube_cost_one_command_each(
    client: Client, make_client: MakeClient
) -> None:
    producer = make_client()
    for _ in range(5):
        producer.put({"n": 1}, tube="emails")
    assert counts(client) == (1, 5)  # one use, then puts alone
    for _ in range(3):
        producer.put({"n": 1}, tube="sms")
    producer.put({"n": 1}, tube="emails")
    assert counts(client) == (3, 9)  # a use only where the tube changes
    producer.put_many([{"n": 2}] * 10, tube="emails")
    assert counts(client) == (3, 19)


def test_the_users_tube_is_kept(client: Client, make_client: MakeClient) -> None:
    producer = make_client(use="orders")
    producer.put({"n": 1}, tube="emails")
    assert producer.queue.using() == "orders"
    producer.queue.put(b"raw")
    producer.put({"n": 2}, tube="emails")
    assert producer.queue.peek_ready().body == "raw"  # type: ignore[union-attr]
    assert producer.queue.kick(1) == 0
    assert client.queue.stats_tube("orders")["current-jobs-ready"] == 1
    assert client.queue.stats_tube("emails")["current-jobs-ready"] == 2
    # what an observer sees: the connection uses the tube it last needed
    assert client.queue.stats_tube("orders")["current-using"] == 1


def test_an_explicit_use_is_sent_and_kept(client: Client, make_client: MakeClient) -> None:
    producer = make_client()
    assert producer.queue.use("jobs") == "jobs"
    producer.put({"n": 1}, tube="other")
    producer.queue.put(b"raw")
    assert client.queue.stats_tube("jobs")["current-jobs-ready"] == 1


def test_validation_can_be_turned_off(client: Client, make_client: MakeClient) -> None:
    client.put({"n": 1}, tube="v")
    reader = make_client(watch="v", validate=False)
    message = reader.reserve(timeout=0)
    assert message is not None
    assert message.body == {"n": 1}
    assert message.valid is None
    assert message.validation_error is None
    checked = make_client(watch="v")
    client.put({"n": 2}, tube="v")
    message = checked.reserve(timeout=0)
    assert message is not None
    assert message.valid is True


def test_strict_needs_validation() -> None:
    with pytest.raises(ValueError, match="validate"):
        beanstalkm.Client("127.0.0.1", 1, strict=True, validate=False)
