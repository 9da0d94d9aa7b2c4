"""The client side of the beanstalkd protocol, without I/O: framing, results and session.

:class:`ClientProtocol` is one connection's whole state, in the style of h11: the
caller writes what :meth:`~ClientProtocol.send` returns, feeds whatever it reads to
:meth:`~ClientProtocol.receive_data`, and calls :meth:`~ClientProtocol.next_result`
until it stops returning :data:`NEED_DATA`. Replies are matched to requests in order,
so any number of requests can be in flight. Both clients are this loop around a socket::

    proto = ClientProtocol()
    sock.sendall(proto.send(COMMANDS["put"], (b"hello", 0, 0, 60)))
    while (result := proto.next_result()) is NEED_DATA:
        proto.receive_data(sock.recv(65536))

Besides framing and reply parsing, it owns the session: the tube the user uses, the
tubes watched, the tube the server actually uses on this connection (switched lazily,
see :meth:`~ClientProtocol.send`), which connection (:attr:`~ClientProtocol.generation`)
a reserved job belongs to, what a new connection must be sent to get the same session
(:meth:`~ClientProtocol.connected`), and how long each reply may take.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final, NamedTuple, TypeAlias

from .commands import COMMANDS, Command, check_tube
from .constants import MAX_JOB_SIZE_LIMIT, SERVER_DEFAULT_TUBE
from .errors import (
    ERROR_CLASSES,
    UNIVERSAL_ERRORS,
    NotBeanstalkd,
    ReservationLost,
    SocketError,
    UnexpectedResponse,
)
from .stats import StatsParseError, parse_yaml

__all__ = [
    "NEED_DATA",
    "ClientProtocol",
    "Job",
    "JobFactory",
    "Reply",
    "ReplyParser",
    "Request",
    "YamlOption",
    "check_request",
    "unanswered",
]


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


#: Makes the result of a job reply: ``(id, body, reserved, generation)``, where
#: ``reserved`` says the connection now holds the job and ``generation`` is the
#: connection's. The default makes a :class:`Job`; the clients make messages.
JobFactory: TypeAlias = Callable[[int, bytes, bool, int], Any]

#: A request as the clients pass it around: the command, its arguments, the
#: :attr:`~ClientProtocol.generation` of the connection that must still be the one
#: (for a command on a reserved job) or None, and the tube a command acting on the used
#: tube must run in, or None for the user's used tube.
Request: TypeAlias = tuple[Command, Sequence[object], "int | None", "str | None"]

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

    __slots__ = ("_buf", "_head", "_pos", "max_body")

    def __init__(self, max_body: int = MAX_JOB_SIZE_LIMIT) -> None:
        # The bytes received and not yet parsed are _buf[_pos:]. Replies usually come
        # whole, one read each: then _buf is the bytes read, parsed where they are.
        # Only a reply split over reads is gathered in a bytearray.
        self._buf: bytes | bytearray = b""
        self._pos = 0
        # A parsed reply line whose body has not fully arrived yet, and the body's size.
        self._head: tuple[Reply, int] | None = None
        self.max_body = max_body

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        buf = self._buf
        if self._pos >= len(buf):
            self._buf = data if type(data) is bytes else bytes(data)
            self._pos = 0
        elif type(buf) is bytearray:
            buf += data
        else:
            self._buf = bytearray(memoryview(buf)[self._pos :])
            self._buf += data
            self._pos = 0

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as part of a reply."""
        return len(self._buf) - self._pos

    @property
    def in_reply(self) -> bool:
        """True when part of a reply has been received."""
        return self._pos < len(self._buf) or self._head is not None

    def peek(self, size: int = 80) -> bytes:
        """The first bytes received and not yet parsed (for error messages)."""
        return bytes(self._buf[self._pos : self._pos + size])

    def next_reply(self) -> Reply | None:
        """Return the next whole reply, or None until more bytes are fed."""
        head = self._head
        if head is not None:
            return self._body(*head)
        buf = self._buf
        pos = self._pos
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if len(buf) - pos > MAX_REPLY_LINE:
                raise ProtocolError("reply line too long", self.peek(MAX_REPLY_LINE))
            return None
        return self.after_line(bytes(buf[pos:end]).split(b" "), end)

    def after_line(self, words: list[bytes], end: int) -> Reply | None:
        """The reply whose line, split into ``words``, ends at ``end`` in the buffer:
        the line is consumed, and the body, when the reply has one, read if it is in."""
        self._pos = end + 2
        status = words[0]
        nargs = _BODY_REPLIES.get(status)
        if nargs is None:
            return status, tuple(words[1:]), None
        if len(words) != nargs + 1 or not all(map(bytes.isdigit, words[1:])):
            raise ProtocolError(f"malformed {status.decode()} line", b" ".join(words))
        size = int(words[-1])
        if size > self.max_body:
            raise ProtocolError(f"body length {size} exceeds {self.max_body}", b" ".join(words))
        buf = self._buf
        pos = self._pos
        end = pos + size
        if buf[end : end + 2] == b"\r\n":  # the whole body is in (the common case)
            self._pos = end + 2
            return status, tuple(words[1:-1]), bytes(buf[pos:end])
        return self._body((status, tuple(words[1:-1]), None), size)

    def _body(self, reply: Reply, size: int) -> Reply | None:
        buf = self._buf
        pos = self._pos
        end = pos + size
        if len(buf) < end + 2:
            self._head = (reply, size)
            return None
        self._head = None
        if buf[end : end + 2] != b"\r\n":
            raise ProtocolError("body not followed by CRLF", bytes(buf[pos : end + 2][-40:]))
        self._pos = end + 2
        return reply[0], reply[1], bytes(buf[pos:end])


