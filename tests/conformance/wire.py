"""Send bytes to a beanstalkd and check the exact bytes that come back.

Every read is bounded in time, so a server that stays silent fails the test
instead of hanging it.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable

from beanstalkm.testing import connect

DEFAULT_TIMEOUT = 3.0

#: The keys of 1.12's ``stats`` reply, in order, with the form of each value.
_INT = r"[0-9]+"
STATS_FORMAT: list[tuple[str, str]] = [
    *(
        (key, _INT)
        for key in (
            "current-jobs-urgent",
            "current-jobs-ready",
            "current-jobs-reserved",
            "current-jobs-delayed",
            "current-jobs-buried",
            "cmd-put",
            "cmd-peek",
            "cmd-peek-ready",
            "cmd-peek-delayed",
            "cmd-peek-buried",
            "cmd-reserve",
            "cmd-reserve-with-timeout",
            "cmd-delete",
            "cmd-release",
            "cmd-use",
            "cmd-watch",
            "cmd-ignore",
            "cmd-bury",
            "cmd-kick",
            "cmd-touch",
            "cmd-stats",
            "cmd-stats-job",
            "cmd-stats-tube",
            "cmd-list-tubes",
            "cmd-list-tube-used",
            "cmd-list-tubes-watched",
            "cmd-pause-tube",
            "job-timeouts",
            "total-jobs",
            "max-job-size",
            "current-tubes",
            "current-connections",
            "current-producers",
            "current-workers",
            "current-waiting",
            "total-connections",
            "pid",
        )
    ),
    ("version", r'"[^"\n]+"'),
    ("rusage-utime", r"[0-9]+\.[0-9]{6}"),
    ("rusage-stime", r"[0-9]+\.[0-9]{6}"),
    ("uptime", _INT),
    ("binlog-oldest-index", _INT),
    ("binlog-current-index", _INT),
    ("binlog-records-migrated", _INT),
    ("binlog-records-written", _INT),
    ("binlog-max-size", _INT),
    ("draining", "true|false"),
    ("id", "[0-9a-f]{16}"),
    ("hostname", r"[^\n]*"),
    ("os", r"[^\n]*"),
    ("platform", r"[^\n]*"),
]

#: Keys whose values describe the server process rather than the queue.
PROCESS_KEYS = frozenset(
    {"pid", "version", "rusage-utime", "rusage-stime", "uptime", "id", "total-connections"}
)


class Wire:
    """One raw connection to the server under test (TCP, or a unix socket for an
    address ``("unix:/path", 0)``)."""

    def __init__(self, address: tuple[str, int], timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self.sock = connect(address, timeout=timeout)
        if self.sock.family != getattr(socket, "AF_UNIX", None):
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._pending = b""

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- sending

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.timeout)
        self.sock.sendall(data)

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    # ------------------------------------------------------------- reading

    def _fill(self, deadline: float) -> bool:
        """Read what arrives before ``deadline``; False on timeout or EOF."""
        # Past the deadline, still take what has already arrived.
        self.sock.settimeout(max(deadline - time.monotonic(), 0.0))
        try:
            chunk = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError, ConnectionResetError):
            return False
        if not chunk:
            return False
        self._pending += chunk
        return True

    def recv_exact(self, n: int, timeout: float | None = None) -> bytes:
        """Up to ``n`` bytes: fewer only if the server went quiet or closed."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self._pending) < n and self._fill(deadline):
            pass
        data, self._pending = self._pending[:n], self._pending[n:]
        return data

    def recv_line(self, timeout: float | None = None) -> bytes:
        """One reply line, CRLF included (or whatever arrived before the timeout)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\r\n" not in self._pending and self._fill(deadline):
            pass
        end = self._pending.find(b"\r\n")
        cut = len(self._pending) if end < 0 else end + 2
        line, self._pending = self._pending[:cut], self._pending[cut:]
        return line

    def expect(self, expected: bytes, timeout: float | None = None) -> None:
        """The next bytes from the server are exactly ``expected``."""
        got = self.recv_exact(len(expected), timeout)
        assert got == expected

    def ask(self, request: bytes, expected: bytes, timeout: float | None = None) -> None:
        """Send ``request``; the reply is exactly ``expected``."""
        self.send(request)
        self.expect(expected, timeout)

    def reply(self, request: bytes, timeout: float | None = None) -> tuple[bytes, bytes]:
        """Send ``request``; return its reply line and body (b"" if none)."""
        self.send(request)
        return self.read_reply(timeout)

    def read_reply(self, timeout: float | None = None) -> tuple[bytes, bytes]:
        line = self.recv_line(timeout)
        assert line.endswith(b"\r\n"), f"no complete reply line: {line!r}"
        words = line.split()
        if words and words[0] in (b"OK", b"FOUND", b"RESERVED"):
            size = int(words[-1]) + 2
            body = self.recv_exact(size, timeout)
            assert len(body) == size, body
            assert body.endswith(b"\r\n"), body
            return line, body[:-2]
        return line, b""

    def expect_silence(self, duration: float = 0.2) -> None:
        """Nothing arrives for ``duration`` seconds (and the connection stays open)."""
        got = self.recv_exact(1, duration)
        assert got == b"", f"unexpected bytes: {got + self._pending!r}"

    def expect_closed(self, timeout: float | None = None) -> None:
        """The server closes the connection without sending anything more."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the server did not close the connection"
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                raise AssertionError("the server did not close the connection") from None
            except ConnectionResetError:
                chunk = b""
            assert not chunk, f"unexpected bytes before close: {chunk!r}"
            return

    # -------------------------------------------------------------- YAML

    def stats(self, request: bytes = b"stats\r\n") -> dict[str, str]:
        line, body = self.reply(request)
        assert line.startswith(b"OK "), line
        return parse_yaml_map(body)


def parse_yaml_map(body: bytes) -> dict[str, str]:
    """The flat ``key: value`` map of a stats reply body (as beanstalkd writes it)."""
    text = body.decode()
    assert text.startswith("---\n"), text
    result: dict[str, str] = {}
    for line in text[4:].splitlines():
        key, sep, value = line.partition(": ")
        assert sep, line
        result[key] = value
    return result


def check_stats_format(body: bytes) -> None:
    """``body`` has 1.12's stats keys, in order, each value in 1.12's format."""
    text = body.decode()
    keys = [line.partition(": ")[0] for line in text[4:].splitlines()]
    assert keys == [key for key, _ in STATS_FORMAT]
    for line, (key, pattern) in zip(text[4:].splitlines(), STATS_FORMAT, strict=True):
        assert re.fullmatch(f"{re.escape(key)}: (?:{pattern})", line), line


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll ``predicate`` until it holds or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def first_to_receive(wires: list[Wire], expected: bytes, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Index of the one connection that receives ``expected``; the others get nothing."""
    deadline = time.monotonic() + timeout
    while True:
        for index, wire in enumerate(wires):
            got = wire.recv_exact(len(expected), 0.01)
            if got:
                assert got == expected
                for other in wires:
                    other.expect_silence(0)
                return index
        assert time.monotonic() < deadline, f"nobody received {expected!r}"
