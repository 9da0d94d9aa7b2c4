"""The command line (parsing and the real process) and the in-process runners."""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from beanstalkm.server import Server, ServerThread, main, run_in_thread
from beanstalkm.server.cli import EXIT_USAGE, UsageError, parse_args
from beanstalkm.testing import free_port


def ask(address: tuple[str, int], request: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def wait_listening(address: tuple[str, int], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            socket.create_connection(address, timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    raise AssertionError("the server did not start")


@pytest.fixture
def server_process() -> Iterator[tuple[subprocess.Popen[bytes], tuple[str, int]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "beanstalkm.server", "-l", "127.0.0.1", "-p", str(port), "-z100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    address = ("127.0.0.1", port)
    try:
        wait_listening(address, proc)
        yield proc, address
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


# ------------------------------------------------------------------ parse_args


def test_defaults() -> None:
    opts = parse_args([])
    assert (opts.host, opts.port, opts.max_job_size, opts.verbose) == ("127.0.0.1", None, 65535, 0)


def test_flags_in_beanstalkd_style() -> None:
    opts = parse_args(["-l", "0.0.0.0", "-p11301", "-VVz", "1024"])
    assert (opts.host, opts.port, opts.max_job_size, opts.verbose) == ("0.0.0.0", 11301, 1024, 2)


def test_oversized_max_job_size_is_capped_with_a_warning() -> None:
    opts = parse_args(["-z", str(2**31)])
    assert opts.max_job_size == 2**30
    assert opts.warnings == ("maximum job size was set to 1073741824",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-x"], "unknown flag: -x"),
        (["--port"], "unknown flag: --"),
        (["serve"], "unknown argument: serve"),
        (["-p"], "flag requires an argument: -p"),
        (["-p", "http"], "invalid port for -p: 'http'"),
        (["-p", "70000"], "invalid port for -p: '70000'"),
        (["-z", "-1"], "invalid size for -z: '-1'"),
        (["-b"], "flag requires an argument: -b"),
        (["-f", "-1"], "invalid size for -f: '-1'"),
        (["-s", "1k"], "invalid size for -s: '1k'"),
        (["-u", "nobody"], "-u: the embedded server does not change user"),
    ],
)
def test_bad_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match="^" + message.replace("-", "\\-")):
        parse_args(argv)


def test_binlog_flags() -> None:
    opts = parse_args(["-b", "/var/lib/beanstalkd", "-f", "0", "-s4096"])
    assert (opts.binlog_dir, opts.fsync_ms, opts.binlog_size) == ("/var/lib/beanstalkd", 0, 4096)
    # The last of -f and -F wins, as in beanstalkd.
    assert parse_args(["-f10", "-F"]).fsync_ms is None
    assert parse_args(["-F", "-f10"]).fsync_ms == 10
    assert parse_args([]).fsync_ms == 50


def test_removed_flags_only_warn_as_in_beanstalkd() -> None:
    assert parse_args(["-c", "-n"]).warnings == (
        "-c flag was removed. binlog is always compacted.",
        "-n flag was removed. binlog is always compacted.",
    )


def test_parsing_defaults_match_the_server() -> None:
    # cli.py repeats them so that parsing imports nothing else.
    from beanstalkm.server.binlog import DEFAULT_FILE_SIZE, DEFAULT_FSYNC_MS
    from beanstalkm.server.state import DEFAULT_MAX_JOB_SIZE

    opts = parse_args([])
    assert (opts.max_job_size, opts.fsync_ms, opts.binlog_size) == (
        DEFAULT_MAX_JOB_SIZE,
        DEFAULT_FSYNC_MS,
        DEFAULT_FILE_SIZE,
    )


def test_main_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-u", "nobody"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "beanstalkm serve: -u: the embedded server does not change user" in err
    assert "Usage:" in err


def test_main_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-h"]) == 0
    assert "-z BYTES" in capsys.readouterr().out
    assert main(["-v"]) == 0
    # beanstalkd prints "beanstalkd 1.12": the same first words.
    assert capsys.readouterr().out.startswith("beanstalkd 1.12 (beanstalkm ")


def test_main_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["-p", str(port)]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


# ------------------------------------------------------------- the process


def test_process_serves_and_stops_on_sigterm(
    server_process: tuple[subprocess.Popen[bytes], tuple[str, int]],
) -> None:
    proc, address = server_process
    assert ask(address, b"put 0 0 1 1\r\nx\r\n") == b"INSERTED 1\r\n"
    assert ask(address, b"put 0 0 1 101\r\n" + b"y" * 101 + b"\r\n") == b"JOB_TOO_BIG\r\n"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == 0


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")
def test_process_drains_on_sigusr1(
    server_process: tuple[subprocess.Popen[bytes], tuple[str, int]],
) -> None:
    proc, address = server_process
    proc.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while b"draining: true" not in ask(address, b"stats\r\n"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert ask(address, b"put 0 0 1 1\r\nx\r\n") == b"DRAINING\r\n"


def test_process_verbose_logs_to_stderr() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "beanstalkm.server", "-p", str(port), "-VV"],
        stderr=subprocess.PIPE,
    )
    try:
        wait_listening(("127.0.0.1", port), proc)
        ask(("127.0.0.1", port), b"list-tube-used\r\n")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert b"listening on 127.0.0.1:%d" % port in err
    assert b"list-tube-used" in err


# --------------------------------------------------------- in-process runners


def test_run_in_thread() -> None:
    with run_in_thread(max_job_size=3) as address:
        assert ask(address, b"put 0 0 1 4\r\nabcd\r\n") == b"JOB_TOO_BIG\r\n"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=1)


def test_server_thread_restart_and_drain() -> None:
    server = ServerThread()
    host, port = server.start()
    assert server.start() == (host, port)  # already running
    assert ask((host, port), b"put 0 0 1 1\r\nx\r\n") == b"INSERTED 1\r\n"
    assert server.restart() == (host, port)
    assert ask((host, port), b"peek 1\r\n") == b"NOT_FOUND\r\n"
    server.enter_drain_mode()
    assert ask((host, port), b"put 0 0 1 1\r\nx\r\n") == b"DRAINING\r\n"
    server.stop()
    server.stop()
    with pytest.raises(RuntimeError, match="not running"):
        server.enter_drain_mode()


def test_server_thread_reports_bind_errors() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(OSError, match="address already in use"):
            ServerThread(port=busy.getsockname()[1]).start()


def test_server_in_your_own_event_loop() -> None:
    async def scenario() -> bytes:
        server = Server()
        host, port = await server.start()
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"put 0 0 1 2\r\nhi\r\nreserve\r\n")
        reply = await reader.readexactly(len(b"INSERTED 1\r\nRESERVED 1 2\r\nhi\r\n"))
        await server.stop()
        writer.close()
        return reply

    assert asyncio.run(scenario()) == b"INSERTED 1\r\nRESERVED 1 2\r\nhi\r\n"