def check_request(command: Command, args: Sequence[object], tube: str | None = None) -> None:
    """Validate a request as :meth:`ClientProtocol.send` would, recording nothing."""
    command.encode(args)
    if tube is not None:
        check_tube(tube)


def _detail(command: Command, args: Sequence[object], status: bytes) -> str:
    """What a failed command was about, for its error's message."""
    if status == b"JOB_TOO_BIG":
        body = args[0]
        size = len(body.encode("utf-8")) if isinstance(body, str) else len(memoryview(body))  # type: ignore[arg-type]
        return f"a body of {size} bytes is more than the server's max-job-size"
    if command.subject is None or len(args) <= command.subject[0]:
        return ""
    index, kind = command.subject
    subject = args[index]
    if isinstance(subject, (bytes, bytearray)):
        subject = bytes(subject).decode("ascii", "replace")
    if status == b"NOT_FOUND" and kind == "job" and command.name in ("release", "bury", "touch"):
        return f"job {subject}: not found, or not reserved by this connection"
    return f"{kind} {subject}"


def unanswered(command: Command, error: SocketError) -> SocketError:
    """``error`` for a request whose reply never came, saying, for a put, that the job
    may exist all the same (a retry could put it twice)."""
    if command is not _PUT or "may have stored" in str(error):
        return error
    return SocketError(f"{error}; the server may have stored the job all the same")


def _job(job_id: int, body: bytes, reserved: bool, generation: int) -> Job:
    return Job(job_id, body)


