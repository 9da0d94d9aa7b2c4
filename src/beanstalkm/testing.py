"""Start throwaway beanstalkd servers on loopback, for tests and examples.

>>> with beanstalkd_process() as (host, port):  # doctest: +SKIP
...     client = Client(host, port)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

__all__ = [
    "EMBEDDED",
    "UNIX_PREFIX",
    "BeanstalkdNotFound",
    "BeanstalkdProcess",
    "beanstalkd_process",
    "connect",
    "free_port",
]

LOOPBACK = "127.0.0.1"
#: A host of ``unix:/path/to/socket`` means a unix socket, as in beanstalkd's ``-l``.
UNIX_PREFIX = "unix:"


class BeanstalkdNotFound(RuntimeError):
    """No ``beanstalkd`` binary on PATH (or at ``$BEANSTALKD_BIN``)."""


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def connect(address: tuple[str, int], timeout: float | None = None) -> socket.socket:
    """A socket connected to ``(host, port)``, or to ``("unix:/path", 0)``."""
    host, port = address
    if host.startswith(UNIX_PREFIX):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(host[len(UNIX_PREFIX) :])
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection((host, port), timeout=timeout)


def _wait_until_serving(
    address: tuple[str, int], proc: subprocess.Popen[bytes], deadline: float
) -> bool:
    # Served, not just connected: servers listen before they are done starting (before
    # their signal handlers are in place, or their binlog is read). ``quit`` is the one
    # command no statistic counts; the server answers it by closing the connection.
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), connect(address, timeout=0.5) as sock:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            sock.sendall(b"quit\r\n")
            if sock.recv(64) == b"":
                return True
        time.sleep(0.005)
    return False


#: The command that runs the embedded server, for :class:`BeanstalkdProcess`.
EMBEDDED: Final = (sys.executable, "-m", "beanstalkm.server")


class BeanstalkdProcess:
    """A ``beanstalkd`` child process on a free loopback port, or on a unix socket.

    ``args`` are extra command-line flags (for example ``["-z", "1024"]``, or
    ``["-b", directory]`` for a binlog). ``host`` may be ``unix:/path/to/socket``:
    the server then listens there (the port is 0). ``binary`` is the program: by
    default the real ``beanstalkd``; pass :data:`EMBEDDED` (a command as a sequence)
    to run beanstalkm's embedded server in a process of its own. :meth:`restart`
    stops the server and starts a new one on the same address; :meth:`kill` stops it
    as a crash would.
    """

    def __init__(
        self,
        args: Sequence[str] = (),
        host: str = LOOPBACK,
        port: int | None = None,
        binary: str | Sequence[str] | None = None,
    ) -> None:
        found = binary or os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd")
        if not found:
            raise BeanstalkdNotFound("beanstalkd is not installed (apt-get install beanstalkd)")
        self.command = [found] if isinstance(found, str) else list(found)
        self.args = list(args)
        self.host = host
        self.port = port or 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    @property
    def unix_path(self) -> str | None:
        """The socket's path when listening on a unix socket, else None."""
        host = self.host
        return host[len(UNIX_PREFIX) :] if host.startswith(UNIX_PREFIX) else None

    def start(self, timeout: float = 10.0) -> tuple[str, int]:
        """Start the server and wait until it accepts connections."""
        deadline = time.monotonic() + timeout
        unix = self.unix_path is not None
        fixed_port = self.port != 0 or unix
        while True:
            port = self.port if fixed_port else free_port(self.host)
            where = ["-l", self.host] if unix else ["-l", self.host, "-p", str(port)]
            cmd = [*self.command, *where, *self.args]
            proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_child_env()
            )
            if _wait_until_serving((self.host, port), proc, deadline):
                self.proc, self.port = proc, port
                return self.address
            # Lost the race for the port to another process, or too slow: try again.
            _stop(proc)
            if time.monotonic() >= deadline:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"beanstalkd did not start on {self.host}:{port}: {err}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after two seconds)."""
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None

    def kill(self) -> None:
        """Stop the server with SIGKILL, as a crash would: nothing is cleaned up."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None

    def restart(self) -> tuple[str, int]:
        self.stop()
        return self.start()

    def signal(self, signum: int) -> None:
        if self.proc is not None:
            self.proc.send_signal(signum)

    def __enter__(self) -> tuple[str, int]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _child_env() -> dict[str, str]:
    # The embedded server's process must import this beanstalkm, installed or not.
    package_root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": package_root + (os.pathsep + path if path else "")}


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stderr:
        proc.stderr.close()


@contextlib.contextmanager
def beanstalkd_process(args: Sequence[str] = ()) -> Iterator[tuple[str, int]]:
    """Run a real beanstalkd on a free loopback port for the ``with`` block."""
    server = BeanstalkdProcess(args)
    try:
        yield server.start()
    finally:
        server.stop()
