"""``beanstalkm top``: a live view of every tube, refreshed every interval.

Counts come from ``stats-tube``; rates are the change of each tube's ``total-jobs``
(puts) and ``cmd-delete`` (deletes) between two refreshes, per second. A terminal
gets a screen redrawn in place (with ``rich`` when installed, ANSI escapes
otherwise) and quits on ``q`` or Ctrl-C; a pipe gets one table per refresh, or JSON
lines with ``--json``.

With several servers: each tube's counts added up over the servers, and a line per
server above the table (a server that is down marked so); rates are each server's,
added up, over the servers that answered both refreshes.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, cast

from ...errors import SocketError
from ...servers import sum_stats
from ...stats import ServerStats, TubeStats
from ..base import CliClient, Context, Failure
from ..options import JSON, PLAIN, TABLE, Subparsers, add_command
from ..output import format_duration, plain_table
from ..pool import Servers, error_row, sum_tubes
from ..safetext import printable
from .tubes import tube_stats

__all__ = [
    "Keys",
    "Rates",
    "Sample",
    "add_parser",
    "cmd_top",
    "compute_rates",
    "render_plain",
    "rows",
]

_CLEAR: Final = "\x1b[H\x1b[2J"
_HIDE_CURSOR: Final = "\x1b[?25l"
_SHOW_CURSOR: Final = "\x1b[?25h"

HEADERS: Final = ["tube", "ready", "reserved", "delayed", "buried", "waiting", "put/s", "delete/s"]
SORT_KEYS: Final = {
    "name": "name",
    "ready": "current-jobs-ready",
    "reserved": "current-jobs-reserved",
    "delayed": "current-jobs-delayed",
    "buried": "current-jobs-buried",
    "waiting": "current-waiting",
}


def add_parser(subparsers: Subparsers) -> None:
    p = add_command(
        subparsers,
        "top",
        cmd_top,
        "live view of every tube",
        "A live view of every tube: ready, reserved, delayed, buried, waiting, and puts "
        "and deletes per second, refreshed every --interval seconds. q or Ctrl-C quits. "
        "With several servers: the counts added up, and a line per server.",
        [
            "beanstalkm top",
            "beanstalkm top --once --json",
            "beanstalkm top --interval 5 --iterations 12 --table > load.txt",
        ],
        output={"json": JSON, "table": TABLE, "plain": PLAIN},
        pool=True,
    )
    p.add_argument("-i", "--interval", type=float, default=1.0, help="seconds (default 1)")
    p.add_argument("-n", "--iterations", type=int, default=None, help="stop after N frames")
    p.add_argument("--once", action="store_true", help="one frame (after one interval)")
    p.add_argument("-t", "--tube", action="append", metavar="TUBE", help="only these tubes")
    p.add_argument(
        "--sort",
        default="name",
        choices=[*SORT_KEYS, "put", "delete"],
        help="order of the rows (counts and rates: largest first)",
    )


@dataclass
class Sample:
    """Everything one refresh reads: when, the server's stats, each tube's stats."""

    time: float
    wall: float
    server: ServerStats
    tubes: dict[str, TubeStats] = field(default_factory=dict)
    #: With several servers: each one's own sample, or the error of one that is down
    #: (``server`` and ``tubes`` then hold the sums over those that answered).
    parts: dict[str, Sample | Exception] = field(default_factory=dict)


@dataclass(frozen=True)
class Rates:
    """Puts and deletes per second of one tube (or the whole server)."""

    put: float
    delete: float


def _rate(now: int, before: int | None, elapsed: float) -> float:
    # A tube that was not there before was made since (its counters start at 0); one
    # whose counters went down was dropped and made again in between.
    if before is None or now < before:
        before = 0
    return (now - before) / elapsed


def compute_rates(previous: Sample | None, current: Sample) -> dict[str, Rates] | None:
    """Per-tube rates between two samples; ``""`` holds the server's. None without
    a previous sample."""
    if previous is None:
        return None
    if current.parts:
        return _pool_rates(previous, current)
    elapsed = current.time - previous.time
    if elapsed <= 0:
        return None
    result = {
        "": Rates(
            _rate(current.server["cmd-put"], previous.server["cmd-put"], elapsed),
            _rate(current.server["cmd-delete"], previous.server["cmd-delete"], elapsed),
        )
    }
    for name, tube in current.tubes.items():
        before = previous.tubes.get(name)
        result[name] = Rates(
            _rate(tube["total-jobs"], before["total-jobs"] if before else None, elapsed),
            _rate(tube["cmd-delete"], before["cmd-delete"] if before else None, elapsed),
        )
    return result


def _pool_rates(previous: Sample, current: Sample) -> dict[str, Rates] | None:
    """Each server's rates added up, over the servers in both samples: a sum of
    counters would drop, then leap, as a server goes down and comes back."""
    total: dict[str, Rates] = {}
    for address, part in current.parts.items():
        before = previous.parts.get(address)
        if not isinstance(part, Sample) or not isinstance(before, Sample):
            continue
        for name, rate in (compute_rates(before, part) or {}).items():
            was = total.get(name, Rates(0, 0))
            total[name] = Rates(was.put + rate.put, was.delete + rate.delete)
    return total or None


def take_sample(client: CliClient, only: list[str] | None) -> Sample:
    server = client.queue.stats()
    tubes = {t["name"]: t for t in tube_stats(client, only)}
    return Sample(time.monotonic(), time.time(), server, tubes)


def take_pool_sample(servers: Servers, only: list[str] | None) -> Sample:
    """Every server's sample, and their sums; Failure when every server is down."""
    parts: dict[str, Sample | Exception] = {}
    for address, result in servers.each(lambda client: take_sample(client, only)).items():
        parts[address] = result
    answered = {a: p for a, p in parts.items() if isinstance(p, Sample)}
    if not answered:
        raise servers.all_down()
    server = cast("ServerStats", dict(sum_stats({a: p.server for a, p in answered.items()})))
    summed = sum_tubes({a: p.tubes for a, p in answered.items()})
    tubes = {name: cast("TubeStats", dict(total)) for name, total in summed.items()}
    return Sample(time.monotonic(), time.time(), server, tubes, parts)


