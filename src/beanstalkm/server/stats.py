"""The YAML bodies of ``stats``, ``stats-tube``, ``stats-job`` and the tube lists.

Byte-for-byte the layout of beanstalkd 1.12: ``---\\n``, one ``key: value\\n`` per
line in a fixed order, then ``\\r\\n`` (which the ``OK <bytes>`` count excludes).
Strings are unquoted except ``version``, as 1.12 prints them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Final

from ..constants import __version__
from .state import (
    DELAYED,
    NS_PER_SECOND,
    OP_BURY,
    OP_DELETE,
    OP_IGNORE,
    OP_KICK,
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
    OP_RESERVE_TIMEOUT,
    OP_STATS,
    OP_STATS_TUBE,
    OP_STATSJOB,
    OP_TOUCH,
    OP_USE,
    OP_WATCH,
    RESERVED,
    STATE_NAMES,
    Broker,
    Job,
    Tube,
    ns_to_seconds,
)

try:
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

__all__ = [
    "SERVER_IDENTITY",
    "SERVER_VERSION",
    "job_stats",
    "server_stats",
    "tube_list",
    "tube_stats",
]

#: What ``stats`` reports as ``version``: exactly beanstalkd's, since clients parse it.
SERVER_VERSION: Final = "1.12"
#: Who is answering, for people: appended to the ``os`` line of ``stats``, which
#: clients show but do not parse (on Linux its value starts with ``#``, so a YAML
#: loader even reads the whole line as a comment).
SERVER_IDENTITY: Final = f"(beanstalkm {__version__} embedded server)"

_COMMAND_COUNTERS: Final = (
    (b"put", OP_PUT),
    (b"peek", OP_PEEKJOB),
    (b"peek-ready", OP_PEEK_READY),
    (b"peek-delayed", OP_PEEK_DELAYED),
    (b"peek-buried", OP_PEEK_BURIED),
    (b"reserve", OP_RESERVE),
    (b"reserve-with-timeout", OP_RESERVE_TIMEOUT),
    (b"delete", OP_DELETE),
    (b"release", OP_RELEASE),
    (b"use", OP_USE),
    (b"watch", OP_WATCH),
    (b"ignore", OP_IGNORE),
    (b"bury", OP_BURY),
    (b"kick", OP_KICK),
    (b"touch", OP_TOUCH),
    (b"stats", OP_STATS),
    (b"stats-job", OP_STATSJOB),
    (b"stats-tube", OP_STATS_TUBE),
    (b"list-tubes", OP_LIST_TUBES),
    (b"list-tube-used", OP_LIST_TUBE_USED),
    (b"list-tubes-watched", OP_LIST_TUBES_WATCHED),
    (b"pause-tube", OP_PAUSE_TUBE),
)


def _node_info() -> tuple[bytes, bytes, bytes]:
    try:
        uname = os.uname()
        fields = (uname.nodename, uname.version, uname.machine)
    except AttributeError:  # pragma: no cover - Windows
        import platform

        info = platform.uname()
        fields = (info.node, info.version, info.machine)
    return tuple(f.encode("utf-8", "surrogateescape") for f in fields)  # type: ignore[return-value]


_HOSTNAME, _OS, _PLATFORM = _node_info()
_OS_LINE: Final = b"os: %s %s\n" % (_OS, SERVER_IDENTITY.encode())


def _rusage() -> tuple[float, float]:
    if resource is None:  # pragma: no cover - Windows
        times = os.times()
        return times.user, times.system
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def _seconds_micros(seconds: float) -> bytes:
    micros = round(seconds * 1_000_000)
    return b"%d.%06d" % divmod(micros, 1_000_000)


def server_stats(broker: Broker) -> bytes:
    """The ``stats`` body."""
    utime, stime = _rusage()
    journal = broker.journal
    if journal is None:
        wal: tuple[int, int, int, int, int] = (0, 0, 0, 0, broker.binlog_max_size)
    else:
        wal = (
            journal.oldest_index,
            journal.current_index,
            journal.migrated,
            journal.written,
            journal.max_size,
        )
    lines = [
        b"---\n",
        b"current-jobs-urgent: %d\n" % broker.urgent_count,
        b"current-jobs-ready: %d\n" % broker.ready_count,
        b"current-jobs-reserved: %d\n" % broker.reserved_count,
        b"current-jobs-delayed: %d\n" % broker.delayed_count,
        b"current-jobs-buried: %d\n" % broker.buried_count,
    ]
    ops = broker.ops
    lines.extend(b"cmd-%s: %d\n" % (name, ops[op]) for name, op in _COMMAND_COUNTERS)
    lines += [
        b"job-timeouts: %d\n" % broker.timeouts,
        b"total-jobs: %d\n" % broker.total_jobs,
        b"max-job-size: %d\n" % broker.max_job_size,
        b"current-tubes: %d\n" % len(broker.tubes),
        b"current-connections: %d\n" % broker.connections,
        b"current-producers: %d\n" % broker.producers,
        b"current-workers: %d\n" % broker.workers,
        b"current-waiting: %d\n" % broker.waiting_count,
        b"total-connections: %d\n" % broker.total_connections,
        b"pid: %d\n" % os.getpid(),
        b'version: "%s"\n' % SERVER_VERSION.encode(),
        b"rusage-utime: %s\n" % _seconds_micros(utime),
        b"rusage-stime: %s\n" % _seconds_micros(stime),
        b"uptime: %d\n" % broker.uptime,
        b"binlog-oldest-index: %d\n" % wal[0],
        b"binlog-current-index: %d\n" % wal[1],
        b"binlog-records-migrated: %d\n" % wal[2],
        b"binlog-records-written: %d\n" % wal[3],
        b"binlog-max-size: %d\n" % wal[4],
        b"draining: %s\n" % (b"true" if broker.draining else b"false"),
        b"id: %s\n" % broker.instance_id.encode(),
        b"hostname: %s\n" % _HOSTNAME,
        _OS_LINE,
        b"platform: %s\n" % _PLATFORM,
        b"\r\n",
    ]
    return b"".join(lines)


def tube_stats(tube: Tube, now: int) -> bytes:
    """The ``stats-tube`` body."""
    time_left = ns_to_seconds(tube.unpause_at - now) if tube.pause_ns > 0 else 0
    return b"".join(
        (
            b"---\n",
            b"name: %s\n" % tube.name,
            b"current-jobs-urgent: %d\n" % tube.urgent_count,
            b"current-jobs-ready: %d\n" % tube.ready_count,
            b"current-jobs-reserved: %d\n" % tube.reserved_count,
            b"current-jobs-delayed: %d\n" % tube.delay_count,
            b"current-jobs-buried: %d\n" % tube.buried_count,
            b"total-jobs: %d\n" % tube.total_jobs,
            b"current-using: %d\n" % tube.using,
            b"current-watching: %d\n" % tube.watching,
            b"current-waiting: %d\n" % len(tube.waiting),
            b"cmd-delete: %d\n" % tube.deletes,
            b"cmd-pause-tube: %d\n" % tube.pauses,
            b"pause: %d\n" % (tube.pause_ns // NS_PER_SECOND),
            b"pause-time-left: %d\n" % time_left,
            b"\r\n",
        )
    )


def job_stats(job: Job, now: int) -> bytes:
    """The ``stats-job`` body."""
    if job.state == RESERVED or job.state == DELAYED:
        time_left = ns_to_seconds(job.deadline_at - now)
    else:
        time_left = 0
    return b"".join(
        (
            b"---\n",
            b"id: %d\n" % job.id,
            b"tube: %s\n" % job.tube.name,
            b"state: %s\n" % STATE_NAMES[job.state],
            b"pri: %d\n" % job.pri,
            b"age: %d\n" % ns_to_seconds(now - job.created_at),
            b"delay: %d\n" % job.delay,
            b"ttr: %d\n" % job.ttr,
            b"time-left: %d\n" % time_left,
            b"file: %d\n" % (0 if job.log_file is None else job.log_file.seq),
            b"reserves: %d\n" % job.reserves,
            b"timeouts: %d\n" % job.timeouts,
            b"releases: %d\n" % job.releases,
            b"buries: %d\n" % job.buries,
            b"kicks: %d\n" % job.kicks,
            b"\r\n",
        )
    )


def tube_list(tubes: Iterable[Tube]) -> bytes:
    """The ``list-tubes`` / ``list-tubes-watched`` body."""
    return b"".join((b"---\n", *(b"- %s\n" % t.name for t in tubes), b"\r\n"))
