#!/usr/bin/env python3
"""Compare beanstalkm with peer clients against a real beanstalkd, as ratios to a raw floor.

Usage: python bench/bench.py [--quick] [--only NAME] [--rounds N] [--ops N] [--json PATH]

Starts its own beanstalkd on 127.0.0.1 (a free port), pins it and every client process to
one CPU, and measures, round after round, each operation of each client next to a raw
socket client (the floor) doing the same operation: floor, client A, floor, client B, ...,
floor, in a new random order every round. A client's ratio in a round is its ops/s over
the mean of the two floor runs around it; the table shows medians over the rounds. Only
ratios from one run mean anything: this machine's speed drifts a lot within minutes.

Each client runs in its own worker process (bench/clients/*.py): beanstalkm and the floor
with this interpreter and the project's src/ on the path, the peers (greenstalk, pystalk,
aiostalk) with the interpreter of a virtualenv this script makes on first use
(bench/.venv-peers). This file needs only the standard library. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import random
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLIENTS_DIR = HERE / "clients"
sys.path.insert(0, str(CLIENTS_DIR))
from _worker import BODY, OPS, PRIORITY, TTR  # noqa: E402  (the workers' constants; stdlib)

DEFAULT_PEERS_VENV = HERE / ".venv-peers"
#: The peers, pinned so that numbers from different days compare.
PEER_REQUIREMENTS = ("greenstalk==2.1.1", "pystalk==0.9.1", "aiostalk==1.3.1")
LOOPBACK = "127.0.0.1"

OP_LABELS = {
    "put": "put",
    "reserve-delete": "reserve+delete",
    "stats-tube": "stats-tube",
    "put-pipelined": "put, pipelined",
}
#: Jobs per measurement, as a multiple of --ops: pipelined puts are ~2x faster and come
#: in whole batches, so they get more to stay clear of timer noise.
OP_SCALE = {"put": 1, "reserve-delete": 1, "stats-tube": 1, "put-pipelined": 4}


@dataclass(frozen=True)
class ClientSpec:
    #: The name for --only.
    name: str
    #: The name in the table.
    label: str
    #: The worker script in bench/clients/.
    script: str
    #: "project": this interpreter with src/ on the path; "peers": the peers' virtualenv.
    runtime: str
    #: Environment variables the worker gets on top of the runtime's.
    env: tuple[tuple[str, str], ...] = ()


FLOOR = ClientSpec("floor", "raw socket (floor)", "raw.py", "project")
CLIENTS = (
    FLOOR,
    ClientSpec("beanstalkm-raw", "beanstalkm queue (raw)", "beanstalkm_raw.py", "project"),
    ClientSpec(
        "beanstalkm-envelope", "beanstalkm Client (envelope)", "beanstalkm_sync.py", "project"
    ),
    ClientSpec(
        "beanstalkm-validated",
        "beanstalkm Client (body read, validated)",
        "beanstalkm_sync.py",
        "project",
        (("BENCH_READ_BODY", "1"),),
    ),
    ClientSpec("beanstalkm-aio", "beanstalkm aio queue (raw)", "beanstalkm_async.py", "project"),
    ClientSpec("greenstalk", "greenstalk", "greenstalk_.py", "peers"),
    ClientSpec("pystalk", "pystalk", "pystalk_.py", "peers"),
    ClientSpec("aiostalk", "aiostalk", "aiostalk_.py", "peers"),
)
BY_NAME = {spec.name: spec for spec in CLIENTS}


@dataclass(frozen=True)
class Target:
    client: str
    op: str
    #: "ratio": median ratio must be >= limit; "cpu": median CPU us/op over the floor <= limit;
    #: "ahead": median ratio must be above that of the client named by ``peer``.
    kind: str
    limit: float = 0.0
    peer: str = ""


#: The goals from the issues, checked against the medians at the end of a run.
TARGETS = (
    Target("beanstalkm-raw", "put", "ratio", 0.80),
    Target("beanstalkm-raw", "put", "ahead", peer="greenstalk"),
    Target("beanstalkm-raw", "reserve-delete", "ratio", 0.80),
    Target("beanstalkm-raw", "reserve-delete", "ahead", peer="greenstalk"),
    Target("beanstalkm-raw", "stats-tube", "ratio", 0.60),
    Target("beanstalkm-envelope", "put", "ratio", 0.65),
    Target("beanstalkm-envelope", "reserve-delete", "ratio", 0.70),
    Target("beanstalkm-validated", "reserve-delete", "ratio", 0.60),
    Target("beanstalkm-envelope", "put-pipelined", "ratio", 0.70),
    Target("beanstalkm-raw", "put-pipelined", "ratio", 0.90),
    Target("beanstalkm-aio", "put", "ratio", 0.65),
    Target("beanstalkm-aio", "reserve-delete", "ratio", 0.65),
    Target("beanstalkm-raw", "put", "cpu", 5.0),
    Target("beanstalkm-envelope", "put", "cpu", 10.0),
)


class BenchError(RuntimeError):
    """Something stops the whole run (server will not start, peers cannot install...)."""


class WorkerError(RuntimeError):
    """A worker process died, hung or spoke nonsense."""


# --------------------------------------------------------------------------- processes


def _parent_death_signal() -> Callable[[], None] | None:
    """A pre-exec hook that makes a child get SIGTERM when bench.py dies (Linux only).

    It covers what ``finally`` cannot: bench.py killed with SIGKILL. libc is loaded here,
    in the parent, so the child runs no import between fork and exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def hook() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM)

    return hook


