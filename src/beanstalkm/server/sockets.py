"""Listening sockets, made the way beanstalkd makes them: TCP, or ``-l unix:PATH``."""

from __future__ import annotations

import os
import socket
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Final

__all__ = [
    "BACKLOG",
    "UNIX_PREFIX",
    "UnixSocketFile",
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
    path = unix_path(host)
    if path is not None:
        return _open_unix(path, warn)
    infos = socket.getaddrinfo(
        host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    error: OSError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            if os.name != "nt":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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


def _open_unix(path: str, warn: Callable[[str], None] | None) -> socket.socket:
    family = getattr(socket, "AF_UNIX", None)
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
    sock = socket.socket(family, socket.SOCK_STREAM)
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
    family = getattr(socket, "AF_UNIX", None)
    if family is None or sock.family != family:
        return None
    return UnixSocketFile(sock)
