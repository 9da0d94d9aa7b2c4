"""``beanstalkm top``: a live view of every tube, refreshed every interval.

Counts come from ``stats-tube``; rates are the change of each tube's ``total-jobs``
(puts) and ``cmd-delete`` (deletes) between two refreshes, per second. A terminal
gets a screen redrawn in place (with ``rich`` when installed, ANSI escapes
otherwise) and quits on ``q`` or Ctrl-C; a pipe gets one table per refresh, or JSON
lines with ``--json``.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from ...errors import SocketError
from ...stats import ServerStats, TubeStats
from ..base import CliClient, Context
from ..options import JSON, PLAIN, TABLE, Subparsers, add_command
from ..output import format_duration, plain_table
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
        "and deletes per second, refreshed every --interval seconds. q or Ctrl-C quits.",
        [
            "beanstalkm top",
            "beanstalkm top --once --json",
            "beanstalkm top --interval 5 --iterations 12 --table > load.txt",
        ],
        output={"json": JSON, "table": TABLE, "plain": PLAIN},
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


def take_sample(client: CliClient, only: list[str] | None) -> Sample:
    server = client.queue.stats()
    tubes = {t["name"]: t for t in tube_stats(client, only)}
    return Sample(time.monotonic(), time.time(), server, tubes)


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
    """The summary lines above the table."""
    s = sample.server
    overall = rates.get("") if rates is not None else None
    speed = f"put/s {overall.put:.1f}  delete/s {overall.delete:.1f}" if overall else ""
    return [
        f"beanstalkd {s['version']} at {address}  up {format_duration(s['uptime'])}  "
        f"{time.strftime('%H:%M:%S', time.localtime(sample.wall))}",
        f"connections {s['current-connections']} (workers {s['current-workers']}, "
        f"producers {s['current-producers']}, waiting {s['current-waiting']})  "
        f"tubes {s['current-tubes']}",
        f"jobs ready {s['current-jobs-ready']}  reserved {s['current-jobs-reserved']}  "
        f"delayed {s['current-jobs-delayed']}  buried {s['current-jobs-buried']}  "
        f"total {s['total-jobs']}  {speed}".rstrip(),
    ]


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
    return result


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
    try:
        with _Screen(ctx, live, args.sort) as screen, Keys(live) as keys:
            previous: Sample | None = take_sample(client, only)
            if live and previous is not None:
                screen.draw(0, previous, None)
            frame = 0
            while iterations is None or frame < iterations:
                if keys.wait(interval) == "q":
                    break
                try:
                    current = take_sample(client, only)
                except SocketError as exc:
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
        sys.stdout.flush()
    return 0