class _Internal:
    """The tag of a request the protocol sends on its own (a lazy ``use``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "INTERNAL"


_INTERNAL: Final = _Internal()
# Every status beanstalkd can send: a first word that is none of them comes from
# something else (an HTTP server on the port, say).
_STATUSES: Final = frozenset(
    {status for command in COMMANDS.values() for status in (*command.ok, *command.errors)}
    | {status.encode() for status in UNIVERSAL_ERRORS}
)
_USE: Final = COMMANDS["use"]
_PUT: Final = COMMANDS["put"]
_WATCH: Final = COMMANDS["watch"]
_IGNORE: Final = COMMANDS["ignore"]


class ClientProtocol:
    """One client connection's protocol state: requests in flight, replies, session.

    :param parse_yaml: how YAML replies come back (see :data:`YamlOption`).
    :param use: the tube to use (the server's ``default`` unless told).
    :param watch: the tubes to watch.
    :param timeout: how long a reply may take, in seconds (None: as long as it
        takes); a blocking reserve gets its own wait on top. See :meth:`allowance`.
    :param make_job: makes the result of a job reply (see :data:`JobFactory`).

    The session (the used tube and the watched tubes) is tracked from the replies, so
    it survives :meth:`reset` and :meth:`connected` can rebuild it on a new connection.
    """

    __slots__ = (
        "_eof",
        "_intent",
        "_parser",
        "_pending",
        "_server",
        "generation",
        "make_job",
        "parse_yaml",
        "tag",
        "timeout",
        "using",
        "watching",
    )

    def __init__(
        self,
        parse_yaml: YamlOption = True,
        use: str = SERVER_DEFAULT_TUBE,
        watch: Iterable[str] = (SERVER_DEFAULT_TUBE,),
        *,
        timeout: float | None = None,
        make_job: JobFactory = _job,
    ) -> None:
        if not (isinstance(parse_yaml, bool) or callable(parse_yaml)):
            raise TypeError("parse_yaml must be True, False or a callable")
        self.parse_yaml: YamlOption = parse_yaml
        #: The tube this connection uses, as the user sees it: what ``use`` replies
        #: said. ``put``, ``kick`` and ``peek-*`` act on it.
        self.using: str = use
        #: The tubes this connection watches, in the order they were watched.
        self.watching: list[str] = list(dict.fromkeys(watch))
        if not self.watching:
            raise ValueError("at least one tube must be watched")
        self.timeout = timeout
        self.make_job = make_job
        #: How many connections this session has had (see :meth:`connected`). A job
        #: reserved under one generation is lost to every later one.
        self.generation = 0
        #: The ``tag`` given with the request whose result :meth:`next_result` last
        #: returned (or raised, whatever the exception: after UnexpectedResponse for a
        #: reply that made no sense, :meth:`reset` does not list that request).
        self.tag: Any = None
        self._parser = ReplyParser()
        # Each request in flight: (command, args, tag, allowance).
        self._pending: deque[tuple[Command, Sequence[object], Any, float | None]] = deque()
        self._eof = False
        # The tube the user's used tube will be once the requests sent are answered,
        # and the tube the server will be using then (None: not known). A protocol
        # starts, as after reset(), for a new connection: using the server's default.
        self._intent = use
        self._server: str | None = SERVER_DEFAULT_TUBE

    # -- sending --

    def send(
        self,
        command: Command,
        args: Sequence[object],
        generation: int | None = None,
        tube: str | None = None,
        tag: Any = None,
        data: bytes | None = None,
    ) -> bytes:
        """Validate and encode one request, expect its reply, and return the bytes to send.

        A command that acts on the used tube (``put``, ``kick``, ``peek-ready`` ...)
        runs in ``tube`` when given (a put into a named tube), else in the user's used
        tube; when the server is using another tube on this connection, a ``use`` is
        put in front of it, and its reply is dealt with here. So the used tube switches
        only when a command needs another one, and never back for nothing.

        ``generation``: for a command on a reserved job, the :attr:`generation` it was
        reserved under; ReservationLost (nothing sent) when this is no longer that
        connection. ``tag``: anything, given back as :attr:`tag` with the result.
        ``data``: the request already encoded by ``command.encode(args)``.

        Raises InvalidArgument (or TypeError for a wrong number of arguments) before
        anything is recorded.
        """
        if data is None:
            try:
                data = command.pack(*args)
            except TypeError:
                command.encode(args)  # a wrong number of arguments: says so clearly
                raise
        if generation is not None and generation != self.generation:
            raise ReservationLost(
                f"cannot {command.wire} job {args[0]}: the connection that reserved it was "
                "lost, and the server released the job"
            )
        allowance = self.timeout
        if command.special:
            if command.used:
                wanted = self._intent if tube is None else tube
                if wanted != self._server:
                    use = _USE.pack(wanted)
                    self._pending.append((_USE, (wanted,), _INTERNAL, allowance))
                    self._server = wanted
                    data = use + data
            elif command.session == "use":
                name = args[0]
                if not isinstance(name, str):  # bytes, checked as ASCII by the encoder
                    name = bytes(name).decode("ascii")  # type: ignore[call-overload]
                self._intent = self._server = name
            elif command.blocking and allowance is not None:
                # The reply comes when a job does: as long as the reserve asked, plus
                # the margin for the reply itself.
                allowance = args[0] + allowance if args else None  # type: ignore[operator]
        self._pending.append((command, args, tag, allowance))
        return data

    def send_many(
        self,
        requests: Sequence[Request],
        payloads: Sequence[bytes] | None = None,
        tags: Sequence[Any] | None = None,
    ) -> bytes:
        """:meth:`send` for several requests, to be written at once.

        Every request is validated before any is recorded: on an error nothing is.
        ``payloads`` are the requests already encoded; ``tags`` one per request.
        """
        if payloads is None:
            payloads = [command.encode(args) for command, args, _, _ in requests]
        pending = self._pending
        before = len(pending), self._intent, self._server
        send = self.send
        try:
            if tags is None:
                return b"".join(
                    [
                        send(command, args, generation, tube, None, data)
                        for (command, args, generation, tube), data in zip(
                            requests, payloads, strict=True
                        )
                    ]
                )
            return b"".join(
                [
                    send(command, args, generation, tube, tag, data)
                    for (command, args, generation, tube), data, tag in zip(
                        requests, payloads, tags, strict=True
                    )
                ]
            )
        except BaseException:
            while len(pending) > before[0]:
                pending.pop()
            self._intent, self._server = before[1], before[2]
            raise

    @property
    def in_flight(self) -> int:
        """Requests sent whose replies have not been read yet (those the protocol sent
        on its own included)."""
        return len(self._pending)

    def allowance(self) -> float | None:
        """How long the reply now awaited may take, in seconds; None: as long as it
        takes (a reserve without a timeout)."""
        pending = self._pending
        return pending[0][3] if pending else self.timeout

    def tags(self) -> list[Any]:
        """The tags of the requests in flight, in order (the protocol's own left out)."""
        return [tag for _, _, tag, _ in self._pending if tag is not _INTERNAL]

    def blocking_in_flight(self) -> bool:
        """Whether a reserve is among the requests in flight: the server may hand it a
        job at any time."""
        return any(command.blocking for command, _, _, _ in self._pending)

    # -- receiving --

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes read from the connection; ``b""`` means the server closed it."""
        if data:
            parser = self._parser
            if type(data) is bytes and parser._pos >= len(parser._buf):
                # ReplyParser.feed's common case, inlined: once per reply.
                parser._buf = data
                parser._pos = 0
            else:
                parser.feed(data)
        else:
            self._eof = True

    def next_result(self) -> Any:
        """Return the next request's result, or :data:`NEED_DATA`.

        Raises the :class:`~beanstalkm.CommandFailed` subclass for an error status
        (the connection stays in step), :class:`~beanstalkm.UnexpectedResponse` for a
        reply that makes no sense and :class:`~beanstalkm.SocketError` when the server
        closed the connection: after those two, :meth:`reset` before reuse.
        """
        pending = self._pending
        parser = self._parser
        while pending:
            try:
                buf = parser._buf
                if parser._head is None and type(buf) is bytes:
                    # ReplyParser.next_reply for a line in one piece, inlined, and the
                    # commonest results read off it: this runs once per command.
                    end = buf.find(b"\r\n", parser._pos)
                    if end < 0:
                        reply = parser.next_reply()
                    else:
                        words = buf[parser._pos : end].split(b" ")
                        if words[0] in _BODY_REPLIES:
                            reply = parser.after_line(words, end)
                        else:
                            parser._pos = end + 2
                            command, args, tag, _ = pending.popleft()
                            if tag is not _INTERNAL:
                                self.tag = tag
                                kind = command.ok.get(words[0])
                                if kind == "int" and command.session is None:
                                    if len(words) == 2 and words[1].isdigit():
                                        return int(words[1])
                                elif kind == "none" and len(words) == 1:
                                    return None
                                return self._interpret(
                                    command, args, (words[0], tuple(words[1:]), None)
                                )
                            self._internal_reply(command, args, (words[0], tuple(words[1:]), None))
                            continue
                else:
                    reply = parser.next_reply()
            except ProtocolError as exc:
                name = pending[0][0].name
                if exc.data.split(b" ", 1)[0] not in _STATUSES:
                    raise NotBeanstalkd(name, exc.data) from None
                raise UnexpectedResponse(name, exc.reason, (exc.data.decode("latin-1"),)) from None
            if reply is None:
                if self._eof:
                    where = "in the middle of a reply" if parser.in_reply else "before replying"
                    raise SocketError(f"connection closed by the server {where}")
                return NEED_DATA
            command, args, tag, _ = pending.popleft()
            if tag is _INTERNAL:
                self._internal_reply(command, args, reply)
                continue
            self.tag = tag
            status, values, body = reply
            if body is not None and command.ok.get(status) == "job" and len(values) == 1:
                # A reserved or peeked job: the commonest reply with a body.
                return self.make_job(int(values[0]), body, command.reserves, self.generation)
            return self._interpret(command, args, reply)
        if parser.buffered:
            raise UnexpectedResponse("", "reply to no request", (self._peek_garbage(),))
        if self._eof:
            raise SocketError("connection closed by the server")
        return NEED_DATA

    def _peek_garbage(self) -> str:
        return self._parser.peek().decode("latin-1")

    def _internal_reply(self, command: Command, args: Sequence[object], reply: Reply) -> None:
        status, values, _ = reply
        if status == b"USING" and len(values) == 1:
            return
        # The command that needed this tube has gone out behind it, into another tube.
        self._server = None
        raise UnexpectedResponse(
            command.name,
            f"switching to tube {args[0]} failed: {status.decode('latin-1')}",
            tuple(v.decode("latin-1") for v in values),
        )

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
                    return self.make_job(int(values[0]), body, command.reserves, self.generation)
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
            if command.session == "use":
                # The server's used tube is not known any more; the user's stays.
                self._server = None
                self._intent = self.using
            error = ERROR_CLASSES[status.decode()]
            replied = tuple(v.decode("latin-1") for v in values)
            raise error(command.name, error.status, replied, _detail(command, args, status))
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
        if status not in _STATUSES:
            return NotBeanstalkd(command.name, b" ".join((status, *values)))
        return UnexpectedResponse(
            command.name, status.decode("latin-1"), tuple(v.decode("latin-1") for v in values)
        )

    # -- connection lifecycle --

    def reset(self) -> list[Any]:
        """Forget the connection, for a new one: everything in flight and received.
        The session is kept. Returns the tags of the requests that will get no reply."""
        tags = self.tags()
        self._parser = ReplyParser()
        self._pending.clear()
        self._eof = False
        self._intent = self.using
        self._server = SERVER_DEFAULT_TUBE
        return tags

    def connected(self) -> list[Request]:
        """A new connection is open: count it (:attr:`generation`) and return the
        requests that give it this session's tubes, to be sent before anything else."""
        self.reset()
        self.generation += 1
        return [(command, args, None, None) for command, args in self.restore_requests()]

    def restore_requests(self) -> list[tuple[Command, tuple[object, ...]]]:
        """The requests that give a fresh connection this session's tubes."""
        requests: list[tuple[Command, tuple[object, ...]]] = []
        if self.using != SERVER_DEFAULT_TUBE:
            requests.append((_USE, (self.using,)))
        for tube in self.watching:
            if tube != SERVER_DEFAULT_TUBE:
                requests.append((_WATCH, (tube,)))
        if SERVER_DEFAULT_TUBE not in self.watching:
            requests.append((_IGNORE, (SERVER_DEFAULT_TUBE,)))
        return requests
