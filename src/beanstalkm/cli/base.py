"""What every subcommand shares: the server address, the output, and the exit codes."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Final

from ..client import Client
from ..constants import DEFAULT_HOST, DEFAULT_PORT
from ..pool import Pool
from ..urls import ENV_VAR, address_from_env, format_address, parse_url
from .output import Output, RawMessage
from .safetext import printable

__all__ = [
    "EXIT_EMPTY",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "TIMEOUT_ENV_VAR",
    "CliClient",
    "CliPool",
    "Context",
    "Empty",
    "Failure",
    "resolve_address",
    "resolve_addresses",
    "socket_timeout",
]

PROG: Final = "beanstalkm"

EXIT_OK: Final = 0
#: Something went wrong: the server is down, a command failed.
EXIT_ERROR: Final = 1
#: The command line (or the input) makes no sense.
EXIT_USAGE: Final = 2
#: Nothing there: no job came, no such job or tube.
EXIT_EMPTY: Final = 3
#: Stopped by Ctrl-C (128 + SIGINT), as shells do.
EXIT_INTERRUPTED: Final = 130

#: Seconds to wait to connect and for each reply (a reserve waits as asked, plus this).
SOCKET_TIMEOUT: Final = 10.0
#: Changes :data:`SOCKET_TIMEOUT`; shell completion sets it low so that a server that
#: is down cannot hold up the prompt.
TIMEOUT_ENV_VAR: Final = "BEANSTALKM_TIMEOUT"


class Failure(Exception):
    """Stop the command: print ``message`` on one line and exit with ``code``.

    ``detail`` (several lines, such as the user's own traceback) is printed after it.
    """

    def __init__(self, message: str, code: int = EXIT_ERROR, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class Empty(Failure):
    """Nothing to show: no job came, or there is no such job or tube (exit 3)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_EMPTY)


class CliClient(Client):
    """A Client whose messages keep the body bytes as received (for ``--raw``)."""

    message_class = RawMessage


class CliPool(Pool):
    """A Pool of CliClients: its messages keep their body bytes too."""

    client_class = CliClient


def resolve_address(args: argparse.Namespace) -> tuple[str, int]:
    """``--url``, else ``$BEANSTALKD_URL``, else 127.0.0.1:11300; ``--host`` and
    ``--port`` then replace their part."""
    url = getattr(args, "url", None)
    try:
        if url:
            host, port = parse_url(url)
        else:
            host, port = address_from_env() or (DEFAULT_HOST, DEFAULT_PORT)
    except ValueError as exc:
        where = "--url" if url else ENV_VAR
        raise Failure(f"{where}: {exc}", EXIT_USAGE) from None
    host = getattr(args, "host", None) or host
    port = getattr(args, "port", None) or port
    return host, port


def resolve_addresses(args: argparse.Namespace) -> list[tuple[str, int]]:
    """Several servers: ``--url`` (or ``$BEANSTALKD_URL``) as URLs separated by commas,
    else 127.0.0.1:11300. ``--host`` and ``--port`` apply to a single server only."""
    url = getattr(args, "url", None)
    where = "--url" if url else ENV_VAR
    text = url or os.environ.get(ENV_VAR)
    if not text or "," not in text:
        return [resolve_address(args)]
    if getattr(args, "host", None) or getattr(args, "port", None):
        raise Failure(f"--host and --port apply to one server; {where} names several", EXIT_USAGE)
    addresses: list[tuple[str, int]] = []
    for part in text.split(","):
        try:
            address = parse_url(part) if part.strip() else None
        except ValueError as exc:
            raise Failure(f"{where}: {exc}", EXIT_USAGE) from None
        if address is None:
            raise Failure(f"{where}: an empty URL in {text!r}", EXIT_USAGE)
        if address in addresses:
            raise Failure(f"{where}: {format_address(*address)} is named twice", EXIT_USAGE)
        addresses.append(address)
    return addresses


def socket_timeout() -> float:
    """:data:`SOCKET_TIMEOUT`, or the seconds in ``$BEANSTALKM_TIMEOUT``."""
    text = os.environ.get(TIMEOUT_ENV_VAR)
    if not text:
        return SOCKET_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise Failure(f"{TIMEOUT_ENV_VAR}={text!r}: expected a number of seconds above 0", 2)
    return value


@dataclass
class Context:
    """The server(s) and output of one run of the command line.

    ``host`` and ``port`` are the first server; ``servers`` all of them (just that
    one unless ``--url`` or ``$BEANSTALKD_URL`` named several: a pool).
    """

    host: str
    port: int
    out: Output
    command: str
    servers: list[tuple[str, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.servers:
            self.servers = [(self.host, self.port)]

    @property
    def address(self) -> str:
        """``host:port``, an IPv6 host in brackets."""
        return format_address(self.host, self.port)

    @property
    def pooled(self) -> bool:
        """Whether several servers are in play (then jobs are named ``host:port/ID``)."""
        return len(self.servers) > 1

    @property
    def addresses(self) -> list[str]:
        """Every server's ``host:port``, in the order given."""
        return [format_address(host, port) for host, port in self.servers]

    def on(self, address: str) -> Context:
        """This context for one of its servers alone (``host:port``)."""
        host, port = self.servers[self.addresses.index(address)]
        return replace(self, host=host, port=port, servers=[(host, port)])

    def client(self, **kwargs: Any) -> CliClient:
        """A client for the server (it connects on its first command)."""
        return CliClient(self.host, self.port, timeout=socket_timeout(), **kwargs)

    def pool(self, **kwargs: Any) -> CliPool:
        """A pool of every server (it connects to each on its first command there)."""
        return CliPool(self.servers, timeout=socket_timeout(), **kwargs)

    def note(self, text: str) -> None:
        """A remark for the person at the terminal, on stderr (never mixed with data)."""
        print(f"{PROG} {self.command}: {printable(text)}", file=sys.stderr, flush=True)

    @property
    def stderr_is_terminal(self) -> bool:
        """Whether remarks and progress lines on stderr reach a person."""
        try:
            return sys.stderr.isatty()
        except (AttributeError, ValueError):
            return False
