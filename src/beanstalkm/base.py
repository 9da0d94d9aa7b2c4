"""What the blocking and the asyncio clients share: their arguments, their protocol
session, and making messages. No I/O: each transport subclasses these."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, Final, Generic, TypeVar

from .constants import (
    DEFAULT_DELAY,
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_PRIORITY,
    DEFAULT_TIMEOUT,
    DEFAULT_TTR,
    SERVER_DEFAULT_TUBE,
    __version__,
)
from .envelope import Sender, canonical_encoder
from .message import BaseMessage
from .protocol import ClientProtocol, YamlOption
from .urls import format_address, parse_url

__all__ = ["IDLE_CHECK_AFTER", "BaseClient", "BaseConnection"]

_C = TypeVar("_C", bound="BaseConnection")
_M = TypeVar("_M", bound=BaseMessage)

# Stands for "the default": socket.getdefaulttimeout() when set, else DEFAULT_TIMEOUT.
_DEFAULT: Final[Any] = object()
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
    :param timeout: seconds to wait for connecting and for each whole reply; None
        waits forever. Defaults to :func:`socket.getdefaulttimeout` when one is set,
        else :data:`~beanstalkm.DEFAULT_TIMEOUT` (10 s). A blocking reserve waits as
        long as it was asked to, plus this margin.
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
    #: Writes a message body as canonical JSON (a client's ``json_default`` makes its
    #: own, see :func:`beanstalkm.envelope.canonical_encoder`).
    canonical_json: Callable[[Any], str] = staticmethod(canonical_encoder())

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        timeout: float | None = _DEFAULT,
        *,
        parse_yaml: YamlOption = True,
        use: str | None = None,
        watch: str | Iterable[str] | None = None,
    ) -> None:
        self.host = host
        self.port = int(port)
        if timeout is _DEFAULT:
            timeout = socket.getdefaulttimeout()
            if timeout is None:
                timeout = DEFAULT_TIMEOUT
        self.timeout: float | None = timeout
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
    def address(self) -> str:
        """The server's address as people read it: ``host:port``, ``[::1]:port`` or
        ``unix:/path``."""
        return format_address(self.host, self.port)

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
        return f"<{type(self).__module__}.{type(self).__name__} {self.address} {state}>"


class BaseClient(Generic[_M]):
    """What both clients share on top of their connection: making messages."""

    message_class: type[_M]
    #: Raise InvalidMessage when a reserved envelope fails validation.
    strict: bool = False

    validate: bool = True
    canonical_json: Callable[[Any], str]

    def _client_options(
        self, strict: bool, validate: bool, json_default: Callable[[Any], Any] | None
    ) -> None:
        if strict and not validate:
            raise ValueError("strict=True checks envelopes: it needs validate=True")
        if json_default is not None and not callable(json_default):
            raise TypeError(f"json_default must be a function, got {json_default!r}")
        self.strict = strict
        self.validate = validate
        if json_default is not None:
            self.canonical_json = canonical_encoder(json_default)

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
        # Checked here, by name: deeper down a wrong type is a puzzle.
        if sender is not None and not isinstance(sender, dict):
            raise TypeError(f"sender must be a dict, got {type(sender).__name__}")
        for name, value in (("subscribe", subscribe), ("channel", channel)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str, got {type(value).__name__}")
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
