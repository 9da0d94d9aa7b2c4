"""Searching the jobs of a tube by text or by a JSON path, within bounds.

beanstalkd cannot list a tube's jobs, and reserving them to look would count as
attempts against them. The search only looks: job ids are handed out in order and
jobs put together sit together, so from the first job ``peek`` finds in the tube it
walks the ids up and down at once, asking ``stats-job`` for a window of ids at a
time (pipelined), and ``peek`` for the bodies of those in the tube and states asked
for. It stops when it has seen every job the tube counted when it started, or has
examined ``limit`` jobs, or has probed :data:`PROBES_PER_JOB` ids per job of the
limit; it says which, and where to go on from.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..cli import jsontext
from ..cli.records import read_job
from ..errors import NotFound
from .jobs import job_view
from .servers import ConsoleClient, RawMessage

__all__ = ["MAX_LIMIT", "PROBES_PER_JOB", "STATES", "Query", "SearchResult", "parse_path", "search"]

#: The states a search can look in.
STATES: Final = ("ready", "delayed", "buried", "reserved")
#: The most jobs one search examines on one server.
MAX_LIMIT: Final = 10_000
#: Ids probed per job of the limit, at most: bounds the walk over deleted jobs' ids.
PROBES_PER_JOB: Final = 20
#: Matching jobs returned with their bodies, at most (the rest are counted).
SHOWN_MATCHES: Final = 50
_WINDOW: Final = 500
_NAME: Final = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\[(\"(?:[^\"\\]|\\.)*\")\]")

Path = tuple[str | int, ...]


def parse_path(text: str) -> Path:
    """``$.user.emails[0]`` or ``$["odd key"].id`` as a tuple of keys and indexes.

    Raises ValueError for anything else.
    """
    text = text.strip()
    if not text.startswith("$"):
        raise ValueError(f"a JSON path starts with $, as in $.user.id: got {text!r}")
    steps: list[str | int] = []
    position = 1
    while position < len(text):
        match = _NAME.match(text, position)
        if match is None:
            raise ValueError(f"cannot read the JSON path {text!r} at {text[position:]!r}")
        name, index, quoted = match.groups()
        steps.append(name if name is not None else int(index) if index else json.loads(quoted))
        position = match.end()
    return tuple(steps)


_MISSING: Final = object()


def _follow(value: Any, path: Path) -> Any:
    for step in path:
        in_list = isinstance(step, int) and isinstance(value, list) and step < len(value)
        if in_list or (isinstance(step, str) and isinstance(value, dict) and step in value):
            value = value[step]
        else:
            return _MISSING
    return value


@dataclass(frozen=True)
class Query:
    """What a job must hold: ``text`` anywhere in its body (case ignored), and/or a
    value at a JSON ``path`` of its body (the body inside an envelope), equal to
    ``value`` when one is given (JSON, else a string)."""

    text: str = ""
    path: Path | None = None
    value: str | None = None

    def matches(self, raw: bytes) -> bool:
        """Whether a job with this body matches."""
        if self.text and self.text.casefold() not in raw.decode("utf-8", "replace").casefold():
            return False
        if self.path is None:
            return True
        job = read_job(0, raw)
        if job.kind not in ("json", "envelope"):
            return False
        found = _follow(job.body, self.path)
        if found is _MISSING:
            return False
        if self.value is None:
            return True
        try:
            wanted = jsontext.loads(self.value)
        except ValueError:
            wanted = self.value
        return bool(found == wanted and type(found) is type(wanted))


@dataclass
class SearchResult:
    """What a search of one server found, and where it stopped."""

    server: int
    #: Jobs of the tube in the states asked for, counted when the search started.
    counted: int
    examined: int = 0
    matched: int = 0
    jobs: list[dict[str, Any]] = field(default_factory=list)
    #: The lowest id probed and the id above the highest: the range searched.
    low: int = 0
    high: int = 0
    #: Jobs of the tube in the states asked for seen so far (matching or not).
    seen: int = 0
    #: ``complete`` (every job counted was seen), ``limit``, ``probes`` or ``empty``.
    stopped: str = "complete"

    def as_dict(self) -> dict[str, Any]:
        """The result as the page reads it."""
        return {
            "server": self.server,
            "counted": self.counted,
            "examined": self.examined,
            "matched": self.matched,
            "jobs": self.jobs,
            "low": self.low,
            "high": self.high,
            "seen": self.seen,
            "stopped": self.stopped,
        }


async def _first_ids(client: ConsoleClient, tube: str) -> list[int]:
    pipeline = client.pipeline().use(tube).peek_ready().peek_delayed().peek_buried()
    return [m.uid for m in (await pipeline.execute())[1:] if isinstance(m, RawMessage)]


def _counted(stats: Mapping[str, Any], states: Iterable[str]) -> int:
    return sum(int(stats.get(f"current-jobs-{state}", 0)) for state in states)


async def search(
    client: ConsoleClient,
    server: int,
    tube: str,
    query: Query,
    states: Sequence[str] = STATES,
    limit: int = 1000,
    start: tuple[int, int, int] | None = None,
) -> SearchResult:
    """Search ``tube`` on one server for jobs in ``states`` that match ``query``.

    Examines at most ``limit`` jobs. ``start`` is ``(low, high, seen)`` of an earlier
    search, to go on below and above the ids it probed; by default the walk starts
    at the tube's first ready, delayed or buried job. Raises NotFound when the tube
    does not exist.
    """
    limit = max(1, min(limit, MAX_LIMIT))
    stats = await client.queue.stats_tube(tube)
    result = SearchResult(server, _counted(stats, states))
    if start is None:
        firsts = await _first_ids(client, tube)
        if not firsts:
            result.stopped = "empty"
            return result
        low, high, seen = min(firsts), min(firsts), 0
    else:
        low, high, seen = start
        low, high = max(low, 1), max(high, 1)
    budget = limit * PROBES_PER_JOB
    while True:
        if seen >= result.counted:
            result.stopped = "complete"
            break
        if result.examined >= limit:
            result.stopped = "limit"
            break
        if budget <= 0:
            result.stopped = "probes"
            break
        # No more ids than jobs may still be examined, so that every job of the ids
        # probed is examined; half of them each way (upwards once none are left below).
        size = min(_WINDOW, limit - result.examined, budget)
        below = min(size // 2, low - 1)
        ids = [*range(low - below, low), *range(high, high + size - below)]
        budget -= len(ids)
        low = min(low, ids[0])
        high = max(high, ids[-1] + 1)
        pipeline = client.pipeline()
        for uid in ids:
            pipeline.stats_job(uid)
        wanted = [
            job
            for job in await pipeline.execute()
            if isinstance(job, dict) and job.get("tube") == tube and job.get("state") in states
        ]
        seen += len(wanted)
        if not wanted:
            continue
        pipeline = client.pipeline()
        for job in wanted:
            pipeline.peek(job["id"])
        for job, message in zip(wanted, await pipeline.execute(), strict=True):
            if isinstance(message, NotFound) or not isinstance(message, RawMessage):
                continue  # deleted meanwhile
            result.examined += 1
            if query.matches(message.raw):
                result.matched += 1
                if len(result.jobs) < SHOWN_MATCHES:
                    result.jobs.append(job_view(server, job["id"], message.raw, job))
    result.low, result.high, result.seen = low, high, seen
    return result
