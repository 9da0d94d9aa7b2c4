"""The command line on several servers (``--url a,b,c``): sums and per-server rows, the
servers down named and marked, jobs named ``host:port/ID``, puts spread in turn."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from beanstalkm import Client, NotFound, SocketError
from beanstalkm.cli.commands.top import Rates, Sample, compute_rates
from beanstalkm.testing import BeanstalkdProcess, free_port

from .test_exporter import families
from .test_top import sample, tube
from .util import ROOT, console_script, run_cli, wait_for


@pytest.fixture
def servers() -> Iterator[list[BeanstalkdProcess]]:
    processes = [BeanstalkdProcess() for _ in range(3)]
    try:
        for process in processes:
            process.start()
        yield processes
    finally:
        for process in processes:
            process.stop()


def address(server: BeanstalkdProcess) -> str:
    host, port = server.address
    return f"{host}:{port}"


def url_of(*addresses: str) -> str:
    return ",".join(f"beanstalk://{a}" for a in addresses)


def pool_env(*addresses: str) -> dict[str, str]:
    env = dict(os.environ)
    env["BEANSTALKD_URL"] = url_of(*addresses)
    env.pop("COLUMNS", None)
    return env


def run(
    servers: list[BeanstalkdProcess], *args: str, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """The command line on every server of ``servers`` (through $BEANSTALKD_URL)."""
    return run_cli(None, *args, env=pool_env(*map(address, servers)), **kwargs)


def records(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def direct(server: BeanstalkdProcess) -> Client:
    return Client(*server.address, timeout=5)


def put_raw(server: BeanstalkdProcess, tube: str, *bodies: bytes) -> list[int]:
    with direct(server) as client:
        client.queue.use(tube)
        return [client.queue.put(body) for body in bodies]


def ready(server: BeanstalkdProcess, tube: str) -> int:
    with direct(server) as client:
        try:
            return client.queue.stats_tube(tube)["current-jobs-ready"]
        except NotFound:
            return 0


def a_down_address() -> str:
    """A loopback port nobody listens on (refused at once)."""
    return f"127.0.0.1:{free_port()}"


def test_put_spreads_in_turn_and_names_each_job_with_its_server(
    servers: list[BeanstalkdProcess],
) -> None:
    result = run(
        servers, "put", "--lines", "-t", "spread", input="".join(f"{n}\n" for n in range(6))
    )
    assert result.returncode == 0, result.stderr
    put = records(result.stdout)
    assert [r["server"] for r in put] == [address(s) for s in servers for _ in range(2)]
    assert all(r["ref"] == f"{r['server']}/{r['id']}" and r["tube"] == "spread" for r in put)
    assert [ready(s, "spread") for s in servers] == [2, 2, 2]
    # For people: the count on each server, not an id range (ids are per server).
    result = run(servers, "--table", "put", "--lines", "-t", "spread", input="a\nb\nc\n")
    assert result.returncode == 0, result.stderr
    where = ", ".join(f"1 on {address(s)}" for s in servers)
    assert result.stdout.strip() == f"put 3 jobs into spread ({where})"


def test_put_goes_around_a_server_that_is_down(servers: list[BeanstalkdProcess]) -> None:
    down = a_down_address()
    env = pool_env(address(servers[0]), down, address(servers[1]))
    result = run_cli(None, "put", "--lines", "-t", "around", input="1\n2\n3\n4\n", env=env)
    assert result.returncode == 0, result.stderr
    assert {r["server"] for r in records(result.stdout)} == {
        address(servers[0]),
        address(servers[1]),
    }
    assert ready(servers[0], "around") + ready(servers[1], "around") == 4
    assert result.stderr.count(f"server {down} is down") == 1
    # Every server down: the put fails as on one server.
    env = pool_env(down, a_down_address())
    result = run_cli(None, "put", "x", env=env)
    assert result.returncode == 1
    assert "every server is down" in result.stderr


def test_tubes_sum_and_break_down_with_a_server_down(servers: list[BeanstalkdProcess]) -> None:
    put_raw(servers[0], "t", b"a", b"b")
    put_raw(servers[1], "t", b"c")
    put_raw(servers[2], "only-here", b"d")
    servers[2].kill()
    result = run(servers, "tubes", "--json")
    assert result.returncode == 0, result.stderr
    down = address(servers[2])
    assert result.stderr.count(f"server {down} is down") == 1
    tubes = {r["name"]: r for r in records(result.stdout)}
    assert set(tubes) == {"default", "t"}  # the down server's tubes cannot be listed
    assert tubes["t"]["current-jobs-ready"] == 3
    rows = tubes["t"]["servers"]
    assert rows[address(servers[0])]["current-jobs-ready"] == 2
    assert rows[address(servers[1])]["current-jobs-ready"] == 1
    assert set(rows[down]) == {"error"}
    table = run(servers, "--table", "--plain", "tubes")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    t_row = next(line for line in lines if line.startswith("t "))
    assert t_row.split()[1] == "3"
    down_row = next(line for line in lines if line.startswith(down))
    assert down_row.split()[1] == "down"
    up_row = next(line for line in lines if line.startswith(address(servers[0])))
    assert up_row.split()[1:4] == ["up", "2", "2"]


def test_stats_sum_each_server_and_fail_only_when_all_are_down(
    servers: list[BeanstalkdProcess],
) -> None:
    put_raw(servers[0], "s", b"1", b"2")
    put_raw(servers[1], "s", b"3")
    result = run(servers, "stats", "--json")
    assert result.returncode == 0, result.stderr
    [total] = records(result.stdout)
    assert total["current-jobs-ready"] == 3
    assert [total["servers"][address(s)]["current-jobs-ready"] for s in servers] == [2, 1, 0]
    result = run(servers, "stats", "-t", "s", "--json")
    [tube] = records(result.stdout)
    assert tube["current-jobs-ready"] == 3
    assert tube["servers"][address(servers[2])] is None  # it has no such tube
    servers[1].kill()
    result = run(servers, "--table", "--plain", "stats", "-t", "s")
    assert result.returncode == 0, result.stderr
    assert f"{address(servers[1])} (down)".upper() in result.stdout.upper()
    ready_row = next(r for r in result.stdout.splitlines() if r.startswith("current-jobs-ready"))
    assert ready_row.split()[1:3] == ["2", "2"]
    down = [a_down_address(), a_down_address()]
    result = run_cli(None, "stats", env=pool_env(*down))
    assert result.returncode == 1
    assert "every server is down" in result.stderr


def test_jobs_are_named_host_port_id(servers: list[BeanstalkdProcess]) -> None:
    [first] = put_raw(servers[0], "j", b"on zero")
    [second] = put_raw(servers[1], "j", b"on one")
    ref0, ref1 = f"{address(servers[0])}/{first}", f"{address(servers[1])}/{second}"
    result = run(servers, "peek", ref1, "--json")
    assert result.returncode == 0, result.stderr
    [job] = records(result.stdout)
    assert (job["ref"], job["server"], job["body"]) == (ref1, address(servers[1]), "on one")
    # A bare id is ambiguous on several servers: a usage error that says what to write.
    result = run(servers, "peek", str(first))
    assert result.returncode == 2
    assert "HOST:PORT/" in result.stderr
    # --server says where bare ids are.
    result = run(servers, "stats", "--job", str(first), "--server", address(servers[0]), "--json")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout)[0]["ref"] == ref0
    result = run(servers, "peek", f"127.0.0.1:1/{first}")
    assert result.returncode == 2
    assert "not one of the servers" in result.stderr
    result = run(servers, "bury", ref0, "--json")
    assert result.returncode == 0, result.stderr
    assert records(result.stdout) == [
        {"id": first, "server": address(servers[0]), "ref": ref0, "buried": True}
    ]
    result = run(servers, "kick", "--job", ref0, "--table")
    assert (result.returncode, result.stdout.strip()) == (0, f"kicked job {ref0}")
    result = run(servers, "delete", ref0, ref1, f"{address(servers[2])}/99", "--table")
    assert result.returncode == 3
    assert result.stdout.splitlines() == [f"deleted job {ref0}", f"deleted job {ref1}"]
    assert f"job {address(servers[2])}/99 not found" in result.stderr


def test_a_job_on_a_down_server_is_reported_and_the_others_done(
    servers: list[BeanstalkdProcess],
) -> None:
    [first] = put_raw(servers[0], "d", b"x")
    [second] = put_raw(servers[1], "d", b"y")
    servers[1].kill()
    ref0, ref1 = f"{address(servers[0])}/{first}", f"{address(servers[1])}/{second}"
    result = run(servers, "delete", ref1, ref0, "--json")
    assert result.returncode == 1
    assert records(result.stdout) == [
        {"id": first, "server": address(servers[0]), "ref": ref0, "deleted": True}
    ]
    assert f"job {ref1} not deleted: the server is down" in result.stderr


def test_consume_takes_from_every_server_past_one_down(servers: list[BeanstalkdProcess]) -> None:
    put_raw(servers[0], "c", b"a0", b"a1")
    put_raw(servers[2], "c", b"c0")
    servers[1].kill()
    result = run(servers, "consume", "-t", "c", "--timeout", "0.5", timeout=30)
    assert result.returncode == 0, result.stderr
    jobs = records(result.stdout)
    assert sorted(j["body"] for j in jobs) == ["a0", "a1", "c0"]
    assert all(j["ref"] == f"{j['server']}/{j['id']}" for j in jobs)
    assert result.stderr.count(f"server {address(servers[1])} is down") == 1
    assert [ready(servers[0], "c"), ready(servers[2], "c")] == [0, 0]


def test_reserve_keeping_jobs_stops_when_each_server_holds_one(
    servers: list[BeanstalkdProcess],
) -> None:
    for server in servers:
        put_raw(server, "k", b"1", b"2")
    result = run(servers, "reserve", "-t", "k", "-n", "5", "--timeout", "2", timeout=30)
    assert result.returncode == 0, result.stderr
    assert len(records(result.stdout)) == 3
    assert "add --delete or --bury" in result.stderr
    assert [ready(s, "k") for s in servers] == [2, 2, 2]  # released at the end


def test_kick_and_pause_on_every_server(servers: list[BeanstalkdProcess]) -> None:
    for server in servers[:2]:
        with direct(server) as client:
            client.queue.use("b")
            uid = client.queue.put(b"x")
            client.queue.reserve_job(uid).bury()
    result = run(servers, "kick", "--all", "-t", "b", "--json")
    assert result.returncode == 0, result.stderr
    kicked = {r["server"]: r["kicked"] for r in records(result.stdout)}
    assert kicked == {address(servers[0]): 1, address(servers[1]): 1, address(servers[2]): 0}
    result = run(servers, "pause", "b", "30", "--json")
    assert result.returncode == 0, result.stderr
    [paused] = records(result.stdout)
    assert paused["servers"] == {
        address(servers[0]): True,
        address(servers[1]): True,
        address(servers[2]): False,  # no such tube there
    }
    with direct(servers[1]) as client:
        assert client.queue.stats_tube("b")["pause"] == 30
    servers[0].kill()
    result = run(servers, "--table", "pause", "b", "0")
    assert result.returncode == 1
    assert result.stdout.strip() == f"resumed b on {address(servers[1])}"
    assert f"b not paused on {address(servers[0])}: the server is down" in result.stderr


def test_subcommands_for_one_server_refuse_several(servers: list[BeanstalkdProcess]) -> None:
    put_raw(servers[1], "keep", b"x")
    result = run(servers, "demo")
    assert result.returncode == 2, result.stderr
    assert "works on one server" in result.stderr
    assert ready(servers[1], "keep") == 1


def test_control_characters_from_jobs_are_escaped(servers: list[BeanstalkdProcess]) -> None:
    [uid] = put_raw(servers[1], "esc", b"\x1b[2Jgone\x07")
    result = run(servers, "--table", "peek", f"{address(servers[1])}/{uid}")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "\x07" not in result.stdout
    assert "gone" in result.stdout
    result = run(servers, "--table", "consume", "-t", "esc", "--timeout", "0")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert f"job {address(servers[1])}/{uid}" in result.stdout


def pool_sample(at: float, parts: dict[str, Sample | Exception]) -> Sample:
    """A pool's sample: its sums do not matter to the rates, only its parts."""
    return Sample(at, at, sample(at, 0, 0).server, {}, parts)


