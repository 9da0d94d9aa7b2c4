"""Handlers for the worker subprocess tests (imported by ``beanstalkm worker``).

Each job body is JSON: ``{"n": <number>, "sleep": <seconds>}``. The handler writes
``start n`` and ``done n`` lines to the file named by ``$WORKER_LOG``. The ``a``
handlers are the same as ``async def`` functions (run by the asyncio worker).
"""

from __future__ import annotations

import asyncio
import os
import time

from beanstalkm import Message, aio


def _log(line: str) -> None:
    with open(os.environ["WORKER_LOG"], "a", encoding="utf-8") as f:
        f.write(line + "\n")


def slow(message: Message) -> None:
    body = message.body
    _log(f"start {body['n']}")
    time.sleep(float(body["sleep"]))
    _log(f"done {body['n']}")


def fail(message: Message) -> None:
    raise RuntimeError(f"cannot handle {message.body!r}")


HANDLERS = {"slow": slow, "fail": fail}


async def aslow(message: aio.Message) -> None:
    body = message.body
    _log(f"start {body['n']}")
    try:
        await asyncio.sleep(float(body["sleep"]))
    except asyncio.CancelledError:
        _log(f"cancelled {body['n']}")
        raise
    _log(f"done {body['n']}")


async def afail(message: aio.Message) -> None:
    raise RuntimeError(f"cannot handle {message.body!r}")


AHANDLERS = {"slow": aslow, "fail": afail}
MIXED = {"slow": slow, "fail": afail}


def record(message: Message) -> None:
    """Notes ``done <n> <pid>``: which process handled which job."""
    body = message.body
    time.sleep(float(body.get("sleep", 0)))
    _log(f"done {body['n']} {os.getpid()}")


async def arecord(message: aio.Message) -> None:
    body = message.body
    await asyncio.sleep(float(body.get("sleep", 0)))
    _log(f"done {body['n']} {os.getpid()}")
