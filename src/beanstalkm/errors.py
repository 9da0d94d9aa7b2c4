"""The exceptions beanstalkm raises, and the table from server status to exception."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class BeanstalkmException(Exception):
    """Base of every exception raised by beanstalkm."""


class InvalidArgument(BeanstalkmException, ValueError):
    """An argument cannot be sent to beanstalkd; raised before any byte is sent."""


class UnexpectedResponse(BeanstalkmException):
    """The server sent a reply that makes no sense for the command.

    ``args`` is ``(command, status, reply_args)``; for garbage that is not a reply
    at all, ``status`` holds the raw bytes received. The connection is reset.
    """


class NotBeanstalkd(UnexpectedResponse):
    """What answered is not beanstalkd (an HTTP server, say): its first reply is no
    beanstalkd reply at all. ``received`` holds the start of what it sent; the message
    names the address, so that a wrong port is easy to see."""

    def __init__(self, command: str, received: bytes, address: str = "") -> None:
        # args as for any UnexpectedResponse: the command, then the reply's words.
        status, *words = received.split(b"\r\n", 1)[0].split(b" ")
        super().__init__(
            command, status.decode("latin-1"), tuple(w.decode("latin-1") for w in words)
        )
        self.received = received
        self.address = address

    def at(self, address: str) -> NotBeanstalkd:
        """The same error, naming the server's address."""
        return NotBeanstalkd(self.args[0], self.received, address)

    def __str__(self) -> str:
        shown = self.received.split(b"\r\n", 1)[0][:60].decode("ascii", "backslashreplace")
        where = f"the server at {self.address}" if self.address else "the server"
        return f"{where} answered {shown!r}, which is not beanstalkd; is this the right port?"


class SocketError(BeanstalkmException):
    """The connection failed: refused, timed out or closed by the server.

    Nothing half-read is left behind; the next command reconnects.
    """


class CannotConnect(SocketError):
    """The server could not be reached: refused, unknown host, timed out connecting.

    ``address`` is the server's, as people read it (``host:port``, ``[::1]:port`` or
    ``unix:/path``).
    """

    def __init__(self, message: str, address: str) -> None:
        super().__init__(message)
        self.address = address


class ReservationLost(SocketError):
    """The connection that reserved this job was lost, so the server released the job.

    Another worker may hold it now: neither release, bury, touch nor delete it.
    """


class InvalidMessage(BeanstalkmException):
    """A message envelope failed schema validation while strict validation was asked for.

    ``message`` holds the received :class:`~beanstalkm.Message`, still reserved, so it
    can be buried or deleted.
    """

    def __init__(self, reason: str, message: object) -> None:
        super().__init__(reason)
        self.reason = reason
        self.message = message


class PipelineError(BeanstalkmException):
    """Some commands of a batch failed; :attr:`results` has every command's outcome.

    Each slot of :attr:`results` holds the command's result, or the exception it got
    (a :class:`CommandFailed` subclass). The others ran normally.
    """

    def __init__(self, results: list[Any]) -> None:
        errors = [r for r in results if isinstance(r, BaseException)]
        super().__init__(f"{len(errors)} of {len(results)} commands failed; first: {errors[0]!r}")
        self.results = results
        self.errors = errors


class PoolError(BeanstalkmException):
    """A command run on every server of a pool failed on some (or all) of them.

    :attr:`results` maps each server's address to its result, or to the exception it
    got: the servers that answered are not hidden by those that did not.
    """

    def __init__(self, command: str, results: dict[str, Any]) -> None:
        failed = {a: r for a, r in results.items() if isinstance(r, BaseException)}
        shown = "; ".join(f"{address}: {error}" for address, error in failed.items())
        super().__init__(f"{command} failed on {len(failed)} of {len(results)} servers: {shown}")
        self.command = command
        self.results = results
        self.errors = failed


class RemoteError(BeanstalkmException):
    """The request was handled, and failed: its reply carries errors.

    :attr:`errors` holds the texts the handler sent (``["ValueError: no such user"]``),
    :attr:`reply` the reply :class:`~beanstalkm.Message`, :attr:`request` the request.
    """

    def __init__(self, errors: list[str], reply: Any, request: Any) -> None:
        super().__init__("the request failed where it was handled: " + "; ".join(errors))
        self.errors = errors
        self.reply = reply
        self.request = request


