"""The live state of the servers: sampled every interval, kept for the charts.

Each interval the sampler asks every server, concurrently, for ``stats``,
``list-tubes`` and each tube's ``stats-tube`` (two round trips per server), and makes a
*frame*: every server's stats and its tubes' counts, with rates worked out from the
counters of the frame before. A server that refuses, fails or does not answer in
time is marked down in the frame, with the reason, and asked again next time. Pages
follow the frames through :meth:`Sampler.wait`; a short form of each frame (a
*point*) is kept for the last minutes, for the charts.

Frames are plain JSON-ready dicts: the page reads them as they are.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import NotFound
from .servers import Server, Servers

__all__ = ["POINT_COLUMNS", "SERVER_STATS", "TUBE_COLUMNS", "Sampler"]

log = logging.getLogger(__name__)

#: A tube's numbers in a frame, in this order (``pause`` is the seconds of pause left,
#: 0 when not paused; the rates are per second, None until two frames are known).
TUBE_COLUMNS: Final = (
    "ready", "reserved", "delayed", "buried", "urgent", "waiting", "watching", "using",
    "total", "pause", "put", "delete",
)  # fmt: skip
_TUBE_STATS: Final = (
    "current-jobs-ready", "current-jobs-reserved", "current-jobs-delayed",
    "current-jobs-buried", "current-jobs-urgent", "current-waiting", "current-watching",
    "current-using", "total-jobs", "pause-time-left",
)  # fmt: skip
_RATE_COLUMNS: Final = (TUBE_COLUMNS.index("put"), TUBE_COLUMNS.index("delete"))
_PAUSE: Final = TUBE_COLUMNS.index("pause")

#: The server stats a frame carries.
SERVER_STATS: Final = (
    "version", "uptime", "hostname", "pid", "draining", "max-job-size",
    "current-connections", "current-producers", "current-workers", "current-waiting",
    "current-tubes", "current-jobs-urgent", "current-jobs-ready", "current-jobs-reserved",
    "current-jobs-delayed", "current-jobs-buried", "total-jobs", "job-timeouts",
    "total-connections",
)  # fmt: skip
#: The numbers summed over the servers in the frame's ``total``.
_SUMMED: Final = tuple(
    key for key in SERVER_STATS if key.startswith(("current-", "total-")) or key == "job-timeouts"
)

#: A chart point: per server and in total, then per tube (totals over the servers).
POINT_COLUMNS: Final = {
    "server": ("ready", "reserved", "delayed", "buried", "commands", "put", "delete"),
    "tube": ("ready", "reserved", "delayed", "buried", "put", "delete"),
}


@dataclass
class _Counters:
    """What one server's counters were at its last frame, to work out rates."""

    at: float
    uptime: int
    commands: int
    puts: int
    deletes: int
    tubes: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: Commands the sampler sends between one ``stats`` and the next, included.
    sent: int = 0


def _rate(now: int, before: int | None, seconds: float, own: int = 0) -> float | None:
    if before is None or now < before:
        return None
    return round(max(now - before - own, 0) / seconds, 2)