_PRE_EXEC = _parent_death_signal()


def _spawn(cmd: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Start a child in its own session (Ctrl-C reaches only us; we stop the children)."""
    return subprocess.Popen(cmd, start_new_session=True, preexec_fn=_PRE_EXEC, **kwargs)


def _stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(2)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Server:
    """beanstalkd on a free loopback port, in memory (no binlog)."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                probe.bind((LOOPBACK, 0))
                port = probe.getsockname()[1]
            proc = _spawn(
                [self.binary, "-l", LOOPBACK, "-p", str(port)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    socket.create_connection((LOOPBACK, port), timeout=0.5).close()
                except OSError:
                    time.sleep(0.01)
                    continue
                self.proc, self.port = proc, port
                return
            _stop_process(proc)  # lost the port to someone else: try another
        raise BenchError(f"{self.binary} did not start listening on {LOOPBACK}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop_process(self.proc)
            self.proc = None


class Admin:
    """bench.py's own connection: fills and drains tubes, checks what workers did."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=30)
        self.buf = b""
        self.used = "default"

    def close(self) -> None:
        self.sock.close()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchError("beanstalkd closed the admin connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _body(self, size: int) -> bytes:
        while len(self.buf) < size + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise BenchError("beanstalkd closed the admin connection")
            self.buf += chunk
        body, self.buf = self.buf[:size], self.buf[size + 2 :]
        return body

    def call(self, command: str, expect: str) -> list[str]:
        self.sock.sendall(command.encode("ascii") + b"\r\n")
        words = self._line().decode("ascii").split()
        if not words or words[0] != expect:
            raise BenchError(f"{command!r}: beanstalkd answered {' '.join(words)!r}")
        return words[1:]

    def yaml_dict(self, command: str) -> dict[str, str]:
        (size,) = self.call(command, "OK")
        text = self._body(int(size)).decode()
        pairs = (line.split(": ", 1) for line in text.splitlines() if ": " in line)
        return {key.strip(): value.strip() for key, value in pairs}

    def use(self, tube: str) -> None:
        if tube != self.used:
            self.call(f"use {tube}", "USING")
            self.used = tube

    def last_id(self) -> int:
        """The id of a job made (and deleted) now: every later job has a greater id."""
        self.use("bench.admin")
        (job_id,) = self.call("put 0 0 60 0\r\n", "INSERTED")
        self.call(f"delete {job_id}", "DELETED")
        return int(job_id)

    def pipeline(self, requests: Sequence[bytes]) -> list[bytes]:
        """Send requests in one write and return their reply lines (none may have a body)."""
        self.sock.sendall(b"".join(requests))
        return [self._line() for _ in requests]

    def fill(self, tube: str, count: int, body: bytes) -> None:
        self.use(tube)
        put = b"put %d 0 %d %d\r\n%b\r\n" % (PRIORITY, TTR, len(body), body)
        for start in range(0, count, 1000):
            replies = self.pipeline([put] * min(1000, count - start))
            if any(not reply.startswith(b"INSERTED ") for reply in replies):
                raise BenchError(f"filling {tube}: {replies[-1]!r}")

    def delete_between(self, low: int, high: int) -> None:
        """Delete every job with low < id < high (in any tube; ready ones or buried ones)."""
        for start in range(low + 1, high, 1000):
            ids = range(start, min(start + 1000, high))
            self.pipeline([b"delete %d\r\n" % job_id for job_id in ids])


# --------------------------------------------------------------------------- workers


class Worker:
    """One client's worker process: send a request line, read a result line."""

    def __init__(self, spec: ClientSpec, python: str, env: dict[str, str]) -> None:
        self.spec = spec
        self.proc = _spawn(
            [python, str(CLIENTS_DIR / spec.script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            cwd=str(CLIENTS_DIR),
        )
        self.buf = b""
        self.hello = self._read(timeout=60)
        #: op -> reason for operations this worker cannot do (found at start or in warm-up).
        self.unavailable: dict[str, str] = dict(self.hello.get("unavailable", {}))
        #: op -> error message for operations that failed (not counted any more).
        self.failed: dict[str, str] = {}

    def can(self, op: str) -> bool:
        return op not in self.unavailable and op not in self.failed and self.alive

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([fd], [], [], max(0.0, left))
            if not ready:
                self.kill()
                raise WorkerError(f"{self.spec.name}: no answer within {timeout:.0f} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                code = self.proc.wait()
                raise WorkerError(f"{self.spec.name}: worker exited with status {code}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        try:
            reply: dict[str, Any] = json.loads(line)
        except ValueError:
            raise WorkerError(f"{self.spec.name}: worker said {line[:200]!r}") from None
        return reply

    def request(self, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(payload).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise WorkerError(f"{self.spec.name}: worker is gone") from None
        return self._read(timeout)

    def kill(self) -> None:
        _stop_process(self.proc)

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def ensure_peers_venv(venv: Path) -> str:
    """Return the python of the peers' virtualenv, making it and installing them if needed."""
    python = venv / "bin" / "python"
    pins = dict(req.split("==") for req in PEER_REQUIREMENTS)
    check = (
        "import importlib.metadata as m, sys\n"
        f"sys.exit(any(m.version(n) != v for n, v in {pins!r}.items()))"
    )
    if (
        python.exists()
        and subprocess.run([python, "-c", check], capture_output=True).returncode == 0
    ):
        return str(python)
    print(f"bench: installing {', '.join(PEER_REQUIREMENTS)} into {venv}", file=sys.stderr)
    try:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *PEER_REQUIREMENTS,
            ],
            check=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise BenchError(f"could not set up the peers' virtualenv {venv}: {exc}") from exc
    return str(python)


# --------------------------------------------------------------------------- measuring


@dataclass
class Measurement:
    round: int
    op: str
    client: str
    ops: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    #: Minor page faults of the worker during the timed loop (a diagnostic, JSON only).
    faults: int = 0
    #: For a client: indexes (in the run's list) of the floor runs just before and after.
    floors: tuple[int, int] | None = None
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.ops / self.wall if self.wall > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.cpu / self.ops if self.ops else 0.0


@dataclass
class Settings:
    rounds: int
    ops: int
    seconds: float
    batch: int
    warmup: bool
    settle_malloc: bool
    pinned_cpu: int | None
    seed: int
    selected_ops: list[str]
    selected_clients: list[str]
    beanstalkd: str = ""
    python: str = field(default_factory=platform.python_version)
    machine: str = field(default_factory=lambda: f"{platform.system()} {platform.machine()}")
    cpus: int = field(default_factory=lambda: os.cpu_count() or 0)
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S"))
    loadavg: str = ""
    commit: str = ""
    elapsed: float = 0.0


#: The server counter that goes up by one for each operation of a measurement.
CHECKED_COUNTER = {
    "put": "current-jobs-ready",
    "put-pipelined": "current-jobs-ready",
    "reserve-delete": "cmd-delete",
    "stats-tube": "cmd-stats-tube",
}


def _check(op: str, ops: int, before: dict[str, str], after: dict[str, str]) -> str | None:
    """Compare a worker's count of operations with the server's (``stats`` around the run)."""
    key = CHECKED_COUNTER[op]
    done = int(after.get(key, 0)) - int(before.get(key, 0))
    if done != ops:
        return f"worker reported {ops} operations, but the server's {key} grew by {done}"
    return None


class Runner:
    def __init__(self, settings: Settings, admin: Admin, port: int) -> None:
        self.settings = settings
        self.admin = admin
        self.port = port
        self.measurements: list[Measurement] = []
        self.serial = 0

    def measure(self, worker: Worker, op: str, rnd: int, n: int) -> Measurement:
        """Run one measurement in a fresh tube, check it with the server, drain the tube."""
        self.serial += 1
        tube = f"bench.{rnd}.{op}.{worker.spec.name}.{self.serial}"
        result = Measurement(rnd, op, worker.spec.name)
        admin = self.admin
        low = admin.last_id()
        prefilled = 0
        if op == "reserve-delete" and not worker.hello.get("self_prefill"):
            admin.fill(tube, n, BODY)
            prefilled = n
        request = {
            "op": op,
            "host": LOOPBACK,
            "port": self.port,
            "tube": tube,
            "n": n,
            "seconds": self.settings.seconds,
            "batch": self.settings.batch,
            "prefilled": prefilled,
        }
        before = admin.yaml_dict("stats")
        try:
            reply = worker.request(request, timeout=self.settings.seconds + 120)
        except WorkerError as exc:
            reply = {"error": str(exc)}
        if "na" in reply:
            worker.unavailable[op] = reply["na"]
            result.error = "n/a"
        elif "error" in reply:
            worker.failed[op] = reply["error"]
            result.error = reply["error"]
        else:
            result.ops, result.wall, result.cpu = reply["ops"], reply["wall"], reply["cpu"]
            result.faults = reply.get("faults", 0)
            problem = _check(op, result.ops, before, admin.yaml_dict("stats"))
            if problem:
                result.error = problem
                print(f"bench: {worker.spec.name} {op}: {problem}", file=sys.stderr)
        admin.delete_between(low, admin.last_id())
        return result

    def record(self, m: Measurement) -> int:
        self.measurements.append(m)
        return len(self.measurements) - 1

    def ops_for(self, op: str, warmup: bool = False) -> int:
        n = self.settings.ops * OP_SCALE[op]
        if warmup:
            n = max(n // 10, 100)
        if op == "put-pipelined":
            n = max(self.settings.batch, n - n % self.settings.batch)
        return n

    def warm_up(self, workers: Sequence[Worker]) -> None:
        """Run every operation of every worker once, small, and forget the numbers.

        Also finds what each client cannot do (n/a) before the real rounds.
        """
        for op in self.settings.selected_ops:
            for worker in workers:
                if worker.can(op):
                    self.measure(worker, op, -1, self.ops_for(op, warmup=True))

    def run_round(
        self, rnd: int, floor: Worker, clients: Sequence[Worker], rng: random.Random
    ) -> None:
        ops = list(self.settings.selected_ops)
        rng.shuffle(ops)
        for op in ops:
            if not floor.can(op):
                continue
            n = self.ops_for(op)
            order = [w for w in clients if w.can(op)]
            rng.shuffle(order)
            before = self.record(self.measure(floor, op, rnd, n))
            for worker in order:
                if not floor.can(op):
                    break
                m = self.measure(worker, op, rnd, n)
                if m.error != "n/a":
                    self.record(m)
                after = self.record(self.measure(floor, op, rnd, n))
                m.floors = (before, after)
                before = after


# --------------------------------------------------------------------------- reporting


@dataclass
class Row:
    op: str
    client: str
    rounds: int = 0
    rate: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    cpu_us: float | None = None
    cpu_delta_us: float | None = None
    faults_per_op: float | None = None
    note: str = ""


def summarize(
    measurements: Sequence[Measurement], workers: Sequence[Worker], ops: Sequence[str]
) -> list[Row]:
    good = [m for m in measurements if m.error is None and m.round >= 0]
    rows: list[Row] = []
    for op in ops:
        for worker in workers:
            name = worker.spec.name
            row = Row(op, name)
            mine = [m for m in good if m.op == op and m.client == name]
            if name == FLOOR.name:
                if mine:
                    row.rounds = len({m.round for m in mine})
                    row.rate = statistics.median(m.rate for m in mine)
                    row.ratio = row.ratio_low = row.ratio_high = 1.0
                    row.cpu_us = statistics.median(m.cpu_us for m in mine)
                    row.cpu_delta_us = 0.0
                    row.faults_per_op = statistics.median(m.faults / m.ops for m in mine)
            else:
                ratios, deltas = [], []
                for m in mine:
                    assert m.floors is not None
                    floors = [measurements[i] for i in m.floors if measurements[i].error is None]
                    if not floors:
                        continue
                    ratios.append(m.rate / statistics.fmean(f.rate for f in floors))
                    deltas.append(m.cpu_us - statistics.fmean(f.cpu_us for f in floors))
                if ratios:
                    row.rounds = len(ratios)
                    row.rate = statistics.median(m.rate for m in mine)
                    row.ratio = statistics.median(ratios)
                    row.ratio_low, row.ratio_high = min(ratios), max(ratios)
                    row.cpu_us = statistics.median(m.cpu_us for m in mine)
                    row.cpu_delta_us = statistics.median(deltas)
                    row.faults_per_op = statistics.median(m.faults / m.ops for m in mine)
            if row.rate is None:
                if op in worker.unavailable:
                    row.note = "n/a"
                elif op in worker.failed:
                    row.note = "error"
                else:
                    row.note = "not run"
            rows.append(row)
    return rows


def format_table(rows: Sequence[Row]) -> str:
    header = ("operation", "client", "ops/s", "ratio", "min-max", "CPU us/op", "vs floor")
    lines = [header]
    last_op = None
    for row in rows:
        op = OP_LABELS[row.op] if row.op != last_op else ""
        last_op = row.op
        label = BY_NAME[row.client].label
        if row.rate is None:
            lines.append((op, label, row.note, "", "", "", ""))
            continue
        assert row.ratio is not None
        assert row.cpu_us is not None
        assert row.cpu_delta_us is not None
        spread = f"{row.ratio_low:.2f}-{row.ratio_high:.2f}" if row.client != FLOOR.name else ""
        delta = f"{row.cpu_delta_us:+.1f}" if row.client != FLOOR.name else ""
        lines.append(
            (op, label, f"{row.rate:,.0f}", f"{row.ratio:.2f}x", spread, f"{row.cpu_us:.1f}", delta)
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}
    out = []
    for k, line in enumerate(lines):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def format_targets(rows: Sequence[Row]) -> str:
    by_key = {(row.client, row.op): row for row in rows}
    out = []
    for target in TARGETS:
        row = by_key.get((target.client, target.op))
        if row is None:  # that client or operation was not selected
            continue
        what = f"{target.client} {OP_LABELS[target.op]}"
        if target.kind == "ratio":
            goal = f"ratio >= {target.limit:.2f}x"
            value = row.ratio
            shown = f"{value:.2f}x" if value is not None else "n/a"
            ok = value is not None and value >= target.limit
        elif target.kind == "ahead":
            peer = by_key.get((target.peer, target.op))
            goal = f"ratio above {target.peer}'s"
            value = row.ratio
            theirs = peer.ratio if peer is not None else None
            if value is None or theirs is None:
                shown, ok = "n/a", False
                value = None
            else:
                shown = f"{value:.2f}x vs {theirs:.2f}x"
                ok = value > theirs
        else:
            goal = f"CPU <= floor {target.limit:+.0f} us/op"
            value = row.cpu_delta_us
            shown = f"{value:+.1f} us" if value is not None else "n/a"
            ok = value is not None and value <= target.limit
        verdict = "ok" if ok else ("-" if value is None else "MISSED")
        out.append(f"  {verdict:<6} {what:<36} {goal:<24} {shown}")
    return "\n".join(out)


def format_faults(rows: Sequence[Row]) -> str:
    """Rows whose worker took page faults in its timed loop: a sign of allocator churn."""
    out = []
    for row in rows:
        if row.faults_per_op is not None and row.faults_per_op >= 0.1:
            label = BY_NAME[row.client].label
            out.append(f"  {label} {OP_LABELS[row.op]}: {row.faults_per_op:.1f} page faults/op")
    return "\n".join(out)


def format_unavailable(workers: Sequence[Worker], ops: Sequence[str]) -> str:
    out = []
    for worker in workers:
        for op in ops:
            reason = worker.unavailable.get(op) or worker.failed.get(op)
            if reason:
                kind = "n/a" if op in worker.unavailable else "error"
                out.append(f"  {worker.spec.name} {OP_LABELS[op]}: {kind}: {reason}")
    return "\n".join(out)


def format_settings(s: Settings, workers: Sequence[Worker]) -> str:
    pin = (
        f"server and clients pinned to CPU {s.pinned_cpu}"
        if s.pinned_cpu is not None
        else "not pinned"
    )
    lines = [
        f"{s.beanstalkd} on {LOOPBACK}; Python {s.python}; {s.machine}, {s.cpus} CPUs; {pin}",
        f"{s.rounds} rounds (+ warm-up: {'yes' if s.warmup else 'no'}); {s.ops} operations per "
        f"measurement (pipelined: {s.ops * OP_SCALE['put-pipelined']} in batches of {s.batch}); "
        f"at most {s.seconds:g} s each; seed {s.seed}"
        + ("" if s.settle_malloc else "; malloc NOT settled"),
        f"started {s.started}, load average {s.loadavg}, took {s.elapsed:.0f} s"
        + (f"; commit {s.commit}" if s.commit else ""),
    ]
    versions = []
    for worker in workers:
        if worker.spec is FLOOR:
            continue
        text = f"{worker.spec.name} {worker.hello.get('version')}"
        if worker.hello.get("python") != s.python:  # e.g. an old peers' virtualenv
            text += f" (on Python {worker.hello.get('python')}!)"
        versions.append(text)
    if versions:
        lines.append("clients: " + "; ".join(versions))
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark beanstalkm and peer clients against a raw-socket floor, "
        "interleaved, on a beanstalkd this script starts on loopback.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (under 30 s)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="measure only these clients (repeat or comma-separate; the floor always runs): "
        + ", ".join(s.name for s in CLIENTS[1:]),
    )
    parser.add_argument(
        "--op",
        action="append",
        metavar="OP",
        help="measure only these operations (repeat or comma-separate): " + ", ".join(OPS),
    )
    parser.add_argument("--rounds", type=int, help="rounds (default 7, --quick 3)")
    parser.add_argument(
        "--ops", type=int, help="operations per measurement (default 8000, --quick 3000)"
    )
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="time bound of one measurement (default 2)"
    )
    parser.add_argument("--batch", type=int, default=1000, help="pipelined batch size (1000)")
    parser.add_argument("--no-warmup", action="store_true", help="skip the warm-up round")
    parser.add_argument(
        "--no-settle-malloc",
        action="store_true",
        help="leave each worker's malloc as a fresh process has it (see docs/benchmarks.md)",
    )
    parser.add_argument("--no-pin", action="store_true", help="do not pin processes to one CPU")
    parser.add_argument("--cpu", type=int, help="the CPU to pin to (default: the last allowed)")
    parser.add_argument("--seed", type=int, help="seed of the shuffled order (default: random)")
    parser.add_argument("--json", metavar="PATH", help="also write every measurement here")
    parser.add_argument(
        "--peers-venv",
        type=Path,
        default=DEFAULT_PEERS_VENV,
        help=f"virtualenv for the peers, made on first use (default {DEFAULT_PEERS_VENV})",
    )
    parser.add_argument(
        "--beanstalkm-src",
        type=Path,
        default=REPO / "src",
        metavar="DIR",
        help="import beanstalkm from this directory (default: this checkout's src/)",
    )
    parser.add_argument(
        "--beanstalkd",
        default=os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd"),
        help="the beanstalkd binary (default: $BEANSTALKD_BIN or PATH)",
    )
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.ops = args.ops or (3000 if args.quick else 8000)
    names = [n.strip() for item in args.only or [] for n in item.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown client {', '.join(unknown)}; choose from {', '.join(BY_NAME)}")
    args.clients = [s for s in CLIENTS if not names or s.name in names or s is FLOOR]
    ops = [o.strip() for item in args.op or [] for o in item.split(",") if o.strip()]
    bad = [o for o in ops if o not in OPS]
    if bad:
        parser.error(f"unknown operation {', '.join(bad)}; choose from {', '.join(OPS)}")
    args.ops_selected = [o for o in OPS if not ops or o in ops]
    if args.rounds < 1 or args.ops < 1 or args.batch < 1 or args.seconds <= 0:
        parser.error("--rounds, --ops, --batch and --seconds must be positive")
    if not args.beanstalkd:
        parser.error("no beanstalkd found: install it or pass --beanstalkd PATH")
    return args


def pin_to_one_cpu(cpu: int | None) -> int:
    """Pin this process (and so every child started later) to one CPU; return which."""
    if not hasattr(os, "sched_setaffinity"):
        raise BenchError("this system cannot pin processes to a CPU: use --no-pin")
    allowed = sorted(os.sched_getaffinity(0))
    chosen = allowed[-1] if cpu is None else cpu
    if chosen not in allowed:
        raise BenchError(f"CPU {chosen} is not one of the allowed CPUs {allowed}")
    os.sched_setaffinity(0, {chosen})
    return chosen


def _git_commit() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return out + ("+dirty" if dirty else "")
    return ""


def _jobs_left(admin: Admin) -> int:
    """Jobs still in the server: the tubes are drained after every measurement, so 0."""
    stats = admin.yaml_dict("stats")
    states = ("ready", "reserved", "delayed", "buried")
    return sum(int(stats.get(f"current-jobs-{state}", 0)) for state in states)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    settings = Settings(
        rounds=args.rounds,
        ops=args.ops,
        seconds=args.seconds,
        batch=args.batch,
        warmup=not args.no_warmup,
        settle_malloc=not args.no_settle_malloc,
        pinned_cpu=None,
        seed=seed,
        selected_ops=args.ops_selected,
        selected_clients=[s.name for s in args.clients],
        commit=_git_commit(),
    )
    started = time.monotonic()
    peers_python = None
    if any(s.runtime == "peers" for s in args.clients):
        try:
            peers_python = ensure_peers_venv(args.peers_venv)
        except BenchError as exc:
            print(f"bench: {exc}; measuring without the peers", file=sys.stderr)
            args.clients = [s for s in args.clients if s.runtime != "peers"]
            settings.selected_clients = [s.name for s in args.clients]
    if not args.no_pin:
        try:
            settings.pinned_cpu = pin_to_one_cpu(args.cpu)
        except (BenchError, OSError) as exc:
            print(f"bench: cannot pin to one CPU: {exc}", file=sys.stderr)
            return 1
    settings.loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())

    project_env = dict(os.environ)
    project_env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(args.beanstalkm_src.resolve()), os.environ.get("PYTHONPATH", "")) if p
    )
    peers_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    for env in (project_env, peers_env):
        env["BENCH_SETTLE_MALLOC"] = "1" if settings.settle_malloc else "0"

    server = Server(args.beanstalkd)
    workers: list[Worker] = []
    admin: Admin | None = None
    with _sigterm_as_interrupt():
        try:
            server.start()
            admin = Admin(server.port)
            version = admin.yaml_dict("stats").get("version", "?").strip('"')
            settings.beanstalkd = f"beanstalkd {version}"
            for spec in args.clients:
                python, env = (
                    (peers_python, peers_env)
                    if spec.runtime == "peers"
                    else (sys.executable, project_env)
                )
                try:
                    workers.append(Worker(spec, python or sys.executable, env | dict(spec.env)))
                except WorkerError as exc:
                    if spec is FLOOR:
                        raise
                    print(f"bench: skipping {spec.name}: {exc}", file=sys.stderr)
            floor, clients = workers[0], workers[1:]
            runner = Runner(settings, admin, server.port)
            rng = random.Random(seed)
            if settings.warmup:
                runner.warm_up(workers)
            for rnd in range(settings.rounds):
                t0 = time.monotonic()
                runner.run_round(rnd, floor, clients, rng)
                print(
                    f"bench: round {rnd + 1}/{settings.rounds} took {time.monotonic() - t0:.1f} s",
                    file=sys.stderr,
                )
            leftover = _jobs_left(admin)
            if leftover:
                print(f"bench: {leftover} jobs were left in beanstalkd", file=sys.stderr)
        except KeyboardInterrupt:
            print("bench: interrupted", file=sys.stderr)
            return 130
        except (BenchError, WorkerError, OSError) as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        finally:
            for worker in workers:
                worker.close()
            if admin is not None:
                admin.close()
            server.stop()

    settings.elapsed = time.monotonic() - started
    rows = summarize(runner.measurements, workers, settings.selected_ops)
    print()
    print(format_settings(settings, workers))
    print()
    print(format_table(rows))
    targets = format_targets(rows)
    if targets:
        print()
        print("Targets (median ratio to the floor of the same round; CPU: us/op over the floor's):")
        print(targets)
    faults = format_faults(rows)
    if faults:
        print()
        print("Page faults in the timed loop (memory churn; see docs/benchmarks.md):")
        print(faults)
    missing = format_unavailable(workers, settings.selected_ops)
    if missing:
        print()
        print("Not measured:")
        print(missing)
    if args.json:
        dump = {
            "settings": asdict(settings),
            "workers": {w.spec.name: w.hello for w in workers},
            "unavailable": {w.spec.name: w.unavailable for w in workers},
            "failed": {w.spec.name: w.failed for w in workers},
            "measurements": [asdict(m) | {"rate": m.rate} for m in runner.measurements],
            "summary": [asdict(r) for r in rows],
        }
        Path(args.json).write_text(json.dumps(dump, indent=1) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
