"""Handlers for the worker subprocess tests (imported by ``beanstalkm worker``).

Each job body is JSON: ``{"n": <number>, "sleep": <seconds>}``. The handler writes
``start n`` and ``done n`` lines to the file named by ``$WORKER_LOG``.
"""

from __future__ import annotations

import os
import time

from beanstalkm import Message


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