def first_error(results: Sequence[Any]) -> BaseException | None:
    """The first exception among a batch's results, or None."""
    for result in results:
        if isinstance(result, BaseException):
            return result
    return None


class CommandFailed(BeanstalkmException):
    """The server answered a command with an error status.

    ``args`` is ``(command, status, reply_args)``, e.g.
    ``("ignore", "NOT_IGNORED", ())``. Subclasses name each status.
    """

    #: The status this class stands for; ``""`` on the base class.
    status: str = ""

    def __init__(
        self, command: str, status: str, reply_args: tuple[str, ...] = (), detail: str = ""
    ) -> None:
        super().__init__(command, status, reply_args)
        self.command = command
        self.reply_args = reply_args
        #: What the command was about, in words (``"job 42"``), when known.
        self.detail = detail

    def __str__(self) -> str:
        status = " ".join((self.args[1], *self.reply_args))
        return f"{self.command}: {status}" + (f" ({self.detail})" if self.detail else "")


class DeadlineSoon(CommandFailed):
    """A job reserved by this connection reaches its time-to-run within a second."""

    status = "DEADLINE_SOON"


class NotFound(CommandFailed):
    """The job or tube does not exist, or the job is not reserved by this connection
    (for release, bury and touch; and for delete, when another connection holds it)."""

    status = "NOT_FOUND"


class TimedOut(CommandFailed):
    """``reserve-with-timeout`` found no job in time."""

    status = "TIMED_OUT"


class NoReply(TimedOut):
    """No reply to a request came in time (:meth:`beanstalkm.Client.request`).

    The request was put and may still be handled: :attr:`request` is the sent
    :class:`~beanstalkm.Message` (its ``uid`` and ``tube`` say where). A reply that
    comes later is deleted when the client next looks for replies.
    """

    def __init__(self, detail: str, request: Any) -> None:
        super().__init__("request", self.status, (), detail)
        self.request = request


class JobTooBig(CommandFailed):
    """The body is longer than the server's ``max-job-size``."""

    status = "JOB_TOO_BIG"


class Draining(CommandFailed):
    """The server is in drain mode and accepts no new jobs."""

    status = "DRAINING"


class Buried(CommandFailed):
    """The server ran out of memory growing a priority queue and buried the job.

    ``job_id`` is the id of the buried job when the server gave one (``put``).
    """

    status = "BURIED"

    @property
    def job_id(self) -> int | None:
        return int(self.reply_args[0]) if self.reply_args else None


class NotIgnored(CommandFailed):
    """The last watched tube cannot be ignored."""

    status = "NOT_IGNORED"


class BadFormat(CommandFailed):
    """The server could not parse the command."""

    status = "BAD_FORMAT"


class UnknownCommand(CommandFailed):
    """The server does not know the command."""

    status = "UNKNOWN_COMMAND"


class OutOfMemory(CommandFailed):
    """The server could not allocate memory for the job."""

    status = "OUT_OF_MEMORY"


class InternalError(CommandFailed):
    """The server hit a bug; please report it to beanstalkd."""

    status = "INTERNAL_ERROR"


class ExpectedCrlf(CommandFailed):
    """The job body was not followed by CRLF."""

    status = "EXPECTED_CRLF"


#: Server error status -> exception class.
ERROR_CLASSES: dict[str, type[CommandFailed]] = {
    cls.status: cls
    for cls in (
        DeadlineSoon,
        NotFound,
        TimedOut,
        JobTooBig,
        Draining,
        Buried,
        NotIgnored,
        BadFormat,
        UnknownCommand,
        OutOfMemory,
        InternalError,
        ExpectedCrlf,
    )
}

#: Statuses any command may get back, whatever the command.
UNIVERSAL_ERRORS = frozenset({"OUT_OF_MEMORY", "INTERNAL_ERROR", "BAD_FORMAT", "UNKNOWN_COMMAND"})
