"""Plumbing shared by the benchmark workers (stdlib only).

A worker is a subprocess that ``bench.py`` starts as ``python WORKER.py``, with
the interpreter of the client it measures (the project's for beanstalkm and the floor, the
peers' virtualenv for the others). It prints one JSON line describing itself, then answers
each JSON request line on stdin with one JSON result line on stdout, until stdin closes.

A request names one operation, a fresh tube, how many operations to time and a time bound.
The worker connects (not timed), runs the operation in a timed loop, disconnects and
reports the operations done, wall seconds and CPU seconds of its own process.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import resource
import sys
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from itertools import repeat
from typing import Any

#: The job body every client puts: 100 bytes of JSON.
BODY = (
    b'{"id":1234567,"kind":"bench.job","user":"user-000042",'
    b'"values":[1,2,3,4,5],"note":"pad-to-100bytes"}'
)
#: The same body as a dict, for clients that encode JSON themselves.
BODY_OBJ: dict[str, Any] = json.loads(BODY)
if len(BODY) != 100:  # pragma: no cover - guards an edit of the literal above
    raise RuntimeError(f"BODY must be 100 bytes, not {len(BODY)}")

#: Put arguments given to every client, so all send the same request bytes. They are
#: beanstalkm's defaults, so its high-level ``Client.put`` sends them without arguments.
PRIORITY = 2**31
DELAY = 0
TTR = 120

#: Operations between two looks at the clock in a timed loop.
CHUNK = 50

OPS = ("put", "reserve-delete", "stats-tube", "put-pipelined")


class NotAvailable(Exception):
    """The client cannot do this operation (or not yet): reported as n/a, not an error."""


@dataclass(frozen=True)
class Request:
    """One measurement, as sent by bench.py."""

    op: str
    host: str
    port: int
    #: A tube nobody else uses: the worker puts into it or reserves from it.
    tube: str
    #: Operations to time (jobs, not batches, for pipelined operations).
    n: int
    #: The timed loop stops after this many seconds even if ``n`` is not reached.
    seconds: float
    #: Jobs per batch for pipelined operations.
    batch: int
    #: Jobs bench.py already put into ``tube`` (reserve-delete); 0 when the worker fills it.
    prefilled: int


@dataclass(frozen=True)
class Result:
    ops: int
    wall: float
    #: CPU seconds of this process (user + system) during the timed loop.
    cpu: float
    #: Minor page faults of this process during the timed loop (a diagnostic).
    faults: int


Handler = Callable[[Request], Result]


def need(obj: object, *path: str) -> Any:
    """Return ``obj.path[0].path[1]...``, or raise NotAvailable naming the missing part."""
    where = type(obj).__name__ if not isinstance(obj, type(sys)) else obj.__name__
    for name in path:
        if obj is None or not hasattr(obj, name):
            raise NotAvailable(f"{where}.{name} does not exist (yet)")
        obj = getattr(obj, name)
        where = f"{where}.{name}"
    return obj


def timed(step: Callable[[], object], steps: int, seconds: float, per_step: int = 1) -> Result:
    """Call ``step()`` up to ``steps`` times or for about ``seconds``, whichever ends first."""
    gc.collect()
    clock = time.perf_counter
    done = 0
    start = _Usage()
    t0 = clock()
    end = t0 + seconds
    while done < steps:
        chunk = min(CHUNK, steps - done)
        for _ in repeat(None, chunk):
            step()
        done += chunk
        if clock() > end:
            break
    wall = clock() - t0
    return start.result(done * per_step, wall)


async def timed_async(
    step: Callable[[], Awaitable[object]], steps: int, seconds: float, per_step: int = 1
) -> Result:
    """The coroutine twin of :func:`timed`: awaits ``step()`` in the running loop."""
    gc.collect()
    clock = time.perf_counter
    done = 0
    start = _Usage()
    t0 = clock()
    end = t0 + seconds
    while done < steps:
        chunk = min(CHUNK, steps - done)
        for _ in repeat(None, chunk):
            await step()
        done += chunk
        if clock() > end:
            break
    wall = clock() - t0
    return start.result(done * per_step, wall)


class _Usage:
    """This process's CPU time and page faults at creation, to subtract at the end."""

    def __init__(self) -> None:
        self.faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        self.cpu = time.process_time()

    def result(self, ops: int, wall: float) -> Result:
        cpu = time.process_time() - self.cpu
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - self.faults
        return Result(ops, wall, cpu, faults)


def run_async(handler: Callable[[Request], Coroutine[Any, Any, Result]]) -> Handler:
    """Turn a coroutine handler into a plain one; each measurement gets a fresh event loop."""

    def run(req: Request) -> Result:
        return asyncio.run(handler(req))

    return run


class OptionalModule:
    """A module that may fail to import: every operation then reports n/a with the reason."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.error = ""
        self.module: Any = None
        try:
            self.module = importlib.import_module(name)
        except ImportError as exc:
            self.error = f"cannot import {name}: {exc}"

    def get(self) -> Any:
        """The module, or NotAvailable if it did not import."""
        if self.module is None:
            raise NotAvailable(self.error)
        return self.module


def dist_version(distribution: str) -> str:
    """The installed version of ``distribution``, or a word saying why there is none."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def batches(req: Request) -> int:
    """How many whole batches make up ``req.n`` jobs (at least one)."""
    return max(1, req.n // req.batch)


def settle_allocator() -> None:
    """Put the C allocator in the state of a process that has been running for a while.

    glibc's malloc serves blocks of 128 KiB and more with mmap until the first such block
    is freed, then raises that threshold. A fresh process that keeps allocating one big
    buffer per operation (asyncio reads with ``recv(256 KiB)``) pays an mmap, a munmap and
    two page faults per operation until something frees a big block: whether that happened
    depends on the process's history, and it moved an asyncio client between 0.38x and
    0.64x of the floor. Freeing one 4 MiB block makes every worker start in the same,
    long-running state.
    """
    block = bytes(4 << 20)
    del block


def serve(
    name: str,
    version: str,
    handlers: Mapping[str, Handler],
    *,
    unavailable: Mapping[str, str] | None = None,
    self_prefill: bool = False,
) -> None:
    """Describe this worker on stdout, then answer requests from stdin until it closes.

    ``unavailable`` maps operations the client cannot do to the reason; operations with
    neither a handler nor a reason are reported as unsupported. ``self_prefill`` says
    that reserve-delete fills its own tube (for bodies bench.py cannot make, such as
    envelopes), so bench.py must not.
    """
    missing = dict(unavailable or {})
    for op in OPS:
        if op not in handlers:
            missing.setdefault(op, "not supported by this client")
    settled = os.environ.get("BENCH_SETTLE_MALLOC", "1") != "0"
    if settled:
        settle_allocator()
    hello = {
        "name": name,
        "version": version,
        "python": platform.python_version(),
        "executable": sys.executable,
        "self_prefill": self_prefill,
        "settled_malloc": settled,
        "unavailable": missing,
    }
    _reply(hello)
    try:
        for line in sys.stdin:
            if not line.strip():
                continue
            req = Request(**json.loads(line))
            _reply(_answer(req, handlers, missing))
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


def _answer(
    req: Request, handlers: Mapping[str, Handler], missing: Mapping[str, str]
) -> dict[str, Any]:
    if req.op in missing:
        return {"na": missing[req.op]}
    try:
        res = handlers[req.op](req)
    except NotAvailable as exc:
        return {"na": str(exc)}
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"ops": res.ops, "wall": res.wall, "cpu": res.cpu, "faults": res.faults}


def _reply(obj: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
