"""The binlog with real files, driven through the broker without sockets.

Each test writes a log with one server state, then opens the directory again with a
fresh broker, as a restarted server would, and looks at what came back.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import time
from pathlib import Path

import pytest

from beanstalkm.server import ServerThread
from beanstalkm.server import binlog as binlog_module
from beanstalkm.server.binlog import Binlog, BinlogLocked
from beanstalkm.server.binlog_format import SHORT_RECORD_SIZE, parse_file
from beanstalkm.server.commands import Dispatcher, ReadBody, Skip
from beanstalkm.server.state import Broker

#: Small files, so that rotation and compaction happen within a short test.
SMALL = 4096


class Node:
    """A broker with a binlog on ``directory``; commands go in, replies come out."""

    def __init__(self, directory: Path, **options: object) -> None:
        self.reports: list[str] = []
        self.broker = Broker()
        options.setdefault("file_size", SMALL)
        self.binlog = Binlog(str(directory), report=self.reports.append, **options)  # type: ignore[arg-type]
        self.binlog.open(self.broker)
        self.dispatcher = Dispatcher(self.broker, self.broker.open_session(lambda reply: None))

    def __call__(self, line: bytes, body: bytes | None = None) -> bytes:
        result = self.dispatcher.run(line)
        if isinstance(result, ReadBody):
            assert body is not None
            reply = self.broker.put(result.job, body + b"\r\n")
        elif isinstance(result, Skip):
            reply = result.reply
        elif isinstance(result, tuple):
            reply = b"".join(result)
        else:
            assert isinstance(result, bytes), result
            reply = result
        self.binlog.commit()
        return reply

    def put(self, body: bytes = b"x", pri: int = 0, delay: int = 0, ttr: int = 60) -> int:
        reply = self(b"put %d %d %d %d" % (pri, delay, ttr, len(body)), body)
        assert reply.startswith(b"INSERTED "), reply
        return int(reply.split()[1])

    def close(self) -> None:
        self.binlog.close()


_CLOCKED = re.compile(rb"^(age|time-left): \d+$", re.MULTILINE)


def masked(stats: bytes) -> bytes:
    return re.sub(rb"^OK \d+\r\n", b"OK *\r\n", _CLOCKED.sub(rb"\1: *", stats))


def snapshot(node: Node) -> dict[str, bytes]:
    """What clients can see of every job and tube (clock-dependent values hidden)."""
    state: dict[str, bytes] = {"tubes": node(b"list-tubes")}
    for job_id in sorted(node.broker.jobs):
        state[f"job {job_id}"] = masked(node(b"stats-job %d" % job_id))
        state[f"body {job_id}"] = node(b"peek %d" % job_id)
    for name in sorted(node.broker.tubes_by_name):
        state[f"tube {name!r}"] = node(b"stats-tube " + name)
    return state


@pytest.fixture
def wal(tmp_path: Path) -> Path:
    directory = tmp_path / "wal"
    directory.mkdir()
    return directory


def reopen(node: Node, directory: Path, **options: object) -> Node:
    node.close()
    return Node(directory, **options)


def binlog_files(directory: Path) -> list[Path]:
    files = [p for p in directory.iterdir() if p.name.startswith("binlog.")]
    return sorted(files, key=lambda p: int(p.name.split(".")[1]))


# ------------------------------------------------------------ restoring jobs


def test_every_logged_state_comes_back(wal: Path) -> None:
    node = Node(wal)
    node(b"use emails")
    ready = node.put(b"ready", pri=5)
    delayed = node.put(b"delayed", delay=3600)
    reserved = node.put(b"reserved", pri=7)
    buried = node.put(b"buried", pri=9)
    released = node.put(b"released")
    gone = node.put(b"gone")
    node(b"watch emails")
    assert node(b"reserve-job %d" % reserved).startswith(b"RESERVED")
    node(b"reserve-job %d" % buried)
    assert node(b"bury %d 100" % buried) == b"BURIED\r\n"
    node(b"reserve-job %d" % released)
    assert node(b"release %d 3 600" % released) == b"RELEASED\r\n"
    assert node(b"delete %d" % gone) == b"DELETED\r\n"
    node(b"pause-tube emails 100")
    before = snapshot(node)

    node = reopen(node, wal, file_size=SMALL)
    after = snapshot(node)
    assert node.reports == []
    assert sorted(node.broker.jobs) == [ready, delayed, reserved, buried, released]
    assert after["tubes"] == before["tubes"] == b"OK 23\r\n---\n- default\n- emails\n\r\n"
    # The reserved job comes back ready; the buried one counts one more bury
    # (beanstalkd buries it again while replaying); pauses are not logged.
    assert b"state: ready" in after[f"job {reserved}"]
    assert b"buries: 2" in after[f"job {buried}"]
    assert b"state: buried\npri: 100" in after[f"job {buried}"]
    assert b"state: delayed\npri: 3" in after[f"job {released}"]
    assert b"releases: 1" in after[f"job {released}"]
    assert b"pause: 0" in after["tube b'emails'"]
    for job_id in (ready, delayed):
        assert after[f"job {job_id}"] == before[f"job {job_id}"]
    for job_id in (ready, delayed, reserved, buried, released):
        assert after[f"body {job_id}"] == before[f"body {job_id}"]
    # Ids go on from the highest one logged, the deleted one included.
    assert node.put() == gone + 1
    node.close()


def test_only_what_beanstalkd_logs_is_logged(wal: Path) -> None:
    node = Node(wal)
    job = node.put()
    node(b"reserve-job %d" % job)
    node(b"touch %d" % job)
    node(b"release %d 50 0" % job)  # no delay: not logged, so the priority is lost
    node(b"reserve-job %d" % job)
    node(b"release %d 60 1" % job)  # a delay: logged
    node(b"kick-job %d" % job)
    node(b"reserve-job %d" % job)
    node(b"bury %d 70" % job)
    node(b"kick 10")
    assert node.binlog.written == 5  # put, release with delay, kick-job, bury, kick
    node(b"reserve-job %d" % job)
    node(b"release %d 80 0" % job)
    node = reopen(node, wal, file_size=SMALL)
    stats = node(b"stats-job %d" % job)
    assert b"state: ready\npri: 70" in stats
    # The kick was the last record: two releases, one bury, two kicks (the release
    # after it, without a delay, is not logged).
    assert b"releases: 2\nburies: 1\nkicks: 2" in stats
    node.close()


def test_stats_report_the_files(wal: Path) -> None:
    node = Node(wal)
    for _ in range(100):
        node.put(b"y" * 100)
    stats = node(b"stats")
    assert b"binlog-oldest-index: 1\n" in stats
    assert b"binlog-records-written: 100\n" in stats
    assert b"binlog-max-size: 4096\n" in stats
    current = int(re.search(rb"binlog-current-index: (\d+)", stats)[1])  # type: ignore[index]
    assert current > 1  # 100 jobs of ~200 bytes do not fit in one 4 KiB file
    assert b"file: 1\n" in node(b"stats-job 1")
    assert b"file: %d\n" % current in node(b"stats-job 100")
    node.close()


def test_a_directory_is_used_by_one_server_at_a_time(wal: Path) -> None:
    node = Node(wal)
    with pytest.raises(BinlogLocked):
        Node(wal)
    node.close()
    Node(wal).close()


# ------------------------------------------------------------- cut records


def build_log(directory: Path, scratch: Path, last: str) -> tuple[dict[str, bytes], Path, int]:
    """A log whose last record, alone in the newest file, is of kind ``last``.

    Returns what a restart shows without that record, the file holding it, and
    where the record starts.
    """
    node = Node(directory)
    node(b"use t")
    first = node.put(b"first", pri=1)
    second = node.put(b"second", pri=2)
    node(b"watch t")
    node(b"reserve-job %d" % second)
    node(b"release %d 4 7" % second)
    node.close()
    shutil.copytree(directory, scratch)
    expected = Node(scratch)
    before = snapshot(expected)
    expected.close()
    node = Node(directory)
    node(b"watch t")
    if last == "put":
        node(b"use t")
        node.put(b"the last one", pri=3, delay=5)
    elif last == "bury":
        node(b"reserve-job %d" % second)
        node(b"bury %d 9" % second)
    else:
        node(b"delete %d" % first)
    node.close()
    path = binlog_files(directory)[-1]
    records, problem = parse_file(path.read_bytes())
    assert problem is None
    assert len(records) == 1
    return before, path, records[0].offset


@pytest.mark.parametrize("last", ["put", "bury", "delete"])
@pytest.mark.parametrize("how", ["truncated", "zero-filled"])
def test_a_cut_last_record_is_skipped_at_every_offset(tmp_path: Path, last: str, how: str) -> None:
    """A crash in the middle of a write: the file ends inside the last record (or,
    in a preallocated file, zeros follow). Every complete record is kept and the
    server says what it skipped."""
    source = tmp_path / "source"
    source.mkdir()
    before, path, start = build_log(source, tmp_path / "expected", last)
    data = path.read_bytes()
    end = len(data.rstrip(b"\0"))
    assert end - start >= SHORT_RECORD_SIZE
    for cut in range(start, end):
        copy = tmp_path / f"cut{cut}"
        shutil.copytree(source, copy)
        target = copy / path.name
        os.chmod(target, 0o600)
        if how == "truncated":
            os.truncate(target, cut)
        else:
            target.write_bytes(data[:cut] + bytes(len(data) - cut))
        node = Node(copy)
        try:
            assert snapshot(node) == before, f"cut at {cut}"
            # Zeros alone (the start of a short record) look like the end of the log.
            skipped = len(data[start:cut].rstrip(b"\0"))
            if skipped == 0:
                assert node.reports == [], f"cut at {cut}"
            else:
                assert len(node.reports) == 1, f"cut at {cut}: {node.reports}"
                assert f"offset {start}:" in node.reports[0]
                assert f"; {skipped} bytes of data skipped" in node.reports[0]
        finally:
            node.close()
        shutil.rmtree(copy)


def test_a_damaged_record_in_an_older_file_is_reported_and_the_file_kept(wal: Path) -> None:
    node = Node(wal)
    node(b"use t")
    kept = node.put(b"kept")
    damaged = node.put(b"damaged body")
    after_it = node.put(b"after it")
    node = reopen(node, wal)  # later records go to a new file
    newer = node.put(b"in the newer file")
    node(b"delete %d" % kept)
    node.close()
    first = binlog_files(wal)[0]
    data = bytearray(first.read_bytes())
    data[data.index(b"damaged body") + 3] ^= 0x20
    os.chmod(first, 0o600)
    first.write_bytes(bytes(data))

    node = Node(wal)
    assert len(node.reports) == 1
    assert f"{first}: offset " in node.reports[0]
    assert f"job {damaged}: tube name or body does not match its checksum" in node.reports[0]
    assert "damaged and left alone" in node.reports[0]
    # Records before the damage and in later files count; the rest of the file cannot.
    assert sorted(node.broker.jobs) == [newer]
    assert after_it not in node.broker.jobs
    # Left alone: compaction and restarts never remove it.
    for _ in range(300):
        node(b"delete %d" % node.put(b"z" * 200))
    node = reopen(node, wal)
    assert first.exists()
    assert len(node.reports) == 1
    node.close()


def test_unknown_files_are_left_alone(wal: Path) -> None:
    (wal / "binlog.1").write_bytes(b"\x05\0\0\0" + bytes(100))  # a version-5 log
    node = Node(wal)
    assert node.reports == [
        f"{wal / 'binlog.1'}: unknown binlog version 5; not a binlog file, left alone"
    ]
    node.put()
    node.close()
    assert (wal / "binlog.1").exists()
    assert [p.name for p in binlog_files(wal)] == ["binlog.1", "binlog.2"]


# ----------------------------------------------------------------- upkeep


def test_the_log_stays_small_while_few_jobs_live(wal: Path) -> None:
    """Scaled down from a million puts and deletes (see bench/binlog_bench.py)."""
    node = Node(wal, fsync_ms=None)
    node(b"use churn")
    live = [node.put(b"long-lived %d" % i) for i in range(5)]
    for i in range(20_000):
        job = node.put(b"j" * 50)
        assert node(b"delete %d" % job) == b"DELETED\r\n"
        if i % 4000 == 0:  # the long-lived jobs change state now and then
            node(b"kick 1")
    written = node.binlog.written
    assert written > 40_000
    size = sum(p.stat().st_size for p in binlog_files(wal))
    assert size < 16 * SMALL, size
    assert node.binlog.migrated > 0
    assert node.binlog.oldest_index > 1
    node = reopen(node, wal, fsync_ms=None)
    assert sorted(node.broker.jobs) == live
    assert node.reports == []
    node.close()


def test_retired_files_go_only_once_what_replaced_them_is_synced(wal: Path) -> None:
    node = Node(wal, fsync_ms=3_600_000)  # one fsync now, the next in an hour
    node(b"use t")
    node.put(b"old job")
    for _ in range(200):
        node(b"delete %d" % node.put(b"w" * 100))
    # The old job was moved forward; its file waits for the move to be synced.
    assert node.binlog.oldest_index > 1
    assert (wal / "binlog.1").exists()
    assert node.binlog.sync_due() is not None
    node.binlog.sync()
    assert not (wal / "binlog.1").exists()
    assert node.binlog.sync_due() is None
    node.close()


@pytest.mark.parametrize(("fsync_ms", "due"), [(0, False), (None, False), (600_000, True)])
def test_fsync_policy(wal: Path, fsync_ms: int | None, due: bool) -> None:
    """-f0 syncs before every reply, -F never, -f MS at most every MS (the server
    arms a timer for ``sync_due``)."""
    node = Node(wal, fsync_ms=fsync_ms)
    node.put()
    assert (node.binlog.sync_due() is not None) is due
    node.close()


def test_a_full_disk_refuses_puts_and_keeps_deletes(
    wal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = Node(wal)
    node(b"use t")

    def disk_full(fd: int, size: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(binlog_module, "_preallocate", disk_full)
    jobs = []
    while True:
        reply = node(b"put 0 0 60 100", b"f" * 100)
        if reply == b"OUT_OF_MEMORY\r\n":
            break
        jobs.append(int(reply.split()[1]))
        assert len(jobs) < 1000
    assert jobs
    node(b"watch t")
    node(b"reserve-job %d" % jobs[0])
    assert node(b"bury %d 0" % jobs[0]) in (b"BURIED\r\n", b"OUT_OF_MEMORY\r\n")
    # Every live job has room set aside for its delete.
    for job in jobs:
        assert node(b"delete %d" % job) == b"DELETED\r\n"
    monkeypatch.undo()
    node = reopen(node, wal)
    assert node.broker.jobs == {}
    assert node.reports == []
    node.close()


def test_a_failed_write_acknowledges_nothing_and_stops_the_server(
    wal: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk error: the put's reply is never sent, every connection is dropped, and
    the server stops; what was logged before is still there."""
    server = ServerThread(binlog_dir=str(wal), binlog_size=SMALL)
    address = server.start()
    runner = server.runner
    assert runner is not None
    binlog = runner.service.binlog
    assert binlog is not None
    with socket.create_connection(address, timeout=5) as client:
        client.sendall(b"put 0 0 10 4\r\nkept\r\n")
        assert client.recv(64) == b"INSERTED 1\r\n"
        cur = binlog._cur
        assert cur is not None
        failing_fd = cur.fd
        real_write = os.write

        def write(fd: int, data: bytes | memoryview) -> int:
            if fd == failing_fd:
                raise OSError(errno.EIO, "Input/output error")
            return real_write(fd, data)

        monkeypatch.setattr(os, "write", write)
        client.sendall(b"put 0 0 10 4\r\nlost\r\n")
        try:
            reply = client.recv(64)
        except ConnectionResetError:
            reply = b""
        assert reply == b""
    thread = server._thread
    assert thread is not None
    thread.join(5)
    assert not thread.is_alive()
    assert runner.failed
    monkeypatch.undo()
    server.stop()
    node = Node(wal)
    assert sorted(node.broker.jobs) == [1]
    node.close()


def test_a_running_server_fsyncs_within_the_interval(wal: Path) -> None:
    """-f MS: what was written is fsynced at most MS ms later, even if nothing else
    is written (the server arms a timer for it)."""
    server = ServerThread(binlog_dir=str(wal), fsync_ms=1000)
    address = server.start()
    runner = server.runner
    assert runner is not None
    binlog = runner.service.binlog
    assert binlog is not None
    try:
        with socket.create_connection(address, timeout=5) as client:
            client.sendall(b"put 0 0 10 1\r\nx\r\nput 0 0 10 1\r\ny\r\n")
            data = b""
            while data.count(b"\r\n") < 2:
                data += client.recv(64)
        deadline = time.monotonic() + 10
        while binlog.sync_due() is not None:
            assert time.monotonic() < deadline, "never synced"
            time.sleep(0.02)
    finally:
        server.stop()
