"""Socket helpers both transports use (the blocking socket, and the asyncio
transport's socket)."""

from __future__ import annotations

import socket

__all__ = ["peer_closed"]


def peer_closed(sock: socket.socket) -> bool:
    """True when the server has closed (or reset) the connection, or sent bytes no
    request asked for: either way the connection must be replaced before use.

    A server that went away while the connection was idle has left an end-of-file
    waiting; checking before sending keeps the next command from being lost with it.
    """
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True
