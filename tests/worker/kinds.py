"""Running either worker in a test: the threaded one, or the asyncio one on an event
loop of its own, with handlers written once for both."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import beanstalkm
from beanstalkm import aio
from beanstalkm.testing import BeanstalkdProcess

from .test_aioworker import Running
from .test_worker import running

# Fast enough for tests: no backoff between retries, quick reconnects.
FAST: dict[str, Any] = {"backoff": (0, 1, 0), "reconnect_backoff": (0.02, 2, 0.2)}

KINDS = ["threaded", "asyncio"]


def make(kind: str, server: BeanstalkdProcess, **kwargs: Any) -> Any:
    """A worker of ``kind`` on the test server."""
    cls: Any = beanstalkm.Worker if kind == "threaded" else aio.Worker
    return cls(*server.address, **{**FAST, **kwargs})


@contextlib.contextmanager
def serving(worker: Any) -> Iterator[Any]:
    """Run the worker for the block; stop it (at once) afterwards."""
    if isinstance(worker, aio.Worker):
        with Running(worker):
            yield worker
    else:
        with running(worker):
            yield worker


def handler(kind: str, work: Callable[[Any], object]) -> Any:
    """A handler of ``kind`` that does ``work(message)`` (a blocking function)."""
    if kind == "threaded":
        return work

    async def handle(message: Any) -> None:
        work(message)

    return handle


def sleeper(kind: str, seconds: float, then: Callable[[Any], object] = lambda m: None) -> Any:
    """A handler that works ``seconds`` in a way its worker can interrupt (Python
    steps in a thread; an await in a task), then calls ``then``."""
    if kind == "threaded":

        def work(message: Any) -> None:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                time.sleep(0.01)
            then(message)

        return work

    async def awork(message: Any) -> None:
        await asyncio.sleep(seconds)
        then(message)

    return awork


def stuck(kind: str, until: threading.Event, calls: list[int], running: list[int]) -> Any:
    """A handler that will not end before ``until`` is set, interrupted or not (a
    thread blocked in C; a task that swallows its cancellation). It notes each call
    in ``calls`` and the calls running at once in ``running``."""
    lock = threading.Lock()
    inside = [0]

    def enter(message: Any) -> None:
        with lock:
            calls.append(message.uid)
            inside[0] += 1
            running.append(inside[0])

    def leave() -> None:
        with lock:
            inside[0] -= 1

    if kind == "threaded":

        def work(message: Any) -> None:
            enter(message)
            try:
                until.wait(20)  # a lock wait: not ended by an exception raised in the thread
            finally:
                leave()

        return work

    async def awork(message: Any) -> None:
        enter(message)
        try:
            deadline = time.monotonic() + 20
            while not until.is_set() and time.monotonic() < deadline:
                with contextlib.suppress(asyncio.CancelledError):  # will not be cancelled
                    await asyncio.sleep(0.02)
        finally:
            leave()

    return awork
