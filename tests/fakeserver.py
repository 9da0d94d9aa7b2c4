"""A scripted stand-in for beanstalkd, for what a real server cannot be made to do."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from types import TracebackType

# Given the bytes of one request (up to and including its line's CRLF), the connection
# and the number of the request on it, do what the test wants: reply, stall or close.
Script = Callable[[bytes, socket.socket, int], None]


class FakeServer:
    """Accepts connections on a loopback port and runs ``script`` for each request."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.address: tuple[str, int] = self.listener.getsockname()[:2]
        self.requests: list[bytes] = []
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> FakeServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(5)
        self.listener.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(0.2)
        buffer = b""
        count = 0
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                buffer += data
                while b"\r\n" in buffer:
                    line, buffer = buffer.split(b"\r\n", 1)
                    request = line + b"\r\n"
                    if line.startswith(b"put "):
                        size = int(line.split()[-1])
                        while len(buffer) < size + 2:
                            buffer += conn.recv(65536)
                        request += buffer[: size + 2]
                        buffer = buffer[size + 2 :]
                    self.requests.append(request)
                    count += 1
                    try:
                        self.script(request, conn, count)
                    except OSError:
                        return
                    if conn.fileno() < 0:
                        return


def replies(*chunks: bytes, close: bool = False) -> Script:
    """A script answering every request with ``chunks`` (then closing, if asked)."""

    def script(request: bytes, conn: socket.socket, count: int) -> None:
        for chunk in chunks:
            conn.sendall(chunk)
        if close:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    return script
