"""Finding the jobs of one tube in one state, hundreds per round trip.

beanstalkd can show only the *first* ready, delayed or buried job of a tube
(``peek-ready`` and friends), so a tool that deletes or moves them one by one pays a
round trip or two per job. Job ids are handed out in order, and jobs put together
sit together, so from each job that ``peek`` finds the scan asks for the stats of
the ids after it, pipelined, and keeps those of the tube and state it looks for. The
window grows while it finds jobs and shrinks when it finds few; the next ``peek``
jumps over gaps. Nothing here changes a job.

Reading thousands of ``stats-job`` replies is most of the work, so a scanning client
reads them with :func:`flat_yaml`, which takes the few flat mappings beanstalkd sends
as they are, several times faster than the general stats parser.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from .base import CliClient, Context

__all__ = ["STATES", "flat_yaml", "scan", "scanning_client"]

#: The states a job can be found in without reserving it.
STATES: Final = ("ready", "delayed", "buried")

_FIRST_WINDOW: Final = 256
_MAX_WINDOW: Final = 1000


def flat_yaml(text: str) -> dict[str, Any]:
    """A flat YAML mapping as beanstalkd writes ``stats-job`` and ``stats-tube``:
    digits become ints, quoted strings (beanstalkd 1.13+) are unquoted, the rest stays
    text."""
    result: dict[str, Any] = {}
    for line in text.split("\n"):
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        if value.isdigit():
            result[key] = int(value)
        elif value.startswith('"'):
            try:
                result[key] = json.loads(value)
            except ValueError:
                result[key] = value
        else:
            result[key] = value
    return result


def scanning_client(ctx: Context, tube: str, **kwargs: Any) -> CliClient:
    """A client using ``tube`` whose stats come back as plain dicts (:func:`flat_yaml`)."""
    return ctx.client(use=tube, parse_yaml=flat_yaml, **kwargs)


def scan(client: CliClient, tube: str, state: str, limit: int) -> Iterator[list[dict[str, Any]]]:
    """Yield batches of the stats of jobs of ``tube`` in ``state``, ``limit`` in all.

    ``client`` must be using ``tube`` (peek looks into the used tube), and is best
    made by :func:`scanning_client`. The caller is
    expected to take each batch's jobs out of the state (delete, move) before asking
    for the next; a job it could not take out is not yielded again, and the scan
    stops when peek can find nothing new.
    """
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
    peek = getattr(client.queue, f"peek_{state}")
    window = _FIRST_WINDOW
    yielded: set[int] = set()
    # Jobs peek found whose stats then did not match: seen twice, the scan is stuck.
    missed: set[int] = set()
    found = 0
    while found < limit:
        first = peek()
        if first is None or first.uid in yielded or first.uid in missed:
            return
        pipeline = client.pipeline()
        for uid in range(first.uid, first.uid + window):
            pipeline.stats_job(uid)
        batch: list[dict[str, Any]] = []
        for stats in pipeline.execute():
            if _matches(stats, tube, state) and stats["id"] not in yielded:
                batch.append(stats)
        batch = batch[: limit - found]
        if len(batch) * 2 >= window:
            window = min(window * 2, _MAX_WINDOW)
        elif len(batch) * 10 < window:
            window = max(window // 4, 1)
        if not batch:
            missed.add(first.uid)  # it changed state meanwhile: peek again
            continue
        found += len(batch)
        yielded.update(stats["id"] for stats in batch)
        yield batch


def _matches(stats: Any, tube: str, state: str) -> bool:
    return isinstance(stats, dict) and stats.get("tube") == tube and stats.get("state") == state
