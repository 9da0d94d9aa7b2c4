"""tubes, stats, pause and purge, through the real console script."""

from __future__ import annotations

import json
from typing import Any

from beanstalkm import Client
from beanstalkm.testing import BeanstalkdProcess

from .util import run_cli, run_in_pty


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def fill(client: Client, tube: str, ready: int, delayed: int, buried: int) -> None:
    """Put jobs into ``tube`` in each state."""
    client.queue.use(tube)
    for _ in range(ready):
        client.queue.put(b"ready")
    for _ in range(delayed):
        client.queue.put(b"delayed", delay=600)
    for _ in range(buried):
        client.queue.reserve_job(client.queue.put(b"buried")).bury()


def test_tubes(server: BeanstalkdProcess, client: Client) -> None:
    fill(client, "emails", 2, 1, 1)
    client.queue.use("default")
    result = run_cli(server.address, "tubes")
    assert result.returncode == 0, result.stderr
    by_name = {r["name"]: r for r in records(result.stdout)}
    assert set(by_name) == {"default", "emails"}
    emails = by_name["emails"]
    assert (emails["current-jobs-ready"], emails["current-jobs-delayed"]) == (2, 1)
    assert emails["current-jobs-buried"] == 1
    assert run_cli(server.address, "tubes", "-q").stdout == "default\nemails\n"


def test_tubes_table(server: BeanstalkdProcess, client: Client) -> None:
    fill(client, "emails", 2, 1, 1)
    client.queue.pause_tube("emails", 100)
    lines = run_cli(server.address, "tubes", "--table").stdout.splitlines()
    assert lines[0].split() == [
        "TUBE", "READY", "RESERVED", "DELAYED", "BURIED", "URGENT", "WAITING", "WATCHING",
        "USING", "TOTAL", "PAUSED",
    ]  # fmt: skip
    emails = next(line for line in lines if line.startswith("emails"))
    cells = emails.split()
    assert cells[:5] == ["emails", "2", "0", "1", "1"]
    assert cells[-1].endswith("s")  # paused: seconds left
    assert "\x1b" not in "".join(lines)  # no colors in a pipe


def test_stats_server_tube_job(server: BeanstalkdProcess, client: Client) -> None:
    fill(client, "t", 1, 0, 0)
    server_stats = json.loads(run_cli(server.address, "stats").stdout)
    assert server_stats["version"]
    assert server_stats["current-jobs-ready"] == 1
    tube = json.loads(run_cli(server.address, "stats", "--tube", "t").stdout)
    assert (tube["name"], tube["current-jobs-ready"]) == ("t", 1)
    job = json.loads(run_cli(server.address, "stats", "--job", "1").stdout)
    assert (job["id"], job["tube"], job["state"]) == (1, "t", "ready")


def test_stats_table_and_missing(server: BeanstalkdProcess) -> None:
    lines = run_cli(server.address, "stats", "--table").stdout.splitlines()
    assert lines[0].startswith("beanstalkd ")
    assert lines[0].endswith(f" at {server.address[0]}:{server.address[1]}")
    assert lines[1].split() == ["KEY", "VALUE"]
    assert any(line.split()[:2] == ["current-jobs-ready", "0"] for line in lines)
    assert run_cli(server.address, "stats", "--tube", "none").returncode == 3
    result = run_cli(server.address, "stats", "--job", "12")
    assert (result.returncode, result.stderr) == (3, "beanstalkm stats: job 12 not found\n")
    assert run_cli(server.address, "stats", "--job", "1", "--tube", "x").returncode == 2


def test_pause(server: BeanstalkdProcess, client: Client) -> None:
    result = run_cli(server.address, "pause", "default", "60")
    assert records(result.stdout) == [{"tube": "default", "paused": 60}]
    assert client.queue.stats_tube("default")["pause"] == 60
    result = run_cli(server.address, "pause", "default", "0", "--table")
    assert result.stdout == "resumed default\n"
    assert client.queue.stats_tube("default")["pause"] == 0
    assert run_cli(server.address, "pause", "nope", "5").returncode == 3


def test_purge_refuses_without_a_terminal(server: BeanstalkdProcess, client: Client) -> None:
    fill(client, "p", 2, 1, 1)
    result = run_cli(server.address, "purge", "p")
    assert result.returncode == 2
    assert "without confirmation: stdin is not a terminal (add --yes)" in result.stderr
    assert client.queue.stats_tube("p")["total-jobs"] == 4
    assert client.queue.stats()["cmd-delete"] == 0


def test_purge_yes(server: BeanstalkdProcess, client: Client, other: Client) -> None:
    fill(client, "p", 3, 2, 2)
    other.queue.watch("p")
    held = other.reserve(timeout=0, drop=False)  # a worker holds one job
    assert held is not None
    fill(client, "keep", 1, 0, 0)
    result = run_cli(server.address, "purge", "p", "--yes")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout) == [
        {"tube": "p", "deleted": {"ready": 2, "delayed": 2, "buried": 2}, "total": 6}
    ]
    assert "1 reserved job(s) left alone" in result.stderr
    stats = client.queue.stats_tube("p")
    assert (stats["current-jobs-ready"], stats["current-jobs-reserved"]) == (0, 1)
    assert client.queue.stats_tube("keep")["current-jobs-ready"] == 1


def test_purge_some_states(server: BeanstalkdProcess, client: Client) -> None:
    fill(client, "p", 2, 1, 3)
    result = run_cli(server.address, "purge", "p", "--buried", "--delayed", "-y", "--table")
    assert result.stdout == "deleted 4 jobs (1 delayed, 3 buried) from p\n"
    assert client.queue.stats_tube("p")["current-jobs-ready"] == 2
    result = run_cli(server.address, "purge", "p", "--buried", "-y", "--table")
    assert result.stdout == "nothing to purge in p\n"
    assert run_cli(server.address, "purge", "missing", "-y").returncode == 3


def test_purge_asks_on_a_terminal(server: BeanstalkdProcess, client: Client) -> None:
    fill(client, "p", 1, 1, 0)
    code, out, err = run_in_pty(server.address, "purge", "p", answer="n\n")
    assert code == 1
    assert "Delete 2 jobs (1 ready, 1 delayed, 0 buried) from tube p? [y/N]" in err
    assert "nothing deleted" in err
    assert client.queue.stats_tube("p")["current-jobs-ready"] == 1
    code, out, err = run_in_pty(server.address, "purge", "p", "--json", answer="y\n")
    assert code == 0, err
    assert records(out) == [
        {"tube": "p", "deleted": {"ready": 1, "delayed": 1, "buried": 0}, "total": 2}
    ]


def test_tubes_named_or_matched(server: BeanstalkdProcess, client: Client) -> None:
    fill(client, "emails.a", 1, 0, 0)
    fill(client, "emails.b", 2, 0, 0)
    result = run_cli(server.address, "tubes", "emails.*", "default")
    assert [r["name"] for r in records(result.stdout)] == ["emails.a", "emails.b", "default"]
    result = run_cli(server.address, "tubes", "emails.a", "nosuch")
    assert (result.returncode, result.stderr) == (3, "beanstalkm tubes: tube nosuch not found\n")
    assert run_cli(server.address, "tubes", "-q", "e*").stdout == "emails.a\nemails.b\n"
