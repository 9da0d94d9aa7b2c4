"""The worker: handlers per tube, retries, burying, touching, graceful shutdown.

>>> worker = Worker("127.0.0.1", 11300, concurrency=4)     # doctest: +SKIP
>>> @worker.handler("emails")                               # doctest: +SKIP
... def send(message):
...     send_email(**message.body)
>>> worker.run()                                            # doctest: +SKIP

:class:`Worker` runs each slot on a thread; :class:`beanstalkm.aio.Worker` is its
asyncio twin. Both are the same worker: their decisions (:mod:`.policy`), their job
flow (:mod:`.flow`), their configuration and stopping (:mod:`.base`) and their counters
(:mod:`.counters`) are written once here; :mod:`.threaded` and
:mod:`beanstalkm.aio.worker` are how each waits. See ``docs/worker.md``.
"""

from __future__ import annotations

from .base import handlers_for
from .counters import WorkerCounters
from .policy import Backoff, Bury, Decision, Retry, RetryPolicy, touch_interval
from .threaded import Handler, Worker

__all__ = [
    "Backoff",
    "Bury",
    "Decision",
    "Handler",
    "Retry",
    "RetryPolicy",
    "Worker",
    "WorkerCounters",
    "handlers_for",
    "touch_interval",
]
