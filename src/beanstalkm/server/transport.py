"""A client socket on the server's own :class:`~.loop.Loop`, driving a protocol object.

It offers the part of asyncio's transport interface that
:class:`~.connection.ClientConnection` uses, and calls the protocol the way asyncio
does (``connection_made``, ``data_received``, ``eof_received``, ``pause_writing``,
``resume_writing``, ``connection_lost``), with one difference that clients can see:
``connection_lost`` runs at once when the socket closes or fails, not on a later
pass, so nothing another connection sends afterwards is handled first.
"""

from __future__ import annotations

import socket

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .connection import ClientConnection
    from .loop import Loop

__all__ = ["SocketTransport"]

#: Bytes read per ``recv`` (asyncio reads 256 KiB too).
READ_SIZE = 256 * 1024
#: Ask the protocol to stop producing once this much waits to be sent, and to go on
#: once it is back under the low mark (asyncio's defaults).
HIGH_WATER = 64 * 1024
LOW_WATER = 16 * 1024

_TRY_AGAIN = (BlockingIOError, InterruptedError)


class SocketTransport:
    """One accepted connection: reads into the protocol, buffers what cannot be sent yet."""

    __slots__ = (
        "_buffer",
        "_closing",
        "_fd",
        "_loop",
        "_lost",
        "_protocol",
        "_reading",
        "_sock",
        "_write_paused",
        "peername",
    )

    def __init__(self, loop: Loop, sock: socket.socket, protocol: ClientConnection) -> None:
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._buffer = bytearray()
        self._closing = False
        self._lost = False
        self._reading = True
        self._write_paused = False
        try:
            self.peername: object = sock.getpeername()
        except OSError:
            self.peername = None
        protocol.connection_made(self)
        if not self._lost:
            loop.add_reader(self._fd, self._on_readable)

    # ---------------------------------------------------- asyncio's interface

    def get_extra_info(self, name: str, default: object = None) -> object:
        if name == "peername":
            return self.peername
        if name == "socket":
            return self._sock
        return default

    def is_closing(self) -> bool:
        return self._closing

    def write(self, data: bytes | bytearray) -> None:
        if self._closing or not data:
            return
        buffer = self._buffer
        if not buffer:
            try:
                sent = self._sock.send(data)
            except _TRY_AGAIN:
                sent = 0
            except OSError as exc:
                self._lose(exc)
                return
            if sent == len(data):
                return
            buffer += memoryview(data)[sent:]
            self._loop.add_writer(self._fd, self._on_writable)
        else:
            buffer += data
        if not self._write_paused and len(buffer) > HIGH_WATER:
            self._write_paused = True
            self._protocol.pause_writing()

    def pause_reading(self) -> None:
        if self._reading and not self._closing:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._reading = True
            self._loop.add_reader(self._fd, self._on_readable)

    def close(self) -> None:
        """Stop reading; close once everything written has been sent."""
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        if not self._buffer:
            self._lose(None)

    def abort(self) -> None:
        """Close at once, dropping anything not yet sent."""
        self._closing = True
        self._lose(None)

    # --------------------------------------------------------------- events

    def _on_readable(self, events: int) -> None:
        try:
            data = self._sock.recv(READ_SIZE)
        except _TRY_AGAIN:
            return
        except OSError as exc:
            self._closing = True
            self._lose(exc)
            return
        if data:
            self._protocol.data_received(data)
            return
        # The client half-closed: stop reading, and keep writing if the protocol asks.
        self._loop.remove_reader(self._fd)
        self._reading = False
        if not self._protocol.eof_received():
            self.close()

    def _on_writable(self, events: int) -> None:
        buffer = self._buffer
        try:
            sent = self._sock.send(buffer)
        except _TRY_AGAIN:
            return
        except OSError as exc:
            self._closing = True
            self._lose(exc)
            return
        del buffer[:sent]
        if self._write_paused and len(buffer) <= LOW_WATER:
            self._write_paused = False
            self._protocol.resume_writing()
        if not buffer:
            self._loop.remove_writer(self._fd)
            if self._closing:
                self._lose(None)

    def _lose(self, exc: Exception | None) -> None:
        if self._lost:
            return
        self._lost = True
        self._closing = True
        loop = self._loop
        loop.remove_reader(self._fd)
        loop.remove_writer(self._fd)
        self._buffer.clear()
        self._sock.close()
        self._protocol.connection_lost(exc)
