"""Who may use the console: cross-site requests, read-only, tokens, loopback names,
and the headers that keep job bodies from running as code."""

from __future__ import annotations

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess

from .conftest import NO_AIOHTTP, Console, ConsoleFactory, counts, put

pytest.importorskip("aiohttp", reason=NO_AIOHTTP)

ACTIONS = ["kick", "kick-job", "delete-job", "delete-buried", "pause", "move", "put"]


def test_a_post_without_the_csrf_token_is_refused(console: Console, beanstalk: Client) -> None:
    [uid] = put(beanstalk, "t", b"x")
    reply = console.post("api/delete-job", {"server": 0, "id": uid}, csrf=False)
    assert reply.status == 403
    assert "X-CSRF-Token" in reply.data["error"]
    wrong = console.post("api/delete-job", {"server": 0, "id": uid}, {"X-CSRF-Token": "guess"})
    assert wrong.status == 403
    assert counts(beanstalk, "t")["ready"] == 1


def test_a_post_from_another_origin_is_refused_even_with_the_token(
    console: Console, beanstalk: Client
) -> None:
    [uid] = put(beanstalk, "t", b"x")
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": f"http://127.0.0.1:{console.port + 1}"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        reply = console.post("api/delete-job", {"server": 0, "id": uid}, headers)
        assert reply.status == 403, headers
        assert "not accepted" in reply.data["error"]
    assert counts(beanstalk, "t")["ready"] == 1
    same = {"Origin": f"http://127.0.0.1:{console.port}", "Sec-Fetch-Site": "same-origin"}
    assert console.post("api/delete-job", {"server": 0, "id": uid}, same).status == 200


def test_a_form_post_is_refused(console: Console, beanstalk: Client) -> None:
    """What a page of another site can send without the console's consent."""
    [uid] = put(beanstalk, "t", b"x")
    reply = console.request(
        "POST", "api/delete-job", f'{{"server": 0, "id": {uid}}}'.encode(),
        {"Content-Type": "text/plain", "Origin": "null"},
    )  # fmt: skip
    assert reply.status == 403
    assert counts(beanstalk, "t")["ready"] == 1


def test_read_only_refuses_every_action(
    make_console: ConsoleFactory, server: BeanstalkdProcess, beanstalk: Client
) -> None:
    console = make_console([server.address], read_only=True)
    assert console.get("api/config").data["read_only"] is True
    [uid] = put(beanstalk, "t", b"x")
    for action in ACTIONS:
        reply = console.post(f"api/{action}", {"tube": "t", "server": 0, "id": uid, "count": 1})
        assert reply.status == 403, action
        assert reply.data["error"] == "this console is read-only"
    assert counts(beanstalk, "t")["ready"] == 1
    assert console.get("api/tube", name="t").status == 200  # looking is fine


def test_a_token_is_needed_for_everything(
    make_console: ConsoleFactory, server: BeanstalkdProcess
) -> None:
    console = make_console([server.address], token="s3cret")
    assert console.csrf  # fetched with the bearer token below, in start()
    for path in ("", "api/config", "api/frame", "static/tube.js"):
        reply = console.get(path)
        assert reply.status == 401, path
    assert console.get("api/frame", {"Authorization": "Bearer s3cret"}).status == 200
    assert console.get("api/frame", {"Authorization": "Bearer wrong"}).status == 401
    assert console.get("api/frame", {"Cookie": "beanstalkm_token=s3cret"}).status == 200


def test_opening_the_address_with_the_token_sets_a_cookie(
    make_console: ConsoleFactory, server: BeanstalkdProcess
) -> None:
    console = make_console([server.address], token="s3cret")
    reply = console.get("tube", name="emails", token="s3cret")
    assert reply.status == 303
    assert reply.headers["Location"] == "/tube?name=emails"  # the token out of the address
    cookie = reply.headers["Set-Cookie"]
    assert "beanstalkm_token=s3cret" in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie  # noqa: PT018
    assert console.get("", token="nope").status == 401


def test_only_loopback_names_are_answered_on_loopback(console: Console) -> None:
    """A name an attacker points at 127.0.0.1 (DNS rebinding) gets nothing."""
    for host in ("127.0.0.1", "localhost", f"localhost:{console.port}", "[::1]:80"):
        assert console.get("api/config", {"Host": host}).status == 200, host
    reply = console.get("api/config", {"Host": f"evil.example:{console.port}"})
    assert reply.status == 421
    assert "loopback" in reply.data["error"]


def test_security_headers(console: Console) -> None:
    for path in ("", "api/frame", "static/common.js"):
        headers = console.get(path).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp  # noqa: PT018
        assert "unsafe-inline" not in csp
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["X-Frame-Options"] == "DENY"
    assert console.get("api/frame").headers["Cache-Control"] == "no-store"
