"""Request lines to broker calls and reply bytes, parsed the way beanstalkd 1.12 does.

beanstalkd recognises a command by comparing the start of the line with each
command name in a fixed order (so ``quitter`` quits and ``statsx`` is a malformed
``stats``), then reads its arguments with a handful of C idioms whose corner cases
clients can see:

* ids, priorities, delays, TTRs and sizes: optional spaces, then ASCII digits only
  (no sign), within u64 or u32; some commands allow trailing text, most do not;
* ``reserve-with-timeout``: ``strtol`` truncated to a C ``int``: signs, leading
  whitespace and trailing junk pass, ``abc`` is 0 and anything negative waits forever;
* ``kick``: ``strtoul`` truncated to 32 bits, so ``kick -1`` kicks everything;
* tube names: the rest of the line, 1-200 name characters, not starting with ``-``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from ..constants import MAX_TUBE_NAME_BYTES, MAX_U32, MAX_U64
from . import stats
from .state import (
    OP_BURY,
    OP_DELETE,
    OP_IGNORE,
    OP_KICK,
    OP_KICKJOB,
    OP_LIST_TUBE_USED,
    OP_LIST_TUBES,
    OP_LIST_TUBES_WATCHED,
    OP_PAUSE_TUBE,
    OP_PEEK_BURIED,
    OP_PEEK_DELAYED,
    OP_PEEK_READY,
    OP_PEEKJOB,
    OP_PUT,
    OP_RELEASE,
    OP_RESERVE,
    OP_RESERVE_JOB,
    OP_RESERVE_TIMEOUT,
    OP_STATS,
    OP_STATS_TUBE,
    OP_STATSJOB,
    OP_TOUCH,
    OP_USE,
    OP_WATCH,
    Broker,
    Job,
    Session,
)

__all__ = [
    "CLOSE",
    "WAIT",
    "Dispatcher",
    "ReadBody",
    "Result",
    "Skip",
    "job_reply",
]

MSG_BAD_FORMAT: Final = b"BAD_FORMAT\r\n"
MSG_UNKNOWN_COMMAND: Final = b"UNKNOWN_COMMAND\r\n"
MSG_NOT_FOUND: Final = b"NOT_FOUND\r\n"
MSG_JOB_TOO_BIG: Final = b"JOB_TOO_BIG\r\n"

_LONG_MIN: Final = -(2**63)
_LONG_MAX: Final = 2**63 - 1


class ReadBody:
    """Read the ``size`` + 2 bytes of a put's body, then call ``Broker.put``."""

    __slots__ = ("job", "size")

    def __init__(self, job: Job, size: int) -> None:
        self.job = job
        self.size = size


class Skip:
    """Discard the next ``count`` bytes of input, then send ``reply``."""

    __slots__ = ("count", "reply")

    def __init__(self, count: int, reply: bytes) -> None:
        self.count = count
        self.reply = reply


class _Signal:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The command is a reserve that is now waiting; its reply comes through on_wake.
WAIT: Final = _Signal("WAIT")
#: Close the connection (``quit``).
CLOSE: Final = _Signal("CLOSE")

#: A reply line, a reply line plus body, or an instruction to the connection.
Result = bytes | tuple[bytes, bytes] | ReadBody | Skip | _Signal


def job_reply(status: bytes, job: Job) -> tuple[bytes, bytes]:
    """``RESERVED``/``FOUND`` line and body."""
    return b"%s %d %d\r\n" % (status, job.id, len(job.body) - 2), job.body


def _ok(body: bytes) -> tuple[bytes, bytes]:
    return b"OK %d\r\n" % (len(body) - 2), body


