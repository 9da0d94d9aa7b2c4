"""Helpers shared by the CLI and worker tests: bounded polling, the console script."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, every: float = 0.01) -> None:
    """Poll until ``predicate()`` is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(every)


def console_script() -> list[str]:
    """The installed ``beanstalkm`` script beside this Python, else ``-m beanstalkm.cli``."""
    script = Path(sys.executable).parent / "beanstalkm"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "beanstalkm.cli"]


def cli_env(address: tuple[str, int], **extra: str) -> dict[str, str]:
    """The environment for a CLI run against ``address`` (via BEANSTALKD_URL)."""
    env = dict(os.environ)
    env["BEANSTALKD_URL"] = f"beanstalk://{address[0]}:{address[1]}"
    env.pop("COLUMNS", None)
    env.update(extra)
    return env


def run_cli(
    address: tuple[str, int] | None,
    *args: str,
    input: bytes | str | None = None,
    module: bool = False,
    timeout: float = 30,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the real command line (text in and out), stdin a pipe unless ``input``."""
    command: Sequence[str] = (
        [sys.executable, "-m", "beanstalkm.cli"] if module else console_script()
    )
    if isinstance(input, bytes):
        input = input.decode("utf-8", "surrogateescape")
    return subprocess.run(
        [*command, *args],
        input=input if input is not None else "",
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env if env is not None else cli_env(address) if address else None,
        cwd=ROOT,
    )


def run_cli_bytes(
    address: tuple[str, int], *args: str, input: bytes = b"", timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    """Run the real command line with bytes in and out."""
    return subprocess.run(
        [*console_script(), *args],
        input=input,
        capture_output=True,
        timeout=timeout,
        env=cli_env(address),
        cwd=ROOT,
    )


def run_in_pty(
    address: tuple[str, int],
    *args: str,
    answer: str | None = None,
    all_in_pty: bool = False,
    timeout: float = 30,
) -> tuple[int, str, str]:
    """Run the command line with a terminal as stdin (and stdout/stderr if
    ``all_in_pty``); type ``answer``. Return the exit code, stdout and stderr (for
    ``all_in_pty`` everything is in stdout)."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    # A terminal of 50 rows and 160 columns (a new pty has none).
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
    try:
        out = slave if all_in_pty else subprocess.PIPE
        proc = subprocess.Popen(
            [*console_script(), *args],
            stdin=slave,
            stdout=out,
            stderr=slave if all_in_pty else subprocess.PIPE,
            env=cli_env(address, TERM="xterm"),
            cwd=ROOT,
        )
        os.close(slave)
        slave = -1
        if answer is not None:
            os.write(master, answer.encode())
        if all_in_pty:
            chunks = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the other side closed
                    break
                if not data:
                    break
                chunks.append(data)
            proc.wait(timeout)
            return proc.returncode, b"".join(chunks).decode("utf-8", "replace"), ""
        stdout, stderr = proc.communicate(timeout=timeout)
        return proc.returncode, stdout.decode(), stderr.decode()
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


class Terminal:
    """The command line run on a pseudo-terminal (stdin, stdout and stderr), read as
    bytes: what a person's terminal would receive."""

    def __init__(
        self, address: tuple[str, int] | None, *args: str, env: dict[str, str] | None = None
    ) -> None:
        import fcntl
        import pty
        import struct
        import termios

        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 160, 0, 0))
        environment = env if env is not None else dict(os.environ)
        if address is not None:
            environment = {**environment, **cli_env(address)}
        environment["TERM"] = "xterm"
        try:
            self.proc = subprocess.Popen(
                [*console_script(), *args],
                stdin=slave, stdout=slave, stderr=slave, env=environment, cwd=ROOT,
            )  # fmt: skip
        finally:
            os.close(slave)
        self.output = b""

    def read(self, timeout: float = 0.1) -> bytes:
        """What arrived within ``timeout`` seconds (b"" once the program is gone)."""
        import select

        got = b""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                break
            try:
                chunk = os.read(self.master, 65536)
            except OSError:  # EIO: the other side closed
                break
            if not chunk:
                break
            got += chunk
        self.output += got
        return got

    def read_until(self, needle: bytes, timeout: float = 10.0) -> None:
        """Read until ``needle`` was shown; fail the test after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} never came; got {self.output!r}")
            self.read(0.05)

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self, timeout: float = 15.0) -> int:
        """Wait for the program to end (reading all it writes); its exit code."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read(0.05)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"still running after {timeout}s; got {self.output!r}")
        self.read(0.1)
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_on_terminal(
    address: tuple[str, int] | None, *args: str, timeout: float = 15
) -> tuple[int, bytes]:
    """Run the command line on a terminal to the end; its exit code and every byte it
    sent to the terminal."""
    with Terminal(address, *args) as terminal:
        code = terminal.finish(timeout)
        return code, terminal.output
