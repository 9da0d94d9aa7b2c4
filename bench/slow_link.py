#!/usr/bin/env python3
"""Round trips per job over a slow link: beanstalkm's calls and worker beside greenstalk.

Usage: python bench/slow_link.py [--delay MS] [--jobs N] [--only NAME,...] [--beanstalkm-src DIR]

Starts beanstalkd on a free loopback port and, in front of it, a proxy that holds
every chunk for ``--delay`` milliseconds in each direction (default 2: a round trip
costs 4 ms more than on loopback). Each scenario then moves ``--jobs`` jobs through the
proxy, and the table shows, per job: the wall time in round trips of the link
(``elapsed / (jobs x round trip)``), and the commands the server counted (its
``cmd-*`` stats, read on a direct connection). Over a real network round trips
dominate: this is what a call costs there. Only the standard library and the project's
``src/`` are needed; greenstalk comes from the peers' virtualenv that ``bench.py``
makes (``bench/.venv-peers``) and is skipped when it is not there.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# --beanstalkm-src DIR measures another checkout's beanstalkm (say, the last release).
_SRC = sys.argv[sys.argv.index("--beanstalkm-src") + 1] if "--beanstalkm-src" in sys.argv else None
sys.path.insert(0, _SRC or str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

from bench import LOOPBACK, Admin, Server  # noqa: E402

import beanstalkm  # noqa: E402
from beanstalkm import aio  # noqa: E402

BODY = {"id": 1234567, "kind": "bench.job", "values": [1, 2, 3, 4, 5]}
#: The commands a scenario may send, as the server counts them.
COUNTERS = (
    "put",
    "use",
    "reserve",
    "reserve-with-timeout",
    "delete",
    "release",
    "bury",
    "touch",
    "stats-job",
    "watch",
    "ignore",
)


class SlowProxy:
    """Forwards TCP both ways, each chunk ``delay`` seconds late (order kept)."""

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target = target
        self.delay = delay
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> SlowProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        async def shut() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._server = self.loop.run_until_complete(asyncio.start_server(self._client, LOOPBACK, 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            for w in (writer, up_writer):
                w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            writer.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while chunk := await reader.read(65536):
                loop.call_later(self.delay, _write, writer, chunk)
        finally:
            loop.call_later(self.delay, writer.close)


def _write(writer: asyncio.StreamWriter, chunk: bytes) -> None:
    if not writer.is_closing():
        writer.write(chunk)


def _greenstalk() -> Any:
    for site in glob.glob(str(HERE / ".venv-peers" / "lib" / "python*" / "site-packages")):
        sys.path.append(site)
    try:
        import greenstalk  # type: ignore[import-not-found]
    except ImportError:
        return None
    return greenstalk


# -- scenarios: each moves `jobs` jobs through the proxy at (host, port) ----------------


def put_named(address: tuple[str, int], admin: Admin, jobs: int) -> float:
    """Client.put into a named tube (the connection uses another one)."""
    with beanstalkm.Client(*address, timeout=10) as client:
        began = time.monotonic()
        for _ in range(jobs):
            client.put(BODY, tube="slow.emails")
        return time.monotonic() - began


def put_many(address: tuple[str, int], admin: Admin, jobs: int) -> float:
    """Client.put_many, batches of 100."""
    with beanstalkm.Client(*address, timeout=10) as client:
        began = time.monotonic()
        for start in range(0, jobs, 100):
            client.put_many([BODY] * min(100, jobs - start), tube="slow.emails")
        return time.monotonic() - began


def _fill(port: int, jobs: int) -> None:
    with beanstalkm.Client(LOOPBACK, port, timeout=10) as client:
        for start in range(0, jobs, 1000):
            client.put_many([BODY] * min(1000, jobs - start), tube="slow.work")


def _until_drained(admin: Admin, deletes_before: int, jobs: int, timeout: float = 120) -> float:
    """Wait until the server has deleted ``jobs`` more jobs; return when that was."""
    deadline = time.monotonic() + timeout
    while int(admin.yaml_dict("stats")["cmd-delete"]) - deletes_before < jobs:
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not finish in time")
        time.sleep(0.002)
    return time.monotonic()


def worker(address: tuple[str, int], admin: Admin, jobs: int) -> float:
    """beanstalkm.Worker, one slot, on a prefilled tube: from start to the last delete."""
    w = beanstalkm.Worker(*address, concurrency=1, install_signal_handlers=False)
    w.add_handler("slow.work", lambda message: None)
    before = int(admin.yaml_dict("stats")["cmd-delete"])
    thread = threading.Thread(target=w.run, daemon=True)
    began = time.monotonic()
    thread.start()
    try:
        return _until_drained(admin, before, jobs) - began
    finally:
        w.stop(grace=5)
        thread.join(30)


def aio_worker(address: tuple[str, int], admin: Admin, jobs: int) -> float:
    """beanstalkm.aio.Worker, one slot, on a prefilled tube: from start to the last delete."""

    async def handle(message: aio.Message) -> None:
        pass

    async def main() -> float:
        w = aio.Worker(*address, concurrency=1, install_signal_handlers=False)
        w.add_handler("slow.work", handle)
        before = int(admin.yaml_dict("stats")["cmd-delete"])
        began = time.monotonic()
        task = asyncio.create_task(w.run())
        try:
            return await asyncio.to_thread(_until_drained, admin, before, jobs) - began
        finally:
            w.stop(grace=5)
            await task

    return asyncio.run(main())


def greenstalk_loop(address: tuple[str, int], admin: Admin, jobs: int) -> float:
    """A hand-written greenstalk consumer: reserve, delete."""
    greenstalk = _greenstalk()
    with greenstalk.Client(address, watch="slow.work", encoding=None) as client:
        began = time.monotonic()
        for _ in range(jobs):
            client.delete(client.reserve(timeout=5))
        return time.monotonic() - began


def greenstalk_put(address: tuple[str, int], admin: Admin, jobs: int) -> float:
    """greenstalk put of raw bytes (its used tube set once)."""
    greenstalk = _greenstalk()
    body = str(BODY).encode()
    with greenstalk.Client(address, use="slow.emails", encoding=None) as client:
        began = time.monotonic()
        for _ in range(jobs):
            client.put(body)
        return time.monotonic() - began


def client_consume(address: tuple[str, int], admin: Admin, jobs: int) -> float:
    """Client.reserve(drop=True), one job after another: reserve, then delete."""
    with beanstalkm.Client(*address, watch="slow.work", timeout=10) as client:
        began = time.monotonic()
        for _ in range(jobs):
            client.reserve(timeout=5)
        return time.monotonic() - began


def pool_consume(address: tuple[str, int], admin: Admin, jobs: int) -> float:
    """Pool.reserve(drop=True) on two servers, each behind its own slow link."""
    other = Server(_SETTINGS["beanstalkd"])
    other.start()
    try:
        with SlowProxy((LOOPBACK, other.port), _SETTINGS["delay"]) as proxy:
            _fill(other.port, jobs // 2)
            addresses = [
                f"beanstalk://{address[0]}:{address[1]}",
                f"beanstalk://{LOOPBACK}:{proxy.port}",
            ]
            with beanstalkm.Pool(addresses, watch="slow.work", timeout=10) as pool:
                began = time.monotonic()
                for _ in range(jobs):
                    pool.reserve(timeout=5)
                return time.monotonic() - began
    finally:
        other.stop()


#: The beanstalkd binary and the proxies' delay, set by main() (the pool scenario
#: starts a second server behind a second proxy).
_SETTINGS: dict[str, Any] = {}
#: A scenario moves the jobs through the link and returns the seconds it took.
Scenario = Callable[[tuple[str, int], Admin, int], float]
SCENARIOS: dict[str, tuple[str, Scenario, bool]] = {
    "put": ("beanstalkm Client.put(body, tube=...)", put_named, False),
    "put-many": ("beanstalkm Client.put_many (100 a batch)", put_many, False),
    "worker": ("beanstalkm.Worker (1 slot)", worker, True),
    "aio-worker": ("beanstalkm.aio.Worker (1 slot)", aio_worker, True),
    "client-consume": ("beanstalkm Client.reserve(drop=True)", client_consume, True),
    "pool-consume": ("beanstalkm Pool.reserve(drop=True), 2 servers", pool_consume, True),
    "greenstalk-loop": ("greenstalk reserve + delete loop", greenstalk_loop, True),
    "greenstalk-put": ("greenstalk put", greenstalk_put, False),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=2.0, help="ms each way (default 2)")
    parser.add_argument("--jobs", type=int, default=300, help="jobs per scenario (default 300)")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--beanstalkm-src", help="import beanstalkm from DIR instead of src/")
    parser.add_argument(
        "--beanstalkd",
        default=os.environ.get("BEANSTALKD_BIN") or shutil.which("beanstalkd"),
        help="the beanstalkd binary (default: $BEANSTALKD_BIN or PATH)",
    )
    args = parser.parse_args()
    chosen = args.only.split(",") if args.only else list(SCENARIOS)
    if _greenstalk() is None:
        for name in ("greenstalk-loop", "greenstalk-put"):
            if name in chosen:
                print(f"{name}: skipped (no bench/.venv-peers; run bench/bench.py once)")
                chosen.remove(name)
    if not args.beanstalkd:
        parser.error("no beanstalkd: install it, or give --beanstalkd PATH")
    server = Server(args.beanstalkd)
    server.start()
    try:
        admin = Admin(server.port)
        _SETTINGS.update(beanstalkd=args.beanstalkd, delay=args.delay / 1000)
        with SlowProxy((LOOPBACK, server.port), args.delay / 1000) as proxy:
            rtt = measure_rtt((LOOPBACK, proxy.port))
            print(
                f"slow link: {args.delay:g} ms each way, measured round trip {rtt * 1000:.2f} ms;"
                f" {args.jobs} jobs per scenario"
            )
            print()
            print(f"{'scenario':42} {'round trips/job':>15}  commands per job (server's cmd-*)")
            for name in chosen:
                label, run, prefill = SCENARIOS[name]
                if prefill:
                    _fill(server.port, args.jobs)
                before = admin.yaml_dict("stats")
                elapsed = run((LOOPBACK, proxy.port), admin, args.jobs)
                after = admin.yaml_dict("stats")
                counts = {
                    key: int(after[f"cmd-{key}"]) - int(before[f"cmd-{key}"]) for key in COUNTERS
                }
                shown = ", ".join(
                    f"{key} {count / args.jobs:.2f}" for key, count in counts.items() if count
                )
                print(f"{label:42} {elapsed / (args.jobs * rtt):>15.2f}  {shown}")
                _drain(admin)
    finally:
        server.stop()
    return 0


def measure_rtt(address: tuple[str, int], samples: int = 20) -> float:
    with socket.create_connection(address) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        best = []
        for _ in range(samples):
            began = time.perf_counter()
            sock.sendall(b"list-tube-used\r\n")
            data = b""
            while not data.endswith(b"\r\n"):
                data += sock.recv(100)
            best.append(time.perf_counter() - began)
    return sorted(best)[len(best) // 2]


def _drain(admin: Admin) -> None:
    """Delete every job left (the put scenarios leave theirs)."""
    low = 0
    high = admin.last_id()
    admin.delete_between(low, high)


if __name__ == "__main__":
    sys.exit(main())
