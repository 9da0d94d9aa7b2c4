"""What the blocking and the asyncio clients share: their arguments, their protocol
session, and making messages. No I/O: each transport subclasses these."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable
from functools import partial
from typing import Any, Final, Generic, TypeVar

from .constants import (
    DEFAULT_DELAY,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_PRIORITY,
    DEFAULT_TTR,
    SERVER_DEFAULT_TUBE,
    __version__,
)
from .envelope import Sender
from .message import BaseMessage
from .protocol import ClientProtocol, YamlOption
from .urls import parse_url

__all__ = ["DEFAULT_TIMEOUT", "IDLE_CHECK_AFTER", "BaseClient", "BaseConnection"]

_C = TypeVar("_C", bound="BaseConnection")
_M = TypeVar("_M", bound=BaseMessage)

#: Stands for "the socket module's default timeout" (``socket.getdefaulttimeout()``).
DEFAULT_TIMEOUT: Final[Any] = object()
#: Between commands issued back to back the connection cannot have been seen to close;
#: after a pause this long, the transports check it before sending.
IDLE_CHECK_AFTER: Final = 0.001


def _tube_list(watch: str | Iterable[str] | None) -> list[str]:
    if watch is None:
        return [SERVER_DEFAULT_TUBE]
    if isinstance(watch, str):
        return [watch]
    return list(watch)


class BaseConnection:
    """What the blocking and the asyncio connection share: arguments, session, sender.

    :param host: server address (default ``127.0.0.1``).
    :param port: server port (default 11300).
    :param timeout: seconds to wait for connecting and for each reply; None waits
        forever. Defaults to :func:`socket.getdefaulttimeout`. A blocking reserve waits
        as long as it was asked to, plus this margin.
    :param parse_yaml: True parses stats and tube lists into dicts and lists; False
        returns the YAML text; a callable is called with the text.
    :param use: the tube to use (default: the server's, ``default``).
    :param watch: the tube or tubes to watch once connected, instead of ``default``.
    """

    message_class: type[Any]
    queue_class: type[Any]
    pipeline_class: type[Any]
    #: Whether received envelopes are checked against ``message.json`` (see
    #: :attr:`BaseMessage.valid`); a client's ``validate`` argument.
    validate: bool = True

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        timeout: float | None = DEFAULT_TIMEOUT,
        *,
        parse_yaml: YamlOption = True,
        use: str | None = None,
        watch: str | Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        self.timeout: float | None = (
            socket.getdefaulttimeout() if timeout is DEFAULT_TIMEOUT else timeout
        )
        if self.timeout is not None and self.timeout < 0:
            raise ValueError("timeout must be None or >= 0")
        self._proto = ClientProtocol(
            parse_yaml,
            use or SERVER_DEFAULT_TUBE,
            _tube_list(watch),
            timeout=self.timeout,
            make_job=partial(self.message_class.from_job, self),
        )
        # Validate the session's tubes now rather than on the first command.
        for command, args in self._proto.restore_requests():
            command.encode(args)
        #: Describes this client in the envelopes it sends (``sender``).
        self.sender: dict[str, Any] = Sender(
            host=socket.gethostname(), pid=os.getpid(), time=time.time(), version=__version__
        )
        self.queue = self.queue_class(self)

    @classmethod
    def from_url(cls: type[_C], url: str, **kwargs: Any) -> _C:
        """Make a connection to ``beanstalk://host:port`` (other arguments as usual)."""
        host, port = parse_url(url)
        return cls(host, port, **kwargs)

    @property
    def connected(self) -> bool:
        """True while a connection to the server is open."""
        raise NotImplementedError

    @property
    def generation(self) -> int:
        """How many connections to the server this object has opened: a job reserved
        under one number is no longer held under the next (the server released it)."""
        return self._proto.generation

    def pipeline(self) -> Any:
        """Record commands to send at once; see :mod:`beanstalkm.pipeline`."""
        return self.pipeline_class(self)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<{type(self).__module__}.{type(self).__name__} {self.host}:{self.port} {state}>"


class BaseClient(Generic[_M]):
    """What both clients share on top of their connection: making messages."""

    message_class: type[_M]
    #: Raise InvalidMessage when a reserved envelope fails validation.
    strict: bool = False

    def _client_options(self, strict: bool, validate: bool) -> None:
        if strict and not validate:
            raise ValueError("strict=True checks envelopes: it needs validate=True")
        self.strict = strict
        self.validate = validate

    def __call__(
        self,
        body: Any,
        subscribe: str | None = None,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
        *,
        priority: int = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
    ) -> _M:
        """Make a message without sending it; ``message.send(tube)`` sends it.

        ``body`` may be a message received earlier: forwarding it keeps its
        ``subscribe``, ``sender`` and ``channel`` unless new ones are given.
        """
        if isinstance(body, BaseMessage):
            subscribe = body.subscribe if subscribe is None else subscribe
            sender = {**body.sender, **(sender or {})}
            channel = body.channel if channel is None else channel
            body = body.body
        return self.message_class(
            self,
            body,
            subscribe=subscribe,
            sender=sender,
            channel=channel,
            priority=priority,
            delay=delay,
            ttr=ttr,
        )
