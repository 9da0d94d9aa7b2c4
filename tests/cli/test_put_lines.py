"""``put --lines``: streamed as lines arrive, pipelined in batches, errors per line,
a progress line on a terminal. (Its throughput is measured by bench/cli_bench.py.)"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess

from beanstalkm import Client
from beanstalkm.cli.commands.put import BATCH_JOBS, lines_of
from beanstalkm.testing import BeanstalkdProcess

from .util import ROOT, cli_env, console_script, run_cli, wait_for


def ready(client: Client, tube: str) -> int:
    try:
        return client.queue.stats_tube(tube)["current-jobs-ready"]
    except Exception:
        return 0


def test_lines_are_split_across_reads() -> None:
    chunks = [b"one\ntw", b"o\r", b"\n\n  \nthree\r\nfo", b"ur"]
    assert list(lines_of(iter(chunks))) == [
        [(1, b"one")], [(2, b"two"), (5, b"three")], [(6, b"four")],
    ]  # fmt: skip
    assert list(lines_of(iter([b"", b"\n"]))) == []


def test_a_line_is_put_before_stdin_closes(server: BeanstalkdProcess, client: Client) -> None:
    proc = subprocess.Popen(
        [*console_script(), "put", "--lines", "-t", "logs"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=cli_env(server.address), cwd=ROOT,
    )  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None  # noqa: PT018
    try:
        proc.stdin.write(b"first line\n")
        proc.stdin.flush()
        wait_for(lambda: ready(client, "logs") == 1)  # stdin is still open
        assert json.loads(proc.stdout.readline())["tube"] == "logs"  # its id, at once
        proc.stdin.write(b"second\nthird")  # the last line has no newline
        proc.stdin.close()
        proc.wait(30)  # its output is small: the pipes cannot fill up
        out = proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert len(out.splitlines()) == 2
    client.queue.watch("logs")
    bodies = [client.queue.reserve_with_timeout(0).body for _ in range(3)]
    assert bodies == ["first line", "second", "third"]


def test_many_lines_in_order_and_a_bad_one_reported(small_server: BeanstalkdProcess) -> None:
    count = 2 * BATCH_JOBS + 500
    lines = [f"line {n}" for n in range(count)]
    lines[1234] = "x" * 2000  # bigger than this server's max-job-size (1024)
    text = "\n\n".join(lines[:10]) + "\n" + "\n".join(lines[10:])  # blank lines count too
    result = run_cli(small_server.address, "put", "--lines", "-t", "t", input=text)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "beanstalkm put: line 1244: job of 2000 bytes is bigger than the server's "
        "max-job-size (see: beanstalkm stats)",
        "beanstalkm put: 1 line was not put (see above)",
    ]
    ids = [json.loads(line)["id"] for line in result.stdout.splitlines()]
    assert len(ids) == count - 1
    assert ids == sorted(ids)
    with Client(*small_server.address, timeout=5, watch="t") as client:
        assert client.queue.peek(ids[0]).body == "line 0"  # type: ignore[union-attr]
        assert client.queue.peek(ids[1234]).body == "line 1235"  # type: ignore[union-attr]
        assert client.queue.stats_tube("t")["current-jobs-ready"] == count - 1


def test_summary_for_people(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "put", "--lines", "--table", input="a\nb\nc\n")
    assert result.returncode == 0
    assert result.stdout == "put 3 jobs into default (ids 1..3)\n"


def test_drain_mode_stops_the_stream(server: BeanstalkdProcess) -> None:
    server.signal(signal.SIGUSR1)
    with Client(*server.address, timeout=5) as client:
        wait_for(lambda: client.queue.stats()["draining"])
    result = run_cli(server.address, "put", "--lines", input="a\nb\n")
    assert result.returncode == 1
    assert "drain mode" in result.stderr


def test_bad_options_are_refused_before_reading(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "put", "--lines", "--priority", str(2**32))
    assert result.returncode == 2
    assert "priority" in result.stderr


def test_progress_line_on_a_terminal(server: BeanstalkdProcess) -> None:
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [*console_script(), "put", "--lines", "-t", "p"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=slave,
            env=cli_env(server.address), cwd=ROOT,
        )  # fmt: skip
        os.close(slave)
        slave = -1
        out, _ = proc.communicate(b"".join(b"%d\n" % n for n in range(100_000)), timeout=60)
        shown = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert proc.returncode == 0
    assert len(out.splitlines()) == 100_000
    assert b"\r\x1b[Kput " in shown
    assert b" jobs into p (" in shown
    assert shown.endswith(b"\r\x1b[K")  # erased at the end
