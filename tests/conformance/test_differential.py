"""Random multi-connection sessions must produce the same transcript on both servers.

A seeded generator drives four connections through puts, reserves (blocking ones
too), releases, burials, kicks, tube changes, peeks, stats and disconnects. The
same script runs against real beanstalkd and the embedded server; the transcripts
(every reply, including the ones that wake blocked reserves) must be identical.
Values that depend on the clock or the process are masked.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator

import pytest

from beanstalkm.server import ServerThread
from beanstalkm.testing import BeanstalkdNotFound, BeanstalkdProcess

from .wire import Wire

TUBES = [b"default", b"a", b"b", b"c"]
CONNECTIONS = 4
STEPS = 300
#: Wait this long for a blocked reserve to be woken after a command that may wake it.
WAKE_WAIT = 0.03

_MASK = re.compile(
    rb"^(age|time-left|pause-time-left|pid|version|rusage-utime|rusage-stime|uptime|id|"
    rb"total-connections|hostname|os|platform): .*$",
    re.MULTILINE,
)


def mask(reply: bytes) -> bytes:
    """Hide clock- and process-dependent values, and the OK length that depends on them."""
    masked = _MASK.sub(lambda m: m[1] + b": *", reply)
    return re.sub(rb"^OK \d+\r\n", b"OK *\r\n", masked)


class Script:
    """Generates one random step at a time, tracking which connections are blocked."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.max_id = 0
        #: Job ids each connection holds, learnt from the replies.
        self.held: dict[int, list[int]] = {}
        self.conn = 0

    def job_id(self) -> int:
        held = self.held.get(self.conn)
        if held and self.rng.random() < 0.7:
            return self.rng.choice(held)
        return self.rng.randint(1, self.max_id + 2)

    def observe(self, conn: int, reply: bytes) -> None:
        """Track reservations, so release/bury/touch often hit a job the connection holds."""
        for job_id in re.findall(rb"^RESERVED (\d+) ", reply, re.MULTILINE):
            self.held.setdefault(conn, []).append(int(job_id))

    def forget(self, conn: int, job_id: int | None = None) -> None:
        if job_id is None:
            self.held.pop(conn, None)
        elif job_id in self.held.get(conn, []):
            self.held[conn].remove(job_id)

    def command(self, conn: int) -> tuple[bytes, bool]:
        """(request, may_wake_others) for connection ``conn``."""
        self.conn = conn
        rng = self.rng
        kind = rng.choices(
            [
                "put",
                "reserve0",
                "reserve",
                "reserve-job",
                "delete",
                "release",
                "bury",
                "kick",
                "kick-job",
                "touch",
                "use",
                "watch",
                "ignore",
                "peek",
                "stats-job",
                "stats-tube",
                "list",
                "pause",
                "stats",
            ],
            weights=[8, 5, 5, 3, 8, 6, 5, 3, 2, 2, 4, 4, 3, 4, 2, 2, 2, 1, 1],
        )[0]
        tube = rng.choice(TUBES)
        if kind == "put":
            self.max_id += 1
            pri = rng.choice([0, 1, 5, 1023, 1024, 2**32 - 1])
            delay = rng.choice([0, 0, 0, 100])
            body = rng.choice([b"", b"x", b"hello", b"a\r\nb"])
            return b"put %d %d 100 %d\r\n%s\r\n" % (pri, delay, len(body), body), True
        if kind == "reserve0":
            return b"reserve-with-timeout 0\r\n", False
        if kind == "reserve":
            return rng.choice([b"reserve\r\n", b"reserve-with-timeout 100\r\n"]), False
        if kind == "reserve-job":
            return b"reserve-job %d\r\n" % self.job_id(), False
        if kind == "delete":
            return b"delete %d\r\n" % self.job_id(), False
        if kind == "release":
            delay = rng.choice([0, 0, 100])
            return b"release %d %d %d\r\n" % (self.job_id(), rng.choice([0, 7]), delay), True
        if kind == "bury":
            return b"bury %d %d\r\n" % (self.job_id(), rng.choice([0, 3])), False
        if kind == "kick":
            return b"kick %d\r\n" % rng.choice([1, 2, 10]), True
        if kind == "kick-job":
            return b"kick-job %d\r\n" % self.job_id(), True
        if kind == "touch":
            return b"touch %d\r\n" % self.job_id(), False
        if kind == "use":
            return b"use %s\r\n" % tube, False
        if kind == "watch":
            return b"watch %s\r\n" % tube, False
        if kind == "ignore":
            return b"ignore %s\r\n" % tube, False
        if kind == "peek":
            return rng.choice(
                [
                    b"peek %d\r\n" % self.job_id(),
                    b"peek-ready\r\n",
                    b"peek-delayed\r\n",
                    b"peek-buried\r\n",
                ]
            ), False
        if kind == "stats-job":
            return b"stats-job %d\r\n" % self.job_id(), False
        if kind == "stats-tube":
            return b"stats-tube %s\r\n" % tube, False
        if kind == "list":
            return rng.choice(
                [b"list-tubes\r\n", b"list-tubes-watched\r\n", b"list-tube-used\r\n"]
            ), False
        if kind == "pause":
            return b"pause-tube %s 0\r\n" % tube, True
        return b"stats\r\n", False


