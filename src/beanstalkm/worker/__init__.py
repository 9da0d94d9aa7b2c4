"""The worker: handlers per tube, retries, burying, touching, time limits, hooks,
processes, metrics, graceful shutdown.

>>> worker = Worker("127.0.0.1", 11300, concurrency=4)     # doctest: +SKIP
>>> @worker.handler("emails", max_attempts=10, time_limit=60)  # doctest: +SKIP
... def send(message):
...     send_email(**message.body)
>>> worker.run()                                            # doctest: +SKIP

:class:`Worker` runs each slot on a thread; :class:`beanstalkm.aio.Worker` is its
asyncio twin. Both are the same worker: their decisions (:mod:`.policy`), their job
flow (:mod:`.flow`), the watch over long handlers (:mod:`.watch`), handlers with their
settings (:mod:`.routes`), hooks (:mod:`.hooks`), configuration and stopping
(:mod:`.base`) and counters (:mod:`.counters`) are written once here;
:mod:`.threaded` and :mod:`beanstalkm.aio.worker` are how each waits.
:mod:`.processes` runs either in several processes, :mod:`.metrics` exposes their
counts to Prometheus. See ``docs/worker.md``.
"""

from __future__ import annotations

from .base import handlers_for
from .counters import WorkerCounters
from .hooks import Middleware, Outcome
from .policy import (
    Backoff,
    Bury,
    Decision,
    Retry,
    RetryPolicy,
    TimeLimitExceeded,
    touch_interval,
)
from .routes import WORKER_DEFAULT, Route
from .threaded import Handler, Worker

__all__ = [
    "WORKER_DEFAULT",
    "Backoff",
    "Bury",
    "Decision",
    "Handler",
    "Middleware",
    "Outcome",
    "Retry",
    "RetryPolicy",
    "Route",
    "TimeLimitExceeded",
    "Worker",
    "WorkerCounters",
    "handlers_for",
    "touch_interval",
]
