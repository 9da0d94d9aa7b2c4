"""The beanstalkd servers the console shows: one asyncio client each.

Everything the console asks of beanstalkd goes through a :class:`Server` of
:class:`Servers`; nothing else makes a connection. This is where a pool of servers
(a client that spreads jobs over several) would plug in: the rest of the console
needs of it only a list of servers, each with an address, a shared client, and new
clients of its own for long work (:meth:`Server.connect`). A console over a pool of servers
is this list with more than one entry: the pages show a column or a row per server
and totals, and a server that refuses or does not answer is shown down, not as an
error.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Final

from .. import aio
from ..urls import format_address

__all__ = ["ConsoleClient", "RawMessage", "Server", "Servers"]

#: Seconds to wait for connecting and for each reply.
TIMEOUT: Final = 3.0


class RawMessage(aio.Message):
    """A message that also keeps the job body as the server sent it: the console
    reads bodies itself, never trusting them to be envelopes or even text."""

    __slots__ = ("raw",)

    raw: bytes

    @classmethod
    def from_job(
        cls, connection: Any, uid: int, raw: bytes, reserved: bool, generation: int | None = None
    ) -> Any:
        message = super().from_job(connection, uid, raw, reserved, generation)
        message.raw = bytes(raw)
        return message


class ConsoleClient(aio.Client):
    """The asyncio client, its messages keeping their raw bodies."""

    message_class = RawMessage


class Server:
    """One beanstalkd server of the console, and the client it is read through.

    ``client`` is shared by every request of the console: commands that depend on
    the used tube are always sent in a pipeline that starts with its ``use``, so
    that concurrent requests cannot switch the tube under each other. Work that
    needs a session of its own (watching a tube, reserving) takes :meth:`connect`.
    """

    def __init__(self, index: int, host: str, port: int, timeout: float = TIMEOUT) -> None:
        self.index = index
        self.host = host
        self.port = port
        self.timeout = timeout
        self.client = self.connect()

    @property
    def address(self) -> str:
        """``host:port``, an IPv6 host in brackets."""
        return format_address(self.host, self.port)

    def connect(self, **kwargs: Any) -> ConsoleClient:
        """A new client of this server (it connects on its first command)."""
        return ConsoleClient(self.host, self.port, timeout=self.timeout, **kwargs)

    def describe(self) -> dict[str, Any]:
        """What the page needs to name the server."""
        return {"index": self.index, "address": self.address}


class Servers:
    """The servers of the console, in the order given; addressed by index."""

    def __init__(self, addresses: Sequence[tuple[str, int]], timeout: float = TIMEOUT) -> None:
        if not addresses:
            raise ValueError("no server to show")
        self.servers = [
            Server(index, host, port, timeout) for index, (host, port) in enumerate(addresses)
        ]

    def __iter__(self) -> Iterator[Server]:
        return iter(self.servers)

    def __len__(self) -> int:
        return len(self.servers)

    def get(self, index: int) -> Server:
        """The server at ``index``; LookupError when there is none."""
        if not 0 <= index < len(self.servers):
            raise LookupError(f"no server {index}")
        return self.servers[index]

    def pick(self, which: int | None) -> list[Server]:
        """Every server (``None``), or the one at index ``which``."""
        return list(self.servers) if which is None else [self.get(which)]

    async def close(self) -> None:
        """Close every client."""
        for server in self.servers:
            await server.client.close()
