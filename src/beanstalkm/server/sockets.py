"""Listening sockets, made the way beanstalkd makes them: TCP, or ``-l unix:PATH``.

:func:`bind_listener` uses only the ``_socket`` extension, so that a server process
listens before it has imported ``socket`` (and ``enum``, ``selectors``...): clients
can connect while the rest of the server loads. :func:`as_socket` turns the result
into a ``socket.socket`` afterwards.
"""

from __future__ import annotations

import _socket
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    import socket
    from collections.abc import Callable
    from typing import Final

__all__ = [
    "BACKLOG",
    "UNIX_PREFIX",
    "UnixSocketFile",
    "as_socket",
    "bind_listener",
    "open_listener",
    "unix_path",
    "unix_socket_file",
]

#: beanstalkd's listen backlog.
BACKLOG: Final = 1024
#: ``-l unix:/path/to/socket`` listens on a unix socket (``-p`` is then ignored).
UNIX_PREFIX: Final = "unix:"


def unix_path(host: str) -> str | None:
    """The socket path if ``host`` is ``unix:PATH``, else None."""
    return host[len(UNIX_PREFIX) :] if host.startswith(UNIX_PREFIX) else None


def open_listener(host: str, port: int, warn: Callable[[str], None] | None = None) -> socket.socket:
    """A non-blocking socket listening on ``host``/``port`` (or ``unix:PATH``).

    TCP: the first address ``host`` resolves to that can be bound, with
    ``SO_REUSEADDR`` (not on Windows, where it means something else). Unix: an
    existing socket file at the path is replaced (``warn`` is told), any other file
    there is an error, as with beanstalkd. Raises OSError.
    """
    return as_socket(bind_listener(host, port, warn))


def as_socket(raw: _socket.socket) -> socket.socket:
    """The ``socket.socket`` for a socket made by :func:`bind_listener`."""
    import socket

    return socket.socket(raw.family, raw.type, raw.proto, raw.detach())


def bind_listener(
    host: str, port: int, warn: Callable[[str], None] | None = None
) -> _socket.socket:
    """:func:`open_listener`, without importing ``socket``."""
    path = unix_path(host)
    if path is not None:
        return _bind_unix(path, warn)
    infos = _literal_address(host, port) or _socket.getaddrinfo(
        host or None, port, _socket.AF_UNSPEC, _socket.SOCK_STREAM, 0, _socket.AI_PASSIVE
    )
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = _socket.socket(family, kind, proto)
        try:
            if os.name != "nt":
                sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_REUSEADDR, 1)
            sock.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
            sock.bind(address)
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            reason = (exc.strerror or str(exc)).lower()
            error = OSError(exc.errno, f"cannot bind {address!r}: {reason}")
            continue
        sock.setblocking(False)
        return sock
    raise error or OSError(f"no address to listen on for {host!r}")


def _literal_address(host: str, port: int) -> list[tuple[int, int, int, str, tuple[str, int]]]:
    """An IP address needs no resolver (whose first call costs milliseconds)."""
    for family in (_socket.AF_INET, _socket.AF_INET6):
        try:
            _socket.inet_pton(family, host)
        except (OSError, ValueError):
            continue
        return [(family, _socket.SOCK_STREAM, 0, "", (host, port))]
    return []


def _bind_unix(path: str, warn: Callable[[str], None] | None) -> _socket.socket:
    family = getattr(_socket, "AF_UNIX", None)
    if family is None:  # pragma: no cover - Windows before AF_UNIX support in Python
        raise OSError("unix sockets are not available on this platform")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(mode):
            raise FileExistsError(f"another file already exists at {path}")
        if warn is not None:
            warn(f"removing the existing socket {path} to replace it")
        os.unlink(path)
    sock = _socket.socket(family, _socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


class UnixSocketFile:
    """The file of a unix socket we listen on, so we can remove it when we stop."""

    __slots__ = ("_identity", "path")

    def __init__(self, sock: socket.socket) -> None:
        path = sock.getsockname()
        self.path = path if isinstance(path, str) else ""
        try:
            info = os.stat(self.path)
            self._identity: tuple[int, int] | None = (info.st_dev, info.st_ino)
        except OSError:
            self._identity = None

    def remove(self) -> None:
        """Remove the file unless another server has replaced it meanwhile."""
        if self._identity is None:
            return
        try:
            info = os.stat(self.path)
            if (info.st_dev, info.st_ino) == self._identity:
                os.unlink(self.path)
        except OSError:
            pass
        self._identity = None


def unix_socket_file(sock: socket.socket) -> UnixSocketFile | None:
    """A :class:`UnixSocketFile` for ``sock`` if it is a unix socket, else None."""
    family = getattr(_socket, "AF_UNIX", None)
    if family is None or sock.family != family:
        return None
    return UnixSocketFile(sock)
