"""``beanstalkm top``: rates, frames, JSON lines, the live screen and Ctrl-C."""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import time
from typing import cast

from beanstalkm import Client
from beanstalkm.cli.commands.top import Rates, Sample, compute_rates, render_plain, rows
from beanstalkm.stats import ServerStats, TubeStats
from beanstalkm.testing import BeanstalkdProcess, free_port

from .util import ROOT, cli_env, console_script, run_cli, run_in_pty


def tube(name: str, total: int = 0, deletes: int = 0, ready: int = 0, pause: int = 0) -> TubeStats:
    return cast(
        TubeStats,
        {
            "name": name, "total-jobs": total, "cmd-delete": deletes,
            "current-jobs-ready": ready, "current-jobs-reserved": 0,
            "current-jobs-delayed": 0, "current-jobs-buried": 0, "current-jobs-urgent": 0,
            "current-waiting": 0, "pause": pause, "pause-time-left": pause,
        },
    )  # fmt: skip


def sample(at: float, puts: int, deletes: int, *tubes: TubeStats) -> Sample:
    server = cast(
        ServerStats,
        {
            "cmd-put": puts, "cmd-delete": deletes, "version": "1.12", "uptime": 3725,
            "current-connections": 3, "current-workers": 1, "current-producers": 1,
            "current-waiting": 0, "current-tubes": len(tubes), "current-jobs-ready": 0,
            "current-jobs-reserved": 0, "current-jobs-delayed": 0, "current-jobs-buried": 0,
            "total-jobs": puts,
        },
    )  # fmt: skip
    return Sample(at, 1_700_000_000 + at, server, {t["name"]: t for t in tubes})


def test_rates_are_deltas_per_second() -> None:
    before = sample(10.0, 100, 50, tube("a", 100, 50), tube("gone", 5))
    after = sample(12.0, 140, 70, tube("a", 130, 60), tube("new", 10, 2))
    rates = compute_rates(before, after)
    assert rates == {
        "": Rates(20.0, 10.0),
        "a": Rates(15.0, 5.0),
        "new": Rates(5.0, 1.0),  # made since: counted from zero
    }
    # a tube dropped and made again: its counters went down
    again = sample(14.0, 150, 70, tube("a", 4, 1))
    assert compute_rates(after, again) == {"": Rates(5.0, 0.0), "a": Rates(2.0, 0.5)}
    assert compute_rates(None, after) is None
    assert compute_rates(after, after) is None  # no time passed


def test_rows_sorting_and_paused() -> None:
    s = sample(1.0, 0, 0, tube("b", ready=1), tube("a", ready=5), tube("c", pause=30))
    assert [r[0] for r in rows(s, None)] == ["a", "b", "c (paused 30s)"]
    assert [r[0] for r in rows(s, None, "ready")] == ["a", "b", "c (paused 30s)"]
    rates = {"a": Rates(1.0, 0.0), "b": Rates(9.0, 0.0), "c": Rates(5.0, 0.0)}
    assert [r[0] for r in rows(s, rates, "put")] == ["b", "c (paused 30s)", "a"]
    assert rows(s, None)[0][-2:] == [None, None]  # no rates yet: blank
    text = render_plain(s, {"": Rates(1.5, 0.5), "a": Rates(2, 1)}, "127.0.0.1:11300")
    assert text.splitlines()[0].startswith("beanstalkd 1.12 at 127.0.0.1:11300  up 1h2m")
    assert "put/s 1.5  delete/s 0.5" in text
    assert any(line.split() == ["a", "5", "0", "0", "0", "0", "2.0", "1.0"]
               for line in text.splitlines())  # fmt: skip


def test_once_json(server: BeanstalkdProcess, client: Client) -> None:
    client.queue.use("jobs")
    client.queue.put(b"x")
    result = run_cli(server.address, "top", "--once", "--interval", "0.1")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["tube"] for r in lines] == ["default", "jobs"]
    jobs = lines[1]
    assert (jobs["frame"], jobs["ready"], jobs["total"], jobs["put_per_s"]) == (1, 1, 1, 0.0)
    assert set(jobs) >= {"reserved", "delayed", "buried", "waiting", "delete_per_s", "time"}


def test_iterations_tables_and_tube_filter(server: BeanstalkdProcess, client: Client) -> None:
    client.queue.use("jobs")
    args = ["top", "-n", "2", "-i", "0.05", "--table", "-t", "jobs", "-t", "none"]
    result = run_cli(server.address, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("beanstalkd 1.12") == 2
    assert result.stdout.count("TUBE") == 2
    assert "default" not in result.stdout
    assert "\x1b" not in result.stdout


def test_rates_follow_the_traffic(server: BeanstalkdProcess, client: Client) -> None:
    client.queue.use("r")  # the tube exists (and shows) while this client uses it
    proc = subprocess.Popen(
        [*console_script(), "top", "-n", "3", "-i", "0.4", "--json", "-t", "r"],
        env=cli_env(server.address), cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # frame 1 drawn: now make traffic
        assert (first["frame"], first["total"]) == (1, 0)
        ids = [client.queue.put(b"x") for _ in range(20)]
        for uid in ids[:10]:
            client.queue.delete(uid)
        later = [json.loads(line) for line in proc.stdout]
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert [r["frame"] for r in later] == [2, 3]
    assert later[0]["put_per_s"] > 0
    assert later[0]["delete_per_s"] > 0
    assert (later[-1]["total"], later[-1]["deletes"], later[-1]["ready"]) == (20, 10, 10)
    assert later[-1]["put_per_s"] == 0.0


def test_live_screen_in_a_terminal(server: BeanstalkdProcess) -> None:
    code, out, _ = run_in_pty(
        server.address, "top", "-n", "1", "-i", "0.05", "--plain", all_in_pty=True
    )
    assert code == 0, out
    assert out.count("\x1b[H\x1b[2J") == 2  # the counts at once, then one frame
    assert "TUBE" in out
    assert "(q or Ctrl-C to quit)" in out
    assert out.startswith("\x1b[?25l")  # cursor hidden while drawing...
    assert "\x1b[?25h" in out  # ...and shown again


def test_ctrl_c_quits_cleanly(server: BeanstalkdProcess) -> None:
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*console_script(), "top", "-i", "0.05", "--plain"],
        stdin=slave, stdout=slave, stderr=slave, env=cli_env(server.address), cwd=ROOT,
    )  # fmt: skip
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 10
        while b"TUBE" not in seen and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                seen += os.read(master, 65536)
        assert b"TUBE" in seen
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        while select.select([master], [], [], 0.1)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert b"\x1b[?25h" in seen
    assert b"Traceback" not in seen


def test_server_down(server: BeanstalkdProcess) -> None:
    port = free_port()
    result = run_cli(("127.0.0.1", port), "top", "--once")
    assert result.returncode == 1
    assert f"cannot connect to 127.0.0.1:{port}" in result.stderr
