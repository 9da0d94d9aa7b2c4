"""The binlog against the real thing: the same jobs, a ``kill -9``, the same restart.

Both servers run as processes with ``-b``. One script puts 10,000 jobs into several
tubes and leaves them ready, delayed, reserved, buried, released with a delay,
kicked, deleted, with a tube paused; then both servers are killed with SIGKILL and
started again on the same directory. What each brings back (``stats-job`` of every
job, ``stats-tube`` of every tube, the tube list, the bodies) must be what the
other brings back. Then each reads a directory the other wrote.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from beanstalkm.testing import EMBEDDED, BeanstalkdNotFound, BeanstalkdProcess

from .wire import Wire, parse_yaml_map

JOBS = 10_000
TUBES = [b"t%d" % i for i in range(5)]
BATCH = 500

_CLOCKED = re.compile(rb"^(age|time-left|pause-time-left): \d+$", re.MULTILINE)


def masked(reply: bytes) -> bytes:
    """Hide what depends on the clock (and the reply length that depends on it)."""
    return re.sub(rb"^OK \d+\r\n", b"OK *\r\n", _CLOCKED.sub(rb"\1: *", reply))


def pipeline(wire: Wire, requests: list[bytes]) -> list[bytes]:
    """Send many requests in batches; return each whole reply (line and body)."""
    replies: list[bytes] = []
    for start in range(0, len(requests), BATCH):
        chunk = requests[start : start + BATCH]
        wire.send(b"".join(chunk))
        for _ in chunk:
            line, body = wire.read_reply(timeout=30)
            replies.append(line + body)
    return replies


def scenario(address: tuple[str, int]) -> None:
    """The same commands, in the same order, for both servers."""
    producer, worker = Wire(address, timeout=30), Wire(address, timeout=30)
    try:
        puts = []
        for i in range(JOBS):
            tube = TUBES[i % len(TUBES)]
            delay = 3600 if i % 7 == 3 else 0
            body = b"job %d " % i + b"x" * (i % 50)
            puts.append(b"use %s\r\n" % tube)
            puts.append(
                b"put %d %d %d %d\r\n%s\r\n" % (i % 2000, delay, 30 + i % 50, len(body), body)
            )
        replies = pipeline(producer, puts)
        assert replies[-1] == b"INSERTED %d\r\n" % JOBS
        ids = range(1, JOBS + 1)
        requests = [b"watch %s\r\n" % tube for tube in TUBES]
        # Reserve one job in 11; of those, bury some, release some with a delay
        # and some without, delete some, and keep the rest reserved.
        for job in ids:
            if job % 11 == 0:
                requests.append(b"reserve-job %d\r\n" % job)
                kind = job % 5
                if kind == 0:
                    requests.append(b"bury %d %d\r\n" % (job, job % 100))
                elif kind == 1:
                    requests.append(b"release %d 7 %d\r\n" % (job, 600 + job % 3))
                elif kind == 2:
                    requests.append(b"release %d 8 0\r\n" % job)
                elif kind == 3:
                    requests.append(b"delete %d\r\n" % job)
            elif job % 13 == 0:
                requests.append(b"delete %d\r\n" % job)
        requests += [b"use t1\r\n", b"kick 40\r\n", b"kick-job 4\r\n"]
        requests += [b"pause-tube t3 1000\r\n", b"use t4\r\n", b"kick 25\r\n"]
        pipeline(worker, requests)
    finally:
        producer.close()
        # The worker's reservations are still held when the server is killed.


def observe(address: tuple[str, int]) -> dict[str, bytes]:
    """What a client sees of every job and tube."""
    with Wire(address, timeout=30) as wire:
        state = {"tubes": pipeline(wire, [b"list-tubes\r\n"])[0]}
        ids = range(1, JOBS + 3)
        stats_jobs = pipeline(wire, [b"stats-job %d\r\n" % j for j in ids])
        for job, reply in zip(ids, stats_jobs, strict=True):
            state[f"job {job}"] = masked(reply)
        peeks = pipeline(wire, [b"peek %d\r\n" % j for j in ids])
        for job, reply in zip(ids, peeks, strict=True):
            state[f"body {job}"] = reply
        for tube in [b"default", *TUBES]:
            state[f"tube {tube!r}"] = masked(pipeline(wire, [b"stats-tube %s\r\n" % tube])[0])
        stats = parse_yaml_map(pipeline(wire, [b"stats\r\n"])[0].partition(b"\r\n")[2])
        for key, value in stats.items():
            if key.startswith(("current-jobs-", "binlog-")) or key == "current-tubes":
                state[key] = value.encode()
        # The next id must continue where the log left off.
        line = pipeline(wire, [b"put 0 0 1 1\r\nn\r\n"])[0]
        state["next put"] = line
    return state


Start = Callable[[str, Path], BeanstalkdProcess]


@pytest.fixture
def start() -> Iterator[Start]:
    """Start a server (``"real"`` or ``"embedded"``) with ``-b directory``."""
    started: list[BeanstalkdProcess] = []

    def start(kind: str, directory: Path) -> BeanstalkdProcess:
        try:
            server = BeanstalkdProcess(
                ["-b", str(directory)], binary=EMBEDDED if kind == "embedded" else None
            )
        except BeanstalkdNotFound as exc:
            pytest.skip(f"needs the real server to compare with: {exc}")
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


def crash_and_restart(server: BeanstalkdProcess) -> tuple[str, int]:
    server.kill()
    return server.start()


def test_the_same_jobs_come_back_after_kill_9(tmp_path: Path, start: Start) -> None:
    states = {}
    for kind in ("real", "embedded"):
        directory = tmp_path / kind
        directory.mkdir()
        server = start(kind, directory)
        scenario(server.address)
        states[kind] = observe(crash_and_restart(server))
        server.stop()
    real, embedded = states["real"], states["embedded"]
    assert real.keys() == embedded.keys()
    differences = [key for key in real if real[key] != embedded[key]]
    assert not differences, [(key, real[key], embedded[key]) for key in differences[:5]]
    # And what came back is what should have.
    assert real["current-jobs-reserved"] == b"0"  # reserved jobs come back ready
    assert int(real["current-jobs-buried"]) > 0
    assert int(real["current-jobs-delayed"]) > 0
    assert real["next put"] == b"INSERTED %d\r\n" % (JOBS + 1)
    # Released without a delay: not logged, so the priority is the one put with.
    assert b"state: ready\npri: 76\n" in real["job 77"]
    assert b"state: ready\npri: 3\n" in real["job 4"]  # kicked out of its delay
    assert real["binlog-current-index"] == b"2"


@pytest.mark.parametrize(("writer", "reader"), [("real", "embedded"), ("embedded", "real")])
def test_a_directory_moves_between_the_servers(
    tmp_path: Path, start: Start, writer: str, reader: str
) -> None:
    written = tmp_path / "written"
    written.mkdir()
    server = start(writer, written)
    scenario(server.address)
    server.kill()
    # The writer and the other server each restore their own copy.
    copy = tmp_path / "copy"
    shutil.copytree(written, copy)
    own = start(writer, written)
    theirs = start(reader, copy)
    mine, other = observe(own.address), observe(theirs.address)
    differences = [key for key in mine if mine[key] != other[key]]
    assert not differences, [(key, mine[key], other[key]) for key in differences[:5]]


def command_of(kind: str) -> list[str]:
    try:
        return BeanstalkdProcess(binary=EMBEDDED if kind == "embedded" else None).command
    except BeanstalkdNotFound as exc:
        pytest.skip(f"needs the real server: {exc}")


@pytest.mark.parametrize(("holder", "other"), [("real", "embedded"), ("embedded", "real")])
def test_one_server_per_directory(tmp_path: Path, start: Start, holder: str, other: str) -> None:
    """beanstalkd's lock: a second server on the same directory exits with status 10,
    whichever of the two holds it."""
    start(holder, tmp_path)
    command = command_of(other)
    result = subprocess.run(
        [*command, "-p", "0", "-b", str(tmp_path)], capture_output=True, timeout=30, check=False
    )
    assert result.returncode == 10
    assert b"lock" in result.stderr


@pytest.mark.parametrize("kind", ["real", "embedded"])
def test_a_missing_directory_is_refused(tmp_path: Path, kind: str) -> None:
    command = command_of(kind)
    result = subprocess.run(
        [*command, "-p", "0", "-b", str(tmp_path / "missing")],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 10
