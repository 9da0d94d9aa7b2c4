"""Work on many jobs: purge (pipelined, by pattern), kick by pattern, move, and the
scan that finds a tube's jobs in a state."""

from __future__ import annotations

import json
from typing import Any

from beanstalkm import Client
from beanstalkm.cli.base import Context
from beanstalkm.cli.jobscan import flat_yaml, scan, scanning_client
from beanstalkm.cli.output import Output
from beanstalkm.testing import BeanstalkdProcess

from .util import Terminal, run_cli


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def put_many(client: Client, tube: str, bodies: list[bytes], **kwargs: Any) -> list[int]:
    client.queue.use(tube)
    pipeline = client.pipeline()
    for body in bodies:
        pipeline.put(body, **kwargs)
    ids: list[int] = pipeline.execute(raise_on_error=True)
    return ids


def bury(client: Client, ids: list[int], priority: int | None = None) -> None:
    for uid in ids:
        client.queue.reserve_job(uid).bury(priority)


def counts(client: Client, tube: str) -> tuple[int, int, int, int]:
    stats = client.queue.stats_tube(tube)
    return (
        stats["current-jobs-ready"],
        stats["current-jobs-delayed"],
        stats["current-jobs-buried"],
        stats["current-jobs-reserved"],
    )


# -- the scan -------------------------------------------------------------------------


def test_flat_yaml_reads_both_server_versions() -> None:
    assert flat_yaml('---\nid: 5\ntube: "123"\nstate: ready\npri: 7\n') == {
        "id": 5, "tube": "123", "state": "ready", "pri": 7,
    }  # fmt: skip
    assert flat_yaml("---\ntube: jobs.v1\n")["tube"] == "jobs.v1"


def test_scan_finds_interleaved_and_scattered_jobs(
    server: BeanstalkdProcess, client: Client
) -> None:
    mine: list[int] = []
    for round_ in range(300):  # ours interleaved with another tube's, then gaps
        mine += put_many(client, "mine", [b"m"])
        put_many(client, "other", [b"o"] * (1 if round_ < 200 else 40))
    ctx = Context(*server.address, Output("json"), "test")
    reader = scanning_client(ctx, "mine")
    found: list[int] = []
    try:
        for batch in scan(reader, "mine", "ready", limit=10_000):
            assert len(batch) <= 1000
            found += [job["id"] for job in batch]
            pipeline = reader.pipeline()
            for job in batch:
                pipeline.delete(job["id"])
            pipeline.execute(raise_on_error=True)
    finally:
        reader.close()
    assert sorted(found) == mine
    assert counts(client, "other")[0] == 200 + 100 * 40


def test_scan_stops_when_the_caller_leaves_jobs_in_place(
    server: BeanstalkdProcess, client: Client
) -> None:
    put_many(client, "t", [b"x"] * 10)
    ctx = Context(*server.address, Output("json"), "test")
    reader = scanning_client(ctx, "t")
    try:
        batches = list(scan(reader, "t", "ready", limit=100))  # deletes nothing
    finally:
        reader.close()
    assert [len(b) for b in batches] == [10]


# -- purge ----------------------------------------------------------------------------


def test_purge_many_jobs_in_every_state(server: BeanstalkdProcess, client: Client) -> None:
    ready = put_many(client, "big", [b"r"] * 3000)
    put_many(client, "big", [b"d"] * 500, delay=600)
    bury(client, put_many(client, "big", [b"b"] * 300))
    put_many(client, "keep", [b"k"] * 50)
    client.queue.watch("big")
    held = client.queue.reserve_job(ready[0])  # a worker's job: left alone
    result = run_cli(server.address, "purge", "big", "--yes")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout) == [
        {"tube": "big", "deleted": {"ready": 2999, "delayed": 500, "buried": 300}, "total": 3799}
    ]
    assert "1 reserved job(s) left alone" in result.stderr
    assert counts(client, "big") == (0, 0, 0, 1)
    assert counts(client, "keep")[0] == 50
    held.release()


def test_purge_by_pattern(server: BeanstalkdProcess, client: Client) -> None:
    put_many(client, "tmp.a", [b"x"] * 3)
    put_many(client, "tmp.b", [b"x"] * 2)
    put_many(client, "keep", [b"x"])
    result = run_cli(server.address, "purge", "tmp.*", "--yes")
    assert result.returncode == 0, result.stderr
    assert [(r["tube"], r["total"]) for r in records(result.stdout)] == [("tmp.a", 3), ("tmp.b", 2)]
    assert counts(client, "keep")[0] == 1
    result = run_cli(server.address, "purge", "nothing.*", "--yes")
    assert result.returncode == 3
    assert "no tube matches 'nothing.*'" in result.stderr