def rows(sample: Sample, rates: Mapping[str, Rates] | None, sort: str = "name") -> list[list[Any]]:
    """The table's rows, sorted by name or (descending) by a count."""
    tubes = list(sample.tubes.values())
    key = SORT_KEYS.get(sort)
    if sort in ("put", "delete") and rates is not None:
        tubes.sort(key=lambda t: -getattr(rates.get(t["name"], Rates(0, 0)), sort))
    elif key and key != "name":
        tubes.sort(key=lambda t: -t[key])  # type: ignore[literal-required]
    else:
        tubes.sort(key=lambda t: t["name"])
    result = []
    for t in tubes:
        rate = rates.get(t["name"]) if rates is not None else None
        name = t["name"] + (f" (paused {t['pause-time-left']}s)" if t["pause"] else "")
        result.append(
            [
                name,
                t["current-jobs-ready"],
                t["current-jobs-reserved"],
                t["current-jobs-delayed"],
                t["current-jobs-buried"],
                t["current-waiting"],
                None if rate is None else round(float(rate.put), 1),
                None if rate is None else round(float(rate.delete), 1),
            ]
        )
    return result


def header(sample: Sample, rates: Mapping[str, Rates] | None, address: str) -> list[str]:
    """The summary lines above the table (with several servers, a line for each)."""
    s = sample.server
    overall = rates.get("") if rates is not None else None
    speed = f"put/s {overall.put:.1f}  delete/s {overall.delete:.1f}" if overall else ""
    clock = time.strftime("%H:%M:%S", time.localtime(sample.wall))
    if sample.parts:
        down = sum(not isinstance(p, Sample) for p in sample.parts.values())
        where = f"on {len(sample.parts)} servers" + (f" ({down} down)" if down else "")
        first = f"beanstalkd {s['version']} {where}  {clock}"
    else:
        first = (
            f"beanstalkd {s['version']} at {address}  up {format_duration(s['uptime'])}  {clock}"
        )
    return [
        first,
        f"connections {s['current-connections']} (workers {s['current-workers']}, "
        f"producers {s['current-producers']}, waiting {s['current-waiting']})  "
        f"tubes {s['current-tubes']}",
        f"jobs ready {s['current-jobs-ready']}  reserved {s['current-jobs-reserved']}  "
        f"delayed {s['current-jobs-delayed']}  buried {s['current-jobs-buried']}  "
        f"total {s['total-jobs']}  {speed}".rstrip(),
        *(_server_line(a, p) for a, p in sample.parts.items()),
    ]


