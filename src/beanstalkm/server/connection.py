"""One client connection: bytes in, request lines and bodies out, replies back.

Input is cut up exactly as beanstalkd 1.12 does it, which clients can observe:

* A request line is looked for only in the first 224 bytes of pending input, and
  only at the first ``\\r``: if that ``\\r`` is not followed by ``\\n`` the line never
  completes. Once 224 bytes hold no line end, they are thrown away and so is
  everything up to the next CRLF, which is answered with BAD_FORMAT. (So a 225-byte
  line loses its CR at the edge and the command after it is eaten too.)
* A ``put`` body is the next ``<bytes>`` + 2 bytes, whatever they are.
* JOB_TOO_BIG is sent only after the body has been read and thrown away.
* Commands after a blocking ``reserve`` wait until it is answered; everything after
  ``quit`` is ignored; a client that half-closes while its reserve waits gets
  TIMED_OUT, and its remaining pipelined commands are still answered.

Replies produced while handling one batch of input are written with one call, after
the binlog records of that batch (so nothing is acknowledged before it is logged).

A connection handles at most :data:`TURN_COMMANDS` commands per turn, then lets the
loop serve every other connection before it goes on: a client pipelining thousands
of commands does not hold up the others.

It works on asyncio's transports and on the server's own (:mod:`.transport`).
"""

from __future__ import annotations

from .commands import CLOSE, WAIT, Dispatcher, ReadBody, Skip, job_reply
from .state import Broker, Job, WakeReply

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Final, Protocol

    class Transport(Protocol):
        """What a connection needs of its transport (asyncio's, or :mod:`.transport`)."""

        def write(self, data: bytes) -> None: ...
        def close(self) -> None: ...
        def abort(self) -> None: ...
        def is_closing(self) -> bool: ...
        def pause_reading(self) -> None: ...
        def resume_reading(self) -> None: ...
        def get_extra_info(self, name: str, default: object = None) -> object: ...


__all__ = ["LINE_LIMIT", "TURN_COMMANDS", "ClientConnection"]

#: beanstalkd's command buffer: the longest request line, CRLF included.
LINE_LIMIT: Final = 224
#: Commands handled per turn before the other connections get theirs.
TURN_COMMANDS: Final = 100
#: Stop reading from a client that has this much input not yet handled.
_MAX_BUFFERED: Final = 64 * 1024
#: Write out replies once this much has piled up within one batch of input, so a
#: client that pipelines many big peeks meets the transport's flow control.
_FLUSH_AT: Final = 64 * 1024

_COMMAND: Final = 0
_DISCARD_LINE: Final = 1  # a line overflowed: drop input through the next CRLF
_BODY: Final = 2
_SKIP: Final = 3

_BAD_FORMAT: Final = b"BAD_FORMAT\r\n"

# How a turn ended.
_STARVED: Final = 0  # all complete input handled
_BLOCKED: Final = 1  # waiting for a reserve, for the client to read, or closing
_MORE: Final = 2  # the turn's commands are used up; input remains


def _log() -> Any:
    # logging costs more to import than the rest of the server: only when needed.
    import logging

    return logging.getLogger("beanstalkm.server")


