"""The raw-socket floor: the least a Python client can do for each operation.

A plain blocking socket, request bytes encoded once before the timed loop, ``sendall`` then
``recv`` with just enough parsing to know the whole reply has arrived. Every ratio that
bench.py prints is a client's ops/s over this worker's ops/s in the same round.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from _worker import BODY, DELAY, PRIORITY, TTR, Request, Result, batches, serve, timed

PUT = b"put %d %d %d %d\r\n%b\r\n" % (PRIORITY, DELAY, TTR, len(BODY), BODY)


def _connect(req: Request, watch: bool = False) -> socket.socket:
    sock = socket.create_connection((req.host, req.port))
    tube = req.tube.encode("ascii")
    lines = [b"use %b\r\n" % tube]
    if watch:
        lines.append(b"watch %b\r\n" % tube)
    for line in lines:
        sock.sendall(line)
        reply = sock.recv(256)
        if not reply.startswith((b"USING ", b"WATCHING ")):
            raise RuntimeError(f"unexpected reply {reply!r}")
    return sock


def _read_reply_with_body(recv: Callable[[int], bytes], data: bytes) -> bytes:
    """Complete ``data`` (which starts a ``WORD ... <bytes>\\r\\n<body>\\r\\n`` reply)."""
    while True:
        eol = data.find(b"\r\n")
        if eol >= 0:
            break
        data += recv(4096)
    size = int(data[data.rfind(b" ", 0, eol) + 1 : eol])
    need = eol + 2 + size + 2
    while len(data) < need:
        data += recv(need - len(data))
    return data


def put(req: Request) -> Result:
    with _connect(req) as sock:
        send, recv, request = sock.sendall, sock.recv, PUT

        def step() -> None:
            send(request)
            reply = recv(64)
            if not reply.endswith(b"\r\n") or not reply.startswith(b"INSERTED "):
                raise RuntimeError(f"unexpected reply {reply!r}")

        return timed(step, req.n, req.seconds)


def reserve_delete(req: Request) -> Result:
    with _connect(req, watch=True) as sock:
        send, recv = sock.sendall, sock.recv

        def step() -> None:
            send(b"reserve\r\n")
            data = recv(4096)
            if not data.startswith(b"RESERVED "):
                raise RuntimeError(f"unexpected reply {data[:64]!r}")
            data = _read_reply_with_body(recv, data)
            job_id = data[9 : data.index(b" ", 9)]
            send(b"delete %b\r\n" % job_id)
            if recv(64) != b"DELETED\r\n":
                raise RuntimeError("delete failed")

        return timed(step, min(req.n, req.prefilled), req.seconds)


def stats_tube(req: Request) -> Result:
    with _connect(req) as sock:
        send, recv = sock.sendall, sock.recv
        request = b"stats-tube %b\r\n" % req.tube.encode("ascii")

        def step() -> None:
            send(request)
            data = recv(4096)
            if not data.startswith(b"OK "):
                raise RuntimeError(f"unexpected reply {data[:64]!r}")
            _read_reply_with_body(recv, data)

        return timed(step, req.n, req.seconds)


def put_pipelined(req: Request) -> Result:
    with _connect(req) as sock:
        send, recv = sock.sendall, sock.recv
        batch = req.batch
        request = PUT * batch

        def step() -> None:
            send(request)
            # Each reply is one "INSERTED <id>\r\n" line: count line ends until all came.
            seen = 0
            last = b""
            while seen < batch:
                last = recv(65536)
                if not last:
                    raise RuntimeError("server closed the connection")
                seen += last.count(b"\n")
            if not last.endswith(b"INSERTED", 0, last.rfind(b" ")):
                raise RuntimeError(f"unexpected reply {last[-64:]!r}")

        return timed(step, batches(req), req.seconds, per_step=batch)


if __name__ == "__main__":
    serve(
        "raw socket",
        "-",
        {
            "put": put,
            "reserve-delete": reserve_delete,
            "stats-tube": stats_tube,
            "put-pipelined": put_pipelined,
        },
    )