def _server_line(address: str, part: Sample | Exception) -> str:
    if not isinstance(part, Sample):
        return f"  {address}  down: {part}"
    s = part.server
    return (
        f"  {address}  ready {s['current-jobs-ready']}  reserved {s['current-jobs-reserved']}  "
        f"delayed {s['current-jobs-delayed']}  buried {s['current-jobs-buried']}  "
        f"total {s['total-jobs']}  up {format_duration(s['uptime'])}"
    )


def render_plain(
    sample: Sample, rates: Mapping[str, Rates] | None, address: str, sort: str = "name"
) -> str:
    """One screen as plain text."""
    lines = [printable(line, one_line=True) for line in header(sample, rates, address)]
    return "\n".join([*lines, "", plain_table(HEADERS, rows(sample, rates, sort))])


def _render_rich(sample: Sample, rates: Mapping[str, Rates] | None, address: str, sort: str) -> Any:
    from rich.console import Group
    from rich.text import Text

    from ..output import rich_table

    lines = [printable(line, one_line=True) for line in header(sample, rates, address)]
    return Group(
        Text(lines[0], style="bold"),
        *map(Text, lines[1:]),
        Text(""),
        rich_table(HEADERS, rows(sample, rates, sort), None),
    )


def _records(frame: int, sample: Sample, rates: Mapping[str, Rates] | None) -> list[dict[str, Any]]:
    result = []
    for name, t in sorted(sample.tubes.items()):
        rate = rates.get(name) if rates is not None else None
        result.append(
            {
                "frame": frame,
                "time": round(sample.wall, 3),
                "tube": name,
                "ready": t["current-jobs-ready"],
                "reserved": t["current-jobs-reserved"],
                "delayed": t["current-jobs-delayed"],
                "buried": t["current-jobs-buried"],
                "urgent": t["current-jobs-urgent"],
                "waiting": t["current-waiting"],
                "total": t["total-jobs"],
                "deletes": t["cmd-delete"],
                "paused": bool(t["pause"]),
                "put_per_s": None if rate is None else round(rate.put, 3),
                "delete_per_s": None if rate is None else round(rate.delete, 3),
            }
        )
        if sample.parts:
            result[-1]["servers"] = {a: _tube_part(p, name) for a, p in sample.parts.items()}
    return result


def _tube_part(part: Sample | Exception, name: str) -> dict[str, Any] | None:
    """One server's counts of a tube in JSON: ``null`` where it has no such tube,
    ``{"error": ...}`` where it is down."""
    if not isinstance(part, Sample):
        return error_row(part)
    t = part.tubes.get(name)
    if t is None:
        return None
    return {
        "ready": t["current-jobs-ready"],
        "reserved": t["current-jobs-reserved"],
        "delayed": t["current-jobs-delayed"],
        "buried": t["current-jobs-buried"],
        "total": t["total-jobs"],
    }