class ClientConnection:
    """The protocol (in asyncio's sense) for one client of the embedded server.

    ``call_soon`` schedules a continuation on the loop that runs the connection;
    by default, the running asyncio loop's.
    """

    def __init__(
        self,
        broker: Broker,
        on_idle: Callable[[], None],
        registry: set[ClientConnection],
        verbose: int = 0,
        call_soon: Callable[[Callable[[], None]], object] | None = None,
    ) -> None:
        self._broker = broker
        #: Called after every burst of work, to re-arm the server's single timer.
        self._on_idle = on_idle
        self._registry = registry
        self._verbose = verbose
        self._call_soon = call_soon
        self._transport: Transport | None = None
        self._session = broker.open_session(self._wake)
        self._dispatcher = Dispatcher(broker, self._session)
        self._peer = "?"
        self._torn_down = False

        self._buf: bytes | bytearray = b""
        #: Where unhandled input starts in ``_buf``.
        self._pos = 0
        self._mode = _COMMAND
        self._need = 0
        self._job: Job | None = None
        self._skip_reply = b""
        # A body that did not arrive with its header is collected chunk by chunk.
        self._parts: list[bytes] = []
        self._have = 0

        self._out: list[bytes] = []
        self._out_size = 0
        self._in_pass = False
        self._waiting = False
        self._write_paused = False
        self._read_paused = False
        self._eof = False
        self._closing = False
        self._resume_pending = False

    # ------------------------------------------------------- protocol methods

    def connection_made(self, transport: Transport) -> None:
        self._transport = transport
        self._registry.add(self)
        if self._verbose:
            self._peer = str(transport.get_extra_info("peername"))
            _log().info("accept %s", self._peer)

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if self._parts:
            self._collect_body(data)
            return
        buf = self._buf
        if buf:
            pos = self._pos
            if pos:
                # Drop what was handled: one copy, only when new input arrives.
                buf = bytearray(memoryview(buf)[pos:])
                self._pos = 0
            elif isinstance(buf, bytes):
                buf = bytearray(buf)
            buf += data
            self._buf = buf
        else:
            self._buf = data
            self._pos = 0
        if not self._resume_pending:
            self._run()
        # Otherwise a turn is already scheduled, and the input waits its turn.

    def eof_received(self) -> bool:
        self._eof = True
        if self._waiting:
            self._broker.cancel_wait(self._session)
        elif not (self._write_paused or self._closing or self._resume_pending):
            self._run()
        # Keep our half open: replies to what was already sent still go out.
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self._closing = True
        self._teardown()
        self._parts = []
        self._buf = b""
        self._pos = 0
        self._on_idle()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._schedule_resume()

    # ---------------------------------------------------------------- control

    def close(self) -> None:
        """Drop the connection (the server is stopping)."""
        self._closing = True
        self._teardown()
        if self._transport is not None:
            self._transport.abort()

    def _teardown(self) -> None:
        """Forget the session now: its reservations are released and its tubes may go.

        Done as soon as the connection is known to be finished (quit, end of input, an
        error), before any other connection is served, as beanstalkd does.
        """
        if self._torn_down:
            return
        self._torn_down = True
        self._registry.discard(self)
        if self._job is not None:
            self._broker.discard_incoming(self._job)
            self._job = None
        self._broker.close_session(self._session)
        if self._verbose:
            _log().info("close %s", self._peer)

    def _schedule_resume(self) -> None:
        if not self._resume_pending and not self._closing:
            self._resume_pending = True
            call_soon = self._call_soon
            if call_soon is None:
                import asyncio

                call_soon = asyncio.get_running_loop().call_soon
            call_soon(self._resume)

    def _resume(self) -> None:
        self._resume_pending = False
        if not self._closing:
            self._run()

    def _wake(self, reply: WakeReply) -> None:
        """The broker finished this connection's waiting reserve."""
        self._waiting = False
        if isinstance(reply, Job):
            self._out.extend(job_reply(b"RESERVED", reply))
        else:
            self._out.append(reply)
        if not self._in_pass:
            # Woken by another connection or the timer: answer now, and carry on
            # with this connection's pipelined commands on a later turn.
            self._flush()
            self._schedule_resume()

    def _flush(self) -> None:
        journal = self._broker.journal
        if journal is not None and journal.pending:
            # Log first: a reply may acknowledge what the log now holds. If the log
            # cannot be written, the server drops every connection unanswered.
            journal.commit()
        out = self._out
        if out:
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.write(out[0] if len(out) == 1 else b"".join(out))
            out.clear()
            self._out_size = 0

    # ------------------------------------------------------------ the parsing

    def _run(self) -> None:
        self._in_pass = True
        try:
            outcome = self._process()
        except Exception:  # never let one client's input take the server down
            _log().exception("closing connection %s after an internal error", self._peer)
            self._closing = True
            self._out.clear()
            self._teardown()
            if self._transport is not None:
                self._transport.abort()
            return
        finally:
            self._in_pass = False
        self._flush()
        transport = self._transport
        if transport is not None and not self._torn_down:
            if self._closing or (outcome == _STARVED and self._eof):
                self._closing = True
                self._teardown()
                transport.close()
            else:
                if outcome == _MORE:
                    self._schedule_resume()
                self._throttle(transport, outcome)
        self._on_idle()

    def _throttle(self, transport: Transport, outcome: int) -> None:
        stalled = outcome != _STARVED
        if stalled and len(self._buf) - self._pos > _MAX_BUFFERED:
            if not self._read_paused:
                self._read_paused = True
                transport.pause_reading()
        elif self._read_paused:
            self._read_paused = False
            transport.resume_reading()

    def _process(self) -> int:
        """Handle complete input, up to a turn's worth.

        Returns ``_STARVED`` (needs more input), ``_BLOCKED`` (waiting for a reserve,
        for the client to read, or closing) or ``_MORE`` (the turn is used up).
        """
        buf = self._buf
        pos = self._pos
        end = len(buf)
        out = self._out
        outcome = _BLOCKED
        budget = TURN_COMMANDS
        while not (self._waiting or self._write_paused or self._closing):
            mode = self._mode
            if mode <= _DISCARD_LINE:  # _COMMAND or _DISCARD_LINE
                if not budget:
                    outcome = _MORE if pos < end else _STARVED
                    break
                window_end = min(end, pos + LINE_LIMIT)
                # Only the first CR counts, and not one in the buffer's last byte.
                cr = buf.find(b"\r", pos, window_end - 1)
                if cr >= 0 and buf[cr + 1] == 10:
                    line = bytes(buf[pos:cr])
                    pos = cr + 2
                    budget -= 1
                    if mode == _DISCARD_LINE:
                        self._mode = _COMMAND
                        out.append(_BAD_FORMAT)
                    else:
                        self._execute(line)
                        if self._out_size > _FLUSH_AT:
                            self._flush()  # may pause writing, which ends this loop
                elif window_end - pos >= LINE_LIMIT:
                    pos += LINE_LIMIT
                    self._mode = _DISCARD_LINE
                else:
                    outcome = _STARVED
                    break
            elif mode == _BODY:
                if self._parts:  # collecting a long body: data_received feeds it
                    outcome = _STARVED
                    break
                need = self._need
                if end - pos >= need:
                    # One copy out of the input buffer, and only one.
                    if isinstance(buf, bytes):
                        body = buf[pos : pos + need]
                    else:
                        with memoryview(buf) as view:
                            body = bytes(view[pos : pos + need])
                    pos += need
                    self._finish_put(body)
                else:
                    job = self._job
                    assert job is not None
                    self._broker.register_incoming(job, need - 2)
                    if end > pos:
                        self._parts.append(bytes(buf[pos:end]))
                        self._have = end - pos
                    else:
                        self._parts.append(b"")
                        self._have = 0
                    pos = end
                    outcome = _STARVED
                    break
            else:  # _SKIP
                take = min(end - pos, self._need)
                pos += take
                self._need -= take
                if self._need:
                    outcome = _STARVED
                    break
                self._mode = _COMMAND
                out.append(self._skip_reply)
        if pos < end:
            self._pos = pos
        else:
            self._buf = b""
            self._pos = 0
        return outcome

    def _execute(self, line: bytes) -> None:
        if self._verbose >= 2:
            _log().debug("%s <- %r", self._peer, line[:80])
        result = self._dispatcher.run(line)
        kind = type(result)
        if kind is bytes:
            self._out.append(result)  # type: ignore[arg-type]
        elif kind is tuple:
            self._out.extend(result)  # type: ignore[arg-type]
            self._out_size += len(result[1])  # type: ignore[index, arg-type]
        elif kind is ReadBody:
            assert isinstance(result, ReadBody)
            self._mode = _BODY
            self._need = result.size + 2
            self._job = result.job
        elif kind is Skip:
            assert isinstance(result, Skip)
            self._mode = _SKIP
            self._need = result.count
            self._skip_reply = result.reply
        elif result is WAIT:
            if self._session.waiting:
                self._waiting = True
                if self._eof:
                    self._broker.cancel_wait(self._session)
        elif result is CLOSE:
            self._closing = True

    def _finish_put(self, body: bytes) -> None:
        job = self._job
        assert job is not None
        self._job = None
        self._mode = _COMMAND
        self._out.append(self._broker.put(job, body))

    def _collect_body(self, data: bytes) -> None:
        parts = self._parts
        parts.append(data)
        self._have += len(data)
        excess = self._have - self._need
        if excess < 0:
            return
        rest = b""
        if excess:
            last = parts[-1]
            parts[-1] = last[: len(last) - excess]
            rest = last[len(last) - excess :]
        body = b"".join(parts)
        self._parts = []
        self._have = 0
        self._in_pass = True
        try:
            self._finish_put(body)
        finally:
            self._in_pass = False
        self._buf = rest
        self._pos = 0
        self._run()