def test_top_rates_on_a_pool_add_up_the_servers_that_answered_both_times() -> None:
    down = SocketError("gone")
    before = pool_sample(
        10.0,
        {
            "a:1": sample(10.0, 100, 10, tube("t", 100, 10)),
            "b:2": sample(10.0, 500, 0, tube("t", 500)),
            "c:3": down,
        },
    )
    after = pool_sample(
        12.0,
        {
            "a:1": sample(12.0, 120, 14, tube("t", 120, 14)),
            "b:2": down,  # its counters leave the sums: no drop counted as a rate
            "c:3": sample(12.0, 7, 0, tube("t", 7)),  # back: no rate until the next
        },
    )
    assert compute_rates(before, after) == {"": Rates(10.0, 2.0), "t": Rates(10.0, 2.0)}
    assert compute_rates(after, after) is None


def test_top_sums_the_servers_and_marks_the_one_down(servers: list[BeanstalkdProcess]) -> None:
    put_raw(servers[0], "w", b"1", b"2")
    put_raw(servers[1], "w", b"3")
    servers[2].kill()
    result = run(servers, "top", "--once", "-i", "0.1", "--json", "-t", "w")
    assert result.returncode == 0, result.stderr
    [record] = records(result.stdout)
    assert (record["tube"], record["ready"], record["total"]) == ("w", 3, 3)
    assert record["servers"][address(servers[0])]["ready"] == 2
    assert record["servers"][address(servers[1])]["ready"] == 1
    assert set(record["servers"][address(servers[2])]) == {"error"}
    assert result.stderr.count(f"server {address(servers[2])} is down") == 1
    result = run(servers, "top", "--once", "-i", "0.1", "--table", "--plain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("beanstalkd ")
    assert "on 3 servers (1 down)" in lines[0]
    assert any(line.split()[:3] == [address(servers[0]), "ready", "2"] for line in lines)
    assert any(line.split()[:2] == [address(servers[2]), "down:"] for line in lines)
    assert any(line.split()[:2] == ["w", "3"] for line in lines)
    servers[0].kill()
    servers[1].kill()
    result = run(servers, "top", "--once", "-i", "0.1")
    assert result.returncode == 1
    assert "every server is down" in result.stderr


def test_purge_asks_once_for_every_server_and_reports_each(
    servers: list[BeanstalkdProcess],
) -> None:
    put_raw(servers[0], "tmp.a", b"1", b"2")
    put_raw(servers[1], "tmp.b", b"3")
    put_raw(servers[2], "keep", b"4")
    result = run(servers, "purge", "tmp.*")
    assert result.returncode == 2  # stdin is not a terminal: nothing done without --yes
    assert "delete 3 jobs (3 ready, 0 delayed, 0 buried) from 2 tubes" in result.stderr
    assert "on 2 servers" in result.stderr
    assert [ready(servers[0], "tmp.a"), ready(servers[1], "tmp.b")] == [2, 1]
    servers[2].kill()
    result = run(servers, "purge", "tmp.*", "--yes", "--json")
    assert result.returncode == 1  # done on the others, not on the server down
    done = {(r["tube"], r["server"]): r["total"] for r in records(result.stdout)}
    assert done == {("tmp.a", address(servers[0])): 2, ("tmp.b", address(servers[1])): 1}
    assert f"nothing purged on {address(servers[2])}: the server is down" in result.stderr
    assert [ready(servers[0], "tmp.a"), ready(servers[1], "tmp.b")] == [0, 0]
    result = run(servers, "purge", "nowhere", "--yes")
    assert result.returncode == 3
    assert "tube nowhere not found" in result.stderr


def test_purge_unwatched_on_every_server(servers: list[BeanstalkdProcess]) -> None:
    put_raw(servers[0], "beanstalkm.reply.gone", b"late")
    put_raw(servers[1], "beanstalkm.reply.alive", b"late", b"late")
    with Client(*servers[1].address, watch="beanstalkm.reply.alive"):  # still waiting
        result = run(servers, "purge", "beanstalkm.reply.*", "--unwatched", "--yes", "--json")
        assert result.returncode == 0, result.stderr
        done = {(r["tube"], r["server"]): r["total"] for r in records(result.stdout)}
        assert done == {("beanstalkm.reply.gone", address(servers[0])): 1}
        assert f"left alone, watched on {address(servers[1])}: beanstalkm.reply.alive" in (
            result.stderr
        )
        result = run(servers, "--table", "purge", "beanstalkm.reply.alive", "--unwatched", "--yes")
        assert result.returncode == 0, result.stderr
        assert result.stdout == "nothing to purge: every tube named is watched\n"
    assert ready(servers[1], "beanstalkm.reply.alive") == 2


def test_move_within_each_server_with_one_count_for_all(servers: list[BeanstalkdProcess]) -> None:
    for server in servers:
        put_raw(server, "src", b"a", b"b")
    result = run(servers, "move", "src", "dst", "--count", "3", "--json")
    assert result.returncode == 0, result.stderr
    moved = [(r["server"], r["total"]) for r in records(result.stdout)]
    assert moved == [(address(servers[0]), 2), (address(servers[1]), 1), (address(servers[2]), 0)]
    assert [ready(s, "dst") for s in servers] == [2, 1, 0]  # each job stayed on its server
    assert [ready(s, "src") for s in servers] == [0, 1, 2]
    servers[0].kill()
    result = run(servers, "--table", "move", "src", "dst")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"moved 1 job (1 ready, 0 delayed, 0 buried) from src to dst on {address(servers[1])}",
        f"moved 2 jobs (2 ready, 0 delayed, 0 buried) from src to dst on {address(servers[2])}",
    ]
    assert f"nothing moved on {address(servers[0])}: the server is down" in result.stderr


def test_the_exporter_serves_every_server_of_the_url(servers: list[BeanstalkdProcess]) -> None:
    pytest.importorskip("prometheus_client", reason="the metrics extra is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [
            *console_script(),
            "exporter",
            "--metrics-address",
            "127.0.0.1",
            "--metrics-port",
            str(port),
        ],
        env=pool_env(*map(address, servers)),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: answers(port) or proc.poll() is not None, timeout=15)
        up = families(port)["beanstalkd_up"]
        assert up == {(("server", address(s)),): 1 for s in servers}
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def answers(port: int) -> bool:
    try:
        families(port)
    except OSError:
        return False
    return True
