"""``-l unix:PATH``: both servers listen on a unix socket, as processes (and the
embedded one on a thread too)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from beanstalkm.server import ServerThread
from beanstalkm.testing import EMBEDDED, BeanstalkdNotFound, BeanstalkdProcess

from .wire import Wire

pytestmark = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="no unix sockets here")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: a socket path may have at most 107 bytes."""
    directory = Path(tempfile.mkdtemp(prefix="bs"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def start_process(kind: str, path: Path) -> BeanstalkdProcess:
    try:
        server = BeanstalkdProcess(
            host=f"unix:{path}", binary=EMBEDDED if kind == "embedded" else None
        )
    except BeanstalkdNotFound as exc:
        pytest.skip(f"real server not available: {exc}")
    server.start()
    return server


@pytest.fixture(params=["beanstalkd", "embedded", "embedded-thread"])
def unix_server(request: pytest.FixtureRequest, short_dir: Path) -> Iterator[tuple[str, int]]:
    path = short_dir / "beanstalkd.sock"
    if request.param == "embedded-thread":
        thread = ServerThread(f"unix:{path}")
        yield thread.start()
        thread.stop()
        return
    server = start_process(request.param, path)
    yield server.address
    server.stop()


def test_commands_over_a_unix_socket(unix_server: tuple[str, int]) -> None:
    host, port = unix_server
    assert host.startswith("unix:")
    assert port == 0
    with Wire(unix_server) as producer, Wire(unix_server) as worker:
        producer.ask(b"use u\r\nput 1 0 10 5\r\nhello\r\n", b"USING u\r\nINSERTED 1\r\n")
        worker.ask(b"watch u\r\nreserve\r\n", b"WATCHING 2\r\nRESERVED 1 5\r\nhello\r\n")
        worker.ask(b"delete 1\r\n", b"DELETED\r\n")
        stats = producer.stats()
        assert (stats["current-connections"], stats["total-jobs"]) == ("2", "1")


@pytest.mark.parametrize("kind", ["beanstalkd", "embedded"])
def test_an_old_socket_file_is_replaced(kind: str, short_dir: Path) -> None:
    path = short_dir / "old.sock"
    with socket.socket(socket.AF_UNIX) as old:
        old.bind(str(path))  # left behind by a server that was killed
    server = start_process(kind, path)
    try:
        with Wire(server.address) as wire:
            wire.ask(b"list-tube-used\r\n", b"USING default\r\n")
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["beanstalkd", "embedded"])
def test_any_other_file_is_left_alone(kind: str, short_dir: Path) -> None:
    path = short_dir / "data.txt"
    path.write_text("precious")
    try:
        binary = BeanstalkdProcess(binary=EMBEDDED if kind == "embedded" else None).command
    except BeanstalkdNotFound as exc:
        pytest.skip(f"real server not available: {exc}")
    result = subprocess.run(
        [*binary, "-l", f"unix:{path}"], capture_output=True, timeout=30, check=False
    )
    assert result.returncode != 0
    assert path.read_text() == "precious"


def test_the_embedded_server_removes_its_socket_when_it_stops(short_dir: Path) -> None:
    # beanstalkd leaves the file; a new server replaces it either way.
    path = short_dir / "mine.sock"
    server = start_process("embedded", path)
    assert path.exists()
    server.stop()
    assert not path.exists()
    thread = ServerThread(f"unix:{path}")
    thread.start()
    thread.stop()
    assert not path.exists()


def test_the_embedded_command_line_says_why_it_cannot_listen(short_dir: Path) -> None:
    path = short_dir / "data.txt"
    path.write_text("precious")
    result = subprocess.run(
        [sys.executable, "-m", "beanstalkm.server", "-l", f"unix:{path}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert f"cannot listen on unix:{path}: another file already exists at {path}" in result.stderr