def read_all(wire: Wire, timeout: float) -> bytes:
    """Every complete reply that arrives within ``timeout``."""
    out = b""
    while True:
        line = wire.recv_line(timeout)
        if not line:
            return out
        words = line.split()
        if words and words[0] in (b"OK", b"FOUND", b"RESERVED") and line.endswith(b"\r\n"):
            line += wire.recv_exact(int(words[-1]) + 2)
        out += line
        timeout = 0.0


def transcript(address: tuple[str, int], seed: int) -> list[bytes]:
    script = Script(seed)
    rng = random.Random(seed + 1)
    wires = [Wire(address) for _ in range(CONNECTIONS)]
    blocked = [False] * CONNECTIONS
    log: list[bytes] = []
    try:
        for step in range(STEPS):
            free = [i for i in range(CONNECTIONS) if not blocked[i]]
            if not free or rng.random() < 0.02:
                # Hang up a connection (blocked or not) and open a new one in its place.
                i = rng.randrange(CONNECTIONS)
                wires[i].close()
                script.forget(i)
                time.sleep(WAKE_WAIT)  # the server sees the close before what comes next
                wires[i] = Wire(address)
                blocked[i] = False
                # A round trip, so the server has accepted it before anything else.
                wires[i].send(b"list-tube-used\r\n")
                log.append(b"%d: <reconnect> %s" % (i, read_all(wires[i], 2.0)))
                may_wake = True
            else:
                i = rng.choice(free)
                request, may_wake = script.command(i)
                wires[i].send(request)
                if request in (b"reserve\r\n", b"reserve-with-timeout 100\r\n"):
                    reply = read_all(wires[i], WAKE_WAIT)
                    blocked[i] = not reply
                else:
                    reply = read_all(wires[i], 2.0)
                    assert reply, f"step {step}: no reply to {request!r}"
                script.observe(i, reply)
                if reply in (b"RELEASED\r\n", b"BURIED\r\n", b"DELETED\r\n"):
                    script.forget(i, int(request.split()[1]))
                log.append(b"%d: %s -> %s" % (i, request, mask(reply)))
            if may_wake:
                for j in range(CONNECTIONS):
                    if blocked[j]:
                        woke = read_all(wires[j], WAKE_WAIT)
                        if woke:
                            script.observe(j, woke)
                            blocked[j] = False
                            log.append(b"%d: woken -> %s" % (j, mask(woke)))
    finally:
        for wire in wires:
            wire.close()
    return log


@pytest.fixture
def both_servers() -> Iterator[tuple[tuple[str, int], tuple[str, int]]]:
    try:
        real = BeanstalkdProcess()
    except BeanstalkdNotFound as exc:
        pytest.skip(f"needs the real server to compare with: {exc}")
    embedded = ServerThread()
    try:
        yield real.start(), embedded.start()
    finally:
        real.stop()
        embedded.stop()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_sessions_match_real_beanstalkd(
    both_servers: tuple[tuple[str, int], tuple[str, int]], seed: int
) -> None:
    real, embedded = both_servers
    expected = transcript(real, seed)
    got = transcript(embedded, seed)
    for step, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, f"first difference at step {step}"
