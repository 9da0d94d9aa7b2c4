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

__all__ = ["EMBEDDED", "BeanstalkdNotFound", "BeanstalkdProcess", "beanstalkd_process", "free_port"]

LOOPBACK = "127.0.0.1"


class BeanstalkdNotFound(RuntimeError):
    """No ``beanstalkd`` binary on PATH (or at ``$BEANSTALKD_BIN``)."""


def free_port(host: str = LOOPBACK) -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_until_listening(
    host: str, port: int, proc: subprocess.Popen[bytes], deadline: float
) -> bool:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return True
        time.sleep(0.005)
    return False


#: The command that runs the embedded server, for :class:`BeanstalkdProcess`.
EMBEDDED: Final = (sys.executable, "-m", "beanstalkm.server")


class BeanstalkdProcess:
    """A ``beanstalkd`` child process on a free loopback port.

    ``args`` are extra command-line flags (for example ``["-z", "1024"]``).
    ``binary`` is the program: by default the real ``beanstalkd``; pass
    :data:`EMBEDDED` (a command as a sequence) to run beanstalkm's embedded server in a
    process of its own. :meth:`restart` stops the server and starts a new one on the
    same port.
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

    def start(self, timeout: float = 10.0) -> tuple[str, int]:
        """Start the server and wait until it accepts connections."""
        deadline = time.monotonic() + timeout
        fixed_port = self.port != 0
        while True:
            port = self.port if fixed_port else free_port(self.host)
            cmd = [*self.command, "-l", self.host, "-p", str(port), *self.args]
            proc = subprocess.Popen(
                cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_child_env()
            )
            if _wait_until_listening(self.host, port, proc, deadline):
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
