"""What the console reads, bytes only: job bodies for the page, search queries and
JSON paths, listen addresses and server lists."""

from __future__ import annotations

import argparse

import pytest

from beanstalkm.cli.base import Failure, resolve_addresses
from beanstalkm.cli.commands.web import parse_listen

from .conftest import NO_AIOHTTP

pytest.importorskip("aiohttp", reason=NO_AIOHTTP)

from beanstalkm.web.jobs import HEX_SHOWN, SHOWN, hex_dump, job_view
from beanstalkm.web.search import Query, parse_path
from beanstalkm.web.security import is_loopback


def test_bodies_as_json_text_and_hex() -> None:
    assert job_view(0, 1, b'{"a": [1, 2]}')["body"] == '{\n  "a": [\n    1,\n    2\n  ]\n}'
    assert job_view(0, 1, b"<b>hi</b>")["format"] == "text"
    binary = job_view(0, 1, b"\xff\x00abc")
    assert (binary["format"], binary["kind"]) == ("hex", "binary")
    assert binary["body"] == "00000000  ff 00 61 62 63" + " " * 33 + "  |..abc|"


def test_numbers_json_cannot_hold_are_shown_as_written() -> None:
    assert job_view(0, 1, b"[1e400, 123456789012345678901234567890]")["body"] == (
        "[\n  1e400,\n  123456789012345678901234567890\n]"
    )


def test_long_bodies_are_cut_unless_whole_is_asked() -> None:
    view = job_view(0, 1, b"y" * (SHOWN + 10))
    assert (len(view["body"]), view["truncated"]) == (SHOWN, True)
    assert job_view(0, 1, b"y" * (SHOWN + 10), full=True)["truncated"] is False
    binary = job_view(0, 1, b"\xff" * (HEX_SHOWN + 1))
    assert binary["truncated"] is True
    assert binary["body"].count("\n") == HEX_SHOWN // 16 - 1


def test_a_broken_envelope_is_shown_with_its_problems() -> None:
    raw = b'{"@context": "message", "body": "hi", "created": {"$data": 1e400}, "sender": 5}'
    view = job_view(0, 1, raw)
    assert view["kind"] == "envelope"
    assert view["envelope"]["created"] is None
    assert any("created" in p for p in view["problems"])
    assert any("sender" in p for p in view["problems"])


def test_hex_dump_lines() -> None:
    assert hex_dump(b"") == ""
    assert hex_dump(bytes(range(17))).splitlines()[1] == "00000010  10" + " " * 45 + "  |.|"


def test_json_paths() -> None:
    assert parse_path("$") == ()
    assert parse_path("$.user.emails[0]") == ("user", "emails", 0)
    assert parse_path('$["odd key"].id') == ("odd key", "id")
    for bad in ("user.id", "$.", "$[x]", "$.a b"):
        with pytest.raises(ValueError, match="JSON path"):
            parse_path(bad)


def test_queries() -> None:
    body = b'{"user": {"id": 7, "tags": ["a", "b"]}, "note": "Hello"}'
    assert Query(text="hello").matches(body)
    assert not Query(text="bye").matches(body)
    assert Query(path=("user", "id"), value="7").matches(body)
    assert not Query(path=("user", "id"), value='"7"').matches(body)  # a string is not 7
    assert Query(path=("user", "tags", 1), value="b").matches(body)  # text when not JSON
    assert Query(path=("user",)).matches(body)
    assert not Query(path=("user", "tags", 5)).matches(body)
    assert not Query(path=("x",)).matches(b"not json")
    envelope = b'{"@context": "message", "body": {"id": 7}, "token": "t"}'
    assert Query(path=("id",), value="7").matches(envelope)  # the body inside
    assert Query(text="x", path=("user", "id")).matches(b'{"user": {"id": "x"}}')
    assert not Query(text="y", path=("user", "id")).matches(b'{"user": {"id": "x"}}')


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:0") == ("::1", 0)
    assert parse_listen(":9000") == ("127.0.0.1", 9000)
    assert parse_listen("9000") == ("127.0.0.1", 9000)
    for bad in ("127.0.0.1", "host:port", "a:1/x", "h:99999"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_listen(bad)


def test_loopback() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.0.2.1", "example.com"]))


def test_several_servers_in_one_url_option(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BEANSTALKD_URL", raising=False)
    args = argparse.Namespace(url="beanstalk://a:1,beanstalk://b:2, c")
    assert resolve_addresses(args) == [("a", 1), ("b", 2), ("c", 11300)]
    assert resolve_addresses(argparse.Namespace()) == [("127.0.0.1", 11300)]
    monkeypatch.setenv("BEANSTALKD_URL", "beanstalk://x:3,beanstalk://y:4")
    assert resolve_addresses(argparse.Namespace()) == [("x", 3), ("y", 4)]
    for url, error in [
        ("a:1,a:1", "named twice"),
        ("a:1,,b:2", "empty URL"),
        ("a:1,http://b", "scheme"),
    ]:
        with pytest.raises(Failure, match=error):
            resolve_addresses(argparse.Namespace(url=url))
    with pytest.raises(Failure, match="one server"):
        resolve_addresses(argparse.Namespace(url="a:1,b:2", port=5))
