"""Messages: a job's body, its envelope, and the state of the job, without I/O.

:class:`BaseMessage` is what both clients' messages share; each client's ``Message``
(:class:`beanstalkm.Message`, :class:`beanstalkm.aio.Message`) adds the job's
operations, blocking or awaitable, written once in :mod:`beanstalkm.operations`.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from typing import Any, Final

from . import envelope
from .constants import DEFAULT_DELAY, DEFAULT_PRIORITY, DEFAULT_TTR
from .errors import InvalidMessage

# A "subscribe" key with a string value that is not empty. An envelope's own can only
# be spelled so, or with \u escapes: a job with neither names no reply tube.
_SUBSCRIBED: Final = re.compile(rb'"subscribe"\s*:\s*"[^"]')

__all__ = ["BaseMessage"]


_time = time.time


class BaseMessage:
    """A message: the body a producer put, its envelope fields and its job's state.

    Received jobs are decoded on first use of a body or envelope attribute, so
    reserving and deleting costs no JSON work.
    """

    __slots__ = (
        "_body",
        "_channel",
        "_created",
        "_errors",
        "_is_envelope",
        "_problems",
        "_raw",
        "_reserved",
        "_sender",
        "_subscribe",
        "_token",
        "_valid",
        "_validation_error",
        "connection",
        "delay",
        "deleted",
        "generation",
        "priority",
        "replied",
        "ttr",
        "tube",
        "uid",
    )

    def __init__(
        self,
        connection: Any,
        body: Any = None,
        *,
        uid: int = 0,
        subscribe: str | None = None,
        sender: dict[str, Any] | None = None,
        channel: str | None = None,
        errors: list[str] | None = None,
        priority: int | None = DEFAULT_PRIORITY,
        delay: int = DEFAULT_DELAY,
        ttr: int = DEFAULT_TTR,
        tube: str | None = None,
    ) -> None:
        #: The connection (or client) the message was made by or received on.
        self.connection = connection
        #: The :attr:`~beanstalkm.protocol.ClientProtocol.generation` of the connection
        #: the job was reserved on: commands on the job go only to that one.
        self.generation = 0
        #: The job id; 0 until the message is sent.
        self.uid: int = uid
        self._reserved = False
        #: True once this client deleted the job.
        self.deleted = False
        #: True once this message (a request) was answered: ``reply()``/``reply_error()``.
        self.replied = False
        #: The job's priority; None when not yet known (a reserved job, until its
        #: stats are read).
        self.priority: int | None = priority
        self.delay = delay
        self.ttr = ttr
        #: The tube the job was put into, when known.
        self.tube = tube
        self._is_envelope = True
        self._problems: list[str] = []
        self._raw: bytes | None = None
        self._body = body
        # Milliseconds since the epoch (see the ``created`` property).
        self._created = int(_time() * 1000)
        base: dict[str, Any] = connection.sender
        # Shared with the connection until someone reads it (see the property), so
        # that the sender's JSON, kept by the connection's Sender, is made once.
        self._sender = {**base, **sender} if sender else base
        self._subscribe = subscribe
        self._channel = channel
        self._errors: list[str] = list(errors or ())
        self._token: str | None = None
        self._valid: bool | None = None
        self._validation_error: str | None = None

    @classmethod
    def from_job(
        cls, connection: Any, uid: int, raw: bytes, reserved: bool, generation: int | None = None
    ) -> Any:
        """A message for a job received from the server (decoded lazily).

        ``reserved``: the connection holds the job; ``generation``: the connection's,
        when it was received (default: the connection's current one).
        """
        message = cls.__new__(cls)
        message.connection = connection
        message.uid = uid
        message._reserved = reserved
        message.deleted = False
        message.replied = False
        message.priority = None
        message.delay = DEFAULT_DELAY
        message.ttr = DEFAULT_TTR
        message.tube = None
        message.generation = connection.generation if generation is None else generation
        message._raw = raw
        return message

    # -- decoding received jobs --

    def _decode(self) -> None:
        raw = self._raw
        if raw is None:
            return
        self._raw = None
        body, env = envelope.decode(raw)
        self._body = body
        self._is_envelope = env is not None
        self._subscribe = self._channel = self._token = None
        self._sender = {}
        self._errors = []
        self._created = 0
        self._valid = self._validation_error = None
        self._problems = problems = []
        if env is None:
            return
        # Each field read on its own: one that cannot be read is left at its default and
        # reported in `problems`, never raised (the job may be from anywhere).
        created = envelope.created_ms(env.get("created"))
        if created is not None:
            self._created = created["$data"]
        elif "created" in env:
            problems.append(f"created: {_shown(env['created'])} is not a time")
        sender = env.get("sender")
        if isinstance(sender, dict):
            self._sender = sender
        elif "sender" in env:
            problems.append(f"sender: {_shown(sender)} is not an object")
        for name in ("subscribe", "channel", "token"):
            value = env.get(name)
            if value is not None and not isinstance(value, str):
                problems.append(f"{name}: {_shown(value)} is not text")
        subscribe, channel, token = env.get("subscribe"), env.get("channel"), env.get("token")
        # An empty "subscribe" is how an unset one is written (see as_dict).
        self._subscribe = subscribe if isinstance(subscribe, str) and subscribe else None
        self._channel = channel if isinstance(channel, str) else None
        self._token = token if isinstance(token, str) else None
        errors = env.get("errors")
        if isinstance(errors, list):
            self._errors = [error for error in errors if isinstance(error, str)]
            if len(self._errors) != len(errors):
                problems.append("errors: some are not text")
        elif errors is not None:
            problems.append(f"errors: {_shown(errors)} is not a list")
        if not self.connection.validate:
            return
        reason = envelope.validation_error(env)
        self._valid = reason is None
        self._validation_error = reason

    def _get(self, name: str) -> Any:
        if self._raw is not None:
            self._decode()
        return getattr(self, name)

    @property
    def is_envelope(self) -> bool:
        """True when the job body is a beanstalkm envelope (always, for messages made here)."""
        return self._get("_is_envelope")  # type: ignore[no-any-return]

    @property
    def body(self) -> Any:
        """What the producer put: a dict, list, str, number, bool or None; str or bytes
        for a job that is neither an envelope nor JSON."""
        return self._get("_body")

    @body.setter
    def body(self, value: Any) -> None:
        self._decode()
        self._body = value
        self._token = None

    @property
    def created(self) -> dict[str, int]:
        """When the message was made, as ``{"$data": <milliseconds since the epoch>}``."""
        return {"$data": self._get("_created")}

    @property
    def timestamp(self) -> float:
        """:attr:`created` in seconds since the epoch."""
        ms: int = self._get("_created")
        return ms / 1000

    @property
    def utc(self) -> datetime | None:
        """:attr:`created` as an aware UTC datetime; None when it is no date a datetime
        can hold (before year 1 or after 9999)."""
        try:
            return datetime.fromtimestamp(self.timestamp, tz=timezone.utc)
        except (ValueError, OverflowError, OSError):
            return None

    @property
    def problems(self) -> list[str]:
        """The envelope's fields that could not be read, and why (each then has its
        default: no sender, created 0 ...). Empty for a sound envelope."""
        problems: list[str] = self._get("_problems")
        return problems

    @property
    def sender(self) -> dict[str, Any]:
        """Who sent it: host, pid, time, version and whatever the producer added."""
        sender: dict[str, Any] = self._get("_sender")
        if sender is getattr(self.connection, "sender", None):
            sender = self._sender = dict(sender)  # this message's own from now on
        return sender

    @property
    def asks_for_reply(self) -> bool:
        """Whether the message names a tube for its reply (``subscribe``). A received
        job's envelope is read only when its bytes may name one: a worker asks this of
        every job, most of which ask for nothing."""
        raw = self._raw
        if raw is not None and b"\\u" not in raw and _SUBSCRIBED.search(raw) is None:
            return False
        return bool(self.subscribe)

    @property
    def subscribe(self) -> str | None:
        return self._get("_subscribe")  # type: ignore[no-any-return]

    @subscribe.setter
    def subscribe(self, value: str | None) -> None:
        self._decode()
        self._subscribe = value

    @property
    def channel(self) -> str | None:
        return self._get("_channel")  # type: ignore[no-any-return]

    @channel.setter
    def channel(self, value: str | None) -> None:
        self._decode()
        self._channel = value

    @property
    def errors(self) -> list[str]:
        """Errors recorded on the message by whoever handled it."""
        errors: list[str] = self._get("_errors")
        return errors

    @property
    def token(self) -> str | None:
        """MD5 hex of the body in canonical JSON (None when the body is not JSON)."""
        if self._get("_token") is None:
            try:
                self._token = envelope.token(self._body, self.connection.canonical_json)
            except (TypeError, ValueError):
                return None
        return self._token

    @property
    def valid(self) -> bool | None:
        """Whether the envelope matches ``message.json``: None when not checked
        (the job is not an envelope, or the client was made with ``validate=False``)."""
        return self._get("_valid")  # type: ignore[no-any-return]

    @property
    def validation_error(self) -> str | None:
        """Why the envelope does not match ``message.json``, or None."""
        return self._get("_validation_error")  # type: ignore[no-any-return]

    def check(self) -> None:
        """Raise :class:`~beanstalkm.InvalidMessage` if the envelope failed validation,
        or has fields that cannot be read (see :attr:`problems`)."""
        if self.valid is False:
            raise InvalidMessage(f"job {self.uid}: invalid envelope: {self.validation_error}", self)
        if self.problems:
            reason = "; ".join(self.problems)
            raise InvalidMessage(f"job {self.uid}: unreadable envelope: {reason}", self)

    # -- encoding --

    def as_dict(self) -> dict[str, Any]:
        """The envelope, as sent (raises TypeError if the body cannot be JSON)."""
        body = self.body
        result: dict[str, Any] = {
            "@context": envelope.CONTEXT,
            "body": body,
            "created": self.created,
            "sender": self.sender,
            # Always present: beanstalkm 1.0.0's schema requires it.
            "subscribe": self._subscribe or "",
            "token": self._token or envelope.token(body, self.connection.canonical_json),
            "errors": self._errors,
        }
        if self._channel is not None:
            result["channel"] = self._channel
        return result

    def encode(self) -> bytes:
        """The job body to send: the envelope as compact JSON."""
        if self._raw is not None:
            self._decode()
        data, self._token = envelope.encode_envelope(
            self._body,
            self._created,
            self._sender,
            self._subscribe,
            self._channel,
            self._errors,
            self.connection.canonical_json,
        )
        return data

    def __str__(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True, default=_lossy)

    def __repr__(self) -> str:
        state = "reserved" if self.reserved else "deleted" if self.deleted else ""
        body = repr(self._body if self._raw is None else self._raw)
        if len(body) > 60:
            body = body[:57] + "..."
        return f"<{type(self).__name__} uid={self.uid} {state} body={body}>".replace("  ", " ")

    # -- for the job operations --

    def require_uid(self, action: str) -> int:
        """The job id, or ValueError for a message that was never sent."""
        if not self.uid:
            raise ValueError(f"cannot {action} a message that was never sent")
        return self.uid

    @property
    def server(self) -> str:
        """The address of the server the job is on (``host:port``): job ids are per
        server, which matters in a pool of servers."""
        address: str = self.connection.address
        return address

    @property
    def ref(self) -> str:
        """The job as ``server/id`` (``127.0.0.1:11300/42``): a name for it that holds
        in a pool of servers too."""
        return f"{self.server}/{self.uid}"

    @property
    def reserved(self) -> bool:
        """True while this client holds the job reserved: reserved on this connection,
        not settled since, and the connection not lost meanwhile (the server released
        the job then)."""
        return self._reserved and self.generation == self.connection.generation

    @reserved.setter
    def reserved(self, value: bool) -> None:
        self._reserved = value

    @property
    def holding(self) -> int | None:
        """The generation whose connection must still be the one for a command on the
        job: the one that reserved it; None when the job is not reserved (then the
        server says whether the command may act on it)."""
        return self.generation if self._reserved else None


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _lossy(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return repr(value)
