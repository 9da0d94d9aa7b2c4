"""The client side of the beanstalkd protocol, without I/O.

:class:`ClientProtocol` turns commands into bytes and bytes into results, in the style
of h11: the caller writes what :meth:`~ClientProtocol.send` returns, feeds whatever it
reads to :meth:`~ClientProtocol.receive_data`, and calls
:meth:`~ClientProtocol.next_result` until it stops returning :data:`NEED_DATA`. Replies
are matched to commands in order, so any number of commands can be in flight.

The sync client, the asyncio client and the tests all drive this one object::

    proto = ClientProtocol()
    sock.sendall(proto.send(COMMANDS["put"], (b"hello", 0, 0, 60)))
    while (result := proto.next_result()) is NEED_DATA:
        proto.receive_data(sock.recv(65536))
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, NamedTuple, TypeAlias

from .commands import COMMANDS, Command
from .constants import MAX_JOB_SIZE_LIMIT, SERVER_DEFAULT_TUBE
from .errors import ERROR_CLASSES, SocketError, UnexpectedResponse
from .stats import StatsParseError, parse_yaml

__all__ = ["NEED_DATA", "ClientProtocol", "Job", "Reply", "ReplyParser", "YamlOption"]


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


#: Returned by :meth:`ClientProtocol.next_result` until a whole reply has arrived.
NEED_DATA: Final = _NeedData()

#: What to do with YAML replies: True parses them, False returns the text, a callable
#: is called with the text.
YamlOption = bool | Callable[[str], Any]


class Job(NamedTuple):
    """A job as the server sent it (RESERVED or FOUND): its id and raw body."""

    id: int
    body: bytes


#: One reply, framed but not interpreted: status, arguments, and body (None when the
#: reply has none). A plain tuple: one is made per reply on the hot path.
Reply: TypeAlias = tuple[bytes, tuple[bytes, ...], bytes | None]


class ProtocolError(Exception):
    """The bytes received are not a beanstalkd reply."""

    def __init__(self, reason: str, data: bytes) -> None:
        super().__init__(reason, data)
        self.reason = reason
        self.data = data


# The only replies that carry a body, and how many arguments their line has (the
# last one is the body's length).
_BODY_REPLIES: Final = {b"RESERVED": 2, b"FOUND": 2, b"OK": 1}
# Longest reply line beanstalkd sends is "USING <200-byte tube>"; allow slack.
MAX_REPLY_LINE: Final = 512


class ReplyParser:
    """Frames replies from a byte stream split anywhere.

    ``max_body`` bounds the body length a reply may announce, so a corrupt length
    fails at once instead of waiting for bytes that never come.
    """

    __slots__ = ("_buf", "_head", "max_body")

    def __init__(self, max_body: int = MAX_JOB_SIZE_LIMIT) -> None:
        self._buf = bytearray()
        # A parsed reply line whose body has not fully arrived yet, and the body's size.
        self._head: tuple[Reply, int] | None = None
        self.max_body = max_body

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as part of a reply."""
        return len(self._buf)

    @property
    def in_reply(self) -> bool:
        """True when part of a reply has been received."""
        return bool(self._buf) or self._head is not None

    def next_reply(self) -> Reply | None:
        """Return the next whole reply, or None until more bytes are fed."""
        buf = self._buf
        head = self._head
        if head is None:
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > MAX_REPLY_LINE:
                    raise ProtocolError("reply line too long", bytes(buf[:MAX_REPLY_LINE]))
                return None
            words = bytes(buf[:end]).split(b" ")
            del buf[: end + 2]
            status = words[0]
            nargs = _BODY_REPLIES.get(status)
            if nargs is None:
                return status, tuple(words[1:]), None
            if len(words) != nargs + 1 or not all(map(bytes.isdigit, words[1:])):
                raise ProtocolError(f"malformed {status.decode()} line", b" ".join(words))
            size = int(words[-1])
            if size > self.max_body:
                raise ProtocolError(f"body length {size} exceeds {self.max_body}", b" ".join(words))
            reply: Reply = (status, tuple(words[1:-1]), None)
        else:
            reply, size = head
        if len(buf) < size + 2:
            self._head = (reply, size)
            return None
        self._head = None
        if buf[size : size + 2] != b"\r\n":
            raise ProtocolError("body not followed by CRLF", bytes(buf[: size + 2][-40:]))
        body = bytes(buf[:size])
        del buf[: size + 2]
        return reply[0], reply[1], body


