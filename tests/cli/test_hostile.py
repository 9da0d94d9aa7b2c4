"""Hostile jobs and names: nothing crashes, JSON output stays JSON, and no control byte
from a body, a tube name or a server reply reaches the terminal (--raw excepted)."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess

from ..fakeserver import FakeServer
from .util import ROOT, cli_env, console_script, run_cli, run_cli_bytes, run_on_terminal, wait_for

HOSTILE_BODIES: dict[str, bytes] = {
    "text with escapes": b"x \x1b]0;PWNED\x07\x1b[2J\x1b[31mred\r\x08",
    "C1 controls in UTF-8": "csi \u009b2J nel \u0085 end".encode(),
    "bidi override": "abc \u202edcba".encode(),
    "JSON string with escapes": b'"\\u001b]0;PWNED\\u0007 \\u009b2J"',
    "JSON with 1e400": b'{"v": 1e400, "w": [-1e400, 1e-400]}',
    "lone surrogate": b'{"s": "\\ud800"}',
    "envelope, created 1e400": (
        b'{"@context":"message","body":{"a":1},"created":{"$data":1e400},"sender":{}}'
    ),
    "envelope, year 10000": (
        b'{"@context":"message","body":"\\u001b[2J","created":{"$data":253402300800000},'
        b'"sender":"\\u001b]0;PWNED\\u0007"}'
    ),
    "envelope, lone surrogate": (
        b'{"@context":"message","body":"\\ud800","created":{"$data":-1e20},"sender":[]}'
    ),
    "envelope, wrong types": (
        b'{"@context":"message","body":null,"created":"now","sender":5,"subscribe":[],'
        b'"channel":{},"token":1e400,"errors":"none"}'
    ),
    "deep JSON": b"[" * 3000 + b"]" * 3000,
    "binary with escapes": b"\xff\x1b]0;PWNED\x07",
}
PAYLOADS = [b"\x1b]0;PWNED", b"\x07", b"\x1b[2J", "\u009b".encode(), "\u202e".encode()]


def put_raw(client: Client, tube: str, *bodies: bytes) -> list[int]:
    client.queue.use(tube)
    return [client.queue.put(body) for body in bodies]


def fill(client: Client, tube: str = "default") -> list[int]:
    return put_raw(client, tube, *HOSTILE_BODIES.values())


def strict_json(line: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in {line!r}")

    return json.loads(line, parse_constant=refuse)


def assert_safe_for_a_terminal(data: bytes, allowed_escapes: tuple[bytes, ...] = ()) -> None:
    """No control byte but CR, LF and tab; no C1 or bidi control once decoded."""
    for escape in allowed_escapes:
        data = data.replace(escape, b"")
    bad = sorted({b for b in data if (b < 0x20 and b not in b"\r\n\t") or b == 0x7F})
    assert not bad, f"control bytes {bad} in {data!r}"
    text = data.decode("utf-8", "replace")
    assert not re.search("[\x80-\x9f\u202a-\u202e\u2066-\u2069]", text), text
    for payload in PAYLOADS:
        assert payload not in data


# -- JSON output ----------------------------------------------------------------------


def test_peek_json_of_every_hostile_job_is_strict_json(
    server: BeanstalkdProcess, client: Client
) -> None:
    for uid, name in zip(fill(client), HOSTILE_BODIES, strict=True):
        result = run_cli(server.address, "peek", str(uid), "--json")
        assert result.returncode == 0, (name, result.stderr)
        assert "Traceback" not in result.stderr
        line = result.stdout.strip()
        assert "\n" not in line
        assert not re.search("[\x00-\x1f\x7f-\x9f]", line), (name, line)
        record = strict_json(line)
        assert record["id"] == uid


def test_json_keeps_what_can_be_read_and_names_the_rest(
    server: BeanstalkdProcess, client: Client
) -> None:
    ids = dict(zip(HOSTILE_BODIES, fill(client), strict=True))

    def peek(name: str) -> Any:
        result = run_cli(server.address, "peek", str(ids[name]), "--json")
        return strict_json(result.stdout)

    assert peek("JSON with 1e400")["body"]["w"][1] == 1e-400  # read back as written
    assert '"v":1e400' in run_cli(server.address, "peek", str(ids["JSON with 1e400"])).stdout
    record = peek("envelope, created 1e400")
    assert (record["body"], record["created"], record["envelope"]) == ({"a": 1}, None, True)
    assert record["problems"] == ['created: {"$data":1e400} is out of range for a date']
    record = peek("envelope, year 10000")
    assert record["body"] == "\x1b[2J"
    assert any("year 10000 is out of range" in p for p in record["problems"])
    record = peek("envelope, wrong types")
    assert {p.split(":")[0] for p in record["problems"]} == {
        "created", "sender", "subscribe", "channel", "token", "errors",
    }  # fmt: skip
    assert peek("lone surrogate")["body"] == {"s": "\ud800"}


def test_consume_goes_past_hostile_jobs(server: BeanstalkdProcess, client: Client) -> None:
    fill(client)
    client.queue.put(b"after them")
    result = run_cli(server.address, "consume", "--timeout", "0")
    assert result.returncode == 0, result.stderr
    records = [strict_json(line) for line in result.stdout.splitlines()]
    assert len(records) == len(HOSTILE_BODIES) + 1
    assert records[-1]["body"] == "after them"
    assert client.queue.stats_tube("default")["current-jobs-ready"] == 0  # all deleted


def test_raw_stays_byte_for_byte(server: BeanstalkdProcess, client: Client) -> None:
    fill(client)
    result = run_cli_bytes(server.address, "reserve", "--count", "50", "--timeout", "0", "--raw")
    assert result.returncode == 0
    assert result.stdout == b"".join(body + b"\n" for body in HOSTILE_BODIES.values())


# -- text for people --------------------------------------------------------------------


def test_tables_and_text_escape_controls(server: BeanstalkdProcess, client: Client) -> None:
    for uid in fill(client):
        result = run_cli_bytes(server.address, "peek", str(uid), "--table")
        assert result.returncode == 0, result.stderr
        assert_safe_for_a_terminal(result.stdout)
    shown = run_cli(server.address, "peek", "1", "--table").stdout
    assert "x \\x1b]0;PWNED\\x07\\x1b[2J" in shown  # visible, not obeyed


@pytest.mark.parametrize("command", ["peek", "reserve", "consume"])
def test_no_control_byte_reaches_the_terminal(
    server: BeanstalkdProcess, client: Client, command: str
) -> None:
    ids = fill(client)
    if command == "peek":
        for uid in ids:
            code, shown = run_on_terminal(server.address, "peek", str(uid))
            assert code == 0, shown
            assert_safe_for_a_terminal(shown)
        return
    code, shown = run_on_terminal(server.address, command, "--count", "50", "--timeout", "0")
    assert code == 0, shown
    assert shown.count(b"job ") >= len(HOSTILE_BODIES)
    assert_safe_for_a_terminal(shown)


def test_tube_names_and_server_replies_in_errors(server: BeanstalkdProcess) -> None:
    code, shown = run_on_terminal(server.address, "peek", "-t", "\x1b]0;PWNED\x07\u009b2J")
    assert code == 2
    assert b"not a valid tube name" in shown
    assert_safe_for_a_terminal(shown)

    def garbage(request: bytes, conn: socket.socket, count: int) -> None:
        conn.sendall(b"\x1b]0;PWNED\x07\x1b[2J \xc2\x9b2J\r\n")

    with FakeServer(garbage) as fake:
        code, shown = run_on_terminal(fake.address, "stats")
    assert code == 1
    assert shown.startswith(b"beanstalkm stats: ")
    assert_safe_for_a_terminal(shown)


def yaml_reply(text: str) -> bytes:
    data = text.encode()
    return b"OK %d\r\n%s\r\n" % (len(data), data)


def test_top_escapes_what_a_server_lists() -> None:
    hostile = "x\x1b]0;PWNED\x07\u009b2J"

    def script(request: bytes, conn: socket.socket, count: int) -> None:
        if request.startswith(b"stats-tube "):
            name = request[len(b"stats-tube ") : -2].decode()
            conn.sendall(yaml_reply(f"---\nname: {name}\n" + "".join(
                f"{key}: 0\n" for key in (
                    "current-jobs-urgent", "current-jobs-ready", "current-jobs-reserved",
                    "current-jobs-delayed", "current-jobs-buried", "total-jobs",
                    "current-using", "current-watching", "current-waiting", "cmd-delete",
                    "cmd-pause-tube", "pause", "pause-time-left",
                )
            )))  # fmt: skip
        elif request == b"list-tubes\r\n":
            conn.sendall(yaml_reply(f"---\n- default\n- {hostile}\n"))
        elif request == b"stats\r\n":
            counts = "".join(
                f"{key}: 1\n"
                for key in (
                    "current-jobs-urgent", "current-jobs-ready", "current-jobs-reserved",
                    "current-jobs-delayed", "current-jobs-buried", "cmd-put", "cmd-delete",
                    "total-jobs", "current-tubes", "current-connections", "current-producers",
                    "current-workers", "current-waiting", "uptime",
                )
            )  # fmt: skip
            conn.sendall(yaml_reply(f'---\n{counts}version: "1.12 \x1b]0;PWNED\x07"\n'))
        else:
            conn.sendall(b"UNKNOWN_COMMAND\r\n")

    with FakeServer(script) as fake:
        code, shown = run_on_terminal(fake.address, "top", "-n", "1", "-i", "0.05", "--plain")
        assert code == 0, shown
        ours = (b"\x1b[H\x1b[2J", b"\x1b[?25l", b"\x1b[?25h")
        assert_safe_for_a_terminal(shown, allowed_escapes=ours)
        assert b"TUBE" in shown
        for args in (["tubes", "--plain"], ["tubes", "-q"]):
            code, shown = run_on_terminal(fake.address, *args)
            assert_safe_for_a_terminal(shown)


def test_worker_logs_escape_what_handlers_raise(
    server: BeanstalkdProcess, client: Client, tmp_path: Path
) -> None:
    (tmp_path / "hostile_tasks.py").write_text(
        "def handle(message):\n"
        "    raise RuntimeError('\\x1b]0;PWNED\\x07\\x1b[2J ' + message.body)\n"
    )
    [uid] = put_raw(client, "jobs", "\x1b[31mbody\u009b".encode())
    proc = subprocess.Popen(
        [*console_script(), "worker", "hostile_tasks:handle", "-t", "jobs",
         "--max-attempts", "1", "--app-dir", str(tmp_path), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(server.address), cwd=ROOT,
    )  # fmt: skip
    try:
        wait_for(lambda: client.queue.stats_job(uid)["state"] == "buried")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0
    assert b"RuntimeError" in err
    assert_safe_for_a_terminal(err)
    assert b"\\x1b]0;PWNED\\x07" in err  # shown, escaped
