"""Output conventions: plain tables, JSON records of jobs, and rich when installed."""

from __future__ import annotations

import io
import json

import pytest

from beanstalkm import Client
from beanstalkm.cli.base import CliClient
from beanstalkm.cli.output import (
    Output,
    RawMessage,
    dumps,
    format_duration,
    have_rich,
    plain_table,
)
from beanstalkm.cli.records import job_record, read_job
from beanstalkm.testing import BeanstalkdProcess

from .util import run_in_pty

needs_rich = pytest.mark.skipif(not have_rich(), reason="rich is not installed (cli extra)")


def test_plain_table_aligns_numbers_right() -> None:
    text = plain_table(["tube", "ready", "paused"], [["a", 5, None], ["longer", 1234, True]])
    assert text.splitlines() == [
        "TUBE    READY  PAUSED",
        "a           5  -",
        "longer   1234  yes",
    ]
    assert plain_table(["x"], [], title="empty") == "empty\nX"


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59, 61, 3725, 90061)] == [
        "0s", "59s", "1m1s", "1h2m", "1d1h",
    ]  # fmt: skip


def test_dumps_is_one_compact_line() -> None:
    assert dumps({"a": "é", "b": b"\x00"}) == '{"a":"é","b":"AA=="}'


def test_output_choice_follows_the_stream() -> None:
    pipe = io.StringIO()
    assert Output.choose(False, False, False, pipe).mode == "json"
    assert Output.choose(False, True, False, pipe).mode == "table"
    assert not Output.choose(False, True, False, pipe).fancy  # never rich into a pipe

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Output.choose(False, False, False, Terminal()).mode == "table"
    assert Output.choose(True, False, False, Terminal()).mode == "json"
    assert Output.choose(False, False, True, Terminal()).fancy is False
    assert Output.choose(False, False, False, Terminal()).fancy is have_rich()


def test_message_records(server: BeanstalkdProcess, client: Client) -> None:
    cli = CliClient(*server.address, timeout=5, use="r")
    try:
        for body in (b"text", b"[1, 2]", b"\xff\xfe"):
            cli.queue.put(body)
        envelope = client.put({"k": 1}, tube="r")
        cli.queue.watch("r")
        got = []
        for _ in range(4):
            message = cli.reserve(timeout=0, drop=True)
            assert isinstance(message, RawMessage)
            got.append(job_record(read_job(message.uid, message.raw), "r"))
    finally:
        cli.close()
    assert got[0] == {"id": 1, "tube": "r", "body": "text", "envelope": False, "size": 4}
    assert got[1]["body"] == [1, 2]
    assert (got[2]["body"], got[2]["base64"]) == ("//4=", True)
    assert got[3]["id"] == envelope.uid
    assert got[3]["body"] == {"k": 1}
    assert got[3]["envelope"] is True
    assert json.loads(dumps(got[3]))["sender"]["version"]


@needs_rich
def test_rich_tables() -> None:
    stream = io.StringIO()
    out = Output("table", fancy=True, stream=stream)
    out.table(["tube", "ready"], [["emails", 3]], title="tubes")
    text = stream.getvalue()
    assert "tubes" in text
    assert "TUBE" in text
    assert "emails" in text


@needs_rich
def test_rich_in_a_terminal(server: BeanstalkdProcess) -> None:
    code, out, _ = run_in_pty(server.address, "tubes", all_in_pty=True)
    assert code == 0, out
    assert "TUBE" in out
    assert "default" in out
    code, out, _ = run_in_pty(server.address, "top", "--once", "-i", "0.05", all_in_pty=True)
    assert code == 0, out
    assert "TUBE" in out
    assert "beanstalkd" in out