class ClientProtocol:
    """One client connection's protocol state: requests in flight, replies, session.

    The session (the used tube and the watched tubes) is tracked from the replies, so
    it survives :meth:`reset` and :meth:`restore_requests` can rebuild it on a new
    connection. ``parse_yaml`` chooses how YAML replies come back (see
    :data:`YamlOption`).
    """

    def __init__(
        self,
        parse_yaml: YamlOption = True,
        use: str = SERVER_DEFAULT_TUBE,
        watch: Iterable[str] = (SERVER_DEFAULT_TUBE,),
    ) -> None:
        if not (isinstance(parse_yaml, bool) or callable(parse_yaml)):
            raise TypeError("parse_yaml must be True, False or a callable")
        self.parse_yaml: YamlOption = parse_yaml
        #: The tube this connection uses (as far as replies have told).
        self.using: str = use
        #: The tubes this connection watches, in the order they were watched.
        self.watching: list[str] = list(dict.fromkeys(watch))
        if not self.watching:
            raise ValueError("at least one tube must be watched")
        self._parser = ReplyParser()
        self._pending: deque[tuple[Command, Sequence[object]]] = deque()
        self._eof = False

    # -- sending --

    def send(self, command: Command, args: Sequence[object]) -> bytes:
        """Validate and encode one request, and expect its reply."""
        data = command.encode(args)
        self._pending.append((command, args))
        return data

    def expect(self, command: Command, args: Sequence[object]) -> None:
        """Expect the reply to a request encoded separately with ``command.encode``."""
        self._pending.append((command, args))

    @property
    def in_flight(self) -> int:
        """Requests sent whose replies have not been returned yet."""
        return len(self._pending)

    # -- receiving --

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the connection; ``b""`` means the server closed it."""
        if data:
            self._parser._buf += data  # ReplyParser.feed, inlined: once per reply
        else:
            self._eof = True

    def next_result(self) -> Any:
        """Return the next command's result, or :data:`NEED_DATA`.

        Raises the :class:`~beanstalkm.CommandFailed` subclass for an error status
        (the connection stays in step), :class:`~beanstalkm.UnexpectedResponse` for a
        reply that makes no sense and :class:`~beanstalkm.SocketError` when the server
        closed the connection: after those two, :meth:`reset` before reuse.
        """
        if not self._pending:
            if self._parser.buffered:
                raise UnexpectedResponse("", "reply to no request", (self._peek_garbage(),))
            if self._eof:
                raise SocketError("connection closed by the server")
            return NEED_DATA
        try:
            reply = self._parser.next_reply()
        except ProtocolError as exc:
            name = self._pending[0][0].name
            raise UnexpectedResponse(name, exc.reason, (exc.data.decode("latin-1"),)) from None
        if reply is None:
            if self._eof:
                where = "in the middle of a reply" if self._parser.in_reply else "before replying"
                raise SocketError(f"connection closed by the server {where}")
            return NEED_DATA
        command, args = self._pending.popleft()
        return self._interpret(command, args, reply)

    def _peek_garbage(self) -> str:
        return bytes(self._parser._buf[:80]).decode("latin-1")

    def _interpret(self, command: Command, args: Sequence[object], reply: Reply) -> Any:
        status, values, body = reply
        kind = command.ok.get(status)
        if kind is not None:
            if kind == "int":
                if len(values) == 1 and values[0].isdigit():
                    if command.session is not None:
                        self._track(command, args)
                    return int(values[0])
            elif kind == "none":
                if not values:
                    return None
            elif kind == "job":
                if body is not None:
                    return Job(int(values[0]), body)
            elif kind == "yaml":
                if body is not None:
                    return self._yaml(command, body)
            elif len(values) == 1:  # "str"
                name = values[0].decode("ascii", "replace")
                if command.session is not None:
                    self.using = name
                return name
            raise self._unexpected(command, reply)
        if status in command.errors:
            error = ERROR_CLASSES[status.decode()]
            raise error(command.name, error.status, tuple(v.decode("latin-1") for v in values))
        raise self._unexpected(command, reply)

    def _track(self, command: Command, args: Sequence[object]) -> None:
        tube = args[0]
        tube = tube.decode("ascii") if isinstance(tube, (bytes, bytearray)) else str(tube)
        if command.session == "watch":
            if tube not in self.watching:
                self.watching.append(tube)
        elif command.session == "ignore" and tube in self.watching:
            self.watching.remove(tube)

    def _yaml(self, command: Command, body: bytes) -> Any:
        option = self.parse_yaml
        if option is True:
            try:
                return parse_yaml(body, command.yaml or "server")
            except StatsParseError as exc:
                raise UnexpectedResponse(command.name, f"unparsable YAML: {exc}", ()) from None
        text = body.decode("utf-8", "replace")
        if option is False:
            return text
        return option(text)

    @staticmethod
    def _unexpected(command: Command, reply: Reply) -> UnexpectedResponse:
        status, values, _ = reply
        return UnexpectedResponse(
            command.name, status.decode("latin-1"), tuple(v.decode("latin-1") for v in values)
        )

    # -- connection lifecycle --

    def reset(self) -> None:
        """Forget everything in flight, for a new connection; the session is kept."""
        self._parser = ReplyParser()
        self._pending.clear()
        self._eof = False

    def in_tube(
        self, tube: str, requests: list[tuple[Command, Sequence[object]]]
    ) -> tuple[list[tuple[Command, Sequence[object]]], slice]:
        """Wrap requests to run in ``tube`` and then give back the used tube.

        Returns the requests to send and the slice of their results that belongs to
        the given ``requests``; nothing is added when ``tube`` is already in use.
        """
        if tube == self.using:
            return requests, slice(None)
        use = COMMANDS["use"]
        return [(use, (tube,)), *requests, (use, (self.using,))], slice(1, -1)

    def restore_requests(self) -> list[tuple[Command, tuple[object, ...]]]:
        """The requests that give a fresh connection this session's tubes."""
        requests: list[tuple[Command, tuple[object, ...]]] = []
        if self.using != SERVER_DEFAULT_TUBE:
            requests.append((COMMANDS["use"], (self.using,)))
        for tube in self.watching:
            if tube != SERVER_DEFAULT_TUBE:
                requests.append((COMMANDS["watch"], (tube,)))
        if SERVER_DEFAULT_TUBE not in self.watching:
            requests.append((COMMANDS["ignore"], (SERVER_DEFAULT_TUBE,)))
        return requests
