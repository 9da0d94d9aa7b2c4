"""Server addresses written as URLs: ``beanstalk://host:port`` (as in ``BEANSTALKD_URL``),
or ``beanstalk+unix:///path/to/socket`` for a unix socket."""

from __future__ import annotations

import os

from .constants import DEFAULT_HOST, DEFAULT_PORT

__all__ = [
    "ENV_VAR",
    "UNIX_PREFIX",
    "address_from_env",
    "format_address",
    "parse_url",
    "unix_path",
]

#: The environment variable naming the server, e.g. ``beanstalk://127.0.0.1:11300``.
ENV_VAR = "BEANSTALKD_URL"
#: A host of ``unix:/path/to/socket`` (port 0) means a unix socket, as in beanstalkd's
#: ``-l unix:/path``.
UNIX_PREFIX = "unix:"
_SCHEMES = ("beanstalk", "beanstalkd", "tcp")
_UNIX_SCHEMES = ("beanstalk+unix://", "beanstalkd+unix://", "unix://")


def parse_url(url: str) -> tuple[str, int]:
    """Return ``(host, port)`` from ``beanstalk://host:port``, ``host:port`` or ``host``.

    Missing parts take the defaults (127.0.0.1, 11300); IPv6 hosts go in brackets. A
    unix socket, ``beanstalk+unix:///path/to/socket`` or beanstalkd's own
    ``unix:/path/to/socket``, gives ``("unix:/path/to/socket", 0)``, which every
    client takes as its host and port. Raises ValueError for anything else.
    """
    text = url.strip()
    for scheme in _UNIX_SCHEMES:
        if text.startswith(scheme):
            return _unix(text[len(scheme) :], url)
    if text.startswith(UNIX_PREFIX):
        return _unix(text[len(UNIX_PREFIX) :], url)
    # Here: only TCP addresses need it, and it is slow to import.
    from urllib.parse import urlsplit

    if "://" not in text:
        text = "beanstalk://" + text
    parts = urlsplit(text)
    if parts.scheme not in _SCHEMES:
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {url!r}: use beanstalk://")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"a beanstalkd URL is beanstalk://host:port, got {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    return parts.hostname or DEFAULT_HOST, port or DEFAULT_PORT


def _unix(path: str, url: str) -> tuple[str, int]:
    if not path.startswith("/") or "?" in path or "#" in path:
        raise ValueError(f"a unix socket URL is beanstalk+unix:///absolute/path, got {url!r}")
    return UNIX_PREFIX + path, 0


def unix_path(host: str) -> str | None:
    """The socket path of a ``unix:/path`` host, else None."""
    return host[len(UNIX_PREFIX) :] if host.startswith(UNIX_PREFIX) else None


def address_from_env(default: tuple[str, int] | None = None) -> tuple[str, int] | None:
    """The address in ``$BEANSTALKD_URL``, else ``default``."""
    value = os.environ.get(ENV_VAR)
    return parse_url(value) if value else default


def format_address(host: str, port: int) -> str:
    """``host:port`` for messages, an IPv6 host in brackets: ``[::1]:11300``; a unix
    socket as ``unix:/path``."""
    if host.startswith(UNIX_PREFIX):
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