def _sum(values: Sequence[Any]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


class Sampler:
    """Samples :class:`Servers` every ``interval`` seconds and keeps ``window``
    seconds of points."""

    def __init__(self, servers: Servers, interval: float = 1.0, window: float = 300.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be above 0")
        self.servers = servers
        self.interval = interval
        #: The newest frame (None before the first).
        self.frame: dict[str, Any] | None = None
        self.points: deque[dict[str, Any]] = deque(maxlen=max(int(window / interval), 2))
        self._counters: dict[int, _Counters] = {}
        self._seq = 0
        self._changed: asyncio.Condition | None = None

    # -- reading the servers --

    async def _read(self, server: Server) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
        pipeline = server.client.pipeline()
        stats, names = await pipeline.stats().list_tubes().execute(raise_on_error=True)
        tubes: dict[str, dict[str, Any]] = {}
        if names:
            pipeline = server.client.pipeline()
            for name in names:
                pipeline.stats_tube(name)
            for name, result in zip(names, await pipeline.execute(), strict=True):
                if isinstance(result, NotFound):
                    continue  # gone since list-tubes
                if isinstance(result, BaseException):
                    raise result
                tubes[name] = result
        return stats, tubes

    async def _server_frame(self, server: Server) -> dict[str, Any]:
        try:
            stats, tubes = await asyncio.wait_for(
                self._read(server), max(server.timeout, self.interval)
            )
        except asyncio.CancelledError:
            raise
        except asyncio.TimeoutError:
            self._counters.pop(server.index, None)
            return {"up": False, "error": "timed out"}
        except Exception as exc:
            # Whatever went wrong with one server, the others are still shown.
            self._counters.pop(server.index, None)
            return {"up": False, "error": str(exc) or type(exc).__name__}
        return self._up_frame(server.index, stats, tubes)

    def _up_frame(
        self, index: int, stats: Mapping[str, Any], tubes: Mapping[str, Mapping[str, Any]]
    ) -> dict[str, Any]:
        now = time.monotonic()
        commands = sum(v for k, v in stats.items() if k.startswith("cmd-") and isinstance(v, int))
        before = self._counters.get(index)
        if before is not None and (stats.get("uptime", 0) < before.uptime or now <= before.at):
            before = None  # restarted: the counters started again
        seconds = now - before.at if before is not None else 1.0
        if before is None:
            rates: dict[str, float | None] = {"commands": None, "put": None, "delete": None}
        else:
            rates = {
                "commands": _rate(commands, before.commands, seconds, before.sent),
                "put": _rate(stats["cmd-put"], before.puts, seconds),
                "delete": _rate(stats["cmd-delete"], before.deletes, seconds),
            }
        counters = _Counters(
            now, stats.get("uptime", 0), commands, stats["cmd-put"], stats["cmd-delete"],
            sent=2 + len(tubes),  # list-tubes, each stats-tube, the next stats
        )  # fmt: skip
        rows: dict[str, list[Any]] = {}
        for name, tube in tubes.items():
            row: list[Any] = [tube.get(key, 0) for key in _TUBE_STATS]
            totals = (tube.get("total-jobs", 0), tube.get("cmd-delete", 0))
            counters.tubes[name] = totals
            # A tube new since the last frame started from nothing.
            previous = before.tubes.get(name, (0, 0)) if before is not None else None
            for now_count, before_count in zip(totals, previous or (None, None), strict=True):
                row.append(_rate(now_count, before_count, seconds))
            rows[name] = row
        self._counters[index] = counters
        return {
            "up": True,
            "stats": {key: stats[key] for key in SERVER_STATS if key in stats},
            "rates": rates,
            "tubes": rows,
        }

    # -- frames --

    async def sample(self) -> dict[str, Any]:
        """Read every server once, make the frame, keep its point and tell the pages."""
        parts = await asyncio.gather(*(self._server_frame(s) for s in self.servers))
        self._seq += 1
        frame = self._frame(self._seq, int(time.time() * 1000), parts)
        point = self._point(frame)
        self.points.append(point)
        frame["point"] = point
        self.frame = frame
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()
        return frame

    def _frame(self, seq: int, millis: int, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
        up = [p for p in parts if p["up"]]
        total_stats = {key: sum(p["stats"].get(key, 0) for p in up) for key in _SUMMED}
        total_rates = {
            key: _sum([p["rates"][key] for p in up]) for key in ("commands", "put", "delete")
        }
        names = sorted({name for p in up for name in p["tubes"]})
        tubes: dict[str, list[Any]] = {}
        for name in names:
            rows = [p["tubes"].get(name) if p["up"] else None for p in parts]
            present = [row for row in rows if row is not None]
            total: list[Any] = []
            for column in range(len(TUBE_COLUMNS)):
                values = [row[column] for row in present]
                if column in _RATE_COLUMNS:
                    total.append(_sum(values))
                elif column == _PAUSE:
                    total.append(max(values))
                else:
                    total.append(sum(values))
            tubes[name] = [total, *rows]
        servers = [
            {**server.describe(), **{k: v for k, v in part.items() if k != "tubes"}}
            for server, part in zip(self.servers, parts, strict=True)
        ]
        return {
            "seq": seq,
            "time": millis,
            "servers": servers,
            "total": {"up": len(up), "stats": total_stats, "rates": total_rates},
            "tubes": tubes,
        }

    @staticmethod
    def _point(frame: Mapping[str, Any]) -> dict[str, Any]:
        def server_point(stats: Mapping[str, Any], rates: Mapping[str, Any]) -> list[Any]:
            counts = [stats.get(f"current-jobs-{s}", 0) for s in POINT_COLUMNS["tube"][:4]]
            return [*counts, rates["commands"], rates["put"], rates["delete"]]

        servers = [
            server_point(s["stats"], s["rates"]) if s["up"] else None for s in frame["servers"]
        ]
        total = frame["total"]
        tube_columns = [TUBE_COLUMNS.index(c) for c in POINT_COLUMNS["tube"]]
        return {
            "time": frame["time"],
            "servers": servers,
            "total": server_point(total["stats"], total["rates"]) if total["up"] else None,
            "tubes": {
                name: [rows[0][c] for c in tube_columns] for name, rows in frame["tubes"].items()
            },
        }

    async def wait(self, after: int) -> dict[str, Any]:
        """The first frame newer than the one numbered ``after`` (waits for it)."""
        if self._changed is None:
            self._changed = asyncio.Condition()
        frame = self.frame
        while frame is None or frame["seq"] <= after:
            async with self._changed:
                await self._changed.wait()
            frame = self.frame
        return frame

    async def run(self) -> None:
        """Sample every ``interval`` seconds until cancelled."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                await self.sample()
            except Exception:  # a bug here must not stop the live pages for good
                log.exception("sampling failed")
            next_at = max(next_at + self.interval, loop.time())
            await asyncio.sleep(next_at - loop.time())