_NAME_CHARS = rb"A-Za-z0-9\-+/;.$_()"
_TUBE_NAME = re.compile(rb"[A-Za-z0-9+/;.$_()][%s]{0,%d}" % (_NAME_CHARS, MAX_TUBE_NAME_BYTES - 1))
_PUT = re.compile(rb"put +([0-9]+) +([0-9]+) +([0-9]+) +([0-9]+)(.*)", re.DOTALL)
_ONE_NUMBER = re.compile(rb" *([0-9]+)")
_TWO_NUMBERS = re.compile(rb" *([0-9]+) +([0-9]+)")
_THREE_NUMBERS = re.compile(rb" *([0-9]+) +([0-9]+) +([0-9]+)")
_PAUSE = re.compile(rb" *([%s]+) +([0-9]+)" % _NAME_CHARS)
# What C's strtol/strtoul accept: isspace() in the C locale, a sign, decimal digits.
_STRTOL = re.compile(rb"[ \t\n\v\f\r]*([+-]?)([0-9]*)")


def _strtol(text: bytes, pos: int) -> tuple[int, bool] | None:
    """C ``strtol``: (value, any digits read), or None on overflow (ERANGE)."""
    m = _STRTOL.match(text, pos)
    assert m is not None  # the pattern matches the empty string
    sign, digits = m.groups()
    if not digits:
        return 0, False
    value = -int(digits) if sign == b"-" else int(digits)
    if not _LONG_MIN <= value <= _LONG_MAX:
        return None
    return value, True


def _strtoul(text: bytes, pos: int) -> tuple[int, bool] | None:
    """C ``strtoul`` on a 64-bit system: a minus sign negates modulo 2**64."""
    m = _STRTOL.match(text, pos)
    assert m is not None
    sign, digits = m.groups()
    if not digits:
        return 0, False
    value = int(digits)
    if value > MAX_U64:
        return None
    if sign == b"-":
        value = -value & MAX_U64
    return value, True


def _to_c_int(value: int) -> int:
    """Truncate to a 32-bit two's-complement ``int``, as the C assignment does."""
    value &= 0xFFFFFFFF
    return value - 0x1_0000_0000 if value & 0x8000_0000 else value


# (prefix, handler name), in beanstalkd's matching order, bucketed by the first four
# bytes (every prefix has at least four) so a line is compared with few candidates.
_PREFIXES: Final = (
    (b"put ", "_put"),
    (b"peek ", "_peek"),
    (b"peek-ready", "_peek_ready"),
    (b"peek-delayed", "_peek_delayed"),
    (b"peek-buried", "_peek_buried"),
    (b"reserve-with-timeout ", "_reserve_with_timeout"),
    (b"reserve-job ", "_reserve_job"),
    (b"reserve", "_reserve"),
    (b"delete ", "_delete"),
    (b"release ", "_release"),
    (b"bury ", "_bury"),
    (b"kick ", "_kick"),
    (b"kick-job ", "_kick_job"),
    (b"touch ", "_touch"),
    (b"stats-job ", "_stats_job"),
    (b"stats-tube ", "_stats_tube"),
    (b"stats", "_stats"),
    (b"use ", "_use"),
    (b"watch ", "_watch"),
    (b"ignore ", "_ignore"),
    (b"list-tubes-watched", "_list_tubes_watched"),
    (b"list-tube-used", "_list_tube_used"),
    (b"list-tubes", "_list_tubes"),
    (b"quit", "_quit"),
    (b"pause-tube", "_pause_tube"),
)