class Keys:
    """Keys typed while ``top`` runs on a terminal: ``q`` quits.

    The terminal is put in cbreak mode (keys arrive at once, unechoed; Ctrl-C still
    interrupts) and restored on exit. Elsewhere, or without termios, it only waits.
    """

    def __init__(self, live: bool) -> None:
        self._fd: int | None = None
        self._saved: Any = None
        if not live:
            return
        try:
            import termios
            import tty
        except ImportError:  # not a POSIX terminal
            return
        try:
            fd = sys.stdin.fileno()
            if not os.isatty(fd):
                return
            self._saved = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        except (OSError, ValueError, termios.error):
            return
        self._fd = fd

    def wait(self, seconds: float) -> str | None:
        """Wait ``seconds``, or less if ``q`` is typed; return ``"q"`` then."""
        if self._fd is None:
            time.sleep(seconds)
            return None
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                return None
            typed = os.read(self._fd, 64)
            if not typed or b"q" in typed.lower():
                return "q"  # q, or the terminal went away

    def __enter__(self) -> Keys:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            import termios

            termios.tcsetattr(self._fd, termios.TCSADRAIN, self._saved)
            self._fd = None


class _Screen:
    """Draws frames: in place on a terminal, one after another elsewhere."""

    def __init__(self, ctx: Context, live: bool, sort: str) -> None:
        self.ctx = ctx
        self.live = live
        self.sort = sort
        self._rich_live: Any = None
        if live and ctx.out.fancy:
            from rich.console import Console
            from rich.live import Live

            self._rich_live = Live(
                console=Console(file=ctx.out.stream), auto_refresh=False, transient=False
            )

    def __enter__(self) -> _Screen:
        if self._rich_live is not None:
            self._rich_live.__enter__()
        elif self.live:
            self.ctx.out.stream.write(_HIDE_CURSOR)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._rich_live is not None:
            self._rich_live.__exit__(None, None, None)
        elif self.live:
            self.ctx.out.stream.write(_SHOW_CURSOR + "\n")
            self.ctx.out.stream.flush()

    def draw(self, frame: int, sample: Sample, rates: Mapping[str, Rates] | None) -> None:
        out = self.ctx.out
        if out.json:
            for record in _records(frame, sample, rates):
                out.record(record)
            return
        if self._rich_live is not None:
            self._rich_live.update(
                _render_rich(sample, rates, self.ctx.address, self.sort), refresh=True
            )
            return
        text = render_plain(sample, rates, self.ctx.address, self.sort)
        if self.live:
            out.stream.write(_CLEAR + text + "\n\n(q or Ctrl-C to quit)\n")
            out.stream.flush()
        else:
            out.write(text + "\n")

    def problem(self, text: str) -> None:
        text = printable(text)
        if self._rich_live is not None:
            from rich.text import Text

            self._rich_live.update(Text(text, style="bold red"), refresh=True)
        else:
            self.ctx.out.stream.write(_CLEAR + text + "\n")
            self.ctx.out.stream.flush()


def cmd_top(ctx: Context, args: argparse.Namespace) -> int:
    """Show every tube's counts and rates, refreshed every ``--interval`` seconds.

    Each frame shows the rates over the interval before it, so the first comes one
    interval after the start (a terminal sees the counts at once, rates blank).
    ``--once`` is ``--iterations 1``. Ctrl-C quits.
    """
    iterations: int | None = 1 if args.once else args.iterations
    interval: float = args.interval
    only: list[str] | None = args.tube or None
    live = not ctx.out.json and ctx.out.stream.isatty()
    client = ctx.client()
    servers = Servers(ctx) if ctx.pooled else None

    def sample() -> Sample:
        if servers is not None:
            return take_pool_sample(servers, only)
        return take_sample(client, only)

    try:
        with _Screen(ctx, live, args.sort) as screen, Keys(live) as keys:
            previous: Sample | None = sample()
            if live and previous is not None:
                screen.draw(0, previous, None)
            frame = 0
            while iterations is None or frame < iterations:
                if keys.wait(interval) == "q":
                    break
                try:
                    current = sample()
                except (SocketError, Failure) as exc:  # Failure: every server down
                    if not live:
                        raise
                    # A monitor outlives a server restart: say so and keep trying.
                    screen.problem(f"{exc}\nretrying every {interval:g}s (q or Ctrl-C to quit)")
                    previous = None
                    continue
                frame += 1
                screen.draw(frame, current, compute_rates(previous, current))
                previous = current
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
        if servers is not None:
            servers.close()
        sys.stdout.flush()
    return 0