def test_purge_unwatched_leaves_tubes_in_use(server: BeanstalkdProcess, client: Client) -> None:
    put_many(client, "beanstalkm.reply.gone", [b"late"] * 3)
    put_many(client, "beanstalkm.reply.alive", [b"late"] * 2)
    with Client(*server.address, watch="beanstalkm.reply.alive"):  # a requester, waiting
        result = run_cli(server.address, "purge", "beanstalkm.reply.*", "--unwatched", "--yes")
        assert result.returncode == 0, result.stderr
        assert [(r["tube"], r["total"]) for r in records(result.stdout)] == [
            ("beanstalkm.reply.gone", 3)
        ]
        assert "left alone, watched: beanstalkm.reply.alive" in result.stderr
        assert counts(client, "beanstalkm.reply.alive")[0] == 2
        result = run_cli(
            server.address, "purge", "beanstalkm.reply.alive", "--unwatched", "--yes", "--table"
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout == "nothing to purge: every tube named is watched\n"
    result = run_cli(server.address, "purge", "beanstalkm.reply.*", "--unwatched", "--yes")
    assert [(r["tube"], r["total"]) for r in records(result.stdout)] == [
        ("beanstalkm.reply.alive", 2)
    ]


def test_purge_asks_about_every_tube_a_pattern_matches(
    server: BeanstalkdProcess, client: Client
) -> None:
    put_many(client, "tmp.a", [b"x"] * 3)
    put_many(client, "tmp.b", [b"x"] * 2)
    result = run_cli(server.address, "purge", "tmp.*")
    assert result.returncode == 2
    assert (
        "refusing to delete 5 jobs (5 ready, 0 delayed, 0 buried) from 2 tubes "
        "(tmp.a, tmp.b) without confirmation" in result.stderr
    )


def test_purge_shows_progress_on_a_terminal(server: BeanstalkdProcess, client: Client) -> None:
    put_many(client, "big", [b"x"] * 30_000)
    with Terminal(server.address, "purge", "big", "--yes") as terminal:
        assert terminal.finish() == 0
    assert b"\r\x1b[Kdeleting from big: " in terminal.output
    assert b" of 30,000 jobs (" in terminal.output
    assert b"deleted 30,000 jobs (30,000 ready, 0 delayed, 0 buried) from big" in terminal.output


# -- kick -----------------------------------------------------------------------------


def test_kick_by_pattern(server: BeanstalkdProcess, client: Client) -> None:
    bury(client, put_many(client, "k.a", [b"x"] * 3))
    bury(client, put_many(client, "k.b", [b"x"] * 2))
    bury(client, put_many(client, "other", [b"x"]))
    result = run_cli(server.address, "kick", "--all", "-t", "k.*")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout) == [{"tube": "k.a", "kicked": 3}, {"tube": "k.b", "kicked": 2}]
    assert counts(client, "other")[2] == 1
    result = run_cli(server.address, "kick", "1", "-t", "other", "-t", "k.*", "--table")
    assert result.stdout.splitlines() == [
        "kicked 1 job in other", "kicked 0 jobs in k.a", "kicked 0 jobs in k.b",
    ]  # fmt: skip


# -- move -----------------------------------------------------------------------------


def test_move_keeps_bodies_priorities_and_states(server: BeanstalkdProcess, client: Client) -> None:
    bodies = [b"job %d" % n for n in range(1200)] + [b"\xff\x00binary"]
    ready = put_many(client, "src", bodies, priority=7, ttr=33)
    put_many(client, "src", [b"later"] * 20, delay=300, priority=8)
    bury(client, put_many(client, "src", [b"dead"] * 30), priority=9)
    held = client.queue.reserve_job(ready[-1])  # a worker's: stays where it is
    result = run_cli(server.address, "move", "src", "dst")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout) == [
        {
            "from": "src", "to": "dst", "total": 1250,
            "moved": {"ready": 1200, "delayed": 20, "buried": 30},
        }
    ]  # fmt: skip
    assert counts(client, "src") == (0, 0, 0, 1)
    assert counts(client, "dst") == (1200, 20, 30, 0)
    client.queue.watch("dst")
    client.queue.ignore("default")
    moved = []
    for _ in range(1200):
        message = client.queue.reserve_with_timeout(0)
        stats = message.stats()
        assert stats is not None
        assert (stats["pri"], stats["ttr"]) == (7, 33)
        moved.append(message)
    assert sorted(m.body for m in moved) == sorted(b.decode() for b in bodies[:-1])
    client.queue.use("dst")
    delayed = client.queue.peek_delayed()
    assert delayed is not None and delayed.body == "later"  # noqa: PT018
    delayed_stats = delayed.stats()
    assert delayed_stats is not None
    assert delayed_stats["pri"] == 8
    assert 280 < delayed_stats["time-left"] <= 300
    buried = client.queue.peek_buried()
    assert buried is not None
    buried_stats = buried.stats()
    assert buried_stats is not None
    assert (buried.body, buried_stats["pri"]) == ("dead", 9)
    held.release()


def test_move_one_state_and_a_count(server: BeanstalkdProcess, client: Client) -> None:
    put_many(client, "src", [b"r"] * 10)
    bury(client, put_many(client, "src", [b"b"] * 5))
    result = run_cli(server.address, "move", "src", "dst", "--buried", "--table")
    assert result.stdout == "moved 5 jobs (5 buried) from src to dst\n"
    result = run_cli(server.address, "move", "src", "dst", "--count", "4")
    assert records(result.stdout)[0]["total"] == 4
    assert counts(client, "src") == (6, 0, 0, 0)
    assert counts(client, "dst") == (4, 0, 5, 0)


def test_move_from_a_paused_tube(server: BeanstalkdProcess, client: Client) -> None:
    put_many(client, "src", [b"r"] * 300)
    client.queue.pause_tube("src", 60)
    result = run_cli(server.address, "move", "src", "dst")
    assert result.returncode == 0, result.stderr
    assert counts(client, "dst") == (300, 0, 0, 0)
    assert counts(client, "src") == (0, 0, 0, 0)


def test_move_refusals(server: BeanstalkdProcess) -> None:
    result = run_cli(server.address, "move", "same", "same")
    assert (result.returncode, "the same tube" in result.stderr) == (2, True)
    result = run_cli(server.address, "move", "missing", "dst")
    assert (result.returncode, result.stderr) == (3, "beanstalkm move: tube missing not found\n")
    result = run_cli(server.address, "move", "default", "bad name")
    assert result.returncode == 2