def test_server_in_your_own_event_loop_with_a_binlog_and_a_unix_socket(tmp_path: Path) -> None:
    short = Path(tempfile.mkdtemp(prefix="bs"))
    path = short / "s.sock"

    async def session(request: bytes, size: int) -> bytes:
        server = Server(f"unix:{path}", binlog_dir=str(tmp_path))
        assert await server.start() == (f"unix:{path}", 0)
        reader, writer = await asyncio.open_unix_connection(str(path))
        writer.write(request)
        reply = await reader.readexactly(size)
        writer.close()
        await server.stop()
        return reply

    try:
        assert asyncio.run(session(b"put 0 0 1 2\r\nhi\r\n", 12)) == b"INSERTED 1\r\n"
        assert not path.exists()  # removed when the server stopped
        assert asyncio.run(session(b"peek 1\r\n", 15)) == b"FOUND 1 2\r\nhi\r\n"
    finally:
        shutil.rmtree(short)


def test_process_on_port_zero_says_where_it_listens() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "beanstalkm.server", "-p", "0"], stderr=subprocess.PIPE
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline().decode()
        assert line.startswith("beanstalkm serve: listening on 127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])
        assert ask(("127.0.0.1", port), b"list-tube-used\r\n") == b"USING default\r\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)


# ------------------------------------------------------------------ start-up


def test_serving_imports_only_what_it_needs() -> None:
    """Beyond the package itself, the command line imports nothing of the client,
    nor asyncio or logging (which alone take longer than beanstalkd takes to start)."""
    script = (
        "import sys, beanstalkm\n"
        "before = set(sys.modules)\n"
        "import beanstalkm.server.cli, beanstalkm.server.runner, beanstalkm.server.binlog\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    loaded = set(result.stdout.split())
    assert "beanstalkm.server.runner" in loaded
    unwanted = {"asyncio", "logging", "dataclasses", "threading", "signal"}
    unwanted |= {"beanstalkm.client", "beanstalkm.commands", "beanstalkm.connection"}
    unwanted |= {"beanstalkm.worker", "beanstalkm.protocol", "beanstalkm.aio"}
    assert loaded & unwanted == set()


def test_signals_are_handled_as_soon_as_the_server_listens() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "beanstalkm.server", "-p", str(port)], stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while True:  # connectable: the kernel accepts, the server may still be loading
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.001)
        proc.send_signal(signal.SIGUSR1)
        assert b"draining: true" in ask(("127.0.0.1", port), b"stats\r\n")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
