"""Server addresses written as URLs: ``beanstalk://host:port`` (as in ``BEANSTALKD_URL``)."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from .constants import DEFAULT_HOST, DEFAULT_PORT

__all__ = ["ENV_VAR", "address_from_env", "format_address", "parse_url"]

#: The environment variable naming the server, e.g. ``beanstalk://127.0.0.1:11300``.
ENV_VAR = "BEANSTALKD_URL"
_SCHEMES = ("beanstalk", "beanstalkd", "tcp")


def parse_url(url: str) -> tuple[str, int]:
    """Return ``(host, port)`` from ``beanstalk://host:port``, ``host:port`` or ``host``.

    Missing parts take the defaults (127.0.0.1, 11300); IPv6 hosts go in brackets.
    Raises ValueError for anything else.
    """
    text = url.strip()
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


def address_from_env(default: tuple[str, int] | None = None) -> tuple[str, int] | None:
    """The address in ``$BEANSTALKD_URL``, else ``default``."""
    value = os.environ.get(ENV_VAR)
    return parse_url(value) if value else default


def format_address(host: str, port: int) -> str:
    """``host:port`` for messages, an IPv6 host in brackets: ``[::1]:11300``."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