class Dispatcher:
    """Runs request lines against a :class:`Broker` on behalf of one session."""

    __slots__ = ("_table", "broker", "session")

    def __init__(self, broker: Broker, session: Session) -> None:
        self.broker = broker
        self.session = session
        table: dict[bytes, list[tuple[bytes, int, Callable[[bytes, int], Result]]]] = {}
        for prefix, name in _PREFIXES:
            table.setdefault(prefix[:4], []).append((prefix, len(prefix), getattr(self, name)))
        self._table = table

    def run(self, line: bytes) -> Result:
        """Execute one request line (without its CRLF)."""
        if b"\0" in line:
            return MSG_BAD_FORMAT
        candidates = self._table.get(line[:4])
        if candidates is not None:
            for prefix, length, handler in candidates:
                if line.startswith(prefix):
                    return handler(line, length)
        return MSG_UNKNOWN_COMMAND

    # --------------------------------------------------------------- producing

    def _put(self, line: bytes, _: int) -> Result:
        m = _PUT.fullmatch(line)
        if m is None:
            return MSG_BAD_FORMAT
        pri, delay, ttr, size = int(m[1]), int(m[2]), int(m[3]), int(m[4])
        if pri > MAX_U32 or delay > MAX_U32 or ttr > MAX_U32 or size > MAX_U32:
            return MSG_BAD_FORMAT
        broker = self.broker
        broker.ops[OP_PUT] += 1
        if size > broker.max_job_size:
            # Checked before the trailing-text check, and the body is still read.
            return Skip(size + 2, MSG_JOB_TOO_BIG)
        if m[5]:
            return MSG_BAD_FORMAT
        return ReadBody(broker.new_job(self.session, pri, delay, ttr), size)

    def _use(self, line: bytes, pos: int) -> Result:
        if _TUBE_NAME.fullmatch(line, pos) is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_USE] += 1
        return b"USING %s\r\n" % self.broker.use(self.session, line[pos:]).name

    # ----------------------------------------------------------------- peeking

    def _peek(self, line: bytes, pos: int) -> Result:
        job_id = self._id(line, pos)
        if job_id is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_PEEKJOB] += 1
        job = self.broker.peek(job_id)
        if job is None:
            return MSG_NOT_FOUND
        body = self.broker.peek_body(job)
        return b"FOUND %d %d\r\n" % (job.id, len(body) - 2), body

    def _peek_ready(self, line: bytes, pos: int) -> Result:
        if len(line) != pos:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_PEEK_READY] += 1
        job = self.session.use.ready_top()
        return MSG_NOT_FOUND if job is None else job_reply(b"FOUND", job)

    def _peek_delayed(self, line: bytes, pos: int) -> Result:
        if len(line) != pos:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_PEEK_DELAYED] += 1
        job = self.session.use.delayed_top()
        return MSG_NOT_FOUND if job is None else job_reply(b"FOUND", job)

    def _peek_buried(self, line: bytes, pos: int) -> Result:
        if len(line) != pos:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_PEEK_BURIED] += 1
        job = self.session.use.buried_head()
        return MSG_NOT_FOUND if job is None else job_reply(b"FOUND", job)

    # --------------------------------------------------------------- reserving

    def _reserve(self, line: bytes, pos: int) -> Result:
        if len(line) != pos:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_RESERVE] += 1
        return self.broker.reserve(self.session, None) or WAIT

    def _reserve_with_timeout(self, line: bytes, pos: int) -> Result:
        parsed = _strtol(line, pos)
        if parsed is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_RESERVE_TIMEOUT] += 1
        return self.broker.reserve(self.session, _to_c_int(parsed[0])) or WAIT

    def _reserve_job(self, line: bytes, pos: int) -> Result:
        job_id = self._id(line, pos)
        if job_id is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_RESERVE_JOB] += 1
        job = self.broker.reserve_job(self.session, job_id)
        return MSG_NOT_FOUND if job is None else job_reply(b"RESERVED", job)

    # ------------------------------------------------------ finishing with jobs

    def _delete(self, line: bytes, pos: int) -> Result:
        job_id = self._id(line, pos)
        if job_id is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_DELETE] += 1
        return b"DELETED\r\n" if self.broker.delete(self.session, job_id) else MSG_NOT_FOUND

    def _release(self, line: bytes, pos: int) -> Result:
        m = _THREE_NUMBERS.fullmatch(line, pos)
        if m is None:
            return MSG_BAD_FORMAT
        job_id, pri, delay = int(m[1]), int(m[2]), int(m[3])
        if job_id > MAX_U64 or pri > MAX_U32 or delay > MAX_U32:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_RELEASE] += 1
        return self.broker.release(self.session, job_id, pri, delay)

    def _bury(self, line: bytes, pos: int) -> Result:
        m = _TWO_NUMBERS.fullmatch(line, pos)
        if m is None:
            return MSG_BAD_FORMAT
        job_id, pri = int(m[1]), int(m[2])
        if job_id > MAX_U64 or pri > MAX_U32:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_BURY] += 1
        return self.broker.bury(self.session, job_id, pri)

    def _touch(self, line: bytes, pos: int) -> Result:
        job_id = self._id(line, pos)
        if job_id is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_TOUCH] += 1
        return b"TOUCHED\r\n" if self.broker.touch(self.session, job_id) else MSG_NOT_FOUND

    def _kick(self, line: bytes, pos: int) -> Result:
        parsed = _strtoul(line, pos)
        if parsed is None or not parsed[1]:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_KICK] += 1
        return b"KICKED %d\r\n" % self.broker.kick(self.session, parsed[0] & MAX_U32)

    def _kick_job(self, line: bytes, pos: int) -> Result:
        job_id = self._id(line, pos)
        if job_id is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_KICKJOB] += 1
        return self.broker.kick_job(job_id)

    # ------------------------------------------------------------------ tubes

    def _watch(self, line: bytes, pos: int) -> Result:
        if _TUBE_NAME.fullmatch(line, pos) is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_WATCH] += 1
        return b"WATCHING %d\r\n" % self.broker.watch(self.session, line[pos:])

    def _ignore(self, line: bytes, pos: int) -> Result:
        if _TUBE_NAME.fullmatch(line, pos) is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_IGNORE] += 1
        count = self.broker.ignore(self.session, line[pos:])
        return b"NOT_IGNORED\r\n" if count is None else b"WATCHING %d\r\n" % count

    def _pause_tube(self, line: bytes, pos: int) -> Result:
        m = _PAUSE.fullmatch(line, pos)
        if m is None or int(m[2]) > MAX_U32:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_PAUSE_TUBE] += 1
        name = m[1]
        # Counted before the name is checked, as beanstalkd does.
        if len(name) > MAX_TUBE_NAME_BYTES or name.startswith(b"-"):
            return MSG_BAD_FORMAT
        if self.broker.pause_tube(name, int(m[2])):
            return b"PAUSED\r\n"
        return MSG_NOT_FOUND

    def _list_tubes(self, line: bytes, pos: int) -> Result:
        if len(line) != pos:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_LIST_TUBES] += 1
        return _ok(stats.tube_list(self.broker.tubes))

    def _list_tube_used(self, line: bytes, pos: int) -> Result:
        if len(line) != pos:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_LIST_TUBE_USED] += 1
        return b"USING %s\r\n" % self.session.use.name

    def _list_tubes_watched(self, line: bytes, pos: int) -> Result:
        if len(line) != pos:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_LIST_TUBES_WATCHED] += 1
        return _ok(stats.tube_list(self.session.watch))

    # ------------------------------------------------------------------ stats

    def _stats(self, line: bytes, pos: int) -> Result:
        if len(line) != pos:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_STATS] += 1
        return _ok(stats.server_stats(self.broker))

    def _stats_job(self, line: bytes, pos: int) -> Result:
        job_id = self._id(line, pos)
        if job_id is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_STATSJOB] += 1
        job = self.broker.peek(job_id)
        if job is None:
            return MSG_NOT_FOUND
        return _ok(stats.job_stats(job, self.broker.clock()))

    def _stats_tube(self, line: bytes, pos: int) -> Result:
        if _TUBE_NAME.fullmatch(line, pos) is None:
            return MSG_BAD_FORMAT
        self.broker.ops[OP_STATS_TUBE] += 1
        tube = self.broker.find_tube(line[pos:])
        if tube is None:
            return MSG_NOT_FOUND
        return _ok(stats.tube_stats(tube, self.broker.clock()))

    def _quit(self, line: bytes, pos: int) -> Result:
        # No check for trailing text: "quitter" quits too.
        return CLOSE

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _id(line: bytes, pos: int) -> int | None:
        m = _ONE_NUMBER.fullmatch(line, pos)
        if m is None:
            return None
        value = int(m[1])
        return value if value <= MAX_U64 else None
